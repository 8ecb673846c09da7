//! The request builder: events in, `addEvents` bodies out, each at or under the size limit
//! by exact accounting.
//!
//! # Body layout and size accounting
//!
//! A body is written compactly, in this order:
//!
//! ```text
//! {"session":"…"[,"sessionInfo":{…}][,"threads":[…]],"events":[E1,E2,…]
//!   [,"logs":[static logs…,deduped logs…]]}
//! ```
//!
//! and each event as
//!
//! ```text
//! {"ts":"<digits>","sev":<0-6>[,"thread":"…"][,"log":"…"],"attrs":{"k":v,…}}
//! ```
//!
//! When an event is pushed, its `thread`/`log` members and each of its attribute pairs are
//! serialized once, into the pending request's arena; the builder then knows the event's
//! exact size (28 fixed bytes + members + pairs + commas + ts digits), and keeps running
//! totals of everything else that the body will contain. It never serializes twice to
//! find a size: [`RequestBuilder::pending_len`] is exact, and the body that
//! [`RequestBuilder::finish`] assembles (by copying the serialized pieces) has exactly
//! that length.
//!
//! # Timestamps
//!
//! The seed: "For non-nanosecond timestamps, for example an ISO-8601 Unix epoch, you can
//! ensure chronological order by incrementing the value by 1 for each event in the
//! session, or by ordering the events in a batch." With [`Timestamps::StrictlyIncreasing`]
//! (the default) the builder does both, and moves no event further than a tie-break:
//!
//! - **ordering the events in a batch**: the events of a request are written in timestamp
//!   order (ties in arrival order), whatever order they arrived in;
//! - **incrementing the value by 1**: an event whose time equals the one before it (in
//!   the request, or the last event of the session's previous request) is written 1 ns
//!   after it, so a run of equal times becomes 1 ns steps (a tie-break).
//!
//! So `ts` is strictly increasing across the whole session and each event keeps its own
//! time up to the tie-break. The one case where that cannot hold is an event **older than
//! the session's previous request** ([`RequestBuilder::floor`]): it can't be written at its
//! own time in this session. A transport avoids that by giving inputs with independent
//! clocks their own sessions (`logferry-sdl` routes each event to a session whose floor is
//! not above its time). When it still happens, the event is written just after the floor,
//! its own time is kept in the attribute [`ORIGINAL_TS`] (nanoseconds, as a string of
//! digits), and it is counted in [`Stats::ts_moved`] and [`ReadyRequest::ts_moved`]. The
//! source's own time field, if the event came from JSON, stays among its attributes too.
//! Times saturate at `u64::MAX` (the year 2554), where strictness can't hold.
//!
//! The adjustment is computed as events arrive, which is what keeps the accounting exact
//! when it changes a time's digit count: the pending times are kept sorted, in a `Vec`
//! while events arrive in order or nearly (an append, or an insert a few places from the
//! end), in a `BTreeMap` once one lands more than 64 places back, so a late event costs
//! `O(log n)` plus the run of equal times it pushes along.
//! [`Timestamps::AsGiven`] writes the times as given, in arrival order.
//!
//! # `logs` dedupe
//!
//! Events pushed with a source ([`RequestBuilder::push_from`]) are grouped by it within a
//! request. The attribute pairs that are identical (same key, same serialized value) in
//! every event of a group are written once, in a `logs` entry, and each event of the group
//! refers to it with `log` (seed: "The logs property lets you separate constant metadata
//! from multiple events"). A group is deduped only when that makes the body smaller. What
//! the server reconstructs (the event's attributes plus its log's) is the original set.
//! Events that name a `log` themselves are not grouped.
//!
//! # Modules
//!
//! - `envelope`: the serialized fixed parts of a session's requests (`session`,
//!   `sessionInfo`, `threads`, declared `logs`);
//! - `order`: strictly increasing timestamps, computed as events arrive;
//! - `dedupe`: the `logs` groups of a request and what deduping them saves;
//! - `assemble`: a pending request's exact size accounting and the body's assembly;
//! - `ready`: the finished [`ReadyRequest`]; `split`: halving one for a server that found
//!   it too large;
//! - `truncate`: cutting the `message` of an event too large for any request
//!   ([`Oversize::Truncate`]).

mod assemble;
mod dedupe;
mod envelope;
mod order;
mod ready;
mod split;
mod truncate;

use crate::json::decimal_len;
use crate::{Error, Event, Log, Session, SessionInfo, Thread, Timestamp};
use assemble::Batch;
use envelope::Envelope;
use std::sync::Arc;
use truncate::truncate_message;

pub use ready::ReadyRequest;

