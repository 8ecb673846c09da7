//! The crate's error type (configuration and encoding problems; delivery outcomes are
//! reports, not errors).

/// Why a sender could not be built or a stored body not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting that cannot work.
    #[error("invalid HTTP Ingest configuration: {0}")]
    Config(String),
    /// The HTTP client could not be built or the key is not a valid header value.
    #[error("HTTP Ingest client setup failed")]
    Http(#[from] logferry_http::Error),
    /// A stored body could not be decoded.
    #[error("stored batch cannot be decoded")]
    Decode(#[from] logferry_compress::Error),
}
