//! [`Follow`]: followed files (`logferry run`), a [`Source`] over
//! [`logferry_source::follow::Follower`].
//!
//! One thread follows, frames and batches: the follower reads at most one chunk per
//! file per round, each file has its own framer and batcher ([`Front`]), and the
//! thread wakes up for the earliest linger deadline, the follower's ticks, or a watched
//! directory change. It notices a closed receiver within about 250 ms even when idle.

use crate::front::{Front, Out};
use crate::{Ack, FrontConfig, Item, Source};
use logferry_framing::Position;
use logferry_source::follow::{Event, FileKey, FollowConfig, Follower, OpenReason, Registry};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the follow thread waits at most before checking that the receiver is still
/// there.
const CHECK_CLOSED: Duration = Duration::from_millis(200);

/// Files followed through rotation, resumed after a restart from a [`Registry`]; each
/// safe batch moves its file's registry entry past it.
///
/// Items: [`Item::Started`] when a file is opened (or read again from 0 after a
/// truncation or rewrite, with a warning naming the file and the reason), batches with
/// acknowledgements, [`Item::FrameError`], [`Item::ReadError`], and
/// [`Item::Finished`] when a file is released (deleted or rotated away, and drained).
/// The channel ends only when the receiver hangs up (or the globs are malformed: one
/// [`Item::ReadError`] naming them).
///
/// One registry per `Follow`: two followers updating one registry would each take the
/// other's files for their own. Memory per followed file: its framer's incomplete
/// record and its batcher's open batch (closed by the linger time at the latest); one
/// read buffer for all files.
#[derive(Debug)]
pub struct Follow {
    config: FollowConfig,
    registry: Arc<Registry>,
}

impl Follow {
    /// Follows the files `config` names, with checkpoints in `registry`.
    pub fn new(config: FollowConfig, registry: Arc<Registry>) -> Follow {
        Follow { config, registry }
    }
}

impl Source for Follow {
    fn start(self, front: FrontConfig) -> tokio::sync::mpsc::Receiver<Item> {
        let (tx, rx) = tokio::sync::mpsc::channel(front.queue.max(1));
        std::thread::Builder::new()
            .name("logferry-follow".into())
            .spawn(move || follow(self, &front, &tx))
            .expect("a thread can be spawned");
        rx
    }
}

struct Open {
    front: Front,
    name: Arc<str>,
}

/// Sends `outs` of the file `key`, batches with acknowledgements that move its entry.
fn send(
    tx: &tokio::sync::mpsc::Sender<Item>,
    registry: &Arc<Registry>,
    key: FileKey,
    resumable: bool,
    outs: Vec<Out>,
) -> ControlFlow<()> {
    for out in outs {
        let item = match out {
            Out::Batch(batch) => {
                let range = batch.range();
                let ack = resumable.then(|| {
                    let registry = registry.clone();
                    let position = Position {
                        offset: range.end,
                        line: range.last_line + 1,
                    };
                    Box::new(move || {
                        registry.update(key, position);
                        Ok(())
                    }) as Ack
                });
                Item::Batch { batch, ack }
            }
            Out::Error(e) => Item::FrameError(e),
        };
        forward(tx, item)?;
    }
    ControlFlow::Continue(())
}

/// Sends one item; `Break` once the receiver is gone.
fn forward(tx: &tokio::sync::mpsc::Sender<Item>, item: Item) -> ControlFlow<()> {
    match tx.blocking_send(item) {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
    }
}

/// Starts framing the file `key` (named `path`) from `position`, and says so.
fn begin(
    open: &mut HashMap<FileKey, Open>,
    config: &FrontConfig,
    tx: &tokio::sync::mpsc::Sender<Item>,
    key: FileKey,
    path: Arc<str>,
    position: Position,
) -> ControlFlow<()> {
    let front = Front::new(config, path.clone(), position);
    open.insert(
        key,
        Open {
            front,
            name: path.clone(),
        },
    );
    forward(
        tx,
        Item::Started {
            name: path,
            position,
        },
    )
}

