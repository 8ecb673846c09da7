//! SDL event model: serializing events into request bodies (events/s), parsing whole
//! requests with simd-json against serde_json, reading NDJSON lines into events, and the
//! `logs` dedupe saving on a Kubernetes-style corpus (printed, raw and gzipped).

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logferry_sdl_model::{
    Attrs, Config, Event, EventReader, Flatten, FromJsonConfig, ReadyRequest, RequestBuilder,
    Session, SessionHeader, SessionInfo, Severity, Timestamp, Timestamps, parse_request,
    parse_request_serde_json,
};
use std::fmt::Write;
use std::hint::black_box;

const T0: u64 = 1_768_212_000_000_000_000;

fn header() -> SessionHeader {
    SessionHeader::new(Session::new("149d8290-7871-11e1-b0c4-0800200c9a66").expect("valid"))
        .with_info(SessionInfo::with_server_host("bench-host"))
}

/// Small events: a syslog line as `message` (cut to `max_message` bytes), a host and a
/// pid; times 25 ms apart on average, one in twenty 1 ms behind its predecessor.
fn small_events(n: usize, max_message: usize) -> Vec<Event> {
    let text = logferry_emulator::sample::syslog(n * 200, 11);
    let mut rng = fastrand::Rng::with_seed(5);
    let mut t = T0;
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .take(n)
        .map(|line| {
            let line = String::from_utf8_lossy(line);
            let (host, rest) = line.split_at(line.len().min(30));
            let mut cut = rest.len().min(max_message);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let rest = &rest[..cut];
            t += rng.u64(0..50_000_000);
            let ts = if rng.u8(0..20) == 0 { t - 1_000_000 } else { t };
            let attrs = Attrs::new()
                .with("message", rest.to_owned())
                .with("host", host.split(' ').nth(3).unwrap_or("web-01"))
                .with("pid", i64::from(rng.u16(300..u16::MAX)));
            Event::new(Timestamp::from_nanos(ts), attrs).with_sev(Severity::ALL[rng.usize(2..6)])
        })
        .take(n)
        .collect()
}

/// NDJSON lines like Vector's `kubernetes_logs` output, from 60 containers interleaved at
/// random, with each line's source (namespace/pod/container).
fn k8s_ndjson(n: usize, seed: u64) -> Vec<(String, String)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let hex = |rng: &mut fastrand::Rng, len: usize| -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[rng.usize(0..16)]))
            .collect()
    };
    let apps = [
        ("payments", "api"),
        ("payments", "worker"),
        ("auth", "api"),
        ("ingress", "nginx"),
        ("default", "frontend"),
        ("monitoring", "exporter"),
    ];
    let containers: Vec<[String; 9]> = (0..60)
        .map(|i| {
            let (ns, name) = apps[i % apps.len()];
            let hash = hex(&mut rng, 9);
            [
                ns.to_owned(),
                format!("{name}-{hash}-{}", hex(&mut rng, 5)),
                format!(
                    "{}-{}-{}-{}-{}",
                    hex(&mut rng, 8),
                    hex(&mut rng, 4),
                    hex(&mut rng, 4),
                    hex(&mut rng, 4),
                    hex(&mut rng, 12)
                ),
                format!("10.244.{}.{}", rng.u8(0..16), rng.u8(2..250)),
                format!(
                    "ip-10-0-{}-{}.eu-west-1.compute.internal",
                    rng.u8(0..4),
                    rng.u8(2..250)
                ),
                name.to_owned(),
                format!("containerd://{}", hex(&mut rng, 64)),
                format!(
                    "registry.example.com/{ns}/{name}:1.{}.{}",
                    rng.u8(0..50),
                    rng.u8(0..10)
                ),
                hash,
            ]
        })
        .collect();
    let paths = [
        "/api/v1/pay",
        "/api/v1/refund",
        "/healthz",
        "/login",
        "/api/v2/orders?page=2",
    ];
    let mut t = T0;
    (0..n)
        .map(|_| {
            t += rng.u64(0..2_000_000);
            let [ns, pod, uid, ip, node, name, cid, image, hash] = &containers[rng.usize(0..60)];
            let message = match rng.u8(0..3) {
                0 => format!(
                    "10.0.{}.{} - - \"GET {} HTTP/1.1\" {} {} \"-\" \"curl/8.5.0\" rt=0.{:03}",
                    rng.u8(0..255),
                    rng.u8(1..255),
                    paths[rng.usize(0..paths.len())],
                    [200, 200, 201, 404, 500][rng.usize(0..5)],
                    rng.u32(0..90_000),
                    rng.u16(0..1000)
                ),
                1 => format!(
                    r#"{{"level":"info","msg":"order processed","order_id":{},"duration_ms":{}}}"#,
                    rng.u32(..),
                    rng.u16(0..5000)
                ),
                _ => format!("worker {} finished job {} in {} ms", rng.u8(0..16), hex(&mut rng, 12), rng.u16(0..9000)),
            };
            let message = serde_json::to_string(&message).expect("strings serialize");
            let stream = if rng.u8(0..10) == 0 { "stderr" } else { "stdout" };
            let mut line = String::with_capacity(1024);
            let _ = write!(
                line,
                r#"{{"timestamp":"{t}","message":{message},"stream":"{stream}","file":"/var/log/pods/{ns}_{pod}_{uid}/{name}/0.log","source_type":"kubernetes_logs","kubernetes":{{"pod_name":"{pod}","pod_namespace":"{ns}","pod_uid":"{uid}","pod_ip":"{ip}","pod_node_name":"{node}","container_name":"{name}","container_id":"{cid}","container_image":"{image}","pod_labels":{{"app":"{name}","pod-template-hash":"{hash}"}},"namespace_labels":{{"kubernetes.io/metadata.name":"{ns}"}}}},"cluster":"prod-eu-1"}}"#
            );
            (format!("{ns}/{pod}/{name}"), line)
        })
        .collect()
}

