//! The followed files' checkpoints: one JSON file, keyed by identity (device, inode and
//! head fingerprint), replaced atomically, written at most about once a second.
//!
//! # Rules
//!
//! - An entry holds the file's identity, its last known path, the acknowledged
//!   position (offset and line of the next record to ship) and a [`Tail`] ending at the
//!   offset the follower last read to (at or past the acknowledged offset, so the bytes
//!   before the acknowledged offset are covered when it is checked again).
//! - Acknowledgements carry a [`FileKey`]: an entry's generation changes each time a
//!   follower starts a new read of it (opened, or restarted from 0 after a truncation or
//!   rewrite), so a late acknowledgement of the old read cannot move the new one, and an
//!   acknowledgement never moves an entry backwards.
//! - Pruning: an entry that is not being followed and whose file was not seen (at its
//!   path, or by device and inode in its directory) for [`PRUNE_AFTER`] is dropped at
//!   the next flush. A file deleted and released by the follower is dropped at once.
//! - A file truncated or rewritten behind the follower leaves a *copy candidate* (its
//!   old content and acknowledged position): a new file whose head and tail match is the
//!   copy made by `copytruncate` and is resumed there. Candidates live [`PRUNE_AFTER`].
//! - An unreadable registry file is renamed `*.corrupt` with a warning and the follower
//!   starts empty: files are then read again (a resend, never a loss).

use super::identity::Content;
use crate::{Error, FileId, Fingerprint, Position, Tail};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long an entry not followed and not found on disk, or a copy candidate, is kept.
pub const PRUNE_AFTER: Duration = Duration::from_secs(3600);

/// One read of one followed file: what an acknowledgement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// The file's device and inode.
    pub id: FileId,
    /// Which read of it (changes on every open and restart from 0).
    pub generation: u64,
}

/// A followed file's state, for `logferry status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// Its last known path.
    pub path: PathBuf,
    /// Device and inode.
    pub id: FileId,
    /// Where the next record to ship starts.
    pub position: Position,
    /// Its size now, when the file is still at that path.
    pub size: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) path: PathBuf,
    /// The path it was first followed at (a rotated file's original name): a new file
    /// there is never skipped by `start_at = end`.
    pub(crate) origin: PathBuf,
    pub(crate) content: Content,
    pub(crate) position: Position,
    pub(crate) generation: u64,
    /// Unix seconds when last found on disk.
    pub(crate) last_seen: u64,
    /// Followed by this process now (never pruned).
    pub(crate) followed: bool,
}

/// Old content of a file truncated or rewritten, waiting for its copy.
#[derive(Debug, Clone)]
pub(crate) struct CopyCandidate {
    pub(crate) content: Content,
    pub(crate) position: Position,
    pub(crate) since: u64,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<FileId, Entry>,
    copies: Vec<CopyCandidate>,
    dirty: bool,
    last_flush: Option<Instant>,
}

/// The followed files' checkpoints, in one JSON file (mode 0600). `Send + Sync`: the
/// follower updates it, acknowledgements move it, [`flush`](Registry::flush) writes it.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    state: Mutex<State>,
    /// Held while the file is written: one writer at a time, the latest state last.
    writing: Mutex<()>,
    generations: AtomicU64,
}

#[derive(Serialize, Deserialize)]
struct StoredFile {
    dev: u64,
    ino: u64,
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    #[serde(flatten)]
    at: StoredPoint,
    last_seen: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredCopy {
    #[serde(flatten)]
    at: StoredPoint,
    since: u64,
}

/// Where a file was shipped to, and its content there (a file's entry and a copy
/// candidate store the same).
#[derive(Serialize, Deserialize)]
struct StoredPoint {
    offset: u64,
    line: u64,
    head_len: u64,
    head_hash: String,
    tail_end: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail_len: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail_hash: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    files: Vec<StoredFile>,
    #[serde(default)]
    copies: Vec<StoredCopy>,
}

fn hex(x: u64) -> String {
    format!("{x:016x}")
}

fn unhex(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s, 16).map_err(|e| format!("bad hash {s:?}: {e}"))
}

impl StoredPoint {
    fn of(position: Position, c: &Content) -> StoredPoint {
        StoredPoint {
            offset: position.offset,
            line: position.line,
            head_len: c.head.head_len,
            head_hash: hex(c.head.head_hash),
            tail_end: c.tail_end,
            tail_len: c.tail.map(|t| t.len),
            tail_hash: c.tail.map(|t| hex(t.hash)),
        }
    }