fn follow(source: Follow, config: &FrontConfig, tx: &tokio::sync::mpsc::Sender<Item>) {
    let registry = source.registry.clone();
    let names: Arc<str> = source.config.include.join(", ").into();
    let mut follower = match Follower::new(source.config, source.registry) {
        Ok(f) => f,
        Err(error) => {
            let _ = tx.blocking_send(Item::ReadError {
                name: names,
                position: Position::START,
                error,
            });
            return;
        }
    };
    let mut open: HashMap<FileKey, Open> = HashMap::new();
    loop {
        if tx.is_closed() {
            return;
        }
        let now = Instant::now();
        let until = open
            .values()
            .filter_map(|o| o.front.deadline())
            .fold(now + CHECK_CLOSED, Instant::min);
        let mut handle = |event: Event<'_>| -> ControlFlow<()> {
            let now = Instant::now();
            let mut outs = Vec::new();
            let mut collect = |o| outs.push(o);
            match event {
                Event::Opened {
                    key,
                    path,
                    position,
                    why,
                } => {
                    match why {
                        OpenReason::Truncated | OpenReason::Rewritten => tracing::warn!(
                            file = %path,
                            reason = %why,
                            "reading the file again from the start"
                        ),
                        _ => {
                            tracing::debug!(file = %path, reason = %why, offset = position.offset, "following")
                        }
                    }
                    begin(&mut open, config, tx, key, path, position)
                }
                Event::Data {
                    key,
                    bytes,
                    caught_up,
                    ..
                } => {
                    let Some(o) = open.get_mut(&key) else {
                        return ControlFlow::Continue(());
                    };
                    o.front.push(config, bytes, now, &mut collect);
                    if caught_up {
                        // The end of a backlog: its last batch goes now, not a linger
                        // time later (a file that trickles still lingers).
                        o.front.close_batch(&mut collect);
                    }
                    send(tx, &registry, key, o.front.resumable(), outs)
                }
                Event::Restarted {
                    key,
                    new_key,
                    path,
                    why,
                } => {
                    tracing::warn!(file = %path, reason = %why, "reading the file again from the start");
                    if let Some(mut o) = open.remove(&key) {
                        o.front.flush(&mut collect);
                        send(tx, &registry, key, o.front.resumable(), outs)?;
                    }
                    begin(&mut open, config, tx, new_key, path, Position::START)
                }
                Event::Released { key, path, .. } => {
                    let Some(mut o) = open.remove(&key) else {
                        return ControlFlow::Continue(());
                    };
                    o.front.finish(now, &mut collect);
                    send(tx, &registry, key, o.front.resumable(), outs)?;
                    tracing::debug!(file = %path, "released");
                    let finished = Item::Finished {
                        name: o.name,
                        position: o.front.position(),
                        stats: o.front.stats(),
                    };
                    forward(tx, finished)
                }
                Event::ReadError {
                    key, path, error, ..
                } => {
                    let position = match open.remove(&key) {
                        Some(mut o) => {
                            o.front.flush(&mut collect);
                            send(tx, &registry, key, o.front.resumable(), outs)?;
                            o.front.position()
                        }
                        None => Position::START,
                    };
                    let failed = Item::ReadError {
                        name: path,
                        position,
                        error,
                    };
                    forward(tx, failed)
                }
            }
        };
        if follower.step(until, &mut handle).is_break() {
            return;
        }
        // Linger deadlines, honoured while idle.
        let now = Instant::now();
        for (key, o) in &mut open {
            if o.front.deadline().is_some_and(|d| d <= now) {
                let mut outs = Vec::new();
                o.front.poll(config, now, &mut |b| outs.push(b));
                if send(tx, &registry, *key, o.front.resumable(), outs).is_break() {
                    return;
                }
            }
        }
    }
}