/// The seed: "The request body must be 6MB or less." Read as 6,000,000 bytes, the
/// smaller reading.
pub const MAX_BODY_BYTES: usize = 6_000_000;

/// The attribute that keeps the own time (nanoseconds, a string of digits) of an event
/// the builder had to write later than that time by more than a tie-break: one older than
/// its session's previous request (see the module docs). Counted in [`Stats::ts_moved`].
pub const ORIGINAL_TS: &str = "logferry_original_ts";

/// What to do with one event that can't fit a request even alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Oversize {
    /// Cut the string `message` attribute at a character boundary so the event fits, and
    /// end it with `…[truncated N bytes]` (N = bytes removed). Events without a string
    /// `message`, or that are too large without it, are rejected. Counted in
    /// [`Stats::truncated`] (and [`Stats::rejected`]). The default.
    #[default]
    Truncate,
    /// Reject the event: [`RequestBuilder::push`] returns [`Error::EventTooLarge`] holding
    /// it. Counted in [`Stats::rejected`].
    Reject,
}

/// How event times are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timestamps {
    /// Sort by time within a request and write equal times 1 ns apart, so `ts` is strictly
    /// increasing across the session; an event older than the session's previous request
    /// is written after it, its own time kept in [`ORIGINAL_TS`] (see the module docs).
    /// The default.
    #[default]
    StrictlyIncreasing,
    /// Write each time as given, events in arrival order.
    AsGiven,
}

/// Whether constant attributes move into `logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dedupe {
    /// Dedupe per source, for events pushed with [`RequestBuilder::push_from`]. The default.
    #[default]
    PerSource,
    /// Never: every event carries all its attributes.
    Off,
}

/// Request builder options.
#[derive(Debug, Clone)]
pub struct Config {
    /// The largest body, in bytes. Default and maximum [`MAX_BODY_BYTES`] (6,000,000). A
    /// transport pacing a session may ask for smaller requests.
    pub max_body_bytes: usize,
    /// What to do with an event too large for any request. Default [`Oversize::Truncate`].
    pub oversize: Oversize,
    /// How times are written. Default [`Timestamps::StrictlyIncreasing`].
    pub timestamps: Timestamps,
    /// Whether constant attributes move into `logs`. Default [`Dedupe::PerSource`].
    pub dedupe: Dedupe,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_body_bytes: MAX_BODY_BYTES,
            oversize: Oversize::Truncate,
            timestamps: Timestamps::StrictlyIncreasing,
            dedupe: Dedupe::PerSource,
        }
    }
}

/// What is fixed for every request of a session: the seed requires that "sessionInfo must
/// be the same for all requests with the same session value", and threads and declared
/// logs are per process too.
#[derive(Debug, Clone)]
pub struct SessionHeader {
    /// The session id.
    pub session: Session,
    /// `sessionInfo`, omitted from the body when empty.
    pub info: SessionInfo,
    /// `threads`, omitted when empty.
    pub threads: Vec<Thread>,
    /// `logs` entries declared by the caller, sent in every request; events refer to them
    /// with [`Event::log`]. Their ids must be unique.
    pub logs: Vec<Log>,
}

