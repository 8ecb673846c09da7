//! `verify` and `repair`: corrupt regions named with their file, offset and entries,
//! torn tails reported as benign, corrupt ack records, read-only checks beside a
//! running spool, and a repair that quarantines the corrupt bytes and leaves a spool
//! that replays everything else.

use crate::{HEADER, ack_logs, entries_in, fast, replay, segments};
use logferry_spool::{
    EntryId, Error, Moved, QUARANTINE_DIR, Spool, SpoolConfig, repair, repair_with, verify,
    verify_with,
};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Payloads of newline-terminated records, so the records callback can count them.
const FIVE: [&[u8]; 5] = [
    b"a 1\na 2\n",
    b"b 1\nb 2\nb 3\n",
    b"c 1\n",
    b"d 1\nd 2\n",
    b"e 1\ne 2\ne 3\ne 4\n",
];

/// The records callback a sink would give: here, lines.
fn lines(payload: &[u8]) -> Option<u64> {
    Some(payload.iter().filter(|&&b| b == b'\n').count() as u64)
}

/// A spool in `dir` holding `payloads` (in one segment), the entries at `acked`
/// acknowledged, dropped; returns the segment file and the ids.
fn spool_with(dir: &Path, payloads: &[&[u8]], acked: &[usize]) -> (PathBuf, Vec<EntryId>) {
    let spool = Spool::open(dir, fast()).unwrap();
    let ids: Vec<EntryId> = payloads.iter().map(|p| spool.append(p).unwrap()).collect();
    for &i in acked {
        spool.ack(ids[i]).unwrap();
    }
    drop(spool);
    let segs = segments(dir);
    assert_eq!(segs.len(), 1);
    (segs[0].1.clone(), ids)
}

