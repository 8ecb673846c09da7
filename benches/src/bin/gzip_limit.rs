//! `gzip-limit FILE LEVEL [THREADS]`: prints the seconds logferry's batch encoder takes to
//! gzip FILE in 1 MiB batches on THREADS threads (one by default; read before timing), then
//! the CPU seconds the encoding threads used meanwhile (from `/proc/thread-self/stat`; the
//! wall time again where that cannot be read). The compression limit in `cargo xtask
//! bench`, built in release like the binaries it is compared with.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(level)) = (args.first(), args.get(1)) else {
        eprintln!("usage: gzip-limit FILE LEVEL [THREADS]");
        return ExitCode::from(2);
    };
    let Ok(level) = level
        .parse::<u8>()
        .map_err(|_| ())
        .and_then(|l| logferry_compress::Level::new(l).map_err(|_| ()))
    else {
        eprintln!("gzip-limit: LEVEL must be 0 to 9");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gzip-limit: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let threads = match args.get(2).map(|t| t.parse::<usize>()) {
        None => 1,
        Some(Ok(t)) if t > 0 => t,
        Some(_) => {
            eprintln!("gzip-limit: THREADS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let batches: Vec<&[u8]> = data.chunks(1 << 20).collect();
    let started = Instant::now();
    // Thread `t` encodes batches t, t + threads, ...: the same split a pool of `threads`
    // encoders would see, with nothing shared but the input.
    let results: Vec<(usize, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let batches = &batches;
                scope.spawn(move || {
                    let mut encoder = logferry_compress::GzipEncoder::new(
                        level,
                        logferry_compress::Backend::default(),
                    );
                    let mut out = Vec::with_capacity(1 << 20);
                    let cpu_before = thread_cpu();
                    let started = Instant::now();
                    let mut written = 0usize;
                    for batch in batches.iter().skip(t).step_by(threads) {
                        out.clear();
                        encoder.encode_into(batch, &mut out);
                        written += out.len();
                    }
                    let secs = started.elapsed().as_secs_f64();
                    let cpu = match (cpu_before, thread_cpu()) {
                        (Some(a), Some(b)) => b - a,
                        _ => secs,
                    };
                    (written, cpu)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("encoder thread"))
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let written: usize = results.iter().map(|r| r.0).sum();
    let cpu: f64 = results.iter().map(|r| r.1).sum();
    eprintln!("gzip-limit: {} bytes -> {written} bytes", data.len());
    println!("{secs} {cpu}");
    ExitCode::SUCCESS
}

/// This thread's user + system CPU seconds.
fn thread_cpu() -> Option<f64> {
    logferry_benches::proc_cpu_secs("/proc/thread-self/stat")
}
