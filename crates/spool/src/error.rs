//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation on the spool directory failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done (`open`, `write`, `sync`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The entry can never fit: its encoded size exceeds the spool's capacity (or the
    /// 4 GiB limit of the length field).
    #[error("entry of {len} bytes cannot fit in a spool of {max_bytes} bytes")]
    EntryTooLarge {
        /// Payload length in bytes.
        len: u64,
        /// The configured [`SpoolConfig::max_bytes`](crate::SpoolConfig::max_bytes).
        max_bytes: u64,
    },
    /// The spool stayed full for the whole
    /// [`SpoolConfig::block_timeout`](crate::SpoolConfig::block_timeout).
    #[error("spool still full after waiting {waited:?} for deliveries to free space")]
    Full {
        /// How long the append waited.
        waited: Duration,
    },
    /// Another open spool holds this directory: a second logferry process (or a second
    /// [`Spool::open`](crate::Spool::open) in this one) is using it.
    #[error(
        "the spool in {} is in use by another logferry process (its lock file spool.lock is held)",
        dir.display()
    )]
    Locked {
        /// The spool directory.
        dir: PathBuf,
    },
    /// [`Spool::shutdown`](crate::Spool::shutdown) was called.
    #[error("spool is shut down")]
    Closed,
    /// An acknowledgement for an id this spool never handed out.
    #[error("entry {id} was never appended to this spool")]
    UnknownEntry {
        /// The id passed to [`Spool::ack`](crate::Spool::ack).
        id: u64,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
