//! The follower: discovery, rotation, fair reading under a descriptor cap.

use super::discovery::{Globs, Watch, compressed_file};
use super::identity::{Content, Verdict, files_in, head_of, id_of, verify};
use super::registry::{FileKey, Registry};
use super::{Event, FollowConfig, OpenReason, StartAt};
use crate::{Error, FileId, Fingerprint, HEAD_BYTES, Position, TAIL_BYTES, Tail};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Full chunks read back to back before the read that reaches a file's end makes it
/// "caught up" ([`Event::Data`]'s `caught_up`): a backlog, not a file that trickles.
const CAUGHT_UP_AFTER: u32 = 2;

/// Turns in a row a busy file keeps its descriptor while others wait for one.
const FAIR_TURNS: u32 = 8;

/// The shortest interval between two checks of the open files woken by the watcher.
const MIN_POLL: Duration = Duration::from_millis(10);

/// How long a new file that looks like a copy of a followed file waits for its original
/// to be truncated (copytruncate) before it is read as a new file.
const COPY_GRACE: Duration = Duration::from_secs(3);

/// The caller's handler of events: `Break` stops the current step.
pub type Handler<'h> = dyn FnMut(Event<'_>) -> ControlFlow<()> + 'h;

struct Tracked {
    key: FileKey,
    /// The path when opened: the read's name.
    name: Arc<str>,
    /// Where the file is now, as far as known.
    path: PathBuf,
    file: Option<File>,
    offset: u64,
    /// The line at `offset`.
    line: u64,
    size: u64,
    content: Content,
    mtime: Option<SystemTime>,
    /// Still matched by the globs (else drained and released once idle).
    wanted: bool,
    deleted: bool,
    last_data: Instant,
    waiting_since: Option<Instant>,
    turns: u32,
    /// Full chunks read back to back since the file was last read to its end.
    backlog: u32,
    /// Found empty and not read yet. `cp` creates its copy before it writes a byte, so a
    /// copytruncate copy may be found empty, when nothing says it is a copy: its first
    /// bytes are looked at before it is read ([`Follower::prove`]).
    unproven: bool,
}

