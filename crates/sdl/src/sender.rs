//! The `addEvents` sender: intake queue, dispatcher, and one task per session.
//!
//! # Structure
//!
//! ```text
//! send / send_many ──bounded queue──▶ dispatcher ──one job at a time──▶ session task 0
//!                                     (builders,                       session task 1
//!                                      linger, flush,   ◀──done────    …
//!                                      scaling)
//! ```
//!
//! - The **dispatcher** owns every session's `RequestBuilder` (the model's: exact body
//!   sizes, strictly increasing times per session, `logs` dedupe). It fills the builder
//!   of one *idle* session at a time and hands the finished request to that session's
//!   task; it reads the queue only while some session is idle, which is the backpressure.
//! - A **session task** sends one job at a time, so a session never has two requests in
//!   flight (seed: "Only one request can be in-flight at a time for a session"). It paces
//!   each attempt, gzips on the blocking pool, retries through `logferry-retry`, splits
//!   on "too large", and reports. While it retries, the dispatcher keeps filling the other
//!   sessions: a retrying session never blocks the others.
//! - A batch ends when it is full (the next event would not fit, or the average event
//!   would not), when its first event has waited [`SdlConfig::linger`], on
//!   [`SdlSender::flush`], or at shutdown. An event that did not fit is moved to the next
//!   idle session's batch, never left behind a busy session.

use crate::config::{Pacing, SESSION_RATE_CEILING, endpoint};
use crate::pacer::Pacer;
use crate::report::{Delivery, Failure, Record, Report, Reports, ShutdownReport};
use crate::stats::{Counters, SessionCounters, add};
use crate::{Error, SdlConfig, Stats, host};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use logferry_compress::{Level, gzip_blocking};
use logferry_http::{Client, IngestUrl, authorization, full};
use logferry_retry::{
    Budget, FastRng, FatalReason, Finish, GaveUp, Outcome, Policy, Retrier, TokioClock, classify,
};
use logferry_sdl_model::{
    self as model, AddEventsResponse, Attrs, ReadyRequest, RequestBuilder, Session, SessionHeader,
    SessionInfo, Timestamp, Timestamps, parse_response, status_matches,
};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;

/// What travels on the intake queue.
enum Msg {
    One(Record),
    Many(Vec<Record>),
    Flush(oneshot::Sender<Result<(), Error>>),
    Close,
}

/// What the session tasks share.
struct Shared {
    client: Client,
    url: IngestUrl,
    auth: HeaderValue,
    retrier: Retrier<TokioClock, FastRng>,
    compression: Option<Level>,
    request_timeout: Duration,
    pacing: Pacing,
    max_body: usize,
    counters: Arc<Counters>,
    /// Dropped by the dispatcher when it ends, which ends the [`Reports`] stream.
    reports: Mutex<Option<mpsc::UnboundedSender<Report>>>,
    stopped: OnceLock<Error>,
}

impl Shared {
    fn report(&self, report: Report) {
        let reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = &*reports {
            // A dropped receiver only means nobody reads reports.
            let _ = tx.send(report);
        }
    }

    fn pacer(&self) -> Pacer {
        let now = Instant::now().into_std();
        match self.pacing {
            Pacing::PerSession { bytes_per_sec } => Pacer::new(
                Some(bytes_per_sec),
                self.max_body as u64,
                Some(SESSION_RATE_CEILING),
                now,
            ),
            Pacing::Off => Pacer::off(now),
        }
    }
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    /// Set once no new event is accepted (by [`SdlSender::close`] or shutdown).
    closed: watch::Sender<bool>,
    cancel: Arc<watch::Sender<bool>>,
    done: Mutex<Option<oneshot::Receiver<ShutdownReport>>>,
}

/// A running SDL `addEvents` sender: a handle to queue events, flush, read stats and shut
/// down. Cloning is cheap; all clones feed the same sessions.
///
/// Start it inside a tokio runtime with [`SdlSender::start`] (or
/// [`SdlSender::start_with_reports`] for per-request delivery reports). See the crate
/// docs for an example.
#[derive(Clone)]
pub struct SdlSender {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SdlSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdlSender")
            .field("url", &self.inner.shared.url)
            .finish_non_exhaustive()
    }
}

impl SdlSender {
    /// Starts the sender: creates the first sessions and spawns their tasks on the current
    /// tokio runtime. Fails on an invalid configuration, or outside a runtime.
    pub fn start(client: Client, config: SdlConfig) -> Result<SdlSender, Error> {
        SdlSender::start_inner(client, config, None)
    }

