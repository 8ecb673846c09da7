//! The `Follow` source driven through `Source::start` and its acknowledgements, over
//! real files and a writer: linger while idle, rename-and-create with a restart in the
//! middle, truncation, release, and a closed receiver noticed while idle.

use logferry_framing::{Format, Position};
use logferry_pipeline::{Follow, FrontConfig, Item, Source};
use logferry_source::follow::{FollowConfig, Registry};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn line(n: u64) -> String {
    format!("line {n:06}\n")
}

fn write_lines(path: &Path, range: std::ops::Range<u64>) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for n in range {
        f.write_all(line(n).as_bytes()).unwrap();
    }
}

fn config(dir: &Path, pattern: &str) -> FollowConfig {
    FollowConfig {
        include: vec![dir.join(pattern).to_string_lossy().into_owned()],
        rescan: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        release_after: Duration::from_millis(300),
        ..FollowConfig::default()
    }
}

fn front() -> FrontConfig {
    let mut front = FrontConfig::new(Format::Text);
    front.batching.linger = Duration::from_millis(50);
    front
}

/// What the items said, with every batch acknowledged as it arrives (`ack`) or not.
#[derive(Default)]
struct Seen {
    lines: Vec<u64>,
    started: Vec<(String, Position)>,
    finished: Vec<(String, Position)>,
    errors: Vec<String>,
}

impl Seen {
    fn take(&mut self, item: Item, ack: bool) {
        match item {
            Item::Batch { batch, ack: a } => {
                for i in 0..batch.len() {
                    let (record, _) = batch.record(i).unwrap();
                    let text = std::str::from_utf8(record).unwrap().trim_end();
                    self.lines
                        .push(text.strip_prefix("line ").unwrap().parse().unwrap());
                }
                if ack {
                    a.expect("followed files acknowledge batches")().unwrap();
                }
            }
            Item::Started { name, position } => self.started.push((name.to_string(), position)),
            Item::Finished { name, position, .. } => {
                self.finished.push((name.to_string(), position))
            }
            other => self.errors.push(format!("{other:?}")),
        }
    }

    /// Receives until `done`, with a deadline.
    fn until(
        &mut self,
        rx: &mut tokio::sync::mpsc::Receiver<Item>,
        what: &str,
        done: impl Fn(&Seen) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {} lines, started {:?}, finished {:?}, errors {:?}",
                self.lines.len(),
                self.started,
                self.finished,
                self.errors
            );
            match rx.try_recv() {
                Ok(item) => self.take(item, true),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("the follow source ended: {e}"),
            }
        }
    }
}

fn unique(lines: &[u64]) -> Vec<u64> {
    let mut l = lines.to_vec();
    l.sort_unstable();
    l.dedup();
    l
}

