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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
            Event::Data {
                key, offset, bytes, ..
            } => {
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
    /// copytruncate with a copy the globs do not match (`app.log` only).
    CopyTruncateUnmatched,
    Truncate,
    DeleteWhileOpen,
    RewriteInPlace,
}

const PHASE: u64 = 150;
const TOTAL: u64 = 400;

/// The writer's side of a rotation scenario. Lines `0..PHASE` go to `app.log`; then the
/// rotation (after everything so far was delivered, for the kinds that lose unread data
/// by nature: truncate, rewrite, delete); then the rest, up to `TOTAL`.
fn writer(dir: PathBuf, kind: Rotation, delivered: Arc<AtomicUsize>, rotated: Arc<AtomicBool>) {
    let log = dir.join("app.log");
    let mut f = open_append(&log);
    append(&mut f, 0..PHASE - 20, true);
    // A burst just before the rotation: likely not read yet when it happens.
    append(&mut f, PHASE - 20..PHASE, false);
    // A restart cannot find a deleted file: what it held unread when the follower
    // stopped is lost by nature, so the lines before the deletion are read first.
    if matches!(
        kind,
        Rotation::Truncate | Rotation::RewriteInPlace | Rotation::DeleteWhileOpen
    ) {
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
        Rotation::CopyTruncate | Rotation::CopyTruncateUnmatched => {
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
    if matches!(
        kind,
        Rotation::CopyTruncate | Rotation::CopyTruncateUnmatched
    ) {
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
    if matches!(
        kind,
        Rotation::CopyTruncate | Rotation::CopyTruncateUnmatched
    ) {
        let copy = dir.path().join("app.log.1").to_string_lossy().into_owned();
        assert!(
            collector
                .opened
                .iter()
                .any(|(p, at, why)| *p == copy && at.offset > 0 && *why == OpenReason::Resumed),
            "the copy resumed where its original was acknowledged: {:?}",
            collector.opened
        );
    }
    match kind {
        Rotation::Truncate | Rotation::CopyTruncate | Rotation::CopyTruncateUnmatched => assert!(
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
fn copytruncate_with_the_copy_outside_the_globs() {
    rotation(Rotation::CopyTruncateUnmatched, false);
}

#[test]
fn copytruncate_with_the_copy_outside_the_globs_and_a_restart_in_the_middle() {
    rotation(Rotation::CopyTruncateUnmatched, true);
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

/// copytruncate with the copy found at the instant `cp` created it, before it wrote a
/// byte (when nothing says it is a copy), with or without a restart before its bytes
/// come: the copy resumes where its original was acknowledged; nothing is read twice.
fn copy_found_empty(restart: bool) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("files.json");
    let (log, copy) = (dir.path().join("app.log"), dir.path().join("app.log.1"));
    fs::write(&log, lines(0..100)).unwrap();
    let include = [dir.path().join("app.log*")];
    let registry = Arc::new(Registry::open(&state).unwrap());
    // Every line acknowledged as it is delivered: a line delivered twice is a duplicate
    // nothing excuses.
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(config(&include), registry).unwrap();
    c.run_until(&mut follower, "the original", |c| c.delivered.len() == 100);
    // `cp` has created the copy and not written yet.
    let mut cp = open_append(&copy);
    let name = copy.to_string_lossy().into_owned();
    c.run_until(&mut follower, "the empty copy", |c| {
        c.opened.iter().any(|(p, _, _)| *p == name)
    });
    assert!(
        c.opened
            .iter()
            .any(|(p, at, _)| *p == name && *at == Position::START),
        "{:?}",
        c.opened
    );
    if restart {
        drop(follower);
        let registry = Arc::new(Registry::open(&state).unwrap());
        let before = c;
        c = Collector::new(registry.clone(), 1);
        c.delivered = before.delivered;
        follower = Follower::new(config(&include), registry).unwrap();
    }
    cp.write_all(lines(0..100).as_bytes()).unwrap();
    drop(cp);
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    open_append(&log)
        .write_all(lines(100..150).as_bytes())
        .unwrap();
    c.run_until(&mut follower, "the lines after the truncation", |c| {
        c.delivered.len() >= 150
    });
    let settle = Instant::now() + Duration::from_millis(600);
    c.run_until(&mut follower, "settling", |_| Instant::now() >= settle);
    assert_exactly(&c.delivered, 150, 0);
    let end = lines(0..100).len() as u64;
    assert!(
        c.opened
            .iter()
            .any(|(p, at, why)| *p == name && at.offset == end && *why == OpenReason::Resumed),
        "the copy resumed at its original's acknowledged end: {:?}",
        c.opened
    );
}

#[test]
fn a_copytruncate_copy_found_before_cp_wrote_a_byte_is_not_read_twice() {
    copy_found_empty(false);
}

#[test]
fn a_copytruncate_copy_found_empty_before_a_restart_is_not_read_twice() {
    copy_found_empty(true);
}

/// 5 KiB of identical header, as two files of one application might start.
fn header() -> String {
    (0..100)
        .map(|i| format!("# header block {i:03} ---------------------------------\n"))
        .collect()
}

#[test]
fn a_shared_header_block_does_not_confuse_two_files_nor_a_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("files.json");
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, header() + &lines(0..50)).unwrap();
    fs::write(&b, header() + &lines(1000..1050)).unwrap();
    assert!(header().len() > 4096);
    let include = [dir.path().join("*.log")];
    {
        let registry = Arc::new(Registry::open(&state).unwrap());
        let mut c = Collector::new(registry.clone(), 1);
        let mut follower = Follower::new(config(&include), registry).unwrap();
        c.run_until(&mut follower, "both files", |c| c.delivered.len() == 100);
    }
    // b.log is replaced by another file with the same header; a.log grows. The restart
    // continues a.log and reads the new b.log from its start.
    let tmp = dir.path().join("b.tmp");
    fs::write(&tmp, header() + &lines(2000..2050)).unwrap();
    fs::rename(&tmp, &b).unwrap();
    open_append(&a).write_all(lines(50..60).as_bytes()).unwrap();
    let registry = Arc::new(Registry::open(&state).unwrap());
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(config(&include), registry).unwrap();
    c.run_until(&mut follower, "the new lines", |c| c.delivered.len() >= 60);
    let settle = Instant::now() + Duration::from_millis(400);
    c.run_until(&mut follower, "settling", |_| Instant::now() >= settle);
    let mut got = c.delivered.clone();
    got.sort_unstable();
    let expected: Vec<u64> = (50..60).chain(2000..2050).collect();
    assert_eq!(got, expected);
    assert_eq!(c.others.len(), 100, "the new b.log's header, once");
}

#[test]
fn a_reused_inode_with_other_content_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("files.json");
    let old = dir.path().join("old.log");
    fs::write(&old, header() + &lines(0..50)).unwrap();
    let include = [dir.path().join("*.log")];
    let old_ino = fs::metadata(&old).unwrap().ino();
    {
        let registry = Arc::new(Registry::open(&state).unwrap());
        let mut c = Collector::new(registry.clone(), 1);
        let mut follower = Follower::new(config(&include), registry).unwrap();
        c.run_until(&mut follower, "the old file", |c| c.delivered.len() == 50);
    }
    // The old file goes; a new one, longer, with the same header, takes its inode.
    fs::remove_file(&old).unwrap();
    let new = dir.path().join("new.log");
    let content = header() + &lines(100..200);
    let mut reused = false;
    for i in 0..200 {
        let candidate = dir.path().join(format!("try{i}.tmp"));
        fs::write(&candidate, &content).unwrap();
        if fs::metadata(&candidate).unwrap().ino() == old_ino {
            fs::rename(&candidate, &new).unwrap();
            reused = true;
            break;
        }
        fs::remove_file(&candidate).unwrap();
    }
    if !reused {
        // The filesystem did not hand the inode out again: simulate it in the registry.
        fs::write(&new, &content).unwrap();
        let ino = fs::metadata(&new).unwrap().ino();
        let json = fs::read_to_string(&state).unwrap();
        fs::write(
            &state,
            json.replace(&format!("\"ino\": {old_ino}"), &format!("\"ino\": {ino}")),
        )
        .unwrap();
    }
    let registry = Arc::new(Registry::open(&state).unwrap());
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(config(&include), registry).unwrap();
    c.run_until(&mut follower, "the new file", |c| c.delivered.len() >= 100);
    let mut got = c.delivered.clone();
    got.sort_unstable();
    assert_eq!(got, (100..200).collect::<Vec<_>>(), "reused inode {reused}");
    assert_eq!(c.opened[0].1, Position::START, "{:?}", c.opened);
}

#[test]
fn a_new_file_is_picked_up_within_the_rescan_interval_and_compressed_siblings_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::open(dir.path().join("files.json")).unwrap());
    let mut cfg = config(&[dir.path().join("app.log*")]);
    cfg.rescan = Duration::from_secs(1);
    fs::write(dir.path().join("app.log"), lines(0..5)).unwrap();
    // gzip by extension, and by magic number without one.
    fs::write(dir.path().join("app.log.2.gz"), lines(900..905)).unwrap();
    let mut gz = vec![0x1f, 0x8b, 0x08, 0x00];
    gz.extend_from_slice(lines(910..915).as_bytes());
    fs::write(dir.path().join("app.log.3"), &gz).unwrap();
    fs::write(dir.path().join("app.log.4"), b"BZh91AY&SY line 000920\n").unwrap();
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(cfg, registry).unwrap();
    c.run_until(&mut follower, "the first file", |c| c.delivered.len() == 5);
    let created = Instant::now();
    fs::write(dir.path().join("app.log.1"), lines(5..10)).unwrap();
    c.run_until(&mut follower, "the new file", |c| c.delivered.len() == 10);
    assert!(
        created.elapsed() < Duration::from_millis(1500),
        "{:?}",
        created.elapsed()
    );
    let settle = Instant::now() + Duration::from_millis(1200);
    c.run_until(&mut follower, "settling", |_| Instant::now() >= settle);
    let mut got = c.delivered.clone();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert!(c.others.is_empty(), "{:?}", c.others);
    assert_eq!(c.opened.len(), 2, "{:?}", c.opened);
}

#[test]
fn start_at_end_skips_only_what_existed_at_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("files.json");
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, lines(0..10)).unwrap();
    let mut cfg = config(&[dir.path().join("*.log")]);
    cfg.start_at = StartAt::End;
    {
        let registry = Arc::new(Registry::open(&state).unwrap());
        let mut c = Collector::new(registry.clone(), 1);
        let mut follower = Follower::new(cfg.clone(), registry).unwrap();
        c.run_until(&mut follower, "a.log opened", |c| !c.opened.is_empty());
        assert_eq!(
            c.opened[0].1,
            Position {
                offset: 120,
                line: 11
            }
        );
        open_append(&a).write_all(lines(10..12).as_bytes()).unwrap();
        // A file appearing later is read from its beginning.
        fs::write(&b, lines(100..105)).unwrap();
        c.run_until(&mut follower, "the new lines", |c| c.delivered.len() == 7);
        let mut got = c.delivered.clone();
        got.sort_unstable();
        assert_eq!(got, vec![10, 11, 100, 101, 102, 103, 104]);
    }
    // After a restart, a file the registry knows is resumed, not skipped to its end.
    open_append(&a).write_all(lines(12..14).as_bytes()).unwrap();
    let registry = Arc::new(Registry::open(&state).unwrap());
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(cfg, registry).unwrap();
    c.run_until(&mut follower, "the lines written while stopped", |c| {
        c.delivered.len() == 2
    });
    assert_eq!(c.delivered, vec![12, 13]);
}

