//! What goes in ([`Record`]) and what comes out: per-request [`Report`]s and the
//! [`ShutdownReport`].

use crate::{Error, Stats};
use logferry_sdl_model::Event;
use std::sync::Arc;
use tokio::sync::mpsc;

/// An event with what the caller needs back when it is settled: the source its constant
/// attributes may be deduped against, and the caller's id of its entry (a spool entry id,
/// a file offset) returned in [`Delivery::entries`] or with the failed records.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The event.
    pub event: Event,
    /// The source (a file, a container) whose events share constant attributes that the
    /// `logs` dedupe may move into one `logs` entry. Cheap to clone.
    pub source: Option<Arc<str>>,
    /// The caller's entry id (the spool entry), returned when the event is settled.
    pub entry: Option<u64>,
    /// Where the record starts in its source, when known: for the dead-letter file.
    pub position: Option<logferry_framing::Position>,
}

impl Record {
    /// A record of `event`, without source or entry id.
    pub fn new(event: Event) -> Record {
        Record {
            event,
            source: None,
            entry: None,
            position: None,
        }
    }

    /// Sets the source.
    pub fn from_source(mut self, source: impl Into<Arc<str>>) -> Record {
        self.source = Some(source.into());
        self
    }

    /// Sets where the record starts in its source.
    pub fn at(mut self, position: logferry_framing::Position) -> Record {
        self.position = Some(position);
        self
    }

    /// Sets the entry id.
    pub fn with_entry(mut self, entry: u64) -> Record {
        self.entry = Some(entry);
        self
    }
}

impl From<Event> for Record {
    fn from(event: Event) -> Record {
        Record::new(event)
    }
}

/// A request the server confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The session index (0 = the first created), see [`Stats::sessions`].
    pub session: usize,
    /// The batch it came from (a split batch's halves share it).
    pub batch: u64,
    /// Events it carried.
    pub events: usize,
    /// The entry ids of those events that had one, in body order.
    pub entries: Vec<u64>,
    /// Attempts it took.
    pub attempts: u32,
    /// Uncompressed body bytes.
    pub body_bytes: usize,
    /// Bytes on the wire.
    pub wire_bytes: usize,
    /// The server's `bytesCharged`, when it sent one.
    pub bytes_charged: Option<u64>,
    /// The local estimate of the charge (see `logferry_sdl_model::charge`).
    pub bytes_charged_estimate: u64,
    /// A warning the success carried (seed: "A "success" may have a warning message").
    pub warning: Option<String>,
}

/// Events that will not be delivered: a refused request, an event too large, or a
/// request whose retries ran out. Dead-letter them; they are not sent again.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Failure {
    /// The session index, when a session had them.
    pub session: Option<usize>,
    /// Why.
    pub error: Error,
    /// The records, with their original times, sources and entry ids.
    pub records: Vec<Record>,
}

/// One settled batch, or the end of the sender.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Report {
    /// A request was confirmed.
    Delivered(Delivery),
    /// Events failed.
    Failed(Failure),
    /// The sender stopped (the key was refused): the remaining events are in the
    /// [`ShutdownReport`], neither delivered nor failed.
    Stopped(Error),
}

/// The receiving end of a sender's reports, from
/// [`SdlSender::start_with_reports`](crate::SdlSender::start_with_reports).
///
/// Unbounded, so a slow reader never stalls sending: read it, or memory grows by one
/// small report per request. It ends after the sender has shut down.
#[derive(Debug)]
pub struct Reports {
    pub(crate) rx: mpsc::UnboundedReceiver<Report>,
}

impl Reports {
    /// The next report; `None` once the sender is gone and every report was read.
    pub async fn recv(&mut self) -> Option<Report> {
        self.rx.recv().await
    }

    /// The next report if one is ready.
    pub fn try_recv(&mut self) -> Option<Report> {
        self.rx.try_recv().ok()
    }
}

/// What [`SdlSender::shutdown`](crate::SdlSender::shutdown) could not do.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Events accepted but neither delivered nor reported failed: in the queue, in a
    /// batch, or in a request cancelled at the deadline or after a stop. Send them again
    /// later (they keep their entry ids and original times).
    pub unsent: Vec<Record>,
    /// Why the sender stopped before shutdown, if it did.
    pub stopped: Option<Error>,
    /// Whether the deadline passed before everything was flushed.
    pub timed_out: bool,
    /// The counters at the end.
    pub stats: Stats,
}
