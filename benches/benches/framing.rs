//! Framing throughput on one core: line framing of syslog-like text, JSON-lines
//! validation of NDJSON, and batching into 100 KB bodies, fed in 1 MiB chunks as a
//! reader would.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logferry_framing::{BatchConfig, Batcher, Format, Framer, FramingConfig};
use std::hint::black_box;
use std::time::Instant;

const CHUNK: usize = 1 << 20;

fn frame_all(format: Format, input: &[u8]) -> u64 {
    let mut framer = Framer::new(format, FramingConfig::default());
    let mut n = 0u64;
    for chunk in input.chunks(CHUNK) {
        framer.push(chunk, |r| {
            n += r.map(|r| r.text.len() as u64).unwrap_or(0);
        });
    }
    framer.finish(|_| n += 1);
    n
}

fn bench_framing(c: &mut Criterion) {
    let syslog = logferry_emulator::sample::syslog(64 << 20, 1);
    let ndjson = logferry_emulator::sample::ndjson(32 << 20, 2);
    let mut group = c.benchmark_group("framing");
    group.sample_size(10);

    group.throughput(Throughput::Bytes(syslog.len() as u64));
    group.bench_function("lines", |b| {
        b.iter(|| black_box(frame_all(Format::Text, &syslog)))
    });

    group.throughput(Throughput::Bytes(ndjson.len() as u64));
    group.bench_function("json_lines", |b| {
        b.iter(|| black_box(frame_all(Format::Json, &ndjson)))
    });

    // A pretty-printed array of the same events: the document path.
    let pretty: Vec<u8> = {
        let mut out = b"[\n".to_vec();
        for (i, line) in ndjson[..8 << 20]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(b"  ");
            out.extend_from_slice(
                &line
                    .iter()
                    .flat_map(|&b| {
                        if b == b',' {
                            vec![b',', b'\n', b' ', b' ']
                        } else {
                            vec![b]
                        }
                    })
                    .collect::<Vec<u8>>(),
            );
        }
        out.extend_from_slice(b"\n]\n");
        out
    };
    group.throughput(Throughput::Bytes(pretty.len() as u64));
    group.bench_function("json_document", |b| {
        b.iter(|| black_box(frame_all(Format::Json, &pretty)))
    });

    group.throughput(Throughput::Bytes(syslog.len() as u64));
    group.bench_function("lines_and_batching", |b| {
        b.iter(|| {
            let mut framer = Framer::new(Format::Text, FramingConfig::default());
            let mut batcher = Batcher::new(BatchConfig::default(), None);
            let now = Instant::now();
            let mut bodies = 0usize;
            for chunk in syslog.chunks(CHUNK) {
                framer.push(chunk, |r| {
                    if let Ok(r) = r {
                        batcher.push(&r, now, |b| bodies += b.body().len());
                    }
                });
            }
            batcher.flush(|b| bodies += b.body().len());
            black_box(bodies)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_framing);
criterion_main!(benches);