/// Follows the files matched by a [`FollowConfig`]'s globs; see the [module
/// docs](super). Drive it with [`step`](Follower::step) from one thread.
pub struct Follower {
    config: FollowConfig,
    registry: Arc<Registry>,
    globs: Globs,
    watch: Watch,
    files: Vec<Tracked>,
    /// Compressed files seen at the last scan (by id and path), not to be opened again
    /// while they stay there.
    skipped: HashSet<(FileId, PathBuf)>,
    /// Possible copytruncate copies waiting for their original's truncation.
    deferred: HashMap<FileId, Instant>,
    /// Files read again from 0 by this process: the content their copy must have up to
    /// where they had been read (beyond what was acknowledged), and that position. A
    /// copytruncate copy found while this process runs resumes there, so nothing read
    /// is read twice; after a restart the registry's acknowledged position is used.
    read_ahead: Vec<(Content, Content, Position)>,
    rr: usize,
    started: bool,
    /// The watcher saw data change since the last check of the open files.
    data_pending: bool,
    last_poll: Instant,
    next_rescan: Instant,
    next_poll: Instant,
    next_flush: Instant,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("include", &self.config.include)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

fn mtime(meta: &fs::Metadata) -> Option<SystemTime> {
    meta.modified().ok()
}

fn read_error(path: &Arc<str>, source: io::Error) -> Error {
    Error::Read {
        name: path.clone(),
        source,
    }
}

/// Lines before `offset` (to number the records of a file started at its end).
fn count_lines(file: &File, offset: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut at, mut lines) = (0u64, 0u64);
    while at < offset {
        let want = usize::try_from((offset - at).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        at += n as u64;
    }
    Ok(lines)
}

impl Follower {
    /// A follower of `config`'s globs, keeping its checkpoints in `registry`. Fails on a
    /// malformed glob. Nothing is read before the first [`step`](Follower::step).
    pub fn new(config: FollowConfig, registry: Arc<Registry>) -> Result<Follower, Error> {
        let globs = Globs::new(&config.include, &config.exclude)?;
        let now = Instant::now();
        Ok(Follower {
            buf: vec![0; config.chunk_bytes.max(TAIL_BYTES)],
            config,
            registry,
            globs,
            watch: Watch::new(),
            files: Vec::new(),
            skipped: HashSet::new(),
            deferred: HashMap::new(),
            read_ahead: Vec::new(),
            rr: 0,
            started: false,
            data_pending: false,
            last_poll: now,
            next_rescan: now,
            next_poll: now,
            next_flush: now,
        })
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Files followed now (open or waiting for a descriptor).
    pub fn followed(&self) -> usize {
        self.files.len()
    }

    /// Descriptors open now.
    pub fn open_files(&self) -> usize {
        self.files.iter().filter(|t| t.file.is_some()).count()
    }

    /// Does one round of work (discovery when due, growth checks, one chunk per open
    /// file, releases, a registry write when due) and reports it to `on`. When there was
    /// nothing to read, blocks until `until`, the next internal tick, or a watched
    /// directory changes. `Break` from `on` stops the round early (and is returned).
    pub fn step(&mut self, until: Instant, on: &mut Handler<'_>) -> ControlFlow<()> {
        if !self.started {
            self.started = true;
            self.startup(on)?;
            self.rescan(true, on)?;
            self.next_rescan = Instant::now() + self.config.rescan;
        }
        let now = Instant::now();
        let names = self.watch.seen.names.swap(false, Ordering::Relaxed);
        self.data_pending |= self.watch.seen.data.swap(false, Ordering::Relaxed);
        // A busy file makes an event per write: the open files are checked at most
        // every MIN_POLL for them.
        let data = self.data_pending && now >= self.last_poll + MIN_POLL;
        // Growth and truncation first: a copytruncate copy found by the rescan then
        // meets its truncated original's copy candidate.
        if names || data || now >= self.next_poll {
            self.poll(on)?;
            self.next_poll = now + self.config.poll;
            self.last_poll = now;
            self.data_pending = false;
        }
        if names || now >= self.next_rescan {
            self.rescan(false, on)?;
            self.next_rescan = now + self.config.rescan;
        }
        self.schedule(on)?;
        self.prove(on)?;
        let read = self.read_round(on)?;
        self.release_idle(on)?;
        if now >= self.next_flush {
            self.flush();
            self.next_flush = now + Duration::from_secs(1);
        }
        if !read {
            let mut wake = until
                .min(self.next_rescan)
                .min(self.next_poll)
                .min(self.next_flush);
            if self.data_pending {
                wake = wake.min(self.last_poll + MIN_POLL);
            }
            let wait = wake.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                let _ = self.watch.wake.recv_timeout(wait);
            }
        }
        ControlFlow::Continue(())
    }

    fn flush(&self) {
        if let Err(e) = self.registry.flush() {
            tracing::warn!(error = %e, registry = %self.registry.path().display(), "cannot write the followed files' registry");
        }
    }

