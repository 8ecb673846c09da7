//! The SentinelOne SDL sink: framed batches become `addEvents` events on every core and
//! go to an [`SdlSender`] (sessions, pacing, retries, splits).
//!
//! The unit stored in the spool is the framed batch with the time it was read, so a new
//! process converts it again to the same events and "wraps them in its own session". An
//! entry is done once each of its events is delivered or refused for good.

use crate::sink::{Control, Lost, Report, Sink, SinkStats};
use crate::source::FrontConfig;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use logferry_framing::{Batch, Format};
use logferry_sdl::{Converted, Record, Reports, SdlSender, StoredBatch};
use logferry_sdl_model::{FromJsonConfig, Timestamp};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How records become events.
#[derive(Debug, Clone)]
pub struct SdlJob {
    /// Text lines or JSON objects.
    pub format: Format,
    /// The `parser` attribute every event gets (the SDL parser that parses `message`).
    pub parser: Option<String>,
    /// How JSON objects become attributes.
    pub from_json: FromJsonConfig,
    /// How long shutdown may take to flush what is queued.
    pub shutdown_deadline: Duration,
}

impl SdlJob {
    /// `format` records with an optional `parser` attribute; JSON objects become
    /// attributes by the model's defaults; shutdown may take a minute to flush.
    pub fn new(format: Format, parser: Option<String>) -> SdlJob {
        SdlJob {
            format,
            parser,
            from_json: FromJsonConfig::default(),
            shutdown_deadline: Duration::from_secs(60),
        }
    }
}

/// SentinelOne SDL `addEvents` as a [`Sink`].
#[derive(Debug)]
pub struct SdlSink {
    sender: SdlSender,
    reports: Mutex<Option<Reports>>,
    job: Arc<SdlJob>,
    aborted: AtomicBool,
    charged_seen: AtomicBool,
    /// Events sent although their time or level could not be read.
    unreadable: AtomicU64,
}

impl SdlSink {
    /// The largest record by default: SDL's only limit is the request body ("The
    /// request body must be 6MB or less"), less room for the envelope; an event larger
    /// than a batch goes in a request of its own.
    pub const MAX_RECORD_BYTES: usize = 5_900_000;

    /// How `format` input is cut for this sink: records of at most
    /// [`MAX_RECORD_BYTES`](Self::MAX_RECORD_BYTES); spool units and conversion work come
    /// in ~256 KB batches (at most 1 MB, or one larger record); the sender makes its own
    /// requests of up to its `max_body_bytes` from the events.
    ///
    /// JSON lines are validated while framing. Without a spool, a caller may turn that off
    /// (`framing.validate_lines`): the sink parses every record into an event with the same
    /// parser and reports one it cannot read as invalid, with its position and the
    /// framer's own reason. With a spool it must not: the records are stored before the
    /// sink reads them, and an invalid one would be reported again on every read back.
    pub fn front(format: Format) -> FrontConfig {
        let mut front = FrontConfig::new(format);
        front.framing.max_record_bytes = Self::MAX_RECORD_BYTES;
        front.batching.target_bytes = 256_000;
        front.batching.max_bytes = 1_000_000;
        front
    }

    /// Ships through `sender`, reading its `reports`.
    pub fn new(sender: SdlSender, reports: Reports, job: SdlJob) -> SdlSink {
        SdlSink {
            sender,
            reports: Mutex::new(Some(reports)),
            job: Arc::new(job),
            aborted: AtomicBool::new(false),
            charged_seen: AtomicBool::new(false),
            unreadable: AtomicU64::new(0),
        }
    }
}

/// Each event of `records` as one lost record (its JSON), for the dead-letter file.
fn lost_events<'a>(records: &'a [Record], reason: &'a str) -> Vec<Lost<'a>> {
    records
        .iter()
        .map(|r| Lost {
            source: r.source.as_deref().map(Cow::Borrowed),
            position: r.position,
            reason: Cow::Borrowed(reason),
            records: 1,
            body: Cow::Owned(r.event.to_json()),
            truncated: false,
        })
        .collect()
}

