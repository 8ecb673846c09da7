//! A lower scheduling priority for the threads that do bulk work.
//!
//! Compressing and converting batches is CPU-bound work that runs on tokio's blocking
//! pool, many jobs at once. Beside it run the stages that cannot be split across threads:
//! the SDL dispatcher ordering and serializing every event, the frame thread, the
//! runtime's network tasks. On a machine with few cores the kernel shares them fairly
//! with every runnable pool thread, so a serial stage gets a fraction of a core exactly
//! when the whole pipeline waits for it, and the pool then runs dry. A pool thread that
//! starts bulk work ([`bulk_thread`], through `spawn_bulk`) takes a higher nice value
//! once, and keeps it for whatever the pool runs on it later, so the serial
//! stages run first and the pool fills the rest: measured on the 2-core development
//! machine, SDL NDJSON ran 4–7% faster with nice 10 and no faster with 3; HTTP Ingest
//! was unchanged. The same setting makes logferry's bulk work give way to the
//! applications on the host; it catches up from its queues and spool when they are idle.
//!
//! [`set_bulk_nice`] sets the value for the whole process (the binary's `--bulk-nice`).
//! A thread already at a higher nice value keeps it; an unprivileged process cannot lower
//! it anyway.

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, Ordering};

/// The nice value [`bulk_thread`] gives a thread: [`DEFAULT_BULK_NICE`] unless
/// [`set_bulk_nice`] changed it.
static BULK_NICE: AtomicI32 = AtomicI32::new(DEFAULT_BULK_NICE);

/// The default nice value of bulk work: 10, where the measurement above found the gain
/// (3 and 5 gave little or none).
pub const DEFAULT_BULK_NICE: i32 = 10;

thread_local! {
    /// Whether this thread has been given its nice value.
    static DONE: Cell<bool> = const { Cell::new(false) };
}

/// Sets the nice value (0 to 19) that threads starting bulk work take from now on; 0
/// leaves them at the process's own.
pub fn set_bulk_nice(nice: i32) {
    BULK_NICE.store(nice.clamp(0, 19), Ordering::Relaxed);
}

/// Marks the calling thread as one that does bulk work: the first call on a thread
/// raises its nice value to the configured one (never lowers it). Call it at the start
/// of a blocking job; later calls on the same thread cost a thread-local read.
pub fn bulk_thread() {
    if DONE.replace(true) {
        return;
    }
    let nice = BULK_NICE.load(Ordering::Relaxed);
    if nice > 0 {
        set_thread_nice(nice);
    }
}

/// On Linux the nice value belongs to each thread: `setpriority(PRIO_PROCESS, 0, ..)`
/// changes the calling thread only.
#[cfg(target_os = "linux")]
fn set_thread_nice(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    let current = getpriority_process(None).unwrap_or(0);
    if current >= nice {
        return;
    }
    if let Err(e) = setpriority_process(None, nice) {
        // Said once per process, not once per pool thread: the work runs as before, only
        // without the serial stages going first.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| eprintln!("logferry: cannot lower a worker thread's priority: {e}"));
    }
}

/// Elsewhere the nice value belongs to the process: left alone.
#[cfg(not(target_os = "linux"))]
fn set_thread_nice(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use rustix::process::getpriority_process;

    #[test]
    fn a_bulk_thread_takes_the_nice_value_and_no_other_thread_does() {
        let before = getpriority_process(None).unwrap();
        let (in_bulk, again) = std::thread::spawn(|| {
            bulk_thread();
            let first = getpriority_process(None).unwrap();
            bulk_thread();
            (first, getpriority_process(None).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(in_bulk, before.max(DEFAULT_BULK_NICE));
        assert_eq!(again, in_bulk, "once per thread");
        assert_eq!(
            getpriority_process(None).unwrap(),
            before,
            "the calling thread is left alone"
        );
        let other = std::thread::spawn(|| getpriority_process(None).unwrap())
            .join()
            .unwrap();
        assert_eq!(
            other, before,
            "a thread that does no bulk work keeps its priority"
        );
    }
}
