//! The spool: segment files on disk, their in-memory index, and append / ack / replay
//! under one lock.

use crate::format::{self, ACK_LEN, HEADER_LEN};
use crate::{Error, FsyncPolicy, SpoolConfig, SpoolStats, WhenFull};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The id of an appended entry: unique within a spool directory while the entry is in
/// it, increasing in append order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(u64);

impl EntryId {
    /// An id from its number (for tests and for callers that stored one).
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The id's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// File name of the segment whose first entry id is `first`.
pub(crate) fn segment_name(first: u64) -> String {
    format!("spool-{first:020}.seg")
}

/// File name of the ack log of the segment whose first entry id is `first`.
pub(crate) fn ack_name(first: u64) -> String {
    format!("spool-{first:020}.ack")
}

/// Parses `spool-<20 digits>.<ext>`.
pub(crate) fn parse_name(name: &str, ext: &str) -> Option<u64> {
    let digits = name.strip_prefix("spool-")?.strip_suffix(ext)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u64,
    offset: u64,
    len: u32,
    /// Acknowledged, or gone (found corrupt during replay).
    done: bool,
}

#[derive(Debug)]
struct Segment {
    slots: Vec<Slot>,
    /// Slots not done.
    live: u64,
    /// Bytes of the segment file that the spool accounts for.
    size: u64,
    /// The ack log, opened on the first ack.
    ack: Option<Arc<File>>,
    /// Bytes of whole records in the ack log.
    ack_len: u64,
    ack_dirty: bool,
}

impl Segment {
    fn slot_mut(&mut self, id: u64) -> Option<&mut Slot> {
        let i = self.slots.binary_search_by_key(&id, |s| s.id).ok()?;
        self.slots.get_mut(i)
    }

