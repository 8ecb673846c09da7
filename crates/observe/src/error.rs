//! The crate's one error.

use std::net::SocketAddr;

/// Why the API server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr} ([api] listen)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}
