//! The one driver every sending subcommand (and the demo) runs through: it owns the
//! signals, the dead-letter file, the counting, the summary and the exit code. A
//! subcommand only builds a [`Job`] from its flags.

use crate::args::Opened;
use crate::deadletter::{DeadLetter, Letter};
use crate::progress::{Progress, Totals};
use crate::summary::{InputSummary, Summary};
use logferry::pipeline::file_upload::{self, Upload};
use logferry::pipeline::{Control, Durable, Event, Files, Flow, FrontConfig, Ledger, Lost, Sink};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

/// A sending run: what to read, where it goes, and where it is kept.
pub(crate) struct Job<S> {
    /// The sink.
    pub(crate) sink: S,
    /// The inputs.
    pub(crate) files: Files,
    /// How they become batches.
    pub(crate) front: FrontConfig,
    /// The spool and checkpoints, with `--spool`.
    pub(crate) opened: Option<Opened>,
    /// Where undeliverable records go.
    pub(crate) dead_letter: PathBuf,
    /// What is left to read, when known (for the progress line).
    pub(crate) total_bytes: Option<u64>,
}

/// Runs `job` through the pipeline, then sums it up.
pub(crate) async fn ship<S: Sink>(job: Job<S>, progress: &mut Progress) -> anyhow::Result<Summary> {
    let Job {
        sink,
        files,
        front,
        opened,
        dead_letter,
        total_bytes,
    } = job;
    progress.set_total_bytes(total_bytes);
    let mut recorder = Recorder::new(&sink, dead_letter, progress);
    let durable = opened.as_ref().map(|o| Durable::new(o.spool.clone()));
    let run = logferry::pipeline::run(files, &sink, front, durable.as_ref(), |e| recorder.event(e));
    let ledger = with_signals(&sink, run).await;
    recorder.finish(sink.name(), ledger, opened.as_ref())
}

/// Uploads whole `files` (skipping those the checkpoints in `opened` show as uploaded),
/// then sums it up.
pub(crate) async fn upload(
    upload: &Upload,
    files: Vec<PathBuf>,
    opened: Option<Opened>,
    dead_letter: PathBuf,
    progress: &mut Progress,
) -> anyhow::Result<Summary> {
    let mut recorder = Recorder::new(upload, dead_letter, progress);
    let checkpoints = opened.as_ref().map(|o| o.checkpoints.clone());
    let run = file_upload::run(upload, files, checkpoints, |e| recorder.event(e));
    let ledger = with_signals(upload, run).await;
    // Uploads keep no spool: only their checkpoints live there.
    recorder.finish("file-upload", ledger, None)
}

/// Runs `work`; a first Ctrl-C or SIGTERM closes `control` (what is in flight finishes,
/// nothing new is read), a second aborts it.
pub(crate) async fn with_signals<T>(control: &dyn Control, work: impl Future<Output = T>) -> T {
    let signals = async {
        crate::shutdown_signal().await;
        tracing::warn!(
            "interrupted: finishing what is in flight, reading nothing new (again to abandon it)"
        );
        control.close();
        crate::shutdown_signal().await;
        tracing::warn!("interrupted again: abandoning what is in flight");
        control.abort();
        std::future::pending::<()>().await;
    };
    tokio::select! {
        biased;
        done = work => done,
        () = signals => unreachable!("the signal task never ends"),
    }
}

/// Counts, dead-letters and shows what a run reports.
pub(crate) struct Recorder<'a> {
    control: &'a dyn Control,
    progress: &'a mut Progress,
    started: Instant,
    summary: Summary,
    dead: DeadLetter,
    totals: Totals,
    failure: Option<anyhow::Error>,
    /// Invalid records seen (the first few are named on stderr).
    invalid: u64,
}

/// Invalid records named on stderr before the rest are only counted.
const NAMED_INVALID: u64 = 20;

impl<'a> Recorder<'a> {
    pub(crate) fn new(
        control: &'a dyn Control,
        dead_letter: PathBuf,
        progress: &'a mut Progress,
    ) -> Self {
        Recorder {
            control,
            progress,
            started: Instant::now(),
            summary: Summary::default(),
            dead: DeadLetter::new(dead_letter),
            totals: Totals::default(),
            failure: None,
            invalid: 0,
        }
    }