/// XORs byte `at` of `path` with `mask`.
fn flip(path: &Path, at: u64, mask: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= mask;
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// Every file under `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

fn open_replay(dir: &Path) -> Vec<(EntryId, Vec<u8>)> {
    let spool = Spool::open(dir, fast()).unwrap();
    let left = replay(&spool);
    assert_eq!(
        spool.stats().corrupt_skipped,
        0,
        "nothing corrupt after repair"
    );
    left
}

#[test]
fn a_flipped_byte_in_a_middle_entry_is_named_quarantined_and_the_rest_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ids) = spool_with(dir.path(), &FIVE, &[0]);
    let layout = entries_in(&std::fs::read(&path).unwrap());
    let (_, start, end) = layout[2];
    let flipped = flip(&path, start + HEADER + 1, 0x08);

    let found = verify_with(dir.path(), lines).unwrap();
    assert!(!found.is_healthy());
    let seg = &found.segments[0];
    assert_eq!(seg.path, path);
    assert_eq!((seg.intact, seg.pending, seg.acked), (4, 3, 1));
    assert_eq!(seg.records_pending, Some(3 + 2 + 4));
    assert_eq!(seg.corrupt.len(), 1);
    let region = &seg.corrupt[0];
    assert_eq!((region.offset, region.len), (start, end - start));
    assert_eq!(region.entries, Some(1));
    assert_eq!(region.ids, Some(2..3));
    assert_eq!(region.acked, 0);
    assert_eq!(region.entries_lost(), Some(1));
    // The payload (one line) still reads, so its records are known.
    assert_eq!(region.records, Some(1));
    assert!(!region.at_end);
    assert_eq!(seg.torn_tail, None);
    assert_eq!(found.entries_lost(), Some(1));
    assert_eq!(found.records_lost(), Some(1));
    let text = found.to_string();
    assert!(text.contains("CORRUPT"), "{text}");
    assert!(
        text.contains(&format!(
            "{}: corrupt at byte {start} ({} bytes): 1 entry affected (id 2), 1 lost, 1 record lost",
            path.display(),
            end - start
        )),
        "{text}"
    );

    let done = repair_with(dir.path(), lines).unwrap();
    assert_eq!(done.found, found);
    assert_eq!(done.quarantined.len(), 1);
    let q = &done.quarantined[0];
    assert_eq!(
        (q.from.clone(), q.offset, q.len),
        (path.clone(), start, end - start)
    );
    assert_eq!(q.what, Moved::Region(region.clone()));
    assert_eq!(
        q.file,
        dir.path()
            .join(QUARANTINE_DIR)
            .join(format!("spool-00000000000000000000.seg-{start}.bin"))
    );
    assert_eq!(
        std::fs::read(&q.file).unwrap(),
        &flipped[start as usize..end as usize],
        "the corrupt bytes are kept, unchanged"
    );
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&q.sidecar).unwrap()).unwrap();
    assert_eq!(sidecar["from"], path.display().to_string());
    assert_eq!(sidecar["offset"], start);
    assert_eq!(sidecar["bytes"], end - start);
    assert_eq!(sidecar["entries"], 1);
    assert_eq!(sidecar["first_id"], 2);
    assert!(sidecar["reason"].as_str().unwrap().contains("checksum"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&q.file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(done.to_string().contains(&q.file.display().to_string()));

    let after = verify(dir.path()).unwrap();
    assert!(after.is_healthy(), "{after}");
    assert_eq!(after.entries_pending(), 3);
    assert_eq!(
        open_replay(dir.path()),
        [
            (ids[1], FIVE[1].to_vec()),
            (ids[3], FIVE[3].to_vec()),
            (ids[4], FIVE[4].to_vec())
        ],
        "ids and ack state unchanged, the corrupt entry gone"
    );
    // Nothing more to do the second time.
    assert!(repair(dir.path()).unwrap().quarantined.is_empty());
}

#[test]
fn a_flipped_header_byte_counts_the_entry_from_its_neighbours_ids() {
    for at in [0, 5, 9, 17, 22] {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = spool_with(dir.path(), &FIVE, &[]);
        let (_, start, end) = entries_in(&std::fs::read(&path).unwrap())[1];
        flip(&path, start + at, 0x40);
        let found = verify_with(dir.path(), lines).unwrap();
        let region = &found.segments[0].corrupt[0];
        assert_eq!(
            (region.offset, region.len),
            (start, end - start),
            "byte {at}"
        );
        assert_eq!(region.entries, Some(1), "byte {at}");
        assert_eq!(region.ids, Some(1..2), "byte {at}");
        // The header does not read: the payload cannot be found, records unknown.
        assert_eq!(region.records, None, "byte {at}");
        assert!(found.to_string().contains("records lost unknown"));
    }
}

#[test]
fn a_damaged_last_entry_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ids) = spool_with(dir.path(), &FIVE, &[]);
    let (_, start, end) = entries_in(&std::fs::read(&path).unwrap())[4];
    let flipped = flip(&path, end - 1, 0x01);
    let found = verify(dir.path()).unwrap();
    assert!(!found.is_healthy());
    let seg = &found.segments[0];
    assert_eq!(seg.torn_tail, None);
    let region = &seg.corrupt[0];
    assert_eq!(
        (region.offset, region.len, region.at_end),
        (start, end - start, true)
    );
    assert_eq!((region.entries, region.ids.clone()), (Some(1), Some(4..5)));
    assert!(found.to_string().contains("a damaged last entry"));

    let done = repair(dir.path()).unwrap();
    assert_eq!(
        std::fs::read(&done.quarantined[0].file).unwrap(),
        &flipped[start as usize..]
    );
    assert!(verify(dir.path()).unwrap().is_healthy());
    let left: Vec<EntryId> = open_replay(dir.path())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(left, ids[..4]);
}

