//! Spool options: capacity, segment size, fsync policy and what to do when full.

use std::time::Duration;

/// When the spool calls `fsync` (see the durability table in the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `append` and `ack` return only after their bytes are on stable storage
    /// (`fdatasync`). Survives power loss; costs one disk flush per entry and per ack.
    EveryBatch,
    /// A background thread flushes what was written at most this long ago. Survives a
    /// process crash (`kill -9`) fully; an OS crash or power loss can lose the entries and
    /// acks of the last interval.
    Interval(Duration),
    /// Never flush: the kernel writes back when it likes (typically within 30 s on Linux).
    /// Survives a process crash fully; an OS crash can lose anything not yet written back.
    Never,
}

/// What [`Spool::append`](crate::Spool::append) does when the new entry would take the
/// spool past [`SpoolConfig::max_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait until acknowledgements free a segment (back-pressure on the input), at most
    /// [`SpoolConfig::block_timeout`], or until [`Spool::shutdown`](crate::Spool::shutdown).
    Block,
    /// Delete the oldest segment, undelivered entries included, counting them in
    /// [`SpoolStats::dropped_oldest`](crate::SpoolStats::dropped_oldest) and logging a
    /// warning for each segment dropped.
    DropOldest,
}

/// Spool options. `SpoolConfig::default()` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolConfig {
    /// When to flush to stable storage. Default: [`FsyncPolicy::EveryBatch`], the only
    /// policy that survives power loss; see the crate docs for the trade-off.
    pub fsync: FsyncPolicy,
    /// Cap on the bytes of all segment files. Space is reclaimed a whole segment at a
    /// time (when all its entries are acknowledged, or dropped by
    /// [`WhenFull::DropOldest`]). Ack logs (12 bytes per acknowledged entry) are not
    /// counted. Default: 1 GiB.
    pub max_bytes: u64,
    /// What `append` does when the cap is reached. Default: [`WhenFull::Block`].
    pub when_full: WhenFull,
    /// Target size of one segment file: a new segment starts when the next entry would
    /// take the current one past it (an entry larger than this gets a segment of its
    /// own). The effective size is at most `max_bytes / 4`, so the cap always spans
    /// several segments and space can be reclaimed while the newest is being written.
    /// Default: 64 MiB.
    pub segment_bytes: u64,
    /// How long a blocked `append` waits for space before failing with
    /// [`Error::Full`](crate::Error::Full). Default: `None`, wait until space frees or
    /// the spool is shut down.
    pub block_timeout: Option<Duration>,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::EveryBatch,
            max_bytes: 1 << 30,
            when_full: WhenFull::Block,
            segment_bytes: 64 << 20,
            block_timeout: None,
        }
    }
}

impl SpoolConfig {
    /// The segment size actually used: `segment_bytes`, at most `max_bytes / 4`, at
    /// least 1.
    pub fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes.min(self.max_bytes / 4).max(1)
    }
}

/// Counters, for logs, progress bars and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SpoolStats {
    /// Entries in the spool not yet acknowledged (what a restart would replay).
    pub entries: u64,
    /// Bytes of all segment files (what [`SpoolConfig::max_bytes`] caps).
    pub bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Entries appended since open.
    pub appended: u64,
    /// Entries acknowledged since open.
    pub acked: u64,
    /// Undelivered entries deleted by [`WhenFull::DropOldest`] since open.
    pub dropped_oldest: u64,
    /// Of those, entries acknowledged afterwards: their batch was still in memory and was
    /// delivered, so only `dropped_oldest - dropped_then_delivered` were lost.
    pub dropped_then_delivered: u64,
    /// Corrupt regions skipped since open: at open, invalid bytes followed by a valid
    /// entry (each region may have held one entry or several); during replay, an entry
    /// whose bytes no longer match their checksum.
    pub corrupt_skipped: u64,
    /// Bytes in those corrupt regions.
    pub corrupt_bytes: u64,
    /// Torn tails (invalid bytes after a segment's last valid entry, left by a crash in
    /// the middle of a write) truncated at open.
    pub torn_tail_dropped: u64,
    /// Bytes in those torn tails.
    pub torn_tail_bytes: u64,
    /// Damaged last entries (invalid bytes after a segment's last valid entry that are
    /// no crash's partial write) moved to the quarantine folder and cut at open; their
    /// entries are lost unless acknowledged before.
    pub quarantined_tails: u64,
    /// Bytes in those damaged last entries.
    pub quarantined_tail_bytes: u64,
    /// Ack records whose checksum failed at open (their entries are replayed again).
    pub corrupt_acks: u64,
    /// Appends currently waiting for space ([`WhenFull::Block`]).
    pub blocked_appends: u64,
}
