//! Integration tests for the HTTP Ingest backend, against `logferry-emulator` over HTTPS
//! (its generated CA) on 127.0.0.1.

mod delivery;
mod failures;
mod secrets;

use logferry_emulator::{Emulator, Faults};
use logferry_framing::{Batch, BatchConfig, Batcher, FramingConfig, LineFramer};
use logferry_http::{Client, ClientConfig, Secret};
use logferry_retry::Config as RetryConfig;
use logferry_taegis_ingest::{Delivery, EncodedBatch, Ingest, IngestConfig};
use std::time::{Duration, Instant};

/// An emulator over TLS with the given faults.
pub async fn emulator(faults: Faults) -> Emulator {
    Emulator::builder()
        .faults(faults)
        .seed(7)
        .start()
        .await
        .expect("emulator starts")
}

/// A client trusting the emulator's CA.
pub fn client(emu: &Emulator) -> Client {
    Client::new(ClientConfig {
        ca_pem: emu.ca_cert_pem().map(str::to_owned),
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    })
    .expect("client builds")
}

/// A retry policy fast enough for tests (real sockets, real time): 5 ms base, 50 ms cap.
pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(50),
        ..RetryConfig::default()
    }
}

/// A sender for the emulator's default integration.
pub fn sender(emu: &Emulator, change: impl FnOnce(&mut IngestConfig)) -> Ingest {
    let mut config = IngestConfig::new(
        emu.http_ingest_url()
            .parse()
            .expect("emulator URL is valid"),
        Secret::new(emu.http_ingest_key()),
    );
    config.retry = fast_retry();
    change(&mut config);
    Ingest::new(client(emu), config).expect("sender builds")
}

/// Lines `line 0 ... line n-1` with some padding, as one text input.
pub fn lines(n: usize, pad: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("line {i} {}", "x".repeat(pad)))
        .collect()
}

/// Frames and batches `lines` into batches of about `target` bytes.
pub fn batches(lines: &[String], target: usize) -> Vec<Batch> {
    let input: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let mut framer = LineFramer::new(FramingConfig::named("test.log"));
    let mut batcher = Batcher::new(
        BatchConfig {
            target_bytes: target,
            max_bytes: target * 2,
            ..BatchConfig::default()
        },
        Some("test.log".into()),
    );
    let now = Instant::now();
    let mut out = Vec::new();
    framer.push(&input, |r| {
        batcher.push(&r.expect("valid input"), now, |b| out.push(b))
    });
    framer.finish(|r| batcher.push(&r.expect("valid input"), now, |b| out.push(b)));
    batcher.flush(|b| out.push(b));
    out
}

/// Encodes and ships `batches` through `ingest`, returning the deliveries in completion order.
pub async fn ship(ingest: &Ingest, batches: Vec<Batch>) -> Vec<Delivery> {
    let mut encoded: Vec<EncodedBatch> = Vec::new();
    for b in batches {
        encoded.push(ingest.encode(b).await);
    }
    let mut out = Vec::new();
    ingest
        .ship(futures_util::stream::iter(encoded), |d| out.push(d))
        .await;
    out
}

/// The texts the emulator stored for HTTP Ingest, sorted.
pub fn received_sorted(emu: &Emulator) -> Vec<String> {
    let mut texts: Vec<String> = emu
        .records()
        .into_iter()
        .filter(|r| r.endpoint == logferry_emulator::Endpoint::HttpIngest)
        .map(|r| r.text)
        .collect();
    texts.sort();
    texts
}

/// `lines`, sorted.
pub fn sorted(lines: &[String]) -> Vec<String> {
    let mut v = lines.to_vec();
    v.sort();
    v
}
