//! The crate's error type.

/// Why a compression or decompression call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The decoded output would exceed the caller's limit (a decompression-bomb guard).
    #[error("decoded body exceeds the {limit}-byte limit")]
    TooLarge {
        /// The limit that was exceeded, in bytes of decoded output.
        limit: usize,
    },
    /// The input is not a valid stream of the declared encoding.
    #[error("corrupt {encoding} data")]
    Corrupt {
        /// The encoding that failed to decode.
        encoding: crate::Encoding,
        /// What the decoder reported.
        #[source]
        source: std::io::Error,
    },
    /// A compression level outside 0..=9.
    #[error("compression level {0} is outside 0..=9")]
    InvalidLevel(u32),
    /// An encoding name that is not one of `identity`, `gzip`, `deflate`.
    #[error("unsupported content encoding `{0}` (expected identity, gzip or deflate)")]
    UnsupportedEncoding(String),
}
