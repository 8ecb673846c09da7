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
//! With [`Timestamps::StrictlyIncreasing`] (the default), the events of a request are
//! written in timestamp order (ties in arrival order) and each `ts` is raised to one
//! nanosecond past the previous event's when it is not already later, the previous event
//! of the first one being the last event of the session's previous request. The seed
//! suggests it: "you can ensure chronological order by incrementing the value by 1 for each
//! event in the session, or by ordering the events in a batch". So `ts` is strictly
//! increasing across the whole session and the order of events survives ingestion, at the
//! cost of moving an event that is older than the session's previous request to just after
//! it, and of spreading equal times 1 ns apart. Times saturate at `u64::MAX` (the year
//! 2554), where strictness can't hold.
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

use crate::json::{self, decimal_len};
use crate::{Error, Event, Log, Session, SessionInfo, Thread, Timestamp};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

/// The seed: "The request body must be 6MB or less." Read as 6,000,000 bytes, the
/// smaller reading.
pub const MAX_BODY_BYTES: usize = 6_000_000;

/// Fixed bytes of every event: `{"ts":"`, `","sev":`, the digit, `,"attrs":{`, `}}`.
const EVENT_FIXED: usize = 7 + 8 + 1 + 10 + 2;
/// `,"logs":[`. Its closing `]` is counted with the entries: each costs its length plus
/// one byte, a comma or that bracket.
const LOGS_KEY: usize = 9;
/// `,"log":"` and `"`.
const LOG_REF_FIXED: usize = 9;
/// `{"id":"`, `","attrs":{`, `}}`.
const LOG_ENTRY_FIXED: usize = 7 + 11 + 2;

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
    /// Sort by time within a request and bump ties and regressions by 1 ns, so `ts` is
    /// strictly increasing across the session (see the module docs). The default.
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
    /// Events of finished requests whose `ts` was raised to keep times strictly increasing.
    pub ts_adjusted: u64,
    /// Bytes of the finished bodies.
    pub body_bytes: u64,
    /// What the finished bodies would have weighed without the `logs` dedupe.
    pub inline_bytes: u64,
}

/// The serialized fixed parts of a session's requests.
#[derive(Debug)]
struct Envelope {
    /// `{"session":…,"events":[`.
    prefix: Vec<u8>,
    /// The declared logs' entries, comma-separated.
    static_logs: Vec<u8>,
    static_log_count: usize,
    static_log_ids: HashSet<String>,
    /// The declared logs themselves, for charge estimates.
    static_log_list: Vec<Log>,
    limit: usize,
    dedupe: Dedupe,
}

impl Envelope {
    fn new(header: &SessionHeader, config: &Config) -> Result<Envelope, Error> {
        let mut prefix = Vec::with_capacity(256);
        prefix.extend_from_slice(b"{\"session\":");
        json::write_str(&mut prefix, header.session.as_str());
        if !header.info.0.is_empty() {
            prefix.extend_from_slice(b",\"sessionInfo\":");
            header.info.0.write_json(&mut prefix);
        }
        if !header.threads.is_empty() {
            prefix.extend_from_slice(b",\"threads\":[");
            for (i, t) in header.threads.iter().enumerate() {
                if i > 0 {
                    prefix.push(b',');
                }
                prefix.extend_from_slice(b"{\"id\":");
                json::write_str(&mut prefix, &t.id);
                prefix.extend_from_slice(b",\"name\":");
                json::write_str(&mut prefix, &t.name);
                prefix.push(b'}');
            }
            prefix.push(b']');
        }
        prefix.extend_from_slice(b",\"events\":[");
        let mut static_logs = Vec::new();
        let mut static_log_ids = HashSet::new();
        for (i, log) in header.logs.iter().enumerate() {
            if !static_log_ids.insert(log.id.clone()) {
                return Err(Error::InvalidConfig {
                    reason: format!("log id `{}` is declared twice", log.id),
                });
            }
            if i > 0 {
                static_logs.push(b',');
            }
            write_log_entry(&mut static_logs, &log.id, |out| log.attrs.write_json(out));
        }
        if config.max_body_bytes > MAX_BODY_BYTES {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "max_body_bytes {} exceeds the documented {MAX_BODY_BYTES}-byte limit",
                    config.max_body_bytes
                ),
            });
        }
        let env = Envelope {
            prefix,
            static_log_count: header.logs.len(),
            static_logs,
            static_log_ids,
            static_log_list: header.logs.clone(),
            limit: config.max_body_bytes,
            dedupe: config.dedupe,
        };
        // Room for at least one small event.
        if env.fixed_len() + env.static_logs_part(0) + 256 > env.limit {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "max_body_bytes {} leaves no room for events after the {}-byte session header",
                    env.limit,
                    env.fixed_len() + env.static_logs_part(0)
                ),
            });
        }
        Ok(env)
    }

    /// Prefix, `]` closing the events, `}` closing the body.
    fn fixed_len(&self) -> usize {
        self.prefix.len() + 2
    }

    /// The `,"logs":[…]` overhead besides the deduped entries (whose own cost includes
    /// their separator), given how many groups are deduped.
    fn static_logs_part(&self, deduped_groups: usize) -> usize {
        if self.static_log_count + deduped_groups == 0 {
            0
        } else {
            LOGS_KEY + self.static_logs.len() + self.static_log_count
        }
    }
}

