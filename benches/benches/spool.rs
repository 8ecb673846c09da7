//! Spool throughput: 100 KB entries (the HTTP Ingest batch size) appended and
//! acknowledged with 32 in flight, as the pipeline does, under each fsync policy.
//! MB/s for `Never` and `Interval(1s)`; entries/s for `EveryBatch`, where every append
//! and every ack waits for the disk. `every_batch/append` measures the appending thread
//! alone (in the pipeline, acks and their flushes happen on the delivery tasks), with
//! the oldest segments dropped so the spool never fills.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logferry_spool::{FsyncPolicy, Spool, SpoolConfig, WhenFull};
use std::collections::VecDeque;
use std::time::Duration;

const ENTRY: usize = 100_000;
const IN_FLIGHT: usize = 32;

/// One iteration: append an entry, and acknowledge the oldest once `IN_FLIGHT` wait
/// (never, when `ack` is false).
fn run(
    c: &mut Criterion,
    group: &str,
    name: &str,
    fsync: FsyncPolicy,
    ack: bool,
    throughput: Throughput,
) {
    let payload = logferry_emulator::sample::syslog(ENTRY, 3)[..ENTRY].to_vec();
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(
        dir.path(),
        SpoolConfig {
            fsync,
            when_full: WhenFull::DropOldest,
            max_bytes: 256 << 20,
            ..SpoolConfig::default()
        },
    )
    .expect("open spool");
    let mut in_flight = VecDeque::new();
    let mut group = c.benchmark_group(group);
    group.throughput(throughput);
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(name, |b| {
        b.iter(|| {
            let id = spool.append(&payload).expect("append");
            if !ack {
                return;
            }
            in_flight.push_back(id);
            if in_flight.len() > IN_FLIGHT {
                let id = in_flight.pop_front().expect("non-empty");
                spool.ack(id).expect("ack");
            }
        })
    });
    group.finish();
}

fn bench_spool(c: &mut Criterion) {
    let bytes = Throughput::Bytes(ENTRY as u64);
    run(
        c,
        "spool_100KB",
        "never",
        FsyncPolicy::Never,
        true,
        bytes.clone(),
    );
    run(
        c,
        "spool_100KB",
        "interval_1s",
        FsyncPolicy::Interval(Duration::from_secs(1)),
        true,
        bytes,
    );
    let entries = Throughput::Elements(1);
    let every = FsyncPolicy::EveryBatch;
    run(
        c,
        "spool_100KB_entries",
        "every_batch/append_ack",
        every,
        true,
        entries.clone(),
    );
    run(
        c,
        "spool_100KB_entries",
        "every_batch/append",
        every,
        false,
        entries,
    );
}

criterion_group!(benches, bench_spool);
criterion_main!(benches);
