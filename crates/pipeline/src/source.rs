//! The [`Source`] trait, and [`Files`]: files, globs and standard input read once.
//!
//! A source produces framed batches with exact positions (plus framing errors, read
//! errors and ends of inputs, in source order per input) and learns back, through each
//! batch's [`Ack`], when that batch is safe: appended to the spool, or delivered when the
//! run has no spool.
//!
//! [`Files`] reads on two threads per run: one reads (a blocking `read` may wait forever
//! on a pipe), one frames and batches, waking up when the oldest open batch has lingered
//! long enough even if no byte arrives. Items cross a bounded channel to the async side,
//! so a slow sink slows the reader instead of filling memory.

use crate::front::{Front, Out};
use logferry_framing::{
    Batch, BatchConfig, Format, FrameError, FrameStats, FramingConfig, Position, WireTarget,
};
use logferry_source::Checkpoints;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::time::Instant;

/// Where records come from: one-shot files, stdin and globs ([`Files`]) and followed
/// files ([`Follow`](crate::Follow)); network receivers and bus consumers are further
/// implementations.
pub trait Source: Send + 'static {
    /// Starts producing: items arrive on the returned channel, in source order per
    /// input. The channel ends when every input ended (or the receiver hung up).
    fn start(self, front: FrontConfig) -> tokio::sync::mpsc::Receiver<Item>;
}

/// What a source needs done once a batch is safe (spooled, or delivered without a
/// spool): store a checkpoint, acknowledge a message. An error is reported, and makes
/// the run stop reading (nothing is lost: the batch is read again next time).
pub type Ack = Box<dyn FnOnce() -> Result<(), String> + Send>;

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
    /// Batches waiting for the sink before the reader pauses. Default: 16.
    pub queue: usize,
    /// A raw batch target learned from encoded bodies (set by the pipeline from
    /// [`Sink::wire_target`](crate::Sink::wire_target)); replaces
    /// `batching.target_bytes` from the next chunk on. Default: none.
    pub wire_target: Option<Arc<WireTarget>>,
    /// Merges consecutive text lines into one record (a stack trace) between the framer
    /// and the batcher; a held record is in no batch yet, so no checkpoint passes it.
    /// Default: none.
    pub multiline: Option<logferry_framing::MultilineConfig>,
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
            wire_target: None,
            multiline: None,
        }
    }
}

/// What a source produces.
#[non_exhaustive]
pub enum Item {
    /// A framed batch, and what to do once it is safe.
    Batch {
        /// The batch (its range names the input and positions).
        batch: Batch,
        /// The source's acknowledgement, if it keeps any.
        ack: Option<Ack>,
    },
    /// An input is about to be read from `position` (its start, or its checkpoint).
    Started {
        /// The input's name.
        name: Arc<str>,
        /// Where reading starts.
        position: Position,
    },
    /// A record the framer could not emit.
    FrameError(FrameError),
    /// An input could not be read to its end.
    ReadError {
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
        /// The input's name.
        name: Arc<str>,
        /// Where reading stopped: the end of the input.
        position: Position,
        /// The framer's counters.
        stats: FrameStats,
    },
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Batch { batch, ack } => f
                .debug_struct("Batch")
                .field("range", &batch.range())
                .field("records", &batch.len())
                .field("ack", &ack.is_some())
                .finish(),
            Item::Started { name, position } => f
                .debug_struct("Started")
                .field("name", name)
                .field("position", position)
                .finish(),
            Item::FrameError(e) => f.debug_tuple("FrameError").field(e).finish(),
            Item::ReadError {
                name,
                position,
                error,
            } => f
                .debug_struct("ReadError")
                .field("name", name)
                .field("position", position)
                .field("error", error)
                .finish(),
            Item::Finished {
                name,
                position,
                stats,
            } => f
                .debug_struct("Finished")
                .field("name", name)
                .field("position", position)
                .field("stats", stats)
                .finish(),
        }
    }
}

/// Opened files, globs and standard input, read one after the other to their ends, each
/// from its own start (resumed from a checkpoint, or 0). With a checkpoint store, each
/// safe batch moves its file's checkpoint past it.
pub struct Files {
    inputs: Vec<logferry_source::Source>,
    checkpoints: Option<Arc<Checkpoints>>,
}

impl Files {
    /// Reads `inputs`; stores checkpoints in `checkpoints` when given.
    pub fn new(
        inputs: Vec<logferry_source::Source>,
        checkpoints: Option<Arc<Checkpoints>>,
    ) -> Files {
        Files {
            inputs,
            checkpoints,
        }
    }
}

impl Source for Files {
    fn start(self, front: FrontConfig) -> tokio::sync::mpsc::Receiver<Item> {
        let (tx, rx) = tokio::sync::mpsc::channel(front.queue.max(1));
        std::thread::Builder::new()
            .name("logferry-frame".into())
            .spawn(move || {
                for input in self.inputs {
                    if !frame_one(&front, input, self.checkpoints.as_ref(), &tx) {
                        return; // the receiver is gone: nobody wants more
                    }
                }
            })
            .expect("a thread can be spawned");
        rx
    }
}

enum Chunk {
    Data(Vec<u8>),
    End,
    Failed(logferry_source::Error),
}

/// What one step of the frame loop found.
enum Next {
    /// A chunk, framed.
    Framed,
    /// Nothing before the open batch's deadline.
    Timeout,
    End,
    Failed(logferry_source::Error),
}

