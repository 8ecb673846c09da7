//! The final summary: printed for people, written as JSON for scripts (`--summary-json`).
//! The fields are documented in the README; keep both in step.

use serde::Serialize;
use std::time::Duration;

/// Everything a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Summary {
    /// `http-ingest`, `file-upload` or `sdl`.
    pub(crate) backend: &'static str,
    /// `delivered` (exit 0) or `incomplete` (exit 1).
    pub(crate) status: &'static str,
    /// The process exit code.
    pub(crate) exit_code: u8,
    /// Per input: where reading stopped.
    pub(crate) inputs: Vec<InputSummary>,
    /// Record counts.
    pub(crate) records: Records,
    /// Uncompressed bytes delivered.
    pub(crate) bytes_raw: u64,
    /// Bytes on the wire for delivered requests.
    pub(crate) bytes_sent: u64,
    /// HTTP requests made.
    pub(crate) requests: u64,
    /// Of those, retries.
    pub(crate) retries: u64,
    /// Batches (or files) that could not be delivered.
    pub(crate) failures: u64,
    /// Why, for each of them (the last failure of each, the first 20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) failed: Vec<String>,
    /// SDL only: the server's `bytesCharged`, summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bytes_charged: Option<u64>,
    /// SDL only: events whose `message` was cut to fit a request (`--max-body-bytes`),
    /// when there were any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) events_truncated: Option<u64>,
    /// SDL, when any: events sent although their time or level could not be read (read
    /// time or `sev` 3; the raw value is kept among their attributes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) events_unreadable: Option<u64>,
    /// SDL, when any: events moved from their own time to keep their session's times
    /// increasing (more independent inputs than sessions); their own time is kept in the
    /// `logferry_original_ts` attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) events_time_moved: Option<u64>,
    /// Where undeliverable records went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dead_letter: Option<DeadLetterSummary>,
    /// Batches replayed from the spool at start, and left in it at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) spool: Option<SpoolSummary>,
    /// Why the sender stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stopped: Option<String>,
    /// Wall time.
    pub(crate) elapsed_secs: f64,
    /// CPU time spent compressing batches, over every thread (zero outside Linux):
    /// with the process's own CPU time, how much of it went to compression.
    pub(crate) compress_cpu_secs: f64,
    /// Spool entries that could not be read back (counted in `spool.lost_batches`).
    #[serde(skip)]
    pub(crate) corrupt_entries: u64,
}

/// One input.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct InputSummary {
    pub(crate) name: String,
    /// Line and byte offset where reading stopped (the end, unless it failed).
    pub(crate) line: u64,
    pub(crate) offset: u64,
    /// Set when the input could not be read to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// The run stopped reading it before its end (a signal, a stopped sender): `line`
    /// and `offset` say where.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) interrupted: bool,
}

/// Record counts.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Records {
    /// Records framed from the inputs.
    pub(crate) read: u64,
    /// Accepted by the endpoint.
    pub(crate) delivered: u64,
    /// Refused by the endpoint for good (400, too large), in the dead-letter file.
    pub(crate) rejected: u64,
    /// Not framed (invalid UTF-8, invalid JSON, too large), in the dead-letter file.
    pub(crate) invalid: u64,
    /// Neither delivered nor refused (the sender stopped or gave up).
    pub(crate) undelivered: u64,
    /// file-upload only: files already uploaded by an earlier run and unchanged.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) skipped: u64,
    /// file-upload only: files uploaded by an earlier run that had grown since, uploaded
    /// again whole (also counted in `delivered`).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) reuploaded: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DeadLetterSummary {
    pub(crate) path: String,
    pub(crate) records: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct SpoolSummary {
    pub(crate) dir: String,
    pub(crate) replayed_batches: u64,
    pub(crate) pending_batches: u64,
    /// Batches the spool lost this run: corrupt on disk, unreadable, or dropped by
    /// `--spool-full drop-oldest`. Any makes the run incomplete.
    pub(crate) lost_batches: u64,
}

impl Summary {
    /// Sets status and exit code from the counts.
    pub(crate) fn finish(&mut self, elapsed: Duration) {
        self.elapsed_secs = elapsed.as_secs_f64();
        self.compress_cpu_secs = logferry::compress::compress_cpu().as_secs_f64();
        let complete = self.records.rejected == 0
            && self.records.invalid == 0
            && self.records.undelivered == 0
            && self.failures == 0
            && self.stopped.is_none()
            && self.inputs.iter().all(|i| i.error.is_none());
        self.status = if complete { "delivered" } else { "incomplete" };
        self.exit_code = if complete { 0 } else { 1 };
    }

