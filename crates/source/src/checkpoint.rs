//! Checkpoints: how far each file has been shipped, stored one small JSON file per
//! source, each replaced atomically.

use crate::{Error, Input, Resume, Source, SourceConfig};
use logferry_framing::{Position, SourceRange};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// What an earlier run's checkpoint says about a file uploaded whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlierUpload {
    /// No upload recorded, or the file was replaced, rewritten or truncated since.
    None,
    /// Uploaded whole and unchanged since: this many bytes.
    Unchanged(u64),
    /// Uploaded whole when it was `uploaded` bytes long; it has grown to `now`.
    Grew {
        /// Its size when uploaded.
        uploaded: u64,
        /// Its size now.
        now: u64,
    },
}

/// How many bytes at the start of a file its [`Fingerprint`] covers, at most.
pub const HEAD_BYTES: usize = 4096;

/// How many bytes just before a checkpoint's offset its [`Tail`] covers, at most.
pub const TAIL_BYTES: usize = 4096;

/// Identifies a file's content, so a checkpoint is only reused for the same file with the
/// same bytes before the checkpoint: a hash of the first `head_len` bytes, where
/// `head_len` is the file's length up to [`HEAD_BYTES`] when the checkpoint was taken,
/// and a [`Tail`]: a hash of the bytes just before the checkpoint's offset.
///
/// A file that only grew keeps its fingerprint (its first `head_len` bytes and the bytes
/// before the checkpoint do not change); a file truncated and rewritten, or replaced by
/// another, almost surely does not, even when the first 4 KiB are the same (a banner or
/// header block): its tail differs. A rewrite that changes only bytes both after the
/// head and more than [`TAIL_BYTES`] before the checkpoint goes unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// How many bytes the hash covers.
    pub head_len: u64,
    /// 64-bit FNV-1a of those bytes.
    pub head_hash: u64,
    /// The bytes just before the checkpoint's offset, when known: `None` for checkpoints
    /// stored by versions without it (then only the head is compared, as before), for
    /// templates ([`Fingerprint::of`]), and where a file cannot be read at an offset
    /// without moving its cursor (non-Unix platforms).
    pub tail: Option<Tail>,
}

/// A hash of the `len` bytes that end at a checkpoint's offset (`len` is the offset up to
/// [`TAIL_BYTES`]): a file rewritten in place behind an unchanged head no longer matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tail {
    /// How many bytes the hash covers, ending at the checkpoint's offset.
    pub len: u64,
    /// 64-bit FNV-1a of those bytes.
    pub hash: u64,
}

impl Tail {
    /// The tail of a checkpoint whose offset is just after `before` (only the last
    /// [`TAIL_BYTES`] count).
    pub fn of(before: &[u8]) -> Self {
        let before = &before[before.len().saturating_sub(TAIL_BYTES)..];
        Self {
            len: before.len() as u64,
            hash: fnv1a(before),
        }
    }

    /// Reads the tail of `file` at `offset` (the [`TAIL_BYTES`], or fewer at the start,
    /// ending at `offset`) without moving the file's cursor. `Ok(None)` where the platform
    /// cannot read at an offset (non-Unix); an error if the file is shorter than `offset`.
    pub fn read(file: &File, offset: u64) -> io::Result<Option<Self>> {
        read_before(file, offset, offset.min(TAIL_BYTES as u64)).map(|b| b.map(|b| Self::of(&b)))
    }

    /// True when `file`'s `len` bytes ending at `offset` still hash the same. `Ok(true)`
    /// where the platform cannot read at an offset (non-Unix: as before tails existed).
    pub fn matches(&self, file: &File, offset: u64) -> io::Result<bool> {
        if self.len > offset {
            return Ok(false);
        }
        Ok(read_before(file, offset, self.len)?.is_none_or(|b| fnv1a(&b) == self.hash))
    }
}

