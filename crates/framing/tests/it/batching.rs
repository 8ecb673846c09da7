//! Batching rules and in-order acknowledgement.

use logferry_framing::{AckTracker, Batch, BatchConfig, Batcher, Format, Framer, FramingConfig};
use logferry_spool::Entry;
use std::time::{Duration, Instant};

fn batch_all(config: BatchConfig, input: &[u8]) -> Vec<Batch> {
    let mut framer = Framer::new(Format::Text, FramingConfig::default());
    let mut batcher = Batcher::new(config, Some("in.log".into()));
    let now = Instant::now();
    let mut out = Vec::new();
    framer.push(input, |r| batcher.push(&r.unwrap(), now, |b| out.push(b)));
    framer.finish(|r| batcher.push(&r.unwrap(), now, |b| out.push(b)));
    batcher.flush(|b| out.push(b));
    out
}

#[test]
fn target_and_maximum_shape_the_bodies() {
    let config = BatchConfig {
        target_bytes: 10,
        max_bytes: 12,
        ..BatchConfig::default()
    };
    let batches = batch_all(config, b"aaaa\nbbbb\ncccccccccccccccccc\ndd\n");
    let bodies: Vec<&[u8]> = batches.iter().map(Batch::body).collect();
    assert_eq!(
        bodies,
        [&b"aaaa\nbbbb\n"[..], b"cccccccccccccccccc\n", b"dd\n"]
    );
    assert_eq!(
        batches.iter().map(Batch::seq).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        batches[0].range().to_string(),
        "in.log: lines 1-2 (bytes 0..10)"
    );
}

#[test]
fn record_count_limit() {
    let config = BatchConfig {
        max_records: Some(2),
        ..BatchConfig::default()
    };
    let batches = batch_all(config, b"1\n2\n3\n4\n5");
    assert_eq!(
        batches.iter().map(Batch::len).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    assert_eq!(batches[2].body(), b"5\n");
}

#[test]
fn linger_emits_a_waiting_batch_with_the_callers_clock() {
    let mut batcher = Batcher::new(BatchConfig::default(), None);
    let mut framer = Framer::new(Format::Text, FramingConfig::default());
    let t0 = Instant::now();
    let mut out = Vec::new();
    framer.push(b"only\n", |r| {
        batcher.push(&r.unwrap(), t0, |b| out.push(b))
    });
    assert_eq!(batcher.deadline(), Some(t0 + Duration::from_secs(1)));
    batcher.poll(t0 + Duration::from_millis(999), |b| out.push(b));
    assert!(out.is_empty());
    batcher.poll(t0 + Duration::from_secs(1), |b| out.push(b));
    assert_eq!(out.len(), 1);
    assert_eq!(batcher.deadline(), None);
}

#[test]
fn split_half_keeps_records_whole_and_positions_right() {
    let batch = batch_all(BatchConfig::default(), b"aa\nbbbbbb\ncc\ndd\n").remove(0);
    let (left, right) = batch.split_half().unwrap();
    assert_eq!(left.body(), b"aa\nbbbbbb\n");
    assert_eq!(right.body(), b"cc\ndd\n");
    assert_eq!(right.record(0).unwrap().0, b"cc");
    assert_eq!(
        right.range().to_string(),
        "in.log: lines 3-4 (bytes 10..16)"
    );
    let single = batch_all(BatchConfig::default(), b"one\n").remove(0);
    assert!(single.split_half().is_err());
}

#[test]
fn ack_tracker_advances_over_contiguous_prefix_only() {
    let mut acks = AckTracker::new(0, 0);
    assert_eq!(acks.ack(2, 30), None);
    assert_eq!(acks.ack(1, 20), None);
    assert_eq!(acks.waiting(), 2);
    assert_eq!(acks.ack(0, 10), Some(30));
    assert_eq!(acks.ack(0, 10), None, "a duplicate ack changes nothing");
    assert_eq!(acks.next_expected(), 3);
}

#[test]
fn stored_batches_round_trip_and_refuse_garbage() {
    let batch = batch_all(BatchConfig::default(), b"one\ntwo two\nthree\n").remove(0);
    let stored = batch.encode();
    let back = Batch::decode(&stored).unwrap();
    assert_eq!(back, batch);
    assert_eq!(back.range().to_string(), "in.log: lines 1-3 (bytes 0..18)");
    let error = |bytes: &[u8]| Batch::decode(bytes).unwrap_err().to_string();
    assert_eq!(
        error(&stored[..0]),
        "stored LFR1 entry, byte 0: shorter than its kind tag"
    );
    assert_eq!(
        error(&stored[..4]),
        "stored LFR1 entry, byte 4: truncated (8 bytes needed, 0 left)"
    );
    assert_eq!(
        error(&stored[..20]),
        "stored LFR1 entry, byte 16: truncated (6 bytes needed, 4 left)"
    );
    assert_eq!(
        error(&stored[..stored.len() - 1]),
        "stored LFR1 entry, byte 130: truncated (18 bytes needed, 17 left)"
    );
    let mut broken = stored.clone();
    let last = broken.len() - 1;
    broken[last] = b'x'; // the last record no longer ends with \n
    assert_eq!(
        error(&broken),
        format!("stored LFR1 entry, byte {last}: record 3 does not end where its span says")
    );
    // Found by fuzzing: one span covering two lines is not a record.
    let two_as_one = [
        &b"LFR1"[..],
        &[0; 8],
        &[0; 4],
        &1u32.to_le_bytes(),
        &4u64.to_le_bytes(),
        &[0; 8],
        &1u64.to_le_bytes(),
        &4u64.to_le_bytes(),
        &4u64.to_le_bytes(),
        b"a\nb\n",
    ]
    .concat();
    assert_eq!(
        error(&two_as_one),
        "stored LFR1 entry, byte 61: record 1's span covers more than one line"
    );
    assert!(logferry_spool::fuzzing::entry::<Batch>(false, &stored).is_some());
    assert!(logferry_spool::fuzzing::entry::<Batch>(false, &two_as_one).is_none());
}
