//! NATS JetStream as a [`Sink`] (edge hosts publish batches into a stream) and as a
//! [`Source`] (a pool of workers shares one durable pull consumer of it).
//!
//! **Edge** ([`NatsSink`]): each batch is one message, its stored form (`LFR1`: records,
//! their positions and the source's name) as the payload and `Logferry-*` headers
//! (source, format, range, records, origin). The spool stays in front: a batch's entry
//! is acknowledged only once the server acknowledged the publish, so a bus outage is
//! absorbed by the host's spool. `Nats-Msg-Id` is derived from the origin (host, sink,
//! source), the range and a checksum of the records: a publisher killed between the
//! server's acknowledgement and its spool's republishes on restart, and the server drops
//! the copy (within the stream's duplicate window).
//!
//! **Worker** ([`NatsSource`]): fetches a handful of messages at a time (never more than
//! `in_flight` unsettled), each becoming one batch whose [`Ack`] acknowledges the message.
//! A route fed by it runs *without a spool*, so that acknowledgement runs only once the
//! downstream sink delivered the batch (or refused it for good, the records then in the
//! dead-letter file). While a batch waits (a long request, retries), in-progress
//! acknowledgements keep the message from being redelivered; a batch given up on is
//! negatively acknowledged with a delay growing with its deliveries; a message delivered
//! more than `max_deliver` times, or not a logferry batch, is moved to a dead-letter
//! subject and terminated, counted.

use crate::sink::{Control, Lost, Report, Sink, SinkStats};
use crate::source::{Ack, FrontConfig, Item, Source};
use futures_util::stream::{FuturesOrdered, LocalBoxStream};
use futures_util::{FutureExt, StreamExt};
use logferry_framing::{Batch, Format};
use logferry_nats::{Bus, ConnectConfig, ConsumerSpec, Delivery, Headers, StreamSpec};
use logferry_spool::Entry as _;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

/// Header: the input the records were read from.
pub const HEADER_SOURCE: &str = "Logferry-Source";
/// Header: `text` or `json`.
pub const HEADER_FORMAT: &str = "Logferry-Format";
/// Header: `START-END` byte offsets and `lines FIRST-LAST` of the records in their input.
pub const HEADER_RANGE: &str = "Logferry-Range";
/// Header: how many records.
pub const HEADER_RECORDS: &str = "Logferry-Records";
/// Header: who published (host, sink, source of the edge route).
pub const HEADER_ORIGIN: &str = "Logferry-Origin";
/// Header: the payload's form. `lfr1`: logferry's stored batch (records, their
/// positions, the source's name). `lfr1+gzip`, what edges publish: the same compressed
/// as two gzip members, the stored batch up to its body and then the body, so that the
/// payload inflates as one stream and the second member ([`HEADER_BODY_AT`]) is a gzip
/// body a worker's HTTP Ingest sink sends as it is.
pub const HEADER_ENCODING: &str = "Logferry-Encoding";
/// Header with `lfr1+gzip`: the payload offset where the body's gzip member starts.
pub const HEADER_BODY_AT: &str = "Logferry-Body-At";
/// Header on dead letters: why the message was moved there.
pub const HEADER_DEAD_REASON: &str = "Logferry-Dead-Reason";

/// The largest message the sink builds: under the server's default 1 MiB max payload
/// (a raw body of at most 512 KiB, at most 10,000 records whose positions take 32
/// bytes each, the source's name and the headers).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// What the NATS sink publishes, and where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsSinkConfig {
    /// The servers, TLS and credentials.
    pub connect: ConnectConfig,
    /// The stream (created when missing) and its settings.
    pub stream: StreamSpec,
    /// The subject published to (the stream must capture it).
    pub subject: String,
    /// Who publishes (host, sink, source): part of every message id and a header.
    pub origin: String,
    /// `text` or `json`, as a header.
    pub format: Format,
    /// Publishes whose acknowledgement may be awaited at once.
    pub max_in_flight: usize,
    /// How messages are compressed: `Some(level)` publishes `lfr1+gzip` at that gzip
    /// level (default level 1: compression runs on the edges, and a worker's HTTP Ingest
    /// sink sends the body's member as it is); `None` publishes the stored batch as it is
    /// (`lfr1`: four times the bytes through nats-server, and a worker's HTTP Ingest sink
    /// compresses the records itself).
    pub compression: Option<logferry_compress::Level>,
}

impl NatsSinkConfig {
    /// Publishing to `subject` of stream `stream` (created capturing `subject`).
    pub fn new(connect: ConnectConfig, stream: &str, subject: &str, origin: String) -> Self {
        NatsSinkConfig {
            connect,
            stream: StreamSpec::new(stream, vec![subject.to_owned()]),
            subject: subject.to_owned(),
            origin,
            format: Format::Text,
            max_in_flight: 64,
            compression: Some(logferry_compress::Level::FAST),
        }
    }
}

/// Counters shared by the sink's futures.
#[derive(Debug, Default)]
struct Counts {
    records: AtomicU64,
    bytes_raw: AtomicU64,
    bytes_wire: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
    in_flight: AtomicU64,
    duplicates: AtomicU64,
}

/// Publishes batches to a JetStream stream ([module docs](self)).
#[derive(Debug)]
pub struct NatsSink {
    config: NatsSinkConfig,
    /// 0 running, 1 closed, 2 aborted.
    state: watch::Sender<u8>,
    counts: Counts,
    stopped: Mutex<Option<String>>,
}

