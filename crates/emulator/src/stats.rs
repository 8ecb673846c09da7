//! What the emulator saw: counts per endpoint and status, bytes, contract violations, and
//! the per-session behaviour of SDL clients.

use crate::Endpoint;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many examples are kept per violation kind.
pub const EXAMPLES_PER_VIOLATION: usize = 5;

/// A snapshot of everything counted since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Per endpoint.
    pub endpoints: BTreeMap<Endpoint, EndpointStats>,
    /// What the seeds only recommend, or say may be ignored, counted rather than refused.
    pub violations: BTreeMap<ViolationKind, ViolationStats>,
    /// Per SDL session id.
    pub sdl_sessions: BTreeMap<String, SessionStats>,
    /// Requests received on all endpoints (the admin API excluded).
    pub requests: u64,
    /// Most requests in progress at once, all endpoints together.
    pub max_concurrent_requests: u64,
    /// Records stored (all endpoints), including those since dropped from memory.
    pub records_received: u64,
    /// Records dropped from memory because of the in-memory cap (still in the records
    /// file when one is configured).
    pub records_dropped_from_memory: u64,
}

impl Stats {
    /// Requests on `endpoint` answered with `status`.
    pub fn status_count(&self, endpoint: Endpoint, status: u16) -> u64 {
        self.endpoints
            .get(&endpoint)
            .and_then(|e| e.by_status.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Occurrences of a violation kind.
    pub fn violation_count(&self, kind: ViolationKind) -> u64 {
        self.violations.get(&kind).map_or(0, |v| v.count)
    }

    /// The most requests ever in flight at once on any one SDL session (1 for a client
    /// that keeps the seed's rule, "Only one request can be in-flight at a time for a
    /// session").
    pub fn max_concurrent_per_session(&self) -> u64 {
        self.sdl_sessions
            .values()
            .map(|s| s.max_concurrent)
            .max()
            .unwrap_or(0)
    }

    /// The highest decoded-byte rate of any SDL session over any 1 s window, counting
    /// accepted requests.
    pub fn peak_session_rate(&self) -> u64 {
        self.sdl_sessions
            .values()
            .map(|s| s.peak_rate)
            .max()
            .unwrap_or(0)
    }
}

/// Counts for one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Requests received.
    pub requests: u64,
    /// Replies by HTTP status (resets and client aborts are not replies).
    pub by_status: BTreeMap<u16, u64>,
    /// SDL replies by `status` string (`success`, `error/server/backoff`, ...).
    pub sdl_status: BTreeMap<String, u64>,
    /// Request body bytes as received (compressed when compressed).
    pub wire_bytes: u64,
    /// Request body bytes after decoding.
    pub decoded_bytes: u64,
    /// Records stored.
    pub records: u64,
    /// Requests failed or reset by fault injection.
    pub faults_injected: u64,
    /// Connections reset by fault injection.
    pub resets: u64,
    /// Requests whose client went away before the body was complete.
    pub client_aborts: u64,
}

/// What an SDL session did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionStats {
    /// Requests naming this session (authenticated and parseable).
    pub requests: u64,
    /// Of which accepted.
    pub accepted: u64,
    /// Events stored.
    pub events: u64,
    /// Most requests of this session in flight at once (overlapping in time).
    pub max_concurrent: u64,
    /// Decoded bytes of accepted requests.
    pub decoded_bytes: u64,
    /// Highest decoded bytes accepted in any 1 s window.
    pub peak_rate: u64,
    /// Sum of `bytesCharged` replied.
    pub bytes_charged: u64,
}

/// A kind of contract violation that is counted, not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ViolationKind {
    /// SDL: "sessionInfo must be the same for all requests with the same session value".
    SessionInfoChanged,
    /// SDL: an event's `ts` not above the previous event's in the session ("you can ensure
    /// chronological order by incrementing the value by 1 for each event in the session").
    TsNotIncreasing,
    /// SDL: an event without `ts`.
    MissingTs,
    /// SDL: a `thread` id never declared in the session's `threads` ("one for each unique
    /// thread ID in the events property").
    UndeclaredThread,
    /// SDL: a `ts` whose magnitude looks like seconds, milliseconds or microseconds rather
    /// than "nanoseconds since 1/1/1970".
    TsNotNanoseconds,
    /// HTTP Ingest: an `application/json` body holding one object spread over several
    /// lines ("Pretty-printed JSON spanning multiple lines is not recommended").
    PrettyPrintedJson,
    /// File Upload: a file that is not UTF-8 (stored with replacement characters).
    NonUtf8Upload,
    /// SDL: an HTTP request that was refused with 429 because another request of the same
    /// session was in flight ("Only one request can be in-flight at a time for a session").
    ConcurrentSessionRequest,
    /// SDL: a request refused with 429 because its session exceeded the byte rate.
    SessionRateExceeded,
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

/// Occurrences of one violation kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ViolationStats {
    /// How many times.
    pub count: u64,
    /// The first few, described.
    pub examples: Vec<String>,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Collector {
    inner: Mutex<Stats>,
    in_flight: AtomicU64,
}

/// What one finished request adds to the stats.
#[derive(Debug, Default)]
pub(crate) struct RequestOutcome {
    pub(crate) status: Option<u16>,
    pub(crate) sdl_status: Option<String>,
    pub(crate) wire_bytes: u64,
    pub(crate) decoded_bytes: u64,
    pub(crate) records: u64,
    pub(crate) faulted: bool,
    pub(crate) reset: bool,
    pub(crate) client_abort: bool,
}

impl Collector {
    fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a request started; returns the number now in flight.
    pub(crate) fn started(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let mut s = self.lock();
        s.requests += 1;
        s.max_concurrent_requests = s.max_concurrent_requests.max(now);
    }

    pub(crate) fn finished(&self, endpoint: Endpoint, outcome: RequestOutcome) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut s = self.lock();
        s.records_received += outcome.records;
        let e = s.endpoints.entry(endpoint).or_default();
        e.requests += 1;
        if let Some(status) = outcome.status {
            *e.by_status.entry(status).or_default() += 1;
        }
        if let Some(sdl) = outcome.sdl_status {
            *e.sdl_status.entry(sdl).or_default() += 1;
        }
        e.wire_bytes += outcome.wire_bytes;
        e.decoded_bytes += outcome.decoded_bytes;
        e.records += outcome.records;
        e.faults_injected += u64::from(outcome.faulted);
        e.resets += u64::from(outcome.reset);
        e.client_aborts += u64::from(outcome.client_abort);
    }

    pub(crate) fn violation(&self, kind: ViolationKind, example: impl FnOnce() -> String) {
        let mut s = self.lock();
        let v = s.violations.entry(kind).or_default();
        v.count += 1;
        if v.examples.len() < EXAMPLES_PER_VIOLATION {
            v.examples.push(example());
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.lock().clone()
    }
}