    fn position(&self) -> Position {
        Position {
            offset: self.offset,
            line: self.line,
        }
    }

    fn content(&self) -> Result<Content, String> {
        let tail = match (self.tail_len, &self.tail_hash) {
            (Some(len), Some(hash)) if len <= self.tail_end => Some(Tail {
                len,
                hash: unhex(hash)?,
            }),
            (None, None) => None,
            _ => return Err("inconsistent tail".into()),
        };
        Ok(Content {
            head: Fingerprint {
                head_len: self.head_len,
                head_hash: unhex(&self.head_hash)?,
                tail: None,
            },
            tail_end: self.tail_end,
            tail,
        })
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn reg_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Checkpoint { op, path, source }
}

impl Registry {
    /// Opens the registry stored at `path` (a file; its directory is created if needed),
    /// or an empty one when there is none. A file that cannot be parsed is set aside as
    /// `PATH.corrupt` with a warning.
    pub fn open(path: impl AsRef<Path>) -> Result<Registry, Error> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(reg_err("create", dir))?;
        }
        let mut state = State::default();
        match fs::read(&path) {
            Ok(bytes) => match parse(&bytes) {
                Ok((entries, copies)) => {
                    state.entries = entries;
                    state.copies = copies;
                }
                Err(why) => {
                    let aside = beside(&path, ".corrupt");
                    tracing::warn!(
                        file = %path.display(),
                        set_aside = %aside.display(),
                        "unreadable registry ({why}); set aside, followed files are read again"
                    );
                    fs::rename(&path, &aside).map_err(reg_err("set aside", &path))?;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(reg_err("read", &path)(e)),
        }
        Ok(Registry {
            path,
            state: Mutex::new(state),
            writing: Mutex::new(()),
            generations: AtomicU64::new(1),
        })
    }

    /// The registry file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the entry of `key` to `position` (the end of a batch now safe). Ignored when
    /// the entry has been read again since (another generation), is gone, or is already
    /// past `position`. Writes the file when the last write is a second old or more.
    pub fn update(&self, key: FileKey, position: Position) {
        let flush_due = {
            let mut state = self.lock();
            let Some(entry) = state.entries.get_mut(&key.id) else {
                return;
            };
            if entry.generation != key.generation || entry.position.offset >= position.offset {
                return;
            }
            entry.position = position;
            state.dirty = true;
            state
                .last_flush
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        };
        if flush_due && let Err(e) = self.flush() {
            tracing::warn!(error = %crate_chain(&e), "cannot write the followed files' registry");
        }
    }

    /// Writes the registry if it changed since the last write: temporary file (0600),
    /// fsync, rename, fsync of the directory. Prunes entries first (see the module docs).
    pub fn flush(&self) -> Result<(), Error> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let json = {
            let mut state = self.lock();
            state.last_flush = Some(Instant::now());
            let now = unix_now();
            let before = (state.entries.len(), state.copies.len());
            let prune = PRUNE_AFTER.as_secs();
            state
                .entries
                .retain(|_, e| e.followed || now.saturating_sub(e.last_seen) < prune);
            state.copies.retain(|c| now.saturating_sub(c.since) < prune);
            if (state.entries.len(), state.copies.len()) != before {
                state.dirty = true;
            }
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
            serde_json::to_vec_pretty(&to_stored(&state)).expect("the registry serializes")
        };
        write_atomically(&self.path, &json).inspect_err(|_| {
            // Written next time.
            self.lock().dirty = true;
        })
    }

    /// Every entry, with the file's size now when it is still at its path.
    pub fn entries(&self) -> Vec<FileState> {
        let entries: Vec<_> = self
            .lock()
            .entries
            .iter()
            .map(|(id, e)| (*id, e.path.clone(), e.position))
            .collect();
        let mut states: Vec<_> = entries
            .into_iter()
            .map(|(id, path, position)| {
                let size = fs::metadata(&path)
                    .ok()
                    .filter(|m| FileId::of(m) == Some(id))
                    .map(|m| m.len());
                FileState {
                    path,
                    id,
                    position,
                    size,
                }
            })
            .collect();
        states.sort_by(|a, b| a.path.cmp(&b.path));
        states
    }