#[test]
fn a_torn_tail_is_reported_as_benign_and_left_to_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ids) = spool_with(dir.path(), &FIVE, &[]);
    let (_, start, end) = entries_in(&std::fs::read(&path).unwrap())[4];
    // Shortest last: a longer cut after a shorter one would extend the file with zeros.
    for cut in [end - 1, start + HEADER, start + 3] {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let found = verify(dir.path()).unwrap();
        assert!(found.is_healthy(), "cut {cut}: {found}");
        let seg = &found.segments[0];
        assert!(seg.corrupt.is_empty());
        let torn = seg.torn_tail.expect("a torn tail");
        assert_eq!((torn.offset, torn.len), (start, cut - start));
        assert_eq!(seg.pending, 4);
        assert!(found.to_string().contains("torn tail at byte"), "{found}");
        assert!(found.to_string().contains("healthy"), "{found}");
        assert!(repair(dir.path()).unwrap().quarantined.is_empty());
    }
    // Zeros after the last entry (a power loss) are torn too.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(start as usize);
    bytes.extend([0u8; 100]);
    std::fs::write(&path, &bytes).unwrap();
    assert!(verify(dir.path()).unwrap().is_healthy());
    let left: Vec<EntryId> = open_replay(dir.path())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(left, ids[..4]);
}

#[test]
fn verify_reads_a_locked_spool_without_changing_anything_and_repair_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    let ids: Vec<EntryId> = FIVE.iter().map(|p| spool.append(p).unwrap()).collect();
    spool.ack(ids[1]).unwrap();
    // A corrupt region, so verify has something to (not) fix.
    let path = segments(dir.path())[0].1.clone();
    let (_, start, _) = entries_in(&std::fs::read(&path).unwrap())[3];
    flip(&path, start + HEADER, 0x02);

    let before = snapshot(dir.path());
    let found = verify(dir.path()).unwrap();
    assert!(!found.is_healthy());
    assert_eq!(found.segments[0].corrupt[0].offset, start);
    assert_eq!(found.segments[0].acked, 1);
    assert_eq!(snapshot(dir.path()), before, "verify changed nothing");
    assert!(!dir.path().join(QUARANTINE_DIR).exists());

    match repair(dir.path()) {
        Err(Error::Locked { dir: locked }) => assert_eq!(locked, dir.path()),
        other => panic!("repair of a locked spool: {other:?}"),
    }
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a refused repair changed nothing"
    );
    // The spool that holds the lock carries on.
    spool.append(b"more").unwrap();
    drop(spool);
    assert_eq!(repair(dir.path()).unwrap().quarantined.len(), 1);
}

#[test]
fn corrupt_ack_records_are_named_and_quarantined_and_their_entries_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ids) = spool_with(dir.path(), &FIVE, &[0, 3]);
    let (_, ack_path) = ack_logs(dir.path())[0].clone();
    let flipped = flip(&ack_path, 2, 0x10); // inside the first record (entry 0)

    let found = verify(dir.path()).unwrap();
    assert!(!found.is_healthy());
    assert_eq!(found.ack_logs[0].path, ack_path);
    assert_eq!(found.ack_logs[0].corrupt, [0]);
    assert_eq!(found.ack_logs[0].records, 1);
    assert_eq!(found.segments[0].acked, 1);
    let text = found.to_string();
    assert!(
        text.contains(&format!(
            "{}: 1 corrupt ack record at byte 0",
            ack_path.display()
        )),
        "{text}"
    );

    let done = repair(dir.path()).unwrap();
    assert_eq!(done.quarantined.len(), 1);
    let q = &done.quarantined[0];
    assert_eq!(q.what, Moved::AckRecords(vec![0]));
    assert_eq!(std::fs::read(&q.file).unwrap(), &flipped[..12]);
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&q.sidecar).unwrap()).unwrap();
    assert_eq!(sidecar["offsets"], serde_json::json!([0]));
    assert_eq!(std::fs::read(&ack_path).unwrap(), &flipped[12..]);
    assert!(verify(dir.path()).unwrap().is_healthy());
    let left: Vec<EntryId> = open_replay(dir.path())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        left,
        [ids[0], ids[1], ids[2], ids[4]],
        "entry 0 is sent again"
    );
}