impl Sink for SdlSink {
    type Entry = StoredBatch;

    fn name(&self) -> &'static str {
        "sdl"
    }

    async fn encode(&self, batch: Batch) -> StoredBatch {
        StoredBatch {
            read_at: Timestamp::from_system_time(std::time::SystemTime::now()),
            format: self.job.format,
            batch,
        }
    }

    fn records(&self, entry: &StoredBatch) -> u64 {
        entry.batch.len() as u64
    }

    fn unsent<'e>(&self, entry: &'e StoredBatch) -> Vec<Lost<'e>> {
        let range = entry.batch.range();
        vec![Lost {
            source: range
                .source_name
                .as_deref()
                .map(|s| Cow::Owned(s.to_owned())),
            position: Some(range.start),
            reason: Cow::Borrowed("not sent before the sender stopped"),
            records: entry.batch.len() as u64,
            body: Cow::Borrowed(entry.batch.body()),
            truncated: false,
        }]
    }

    async fn ship<'a>(
        &'a self,
        entries: LocalBoxStream<'a, (u64, StoredBatch)>,
        report: &'a mut dyn FnMut(Report<'_>),
    ) {
        let sender = &self.sender;
        let report = RefCell::new(report);
        let report = |r: Report<'_>| (report.borrow_mut())(r);
        // Events still unsettled per entry.
        let outstanding: RefCell<HashMap<u64, usize>> = RefCell::new(HashMap::new());
        let settle = |id: u64| {
            let mut map = outstanding.borrow_mut();
            if let Some(left) = map.get_mut(&id) {
                *left -= 1;
                if *left == 0 {
                    map.remove(&id);
                    drop(map);
                    report(Report::Done(id));
                }
            }
        };
        let Some(mut reports) = self.reports.lock().expect("not poisoned").take() else {
            return; // shipped once already: the sender is shut down
        };

        let send_side = async {
            // Converted on the blocking pool, several at once, in order.
            let converting = std::thread::available_parallelism().map_or(2, usize::from) + 1;
            // Boxed, so it can be dropped below: that tells the pipeline to stop reading.
            let mut converted = Box::pin(
                entries
                    .map(|(id, entry)| {
                        let job = self.job.clone();
                        async move {
                            let range = entry.batch.range();
                            let done = logferry_compress::spawn_bulk(move || {
                                entry.records(job.parser.as_deref(), &job.from_json, Some(id))
                            })
                            .await;
                            if let Err(e) = &done {
                                // A bug, not bad input: say which records it cost (with a
                                // spool they are still there for the next run).
                                tracing::error!(
                                    source = range.source_name.as_deref().unwrap_or("<unnamed>"),
                                    line = range.start.line,
                                    offset = range.start.offset,
                                    last_line = range.last_line,
                                    "converting a batch to SDL events failed: {e}"
                                );
                            }
                            (id, range.source_name, done.ok())
                        }
                    })
                    .buffered(converting),
            );
            // Records the sender refused once closed: unsent.
            let mut kept = Vec::new();
            loop {
                // A close ends reading even while the input is idle.
                let next = tokio::select! {
                    biased;
                    () = sender.closed() => break,
                    next = converted.next() => next,
                };
                let Some((id, source, done)) = next else {
                    break;
                };
                let Some(Converted {
                    records,
                    invalid,
                    unreadable,
                }) = done
                else {
                    continue;
                };
                self.unreadable.fetch_add(unreadable.events, Relaxed);
                for logferry_sdl::InvalidRecord {
                    position,
                    reason,
                    bytes,
                } in &invalid
                {
                    let where_ = format!("{}: {position}", source.as_deref().unwrap_or("<input>"));
                    report(Report::Invalid(Lost {
                        source: source.as_deref().map(Cow::Borrowed),
                        position: Some(*position),
                        reason: Cow::Owned(format!("{where_}: not a valid SDL event: {reason}")),
                        records: 1,
                        body: Cow::Borrowed(bytes),
                        truncated: false,
                    }));
                }
                if records.is_empty() {
                    report(Report::Done(id));
                    continue;
                }
                outstanding.borrow_mut().insert(id, records.len());
                if let Err((_, refused)) = sender.send_many_or_keep(records).await {
                    kept.extend(refused);
                    break;
                }
                if sender.stopped().is_some() {
                    break;
                }
            }
            drop(converted);
            let _ = sender.flush().await;
            let deadline = if self.aborted.load(Relaxed) {
                Duration::ZERO
            } else {
                self.job.shutdown_deadline
            };
            let mut shutdown = sender.shutdown(deadline).await;
            shutdown.unsent.extend(kept);
            if !shutdown.unsent.is_empty() {
                let reason = "not sent before the sender stopped";
                report(Report::Undelivered(&lost_events(&shutdown.unsent, reason)));
            }
        };

        let report_side = async {
            while let Some(r) = reports.recv().await {
                match &r {
                    logferry_sdl::Report::Delivered(d) => {
                        if d.bytes_charged.is_some() {
                            self.charged_seen.store(true, Relaxed);
                        }
                        if let Some(w) = &d.warning {
                            tracing::warn!("SDL accepted a request with a warning: {w}");
                        }
                        report(Report::Delivered {
                            records: d.events as u64,
                        });
                        d.entries.iter().for_each(|a| settle(*a));
                    }
                    logferry_sdl::Report::Failed(f)
                        if matches!(f.error, logferry_sdl::Error::GaveUp { .. }) =>
                    {
                        // Not settled: with a spool the entry stays for the next run.
                        let reason = crate::chain(&f.error);
                        report(Report::Undelivered(&lost_events(&f.records, &reason)));
                        let mut ids: Vec<u64> = f.records.iter().filter_map(|r| r.entry).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        if let logferry_sdl::Error::GaveUp {
                            retry_after: Some(wait),
                            ..
                        } = &f.error
                        {
                            report(Report::HoldOff(*wait));
                        }
                        for id in ids {
                            outstanding.borrow_mut().remove(&id);
                            report(Report::Failed(id));
                        }
                    }
                    logferry_sdl::Report::Failed(f) => {
                        let reason = crate::chain(&f.error);
                        report(Report::Refused(&lost_events(&f.records, &reason)));
                        f.records.iter().filter_map(|r| r.entry).for_each(settle);
                    }
                    logferry_sdl::Report::Stopped(e) => report(Report::Stopped(&crate::chain(e))),
                    _ => {}
                }
            }
        };
        tokio::join!(send_side, report_side);
    }
}

impl Control for SdlSink {
    fn close(&self) {
        self.sender.close();
    }

    fn abort(&self) {
        self.aborted.store(true, Relaxed);
        self.sender.close();
    }

    fn stopped(&self) -> Option<String> {
        self.sender.stopped().map(|e| crate::chain(&e))
    }

    fn stats(&self) -> SinkStats {
        let s = self.sender.stats();
        SinkStats {
            records_delivered: s.events_delivered,
            bytes_raw: s.bytes_raw,
            bytes_wire: s.bytes_wire,
            requests: s.attempts,
            retries: s.retries,
            bytes_charged: self.charged_seen.load(Relaxed).then_some(s.bytes_charged),
            events_truncated: s.events_truncated,
            events_unreadable: self.unreadable.load(Relaxed),
            events_time_moved: s.events_ts_moved,
            requests_by_status: s.requests_by_status,
            request_failures: s.request_failures,
            in_flight: s.in_flight,
            // A session carries one request at a time: the sessions open now are the
            // limit, grown with load under `sessions = "auto"`.
            concurrency_limit: Some(s.sessions.len() as u64),
        }
    }
}
