//! SDL sender: small events through `SdlSender`'s batching path (dispatcher, request
//! builder, session tasks, HTTP) to an in-process count-only emulator over plain loopback
//! HTTP, pacing and gzip off, in events/s; `send_many` in blocks of 512 against `send` one
//! by one.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logferry_emulator::Emulator;
use logferry_http::{Client, ClientConfig, Secret};
use logferry_sdl::{Pacing, Record, SdlConfig, SdlSender, Sessions};
use logferry_sdl_model::{Attrs, Event, Severity, Timestamp};
use std::time::{Duration, Instant};

const T0: u64 = 1_768_212_000_000_000_000;

/// Small events (≈ 170 body bytes): a syslog-like message, a host and a pid.
fn events(n: usize) -> Vec<Event> {
    let text = logferry_emulator::sample::syslog(n * 200, 11);
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .take(n)
        .enumerate()
        .map(|(i, line)| {
            let line = String::from_utf8_lossy(line);
            let cut = line.len().min(100);
            let attrs = Attrs::new()
                .with("message", line.get(..cut).unwrap_or(&line).to_owned())
                .with("host", "web-01")
                .with("pid", 4242 + (i % 100) as i64);
            Event::new(Timestamp::from_nanos(T0 + i as u64 * 1_000), attrs)
                .with_sev(Severity::ALL[i % 7])
        })
        .collect()
}

fn sender_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let emu = runtime.block_on(async {
        Emulator::builder()
            .plain_http()
            .count_only()
            .worker_threads(1)
            .start()
            .await
            .expect("emulator")
    });
    let sender = runtime.block_on(async {
        let mut config = SdlConfig::new(
            emu.base_url().parse().expect("URL"),
            Secret::new(emu.sdl_api_key()),
        );
        config.sessions = Sessions::Fixed(4);
        config.pacing = Pacing::Off;
        config.compression = None;
        config.server_host = Some("bench".to_owned());
        SdlSender::start(
            Client::new(ClientConfig::default()).expect("client"),
            config,
        )
        .expect("sender")
    });
    const N: usize = 100_000;
    let events = events(N);
    let mut group = c.benchmark_group("sdl_sender");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    for (name, blocks) in [("send_many_512", true), ("send_one_by_one", false)] {
        group.bench_function(BenchmarkId::new(name, N), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let batch: Vec<Record> = events.iter().cloned().map(Record::new).collect();
                    let started = Instant::now();
                    runtime.block_on(async {
                        if blocks {
                            let mut it = batch.into_iter();
                            loop {
                                let block: Vec<Record> = it.by_ref().take(512).collect();
                                if block.is_empty() {
                                    break;
                                }
                                sender.send_many(block).await.expect("queued");
                            }
                        } else {
                            for r in batch {
                                sender.send_record(r).await.expect("queued");
                            }
                        }
                        sender.flush().await.expect("flushed");
                    });
                    total += started.elapsed();
                }
                total
            });
        });
    }
    group.finish();
    runtime.block_on(async {
        sender.shutdown(Duration::from_secs(10)).await;
        emu.shutdown().await;
    });
}

criterion_group!(benches, sender_path);
criterion_main!(benches);
