//! Who a file is: device and inode plus the content fingerprints, and the checks that
//! tell "the same file, grown" from "another file" (inode reuse, rewrite, truncation).

use crate::{FileId, Fingerprint, HEAD_BYTES, Tail};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// What the registry remembers of a file's content: its head fingerprint (without tail)
/// and the [`Tail`] ending at `tail_end`, an offset the follower read to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Content {
    pub(crate) head: Fingerprint,
    pub(crate) tail_end: u64,
    pub(crate) tail: Option<Tail>,
}

/// How a file on disk compares with remembered [`Content`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Same head, and the tail still matches: the same bytes, perhaps grown.
    Same,
    /// Shorter than the remembered tail's end: truncated (or another file).
    Shorter,
    /// Long enough, but the head or tail differs: rewritten (or another file).
    Different,
}

/// The fingerprint of `file`'s first min(size, [`HEAD_BYTES`]) bytes.
pub(crate) fn head_of(file: &File, size: u64) -> io::Result<Fingerprint> {
    let len = size.min(HEAD_BYTES as u64);
    Ok(Fingerprint::of(&read_at(file, 0, len)?))
}

/// The `len` bytes at `offset`, without moving the cursor.
pub(crate) fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Compares `file` (of `size` bytes) with `content`.
pub(crate) fn verify(file: &File, size: u64, content: &Content) -> io::Result<Verdict> {
    if size < content.head.head_len || size < content.tail_end {
        return Ok(Verdict::Shorter);
    }
    let head = read_at(file, 0, content.head.head_len)?;
    if !content.head.matches(&head) {
        return Ok(Verdict::Different);
    }
    if let Some(tail) = content.tail
        && !tail.matches(file, content.tail_end)?
    {
        return Ok(Verdict::Different);
    }
    Ok(Verdict::Same)
}

/// A regular file's id and size, from its metadata.
pub(crate) fn id_of(meta: &fs::Metadata) -> Option<FileId> {
    meta.is_file().then(|| FileId::of(meta)).flatten()
}

/// The regular files directly in `dir` (not following symlinks to directories), with
/// their ids; errors read as "none".
pub(crate) fn files_in(dir: &Path) -> Vec<(PathBuf, FileId)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let meta = fs::metadata(&path).ok()?;
            Some((path, id_of(&meta)?))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}
