//! The dispatcher, sans-IO: which event goes into which session's request, when a request
//! is cut, when a session is added, when each attempt may start (pacing, backoff, the
//! retry budget), what a settled request reports, and shutdown.
//!
//! It never touches a socket, a task or the system clock: every input is a method call
//! that takes the time (`now`), and what it wants done comes back as [`Action`]s from
//! [`Dispatcher::poll_action`]. The driver (`driver.rs`) feeds it from the intake queue,
//! the finished I/O and a timer set to [`Dispatcher::wake_at`]. The jitter RNG and the
//! session ids are injected.
//!
//! Inputs: [`records`](Dispatcher::records), [`flush`](Dispatcher::flush),
//! [`close`](Dispatcher::close) (the intake ended), [`compressed`](Dispatcher::compressed)
//! and [`answered`](Dispatcher::answered) (I/O done), [`tick`](Dispatcher::tick) (a timer
//! fired), [`shutdown`](Dispatcher::shutdown) (a deadline).

use super::session::Answer;
use crate::config::{Pacing, SESSION_RATE_CEILING};
use crate::pacer::Pacer;
use crate::report::{Delivery, Failure, Record, Report, ShutdownReport};
use crate::stats::{Counters, SessionCounters, add};
use crate::{Error, SdlConfig};
use bytes::Bytes;
use logferry_compress::Level;
use logferry_retry::{
    Budget, Decision, FastRng, Finish, GaveUp, Outcome, Policy, Retrier, RetryCause,
    TransportFailure, Verdict, classify,
};
use logferry_sdl_model::{
    self as model, AddEventsResponse, Event, ORIGINAL_TS, ReadyRequest, RequestBuilder, Session,
    SessionHeader, Timestamp, Timestamps,
};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Names one piece of I/O the dispatcher asked for ([`Action::Compress`],
/// [`Action::Send`]); its answer carries it back. An answer whose ticket is no longer
/// awaited (its session was cancelled) is ignored.
pub(super) type Ticket = u64;

/// Names a [`Dispatcher::flush`] call; answered by [`Action::FlushDone`].
pub(super) type FlushId = u64;

/// What the dispatcher wants done.
#[derive(Debug)]
pub(super) enum Action {
    /// Gzip `body` at `level`, then call [`Dispatcher::compressed`] with `ticket`.
    Compress {
        session: usize,
        ticket: Ticket,
        body: Bytes,
        level: Level,
    },
    /// Send `body` (gzipped if `gzip`) as attempt `attempt` of one request of `session`,
    /// then call [`Dispatcher::answered`] with `ticket`.
    Send {
        session: usize,
        ticket: Ticket,
        attempt: u32,
        body: Bytes,
        gzip: bool,
    },
    /// Abandon whatever I/O `session` has under way; its records are already in the
    /// shutdown report.
    Cancel { session: usize },
    /// Hand a report to the caller.
    Report(Report),
    /// Answer a flush.
    FlushDone {
        flush: FlushId,
        result: Result<(), Error>,
    },
    /// Accept no more records: close the intake queue, pass what is still in it to
    /// [`Dispatcher::records`] / [`Dispatcher::flush`] (they become unsent / fail), then
    /// call [`Dispatcher::close`]. The dispatcher finishes only after that.
    CloseIntake,
    /// The sender stopped (the key was refused): later sends fail with this error.
    Stopped(Error),
    /// Everything is settled: the last action.
    Finished(ShutdownReport),
}

/// What the dispatcher keeps of an event while it is in a batch.
#[derive(Debug, Clone)]
struct Meta {
    entry: Option<u64>,
    source: Option<Arc<str>>,
    position: Option<logferry_framing::Position>,
    /// The time as given (the builder may raise it to keep times increasing).
    ts: Timestamp,
    /// Whether the event came with an [`ORIGINAL_TS`] attribute of its own (otherwise one
    /// there was added by the builder, and is taken off before the event goes back).
    own_mark: bool,
}

impl Meta {
    /// `event` as it was given: its own time, without the builder's mark.
    fn restore(&self, event: &mut Event) {
        event.ts = self.ts;
        if !self.own_mark {
            event.attrs.remove(ORIGINAL_TS);
        }
    }
}

/// An ordered stream of events: the source of [`Record::source`] (`None` for records
/// without one). Inputs with independent clocks are separate streams, and a stream's
/// events go to sessions of its own (see [`Dispatcher::route`]).
type Stream = Option<Arc<str>>;

/// A request and its events' metadata, in body order.
type Part = (ReadyRequest, Vec<Meta>);

/// One attempt sequence of a part (what a `Retrier::run` was): started once its body is
/// on hand.
#[derive(Debug)]
struct Run {
    start: Instant,
    attempts: u32,
    wire: Bytes,
    gzip: bool,
}

/// Where a session's current part is.
#[derive(Debug)]
enum Stage {
    /// Being compressed: for a first attempt (`run` is `None`), or again for a retry on a
    /// new session (the run goes on).
    Compressing { ticket: Ticket, run: Option<Run> },
    /// Waiting for the pacer before the next attempt.
    Pacing { run: Run, wake: Instant },
    /// An attempt is under way.
    InFlight { run: Run, ticket: Ticket },
    /// Waiting after a retry verdict: the backoff, then the retry budget (rechecked).
    Backoff {
        run: Run,
        wake: Instant,
        verdict: Verdict,
    },
}

impl Stage {
    fn wake(&self) -> Option<Instant> {
        match self {
            Stage::Pacing { wake, .. } | Stage::Backoff { wake, .. } => Some(*wake),
            Stage::Compressing { .. } | Stage::InFlight { .. } => None,
        }
    }
}

/// One batch given to a session: the request, and its halves after splits. The front
/// part is the one being sent.
struct Job {
    batch: u64,
    parts: VecDeque<Part>,
    stage: Stage,
}

struct Slot {
    builder: RequestBuilder,
    pacer: Pacer,
    counters: Arc<SessionCounters>,
    /// The batch this session is sending; `None`: idle.
    job: Option<Job>,
    /// The metadata of the events in the builder's pending request (the batch being
    /// filled, only while idle), in arrival order.
    open: Vec<Meta>,
    /// When the open batch's first event came.
    first_at: Instant,
    /// The stream that claimed this session; `None`: unclaimed (fresh).
    stream: Option<Stream>,
    /// Claimed by a second stream because no session was left for it.
    shared: bool,
    /// An attempt timed out and the request's run ended: the session is renewed (see
    /// [`Dispatcher::renew`]) once the request settles.
    renew: bool,
}

impl Slot {
    /// Whether an event at `t` keeps its own time here (up to a tie-break): the session
    /// has sent nothing later.
    fn keeps_time(&self, t: Timestamp) -> bool {
        self.builder.floor().is_none_or(|floor| floor <= t)
    }
}

/// How a request (or half) ended, once the retry policy is done with it.
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

/// The sans-IO dispatcher. See the module docs.
pub(super) struct Dispatcher {
    header: SessionHeader,
    model_config: model::Config,
    log_ids: HashSet<String>,
    timestamps: Timestamps,
    pacing: Pacing,
    max_body: usize,
    compression: Option<Level>,
    policy: Policy,
    budget: Arc<Budget>,
    rng: FastRng,
    new_session_id: Box<dyn FnMut() -> String + Send>,
    counters: Arc<Counters>,
    slots: Vec<Slot>,
    /// The idle sessions (no job), longest idle first.
    idle: VecDeque<usize>,
    pending: VecDeque<Record>,
    next_batch: u64,
    next_ticket: Ticket,
    flushes: Vec<(u64, FlushId)>,
    unsent: Vec<Record>,
    max_sessions: usize,
    scale_interval: Duration,
    last_scale: Instant,
    linger: Duration,
    deadline: Option<Instant>,
    /// Why the sender stopped, if it did.
    stopped: Option<Error>,
    timed_out: bool,
    intake_open: bool,
    /// Set by [`Dispatcher::stop_all`]: records are no longer batched, and the intake is
    /// asked to close ([`Action::CloseIntake`]).
    stopping: bool,
    finished: bool,
    actions: VecDeque<Action>,
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

/// The records of a request: its events as given (their own times, no builder mark),
/// sources and tokens.
fn records_of(request: ReadyRequest, metas: Vec<Meta>) -> Vec<Record> {
    request
        .into_events()
        .into_iter()
        .zip(metas)
        .map(|(mut event, meta)| {
            meta.restore(&mut event);
            Record {
                event,
                source: meta.source,
                entry: meta.entry,
                position: meta.position,
            }
        })
        .collect()
}

impl Dispatcher {
    /// A dispatcher for `config`, with `header` (its `session` replaced per session) and
    /// the configured minimum of sessions, at `now`. `new_session_id` names each session
    /// once (a UUID in the sender); `rng` draws the backoff jitter.
    pub(super) fn new(
        config: &SdlConfig,
        header: SessionHeader,
        counters: Arc<Counters>,
        now: Instant,
        new_session_id: Box<dyn FnMut() -> String + Send>,
        rng: FastRng,
    ) -> Result<Dispatcher, Error> {
        let config_error = |what: &str, e: &dyn std::fmt::Display| Error::Config {
            reason: format!("{what}: {e}"),
        };
        // The policy and budget every backend builds; the dispatcher runs them on the
        // time it is given instead of the retrier's own loop.
        let retrier = Retrier::from_config(&config.retry, config.budget)
            .map_err(|e| config_error("retry", &e))?;
        let (policy, budget) = (retrier.policy().clone(), retrier.budget().clone());
        let (min, max) = config.sessions.bounds();
        let mut dispatcher = Dispatcher {
            header,
            model_config: model::Config {
                max_body_bytes: config.max_body_bytes,
                oversize: config.oversize,
                timestamps: config.timestamps,
                dedupe: config.dedupe,
            },
            log_ids: config.logs.iter().map(|l| l.id.clone()).collect(),
            timestamps: config.timestamps,
            pacing: config.pacing,
            max_body: config.max_body_bytes,
            compression: config.compression,
            policy,
            budget,
            rng,
            new_session_id,
            counters,
            slots: Vec::new(),
            idle: VecDeque::new(),
            pending: VecDeque::new(),
            next_batch: 0,
            next_ticket: 0,
            flushes: Vec::new(),
            unsent: Vec::new(),
            max_sessions: max,
            scale_interval: config.scale_interval,
            last_scale: now,
            linger: config.linger,
            deadline: None,
            stopped: None,
            timed_out: false,
            intake_open: true,
            stopping: false,
            finished: false,
            actions: VecDeque::new(),
        };
        for _ in 0..min {
            dispatcher.add_session(now)?;
        }
        dispatcher.step(now);
        Ok(dispatcher)
    }

    // ----- queries -----

    /// The next action to carry out, in order.
    pub(super) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether the dispatcher takes records now: a session is idle and nothing waits
    /// before them. While false, the intake queue fills (backpressure).
    pub(super) fn wants_records(&self) -> bool {
        !self.finished
            && !self.stopping
            && self.intake_open
            && !self.idle.is_empty()
            && self.pending.is_empty()
    }

    /// When [`Dispatcher::tick`] has something to do: a batch's linger, a session's pacing
    /// or backoff wait, the shutdown deadline. `None`: nothing until another input.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let linger = self
            .slots
            .iter()
            .filter(|s| !s.open.is_empty())
            .map(|s| s.first_at + self.linger)
            .min();
        let sessions = self
            .slots
            .iter()
            .filter_map(|s| s.job.as_ref().and_then(|j| j.stage.wake()));
        let deadline = self.deadline.filter(|_| !self.stopping);
        linger.into_iter().chain(sessions).chain(deadline).min()
    }

    /// Session `index`'s id.
    pub(super) fn session_id(&self, index: usize) -> &str {
        &self.slots[index].counters.session
    }

    // ----- inputs -----

    /// Records taken from the intake. Once stopping, they go to the unsent records.
    pub(super) fn records(&mut self, records: impl ExactSizeIterator<Item = Record>, now: Instant) {
        if self.stopping || self.finished {
            self.unsent.extend(records);
            return;
        }
        add(&self.counters.events_in, records.len() as u64);
        self.pending.extend(records);
        self.drain_pending(now);
        self.step(now);
    }

    /// A flush: answered once every batch holding a record taken before it has settled.
    pub(super) fn flush(&mut self, flush: FlushId, now: Instant) {
        if self.stopping || self.finished {
            let error = self.stopped.clone().unwrap_or(Error::Closed);
            self.actions.push_back(Action::FlushDone {
                flush,
                result: Err(error),
            });
            return;
        }
        self.hand_off_all(now);
        self.flushes.push((self.next_batch, flush));
        self.check_flushes();
        self.drain_pending(now);
        self.step(now);
    }

    /// The intake ended: no record will come. What is queued and batched is still sent.
    pub(super) fn close(&mut self, now: Instant) {
        self.intake_open = false;
        self.step(now);
    }

    /// Shut down by `deadline`: at the deadline, whatever is not settled is abandoned and
    /// reported unsent.
    pub(super) fn shutdown(&mut self, deadline: Instant, now: Instant) {
        self.deadline = Some(deadline);
        self.tick(now);
    }

    /// The body of [`Action::Compress`] `ticket`, compressed.
    pub(super) fn compressed(&mut self, ticket: Ticket, wire: Bytes, now: Instant) {
        let Some(session) = self.awaiting(ticket) else {
            return;
        };
        let job = self.slots[session].job.as_mut().expect("a busy session");
        let Stage::Compressing { run, .. } = std::mem::replace(&mut job.stage, placeholder())
        else {
            unreachable!("a compression's ticket is awaited only while compressing")
        };
        match run {
            Some(mut run) => {
                run.wire = wire;
                run.gzip = true;
                self.pace(session, run, now);
            }
            None => self.begin_run(session, wire, true, now),
        }
        self.step(now);
    }

    /// The answer to [`Action::Send`] `ticket`, classified; `wall` resolves an HTTP-date
    /// `Retry-After`.
    pub(super) fn answered(
        &mut self,
        ticket: Ticket,
        outcome: Outcome<Answer>,
        now: Instant,
        wall: SystemTime,
    ) {
        let Some(session) = self.awaiting(ticket) else {
            return;
        };
        let job = self.slots[session]
            .job
            .as_mut()
            .expect("awaited by a busy session");
        let Stage::InFlight { run, .. } = std::mem::replace(&mut job.stage, placeholder()) else {
            unreachable!("an attempt's ticket is awaited only in flight")
        };
        let Outcome { verdict, value } = outcome;
        let timed_out = is_timeout(&verdict);
        let elapsed = now.saturating_duration_since(run.start);
        let decision = self
            .policy
            .decide(run.attempts, elapsed, &verdict, wall, &mut self.rng);
        match decision {
            Decision::Retry(delay) => {
                tracing::debug!(
                    session,
                    attempt = run.attempts,
                    verdict = %verdict,
                    ?delay,
                    "sdl request will be retried"
                );
                job.stage = Stage::Backoff {
                    run,
                    wake: now + delay,
                    verdict,
                };
                add(&self.counters.retries, 1);
                add(&self.slots[session].counters.retries, 1);
                if timed_out {
                    self.renew(session, now);
                }
            }
            Decision::Finish(finish) => {
                self.slots[session].renew = timed_out;
                let sent = sent(finish, &run, verdict, value);
                self.settle(session, sent, now);
            }
        }
        self.step(now);
    }

    /// Time passed: cuts a lingering batch, starts paced attempts and retries, and at the
    /// shutdown deadline abandons what is left.
    pub(super) fn tick(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if let Some(deadline) = self.deadline
            && now >= deadline
            && !self.stopping
        {
            tracing::warn!("sdl shutdown deadline reached; cancelling requests");
            self.timed_out = true;
            self.stop_all();
        }
        for session in 0..self.slots.len() {
            let slot = &self.slots[session];
            if !slot.open.is_empty() && slot.first_at + self.linger <= now {
                self.hand_off(session, false, now);
            }
        }
        for session in 0..self.slots.len() {
            let Some(job) = self.slots[session].job.as_mut() else {
                continue;
            };
            if job.stage.wake().is_none_or(|wake| wake > now) {
                continue;
            }
            match std::mem::replace(&mut job.stage, placeholder()) {
                Stage::Pacing { run, .. } => self.pace(session, run, now),
                Stage::Backoff { run, verdict, .. } => self.retry(session, run, verdict, now),
                Stage::Compressing { .. } | Stage::InFlight { .. } => {
                    unreachable!("only waiting stages wake")
                }
            }
        }
        self.step(now);
    }

    // ----- batching -----

    /// What follows every input (the top of the old loop): fill batches from what waits,
    /// cut the last batch once the intake ended, and finish when all is settled.
    fn step(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if !self.stopping {
            self.drain_pending(now);
            if !self.intake_open {
                self.hand_off_all(now);
                self.drain_pending(now);
                self.hand_off_all(now);
            }
        }
        let busy = self.slots.iter().any(|s| s.job.is_some());
        let batch_empty = self.slots.iter().all(|s| s.open.is_empty());
        if !self.intake_open && self.pending.is_empty() && batch_empty && !busy {
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.finished = true;
        let error = self.stopped.clone().unwrap_or(Error::Closed);
        for (_, flush) in std::mem::take(&mut self.flushes) {
            self.actions.push_back(Action::FlushDone {
                flush,
                result: Err(error.clone()),
            });
        }
        self.actions.push_back(Action::Finished(ShutdownReport {
            unsent: std::mem::take(&mut self.unsent),
            stopped: self.stopped.clone(),
            timed_out: self.timed_out,
            stats: self.counters.snapshot(),
        }));
    }

    /// A new session id and the builder of its requests.
    fn new_builder(&mut self) -> Result<(String, RequestBuilder), Error> {
        let id = (self.new_session_id)();
        let mut header = self.header.clone();
        header.session = Session::new(id.clone()).expect("a UUID is a valid session id");
        // `max_body_bytes` is what batches aim for; one larger event still goes whole, in
        // a request of its own, up to the seed's only limit: "The request body must be
        // 6MB or less".
        let builder = RequestBuilder::new(header, self.model_config.clone())
            .map_err(|e| Error::Config {
                reason: format!("session header: {e}"),
            })?
            .with_alone_limit(model::MAX_BODY_BYTES);
        Ok((id, builder))
    }

    fn add_session(&mut self, now: Instant) -> Result<(), Error> {
        let (id, builder) = self.new_builder()?;
        let pacer = match self.pacing {
            Pacing::PerSession { bytes_per_sec } => Pacer::new(
                Some(bytes_per_sec),
                self.max_body as u64,
                Some(SESSION_RATE_CEILING),
                now,
            ),
            Pacing::Off => Pacer::off(now),
        };
        let index = self.slots.len();
        self.slots.push(Slot {
            builder,
            pacer,
            counters: self.counters.add_session(id),
            job: None,
            open: Vec::new(),
            first_at: now,
            stream: None,
            shared: false,
            renew: false,
        });
        self.idle.push_back(index);
        self.last_scale = now;
        Ok(())
    }

    /// The session that takes an event at `t` of `stream` now, claiming or adding one when its stream needs
    /// it; `None`: it waits (no session that suits it is idle).
    ///
    /// The seed: "you can ensure chronological order by incrementing the value by 1 for
    /// each event in the session, or by ordering the events in a batch". The builder
    /// orders each request and breaks ties by 1 ns, so an event keeps its own time unless
    /// its session already sent a later one. Inputs with independent clocks (two hosts'
    /// files, 20 minutes apart) would break that if they shared a session, so each stream
    /// ([`Record::source`]) gets sessions of its own, within [`SdlConfig::sessions`]'s
    /// maximum (the seed's limit is "50K sessions per five minute period"; one per stream
    /// is far below it). In order:
    ///
    /// 1. an idle session of the stream where the event keeps its time (one with a batch
    ///    being filled first);
    /// 2. an idle session no stream has claimed yet;
    /// 3. a new session, when none of the stream's sessions keeps the event's time (a new
    ///    stream, or an event older than what its sessions sent) and the maximum allows;
    /// 4. with no session left: wait for a busy session where the event keeps its time
    ///    if there is one; else an idle session of the stream, or (a stream without a
    ///    session) an idle session whose last time is the latest not after the event's,
    ///    or failing that the one with the earliest. There the builder moves the event
    ///    just after the session's last time, keeps its own time in [`ORIGINAL_TS`] and
    ///    counts it ([`Stats::events_ts_moved`](crate::Stats::events_ts_moved)).
    ///
    /// With [`Timestamps::AsGiven`] times are never moved, so only the stream's own
    /// sessions come first, then any idle one.
    fn route(&mut self, t: Timestamp, stream: &Stream, now: Instant) -> Option<usize> {
        let as_given = self.timestamps == Timestamps::AsGiven;
        let keeps = |slot: &Slot| as_given || slot.keeps_time(t);
        let ours = |slot: &Slot| slot.stream.as_ref() == Some(stream);
        // 1.
        let mine = self
            .idle
            .iter()
            .copied()
            .filter(|&i| ours(&self.slots[i]) && keeps(&self.slots[i]));
        if let Some(i) = mine
            .clone()
            .find(|&i| !self.slots[i].open.is_empty())
            .or_else(|| mine.clone().next())
        {
            return Some(i);
        }
        // 2.
        if let Some(i) = self
            .idle
            .iter()
            .copied()
            .find(|&i| self.slots[i].stream.is_none())
        {
            self.claim(i, stream, false);
            return Some(i);
        }
        // 3.
        let any_keeps = self.slots.iter().any(|slot| ours(slot) && keeps(slot));
        if !any_keeps && self.slots.len() < self.max_sessions {
            match self.add_session(now) {
                Ok(()) => {
                    let i = self.slots.len() - 1;
                    tracing::debug!(
                        session = i,
                        source = stream.as_deref().unwrap_or("-"),
                        "sdl: a session for a stream of its own"
                    );
                    self.claim(i, stream, false);
                    return Some(i);
                }
                Err(e) => tracing::warn!(error = %e, "sdl: cannot add a session"),
            }
        }
        // 4.
        let has_own = self.slots.iter().any(ours);
        let busy_keeps = |slot: &Slot| slot.job.is_some() && keeps(slot);
        if self
            .slots
            .iter()
            .any(|slot| busy_keeps(slot) && (ours(slot) || !has_own))
        {
            return None;
        }
        if has_own {
            return self.idle.iter().copied().find(|&i| ours(&self.slots[i]));
        }
        let floor = |i: usize| self.slots[i].builder.floor();
        let best = self
            .idle
            .iter()
            .copied()
            .filter(|&i| keeps(&self.slots[i]))
            .max_by_key(|&i| floor(i))
            .or_else(|| self.idle.iter().copied().min_by_key(|&i| floor(i)))?;
        self.claim(best, stream, true);
        Some(best)
    }

    /// Gives session `i` to `stream` (`shared`: in addition to the stream that has it).
    fn claim(&mut self, i: usize, stream: &Stream, shared: bool) {
        let slot = &mut self.slots[i];
        if shared {
            if !slot.shared {
                tracing::warn!(
                    session = i,
                    source = stream.as_deref().unwrap_or("-"),
                    "sdl: no session left for another input; it shares one, and its events \
                     older than the session's last one are moved (their own time kept in {ORIGINAL_TS})"
                );
            }
            slot.shared = true;
        } else {
            slot.stream = Some(stream.clone());
        }
    }

    fn drain_pending(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        while let Some(record) = self.pending.front() {
            let (t, stream) = (record.event.ts, record.source.clone());
            let Some(session) = self.route(t, &stream, now) else {
                break;
            };
            let record = self.pending.pop_front().expect("the front was just seen");
            self.push(session, record, now);
        }
    }

    fn push(&mut self, session: usize, record: Record, now: Instant) {
        let Record {
            event,
            source,
            entry,
            position,
        } = record;
        if let Some(id) = &event.log
            && !self.log_ids.contains(id)
        {
            let error = Error::InvalidEvent {
                reason: format!("it refers to log id `{id}`, which is not among the declared logs"),
            };
            self.fail(
                None,
                error,
                vec![Record {
                    event,
                    source,
                    entry,
                    position,
                }],
            );
            return;
        }
        let meta = Meta {
            entry,
            source,
            position,
            ts: event.ts,
            own_mark: event.attrs.get(ORIGINAL_TS).is_some(),
        };
        let slot = &mut self.slots[session];
        let pushed = match &meta.source {
            Some(s) => slot.builder.push_from(s, event),
            None => slot.builder.push(event),
        };
        match pushed {
            Ok(None) => {
                if slot.open.is_empty() {
                    slot.first_at = now;
                }
                slot.open.push(meta);
                // Close the batch when an average event would no longer fit, so an event
                // rarely has to move to another batch.
                let b = &slot.builder;
                let average = b.pending_len() / b.pending_events().max(1);
                if b.pending_len() + 2 * average > b.limit() {
                    self.hand_off(session, true, now);
                }
            }
            Ok(Some(ready)) => {
                let metas = std::mem::take(&mut slot.open);
                // The event that did not fit started the builder's next request: take it
                // back, so it goes to whichever session suits it next.
                let (mut left, truncated) = slot.builder.take_pending();
                self.dispatch(session, ready, metas, true, now);
                // Cut to fit there, it is not cut again: count it now or never.
                add(&self.counters.events_truncated, truncated as u64);
                if let Some(mut event) = left.pop() {
                    meta.restore(&mut event);
                    self.pending.push_front(Record {
                        event,
                        source: meta.source,
                        entry: meta.entry,
                        position: meta.position,
                    });
                }
            }
            Err(model::Error::EventTooLarge { size, limit, event }) => {
                let record = Record {
                    event: *event,
                    source: meta.source,
                    entry: meta.entry,
                    position: meta.position,
                };
                self.fail(None, Error::EventTooLarge { size, limit }, vec![record]);
            }
            Err(e) => {
                // The model documents only the two errors above; the event is gone.
                tracing::error!(error = %e, "sdl request builder refused an event");
                add(&self.counters.events_failed, 1);
            }
        }
    }

    /// Reports failed records.
    fn fail(&mut self, session: Option<usize>, error: Error, records: Vec<Record>) {
        tracing::warn!(%error, events = records.len(), "sdl events failed");
        add(&self.counters.events_failed, records.len() as u64);
        self.actions
            .push_back(Action::Report(Report::Failed(Failure {
                session,
                error,
                records,
            })));
    }

    /// Ends `session`'s open batch, if it has events, and sends it.
    fn hand_off(&mut self, session: usize, full: bool, now: Instant) {
        let slot = &mut self.slots[session];
        if slot.open.is_empty() {
            return;
        }
        let metas = std::mem::take(&mut slot.open);
        let ready = slot
            .builder
            .finish()
            .expect("a batch with events has a pending request");
        self.dispatch(session, ready, metas, full, now);
    }

    /// Ends every open batch.
    fn hand_off_all(&mut self, now: Instant) {
        for session in 0..self.slots.len() {
            self.hand_off(session, false, now);
        }
    }

    fn dispatch(
        &mut self,
        session: usize,
        ready: ReadyRequest,
        metas: Vec<Meta>,
        full: bool,
        now: Instant,
    ) {
        debug_assert_eq!(ready.event_count(), metas.len());
        let metas = body_order(metas, self.timestamps);
        debug_assert!(
            ready.events().iter().zip(&metas).all(|(e, m)| e.ts >= m.ts),
            "metadata follows the builder's body order"
        );
        add(&self.counters.events_truncated, ready.truncated() as u64);
        add(&self.counters.events_ts_moved, ready.ts_moved() as u64);
        let batch = self.next_batch;
        self.next_batch += 1;
        self.idle.retain(|&i| i != session);
        let slot = &mut self.slots[session];
        slot.counters.busy.store(true, Ordering::Relaxed);
        slot.job = Some(Job {
            batch,
            parts: VecDeque::from([(ready, metas)]),
            stage: placeholder(),
        });
        let stream = self.slots[session].stream.clone();
        self.start_part(session, now);
        // Another session for a stream that fills batches faster than its sessions send.
        let free = |slot: &Slot| slot.stream.is_none() || slot.stream == stream;
        if full && !self.idle.iter().any(|&i| free(&self.slots[i])) {
            self.maybe_scale(now);
        }
    }

    fn maybe_scale(&mut self, now: Instant) {
        if self.slots.len() >= self.max_sessions
            || now.saturating_duration_since(self.last_scale) < self.scale_interval
        {
            return;
        }
        let busy = self.slots.len();
        match self.add_session(now) {
            Ok(()) => tracing::info!(
                sessions = self.slots.len(),
                "sdl: every session busy with a full batch ready; added a session"
            ),
            Err(e) => tracing::warn!(error = %e, busy, "sdl: cannot add a session"),
        }
    }

    /// Answers the flushes whose batches have all settled.
    fn check_flushes(&mut self) {
        let oldest_busy = self
            .slots
            .iter()
            .filter_map(|s| s.job.as_ref().map(|j| j.batch))
            .min();
        let (settled, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(threshold, _)| oldest_busy.is_none_or(|b| b >= *threshold));
        self.flushes = waiting;
        for (_, flush) in settled {
            self.actions.push_back(Action::FlushDone {
                flush,
                result: Ok(()),
            });
        }
    }

    // ----- one session's requests -----

    /// The busy session waiting for `ticket`, if any.
    fn awaiting(&self, ticket: Ticket) -> Option<usize> {
        self.slots.iter().position(|s| {
            s.job.as_ref().is_some_and(|j| match j.stage {
                Stage::Compressing { ticket: t, .. } | Stage::InFlight { ticket: t, .. } => {
                    t == ticket
                }
                Stage::Pacing { .. } | Stage::Backoff { .. } => false,
            })
        })
    }

    /// Starts sending the front part of `session`'s job: compress it once, then attempts.
    fn start_part(&mut self, session: usize, now: Instant) {
        self.prepare_body(session, None, now);
    }

    /// Gets the front part's body ready for `run` (a new run when `None`): compressed
    /// first when configured, then paced and sent.
    fn prepare_body(&mut self, session: usize, run: Option<Run>, now: Instant) {
        let job = self.slots[session].job.as_mut().expect("a busy session");
        let body = job
            .parts
            .front()
            .expect("a job has a part")
            .0
            .body()
            .clone();
        match (self.compression, run) {
            (Some(level), run) => {
                let ticket = new_ticket(&mut self.next_ticket);
                job.stage = Stage::Compressing { ticket, run };
                self.actions.push_back(Action::Compress {
                    session,
                    ticket,
                    body,
                    level,
                });
            }
            (None, None) => self.begin_run(session, body, false, now),
            (None, Some(mut run)) => {
                run.wire = body;
                run.gzip = false;
                self.pace(session, run, now);
            }
        }
    }

    /// The body is on hand: the retry run starts (one first attempt in the budget).
    fn begin_run(&mut self, session: usize, wire: Bytes, gzip: bool, now: Instant) {
        self.budget.deposit(now);
        let run = Run {
            start: now,
            attempts: 0,
            wire,
            gzip,
        };
        self.pace(session, run, now);
    }

    /// Starts the next attempt if the session's pacer lets the body go now; otherwise
    /// waits for it.
    fn pace(&mut self, session: usize, mut run: Run, now: Instant) {
        let slot = &mut self.slots[session];
        let job = slot.job.as_mut().expect("a busy session");
        let raw = job.parts.front().expect("a job has a part").0.body().len() as u64;
        let wait = slot.pacer.delay(raw, now);
        if !wait.is_zero() {
            job.stage = Stage::Pacing {
                run,
                wake: now + wait,
            };
            return;
        }
        slot.pacer.take(raw, now);
        run.attempts += 1;
        add(&self.counters.attempts, 1);
        add(&slot.counters.attempts, 1);
        let ticket = new_ticket(&mut self.next_ticket);
        self.actions.push_back(Action::Send {
            session,
            ticket,
            attempt: run.attempts,
            body: run.wire.clone(),
            gzip: run.gzip,
        });
        job.stage = Stage::InFlight { run, ticket };
    }

    /// The backoff is over: take a retry from the budget and pace the next attempt, or
    /// wait for the budget, or give up when that would pass the policy's `max_elapsed`.
    fn retry(&mut self, session: usize, run: Run, verdict: Verdict, now: Instant) {
        if self.budget.try_withdraw(now) {
            self.resume(session, run, now);
            return;
        }
        let recheck = self.policy.config().budget_recheck;
        if let Some(max) = self.policy.config().stop.max_elapsed
            && now
                .saturating_duration_since(run.start)
                .saturating_add(recheck)
                > max
        {
            let finish = Finish::GaveUp(GaveUp::MaxElapsed(max));
            let sent = sent(finish, &run, verdict, Ok(None));
            self.settle(session, sent, now);
            return;
        }
        let job = self.slots[session].job.as_mut().expect("a busy session");
        job.stage = Stage::Backoff {
            run,
            wake: now + recheck,
            verdict,
        };
    }

    /// Goes on with a run after its backoff: the next attempt, once the body is on hand
    /// (a run moved to a new session by [`Dispatcher::renew`] has its body built, and
    /// compressed, again).
    fn resume(&mut self, session: usize, run: Run, now: Instant) {
        if run.wire.is_empty() {
            self.prepare_body(session, Some(run), now);
        } else {
            self.pace(session, run, now);
        }
    }

    /// After a timed-out attempt, `session` goes on under a new session id, and the old
    /// id is never used again.
    ///
    /// The seed: "Only one request can be in-flight at a time for a session". A request
    /// that timed out may still be held by the server (a frozen or slow server reads it,
    /// or answers it, later): a retry on the same session could overlap it. So the slot
    /// gets a new session (id, builder, counters; its pacer and stream stay), and the
    /// requests it still has to send (the one that timed out first) are built again for
    /// it, from the same events: the body carries the new session id, and declares again
    /// what the old session had declared. Their run goes on (attempts, elapsed time,
    /// backoff); its body is built and compressed again before the next attempt.
    fn renew(&mut self, session: usize, now: Instant) {
        let (id, builder) = match self.new_builder() {
            Ok(fresh) => fresh,
            Err(e) => {
                // The header was valid for every session so far; a new id cannot break it.
                tracing::error!(error = %e, "sdl: cannot start a new session");
                return;
            }
        };
        let counters = self.counters.add_session(id);
        let slot = &mut self.slots[session];
        tracing::info!(
            session,
            old = %slot.counters.session,
            new = %counters.session,
            "sdl: a request timed out and the server may still hold it; \
             its session is not used again, the retry goes to a new session"
        );
        slot.counters.busy.store(false, Ordering::Relaxed);
        counters.busy.store(slot.job.is_some(), Ordering::Relaxed);
        slot.counters = counters;
        slot.builder = builder;
        slot.renew = false;
        let Some(job) = slot.job.as_mut() else {
            return;
        };
        if let Stage::Backoff { run, .. } = &mut job.stage {
            run.wire = Bytes::new();
        }
        let records: Vec<Record> = std::mem::take(&mut job.parts)
            .into_iter()
            .flat_map(|(request, metas)| records_of(request, metas))
            .collect();
        let parts = self.rebuild(session, records);
        let job = self.slots[session].job.as_mut().expect("a busy session");
        job.parts = parts;
        if job.parts.is_empty() {
            // Every event failed to fit again (not expected: each fitted before).
            self.job_done(session);
        } else if !matches!(job.stage, Stage::Backoff { .. }) {
            self.start_part(session, now);
        }
    }

    /// `records` (in body order) as requests of `session`'s builder, in order.
    fn rebuild(&mut self, session: usize, records: Vec<Record>) -> VecDeque<Part> {
        let mut parts = VecDeque::new();
        let mut metas = Vec::new();
        let mut failed = Vec::new();
        for Record {
            event,
            source,
            entry,
            position,
        } in records
        {
            let meta = Meta {
                entry,
                source,
                position,
                ts: event.ts,
                own_mark: event.attrs.get(ORIGINAL_TS).is_some(),
            };
            let builder = &mut self.slots[session].builder;
            let pushed = match &meta.source {
                Some(s) => builder.push_from(s, event),
                None => builder.push(event),
            };
            match pushed {
                Ok(None) => metas.push(meta),
                Ok(Some(ready)) => {
                    let done = body_order(std::mem::take(&mut metas), self.timestamps);
                    parts.push_back((ready, done));
                    metas.push(meta);
                }
                Err(model::Error::EventTooLarge { size, limit, event }) => {
                    let record = Record {
                        event: *event,
                        source: meta.source,
                        entry: meta.entry,
                        position: meta.position,
                    };
                    failed.push((Error::EventTooLarge { size, limit }, record));
                }
                Err(e) => {
                    tracing::error!(error = %e, "sdl request builder refused an event");
                    add(&self.counters.events_failed, 1);
                }
            }
        }
        if let Some(ready) = self.slots[session].builder.finish() {
            parts.push_back((ready, body_order(metas, self.timestamps)));
        }
        for (error, record) in failed {
            self.fail(Some(session), error, vec![record]);
        }
        parts
    }

    /// `session`'s job has no part left: it is idle.
    fn job_done(&mut self, session: usize) {
        let slot = &mut self.slots[session];
        slot.job = None;
        slot.counters.busy.store(false, Ordering::Relaxed);
        if !self.stopping {
            self.idle.push_back(session);
        }
        self.check_flushes();
    }

    /// Acts on how the front part of `session`'s job ended, then goes on with the next.
    fn settle(&mut self, session: usize, sent: Sent, now: Instant) {
        let job = self.slots[session].job.as_mut().expect("a busy session");
        let batch = job.batch;
        let (request, metas) = job.parts.pop_front().expect("the front part exists");
        match sent {
            Sent::Delivered {
                attempts,
                wire_bytes,
                response,
            } => self.delivered(
                session, batch, &request, &metas, attempts, wire_bytes, response,
            ),
            Sent::Split => {
                add(&self.counters.splits, 1);
                match request.split() {
                    Some((first, second)) => {
                        tracing::debug!(
                            events = request.event_count(),
                            bytes = request.body().len(),
                            "sdl request too large for the server; split in two"
                        );
                        let mut metas = metas;
                        let rest = metas.split_off(first.event_count());
                        job.parts.push_front((second, rest));
                        job.parts.push_front((first, metas));
                    }
                    None => {
                        let error = Error::EventTooLarge {
                            size: request.body().len(),
                            limit: self.max_body,
                        };
                        self.fail(Some(session), error, records_of(request, metas));
                    }
                }
            }
            Sent::Failed(error) => self.fail(Some(session), error, records_of(request, metas)),
            Sent::Stop(error) => {
                job.parts.push_front((request, metas));
                self.end_job(session);
                if self.stopped.is_none() {
                    tracing::error!(%error, "sdl sender stopped");
                    self.stopped = Some(error.clone());
                    self.actions.push_back(Action::Stopped(error.clone()));
                    self.actions
                        .push_back(Action::Report(Report::Stopped(error)));
                }
                self.stop_all();
                return;
            }
        }
        if self.slots[session].renew {
            // Its last attempt timed out: the rest goes to a new session, and so does
            // the next batch.
            self.renew(session, now);
            if self.slots[session].job.is_none() {
                return;
            }
        }
        let job = self.slots[session].job.as_ref().expect("a busy session");
        if job.parts.is_empty() {
            self.job_done(session);
        } else {
            self.start_part(session, now);
        }
    }

    /// Takes `session`'s job away, its unsettled records to the unsent ones.
    fn end_job(&mut self, session: usize) {
        let slot = &mut self.slots[session];
        slot.counters.busy.store(false, Ordering::Relaxed);
        if let Some(job) = slot.job.take() {
            for (request, metas) in job.parts {
                self.unsent.extend(records_of(request, metas));
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    fn delivered(
        &mut self,
        session: usize,
        batch: u64,
        request: &ReadyRequest,
        metas: &[Meta],
        attempts: u32,
        wire_bytes: usize,
        response: Option<AddEventsResponse>,
    ) {
        let c = &self.counters;
        let counters = &self.slots[session].counters;
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
        self.actions
            .push_back(Action::Report(Report::Delivered(Delivery {
                session,
                batch,
                events: request.event_count(),
                entries: metas.iter().filter_map(|m| m.entry).collect(),
                attempts,
                body_bytes: request.body().len(),
                wire_bytes,
                bytes_charged: charged,
                bytes_charged_estimate: estimate,
                warning,
            })));
    }

    /// Stops everything: no more reading, every queued, batched or unsettled event to
    /// `unsent`, sessions cancelled.
    fn stop_all(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.actions.push_back(Action::CloseIntake);
        let error = self.stopped.clone().unwrap_or(Error::Closed);
        self.unsent.extend(self.pending.drain(..));
        for slot in &mut self.slots {
            let metas = std::mem::take(&mut slot.open);
            if let Some(ready) = slot.builder.finish() {
                let metas = body_order(metas, self.timestamps);
                self.unsent.extend(records_of(ready, metas));
            }
        }
        for (_, flush) in std::mem::take(&mut self.flushes) {
            self.actions.push_back(Action::FlushDone {
                flush,
                result: Err(error.clone()),
            });
        }
        for session in 0..self.slots.len() {
            if self.slots[session].job.is_some() {
                self.end_job(session);
                self.actions.push_back(Action::Cancel { session });
            }
        }
    }
}

/// The next ticket (the first is 1, so the placeholder's 0 is never awaited).
fn new_ticket(last: &mut Ticket) -> Ticket {
    *last += 1;
    *last
}

/// A stage that is replaced before anyone looks at it.
fn placeholder() -> Stage {
    Stage::Compressing {
        ticket: 0,
        run: None,
    }
}

/// Whether an attempt timed out: it got no answer in time, and the server may still hold
/// the request.
fn is_timeout(verdict: &Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Retry {
            cause: RetryCause::Transport(TransportFailure::Timeout),
            ..
        }
    )
}

/// What a finished retry run means for the part: the old `send_request`'s mapping.
fn sent(finish: Finish, run: &Run, last_verdict: Verdict, answer: Answer) -> Sent {
    let (response, failure) = match answer {
        Ok(response) => (response, None),
        Err(failure) => (None, Some(failure)),
    };
    match finish {
        Finish::Delivered => Sent::Delivered {
            attempts: run.attempts,
            wire_bytes: run.wire.len(),
            response,
        },
        Finish::Split => Sent::Split,
        Finish::GaveUp(GaveUp::Fatal(reason)) if classify::credentials_refused(&reason) => {
            Sent::Stop(Error::Stopped { reason })
        }
        // No reply, and none can come: an untrusted certificate (the only transport
        // failure classified `Stop`; its message says what to check), or a request that
        // could not be built.
        Finish::GaveUp(GaveUp::Stopped) => Sent::Stop(Error::Unreachable {
            message: failure.unwrap_or_else(|| last_verdict.to_string()),
        }),
        Finish::GaveUp(GaveUp::Fatal(reason)) => Sent::Failed(Error::Refused { reason }),
        Finish::GaveUp(_) | Finish::Reauthenticate => Sent::Failed(Error::GaveUp {
            attempts: run.attempts,
            retry_after: last_verdict.retry_after(SystemTime::now()),
            last: last_verdict.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    //! The dispatcher on synthetic time: no runtime, no socket, a seeded RNG.

    use super::*;
    use crate::{Pacing, Sessions};
    use http::{HeaderMap, StatusCode};
    use logferry_http::Secret;
    use logferry_retry::{TransportFailure, classify};
    use logferry_sdl_model::{Event, SessionInfo, parse_response};
    use std::collections::BTreeSet;

    const T0: u64 = 1_767_225_600_000_000_000;

    /// One session, no pacing, no gzip, 2 s linger, 2,000-byte bodies, retries after at
    /// most 100 ms; then `tweak`.
    fn config(tweak: impl FnOnce(&mut SdlConfig)) -> SdlConfig {
        let mut c = SdlConfig::new(
            "http://127.0.0.1:9".parse().expect("a loopback URL"),
            Secret::new("key"),
        );
        c.sessions = Sessions::Fixed(1);
        c.pacing = Pacing::Off;
        c.compression = None;
        c.linger = Duration::from_secs(2);
        c.max_body_bytes = 2_000;
        c.retry.base = Duration::from_millis(100);
        c.retry.cap = Duration::from_millis(100);
        tweak(&mut c);
        c
    }

    fn machine(config: &SdlConfig, now: Instant) -> Dispatcher {
        let header = SessionHeader::new(Session::new("template").expect("valid"))
            .with_info(SessionInfo::with_server_host("test-host"));
        let mut n = 0;
        let ids = Box::new(move || {
            n += 1;
            format!("00000000-0000-0000-0000-{n:012}")
        });
        let counters = Arc::new(Counters::default());
        Dispatcher::new(config, header, counters, now, ids, FastRng::with_seed(7))
            .expect("a valid config")
    }

    /// Record `i`, about 100 body bytes, with token `i`.
    fn record(i: u64) -> Record {
        let event = Event::message(
            Timestamp::from_nanos(T0 + i * 1_000),
            format!("event number {i} with a little text to give it some weight"),
        );
        Record::new(event).with_entry(i)
    }

    fn records(range: std::ops::Range<u64>) -> std::vec::IntoIter<Record> {
        range.map(record).collect::<Vec<_>>().into_iter()
    }

    fn drain(d: &mut Dispatcher) -> Vec<Action> {
        std::iter::from_fn(|| d.poll_action()).collect()
    }

    /// An attempt asked for: session, ticket, attempt, body.
    #[derive(Debug, Clone, PartialEq)]
    struct SendReq {
        session: usize,
        ticket: Ticket,
        attempt: u32,
        body: Bytes,
    }

    fn sends(actions: &[Action]) -> Vec<SendReq> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send {
                    session,
                    ticket,
                    attempt,
                    body,
                    gzip,
                } => {
                    assert!(!gzip, "compression is off in these tests");
                    Some(SendReq {
                        session: *session,
                        ticket: *ticket,
                        attempt: *attempt,
                        body: body.clone(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// The tokens of the delivered requests, and their attempts, in report order.
    fn delivered(actions: &[Action]) -> Vec<(Vec<u64>, u32)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Report(Report::Delivered(d)) => Some((d.entries.clone(), d.attempts)),
                _ => None,
            })
            .collect()
    }

    fn finished(actions: Vec<Action>) -> Option<ShutdownReport> {
        actions.into_iter().find_map(|a| match a {
            Action::Finished(report) => Some(report),
            _ => None,
        })
    }

    fn success() -> Outcome<Answer> {
        let response = parse_response(br#"{"status":"success","bytesCharged":10}"#).ok();
        Outcome::new(Verdict::Delivered, Ok(response))
    }

    fn status(code: u16, server_status: Option<&str>) -> Outcome<Answer> {
        let code = StatusCode::from_u16(code).expect("a status");
        Outcome::new(
            classify::sdl(code, &HeaderMap::new(), server_status, None),
            Ok(None),
        )
    }

    /// No reply: `failure`, classified as `logferry-http` does.
    fn no_reply(failure: TransportFailure, message: &str) -> Outcome<Answer> {
        Outcome::new(classify::transport(&failure), Err(message.to_owned()))
    }

    fn wall() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Record `i` of `source` at `base + i` ms, token `tag + i`.
    fn sourced(source: &str, base: u64, i: u64, tag: u64) -> Record {
        let event = Event::message(
            Timestamp::from_nanos(base + i * 1_000_000),
            format!("{source} event {i} with a little text to give it some weight"),
        );
        Record::new(event).from_source(source).with_entry(tag + i)
    }

    /// Drives `d` until everything is delivered (answering each attempt with success, the
    /// lingering batches cut by a tick), returning the events of every request body per
    /// session, in the order sent.
    fn deliver_all(d: &mut Dispatcher, mut now: Instant) -> Vec<Vec<Event>> {
        let mut per_session: Vec<Vec<Event>> = Vec::new();
        d.flush(1, now);
        loop {
            let actions = drain(d);
            let sent = sends(&actions);
            if sent.is_empty() {
                if d.wake_at().is_none() {
                    break;
                }
                now = d.wake_at().expect("a wait");
                d.tick(now);
                continue;
            }
            for s in sent {
                let parsed = model::parse_request(&mut s.body.to_vec()).expect("a valid body");
                if per_session.len() <= s.session {
                    per_session.resize(s.session + 1, Vec::new());
                }
                per_session[s.session].extend(parsed.events);
                d.answered(s.ticket, success(), now, wall());
            }
        }
        per_session
    }

    #[test]
    fn inputs_with_independent_clocks_get_sessions_of_their_own_and_keep_their_times() {
        let t0 = Instant::now();
        let twenty_minutes = 20 * 60 * 1_000_000_000;
        let mut d = machine(
            &config(|c| c.sessions = Sessions::Auto { min: 1, max: 8 }),
            t0,
        );
        // Host a's file, then host b's, whose clock is 20 minutes behind; then both at
        // once.
        d.records(
            (0..30)
                .map(|i| sourced("a", T0 + twenty_minutes, i, 0))
                .collect::<Vec<_>>()
                .into_iter(),
            t0,
        );
        d.records(
            (0..30)
                .map(|i| sourced("b", T0, i, 1_000))
                .collect::<Vec<_>>()
                .into_iter(),
            t0,
        );
        let mixed: Vec<Record> = (30..60)
            .flat_map(|i| {
                [
                    sourced("a", T0 + twenty_minutes, i, 0),
                    sourced("b", T0, i, 1_000),
                ]
            })
            .collect();
        let per_session = deliver_all(&mut d, t0);
        d.records(mixed.into_iter(), t0);
        let more = deliver_all(&mut d, t0);
        let mut sessions_of = std::collections::BTreeMap::<String, BTreeSet<usize>>::new();
        let mut count = 0;
        for (session, events) in per_session
            .iter()
            .enumerate()
            .chain(more.iter().enumerate())
        {
            for e in events {
                let message = e
                    .attrs
                    .get("message")
                    .and_then(|m| m.as_str())
                    .expect("a message");
                let (source, rest) = message.split_once(" event ").expect("tagged");
                let i: u64 = rest
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("an index");
                let base = if source == "a" {
                    T0 + twenty_minutes
                } else {
                    T0
                };
                assert_eq!(
                    e.ts.as_nanos(),
                    base + i * 1_000_000,
                    "{message}: its own time"
                );
                assert!(e.attrs.get(ORIGINAL_TS).is_none());
                sessions_of
                    .entry(source.to_owned())
                    .or_default()
                    .insert(session);
                count += 1;
            }
        }
        assert_eq!(count, 120);
        for (session, events) in per_session.iter().enumerate() {
            let mut all = events.clone();
            all.extend(more.get(session).cloned().unwrap_or_default());
            assert!(
                all.windows(2).all(|w| w[0].ts < w[1].ts),
                "session {session}: times strictly increasing"
            );
        }
        let (a, b) = (&sessions_of["a"], &sessions_of["b"]);
        assert!(a.is_disjoint(b), "a in {a:?}, b in {b:?}");
        assert_eq!(d.counters.snapshot().events_ts_moved, 0);
    }

    #[test]
    fn with_no_session_left_an_older_event_is_moved_its_own_time_kept_and_counted() {
        let t0 = Instant::now();
        let mut d = machine(&config(|c| c.sessions = Sessions::Fixed(1)), t0);
        d.records(
            (0..3)
                .map(|i| sourced("a", T0 + 60_000_000_000, i, 0))
                .collect::<Vec<_>>()
                .into_iter(),
            t0,
        );
        let first = deliver_all(&mut d, t0);
        d.records(
            (0..2)
                .map(|i| sourced("b", T0, i, 10))
                .collect::<Vec<_>>()
                .into_iter(),
            t0,
        );
        let second = deliver_all(&mut d, t0);
        let last_a = first[0].last().expect("a's events").ts;
        let b = &second[0];
        assert_eq!(b.len(), 2);
        for (i, e) in b.iter().enumerate() {
            assert!(e.ts > last_a, "after the session's last time");
            assert_eq!(
                e.attrs.get(ORIGINAL_TS),
                Some(&model::AttrValue::from(
                    (T0 + i as u64 * 1_000_000).to_string()
                )),
                "its own time kept"
            );
        }
        assert_eq!(d.counters.snapshot().events_ts_moved, 2);
    }

    #[test]
    fn a_time_older_than_its_sessions_last_opens_a_session_rather_than_moving() {
        let t0 = Instant::now();
        let mut d = machine(
            &config(|c| c.sessions = Sessions::Auto { min: 1, max: 2 }),
            t0,
        );
        d.records(records(10..13), t0);
        let first = deliver_all(&mut d, t0);
        assert_eq!(first.len(), 1);
        // A late record of the same input: session 0 already sent later times.
        d.records(records(0..1), t0);
        let second = deliver_all(&mut d, t0);
        assert_eq!(second.len(), 2, "a second session");
        assert_eq!(second[1][0].ts.as_nanos(), T0, "its own time");
        assert_eq!(d.counters.snapshot().events_ts_moved, 0);
    }

    #[test]
    fn a_batch_is_cut_when_its_linger_expires() {
        let t0 = Instant::now();
        let mut d = machine(&config(|_| {}), t0);
        d.records(records(0..2), t0 + ms(10));
        assert!(sends(&drain(&mut d)).is_empty(), "two small events wait");
        assert!(d.wants_records());
        assert_eq!(d.wake_at(), Some(t0 + ms(10) + Duration::from_secs(2)));
        // A later event does not move the linger: it counts from the first.
        d.records(records(2..3), t0 + ms(500));
        d.tick(t0 + ms(2_009));
        assert!(sends(&drain(&mut d)).is_empty(), "not before the linger");
        d.tick(t0 + ms(2_010));
        let sent = sends(&drain(&mut d));
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].session, sent[0].attempt), (0, 1));
        d.answered(sent[0].ticket, success(), t0 + ms(2_050), wall());
        assert_eq!(delivered(&drain(&mut d)), [(vec![0, 1, 2], 1)]);
        assert_eq!(d.wake_at(), None, "nothing left to wait for");
    }

    #[test]
    fn a_full_batch_is_cut_and_a_session_has_one_request_at_a_time() {
        let t0 = Instant::now();
        let mut d = machine(&config(|_| {}), t0);
        d.records(records(0..50), t0);
        let mut entries = Vec::new();
        let mut now = t0;
        loop {
            let actions = drain(&mut d);
            for (tokens, _) in delivered(&actions) {
                entries.extend(tokens);
            }
            let sent = sends(&actions);
            if sent.is_empty() {
                break;
            }
            assert_eq!(sent.len(), 1, "one request in flight for the one session");
            assert!(sent[0].body.len() <= 2_000);
            assert!(
                sent[0].body.len() > 1_500,
                "cut when full: {}",
                sent[0].body.len()
            );
            assert!(!d.wants_records(), "no idle session: the intake waits");
            now += ms(20);
            d.tick(now);
            assert!(
                sends(&drain(&mut d)).is_empty(),
                "nothing more before the answer"
            );
            d.answered(sent[0].ticket, success(), now, wall());
        }
        // The rest (less than a full body) lingers.
        assert!(
            entries.len() < 50,
            "{} delivered in full batches",
            entries.len()
        );
        d.tick(now + Duration::from_secs(2));
        let sent = sends(&drain(&mut d));
        assert_eq!(sent.len(), 1);
        d.answered(
            sent[0].ticket,
            success(),
            now + Duration::from_secs(2),
            wall(),
        );
        for (tokens, _) in delivered(&drain(&mut d)) {
            entries.extend(tokens);
        }
        assert_eq!(entries, (0..50).collect::<Vec<_>>(), "each once, in order");
        let stats = d.counters.snapshot();
        assert_eq!((stats.events_in, stats.events_delivered), (50, 50));
        assert_eq!(stats.attempts, stats.requests);
    }

    #[test]
    fn pacing_delays_the_next_attempt() {
        let t0 = Instant::now();
        let c = config(|c| {
            c.pacing = Pacing::PerSession {
                bytes_per_sec: 1_000,
            }
        });
        let mut d = machine(&c, t0);
        d.records(records(0..40), t0);
        let first = sends(&drain(&mut d));
        assert_eq!(
            first.len(),
            1,
            "a full bucket lets the first body go at once"
        );
        d.answered(first[0].ticket, success(), t0, wall());
        let actions = drain(&mut d);
        assert_eq!(delivered(&actions).len(), 1);
        assert!(
            sends(&actions).is_empty(),
            "the second body waits for the bucket"
        );
        // The bucket holds one body (2,000 bytes) and refills at 1,000 bytes/s.
        let tokens = 2_000.0 - first[0].body.len() as f64;
        let wake = d.wake_at().expect("a pacing wait");
        let waited = wake - t0;
        assert!(waited > Duration::from_secs(1), "{waited:?}");
        d.tick(wake - ms(1));
        assert!(sends(&drain(&mut d)).is_empty(), "not a millisecond early");
        assert_eq!(d.wake_at(), Some(wake));
        d.tick(wake);
        let second = sends(&drain(&mut d));
        assert_eq!(second.len(), 1);
        let need = second[0].body.len() as f64 - tokens;
        let expected = Duration::from_secs_f64(need / 1_000.0);
        assert!(
            waited >= expected && waited <= expected + ms(1),
            "{waited:?} for {expected:?}"
        );
    }

    #[test]
    fn a_failed_request_is_retried_after_its_backoff() {
        let t0 = Instant::now();
        let mut d = machine(&config(|_| {}), t0);
        d.records(records(0..3), t0);
        d.flush(1, t0);
        let first = sends(&drain(&mut d));
        assert_eq!(first.len(), 1);
        d.answered(first[0].ticket, status(503, None), t0 + ms(5), wall());
        let actions = drain(&mut d);
        assert!(sends(&actions).is_empty() && delivered(&actions).is_empty());
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::FlushDone { .. })),
            "the flush waits for the retry"
        );
        let wake = d.wake_at().expect("a backoff");
        assert!(wake <= t0 + ms(105), "full jitter under the 100 ms bound");
        assert_eq!(d.counters.snapshot().retries, 1);
        if wake > t0 + ms(5) {
            d.tick(wake - Duration::from_nanos(1));
            assert!(sends(&drain(&mut d)).is_empty(), "not before the backoff");
        }
        d.tick(wake);
        let second = sends(&drain(&mut d));
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].attempt, 2);
        assert_eq!(second[0].body, first[0].body, "the same body again");
        assert_ne!(second[0].ticket, first[0].ticket);
        // A stale answer to the first attempt changes nothing.
        d.answered(first[0].ticket, success(), wake, wall());
        assert!(drain(&mut d).is_empty());
        d.answered(second[0].ticket, success(), wake + ms(5), wall());
        let actions = drain(&mut d);
        assert_eq!(delivered(&actions), [(vec![0, 1, 2], 2)]);
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::FlushDone {
                flush: 1,
                result: Ok(())
            }
        )));
        let stats = d.counters.snapshot();
        assert_eq!((stats.attempts, stats.requests), (2, 1));
    }

    #[test]
    fn a_request_too_large_for_the_server_is_split_and_both_halves_sent() {
        let t0 = Instant::now();
        let mut d = machine(&config(|_| {}), t0);
        d.records(records(0..6), t0);
        d.flush(1, t0);
        let whole = sends(&drain(&mut d));
        d.answered(whole[0].ticket, status(413, None), t0, wall());
        let first = sends(&drain(&mut d));
        assert_eq!(first.len(), 1, "the halves go one after the other");
        assert!(first[0].body.len() < whole[0].body.len());
        d.answered(first[0].ticket, success(), t0, wall());
        let actions = drain(&mut d);
        let second = sends(&actions);
        assert_eq!(delivered(&actions), [(vec![0, 1, 2], 1)]);
        d.answered(second[0].ticket, success(), t0, wall());
        assert_eq!(delivered(&drain(&mut d)), [(vec![3, 4, 5], 1)]);
        assert_eq!(d.counters.snapshot().splits, 1);
    }

    #[test]
    fn a_session_is_added_when_every_session_is_busy_with_a_full_batch() {
        let t0 = Instant::now();
        let c = config(|c| {
            c.sessions = Sessions::Auto { min: 1, max: 3 };
            c.scale_interval = ms(100);
        });
        let mut d = machine(&c, t0);
        d.records(records(0..100), t0);
        let first = sends(&drain(&mut d));
        assert_eq!(first.len(), 1);
        assert_eq!(
            d.counters.snapshot().sessions.len(),
            1,
            "not within the scale interval"
        );
        d.answered(first[0].ticket, success(), t0 + ms(150), wall());
        let next: Vec<usize> = sends(&drain(&mut d)).iter().map(|s| s.session).collect();
        assert_eq!(next, [0, 1], "a second session takes the next full batch");
        let stats = d.counters.snapshot();
        assert_eq!(stats.sessions.len(), 2);
        assert_ne!(stats.sessions[0].session, stats.sessions[1].session);
        assert!(stats.sessions.iter().all(|s| s.busy));
    }

    #[test]
    fn an_idle_sender_does_not_scale() {
        let t0 = Instant::now();
        let c = config(|c| c.sessions = Sessions::Auto { min: 1, max: 3 });
        let mut d = machine(&c, t0);
        for i in 0..5 {
            let now = t0 + Duration::from_secs(3 * i);
            d.records(records(i..i + 1), now);
            d.tick(now + Duration::from_secs(2));
            let sent = sends(&drain(&mut d));
            d.answered(
                sent[0].ticket,
                success(),
                now + Duration::from_secs(2),
                wall(),
            );
        }
        assert_eq!(d.counters.snapshot().sessions.len(), 1);
    }

    #[test]
    fn shutdown_sends_what_is_batched_and_reports_the_rest_at_the_deadline() {
        let t0 = Instant::now();
        let mut d = machine(&config(|c| c.sessions = Sessions::Fixed(2)), t0);
        d.records(records(0..60), t0);
        let sent = sends(&drain(&mut d));
        assert_eq!(sent.iter().map(|s| s.session).collect::<Vec<_>>(), [0, 1]);
        d.shutdown(t0 + Duration::from_secs(1), t0);
        // The intake ended (the driver read the close): what waits is still sent.
        d.close(t0);
        assert!(drain(&mut d).is_empty());
        d.answered(sent[0].ticket, success(), t0 + ms(100), wall());
        let actions = drain(&mut d);
        let mut entries: Vec<u64> = delivered(&actions).into_iter().flat_map(|d| d.0).collect();
        assert_eq!(sends(&actions).len(), 1, "session 0 takes the next batch");
        assert_eq!(d.wake_at(), Some(t0 + Duration::from_secs(1)));
        d.tick(t0 + Duration::from_secs(1));
        let actions = drain(&mut d);
        let cancelled: Vec<usize> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Cancel { session } => Some(*session),
                _ => None,
            })
            .collect();
        assert_eq!(cancelled, [0, 1]);
        let report = finished(actions).expect("finished at the deadline");
        assert!(report.timed_out);
        assert!(report.stopped.is_none());
        let unsent: Vec<u64> = report.unsent.iter().filter_map(|r| r.entry).collect();
        assert!(!unsent.is_empty());
        entries.extend(unsent);
        assert_eq!(
            entries.iter().copied().collect::<BTreeSet<_>>(),
            (0..60).collect(),
            "every record delivered or unsent"
        );
        assert_eq!(entries.len(), 60, "none twice");
        assert!(
            report
                .unsent
                .iter()
                .all(|r| r.event.ts >= Timestamp::from_nanos(T0))
        );
    }

    #[test]
    fn a_graceful_shutdown_finishes_when_everything_is_delivered() {
        let t0 = Instant::now();
        let mut d = machine(&config(|_| {}), t0);
        d.records(records(0..3), t0);
        d.shutdown(t0 + Duration::from_secs(10), t0);
        d.close(t0);
        let sent = sends(&drain(&mut d));
        assert_eq!(
            sent.len(),
            1,
            "the intake ended: the lingering batch goes at once"
        );
        d.answered(sent[0].ticket, success(), t0 + ms(10), wall());
        let report = finished(drain(&mut d)).expect("finished");
        assert!(!report.timed_out && report.unsent.is_empty());
        assert_eq!(report.stats.events_delivered, 3);
        assert_eq!(d.wake_at(), None);
    }

    #[test]
    fn a_refused_key_stops_every_session() {
        let t0 = Instant::now();
        let mut d = machine(&config(|c| c.sessions = Sessions::Fixed(2)), t0);
        d.records(records(0..60), t0);
        let sent = sends(&drain(&mut d));
        assert_eq!(sent.len(), 2);
        d.answered(
            sent[1].ticket,
            status(401, Some("error/client/noPermission")),
            t0,
            wall(),
        );
        let actions = drain(&mut d);
        assert!(matches!(actions[0], Action::Stopped(Error::Stopped { .. })));
        assert!(matches!(actions[1], Action::Report(Report::Stopped(_))));
        assert!(matches!(actions[2], Action::CloseIntake));
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Cancel { session: 0 }))
        );
        assert!(
            finished(actions).is_none(),
            "not before the intake is drained"
        );
        // What the driver drains from the queue is unsent, not batched.
        d.records(records(60..62), t0);
        d.flush(9, t0);
        let actions = drain(&mut d);
        assert!(matches!(
            actions[..],
            [Action::FlushDone {
                flush: 9,
                result: Err(Error::Stopped { .. })
            }]
        ));
        d.close(t0);
        let report = finished(drain(&mut d)).expect("finished");
        assert!(matches!(report.stopped, Some(Error::Stopped { .. })));
        let mut unsent: Vec<u64> = report.unsent.iter().filter_map(|r| r.entry).collect();
        unsent.sort_unstable();
        assert_eq!(unsent, (0..62).collect::<Vec<_>>());
        assert_eq!(
            report.stats.events_in, 60,
            "drained records are not taken in"
        );
        // A late answer to the cancelled request is ignored.
        d.answered(sent[0].ticket, success(), t0, wall());
        assert!(drain(&mut d).is_empty());
    }

    #[test]
    fn an_untrusted_certificate_stops_the_sender_with_its_message() {
        let t0 = Instant::now();
        let mut d = machine(&config(|c| c.sessions = Sessions::Fixed(2)), t0);
        d.records(records(0..60), t0);
        let sent = sends(&drain(&mut d));
        assert_eq!(sent.len(), 2);
        // A connection refused is retried ...
        let refused = no_reply(TransportFailure::ConnectRefused, "connection refused");
        d.answered(sent[0].ticket, refused, t0, wall());
        let actions = drain(&mut d);
        assert!(actions.iter().all(|a| !matches!(a, Action::Stopped(_))));
        assert_eq!(d.counters.snapshot().retries, 1);
        // ... an untrusted certificate stops everything at once, saying why.
        let message = "POST http://127.0.0.1:9/api/addEvents: the server's TLS certificate is not trusted (invalid peer certificate: UnknownIssuer); give the CA ...";
        let untrusted = no_reply(TransportFailure::Certificate, message);
        d.answered(sent[1].ticket, untrusted, t0, wall());
        let actions = drain(&mut d);
        let Action::Stopped(Error::Unreachable { message: stopped }) = &actions[0] else {
            panic!("stopped on the certificate: {actions:?}")
        };
        assert_eq!(stopped, message);
        assert!(matches!(
            actions[1],
            Action::Report(Report::Stopped(Error::Unreachable { .. }))
        ));
        assert!(matches!(actions[2], Action::CloseIntake));
        d.close(t0);
        let report = finished(drain(&mut d)).expect("finished");
        assert!(matches!(report.stopped, Some(Error::Unreachable { .. })));
        assert_eq!(
            report.unsent.len(),
            60,
            "nothing given up, everything unsent"
        );
        assert_eq!(report.stats.events_failed, 0);
    }

    fn contains(body: &[u8], text: &str) -> bool {
        body.windows(text.len()).any(|w| w == text.as_bytes())
    }

    #[test]
    fn a_timed_out_request_is_retried_on_a_new_session_and_the_old_one_is_not_used_again() {
        let t0 = Instant::now();
        let mut d = machine(&config(|_| {}), t0);
        d.records(records(0..10), t0);
        d.flush(1, t0);
        let first = sends(&drain(&mut d));
        assert_eq!(first.len(), 1);
        let old = d.session_id(0).to_owned();
        assert!(contains(&first[0].body, &old));
        let timeout = no_reply(TransportFailure::Timeout, "no complete response within 10s");
        d.answered(first[0].ticket, timeout, t0 + ms(10), wall());
        assert!(
            sends(&drain(&mut d)).is_empty(),
            "the retry waits for its backoff"
        );
        let new = d.session_id(0).to_owned();
        assert_ne!(new, old);
        // The retry: the same events, under the new session id only.
        d.tick(t0 + ms(200));
        let retry = sends(&drain(&mut d));
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].attempt, 2, "the run goes on");
        assert!(contains(&retry[0].body, &new));
        assert!(!contains(&retry[0].body, &old));
        let renamed = String::from_utf8(first[0].body.to_vec())
            .expect("JSON")
            .replace(&old, &new);
        assert_eq!(retry[0].body, renamed.as_bytes());
        d.answered(retry[0].ticket, success(), t0 + ms(250), wall());
        let actions = drain(&mut d);
        assert_eq!(delivered(&actions), vec![((0..10).collect::<Vec<_>>(), 2)]);
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::FlushDone {
                flush: 1,
                result: Ok(())
            }
        )));
        // The next batch goes to the new session too.
        d.records(records(10..12), t0 + ms(300));
        d.flush(2, t0 + ms(300));
        let next = sends(&drain(&mut d));
        assert!(contains(&next[0].body, &new) && !contains(&next[0].body, &old));
        let stats = d.counters.snapshot();
        assert_eq!(stats.sessions.len(), 2);
        assert_eq!(
            (
                stats.sessions[0].session.as_str(),
                stats.sessions[0].requests
            ),
            (old.as_str(), 0)
        );
        assert!(!stats.sessions[0].busy);
        assert_eq!(stats.sessions[1].session, new);
    }

    #[test]
    fn a_timed_out_compressed_request_is_compressed_again_for_its_new_session() {
        let t0 = Instant::now();
        let mut d = machine(&config(|c| c.compression = Some(Level::default())), t0);
        d.records(records(0..5), t0);
        d.flush(1, t0);
        let Some(Action::Compress { ticket, body, .. }) = drain(&mut d).into_iter().next() else {
            panic!("compress first")
        };
        let old = d.session_id(0).to_owned();
        assert!(contains(&body, &old));
        d.compressed(ticket, Bytes::from_static(b"gz1"), t0);
        let Some(Action::Send { ticket, .. }) = drain(&mut d).into_iter().next() else {
            panic!("then send")
        };
        let timeout = no_reply(TransportFailure::Timeout, "no complete response within 10s");
        d.answered(ticket, timeout, t0, wall());
        d.tick(t0 + ms(200));
        let Some(Action::Compress { ticket, body, .. }) = drain(&mut d).into_iter().next() else {
            panic!("the new body is compressed again")
        };
        let new = d.session_id(0).to_owned();
        assert!(contains(&body, &new) && !contains(&body, &old));
        d.compressed(ticket, Bytes::from_static(b"gz2"), t0 + ms(201));
        let Some(Action::Send {
            ticket,
            attempt,
            body,
            gzip,
            ..
        }) = drain(&mut d).into_iter().next()
        else {
            panic!("then sent")
        };
        assert_eq!((attempt, &body[..], gzip), (2, &b"gz2"[..], true));
        d.answered(ticket, success(), t0 + ms(210), wall());
        assert_eq!(
            delivered(&drain(&mut d)),
            vec![((0..5).collect::<Vec<_>>(), 2)]
        );
    }
}
