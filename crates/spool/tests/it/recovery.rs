//! Recovery from what crashes and bad disks leave: torn tails, flipped bytes in the
//! middle, zero-filled tails, corrupt ack records, stray files.

use crate::{HEADER, ack_logs, entries_in, fast, payloads, replay, segments};
use logferry_spool::{EntryId, Spool};
use std::path::Path;

/// A spool in `dir` holding `payloads`, dropped; returns the segment file.
fn spool_with(dir: &Path, payloads: &[&[u8]]) -> std::path::PathBuf {
    let spool = Spool::open(dir, fast()).unwrap();
    for p in payloads {
        spool.append(p).unwrap();
    }
    drop(spool);
    let segs = segments(dir);
    assert_eq!(segs.len(), 1);
    segs[0].1.clone()
}

const THREE: [&[u8]; 3] = [b"first entry", b"second entry", b"third entry"];

#[test]
fn every_flipped_byte_in_a_middle_entry_skips_only_that_entry() {
    let probe = tempfile::tempdir().unwrap();
    let path = spool_with(probe.path(), &THREE);
    let layout = entries_in(&std::fs::read(&path).unwrap());
    let (_, start, end) = layout[1];
    for at in start..end {
        let dir = tempfile::tempdir().unwrap();
        let path = spool_with(dir.path(), &THREE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at as usize] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();

        let spool = Spool::open(dir.path(), fast()).unwrap();
        assert_eq!(payloads(&spool), [THREE[0], THREE[2]], "byte {at} flipped");
        let stats = spool.stats();
        assert_eq!(stats.corrupt_skipped, 1, "byte {at}");
        assert_eq!(stats.corrupt_bytes, end - start, "byte {at}");
        assert_eq!(stats.torn_tail_dropped, 0, "byte {at}");
        assert_eq!(stats.entries, 2);
    }
}

#[test]
fn a_tail_cut_at_every_byte_is_truncated_and_the_spool_goes_on() {
    let probe = tempfile::tempdir().unwrap();
    let path = spool_with(probe.path(), &THREE);
    let layout = entries_in(&std::fs::read(&path).unwrap());
    let (_, start, end) = layout[2];
    for cut in start..end {
        let dir = tempfile::tempdir().unwrap();
        let path = spool_with(dir.path(), &THREE);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();

        let spool = Spool::open(dir.path(), fast()).unwrap();
        let stats = spool.stats();
        assert_eq!(stats.torn_tail_dropped, u64::from(cut > start), "cut {cut}");
        assert_eq!(stats.torn_tail_bytes, cut - start, "cut {cut}");
        assert_eq!(stats.corrupt_skipped, 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), start, "cut {cut}");
        assert_eq!(payloads(&spool), &THREE[..2]);

        // The spool keeps working: a new entry lands after the survivors and replays.
        let id = spool.append(b"after the crash").unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), fast()).unwrap();
        assert_eq!(spool.stats().torn_tail_dropped, 0, "tail found twice");
        let left = replay(&spool);
        assert_eq!(left.len(), 3);
        assert_eq!(left[2], (id, b"after the crash".to_vec()));
    }
}

#[test]
fn zero_filled_tails_and_header_prefixes_are_torn_tails() {
    for tail in [vec![0u8; 4096], b"\xFELF1 not a whole head".to_vec()] {
        let dir = tempfile::tempdir().unwrap();
        let path = spool_with(dir.path(), &THREE);
        let clean = std::fs::metadata(&path).unwrap().len();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(&tail);
        std::fs::write(&path, &bytes).unwrap();

        let spool = Spool::open(dir.path(), fast()).unwrap();
        assert_eq!(payloads(&spool), THREE);
        assert_eq!(spool.stats().torn_tail_bytes, tail.len() as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), clean);
    }
}

#[test]
fn a_wholly_corrupt_segment_is_quarantined_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = spool_with(dir.path(), &THREE);
    std::fs::write(&path, vec![0xFEu8; 300]).unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert!(replay(&spool).is_empty());
    assert_eq!(spool.stats().quarantined_tail_bytes, 300);
    assert_eq!(spool.stats().torn_tail_bytes, 0);
    assert!(segments(dir.path()).is_empty());
    assert_eq!(quarantined(dir.path()), [vec![0xFEu8; 300]]);
}

/// The `.bin` files of the quarantine folder, by name.
fn quarantined(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(list) = std::fs::read_dir(dir.join(logferry_spool::QUARANTINE_DIR)) else {
        return Vec::new();
    };
    let mut files: Vec<_> = list
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn a_damaged_last_entry_is_moved_to_quarantine_at_open_not_cut_unseen() {
    let dir = tempfile::tempdir().unwrap();
    let path = spool_with(dir.path(), &THREE);
    let mut bytes = std::fs::read(&path).unwrap();
    let (_, start, end) = entries_in(&bytes)[2];
    // A flipped payload byte: the header reads and the entry is whole, so it is no
    // crash's partial write.
    bytes[end as usize - 1] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(payloads(&spool), &THREE[..2]);
    let stats = spool.stats();
    assert_eq!(
        (stats.quarantined_tails, stats.quarantined_tail_bytes),
        (1, end - start)
    );
    assert_eq!(stats.corrupt_skipped, 0);
    assert_eq!(stats.torn_tail_dropped, 0);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), start);
    assert_eq!(quarantined(dir.path()), [bytes[start as usize..].to_vec()]);
    let sidecar = std::fs::read_dir(dir.path().join(logferry_spool::QUARANTINE_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let why = std::fs::read_to_string(sidecar).unwrap();
    assert!(why.contains("damaged"), "{why}");
    // A torn tail, by contrast, is only cut.
    let id = spool.append(b"after").unwrap();
    drop(spool);
    let newest = segments(dir.path()).last().unwrap().1.clone();
    let len = std::fs::metadata(&newest).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(len - 2)
        .unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(spool.stats().torn_tail_dropped, 1);
    assert_eq!(quarantined(dir.path()).len(), 1);
    let left: Vec<EntryId> = replay(&spool).into_iter().map(|(i, _)| i).collect();
    assert_eq!(left, [EntryId::new(0), EntryId::new(1)], "{id:?} was torn");
}

#[test]
fn an_entry_corrupted_after_open_is_skipped_by_replay_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    for p in THREE {
        spool.append(p).unwrap();
    }
    let path = &segments(dir.path())[0].1;
    let mut bytes = std::fs::read(path).unwrap();
    let (_, start, _) = entries_in(&bytes)[1];
    bytes[(start + HEADER) as usize] ^= 1;
    std::fs::write(path, &bytes).unwrap();

    assert_eq!(payloads(&spool), [THREE[0], THREE[2]]);
    let stats = spool.stats();
    assert_eq!(stats.corrupt_skipped, 1);
    assert_eq!(stats.entries, 2);
}