/// The `len` bytes of `file` ending at `offset`, read without moving the cursor.
#[cfg(unix)]
fn read_before(file: &File, offset: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let size = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut buf = vec![0; size];
    file.read_exact_at(&mut buf, offset - len)?;
    Ok(Some(buf))
}

#[cfg(not(unix))]
fn read_before(_file: &File, _offset: u64, _len: u64) -> io::Result<Option<Vec<u8>>> {
    Ok(None)
}

impl Fingerprint {
    /// The fingerprint of a file whose first bytes are `head` (only the first
    /// [`HEAD_BYTES`] count), without a [`Tail`].
    pub fn of(head: &[u8]) -> Self {
        let head = &head[..head.len().min(HEAD_BYTES)];
        Self {
            head_len: head.len() as u64,
            head_hash: fnv1a(head),
            tail: None,
        }
    }

    /// True when a file whose first bytes are `head` has this fingerprint: it is at least
    /// `head_len` long and those bytes hash the same.
    pub fn matches(&self, head: &[u8]) -> bool {
        usize::try_from(self.head_len)
            .ok()
            .and_then(|n| head.get(..n))
            .is_some_and(|h| fnv1a(h) == self.head_hash)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A file's device and inode numbers: finds a checkpoint again after the file was
/// renamed (log rotation by `mv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The id of the file `meta` describes, where the platform has one.
    pub fn of(meta: &fs::Metadata) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(Self {
                dev: meta.dev(),
                ino: meta.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }
}

/// How far a file has been shipped: records before `position` need not be sent again,
/// provided the file still has the same `fingerprint` and is at least that long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The file's canonical path: the key of the checkpoint.
    pub path: PathBuf,
    /// The file's device and inode, where available.
    pub file_id: Option<FileId>,
    /// Where the next record to ship starts.
    pub position: Position,
    /// The file's head when the checkpoint was taken.
    pub fingerprint: Fingerprint,
}

impl Checkpoint {
    /// The checkpoint to store once the batch covering `range` is safe: this template
    /// moved to just after the range, with the [`Tail`] of the file there (read from the
    /// file at the template's path, which must still be the file with the template's
    /// device and inode).
    ///
    /// None when the template's fingerprint (the file's first bytes when it was opened)
    /// covers less than what the checkpoint would skip: a file that was empty or short at
    /// open and grew while read. Such a fingerprint matches too many files (an empty one
    /// matches any), so a file replaced at the same path would be resumed part-way in and
    /// its start never sent; without a checkpoint the next run reads it again instead.
    /// None too when the tail cannot be read from the same file (it was renamed, removed
    /// or truncated since it was read): again a resend, never a loss. Where files have no
    /// device and inode (non-Unix) the checkpoint has no tail.
    pub fn after(&self, range: &SourceRange) -> Option<Checkpoint> {
        if self.fingerprint.head_len < range.end.min(HEAD_BYTES as u64) {
            return None;
        }
        let tail = match self.file_id {
            Some(id) => {
                let file = File::open(&self.path).ok()?;
                let same = file.metadata().ok().and_then(|m| FileId::of(&m)) == Some(id);
                if !same {
                    return None;
                }
                Tail::read(&file, range.end).ok()?
            }
            None => None,
        };
        Some(Checkpoint {
            position: Position {
                offset: range.end,
                line: range.last_line + 1,
            },
            fingerprint: Fingerprint {
                tail,
                ..self.fingerprint
            },
            ..self.clone()
        })
    }
}

/// The JSON form of a checkpoint file.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    version: u32,
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file_id: Option<FileId>,
    offset: u64,
    line: u64,
    head_len: u64,
    /// Hex, so tools that read JSON numbers as doubles keep every bit.
    head_hash: String,
    /// Absent in checkpoints stored before tails existed (then not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail_len: Option<u64>,
    /// Hex, like `head_hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tail_hash: Option<String>,
}

