//! The CPU time this process spent compressing batches.
//!
//! Compression is what a shipper's CPU should go to: the rest (reading, framing,
//! sending) is overhead that issue 18's bench measures against it. Every batch encode
//! ([`GzipEncoder::encode_into`](crate::GzipEncoder::encode_into)) adds the CPU time its
//! thread spent in it, read from the thread's own CPU clock before and after (a vDSO
//! call, tens of nanoseconds against a batch's milliseconds), so the total is exact
//! rather than estimated from wall time or samples, whichever threads did the work.
//! The binary reports it as `compress_cpu_secs` in `--summary-json`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Nanoseconds of thread CPU time spent in batch encodes, over every thread.
static NANOS: AtomicU64 = AtomicU64::new(0);

/// CPU time this process has spent compressing batches so far, over every thread. Zero
/// where threads have no CPU clock of their own (outside Linux).
///
/// ```
/// let before = logferry_compress::compress_cpu();
/// let _ = logferry_compress::gzip(&b"some text to compress\n".repeat(20_000), logferry_compress::Level::FAST);
/// assert!(logferry_compress::compress_cpu() >= before);
/// ```
#[must_use]
pub fn compress_cpu() -> Duration {
    Duration::from_nanos(NANOS.load(Ordering::Relaxed))
}

/// Runs `f`, adding the calling thread's CPU time in it to [`compress_cpu`].
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> T {
    let start = thread_cpu_nanos();
    let out = f();
    if let (Some(start), Some(end)) = (start, thread_cpu_nanos()) {
        NANOS.fetch_add(end.saturating_sub(start), Ordering::Relaxed);
    }
    out
}

/// The calling thread's CPU time (user and system), in nanoseconds.
#[cfg(target_os = "linux")]
fn thread_cpu_nanos() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u64::try_from(t.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_nanos() -> Option<u64> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The counter takes the encodes' CPU time, and not wall time: a thread that sleeps
    /// inside `timed` adds next to nothing, one that compresses adds about its own CPU.
    #[test]
    fn encodes_add_their_thread_cpu_time_and_sleeping_adds_none() {
        let before = compress_cpu();
        timed(|| std::thread::sleep(Duration::from_millis(200)));
        let slept = compress_cpu() - before;
        // Other tests compress on other threads meanwhile: a bound, not an equality.
        assert!(slept < Duration::from_millis(150), "{slept:?}");

        let input = b"<13>Dec  3 12:00:00 host app[1]: user=alice id=42 ok\n".repeat(200_000);
        let cpu_start = thread_cpu_nanos().unwrap();
        let before = compress_cpu();
        let body = crate::gzip(&input, crate::Level::FAST);
        let spent = thread_cpu_nanos().unwrap() - cpu_start;
        let counted = (compress_cpu() - before).as_nanos() as u64;
        assert!(body.len() < input.len() / 10);
        assert!(counted > 0);
        // At least what this thread spent inside the encode (the counter may also hold
        // other tests' encodes, so no upper bound), and the encode was most of it.
        assert!(counted >= spent / 2, "counted {counted} ns of {spent} ns");
    }
}