    /// Like [`SdlSender::start`], also returning the stream of per-request [`Report`]s
    /// (delivered with the tokens of their events and the server's `bytesCharged`, or
    /// failed with their records), for checkpoints and dead-lettering.
    pub fn start_with_reports(
        client: Client,
        config: SdlConfig,
    ) -> Result<(SdlSender, Reports), Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sender = SdlSender::start_inner(client, config, Some(tx))?;
        Ok((sender, Reports { rx }))
    }

    fn start_inner(
        client: Client,
        config: SdlConfig,
        reports: Option<mpsc::UnboundedSender<Report>>,
    ) -> Result<SdlSender, Error> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Config {
            reason: "the sender must be started inside a tokio runtime".to_owned(),
        })?;
        let config_error = |what: &str, e: &dyn std::fmt::Display| Error::Config {
            reason: format!("{what}: {e}"),
        };
        let url = endpoint(&config.url, "/api/addEvents")?;
        let auth = authorization("Bearer", &config.key)
            .map_err(|_| config_error("key", &"not a valid HTTP header value"))?;
        let policy = Policy::new(config.retry.clone()).map_err(|e| config_error("retry", &e))?;
        let budget = Budget::new(config.budget).map_err(|e| config_error("budget", &e))?;
        let shared = Arc::new(Shared {
            request_timeout: config
                .request_timeout
                .unwrap_or(client.config().request_timeout),
            client,
            url,
            auth,
            retrier: Retrier::standard(policy, Arc::new(budget)),
            compression: config.compression,
            pacing: config.pacing,
            max_body: config.max_body_bytes,
            counters: Arc::new(Counters::default()),
            reports: Mutex::new(reports),
            stopped: OnceLock::new(),
        });

        let mut info = Attrs::new();
        if config.session_info.get("serverHost").is_none() {
            let host = config.server_host.clone().unwrap_or_else(host::hostname);
            info.insert("serverHost", host);
        }
        for (k, v) in config.session_info.iter() {
            info.insert(k, v.clone());
        }
        let mut header = SessionHeader::new(
            Session::new("00000000-0000-0000-0000-000000000000").expect("a UUID is a valid id"),
        )
        .with_info(SessionInfo(info));
        header.threads = config.threads.clone();
        header.logs = config.logs.clone();
        let model_config = model::Config {
            max_body_bytes: config.max_body_bytes,
            oversize: config.oversize,
            timestamps: config.timestamps,
            dedupe: config.dedupe,
        };

        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let cancel_tx = Arc::new(cancel_tx);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (min, max) = config.sessions.bounds();
        let mut dispatcher = Dispatcher {
            shared: shared.clone(),
            runtime,
            header,
            model_config,
            log_ids: config.logs.iter().map(|l| l.id.clone()).collect(),
            timestamps: config.timestamps,
            rx,
            slots: Vec::new(),
            idle: VecDeque::new(),
            current: None,
            pending: VecDeque::new(),
            done_tx,
            done_rx,
            cancel_tx: cancel_tx.clone(),
            cancel_rx,
            next_batch: 0,
            flushes: Vec::new(),
            unsent: Vec::new(),
            max_sessions: max,
            scale_interval: config.scale_interval,
            last_scale: Instant::now(),
            linger: config.linger,
            intake_open: true,
            stopping: false,
        };
        for _ in 0..min {
            dispatcher.add_session()?;
        }
        tracing::info!(
            url = %shared.url,
            sessions = min,
            max_sessions = max,
            pacing = ?config.pacing,
            max_body_bytes = config.max_body_bytes,
            "sdl sender started"
        );
        let (report_tx, report_rx) = oneshot::channel();
        dispatcher.runtime.clone().spawn(
            dispatcher
                .run(report_tx)
                .instrument(tracing::info_span!("sdl_dispatcher")),
        );
        Ok(SdlSender {
            inner: Arc::new(Inner {
                tx,
                shared,
                closed: watch::Sender::new(false),
                cancel: cancel_tx,
                done: Mutex::new(Some(report_rx)),
            }),
        })
    }

    fn refused(&self) -> Error {
        self.inner
            .shared
            .stopped
            .get()
            .cloned()
            .unwrap_or(Error::Closed)
    }

    async fn enqueue(&self, msg: Msg) -> Result<(), Error> {
        self.offer(msg).await.map_err(|(e, _)| e)
    }

    /// Queues `msg`, or says why not and hands it back.
    async fn offer(&self, msg: Msg) -> Result<(), (Error, Msg)> {
        if let Some(e) = self.inner.shared.stopped.get() {
            return Err((e.clone(), msg));
        }
        if *self.inner.closed.borrow() {
            return Err((Error::Closed, msg));
        }
        self.inner
            .tx
            .send(msg)
            .await
            .map_err(|mpsc::error::SendError(msg)| (self.refused(), msg))
    }

    /// Like [`SdlSender::send_many`], but a refusal hands the records back (to be kept,
    /// spooled or dead-lettered) instead of dropping them.
    pub async fn send_many_or_keep(
        &self,
        records: Vec<Record>,
    ) -> Result<(), (Error, Vec<Record>)> {
        if records.is_empty() {
            return Ok(());
        }
        match self.offer(Msg::Many(records)).await {
            Ok(()) => Ok(()),
            Err((e, Msg::Many(records))) => Err((e, records)),
            Err(_) => unreachable!("the message offered is the message returned"),
        }
    }

    /// Stops accepting events without waiting: later sends fail with [`Error::Closed`],
    /// while what is already queued is still sent. Call [`SdlSender::shutdown`] afterwards
    /// to wait for it and collect what was not delivered; a signal handler calls this,
    /// and the code that owns the pipeline calls `shutdown`.
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Whether [`SdlSender::close`] or [`SdlSender::shutdown`] was called.
    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    /// Resolves once [`SdlSender::close`] or [`SdlSender::shutdown`] is called.
    pub async fn closed(&self) {
        let mut rx = self.inner.closed.subscribe();
        // The sender half lives in `inner`, as long as `self`.
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// Queues an event that belongs to no source (never deduped). Waits while the queue is
    /// full. Errors after shutdown ([`Error::Closed`]) or a stop ([`Error::Stopped`]);
    /// the event is then dropped.
    pub async fn send(&self, event: Event) -> Result<(), Error> {
        self.enqueue(Msg::One(Record::new(event))).await
    }

    /// Queues an event from `source` (a file, a pod), whose constant attributes may be
    /// moved into a `logs` entry. Keep one `Arc<str>` per source and clone it.
    pub async fn send_from(&self, source: Arc<str>, event: Event) -> Result<(), Error> {
        self.enqueue(Msg::One(Record::new(event).from_source(source)))
            .await
    }

    /// Queues a record (an event with its source and acknowledgement token).
    pub async fn send_record(&self, record: Record) -> Result<(), Error> {
        self.enqueue(Msg::One(record)).await
    }

    /// Queues many records as one queue message: cheaper per event than
    /// [`SdlSender::send_record`] for high volumes.
    pub async fn send_many(&self, records: Vec<Record>) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        self.enqueue(Msg::Many(records)).await
    }

    /// Sends everything queued before this call and waits until each of those events is
    /// delivered or reported failed. Errors if the sender stops or is shut down meanwhile.
    pub async fn flush(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Msg::Flush(tx)).await?;
        rx.await.unwrap_or_else(|_| Err(self.refused()))
    }

    /// Stops accepting events, sends what is queued and in batches, and waits up to
    /// `deadline` for it to be delivered. Requests still unconfirmed at the deadline are
    /// abandoned: their events, with those never sent, are in
    /// [`ShutdownReport::unsent`]. Later calls (from clones) return an empty report.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.inner.closed.send_replace(true);
        let taken = self
            .inner
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(mut done) = taken else {
            return ShutdownReport {
                stopped: self.inner.shared.stopped.get().cloned(),
                stats: self.stats(),
                ..ShutdownReport::default()
            };
        };
        let tx = self.inner.tx.clone();
        let graceful = tokio::time::timeout(deadline, async {
            // Fails only if the dispatcher already closed the queue (after a stop).
            let _ = tx.send(Msg::Close).await;
            (&mut done).await
        })
        .await;
        let mut report = match graceful {
            Ok(report) => report.unwrap_or_default(),
            Err(_) => {
                tracing::warn!(
                    ?deadline,
                    "sdl shutdown deadline reached; cancelling requests"
                );
                // Fails only if the dispatcher is already gone.
                let _ = self.inner.cancel.send(true);
                let mut report = done.await.unwrap_or_default();
                report.timed_out = true;
                report
            }
        };
        report.stats = self.stats();
        tracing::info!(
            unsent = report.unsent.len(),
            timed_out = report.timed_out,
            delivered = report.stats.events_delivered,
            "sdl sender shut down"
        );
        report
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.inner.shared.counters.snapshot()
    }

    /// Why the sender stopped, if it did.
    pub fn stopped(&self) -> Option<Error> {
        self.inner.shared.stopped.get().cloned()
    }
}