#[test]
fn more_files_than_descriptors_are_all_read_fairly() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::open(dir.path().join("files.json")).unwrap());
    let mut cfg = config(&[dir.path().join("*.log")]);
    cfg.max_open_files = 3;
    cfg.chunk_bytes = 4096;
    // 9 files: one big and busy, the others small.
    fs::write(dir.path().join("big.log"), lines(0..20_000)).unwrap();
    for f in 1..9u64 {
        fs::write(
            dir.path().join(format!("f{f}.log")),
            lines(f * 100_000..f * 100_000 + 50),
        )
        .unwrap();
    }
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(cfg, registry).unwrap();
    let mut max_open = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut small_done_at_big = None;
    while c.delivered.len() < 20_000 + 8 * 50 {
        assert!(Instant::now() < deadline, "delivered {}", c.delivered.len());
        let _ = follower.step(Instant::now() + Duration::from_millis(20), &mut |e| {
            c.handle(e);
            ControlFlow::Continue(())
        });
        max_open = max_open.max(follower.open_files());
        let small = c.delivered.iter().filter(|&&n| n >= 100_000).count();
        if small == 8 * 50 && small_done_at_big.is_none() {
            small_done_at_big = Some(c.delivered.iter().filter(|&&n| n < 100_000).count());
        }
    }
    assert!(max_open <= 3, "{max_open} descriptors");
    // The small files did not wait for the big one to be read whole.
    let big_read = small_done_at_big.unwrap();
    assert!(big_read < 20_000, "the small files waited for the big one");
}

