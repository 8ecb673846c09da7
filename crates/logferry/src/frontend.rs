//! The front of every text pipeline: read sources in large chunks, frame, batch.
//!
//! Two threads per pipeline: one reads (a blocking `read` may wait forever on a pipe),
//! one frames and batches, waking up when the oldest open batch has lingered long enough
//! even if no byte arrives. Batches and framing errors cross a bounded channel to the
//! async side, so a slow sender slows the reader instead of filling memory.

use logferry_framing::{
    Batch, BatchConfig, Batcher, Format, FrameError, FrameStats, Framer, FramingConfig, Position,
};
use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Instant;

/// One input: a name for messages and checkpoints, a reader, and where the reader starts
/// in the source (not the start when resuming from a checkpoint).
pub struct Input {
    /// The source's name (a path, `<stdin>`).
    pub name: Arc<str>,
    /// The bytes.
    pub reader: Box<dyn Read + Send>,
    /// The position of the reader's first byte in the source.
    pub start: Position,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

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
    },
    /// A record the framer could not emit.
    FrameError(FrameError),
    /// An input could not be read to its end.
    ReadError {
        /// Index of the input.
        input: usize,
        /// The input's name.
        name: Arc<str>,
        /// What failed.
        error: std::io::Error,
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
    Failed(std::io::Error),
}

/// Starts reading `inputs` one after the other; items arrive on the returned channel
/// (which the caller drains with `blocking_recv`/`recv`).
pub fn start(config: FrontConfig, inputs: Vec<Input>) -> tokio::sync::mpsc::Receiver<Item> {
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue.max(1));
    std::thread::Builder::new()
        .name("logferry-frame".into())
        .spawn(move || frame_all(config, inputs, tx))
        .expect("a thread can be spawned");
    rx
}

fn frame_all(config: FrontConfig, inputs: Vec<Input>, tx: tokio::sync::mpsc::Sender<Item>) {
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
    input: Input,
    tx: &tokio::sync::mpsc::Sender<Item>,
) -> bool {
    let Input {
        name,
        reader,
        start,
    } = input;
    let mut framing = config.framing.clone();
    framing.source_name = Some(name.clone());
    let mut framer = Framer::resume(config.format, framing, start);
    let mut batcher = Batcher::new(config.batching, Some(name.clone()));
    let chunks = spawn_reader(reader, config.chunk_bytes);
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
        match received {
            Ok(Chunk::Data(chunk)) => {
                framer.push(&chunk, |r| match r {
                    Ok(record) => batcher.push(&record, now, |b| {
                        out.push(Item::Batch {
                            input: index,
                            batch: b,
                        })
                    }),
                    Err(e) => out.push(Item::FrameError(e)),
                });
                batcher.poll(now, |b| {
                    out.push(Item::Batch {
                        input: index,
                        batch: b,
                    })
                });
            }
            Err(RecvTimeoutError::Timeout) => {
                batcher.poll(now, |b| {
                    out.push(Item::Batch {
                        input: index,
                        batch: b,
                    })
                });
            }
            Ok(Chunk::End) | Err(RecvTimeoutError::Disconnected) => {
                framer.finish(|r| match r {
                    Ok(record) => batcher.push(&record, now, |b| {
                        out.push(Item::Batch {
                            input: index,
                            batch: b,
                        })
                    }),
                    Err(e) => out.push(Item::FrameError(e)),
                });
                batcher.flush(|b| {
                    out.push(Item::Batch {
                        input: index,
                        batch: b,
                    })
                });
                out.push(Item::Finished {
                    input: index,
                    position: framer.position(),
                    stats: framer.stats(),
                });
                return send_all(&mut out);
            }
            Ok(Chunk::Failed(error)) => {
                // What was read before the failure still goes out.
                batcher.flush(|b| {
                    out.push(Item::Batch {
                        input: index,
                        batch: b,
                    })
                });
                out.push(Item::ReadError {
                    input: index,
                    name,
                    error,
                });
                return send_all(&mut out);
            }
        }
        if !send_all(&mut out) {
            return false;
        }
    }
}

/// Reads `reader` on its own thread in chunks of up to `size`, ending with `End` or
/// `Failed`.
fn spawn_reader(mut reader: Box<dyn Read + Send>, size: usize) -> Receiver<Chunk> {
    let (tx, rx): (SyncSender<Chunk>, Receiver<Chunk>) = sync_channel(2);
    std::thread::Builder::new()
        .name("logferry-read".into())
        .spawn(move || {
            // One read per chunk: a file fills it, a pipe hands over what it has, so
            // bytes never wait here while the source pauses. The buffer is reused; only
            // what was read is copied out.
            let mut buf = vec![0u8; size.max(4096)];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => {
                        let _ = tx.send(Chunk::End);
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Chunk::Failed(e));
                        return;
                    }
                }
            }
        })
        .expect("a thread can be spawned");
    rx
}