fn write_log_entry(out: &mut Vec<u8>, id: &str, attrs: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(b"{\"id\":");
    json::write_str(out, id);
    out.extend_from_slice(b",\"attrs\":");
    attrs(out);
    out.push(b'}');
}

/// One pushed event and where its serialized pieces are.
#[derive(Debug)]
struct Slot {
    event: Event,
    group: Option<u32>,
    /// `,"thread":"…"` and `,"log":"…"` in the arena.
    head: Range<usize>,
    /// Index in `pair_ends` of the end of this event's first pair.
    pairs_at: usize,
    /// Number of attribute pairs.
    k: usize,
}

/// A constant-candidate pair of a group: where it is in the group's first event.
#[derive(Debug, Clone, Copy)]
struct Const {
    bytes: (usize, usize),
    /// Its index among the first event's pairs (a hint: same-source events usually keep
    /// their key order).
    pos: usize,
}

#[derive(Debug)]
struct Group {
    source: Box<str>,
    id: String,
    members: Vec<usize>,
    consts: Vec<Const>,
    consts_len: usize,
    inline_sum: usize,
    /// Members all of whose pairs are constant (their `attrs` become `{}`).
    all_const: usize,
    /// Bytes saved by deduping (0 when not deduped).
    saving: usize,
}

impl Group {
    /// Bytes saved by deduping, or 0 when deduping would not save any.
    fn saving_for(id_len: usize, n: usize, m: usize, consts_len: usize, all_const: usize) -> usize {
        if m == 0 || n < 2 {
            return 0;
        }
        let removed = n * (consts_len + m) - all_const;
        let added =
            n * (LOG_REF_FIXED + id_len) + LOG_ENTRY_FIXED + id_len + consts_len + m - 1 + 1;
        removed.saturating_sub(added)
    }
}

/// How pushing one event would change a group.
struct GroupPlan {
    /// `None`: a new group for this source.
    group: Option<usize>,
    /// The new constant set, when it shrinks (or the first one, for a new group).
    consts: Option<Vec<Const>>,
    consts_len: usize,
    all_const: usize,
    saving: usize,
}

/// How far back in a sorted `Vec` an out-of-order event may land before [`Order`] moves
/// to a tree (so a reversed input costs `O(log n)` per event, not `O(n)`).
const NEAR_END: usize = 64;

/// The time-ordering state of a pending request: (raw ts, arrival index) → written ts,
/// sorted by key. A `Vec` while events arrive in order or nearly (the common case: an
/// append, or an insert a few places from the end), a `BTreeMap` once one lands far back.
#[derive(Debug)]
enum Order {
    Sorted(Vec<(u64, usize, u64)>),
    Tree(BTreeMap<(u64, usize), u64>),
}

