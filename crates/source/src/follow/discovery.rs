//! Finding files to follow: include and exclude globs rescanned, directory watches
//! through `notify` to wake up at once, and the compressed files never read as text.

use crate::Error;
use glob::Pattern;
use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// File name extensions of compressed files, never followed.
pub const COMPRESSED_EXTENSIONS: &[&str] =
    &["gz", "bz2", "xz", "zst", "zip", "lz4", "Z", "7z", "tgz"];

/// Magic numbers at the head of compressed files (gzip, bzip2, xz, zstd, zip).
const MAGIC: &[&[u8]] = &[
    &[0x1f, 0x8b],
    b"BZh",
    &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
    &[0x28, 0xb5, 0x2f, 0xfd],
    b"PK\x03\x04",
];

/// True when `path`'s extension says it is compressed.
pub(crate) fn compressed_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| COMPRESSED_EXTENSIONS.contains(&e))
}

/// True when `head` (a file's first bytes) starts with a compression magic number.
pub(crate) fn compressed_head(head: &[u8]) -> bool {
    MAGIC.iter().any(|m| head.starts_with(m))
}

/// True when the file at `path` starts with a compression magic number.
pub(crate) fn compressed_file(file: &File) -> bool {
    let mut head = [0u8; 6];
    let mut n = 0;
    let mut f = file;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    compressed_head(&head[..n])
}

/// The include and exclude globs of followed files (an exclude glob matches the full
/// path or the file name).
#[derive(Debug)]
pub struct Globs {
    include: Vec<(String, Pattern)>,
    exclude: Vec<Pattern>,
}