use logferry_sdl_model::Event;

/// What the dispatcher keeps of an event while it is in a batch.
#[derive(Debug, Clone)]
struct Meta {
    ack: Option<u64>,
    source: Option<Arc<str>>,
    /// The time as given (the builder may raise it to keep times increasing).
    ts: Timestamp,
}

/// A request and its events' metadata, in body order.
type Part = (ReadyRequest, Vec<Meta>);

/// One batch for a session: the request, and its halves after splits.
struct Job {
    batch: u64,
    parts: VecDeque<Part>,
}

enum JobEnd {
    Finished,
    Stopped(Error, Vec<Record>),
    Cancelled(Vec<Record>),
}

struct Done {
    session: usize,
    end: JobEnd,
}

struct Slot {
    builder: RequestBuilder,
    jobs: mpsc::Sender<Job>,
    busy: Option<u64>,
    counters: Arc<SessionCounters>,
}

/// The batch being filled, for an idle session.
struct Current {
    session: usize,
    metas: Vec<Meta>,
    first_at: Instant,
}

struct Dispatcher {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    header: SessionHeader,
    model_config: model::Config,
    log_ids: HashSet<String>,
    timestamps: Timestamps,
    rx: mpsc::Receiver<Msg>,
    slots: Vec<Slot>,
    idle: VecDeque<usize>,
    current: Option<Current>,
    pending: VecDeque<Record>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    cancel_tx: Arc<watch::Sender<bool>>,
    cancel_rx: watch::Receiver<bool>,
    next_batch: u64,
    flushes: Vec<(u64, oneshot::Sender<Result<(), Error>>)>,
    unsent: Vec<Record>,
    max_sessions: usize,
    scale_interval: Duration,
    last_scale: Instant,
    linger: Duration,
    intake_open: bool,
    stopping: bool,
}

