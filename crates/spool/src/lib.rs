//! A crash-safe on-disk queue of encoded batches: what a new logferry process replays
//! after the old one died.
//!
//! Key types:
//! - [`Spool`]: [`append`](Spool::append) an entry (opaque bytes) and get an [`EntryId`],
//!   [`ack`](Spool::ack) it once delivered, [`replay`](Spool::replay) what is left after
//!   a restart, [`stats`](Spool::stats) for the counters;
//! - [`SpoolConfig`]: the cap ([`max_bytes`](SpoolConfig::max_bytes)) and what happens at
//!   it ([`WhenFull`]), the segment size and the [`FsyncPolicy`];
//! - [`SpoolStats`]: entries and bytes held, acknowledgements, and every loss counted
//!   (dropped when full, corrupt regions skipped, torn tails truncated);
//! - [`Entry`]: the trait of what callers store (a four-byte kind tag, then a body), with
//!   [`EntryReader`], a bounds-checked reader for implementors, and [`EntryError`];
//! - [`dir_name`]: the directory of a backend's spool for one target;
//! - [`verify`] / [`verify_with`]: a read-only check of a spool directory (a
//!   [`Verification`]: per segment, entries intact, pending and acknowledged, corrupt
//!   regions with the entries and records they cost, benign torn tails, corrupt ack
//!   records), safe beside a running process; [`repair`] / [`repair_with`]: moves what
//!   is corrupt into the quarantine folder (a [`Repair`] listing each [`Quarantined`]
//!   file).
//!
//! In the flow (`source → framing → batching → compress → spool → transport`) the spool
//! sits between encoding and sending: an encoded batch is appended before it is sent, the
//! source checkpoint advances once the append returns, and the entry is acknowledged when
//! the backend accepted it. The spool does not know what an entry holds (the caller
//! encodes backend, content type, body and source range as an [`Entry`] of its own
//! kind), does not retry, and never
//! deletes an undelivered entry except by [`WhenFull::DropOldest`].
//!
//! ```
//! use logferry_spool::{Spool, SpoolConfig};
//! let dir = tempfile::tempdir()?;
//! let spool = Spool::open(dir.path(), SpoolConfig::default())?;
//! let first = spool.append(b"batch one")?;
//! let second = spool.append(b"batch two")?;
//! spool.ack(first)?;
//! drop(spool); // a clean exit, or a kill -9: the same to the next process
//!
//! let spool = Spool::open(dir.path(), SpoolConfig::default())?;
//! let left: Vec<_> = spool.replay().collect::<Result<_, _>>()?;
//! assert_eq!(left, [(second, b"batch two".to_vec())]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # On-disk layout
//!
//! A spool directory holds pairs of files named after the id of the segment's first
//! entry (20 decimal digits, so names sort in id order). Other files are ignored, so
//! source checkpoints can live in the same directory.
//!
//! ```text
//! DIR/spool-00000000000000000000.seg   entries 0, 1, 2, ... back to back
//! DIR/spool-00000000000000000000.ack   acknowledgements of entries in that segment
//! DIR/spool-00000000000000000417.seg   the next segment starts at entry 417
//! DIR/spool.lock                        empty; locked while a spool is open
//! DIR/quarantine/                       corrupt bytes moved out by `repair` (0700)
//! ```
//!
//! [`Spool::open`] takes an exclusive lock on `spool.lock` (`flock` on Unix) and holds it
//! until the spool is dropped, so a second process pointed at the same directory gets
//! [`Error::Locked`] instead of interleaving ids with the first. The operating system
//! releases the lock when its holder dies, `kill -9` included.
//!
//! A segment file is a sequence of entries with no file header and no padding. Every
//! integer is little-endian; every checksum is CRC-32 (IEEE, as computed by `crc32fast`):
//!
//! ```text
//! offset  size  field
//!      0     4  magic FE 4C 46 31 ("\xFELF1": 0xFE never occurs in UTF-8; "1" is the version)
//!      4     4  payload length, u32
//!      8     8  entry id, u64
//!     16     4  CRC-32 of the payload
//!     20     4  CRC-32 of bytes 0..20 (the header checks itself)
//!     24   len  payload
//! ```
//!
//! An ack log is a sequence of 12-byte records, one per acknowledged entry of its
//! segment, in acknowledgement order:
//!
//! ```text
//! offset  size  field
//!      0     8  entry id, u64
//!      8     4  CRC-32 of bytes 0..8
//! ```
//!
//! Invariants:
//! - **Entries are only ever appended.** The only rewrites of a segment are cutting off
//!   a torn tail at open, a partial entry after a failed write, and [`repair`] moving
//!   corrupt regions to the quarantine folder (intact entries keep their bytes and ids).
//! - **Within a segment, ids strictly increase**, are at least the segment's first id
//!   and below the next segment's first id; an entry breaking this is treated as corrupt.
//! - **An id is never acknowledged by accident.** An ack record applies only within its
//!   own segment; a record failing its checksum is ignored, which can only cause a
//!   resend. When a segment is deleted, the segment file goes first (and durably, unless
//!   fsync is off), then its ack log; ack logs without a segment are deleted at open, and
//!   a new segment never inherits an old ack log.
//! - **A segment is deleted when every entry in it is acknowledged** (or was found
//!   corrupt), unless it is still being written to. New entries always go to a segment
//!   started by this process; segments found at open are read-only.
//!
//! # Recovery
//!
//! [`Spool::open`] reads every segment and, starting at offset 0, accepts an entry when
//! its magic, header checksum, id rules and payload checksum all hold. At an invalid
//! entry it resynchronises by searching for the next magic marker (the header checksum
//! makes a false match of payload bytes negligible, and a bogus length cannot swallow
//! the entries after it). Invalid bytes followed by a valid entry are a *corrupt
//! region*: skipped, logged and counted ([`SpoolStats::corrupt_skipped`]). Invalid bytes
//! after the last valid entry are a *torn tail* (a crash in the middle of a write): the
//! file is truncated there, with a warning ([`SpoolStats::torn_tail_dropped`]). When
//! they are no crash's partial write but a damaged last entry (told apart as [`verify`]
//! does), its bytes are first copied to the quarantine folder with a sidecar saying why,
//! then cut, with a warning ([`SpoolStats::quarantined_tails`]): nothing leaves a spool
//! file unseen. An acknowledged id is never handed out again, even when its entry is
//! gone. Ack logs
//! are read in whole records; a partial last record is cut off. Nothing in recovery
//! panics on any input (the `spool_recovery` fuzz target checks it).
//!
//! # Verify and repair
//!
//! [`verify`] reads a spool directory without opening it: no lock, no write, so it
//! works on a stopped spool and beside the process that holds it (what it reads is a
//! snapshot: an append in progress shows as a torn tail). It scans every segment as
//! [`Spool::open`] does and tells apart:
//! - a **corrupt region** ([`CorruptRegion`]): bytes failing the checks that are not a
//!   crash's partial write, between intact entries or at the end of a segment (a
//!   damaged last entry). Its entries are lost unless they were acknowledged before the
//!   damage. How many entries it held is counted from the framing where it can be: from
//!   the headers that still read, or from the ids of the intact entries around it (the
//!   writer numbers a segment's entries consecutively; after an earlier repair this is
//!   an upper bound), else "unknown". Records are the caller's business:
//!   [`verify_with`] hands the payload of every intact pending entry, and of every
//!   damaged entry whose header still reads, to a callback that counts them;
//! - a **torn tail** ([`TornTail`]): what an interrupted append leaves at the end (a
//!   header prefix, a header with its payload cut short, or zeros). Benign: the append
//!   never completed, and the next open truncates it;
//! - **corrupt ack records** ([`AckLogReport::corrupt`]): their entries are sent again
//!   (a duplicate, not a loss), and a partial last record (benign).
//!
//! [`Verification::is_healthy`] is false when there is a corrupt region or record; its
//! `Display` names each file, byte offset and the entries affected.
//!
//! [`repair`] takes the spool's lock ([`Error::Locked`] while a process holds it) and
//! moves every corrupt region and corrupt ack record into the quarantine folder, one
//! file each, named after the file and byte offset they came from, unchanged, with a
//! JSON sidecar saying where from and why:
//!
//! ```text
//! DIR/quarantine/spool-00000000000000000000.seg-59.bin    the bytes, 0600
//! DIR/quarantine/spool-00000000000000000000.seg-59.json   {"from": ..., "offset": 59, "bytes": 47,
//!                                                          "reason": ..., "entries": 1,
//!                                                          "first_id": 2, "end_id": 3, ...}
//! DIR/quarantine/spool-00000000000000000000.ack-0.bin     corrupt ack records, back to back
//! ```
//!
//! The quarantine files are flushed before the file they came from is rewritten without
//! them (a flushed temporary file renamed over it). Intact entries keep their bytes and
//! ids, so their acknowledgements still apply: the next open replays every intact
//! pending entry, and nothing else. Nothing leaves a spool file without first being in
//! the quarantine folder, which logferry never reads or deletes.
//!
//! # Durability and the fsync trade-off
//!
//! `append` and `ack` write straight to the kernel with `write(2)` (there is no user-space
//! buffer), so **a process crash (`kill -9`, panic, OOM kill) loses nothing that was
//! appended or acknowledged, under every policy**. The [`FsyncPolicy`] only decides what
//! survives an OS crash or power loss:
//!
//! | policy | after `append`/`ack` returned `Ok`, on power loss | cost |
//! |---|---|---|
//! | [`EveryBatch`](FsyncPolicy::EveryBatch) (default) | kept (if the disk honours flushes) | one `fdatasync` per append and per ack |
//! | [`Interval(d)`](FsyncPolicy::Interval) | what was written in the last `d` may be lost | one flush of each written file per `d`, from a background thread |
//! | [`Never`](FsyncPolicy::Never) | whatever the kernel had not written back may be lost | none |
//!
//! Measured by `cargo bench -p logferry-benches --bench spool` on the 2-core development
//! VM (ext4, where one `fdatasync` took about 3 ms), 100 KB entries appended and
//! acknowledged with 32 in flight; the ranges span runs:
//!
//! | policy | append + ack | append alone |
//! |---|---|---|
//! | `Never` | 0.9–1.8 GiB/s | |
//! | `Interval(1 s)` | 525–650 MiB/s | |
//! | `EveryBatch` | 140–175 entries/s (14–18 MB/s) | 330 entries/s (33 MB/s) |
//!
//! `EveryBatch` is therefore bounded by the disk's flush latency: one entry per flush on
//! the appending thread (acks flush on the delivery threads, outside the spool's lock).
//! Larger entries amortise it; `Interval` keeps process-crash safety at memory speed.
//!
//! A lost entry shows up as a torn tail (or a shorter file) and is simply not replayed; a
//! lost ack record makes its entry replay again (a duplicate, never a loss). Under
//! `Interval` and `Never` the caller must not let anything outlive the entries it relies
//! on: a source checkpoint flushed to disk while the entry covering it was not would skip
//! those records after a power loss. To keep checkpoints safe under those policies, store
//! a checkpoint only after a [`Spool::sync`] that followed the append.
//!
//! Segment creation (and, under `EveryBatch`, ack-log creation) also flushes the
//! directory, so a new file's name survives with its contents.
//!
//! # Memory
//!
//! The index keeps 24 bytes per entry still in a segment file (acknowledged entries
//! included until their segment is deleted), plus one open ack log per segment that was
//! acknowledged into. Opening reads one segment file at a time into memory, and so do
//! [`verify`] and [`repair`].

mod config;
mod dir;
mod entry;
mod error;
mod format;
pub mod fuzzing;
mod repair;
mod spool;
mod verify;

pub use config::{FsyncPolicy, SpoolConfig, SpoolStats, WhenFull};
pub use dir::dir_name;
pub use entry::{Entry, EntryError, EntryReader, KIND_LEN};
pub use error::Error;
pub use repair::{Moved, QUARANTINE_DIR, Quarantined, Repair, repair, repair_with};
pub use spool::{EntryId, Replay, Spool};
pub use verify::{
    AckLogReport, CorruptRegion, SegmentReport, TornTail, Verification, verify, verify_with,
};