    /// Registry entries whose path now holds another file (or a truncated one) may have
    /// their file, or its copy, elsewhere in the directory, unmatched by the globs:
    /// those are drained from the acknowledged position.
    fn startup(&mut self, on: &mut Handler<'_>) -> ControlFlow<()> {
        for (id, entry) in self.registry.all() {
            let at_path = fs::metadata(&entry.path).ok().and_then(|m| {
                let same = id_of(&m) == Some(id);
                Some((same, File::open(&entry.path).ok()?, m.len()))
            });
            let dir = entry
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            match at_path {
                Some((true, file, size)) => {
                    let verdict = verify(&file, size, &entry.content).unwrap_or(Verdict::Different);
                    if verdict == Verdict::Same {
                        self.registry.seen(id, &entry.path);
                        // Rotated out of the globs before it was read to its end.
                        if !self.globs.wanted(&entry.path) && size > entry.position.offset {
                            self.track(
                                entry.path.clone(),
                                id,
                                file,
                                size,
                                entry.content,
                                entry.position,
                                OpenReason::Resumed,
                                false,
                                on,
                            )?;
                        }
                        continue;
                    }
                    // Truncated or rewritten while we were away: its copy may be here.
                    self.registry.add_copy(entry.content, entry.position);
                    self.drain_copy(&entry.path, id, &entry, on)?;
                }
                _ => {
                    // Renamed (and perhaps replaced): find it by id in its directory.
                    for (path, other) in files_in(&dir) {
                        if other != id || self.globs.wanted(&path) {
                            continue;
                        }
                        let Ok(file) = File::open(&path) else {
                            continue;
                        };
                        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                        if verify(&file, size, &entry.content).ok() == Some(Verdict::Same)
                            && entry.position.offset <= size
                        {
                            self.track(
                                path,
                                id,
                                file,
                                size,
                                entry.content,
                                entry.position,
                                OpenReason::Resumed,
                                false,
                                on,
                            )?;
                        }
                        break;
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn is_tracked(&self, id: FileId) -> bool {
        self.files.iter().any(|t| t.key.id == id)
    }

    /// Starts following `file` at `path` from `position`.
    #[allow(clippy::too_many_arguments)] // one private call shape, used four times
    fn track(
        &mut self,
        path: PathBuf,
        id: FileId,
        file: File,
        size: u64,
        content: Content,
        position: Position,
        why: OpenReason,
        wanted: bool,
        on: &mut Handler<'_>,
    ) -> ControlFlow<()> {
        self.track_at(
            path,
            id,
            file,
            size,
            content,
            (position, position),
            why,
            wanted,
            on,
        )
    }

    /// Like `track`, the registry at `acked` and reading from `read` (at or after it).
    #[allow(clippy::too_many_arguments)]
    fn track_at(
        &mut self,
        path: PathBuf,
        id: FileId,
        file: File,
        size: u64,
        content: Content,
        (acked, position): (Position, Position),
        why: OpenReason,
        wanted: bool,
        on: &mut Handler<'_>,
    ) -> ControlFlow<()> {
        let key = self.registry.begin(id, &path, content, acked);
        let name: Arc<str> = path.to_string_lossy().into();
        let now = Instant::now();
        let mtime = file.metadata().ok().as_ref().and_then(mtime);
        let over_cap = self.open_files() >= self.config.max_open_files.max(1);
        self.files.push(Tracked {
            key,
            name: name.clone(),
            path,
            file: (!over_cap).then_some(file),
            offset: position.offset,
            line: position.line,
            size,
            content,
            mtime,
            wanted,
            deleted: false,
            last_data: now,
            waiting_since: over_cap.then_some(now),
            turns: 0,
            backlog: 0,
            unproven: size == 0 && matches!(why, OpenReason::New | OpenReason::Rotated),
        });
        on(Event::Opened {
            key,
            path: name,
            position,
            why,
        })
    }

    /// Expands the globs: follows new files, notices renamed and deleted ones.
    fn rescan(&mut self, initial: bool, on: &mut Handler<'_>) -> ControlFlow<()> {
        self.watch.ensure(&self.globs.watch_dirs());
        // Where are the files we follow now?
        for t in &mut self.files {
            let here = fs::metadata(&t.path).ok().and_then(|m| id_of(&m)) == Some(t.key.id);
            if here {
                t.wanted = self.globs.wanted(&t.path);
                self.registry.seen(t.key.id, &t.path);
                continue;
            }
            if let Some(f) = &t.file
                && f.metadata().is_ok_and(|m| m.nlink() == 0)
            {
                t.deleted = true;
                t.wanted = false;
                continue;
            }
            let dir = t.path.parent().map(Path::to_path_buf).unwrap_or_default();
            match files_in(&dir).into_iter().find(|(_, id)| *id == t.key.id) {
                Some((path, _)) => {
                    t.wanted = self.globs.wanted(&path);
                    self.registry.seen(t.key.id, &path);
                    t.path = path;
                }
                None => t.wanted = false,
            }
        }
        // A compressed file gone (its inode free for another file) is forgotten.
        let previous = std::mem::take(&mut self.skipped);
        let mut seen = HashSet::new();
        for path in self.globs.scan() {
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let Some(id) = id_of(&meta) else { continue };
            seen.insert(id);
            if self.is_tracked(id) {
                continue;
            }
            let known = (id, path);
            if previous.contains(&known) {
                self.skipped.insert(known);
                continue;
            }
            let (id, path) = known;
            self.discover(path, id, initial, on)?;
        }
        self.deferred.retain(|id, _| seen.contains(id));
        ControlFlow::Continue(())
    }

    /// A file matched by the globs and not followed yet.
    fn discover(
        &mut self,
        path: PathBuf,
        id: FileId,
        initial: bool,
        on: &mut Handler<'_>,
    ) -> ControlFlow<()> {
        let Ok(file) = File::open(&path) else {
            return ControlFlow::Continue(()); // gone, or not readable: tried again later
        };
        let size = match file.metadata() {
            Ok(m) if id_of(&m) == Some(id) => m.len(),
            _ => return ControlFlow::Continue(()), // replaced in between: next scan
        };
        if compressed_file(&file) {
            tracing::debug!(file = %path.display(), "not following a compressed file");
            self.skipped.insert((id, path));
            return ControlFlow::Continue(());
        }
        let empty = Content {
            head: Fingerprint::of(b""),
            tail_end: 0,
            tail: None,
        };
        // An entry with nothing acknowledged may be a copy found while still empty by an
        // earlier run (which stopped before its first bytes came): its bytes decide.
        if let Some(entry) = self.registry.get(id)
            && !(entry.position.offset == 0 && self.looks_like_copy(&file, size))
        {
            let verdict = verify(&file, size, &entry.content).unwrap_or(Verdict::Different);
            if verdict == Verdict::Same && entry.position.offset <= size {
                return self.track(
                    path,
                    id,
                    file,
                    size,
                    entry.content,
                    entry.position,
                    OpenReason::Resumed,
                    true,
                    on,
                );
            }
            let why = if entry.path == path {
                self.registry.add_copy(entry.content, entry.position);
                match verdict {
                    Verdict::Shorter => OpenReason::Truncated,
                    _ => OpenReason::Rewritten,
                }
            } else {
                OpenReason::New // the inode was reused by another file
            };
            return self.track(path, id, file, size, empty, Position::START, why, true, on);
        }
        for copy in self.registry.copies() {
            if is_copy(&file, size, &copy.content, copy.position) {
                let found = (path, id, file, size);
                return self.follow_copy(found, copy.content, copy.position, true, on);
            }
        }
        if self.copy_of_followed(&file, size) {
            let since = *self.deferred.entry(id).or_insert_with(Instant::now);
            if since.elapsed() < COPY_GRACE {
                return ControlFlow::Continue(());
            }
        }
        self.deferred.remove(&id);
        let known = self.registry.knows_path(&path);
        if initial && !known && self.config.start_at == StartAt::End && size > 0 {
            let content = match (
                head_of(&file, size),
                Tail::read(&file, size),
                count_lines(&file, size),
            ) {
                (Ok(head), Ok(tail), Ok(lines)) => Some((
                    Content {
                        head,
                        tail_end: size,
                        tail,
                    },
                    lines,
                )),
                _ => None,
            };
            if let Some((content, lines)) = content {
                let position = Position {
                    offset: size,
                    line: lines + 1,
                };
                return self.track(
                    path,
                    id,
                    file,
                    size,
                    content,
                    position,
                    OpenReason::New,
                    true,
                    on,
                );
            }
        }
        let why = if known {
            OpenReason::Rotated
        } else {
            OpenReason::New
        };
        self.track(path, id, file, size, empty, Position::START, why, true, on)
    }

    /// Whether `file` (`size` bytes) is a copy of content whose original was truncated
    /// or rewritten, or of a file being followed.
    fn looks_like_copy(&self, file: &File, size: u64) -> bool {
        self.registry
            .copies()
            .iter()
            .any(|copy| is_copy(file, size, &copy.content, copy.position))
            || self.copy_of_followed(file, size)
    }

    /// Whether `file` (`size` bytes) is a copy of a file we follow (same head, same bytes
    /// up to where we read), or a prefix of one (a copy still being written): perhaps a
    /// copytruncate copy whose original is about to be truncated.
    fn copy_of_followed(&self, file: &File, size: u64) -> bool {
        let head =
            super::identity::read_at(file, 0, size.min(HEAD_BYTES as u64)).unwrap_or_default();
        // A copy still being written (`cp` in progress) is a prefix of its original: its
        // first bytes are the original's, and it is shorter than what was read.
        let copying = |t: &Tracked| {
            let n = (head.len() as u64).min(t.size);
            n > 0
                && t.file.as_ref().is_some_and(|orig| {
                    super::identity::read_at(orig, 0, n).is_ok_and(|b| b[..] == head[..n as usize])
                })
                && verify(file, size, &t.content).ok() == Some(Verdict::Shorter)
        };
        self.files.iter().any(|t| {
            t.offset > 0
                && ((t.content.head.matches(&head)
                    && verify(file, size, &t.content).ok() == Some(Verdict::Same))
                    || copying(t))
        })
    }

    /// Files found empty get their first bytes: one that now looks like a copy is let go
    /// unread and discovered again, as a copy (resumed where its original was read to, or
    /// deferred for its original's truncation like any copy found being written).
    /// Without this, a copytruncate copy found the instant `cp` created it was read from
    /// 0 as a new file: everything read of its original, twice.
    fn prove(&mut self, on: &mut Handler<'_>) -> ControlFlow<()> {
        let mut i = 0;
        while i < self.files.len() {
            let t = &self.files[i];
            // Its size as the last poll saw it: it is read only once that is above 0 (and
            // a file that stays empty costs no system call here).
            let (copy, size) = match &t.file {
                Some(file) if t.unproven && t.size > 0 => {
                    let size = file.metadata().map_or(0, |m| m.len());
                    (size > 0 && self.looks_like_copy(file, size), size)
                }
                _ => (false, 0),
            };
            if size > 0 {
                self.files[i].unproven = false;
            }
            if !copy {
                i += 1;
                continue;
            }
            let t = self.files.remove(i);
            self.registry.remove(t.key.id);
            tracing::debug!(file = %t.name, "a file found empty is a copy of a followed file");
            on(Event::Released {
                key: t.key,
                path: t.name,
                offset: 0,
            })?;
            self.discover(t.path, t.key.id, false, on)?;
        }
        ControlFlow::Continue(())
    }

    /// `fstat`s the open files (growth, truncation, rewrite, deletion) and `stat`s the
    /// closed ones (growth).
    fn poll(&mut self, on: &mut Handler<'_>) -> ControlFlow<()> {
        let now = Instant::now();
        for i in 0..self.files.len() {
            let t = &mut self.files[i];
            let Some(file) = &t.file else {
                // Closed for the cap: grown, moved or gone, it waits for a descriptor
                // (reopening finds it, or reports it lost).
                let unchanged = fs::metadata(&t.path)
                    .is_ok_and(|m| id_of(&m) == Some(t.key.id) && m.len() == t.offset);
                if t.waiting_since.is_none() && !unchanged {
                    t.waiting_since = Some(now);
                }
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            if meta.nlink() == 0 {
                t.deleted = true;
                t.wanted = false;
            }
            let size = meta.len();
            let m = mtime(&meta);
            let verdict = if size < t.offset {
                Verdict::Shorter
            } else if m != t.mtime && t.offset > 0 {
                verify(file, size, &t.content).unwrap_or(Verdict::Same)
            } else {
                Verdict::Same
            };
            t.mtime = m;
            if size != t.size {
                t.last_data = now;
            }
            t.size = size;
            match verdict {
                Verdict::Same => {}
                Verdict::Shorter => self.restart(i, OpenReason::Truncated, on)?,
                Verdict::Different => self.restart(i, OpenReason::Rewritten, on)?,
            }
        }
        ControlFlow::Continue(())
    }

    /// The file `i` is read again from 0; its old content may come back as a copy.
    fn restart(&mut self, i: usize, why: OpenReason, on: &mut Handler<'_>) -> ControlFlow<()> {
        let t = &mut self.files[i];
        let old_state = self
            .registry
            .get(t.key.id)
            .filter(|e| e.generation == t.key.generation);
        let (id, path) = (t.key.id, t.path.clone());
        let content = Content {
            head: Fingerprint::of(b""),
            tail_end: 0,
            tail: None,
        };
        let old = t.key;
        let read = (
            t.content,
            Position {
                offset: t.offset,
                line: t.line,
            },
        );
        t.key = self
            .registry
            .begin(old.id, &t.path, content, Position::START);
        t.offset = 0;
        t.line = 1;
        t.content = content;
        t.last_data = Instant::now();
        on(Event::Restarted {
            key: old,
            new_key: t.key,
            path: t.name.clone(),
            why,
        })?;
        // Its old content may live on in a copy (copytruncate): one the globs match is
        // resumed by discovery; one they do not match is drained from here.
        if let Some(entry) = old_state {
            if read.1.offset > entry.position.offset {
                self.read_ahead.push((entry.content, read.0, read.1));
                let excess = self.read_ahead.len().saturating_sub(256);
                self.read_ahead.drain(..excess);
            }
            self.registry.add_copy(entry.content, entry.position);
            self.drain_copy(&path, id, &entry, on)?;
        }
        ControlFlow::Continue(())
    }

    /// Follows `found`, a copy of content `acked` acknowledged up to `at`.
    fn follow_copy(
        &mut self,
        (path, id, file, size): (PathBuf, FileId, File, u64),
        acked: Content,
        at: Position,
        wanted: bool,
        on: &mut Handler<'_>,
    ) -> ControlFlow<()> {
        self.registry.take_copy(&acked);
        let at = self.resume_copy(&file, size, &acked, at);
        let why = OpenReason::Resumed;
        self.track_at(path, id, file, size, acked, at, why, wanted, on)
    }

    /// Where a copy of content `acked` (acknowledged up to `at`) resumes: where this
    /// process had read its original to, when the copy holds those bytes too; else `at`.
    fn resume_copy(
        &mut self,
        file: &File,
        size: u64,
        acked: &Content,
        at: Position,
    ) -> (Position, Position) {
        let Some(i) = self.read_ahead.iter().position(|(c, _, _)| c == acked) else {
            return (at, at);
        };
        let (_, read, position) = self.read_ahead.swap_remove(i);
        if position.offset <= size && verify(file, size, &read).ok() == Some(Verdict::Same) {
            (at, position)
        } else {
            (at, at)
        }
    }

    /// Looks for a copy of `entry`'s content (head and tail) among the files beside
    /// `path` that the globs do not match, and drains it from `entry`'s position.
    fn drain_copy(
        &mut self,
        path: &Path,
        original: FileId,
        entry: &super::registry::Entry,
        on: &mut Handler<'_>,
    ) -> ControlFlow<()> {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (path, other) in files_in(&dir) {
            if other == original || self.globs.wanted(&path) || self.is_tracked(other) {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if is_copy(&file, size, &entry.content, entry.position) {
                let found = (path, other, file, size);
                return self.follow_copy(found, entry.content, entry.position, false, on);
            }
        }
        ControlFlow::Continue(())
    }

    /// Opens waiting files under the cap, closing idle or long-served ones for them.
    fn schedule(&mut self, on: &mut Handler<'_>) -> ControlFlow<()> {
        let cap = self.config.max_open_files.max(1);
        let mut waiting: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.files[i].file.is_none() && self.files[i].waiting_since.is_some())
            .collect();
        if waiting.is_empty() {
            return ControlFlow::Continue(());
        }
        waiting.sort_by_key(|&i| self.files[i].waiting_since);
        let mut open = self.open_files();
        let mut to_free = (open + waiting.len()).saturating_sub(cap).min(open);
        let now = Instant::now();
        for t in &mut self.files {
            if to_free == 0 {
                break;
            }
            let closable = t.file.is_some() && t.wanted && !t.deleted;
            if closable && (t.offset >= t.size || t.turns >= FAIR_TURNS) {
                let busy = t.offset < t.size;
                t.file = None;
                t.turns = 0;
                t.waiting_since = busy.then_some(now);
                open -= 1;
                to_free -= 1;
            }
        }
        let mut gone = Vec::new();
        for i in waiting {
            if open >= cap {
                break;
            }
            if self.reopen(i, on)? {
                open += 1;
            } else {
                gone.push(i);
            }
        }
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            let t = self.files.remove(i);
            self.registry.set_followed(t.key.id, false);
        }
        ControlFlow::Continue(())
    }

    /// Opens a waiting file again, where it is now. False when it is gone (reported).
    fn reopen(&mut self, i: usize, on: &mut Handler<'_>) -> ControlFlow<(), bool> {
        let id = self.files[i].key.id;
        let path = self.files[i].path.clone();
        let at_path = File::open(&path)
            .ok()
            .filter(|f| f.metadata().ok().and_then(|m| id_of(&m)) == Some(id));
        let found = at_path.map(|f| (path.clone(), f)).or_else(|| {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let (p, _) = files_in(&dir).into_iter().find(|(_, other)| *other == id)?;
            File::open(&p).ok().map(|f| (p, f))
        });
        let Some((now_at, file)) = found else {
            let t = &self.files[i];
            on(Event::ReadError {
                key: t.key,
                path: t.name.clone(),
                offset: t.offset,
                error: read_error(
                    &t.name,
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "the file went away while it waited for a descriptor",
                    ),
                ),
            })?;
            return ControlFlow::Continue(false);
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let verdict = verify(&file, size, &self.files[i].content).unwrap_or(Verdict::Different);
        let wanted = self.globs.wanted(&now_at);
        let t = &mut self.files[i];
        if now_at != t.path {
            t.wanted = wanted;
            t.path = now_at;
        }
        t.file = Some(file);
        t.size = size;
        t.waiting_since = None;
        t.turns = 0;
        match verdict {
            Verdict::Same => {}
            Verdict::Shorter => self.restart(i, OpenReason::Truncated, on)?,
            Verdict::Different => self.restart(i, OpenReason::Rewritten, on)?,
        }
        ControlFlow::Continue(true)
    }

    /// One chunk per open file with unread bytes, round-robin. True if any was read.
    fn read_round(&mut self, on: &mut Handler<'_>) -> ControlFlow<(), bool> {
        let n = self.files.len();
        if n == 0 {
            return ControlFlow::Continue(false);
        }
        let others_wait = self.files.iter().any(|t| t.waiting_since.is_some());
        let start = self.rr % n;
        self.rr = self.rr.wrapping_add(1);
        let mut read_any = false;
        let mut failed = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let t = &mut self.files[i];
            let Some(file) = &t.file else { continue };
            if t.offset >= t.size {
                continue;
            }
            let want = usize::try_from(t.size - t.offset)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let got = match file.read_at(&mut self.buf[..want], t.offset) {
                Ok(got) => got,
                Err(error) => {
                    on(Event::ReadError {
                        key: t.key,
                        path: t.name.clone(),
                        offset: t.offset,
                        error: read_error(&t.name, error),
                    })?;
                    failed.push(i);
                    continue;
                }
            };
            if got == 0 {
                t.size = t.offset; // shorter than known: the next poll says why
                continue;
            }
            let at = t.offset;
            t.offset += got as u64;
            t.line += memchr::memchr_iter(b'\n', &self.buf[..got]).count() as u64;
            if got < want {
                t.size = t.offset;
            }
            let at_end = t.offset >= t.size;
            let caught_up = at_end && t.backlog >= CAUGHT_UP_AFTER;
            t.backlog = if at_end {
                0
            } else {
                t.backlog.saturating_add(u32::from(got == self.buf.len()))
            };
            t.last_data = Instant::now();
            if others_wait {
                t.turns += 1;
            }
            // The content the registry checks next time: head and tail at our offset.
            if t.content.head.head_len < HEAD_BYTES as u64
                && let Ok(head) = head_of(file, t.offset)
            {
                t.content.head = head;
            }
            let tail = if got >= TAIL_BYTES {
                Some(Tail::of(&self.buf[..got]))
            } else {
                Tail::read(file, t.offset).ok().flatten()
            };
            t.content.tail = tail;
            t.content.tail_end = if tail.is_some() { t.offset } else { 0 };
            self.registry.note_read(t.key, &t.path, t.content);
            read_any = true;
            on(Event::Data {
                key: t.key,
                offset: at,
                bytes: &self.buf[..got],
                caught_up,
            })?;
        }
        for i in failed.into_iter().rev() {
            let t = self.files.remove(i);
            self.registry.set_followed(t.key.id, false);
        }
        ControlFlow::Continue(read_any)
    }

    /// Releases drained files that are deleted or rotated out of the globs, once idle.
    fn release_idle(&mut self, on: &mut Handler<'_>) -> ControlFlow<()> {
        let mut i = 0;
        while i < self.files.len() {
            let t = &self.files[i];
            let done = !t.wanted
                && t.file.is_some()
                && t.offset >= t.size
                && t.last_data.elapsed() >= self.config.release_after;
            if !done {
                i += 1;
                continue;
            }
            let t = self.files.remove(i);
            if t.deleted {
                self.registry.remove(t.key.id);
            } else {
                self.registry.set_followed(t.key.id, false);
            }
            on(Event::Released {
                key: t.key,
                path: t.name,
                offset: t.offset,
            })?;
        }
        ControlFlow::Continue(())
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        for t in &self.files {
            self.registry.set_followed(t.key.id, false);
        }
        self.flush();
    }
}

/// Whether `file` (`size` bytes) holds `content` up to `at`: a copy to resume there.
fn is_copy(file: &File, size: u64, content: &Content, at: Position) -> bool {
    verify(file, size, content).ok() == Some(Verdict::Same) && at.offset <= size
}
