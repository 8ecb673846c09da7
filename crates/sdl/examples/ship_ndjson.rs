//! Ships NDJSON through the SDL sender to an in-process emulator in count-only mode over
//! plain loopback HTTP, pacing off, and prints the input throughput. Measure peak memory
//! with `/usr/bin/time -v`:
//!
//! ```text
//! cargo build --release -p logferry-sdl --example ship_ndjson
//! /usr/bin/time -v target/release/examples/ship_ndjson --mb 2000 --sessions 4 --body 1000000
//! ```
//!
//! Options: `--mb N` input megabytes (default 1000), `--sessions N` (default 4), `--body N`
//! largest body in bytes (default 1,000,000), `--gzip` to compress bodies (level 1),
//! `--file PATH` to read NDJSON from a file (once) instead of the generated corpus,
//! `--producers N` threads turning lines into events (default 1), `--as-given` to write
//! times as given instead of strictly increasing per session.
//! The generated corpus is 16 MB of Kubernetes-style lines, cycled; each line is turned
//! into an event with the model's `EventReader` and tagged with its pod as source.

use anyhow::Context;
use logferry_emulator::Emulator;
use logferry_http::{Client, ClientConfig, Secret};
use logferry_sdl::{Pacing, Record, SdlConfig, SdlSender, Sessions};
use logferry_sdl_model::{EventReader, FromJsonConfig, Timestamp};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    mb: u64,
    sessions: usize,
    body: usize,
    gzip: bool,
    file: Option<String>,
    producers: usize,
    as_given: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        mb: 1000,
        sessions: 4,
        body: 1_000_000,
        gzip: false,
        file: None,
        producers: 1,
        as_given: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mb" => a.mb = value()?.parse()?,
            "--sessions" => a.sessions = value()?.parse()?,
            "--body" => a.body = value()?.parse()?,
            "--gzip" => a.gzip = true,
            "--as-given" => a.as_given = true,
            "--file" => a.file = Some(value()?),
            "--producers" => a.producers = value()?.parse()?,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(a)
}

/// About `bytes` of NDJSON lines with Kubernetes metadata (60 pods), deterministic.
fn corpus(bytes: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rng = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = String::with_capacity(bytes + 1024);
    let mut i = 0u64;
    while out.len() < bytes {
        let pod = rng() % 60;
        let ns = ["payments", "auth", "ingress", "default"][(pod % 4) as usize];
        let status = [200, 200, 201, 404, 500][(rng() % 5) as usize];
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{ts}","level":"{lvl}","message":"10.0.{a}.{b} - - \"GET /api/v1/items/{i} HTTP/1.1\" {status} {size} \"-\" \"curl/8.5.0\" rt=0.{rt:03}","status":{status},"bytes":{size},"kubernetes":{{"namespace":"{ns}","pod":"{ns}-api-{pod:04}","node":"ip-10-0-1-{node}.eu-west-1.compute.internal","container":"api","image":"registry.example.com/{ns}/api:1.4.2"}},"cluster":"prod-eu-1"}}"#,
            ts = 1_767_225_600_000_000_000 + i * 100_000,
            lvl = ["info", "warn", "error", "debug"][(rng() % 4) as usize],
            a = rng() % 255,
            b = rng() % 255,
            size = rng() % 90_000,
            rt = rng() % 1000,
            node = pod % 7,
        );
        i += 1;
    }
    out.into_bytes()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let emu = Emulator::builder()
        .plain_http()
        .count_only()
        .worker_threads(1)
        .start()
        .await?;
    let mut config = SdlConfig::new(emu.base_url().parse()?, Secret::new(emu.sdl_api_key()));
    config.sessions = Sessions::Fixed(args.sessions);
    config.pacing = Pacing::Off;
    config.max_body_bytes = args.body;
    config.compression = args.gzip.then_some(logferry_compress::Level::FAST);
    config.queue_capacity = 64;
    if args.as_given {
        config.timestamps = logferry_sdl_model::Timestamps::AsGiven;
    }
    let sender = SdlSender::start(Client::new(ClientConfig::default())?, config)?;

    let (data, rounds) = match &args.file {
        Some(path) => (std::fs::read(path)?, 1),
        None => {
            let data = corpus(16 << 20);
            let rounds = (args.mb << 20).div_ceil(data.len() as u64).max(1);
            (data, rounds)
        }
    };
    let sources: Arc<Vec<Arc<str>>> =
        Arc::new((0..60).map(|p| Arc::from(format!("pod-{p}"))).collect());
    let data = Arc::new(data);
    let started = Instant::now();
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    // Turning lines into events costs about as much as everything after it: producer
    // threads share the lines, in blocks of 512.
    let mut producers = Vec::new();
    for p in 0..args.producers {
        let (data, sources, sender) = (data.clone(), sources.clone(), sender.clone());
        let runtime = tokio::runtime::Handle::current();
        let n = args.producers;
        producers.push(std::thread::spawn(
            move || -> anyhow::Result<(u64, u64, Duration)> {
                let mut reader = EventReader::new(FromJsonConfig::default());
                let mut scratch = Vec::new();
                let mut batch = Vec::with_capacity(512);
                let (mut input, mut events, mut blocked) = (0u64, 0u64, Duration::ZERO);
                for _ in 0..rounds {
                    let lines = data.split(|b| *b == b'\n').filter(|l| !l.is_empty());
                    for (i, line) in lines.enumerate() {
                        if (i / 512) % n != p {
                            continue;
                        }
                        input += line.len() as u64 + 1;
                        scratch.clear();
                        scratch.extend_from_slice(line);
                        let event = reader.read(&mut scratch, now)?;
                        batch.push(Record::new(event).from_source(sources[i % 60].clone()));
                        events += 1;
                        if batch.len() == 512 {
                            let t = Instant::now();
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(512));
                            runtime.block_on(sender.send_many(full))?;
                            blocked += t.elapsed();
                        }
                    }
                }
                runtime.block_on(sender.send_many(batch))?;
                Ok((input, events, blocked))
            },
        ));
    }
    let (mut input, mut events, mut blocked) = (0u64, 0u64, Duration::ZERO);
    for p in producers {
        let (i, e, b) = p.join().expect("producer thread")?;
        input += i;
        events += e;
        blocked += b;
    }
    let produced = started.elapsed();
    let report = sender.shutdown(Duration::from_secs(60)).await;
    eprintln!("producers: {produced:?}, waiting for the queue {blocked:?} in all");
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.unsent.is_empty(),
        "{} events unsent",
        report.unsent.len()
    );
    let s = report.stats;
    anyhow::ensure!(
        s.events_delivered == events,
        "delivered {} of {events}",
        s.events_delivered
    );
    println!(
        "input {:.0} MB in {secs:.2} s: {:.1} MB/s, {:.0} events/s; {} requests of {:.0} kB average, body {:.1} MB/s raw, {:.1} MB/s on the wire, dedupe saved {:.0}%",
        input as f64 / 1e6,
        input as f64 / 1e6 / secs,
        events as f64 / secs,
        s.requests,
        s.bytes_raw as f64 / s.requests.max(1) as f64 / 1e3,
        s.bytes_raw as f64 / 1e6 / secs,
        s.bytes_wire as f64 / 1e6 / secs,
        100.0 * (1.0 - s.bytes_raw as f64 / s.bytes_inline.max(1) as f64),
    );
    emu.shutdown().await;
    Ok(())
}
