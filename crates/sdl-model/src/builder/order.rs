//! Strictly increasing timestamps: the written time of each pending event, kept sorted as
//! events arrive, with the exact change in digit count each one brings.

use crate::json::decimal_len;
use std::collections::BTreeMap;

/// How far back in a sorted `Vec` an out-of-order event may land before [`Order`] moves
/// to a tree (so a reversed input costs `O(log n)` per event, not `O(n)`).
const NEAR_END: usize = 64;

/// The time-ordering state of a pending request: (raw ts, arrival index) → written ts,
/// sorted by key. A `Vec` while events arrive in order or nearly (the common case: an
/// append, or an insert a few places from the end), a `BTreeMap` once one lands far back.
#[derive(Debug)]
pub(super) enum Order {
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
    pub(super) fn insert(&mut self, floor: Option<u64>, t: u64, seq: usize, commit: bool) -> isize {
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
    pub(super) fn max_written(&self) -> Option<u64> {
        match self {
            Order::Sorted(v) => v.last().map(|e| e.2),
            Order::Tree(map) => map.last_key_value().map(|(_, u)| *u),
        }
    }

    /// (arrival index, written time) in time order.
    pub(super) fn written(&self) -> Vec<(usize, u64)> {
        match self {
            Order::Sorted(v) => v.iter().map(|e| (e.1, e.2)).collect(),
            Order::Tree(map) => map.iter().map(|(&(_, seq), &u)| (seq, u)).collect(),
        }
    }
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