impl SessionHeader {
    /// A header with only a session id.
    pub fn new(session: Session) -> SessionHeader {
        SessionHeader {
            session,
            info: SessionInfo::default(),
            threads: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Sets `sessionInfo`.
    pub fn with_info(mut self, info: SessionInfo) -> SessionHeader {
        self.info = info;
        self
    }

    /// Adds a thread.
    pub fn with_thread(mut self, thread: Thread) -> SessionHeader {
        self.threads.push(thread);
        self
    }

    /// Adds a declared log.
    pub fn with_log(mut self, log: Log) -> SessionHeader {
        self.logs.push(log);
        self
    }
}

/// Counters of a builder's life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events accepted (in finished requests or pending).
    pub events: u64,
    /// Requests finished.
    pub requests: u64,
    /// Events whose `message` was truncated to fit.
    pub truncated: u64,
    /// Events rejected as too large.
    pub rejected: u64,
    /// Events of finished requests whose `ts` was raised to keep times strictly increasing
    /// (tie-breaks included).
    pub ts_adjusted: u64,
    /// Events of finished requests written later than their own time by more than a
    /// tie-break, because they were older than their session's previous request; each
    /// keeps its own time in the attribute [`ORIGINAL_TS`].
    pub ts_moved: u64,
    /// Bytes of the finished bodies.
    pub body_bytes: u64,
    /// What the finished bodies would have weighed without the `logs` dedupe.
    pub inline_bytes: u64,
}

/// Builds the `addEvents` requests of one session: push events, take finished bodies.
///
/// ```
/// use logferry_sdl_model::{Attrs, Event, RequestBuilder, Session, SessionHeader, Timestamp, Config};
/// let header = SessionHeader::new(Session::new("149d8290-7871-11e1-b0c4-0800200c9a66").unwrap());
/// let mut builder = RequestBuilder::new(header, Config::default()).unwrap();
/// for i in 0..3 {
///     let event = Event::message(Timestamp::from_nanos(1_667_443_947_000_000_000), format!("event {i}"));
///     assert!(builder.push(event).unwrap().is_none()); // still room
/// }
/// let request = builder.finish().unwrap();
/// assert_eq!(request.event_count(), 3);
/// // Equal times are spread 1 ns apart, in arrival order.
/// assert_eq!(request.events()[2].ts.as_nanos(), 1_667_443_947_000_000_002);
/// ```
#[derive(Debug)]
pub struct RequestBuilder {
    env: Arc<Envelope>,
    config: Config,
    batch: Batch,
    stats: Stats,
    /// The largest body of a request holding one event (at least the limit).
    alone_limit: usize,
}

impl RequestBuilder {
    /// A builder for the session described by `header`.
    pub fn new(header: SessionHeader, config: Config) -> Result<RequestBuilder, Error> {
        let env = Arc::new(Envelope::new(&header, &config)?);
        let batch = Batch::new(
            env.clone(),
            None,
            config.timestamps == Timestamps::StrictlyIncreasing,
        );
        Ok(RequestBuilder {
            alone_limit: env.limit,
            env,
            config,
            batch,
            stats: Stats::default(),
        })
    }

    /// Lets one event too large for a request of [`Config::max_body_bytes`] go in a
    /// request of its own of up to `limit` bytes (capped at [`MAX_BODY_BYTES`], the
    /// seed's "The request body must be 6MB or less"), before the [`Oversize`] policy
    /// applies. So `max_body_bytes` is the size batches aim for, and only the seed's limit
    /// truncates or rejects an event. Default: `max_body_bytes` (no exception).
    pub fn with_alone_limit(mut self, limit: usize) -> RequestBuilder {
        self.alone_limit = limit.clamp(self.env.limit, MAX_BODY_BYTES.max(self.env.limit));
        self
    }

    /// Adds an event that belongs to no particular source (it is never deduped).
    ///
    /// Returns the finished request when the event did not fit in the pending one (the
    /// event then starts the next request). Errors: [`Error::UnknownLog`] when the event
    /// names a log the header does not declare, [`Error::EventTooLarge`] when it can't fit
    /// any request under the [`Oversize`] policy. Either way the pending request is
    /// unchanged.
    pub fn push(&mut self, event: Event) -> Result<Option<ReadyRequest>, Error> {
        self.push_inner(event, None)
    }

    /// Adds an event from `source` (a file, a container, a pod: whatever shares constant
    /// attributes), whose constant attributes the builder may move into a `logs` entry.
    /// Otherwise as [`RequestBuilder::push`].
    pub fn push_from(&mut self, source: &str, event: Event) -> Result<Option<ReadyRequest>, Error> {
        self.push_inner(event, Some(source))
    }

    /// Finishes the pending request, if it has any event.
    pub fn finish(&mut self) -> Option<ReadyRequest> {
        if self.batch.is_empty() {
            return None;
        }
        let floor = self.batch.next_floor();
        let ordered = self.batch.order.is_some();
        let batch = std::mem::replace(
            &mut self.batch,
            Batch::new(self.env.clone(), floor, ordered),
        );
        let (ready, spare) = batch.finish(Some(&mut self.stats));
        spare.put();
        Some(ready)
    }

    /// Drops the pending request unsent, as if its events had never been pushed (the
    /// session's [`floor`](RequestBuilder::floor) is unchanged): its events in arrival
    /// order with the times they were pushed with (a message cut to fit stays cut), and
    /// how many of them were truncated.
    pub fn take_pending(&mut self) -> (Vec<Event>, usize) {
        let floor = self.batch.floor;
        let ordered = self.batch.order.is_some();
        let batch = std::mem::replace(
            &mut self.batch,
            Batch::new(self.env.clone(), floor, ordered),
        );
        let truncated = batch.truncated;
        (
            batch.slots.into_iter().map(|s| s.event).collect(),
            truncated,
        )
    }

    /// The exact length the pending request's body would have if finished now (0 when
    /// there is no pending event).
    pub fn pending_len(&self) -> usize {
        self.batch.len()
    }

    /// The pending request's length without the `logs` dedupe.
    pub fn pending_inline_len(&self) -> usize {
        self.batch.inline_len()
    }

