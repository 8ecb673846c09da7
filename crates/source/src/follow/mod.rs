//! Followed files: log files tailed continuously through rotation, resumed after a
//! restart from the [`Registry`], for `logferry run`.
//!
//! A [`Follower`] is a blocking, single-threaded state machine: the caller's thread
//! calls [`Follower::step`] in a loop and receives [`Event`]s per file, in file order:
//! [`Event::Opened`], then [`Event::Data`] chunks, [`Event::Restarted`] when the file
//! must be read again from 0, and [`Event::Released`] when its descriptor is closed for
//! good. It never frames: the pipeline's `Follow` source frames each file's bytes and
//! acknowledges shipped batches with [`Registry::update`].
//!
//! # Discovery
//!
//! The include globs are expanded every [`FollowConfig::rescan`]; each glob's literal
//! parent directory is watched through `notify` (inotify on Linux) so a new, renamed or
//! grown file is noticed at once; polling stays as the fallback (one warning when
//! watching is unavailable). Open files are checked with `fstat` every
//! [`FollowConfig::poll`]. Exclude globs match the full path or the file name.
//! Compressed files are never read as text: skipped by extension
//! ([`COMPRESSED_EXTENSIONS`]) and by the magic number at their head (gzip, bzip2, xz,
//! zstd, zip).
//!
//! # Identity
//!
//! A file is its device and inode plus its content: the head fingerprint (hash of its
//! first ≤ 4 KiB) and a [`Tail`](crate::Tail) (hash of the ≤ 4 KiB before the offset the
//! follower read to). Two files sharing a header block differ by inode and by tail; a
//! reused inode whose head or tail differs is another file, read from 0.
//!
//! # Rotation
//!
//! - rename-and-create: the renamed file is read to its end through its descriptor (and
//!   followed on under its new name while the globs match it; otherwise released once
//!   idle for [`FollowConfig::release_after`]); the new file at the path is read from 0.
//! - copytruncate, truncate: the same inode shorter than the read offset is read again
//!   from 0 ([`OpenReason::Truncated`]); a new file whose head and tail match the
//!   truncated content (the copy) is resumed at the acknowledged offset, not read whole.
//!   A copy found while `cp` is still writing it waits for its original's truncation; one
//!   found empty (`cp` creates before it writes) is looked at again when its first bytes
//!   come, before it is read, also after a restart.
//! - delete while open: drained to its end, released once idle for `release_after` with
//!   no link left.
//! - rewrite in place: the same inode whose bytes before the read offset changed is read
//!   again from 0 ([`OpenReason::Rewritten`]).
//! - restart in the middle of a rotation: a registry entry whose path now holds another
//!   file is looked for by device, inode and content among the files of its directory
//!   (glob match or not) and drained from its acknowledged offset.
//!
//! [`StartAt::End`] applies only to files present at the first scan whose path the
//! registry does not know; files appearing later are read from their beginning.
//!
//! # The registry
//!
//! [`Registry`]: the followed files' checkpoints in ONE JSON file (e.g.
//! `DATA_DIR/files.json`, mode 0600, replaced atomically: temporary file, fsync,
//! rename, fsync of the directory), keyed by identity (device, inode, head
//! fingerprint). Each entry holds the last known path (and the path the file was first
//! followed at), the acknowledged position and a tail at the offset the follower read
//! to. Writes are coalesced: changes mark it dirty, the follower writes it at most
//! about once a second and when it stops; an acknowledgement writes it when the last
//! write is a second old.
//!
//! - Acknowledgements ([`Registry::update`]) carry a [`FileKey`] whose generation
//!   changes on every open and restart from 0: a late acknowledgement of an old read
//!   never moves a new one, and no acknowledgement moves an entry backwards.
//! - Pruning: an entry not followed now whose file was not seen (at its path, or by
//!   device and inode in its directory) for [`PRUNE_AFTER`] (1 hour) is dropped at the
//!   next write; a deleted file's entry goes when the follower releases it.
//! - Copy candidates: a file found truncated or rewritten leaves its old content and
//!   acknowledged position for [`PRUNE_AFTER`], so its `copytruncate` copy resumes there.
//! - An unreadable registry file is renamed `PATH.corrupt` with a warning; files are then
//!   read again (a resend, never a loss).
//!
//! # Fairness and bounds
//!
//! At most [`FollowConfig::max_open_files`] descriptors are open. Each round reads at most
//! one chunk ([`FollowConfig::chunk_bytes`]) per open file. When files wait for a
//! descriptor, idle files at their end are closed first, and a file that had 8 turns in
//! a row gives its descriptor up; waiting files are opened oldest first. A file closed
//! this way is found again by path and identity (or in its directory, if rotated).
//! Memory: one chunk buffer for all files.
//!
//! ```
//! use logferry_source::follow::{Event, FollowConfig, Follower, Registry};
//! use std::ops::ControlFlow;
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.log"), "one\ntwo\n")?;
//! let registry = Arc::new(Registry::open(dir.path().join("state/files.json"))?);
//! let config = FollowConfig {
//!     include: vec![format!("{}/*.log", dir.path().display())],
//!     ..FollowConfig::default()
//! };
//! let mut follower = Follower::new(config, registry.clone())?;
//! let mut read = Vec::new();
//! let deadline = Instant::now() + Duration::from_secs(10);
//! while read.len() < 8 && Instant::now() < deadline {
//!     let _ = follower.step(Instant::now() + Duration::from_millis(100), &mut |event| {
//!         if let Event::Data { key, offset, bytes, .. } = event {
//!             read.extend_from_slice(bytes);
//!             // Once shipped: the next run starts after these bytes.
//!             let end = offset + bytes.len() as u64;
//!             registry.update(key, logferry_source::Position { offset: end, line: 3 });
//!         }
//!         ControlFlow::Continue(())
//!     });
//! }
//! assert_eq!(read, b"one\ntwo\n");
//! assert_eq!(registry.entries()[0].position.offset, 8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod discovery;
mod identity;
mod registry;
mod tailing;

