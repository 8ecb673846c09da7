//! An open input: large-chunk reads, the resume decision, and checkpoints of what was
//! read.

use crate::checkpoint::{Checkpoint, Checkpoints, FileId, Fingerprint, HEAD_BYTES, Tail};
use crate::{Error, Input};
use logferry_framing::Position;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// Source options. `SourceConfig::default()` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceConfig {
    /// Bytes asked of the operating system per read, and so the largest chunk
    /// [`Source::read_chunk`] returns. A file read usually fills it; a pipe returns what
    /// it has (often 64 KiB). Default: 1 MiB.
    pub chunk_bytes: usize,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            chunk_bytes: 1 << 20,
        }
    }
}

/// Why a file with a checkpoint is read from the start after all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestartReason {
    /// The file is shorter than the checkpoint's offset (truncated, as by
    /// `logrotate copytruncate`).
    Truncated {
        /// The checkpoint's offset.
        checkpoint: u64,
        /// The file's length now.
        len: u64,
    },
    /// The file's first bytes differ from those at the checkpoint: another file now has
    /// this name.
    Replaced,
    /// The file's first bytes are those at the checkpoint, but the bytes just before the
    /// checkpoint's offset are not: the file was rewritten in place (or replaced by one
    /// with the same header block), so the records after its head may all be new.
    Rewritten {
        /// The checkpoint's offset.
        checkpoint: u64,
    },
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartReason::Truncated { checkpoint, len } => write!(
                f,
                "file is {len} bytes, shorter than its checkpoint at byte {checkpoint}: truncated"
            ),
            RestartReason::Replaced => {
                f.write_str("file's first bytes changed since its checkpoint: replaced")
            }
            RestartReason::Rewritten { checkpoint } => write!(
                f,
                "file's bytes before its checkpoint at byte {checkpoint} changed since (its \
                 first bytes did not): rewritten"
            ),
        }
    }
}

/// Where a [`Source`] starts reading, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resume {
    /// From the start: no checkpoint store, no checkpoint for this file, or an input that
    /// cannot be checkpointed (stdin, a pipe).
    Fresh,
    /// After the checkpoint at this position: what came before was already shipped.
    Continued(Position),
    /// From the start, although a checkpoint existed (logged as a warning).
    Restarted(RestartReason),
}

/// What a regular file needs for checkpoints.
#[derive(Debug)]
struct FileState {
    path: PathBuf,
    file_id: Option<FileId>,
    /// The file's first bytes, up to [`HEAD_BYTES`], as far as known.
    head: Vec<u8>,
    /// The same open file, read at offsets (never moving the cursor) for checkpoint tails.
    handle: File,
}

/// An open input, read in large chunks from its resume position.
///
/// ```no_run
/// # fn main() -> Result<(), logferry_source::Error> {
/// use logferry_source::{Input, Source, SourceConfig};
/// let mut source = Source::open(&Input::Stdin, &SourceConfig::default(), None)?;
/// while let Some(chunk) = source.read_chunk()? {
///     // feed `chunk` to a framer started at `source.start()`
/// #   let _ = chunk;
/// }
/// # Ok(()) }
/// ```
pub struct Source {
    name: Arc<str>,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    offset: u64,
    start: Position,
    resume: Resume,
    file: Option<FileState>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("offset", &self.offset)
            .field("start", &self.start)
            .field("resume", &self.resume)
            .finish_non_exhaustive()
    }
}

/// Reads up to `HEAD_BYTES` from the start of `file`.
fn read_head(file: &mut File) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    file.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