#[test]
fn an_idle_follower_sleeps_between_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::open(dir.path().join("files.json")).unwrap());
    for f in 0..20 {
        fs::write(dir.path().join(format!("f{f}.log")), lines(0..3)).unwrap();
    }
    let cfg = config(&[dir.path().join("*.log")]); // poll 50 ms, rescan 200 ms
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(cfg, registry).unwrap();
    c.run_until(&mut follower, "every file", |c| c.delivered.len() == 60);
    // One second idle: the step blocks until a tick (poll 50 ms, rescan 200 ms, registry
    // flush 1 s), so about 20 wakeups, never a busy loop.
    let start = Instant::now();
    let mut steps = 0;
    while start.elapsed() < Duration::from_secs(1) {
        let _ = follower.step(start + Duration::from_secs(10), &mut |e| {
            c.handle(e);
            ControlFlow::Continue(())
        });
        steps += 1;
    }
    assert!(steps <= 40, "{steps} wakeups in one idle second");
    assert!(steps >= 5, "{steps}: the follower still checks its files");
}

#[test]
fn the_watcher_notices_a_new_file_and_growth_long_before_the_next_tick() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::open(dir.path().join("files.json")).unwrap());
    let mut cfg = config(&[dir.path().join("*.log")]);
    // Ticks too slow to be what finds them.
    cfg.rescan = Duration::from_secs(30);
    cfg.poll = Duration::from_secs(30);
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(cfg, registry).unwrap();
    // The first step scans (nothing there yet) and starts watching.
    let _ = follower.step(Instant::now(), &mut |e| {
        c.handle(e);
        ControlFlow::Continue(())
    });
    let created = Instant::now();
    fs::write(dir.path().join("new.log"), lines(0..3)).unwrap();
    c.run_until(&mut follower, "the new file", |c| c.delivered.len() == 3);
    assert!(
        created.elapsed() < Duration::from_secs(1),
        "{:?}",
        created.elapsed()
    );
    let grown = Instant::now();
    open_append(&dir.path().join("new.log"))
        .write_all(lines(3..5).as_bytes())
        .unwrap();
    c.run_until(&mut follower, "the growth", |c| c.delivered.len() == 5);
    assert!(
        grown.elapsed() < Duration::from_secs(1),
        "{:?}",
        grown.elapsed()
    );
}