/// Waits until only the test holds `registry`: the follow thread has exited.
fn await_exit(registry: &Arc<Registry>) -> Duration {
    let start = Instant::now();
    while Arc::strong_count(registry) > 1 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the follow thread did not exit"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

#[test]
fn follow_through_rename_and_create_with_a_restart_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let registry = Arc::new(Registry::open(dir.path().join("state/files.json")).unwrap());
    write_lines(&log, 0..100);
    let mut rx = Follow::new(config(dir.path(), "app.log"), registry.clone()).start(front());
    let mut seen = Seen::default();
    // 100 short lines do not fill a batch: they come out when the linger time is up,
    // with the file idle.
    seen.until(&mut rx, "the first lines", |s| s.lines.len() == 100);
    assert_eq!(
        seen.started,
        vec![(log.to_string_lossy().into_owned(), Position::START)]
    );
    // A writer appends while the source follows.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for n in 100..200 {
                write_lines(&log, n..n + 1);
                if n % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
        })
    };
    seen.until(&mut rx, "the appended lines", |s| s.lines.len() == 200);
    writer.join().unwrap();

    // Rotation: renamed, more lines to the old descriptor, a new file. The sink stops
    // (the receiver is dropped) before the source saw any of it.
    let mut old = OpenOptions::new().append(true).open(&log).unwrap();
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    write_lines(&log, 220..250);
    for n in 200..220 {
        old.write_all(line(n).as_bytes()).unwrap();
    }
    drop(old);
    drop(rx);
    let exited_in = await_exit(&registry);
    assert!(exited_in < Duration::from_secs(1), "{exited_in:?}");

    // A new source on the same registry drains the rotated file from where it was
    // acknowledged and reads the new one from its start.
    let mut rx = Follow::new(config(dir.path(), "app.log"), registry.clone()).start(front());
    seen.until(&mut rx, "the rotated lines", |s| {
        unique(&s.lines).len() == 250
    });
    seen.until(&mut rx, "the rotated file's release", |s| {
        !s.finished.is_empty()
    });
    assert_eq!(unique(&seen.lines), (0..250).collect::<Vec<_>>());
    assert_eq!(
        seen.lines.len(),
        250,
        "every line once: all were acknowledged"
    );
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let rotated = dir.path().join("app.log.1").to_string_lossy().into_owned();
    assert!(
        seen.started.contains(&(
            rotated.clone(),
            Position {
                offset: 2400,
                line: 201
            }
        )),
        "{:?}",
        seen.started
    );
    assert_eq!(
        seen.finished,
        vec![(
            rotated,
            Position {
                offset: 2640,
                line: 221
            }
        )]
    );
    drop(rx);
    await_exit(&registry);
    let entries = registry.entries();
    assert!(
        entries
            .iter()
            .any(|e| e.path == log && e.position.offset == 360 && e.size == Some(360)),
        "{entries:?}"
    );
}