/// Where the frame loop's chunks come from.
enum Reader {
    /// A regular file, read on the frame thread itself: its reads return at once (from
    /// the page cache, or after a disk read), and a chunk framed right where it was
    /// read is still in that core's cache (no hand-off, no second thread to wake).
    Inline(logferry_source::Source),
    /// Anything else (a pipe, standard input, a FIFO), read on a thread of its own, so
    /// that a read waiting for a writer never stops a lingering batch from closing.
    Thread {
        chunks: Receiver<Chunk>,
        recycle: Sender<Vec<u8>>,
    },
}

impl Reader {
    fn new(source: logferry_source::Source) -> Reader {
        if source.is_checkpointable() {
            Reader::Inline(source)
        } else {
            let (chunks, recycle) = spawn_reader(source);
            Reader::Thread { chunks, recycle }
        }
    }

    /// Reads the next chunk and frames it into `front`, or waits no longer than the
    /// open batch's deadline for one.
    fn frame_next(
        &mut self,
        config: &FrontConfig,
        front: &mut Front,
        out: &mut impl FnMut(Out),
    ) -> Next {
        match self {
            Reader::Inline(source) => match source.read_chunk() {
                Ok(Some(chunk)) => {
                    front.push(config, chunk, Instant::now(), out);
                    Next::Framed
                }
                Ok(None) => Next::End,
                Err(e) => Next::Failed(e),
            },
            Reader::Thread { chunks, recycle } => {
                let received = match front.deadline() {
                    Some(deadline) => {
                        chunks.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    }
                    None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match received {
                    Ok(Chunk::Data(chunk)) => {
                        front.push(config, &chunk, Instant::now(), out);
                        // Back to the reader, to be read into again (it may have ended).
                        let _ = recycle.send(chunk);
                        Next::Framed
                    }
                    Err(RecvTimeoutError::Timeout) => Next::Timeout,
                    Ok(Chunk::End) | Err(RecvTimeoutError::Disconnected) => Next::End,
                    Ok(Chunk::Failed(e)) => Next::Failed(e),
                }
            }
        }
    }
}

/// Frames one input; false when the receiver hung up.
fn frame_one(
    config: &FrontConfig,
    input: logferry_source::Source,
    store: Option<&Arc<Checkpoints>>,
    tx: &tokio::sync::mpsc::Sender<Item>,
) -> bool {
    let name = input.name().clone();
    let start = input.start();
    // What a checkpoint of this input looks like (regular files, with a store).
    let template = store.and_then(|s| input.checkpoint(start).map(|c| (s.clone(), c)));
    let started = Item::Started {
        name: name.clone(),
        position: start,
    };
    if tx.blocking_send(started).is_err() {
        return false;
    }
    let mut front = Front::new(config, name.clone(), start);
    let mut reader = Reader::new(input);
    let mut outs: Vec<Out> = Vec::new();
    let mut last: Option<Item> = None;
    // Batches may resume reading right after them once the framer knows the input is
    // not a JSON document (whose structure a resumed read would not see).
    let send_all = |outs: &mut Vec<Out>, last: &mut Option<Item>, front: &Front| {
        let resumable = front.resumable();
        let items = outs.drain(..).map(|out| match out {
            Out::Batch(batch) => {
                let ack = template
                    .as_ref()
                    .filter(|_| resumable)
                    .and_then(|(store, template)| {
                        let checkpoint = template.after(&batch.range())?;
                        let store = store.clone();
                        Some(
                            Box::new(move || store.store(&checkpoint).map_err(|e| e.to_string()))
                                as Ack,
                        )
                    });
                Item::Batch { batch, ack }
            }
            Out::Error(e) => Item::FrameError(e),
        });
        items
            .chain(last.take())
            .all(|item| tx.blocking_send(item).is_ok())
    };
    loop {
        let mut collect = |o| outs.push(o);
        let next = reader.frame_next(config, &mut front, &mut collect);
        let now = Instant::now();
        match next {
            Next::Framed => {}
            Next::Timeout => front.poll(config, now, &mut collect),
            Next::End => {
                front.finish(now, &mut collect);
                last = Some(Item::Finished {
                    name,
                    position: front.position(),
                    stats: front.stats(),
                });
                return send_all(&mut outs, &mut last, &front);
            }
            Next::Failed(error) => {
                // What was read before the failure still goes out.
                front.flush(&mut collect);
                last = Some(Item::ReadError {
                    name,
                    position: front.position(),
                    error,
                });
                return send_all(&mut outs, &mut last, &front);
            }
        }
        if !send_all(&mut outs, &mut last, &front) {
            return false;
        }
    }
}

/// Reads `source` on its own thread, one chunk at a time, ending with `End` or `Failed`.
/// Framed chunks come back on the second channel to be read into again, so a few
/// buffers circulate instead of a copy and an allocation per chunk.
fn spawn_reader(mut source: logferry_source::Source) -> (Receiver<Chunk>, Sender<Vec<u8>>) {
    let (tx, rx): (SyncSender<Chunk>, Receiver<Chunk>) = sync_channel(2);
    let (recycle, spares) = channel::<Vec<u8>>();
    std::thread::Builder::new()
        .name("logferry-read".into())
        .spawn(move || {
            loop {
                let spare = spares.try_recv().unwrap_or_default();
                let chunk = match source.take_chunk(spare) {
                    Ok(Some(bytes)) => Chunk::Data(bytes),
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
    (rx, recycle)
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
        let source = logferry_source::Source::from_reader(
            "flaky.log",
            FailsAfter(std::io::Cursor::new(bytes)),
            &logferry_source::SourceConfig::default(),
        );
        let mut rx = Files::new(vec![source], None).start(FrontConfig::new(Format::Text));
        let (mut records, mut failure) = (0, None);
        while let Some(item) = rx.blocking_recv() {
            match item {
                Item::Batch { batch, .. } => records += batch.len(),
                Item::ReadError {
                    name,
                    position,
                    error,
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
