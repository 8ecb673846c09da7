//! Whole-batch gzip encoding, the shipper's hottest loop.
//!
//! A batch is a complete request body held in memory (around 100 KB to a few MB), so
//! it is compressed in one call rather than through a streaming encoder: the encoder
//! sees the whole input, needs no flushing, and writes one gzip member (RFC 1952)
//! straight into the output buffer.

use crate::Level;
use std::cell::RefCell;
use std::io::Write;

/// Which deflate implementation compresses batches.
///
/// Both produce standard gzip; they differ in speed and ratio (see the table in the
/// crate docs). [`Backend::Libdeflate`] is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Backend {
    /// libdeflate through `libdeflater`: whole-buffer only, fastest and best ratio here.
    #[default]
    Libdeflate,
    /// zlib-rs through `flate2`: pure Rust, the backend the stream encoders use too.
    ZlibRs,
}

/// A reusable gzip encoder for whole batches.
///
/// Keeps the compressor's working memory between calls, so encoding many batches on
/// one thread allocates only output.
pub struct GzipEncoder {
    level: Level,
    backend: Backend,
    libdeflate: Option<libdeflater::Compressor>,
    /// libdeflate writes into an initialised buffer of its worst-case bound (more than
    /// the input): kept between calls, so it is zeroed once instead of per batch, and
    /// only the compressed bytes are copied out.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for GzipEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipEncoder")
            .field("level", &self.level)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl GzipEncoder {
    /// An encoder at `level` using `backend`.
    pub fn new(level: Level, backend: Backend) -> Self {
        Self {
            level,
            backend,
            libdeflate: None,
            scratch: Vec::new(),
        }
    }

    /// The encoder's level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The encoder's backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Appends one complete gzip member holding `input` to `out`. The CPU time it takes
    /// counts in [`compress_cpu`](crate::compress_cpu).
    pub fn encode_into(&mut self, input: &[u8], out: &mut Vec<u8>) {
        crate::cpu::timed(|| self.encode_untimed(input, out));
    }

    fn encode_untimed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self.backend {
            Backend::Libdeflate => {
                let level = self.level;
                let compressor = self.libdeflate.get_or_insert_with(|| {
                    let lvl = libdeflater::CompressionLvl::new(i32::from(level.get()))
                        .expect("Level is 0..=9, inside libdeflate's 0..=12");
                    libdeflater::Compressor::new(lvl)
                });
                let bound = compressor.gzip_compress_bound(input.len());
                if self.scratch.len() < bound {
                    self.scratch.resize(bound, 0);
                }
                let written = compressor
                    .gzip_compress(input, &mut self.scratch[..bound])
                    .expect("the output buffer is gzip_compress_bound bytes, always enough");
                out.extend_from_slice(&self.scratch[..written]);
                // A batch far larger than usual does not pin its bound for good.
                if self.scratch.len() > SCRATCH_KEEP {
                    self.scratch = Vec::new();
                }
            }
            Backend::ZlibRs => {
                let mut encoder = flate2::write::GzEncoder::new(
                    out,
                    flate2::Compression::new(u32::from(self.level.get())),
                );
                encoder
                    .write_all(input)
                    .expect("writing into a Vec cannot fail");
                encoder.finish().expect("writing into a Vec cannot fail");
            }
        }
    }

    /// One complete gzip member holding `input` (with libdeflate, in a buffer of
    /// exactly its length).
    pub fn encode(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = match self.backend {
            Backend::Libdeflate => Vec::new(),
            Backend::ZlibRs => Vec::with_capacity(input.len() / 3 + 64),
        };
        self.encode_into(input, &mut out);
        out
    }
}

/// The largest scratch buffer an encoder keeps between calls: the bound of a batch at
/// the pipelines' usual 1 MB maximum, with room to spare.
const SCRATCH_KEEP: usize = 2 << 20;

thread_local! {
    static ENCODERS: RefCell<Vec<GzipEncoder>> = const { RefCell::new(Vec::new()) };
}

/// Scratch buffers of the per-thread encoders, shared: a blocking pool may run many
/// threads, and each keeping its own buffer of a batch's bound would grow memory with
/// the thread count; at most [`POOLED`] are kept.
static SCRATCH: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Scratch buffers kept between batches: as many as the pipelines compress at once on
/// two cores (the blocking tasks in flight).
const POOLED: usize = 4;

/// Gzips `input` at `level` with the default backend, reusing a per-thread encoder.
///
/// ```
/// let body = logferry_compress::gzip(b"one\ntwo\n", logferry_compress::Level::FAST);
/// assert_eq!(&body[..2], &[0x1f, 0x8b]);
/// ```
pub fn gzip(input: &[u8], level: Level) -> Vec<u8> {
    with_encoder(level, Backend::default(), |e| e.encode(input))
}

/// Like [`gzip`], appending the member to `out` (several members in one buffer, without
/// a buffer of its own for each).
///
/// ```
/// use logferry_compress::{Level, gzip, gzip_into};
/// let mut two = gzip(b"one\n", Level::FAST);
/// gzip_into(b"two\n", Level::FAST, &mut two);
/// let mut expected = gzip(b"one\n", Level::FAST);
/// expected.extend_from_slice(&gzip(b"two\n", Level::FAST));
/// assert_eq!(two, expected);
/// ```
pub fn gzip_into(input: &[u8], level: Level, out: &mut Vec<u8>) {
    with_encoder(level, Backend::default(), |e| e.encode_into(input, out));
}

/// Runs `f` with this thread's cached encoder for `level` and `backend`.
pub(crate) fn with_encoder<T>(
    level: Level,
    backend: Backend,
    f: impl FnOnce(&mut GzipEncoder) -> T,
) -> T {
    ENCODERS.with(|cell| {
        let mut encoders = cell.borrow_mut();
        let index = match encoders
            .iter()
            .position(|e| e.level == level && e.backend == backend)
        {
            Some(i) => i,
            None => {
                encoders.push(GzipEncoder::new(level, backend));
                encoders.len() - 1
            }
        };
        let encoder = &mut encoders[index];
        let pool = || {
            SCRATCH
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if encoder.scratch.is_empty() {
            encoder.scratch = pool().pop().unwrap_or_default();
        }
        let out = f(encoder);
        let scratch = std::mem::take(&mut encoder.scratch);
        if !scratch.is_empty() {
            let mut pool = pool();
            if pool.len() < POOLED {
                pool.push(scratch);
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoding, decode};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_backend_and_level_round_trips(
            input in proptest::collection::vec(any::<u8>(), 0..20_000),
            level in 0u8..=9,
            zlib in any::<bool>(),
        ) {
            let backend = if zlib { Backend::ZlibRs } else { Backend::Libdeflate };
            let mut encoder = GzipEncoder::new(Level::new(level).unwrap(), backend);
            let body = encoder.encode(&input);
            prop_assert_eq!(decode(Encoding::Gzip, &body, input.len()).unwrap(), input);
        }
    }

    #[test]
    fn encode_into_appends() {
        let mut out = b"prefix".to_vec();
        GzipEncoder::new(Level::FAST, Backend::Libdeflate).encode_into(b"data", &mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(decode(Encoding::Gzip, &out[6..], 10).unwrap(), b"data");
    }
}
