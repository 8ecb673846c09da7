//! Property harnesses for the `spool_recovery` and `spool_entry` fuzz targets in `fuzz/`
//! (public so the fuzz crate can call them; not part of the stable API).
//!
//! [`entry`] decodes arbitrary bytes as one [`Entry`] kind and asserts that decoding
//! never panics, that an error's offset lies inside the input, and that whatever decodes
//! encodes back to exactly the same bytes.
//!
//! [`recover`] writes arbitrary bytes as a segment file (and optionally an ack log) in a
//! fresh directory, opens the spool and replays it, and asserts the recovery invariants:
//! open succeeds, every replayed entry exists in the input with valid checksums, ids
//! increase, the counters agree with what was replayed and with the file's bytes, a
//! second open finds no torn tail and replays the same, and acknowledging everything
//! empties the directory. Before the open it runs [`verify`](crate::verify) (changes
//! nothing, counts the pending entries the replay returns, finds any corruption the open
//! finds) and, on a copy, [`repair`](crate::repair) (leaves a healthy spool that
//! replays the same).

use crate::format::{self, HEADER_LEN};
use crate::repair::Durable;
use crate::spool::{ack_name, segment_name};
use crate::{Entry, FsyncPolicy, Spool, SpoolConfig};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("logferry-spool-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("the temp directory is writable");
        Self(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True when `segment` holds a valid entry `id` with exactly `payload` somewhere.
fn is_valid_entry_in(segment: &[u8], id: u64, payload: &[u8]) -> bool {
    (0..segment.len()).any(|at| {
        format::decode_header(&segment[at..]).is_some_and(|h| {
            h.id == id
                && h.len as usize == payload.len()
                && segment.get(at + HEADER_LEN..at + HEADER_LEN + payload.len()) == Some(payload)
                && crc32fast::hash(payload) == h.payload_crc
        })
    })
}

/// The files of `dir` (not recursive) and their bytes.
fn snapshot(dir: &std::path::Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("scratch dir lists")
        .map(|e| {
            let e = e.expect("scratch dir lists");
            let bytes = std::fs::read(e.path()).expect("scratch files are readable");
            (e.file_name(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// `v` with every path cut to its file name (the directory's left out), to compare two
/// directories' findings.
fn names_only(mut v: crate::Verification) -> crate::Verification {
    let name = |p: &mut PathBuf| *p = p.file_name().map(PathBuf::from).unwrap_or_default();
    v.dir = PathBuf::new();
    v.segments.iter_mut().for_each(|s| name(&mut s.path));
    v.ack_logs.iter_mut().for_each(|a| name(&mut a.path));
    v
}

type Replayed = Vec<(u64, Vec<u8>)>;

fn replay_all(spool: &Spool) -> Replayed {
    spool
        .replay()
        .map(|r| {
            let (id, payload) = r.expect("replay of a recovered spool reads back");
            (id.get(), payload)
        })
        .collect()
}

/// Input layout: byte 0 = segment's first id (0..=255); byte 1, bit 0 = write an ack
/// log; bytes 2..4 = ack log length (u16 LE, capped by what is left); then the ack log;
/// the rest is the segment file.
pub fn recover(data: &[u8]) {
    let [first, flags, a, b, rest @ ..] = data else {
        return;
    };
    let first = u64::from(*first);
    let ack_len = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
    let (ack_log, segment) = rest.split_at(ack_len);
    let with_acks = flags & 1 == 1;

    let dir = ScratchDir::new();
    let seg_path = dir.0.join(segment_name(first));
    std::fs::write(&seg_path, segment).expect("scratch files are writable");
    if with_acks {
        std::fs::write(dir.0.join(ack_name(first)), ack_log).expect("scratch files are writable");
    }
    let config = SpoolConfig {
        fsync: FsyncPolicy::Never,
        ..SpoolConfig::default()
    };

    let before = snapshot(&dir.0);
    let found = crate::verify(&dir.0).expect("verify reads any bytes");
    let _ = found.to_string();
    assert_eq!(snapshot(&dir.0), before, "verify changed the directory");

    // The same files repaired in a second directory: healthy, and the same replay.
    let repaired = ScratchDir::new();
    for (name, bytes) in &before {
        std::fs::write(repaired.0.join(name), bytes).expect("scratch files are writable");
    }
    let repair = crate::repair::repair_inner(&repaired.0, &mut |_| None, Durable(false))
        .expect("repair handles any bytes");
    assert_eq!(
        names_only(repair.found),
        names_only(found.clone()),
        "repair found something else than verify"
    );
    assert!(
        crate::verify(&repaired.0)
            .expect("verify after repair")
            .is_healthy(),
        "repair left corruption"
    );

    let spool = Spool::open(&dir.0, config).expect("open recovers from any bytes");
    let stats = spool.stats();
    let replayed = replay_all(&spool);
    assert_eq!(
        found.entries_pending(),
        replayed.len() as u64,
        "verify's pending entries vs the replay"
    );
    if stats.corrupt_skipped > 0 || stats.corrupt_acks > 0 || stats.quarantined_tails > 0 {
        assert!(
            !found.is_healthy(),
            "verify missed corruption the open found"
        );
    }
    {
        let spool = Spool::open(&repaired.0, config).expect("open after repair");
        assert_eq!(replay_all(&spool), replayed, "replay after repair differs");
        assert_eq!(
            spool.stats().corrupt_skipped,
            0,
            "corruption left by repair"
        );
        assert_eq!(spool.stats().corrupt_acks, 0, "corrupt acks left by repair");
    }
    assert_eq!(stats.entries, replayed.len() as u64, "entries counter");
    assert!(
        replayed.windows(2).all(|w| w[0].0 < w[1].0),
        "replay out of order"
    );
    for (id, payload) in &replayed {
        assert!(*id >= first, "replayed id below the segment's first id");
        assert!(
            is_valid_entry_in(segment, *id, payload),
            "replayed an entry that is not a valid entry of the input"
        );
    }
    let bad = stats.corrupt_bytes + stats.torn_tail_bytes + stats.quarantined_tail_bytes;
    assert!(bad <= segment.len() as u64, "more bad bytes than input");
    assert_eq!(
        stats.torn_tail_dropped,
        u64::from(stats.torn_tail_bytes > 0),
        "torn tails counted without bytes, or bytes without a tail"
    );
    let replayed_bytes: u64 = replayed
        .iter()
        .map(|(_, p)| (HEADER_LEN + p.len()) as u64)
        .sum();
    let kept = segment.len() as u64 - stats.torn_tail_bytes - stats.quarantined_tail_bytes;
    if stats.segments == 1 {
        assert_eq!(stats.bytes, kept, "bytes counter vs the truncated file");
        let on_disk = std::fs::metadata(&seg_path).map(|m| m.len()).ok();
        assert_eq!(on_disk, Some(kept), "invalid tail not truncated");
        assert!(
            replayed_bytes + stats.corrupt_bytes <= stats.bytes,
            "replayed and corrupt bytes exceed the file"
        );
    } else {
        assert_eq!(stats.segments, 0);
        assert!(replayed.is_empty(), "replayed from a deleted segment");
        assert!(!seg_path.exists(), "finished segment not deleted");
    }
    drop(spool);

    let spool = Spool::open(&dir.0, config).expect("second open");
    let again = spool.stats();
    assert_eq!(again.torn_tail_dropped, 0, "torn tail found twice");
    let expected_corrupt = if stats.segments == 1 {
        stats.corrupt_skipped
    } else {
        0
    };
    assert_eq!(again.corrupt_skipped, expected_corrupt, "corrupt regions");
    assert_eq!(replay_all(&spool), replayed, "second replay differs");
    for (id, _) in &replayed {
        spool
            .ack(crate::EntryId::new(*id))
            .expect("ack of a replayed entry");
    }
    assert_eq!(spool.stats().entries, 0);
    drop(spool);

    let spool = Spool::open(&dir.0, config).expect("third open");
    assert!(replay_all(&spool).is_empty(), "acked entries came back");
    assert_eq!(spool.stats().segments, 0, "all-acked segment kept");
    drop(spool);
    // Only the lock file stays (it holds no data and is reused by the next open), and
    // the quarantine folder when the first open moved a damaged last entry there.
    let leftovers = std::fs::read_dir(&dir.0)
        .expect("scratch dir lists")
        .filter(|e| {
            e.as_ref().map_or(true, |e| {
                e.file_name() != "spool.lock"
                    && (e.file_name() != crate::QUARANTINE_DIR || stats.quarantined_tails == 0)
            })
        })
        .count();
    assert_eq!(leftovers, 0, "files left after everything was acknowledged");
}

/// Decodes `data` as a `T` (after `T`'s kind tag when `prepend_tag`, so the fuzzer can
/// explore bodies without finding the tag first): never a panic, an error's offset inside
/// the input, and what decodes encodes back to the same bytes. Returns the entry for
/// checks of its own kind.
pub fn entry<T: Entry>(prepend_tag: bool, data: &[u8]) -> Option<T> {
    let mut tagged = Vec::new();
    let stored = if prepend_tag {
        tagged.extend_from_slice(&T::KIND);
        tagged.extend_from_slice(data);
        &tagged[..]
    } else {
        data
    };
    match T::decode(stored) {
        Ok(entry) => {
            assert!(
                entry.encode() == stored,
                "a decoded entry must encode to the bytes it came from"
            );
            Some(entry)
        }
        Err(e) => {
            assert!(
                e.offset() <= stored.len(),
                "error offset past the input: {e}"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::recover;
    use crate::format::{encode_ack, encode_header};

    fn entry(id: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = encode_header(id, payload).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn harness_accepts_clean_torn_corrupt_and_acked_inputs() {
        let mut seg = entry(3, b"one");
        seg.extend(entry(4, b"two"));
        seg.extend(b"garbage");
        seg.extend(entry(5, b"three"));
        seg.extend(&entry(6, b"torn")[..10]);
        let acks = encode_ack(4);
        let mut data = vec![3, 1, acks.len() as u8, 0];
        data.extend(acks);
        data.extend(&seg);
        recover(&data);
        recover(&[0, 0, 0, 0]);
        recover(&[9, 1, 200, 0, 1, 2, 3]);
    }
}