#[test]
fn a_truncated_file_starts_a_new_framer_and_unacknowledged_lines_come_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let state = dir.path().join("files.json");
    let registry = Arc::new(Registry::open(&state).unwrap());
    write_lines(&log, 0..50);
    let mut rx = Follow::new(config(dir.path(), "*.log"), registry.clone()).start(front());
    let mut seen = Seen::default();
    seen.until(&mut rx, "the first lines", |s| s.lines.len() == 50);
    // Truncated, then shorter content: read again from 0 with a new framer.
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    write_lines(&log, 50..60);
    seen.until(&mut rx, "the new content", |s| s.lines.len() == 60);
    let name = log.to_string_lossy().into_owned();
    assert_eq!(
        seen.started,
        vec![
            (name.clone(), Position::START),
            (name.clone(), Position::START)
        ]
    );
    // More lines, received but never acknowledged: a restart sends them again.
    write_lines(&log, 60..70);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut unacked = 0;
    while unacked < 10 {
        assert!(Instant::now() < deadline);
        match rx.try_recv() {
            Ok(Item::Batch { batch, .. }) => unacked += batch.len(),
            Ok(other) => panic!("{other:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    drop(rx);
    await_exit(&registry);
    drop(registry);
    let registry = Arc::new(Registry::open(&state).unwrap());
    let mut rx = Follow::new(config(dir.path(), "*.log"), registry.clone()).start(front());
    let mut again = Seen::default();
    again.until(&mut rx, "the unacknowledged lines", |s| s.lines.len() == 10);
    assert_eq!(again.lines, (60..70).collect::<Vec<_>>());
    assert_eq!(
        again.started,
        vec![(
            name,
            Position {
                offset: 120,
                line: 11
            }
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_ships_followed_files_through_a_rotation_to_http_ingest_and_moves_the_registry() {
    use logferry_emulator::{Emulator, Endpoint};
    use logferry_http::{Client, ClientConfig, Secret};
    use logferry_pipeline::{Event, HttpIngestSink};
    use logferry_taegis_ingest::{Ingest, IngestConfig};
    use std::ops::ControlFlow;

    let emu = Emulator::builder()
        .plain_http()
        .seed(7)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let registry = Arc::new(Registry::open(dir.path().join("files.json")).unwrap());
    write_lines(&log, 0..100);
    let writer = {
        let (log, dir) = (log.clone(), dir.path().to_path_buf());
        std::thread::spawn(move || {
            for n in 100..300 {
                if n == 200 {
                    fs::rename(&log, dir.join("app.log.1")).unwrap();
                }
                write_lines(&log, n..n + 1);
                if n % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
        })
    };
    let config = IngestConfig::new(
        emu.http_ingest_url().parse().unwrap(),
        Secret::new(emu.http_ingest_key()),
    );
    let front = front();
    let sink = HttpIngestSink::new(
        Ingest::new(Client::new(ClientConfig::default()).unwrap(), config).unwrap(),
        &front.batching,
    );
    let mut delivered = 0;
    let source = Follow::new(config_for(dir.path()), registry.clone());
    let run = logferry_pipeline::run(source, &sink, front, None, |e| {
        if let Event::Delivered { records } = e {
            delivered += records;
        }
        if delivered >= 300 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let ledger = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("every line delivered in time");
    writer.join().unwrap();
    assert_eq!(ledger.delivered, 300);
    let mut got: Vec<String> = emu
        .records()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::HttpIngest)
        .map(|r| r.text)
        .collect();
    got.sort();
    let expected: Vec<String> = (0..300).map(|n| line(n).trim_end().to_owned()).collect();
    assert_eq!(got, expected);
    // The acknowledgements moved both files' entries to their ends.
    await_exit(&registry);
    let mut ends: Vec<u64> = registry
        .entries()
        .iter()
        .map(|e| e.position.offset)
        .collect();
    ends.sort_unstable();
    assert_eq!(ends, vec![1200, 2400]);
    emu.shutdown().await;
}

fn config_for(dir: &Path) -> FollowConfig {
    config(dir, "app.log*")
}

#[test]
fn json_records_are_framed_per_file_and_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.json");
    let registry = Arc::new(Registry::open(dir.path().join("files.json")).unwrap());
    let records: String = (0..20)
        .map(|n| format!("{{\"n\":{n},\"msg\":\"x\"}}\n"))
        .collect();
    fs::write(&log, &records).unwrap();
    let mut front = FrontConfig::new(Format::Json);
    front.batching.linger = Duration::from_millis(50);
    let mut rx = Follow::new(config(dir.path(), "*.json"), registry.clone()).start(front);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = 0;
    while got < 20 {
        assert!(Instant::now() < deadline, "{got} records");
        match rx.try_recv() {
            Ok(Item::Batch { batch, ack }) => {
                got += batch.len();
                ack.expect("NDJSON is resumable")().unwrap();
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    drop(rx);
    await_exit(&registry);
    let entries = registry.entries();
    assert_eq!(
        entries[0].position.offset,
        records.len() as u64,
        "{entries:?}"
    );
}

#[test]
fn the_end_of_a_backlog_goes_out_at_once_instead_of_lingering() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let registry = Arc::new(Registry::open(dir.path().join("state/files.json")).unwrap());
    write_lines(&log, 0..20_000); // 240 kB, read in 16 KiB chunks
    let mut config = config(dir.path(), "app.log");
    config.chunk_bytes = 16 << 10;
    let mut front = front();
    // Neither size nor time closes a batch within the test: only the end of the backlog.
    front.batching.linger = Duration::from_secs(3600);
    front.batching.target_bytes = 64 << 20;
    front.batching.max_bytes = 64 << 20;
    let mut rx = Follow::new(config, registry.clone()).start(front);
    let mut seen = Seen::default();
    seen.until(&mut rx, "the whole backlog", |s| s.lines.len() == 20_000);
    assert_eq!(unique(&seen.lines), (0..20_000).collect::<Vec<_>>());
    drop(rx);
    await_exit(&registry);
}