impl Stored {
    fn from_checkpoint(c: &Checkpoint) -> Self {
        Self {
            version: 1,
            path: c.path.to_string_lossy().into_owned(),
            file_id: c.file_id,
            offset: c.position.offset,
            line: c.position.line,
            head_len: c.fingerprint.head_len,
            head_hash: format!("{:016x}", c.fingerprint.head_hash),
            tail_len: c.fingerprint.tail.map(|t| t.len),
            tail_hash: c.fingerprint.tail.map(|t| format!("{:016x}", t.hash)),
        }
    }

    fn into_checkpoint(self) -> Option<Checkpoint> {
        if self.version != 1 || self.line == 0 {
            return None;
        }
        let tail = match (self.tail_len, self.tail_hash) {
            (Some(len), Some(hash)) => Some(Tail {
                len,
                hash: u64::from_str_radix(&hash, 16).ok()?,
            }),
            (None, None) => None,
            _ => return None,
        };
        Some(Checkpoint {
            path: PathBuf::from(self.path),
            file_id: self.file_id,
            position: Position {
                offset: self.offset,
                line: self.line,
            },
            fingerprint: Fingerprint {
                head_len: self.head_len,
                head_hash: u64::from_str_radix(&self.head_hash, 16).ok()?,
                tail,
            },
        })
    }
}

/// Checkpoint store options. `CheckpointConfig::default()` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Flush each checkpoint file and the directory to stable storage before
    /// [`Checkpoints::store`] returns (two flushes per store: about 6 ms on the
    /// development VM's disk, so store at most every few batches, or turn this off).
    ///
    /// Without it a checkpoint still survives a process crash (the rename is atomic);
    /// after a power loss it may be older than the last store, or unreadable (then
    /// ignored): more resending, never a loss, provided the spooled entries it covers
    /// were durable when it was stored (spool `FsyncPolicy::EveryBatch`, or a spool sync
    /// before the store). Default: `true`.
    pub fsync: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self { fsync: true }
    }
}

/// The checkpoints of every file shipped from one spool directory, kept in
/// `DIR/checkpoints/`: one JSON file per source, named by a hash of its canonical path,
/// replaced atomically on each [`store`](Checkpoints::store) (temporary file, flush,
/// rename, flush of the directory).
///
/// `Checkpoints` is `Send + Sync`; stores of different sources do not wait for each other
/// beyond an in-memory map update.
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    config: CheckpointConfig,
    by_path: Mutex<HashMap<PathBuf, Checkpoint>>,
}

/// Name of the directory, inside the spool directory, that holds checkpoint files.
pub const CHECKPOINT_DIR: &str = "checkpoints";

fn file_name(path: &Path) -> String {
    format!("{:016x}.json", fnv1a(path.to_string_lossy().as_bytes()))
}

fn ck_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Checkpoint { op, path, source }
}

