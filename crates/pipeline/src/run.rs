//! The one pipeline: any [`Source`] into any [`Sink`], with or without a spool.

use crate::durable::{Durable, replay};
use crate::sink::{Lost, Report, Sink};
use crate::source::{Ack, FrontConfig, Item, Source};
use futures_util::StreamExt;
use logferry_framing::{FrameStats, Position};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

/// What a run reports while it runs, in the order things happen: one vocabulary for
/// every source and sink.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A batch was read: it is safe in the spool, or handed to the sink.
    Batched {
        /// Records in it.
        records: u64,
        /// Its uncompressed size.
        bytes: u64,
    },
    /// Records were read that are in no batch (the framer refused them): each is
    /// reported [`Event::Invalid`] next.
    Read {
        /// How many.
        records: u64,
    },
    /// An entry left by an earlier run was read back from the spool.
    Replayed {
        /// Records in it.
        records: u64,
    },
    /// A new batch is safe in the spool.
    Spooled,
    /// A spool entry could not be read back (it is dropped from the spool).
    CorruptEntry {
        /// The entry.
        id: u64,
        /// Why.
        reason: &'a str,
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
    /// An input failed to read.
    ReadError {
        /// The input's name.
        name: &'a str,
        /// Where reading stopped: nothing from here on was read.
        position: Position,
        /// What failed.
        error: &'a logferry_source::Error,
    },
    /// The run stopped reading an input before its end (a signal, a stopped sink):
    /// every record before `position` was read, none from it on.
    Interrupted {
        /// The input's name.
        name: &'a str,
        /// Where reading stopped.
        position: Position,
    },
    /// An input could not be shipped at all (a whole file refused), and why.
    InputFailed {
        /// The input's name.
        name: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// An input was shipped whole by an earlier run and is unchanged: skipped.
    Skipped {
        /// The input's name.
        name: &'a str,
        /// Its size.
        bytes: u64,
    },
    /// An input uploaded whole by an earlier run had grown since, and was uploaded again
    /// whole (File Upload takes whole files): its first `uploaded` bytes went twice.
    Reuploaded {
        /// The input's name.
        name: &'a str,
        /// Its size at the earlier upload.
        uploaded: u64,
        /// Its size at this upload.
        now: u64,
    },
    /// A record that is not valid (the framer's verdict, or the sink's: an SDL event with
    /// a bad time): never sent.
    Invalid(&'a Lost<'a>),
    /// Records accepted.
    Delivered {
        /// How many.
        records: u64,
    },
    /// Records the endpoint refused for good.
    Refused(&'a [Lost<'a>]),
    /// Records not delivered.
    Undelivered {
        /// The records.
        lost: &'a [Lost<'a>],
        /// They are still in the spool, for the next run (else they are the consumer's
        /// to keep: dead-letter them).
        kept: bool,
    },
    /// The sink stopped by itself (reported once).
    Stopped(&'a str),
    /// The endpoint asked not to be sent anything for this long (the `Retry-After` of
    /// the answer after which a batch was given up): whoever takes given-up batches back
    /// (a NATS worker's `nats::HoldOff`) should not offer them sooner.
    HoldOff(std::time::Duration),
    /// The spool, or a source's acknowledgement, failed: the run stops reading (nothing
    /// is lost: what was not spooled will be read again).
    DurabilityError(&'a str),
}

/// What the consumer of [`Event`]s wants: go on, or stop the run (the sink is aborted,
/// reading stops; what is not delivered stays spooled or is reported undelivered).
pub type Flow = ControlFlow<()>;

/// A run's delivery ledger: every record read is delivered, rejected, invalid, or
/// undelivered (still pending: spooled, or handed back as undelivered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ledger {
    /// Records read: framed (valid or not) from the inputs, and replayed from the spool.
    pub read: u64,
    /// Accepted by the endpoint.
    pub delivered: u64,
    /// Refused by the endpoint for good.
    pub rejected: u64,
    /// Not valid: refused by the framer or the sink, never sent.
    pub invalid: u64,
    /// Spool entries replayed at the start.
    pub replayed_entries: u64,
    /// Spool entries that could not be read back.
    pub corrupt_entries: u64,
    /// Times a group of records was reported undelivered.
    pub failures: u64,
    /// Inputs skipped: shipped whole by an earlier run and unchanged.
    pub skipped: u64,
    /// Inputs shipped whole by an earlier run that had grown, uploaded again whole
    /// ([`Event::Reuploaded`]; each is also counted delivered).
    pub reuploaded: u64,
}