const RUNNING: u8 = 0;
const CLOSED: u8 = 1;
const ABORTED: u8 = 2;

impl NatsSink {
    /// The raw size a message aims at: about one HTTP Ingest request's worth once a
    /// worker compresses it (HTTP Ingest aims at 100 KB bodies as sent; logs compress
    /// 4-5x at level 1, so its own batches of a syslog file are about 460 KB raw).
    /// Smaller messages cost a worker a request, a fetch and an acknowledgement each for
    /// less data: at 256 KiB one worker shipped about 0.75 x what a file route ships.
    pub const TARGET_BYTES: usize = 448 << 10;

    /// How `format` input is cut for this sink: raw batches aimed at
    /// [`TARGET_BYTES`](Self::TARGET_BYTES), at most 512 KiB and 10,000 records, records
    /// of at most 500 KB: every message fits [`MAX_MESSAGE_BYTES`].
    pub fn front(format: Format) -> FrontConfig {
        let mut front = FrontConfig::new(format);
        front.framing.max_record_bytes = 500_000;
        front.batching.target_bytes = Self::TARGET_BYTES;
        front.batching.max_bytes = 512 << 10;
        front.batching.max_records = Some(10_000);
        front
    }

    /// A sink publishing as `config` says; it connects when it starts shipping.
    pub fn new(config: NatsSinkConfig) -> Self {
        NatsSink {
            config,
            state: watch::Sender::new(RUNNING),
            counts: Counts::default(),
            stopped: Mutex::new(None),
        }
    }

    /// Messages the server already had (republished after a restart): not stored twice.
    pub fn duplicates(&self) -> u64 {
        self.counts.duplicates.load(Ordering::Relaxed)
    }

    fn state(&self) -> u8 {
        *self.state.borrow()
    }