impl Checkpoints {
    /// Opens (creating if needed) the checkpoint store of spool directory `spool_dir`, and
    /// loads every checkpoint. A checkpoint file that cannot be parsed is ignored with a
    /// warning (its file is then read from the start: a resend, never a loss); leftover
    /// temporary files from an interrupted store are deleted.
    pub fn open(spool_dir: impl AsRef<Path>, config: CheckpointConfig) -> Result<Self, Error> {
        let dir = spool_dir.as_ref().join(CHECKPOINT_DIR);
        fs::create_dir_all(&dir).map_err(ck_err("create", &dir))?;
        let mut by_path = HashMap::new();
        for entry in fs::read_dir(&dir).map_err(ck_err("list", &dir))? {
            let entry = entry.map_err(ck_err("list", &dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                fs::remove_file(&path).map_err(ck_err("delete", &path))?;
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let bytes = fs::read(&path).map_err(ck_err("read", &path))?;
            match serde_json::from_slice::<Stored>(&bytes)
                .ok()
                .and_then(Stored::into_checkpoint)
            {
                Some(c) => {
                    by_path.insert(c.path.clone(), c);
                }
                None => tracing::warn!(
                    file = %path.display(),
                    "ignoring an unreadable checkpoint file; its source will be read from the start"
                ),
            }
        }
        Ok(Self {
            dir,
            config,
            by_path: Mutex::new(by_path),
        })
    }

    /// The checkpoint for the file at canonical path `path`, or else for the file with
    /// id `file_id` (the same file, renamed).
    pub fn find(&self, path: &Path, file_id: Option<FileId>) -> Option<Checkpoint> {
        let map = self.by_path.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(path) {
            return Some(c.clone());
        }
        let id = file_id?;
        map.values().find(|c| c.file_id == Some(id)).cloned()
    }

    /// Every checkpoint, in no particular order.
    pub fn all(&self) -> Vec<Checkpoint> {
        let map = self.by_path.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().cloned().collect()
    }

    /// Records `checkpoint`, replacing the one for the same path, durably (see
    /// [`CheckpointConfig::fsync`]) before returning.
    pub fn store(&self, checkpoint: &Checkpoint) -> Result<(), Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let json = serde_json::to_vec(&Stored::from_checkpoint(checkpoint))
            .expect("a checkpoint always serializes");
        let target = self.dir.join(file_name(&checkpoint.path));
        let tmp = self.dir.join(format!(
            "{}.{}.tmp",
            file_name(&checkpoint.path),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // Readable by the owner only, like the spool beside it.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&tmp).and_then(|mut f| {
            f.write_all(&json)?;
            if self.config.fsync {
                f.sync_all()?;
            }
            Ok(())
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(ck_err("write", &tmp)(e));
        }
        if let Err(e) = fs::rename(&tmp, &target) {
            let _ = fs::remove_file(&tmp);
            return Err(ck_err("rename", &target)(e));
        }
        if self.config.fsync {
            sync_dir(&self.dir).map_err(ck_err("sync", &self.dir))?;
        }
        self.by_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(checkpoint.path.clone(), checkpoint.clone());
        Ok(())
    }

    /// What an earlier run's upload of `path` says now: its checkpoint
    /// ([`record_upload`](Checkpoints::record_upload)) still matches (the same head, as
    /// [`Source::open`] decides) and sits at the file's end of a non-empty file
    /// (`Unchanged`), or before it (`Grew`); anything else (no upload, truncated,
    /// replaced) is `None`.
    pub fn uploaded(&self, path: &Path) -> EarlierUpload {
        let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let Ok(source) = Source::open(
            &Input::File(path.to_path_buf()),
            &SourceConfig::default(),
            Some(self),
        ) else {
            return EarlierUpload::None;
        };
        match source.resume() {
            Resume::Continued(at) if at.offset == size && size > 0 => {
                EarlierUpload::Unchanged(size)
            }
            Resume::Continued(at) if at.offset > 0 && at.offset < size => EarlierUpload::Grew {
                uploaded: at.offset,
                now: size,
            },
            _ => EarlierUpload::None,
        }
    }

    /// Records that `path` was uploaded whole, `bytes` long: a checkpoint at `bytes` with
    /// the file's head fingerprint, so [`uploaded`](Checkpoints::uploaded) finds it. Does
    /// nothing for what is not a regular file (no checkpoints).
    pub fn record_upload(&self, path: &Path, bytes: u64) -> Result<(), Error> {
        let source = Source::open(
            &Input::File(path.to_path_buf()),
            &SourceConfig::default(),
            None,
        )?;
        let end = Position {
            offset: bytes,
            line: 1,
        };
        match source.checkpoint(end) {
            Some(c) => self.store(&c),
            None => Ok(()),
        }
    }

    /// The directory holding the checkpoint files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(head: &[u8]) -> Checkpoint {
        Checkpoint {
            path: "/var/log/app.log".into(),
            file_id: None,
            position: Position::START,
            fingerprint: Fingerprint::of(head),
        }
    }

    fn range(end: u64) -> SourceRange {
        SourceRange {
            source_name: None,
            start: Position::START,
            end,
            last_line: 3,
        }
    }

    #[test]
    fn no_checkpoint_past_what_the_fingerprint_covers() {
        // Empty at open: its fingerprint matches any file.
        assert_eq!(template(b"").after(&range(100)), None);
        // 10 bytes at open, 100 read: a replacement sharing 10 bytes would match.
        assert_eq!(template(&[b'a'; 10]).after(&range(100)), None);
        // Covered: the whole skipped part, or the full head of a long file.
        let c = template(&[b'a'; 100]).after(&range(100)).unwrap();
        assert_eq!(
            c,
            Checkpoint {
                position: Position {
                    offset: 100,
                    line: 4
                },
                ..template(&[b'a'; 100])
            }
        );
        assert!(
            template(&[b'a'; HEAD_BYTES])
                .after(&range(10 << 20))
                .is_some()
        );
    }

    #[cfg(unix)]
    #[test]
    fn checkpoint_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Checkpoints::open(dir.path(), CheckpointConfig { fsync: false }).unwrap();
        let file = dir.path().join("app.log");
        fs::write(&file, "one\ntwo\n").unwrap();
        store.record_upload(&file, 8).unwrap();
        let stored: Vec<_> = fs::read_dir(dir.path().join(CHECKPOINT_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(stored.len(), 1, "{stored:?}");
        let mode = fs::metadata(&stored[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_upload_is_skipped_only_while_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Checkpoints::open(dir.path(), CheckpointConfig { fsync: false }).unwrap();
        let file = dir.path().join("app.log");
        fs::write(&file, "one\ntwo\n").unwrap();
        assert_eq!(store.uploaded(&file), EarlierUpload::None, "never uploaded");
        store.record_upload(&file, 8).unwrap();
        assert_eq!(store.uploaded(&file), EarlierUpload::Unchanged(8));
        // A second store sees it too (the checkpoint is on disk).
        let reopened = Checkpoints::open(dir.path(), CheckpointConfig { fsync: false }).unwrap();
        assert_eq!(reopened.uploaded(&file), EarlierUpload::Unchanged(8));

        // Appended: uploaded again whole.
        fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(b"three\n"))
            .unwrap();
        assert_eq!(
            store.uploaded(&file),
            EarlierUpload::Grew {
                uploaded: 8,
                now: 14
            }
        );
        store.record_upload(&file, 14).unwrap();
        assert_eq!(store.uploaded(&file), EarlierUpload::Unchanged(14));

        // Replaced by another file of the same length at the same path.
        let other = dir.path().join("other.log");
        fs::write(&other, "ONE\nTWO\nTHREE\n").unwrap();
        fs::rename(&other, &file).unwrap();
        assert_eq!(store.uploaded(&file), EarlierUpload::None);

        // An empty file is never "already uploaded"; a missing one is an error to record.
        let empty = dir.path().join("empty.log");
        fs::write(&empty, "").unwrap();
        store.record_upload(&empty, 0).unwrap();
        assert_eq!(store.uploaded(&empty), EarlierUpload::None);
        assert_eq!(
            store.uploaded(&dir.path().join("missing.log")),
            EarlierUpload::None
        );
        assert!(matches!(
            store.record_upload(&dir.path().join("missing.log"), 1),
            Err(Error::Open { .. })
        ));
    }

    #[test]
    fn fingerprint_survives_growth_but_not_rewrites() {
        let fp = Fingerprint::of(b"hello\n");
        assert!(fp.matches(b"hello\n"));
        assert!(fp.matches(b"hello\nmore lines\n"));
        assert!(!fp.matches(b"hello"));
        assert!(!fp.matches(b"jello\n"));
        let long = vec![b'x'; 10_000];
        assert_eq!(Fingerprint::of(&long).head_len, HEAD_BYTES as u64);
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