    /// Ends a run: flushes and describes the spool, points at the dead-letter file if
    /// anything went there, and sets status and exit code.
    pub(crate) fn close(
        &mut self,
        spool: Option<&crate::args::Opened>,
        replayed: u64,
        dead: &crate::deadletter::DeadLetter,
        elapsed: Duration,
    ) {
        if let Some(o) = spool {
            if let Err(e) = o.spool.sync() {
                tracing::error!("cannot flush the spool: {e}");
            }
            let stats = o.spool.stats();
            // Dropped when full, then delivered from memory all the same: not lost.
            let dropped = stats.dropped_oldest - stats.dropped_then_delivered;
            let lost =
                stats.corrupt_skipped + stats.quarantined_tails + dropped + self.corrupt_entries;
            if lost > 0 {
                tracing::error!(
                    "the spool lost {lost} batches (corrupt on disk and skipped or quarantined, unreadable, or dropped when full)"
                );
                self.failures += lost;
            }
            self.spool = Some(SpoolSummary {
                dir: o.dir.display().to_string(),
                replayed_batches: replayed,
                pending_batches: stats.entries,
                lost_batches: lost,
            });
        }
        if dead.records() > 0 {
            self.dead_letter = Some(DeadLetterSummary {
                path: dead.path().display().to_string(),
                records: dead.records(),
            });
        }
        self.finish(elapsed);
    }

    /// The human-readable form.
    pub(crate) fn render(&self) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        let secs = self.elapsed_secs.max(1e-9);
        let mut out = format!(
            "logferry {}: {}\n  records   read {}  delivered {}  rejected {}  invalid {}  undelivered {}\n",
            self.backend,
            self.status,
            self.records.read,
            self.records.delivered,
            self.records.rejected,
            self.records.invalid,
            self.records.undelivered
        );
        out.push_str(&format!(
            "  bytes     {:.1} MB raw, {:.1} MB sent ({:.1} MB/s of input)\n  requests  {} ({} retries, {} failed)   time {:.2}s\n",
            mb(self.bytes_raw),
            mb(self.bytes_sent),
            mb(self.bytes_raw) / secs,
            self.requests,
            self.retries,
            self.failures,
            self.elapsed_secs
        ));
        match self.records.reuploaded {
            0 => {}
            1 => out.push_str(
                "  reuploaded 1 file grew since its last upload and was uploaded again whole\n",
            ),
            n => out.push_str(&format!(
                "  reuploaded {n} files grew since their last upload and were uploaded again whole\n"
            )),
        }
        if let Some(charged) = self.bytes_charged {
            out.push_str(&format!(
                "  charged   {charged} bytes (server's bytesCharged)\n"
            ));
        }
        if let Some(n) = self.events_truncated {
            out.push_str(&format!(
                "  truncated {n} events: message cut to fit a request (raise --max-body-bytes)\n"
            ));
        }
        if let Some(n) = self.events_unreadable {
            out.push_str(&format!(
                "  unreadable {n} events: time or level not understood, sent with the read time or sev 3 (raw value kept)\n"
            ));
        }
        if let Some(n) = self.events_time_moved {
            out.push_str(&format!(
                "  moved     {n} events from their own time (kept in logferry_original_ts)\n"
            ));
        }
        if let Some(spool) = &self.spool {
            out.push_str(&format!(
                "  spool     {}: {} batches replayed, {} pending, {} lost\n",
                spool.dir, spool.replayed_batches, spool.pending_batches, spool.lost_batches
            ));
        }
        if let Some(dl) = &self.dead_letter {
            out.push_str(&format!(
                "  dead letter  {} records in {}\n",
                dl.records, dl.path
            ));
        }
        for input in self.inputs.iter().filter(|i| i.interrupted) {
            out.push_str(&format!(
                "  input     {}: interrupted at line {}, byte {}: nothing from there on was read\n",
                input.name, input.line, input.offset
            ));
        }
        for input in self.inputs.iter().filter(|i| i.error.is_some()) {
            out.push_str(&format!(
                "  input     {}: stopped at line {}, byte {}: {}\n",
                input.name,
                input.line,
                input.offset,
                input.error.as_deref().unwrap_or_default()
            ));
        }
        for why in &self.failed {
            out.push_str(&format!("  failed    {why}\n"));
        }
        if let Some(stopped) = &self.stopped {
            out.push_str(&format!("  stopped   {stopped}\n"));
        }
        out
    }

    /// Writes the JSON form to `path`.
    pub(crate) fn write_json(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, json)
            .map_err(|e| anyhow::anyhow!("cannot write the summary to {}: {e}", path.display()))
    }
}
