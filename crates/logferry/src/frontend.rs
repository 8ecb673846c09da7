//! The front of every text pipeline: read sources in large chunks, frame, batch.
//!
//! Two threads per pipeline: one reads (a blocking `read` may wait forever on a pipe),
//! one frames and batches, waking up when the oldest open batch has lingered long enough
//! even if no byte arrives. Batches and framing errors cross a bounded channel to the
//! async side, so a slow sender slows the reader instead of filling memory.

use logferry_framing::{
    Batch, BatchConfig, Batcher, Format, FrameError, FrameStats, Framer, FramingConfig, Position,
};
use logferry_source::Source;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Instant;

/// How inputs become batches.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// Text lines or JSON objects.
    pub format: Format,
    /// Framing policies (the source name is set per input).
    pub framing: FramingConfig,
    /// Batch sizing.
    pub batching: BatchConfig,
    /// Read size. Default in [`FrontConfig::new`]: 1 MiB.
    pub chunk_bytes: usize,
    /// Batches waiting for the sender before the reader pauses. Default: 16.
    pub queue: usize,
    /// A batch target the consumer may change while the run goes on (the pipeline sizes
    /// raw batches so that compressed bodies hit a target on the wire). When set, it
    /// replaces `batching.target_bytes` from the next chunk on. Default: none.
    pub adaptive_target: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
}

impl FrontConfig {
    /// Defaults for `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            framing: FramingConfig::default(),
            batching: BatchConfig::default(),
            chunk_bytes: 1 << 20,
            queue: 16,
            adaptive_target: None,
        }
    }
}

/// What the front end produces, in source order per input.
#[derive(Debug)]
pub enum Item {
    /// A batch from input number `input`.
    Batch {
        /// Index of the input in the list given to [`start`].
        input: usize,
        /// The batch.
        batch: Batch,
        /// Whether reading may resume right after this batch (false inside a JSON
        /// document, whose structure a resumed read would not see).
        resumable: bool,
    },
    /// A record the framer could not emit.
    FrameError(FrameError),
    /// An input could not be read to its end.
    ReadError {
        /// Index of the input.
        input: usize,
        /// The input's name.
        name: Arc<str>,
        /// Where reading stopped: every byte before it was framed (and its records sent
        /// on), none from it on.
        position: Position,
        /// What failed.
        error: logferry_source::Error,
    },
    /// An input was read to its end; every batch of it precedes this item.
    Finished {
        /// Index of the input.
        input: usize,
        /// Where reading stopped: the end of the source.
        position: Position,
        /// The framer's counters.
        stats: FrameStats,
    },
}

enum Chunk {
    Data(Vec<u8>),
    End,
    Failed(logferry_source::Error),
}

/// Starts reading `inputs` one after the other (each from its own start: resumed from a
/// checkpoint, or 0); items arrive on the returned channel.
pub fn start(config: FrontConfig, inputs: Vec<Source>) -> tokio::sync::mpsc::Receiver<Item> {
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue.max(1));
    std::thread::Builder::new()
        .name("logferry-frame".into())
        .spawn(move || frame_all(config, inputs, tx))
        .expect("a thread can be spawned");
    rx
}

fn frame_all(config: FrontConfig, inputs: Vec<Source>, tx: tokio::sync::mpsc::Sender<Item>) {
    for (index, input) in inputs.into_iter().enumerate() {
        if !frame_one(&config, index, input, &tx) {
            return; // the receiver is gone: nobody wants more
        }
    }
}