impl Default for Order {
    fn default() -> Order {
        Order::Sorted(Vec::new())
    }
}

/// The change in the digit count of the written times of the successors of a newly
/// inserted event whose written time is `prev`: each is re-derived (`max(raw, prev + 1)`)
/// until one does not change. `successors` yields (raw time, written time).
fn cascade(mut prev: u64, successors: impl Iterator<Item = (u64, u64)>) -> isize {
    let mut delta = 0;
    for (rt, old) in successors {
        let new = rt.max(prev.saturating_add(1));
        if new == old {
            break;
        }
        delta += decimal_len(new) as isize - decimal_len(old) as isize;
        prev = new;
    }
    delta
}

/// [`cascade`], storing the new written times.
fn cascade_mut<'a>(mut prev: u64, successors: impl Iterator<Item = (u64, &'a mut u64)>) {
    for (rt, old) in successors {
        let new = rt.max(prev.saturating_add(1));
        if new == *old {
            break;
        }
        *old = new;
        prev = new;
    }
}

impl Order {
    /// The change in the total digit count of the written times when an event with raw
    /// time `t` and arrival index `seq` (larger than any before) is added; with `commit`,
    /// adds it.
    fn insert(&mut self, floor: Option<u64>, t: u64, seq: usize, commit: bool) -> isize {
        // The usual case: events arrive in time order, so this one goes last and moves
        // no other event's written time.
        if let Order::Sorted(v) = self
            && v.last().is_none_or(|e| e.0 <= t)
        {
            let pred = v.last().map(|e| e.2).or(floor);
            let u = pred.map_or(t, |p| t.max(p.saturating_add(1)));
            if commit {
                v.push((t, seq, u));
            }
            return decimal_len(u) as isize;
        }
        if let Order::Sorted(v) = self {
            // Entries with a raw time <= t sort before (t, seq): seq is the largest yet.
            let pos = v.partition_point(|e| e.0 <= t);
            if v.len() - pos > NEAR_END && commit {
                *self = Order::Tree(v.drain(..).map(|(t, s, u)| ((t, s), u)).collect());
            }
        }
        match self {
            Order::Sorted(v) => {
                let pos = v.partition_point(|e| e.0 <= t);
                let pred = pos.checked_sub(1).map(|p| v[p].2).or(floor);
                let u = pred.map_or(t, |p| t.max(p.saturating_add(1)));
                let delta =
                    decimal_len(u) as isize + cascade(u, v[pos..].iter().map(|e| (e.0, e.2)));
                if commit {
                    cascade_mut(u, v[pos..].iter_mut().map(|e| (e.0, &mut e.2)));
                    v.insert(pos, (t, seq, u));
                }
                delta
            }
            Order::Tree(map) => {
                let pred = map.range(..(t, seq)).next_back().map(|(_, u)| *u).or(floor);
                let u = pred.map_or(t, |p| t.max(p.saturating_add(1)));
                let delta = decimal_len(u) as isize
                    + cascade(u, map.range((t, seq)..).map(|(k, u)| (k.0, *u)));
                if commit {
                    cascade_mut(u, map.range_mut((t, seq)..).map(|(k, u)| (k.0, u)));
                    map.insert((t, seq), u);
                }
                delta
            }
        }
    }

    /// The written time of the last event in time order.
    fn max_written(&self) -> Option<u64> {
        match self {
            Order::Sorted(v) => v.last().map(|e| e.2),
            Order::Tree(map) => map.last_key_value().map(|(_, u)| *u),
        }
    }

    /// (arrival index, written time) in time order.
    fn written(&self) -> Vec<(usize, u64)> {
        match self {
            Order::Sorted(v) => v.iter().map(|e| (e.1, e.2)).collect(),
            Order::Tree(map) => map.iter().map(|(&(_, seq), &u)| (seq, u)).collect(),
        }
    }
}

