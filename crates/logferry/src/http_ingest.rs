//! HTTP Ingest: sources → framing → batching → gzip (every core) → (spool) → [`Ingest`].
//!
//! # With a spool
//!
//! [`Durable`] adds the crash-safe path the HTTP Ingest contract asks for ("persist
//! undelivered batches locally so that extended outages do not result in data loss"):
//!
//! 1. every entry left in the spool by an earlier run is sent first;
//! 2. each new batch, once compressed, is appended to the spool, and only then is its
//!    source's checkpoint moved past it: the records are safe on disk before the source
//!    is considered read;
//! 3. a spool entry is acknowledged only when its batch is done (delivered, or refused
//!    for good and handed to the caller for the dead-letter file). A batch that could not
//!    be delivered stays in the spool for the next run.
//!
//! Killed at any instant, a rerun loses nothing: what was read but not yet spooled is
//! read again (its checkpoint had not moved), what was spooled is replayed. Duplicates
//! are bounded by the batches in flight or spooled-but-unacknowledged at the kill.

pub use crate::durable::Durable;
use crate::durable::{checkpoint_after, replay};
use crate::frontend::{self, FrontConfig, InputEvent};
use futures_util::StreamExt;
use logferry_source::{Checkpoint, Source};
use logferry_taegis_ingest::{Delivery, EncodedBatch, Ingest};
use std::cell::RefCell;

/// What a pipeline run reports while it runs, in the order things happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Inputs and the spool.
    Input(InputEvent<'a>),
    /// A batch's fate. With a spool, a batch that is not done stays spooled.
    Delivery(&'a Delivery),
}

/// Ships `sources` through `ingest`. Batches are gzipped (when configured) on the
/// blocking pool with up to two batches per core in compression (ahead of sending, in
/// order), then sent with the sender's concurrency.
///
/// With compression on, `front.batching.target_bytes` is the target size of a request
/// body *as sent*: the HTTP Ingest contract recommends "request body size ≈ 100 KB",
/// and a gzipped body is several times smaller than its records. The raw target follows
/// the compression ratio seen so far (smoothed, between the configured target and the
/// batching maximum), so requests stay near the recommended size whatever the data.
///
/// Returns when every input is read and every batch reported, or early when the sender
/// stops (a 401/403, [`Ingest::stop`], or a spool failure) or is closed
/// ([`Ingest::close`]: requests on the wire finish first), even while input is idle.
pub async fn run(
    ingest: &Ingest,
    mut front: FrontConfig,
    sources: Vec<Source>,
    durable: Option<Durable>,
    on_event: impl FnMut(Event<'_>),
) {
    let wire_target = front.batching.target_bytes.max(1);
    let raw_max = front.batching.max_bytes.max(wire_target);
    let adaptive = ingest.config().compression.is_some().then(|| {
        let target = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(wire_target));
        front.adaptive_target = Some(target.clone());
        target
    });
    // Smoothed compression ratio (raw / wire), in thousandths.
    let ratio = std::cell::Cell::new(0u64);
    let names: Vec<_> = sources.iter().map(|s| s.name().clone()).collect();
    // What a checkpoint for each input looks like (regular files only).
    let templates: Vec<Option<Checkpoint>> =
        sources.iter().map(|s| s.checkpoint(s.start())).collect();
    let on_event = RefCell::new(on_event);
    let emit = |event: Event<'_>| (on_event.borrow_mut())(event);

    // 1. What an earlier run left in the spool.
    let replayed = replay(durable.as_ref()).filter_map(|(id, stored)| {
        let batch = match EncodedBatch::from_bytes(&stored) {
            Ok(batch) => {
                emit(Event::Input(InputEvent::Replayed {
                    records: u64::from(batch.records()),
                }));
                Some(batch.with_tag(id))
            }
            Err(e) => {
                emit(Event::Input(InputEvent::CorruptEntry {
                    id,
                    reason: e.to_string(),
                }));
                if let Some(d) = &durable {
                    d.ack(id);
                }
                None
            }
        };
        std::future::ready(batch)
    });

    // 2. New batches: framed, compressed in parallel (in order), spooled.
    let rx = frontend::start(front, sources);
    let items = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let batches = items.filter_map(|item| {
        std::future::ready(frontend::route(item, &names, &|e| emit(Event::Input(e))))
    });
    let compressing = std::thread::available_parallelism().map_or(2, usize::from) * 2;
    let encoded =
        batches
            .map(|(input, resumable, batch)| async move {
                (input, resumable, ingest.encode(batch).await)
            })
            .buffered(compressing)
            .inspect(|(_, _, batch)| {
                let Some(target) = &adaptive else { return };
                let wire = batch.body().len().max(1) as u64;
                let now = batch.raw_len() as u64 * 1000 / wire;
                let smoothed = match ratio.get() {
                    0 => now,
                    old => (old * 7 + now) / 8,
                };
                ratio.set(smoothed);
                let raw = (wire_target as u64 * smoothed / 1000) as usize;
                target.store(
                    raw.clamp(wire_target, raw_max),
                    std::sync::atomic::Ordering::Relaxed,
                );
            });
    let spooled = encoded.then(|(input, resumable, batch)| {
        let durable = durable.clone();
        let checkpoint = checkpoint_after(templates[input].as_ref(), batch.range(), resumable);
        async move {
            let Some(durable) = durable else {
                return Some(batch);
            };
            match durable.append(batch.to_bytes(), checkpoint).await {
                Ok(id) => {
                    emit(Event::Input(InputEvent::Spooled));
                    Some(batch.with_tag(id))
                }
                Err(e) => {
                    emit(Event::Input(InputEvent::DurabilityError(e)));
                    ingest.stop();
                    None
                }
            }
        }
    });
    let fresh = spooled.filter_map(std::future::ready);

    // 3. Send; acknowledge what is done. Compression runs ahead of sending through a
    // small bounded queue: the sender pulls a batch only when a request slot frees up,
    // and compressors must not wait for that.
    let (tx, rx) = tokio::sync::mpsc::channel::<EncodedBatch>(compressing + 1);
    let produce = async {
        let mut all = std::pin::pin!(replayed.chain(fresh));
        loop {
            // The sender stops taking batches once stopped or closed: then stop reading,
            // even while the input is idle.
            let next = tokio::select! {
                biased;
                () = tx.closed() => break,
                next = all.next() => next,
            };
            let Some(batch) = next else { break };
            if tx.send(batch).await.is_err() {
                break; // the sender stopped
            }
        }
        drop(tx);
    };
    let ready =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let consume = ingest.ship(ready, |delivery| {
        if let Some(d) = &durable
            && delivery.is_done()
        {
            d.ack(delivery.tag);
        }
        emit(Event::Delivery(&delivery));
    });
    tokio::join!(produce, consume);
}
