//! Requests counted by how they ended: answered (by HTTP status) or not (a transport
//! failure), and how many are on the wire now. A [`Client::counted`](crate::Client::counted)
//! client keeps them for every request it sends, so each backend's statistics can say
//! what `/metrics` shows per status code.

use http::StatusCode;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counts of a sender's requests. Shared (in an `Arc`) between the client that counts
/// and the statistics that read.
#[derive(Debug, Default)]
pub struct RequestCounts {
    /// Answers by status: a lock per answer costs nothing beside a request.
    by_status: Mutex<BTreeMap<u16, u64>>,
    failures: AtomicU64,
    in_flight: AtomicU64,
}

/// A request on the wire, counted in [`RequestCounts::in_flight`] until dropped (so a
/// request abandoned mid-way, its future dropped, stops counting too).
#[derive(Debug)]
pub struct OnTheWire<'a>(&'a RequestCounts);

impl Drop for OnTheWire<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl RequestCounts {
    /// Marks a request as on the wire until the guard drops.
    pub fn start(&self) -> OnTheWire<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        OnTheWire(self)
    }

    /// Counts an answer.
    pub fn answered(&self, status: StatusCode) {
        *self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status.as_u16())
            .or_default() += 1;
    }

    /// Counts a request that got no (complete) answer: connection refused or reset,
    /// timeout, TLS failure.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Relaxed);
    }

    /// Answers so far, by HTTP status code.
    pub fn by_status(&self) -> BTreeMap<u16, u64> {
        self.by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests that got no answer so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Relaxed)
    }

    /// Requests on the wire now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_answers_failures_and_requests_on_the_wire() {
        let counts = RequestCounts::default();
        let a = counts.start();
        let b = counts.start();
        assert_eq!(counts.in_flight(), 2);
        counts.answered(StatusCode::OK);
        counts.answered(StatusCode::OK);
        counts.answered(StatusCode::TOO_MANY_REQUESTS);
        counts.failed();
        drop(a);
        assert_eq!(counts.in_flight(), 1);
        drop(b);
        assert_eq!(counts.in_flight(), 0);
        assert_eq!(counts.by_status(), [(200, 2), (429, 1)].into());
        assert_eq!(counts.failures(), 1);
    }
}