    // --- the follower's side ---

    pub(crate) fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn get(&self, id: FileId) -> Option<Entry> {
        self.lock().entries.get(&id).cloned()
    }

    pub(crate) fn all(&self) -> Vec<(FileId, Entry)> {
        let mut all: Vec<_> = self
            .lock()
            .entries
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        all.sort_by(|a, b| a.1.path.cmp(&b.1.path));
        all
    }

    pub(crate) fn knows_path(&self, path: &Path) -> bool {
        self.lock()
            .entries
            .values()
            .any(|e| e.path == path || e.origin == path)
    }

    /// Starts a new read of `id`: returns its key.
    pub(crate) fn begin(
        &self,
        id: FileId,
        path: &Path,
        content: Content,
        position: Position,
    ) -> FileKey {
        let generation = self.next_generation();
        let mut state = self.lock();
        let origin = state
            .entries
            .get(&id)
            .map_or_else(|| path.to_path_buf(), |e| e.origin.clone());
        state.entries.insert(
            id,
            Entry {
                origin,
                path: path.to_path_buf(),
                content,
                position,
                generation,
                last_seen: unix_now(),
                followed: true,
            },
        );
        state.dirty = true;
        FileKey { id, generation }
    }

    /// The follower read `key` to `content.tail_end` (new head and tail), at `path`.
    pub(crate) fn note_read(&self, key: FileKey, path: &Path, content: Content) {
        let mut state = self.lock();
        if let Some(e) = state.entries.get_mut(&key.id)
            && e.generation == key.generation
        {
            e.content = content;
            if e.path != path {
                e.path = path.to_path_buf();
            }
            e.last_seen = unix_now();
            state.dirty = true;
        }
    }

    /// The entry of `id` is (or is no longer) followed; `seen` refreshes its last sight.
    pub(crate) fn set_followed(&self, id: FileId, followed: bool) {
        let mut state = self.lock();
        if let Some(e) = state.entries.get_mut(&id) {
            e.followed = followed;
            e.last_seen = unix_now();
        }
    }

    pub(crate) fn seen(&self, id: FileId, path: &Path) {
        let mut state = self.lock();
        if let Some(e) = state.entries.get_mut(&id) {
            e.last_seen = unix_now();
            if e.path != path {
                e.path = path.to_path_buf();
                state.dirty = true;
            }
        }
    }

    pub(crate) fn remove(&self, id: FileId) {
        let mut state = self.lock();
        if state.entries.remove(&id).is_some() {
            state.dirty = true;
        }
    }

    /// Remembers `entry`'s old content and position as a copy candidate.
    pub(crate) fn add_copy(&self, content: Content, position: Position) {
        if position.offset == 0 {
            return;
        }
        let mut state = self.lock();
        if state.copies.iter().any(|c| c.content == content) {
            return;
        }
        state.copies.push(CopyCandidate {
            content,
            position,
            since: unix_now(),
        });
        // Bounded: the oldest go first.
        let excess = state.copies.len().saturating_sub(256);
        state.copies.drain(..excess);
        state.dirty = true;
    }

    pub(crate) fn copies(&self) -> Vec<CopyCandidate> {
        self.lock().copies.clone()
    }

    pub(crate) fn take_copy(&self, content: &Content) {
        let mut state = self.lock();
        state.copies.retain(|c| c.content != *content);
        state.dirty = true;
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %crate_chain(&e), "cannot write the followed files' registry");
        }
    }
}

