//! Model-based property test: the spool against an in-memory queue, through random
//! appends, acks, replays, crashes and power cuts.
//!
//! The guarantee checked (the crate docs, "Durability"): after a process crash (the spool
//! dropped without anything more; it has no user-space buffer, so this is what
//! `kill -9` leaves) replay returns exactly the entries appended and not acknowledged,
//! in append order. A power cut is simulated by truncating one segment file or ack log
//! at a random byte, which is the worst an unflushed tail can do under
//! `FsyncPolicy::Interval` or `Never`: entries cut short are gone (never half-returned)
//! and entries whose ack record was cut come back. Nothing else changes.

use crate::{ack_logs, entries_in, segments};
use logferry_spool::{EntryId, FsyncPolicy, Spool, SpoolConfig, WhenFull};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    Ack(Index),
    Replay,
    /// Drop the spool and open it again.
    Crash,
    /// Drop, truncate segment file `.0` at byte `.1`, open.
    CutSegment(Index, Index),
    /// Drop, truncate ack log `.0` at byte `.1`, open.
    CutAcks(Index, Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => proptest::collection::vec(any::<u8>(), 0..120).prop_map(Op::Append),
        6 => any::<Index>().prop_map(Op::Ack),
        2 => Just(Op::Replay),
        2 => Just(Op::Crash),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(f, c)| Op::CutSegment(f, c)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(f, c)| Op::CutAcks(f, c)),
    ]
}

fn config() -> impl Strategy<Value = SpoolConfig> {
    (
        prop_oneof![
            Just(FsyncPolicy::Never),
            Just(FsyncPolicy::EveryBatch),
            Just(FsyncPolicy::Interval(Duration::from_millis(1))),
        ],
        prop_oneof![Just(60u64), Just(200), Just(1000), Just(1 << 20)],
    )
        .prop_map(|(fsync, segment_bytes)| SpoolConfig {
            fsync,
            segment_bytes,
            max_bytes: 1 << 30,
            when_full: WhenFull::Block,
            block_timeout: None,
        })
}

/// One entry the model knows of.
#[derive(Debug, Clone)]
struct Known {
    payload: Vec<u8>,
    acked: bool,
    /// First id of the segment file it was written to.
    segment: u64,
}

struct Model {
    entries: BTreeMap<u64, Known>,
}

impl Model {
    /// Forgets acknowledged entries whose segment file is gone: nothing on disk refers
    /// to them any more, so their ids may be handed out again.
    fn prune(&mut self, dir: &Path) {
        let live: Vec<u64> = segments(dir).into_iter().map(|(first, _)| first).collect();
        self.entries
            .retain(|_, k| !k.acked || live.contains(&k.segment));
    }

    fn unacked(&self) -> Vec<(u64, Vec<u8>)> {
        self.entries
            .iter()
            .filter(|(_, k)| !k.acked)
            .map(|(&id, k)| (id, k.payload.clone()))
            .collect()
    }
}

fn check_replay(spool: &Spool, model: &Model) -> Result<(), TestCaseError> {
    let got: Vec<_> = crate::replay(spool)
        .into_iter()
        .map(|(id, p)| (id.get(), p))
        .collect();
    let want = model.unacked();
    prop_assert_eq!(&got, &want, "replay differs from the model");
    prop_assert_eq!(spool.stats().entries, want.len() as u64);
    Ok(())
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("spool file reads")
}

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .expect("spool file truncates");
}