impl Source {
    /// Opens `input`. For a regular file with a checkpoint in `checkpoints` whose
    /// fingerprint still matches (its head, and the bytes just before the checkpoint's
    /// offset where the checkpoint has a [`Tail`]), reading starts at the checkpoint
    /// ([`Resume::Continued`]); if the file was truncated, replaced or rewritten since, it
    /// starts from 0 with a warning ([`Resume::Restarted`]). Stdin, pipes and devices have no
    /// checkpoints and always start at 0.
    pub fn open(
        input: &Input,
        config: &SourceConfig,
        checkpoints: Option<&Checkpoints>,
    ) -> Result<Source, Error> {
        let path = match input {
            Input::Stdin => return Ok(Source::from_reader("<stdin>", io::stdin(), config)),
            Input::File(path) => path,
        };
        let open_err = |source| Error::Open {
            path: path.clone(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if meta.is_dir() {
            return Err(Error::IsDirectory { path: path.clone() });
        }
        let name: Arc<str> = path.display().to_string().into();
        if !meta.is_file() {
            // A FIFO or a device: no length, no seeking, no checkpoints.
            return Ok(Source::from_reader(name, file, config));
        }
        let canonical = std::fs::canonicalize(path).map_err(open_err)?;
        let file_id = FileId::of(&meta);
        let read_err = |source| Error::Read {
            name: name.clone(),
            source,
        };
        let head = read_head(&mut file).map_err(read_err)?;
        let mut resume = Resume::Fresh;
        if let Some(cp) = checkpoints.and_then(|c| c.find(&canonical, file_id)) {
            let len = meta.len();
            let offset = cp.position.offset;
            let head_differs = !cp.fingerprint.matches(&head);
            let tail_differs = || match cp.fingerprint.tail {
                Some(tail) => tail.matches(&file, offset).map(|same| !same),
                None => Ok(false),
            };
            resume = if head_differs && len >= cp.fingerprint.head_len {
                // Long enough to hold the old head, and it differs: whatever its length.
                Resume::Restarted(RestartReason::Replaced)
            } else if len < offset {
                Resume::Restarted(RestartReason::Truncated {
                    checkpoint: offset,
                    len,
                })
            } else if head_differs {
                Resume::Restarted(RestartReason::Replaced)
            } else if tail_differs().map_err(read_err)? {
                Resume::Restarted(RestartReason::Rewritten { checkpoint: offset })
            } else {
                Resume::Continued(cp.position)
            };
        }
        if let Resume::Restarted(reason) = resume {
            tracing::warn!(file = %name, "{reason}; reading it from the start");
        }
        let start = match resume {
            Resume::Continued(position) => position,
            _ => Position::START,
        };
        file.seek(SeekFrom::Start(start.offset)).map_err(read_err)?;
        let handle = file.try_clone().map_err(read_err)?;
        let mut source = Source::from_reader(name, file, config);
        source.offset = start.offset;
        source.start = start;
        source.resume = resume;
        source.file = Some(FileState {
            path: canonical,
            file_id,
            head,
            handle,
        });
        Ok(source)
    }

    /// A source over any reader (stdin, a pipe, a decompressor, a test buffer), starting
    /// at 0, without checkpoints.
    pub fn from_reader(
        name: impl Into<Arc<str>>,
        reader: impl Read + Send + 'static,
        config: &SourceConfig,
    ) -> Source {
        Source {
            name: name.into(),
            reader: Box::new(reader),
            buf: vec![0; config.chunk_bytes.max(1)],
            offset: 0,
            start: Position::START,
            resume: Resume::Fresh,
            file: None,
        }
    }

    /// The input's name for messages: its path as given, or `<stdin>`.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Where reading started: give it to `Framer::resume` so offsets and line numbers
    /// are those of the whole file.
    pub fn start(&self) -> Position {
        self.start
    }

    /// Where reading started, and why.
    pub fn resume(&self) -> Resume {
        self.resume
    }

    /// Source offset of the next byte [`read_chunk`](Source::read_chunk) will return.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True when checkpoints can be taken (a regular file).
    pub fn is_checkpointable(&self) -> bool {
        self.file.is_some()
    }

    /// Reads the next chunk (one read of at most
    /// [`SourceConfig::chunk_bytes`]), or `None` at the end of the input.
    pub fn read_chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        let n = loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Read {
                        name: self.name.clone(),
                        source,
                    });
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let chunk = &self.buf[..n];
        if let Some(state) = &mut self.file {
            extend_head(&mut state.head, self.offset, chunk);
        }
        self.offset += n as u64;
        Ok(Some(chunk))
    }

