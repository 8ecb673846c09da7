//! `gzip-limit FILE LEVEL`: prints the seconds logferry's batch encoder takes to gzip FILE
//! in 1 MiB batches on one core (read before timing), then the CPU seconds the encoding
//! thread used meanwhile (from `/proc/thread-self/stat`; the wall time again where that
//! cannot be read). The single-core compression limit in `cargo xtask bench`, built in
//! release like the binaries it is compared with.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(level)) = (args.first(), args.get(1)) else {
        eprintln!("usage: gzip-limit FILE LEVEL");
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
    let mut encoder =
        logferry_compress::GzipEncoder::new(level, logferry_compress::Backend::default());
    let mut out = Vec::with_capacity(1 << 20);
    let cpu_before = thread_cpu();
    let started = Instant::now();
    let mut written = 0usize;
    for batch in data.chunks(1 << 20) {
        out.clear();
        encoder.encode_into(batch, &mut out);
        written += out.len();
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, thread_cpu()) {
        (Some(a), Some(b)) => b - a,
        _ => secs,
    };
    eprintln!("gzip-limit: {} bytes -> {written} bytes", data.len());
    println!("{secs} {cpu}");
    ExitCode::SUCCESS
}

/// This thread's user + system CPU seconds, in clock ticks of 1/100 s (Linux's USER_HZ
/// on every architecture it runs on here).
fn thread_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
