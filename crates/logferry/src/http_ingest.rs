//! HTTP Ingest: inputs → framing → batching → gzip (both cores) → [`Ingest`].

use crate::frontend::{self, FrontConfig, Input, Item};
use futures_util::StreamExt;
use logferry_framing::{FrameError, FrameStats, Position};
use logferry_taegis_ingest::{Delivery, Ingest};
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
        error: &'a std::io::Error,
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
    /// A batch's fate.
    Delivery(&'a Delivery),
}

/// Ships `inputs` through `ingest`: every batch is gzipped (when configured) on the
/// blocking pool with as many batches in compression as there are cores, then sent with
/// the sender's concurrency. Returns when every input is read and every batch reported,
/// or early when the sender stops (a 401/403, or [`Ingest::stop`]).
pub async fn run(
    ingest: &Ingest,
    front: FrontConfig,
    inputs: Vec<Input>,
    on_event: impl FnMut(Event<'_>),
) {
    let names: Vec<_> = inputs.iter().map(|i| i.name.clone()).collect();
    let on_event = RefCell::new(on_event);
    let emit = |event: Event<'_>| (on_event.borrow_mut())(event);
    let rx = frontend::start(front, inputs);
    let items = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let batches = items.filter_map(|item| {
        let batch = match item {
            Item::Batch { batch, .. } => {
                emit(Event::Batched {
                    records: batch.len() as u64,
                    bytes: batch.body().len() as u64,
                });
                Some(batch)
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
    let encoded = batches
        .map(|batch| ingest.encode(batch))
        .buffered(compressing);
    ingest
        .ship(encoded, |delivery| emit(Event::Delivery(&delivery)))
        .await;
}