pub use discovery::{COMPRESSED_EXTENSIONS, Globs};
pub use registry::{FileKey, FileState, PRUNE_AFTER, Registry};
pub use tailing::{Follower, Handler};

use crate::{Error, Position};
use std::sync::Arc;
use std::time::Duration;

/// Where a file first seen at the first scan, unknown to the registry, is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// From its first byte.
    #[default]
    Beginning,
    /// From its end at the time: only what is appended later.
    End,
}

/// How to follow files.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Globs of the files to follow.
    pub include: Vec<String>,
    /// Globs of files not to follow, matched against the full path or the file name.
    pub exclude: Vec<String>,
    /// Where files first seen are read from. Default: the beginning. With
    /// [`StartAt::End`], the lines before the end are counted once (a read of the file)
    /// so records keep true line numbers.
    pub start_at: StartAt,
    /// How often the globs are expanded again. Default: 1 s.
    pub rescan: Duration,
    /// How often open files are checked for growth when nothing wakes the follower up.
    /// Default: 250 ms.
    pub poll: Duration,
    /// Descriptors open at most. Default: 256.
    pub max_open_files: usize,
    /// Bytes read per file per turn. Default: 1 MiB.
    pub chunk_bytes: usize,
    /// How long a file deleted or rotated out of the globs stays open, idle at its end,
    /// before it is released. Default: 5 s.
    pub release_after: Duration,
}

impl Default for FollowConfig {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            start_at: StartAt::Beginning,
            rescan: Duration::from_secs(1),
            poll: Duration::from_millis(250),
            max_open_files: 256,
            chunk_bytes: 1 << 20,
            release_after: Duration::from_secs(5),
        }
    }
}

/// Why a file is read from where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenReason {
    /// First seen.
    New,
    /// Known to the registry, unchanged: continued at its acknowledged position (or a
    /// `copytruncate` copy continued where its original was).
    Resumed,
    /// Known, but shorter than what was read: read again from 0.
    Truncated,
    /// Known, but its bytes before the read offset changed: read again from 0.
    Rewritten,
    /// A new file at the path of a file that was rotated away.
    Rotated,
}

impl std::fmt::Display for OpenReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenReason::New => "new",
            OpenReason::Resumed => "resumed",
            OpenReason::Truncated => "truncated",
            OpenReason::Rewritten => "rewritten",
            OpenReason::Rotated => "rotated",
        })
    }
}

/// What a [`Follower`] reports, per file in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A file is read from `position` on.
    Opened {
        /// The read's key (for acknowledgements).
        key: FileKey,
        /// The file's path when opened: its name in records and messages.
        path: Arc<str>,
        /// Where reading starts.
        position: Position,
        /// Why from there.
        why: OpenReason,
    },
    /// Bytes read at `offset`.
    Data {
        /// The read's key.
        key: FileKey,
        /// Where `bytes` start in the file.
        offset: u64,
        /// The bytes.
        bytes: &'a [u8],
        /// This read reached the file's end after a backlog (several full chunks read
        /// back to back): whoever batches may send what it holds now instead of letting
        /// it linger, since more is not coming at once. A file that trickles never says
        /// so: its reads end at its end every time, but none is a full chunk.
        caught_up: bool,
    },
    /// The file is read again from 0 under a new key: what was read of it before and not
    /// yet complete is void.
    Restarted {
        /// The old read's key.
        key: FileKey,
        /// The new read's key.
        new_key: FileKey,
        /// The file's name (as in [`Event::Opened`]).
        path: Arc<str>,
        /// [`OpenReason::Truncated`] or [`OpenReason::Rewritten`].
        why: OpenReason,
    },
    /// The file's descriptor is closed for good (deleted or rotated away, and drained),
    /// or a file found empty turned out, once its first bytes came, to be a copytruncate
    /// copy: released unread (`offset` 0), it is opened again as the copy it is.
    Released {
        /// The read's key.
        key: FileKey,
        /// The file's name.
        path: Arc<str>,
        /// Where reading stopped: its end.
        offset: u64,
    },
    /// Reading failed: the file is released, nothing from `offset` on was read.
    ReadError {
        /// The read's key.
        key: FileKey,
        /// The file's name.
        path: Arc<str>,
        /// Where reading stopped.
        offset: u64,
        /// What failed.
        error: Error,
    },
}