impl Ledger {
    /// Records neither delivered, rejected nor invalid: the one formula.
    pub fn undelivered(&self) -> u64 {
        self.read
            .saturating_sub(self.delivered + self.rejected + self.invalid)
    }

    /// Counts `event`: a consumer keeping its own ledger (say, across runs) counts every
    /// event it is given and gets the run's numbers.
    pub fn count(&mut self, event: &Event<'_>) {
        match event {
            Event::Batched { records, .. } | Event::Read { records } => self.read += records,
            Event::Replayed { records } => {
                self.read += records;
                self.replayed_entries += 1;
            }
            Event::CorruptEntry { .. } => self.corrupt_entries += 1,
            Event::Invalid(lost) => self.invalid += lost.records,
            Event::Delivered { records } => self.delivered += records,
            Event::Refused(lost) => self.rejected += lost.iter().map(|l| l.records).sum::<u64>(),
            Event::Undelivered { .. } => self.failures += 1,
            Event::Skipped { .. } => self.skipped += 1,
            Event::Reuploaded { .. } => self.reuploaded += 1,
            _ => {}
        }
    }
}

/// Ships what `source` produces through `sink`, with `durable` when given:
///
/// 1. every entry an earlier run left in the spool is shipped first;
/// 2. each new batch is encoded by the sink (several at once, in order), appended to the
///    spool, and only then acknowledged to its source (a checkpoint moves past it):
///    the records are safe on disk before the source considers them read. Without a
///    spool, the source's acknowledgement runs once the batch is done;
/// 3. a spool entry is acknowledged once the sink reports it done (delivered, refused
///    and reported, or invalid and reported). An entry not done stays for the next run.
///
/// Killed at any instant, a rerun loses nothing: what was read but not yet spooled is
/// read again (its checkpoint had not moved), what was spooled is replayed. Duplicates
/// are bounded by the entries in flight or spooled-but-unacknowledged at the kill.
///
/// `on_event` sees everything as it happens; returning [`ControlFlow::Break`] aborts
/// the sink and ends the run. Returns the ledger.
pub async fn run<Src: Source, S: Sink>(
    source: Src,
    sink: &S,
    mut front: FrontConfig,
    durable: Option<&Durable>,
    on_event: impl FnMut(Event<'_>) -> Flow,
) -> Ledger {
    front.wire_target = sink.wire_target();
    let ledger = RefCell::new(Ledger::default());
    let on_event = RefCell::new(on_event);
    let stopped_seen = std::cell::Cell::new(false);
    // The run stops the sink for its own reason (the consumer's, a failing spool): the
    // sink's "stopped" that follows is not news.
    let halt = || {
        stopped_seen.set(true);
        sink.abort();
    };
    let emit = |event: Event<'_>| {
        if let Event::Stopped(_) = event
            && stopped_seen.replace(true)
        {
            return;
        }
        ledger.borrow_mut().count(&event);
        if (on_event.borrow_mut())(event).is_break() {
            halt();
        }
    };
    // Without a spool: the sources' acknowledgements, run once their entry is done.
    let acks: &RefCell<HashMap<u64, Ack>> = &RefCell::new(HashMap::new());
    let next_id = &std::cell::Cell::new(0u64);
    let durability_failed = |e: &str| {
        emit(Event::DurabilityError(e));
        halt();
    };

    // An entry read back from the spool; one that no longer decodes is reported and
    // dropped from the spool.
    let decode = |id: u64, stored: &[u8]| match <S::Entry as logferry_spool::Entry>::decode(stored)
    {
        Ok(entry) => Some(entry),
        Err(e) => {
            emit(Event::CorruptEntry {
                id,
                reason: &e.to_string(),
            });
            if let Some(d) = durable {
                d.ack(id);
            }
            None
        }
    };

    // 1. What an earlier run left in the spool.
    let replayed = replay(durable).filter_map(|(id, stored)| {
        let entry = decode(id, &stored).map(|entry| {
            emit(Event::Replayed {
                records: sink.records(&entry),
            });
            (id, entry)
        });
        std::future::ready(entry)
    });

    // 2. New batches: framed, encoded (several at once, in order), spooled.
    // Where each input stands: (read up to, ended). A batch counts as read once it is
    // safe (spooled) or handed to the sink; what was framed but dropped when the run
    // stopped was not read, and the position says so.
    let inputs: &RefCell<BTreeMap<Arc<str>, (Position, bool)>> = &RefCell::new(BTreeMap::new());
    let read = |meta: &Meta| {
        emit(Event::Batched {
            records: meta.records,
            bytes: meta.bytes,
        });
        if let Some(name) = &meta.name {
            let mut inputs = inputs.borrow_mut();
            let (position, ended) = inputs.entry(name.clone()).or_insert((meta.end, false));
            if !*ended {
                *position = meta.end;
            }
        }
    };
    let items = crate::receiver_stream(source.start(front));
    let batches = items.filter_map(|item| {
        match &item {
            Item::FrameError(_) => emit(Event::Read { records: 1 }),
            Item::Started { name, position } => {
                inputs.borrow_mut().insert(name.clone(), (*position, false));
            }
            Item::Finished { name, position, .. } | Item::ReadError { name, position, .. } => {
                inputs.borrow_mut().insert(name.clone(), (*position, true));
            }
            Item::Batch { .. } => {}
        }
        std::future::ready(route(item, &emit))
    });
    // Encoding runs `encoding` batches at once (two per core: the compressions share
    // the cores with reading, framing and sending), and the next batch is taken from
    // the source only when one of them has finished, whether or not it was the oldest.
    // Finished batches wait, in order, in a window of `window` for the oldest to be
    // done. With the window and the compressions one and the same (4), a finished batch
    // held its slot until every batch before it was done, so no new compression started
    // while the oldest ran alone: the machine was 89–92% busy. With the window apart,
    // 94–97%, and 8–13% less wall time on the bench's four corpora (issue 18). A
    // finished batch in the window holds only its compressed body and positions, and a
    // batch is read only when it can start, so peak memory stays where it was.
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let encoding = cores * 2;
    let window = cores * 8;
    let free = &tokio::sync::Semaphore::new(encoding);
    let ready = futures_util::stream::unfold(Box::pin(batches), move |mut batches| async move {
        let permit = free.acquire().await.ok()?;
        let next = batches.next().await?;
        Some(((next, permit), batches))
    });
    let encoded = ready
        .map(|((batch, ack), permit)| async move {
            let meta = Meta::of(&batch);
            let entry = sink.encode(batch).await;
            drop(permit);
            (entry, ack, meta)
        })
        .buffered(window);
    let stored = encoded.then(|(entry, ack, meta)| {
        let payload = durable.map(|_| logferry_spool::Entry::encode(&entry));
        async move {
            let Some(d) = durable else {
                let id = next_id.get();
                next_id.set(id + 1);
                if let Some(ack) = ack {
                    acks.borrow_mut().insert(id, ack);
                }
                return Some((id, entry, Some(meta)));
            };
            match d.append(payload.expect("stored when durable"), ack).await {
                Ok(id) => {
                    emit(Event::Spooled);
                    read(&meta);
                    Some((id, entry, None))
                }
                Err(e) => {
                    durability_failed(&e);
                    None
                }
            }
        }
    });
    // A failed append ends the stream: nothing after it may be shipped.
    let fresh = stored
        .take_while(|e| std::future::ready(e.is_some()))
        .filter_map(std::future::ready);

    // 3. Ship; acknowledge what is done. Encoding runs ahead of shipping through a
    // small bounded queue: the sink pulls an entry when it has room, and encoders must
    // not wait for that.
    let (tx, rx) = tokio::sync::mpsc::channel(encoding + 1);
    let rx = RefCell::new(rx);
    // Entries never shipped: in the spool they wait for the next run; without one they
    // are reported undelivered (for the dead-letter file), never dropped unseen.
    let unshipped = |entry: S::Entry| {
        if durable.is_none() {
            let lost = sink.unsent(&entry);
            emit(Event::Undelivered {
                lost: &lost,
                kept: false,
            });
        }
    };
    let produce = async {
        let replayed = replayed.map(|(id, entry)| (id, entry, None));
        let mut all = std::pin::pin!(replayed.chain(fresh).fuse());
        // With a spool that blocks when full, reading does not wait for the sink: an
        // entry the sink has no room for stays in the spool only ("spilled"), and is read
        // back from there when the sink has room, in id order, so a sink that is down is
        // absorbed by the spool until it is full (then appends block: reading pauses).
        let mut spilled: Option<u64> = None;
        // The highest id seen from `all`: entries past it are not ours to read back yet.
        let mut seen: Option<u64> = None;
        let mut ended = false;
        // Not with a spool that drops its oldest entries when full: reading ahead would
        // turn a slow sink into dropped data, where waiting for it loses nothing.
        let spills =
            durable.is_some_and(|d| d.spool.config().when_full == logferry_spool::WhenFull::Block);
        loop {
            tokio::select! {
                biased;
                () = tx.closed() => break,
                permit = tx.reserve(), if spilled.is_some() => {
                    let (Ok(permit), Some(d)) = (permit, durable) else { break };
                    let from = spilled.expect("checked");
                    match d.read_from(from).await {
                        Some((id, bytes)) if seen.is_some_and(|s| id <= s) => {
                            spilled = (Some(id) < seen).then_some(id + 1);
                            if let Some(entry) = decode(id, &bytes) {
                                permit.send((id, entry));
                            }
                        }
                        // Nothing left up to what was seen (delivered meanwhile, or
                        // dropped when full): back to handing entries over directly.
                        _ => spilled = None,
                    }
                    if spilled.is_none() && ended {
                        break;
                    }
                }
                next = all.next(), if !ended => {
                    let Some((id, entry, meta)) = next else {
                        ended = true;
                        if spilled.is_none() {
                            break;
                        }
                        continue;
                    };
                    seen = Some(id);
                    if let Some(meta) = &meta {
                        // Not durable: it counts as read once handed over (or back).
                        read(meta);
                    }
                    if spilled.is_some() {
                        continue; // in the spool; read back in its turn
                    }
                    if spills {
                        // A sink that is only busy frees room within moments: wait for
                        // it (reading the entry back from disk would cost more than the
                        // wait). One that made no room for a while is stuck: spill.
                        match tokio::time::timeout(SPILL_AFTER, tx.reserve()).await {
                            Ok(Ok(permit)) => permit.send((id, entry)),
                            Ok(Err(_)) => break,
                            Err(_) => {
                                tracing::info!(
                                    "the sink has taken nothing for {SPILL_AFTER:?}: reading on into the spool, which it will be fed from"
                                );
                                spilled = Some(id);
                            }
                        }
                        continue;
                    }
                    if let Err(tokio::sync::mpsc::error::SendError((_, entry))) = tx.send((id, entry)).await {
                        unshipped(entry);
                        break;
                    }
                }
            }
        }
        drop(tx);
    };
    let mut report = |r: Report<'_>| match r {
        Report::Done(id) => match durable {
            Some(d) => d.ack(id),
            None => {
                let ack = acks.borrow_mut().remove(&id);
                if let Some(Err(e)) = ack.map(|ack| ack()) {
                    durability_failed(&e);
                }
            }
        },
        Report::Delivered { records } => emit(Event::Delivered { records }),
        Report::Invalid(lost) => emit(Event::Invalid(&lost)),
        Report::Refused(lost) => emit(Event::Refused(lost)),
        Report::Undelivered(lost) => emit(Event::Undelivered {
            lost,
            kept: durable.is_some(),
        }),
        Report::Stopped(why) => emit(Event::Stopped(why)),
        Report::HoldOff(wait) => emit(Event::HoldOff(wait)),
        Report::Failed(id) => {
            if durable.is_none() {
                drop(acks.borrow_mut().remove(&id));
            }
        }
    };
    let entries = Closing(&rx).boxed_local();
    let consume = sink.ship(entries, &mut report);
    tokio::join!(produce, consume);
    // What the sink never took.
    while let Ok((_, entry)) = rx.borrow_mut().try_recv() {
        unshipped(entry);
    }
    if let Some(d) = durable {
        d.settled().await;
    }
    if let Some(why) = sink.stopped() {
        emit(Event::Stopped(&why));
    }
    // Inputs the run stopped reading before their end: where reading stopped.
    for (name, (position, ended)) in inputs.borrow().iter() {
        if !ended {
            emit(Event::Interrupted {
                name,
                position: *position,
            });
        }
    }
    ledger.into_inner()
}

