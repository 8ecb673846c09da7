//! The size cap: blocking until acknowledgements free space (with timeout and shutdown),
//! and dropping the oldest segment with a count.

use crate::{HEADER, payloads, replay, segments};
use logferry_spool::{EntryId, Error, FsyncPolicy, Spool, SpoolConfig, WhenFull};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 26-byte payloads: 50 bytes per entry, two per 100-byte segment, eight in the cap.
const PAYLOAD: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";
const ENTRY: u64 = HEADER + 26;

fn capped(when_full: WhenFull, block_timeout: Option<Duration>) -> SpoolConfig {
    SpoolConfig {
        fsync: FsyncPolicy::Never,
        max_bytes: 8 * ENTRY,
        when_full,
        segment_bytes: 2 * ENTRY,
        block_timeout,
    }
}

fn fill(spool: &Spool) -> Vec<EntryId> {
    let ids: Vec<_> = (0..8).map(|_| spool.append(PAYLOAD).unwrap()).collect();
    assert_eq!(spool.stats().bytes, 8 * ENTRY);
    assert_eq!(segments(spool.dir()).len(), 4);
    ids
}

/// Spins (no sleeping) until `cond` holds, failing after 10 s.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

#[test]
fn a_full_spool_blocks_for_the_timeout_then_fails() {
    let dir = tempfile::tempdir().unwrap();
    let limit = Duration::from_millis(100);
    let spool = Spool::open(dir.path(), capped(WhenFull::Block, Some(limit))).unwrap();
    fill(&spool);
    let started = Instant::now();
    let err = spool.append(PAYLOAD).unwrap_err();
    assert!(
        matches!(err, Error::Full { waited } if waited >= limit),
        "{err:?}"
    );
    assert!(started.elapsed() >= limit);
    assert_eq!(spool.stats().entries, 8, "nothing dropped");
    assert_eq!(spool.stats().blocked_appends, 0);
}

#[test]
fn a_blocked_append_resumes_when_acks_free_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path(), capped(WhenFull::Block, None)).unwrap());
    let ids = fill(&spool);
    let appender = {
        let spool = spool.clone();
        std::thread::spawn(move || spool.append(b"waited for space"))
    };
    until("the append blocks", || spool.stats().blocked_appends == 1);
    // Acking one entry of the oldest segment frees nothing; the append keeps waiting.
    spool.ack(ids[0]).unwrap();
    assert_eq!(spool.stats().bytes, 8 * ENTRY);
    assert!(!appender.is_finished());
    spool.ack(ids[1]).unwrap();
    let id = appender.join().unwrap().unwrap();
    assert_eq!(id.get(), 8);
    let left = payloads(&spool);
    assert_eq!(left.len(), 7);
    assert_eq!(left[6], b"waited for space");
}

#[test]
fn shutdown_wakes_a_blocked_append_and_refuses_more() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(Spool::open(dir.path(), capped(WhenFull::Block, None)).unwrap());
    let ids = fill(&spool);
    let appender = {
        let spool = spool.clone();
        std::thread::spawn(move || spool.append(PAYLOAD))
    };
    until("the append blocks", || spool.stats().blocked_appends == 1);
    spool.shutdown();
    assert!(matches!(appender.join().unwrap(), Err(Error::Closed)));
    assert!(matches!(spool.append(b"x"), Err(Error::Closed)));
    // Deliveries in flight can still be acknowledged.
    spool.ack(ids[0]).unwrap();
    assert_eq!(spool.stats().entries, 7);
}

#[test]
fn a_delivered_current_segment_is_retired_to_make_room() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig {
        fsync: FsyncPolicy::Never,
        max_bytes: 400,
        segment_bytes: 100,
        when_full: WhenFull::Block,
        block_timeout: Some(Duration::from_secs(5)),
    };
    let spool = Spool::open(dir.path(), config).unwrap();
    let big = vec![7u8; 300 - HEADER as usize];
    let a = spool.append(&big).unwrap();
    spool.ack(a).unwrap();
    // `a` sits alone in the segment being written; it must go to make room.
    let b = spool.append(&big).unwrap();
    assert_eq!(replay(&spool), [(b, big)]);
    assert_eq!(spool.stats().bytes, 300);
}

#[test]
fn drop_oldest_deletes_whole_oldest_segments_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), capped(WhenFull::DropOldest, None)).unwrap();
    let mut ids = fill(&spool);
    for i in 8..12u8 {
        let mut p = PAYLOAD.to_vec();
        p[0] = i;
        ids.push(spool.append(&p).unwrap());
    }
    let stats = spool.stats();
    assert_eq!(stats.dropped_oldest, 4);
    assert_eq!(stats.entries, 8);
    assert!(stats.bytes <= 8 * ENTRY);
    let left: Vec<_> = replay(&spool).into_iter().map(|(id, _)| id).collect();
    assert_eq!(left, ids[4..]);
    // A late ack for a dropped entry changes nothing on disk, but says the entry was
    // delivered from memory after all: it is not counted lost (once).
    spool.ack(ids[0]).unwrap();
    spool.ack(ids[0]).unwrap();
    let stats = spool.stats();
    assert_eq!((stats.dropped_oldest, stats.dropped_then_delivered), (4, 1));
    assert_eq!(stats.entries, 8);
    drop(spool);
    let spool = Spool::open(dir.path(), capped(WhenFull::DropOldest, None)).unwrap();
    assert_eq!(replay(&spool).len(), 8);
}

#[test]
fn drop_oldest_only_drops_what_it_must_when_acks_are_mixed_in() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), capped(WhenFull::DropOldest, None)).unwrap();
    let ids = fill(&spool);
    spool.ack(ids[2]).unwrap();
    spool.ack(ids[3]).unwrap(); // frees the second segment
    spool.append(PAYLOAD).unwrap();
    spool.append(PAYLOAD).unwrap();
    assert_eq!(spool.stats().dropped_oldest, 0);
    spool.ack(ids[0]).unwrap(); // the oldest segment now holds one undelivered entry
    spool.append(PAYLOAD).unwrap();
    assert_eq!(spool.stats().dropped_oldest, 1);
}

#[test]
fn an_entry_that_can_never_fit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), capped(WhenFull::Block, None)).unwrap();
    let err = spool
        .append(&vec![0; (8 * ENTRY - HEADER + 1) as usize])
        .unwrap_err();
    assert!(matches!(err, Error::EntryTooLarge { .. }), "{err:?}");
    // The largest entry that fits goes in (alone).
    spool
        .append(&vec![0; (8 * ENTRY - HEADER) as usize])
        .unwrap();
}
