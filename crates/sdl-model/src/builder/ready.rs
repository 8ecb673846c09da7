//! A finished request: its body, its events in body order, and the charge estimate.

use super::envelope::Envelope;
use crate::Event;
use bytes::Bytes;
use std::sync::Arc;

/// A finished request: the body to send (and re-send on retry, unchanged), and the events
/// in it, in body order, with their written times.
#[derive(Debug, Clone)]
pub struct ReadyRequest {
    pub(super) body: Bytes,
    pub(super) events: Vec<Event>,
    pub(super) group_of: Vec<Option<u32>>,
    pub(super) sources: Vec<Box<str>>,
    pub(super) env: Arc<Envelope>,
    pub(super) inline_len: usize,
    pub(super) truncated: usize,
    pub(super) moved: usize,
}

impl ReadyRequest {
    /// The JSON body, ready to gzip. Cloning is cheap; re-send this same body on retry.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The events, in body order, each with the `ts` it was written with (after any
    /// strictly-increasing adjustment) and all its attributes (the dedupe is not visible
    /// here).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The number of events.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The events, for dead-lettering or rebuilding elsewhere.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// What the body would weigh without the `logs` dedupe.
    pub fn inline_len(&self) -> usize {
        self.inline_len
    }

    /// How many events of this request had their `message` truncated to fit.
    pub fn truncated(&self) -> usize {
        self.truncated
    }

    /// How many events of this request were written later than their own time by more
    /// than a tie-break (older than the session's previous request); each keeps its own
    /// time in the attribute [`ORIGINAL_TS`](super::ORIGINAL_TS).
    pub fn ts_moved(&self) -> usize {
        self.moved
    }

    /// The estimated `bytesCharged` for this request (see [`crate::charge`]'s rules): each
    /// event's attributes plus those of the declared log it names. The dedupe does not
    /// change it, since the server attaches a log's attributes to each of its events.
    pub fn bytes_charged(&self) -> u64 {
        self.events
            .iter()
            .map(|e| {
                let log = e
                    .log
                    .as_deref()
                    .and_then(|id| self.env.static_log_list.iter().find(|l| l.id == id));
                e.bytes_charged(log)
            })
            .sum()
    }
}