fn k8s_events(n: usize, flatten: Flatten) -> Vec<(String, Event)> {
    let config = FromJsonConfig {
        flatten,
        ..FromJsonConfig::default()
    };
    k8s_ndjson(n, 7)
        .into_iter()
        .map(|(source, line)| {
            let mut buf = line.into_bytes();
            let event =
                Event::from_json_slice(&mut buf, Timestamp::EPOCH, &config).expect("valid line");
            (source, event)
        })
        .collect()
}

fn build_all(config: &Config, events: Vec<Event>) -> Vec<ReadyRequest> {
    let mut builder = RequestBuilder::new(header(), config.clone()).expect("valid");
    let mut out = Vec::new();
    for e in events {
        if let Some(r) = builder.push(e).expect("small events fit") {
            out.push(r);
        }
    }
    out.extend(builder.finish());
    out
}

fn build_sourced(config: &Config, events: Vec<(String, Event)>) -> Vec<ReadyRequest> {
    let mut builder = RequestBuilder::new(header(), config.clone()).expect("valid");
    let mut out = Vec::new();
    for (source, e) in events {
        if let Some(r) = builder.push_from(&source, e).expect("events fit") {
            out.push(r);
        }
    }
    out.extend(builder.finish());
    out
}

fn bench_serialize(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut group = c.benchmark_group("sdl_serialize");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    for (set, max_message) in [("small_events", 80), ("syslog_lines", 400)] {
        let events = small_events(N, max_message);
        let bytes: usize = build_all(&Config::default(), events.clone())
            .iter()
            .map(|r| r.body().len())
            .sum();
        eprintln!(
            "{set}: {N} events, {bytes} body bytes ({} per event)",
            bytes / N
        );
        for (name, config) in [
            ("strictly_increasing", Config::default()),
            (
                "as_given",
                Config {
                    timestamps: Timestamps::AsGiven,
                    ..Config::default()
                },
            ),
        ] {
            group.bench_function(BenchmarkId::new(set, name), |b| {
                b.iter_batched(
                    || events.clone(),
                    |ev| black_box(build_all(&config, ev)),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    // Kubernetes events (≈ 700 bytes inline), pushed with their source: dedupe at work.
    let k8s: Vec<(String, Event)> = k8s_events(20_000, Flatten::Dotted);
    group.throughput(Throughput::Elements(k8s.len() as u64));
    group.bench_function(BenchmarkId::new("k8s_events_dedupe", "per_source"), |b| {
        b.iter_batched(
            || k8s.clone(),
            |ev| black_box(build_sourced(&Config::default(), ev)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench_parse_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("sdl_parse_request");
    group.sample_size(10);
    for limit in [1_000_000usize, 5_900_000] {
        let config = Config {
            max_body_bytes: limit,
            ..Config::default()
        };
        let body = build_all(&config, small_events(80_000, 400))
            .swap_remove(0)
            .body()
            .clone();
        let label = format!("{}KB", body.len() / 1000);
        group.throughput(Throughput::Bytes(body.len() as u64));
        // Validation included; simd-json parses in place, so the copy of the body is
        // included too (the emulator holds the body as immutable `Bytes`).
        group.bench_function(BenchmarkId::new("simd_json_validated", &label), |b| {
            b.iter(|| {
                black_box(
                    parse_request(&mut body.to_vec())
                        .expect("valid")
                        .events
                        .len(),
                )
            })
        });
        group.bench_function(BenchmarkId::new("serde_json_validated", &label), |b| {
            b.iter(|| black_box(parse_request_serde_json(&body).expect("valid").events.len()))
        });
        group.bench_function(BenchmarkId::new("simd_json_value_only", &label), |b| {
            b.iter(|| {
                let mut copy = body.to_vec();
                let v = simd_json::to_borrowed_value(&mut copy).expect("valid");
                black_box(matches!(v, simd_json::BorrowedValue::Object(_)));
            })
        });
        group.bench_function(BenchmarkId::new("serde_json_value_only", &label), |b| {
            b.iter(|| {
                black_box(
                    serde_json::from_slice::<serde_json::Value>(&body)
                        .expect("valid")
                        .is_object(),
                )
            })
        });
    }
    group.finish();
}

fn bench_ndjson(c: &mut Criterion) {
    let input = logferry_emulator::sample::ndjson(4 << 20, 3);
    let config = FromJsonConfig::default();
    let mut group = c.benchmark_group("sdl_ndjson_to_events");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(10);
    group.bench_function("simd_json_reader", |b| {
        let mut reader = EventReader::new(config.clone());
        let mut buf = Vec::with_capacity(4096);
        b.iter(|| {
            let mut n = 0usize;
            for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                buf.clear();
                buf.extend_from_slice(line);
                n += reader
                    .read(&mut buf, Timestamp::EPOCH)
                    .expect("valid")
                    .attrs
                    .len();
            }
            black_box(n)
        })
    });
    group.bench_function("simd_json_fresh_buffers", |b| {
        let mut buf = Vec::with_capacity(4096);
        b.iter(|| {
            let mut n = 0usize;
            for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                buf.clear();
                buf.extend_from_slice(line);
                n += Event::from_json_slice(&mut buf, Timestamp::EPOCH, &config)
                    .expect("valid")
                    .attrs
                    .len();
            }
            black_box(n)
        })
    });
    // Validation only (no event built), the other use the issue names.
    group.bench_function("validate_only_simd_json", |b| {
        let mut buffers = simd_json::Buffers::default();
        let mut buf = Vec::with_capacity(4096);
        b.iter(|| {
            let mut n = 0usize;
            for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                buf.clear();
                buf.extend_from_slice(line);
                let v = simd_json::to_borrowed_value_with_buffers(&mut buf, &mut buffers)
                    .expect("valid");
                n += usize::from(matches!(v, simd_json::BorrowedValue::Object(_)));
            }
            black_box(n)
        })
    });
    group.bench_function("validate_only_serde_json", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let v: serde_json::Value = serde_json::from_slice(line).expect("valid");
                n += usize::from(v.is_object());
            }
            black_box(n)
        })
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let obj: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(line).expect("valid");
                n += Event::from_json_object(&obj, Timestamp::EPOCH, &config)
                    .expect("valid")
                    .attrs
                    .len();
            }
            black_box(n)
        })
    });
    group.finish();
}

