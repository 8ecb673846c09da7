//! SDL `addEvents`: sources → framing → batching → (spool) → events (on every core) →
//! [`SdlSender`].
//!
//! Text records become events whose `message` is the line (plus `logfile`, and `parser`
//! when given); JSON records become events whose attributes are the object, with `ts` and
//! `sev` taken from their usual fields (see `logferry_sdl_model::Event::from_json_slice`).
//! A record that cannot be an event is reported with its position.
//!
//! With a spool, the unit stored is the framed batch with the time it was read, so a new
//! process converts it again to the same events and "wraps them in its own session". A
//! spool entry is acknowledged once each of its events is delivered or refused for good.

use crate::durable::{Durable, checkpoint_after, replay};
use crate::frontend::{self, FrontConfig, InputEvent};
use futures_util::StreamExt;
use logferry_framing::{Batch, Format, Position};
use logferry_sdl::{Delivery, Failure, Record, Report, Reports, SdlSender, ShutdownReport};
use logferry_sdl_model::{AttrValue, Event as SdlEvent, EventReader, FromJsonConfig, Timestamp};
use logferry_source::{Checkpoint, Source};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
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

/// What an SDL pipeline run reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Inputs and the spool.
    Input(InputEvent<'a>),
    /// A record that is not a valid event (a bad timestamp or severity, say).
    Invalid {
        /// Its source.
        source: Option<&'a str>,
        /// Where it starts.
        position: Position,
        /// Why.
        reason: String,
        /// The record.
        record: &'a [u8],
    },
    /// A request was confirmed.
    Delivered(&'a Delivery),
    /// Events refused for good (for the dead-letter file).
    Failed(&'a Failure),
    /// Events whose retries ran out. Without a spool they are the caller's to keep
    /// (dead-letter them); with one they stay spooled for the next run.
    GaveUp(&'a Failure),
    /// The sender stopped: its key was refused.
    Stopped(&'a logferry_sdl::Error),
}

/// A spool entry: the read time, the format, and the framed batch.
fn store(read_at: Timestamp, format: Format, batch: &Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + batch.stored_len());
    out.extend_from_slice(b"LFE1");
    out.extend_from_slice(&read_at.as_nanos().to_le_bytes());
    out.push(u8::from(format == Format::Json));
    batch.write_to(&mut out);
    out
}

fn unstore(bytes: &[u8]) -> Result<(Timestamp, Format, Batch), String> {
    if bytes.len() < 13 || &bytes[..4] != b"LFE1" {
        return Err("not a stored SDL batch".into());
    }
    let ts = Timestamp::from_nanos(u64::from_le_bytes(
        bytes[4..12].try_into().expect("8 bytes"),
    ));
    let format = match bytes[12] {
        0 => Format::Text,
        1 => Format::Json,
        _ => return Err("unknown format".into()),
    };
    let batch = Batch::from_bytes(&bytes[13..]).map_err(str::to_owned)?;
    Ok((ts, format, batch))
}

/// A record that is not a valid event: where it starts, why, and its bytes.
type InvalidRecord = (Position, String, Vec<u8>);

/// A batch converted: the batch (for its source), its events, the records that failed.
/// A converted batch: its source's name, its events, and the records that were not events.
type Converted = (Option<Arc<str>>, (Vec<Record>, Vec<InvalidRecord>));

/// The events of `batch`, each carrying `ack`, and the records that are not events.
fn convert(
    batch: &Batch,
    format: Format,
    read_at: Timestamp,
    job: &SdlJob,
    ack: Option<u64>,
) -> (Vec<Record>, Vec<InvalidRecord>) {
    let source: Option<Arc<str>> = batch.range().source_name;
    let mut records = Vec::with_capacity(batch.len());
    let mut invalid = Vec::new();
    let mut reader = (format == Format::Json).then(|| EventReader::new(job.from_json.clone()));
    let mut scratch = Vec::new();
    for i in 0..batch.len() {
        let (bytes, position) = batch.record(i).expect("i < len");
        let event = match &mut reader {
            None => {
                let text = String::from_utf8_lossy(bytes);
                let mut event = SdlEvent::message(read_at, text);
                if let Some(name) = &source {
                    event
                        .attrs
                        .insert("logfile", AttrValue::String(name.to_string()));
                }
                Ok(event)
            }
            Some(reader) => {
                scratch.clear();
                scratch.extend_from_slice(bytes);
                reader.read(&mut scratch, read_at)
            }
        };
        match event {
            Ok(mut event) => {
                if let Some(parser) = &job.parser {
                    event
                        .attrs
                        .insert("parser", AttrValue::String(parser.clone()));
                }
                let mut record = Record::new(event);
                if let Some(name) = &source {
                    record = record.from_source(name.clone());
                }
                if let Some(ack) = ack {
                    record = record.with_ack(ack);
                }
                records.push(record);
            }
            Err(e) => invalid.push((position, e.to_string(), bytes.to_vec())),
        }
    }
    (records, invalid)
}

/// Ships `sources` through `sender`, reading `reports` as they come (to acknowledge spool
/// entries and report deliveries), then shuts the sender down and returns what it could
/// not send: without a spool those records are the caller's to keep (dead-letter them);
/// with one they are still spooled.
pub async fn run(
    sender: &SdlSender,
    mut reports: Reports,
    job: SdlJob,
    front: FrontConfig,
    sources: Vec<Source>,
    durable: Option<Durable>,
    on_event: impl FnMut(Event<'_>),
) -> ShutdownReport {
    let names: Vec<_> = sources.iter().map(|s| s.name().clone()).collect();
    let templates: Vec<Option<Checkpoint>> =
        sources.iter().map(|s| s.checkpoint(s.start())).collect();
    let on_event = RefCell::new(on_event);
    let emit = |event: Event<'_>| (on_event.borrow_mut())(event);
    // Events still unsettled per spool entry.
    let outstanding: RefCell<HashMap<u64, usize>> = RefCell::new(HashMap::new());
    let settle = |ack: u64| {
        let mut map = outstanding.borrow_mut();
        if let Some(left) = map.get_mut(&ack) {
            *left -= 1;
            if *left == 0 {
                map.remove(&ack);
                if let Some(d) = &durable {
                    d.ack(ack);
                }
            }
        }
    };
    let job = Arc::new(job);

    // Converts a batch on the blocking pool and hands its events to the sender.
    let deliver = |batch: Batch, format: Format, read_at: Timestamp, ack: Option<u64>| {
        let job = job.clone();
        async move {
            let range = batch.range();
            // The batch is freed on the blocking thread once converted.
            let converted =
                tokio::task::spawn_blocking(move || convert(&batch, format, read_at, &job, ack))
                    .await
                    .map(|out| (range.source_name.clone(), out));
            if let Err(e) = &converted {
                // A bug, not bad input: say which records it cost (with a spool they are
                // still there for the next run; the summary counts them undelivered).
                tracing::error!(
                    source = range.source_name.as_deref().unwrap_or("<unnamed>"),
                    line = range.start.line,
                    offset = range.start.offset,
                    last_line = range.last_line,
                    "converting a batch to SDL events failed: {e}"
                );
            }
            converted.ok()
        }
    };
    let hand_over = |converted: Option<Converted>, ack: Option<u64>| {
        let (source, (records, invalid)) = converted?;
        for (position, reason, record) in &invalid {
            emit(Event::Invalid {
                source: source.as_deref(),
                position: *position,
                reason: reason.clone(),
                record,
            });
        }
        if let (Some(ack), Some(d)) = (ack, &durable) {
            if records.is_empty() {
                d.ack(ack);
            } else {
                outstanding.borrow_mut().insert(ack, records.len());
            }
        }
        Some(records)
    };

    let send_side = async {
        // Records the sender refused once closed (a signal): returned as unsent.
        let mut kept = Vec::new();
        // 1. What an earlier run left.
        let mut replayed = std::pin::pin!(replay(durable.as_ref()));
        while let Some((id, stored)) = replayed.next().await {
            if sender.stopped().is_some() || sender.is_closed() {
                break;
            }
            match unstore(&stored) {
                Ok((read_at, format, batch)) => {
                    emit(Event::Input(InputEvent::Replayed {
                        records: batch.len() as u64,
                    }));
                    let converted = deliver(batch, format, read_at, Some(id)).await;
                    if let Some(records) = hand_over(converted, Some(id))
                        && let Err((_, refused)) = sender.send_many_or_keep(records).await
                    {
                        kept.extend(refused);
                        break;
                    }
                }
                Err(reason) => {
                    emit(Event::Input(InputEvent::CorruptEntry { id, reason }));
                    if let Some(d) = &durable {
                        d.ack(id);
                    }
                }
            }
        }

        // 2. New input: framed, spooled (in order), converted (in parallel), sent.
        let rx = frontend::start(front.clone(), sources);
        let items = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let format = front.format;
        let batches = items.filter_map(|item| {
            std::future::ready(frontend::route(item, &names, &|e| emit(Event::Input(e))))
        });
        let spooled = batches.then(|(input, resumable, batch)| {
            let durable = durable.clone();
            let checkpoint = checkpoint_after(templates[input].as_ref(), &batch.range(), resumable);
            let read_at = Timestamp::from_system_time(std::time::SystemTime::now());
            async move {
                match durable {
                    None => Ok((batch, read_at, None)),
                    Some(d) => d
                        .append(store(read_at, format, &batch), checkpoint)
                        .await
                        .map(|id| (batch, read_at, Some(id))),
                }
            }
        });
        let converting = std::thread::available_parallelism().map_or(2, usize::from) + 1;
        let mut converted = std::pin::pin!(
            spooled
                .map(|stored| async {
                    match stored {
                        Ok((batch, read_at, id)) => {
                            Ok((deliver(batch, format, read_at, id).await, id))
                        }
                        Err(e) => Err(e),
                    }
                })
                .buffered(converting)
        );
        loop {
            // A close (a signal) ends reading even while the input is idle.
            let next = tokio::select! {
                biased;
                () = sender.closed() => break,
                next = converted.next() => next,
            };
            let Some(next) = next else { break };
            match next {
                Ok((batch, id)) => {
                    if id.is_some() {
                        emit(Event::Input(InputEvent::Spooled));
                    }
                    if let Some(records) = hand_over(batch, id)
                        && let Err((_, refused)) = sender.send_many_or_keep(records).await
                    {
                        kept.extend(refused);
                        break;
                    }
                }
                Err(e) => {
                    emit(Event::Input(InputEvent::DurabilityError(e)));
                    break;
                }
            }
            if sender.stopped().is_some() {
                break;
            }
        }
        let _ = sender.flush().await;
        let mut report = sender.shutdown(job.shutdown_deadline).await;
        report.unsent.extend(kept);
        report
    };

    let report_side = async {
        while let Some(report) = reports.recv().await {
            match &report {
                Report::Delivered(d) => {
                    d.acks.iter().for_each(|a| settle(*a));
                    emit(Event::Delivered(d));
                }
                Report::Failed(f) if matches!(f.error, logferry_sdl::Error::GaveUp { .. }) => {
                    // Not settled: with a spool the entry stays for the next run.
                    emit(Event::GaveUp(f));
                }
                Report::Failed(f) => {
                    emit(Event::Failed(f));
                    f.records.iter().filter_map(|r| r.ack).for_each(settle);
                }
                Report::Stopped(e) => emit(Event::Stopped(e)),
                _ => {}
            }
        }
    };
    let (shutdown, ()) = tokio::join!(send_side, report_side);
    shutdown
}
