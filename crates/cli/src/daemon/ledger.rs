//! A route's delivery ledger, kept across runs in `DATA_DIR/SINK/SOURCE/ledger.json`:
//! read = delivered + rejected + invalid + pending (in the spool or in flight).
//!
//! Within a run it is exact (counted from the pipeline's events). The file is written
//! within a second of a change (on the route's one-second tick, idle or not), and when
//! the route stops: after a clean stop it is exact; after a `kill -9` it may miss up to
//! the last second's events (the spool itself, which `logferry status` reads too, loses
//! nothing; records read in that second and not yet checkpointed are read again, and
//! counted then).

use logferry::pipeline::{Event, Ledger};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Cumulative counts of one route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counts {
    pub(crate) read: u64,
    pub(crate) delivered: u64,
    pub(crate) rejected: u64,
    pub(crate) invalid: u64,
}

impl Counts {
    /// Read but neither delivered, rejected nor invalid: in the spool or in flight.
    pub(crate) fn pending(&self) -> u64 {
        self.read
            .saturating_sub(self.delivered + self.rejected + self.invalid)
    }
}

/// The ledger file of a route and this run's counts.
pub(crate) struct RouteLedger {
    path: PathBuf,
    before: Counts,
    run: Ledger,
    /// Records replayed from the spool this run: counted read by an earlier run.
    replayed: u64,
    written: Option<Instant>,
    dirty: bool,
}

impl RouteLedger {
    /// Loads the ledger in `dir` (zeros when there is none, or it cannot be read).
    pub(crate) fn open(dir: &Path) -> RouteLedger {
        let path = dir.join("ledger.json");
        RouteLedger {
            before: load(&path).unwrap_or_default(),
            path,
            run: Ledger::default(),
            replayed: 0,
            written: None,
            dirty: false,
        }
    }

    /// Counts `event`, and writes the file when a second passed since the last write.
    pub(crate) fn event(&mut self, event: &Event<'_>) {
        self.run.count(event);
        if let Event::Replayed { records } = event {
            self.replayed += records;
        }
        self.dirty = true;
        if self
            .written
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.write();
        }
    }

    /// The counts so far, earlier runs included.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            read: self.before.read + self.run.read.saturating_sub(self.replayed),
            delivered: self.before.delivered + self.run.delivered,
            rejected: self.before.rejected + self.run.rejected,
            invalid: self.before.invalid + self.run.invalid,
        }
    }

    /// Writes the file if the counts changed since the last write.
    pub(crate) fn write(&mut self) {
        self.written = Some(Instant::now());
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let json = serde_json::to_vec_pretty(&self.counts()).expect("counts serialize");
        let tmp = self.path.with_extension("json.tmp");
        let written = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            tracing::warn!("cannot write the ledger {}: {e}", self.path.display());
        }
    }
}

/// The counts stored in `path`, if any.
pub(crate) fn load(path: &Path) -> Option<Counts> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}