#[test]
fn a_wholly_corrupt_segment_is_counted_only_when_one_entry_can_be_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig {
        segment_bytes: 1, // one entry per segment
        ..fast()
    };
    let spool = Spool::open(dir.path(), config).unwrap();
    let ids: Vec<EntryId> = (0..6u8).map(|i| spool.append(&[i; 100]).unwrap()).collect();
    spool.ack(ids[3]).unwrap(); // segment 3 is deleted
    drop(spool);
    let segs = segments(dir.path());
    assert_eq!(
        segs.iter().map(|(first, _)| *first).collect::<Vec<_>>(),
        [0, 1, 2, 4, 5]
    );
    // Segment 1's header is damaged; segment 2 starts at id 2, so it held one entry.
    flip(&segs[1].1, 1, 0x80);
    // Segment 2's header is damaged; the next segment starts at 4: one entry or two.
    flip(&segs[2].1, 1, 0x80);
    // The last segment: nothing tells how many entries its 124 bytes held.
    flip(&segs[4].1, 1, 0x80);
    let found = verify(dir.path()).unwrap();
    let regions: Vec<_> = found.corrupt_regions().map(|(_, r)| r.clone()).collect();
    assert_eq!(regions.len(), 3);
    assert_eq!(
        (regions[0].entries, regions[0].ids.clone()),
        (Some(1), Some(1..2))
    );
    assert!(
        regions
            .iter()
            .all(|r| r.offset == 0 && r.len == 124 && r.at_end)
    );
    assert_eq!((regions[1].entries, regions[1].ids.clone()), (None, None));
    assert_eq!((regions[2].entries, regions[2].ids.clone()), (None, None));
    assert!(found.to_string().contains("entries affected unknown"));
    assert_eq!(found.entries_lost(), None);

    let done = repair(dir.path()).unwrap();
    assert_eq!(done.quarantined.len(), 3);
    assert!(verify(dir.path()).unwrap().is_healthy());
    let left: Vec<u64> = open_replay(dir.path())
        .iter()
        .map(|(id, _)| id.get())
        .collect();
    assert_eq!(left, [0, 4]);
}

#[test]
fn a_second_repair_keeps_the_first_quarantine_and_clears_an_interrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = spool_with(dir.path(), &FIVE, &[]);
    let (_, start, _) = entries_in(&std::fs::read(&path).unwrap())[1];
    flip(&path, start + HEADER, 0x01);
    let first = repair(dir.path()).unwrap().quarantined[0].clone();
    // The same offset corrupt again (now entry 2 sits there), and a temporary file left
    // by a repair that died before its rename.
    flip(&path, start + HEADER, 0x01);
    let leftover = dir.path().join("spool-00000000000000000000.seg.repair");
    std::fs::write(&leftover, b"partial copy").unwrap();
    let second = repair(dir.path()).unwrap().quarantined[0].clone();
    assert_eq!(second.offset, first.offset);
    assert_ne!(second.file, first.file, "a new name, the first kept");
    assert!(first.file.exists() && first.sidecar.exists());
    assert!(
        second
            .file
            .to_string_lossy()
            .ends_with(&format!("-{start}-1.bin"))
    );
    assert!(!leftover.exists());
    let left: Vec<u64> = open_replay(dir.path())
        .iter()
        .map(|(id, _)| id.get())
        .collect();
    assert_eq!(left, [0, 3, 4]);
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = verify(&missing).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(!missing.exists());
}

/// One spool, one flipped byte.
#[derive(Debug, Clone)]
struct Case {
    payloads: Vec<Vec<u8>>,
    acked: Vec<bool>,
    segment_bytes: u64,
    file: Index,
    byte: Index,
    mask: u8,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..60), any::<bool>()),
            1..10,
        ),
        1u64..300,
        any::<Index>(),
        any::<Index>(),
        1u8..=255,
    )
        .prop_map(|(entries, segment_bytes, file, byte, mask)| Case {
            payloads: entries.iter().map(|(p, _)| p.clone()).collect(),
            acked: entries.iter().map(|(_, a)| *a).collect(),
            segment_bytes,
            file,
            byte,
            mask,
        })
}