/// logrotate's numbering: `app.log.N` → `app.log.N+1`, `app.log` → `app.log.1`.
fn shift(dir: &Path, generations: u32) {
    for n in (1..=generations).rev() {
        let from = dir.join(format!("app.log.{n}"));
        if from.exists() {
            fs::rename(&from, dir.join(format!("app.log.{}", n + 1))).unwrap();
        }
    }
    fs::rename(dir.join("app.log"), dir.join("app.log.1")).unwrap();
}

#[test]
fn repeated_rotations_and_restarts_deliver_every_line_once_within_the_unacknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("files.json");
    let include = [dir.path().join("app.log*")];
    const ROTATIONS: u64 = 6;
    const PER: u64 = 120;
    let done = Arc::new(AtomicBool::new(false));
    fs::write(dir.path().join("app.log"), "").unwrap();
    let writer = {
        let (dir, done) = (dir.path().to_path_buf(), done.clone());
        std::thread::spawn(move || {
            for r in 0..=ROTATIONS {
                let mut f = open_append(&dir.join("app.log"));
                for n in r * PER..(r + 1) * PER - 10 {
                    f.write_all(line(n).as_bytes()).unwrap();
                    if n % 4 == 0 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                if r < ROTATIONS {
                    shift(&dir, r as u32 + 1);
                    File::create(dir.join("app.log")).unwrap();
                }
                // The application writes a few more lines to its old descriptor.
                append(&mut f, (r + 1) * PER - 10..(r + 1) * PER, false);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let total = (ROTATIONS + 1) * PER;
    let mut delivered = Vec::new();
    let mut dup_bound = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    for restart in 0.. {
        let registry = Arc::new(Registry::open(&state).unwrap());
        let mut c = Collector::new(registry.clone(), 5);
        c.delivered = std::mem::take(&mut delivered);
        let mut follower = Follower::new(config(&include), registry).unwrap();
        // Run a while (longer each time), then stop as a crash would, mid-rotation or not.
        let until = Instant::now() + Duration::from_millis(50 + 30 * restart);
        let all = |c: &Collector| {
            let mut d = c.delivered.clone();
            d.sort_unstable();
            d.dedup();
            d.len() == total as usize
        };
        c.run_until(&mut follower, "a while", |c| {
            Instant::now() >= until || (done.load(Ordering::SeqCst) && all(c))
        });
        let finished = done.load(Ordering::SeqCst) && all(&c);
        dup_bound += c.unacked();
        delivered = std::mem::take(&mut c.delivered);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        if finished {
            assert!(restart >= 3, "only {restart} restarts");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} lines",
            delivered.len()
        );
    }
    writer.join().unwrap();
    assert_exactly(&delivered, total, dup_bound);
}

#[test]
fn start_at_end_never_skips_a_new_file_at_the_path_of_a_file_rotated_before_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("files.json");
    let log = dir.path().join("app.log");
    fs::write(&log, lines(0..5)).unwrap();
    let mut cfg = config(std::slice::from_ref(&log));
    cfg.start_at = StartAt::End;
    {
        let registry = Arc::new(Registry::open(&state).unwrap());
        let mut c = Collector::new(registry.clone(), 1);
        let mut follower = Follower::new(cfg.clone(), registry.clone()).unwrap();
        c.run_until(&mut follower, "app.log opened", |c| !c.opened.is_empty());
        open_append(&log)
            .write_all(lines(5..10).as_bytes())
            .unwrap();
        c.run_until(&mut follower, "the appended lines", |c| {
            c.delivered.len() == 5
        });
        // Rotated; the follower learns the new name, then stops before the new file.
        fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        let rotated = dir.path().join("app.log.1");
        c.run_until(&mut follower, "the new name", |_| {
            registry.entries().iter().any(|e| e.path == rotated)
        });
    }
    fs::write(&log, lines(10..15)).unwrap();
    let registry = Arc::new(Registry::open(&state).unwrap());
    let mut c = Collector::new(registry.clone(), 1);
    let mut follower = Follower::new(cfg, registry).unwrap();
    c.run_until(&mut follower, "the new file, whole", |c| {
        c.delivered.len() == 5
    });
    assert_eq!(c.delivered, (10..15).collect::<Vec<_>>());
}

#[test]
fn only_the_read_that_ends_a_backlog_says_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::open(dir.path().join("files.json")).unwrap());
    let (backlog, small) = (dir.path().join("backlog.log"), dir.path().join("small.log"));
    fs::write(&backlog, lines(0..5_000)).unwrap(); // 60 kB: 14 chunks of 4 KiB and a bit
    fs::write(&small, lines(0..100)).unwrap(); // 1.2 kB: one short read
    let mut cfg = config(&[backlog.clone(), small.clone()]);
    cfg.chunk_bytes = 4096;
    let mut follower = Follower::new(cfg, registry).unwrap();
    // Per file: (bytes read, caught-up flags in read order).
    let mut reads: HashMap<FileKey, (String, u64, Vec<bool>)> = HashMap::new();
    let total = (5_000 + 100) * line(0).len() as u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    while reads.values().map(|r| r.1).sum::<u64>() < total {
        assert!(Instant::now() < deadline, "timed out: {reads:?}");
        let _ = follower.step(Instant::now() + Duration::from_millis(50), &mut |e| {
            match e {
                Event::Opened { key, path, .. } => {
                    reads.insert(key, (path.to_string(), 0, Vec::new()));
                }
                Event::Data {
                    key,
                    bytes,
                    caught_up,
                    ..
                } => {
                    let r = reads.get_mut(&key).expect("data after opened");
                    r.1 += bytes.len() as u64;
                    r.2.push(caught_up);
                }
                _ => {}
            }
            ControlFlow::Continue(())
        });
    }
    for (path, _, flags) in reads.values() {
        if path.ends_with("backlog.log") {
            let (last, before) = flags.split_last().unwrap();
            assert!(*last, "the read that ends the backlog says so: {flags:?}");
            assert!(before.iter().all(|c| !c), "only that one: {flags:?}");
        } else {
            assert_eq!(flags, &[false], "a small file is no backlog");
        }
    }
    // Growth after catching up trickles: no read of it says caught up.
    let mut f = open_append(&backlog);
    append(&mut f, 5_000..5_010, false);
    let mut grown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while grown.iter().map(|(n, _)| n).sum::<usize>() < 10 * line(0).len() {
        assert!(Instant::now() < deadline, "timed out: {grown:?}");
        let _ = follower.step(Instant::now() + Duration::from_millis(50), &mut |e| {
            if let Event::Data {
                bytes, caught_up, ..
            } = e
            {
                grown.push((bytes.len(), caught_up));
            }
            ControlFlow::Continue(())
        });
    }
    assert!(grown.iter().all(|(_, c)| !c), "{grown:?}");
}