/// Frames one input; false when the receiver hung up.
fn frame_one(
    config: &FrontConfig,
    index: usize,
    input: Source,
    tx: &tokio::sync::mpsc::Sender<Item>,
) -> bool {
    let name = input.name().clone();
    let start = input.start();
    let mut framing = config.framing.clone();
    framing.source_name = Some(name.clone());
    let mut framer = Framer::resume(config.format, framing, start);
    let mut batcher = Batcher::new(config.batching, Some(name.clone()));
    let chunks = spawn_reader(input);
    // Batches are marked resumable once the framer knows the input is not a JSON
    // document; the marking happens after each framer call (which borrows the framer).
    let mark = |out: &mut Vec<Item>, framer: &Framer| {
        let resumable = framer.is_document() == Some(false);
        for item in out.iter_mut() {
            if let Item::Batch { resumable: r, .. } = item {
                *r = resumable;
            }
        }
    };
    // A new batch of this input (marked below).
    let batch = move |b| Item::Batch {
        input: index,
        batch: b,
        resumable: false,
    };
    let mut out: Vec<Item> = Vec::new();
    let send_all = |out: &mut Vec<Item>| out.drain(..).all(|item| tx.blocking_send(item).is_ok());
    loop {
        let received = match batcher.deadline() {
            Some(deadline) => {
                chunks.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let now = Instant::now();
        if let Some(target) = &config.adaptive_target {
            batcher.set_target_bytes(target.load(std::sync::atomic::Ordering::Relaxed));
        }
        match received {
            Ok(Chunk::Data(chunk)) => {
                framer.push(&chunk, |r| match r {
                    Ok(record) => batcher.push(&record, now, |b| out.push(batch(b))),
                    Err(e) => out.push(Item::FrameError(e)),
                });
                batcher.poll(now, |b| out.push(batch(b)));
            }
            Err(RecvTimeoutError::Timeout) => {
                batcher.poll(now, |b| out.push(batch(b)));
            }
            Ok(Chunk::End) | Err(RecvTimeoutError::Disconnected) => {
                framer.finish(|r| match r {
                    Ok(record) => batcher.push(&record, now, |b| out.push(batch(b))),
                    Err(e) => out.push(Item::FrameError(e)),
                });
                batcher.flush(|b| out.push(batch(b)));
                out.push(Item::Finished {
                    input: index,
                    position: framer.position(),
                    stats: framer.stats(),
                });
                mark(&mut out, &framer);
                return send_all(&mut out);
            }
            Ok(Chunk::Failed(error)) => {
                // What was read before the failure still goes out.
                batcher.flush(|b| out.push(batch(b)));
                out.push(Item::ReadError {
                    input: index,
                    name,
                    position: framer.position(),
                    error,
                });
                mark(&mut out, &framer);
                return send_all(&mut out);
            }
        }
        mark(&mut out, &framer);
        if !send_all(&mut out) {
            return false;
        }
    }
}

/// Reads `source` on its own thread, one chunk at a time, ending with `End` or `Failed`.
fn spawn_reader(mut source: Source) -> Receiver<Chunk> {
    let (tx, rx): (SyncSender<Chunk>, Receiver<Chunk>) = sync_channel(2);
    std::thread::Builder::new()
        .name("logferry-read".into())
        .spawn(move || {
            loop {
                let chunk = match source.read_chunk() {
                    Ok(Some(bytes)) => Chunk::Data(bytes.to_vec()),
                    Ok(None) => Chunk::End,
                    Err(e) => Chunk::Failed(e),
                };
                let last = !matches!(chunk, Chunk::Data(_));
                if tx.send(chunk).is_err() || last {
                    return;
                }
            }
        })
        .expect("a thread can be spawned");
    rx
}

/// What every pipeline reports about its inputs and its spool, in the order it happens.
#[derive(Debug)]
#[non_exhaustive]
pub enum InputEvent<'a> {
    /// A record the framer could not emit (for the dead-letter file).
    FrameError(&'a FrameError),
    /// An input failed to read.
    ReadError {
        /// The input's name.
        name: &'a str,
        /// Where reading stopped: nothing from here on was read.
        position: Position,
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
    /// A batch was framed and is on its way.
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
    /// A spool entry could not be read back (it is dropped from the spool).
    CorruptEntry {
        /// The entry.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A new batch is safe in the spool.
    Spooled,
    /// The spool or checkpoint store failed: the run stops reading (nothing is lost:
    /// what was not spooled will be read again).
    DurabilityError(String),
}

/// Routes a front-end item: batches come back with their input and resumability,
/// everything else is reported through `emit`.
pub(crate) fn route(
    item: Item,
    names: &[Arc<str>],
    emit: &dyn Fn(InputEvent<'_>),
) -> Option<(usize, bool, Batch)> {
    match item {
        Item::Batch {
            input,
            batch,
            resumable,
        } => {
            emit(InputEvent::Batched {
                records: batch.len() as u64,
                bytes: batch.body().len() as u64,
            });
            Some((input, resumable, batch))
        }
        Item::FrameError(e) => {
            emit(InputEvent::FrameError(&e));
            None
        }
        Item::ReadError {
            name,
            position,
            error,
            ..
        } => {
            emit(InputEvent::ReadError {
                name: &name,
                position,
                error: &error,
            });
            None
        }
        Item::Finished {
            input,
            position,
            stats,
        } => {
            emit(InputEvent::Finished {
                name: &names[input],
                position,
                stats,
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives its bytes, then fails like a disk that went away.
    struct FailsAfter(std::io::Cursor<Vec<u8>>);

    impl std::io::Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("device went away")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_error_says_where_reading_stopped_and_what_was_read_still_goes_out() {
        let bytes = b"line one\nline two\npartial".to_vec();
        let source = Source::from_reader(
            "flaky.log",
            FailsAfter(std::io::Cursor::new(bytes)),
            &logferry_source::SourceConfig::default(),
        );
        let mut rx = start(FrontConfig::new(Format::Text), vec![source]);
        let (mut records, mut failure) = (0, None);
        while let Some(item) = rx.blocking_recv() {
            match item {
                Item::Batch { batch, .. } => records += batch.len(),
                Item::ReadError {
                    name,
                    position,
                    error,
                    ..
                } => failure = Some((name, position, error.to_string())),
                _ => {}
            }
        }
        assert_eq!(records, 2, "the complete lines read before the failure");
        let (name, position, error) = failure.expect("the read error is reported");
        assert_eq!(&*name, "flaky.log");
        // The partial third line was not sent: reading stopped where it starts.
        assert_eq!(
            position,
            Position {
                line: 3,
                offset: 18
            }
        );
        assert!(error.contains("cannot read flaky.log"), "{error}");
    }
}