    /// Waits until the state is at least `at_least`.
    async fn reached(&self, at_least: u8) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|s| *s >= at_least).await;
    }

    /// Connects and ensures the stream, retrying with backoff until it works or the sink
    /// is aborted.
    async fn connect(&self) -> Option<Bus> {
        let mut delay = Duration::from_millis(200);
        loop {
            let attempt = async {
                let bus = logferry_nats::connect(&self.config.connect).await?;
                bus.ensure_stream(&self.config.stream).await?;
                Ok::<_, logferry_nats::Error>(bus)
            };
            tokio::select! {
                () = self.reached(ABORTED) => return None,
                r = attempt => match r {
                    Ok(bus) => return Some(bus),
                    Err(e) => tracing::warn!("nats sink: {e} (retrying in {delay:?})"),
                },
            }
            tokio::select! {
                () = self.reached(ABORTED) => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// The message for `batch`: its id, headers and payload (`lfr1+gzip`, compressed on
    /// the blocking pool, where the batch goes and comes back: its body is not copied;
    /// `lfr1` without compression).
    async fn message(&self, batch: Batch) -> (Batch, (String, Headers, bytes::Bytes)) {
        let range = batch.range();
        let source = range.source_name.as_deref().unwrap_or("");
        let id = logferry_nats::message_id(
            &self.config.origin,
            source,
            range.start.offset,
            range.end,
            batch.body(),
        );
        let mut headers = Headers::new();
        headers.insert(HEADER_SOURCE, header_value(source).as_ref());
        headers.insert(
            HEADER_FORMAT,
            match self.config.format {
                Format::Json => "json",
                _ => "text",
            },
        );
        headers.insert(
            HEADER_RANGE,
            format!(
                "{}-{} lines {}-{}",
                range.start.offset, range.end, range.start.line, range.last_line
            )
            .as_str(),
        );
        headers.insert(HEADER_RECORDS, batch.len().to_string().as_str());
        headers.insert(HEADER_ORIGIN, header_value(&self.config.origin).as_ref());
        let Some(level) = self.config.compression else {
            headers.insert(HEADER_ENCODING, "lfr1");
            let payload = bytes::Bytes::from(batch.encode());
            return (batch, (id, headers, payload));
        };
        let task = logferry_compress::spawn_bulk(move || {
            let mut payload = logferry_compress::gzip(&batch.stored_head(), level);
            let head = payload.len();
            logferry_compress::gzip_into(batch.body(), level, &mut payload);
            (batch, head, payload)
        });
        let (batch, head, payload) = match task.await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("blocking compression task cancelled: {e}"),
        };
        headers.insert(HEADER_ENCODING, "lfr1+gzip");
        headers.insert(HEADER_BODY_AT, head.to_string().as_str());
        (batch, (id, headers, bytes::Bytes::from(payload)))
    }

    /// Publishes one message and waits for its acknowledgement, retrying (the same id:
    /// the server drops copies) until it is stored or the sink is aborted; `Err` when the
    /// server refuses it for good (too large).
    async fn publish_until_stored(
        &self,
        bus: &Bus,
        (id, headers, payload): &(String, Headers, bytes::Bytes),
    ) -> Option<Result<logferry_nats::Published, String>> {
        let mut delay = Duration::from_millis(100);
        loop {
            self.counts.requests.fetch_add(1, Ordering::Relaxed);
            let attempt = async {
                bus.publish(&self.config.subject, id, headers.clone(), payload.clone())
                    .await?
                    .acknowledged()
                    .await
            };
            let result = tokio::select! {
                () = self.reached(ABORTED) => return None,
                r = attempt => r,
            };
            match result {
                Ok(p) => return Some(Ok(p)),
                Err(e) if is_too_large(&e) => return Some(Err(e.to_string())),
                Err(e) => {
                    self.counts.failures.fetch_add(1, Ordering::Relaxed);
                    self.counts.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("nats sink: {e} (retrying in {delay:?})");
                }
            }
            tokio::select! {
                () = self.reached(ABORTED) => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

fn is_too_large(e: &logferry_nats::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("payload") && (text.contains("exceed") || text.contains("maximum"))
        || text.contains("message size exceeds")
}

/// A header value: no line breaks, at most 1,000 bytes.
fn header_value(s: &str) -> Cow<'_, str> {
    if s.len() <= 1000 && !s.contains(['\r', '\n']) {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.replace(['\r', '\n'], " ");
    let mut cut = out.len().min(1000);
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    Cow::Owned(out)
}

impl Sink for NatsSink {
    type Entry = Batch;

    fn name(&self) -> &'static str {
        "nats"
    }

    async fn encode(&self, batch: Batch) -> Batch {
        batch
    }

    fn records(&self, entry: &Batch) -> u64 {
        entry.len() as u64
    }

    fn unsent<'e>(&self, entry: &'e Batch) -> Vec<Lost<'e>> {
        let range = entry.range();
        vec![Lost {
            source: range.source_name.map(|s| Cow::Owned(s.to_string())),
            position: Some(range.start),
            reason: Cow::Borrowed("not published before the sender stopped"),
            records: entry.len() as u64,
            body: Cow::Borrowed(entry.body()),
            truncated: false,
        }]
    }

    async fn ship<'a>(
        &'a self,
        entries: LocalBoxStream<'a, (u64, Batch)>,
        report: &'a mut dyn FnMut(Report<'_>),
    ) {
        if self.state() != RUNNING {
            return;
        }
        let Some(bus) = self.connect().await else {
            return;
        };
        let bus = &bus;
        // Compressed ahead of publishing, on both cores, in order.
        let compressing = std::thread::available_parallelism().map_or(2, usize::from);
        let mut entries = Some(
            entries
                .map(|(id, batch)| async move {
                    let (batch, message) = self.message(batch).await;
                    (id, batch, message)
                })
                .buffered(compressing),
        );
        let mut pending = FuturesOrdered::new();
        let max = self.config.max_in_flight.max(1);
        loop {
            if self.state() == ABORTED {
                return;
            }
            if self.state() != RUNNING {
                entries = None; // closed: take nothing new, finish what is on the wire
            }
            if entries.is_none() && pending.is_empty() {
                let duplicates = self.duplicates();
                if duplicates > 0 {
                    tracing::info!(
                        "nats sink: {duplicates} republished messages were already in the stream (dropped by the server as duplicates)"
                    );
                }
                return;
            }
            let room = pending.len() < max;
            tokio::select! {
                biased;
                () = self.reached(CLOSED), if entries.is_some() => continue,
                done = pending.next(), if !pending.is_empty() => {
                    let Some((id, batch, result)) = done else { continue };
                    self.counts.in_flight.fetch_sub(1, Ordering::Relaxed);
                    let batch: Batch = batch;
                    let result = match result {
                        Some(r) => r,
                        None => return, // aborted
                    };
                    match result {
                        Ok(published) => {
                            let published: logferry_nats::Published = published;
                            if published.duplicate {
                                self.counts.duplicates.fetch_add(1, Ordering::Relaxed);
                            }
                            self.counts.records.fetch_add(batch.len() as u64, Ordering::Relaxed);
                            self.counts.bytes_raw.fetch_add(batch.body().len() as u64, Ordering::Relaxed);
                            report(Report::Delivered { records: batch.len() as u64 });
                        }
                        Err(why) => {
                            let range = batch.range();
                            report(Report::Refused(&[Lost {
                                source: range.source_name.as_deref().map(Cow::Borrowed),
                                position: Some(range.start),
                                reason: Cow::Owned(format!("{range}: refused by the NATS server: {why}")),
                                records: batch.len() as u64,
                                body: Cow::Borrowed(batch.body()),
                                truncated: false,
                            }]));
                        }
                    }
                    report(Report::Done(id));
                }
                next = async { entries.as_mut().expect("checked").next().await }, if entries.is_some() && room => {
                    let Some((id, batch, message)) = next else {
                        entries = None;
                        continue;
                    };
                    self.counts.bytes_wire.fetch_add(message.2.len() as u64, Ordering::Relaxed);
                    self.counts.in_flight.fetch_add(1, Ordering::Relaxed);
                    // Sent now (in order), its acknowledgement awaited in turn.
                    let sent = bus
                        .publish(&self.config.subject, &message.0, message.1.clone(), message.2.clone())
                        .await;
                    self.counts.requests.fetch_add(1, Ordering::Relaxed);
                    let fut = async move {
                        let first = match sent {
                            Ok(p) => p.acknowledged().await,
                            Err(e) => Err(e),
                        };
                        let result = match first {
                            Ok(p) => Some(Ok(p)),
                            Err(e) if is_too_large(&e) => Some(Err(e.to_string())),
                            Err(e) => {
                                self.counts.failures.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!("nats sink: {e}: publishing again");
                                self.publish_until_stored(bus, &message).await
                            }
                        };
                        (id, batch, result)
                    };
                    pending.push_back(fut.boxed_local());
                }
            }
        }
    }
}