/// How long a new spooled entry waits for room in the sink before it is left in the spool
/// to be read back later ("spilled").
const SPILL_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What the pipeline keeps of a batch once the sink has encoded it.
struct Meta {
    records: u64,
    bytes: u64,
    name: Option<Arc<str>>,
    /// Just after the batch.
    end: Position,
}

impl Meta {
    fn of(batch: &logferry_framing::Batch) -> Meta {
        let range = batch.range();
        Meta {
            records: batch.len() as u64,
            bytes: batch.body().len() as u64,
            end: Position {
                offset: range.end,
                line: range.last_line + 1,
            },
            name: range.source_name,
        }
    }
}

/// The sink's view of the queue: closing it when the sink drops it tells the producer
/// to stop, while what is still queued stays there to be handed back.
struct Closing<'r, T>(&'r RefCell<tokio::sync::mpsc::Receiver<T>>);

impl<T> futures_util::Stream for Closing<'_, T> {
    type Item = T;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.borrow_mut().poll_recv(cx)
    }
}

impl<T> Drop for Closing<'_, T> {
    fn drop(&mut self) {
        self.0.borrow_mut().close();
    }
}

/// A source's item: batches go on, everything else is reported.
fn route(item: Item, emit: &dyn Fn(Event<'_>)) -> Option<(logferry_framing::Batch, Option<Ack>)> {
    match item {
        Item::Batch { batch, ack } => Some((batch, ack)),
        Item::Started { .. } => None,
        Item::FrameError(e) => {
            let reason = e.to_string();
            emit(Event::Invalid(&Lost {
                source: e.source_name.as_deref().map(Cow::Borrowed),
                position: Some(e.position),
                reason: Cow::Owned(reason),
                records: 1,
                body: Cow::Borrowed(&e.raw),
                truncated: e.raw_truncated,
            }));
            None
        }
        Item::ReadError {
            name,
            position,
            error,
        } => {
            emit(Event::ReadError {
                name: &name,
                position,
                error: &error,
            });
            None
        }
        Item::Finished {
            name,
            position,
            stats,
        } => {
            emit(Event::Finished {
                name: &name,
                position,
                stats,
            });
            None
        }
    }
}