fn run(config: SpoolConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let mut spool = Some(Spool::open(dir, config).expect("open"));
    let mut model = Model {
        entries: BTreeMap::new(),
    };
    for op in ops {
        let s = spool.as_ref().expect("spool is open between ops");
        match op {
            Op::Append(payload) => {
                let id = s.append(&payload).expect("append").get();
                let segment = segments(dir)
                    .into_iter()
                    .map(|(first, _)| first)
                    .filter(|&first| first <= id)
                    .max()
                    .expect("the entry's segment exists");
                prop_assert!(
                    model.entries.range(id..).next().is_none(),
                    "id {id} not above every live id"
                );
                model.entries.insert(
                    id,
                    Known {
                        payload,
                        acked: false,
                        segment,
                    },
                );
            }
            Op::Ack(pick) => {
                let unacked: Vec<u64> = model
                    .entries
                    .iter()
                    .filter(|(_, k)| !k.acked)
                    .map(|(&id, _)| id)
                    .collect();
                if unacked.is_empty() {
                    continue;
                }
                let id = unacked[pick.index(unacked.len())];
                s.ack(EntryId::new(id)).expect("ack");
                model
                    .entries
                    .get_mut(&id)
                    .expect("picked from the model")
                    .acked = true;
                // Acking again is a no-op.
                s.ack(EntryId::new(id)).expect("second ack");
            }
            Op::Replay => check_replay(s, &model)?,
            Op::Crash => {
                drop(spool.take());
                let s = Spool::open(dir, config).expect("reopen");
                model.prune(dir);
                let stats = s.stats();
                prop_assert_eq!(stats.torn_tail_dropped, 0);
                prop_assert_eq!(stats.corrupt_skipped, 0);
                check_replay(&s, &model)?;
                spool = Some(s);
            }
            Op::CutSegment(file, cut) => {
                drop(spool.take());
                let files = segments(dir);
                let mut torn = false;
                if !files.is_empty() {
                    let (first, path) = &files[file.index(files.len())];
                    let bytes = read(path);
                    let at = cut.index(bytes.len() + 1) as u64;
                    for (id, offset, end) in entries_in(&bytes) {
                        if end > at {
                            torn |= offset < at;
                            let known = model.entries.get(&id);
                            prop_assert!(
                                known.is_some_and(|k| k.segment == *first),
                                "entry {id} in segment {first} unknown to the model"
                            );
                            model.entries.remove(&id);
                        }
                    }
                    truncate(path, at);
                }
                let s = Spool::open(dir, config).expect("reopen after a cut");
                model.prune(dir);
                prop_assert_eq!(s.stats().torn_tail_dropped, u64::from(torn));
                prop_assert_eq!(s.stats().corrupt_skipped, 0);
                check_replay(&s, &model)?;
                spool = Some(s);
            }
            Op::CutAcks(file, cut) => {
                drop(spool.take());
                let files = ack_logs(dir);
                if !files.is_empty() {
                    let (first, path) = &files[file.index(files.len())];
                    let bytes = read(path);
                    let at = cut.index(bytes.len() + 1);
                    for record in bytes.chunks_exact(12).skip(at / 12) {
                        let id = u64::from_le_bytes(record[..8].try_into().unwrap());
                        if let Some(k) = model.entries.get_mut(&id)
                            && k.segment == *first
                        {
                            k.acked = false;
                        }
                    }
                    truncate(path, at as u64);
                }
                let s = Spool::open(dir, config).expect("reopen after an ack cut");
                model.prune(dir);
                prop_assert_eq!(s.stats().torn_tail_dropped, 0);
                check_replay(&s, &model)?;
                spool = Some(s);
            }
        }
    }
    let s = spool.expect("spool is open at the end");
    check_replay(&s, &model)?;
    // Acknowledge everything: every segment file and ack log must go.
    for (id, _) in model.unacked() {
        s.ack(EntryId::new(id)).expect("final ack");
    }
    drop(s);
    let s = Spool::open(dir, config).expect("final open");
    prop_assert!(crate::replay(&s).is_empty());
    prop_assert!(
        segments(dir).is_empty(),
        "segments left: {:?}",
        segments(dir)
    );
    prop_assert!(ack_logs(dir).is_empty(), "ack logs left");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn spool_behaves_like_an_in_memory_queue(
        config in config(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(config, ops)?;
    }
}
