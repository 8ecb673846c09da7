//! The crate's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the emulator could not start, or a command-line run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address is not a loopback address and
    /// [`Config::danger_allow_non_loopback`](crate::Config::danger_allow_non_loopback) is off.
    #[error(
        "refusing to listen on non-loopback address {0} (the emulator is a test double; \
         pass --danger-allow-non-loopback to override)"
    )]
    NonLoopback(SocketAddr),
    /// Plain HTTP was asked for on a non-loopback address: refused even with the danger flag.
    #[error("plain http is served on loopback addresses only, not on {0}")]
    PlainHttpNonLoopback(SocketAddr),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed certificate authority or server certificate could not be made.
    #[error("cannot generate the tls certificates")]
    Certificate(#[source] rcgen::Error),
    /// rustls refused the generated certificate or key.
    #[error("invalid tls configuration")]
    Tls(#[source] rustls::Error),
    /// A file (CA PEM, records file, ready file) could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The emulator's runtime could not be started.
    #[error("cannot start the emulator runtime")]
    Runtime(#[source] std::io::Error),
    /// A fault or limit setting is out of range.
    #[error("invalid fault settings: {0}")]
    InvalidFaults(String),
    /// A command-line argument could not be used.
    #[error("{0}")]
    Usage(String),
}
