//! Inputs for logferry: files, stdin and glob patterns read in large chunks, with
//! checkpoints so a rerun continues where the last delivered record ended.
//!
//! Key items:
//! - [`expand`]: command-line arguments to [`Input`]s (`-` or nothing is stdin; globs
//!   sorted; a missing file or an empty glob is an error naming it);
//! - [`Source`]: an open input, read with [`Source::read_chunk`] in chunks of
//!   [`SourceConfig::chunk_bytes`] (1 MiB) with plain blocking `std` I/O, meant for a
//!   dedicated reader thread; it knows where it [`start`](Source::start)ed and takes
//!   [`checkpoint`](Source::checkpoint)s;
//! - [`follow`] (Unix): log files followed continuously through rotation
//!   ([`follow::Follower`], a blocking state machine for one thread), with their
//!   checkpoints keyed by identity in one JSON file ([`follow::Registry`]), for
//!   `logferry run`;
//! - [`Checkpoints`]: the checkpoint store in the spool directory
//!   (`DIR/checkpoints/*.json`, one small file per source, each replaced atomically);
//!   [`Checkpoint::after`] is the checkpoint to store once a batch is safe, and
//!   [`Checkpoints::uploaded`] / [`Checkpoints::record_upload`] keep track of files
//!   uploaded whole.
//!
//! In the flow (`source → framing → batching → compress → spool → transport`) this is
//! the first stage. It hands out bytes and [`Position`]s; framing, batching and deciding
//! *when* a checkpoint is safe to store belong to the caller. [`Source`] reads an input
//! once to its end; following files that grow and rotate is [`follow`]'s job, keyed by
//! file identity rather than path. Nothing here decompresses: [`follow`] skips
//! compressed files.
//!
//! # Checkpoints
//!
//! A [`Checkpoint`] holds a regular file's canonical path (its key), device and inode,
//! the [`Position`] (offset and line) where the next record to ship starts, and a
//! [`Fingerprint`] of the file's first bytes (a hash of the first min(len, 4 KiB) bytes,
//! and that length) and of the bytes just before the offset (a [`Tail`]: a hash of the
//! 4 KiB ending there), so a file rewritten in place behind an unchanged header block is
//! not taken for the same file. When a file is opened with a checkpoint store:
//!
//! - a checkpoint is looked up by canonical path, else by device and inode (the file was
//!   renamed, as by log rotation);
//! - if the file's head and tail still match the fingerprint and the file is at least
//!   as long as the checkpoint's offset, reading starts there ([`Resume::Continued`]): a
//!   file already shipped is not sent again, and one that grew sends only what is new;
//! - otherwise (truncated, replaced by another file, or rewritten in place) it starts
//!   from 0 with a warning naming which ([`Resume::Restarted`] with a
//!   [`RestartReason`]): a resend, never a loss. Checkpoints stored by versions without
//!   a tail still load, and compare the head only.
//!
//! Stdin, pipes and devices have no checkpoints. The caller stores a checkpoint only once
//! the records before it are safe (delivered, or durably spooled), so a crash at any
//! instant resends at most what was after the last stored checkpoint.
//!
//! ```
//! use logferry_framing::Position;
//! use logferry_source::{expand, CheckpointConfig, Checkpoints, Resume, Source, SourceConfig};
//! let spool_dir = tempfile::tempdir()?;
//! let log = spool_dir.path().join("app.log");
//! std::fs::write(&log, "one\ntwo\n")?;
//! let inputs = expand([&log])?;
//! let checkpoints = Checkpoints::open(spool_dir.path(), CheckpointConfig::default())?;
//!
//! // First run: read everything, and checkpoint after the records that were shipped.
//! let mut source = Source::open(&inputs[0], &SourceConfig::default(), Some(&checkpoints))?;
//! assert_eq!(source.read_chunk()?, Some(&b"one\ntwo\n"[..]));
//! let shipped = Position { offset: 8, line: 3 };
//! checkpoints.store(&source.checkpoint(shipped).expect("a regular file"))?;
//!
//! // The file grows; the next run sends only what is new.
//! std::fs::write(&log, "one\ntwo\nthree\n")?;
//! let mut source = Source::open(&inputs[0], &SourceConfig::default(), Some(&checkpoints))?;
//! assert_eq!(source.resume(), Resume::Continued(shipped));
//! assert_eq!(source.read_chunk()?, Some(&b"three\n"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod error;
#[cfg(unix)]
pub mod follow;
mod input;
mod reader;

pub use checkpoint::{
    CHECKPOINT_DIR, Checkpoint, CheckpointConfig, Checkpoints, EarlierUpload, FileId, Fingerprint,
    HEAD_BYTES, TAIL_BYTES, Tail,
};
pub use error::Error;
pub use input::{Input, expand};
pub use logferry_framing::Position;
pub use reader::{RestartReason, Resume, Source, SourceConfig};
