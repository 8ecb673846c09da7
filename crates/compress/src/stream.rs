//! Async streaming encoders and decoders over tokio I/O.
//!
//! For bodies that should not sit whole in memory: a file streamed into a request, or
//! a request body decoded as it arrives. Both go through async-compression, which
//! reaches the same flate2 (zlib-rs) build as the rest of the crate.

use crate::{Error, Level};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

/// Wraps `reader` so that reading from the result yields its bytes gzipped at `level`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use tokio::io::AsyncReadExt;
/// let mut gz = logferry_compress::stream::gzip_reader(&b"line\n"[..], logferry_compress::Level::FAST);
/// let mut body = Vec::new();
/// gz.read_to_end(&mut body).await.unwrap();
/// let decoded = logferry_compress::decode(logferry_compress::Encoding::Gzip, &body, 100).unwrap();
/// assert_eq!(decoded, b"line\n");
/// # });
/// ```
pub fn gzip_reader<R: AsyncBufRead>(
    reader: R,
    level: Level,
) -> async_compression::tokio::bufread::GzipEncoder<R> {
    async_compression::tokio::bufread::GzipEncoder::with_quality(
        reader,
        async_compression::Level::Precise(i32::from(level.get())),
    )
}

/// Wraps `reader` (gzip bytes) so that reading yields the decoded bytes, failing with
/// an [`io::ErrorKind::InvalidData`] error wrapping [`Error::TooLarge`] as soon as more
/// than `limit` decoded bytes have been produced. Concatenated members are accepted.
pub fn gunzip_reader<R: AsyncBufRead>(
    reader: R,
    limit: u64,
) -> Limited<async_compression::tokio::bufread::GzipDecoder<R>> {
    let mut decoder = async_compression::tokio::bufread::GzipDecoder::new(reader);
    decoder.multiple_members(true);
    Limited::new(decoder, limit)
}

/// An [`AsyncRead`] that fails once more than `limit` bytes have been read through it.
#[derive(Debug)]
pub struct Limited<R> {
    inner: R,
    limit: u64,
    seen: u64,
}

impl<R> Limited<R> {
    /// Wraps `inner` with a limit of `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            limit,
            seen: 0,
        }
    }

    /// Bytes read through the wrapper so far.
    pub fn bytes_read(&self) -> u64 {
        self.seen
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Limited<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Offer the inner reader at most one byte past the limit: reading that byte
        // proves the limit is exceeded without decoding (or returning) anything more.
        let allowed = this.limit.saturating_sub(this.seen).saturating_add(1);
        let max = usize::try_from(allowed)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let mut window = ReadBuf::new(buf.initialize_unfilled_to(max));
        match Pin::new(&mut this.inner).poll_read(cx, &mut window) {
            Poll::Ready(Ok(())) => {
                let n = window.filled().len();
                if this.seen + n as u64 > this.limit {
                    let limit = usize::try_from(this.limit).unwrap_or(usize::MAX);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        Error::TooLarge { limit },
                    )));
                }
                this.seen += n as u64;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gzip;
    use tokio::io::AsyncReadExt;

    async fn read_all(mut r: impl AsyncRead + Unpin) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn stream_round_trip_large() {
        let input: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {i} of the stream\n").into_bytes())
            .collect();
        let gz = read_all(gzip_reader(&input[..], Level::FAST))
            .await
            .unwrap();
        let back = read_all(gunzip_reader(&gz[..], input.len() as u64))
            .await
            .unwrap();
        assert_eq!(back, input);
    }

    #[tokio::test]
    async fn stream_decoder_enforces_the_limit() {
        let gz = gzip(&vec![b'a'; 100_000], Level::FAST);
        let err = read_all(gunzip_reader(&gz[..], 99_999)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("99999-byte limit"), "{err}");
    }

    #[tokio::test]
    async fn stream_decoder_accepts_concatenated_members() {
        let mut gz = gzip(b"a\n", Level::FAST);
        gz.extend(gzip(b"b\n", Level::FAST));
        assert_eq!(
            read_all(gunzip_reader(&gz[..], 10)).await.unwrap(),
            b"a\nb\n"
        );
    }
}
