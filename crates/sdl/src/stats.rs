//! Counters of a sender, kept in atomics and read as a [`Stats`] snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

/// A snapshot of a sender's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events taken from the intake queue.
    pub events_in: u64,
    /// Events in requests the server confirmed.
    pub events_delivered: u64,
    /// Events reported as failed (refused request, too large, gave up).
    pub events_failed: u64,
    /// Events whose `message` was truncated to fit a request.
    pub events_truncated: u64,
    /// Events written later than their own time by more than a tie-break, because no
    /// session of their own was left and they were older than their session's last event
    /// (see `SdlSender`'s routing rule); each keeps its own time in the attribute
    /// [`ORIGINAL_TS`](logferry_sdl_model::ORIGINAL_TS). Counted when its request is cut.
    pub events_ts_moved: u64,
    /// Requests confirmed (halves of a split request count one each).
    pub requests: u64,
    /// HTTP attempts, first tries and retries.
    pub attempts: u64,
    /// Retries (attempts after a retry verdict).
    pub retries: u64,
    /// Requests split in two after the server found them too large.
    pub splits: u64,
    /// Uncompressed body bytes of confirmed requests.
    pub bytes_raw: u64,
    /// Body bytes on the wire (compressed when compressed) of confirmed requests.
    pub bytes_wire: u64,
    /// What the body bytes would have been without the `logs` dedupe.
    pub bytes_inline: u64,
    /// The sum of the server's `bytesCharged` over confirmed requests.
    pub bytes_charged: u64,
    /// The sum of the local estimate (`ReadyRequest::bytes_charged`) over the same
    /// requests, to compare with `bytes_charged`.
    pub bytes_charged_estimate: u64,
    /// Per session, in creation order.
    pub sessions: Vec<SessionStats>,
    /// `addEvents` answers by HTTP status code (attempts, retries included).
    pub requests_by_status: std::collections::BTreeMap<u16, u64>,
    /// `addEvents` attempts that got no answer (connection refused or reset, timeout,
    /// TLS).
    pub request_failures: u64,
    /// `addEvents` requests on the wire now.
    pub in_flight: u64,
}

/// What one session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// The session id (a UUID).
    pub session: String,
    /// Requests confirmed.
    pub requests: u64,
    /// Events confirmed.
    pub events: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Retries.
    pub retries: u64,
    /// Uncompressed bytes confirmed.
    pub bytes_raw: u64,
    /// The server's `bytesCharged`, summed.
    pub bytes_charged: u64,
    /// Whether a request of this session is in flight or waiting to be retried now.
    pub busy: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events_in: AtomicU64,
    pub(crate) events_delivered: AtomicU64,
    pub(crate) events_failed: AtomicU64,
    pub(crate) events_truncated: AtomicU64,
    pub(crate) events_ts_moved: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) splits: AtomicU64,
    pub(crate) bytes_raw: AtomicU64,
    pub(crate) bytes_wire: AtomicU64,
    pub(crate) bytes_inline: AtomicU64,
    pub(crate) bytes_charged: AtomicU64,
    pub(crate) bytes_charged_estimate: AtomicU64,
    pub(crate) sessions: RwLock<Vec<Arc<SessionCounters>>>,
    /// What the sender's counted client saw.
    pub(crate) http: Arc<logferry_http::RequestCounts>,
}

#[derive(Debug, Default)]
pub(crate) struct SessionCounters {
    pub(crate) session: String,
    pub(crate) requests: AtomicU64,
    pub(crate) events: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) bytes_raw: AtomicU64,
    pub(crate) bytes_charged: AtomicU64,
    pub(crate) busy: AtomicBool,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

impl Counters {
    pub(crate) fn add_session(&self, session: String) -> Arc<SessionCounters> {
        let s = Arc::new(SessionCounters {
            session,
            ..SessionCounters::default()
        });
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(s.clone());
        s
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let sessions = self
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| SessionStats {
                session: s.session.clone(),
                requests: g(&s.requests),
                events: g(&s.events),
                attempts: g(&s.attempts),
                retries: g(&s.retries),
                bytes_raw: g(&s.bytes_raw),
                bytes_charged: g(&s.bytes_charged),
                busy: s.busy.load(Relaxed),
            })
            .collect();
        Stats {
            events_in: g(&self.events_in),
            events_delivered: g(&self.events_delivered),
            events_failed: g(&self.events_failed),
            events_truncated: g(&self.events_truncated),
            events_ts_moved: g(&self.events_ts_moved),
            requests: g(&self.requests),
            attempts: g(&self.attempts),
            retries: g(&self.retries),
            splits: g(&self.splits),
            bytes_raw: g(&self.bytes_raw),
            bytes_wire: g(&self.bytes_wire),
            bytes_inline: g(&self.bytes_inline),
            bytes_charged: g(&self.bytes_charged),
            bytes_charged_estimate: g(&self.bytes_charged_estimate),
            sessions,
            requests_by_status: self.http.by_status(),
            request_failures: self.http.failures(),
            in_flight: self.http.in_flight(),
        }
    }
}