/// Not timed: the `logs` dedupe saving on the Kubernetes corpus, raw and gzipped.
fn report_dedupe(_: &mut Criterion) {
    for flatten in [Flatten::Dotted, Flatten::JsonString] {
        let events = k8s_events(40_000, flatten);
        for limit in [5_900_000usize, 1_000_000, 250_000] {
            let config = Config {
                max_body_bytes: limit,
                ..Config::default()
            };
            let on = build_sourced(&config, events.clone());
            let off = build_sourced(
                &Config {
                    dedupe: logferry_sdl_model::Dedupe::Off,
                    ..config
                },
                events.clone(),
            );
            let size = |rs: &[ReadyRequest]| rs.iter().map(|r| r.body().len()).sum::<usize>();
            let gz = |rs: &[ReadyRequest]| {
                rs.iter()
                    .map(|r| {
                        logferry_compress::gzip(r.body(), logferry_compress::Level::FAST).len()
                    })
                    .sum::<usize>()
            };
            let (a, b, ga, gb) = (size(&on), size(&off), gz(&on), gz(&off));
            eprintln!(
                "k8s dedupe {flatten:?}, limit {limit}: {} events, {} requests / {} without; raw {a} vs {b} bytes ({:.1}% saved); gzip-1 {ga} vs {gb} ({:.1}% saved)",
                events.len(),
                on.len(),
                off.len(),
                100.0 * (1.0 - a as f64 / b as f64),
                100.0 * (1.0 - ga as f64 / gb as f64),
            );
        }
    }
}

criterion_group!(
    benches,
    report_dedupe,
    bench_serialize,
    bench_parse_request,
    bench_ndjson
);
criterion_main!(benches);
