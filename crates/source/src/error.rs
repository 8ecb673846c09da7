//! The crate's error type.

use std::path::PathBuf;
use std::sync::Arc;

/// Why an input could not be found, opened, read or checkpointed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A named file cannot be opened (missing, no permission, ...).
    #[error("cannot open {}", path.display())]
    Open {
        /// The path as given.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A named input is a directory.
    #[error("{} is a directory, not a file", path.display())]
    IsDirectory {
        /// The path as given.
        path: PathBuf,
    },
    /// A glob pattern matched no file.
    #[error("no file matches {pattern}")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// A glob pattern is malformed (e.g. an unclosed `[`).
    #[error("invalid glob pattern {pattern}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: glob::PatternError,
    },
    /// A directory could not be read while expanding a glob pattern.
    #[error("cannot read {} while expanding {pattern}", path.display())]
    Glob {
        /// The pattern as given.
        pattern: String,
        /// The directory or file that failed.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Reading an open input failed.
    #[error("cannot read {name}")]
    Read {
        /// The input's name (a path, or `<stdin>`).
        name: Arc<str>,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint store could not be read or written.
    #[error("cannot {op} checkpoint file {}", path.display())]
    Checkpoint {
        /// What was being done (`create`, `write`, `rename`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