fn crate_chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn to_stored(state: &State) -> Stored {
    let mut files: Vec<_> = state
        .entries
        .iter()
        .map(|(id, e)| StoredFile {
            dev: id.dev,
            ino: id.ino,
            path: e.path.to_string_lossy().into_owned(),
            origin: (e.origin != e.path).then(|| e.origin.to_string_lossy().into_owned()),
            at: StoredPoint::of(e.position, &e.content),
            last_seen: e.last_seen,
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let copies = state
        .copies
        .iter()
        .map(|c| StoredCopy {
            at: StoredPoint::of(c.position, &c.content),
            since: c.since,
        })
        .collect();
    Stored {
        version: 1,
        files,
        copies,
    }
}

type Parsed = (HashMap<FileId, Entry>, Vec<CopyCandidate>);

fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let stored: Stored = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if stored.version != 1 {
        return Err(format!("unknown version {}", stored.version));
    }
    let mut entries = HashMap::new();
    for f in stored.files {
        if f.at.line == 0 {
            return Err(format!("{}: line 0", f.path));
        }
        let content = f.at.content()?;
        entries.insert(
            FileId {
                dev: f.dev,
                ino: f.ino,
            },
            Entry {
                origin: PathBuf::from(f.origin.as_deref().unwrap_or(&f.path)),
                path: PathBuf::from(f.path),
                content,
                position: f.at.position(),
                generation: 0,
                last_seen: f.last_seen,
                followed: false,
            },
        );
    }
    let mut copies = Vec::new();
    for c in stored.copies {
        copies.push(CopyCandidate {
            content: c.at.content()?,
            position: Position {
                line: c.at.line.max(1),
                ..c.at.position()
            },
            since: c.since,
        });
    }
    Ok((entries, copies))
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = beside(path, ".tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(reg_err("write", &tmp)(e));
    }
    fs::rename(&tmp, path).map_err(reg_err("rename", path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(reg_err("sync", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_registry_is_set_aside_and_an_update_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("files.json");
        fs::write(&path, b"{not json").unwrap();
        let reg = Registry::open(&path).unwrap();
        assert!(dir.path().join("files.json.corrupt").exists());
        assert!(reg.entries().is_empty());
        let id = FileId { dev: 1, ino: 2 };
        let content = Content {
            head: Fingerprint::of(b"abc\n"),
            tail_end: 4,
            tail: Some(Tail::of(b"abc\n")),
        };
        let key = reg.begin(id, Path::new("/x/a.log"), content, Position::START);
        reg.update(key, Position { offset: 4, line: 2 });
        // A stale generation does not move it.
        reg.update(
            FileKey {
                id,
                generation: key.generation + 100,
            },
            Position { offset: 9, line: 3 },
        );
        reg.flush().unwrap();
        drop(reg);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let reg = Registry::open(&path).unwrap();
        let e = reg.get(id).unwrap();
        assert_eq!(e.position, Position { offset: 4, line: 2 });
        assert_eq!(e.content, content);
    }
}

#[cfg(test)]
mod prune_tests {
    use super::*;

    #[test]
    fn entries_not_seen_for_an_hour_and_not_followed_are_pruned_at_the_next_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("files.json");
        let now = unix_now();
        let entry = |ino: u64, last_seen: u64| {
            serde_json::json!({
                "dev": 1, "ino": ino, "path": format!("/gone/{ino}.log"), "offset": 10,
                "line": 2, "head_len": 10, "head_hash": "00000000000000aa", "tail_end": 10,
                "last_seen": last_seen
            })
        };
        let json = serde_json::json!({
            "version": 1,
            "files": [entry(1, now - PRUNE_AFTER.as_secs() - 5), entry(2, now - 60)],
        });
        fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.entries().len(), 2);
        reg.flush().unwrap();
        let left: Vec<u64> = reg.entries().iter().map(|e| e.id.ino).collect();
        assert_eq!(left, vec![2]);
        drop(reg);
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.entries().len(), 1, "the pruned registry was written");
    }
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_updates_and_flushes_leave_a_whole_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("files.json");
        let reg = Arc::new(Registry::open(&path).unwrap());
        let keys: Vec<FileKey> = (0..4)
            .map(|i| {
                let content = Content {
                    head: Fingerprint::of(b"x"),
                    tail_end: 0,
                    tail: None,
                };
                reg.begin(
                    FileId { dev: 1, ino: i },
                    Path::new("/a"),
                    content,
                    Position::START,
                )
            })
            .collect();
        let threads: Vec<_> = keys
            .into_iter()
            .map(|key| {
                let reg = reg.clone();
                std::thread::spawn(move || {
                    for n in 1..=30u64 {
                        reg.update(
                            key,
                            Position {
                                offset: n * 10,
                                line: n + 1,
                            },
                        );
                        reg.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(reg);
        let reg = Registry::open(&path).unwrap();
        assert!(!dir.path().join("files.json.corrupt").exists());
        let offsets: Vec<u64> = reg.entries().iter().map(|e| e.position.offset).collect();
        assert_eq!(offsets, vec![300; 4]);
    }
}
