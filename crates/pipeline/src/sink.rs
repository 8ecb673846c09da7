//! The [`Sink`] trait: where batches go, and what a sink reports back.

use futures_util::stream::LocalBoxStream;
use logferry_framing::{Batch, Position, WireTarget};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// Where records go: one ingest API (HTTP Ingest, SDL `addEvents`) or a bus.
///
/// The pipeline gives a sink framed batches to [`encode`](Sink::encode) into its own
/// stored form (a gzipped body, a batch with its read time), keeps that form in the
/// spool (the [`Entry`](Sink::Entry), a [`logferry_spool::Entry`]), and hands the entries, new and replayed,
/// to [`ship`](Sink::ship) with their entry ids. The sink reports each entry's fate by
/// id; the pipeline acknowledges spool entries and counts.
///
/// Every sink speaks the same three verbs ([`Control`]): [`close`](Control::close)
/// (graceful: take nothing new, let requests on the wire finish),
/// [`abort`](Control::abort) (give up what is in flight), and
/// [`stopped`](Control::stopped) (why it stopped by itself, if it did).
pub trait Sink: Control {
    /// The unit the sink ships and the spool keeps, in its typed stored form.
    type Entry: logferry_spool::Entry + Send + 'static;

    /// The backend's name, as the CLI and the summary call it (`http-ingest`, `sdl`).
    fn name(&self) -> &'static str;

    /// A raw batch target learned from encoded bodies, when the sink aims at a size on
    /// the wire (compressed HTTP Ingest bodies). Default: none.
    fn wire_target(&self) -> Option<Arc<WireTarget>> {
        None
    }

    /// Turns a framed batch into an entry (compressing it on the blocking pool, say).
    /// The pipeline runs several at once, in order.
    fn encode(&self, batch: Batch) -> impl Future<Output = Self::Entry>;

    /// Records in an entry (for counting replayed entries).
    fn records(&self, entry: &Self::Entry) -> u64;

    /// The records of an entry the sink never took (the run stopped first), for the
    /// dead-letter file of a run without a spool.
    fn unsent<'e>(&self, entry: &'e Self::Entry) -> Vec<Lost<'e>>;

    /// Ships `entries` (each with its id), calling `report` as their fates are known.
    /// Returns once the stream ended and every entry was reported, or once the sink
    /// stopped or was aborted (what it did not ship is then reported undelivered, or
    /// simply never reported: a spooled entry stays for the next run).
    ///
    /// Once the sink takes nothing new (closed, aborted, stopped) it drops `entries`
    /// at once: that is how the pipeline learns to stop reading, even while the input
    /// is idle.
    fn ship<'a>(
        &'a self,
        entries: LocalBoxStream<'a, (u64, Self::Entry)>,
        report: &'a mut dyn FnMut(Report<'_>),
    ) -> impl Future<Output = ()> + 'a;
}

/// What every sender offers its driver, whatever it ships: the same three verbs, and
/// its totals. [`Sink`]s have it; so does File Upload, whose unit is a whole file.
pub trait Control {
    /// Takes nothing new; what is on the wire finishes.
    fn close(&self);

    /// Gives up what is in flight too.
    fn abort(&self);

    /// Why the sink stopped by itself (a refused key, say), if it did.
    fn stopped(&self) -> Option<String>;

    /// What the sink did so far.
    fn stats(&self) -> SinkStats;
}

/// Totals of a sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// Records accepted by the endpoint.
    pub records_delivered: u64,
    /// Their uncompressed bytes.
    pub bytes_raw: u64,
    /// Bytes on the wire for accepted requests.
    pub bytes_wire: u64,
    /// Requests made (first tries and retries).
    pub requests: u64,
    /// Of those, retries.
    pub retries: u64,
    /// HTTP answers by status code, first tries and retries (File Upload: presign and
    /// `PUT`, not the token endpoint).
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused or reset, timeout, TLS).
    pub request_failures: u64,
    /// Requests on the wire now.
    pub in_flight: u64,
    /// The current limit on requests in flight, where the sink has one (HTTP Ingest: the
    /// configured concurrency, or where adaptive concurrency stands now).
    pub concurrency_limit: Option<u64>,
    /// SDL: the server's `bytesCharged`, summed, when it sent any.
    pub bytes_charged: Option<u64>,
    /// SDL: events whose `message` was cut to fit a request.
    pub events_truncated: u64,
    /// SDL: events sent although their time or level could not be read (read time or
    /// `sev` 3, the raw value kept among their attributes).
    pub events_unreadable: u64,
    /// SDL: events moved from their own time to keep a session's times increasing
    /// (their own time kept in an attribute).
    pub events_time_moved: u64,
}

/// Records that will not be delivered as they are, with what is known of where they
/// came from: for the dead-letter file.
#[derive(Debug, Clone)]
pub struct Lost<'a> {
    /// The input they came from.
    pub source: Option<Cow<'a, str>>,
    /// Where the first of them starts, when known.
    pub position: Option<Position>,
    /// Why, with what to do about it.
    pub reason: Cow<'a, str>,
    /// How many records.
    pub records: u64,
    /// The records (`\n`-separated text, or one JSON event).
    pub body: Cow<'a, [u8]>,
    /// `body` is only the start of the record (a record longer than what is kept).
    pub truncated: bool,
}

/// What a sink reports while it ships.
#[derive(Debug)]
#[non_exhaustive]
pub enum Report<'a> {
    /// Entry `id` needs nothing more: every record in it was delivered, refused (and
    /// reported), or is not an event at all (and reported). Its spool entry may go.
    Done(u64),
    /// Records accepted.
    Delivered {
        /// How many.
        records: u64,
    },
    /// Records of an entry that cannot become what the endpoint takes (an SDL event
    /// with a bad time, say): never sent.
    Invalid(Lost<'a>),
    /// Records the endpoint refused for good (400, too large): never sent again.
    Refused(&'a [Lost<'a>]),
    /// Records not delivered (retries ran out, the sink stopped). Their entry is not
    /// done: with a spool it stays for the next run.
    Undelivered(&'a [Lost<'a>]),
    /// The sink stopped by itself, and why.
    Stopped(&'a str),
    /// Entry `id` is not done and this run will not ship it again (its records were
    /// reported [`Undelivered`](Report::Undelivered)): with a spool it stays for the next
    /// run; without one its source's acknowledgement is dropped unrun, so a source that
    /// can take it back (a bus consumer's negative acknowledgement) does so now.
    Failed(u64),
    /// The endpoint asked not to be sent anything for this long: the `Retry-After` of
    /// its last answer before an entry was given up, reported just before that entry's
    /// [`Failed`](Report::Failed). The run passes it on as
    /// [`Event::HoldOff`](crate::Event::HoldOff).
    HoldOff(std::time::Duration),
}
