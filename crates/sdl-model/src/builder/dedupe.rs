//! The `logs` dedupe: events of one source grouped within a request, the attribute pairs
//! constant across a group, and the bytes that writing them once in a `logs` entry saves.

use super::assemble::{Batch, Serialized};

/// `,"log":"` and `"`.
const LOG_REF_FIXED: usize = 9;
/// `{"id":"`, `","attrs":{`, `}}`.
const LOG_ENTRY_FIXED: usize = 7 + 11 + 2;

/// A constant-candidate pair of a group: where it is in the group's first event.
#[derive(Debug, Clone, Copy)]
pub(super) struct Const {
    pub(super) bytes: (usize, usize),
    /// Its index among the first event's pairs (a hint: same-source events usually keep
    /// their key order).
    pub(super) pos: usize,
}

#[derive(Debug)]
pub(super) struct Group {
    pub(super) source: Box<str>,
    pub(super) id: String,
    pub(super) members: Vec<usize>,
    pub(super) consts: Vec<Const>,
    pub(super) consts_len: usize,
    pub(super) inline_sum: usize,
    /// Members all of whose pairs are constant (their `attrs` become `{}`).
    pub(super) all_const: usize,
    /// Bytes saved by deduping (0 when not deduped).
    pub(super) saving: usize,
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
pub(super) struct GroupPlan {
    /// `None`: a new group for this source.
    pub(super) group: Option<usize>,
    /// The new constant set, when it shrinks (or the first one, for a new group).
    pub(super) consts: Option<Vec<Const>>,
    pub(super) consts_len: usize,
    pub(super) all_const: usize,
    pub(super) saving: usize,
}

impl Batch {
    /// The index among the pairs of (`pairs_at`, `head_end`, `k`) of the pair identical to
    /// `c`, if any.
    pub(super) fn find_const(
        &self,
        c: &Const,
        pairs_at: usize,
        head_end: usize,
        k: usize,
    ) -> Option<usize> {
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

    pub(super) fn plan_group(&self, source: &str, s: &Serialized) -> GroupPlan {
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

    pub(super) fn new_log_id(&mut self) -> String {
        loop {
            let id = self.next_log_id.to_string();
            self.next_log_id += 1;
            if !self.env.static_log_ids.contains(&id) {
                return id;
            }
        }
    }
}