impl Globs {
    /// Compiles the globs; a malformed one is an error naming it.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Globs, Error> {
        let compile = |p: &String| {
            Pattern::new(p).map_err(|source| Error::Pattern {
                pattern: p.clone(),
                source,
            })
        };
        Ok(Globs {
            include: include
                .iter()
                .map(|p| Ok((p.clone(), compile(p)?)))
                .collect::<Result<_, Error>>()?,
            exclude: exclude.iter().map(compile).collect::<Result<_, _>>()?,
        })
    }

    /// True when an exclude glob matches the full path or the file name.
    pub(crate) fn excluded(&self, path: &Path) -> bool {
        let name = path.file_name().map(Path::new);
        self.exclude
            .iter()
            .any(|p| p.matches_path(path) || name.is_some_and(|n| p.matches_path(n)))
    }

    /// True when `path` is one the follower follows (included, not excluded, not named
    /// like a compressed file).
    pub(crate) fn wanted(&self, path: &Path) -> bool {
        self.include.iter().any(|(_, p)| p.matches_path(path))
            && !self.excluded(path)
            && !compressed_name(path)
    }

    /// Every path the include globs match now (regular files or not: the caller checks),
    /// minus the excluded and compressed names, sorted, without duplicates.
    pub(crate) fn scan(&self) -> Vec<PathBuf> {
        let mut out = self.matched();
        out.retain(|p| !compressed_name(p));
        out
    }

    /// Every path the include globs match now (regular files or not: the caller
    /// checks), minus the excluded ones, sorted, without duplicates. Compressed names
    /// stay: a drop folder may upload them whole.
    pub fn matched(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (text, _) in &self.include {
            let Ok(paths) = glob::glob(text) else {
                continue;
            };
            for path in paths.flatten() {
                if !self.excluded(&path) && seen.insert(path.clone()) {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// The directories to watch: each include glob's longest literal ancestor, and
    /// whether the glob has wildcards below it (then watched recursively).
    pub(crate) fn watch_dirs(&self) -> Vec<(PathBuf, bool)> {
        let mut dirs: Vec<(PathBuf, bool)> = Vec::new();
        for (text, _) in &self.include {
            let path = Path::new(text);
            let mut literal = PathBuf::new();
            let mut wild_below = false;
            let components: Vec<_> = path.components().collect();
            for (i, c) in components.iter().enumerate() {
                let s = c.as_os_str().to_string_lossy();
                if s.contains(['*', '?', '[']) {
                    // A wildcard before the last component: watch recursively.
                    wild_below = i + 1 < components.len();
                    break;
                }
                if i + 1 == components.len() {
                    break; // the file name itself
                }
                literal.push(c);
            }
            if literal.as_os_str().is_empty() {
                literal.push(".");
            }
            if !dirs.iter().any(|(d, r)| *d == literal && *r == wild_below) {
                dirs.push((literal, wild_below));
            }
        }
        dirs
    }
}

/// What the watcher saw since the follower last looked.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// A file appeared, disappeared or was renamed: rescan the globs.
    pub(crate) names: AtomicBool,
    /// A file's data or metadata changed: check the open files.
    pub(crate) data: AtomicBool,
}

/// Directory watches through `notify`; wakes the follower through a channel.
pub(crate) struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    pub(crate) seen: Arc<Seen>,
    pub(crate) wake: Receiver<()>,
    warned: bool,
}

impl Watch {
    /// A watcher, or polling only (with one warning) when none can be made.
    pub(crate) fn new() -> Watch {
        use notify::Watcher;
        let (tx, wake): (SyncSender<()>, Receiver<()>) = sync_channel(1);
        let seen = Arc::new(Seen::default());
        let seen2 = seen.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            use notify::EventKind;
            let Ok(event) = event else {
                seen2.names.store(true, Ordering::Relaxed);
                let _ = tx.try_send(());
                return;
            };
            match event.kind {
                EventKind::Access(_) => return,
                EventKind::Modify(notify::event::ModifyKind::Data(_))
                | EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => {
                    seen2.data.store(true, Ordering::Relaxed);
                }
                _ => {
                    seen2.names.store(true, Ordering::Relaxed);
                    seen2.data.store(true, Ordering::Relaxed);
                }
            }
            let _ = tx.try_send(());
        };
        let mut warned = false;
        let watcher = match notify::RecommendedWatcher::new(handler, notify::Config::default()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch directories; following by polling only");
                warned = true;
                None
            }
        };
        Watch {
            watcher,
            watched: HashSet::new(),
            seen,
            wake,
            warned,
        }
    }

    /// Watches the directories not watched yet (those missing are tried again later).
    pub(crate) fn ensure(&mut self, dirs: &[(PathBuf, bool)]) {
        use notify::Watcher;
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for (dir, recursive) in dirs {
            if self.watched.contains(dir) || !dir.is_dir() {
                continue;
            }
            let mode = if *recursive {
                notify::RecursiveMode::Recursive
            } else {
                notify::RecursiveMode::NonRecursive
            };
            match watcher.watch(dir, mode) {
                Ok(()) => {
                    self.watched.insert(dir.clone());
                }
                Err(e) => {
                    if !self.warned {
                        tracing::warn!(
                            dir = %dir.display(),
                            error = %e,
                            "cannot watch a directory; following it by polling only"
                        );
                        self.warned = true;
                    }
                    // Do not try this one again on every rescan.
                    self.watched.insert(dir.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_names_and_heads() {
        assert!(compressed_name(Path::new("/var/log/auth.log.2.gz")));
        assert!(compressed_name(Path::new("x.Z")));
        assert!(!compressed_name(Path::new("auth.log.1")));
        assert!(compressed_head(&[0x1f, 0x8b, 8, 0]));
        assert!(compressed_head(b"BZh91AY"));
        assert!(compressed_head(b"PK\x03\x04..."));
        assert!(!compressed_head(b"Dec  2 13:00 host sshd"));
    }

    #[test]
    fn excludes_match_the_path_or_the_name_and_watch_dirs_are_literal() {
        let g = Globs::new(
            &["/var/log/auth.log*".into(), "/srv/*/logs/*.log".into()],
            &["*.old".into(), "/var/log/auth.log.9".into()],
        )
        .unwrap();
        assert!(g.wanted(Path::new("/var/log/auth.log.1")));
        assert!(!g.wanted(Path::new("/var/log/auth.log.1.old")));
        assert!(!g.wanted(Path::new("/var/log/auth.log.9")));
        assert!(!g.wanted(Path::new("/var/log/auth.log.2.gz")));
        assert_eq!(
            g.watch_dirs(),
            vec![("/var/log".into(), false), ("/srv".into(), true)]
        );
    }
}