impl Control for NatsSink {
    fn close(&self) {
        self.state.send_if_modified(|s| {
            let changed = *s < CLOSED;
            *s = (*s).max(CLOSED);
            changed
        });
    }

    fn abort(&self) {
        self.state.send_replace(ABORTED);
    }

    fn stopped(&self) -> Option<String> {
        self.stopped.lock().expect("not poisoned").clone()
    }

    fn stats(&self) -> SinkStats {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SinkStats {
            records_delivered: get(&c.records),
            bytes_raw: get(&c.bytes_raw),
            bytes_wire: get(&c.bytes_wire),
            requests: get(&c.requests),
            retries: get(&c.retries),
            request_failures: get(&c.failures),
            in_flight: get(&c.in_flight),
            concurrency_limit: Some(self.config.max_in_flight as u64),
            ..SinkStats::default()
        }
    }
}

/// Where a worker reads from, and how it settles messages.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsSourceConfig {
    /// The servers, TLS and credentials.
    pub connect: ConnectConfig,
    /// The stream (created when missing, so workers may start before any edge).
    pub stream: StreamSpec,
    /// The durable pull consumer shared by every worker.
    pub consumer: ConsumerSpec,
    /// Messages this worker holds unsettled at most (each about one request's worth).
    pub in_flight: usize,
    /// Deliveries of a message before it goes to the dead-letter subject.
    pub max_deliver: u64,
    /// Where exhausted and unreadable messages go (a stream `STREAM_DEAD` capturing it is
    /// created when missing, [`dead_letter_stream`]; it must not overlap the stream's
    /// subjects).
    pub dead_letter_subject: String,
    /// The first negative acknowledgement's delay; doubled with each delivery, at most
    /// 5 minutes.
    pub nak_delay: Duration,
}

impl NatsSourceConfig {
    /// Consuming stream `stream` through durable consumer `consumer`, with defaults: 4
    /// messages in flight, 10 deliveries, dead letters to `STREAM.dead`, 5 s first delay.
    pub fn new(connect: ConnectConfig, stream: &str, consumer: &str) -> Self {
        NatsSourceConfig {
            connect,
            stream: StreamSpec::new(stream, Vec::new()),
            consumer: ConsumerSpec::new(consumer),
            in_flight: 4,
            max_deliver: 10,
            dead_letter_subject: format!("{}.dead", stream.to_ascii_lowercase()),
            nak_delay: Duration::from_secs(5),
        }
    }
}

/// What a worker's source counted.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct NatsSourceStats {
    /// Messages received (every delivery).
    pub messages: AtomicU64,
    /// Of those, deliveries after the first (a worker died or gave up): their records
    /// may be delivered twice.
    pub redelivered: AtomicU64,
    /// Records in redelivered messages.
    pub redelivered_records: AtomicU64,
    /// Messages acknowledged (delivered downstream, or refused and dead-lettered).
    pub acked: AtomicU64,
    /// Messages negatively acknowledged (given up on for now).
    pub naked: AtomicU64,
    /// Messages moved to the dead-letter subject (deliveries exhausted, or unreadable).
    pub dead_lettered: AtomicU64,
    /// In-progress acknowledgements sent.
    pub progress: AtomicU64,
}

/// A worker's share of a durable pull consumer, as a [`Source`] ([module docs](self)).
#[derive(Debug)]
pub struct NatsSource {
    config: NatsSourceConfig,
    stats: Arc<NatsSourceStats>,
    finished: Arc<watch::Sender<bool>>,
    hold: HoldOff,
}

/// Until when messages handed back to the stream wait at least, shared by a
/// [`NatsSource`] and whoever learns that the endpoint asked for a pause: the
/// `Retry-After` of the answer after which a batch was given up
/// ([`Event::HoldOff`](crate::Event::HoldOff)). Without it a handed-back message would come
/// back after `nak_delay` only, while the endpoint had asked for longer.
#[derive(Debug, Clone, Default)]
pub struct HoldOff(Arc<Mutex<Option<tokio::time::Instant>>>);

impl HoldOff {
    /// Messages handed back from now on wait at least `wait` from now (a later deadline
    /// already set is kept).
    pub fn hold_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut at = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *at = Some(at.map_or(until, |t| t.max(until)));
    }

    /// How long a message handed back now must wait at least.
    fn remaining(&self) -> Duration {
        let at = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        at.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(tokio::time::Instant::now())
        })
    }
}

/// Resolves once a started [`NatsSource`] settled everything it held (acknowledgements
/// flushed to the server) after its pipeline ended.
#[derive(Debug, Clone)]
pub struct Finished(watch::Receiver<bool>);

impl Finished {
    /// Waits for it (forever when the source was never started).
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|done| *done).await;
    }
}

impl NatsSource {
    /// A source consuming as `config` says; it connects when started.
    pub fn new(config: NatsSourceConfig) -> Self {
        NatsSource {
            config,
            stats: Arc::default(),
            finished: Arc::new(watch::Sender::new(false)),
            hold: HoldOff::default(),
        }
    }