/// Puts the metadata kept in arrival order into the order the builder wrote the events:
/// by time, ties in arrival order, when times are made strictly increasing (the model's
/// documented rule), and arrival order otherwise.
fn body_order(mut metas: Vec<Meta>, timestamps: Timestamps) -> Vec<Meta> {
    match timestamps {
        Timestamps::StrictlyIncreasing => metas.sort_by_key(|m| m.ts), // stable
        Timestamps::AsGiven => {}
    }
    metas
}

/// The records of a request: its events with their original times, sources and tokens.
fn records_of(request: ReadyRequest, metas: Vec<Meta>) -> Vec<Record> {
    request
        .into_events()
        .into_iter()
        .zip(metas)
        .map(|(mut event, meta)| {
            event.ts = meta.ts;
            Record {
                event,
                source: meta.source,
                ack: meta.ack,
            }
        })
        .collect()
}

impl Dispatcher {
    fn add_session(&mut self) -> Result<(), Error> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut header = self.header.clone();
        header.session = Session::new(id.clone()).expect("a UUID is a valid session id");
        let builder =
            RequestBuilder::new(header, self.model_config.clone()).map_err(|e| Error::Config {
                reason: format!("session header: {e}"),
            })?;
        let index = self.slots.len();
        let counters = self.shared.counters.add_session(id.clone());
        let (jobs_tx, jobs_rx) = mpsc::channel(1);
        let task = session_task(
            self.shared.clone(),
            index,
            counters.clone(),
            jobs_rx,
            self.done_tx.clone(),
            self.cancel_rx.clone(),
        );
        self.runtime
            .spawn(task.instrument(tracing::info_span!("sdl_session", index, session = %id)));
        self.slots.push(Slot {
            builder,
            jobs: jobs_tx,
            busy: None,
            counters,
        });
        self.idle.push_back(index);
        self.last_scale = Instant::now();
        Ok(())
    }

    async fn run(mut self, report: oneshot::Sender<ShutdownReport>) {
        // `stopping` implies `!intake_open` (stop_all closes the intake).
        loop {
            if !self.stopping {
                self.drain_pending();
                if !self.intake_open {
                    self.hand_off(false);
                    self.drain_pending();
                }
            }
            let busy = self.slots.iter().any(|s| s.busy.is_some());
            let batch_empty = self.current.as_ref().is_none_or(|c| c.metas.is_empty());
            if !self.intake_open && self.pending.is_empty() && batch_empty && !busy {
                break;
            }
            let can_read = self.intake_open && self.current.is_some() && self.pending.is_empty();
            let linger_at = self
                .current
                .as_ref()
                .filter(|c| !c.metas.is_empty())
                .map(|c| c.first_at + self.linger);
            tokio::select! {
                biased;
                () = wait_cancelled(&mut self.cancel_rx), if !self.stopping => self.stop_all(),
                Some(done) = self.done_rx.recv() => self.on_done(done),
                () = tokio::time::sleep_until(linger_at.unwrap_or_else(Instant::now)), if linger_at.is_some() => {
                    self.hand_off(false);
                }
                msg = self.rx.recv(), if can_read => self.on_msg(msg),
            }
        }
        let error = self.shared.stopped.get().cloned().unwrap_or(Error::Closed);
        for (_, tx) in self.flushes.drain(..) {
            let _ = tx.send(Err(error.clone()));
        }
        // Ends the reports stream: every report was sent.
        self.shared
            .reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let _ = report.send(ShutdownReport {
            unsent: std::mem::take(&mut self.unsent),
            stopped: self.shared.stopped.get().cloned(),
            timed_out: false,
            stats: self.shared.counters.snapshot(),
        });
    }

    fn on_msg(&mut self, msg: Option<Msg>) {
        match msg {
            Some(Msg::One(record)) => {
                add(&self.shared.counters.events_in, 1);
                self.pending.push_back(record);
            }
            Some(Msg::Many(records)) => {
                add(&self.shared.counters.events_in, records.len() as u64);
                self.pending.extend(records);
            }
            Some(Msg::Flush(tx)) => {
                self.hand_off(false);
                self.flushes.push((self.next_batch, tx));
                self.check_flushes();
            }
            // Messages already queued are still read; new sends fail.
            Some(Msg::Close) => self.rx.close(),
            None => self.intake_open = false,
        }
        self.drain_pending();
    }

    /// Makes sure a batch is being filled, for an idle session. False if none is idle.
    fn ensure_current(&mut self) -> bool {
        if self.current.is_none() {
            let Some(session) = self.idle.pop_front() else {
                return false;
            };
            self.current = Some(Current {
                session,
                metas: Vec::new(),
                first_at: Instant::now(),
            });
        }
        true
    }

    fn drain_pending(&mut self) {
        if self.stopping {
            return;
        }
        while let Some(record) = self.pending.pop_front() {
            if !self.ensure_current() {
                self.pending.push_front(record);
                break;
            }
            self.push(record);
        }
        // Keep a batch open for what arrives next.
        self.ensure_current();
    }

    fn push(&mut self, record: Record) {
        let Record { event, source, ack } = record;
        if let Some(id) = &event.log
            && !self.log_ids.contains(id)
        {
            let error = Error::InvalidEvent {
                reason: format!("it refers to log id `{id}`, which is not among the declared logs"),
            };
            self.fail(None, error, vec![Record { event, source, ack }]);
            return;
        }
        let meta = Meta {
            ack,
            source,
            ts: event.ts,
        };
        let cur = self
            .current
            .as_mut()
            .expect("push is called with a batch open");
        let slot = &mut self.slots[cur.session];
        let pushed = match &meta.source {
            Some(s) => slot.builder.push_from(s, event),
            None => slot.builder.push(event),
        };
        match pushed {
            Ok(None) => {
                if cur.metas.is_empty() {
                    cur.first_at = Instant::now();
                }
                cur.metas.push(meta);
                // Close the batch when an average event would no longer fit, so an event
                // rarely has to move to another batch.
                let b = &slot.builder;
                let average = b.pending_len() / b.pending_events().max(1);
                if b.pending_len() + 2 * average > b.limit() {
                    self.hand_off(true);
                }
            }
            Ok(Some(ready)) => {
                let session = cur.session;
                let metas = std::mem::take(&mut cur.metas);
                // The event that did not fit started the builder's next request: take it
                // back, so it goes to whichever session is idle next.
                let left = slot
                    .builder
                    .finish()
                    .expect("the event that did not fit starts the next request");
                self.current = None;
                self.dispatch(session, ready, metas, true);
                // Cut to fit there, it is not cut again: count it now or never.
                add(
                    &self.shared.counters.events_truncated,
                    left.truncated() as u64,
                );
                if let Some(mut event) = left.into_events().pop() {
                    event.ts = meta.ts;
                    self.pending.push_front(Record {
                        event,
                        source: meta.source,
                        ack: meta.ack,
                    });
                }
            }
            Err(model::Error::EventTooLarge { size, limit, event }) => {
                let record = Record {
                    event: *event,
                    source: meta.source,
                    ack: meta.ack,
                };
                self.fail(None, Error::EventTooLarge { size, limit }, vec![record]);
            }
            Err(e) => {
                // The model documents only the two errors above; the event is gone.
                tracing::error!(error = %e, "sdl request builder refused an event");
                add(&self.shared.counters.events_failed, 1);
            }
        }
    }

    fn fail(&self, session: Option<usize>, error: Error, records: Vec<Record>) {
        fail(&self.shared, session, error, records);
    }

    /// Ends the batch being filled, if it has events, and hands it to its session.
    fn hand_off(&mut self, full: bool) {
        let Some(cur) = self.current.take_if(|c| !c.metas.is_empty()) else {
            return;
        };
        let ready = self.slots[cur.session]
            .builder
            .finish()
            .expect("a batch with events has a pending request");
        self.dispatch(cur.session, ready, cur.metas, full);
    }

    fn dispatch(&mut self, session: usize, ready: ReadyRequest, metas: Vec<Meta>, full: bool) {
        debug_assert_eq!(ready.event_count(), metas.len());
        let metas = body_order(metas, self.timestamps);
        debug_assert!(
            ready.events().iter().zip(&metas).all(|(e, m)| e.ts >= m.ts),
            "metadata follows the builder's body order"
        );
        add(
            &self.shared.counters.events_truncated,
            ready.truncated() as u64,
        );
        let batch = self.next_batch;
        self.next_batch += 1;
        let slot = &mut self.slots[session];
        slot.busy = Some(batch);
        slot.counters.busy.store(true, Ordering::Relaxed);
        let job = Job {
            batch,
            parts: VecDeque::from([(ready, metas)]),
        };
        if let Err(e) = slot.jobs.try_send(job) {
            // The session task is gone (it panicked): keep the events for the report.
            tracing::error!(session, "sdl session task is gone");
            slot.busy = None;
            for (request, metas) in e.into_inner().parts {
                self.unsent.extend(records_of(request, metas));
            }
        }
        if full && self.idle.is_empty() {
            self.maybe_scale();
        }
    }

    fn maybe_scale(&mut self) {
        if self.slots.len() >= self.max_sessions || self.last_scale.elapsed() < self.scale_interval
        {
            return;
        }
        let busy = self.slots.len();
        match self.add_session() {
            Ok(()) => tracing::info!(
                sessions = self.slots.len(),
                "sdl: every session busy with a full batch ready; added a session"
            ),
            Err(e) => tracing::warn!(error = %e, busy, "sdl: cannot add a session"),
        }
    }

    fn on_done(&mut self, done: Done) {
        let slot = &mut self.slots[done.session];
        slot.busy = None;
        slot.counters.busy.store(false, Ordering::Relaxed);
        match done.end {
            JobEnd::Finished => {}
            JobEnd::Stopped(error, records) => {
                self.unsent.extend(records);
                if self.shared.stopped.set(error.clone()).is_ok() {
                    tracing::error!(%error, "sdl sender stopped");
                    self.shared.report(Report::Stopped(error));
                }
                self.stop_all();
            }
            JobEnd::Cancelled(records) => self.unsent.extend(records),
        }
        if !self.stopping {
            self.idle.push_back(done.session);
        }
        self.check_flushes();
    }

    /// Stops everything: no more reading, every queued or batched event to `unsent`,
    /// sessions cancelled.
    fn stop_all(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        // Fails only when no session task is left.
        let _ = self.cancel_tx.send(true);
        self.rx.close();
        let error = self.shared.stopped.get().cloned().unwrap_or(Error::Closed);
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::One(r) => self.unsent.push(r),
                Msg::Many(rs) => self.unsent.extend(rs),
                Msg::Flush(tx) => {
                    let _ = tx.send(Err(error.clone()));
                }
                Msg::Close => {}
            }
        }
        self.intake_open = false;
        self.unsent.extend(self.pending.drain(..));
        if let Some(cur) = self.current.take()
            && let Some(ready) = self.slots[cur.session].builder.finish()
        {
            let metas = body_order(cur.metas, self.timestamps);
            self.unsent.extend(records_of(ready, metas));
        }
        for (_, tx) in self.flushes.drain(..) {
            let _ = tx.send(Err(error.clone()));
        }
    }

    /// Answers the flushes whose batches have all settled.
    fn check_flushes(&mut self) {
        let oldest_busy = self.slots.iter().filter_map(|s| s.busy).min();
        let (settled, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(threshold, _)| oldest_busy.is_none_or(|b| b >= *threshold));
        self.flushes = waiting;
        for (_, tx) in settled {
            // The caller may have stopped waiting.
            let _ = tx.send(Ok(()));
        }
    }
}