#[test]
fn a_corrupt_ack_record_makes_its_entry_come_back_never_another() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    let ids: Vec<EntryId> = THREE.iter().map(|p| spool.append(p).unwrap()).collect();
    spool.ack(ids[0]).unwrap();
    spool.ack(ids[1]).unwrap();
    drop(spool);
    let (_, ack_path) = &ack_logs(dir.path())[0];
    let mut bytes = std::fs::read(ack_path).unwrap();
    assert_eq!(bytes.len(), 24, "two 12-byte records");
    bytes[3] ^= 0x10; // inside the first record's id
    std::fs::write(ack_path, &bytes).unwrap();

    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(payloads(&spool), [THREE[0], THREE[2]]);
    assert_eq!(spool.stats().corrupt_acks, 1);
}

#[test]
fn a_partial_ack_record_is_cut_and_later_acks_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    let ids: Vec<EntryId> = THREE.iter().map(|p| spool.append(p).unwrap()).collect();
    spool.ack(ids[0]).unwrap();
    spool.ack(ids[1]).unwrap();
    drop(spool);
    let (_, ack_path) = &ack_logs(dir.path())[0];
    std::fs::OpenOptions::new()
        .write(true)
        .open(ack_path)
        .unwrap()
        .set_len(12 + 5)
        .unwrap();

    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(payloads(&spool), [THREE[1], THREE[2]]);
    assert_eq!(std::fs::metadata(ack_path).unwrap().len(), 12);
    // The next record lands on a record boundary and is read back.
    spool.ack(ids[2]).unwrap();
    drop(spool);
    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(payloads(&spool), [THREE[1]]);
    assert_eq!(spool.stats().corrupt_acks, 0);
}

#[test]
fn stray_ack_logs_never_acknowledge_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    spool_with(dir.path(), &THREE);
    // Ack records for ids 3 and 4 under the name the next segment will get (left by a
    // delete cut short, or by a power cut that kept an ack but not its entries).
    let mut stray = Vec::new();
    for id in [3u64, 4] {
        stray.extend(id.to_le_bytes());
        stray.extend(crc32fast_hash(&id.to_le_bytes()).to_le_bytes());
    }
    std::fs::write(dir.path().join("spool-00000000000000000003.ack"), &stray).unwrap();
    std::fs::write(dir.path().join("checkpoints.json"), b"{}").unwrap();

    let spool = Spool::open(dir.path(), fast()).unwrap();
    let a = spool.append(b"new one").unwrap();
    let b = spool.append(b"new two").unwrap();
    assert_eq!((a.get(), b.get()), (3, 4));
    drop(spool);
    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(payloads(&spool).len(), 5);
    assert!(
        dir.path().join("checkpoints.json").exists(),
        "other files are left alone"
    );
}

/// CRC-32 (IEEE), bitwise: the tests check the layout without the crate's helpers.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn header_crc_in_files_matches_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = spool_with(dir.path(), &[b"payload"]);
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"\xFELF1");
    assert_eq!(&bytes[4..8], &7u32.to_le_bytes());
    assert_eq!(&bytes[8..16], &0u64.to_le_bytes());
    assert_eq!(&bytes[16..20], &crc32fast_hash(b"payload").to_le_bytes());
    assert_eq!(&bytes[20..24], &crc32fast_hash(&bytes[0..20]).to_le_bytes());
    assert_eq!(&bytes[24..], b"payload");
}

#[test]
fn the_fuzz_seeds_and_findings_recover_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/spool_recovery");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            logferry_spool::fuzzing::recover(&std::fs::read(&path).unwrap());
            seen += 1;
        }
    }
    assert!(seen >= 3, "seed corpus missing from {}", dir.display());
}

#[test]
fn an_acknowledged_entry_damaged_at_the_end_never_lends_its_id_to_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    let ids: Vec<EntryId> = THREE.iter().map(|p| spool.append(p).unwrap()).collect();
    spool.ack(ids[2]).unwrap();
    drop(spool);
    let path = segments(dir.path())[0].1.clone();
    let mut bytes = std::fs::read(&path).unwrap();
    let (_, _, end) = entries_in(&bytes)[2];
    bytes[end as usize - 1] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let spool = Spool::open(dir.path(), fast()).unwrap();
    let new = spool.append(b"new after the damage").unwrap();
    assert!(new > ids[2], "{new:?} reuses an acknowledged id");
    drop(spool);
    let spool = Spool::open(dir.path(), fast()).unwrap();
    let left: Vec<Vec<u8>> = replay(&spool).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        left,
        [
            THREE[0].to_vec(),
            THREE[1].to_vec(),
            b"new after the damage".to_vec()
        ]
    );
}
