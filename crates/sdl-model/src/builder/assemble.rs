//! A pending request with exact size accounting: each event serialized once into an
//! arena as it is pushed, running totals of everything else, and the body assembled from
//! those pieces at exactly the accounted length.

use super::dedupe::Group;
use super::envelope::{Envelope, write_log_entry};
use super::order::Order;
use super::{Dedupe, ReadyRequest, Stats};
use crate::event::write_ts_sev;
use crate::json::{self, decimal_len};
use crate::{Event, Timestamp};
use bytes::Bytes;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// Fixed bytes of every event: `{"ts":"`, `","sev":`, the digit, `,"attrs":{`, `}}`.
const EVENT_FIXED: usize = 7 + 8 + 1 + 10 + 2;

/// One pushed event and where its serialized pieces are.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) event: Event,
    pub(super) group: Option<u32>,
    /// `,"thread":"…"` and `,"log":"…"` in the arena.
    pub(super) head: Range<usize>,
    /// Index in `pair_ends` of the end of this event's first pair.
    pub(super) pairs_at: usize,
    /// Number of attribute pairs.
    pub(super) k: usize,
}

/// A pending request with exact size accounting.
#[derive(Debug)]
pub(super) struct Batch {
    pub(super) env: Arc<Envelope>,
    /// The written ts of the session's previous event, if any.
    pub(super) floor: Option<u64>,
    pub(super) arena: Vec<u8>,
    pair_ends: Vec<usize>,
    pub(super) slots: Vec<Slot>,
    pub(super) groups: Vec<Group>,
    pub(super) group_of: HashMap<Box<str>, usize>,
    pub(super) next_log_id: u64,
    pub(super) order: Option<Order>,
    /// Σ slot sizes (inline, no ts digits).
    pub(super) inline_sum: usize,
    ts_digits: usize,
    pub(super) saving: usize,
    pub(super) deduped_groups: usize,
    /// Events of this batch truncated to fit.
    pub(super) truncated: usize,
    /// Events of this batch older than `floor` (moved past it).
    pub(super) moved: usize,
}

/// Where a candidate's serialized pieces are, and its size.
pub(super) struct Serialized {
    pub(super) head: Range<usize>,
    pub(super) pairs_at: usize,
    pub(super) k: usize,
    pub(super) size: usize,
}

impl Batch {
    pub(super) fn new(env: Arc<Envelope>, floor: Option<u64>, ordered: bool) -> Batch {
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
            moved: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The exact body length if finished now (0 when empty).
    pub(super) fn len(&self) -> usize {
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
    pub(super) fn inline_len(&self) -> usize {
        if self.slots.is_empty() {
            return 0;
        }
        self.total(self.inline_sum, self.ts_digits, self.slots.len(), 0)
    }

    pub(super) fn total(&self, events: usize, ts_digits: usize, n: usize, deduped: usize) -> usize {
        self.env.fixed_len()
            + events
            + ts_digits
            + n.saturating_sub(1)
            + self.env.static_logs_part(deduped)
    }

    /// The written ts the next event would get in a fresh batch after this one.
    pub(super) fn next_floor(&self) -> Option<u64> {
        match &self.order {
            Some(order) => order.max_written().or(self.floor),
            None => None,
        }
    }

    pub(super) fn serialize(&mut self, event: &Event) -> Serialized {
        // Nothing written yet (a batch's first pairs): start from a spare arena.
        if self.arena.capacity() == 0
            && self.pair_ends.is_empty()
            && let Some(spare) = Spare::take()
        {
            self.reuse(spare);
        }
        let head_start = self.arena.len();
        event.write_thread_and_log(&mut self.arena);
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
    pub(super) fn unserialize(&mut self, s: &Serialized) {
        self.arena.truncate(s.head.start);
        self.pair_ends.truncate(s.pairs_at);
    }

    pub(super) fn pair(&self, pairs_at: usize, head_end: usize, i: usize) -> (usize, usize) {
        let start = if i == 0 {
            head_end
        } else {
            self.pair_ends[pairs_at + i - 1]
        };
        (start, self.pair_ends[pairs_at + i])
    }

    /// Pushes the serialized candidate if the body stays within the limit (`alone`: the
    /// larger limit of a request holding this one event).
    pub(super) fn try_push(
        &mut self,
        event: Event,
        source: Option<&str>,
        s: &Serialized,
        alone: Option<usize>,
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
        let limit = match alone {
            Some(alone) if self.slots.is_empty() => alone.max(self.env.limit),
            _ => self.env.limit,
        };
        if total > limit {
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

    /// Takes over `spare`'s buffers (emptied) for its arena, pair ends and events, so
    /// requests reuse them instead of growing new ones to the body's size each time.
    fn reuse(&mut self, spare: Spare) {
        let Spare {
            mut arena,
            mut pair_ends,
            slots,
        } = spare;
        arena.clear();
        pair_ends.clear();
        debug_assert!(slots.is_empty(), "a spare's events were moved out");
        self.arena = arena;
        self.pair_ends = pair_ends;
        self.slots = slots;
    }

    /// Assembles the body (the batch must not be empty): the finished request, and the
    /// batch's buffers for the next batch ([`Spare::put`]).
    pub(super) fn finish(mut self, stats: Option<&mut Stats>) -> (ReadyRequest, Spare) {
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
            write_ts_sev(&mut body, u, slot.event.sev);
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
            for (slot, (_, u)) in self.slots.drain(..).zip(order) {
                keep(slot, u);
            }
        } else {
            let mut slots: Vec<Option<Slot>> = self.slots.drain(..).map(Some).collect();
            for (i, u) in order {
                keep(slots[i].take().expect("each event is written once"), u);
            }
        }
        let sources = self.groups.into_iter().map(|g| g.source).collect();
        if let Some(stats) = stats {
            stats.requests += 1;
            stats.ts_adjusted += adjusted as u64;
            stats.ts_moved += self.moved as u64;
            stats.body_bytes += body.len() as u64;
            stats.inline_bytes += inline_len as u64;
        }
        let spare = Spare {
            arena: std::mem::take(&mut self.arena),
            pair_ends: std::mem::take(&mut self.pair_ends),
            slots: std::mem::take(&mut self.slots),
        };
        let ready = ReadyRequest {
            body: Bytes::from(body),
            events,
            group_of,
            sources,
            env: self.env,
            inline_len,
            truncated: self.truncated,
            moved: self.moved,
        };
        (ready, spare)
    }
}

/// A finished batch's arena, pair ends and (emptied) list of events, for the next batch
/// that starts filling on this thread ([`Spare::put`], [`Spare::take`]).
#[derive(Debug, Default)]
pub(super) struct Spare {
    arena: Vec<u8>,
    pair_ends: Vec<usize>,
    slots: Vec<Slot>,
}

/// How many spare arenas a thread keeps. A sender fills one session's batch at a time
/// while the others send theirs, so a couple is enough; a builder does not keep its own
/// while its session sends (eight sessions would hold eight idle arenas).
const SPARES_KEPT: usize = 2;

thread_local!(static SPARES: std::cell::RefCell<Vec<Spare>> = const {
    std::cell::RefCell::new(Vec::new())
});

impl Spare {
    /// Keeps `self` for the next batch that starts on this thread, if there is room.
    pub(super) fn put(self) {
        SPARES.with_borrow_mut(|spares| {
            if spares.len() < SPARES_KEPT {
                spares.push(self);
            }
        });
    }

    /// A spare kept on this thread, if any.
    fn take() -> Option<Spare> {
        SPARES.with_borrow_mut(Vec::pop)
    }
}