fn check_flip(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig {
        segment_bytes: case.segment_bytes,
        ..fast()
    };
    let spool = Spool::open(dir.path(), config).unwrap();
    let ids: Vec<EntryId> = case
        .payloads
        .iter()
        .map(|p| spool.append(p).unwrap())
        .collect();
    for (id, _) in ids.iter().zip(&case.acked).filter(|(_, a)| **a) {
        spool.ack(*id).unwrap();
    }
    drop(spool);
    let original: BTreeMap<u64, Vec<u8>> = ids
        .iter()
        .map(|id| id.get())
        .zip(case.payloads.iter().cloned())
        .collect();
    let pending: BTreeSet<u64> = ids
        .iter()
        .zip(&case.acked)
        .filter(|(_, a)| !**a)
        .map(|(id, _)| id.get())
        .collect();

    let files: Vec<PathBuf> = segments(dir.path())
        .into_iter()
        .chain(ack_logs(dir.path()))
        .map(|(_, p)| p)
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    if files.is_empty() {
        return;
    }
    let path = case.file.get(&files).clone();
    let clean = std::fs::read(&path).unwrap();
    let at = case.byte.index(clean.len());
    let is_segment = path.extension().is_some_and(|e| e == "seg");
    // What the flip should cost: the entry it lands in, or the ack record.
    let (touched, comes_back) = if is_segment {
        let hit = entries_in(&clean)
            .into_iter()
            .find(|&(_, start, end)| (start..end).contains(&(at as u64)))
            .expect("a clean segment is entries back to back");
        (Some(hit), None)
    } else {
        let record = at / 12 * 12;
        let id = u64::from_le_bytes(clean[record..record + 8].try_into().unwrap());
        (None, Some(id))
    };
    let flipped = flip(&path, at as u64, case.mask);

    let before = snapshot(dir.path());
    let found = verify_with(dir.path(), lines).unwrap();
    assert_eq!(snapshot(dir.path()), before, "verify changed nothing");
    let _ = found.to_string();
    assert!(!found.is_healthy(), "a flipped byte is always found");
    if let Some((id, start, end)) = touched {
        let regions: Vec<_> = found.corrupt_regions().collect();
        assert_eq!(regions.len(), 1);
        let (seg, region) = regions[0];
        assert_eq!(seg.path, path);
        assert_eq!((region.offset, region.len), (start, end - start));
        assert!(region.entries.is_none_or(|n| n == 1), "{region:?}");
        if region.entries.is_some() {
            assert_eq!(region.ids, Some(id..id + 1));
        }
    }

    let done = repair(dir.path()).unwrap();
    assert_eq!(done.quarantined.len(), 1);
    let q = &done.quarantined[0];
    assert_eq!(q.from, path);
    let kept = std::fs::read(&q.file).unwrap();
    if is_segment {
        assert_eq!(
            kept,
            &flipped[q.offset as usize..(q.offset + q.len) as usize]
        );
    } else {
        assert_eq!(kept, &flipped[at / 12 * 12..at / 12 * 12 + 12]);
    }
    let after = verify(dir.path()).unwrap();
    assert!(after.is_healthy(), "{after}");

    let left: BTreeMap<u64, Vec<u8>> = open_replay(dir.path())
        .into_iter()
        .map(|(id, p)| (id.get(), p))
        .collect();
    for (id, payload) in &left {
        assert_eq!(
            original.get(id),
            Some(payload),
            "replayed only what was appended"
        );
    }
    let mut expect = pending.clone();
    if let Some((id, _, _)) = touched {
        expect.remove(&id);
    }
    expect.extend(comes_back);
    assert_eq!(left.keys().copied().collect::<BTreeSet<_>>(), expect);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_flipped_byte_is_found_and_repair_keeps_every_untouched_entry(case in case()) {
        check_flip(case);
    }
}