    /// The handle that delays what this source hands back ([`HoldOff`]).
    pub fn hold_off(&self) -> HoldOff {
        self.hold.clone()
    }

    /// What to await, once the pipeline ended, before the process exits: the last
    /// acknowledgements are on their way then (else those messages come back after the
    /// ack wait, duplicates).
    pub fn finished(&self) -> Finished {
        Finished(self.finished.subscribe())
    }

    /// Its counters (shared: they keep counting after [`Source::start`]).
    pub fn stats(&self) -> Arc<NatsSourceStats> {
        self.stats.clone()
    }
}

/// What happens to a message held by the settler.
enum Settlement {
    /// Hold it (with its permit) and keep it alive with in-progress acknowledgements.
    Hold(
        Box<(
            u64,
            logferry_nats::Settle,
            u64,
            tokio::sync::OwnedSemaphorePermit,
        )>,
    ),
    /// Delivered (or refused and dead-lettered): acknowledge.
    Ack(u64),
    /// Given up on: negatively acknowledge.
    Nak(u64),
}

/// The pipeline's acknowledgement of one message: acknowledges it when run, negatively
/// acknowledges it when dropped unrun.
struct Guard {
    seq: u64,
    tx: mpsc::UnboundedSender<Settlement>,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.tx.send(Settlement::Nak(self.seq));
        }
    }
}

impl Source for NatsSource {
    fn start(self, front: FrontConfig) -> mpsc::Receiver<Item> {
        let (tx, rx) = mpsc::channel(front.queue.max(1));
        let finished = self.finished;
        tokio::spawn(async move {
            consume(self.config, self.stats, self.hold, tx).await;
            finished.send_replace(true);
        });
        rx
    }
}

/// How long a fetch under way when the pipeline goes away is still awaited.
const CLOSING_FETCH: Duration = Duration::from_millis(200);