/// Reports failed records.
fn fail(shared: &Shared, session: Option<usize>, error: Error, records: Vec<Record>) {
    tracing::warn!(%error, events = records.len(), "sdl events failed");
    add(&shared.counters.events_failed, records.len() as u64);
    shared.report(Report::Failed(Failure {
        session,
        error,
        records,
    }));
}

/// How one request (or half) ended.
enum Sent {
    Delivered {
        attempts: u32,
        wire_bytes: usize,
        response: Option<AddEventsResponse>,
    },
    Split,
    Failed(Error),
    Stop(Error),
}

async fn session_task(
    shared: Arc<Shared>,
    index: usize,
    counters: Arc<SessionCounters>,
    mut jobs: mpsc::Receiver<Job>,
    done: mpsc::UnboundedSender<Done>,
    mut cancel: watch::Receiver<bool>,
) {
    let pacer = Mutex::new(shared.pacer());
    while let Some(job) = jobs.recv().await {
        let batch = job.batch;
        let mut parts = job.parts;
        let outcome = if *cancel.borrow() {
            None
        } else {
            tokio::select! {
                biased;
                () = wait_cancelled(&mut cancel) => None,
                end = run_job(&shared, index, &counters, &pacer, batch, &mut parts) => Some(end),
            }
        };
        let mut remaining = || {
            parts
                .drain(..)
                .flat_map(|(request, metas)| records_of(request, metas))
                .collect::<Vec<_>>()
        };
        let end = match outcome {
            Some(Ok(())) => JobEnd::Finished,
            Some(Err(error)) => JobEnd::Stopped(error, remaining()),
            None => JobEnd::Cancelled(remaining()),
        };
        if done
            .send(Done {
                session: index,
                end,
            })
            .is_err()
        {
            break;
        }
    }
}

