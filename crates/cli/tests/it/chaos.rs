//! The crash test: ship a file with `--spool` while the emulator injects faults, kill -9
//! the process at random moments, restart it each time. At the end every input record has
//! been received at least once, and duplicates stay within what could have been in flight
//! at the kills.
//!
//! Sizes come from `LOGFERRY_CHAOS_RECORDS` (default 60,000) and `LOGFERRY_CHAOS_KILLS`
//! (default 3); `cargo xtask chaos` runs it larger.

use crate::*;
use logferry_emulator::{Endpoint, FaultSet, FaultStatus, Faults};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CONCURRENCY: u64 = 4;
const BATCH_BYTES: u64 = 8_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_moments_loses_nothing() {
    let records = env("LOGFERRY_CHAOS_RECORDS", 60_000);
    let kills = env("LOGFERRY_CHAOS_KILLS", 3);
    let emu = logferry_emulator::Emulator::builder()
        .memory_records(usize::MAX / 2)
        .seed(11)
        .start()
        .await
        .unwrap();
    let mut faults = FaultSet::fail_rate(
        0.1,
        vec![
            FaultStatus::Code(503),
            FaultStatus::Code(500),
            FaultStatus::Code(429),
        ],
    );
    faults.latency_ms = 2;
    emu.set_faults(Faults::none().with_endpoint(Endpoint::HttpIngest, faults))
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..records)
        .map(|i| format!("chaos record {i:08} with some padding text"))
        .collect();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("big.log"), &input).unwrap();
    let max_batch_records = BATCH_BYTES / (lines[0].len() as u64 + 1) + 1;

    let mut rng = fastrand_like(records ^ kills);
    let mut effective = 0;
    let started = Instant::now();
    let command = || {
        let mut cmd = logferry();
        cmd.arg("http-ingest")
            .args(["big.log", "--spool", "spool", "--no-progress"])
            .args([
                "--batch-bytes",
                &BATCH_BYTES.to_string(),
                "--concurrency",
                &CONCURRENCY.to_string(),
            ])
            .arg("--ca-file")
            .arg(ca_file(&emu, dir.path()))
            .env("HTTP_INGEST_URL", emu.http_ingest_url())
            .env("HTTP_INGEST_KEY", emu.http_ingest_key())
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    while effective < kills {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the kills took too long"
        );
        let mut child = command().spawn().unwrap();
        let wait = Duration::from_millis(150 + rng() % 600);
        std::thread::sleep(wait);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix: no chance to flush or clean up
            effective += 1;
        }
        child.wait().unwrap();
    }
    // The last run goes to the end.
    let last = command()
        .args(["--summary-json", "final.json"])
        .status()
        .unwrap();
    assert_eq!(
        last.code(),
        Some(0),
        "the final run must deliver everything"
    );
    // What the killed runs left in the spool is replayed, and counted once.
    let s = crate::summary(dir.path(), "final.json");
    assert_eq!(s["status"], "delivered", "{s}");

    let mut seen: HashMap<String, u64> = HashMap::new();
    for r in emu
        .records()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::HttpIngest)
    {
        *seen.entry(r.text).or_default() += 1;
    }
    let missing = lines.iter().filter(|l| !seen.contains_key(*l)).count();
    assert_eq!(missing, 0, "{missing} records were lost");
    assert_eq!(
        seen.len(),
        lines.len(),
        "records that were never sent arrived"
    );
    let duplicates: u64 = seen.values().map(|n| n - 1).sum();
    let bound = effective * (CONCURRENCY + 1) * max_batch_records;
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates after {effective} kills; at most {bound} could have been in flight"
    );
    eprintln!(
        "chaos: {records} records, {effective} kills, {duplicates} duplicates (bound {bound}) in {:.1?}",
        started.elapsed()
    );
    emu.shutdown().await;
}

/// A tiny deterministic generator (xorshift), so kill times are reproducible.
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}