    /// The number of events in the pending request.
    pub fn pending_events(&self) -> usize {
        self.batch.slots.len()
    }

    /// The builder's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The options in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The body limit in force.
    pub fn limit(&self) -> usize {
        self.env.limit
    }

    /// With [`Timestamps::StrictlyIncreasing`], the written time of the last event of the
    /// session's previous requests: a pushed event at or after it keeps its own time (up
    /// to a 1 ns tie-break); one before it is moved after it (see the module docs).
    /// `None` before the first request, and with [`Timestamps::AsGiven`].
    pub fn floor(&self) -> Option<Timestamp> {
        self.batch.floor.map(Timestamp::from_nanos)
    }

    /// With [`Timestamps::StrictlyIncreasing`], the latest written time of the session so
    /// far, the pending request included: what [`RequestBuilder::floor`] becomes once the
    /// pending request is finished.
    pub fn latest(&self) -> Option<Timestamp> {
        self.batch.next_floor().map(Timestamp::from_nanos)
    }

    /// Marks `event` as moved when it is older than the pending request's floor: its own
    /// time goes into [`ORIGINAL_TS`] (unless the attribute is there already). Returns
    /// (moved, whether the attribute was added).
    fn mark_if_moved(&self, event: &mut Event) -> (bool, bool) {
        let t = event.ts.as_nanos();
        let moved = self.batch.order.is_some() && self.batch.floor.is_some_and(|f| t < f);
        let added = moved && event.attrs.insert(ORIGINAL_TS, t.to_string()).is_none();
        (moved, added)
    }

    fn push_inner(
        &mut self,
        mut event: Event,
        source: Option<&str>,
    ) -> Result<Option<ReadyRequest>, Error> {
        if let Some(id) = &event.log
            && !self.env.static_log_ids.contains(id)
        {
            return Err(Error::UnknownLog { id: id.clone() });
        }
        let (mut moved, marked) = self.mark_if_moved(&mut event);
        let mut s = self.batch.serialize(&event);
        // Would the event fit alone, in the request after this one?
        let floor = self.batch.next_floor();
        let t = event.ts.as_nanos();
        let u_alone = floor.map_or(t, |f| t.max(f.saturating_add(1)));
        // There it may be older than the floor and carry its own time as an attribute.
        let mark = if !moved && floor.is_some_and(|f| t < f) {
            ORIGINAL_TS.len() + decimal_len(t) + 6
        } else {
            0
        };
        let alone_fixed = self.batch.total(0, decimal_len(u_alone), 1, 0) + mark;
        let alone = |size: usize| alone_fixed + size;
        let mut truncated = false;
        let limit = self.alone_limit;
        let big = alone(s.size) > self.env.limit;
        if alone(s.size) > limit {
            let size = alone(s.size);
            self.batch.unserialize(&s);
            let mut cut = match self.config.oversize {
                Oversize::Truncate => Some(event.clone()),
                Oversize::Reject => None,
            };
            let fits = cut.as_mut().is_some_and(|cut| {
                truncate_message(cut, size - limit) && {
                    s = self.batch.serialize(cut);
                    let fits = alone(s.size) <= limit;
                    if !fits {
                        self.batch.unserialize(&s);
                    }
                    fits
                }
            });
            match cut {
                Some(cut) if fits => event = cut,
                _ => {
                    // The caller gets the event back as it was given.
                    if marked {
                        event.attrs.remove(ORIGINAL_TS);
                    }
                    self.stats.rejected += 1;
                    return Err(Error::EventTooLarge {
                        // Without the room kept for a mark it may never carry, unless
                        // that room is what keeps it out: then the size says so.
                        size: if size - mark > limit {
                            size - mark
                        } else {
                            size
                        },
                        limit,
                        event: Box::new(event),
                    });
                }
            }
            truncated = true;
            self.stats.truncated += 1;
        }
        let alone_limit = big.then_some(limit);
        let ready = match self.batch.try_push(event, source, &s, alone_limit) {
            Ok(()) => None,
            Err(mut event) => {
                self.batch.unserialize(&s);
                let ready = self
                    .finish()
                    .expect("an event that fits alone only fails to fit a non-empty request");
                moved = self.mark_if_moved(&mut event).0;
                let s = self.batch.serialize(&event);
                if self
                    .batch
                    .try_push(*event, source, &s, alone_limit)
                    .is_err()
                {
                    unreachable!("the event was checked to fit a request alone");
                }
                Some(ready)
            }
        };
        self.batch.truncated += usize::from(truncated);
        self.batch.moved += usize::from(moved);
        self.stats.events += 1;
        Ok(ready)
    }
}
