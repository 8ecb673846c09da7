//! Batch gzip throughput per backend and level, beside the `gzip` command on the same
//! bytes, on a deterministic syslog-like corpus cut into 1 MiB batches.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logferry_compress::{Backend, GzipEncoder, Level};
use std::hint::black_box;
use std::io::Write;

const BATCH: usize = 1 << 20;

fn batches() -> Vec<Vec<u8>> {
    logferry_emulator::sample::syslog(8 * BATCH, 42)
        .chunks(BATCH)
        .map(<[u8]>::to_vec)
        .collect()
}

fn bench_batch_gzip(c: &mut Criterion) {
    let batches = batches();
    let total: usize = batches.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("batch_gzip");
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(10);
    for level in [1u8, 3, 6] {
        for (name, backend) in [
            ("libdeflate", Backend::Libdeflate),
            ("zlib-rs", Backend::ZlibRs),
        ] {
            let mut encoder = GzipEncoder::new(Level::new(level).unwrap(), backend);
            let out: usize = batches.iter().map(|b| encoder.encode(b).len()).sum();
            eprintln!(
                "ratio {name} level {level}: {:.2}",
                total as f64 / out as f64
            );
            group.bench_function(BenchmarkId::new(name, level), |b| {
                b.iter(|| {
                    for batch in &batches {
                        black_box(encoder.encode(batch));
                    }
                })
            });
        }
        // miniz_oxide, flate2's default backend, measured directly (raw deflate; the
        // gzip header and CRC-32 add well under 1% at this size).
        let out: usize = batches
            .iter()
            .map(|b| miniz_oxide::deflate::compress_to_vec(b, level).len())
            .sum();
        eprintln!(
            "ratio miniz_oxide level {level}: {:.2}",
            total as f64 / out as f64
        );
        group.bench_function(BenchmarkId::new("miniz_oxide", level), |b| {
            b.iter(|| {
                for batch in &batches {
                    black_box(miniz_oxide::deflate::compress_to_vec(batch, level));
                }
            })
        });
        // The `gzip` command on the same bytes, when installed (process start included,
        // amortised over 8 MiB).
        if std::process::Command::new("gzip")
            .arg("--version")
            .output()
            .is_ok()
        {
            let input: Vec<u8> = batches.concat();
            group.bench_function(BenchmarkId::new("gzip-command", level), |b| {
                b.iter(|| {
                    let mut child = std::process::Command::new("gzip")
                        .arg(format!("-{level}"))
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .expect("gzip starts");
                    let mut stdin = child.stdin.take().expect("piped stdin");
                    let data = input.clone();
                    let writer = std::thread::spawn(move || stdin.write_all(&data));
                    let out = child.wait_with_output().expect("gzip runs");
                    writer
                        .join()
                        .expect("writer thread")
                        .expect("write to gzip");
                    black_box(out.stdout.len())
                })
            });
        }
    }
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let batches = batches();
    let total: usize = batches.iter().map(Vec::len).sum();
    let encoded: Vec<Vec<u8>> = batches
        .iter()
        .map(|b| logferry_compress::gzip(b, Level::FAST))
        .collect();
    let mut group = c.benchmark_group("gunzip");
    group.throughput(Throughput::Bytes(total as u64));
    group.sample_size(10);
    group.bench_function("decode_limited", |b| {
        b.iter(|| {
            for body in &encoded {
                black_box(
                    logferry_compress::decode(logferry_compress::Encoding::Gzip, body, BATCH)
                        .expect("round trip"),
                );
            }
        })
    });
    // flate2's streaming decoder without the limit wrapper, for the cost of the guard.
    group.bench_function("flate2_unlimited", |b| {
        b.iter(|| {
            for body in &encoded {
                let mut out = Vec::with_capacity(BATCH);
                std::io::copy(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
                    .expect("round trip");
                black_box(out);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_batch_gzip, bench_decode);
criterion_main!(benches);
