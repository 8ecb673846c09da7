//! `/metrics`: a scrape of a daemon with 1,000 routes, each following one file (issue
//! 15: "a scrape of a daemon with 1,000 files answers in under 50 ms"), and the cost of
//! counting on the hot path (one call per batch).

use criterion::{Criterion, criterion_group, criterion_main};
use logferry_observe::{Observe, SinkSnapshot, State};
use std::hint::black_box;
use std::time::Duration;

fn daemon(routes: usize) -> std::sync::Arc<Observe> {
    let observe = Observe::new("0.1.0");
    for i in 0..routes {
        let route = observe.route(&format!("sink-{}", i % 4), &format!("source-{i}"));
        route.read(1_000, 100_000);
        route.delivered(990);
        route.file_lag(format!("/var/log/app/service-{i}/current.log"), 4_096);
        route.set_sink_stats(&SinkSnapshot {
            bytes_raw: 99_000,
            bytes_wire: 20_000,
            requests_by_status: [(200, 10), (429, 1)].into(),
            retries: 1,
            in_flight: 1,
            concurrency_limit: Some(8),
            spool_bytes: 1 << 20,
            spool_entries: 3,
            oldest_undelivered: Some(Duration::from_millis(250)),
            ..Default::default()
        });
        route.set_state(State::Delivering);
    }
    observe
}

fn bench_observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("observe");
    let observe = daemon(1_000);
    let size = observe.scrape().len();
    group.throughput(criterion::Throughput::Bytes(size as u64));
    group.bench_function("scrape_1000_routes_and_files", |b| {
        b.iter(|| black_box(observe.scrape()))
    });
    group.throughput(criterion::Throughput::Elements(1_000));
    group.bench_function("ready_1000_routes", |b| {
        b.iter(|| black_box(observe.ready()))
    });
    let route = observe.route("sink-0", "source-0");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function("count_a_batch", |b| {
        b.iter(|| {
            route.read(black_box(1_000), black_box(100_000));
            route.delivered(black_box(1_000));
        })
    });
    group.finish();
}

criterion_group!(benches, bench_observe);
criterion_main!(benches);
