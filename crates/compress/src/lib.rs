//! gzip for logferry: whole batches fast, streams with bounded memory, and decoding that
//! cannot be turned into a decompression bomb.
//!
//! Key items:
//! - [`gzip`] and [`GzipEncoder`]: one gzip member per batch, with a reusable encoder and
//!   a choice of [`Backend`];
//! - [`gzip_blocking`]: the same, on tokio's blocking pool so both cores compress at once;
//! - [`decode`]: gzip / deflate / identity decoding with an output limit;
//! - [`stream`]: async encoders and limit-enforcing decoders over tokio I/O.
//!
//! This crate sits between batching and transport in the flow
//! (`framing → batch → compress → spool → transport`). It does not decide *whether*
//! to compress (the backends' configs do) and knows nothing of HTTP beyond the
//! `Content-Encoding` token names of [`Encoding`].
//!
//! # Choosing the batch encoder
//!
//! Measured with `cargo xtask bench --criterion compress` (the `compress` bench) on the
//! benches' deterministic syslog-like corpus, 8 MiB cut into 1 MiB batches, one core of
//! the 2-core development machine; MiB/s of uncompressed input, ratio = input / output.
//! The `gzip` command ran on the same bytes in the same run (2026-11-23, quiet machine).
//!
//! | encoder | level 1 | level 3 | level 6 |
//! |---|---|---|---|
//! | libdeflate ([`Backend::Libdeflate`]) | **281** (4.75×) | 186 (5.07×) | 115 (5.89×) |
//! | zlib-rs via flate2 ([`Backend::ZlibRs`]) | 362 (3.49×) | 171 (4.99×) | 98 (5.60×) |
//! | miniz_oxide (flate2's default backend) | 261 (3.97×) | 88 (5.19×) | 45 (5.63×) |
//! | `gzip` command | 92 | 80 | 41 |
//!
//! The default is [`Backend::Libdeflate`] at [`Level::FAST`]: 3.1× the `gzip` command per
//! core with the best ratio at level 1 (a third smaller output than zlib-rs level 1,
//! which trades ratio for speed and compresses worse than `gzip -1`). Shipping is bound
//! by compression on one core and by bytes on the wire beyond it, so both count; users
//! who want raw speed can pick [`Backend::ZlibRs`].
//!
//! # Example
//!
//! ```
//! use logferry_compress::{decode, gzip, Encoding, Level};
//! let batch = b"<13>Nov 23 20:00:00 host app: hello\n".repeat(100);
//! let body = gzip(&batch, Level::FAST);
//! assert!(body.len() < batch.len() / 10);
//! assert_eq!(decode(Encoding::Gzip, &body, 1 << 20).unwrap(), batch);
//! ```

mod batch;
mod bulk;
mod cpu;
mod decode;
mod error;
#[cfg(feature = "tokio")]
mod offload;
#[cfg(feature = "tokio")]
pub mod stream;

pub use batch::{Backend, GzipEncoder, gzip, gzip_into};
pub use bulk::{DEFAULT_BULK_NICE, bulk_thread, set_bulk_nice};
pub use cpu::compress_cpu;
pub use decode::{decode, gunzip_member};
pub use error::Error;
#[cfg(feature = "tokio")]
pub use offload::{gzip_blocking, spawn_bulk};

use std::fmt;
use std::str::FromStr;

/// A deflate compression level, 0 (store) to 9 (smallest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Level(u8);

impl Level {
    /// Level 1: the fastest real compression, and logferry's default for shipping.
    pub const FAST: Level = Level(1);
    /// Level 6: zlib's traditional default.
    pub const BALANCED: Level = Level(6);
    /// Level 9: smallest output, slowest.
    pub const BEST: Level = Level(9);

    /// A level from 0 to 9.
    pub const fn new(level: u8) -> Result<Level, Error> {
        if level <= 9 {
            Ok(Level(level))
        } else {
            Err(Error::InvalidLevel(level as u32))
        }
    }

    /// The numeric level.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Level {
    fn default() -> Self {
        Level::FAST
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A body encoding, as named by the HTTP `Content-Encoding` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// No encoding (no `Content-Encoding` header, or `identity`).
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// `deflate`: zlib-wrapped deflate (RFC 1950), raw deflate accepted when decoding.
    Deflate,
}

impl Encoding {
    /// The `Content-Encoding` token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encoding {
    type Err = Error;

    /// Parses a `Content-Encoding` value, case-insensitively (RFC 9110 §8.4.1).
    fn from_str(s: &str) -> Result<Self, Error> {
        let token = s.trim();
        if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
            Ok(Encoding::Gzip)
        } else if token.eq_ignore_ascii_case("deflate") {
            Ok(Encoding::Deflate)
        } else if token.eq_ignore_ascii_case("identity") || token.is_empty() {
            Ok(Encoding::Identity)
        } else {
            Err(Error::UnsupportedEncoding(token.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_bounded() {
        assert_eq!(Level::new(9).unwrap(), Level::BEST);
        assert_eq!(
            Level::new(10).unwrap_err().to_string(),
            "compression level 10 is outside 0..=9"
        );
    }

    #[test]
    fn encodings_parse_case_insensitively() {
        assert_eq!("GZip".parse::<Encoding>().unwrap(), Encoding::Gzip);
        assert_eq!(" deflate ".parse::<Encoding>().unwrap(), Encoding::Deflate);
        assert_eq!("".parse::<Encoding>().unwrap(), Encoding::Identity);
        assert_eq!(
            "br".parse::<Encoding>().unwrap_err().to_string(),
            "unsupported content encoding `br` (expected identity, gzip or deflate)"
        );
    }
}
