//! Criterion benches for logferry (`benches/*.rs`), and the `gzip-limit` and
//! `bare-sender` tools of `cargo xtask bench`. The deterministic corpora they measure
//! (syslog-like text and NDJSON events, the same bytes on every run and every machine,
//! so figures can be compared) are `logferry_emulator::sample`'s.

/// The user + system CPU seconds in a `/proc` stat file (`/proc/self/stat` for this
/// process, `/proc/thread-self/stat` for the calling thread), in clock ticks of 1/100 s
/// (Linux's USER_HZ on every architecture it runs on here); `None` where it cannot be read.
pub fn proc_cpu_secs(stat_file: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_file).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
