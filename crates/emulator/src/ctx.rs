//! The request context and what every handler uses: the services all APIs share
//! ([`Common`]: settings, faults, record store, counters), reading and draining bodies
//! (counting bytes, applying a slow-body fault), and the fault point with its replies. It
//! knows no API: each API module builds on it.

use crate::faults::{Action, FaultState, Plan};
use crate::reply::{self, Resp};
use crate::stats::{Collector, RequestOutcome};
use crate::store::Store;
use crate::{Config, Endpoint, FaultStatus, LimitOverrides};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What every API shares: the settings, where clients reach the server, the faults in
/// force, the received records and the counters.
#[derive(Debug)]
pub(crate) struct Common {
    pub(crate) config: Config,
    /// `https://127.0.0.1:PORT` (or `http://`).
    pub(crate) base_url: String,
    faults: Mutex<FaultState>,
    pub(crate) store: Store,
    pub(crate) stats: Collector,
}

impl Common {
    pub(crate) fn new(config: Config, base_url: String, store: Store) -> Common {
        Common {
            faults: Mutex::new(FaultState::new(config.faults.clone(), config.seed)),
            config,
            base_url,
            store,
            stats: Collector::default(),
        }
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limits changed at run time (`None` keeps the configured value).
    pub(crate) fn limits(&self) -> LimitOverrides {
        self.faults().faults().limits.clone()
    }
}

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Abort {
    #[error("connection reset by fault injection")]
    Reset,
    #[error("client went away before the request body was complete")]
    ClientGone,
}

pub(crate) type Handled = Result<Resp, Abort>;

/// A request body, read up to a limit.
pub(crate) enum Body {
    Complete(Bytes),
    /// Past the limit: the rest was read and discarded.
    TooLarge,
}

/// A fault to apply now.
pub(crate) enum Injected {
    Reset,
    Fail(FaultStatus),
}

/// The per-request context: the services every API shares, what the request is, the
/// faults planned for it, and what it adds to the stats.
pub(crate) struct Ctx<'a> {
    pub(crate) common: &'a Common,
    pub(crate) endpoint: Endpoint,
    pub(crate) id: u64,
    pub(crate) arrival: Instant,
    plan: Plan,
    pub(crate) outcome: RequestOutcome,
}

impl<'a> Ctx<'a> {
    /// A context for request `id` to `endpoint`, arrived now, with the faults planned for
    /// it.
    pub(crate) fn new(common: &'a Common, endpoint: Endpoint, id: u64, plan: Plan) -> Self {
        Ctx {
            common,
            endpoint,
            id,
            arrival: Instant::now(),
            plan,
            outcome: RequestOutcome::default(),
        }
    }

    /// Reads the whole body, keeping at most `limit` bytes; past that, reads and discards
    /// the rest so the client can see the 413 (a server that stops reading leaves many
    /// clients stuck writing).
    pub(crate) async fn read_body(
        &mut self,
        mut body: Incoming,
        limit: u64,
    ) -> Result<Body, Abort> {
        let started = Instant::now();
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        let mut total: u64 = 0;
        let mut over = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Abort::ClientGone)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len() as u64;
            self.outcome.wire_bytes += data.len() as u64;
            if total > limit {
                over = true;
                first = None;
                rest = None;
            } else if !over {
                match (&mut first, &mut rest) {
                    (None, None) => first = Some(data),
                    (Some(f), None) => {
                        let mut buf = BytesMut::with_capacity(f.len() + data.len() * 2);
                        buf.extend_from_slice(f);
                        buf.extend_from_slice(&data);
                        first = None;
                        rest = Some(buf);
                    }
                    (_, Some(buf)) => buf.extend_from_slice(&data),
                }
            }
            if let Some(rate) = self.plan.slow_body {
                let due = started + Duration::from_secs_f64(total as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
        }
        if over {
            return Ok(Body::TooLarge);
        }
        Ok(Body::Complete(match (first, rest) {
            (_, Some(buf)) => buf.freeze(),
            (Some(f), None) => f,
            (None, None) => Bytes::new(),
        }))
    }

    /// Reads and discards the body (count-only mode, and replies that do not need it).
    pub(crate) async fn drain(&mut self, mut body: Incoming) -> Result<(), Abort> {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Abort::ClientGone)?;
            if let Ok(data) = frame.into_data() {
                self.outcome.wire_bytes += data.len() as u64;
            }
        }
        Ok(())
    }

    /// The fault point: waits the injected latency, then says whether to reset or fail.
    pub(crate) async fn fault(&mut self) -> Option<Injected> {
        if !self.plan.latency.is_zero() {
            tokio::time::sleep(self.plan.latency).await;
        }
        let injected = match self.plan.action? {
            Action::Reset => Injected::Reset,
            Action::Fail(status) => Injected::Fail(status),
        };
        self.outcome.faulted = true;
        Some(injected)
    }

    /// Finishes an injected fault: a reset, or `reply(status)` plus `Retry-After` when set.
    pub(crate) fn injected(
        &mut self,
        injected: Injected,
        reply: impl FnOnce(FaultStatus) -> Resp,
    ) -> Handled {
        match injected {
            Injected::Reset => Err(Abort::Reset),
            Injected::Fail(status) => {
                let mut resp = reply(status);
                if let Some(secs) = self.plan.retry_after
                    && matches!(status.http_code(), 429 | 503)
                {
                    reply::set_header(&mut resp, http::header::RETRY_AFTER, &secs.to_string());
                }
                Ok(resp)
            }
        }
    }
}

/// The standard injected-fault reply of the Taegis JSON endpoints.
pub(crate) fn taegis_fault(status: FaultStatus) -> Resp {
    reply::taegis_error(status.http_code(), "injected fault")
}