/// A pending request with exact size accounting.
#[derive(Debug)]
struct Batch {
    env: Arc<Envelope>,
    /// The written ts of the session's previous event, if any.
    floor: Option<u64>,
    arena: Vec<u8>,
    pair_ends: Vec<usize>,
    slots: Vec<Slot>,
    groups: Vec<Group>,
    group_of: HashMap<Box<str>, usize>,
    next_log_id: u64,
    order: Option<Order>,
    /// Σ slot sizes (inline, no ts digits).
    inline_sum: usize,
    ts_digits: usize,
    saving: usize,
    deduped_groups: usize,
    /// Events of this batch truncated to fit.
    truncated: usize,
}

/// Where a candidate's serialized pieces are, and its size.
struct Serialized {
    head: Range<usize>,
    pairs_at: usize,
    k: usize,
    size: usize,
}

impl Batch {
    fn new(env: Arc<Envelope>, floor: Option<u64>, ordered: bool) -> Batch {
        Batch {
            env,
            floor,
            arena: Vec::new(),
            pair_ends: Vec::new(),
            slots: Vec::new(),
            groups: Vec::new(),
            group_of: HashMap::new(),
            next_log_id: 1,
            order: ordered.then(Order::default),
            inline_sum: 0,
            ts_digits: 0,
            saving: 0,
            deduped_groups: 0,
            truncated: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The exact body length if finished now (0 when empty).
    fn len(&self) -> usize {
        if self.slots.is_empty() {
            return 0;
        }
        self.total(
            self.inline_sum - self.saving,
            self.ts_digits,
            self.slots.len(),
            self.deduped_groups,
        )
    }

    /// The body length without dedupe.
    fn inline_len(&self) -> usize {
        if self.slots.is_empty() {
            return 0;
        }
        self.total(self.inline_sum, self.ts_digits, self.slots.len(), 0)
    }

    fn total(&self, events: usize, ts_digits: usize, n: usize, deduped: usize) -> usize {
        self.env.fixed_len()
            + events
            + ts_digits
            + n.saturating_sub(1)
            + self.env.static_logs_part(deduped)
    }

    /// The written ts the next event would get in a fresh batch after this one.
    fn next_floor(&self) -> Option<u64> {
        match &self.order {
            Some(order) => order.max_written().or(self.floor),
            None => None,
        }
    }

    fn serialize(&mut self, event: &Event) -> Serialized {
        let head_start = self.arena.len();
        if let Some(thread) = &event.thread {
            self.arena.extend_from_slice(b",\"thread\":");
            json::write_str(&mut self.arena, thread);
        }
        if let Some(log) = &event.log {
            self.arena.extend_from_slice(b",\"log\":");
            json::write_str(&mut self.arena, log);
        }
        let head = head_start..self.arena.len();
        let pairs_at = self.pair_ends.len();
        for (key, value) in event.attrs.iter() {
            json::write_str(&mut self.arena, key);
            self.arena.push(b':');
            value.write_json(&mut self.arena);
            self.pair_ends.push(self.arena.len());
        }
        let k = event.attrs.len();
        let size = EVENT_FIXED + (self.arena.len() - head_start) + k.saturating_sub(1);
        Serialized {
            head,
            pairs_at,
            k,
            size,
        }
    }

    /// Forgets a serialized candidate that was not pushed.
    fn unserialize(&mut self, s: &Serialized) {
        self.arena.truncate(s.head.start);
        self.pair_ends.truncate(s.pairs_at);
    }

    fn pair(&self, pairs_at: usize, head_end: usize, i: usize) -> (usize, usize) {
        let start = if i == 0 {
            head_end
        } else {
            self.pair_ends[pairs_at + i - 1]
        };
        (start, self.pair_ends[pairs_at + i])
    }

    /// The index among the pairs of (`pairs_at`, `head_end`, `k`) of the pair identical to
    /// `c`, if any.
    fn find_const(&self, c: &Const, pairs_at: usize, head_end: usize, k: usize) -> Option<usize> {
        let want = &self.arena[c.bytes.0..c.bytes.1];
        let matches = |i: usize| {
            let (s, e) = self.pair(pairs_at, head_end, i);
            &self.arena[s..e] == want
        };
        if c.pos < k && matches(c.pos) {
            return Some(c.pos);
        }
        (0..k).find(|&i| i != c.pos && matches(i))
    }

    fn plan_group(&self, source: &str, s: &Serialized) -> GroupPlan {
        match self.group_of.get(source) {
            None => {
                let consts: Vec<Const> = (0..s.k)
                    .map(|i| Const {
                        bytes: self.pair(s.pairs_at, s.head.end, i),
                        pos: i,
                    })
                    .collect();
                let consts_len = consts.iter().map(|c| c.bytes.1 - c.bytes.0).sum();
                GroupPlan {
                    group: None,
                    consts: Some(consts),
                    consts_len,
                    all_const: 1,
                    saving: 0,
                }
            }
            Some(&gi) => {
                let g = &self.groups[gi];
                let holds = |c: &Const| self.find_const(c, s.pairs_at, s.head.end, s.k).is_some();
                let (consts, consts_len, all_const) = if g.consts.iter().all(holds) {
                    let all = g.all_const + usize::from(s.k == g.consts.len());
                    (None, g.consts_len, all)
                } else {
                    let kept: Vec<Const> = g.consts.iter().filter(|c| holds(c)).copied().collect();
                    let m = kept.len();
                    let len = kept.iter().map(|c| c.bytes.1 - c.bytes.0).sum();
                    let all = g.members.iter().filter(|&&i| self.slots[i].k == m).count()
                        + usize::from(s.k == m);
                    (Some(kept), len, all)
                };
                let m = consts.as_ref().map_or(g.consts.len(), Vec::len);
                let saving =
                    Group::saving_for(g.id.len(), g.members.len() + 1, m, consts_len, all_const);
                GroupPlan {
                    group: Some(gi),
                    consts,
                    consts_len,
                    all_const,
                    saving,
                }
            }
        }
    }

    fn new_log_id(&mut self) -> String {
        loop {
            let id = self.next_log_id.to_string();
            self.next_log_id += 1;
            if !self.env.static_log_ids.contains(&id) {
                return id;
            }
        }
    }

    /// Pushes the serialized candidate if the body stays within the limit.
    fn try_push(
        &mut self,
        event: Event,
        source: Option<&str>,
        s: &Serialized,
    ) -> Result<(), Box<Event>> {
        let seq = self.slots.len();
        let source = source.filter(|_| event.log.is_none() && self.env.dedupe == Dedupe::PerSource);
        let plan = source.map(|src| self.plan_group(src, s));
        let (saving, deduped) = match &plan {
            Some(p) => {
                let old = p.group.map_or(0, |gi| self.groups[gi].saving);
                let deduped =
                    self.deduped_groups + usize::from(p.saving > 0) - usize::from(old > 0);
                (self.saving - old + p.saving, deduped)
            }
            None => (self.saving, self.deduped_groups),
        };
        let ts_digits = match &mut self.order {
            Some(order) => {
                let delta = order.insert(self.floor, event.ts.as_nanos(), seq, false);
                (self.ts_digits as isize + delta) as usize
            }
            None => self.ts_digits + decimal_len(event.ts.as_nanos()),
        };
        let total = self.total(
            self.inline_sum + s.size - saving,
            ts_digits,
            self.slots.len() + 1,
            deduped,
        );
        if total > self.env.limit {
            // Boxed: this happens once per request, and keeps the `Ok` path small.
            return Err(Box::new(event));
        }
        // Commit.
        if let Some(order) = &mut self.order {
            order.insert(self.floor, event.ts.as_nanos(), seq, true);
        }
        self.ts_digits = ts_digits;
        self.saving = saving;
        self.deduped_groups = deduped;
        self.inline_sum += s.size;
        let group = match (plan, source) {
            (Some(p), Some(src)) => {
                let gi = match p.group {
                    Some(gi) => gi,
                    None => {
                        let id = self.new_log_id();
                        self.groups.push(Group {
                            source: src.into(),
                            id,
                            members: Vec::new(),
                            consts: Vec::new(),
                            consts_len: 0,
                            inline_sum: 0,
                            all_const: 0,
                            saving: 0,
                        });
                        self.group_of.insert(src.into(), self.groups.len() - 1);
                        self.groups.len() - 1
                    }
                };
                let g = &mut self.groups[gi];
                if let Some(consts) = p.consts {
                    g.consts = consts;
                }
                g.consts_len = p.consts_len;
                g.all_const = p.all_const;
                g.saving = p.saving;
                g.inline_sum += s.size;
                g.members.push(seq);
                Some(gi as u32)
            }
            _ => None,
        };
        self.slots.push(Slot {
            event,
            group,
            head: s.head.clone(),
            pairs_at: s.pairs_at,
            k: s.k,
        });
        Ok(())
    }

    /// Assembles the body. The batch must not be empty.
    fn finish(self, stats: Option<&mut Stats>) -> ReadyRequest {
        let expected = self.len();
        let inline_len = self.inline_len();
        let n = self.slots.len();
        // Body order and written times.
        let order: Vec<(usize, u64)> = match &self.order {
            Some(order) => order.written(),
            None => self
                .slots
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.event.ts.as_nanos()))
                .collect(),
        };
        let mut body = Vec::with_capacity(expected);
        body.extend_from_slice(&self.env.prefix);
        let mut skip = Vec::new();
        for (pos, &(i, u)) in order.iter().enumerate() {
            let slot = &self.slots[i];
            if pos > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"ts\":\"");
            json::write_u64(&mut body, u);
            body.extend_from_slice(b"\",\"sev\":");
            body.push(b'0' + slot.event.sev.as_u8());
            body.extend_from_slice(&self.arena[slot.head.clone()]);
            let group = slot
                .group
                .map(|g| &self.groups[g as usize])
                .filter(|g| g.saving > 0);
            skip.clear();
            skip.resize(slot.k, false);
            if let Some(g) = group {
                body.extend_from_slice(b",\"log\":");
                json::write_str(&mut body, &g.id);
                for c in &g.consts {
                    let i = self
                        .find_const(c, slot.pairs_at, slot.head.end, slot.k)
                        .expect("every member of a group holds its constant pairs");
                    skip[i] = true;
                }
            }
            body.extend_from_slice(b",\"attrs\":{");
            let mut first = true;
            for (p, skipped) in skip.iter().enumerate() {
                if *skipped {
                    continue;
                }
                if !std::mem::take(&mut first) {
                    body.push(b',');
                }
                let (s, e) = self.pair(slot.pairs_at, slot.head.end, p);
                body.extend_from_slice(&self.arena[s..e]);
            }
            body.extend_from_slice(b"}}");
        }
        body.push(b']');
        let mut first_log = true;
        if self.env.static_log_count + self.deduped_groups > 0 {
            body.extend_from_slice(b",\"logs\":[");
            body.extend_from_slice(&self.env.static_logs);
            first_log = self.env.static_log_count == 0;
        }
        for g in self.groups.iter().filter(|g| g.saving > 0) {
            if !std::mem::take(&mut first_log) {
                body.push(b',');
            }
            write_log_entry(&mut body, &g.id, |out| {
                out.push(b'{');
                for (j, c) in g.consts.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&self.arena[c.bytes.0..c.bytes.1]);
                }
                out.push(b'}');
            });
        }
        if self.env.static_log_count + self.deduped_groups > 0 {
            body.push(b']');
        }
        body.push(b'}');
        assert_eq!(
            body.len(),
            expected,
            "the assembled body has the accounted length"
        );
        let mut events = Vec::with_capacity(n);
        let mut group_of = Vec::with_capacity(n);
        let mut adjusted = 0;
        let mut keep = |slot: Slot, u: u64| {
            let mut event = slot.event;
            adjusted += usize::from(event.ts.as_nanos() != u);
            event.ts = Timestamp::from_nanos(u);
            events.push(event);
            group_of.push(slot.group);
        };
        if order.iter().enumerate().all(|(pos, (i, _))| pos == *i) {
            // Arrival order is body order: move the events straight across.
            for (slot, (_, u)) in self.slots.into_iter().zip(order) {
                keep(slot, u);
            }
        } else {
            let mut slots: Vec<Option<Slot>> = self.slots.into_iter().map(Some).collect();
            for (i, u) in order {
                keep(slots[i].take().expect("each event is written once"), u);
            }
        }
        let sources = self.groups.into_iter().map(|g| g.source).collect();
        if let Some(stats) = stats {
            stats.requests += 1;
            stats.ts_adjusted += adjusted as u64;
            stats.body_bytes += body.len() as u64;
            stats.inline_bytes += inline_len as u64;
        }
        ReadyRequest {
            body: Bytes::from(body),
            events,
            group_of,
            sources,
            env: self.env,
            inline_len,
            truncated: self.truncated,
        }
    }
}