    /// Marks `id` done in memory; true if it was live.
    fn finish(&mut self, id: u64) -> bool {
        match self.slot_mut(id) {
            Some(slot) if !slot.done => {
                slot.done = true;
                self.live -= 1;
                true
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Writer {
    first: u64,
    file: Arc<File>,
    dirty: bool,
}

#[derive(Debug)]
struct State {
    segments: BTreeMap<u64, Segment>,
    writer: Option<Writer>,
    next_id: u64,
    stats: SpoolStats,
    closed: bool,
    dir_dirty: bool,
    /// Entries dropped by [`WhenFull::DropOldest`] and not acknowledged since: an ack
    /// that comes for one (its batch was still in memory, and delivered) means it was
    /// not lost after all.
    dropped: std::collections::BTreeSet<u64>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    /// `DIR/spool.lock`, locked exclusively for as long as this spool is open: two
    /// processes appending to one spool would interleave ids and delete each other's
    /// segments. The lock goes with the process (a `kill -9` releases it).
    _lock: fs::File,
    config: SpoolConfig,
    segment_bytes: u64,
    state: Mutex<State>,
    /// Signalled when space may have been freed, and on shutdown.
    space: Condvar,
    stop: Mutex<bool>,
    stop_signal: Condvar,
}

/// A crash-safe on-disk queue of opaque entries (see the crate docs for the layout and
/// the guarantees).
///
/// `Spool` is `Send + Sync`: share it (`Arc<Spool>`) between the thread that appends and
/// the tasks that acknowledge.
#[derive(Debug)]
pub struct Spool {
    inner: Arc<Inner>,
    flusher: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves the index as consistent as any
    // crash would leave the files; carry on rather than poison every later call.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("sync", dir))
}

#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<(), Error> {
    Ok(())
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl Inner {
    fn path(&self, name: String) -> PathBuf {
        self.dir.join(name)
    }

    fn syncs(&self) -> bool {
        self.config.fsync != FsyncPolicy::Never
    }

    /// After the last live entry of segment `first` is settled: deletes the segment,
    /// unless appends still go to it (then wakes a blocked append, which may retire it).
    /// True when it was deleted.
    fn retire_finished(&self, state: &mut State, first: u64) -> bool {
        if state.writer.as_ref().is_some_and(|w| w.first == first) {
            self.space.notify_all();
            return false;
        }
        self.remove_segment(state, first);
        true
    }

    /// Deletes segment `first` (file, then ack log) and forgets it. Returns how many
    /// undelivered entries it still held.
    fn remove_segment(&self, state: &mut State, first: u64) -> u64 {
        let Some(seg) = state.segments.remove(&first) else {
            return 0;
        };
        if state.writer.as_ref().is_some_and(|w| w.first == first) {
            state.writer = None;
        }
        state.stats.bytes -= seg.size;
        state.stats.entries -= seg.live;
        state.stats.segments -= 1;
        drop(seg.ack);
        let seg_path = self.path(segment_name(first));
        // The segment goes first and, unless fsync is off, durably: were the ack log to
        // vanish while the segment survived a power cut, its entries would be replayed.
        match remove_if_exists(&seg_path) {
            Ok(()) => {
                if self.syncs()
                    && let Err(e) = sync_dir(&self.dir)
                {
                    tracing::warn!(error = %e, "spool: directory sync after a delete failed");
                }
                if let Err(e) = remove_if_exists(&self.path(ack_name(first))) {
                    tracing::warn!(segment = %seg_path.display(), error = %e, "spool: cannot delete an ack log");
                }
            }
            Err(e) => {
                tracing::warn!(segment = %seg_path.display(), error = %e,
                    "spool: cannot delete a finished segment; it will be retried at the next open");
            }
        }
        self.space.notify_all();
        seg.live
    }

    /// Stops writing to the current segment: flushes it (unless fsync is off) and
    /// deletes it if nothing in it is undelivered.
    fn seal_writer(&self, state: &mut State) -> Result<(), Error> {
        let Some(writer) = state.writer.take() else {
            return Ok(());
        };
        if writer.dirty && self.syncs() {
            writer
                .file
                .sync_data()
                .map_err(Error::io("sync", self.path(segment_name(writer.first))))?;
        }
        if state
            .segments
            .get(&writer.first)
            .is_some_and(|s| s.live == 0)
        {
            self.remove_segment(state, writer.first);
        }
        Ok(())
    }

    /// Creates a segment for entries from `state.next_id` on and makes it the writer.
    fn start_segment(&self, state: &mut State) -> Result<(), Error> {
        let first = state.next_id;
        let path = self.path(segment_name(first));
        let ack_path = self.path(ack_name(first));
        // Whatever sits under these names holds no live entry (every live id is below
        // next_id), so it is a leftover of a crash: clear it before reusing the name.
        remove_if_exists(&ack_path).map_err(Error::io("delete", &ack_path))?;
        remove_if_exists(&path).map_err(Error::io("delete", &path))?;
        let file = private(OpenOptions::new().append(true).create_new(true))
            .open(&path)
            .map_err(Error::io("create", &path))?;
        match self.config.fsync {
            FsyncPolicy::EveryBatch => sync_dir(&self.dir)?,
            _ => state.dir_dirty = true,
        }
        state.segments.insert(
            first,
            Segment {
                slots: Vec::new(),
                live: 0,
                size: 0,
                ack: None,
                ack_len: 0,
                ack_dirty: false,
            },
        );
        state.stats.segments += 1;
        state.writer = Some(Writer {
            first,
            file: Arc::new(file),
            dirty: false,
        });
        Ok(())
    }

    /// Flushes every file written since the last flush, and the directory.
    fn sync(&self) -> Result<(), Error> {
        let mut files = Vec::new();
        let dir_dirty;
        {
            let mut state = lock(&self.state);
            if let Some(w) = state.writer.as_mut().filter(|w| w.dirty) {
                w.dirty = false;
                files.push((w.file.clone(), segment_name(w.first)));
            }
            for (&first, seg) in &mut state.segments {
                if seg.ack_dirty
                    && let Some(ack) = &seg.ack
                {
                    seg.ack_dirty = false;
                    files.push((ack.clone(), ack_name(first)));
                }
            }
            dir_dirty = std::mem::take(&mut state.dir_dirty);
        }
        if dir_dirty {
            sync_dir(&self.dir)?;
        }
        for (file, name) in files {
            file.sync_data()
                .map_err(Error::io("sync", self.path(name)))?;
        }
        Ok(())
    }
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` and recovers it: every segment is
    /// scanned and checked, torn tails are truncated and corrupt regions skipped (both
    /// logged and counted in [`Spool::stats`]), acknowledgements are applied, and
    /// segments with nothing left to deliver are deleted. New entries go to a new
    /// segment.
    ///
    /// Only one `Spool` may use a directory at a time: a second open, in this process or
    /// another, gets [`Error::Locked`]. Other files in `dir` are left alone.
    pub fn open(dir: impl AsRef<Path>, config: SpoolConfig) -> Result<Spool, Error> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let lock_file = lock_dir(&dir)?;
        let mut seg_ids = BTreeSet::new();
        let mut ack_ids = BTreeSet::new();
        for entry in fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let entry = entry.map_err(Error::io("list", &dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(first) = parse_name(name, ".seg") {
                seg_ids.insert(first);
            } else if let Some(first) = parse_name(name, ".ack") {
                ack_ids.insert(first);
            }
        }
        let inner = Arc::new(Inner {
            segment_bytes: config.effective_segment_bytes(),
            config,
            state: Mutex::new(State {
                segments: BTreeMap::new(),
                writer: None,
                next_id: 0,
                stats: SpoolStats::default(),
                closed: false,
                dir_dirty: false,
                dropped: std::collections::BTreeSet::new(),
            }),
            space: Condvar::new(),
            stop: Mutex::new(false),
            stop_signal: Condvar::new(),
            dir,
            _lock: lock_file,
        });
        {
            let mut state = lock(&inner.state);
            let firsts: Vec<u64> = seg_ids.iter().copied().collect();
            for (i, &first) in firsts.iter().enumerate() {
                let upper = firsts.get(i + 1).copied().unwrap_or(u64::MAX);
                let has_acks = ack_ids.remove(&first);
                recover_segment(&inner, &mut state, first, upper, has_acks)?;
            }
            // Ack logs whose segment is gone: a delete interrupted between the two files.
            for first in ack_ids {
                let path = inner.path(ack_name(first));
                remove_if_exists(&path).map_err(Error::io("delete", &path))?;
            }
        }
        let flusher = match config.fsync {
            FsyncPolicy::Interval(every) => {
                let every = every.max(Duration::from_millis(1));
                let dir = inner.dir.clone();
                let inner = inner.clone();
                let handle = std::thread::Builder::new()
                    .name("logferry-spool-sync".into())
                    .spawn(move || flush_every(&inner, every))
                    .map_err(Error::io("start the sync thread for", dir))?;
                Some(handle)
            }
            _ => None,
        };
        Ok(Spool { inner, flusher })
    }

    /// Appends `payload` and returns its id.
    ///
    /// Under [`FsyncPolicy::EveryBatch`] the entry is on stable storage when this returns
    /// `Ok`; under the other policies it is in the kernel (safe from a process crash) and
    /// flushed later. When the entry would take the spool past
    /// [`SpoolConfig::max_bytes`], [`WhenFull`] decides: wait for acknowledgements to free
    /// a segment, or delete the oldest segment.
    ///
    /// On `Err` nothing was added, except after a failed flush ([`Error::Io`] with op
    /// `sync`), where the entry is in the spool but its durability is unknown.
    pub fn append(&self, payload: &[u8]) -> Result<EntryId, Error> {
        let inner = &*self.inner;
        let config = &inner.config;
        let need = HEADER_LEN as u64 + payload.len() as u64;
        let len = match u32::try_from(payload.len()) {
            Ok(len) if need <= config.max_bytes => len,
            _ => {
                return Err(Error::EntryTooLarge {
                    len: payload.len() as u64,
                    max_bytes: config.max_bytes,
                });
            }
        };
        // Checksummed before the lock: acknowledgements need not wait for it.
        let payload_crc = crc32fast::hash(payload);
        let started = Instant::now();
        let mut state = lock(&inner.state);
        loop {
            if state.closed {
                return Err(Error::Closed);
            }
            if state.stats.bytes + need <= config.max_bytes {
                break;
            }
            // The current segment may be all delivered: retire it to make room.
            if let Some(w) = &state.writer
                && state.segments.get(&w.first).is_some_and(|s| s.live == 0)
            {
                let first = w.first;
                inner.remove_segment(&mut state, first);
                continue;
            }
            match config.when_full {
                WhenFull::DropOldest => {
                    let (&oldest, seg) = state
                        .segments
                        .first_key_value()
                        .expect("a full spool holds a segment: need <= max_bytes < bytes + need");
                    let (bytes, path) = (seg.size, inner.path(segment_name(oldest)));
                    let live: Vec<u64> =
                        seg.slots.iter().filter(|s| !s.done).map(|s| s.id).collect();
                    state.dropped.extend(live);
                    let dropped = inner.remove_segment(&mut state, oldest);
                    state.stats.dropped_oldest += dropped;
                    tracing::warn!(
                        segment = %path.display(),
                        dropped,
                        bytes,
                        total_dropped = state.stats.dropped_oldest,
                        "spool full: dropped the oldest segment with {dropped} undelivered entries"
                    );
                }
                WhenFull::Block => {
                    let waited = started.elapsed();
                    let remaining = match config.block_timeout {
                        Some(limit) if waited >= limit => return Err(Error::Full { waited }),
                        Some(limit) => Some(limit - waited),
                        None => None,
                    };
                    state.stats.blocked_appends += 1;
                    state = match remaining {
                        Some(t) => {
                            inner
                                .space
                                .wait_timeout(state, t)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                        None => inner
                            .space
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner),
                    };
                    state.stats.blocked_appends -= 1;
                }
            }
        }
        let rotate = match &state.writer {
            None => true,
            Some(w) => state
                .segments
                .get(&w.first)
                .is_none_or(|s| s.size > 0 && s.size + need > inner.segment_bytes),
        };
        if rotate {
            inner.seal_writer(&mut state)?;
            inner.start_segment(&mut state)?;
        }
        let id = state.next_id;
        let header = format::encode_header_with_crc(id, len, payload_crc);
        let State {
            segments,
            writer,
            stats,
            next_id,
            ..
        } = &mut *state;
        let w = writer.as_mut().expect("a segment was just started");
        let seg = segments
            .get_mut(&w.first)
            .expect("the writer's segment is indexed");
        let offset = seg.size;
        let written = (&*w.file)
            .write_all(&header)
            .and_then(|()| (&*w.file).write_all(payload));
        if let Err(e) = written {
            let path = inner.path(segment_name(w.first));
            // Cut the partial entry off so the next one starts on a clean boundary; if
            // even that fails, leave the segment (the partial bytes become a torn tail
            // at the next open) and skip the id so the next segment gets a fresh name.
            if w.file.set_len(offset).is_err() {
                *writer = None;
                *next_id += 1;
            }
            return Err(Error::Io {
                op: "write",
                path,
                source: e,
            });
        }
        seg.slots.push(Slot {
            id,
            offset,
            len: u32::try_from(payload.len()).expect("checked above"),
            done: false,
        });
        seg.size += need;
        seg.live += 1;
        stats.bytes += need;
        stats.entries += 1;
        stats.appended += 1;
        *next_id += 1;
        if config.fsync == FsyncPolicy::EveryBatch {
            let (file, first) = (w.file.clone(), w.first);
            drop(state);
            file.sync_data()
                .map_err(Error::io("sync", inner.path(segment_name(first))))?;
        } else {
            w.dirty = true;
        }
        Ok(EntryId(id))
    }

    /// Records that entry `id` was delivered (or handled for good): it will not be
    /// replayed, and its segment is deleted once every entry in it is acknowledged.
    ///
    /// Acknowledgements may come in any order. Acknowledging an entry twice, or one
    /// that is gone (dropped by [`WhenFull::DropOldest`], found corrupt), does nothing.
    /// Under [`FsyncPolicy::EveryBatch`] the acknowledgement is on stable storage when
    /// this returns `Ok`.
    pub fn ack(&self, id: EntryId) -> Result<(), Error> {
        let inner = &*self.inner;
        let mut state = lock(&inner.state);
        if id.0 >= state.next_id {
            return Err(Error::UnknownEntry { id: id.0 });
        }
        if state.dropped.remove(&id.0) {
            state.stats.dropped_then_delivered += 1;
            return Ok(());
        }
        let State {
            segments,
            stats,
            dir_dirty,
            ..
        } = &mut *state;
        let Some((&first, seg)) = segments.range_mut(..=id.0).next_back() else {
            return Ok(());
        };
        if seg.slot_mut(id.0).is_none_or(|s| s.done) {
            return Ok(());
        }
        let ack_path = inner.path(ack_name(first));
        let file = match &seg.ack {
            Some(file) => file.clone(),
            None => {
                let file = private(OpenOptions::new().append(true).create(true))
                    .open(&ack_path)
                    .map_err(Error::io("open", &ack_path))?;
                let file = Arc::new(file);
                seg.ack = Some(file.clone());
                if seg.ack_len == 0 {
                    match inner.config.fsync {
                        FsyncPolicy::EveryBatch => sync_dir(&inner.dir)?,
                        _ => *dir_dirty = true,
                    }
                }
                file
            }
        };
        if let Err(e) = (&*file).write_all(&format::encode_ack(id.0)) {
            // Keep the log a whole number of records; if the cut fails, the misaligned
            // records that follow fail their checksum at the next open (the entries are
            // then replayed again, which at-least-once allows).
            let _ = file.set_len(seg.ack_len);
            return Err(Error::Io {
                op: "write",
                path: ack_path,
                source: e,
            });
        }
        seg.ack_len += ACK_LEN as u64;
        seg.finish(id.0);
        stats.entries -= 1;
        stats.acked += 1;
        let finished = seg.live == 0;
        if inner.config.fsync != FsyncPolicy::EveryBatch {
            seg.ack_dirty = true;
        }
        // Deleting the segment makes the ack moot: no flush needed.
        if finished && inner.retire_finished(&mut state, first) {
            return Ok(());
        }
        if inner.config.fsync == FsyncPolicy::EveryBatch {
            drop(state);
            file.sync_data().map_err(Error::io("sync", ack_path))?;
        }
        Ok(())
    }

    /// The entries not yet acknowledged, oldest first, read back from disk and checked
    /// against their checksums.
    ///
    /// The replay covers the entries appended before this call; entries acknowledged or
    /// dropped while it runs are skipped. An entry whose bytes no longer match their
    /// checksum is skipped, counted in [`SpoolStats::corrupt_skipped`] and logged.
    pub fn replay(&self) -> Replay {
        self.replay_from(EntryId(0))
    }

    /// Like [`replay`](Spool::replay), from entry `from` on: the entries not yet
    /// acknowledged with ids at or after `from` and appended before this call. A sender
    /// that could not take entries as they were appended reads them back with it.
    pub fn replay_from(&self, from: EntryId) -> Replay {
        let end = lock(&self.inner.state).next_id;
        Replay {
            inner: self.inner.clone(),
            next: from.0,
            end,
            file: None,
        }
    }

    /// Current counters.
    pub fn stats(&self) -> SpoolStats {
        lock(&self.inner.state).stats
    }

    /// Flushes everything written so far to stable storage now, whatever the policy.
    pub fn sync(&self) -> Result<(), Error> {
        self.inner.sync()
    }

    /// Refuses further appends: appends waiting for space, and later ones, fail with
    /// [`Error::Closed`]. Acknowledgements and replay keep working.
    pub fn shutdown(&self) {
        lock(&self.inner.state).closed = true;
        self.inner.space.notify_all();
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The configuration the spool was opened with.
    pub fn config(&self) -> &SpoolConfig {
        &self.inner.config
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            *lock(&self.inner.stop) = true;
            self.inner.stop_signal.notify_all();
            let _ = flusher.join();
            if let Err(e) = self.inner.sync() {
                tracing::warn!(error = %e, "spool: final sync failed");
            }
        }
    }
}

/// The [`FsyncPolicy::Interval`] thread: flush, wait, until the spool is dropped.
fn flush_every(inner: &Inner, every: Duration) {
    let mut stop = lock(&inner.stop);
    loop {
        stop = inner
            .stop_signal
            .wait_timeout(stop, every)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if *stop {
            return;
        }
        drop(stop);
        if let Err(e) = inner.sync() {
            tracing::warn!(error = %e, "spool: periodic sync failed");
        }
        stop = lock(&inner.stop);
    }
}

/// Cuts the invalid bytes after a segment's last valid entry. What an interrupted
/// append leaves (a torn tail) is truncated; a damaged entry before it (bytes that are
/// no crash's partial write, as [`verify`](crate::verify) tells them apart) is first
/// copied to the quarantine folder, never deleted unseen. False when the bytes stay
/// (they are found again next time).
fn cut_tail(
    inner: &Inner,
    state: &mut State,
    path: &Path,
    tail: std::ops::Range<u64>,
    data: &[u8],
) -> bool {
    let torn_from = crate::verify::torn_from(data, tail.clone());
    if torn_from > tail.start {
        let bytes = &data[tail.start as usize..torn_from as usize];
        let durable = crate::repair::Durable(inner.syncs());
        match crate::repair::quarantine_damaged_tail(&inner.dir, path, tail.start, bytes, durable) {
            Ok(file) => tracing::warn!(segment = %path.display(), offset = tail.start,
                bytes = bytes.len(), quarantine = %file.display(),
                "spool: the last entry of a segment is damaged (not a torn write): moved to quarantine; the entries in it are lost unless they were acknowledged before"),
            Err(e) => {
                tracing::warn!(segment = %path.display(), offset = tail.start, error = %e,
                    "spool: the last entry of a segment is damaged and cannot be quarantined: left in place");
                return false;
            }
        }
        state.stats.quarantined_tails += 1;
        state.stats.quarantined_tail_bytes += torn_from - tail.start;
    }
    if tail.end > torn_from {
        tracing::warn!(segment = %path.display(), offset = torn_from, bytes = tail.end - torn_from,
            "spool: truncated a torn tail (an entry cut short by a crash)");
        state.stats.torn_tail_dropped += 1;
        state.stats.torn_tail_bytes += tail.end - torn_from;
    }
    let cut = OpenOptions::new().write(true).open(path).and_then(|f| {
        f.set_len(tail.start)?;
        if inner.syncs() { f.sync_all() } else { Ok(()) }
    });
    if let Err(e) = cut {
        // Harmless: the tail is found again next time. Account for its bytes.
        tracing::warn!(segment = %path.display(), error = %e, "spool: cannot truncate a segment's invalid tail");
        return false;
    }
    true
}

/// Scans segment `first` (ids below `upper`) at open, repairs what a crash left, applies
/// its ack log, and indexes it or deletes it when nothing in it is undelivered.
fn recover_segment(
    inner: &Inner,
    state: &mut State,
    first: u64,
    upper: u64,
    has_acks: bool,
) -> Result<(), Error> {
    let path = inner.path(segment_name(first));
    let data = fs::read(&path).map_err(Error::io("read", &path))?;
    let scan = format::scan_segment(&data, first..upper);
    let last = scan.entries.last().map_or(first, |e| e.id + 1);
    state.next_id = state.next_id.max(first).max(last);
    for region in &scan.corrupt {
        tracing::warn!(
            segment = %path.display(),
            offset = region.start,
            bytes = region.end - region.start,
            "spool: skipped a corrupt region (checksum or header mismatch); entries in it are lost"
        );
        state.stats.corrupt_skipped += 1;
        state.stats.corrupt_bytes += region.end - region.start;
    }
    let mut size = scan.valid_end;
    if let Some(tail) = &scan.tail
        && !cut_tail(inner, state, &path, tail.clone(), &data)
    {
        size = tail.end;
    }
    drop(data);
    let mut seg = Segment {
        live: scan.entries.len() as u64,
        slots: scan
            .entries
            .iter()
            .map(|e| Slot {
                id: e.id,
                offset: e.offset,
                len: e.len,
                done: false,
            })
            .collect(),
        size,
        ack: None,
        ack_len: 0,
        ack_dirty: false,
    };
    if has_acks {
        let ack_path = inner.path(ack_name(first));
        let data = fs::read(&ack_path).map_err(Error::io("read", &ack_path))?;
        let acks = format::decode_acks(&data);
        if acks.bad > 0 {
            tracing::warn!(ack_log = %ack_path.display(), records = acks.bad,
                "spool: ignored corrupt ack records; their entries will be sent again");
        }
        state.stats.corrupt_acks += acks.bad as u64;
        for id in acks.ids {
            seg.finish(id);
            // An acknowledged id is never handed out again, even when its entry is
            // gone (a damaged last entry cut at open): a new entry under it would be
            // taken for done at the next open.
            state.next_id = state.next_id.max(id + 1);
        }
        if acks.whole_len != data.len() as u64 {
            OpenOptions::new()
                .write(true)
                .open(&ack_path)
                .and_then(|f| f.set_len(acks.whole_len))
                .map_err(Error::io("truncate", &ack_path))?;
        }
        seg.ack_len = acks.whole_len;
    }
    state.stats.bytes += seg.size;
    state.stats.entries += seg.live;
    state.stats.segments += 1;
    let done = seg.live == 0;
    state.segments.insert(first, seg);
    if done {
        inner.remove_segment(state, first);
    }
    Ok(())
}

/// The unacknowledged entries of a spool, oldest first: `(id, payload)` or an I/O error.
/// Returned by [`Spool::replay`]; owns a handle on the spool, so it can move to another
/// thread.
#[derive(Debug)]
pub struct Replay {
    inner: Arc<Inner>,
    next: u64,
    end: u64,
    file: Option<(u64, File)>,
}

impl Replay {
    /// The next live slot at or after `self.next`: `(segment, slot)`.
    fn next_slot(&self) -> Option<(u64, Slot)> {
        let state = lock(&self.inner.state);
        let start = state
            .segments
            .range(..=self.next)
            .next_back()
            .map_or(self.next, |(&first, _)| first);
        for (&first, seg) in state.segments.range(start..) {
            let from = seg.slots.partition_point(|s| s.id < self.next);
            if let Some(slot) = seg.slots[from..].iter().find(|s| !s.done) {
                return (slot.id < self.end).then_some((first, *slot));
            }
        }
        None
    }

    /// Reads and checks the entry in `slot`; `Ok(None)` if it is corrupt.
    fn read(&mut self, first: u64, slot: Slot) -> Result<Option<Vec<u8>>, Error> {
        let path = self.inner.path(segment_name(first));
        let file = match &mut self.file {
            Some((f, file)) if *f == first => file,
            _ => {
                let file = File::open(&path).map_err(Error::io("open", &path))?;
                &mut self.file.insert((first, file)).1
            }
        };
        // Header and payload read apart, so the payload is never moved after the read.
        let mut header = [0u8; HEADER_LEN];
        let mut payload = vec![0u8; slot.len as usize];
        let read = file
            .seek(SeekFrom::Start(slot.offset))
            .and_then(|_| file.read_exact(&mut header))
            .and_then(|()| file.read_exact(&mut payload));
        match read {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::io("read", path)(e)),
        }
        let valid = format::decode_header(&header).is_some_and(|h| {
            h.id == slot.id && h.len == slot.len && h.payload_crc == crc32fast::hash(&payload)
        });
        Ok(valid.then_some(payload))
    }
}

impl Iterator for Replay {
    type Item = Result<(EntryId, Vec<u8>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (first, slot) = self.next_slot()?;
            self.next = slot.id + 1;
            match self.read(first, slot) {
                Ok(Some(payload)) => {
                    // Acknowledged or dropped while we read? Then it is not ours to give.
                    let state = lock(&self.inner.state);
                    let live = state.segments.get(&first).is_some_and(|seg| {
                        seg.slots
                            .binary_search_by_key(&slot.id, |s| s.id)
                            .is_ok_and(|i| !seg.slots[i].done)
                    });
                    if live {
                        return Some(Ok((EntryId(slot.id), payload)));
                    }
                }
                Ok(None) => self.corrupt(first, slot),
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    // The segment was deleted meanwhile (all acknowledged, or dropped).
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Replay {
    /// Forgets an entry whose bytes changed on disk since open.
    fn corrupt(&mut self, first: u64, slot: Slot) {
        let inner = &*self.inner;
        let mut state = lock(&inner.state);
        let Some(seg) = state.segments.get_mut(&first) else {
            return;
        };
        if !seg.finish(slot.id) {
            return;
        }
        let live = seg.live;
        state.stats.entries -= 1;
        state.stats.corrupt_skipped += 1;
        state.stats.corrupt_bytes += HEADER_LEN as u64 + u64::from(slot.len);
        tracing::warn!(
            segment = %inner.path(segment_name(first)).display(),
            offset = slot.offset,
            entry = slot.id,
            "spool: skipped an entry whose checksum no longer matches; it is lost"
        );
        if live == 0 {
            inner.retire_finished(&mut state, first);
        }
    }
}

/// Takes the spool directory's lock file, failing (after a short grace, see below) when another open spool (in
/// this process or another) holds it.
pub(crate) fn lock_dir(dir: &Path) -> Result<fs::File, Error> {
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    // The kernel releases the lock when the last descriptor of the file closes. That can
    // lag a close by moments: a sibling thread's fork holds a copy until its exec, and
    // sandboxed kernels release asynchronously (seen in CI: a drop then an open in one
    // thread found the directory locked). So a held lock is retried briefly before the
    // directory is called locked; a real second owner still fails within the grace.
    let deadline = Instant::now() + LOCK_GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", path)(e)),
        }
    }
}

/// How long [`lock_dir`] waits for a lock that may be on its way out.
const LOCK_GRACE: Duration = Duration::from_millis(500);

/// The lock file's name in a spool directory.
const LOCK_FILE: &str = "spool.lock";

/// Files the spool creates are readable by their owner only: records may carry what
/// other users of the machine must not read.
pub(crate) fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}
