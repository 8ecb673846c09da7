//! The model's `bytes_charged` estimate against what the emulator charges (its own
//! implementation of the seed's rules, `logferry_emulator::charging`), on a realistic
//! corpus shipped through the sender, and on hand-written bodies the builder would never
//! produce.

use crate::support::{T0, client, config, emulator};
use bytes::Bytes;
use logferry_http::{Secret, authorization, full};
use logferry_sdl::{Record, Report, SdlSender, Sessions};
use logferry_sdl_model::{EventReader, FromJsonConfig, Timestamp, parse_request, parse_response};
use std::sync::Arc;
use std::time::Duration;

/// NDJSON lines like a Kubernetes log shipper's, with every kind of value: strings with
/// escapes and non-ASCII, integers, floats, booleans, nulls, nested objects and arrays.
fn corpus(n: usize) -> Vec<(Arc<str>, Vec<u8>)> {
    let mut rng = fastrand_like(7);
    let pods: Vec<(Arc<str>, String)> = (0..12)
        .map(|i| {
            let ns = ["payments", "auth", "ingress"][i % 3];
            let pod = format!("{ns}-api-{:05x}", i * 7919);
            (Arc::from(format!("{ns}/{pod}")), pod)
        })
        .collect();
    (0..n)
        .map(|i| {
            let (source, pod) = &pods[(rng() % 12) as usize];
            let status = [200, 201, 404, 500][(rng() % 4) as usize];
            let line = format!(
                r#"{{"timestamp":"{ts}","level":"{lvl}","message":"GET /api/v1/items/{i} \"quoted\" → {status} in {ms}.{frac}ms","status":{status},"latency":{ms}.{frac},"ok":{ok},"trace":null,"kubernetes":{{"pod_name":"{pod}","labels":{{"app":"api","tier":"backend"}},"container_id":"containerd://{hex:016x}"}},"tags":["k8s",{i}],"host":"ip-10-0-1-{h}.eu-west-1.compute.internal","bytes":{bytes}}}"#,
                ts = T0 + i as u64 * 1_000_000,
                lvl = ["info", "warn", "error", "debug"][(rng() % 4) as usize],
                ms = rng() % 900,
                frac = rng() % 10,
                ok = status < 400,
                hex = rng(),
                h = rng() % 250,
                bytes = rng() % 100_000,
            );
            (source.clone(), line.into_bytes())
        })
        .collect()
}

/// A small deterministic generator (xorshift), so the corpus is the same on every run.
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_matches_the_emulator_on_a_realistic_corpus() {
    let emu = emulator().await;
    let mut c = config(&emu);
    c.sessions = Sessions::Fixed(2);
    c.max_body_bytes = 50_000;
    let (sender, mut reports) = SdlSender::start_with_reports(client(&emu), c).expect("starts");
    let mut reader = EventReader::new(FromJsonConfig::default());
    for (source, mut line) in corpus(2_000) {
        let event = reader
            .read(&mut line, Timestamp::from_nanos(T0))
            .expect("valid JSON");
        sender
            .send_record(Record::new(event).from_source(source))
            .await
            .expect("queued");
    }
    sender.flush().await.expect("flushed");
    let mut requests = 0;
    while let Some(Report::Delivered(d)) = reports.try_recv() {
        assert_eq!(
            d.bytes_charged,
            Some(d.bytes_charged_estimate),
            "batch {} of {} events",
            d.batch,
            d.events
        );
        requests += 1;
    }
    let stats = sender.stats();
    assert!(requests >= 4, "several requests: {requests}");
    assert!(stats.bytes_charged > 0);
    assert_eq!(stats.bytes_charged, stats.bytes_charged_estimate);
    // The dedupe shrank the bodies but not the charge.
    assert!(stats.bytes_raw < stats.bytes_inline, "{stats:?}");
    let emu_total: u64 = emu
        .stats()
        .sdl_sessions
        .values()
        .map(|s| s.bytes_charged)
        .sum();
    assert_eq!(emu_total, stats.bytes_charged);
    emu.shutdown().await;
}

/// Bodies another client could send: nested values the server flattens, duplicate keys,
/// `logs` shared by events, large and negative numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_matches_the_emulator_on_hand_written_bodies() {
    let emu = emulator().await;
    let http = client(&emu);
    let url = format!("{}/api/addEvents", emu.base_url())
        .parse()
        .expect("valid");
    let auth = authorization("Bearer", &Secret::new(emu.sdl_api_key())).expect("valid");
    let bodies = [
        r#"{"session":"c1","events":[{"ts":"1767225600000000001","attrs":{"nested":{"foo":"1","bar":"2","baz":"3"}}}]}"#,
        r#"{"session":"c1","events":[{"ts":"1767225600000000002","attrs":{"list":[1,2.5,"x",{"a":null}],"deep":{"a":{"b":{"c":[true]}}}}}]}"#,
        r#"{"session":"c1","events":[{"ts":"1767225600000000003","attrs":{"n":-12,"big":18446744073709551615,"f":1e300,"t":true,"z":null,"e":"tab\tquote\"é"}}]}"#,
        r#"{"session":"c1","events":[{"ts":"1767225600000000004","log":"1","attrs":{"message":"m","k":"own"}},{"ts":"1767225600000000005","log":"1","attrs":{}}],"logs":[{"id":"1","attrs":{"k":"log","pod":"p-1"}}]}"#,
        r#"{"session":"c1","events":[{"ts":"1767225600000000006","attrs":{"dup":"first","dup":"second-longer"}}]}"#,
        r#"{"session":"c1","events":[{"ts":"1767225600000000007","attrs":{"nested":{"a" : 1 ,  "b":[ 1, 2 ]}}}]}"#,
    ];
    let mut differences = Vec::new();
    for body in bodies {
        let estimate = parse_request(&mut body.as_bytes().to_vec())
            .expect("valid request")
            .bytes_charged();
        let request = http
            .request(http::Method::POST, &url)
            .header(http::header::AUTHORIZATION, auth.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(full(Bytes::from_static(body.as_bytes())))
            .expect("valid request");
        let response = http
            .send_with_timeout(request, Duration::from_secs(10))
            .await
            .expect("answered");
        let charged = parse_response(response.body())
            .expect("a response")
            .bytes_charged
            .expect("a success carries bytesCharged");
        if charged != estimate {
            differences.push(format!("{body}: emulator {charged}, model {estimate}"));
        }
    }
    // The one known difference: the model keeps the text of a nested value as sent
    // (whitespace removed), the emulator re-serializes it; they agree on every body above,
    // whitespace and key order included, because both write compact JSON and key order
    // does not change a length.
    assert!(differences.is_empty(), "{differences:#?}");
    emu.shutdown().await;
}
