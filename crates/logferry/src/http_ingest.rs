//! HTTP Ingest: sources → framing → batching → gzip (every core) → [spool] → [`Ingest`].
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
use crate::frontend::{self, FrontConfig, Item};
use futures_util::StreamExt;
use logferry_framing::{FrameError, FrameStats, Position};
use logferry_source::{Checkpoint, Source};
use logferry_taegis_ingest::{Delivery, EncodedBatch, Ingest};
use std::cell::RefCell;

/// What a pipeline run reports while it runs, in the order things happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A record the framer could not emit (for the dead-letter file).
    FrameError(&'a FrameError),
    /// An input failed to read.
    ReadError {
        /// The input's name.
        name: &'a str,
        /// What failed.
        error: &'a logferry_source::Error,
    },
    /// An input was read to its end.
    Finished {
        /// The input's name.
        name: &'a str,
        /// Its end.
        position: Position,
        /// The framer's counters.
        stats: FrameStats,
    },
    /// A batch was framed and is on its way (counted before compression and sending).
    Batched {
        /// Records in it.
        records: u64,
        /// Its uncompressed size.
        bytes: u64,
    },
    /// A batch left by an earlier run was read back from the spool.
    Replayed {
        /// Records in it.
        records: u64,
    },
    /// A spool entry could not be read back as a batch (it is dropped from the spool).
    CorruptEntry {
        /// The entry.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A new batch is safe in the spool.
    Spooled,
    /// The spool or checkpoint store failed: the run stops (nothing is lost; what was not
    /// spooled will be read again).
    DurabilityError(String),
    /// A batch's fate. With a spool, a batch that is not done stays spooled.
    Delivery(&'a Delivery),
}

/// Ships `sources` through `ingest`. Batches are gzipped (when configured) on the
/// blocking pool with one more batch in compression than there are cores, then sent
/// with the sender's concurrency. Returns when every input is read and every batch
/// reported, or early when the sender stops (a 401/403, [`Ingest::stop`], or a spool
/// failure).
pub async fn run(
    ingest: &Ingest,
    front: FrontConfig,
    sources: Vec<Source>,
    durable: Option<Durable>,
    on_event: impl FnMut(Event<'_>),
) {
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
                emit(Event::Replayed {
                    records: u64::from(batch.records()),
                });
                Some(batch.with_tag(id))
            }
            Err(e) => {
                emit(Event::CorruptEntry {
                    id,
                    reason: e.to_string(),
                });
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
        let batch = match item {
            Item::Batch {
                input,
                batch,
                resumable,
            } => {
                emit(Event::Batched {
                    records: batch.len() as u64,
                    bytes: batch.body().len() as u64,
                });
                Some((input, resumable, batch))
            }
            Item::FrameError(e) => {
                emit(Event::FrameError(&e));
                None
            }
            Item::ReadError { name, error, .. } => {
                emit(Event::ReadError {
                    name: &name,
                    error: &error,
                });
                None
            }
            Item::Finished {
                input,
                position,
                stats,
            } => {
                emit(Event::Finished {
                    name: &names[input],
                    position,
                    stats,
                });
                None
            }
        };
        std::future::ready(batch)
    });
    let compressing = std::thread::available_parallelism().map_or(2, usize::from) + 1;
    let encoded =
        batches
            .map(|(input, resumable, batch)| async move {
                (input, resumable, ingest.encode(batch).await)
            })
            .buffered(compressing);
    let spooled = encoded.then(|(input, resumable, batch)| {
        let durable = durable.clone();
        let checkpoint = checkpoint_after(templates[input].as_ref(), batch.range(), resumable);
        async move {
            let Some(durable) = durable else {
                return Some(batch);
            };
            match durable.append(batch.to_bytes(), checkpoint).await {
                Ok(id) => {
                    emit(Event::Spooled);
                    Some(batch.with_tag(id))
                }
                Err(e) => {
                    emit(Event::DurabilityError(e));
                    ingest.stop();
                    None
                }
            }
        }
    });
    let fresh = spooled.filter_map(std::future::ready);

    // 3. Send; acknowledge what is done.
    ingest
        .ship(replayed.chain(fresh), |delivery| {
            if let Some(d) = &durable
                && delivery.is_done()
            {
                d.ack(delivery.tag);
            }
            emit(Event::Delivery(&delivery));
        })
        .await;
}