    /// Reads the next chunk like [`read_chunk`](Source::read_chunk), but hands over the
    /// buffer it was read into instead of lending it: the source goes on reading into
    /// `spare` (a chunk given back earlier, or an empty `Vec`). Passing chunks between
    /// threads this way copies and allocates nothing once a few buffers circulate.
    ///
    /// ```
    /// # fn main() -> Result<(), logferry_source::Error> {
    /// use logferry_source::{Source, SourceConfig};
    /// let config = SourceConfig { chunk_bytes: 4 };
    /// let mut source = Source::from_reader("demo", &b"one\ntwo\n"[..], &config);
    /// let first = source.take_chunk(Vec::new())?.expect("a chunk");
    /// assert_eq!(first, b"one\n");
    /// let second = source.take_chunk(first)?.expect("a chunk");
    /// assert_eq!(second, b"two\n");
    /// assert_eq!(source.take_chunk(second)?, None);
    /// # Ok(()) }
    /// ```
    pub fn take_chunk(&mut self, spare: Vec<u8>) -> Result<Option<Vec<u8>>, Error> {
        let Some(n) = self.read_chunk()?.map(<[u8]>::len) else {
            return Ok(None);
        };
        let size = self.buf.len();
        let mut spare = spare;
        // Only a fresh or short buffer is (partly) zeroed: a full one is used as is.
        spare.resize(size, 0);
        let mut chunk = std::mem::replace(&mut self.buf, spare);
        chunk.truncate(n);
        Ok(Some(chunk))
    }

    /// A checkpoint saying everything before `position` was shipped (a regular file
    /// only): store it with [`Checkpoints::store`] once the records before `position` are
    /// safe (delivered, or durably spooled). Its fingerprint has the [`Tail`] of the file
    /// at `position` (none if the file is now shorter than that, or on non-Unix
    /// platforms).
    pub fn checkpoint(&self, position: Position) -> Option<Checkpoint> {
        let state = self.file.as_ref()?;
        Some(Checkpoint {
            path: state.path.clone(),
            file_id: state.file_id,
            position,
            fingerprint: Fingerprint {
                tail: Tail::read(&state.handle, position.offset).ok().flatten(),
                ..Fingerprint::of(&state.head)
            },
        })
    }
}

/// Grows a file's known head with the part of `chunk` (read at `offset`) that continues
/// it, up to [`HEAD_BYTES`].
fn extend_head(head: &mut Vec<u8>, offset: u64, chunk: &[u8]) {
    let known = head.len() as u64;
    if known >= HEAD_BYTES as u64 || offset > known {
        return;
    }
    let skip = usize::try_from(known - offset).expect("below HEAD_BYTES");
    if skip >= chunk.len() {
        return;
    }
    let take = (HEAD_BYTES - head.len()).min(chunk.len() - skip);
    head.extend_from_slice(&chunk[skip..skip + take]);
}

#[cfg(test)]
mod tests {
    use super::extend_head;

    #[test]
    fn head_grows_only_with_the_bytes_that_continue_it() {
        let mut head = b"abc".to_vec();
        extend_head(&mut head, 5, b"zzz"); // a gap: unknown bytes between
        assert_eq!(head, b"abc");
        extend_head(&mut head, 1, b"bcdef"); // overlaps, then continues
        assert_eq!(head, b"abcdef");
        extend_head(&mut head, 6, &[b'x'; 10_000]);
        assert_eq!(head.len(), super::HEAD_BYTES);
        extend_head(&mut head, 4096, b"more");
        assert_eq!(head.len(), super::HEAD_BYTES);
    }
}