/// Connects, then fetches while the pipeline takes batches. Fetching and reading are two
/// tasks: while the messages of one fetch are inflated and checked (on the blocking pool,
/// several at once), the next fetch is on its way; one task doing both, in turn, was
/// what limited a worker (a fetch of two messages and reading them took about as long).
async fn consume(
    config: NatsSourceConfig,
    stats: Arc<NatsSourceStats>,
    hold: HoldOff,
    tx: mpsc::Sender<Item>,
) {
    let Some((bus, consumer)) = connect_worker(&config, &tx).await else {
        return;
    };
    let in_flight = config.in_flight.max(1);
    let permits = Arc::new(Semaphore::new(in_flight));
    let (settle_tx, settle_rx) = mpsc::unbounded_channel();
    let settler = tokio::spawn(settle(
        settle_rx,
        config.clone(),
        stats.clone(),
        hold,
        bus.clone(),
    ));
    // At most `in_flight` deliveries at a time: each holds a permit.
    let (fetched_tx, fetched_rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read(
        fetched_rx,
        in_flight,
        config.clone(),
        stats.clone(),
        bus,
        settle_tx,
        tx.clone(),
    ));
    let mut failures = 0u32;
    loop {
        // Wait for room, then take as much as there is; a pipeline that went away ends
        // the loop first, even with room (what it fetched would only be handed back).
        let first = tokio::select! {
            biased;
            () = tx.closed() => break,
            p = permits.clone().acquire_owned() => p.expect("never closed"),
        };
        let mut held = vec![first];
        while let Ok(p) = permits.clone().try_acquire_owned() {
            held.push(p);
        }
        let fetch = consumer.fetch(held.len(), Duration::from_secs(2));
        let mut fetch = std::pin::pin!(fetch);
        let fetched = tokio::select! {
            f = &mut fetch => f,
            () = tx.closed() => {
                // The pipeline went away during the fetch. Messages the server sent for
                // it before it saw nobody listens any more count as delivered to this
                // worker: dropped unseen, they would wait out the consumer's ack wait
                // (60 s) before another worker could have them. So what arrives within
                // a moment is taken, for the reader to hand back at once; a request
                // still waiting after that is dropped (the server sends nothing to a
                // reply subject nobody listens to).
                match tokio::time::timeout(CLOSING_FETCH, &mut fetch).await {
                    Ok(f) => f,
                    Err(_) => break,
                }
            }
        };
        let deliveries = match fetched {
            Ok(d) => {
                failures = 0;
                d
            }
            Err(e) => {
                failures += 1;
                tracing::warn!("nats source: {e}");
                let wait = Duration::from_millis(200 * u64::from(failures.min(25)));
                tokio::select! {
                    () = tx.closed() => break,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        for delivery in deliveries {
            let permit = held.pop().expect("no more messages than permits");
            stats.messages.fetch_add(1, Ordering::Relaxed);
            if fetched_tx.send((delivery, permit)).is_err() {
                break; // the reader stopped: the pipeline is gone
            }
        }
    }
    drop(fetched_tx);
    let _ = reader.await;
    let _ = settler.await;
}

/// Reads fetched messages into batches for the pipeline, in the order fetched: each
/// inflated and checked on the blocking pool ([`batch_of`]), `in_flight` at once at most,
/// then held by the settler until the pipeline acknowledges its batch.
async fn read(
    fetched: mpsc::UnboundedReceiver<(Delivery, tokio::sync::OwnedSemaphorePermit)>,
    in_flight: usize,
    config: NatsSourceConfig,
    stats: Arc<NatsSourceStats>,
    bus: Bus,
    settle_tx: mpsc::UnboundedSender<Settlement>,
    tx: mpsc::Sender<Item>,
) {
    let max_deliver = config.max_deliver;
    let read =
        futures_util::stream::unfold(
            fetched,
            |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
        )
        .map(|(delivery, permit)| async move {
            let (delivery, read) = logferry_compress::spawn_bulk(move || {
                let read = batch_of(&delivery, max_deliver);
                (delivery, read)
            })
            .await
            .expect("reading a message does not panic");
            (delivery, read, permit)
        })
        .buffered(in_flight);
    let mut read = std::pin::pin!(read);
    while let Some((delivery, read, permit)) = read.next().await {
        let batch = match read {
            Ok(batch) => batch,
            Err(why) => {
                dead_letter(&delivery, &why, &config, &bus).await;
                stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        if delivery.delivered > 1 {
            stats.redelivered.fetch_add(1, Ordering::Relaxed);
            stats
                .redelivered_records
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        let seq = delivery.stream_sequence;
        let _ = settle_tx.send(Settlement::Hold(Box::new((
            seq,
            delivery.settle,
            delivery.delivered,
            permit,
        ))));
        let mut guard = Guard {
            seq,
            tx: settle_tx.clone(),
            done: false,
        };
        let ack: Ack = Box::new(move || {
            guard.done = true;
            guard
                .tx
                .send(Settlement::Ack(guard.seq))
                .map_err(|_| "the NATS settler stopped".to_owned())
        });
        let item = Item::Batch {
            batch,
            ack: Some(ack),
        };
        if tx.send(item).await.is_err() {
            break; // the item (and its guard: a nak) is dropped
        }
    }
    // The pipeline is gone: what was fetched and not handed to it goes back at once.
    while let Some((delivery, _, _)) = read.next().await {
        let _ = delivery.settle.nak(Duration::ZERO).await;
        stats.naked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Connects and binds the consumer, retrying until it works or the pipeline is gone.
async fn connect_worker(
    config: &NatsSourceConfig,
    tx: &mpsc::Sender<Item>,
) -> Option<(Bus, logferry_nats::Consumer)> {
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt = async {
            let bus = logferry_nats::connect(&config.connect).await?;
            if !config.stream.subjects.is_empty() {
                bus.ensure_stream(&config.stream).await?;
            }
            let consumer = bus.consumer(&config.stream.name, &config.consumer).await?;
            let dead = dead_letter_stream(&config.stream.name);
            if let Err(e) = bus
                .ensure_dead_letter_stream(&dead, &config.dead_letter_subject)
                .await
            {
                // Dead letters then fail to store: those messages are handed back
                // (negatively acknowledged), never dropped.
                tracing::warn!("nats source: dead letters cannot be stored: {e}");
            }
            Ok::<_, logferry_nats::Error>((bus, consumer))
        };
        tokio::select! {
            () = tx.closed() => return None,
            r = attempt => match r {
                Ok(x) => return Some(x),
                Err(e) => tracing::warn!("nats source: {e} (retrying in {delay:?})"),
            },
        }
        tokio::select! {
            () = tx.closed() => return None,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The stream that keeps the dead letters of stream `stream`: `STREAM_DEAD`.
pub fn dead_letter_stream(stream: &str) -> String {
    format!("{stream}_DEAD")
}

/// The batch in `delivery`, or why it goes to the dead-letter subject: delivered more
/// than `max_deliver` times, or not a logferry batch.
fn batch_of(delivery: &Delivery, max_deliver: u64) -> Result<Batch, String> {
    if delivery.delivered > max_deliver {
        return Err(format!(
            "delivered {} times (max_deliver {max_deliver}) without being delivered downstream",
            delivery.delivered
        ));
    }
    read_payload(&delivery.payload, &delivery.headers)
        .map_err(|e| format!("not a logferry batch: {e}"))
}

/// The most a message's payload may inflate to: far above what an edge publishes (a
/// 512 KiB body and 10,000 spans of 32 bytes), far below a decompression bomb.
const MAX_INFLATED_BYTES: usize = 8 << 20;

/// The batch in a message ([`HEADER_ENCODING`]): `lfr1` read as it is, `lfr1+gzip`
/// inflated first, with its body's gzip member attached for a sink that sends gzip.
fn read_payload(payload: &bytes::Bytes, headers: &Headers) -> Result<Batch, String> {
    let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
    match header(HEADER_ENCODING).as_deref() {
        None | Some("lfr1") => Batch::decode(payload).map_err(|e| e.to_string()),
        Some("lfr1+gzip") => {
            let inflate = |gz: &[u8]| {
                logferry_compress::decode(logferry_compress::Encoding::Gzip, gz, MAX_INFLATED_BYTES)
                    .map_err(|e| format!("{HEADER_ENCODING} lfr1+gzip: {e}"))
            };
            // The two members inflated apart: the second, checked below to be the body of
            // the stored batch, can then be sent as it is.
            let at = header(HEADER_BODY_AT)
                .and_then(|at| at.parse::<usize>().ok())
                .filter(|&at| at > 0 && at < payload.len());
            // Each member alone, with libdeflate: exactly one member each, or refused.
            let member = |gz: &[u8]| logferry_compress::gunzip_member(gz, MAX_INFLATED_BYTES).ok();
            let split =
                at.and_then(|at| Some((member(&payload[..at])?, member(&payload[at..])?, at)));
            match split {
                Some((head, body, at)) => {
                    // Checked as the stored batch's own body: the second member is it.
                    let batch = Batch::from_stored_parts(&head, body).map_err(|e| e.to_string())?;
                    // A slice of the message: the member is not copied.
                    Ok(batch.with_gzip(payload.slice(at..)))
                }
                None => Batch::decode(&inflate(payload)?).map_err(|e| e.to_string()),
            }
        }
        Some(other) => Err(format!(
            "{HEADER_ENCODING} {other:?} is not one this worker reads"
        )),
    }
}

/// Moves `delivery` to the dead-letter subject (headers kept, the reason added), then
/// terminates it. When the dead letter cannot be stored, the message is negatively
/// acknowledged instead: it comes back, never dropped.
async fn dead_letter(delivery: &Delivery, why: &str, config: &NatsSourceConfig, bus: &Bus) {
    tracing::error!(
        "nats source: message {} of stream {} goes to {}: {why}",
        delivery.stream_sequence,
        config.stream.name,
        config.dead_letter_subject
    );
    let mut headers = delivery.headers.clone();
    headers.insert(HEADER_DEAD_REASON, header_value(why).as_ref());
    let id = format!("dead:{}:{}", config.stream.name, delivery.stream_sequence);
    let stored = async {
        bus.publish(
            &config.dead_letter_subject,
            &id,
            headers,
            delivery.payload.clone(),
        )
        .await?
        .acknowledged()
        .await
    }
    .await;
    let settled = match stored {
        Ok(_) => delivery.settle.term().await,
        Err(e) => {
            tracing::error!("nats source: cannot store the dead letter: {e}");
            delivery.settle.nak(config.nak_delay).await
        }
    };
    if let Err(e) = settled {
        tracing::warn!("nats source: {e}");
    }
}

/// Holds the messages the pipeline works on: in-progress acknowledgements while they
/// wait, then an acknowledgement or a delayed negative one, and their permits back.
async fn settle(
    mut rx: mpsc::UnboundedReceiver<Settlement>,
    config: NatsSourceConfig,
    stats: Arc<NatsSourceStats>,
    hold: HoldOff,
    bus: Bus,
) {
    let mut held: HashMap<
        u64,
        (
            logferry_nats::Settle,
            u64,
            tokio::sync::OwnedSemaphorePermit,
        ),
    > = HashMap::new();
    let every = (config.consumer.ack_wait / 3).max(Duration::from_millis(100));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            s = rx.recv() => match s {
                None => break,
                Some(Settlement::Hold(held_message)) => {
                    let (seq, settle, delivered, permit) = *held_message;
                    held.insert(seq, (settle, delivered, permit));
                }
                Some(Settlement::Ack(seq)) => {
                    if let Some((settle, _, _permit)) = held.remove(&seq) {
                        match settle.ack().await {
                            Ok(()) => stats.acked.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                // Redelivered after the ack wait: a duplicate, not a loss.
                                tracing::warn!("nats source: message {seq}: {e}");
                                0
                            }
                        };
                    }
                }
                Some(Settlement::Nak(seq)) => {
                    if let Some((settle, delivered, _permit)) = held.remove(&seq) {
                        // Never sooner than the endpoint asked (its Retry-After).
                        let delay = nak_delay(config.nak_delay, delivered).max(hold.remaining());
                        if let Err(e) = settle.nak(delay).await {
                            tracing::warn!("nats source: message {seq}: {e}");
                        }
                        stats.naked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
            _ = ticker.tick() => {
                if !held.is_empty() {
                    let seqs: Vec<&u64> = held.keys().collect();
                    tracing::debug!("nats source: holding messages {seqs:?}");
                }
                for (seq, (settle, _, _)) in &held {
                    match settle.progress().await {
                        Ok(()) => {
                            stats.progress.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tracing::warn!("nats source: message {seq}: {e}"),
                    }
                }
            }
        }
    }
    // The pipeline is gone: what it still held goes back at once, for another worker.
    for (_, (settle, _, _)) in held.drain() {
        let _ = settle.nak(Duration::ZERO).await;
        stats.naked.fetch_add(1, Ordering::Relaxed);
    }
    let _ = bus.flush().await;
}

/// The delay of a negative acknowledgement after `delivered` deliveries: `first`,
/// doubled each time, at most 5 minutes.
fn nak_delay(first: Duration, delivered: u64) -> Duration {
    let doublings = u32::try_from(delivered.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    first
        .saturating_mul(1u32 << doublings)
        .min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `lines` numbered syslog-like lines from `app.log`.
    fn batch_of_lines(lines: usize) -> Batch {
        let mut framer = logferry_framing::LineFramer::new(Default::default());
        let mut batcher = logferry_framing::Batcher::new(
            logferry_framing::BatchConfig {
                target_bytes: usize::MAX,
                max_bytes: usize::MAX,
                ..Default::default()
            },
            Some("app.log".into()),
        );
        let now = std::time::Instant::now();
        let text: String = (0..lines)
            .map(|i| format!("<13>Dec  2 20:00:00 host app[{i}]: user=u{i} ok\n"))
            .collect();
        framer.push(text.as_bytes(), |r| {
            batcher.push(&r.expect("a line"), now, |_| {})
        });
        let mut out = None;
        batcher.flush(|b| out = Some(b));
        out.expect("a batch")
    }

    fn sink() -> NatsSink {
        NatsSink::new(sink_config())
    }

    fn sink_config() -> NatsSinkConfig {
        let connect = ConnectConfig::new(vec!["nats://127.0.0.1:1".into()]);
        NatsSinkConfig::new(connect, "LOGS", "logs.test", "host/bus/app".into())
    }

    #[tokio::test]
    async fn an_edge_without_compression_publishes_the_stored_batch_and_a_level_is_kept() {
        let batch = batch_of_lines(500);
        let mut plain = sink_config();
        plain.compression = None;
        let (_, (id, headers, payload)) = NatsSink::new(plain).message(batch.clone()).await;
        assert_eq!(
            headers.get(HEADER_ENCODING).map(|v| v.as_str()),
            Some("lfr1")
        );
        assert!(headers.get(HEADER_BODY_AT).is_none());
        assert_eq!(&payload[..], &batch.encode()[..]);
        let mut read = read_payload(&payload, &headers).expect("a batch");
        assert!(read.take_gzip().is_none(), "no member: the sink compresses");
        assert_eq!(read, batch);
        // The same batch has the same id whatever the compression: a republish after a
        // change of setting is still dropped by the server.
        let (_, (gz_id, _, fast)) = sink().message(batch.clone()).await;
        assert_eq!(id, gz_id);
        let mut best = sink_config();
        best.compression = Some(logferry_compress::Level::BEST);
        let (_, (_, headers, smaller)) = NatsSink::new(best).message(batch.clone()).await;
        assert!(
            smaller.len() < fast.len(),
            "{} !< {}",
            smaller.len(),
            fast.len()
        );
        let mut read = read_payload(&smaller, &headers).expect("a batch");
        assert!(read.take_gzip().is_some());
        assert_eq!(read, batch);
    }

    #[tokio::test]
    async fn an_edge_message_is_compressed_and_a_worker_reads_it_with_its_body_member() {
        let batch = batch_of_lines(500);
        let (_, (_, headers, payload)) = sink().message(batch.clone()).await;
        assert_eq!(
            headers.get(HEADER_ENCODING).map(|v| v.as_str()),
            Some("lfr1+gzip")
        );
        assert!(
            payload.len() * 3 < batch.encode().len(),
            "not compressed: {} bytes",
            payload.len()
        );
        let mut read = read_payload(&payload, &headers).expect("a batch");
        let member = read.take_gzip().expect("the body's gzip member");
        assert_eq!(read, batch);
        let inflated =
            logferry_compress::decode(logferry_compress::Encoding::Gzip, &member, 1 << 20).unwrap();
        assert_eq!(inflated, batch.body());
    }

    #[tokio::test]
    async fn a_wrong_body_offset_loses_only_the_member_and_unknown_encodings_are_refused() {
        let batch = batch_of_lines(50);
        let (_, (_, mut headers, payload)) = sink().message(batch.clone()).await;
        headers.insert(HEADER_BODY_AT, "3");
        let mut read = read_payload(&payload, &headers).expect("still a batch");
        assert!(read.take_gzip().is_none());
        assert_eq!(read, batch);
        // A plain stored batch (what older edges publish) is read as it is.
        let mut plain = Headers::new();
        plain.insert(HEADER_ENCODING, "lfr1");
        assert_eq!(
            read_payload(&batch.encode().into(), &plain).expect("a batch"),
            batch
        );
        plain.insert(HEADER_ENCODING, "zstd");
        let err = read_payload(&batch.encode().into(), &plain).unwrap_err();
        assert!(
            err.contains("\"zstd\" is not one this worker reads"),
            "{err}"
        );
        // A payload that does not inflate is refused, with why.
        let err = read_payload(&payload.slice(..payload.len() / 2), &headers).unwrap_err();
        assert!(err.contains("lfr1+gzip"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_off_keeps_the_latest_deadline_and_runs_out() {
        let hold = HoldOff::default();
        assert_eq!(hold.remaining(), Duration::ZERO);
        hold.hold_for(Duration::from_secs(30));
        hold.hold_for(Duration::from_secs(10)); // an earlier deadline changes nothing
        assert_eq!(hold.remaining(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(25)).await;
        assert_eq!(hold.remaining(), Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(hold.remaining(), Duration::ZERO);
    }

    #[test]
    fn nak_delays_double_up_to_five_minutes() {
        let s = Duration::from_secs;
        assert_eq!(nak_delay(s(5), 1), s(5));
        assert_eq!(nak_delay(s(5), 2), s(10));
        assert_eq!(nak_delay(s(5), 4), s(40));
        assert_eq!(nak_delay(s(5), 40), s(300));
    }

    #[test]
    fn header_values_lose_line_breaks_and_stay_short() {
        assert_eq!(header_value("/var/log/a.log"), "/var/log/a.log");
        assert_eq!(header_value("a\r\nb"), "a  b");
        assert_eq!(header_value(&"é".repeat(600)).len(), 1000);
    }
}