    /// Takes one event; a dead-letter file that cannot be written stops the run.
    pub(crate) fn event(&mut self, event: Event<'_>) -> Flow {
        let written = self.record(&event);
        // The sink's stats (a lock and a copy of its counts) only when progress is shown.
        let (control, totals) = (self.control, &mut self.totals);
        self.progress.update(|| {
            let stats = control.stats();
            totals.records = stats.records_delivered;
            totals.bytes = stats.bytes_raw;
            totals.retries = stats.retries;
            *totals
        });
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                tracing::error!("{e:#}");
                self.failure.get_or_insert(e);
                ControlFlow::Break(())
            }
        }
    }

    fn record(&mut self, event: &Event<'_>) -> anyhow::Result<()> {
        let chain = crate::exit::chain;
        match event {
            Event::Spooled => self.totals.spooled += 1,
            Event::CorruptEntry { id, reason } => {
                tracing::error!("spool entry {id} cannot be read back and is dropped: {reason}");
            }
            Event::DurabilityError(e) => {
                // The run stops reading (the pipeline aborts the sender) and still ends
                // with its summary: what was not spooled is read again next run.
                let why = format!("the spool failed, stopping (nothing is lost): {e}");
                tracing::error!("{why}");
                self.summary.stopped.get_or_insert(why);
            }
            Event::Invalid(lost) => {
                self.letter("invalid", lost)?;
                self.name_invalid(lost);
            }
            Event::Refused(lost) => lost.iter().try_for_each(|l| self.letter("rejected", l))?,
            Event::Undelivered { lost, kept } => {
                // Each undelivered batch says why (its last failure), in the summary.
                if let Some(first) = lost.first()
                    && self.summary.failed.len() < 20
                {
                    let held = if *kept {
                        "kept in the spool"
                    } else {
                        "in the dead-letter file"
                    };
                    self.summary
                        .failed
                        .push(format!("{} ({held})", first.reason));
                }
                if !kept {
                    lost.iter()
                        .try_for_each(|l| self.letter("undelivered", l))?;
                }
            }
            Event::ReadError {
                name,
                position,
                error,
            } => self.input(
                name,
                *position,
                Some(format!(
                    "{} (stopped at line {}, byte {}; nothing from there on was sent)",
                    chain(*error),
                    position.line,
                    position.offset
                )),
            ),
            Event::InputFailed { name, reason } => {
                let nowhere = logferry::framing::Position { line: 0, offset: 0 };
                self.input(name, nowhere, Some((*reason).to_owned()));
            }
            Event::Finished { name, position, .. } => self.input(name, *position, None),
            Event::Interrupted { name, position } => {
                self.input(name, *position, None);
                self.summary
                    .inputs
                    .last_mut()
                    .expect("just added")
                    .interrupted = true;
            }
            Event::Skipped { name, bytes } => tracing::info!(
                "{name} ({bytes} bytes) was uploaded by an earlier run and is unchanged: skipped"
            ),
            Event::Reuploaded {
                name,
                uploaded,
                now,
            } => tracing::info!(
                "{name} grew from {uploaded} to {now} bytes since its last upload: uploaded again whole"
            ),
            Event::Stopped(why) => self.summary.stopped = Some((*why).to_owned()),
            _ => {}
        }
        Ok(())
    }

    /// `FILE:LINE: byte OFFSET: reason (sent to the dead-letter file)` for the first
    /// invalid records of a run.
    fn name_invalid(&mut self, lost: &Lost<'_>) {
        self.invalid += 1;
        if self.invalid > NAMED_INVALID {
            return;
        }
        let source = lost.source.as_deref().unwrap_or("<input>");
        let (line, offset, reason) = match lost.position {
            Some(p) => {
                // Reasons open with "SOURCE: line L, byte B: "; say it once.
                let prefix = format!("{source}: {p}: ");
                let reason = lost.reason.strip_prefix(&prefix).unwrap_or(&lost.reason);
                (p.line.to_string(), p.offset.to_string(), reason.to_owned())
            }
            None => ("?".into(), "?".into(), lost.reason.to_string()),
        };
        tracing::warn!("{source}:{line}: byte {offset}: {reason} (sent to the dead-letter file)");
    }

    fn input(&mut self, name: &str, position: logferry::framing::Position, error: Option<String>) {
        self.summary.inputs.push(InputSummary {
            name: name.to_owned(),
            line: position.line,
            offset: position.offset,
            error,
            interrupted: false,
        });
    }

    fn letter(&mut self, kind: &str, lost: &Lost<'_>) -> anyhow::Result<()> {
        self.dead.write(Letter {
            kind,
            source: lost.source.as_deref(),
            line: lost.position.map(|p| p.line),
            offset: lost.position.map(|p| p.offset),
            reason: &lost.reason,
            count: lost.records,
            body: &lost.body,
            truncated: lost.truncated,
        })
    }

    /// The run's summary, from its ledger and the sink's totals.
    pub(crate) fn finish(
        mut self,
        backend: &'static str,
        ledger: Ledger,
        opened: Option<&Opened>,
    ) -> anyhow::Result<Summary> {
        if let Some(e) = self.failure {
            return Err(e);
        }
        if self.invalid > NAMED_INVALID {
            tracing::warn!(
                "{} more invalid records, not named here (all are in {})",
                self.invalid - NAMED_INVALID,
                self.dead.path().display()
            );
        }
        let stats = self.control.stats();
        let summary = &mut self.summary;
        summary.backend = backend;
        summary.records.read = ledger.read;
        summary.records.delivered = ledger.delivered;
        summary.records.rejected = ledger.rejected;
        summary.records.invalid = ledger.invalid;
        summary.records.undelivered = ledger.undelivered();
        summary.records.skipped = ledger.skipped;
        summary.records.reuploaded = ledger.reuploaded;
        summary.failures += ledger.failures;
        summary.corrupt_entries = ledger.corrupt_entries;
        summary.bytes_raw = stats.bytes_raw;
        summary.bytes_sent = stats.bytes_wire;
        summary.requests = stats.requests;
        summary.retries = stats.retries;
        summary.bytes_charged = stats.bytes_charged;
        if stats.events_truncated > 0 {
            tracing::warn!(
                events = stats.events_truncated,
                "events were too large for one request: their message was truncated"
            );
            summary.events_truncated = Some(stats.events_truncated);
        }
        summary.events_unreadable =
            (stats.events_unreadable > 0).then_some(stats.events_unreadable);
        summary.events_time_moved =
            (stats.events_time_moved > 0).then_some(stats.events_time_moved);
        summary.close(
            opened,
            ledger.replayed_entries,
            &self.dead,
            self.started.elapsed(),
        );
        Ok(self.summary)
    }
}
