//! The public handle, [`SdlSender`]: starts the driver, queues records on the bounded
//! intake channel, and asks for flushes and shutdown.

use super::dispatcher::Dispatcher;
use super::driver::Driver;
use super::session::Exchange;
use crate::config::endpoint;
use crate::report::{Record, Report, Reports, ShutdownReport};
use crate::stats::Counters;
use crate::{Error, SdlConfig, Stats, host};
use logferry_http::{Client, IngestUrl, authorization};
use logferry_retry::FastRng;
use logferry_sdl_model::{Attrs, Event, Session, SessionHeader, SessionInfo};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;

/// What travels on the intake queue.
pub(super) enum Msg {
    One(Record),
    Many(Vec<Record>),
    Flush(oneshot::Sender<Result<(), Error>>),
    Close,
}

/// What the handle and the driver share.
pub(super) struct Shared {
    url: IngestUrl,
    counters: Arc<Counters>,
    /// Set by the driver when the sender stops.
    pub(super) stopped: OnceLock<Error>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    /// Set once no new event is accepted (by [`SdlSender::close`] or shutdown).
    closed: watch::Sender<bool>,
    /// The shutdown deadline, for the driver.
    deadline: watch::Sender<Option<Instant>>,
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

/// The session header every session starts from (its `session` replaced per session):
/// `sessionInfo` with `serverHost` (the hostname unless given), `threads` and `logs`.
fn session_header(config: &SdlConfig) -> SessionHeader {
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
    header
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
        let url = endpoint(&config.url, "/api/addEvents")?;
        let auth = authorization("Bearer", &config.key).map_err(|_| Error::Config {
            reason: "key: not a valid HTTP header value".to_owned(),
        })?;
        let counters = Arc::new(Counters::default());
        let machine = Dispatcher::new(
            &config,
            session_header(&config),
            counters.clone(),
            Instant::now().into_std(),
            Box::new(|| uuid::Uuid::new_v4().to_string()),
            FastRng::new(),
        )?;
        let exchange = Arc::new(Exchange {
            request_timeout: config
                .request_timeout
                .unwrap_or(client.config().request_timeout),
            client: client.counted(counters.http.clone()),
            url: url.clone(),
            auth,
        });
        let shared = Arc::new(Shared {
            url,
            counters,
            stopped: OnceLock::new(),
        });
        let (min, max) = config.sessions.bounds();
        tracing::info!(
            url = %shared.url,
            sessions = min,
            max_sessions = max,
            pacing = ?config.pacing,
            max_body_bytes = config.max_body_bytes,
            "sdl sender started"
        );
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let (deadline_tx, deadline_rx) = watch::channel(None);
        let (report_tx, report_rx) = oneshot::channel();
        let driver = Driver {
            machine,
            exchange,
            shared: shared.clone(),
            rx,
            deadline: deadline_rx,
            reports,
        };
        runtime.spawn(
            driver
                .run(report_tx)
                .instrument(tracing::info_span!("sdl_dispatcher")),
        );
        Ok(SdlSender {
            inner: Arc::new(Inner {
                tx,
                shared,
                closed: watch::Sender::new(false),
                deadline: deadline_tx,
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
        let Some(done) = taken else {
            return ShutdownReport {
                stopped: self.inner.shared.stopped.get().cloned(),
                stats: self.stats(),
                ..ShutdownReport::default()
            };
        };
        // No deadline if it is too far to name: the driver then waits for everything.
        self.inner
            .deadline
            .send_replace(Instant::now().checked_add(deadline));
        // Waits while the queue is full; at the deadline the driver closes the queue,
        // which ends the wait. Fails only if the queue is already closed.
        let _ = self.inner.tx.send(Msg::Close).await;
        let mut report = done.await.unwrap_or_default();
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