/// A finished request: the body to send (and re-send on retry, unchanged), and the events
/// in it, in body order, with their written times.
#[derive(Debug, Clone)]
pub struct ReadyRequest {
    body: Bytes,
    events: Vec<Event>,
    group_of: Vec<Option<u32>>,
    sources: Vec<Box<str>>,
    env: Arc<Envelope>,
    inline_len: usize,
    truncated: usize,
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

    /// Splits the request into two halves of its events (first half, second half, in body
    /// order), each with its own body, for a server that found the request too large.
    /// Times are kept as written, so the session's order is unchanged; each half is deduped
    /// anew. `None` for a single-event request, which can't be split.
    pub fn split(&self) -> Option<(ReadyRequest, ReadyRequest)> {
        if self.events.len() < 2 {
            return None;
        }
        let mid = self.events.len() / 2;
        let (sources, env) = (&self.sources, &self.env);
        let mut events = self.events.iter().cloned();
        let mut group_of = self.group_of.iter().copied();
        let mut half = |count: usize| {
            // The halves are re-encoded without a limit: each is a subset of a body that
            // was accepted by the builder's accounting.
            let env = Arc::new(Envelope {
                prefix: env.prefix.clone(),
                static_logs: env.static_logs.clone(),
                static_log_count: env.static_log_count,
                static_log_ids: env.static_log_ids.clone(),
                static_log_list: env.static_log_list.clone(),
                limit: usize::MAX,
                dedupe: env.dedupe,
            });
            let mut batch = Batch::new(env, None, false);
            for (event, group) in events.by_ref().zip(group_of.by_ref()).take(count) {
                let source = group.map(|g| &*sources[g as usize]);
                let s = batch.serialize(&event);
                if batch.try_push(event, source, &s).is_err() {
                    unreachable!("a batch without a limit takes every event");
                }
            }
            batch.finish(None)
        };
        let first = half(mid);
        let second = half(usize::MAX);
        Some((first, second))
    }
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
            env,
            config,
            batch,
            stats: Stats::default(),
        })
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
        Some(batch.finish(Some(&mut self.stats)))
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
        let mut s = self.batch.serialize(&event);
        // Would the event fit alone, in the request after this one?
        let floor = self.batch.next_floor();
        let t = event.ts.as_nanos();
        let u_alone = floor.map_or(t, |f| t.max(f.saturating_add(1)));
        let alone_fixed = self.batch.total(0, decimal_len(u_alone), 1, 0);
        let alone = |size: usize| alone_fixed + size;
        let mut truncated = false;
        if alone(s.size) > self.env.limit {
            let size = alone(s.size);
            self.batch.unserialize(&s);
            let mut cut = match self.config.oversize {
                Oversize::Truncate => Some(event.clone()),
                Oversize::Reject => None,
            };
            let fits = cut.as_mut().is_some_and(|cut| {
                truncate_message(cut, size - self.env.limit) && {
                    s = self.batch.serialize(cut);
                    let fits = alone(s.size) <= self.env.limit;
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
                    self.stats.rejected += 1;
                    return Err(Error::EventTooLarge {
                        size,
                        limit: self.env.limit,
                        event: Box::new(event),
                    });
                }
            }
            truncated = true;
            self.stats.truncated += 1;
        }
        let ready = match self.batch.try_push(event, source, &s) {
            Ok(()) => None,
            Err(event) => {
                self.batch.unserialize(&s);
                let ready = self
                    .finish()
                    .expect("an event that fits alone only fails to fit a non-empty request");
                let s = self.batch.serialize(&event);
                if self.batch.try_push(*event, source, &s).is_err() {
                    unreachable!("the event was checked to fit a request alone");
                }
                Some(ready)
            }
        };
        self.batch.truncated += usize::from(truncated);
        self.stats.events += 1;
        Ok(ready)
    }
}

