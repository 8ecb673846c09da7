//! Compressing batches off the async runtime.
//!
//! Deflate is CPU-bound for milliseconds per batch; run on a tokio worker it would stall
//! every other task on that worker. [`gzip_blocking`] moves the work to tokio's blocking
//! pool, where each thread keeps its own cached encoder, so with two batches in flight
//! both cores compress at once. The caller bounds how many are in flight. Bulk work goes
//! through [`spawn_bulk`], so the pool's threads run at a lower priority than the serial
//! stages ([`bulk_thread`](crate::bulk_thread)).

use crate::{Backend, Level, batch::with_encoder};

/// Runs `job` on tokio's blocking pool as bulk work: its thread takes the bulk nice value
/// first ([`bulk_thread`](crate::bulk_thread)). For CPU-bound jobs (compressing,
/// converting, inflating), not for I/O a pipeline waits on.
pub fn spawn_bulk<R, F>(job: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        crate::bulk_thread();
        job()
    })
}

/// Gzips `input` on tokio's blocking pool; returns the input (for retries or splitting)
/// together with the compressed body.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (raw, gz) = logferry_compress::gzip_blocking(b"a\n".to_vec(), logferry_compress::Level::FAST).await;
/// assert_eq!(raw, b"a\n");
/// assert_eq!(&gz[..2], &[0x1f, 0x8b]);
/// # });
/// ```
pub async fn gzip_blocking<B>(input: B, level: Level) -> (B, Vec<u8>)
where
    B: AsRef<[u8]> + Send + 'static,
{
    let task = spawn_bulk(move || {
        let out = with_encoder(level, Backend::default(), |e| e.encode(input.as_ref()));
        (input, out)
    });
    match task.await {
        Ok(done) => done,
        // The closure only compresses into a Vec; a panic there is a bug worth surfacing.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancellation happens only at runtime shutdown, which drops this future first.
        Err(e) => panic!("blocking compression task cancelled: {e}"),
    }
}
