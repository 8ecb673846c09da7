//! The followed-files source over real files and a real writer thread: the rotation
//! suite (each kind also with a restart in the middle), shared header blocks, inode
//! reuse, discovery, compressed siblings, `start_at = end`, the descriptor cap and the
//! idle cost.

use logferry_source::Position;
use logferry_source::follow::{
    Event, FileKey, FollowConfig, Follower, OpenReason, Registry, StartAt,
};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fixed-width numbered line.
fn line(n: u64) -> String {
    format!("line {n:06}\n")
}

fn lines(range: std::ops::Range<u64>) -> String {
    range.map(line).collect()
}

fn append(file: &mut File, range: std::ops::Range<u64>, pace: bool) {
    for n in range {
        file.write_all(line(n).as_bytes()).unwrap();
        if pace && n % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn config(include: &[PathBuf]) -> FollowConfig {
    FollowConfig {
        include: include
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        rescan: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        release_after: Duration::from_millis(300),
        ..FollowConfig::default()
    }
}

#[derive(Default)]
struct Stream {
    pending: Vec<u8>,
    /// Offset and line where `pending` starts.
    at: Position,
    unacked: usize,
}

/// Stands in for the pipeline: frames lines, "delivers" them, acknowledges every
/// `ack_every` lines per file, and keeps what happened.
struct Collector {
    registry: Arc<Registry>,
    streams: HashMap<FileKey, Stream>,
    ack_every: usize,
    delivered: Vec<u64>,
    /// Other lines (headers), by text.
    others: Vec<String>,
    opened: Vec<(String, Position, OpenReason)>,
    restarted: Vec<(String, OpenReason)>,
    released: Vec<String>,
    errors: Vec<String>,
    count: Arc<AtomicUsize>,
}

impl Collector {
    fn new(registry: Arc<Registry>, ack_every: usize) -> Self {
        Collector {
            registry,
            streams: HashMap::new(),
            ack_every,
            delivered: Vec::new(),
            others: Vec::new(),
            opened: Vec::new(),
            restarted: Vec::new(),
            released: Vec::new(),
            errors: Vec::new(),
            count: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Lines delivered and not acknowledged: what a crash now may send again.
    fn unacked(&self) -> usize {
        self.streams.values().map(|s| s.unacked).sum()
    }

    fn handle(&mut self, event: Event<'_>) {
        match event {
            Event::Opened {
                key,
                path,
                position,
                why,
            } => {
                self.opened.push((path.to_string(), position, why));
                self.streams.insert(
                    key,
                    Stream {
                        at: position,
                        ..Stream::default()
                    },
                );
            }
            Event::Data { key, offset, bytes } => {
                let s = self.streams.get_mut(&key).expect("data after opened");
                assert_eq!(
                    offset,
                    s.at.offset + s.pending.len() as u64,
                    "contiguous data"
                );
                s.pending.extend_from_slice(bytes);
                let mut start = 0;
                while let Some(nl) = s.pending[start..].iter().position(|&b| b == b'\n') {
                    let text = String::from_utf8_lossy(&s.pending[start..start + nl]).into_owned();
                    match text.strip_prefix("line ").and_then(|n| n.parse().ok()) {
                        Some(n) => self.delivered.push(n),
                        None => self.others.push(text),
                    }
                    start += nl + 1;
                    s.at.line += 1;
                    s.unacked += 1;
                }
                s.at.offset += start as u64;
                s.pending.drain(..start);
                if s.unacked >= self.ack_every {
                    self.registry.update(key, s.at);
                    s.unacked = 0;
                }
                self.count.store(self.delivered.len(), Ordering::SeqCst);
            }
            Event::Restarted {
                key,
                new_key,
                path,
                why,
            } => {
                self.restarted.push((path.to_string(), why));
                let old = self.streams.remove(&key).unwrap_or_default();
                // Lines of the old read that were not acknowledged are not resent by
                // a restart from 0 of *this* file, but count for the bound.
                let _ = old;
                self.streams.insert(new_key, Stream::default());
                self.streams.get_mut(&new_key).unwrap().at = Position::START;
            }
            Event::Released { key, path, .. } => {
                let s = self.streams.remove(&key).expect("released after opened");
                assert!(s.pending.is_empty(), "{path}: a partial line at release");
                if s.unacked > 0 {
                    self.registry.update(key, s.at);
                }
                self.released.push(path.to_string());
            }
            Event::ReadError { path, error, .. } => {
                self.errors.push(format!("{path}: {error}"));
            }
        }
    }

    /// Steps `follower` until `done` holds, with a deadline.
    fn run_until(
        &mut self,
        follower: &mut Follower,
        what: &str,
        done: impl Fn(&Collector) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: delivered {} lines, opened {:?}, restarted {:?}, released {:?}, errors {:?}",
                self.delivered.len(),
                self.opened,
                self.restarted,
                self.released,
                self.errors
            );
            let until = Instant::now() + Duration::from_millis(20);
            let _ = follower.step(until, &mut |e| {
                self.handle(e);
                ControlFlow::Continue(())
            });
        }
    }
}

/// Every line of `0..n` delivered, duplicates at most `dup_bound`.
fn assert_exactly(delivered: &[u64], n: u64, dup_bound: usize) {
    let mut sorted = delivered.to_vec();
    sorted.sort_unstable();
    let before = sorted.len();
    sorted.dedup();
    let expected: Vec<u64> = (0..n).collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|x| sorted.binary_search(x).is_err())
        .collect();
    assert!(missing.is_empty(), "lost lines: {missing:?}");
    assert_eq!(sorted, expected, "unexpected lines");
    let dups = before - sorted.len();
    assert!(
        dups <= dup_bound,
        "{dups} duplicates, at most {dup_bound} were unacknowledged"
    );
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rotation {
    RenameCreate,
    CopyTruncate,
    Truncate,
    DeleteWhileOpen,
    RewriteInPlace,
}

const PHASE: u64 = 150;
const TOTAL: u64 = 400;

/// The writer's side of a rotation scenario. Lines `0..PHASE` go to `app.log`; then the
/// rotation (after everything so far was delivered, for the kinds that lose unread data
/// by nature: truncate and rewrite); then the rest, up to `TOTAL`.
fn writer(dir: PathBuf, kind: Rotation, delivered: Arc<AtomicUsize>, rotated: Arc<AtomicBool>) {
    let log = dir.join("app.log");
    let mut f = open_append(&log);
    append(&mut f, 0..PHASE, true);
    if matches!(kind, Rotation::Truncate | Rotation::RewriteInPlace) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while delivered.load(Ordering::SeqCst) < PHASE as usize && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    match kind {
        Rotation::RenameCreate => {
            fs::rename(&log, dir.join("app.log.1")).unwrap();
            let mut new = open_append(&log);
            rotated.store(true, Ordering::SeqCst);
            // The application writes to its old descriptor a little longer.
            append(&mut f, PHASE..PHASE + 20, true);
            append(&mut new, PHASE + 20..TOTAL, true);
        }
        Rotation::CopyTruncate => {
            fs::copy(&log, dir.join("app.log.1")).unwrap();
            f.set_len(0).unwrap();
            rotated.store(true, Ordering::SeqCst);
            append(&mut f, PHASE..TOTAL, true);
        }
        Rotation::Truncate => {
            f.set_len(0).unwrap();
            rotated.store(true, Ordering::SeqCst);
            append(&mut f, PHASE..TOTAL, true);
        }
        Rotation::DeleteWhileOpen => {
            fs::remove_file(&log).unwrap();
            rotated.store(true, Ordering::SeqCst);
            append(&mut f, PHASE..PHASE + 20, true);
            drop(f);
            let mut new = open_append(&log);
            append(&mut new, PHASE + 20..TOTAL, true);
        }
        Rotation::RewriteInPlace => {
            // Longer than before, same inode, other bytes before our offset.
            let g = OpenOptions::new().write(true).open(&log).unwrap();
            g.write_all_at(lines(PHASE..PHASE + 200).as_bytes(), 0)
                .unwrap();
            rotated.store(true, Ordering::SeqCst);
            append(&mut f, PHASE + 200..TOTAL, true);
        }
    }
}

fn rotation(kind: Rotation, restart: bool) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state/files.json");
    let include = match kind {
        // The copy must be followed to get the lines written just before the truncation.
        Rotation::CopyTruncate => dir.path().join("app.log*"),
        _ => dir.path().join("app.log"),
    };
    let registry = Arc::new(Registry::open(&state).unwrap());
    let mut collector = Collector::new(registry.clone(), 7);
    let rotated = Arc::new(AtomicBool::new(false));
    let mut follower = Follower::new(config(std::slice::from_ref(&include)), registry).unwrap();
    let (d, r, c) = (
        dir.path().to_path_buf(),
        rotated.clone(),
        collector.count.clone(),
    );
    // The file exists before the follower's first scan.
    File::create(dir.path().join("app.log")).unwrap();
    let writer = std::thread::spawn(move || writer(d, kind, c, r));
    let mut dup_bound = 0;
    if restart {
        collector.run_until(&mut follower, "the rotation", |_| {
            rotated.load(Ordering::SeqCst)
        });
        // Drop the follower in the middle of the rotation; a new one takes over.
        dup_bound = collector.unacked();
        drop(follower);
        let before = collector;
        let _ = &before.others;
        let registry = before.registry.clone();
        drop(registry);
        let registry = Arc::new(Registry::open(&state).unwrap());
        collector = Collector::new(registry.clone(), 7);
        collector.delivered = before.delivered;
        collector.opened = before.opened;
        collector.restarted = before.restarted;
        collector.count = before.count;
        follower = Follower::new(config(std::slice::from_ref(&include)), registry).unwrap();
    }
    // Lines written to a deleted file after the follower stopped (and closed its
    // descriptor) cannot be found by anyone: the one loss a restart cannot avoid.
    let lost_by_nature =
        |n: u64| restart && kind == Rotation::DeleteWhileOpen && (PHASE..PHASE + 20).contains(&n);
    collector.run_until(&mut follower, "every line", |c| {
        let mut d = c.delivered.clone();
        d.sort_unstable();
        d.dedup();
        (0..TOTAL).all(|n| lost_by_nature(n) || d.binary_search(&n).is_ok())
    });
    writer.join().unwrap();
    // Whatever else was going to come (duplicates) has time to come.
    let settle = Instant::now() + Duration::from_millis(600);
    collector.run_until(&mut follower, "settling", |_| Instant::now() >= settle);
    // A copytruncate copy resumes where its original was acknowledged.
    if kind == Rotation::CopyTruncate {
        dup_bound += 7;
    }
    if restart && kind == Rotation::DeleteWhileOpen {
        let mut d = collector.delivered.clone();
        d.sort_unstable();
        let n = d.len();
        d.dedup();
        assert!(n - d.len() <= dup_bound, "duplicates");
        assert!(d.iter().all(|x| *x < TOTAL));
    } else {
        assert_exactly(&collector.delivered, TOTAL, dup_bound);
    }
    assert!(collector.errors.is_empty(), "{:?}", collector.errors);
    let expect_restart = |why| {
        collector.restarted.iter().any(|(_, w)| *w == why)
            || collector.opened.iter().any(|(_, _, w)| *w == why)
    };
    match kind {
        Rotation::Truncate | Rotation::CopyTruncate => assert!(
            expect_restart(OpenReason::Truncated) || expect_restart(OpenReason::Rewritten),
            "{:?} {:?}",
            collector.restarted,
            collector.opened
        ),
        Rotation::RewriteInPlace => assert!(
            expect_restart(OpenReason::Rewritten) || expect_restart(OpenReason::Truncated),
            "{:?} {:?}",
            collector.restarted,
            collector.opened
        ),
        Rotation::DeleteWhileOpen if restart => {}
        Rotation::RenameCreate | Rotation::DeleteWhileOpen => {
            // The old file was drained and released once idle.
            let deadline = Instant::now() + Duration::from_secs(5);
            collector.run_until(&mut follower, "the release", |c| {
                !c.released.is_empty() || Instant::now() > deadline
            });
            assert!(
                !collector.released.is_empty(),
                "old file released: {:?}",
                collector.opened
            );
        }
    }
}

#[test]
fn rename_and_create() {
    rotation(Rotation::RenameCreate, false);
}

#[test]
fn rename_and_create_with_a_restart_in_the_middle() {
    rotation(Rotation::RenameCreate, true);
}

#[test]
fn copytruncate() {
    rotation(Rotation::CopyTruncate, false);
}

#[test]
fn copytruncate_with_a_restart_in_the_middle() {
    rotation(Rotation::CopyTruncate, true);
}

#[test]
fn truncate() {
    rotation(Rotation::Truncate, false);
}

#[test]
fn truncate_with_a_restart_in_the_middle() {
    rotation(Rotation::Truncate, true);
}

#[test]
fn delete_while_open() {
    rotation(Rotation::DeleteWhileOpen, false);
}

#[test]
fn delete_while_open_with_a_restart_in_the_middle() {
    rotation(Rotation::DeleteWhileOpen, true);
}

#[test]
fn rewrite_in_place() {
    rotation(Rotation::RewriteInPlace, false);
}

#[test]
fn rewrite_in_place_with_a_restart_in_the_middle() {
    rotation(Rotation::RewriteInPlace, true);
}