/// The truncation marker appended to a cut `message`.
fn marker(removed: usize) -> String {
    format!("…[truncated {removed} bytes]")
}

/// Shortens the string `message` of `event` so its serialized form is at least `excess`
/// bytes smaller, ending it with [`marker`]. False when there is no string message or it
/// can't be made short enough.
fn truncate_message(event: &mut Event, excess: usize) -> bool {
    let Some(crate::AttrValue::String(message)) = event.attrs.get_mut("message") else {
        return false;
    };
    let escaped = json::escaped_len(message);
    // The marker is ASCII but for `…`, which needs no escape: its length is its byte length.
    let marker_max = marker(message.len()).len();
    let Some(budget) = escaped.checked_sub(excess + marker_max) else {
        return false;
    };
    let mut used = 0;
    let mut cut = 0;
    for (i, c) in message.char_indices() {
        let len: usize = message[i..i + c.len_utf8()]
            .bytes()
            .map(json::escaped_byte_len)
            .sum();
        if used + len > budget {
            break;
        }
        used += len;
        cut = i + c.len_utf8();
    }
    let removed = message.len() - cut;
    message.truncate(cut);
    message.push_str(&marker(removed));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sort by (raw, arrival), then raise each to one past its predecessor.
    fn brute(floor: Option<u64>, times: &[u64]) -> Vec<(usize, u64)> {
        let mut idx: Vec<usize> = (0..times.len()).collect();
        idx.sort_by_key(|&i| (times[i], i));
        let mut prev = floor;
        idx.into_iter()
            .map(|i| {
                let u = prev.map_or(times[i], |p| times[i].max(p.saturating_add(1)));
                prev = Some(u);
                (i, u)
            })
            .collect()
    }

    #[test]
    fn order_matches_sort_then_bump() {
        let mut rng = fastrand::Rng::with_seed(9);
        for round in 0..300 {
            let n = rng.usize(0..300);
            let base = [0, 9_999_999_990, u64::MAX - 200, 1_667_443_947_000_000_000][round % 4];
            let times: Vec<u64> = (0..n)
                .map(|i| match round % 3 {
                    0 => base.saturating_add(rng.u64(0..100)),
                    1 => base.saturating_add((n - i) as u64 * 3), // reversed: moves to the tree
                    _ => base.saturating_add(i as u64 / 4),       // ties
                })
                .collect();
            let floor = if rng.bool() {
                Some(base + rng.u64(0..50))
            } else {
                None
            };
            let mut order = Order::default();
            let mut digits = 0isize;
            for (seq, &t) in times.iter().enumerate() {
                let tentative = order.insert(floor, t, seq, false);
                assert_eq!(order.insert(floor, t, seq, true), tentative);
                digits += tentative;
            }
            let want = brute(floor, &times);
            assert_eq!(order.written(), want, "round {round}");
            let want_digits: usize = want.iter().map(|(_, u)| decimal_len(*u)).sum();
            assert_eq!(digits as usize, want_digits, "round {round}");
            if round % 3 == 1 && n > NEAR_END + 1 {
                assert!(matches!(order, Order::Tree(_)));
            }
        }
    }
}
