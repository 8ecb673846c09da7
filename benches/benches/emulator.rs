//! The emulator's count-only mode must never be a benchmark's bottleneck: request bodies
//! per second it takes over loopback HTTP/1.1 (plain HTTP, several connections), from a
//! hyper client POSTing 1 MiB bodies to HTTP Ingest.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use logferry_emulator::Emulator;
use std::time::{Duration, Instant};

const BODY: usize = 1 << 20;
const CONNECTIONS: usize = 4;
/// Requests per connection per iteration.
const PER_CONNECTION: usize = 8;

fn bench_count_only(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let emu = rt
        .block_on(Emulator::builder().plain_http().count_only().start())
        .expect("the emulator starts");
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONNECTIONS)
        .build_http();
    let url: http::Uri = emu.http_ingest_url().parse().expect("a URI");
    let auth = format!("Bearer {}", emu.http_ingest_key());
    let body = Bytes::from(vec![b'x'; BODY]);

    let mut group = c.benchmark_group("emulator_count_only");
    group.throughput(Throughput::Bytes(
        (BODY * CONNECTIONS * PER_CONNECTION) as u64,
    ));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("http_ingest_1MiB_x4_connections", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..CONNECTIONS)
                        .map(|_| {
                            let client = client.clone();
                            let url = url.clone();
                            let auth = auth.clone();
                            let body = body.clone();
                            tokio::spawn(async move {
                                for _ in 0..PER_CONNECTION {
                                    let req = http::Request::post(url.clone())
                                        .header("authorization", &auth)
                                        .header("content-type", "text/plain")
                                        .body(Full::new(body.clone()))
                                        .expect("a request");
                                    let resp = client.request(req).await.expect("a reply");
                                    assert_eq!(resp.status(), 200);
                                    resp.into_body().collect().await.expect("a body");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("the task finishes");
                    }
                }
                started.elapsed()
            })
        })
    });
    group.finish();
    let stats = emu.stats();
    eprintln!(
        "emulator received {} requests, {} MB",
        stats.requests,
        stats.endpoints.values().map(|e| e.wire_bytes).sum::<u64>() / 1_000_000
    );
}

criterion_group!(benches, bench_count_only);
criterion_main!(benches);