/// Sends a job's parts in order, splitting on "too large". `Err` stops the sender.
async fn run_job(
    shared: &Shared,
    index: usize,
    counters: &SessionCounters,
    pacer: &Mutex<Pacer>,
    batch: u64,
    parts: &mut VecDeque<Part>,
) -> Result<(), Error> {
    while let Some((request, _)) = parts.front() {
        let sent = send_request(shared, index, counters, pacer, request).await;
        let (request, metas) = parts.pop_front().expect("the front part exists");
        match sent {
            Sent::Delivered {
                attempts,
                wire_bytes,
                response,
            } => delivered(
                shared, index, counters, batch, &request, &metas, attempts, wire_bytes, response,
            ),
            Sent::Split => {
                add(&shared.counters.splits, 1);
                match request.split() {
                    Some((first, second)) => {
                        tracing::debug!(
                            events = request.event_count(),
                            bytes = request.body().len(),
                            "sdl request too large for the server; split in two"
                        );
                        let mut metas = metas;
                        let rest = metas.split_off(first.event_count());
                        parts.push_front((second, rest));
                        parts.push_front((first, metas));
                    }
                    None => {
                        let error = Error::EventTooLarge {
                            size: request.body().len(),
                            limit: shared.max_body,
                        };
                        fail(shared, Some(index), error, records_of(request, metas));
                    }
                }
            }
            Sent::Failed(error) => fail(shared, Some(index), error, records_of(request, metas)),
            Sent::Stop(error) => {
                parts.push_front((request, metas));
                return Err(error);
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn delivered(
    shared: &Shared,
    index: usize,
    counters: &SessionCounters,
    batch: u64,
    request: &ReadyRequest,
    metas: &[Meta],
    attempts: u32,
    wire_bytes: usize,
    response: Option<AddEventsResponse>,
) {
    let c = &shared.counters;
    let events = request.event_count() as u64;
    let raw = request.body().len() as u64;
    let charged = response.as_ref().and_then(|r| r.bytes_charged);
    let estimate = request.bytes_charged();
    add(&c.events_delivered, events);
    add(&c.requests, 1);
    add(&c.bytes_raw, raw);
    add(&c.bytes_wire, wire_bytes as u64);
    add(&c.bytes_inline, request.inline_len() as u64);
    add(&c.bytes_charged, charged.unwrap_or(0));
    add(&c.bytes_charged_estimate, estimate);
    add(&counters.requests, 1);
    add(&counters.events, events);
    add(&counters.bytes_raw, raw);
    add(&counters.bytes_charged, charged.unwrap_or(0));
    let warning = response.and_then(|r| r.warning().map(str::to_owned));
    if let Some(w) = &warning {
        tracing::warn!(warning = %w, "sdl accepted a request with a warning");
    }
    tracing::trace!(
        batch,
        events,
        raw,
        wire_bytes,
        attempts,
        "sdl request delivered"
    );
    shared.report(Report::Delivered(Delivery {
        session: index,
        batch,
        events: request.event_count(),
        acks: metas.iter().filter_map(|m| m.ack).collect(),
        attempts,
        body_bytes: request.body().len(),
        wire_bytes,
        bytes_charged: charged,
        bytes_charged_estimate: estimate,
        warning,
    }));
}

/// Resolves once `cancel` is true (never, if its sender is gone without setting it).
async fn wait_cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Waits until the pacer lets `bytes` go, and takes them.
async fn pace(pacer: &Mutex<Pacer>, bytes: u64) {
    loop {
        let now = Instant::now();
        let wait = {
            let mut p = pacer.lock().unwrap_or_else(|e| e.into_inner());
            let wait = p.delay(bytes, now.into_std());
            if wait.is_zero() {
                p.take(bytes, now.into_std());
            }
            wait
        };
        if wait.is_zero() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Whether a fatal answer means the key itself is refused (so no request can succeed).
fn key_refused(reason: &FatalReason) -> bool {
    matches!(reason.status().as_u16(), 401 | 403)
        || reason
            .server_status()
            .is_some_and(|s| status_matches(s, "error/client/noPermission"))
}

/// What one `addEvents` or `uploadLogs` exchange means for the retry policy: the seed's
/// table applied to the HTTP status and the body's `status` and `message` (a 200 can
/// carry `error/server/backoff`), with the parsed body kept for the caller; or the
/// transport failure's verdict when no response came.
pub(crate) fn exchange_outcome(
    result: Result<http::Response<Bytes>, logferry_http::Error>,
) -> Outcome<Option<AddEventsResponse>> {
    match result {
        Ok(response) => {
            let parsed = parse_response(response.body()).ok();
            let verdict = classify::sdl(
                response.status(),
                response.headers(),
                parsed.as_ref().map(|p| p.status_text.as_str()),
                parsed.as_ref().and_then(|p| p.message.as_deref()),
            );
            Outcome::new(verdict, parsed)
        }
        Err(e) => Outcome::new(classify::transport(&e.transport_failure()), None),
    }
}

/// Compresses a request once and sends it under the retry policy.
async fn send_request(
    shared: &Shared,
    index: usize,
    counters: &SessionCounters,
    pacer: &Mutex<Pacer>,
    request: &ReadyRequest,
) -> Sent {
    let raw = request.body().clone();
    let raw_len = raw.len() as u64;
    let (body, gzip) = match shared.compression {
        Some(level) => {
            let (_, gz) = gzip_blocking(raw, level).await;
            (Bytes::from(gz), true)
        }
        None => (raw, false),
    };
    let wire_bytes = body.len();
    let report = shared
        .retrier
        .run(
            |_attempt| {
                let body = body.clone();
                async move {
                    pace(pacer, raw_len).await;
                    add(&shared.counters.attempts, 1);
                    add(&counters.attempts, 1);
                    let mut builder = shared
                        .client
                        .request(http::Method::POST, &shared.url)
                        .header(AUTHORIZATION, shared.auth.clone())
                        .header(CONTENT_TYPE, "application/json");
                    if gzip {
                        builder = builder.header(CONTENT_ENCODING, "gzip");
                    }
                    let http_request = builder
                        .body(full(body))
                        .expect("a checked URL and static headers make a valid request");
                    exchange_outcome(
                        shared
                            .client
                            .send_with_timeout(http_request, shared.request_timeout)
                            .await,
                    )
                }
            },
            |info| {
                if let Some(delay) = info.next_delay {
                    add(&shared.counters.retries, 1);
                    add(&counters.retries, 1);
                    tracing::debug!(
                        session = index,
                        attempt = info.attempt,
                        verdict = %info.verdict,
                        ?delay,
                        "sdl request will be retried"
                    );
                }
            },
        )
        .await;
    match report.finish {
        Finish::Delivered => Sent::Delivered {
            attempts: report.attempts,
            wire_bytes,
            response: report.value,
        },
        Finish::Split => Sent::Split,
        Finish::GaveUp(GaveUp::Fatal(reason)) if key_refused(&reason) => {
            Sent::Stop(Error::Stopped { reason })
        }
        Finish::GaveUp(GaveUp::Fatal(reason)) => Sent::Failed(Error::Refused { reason }),
        Finish::GaveUp(_) | Finish::Reauthenticate => Sent::Failed(Error::GaveUp {
            attempts: report.attempts,
            last: report.last_verdict.to_string(),
        }),
    }
}
