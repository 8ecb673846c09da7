//! The API as the pipeline uses it: appends on one thread and acks from many, replay
//! while acks arrive, ids across restarts, each fsync policy, error messages.

use crate::{fast, payloads, replay, segments};
use logferry_spool::{EntryId, Error, FsyncPolicy, Replay, Spool, SpoolConfig};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn spool_and_replay_can_be_shared_and_moved_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send_static<T: Send + 'static>() {}
    send_sync::<Spool>();
    send_static::<Replay>();
}

#[test]
fn one_appender_and_concurrent_ackers_under_each_policy() {
    for fsync in [
        FsyncPolicy::Never,
        FsyncPolicy::Interval(Duration::from_millis(1)),
        FsyncPolicy::EveryBatch,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = SpoolConfig {
            fsync,
            segment_bytes: 4096,
            ..SpoolConfig::default()
        };
        let spool = Arc::new(Spool::open(dir.path(), config).unwrap());
        let (tx, rx) = mpsc::channel::<EntryId>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let ackers: Vec<_> = (0..3)
            .map(|_| {
                let (spool, rx) = (spool.clone(), rx.clone());
                std::thread::spawn(move || {
                    loop {
                        let next = rx.lock().unwrap().recv();
                        let Ok(id) = next else { break };
                        // Deliver the odd entries; the even ones "fail" and stay.
                        if id.get() % 2 == 1 {
                            spool.ack(id).unwrap();
                        }
                    }
                })
            })
            .collect();
        let n = 600u64;
        for i in 0..n {
            let id = spool.append(format!("entry {i:05}").as_bytes()).unwrap();
            assert_eq!(id.get(), i);
            tx.send(id).unwrap();
        }
        drop(tx);
        for a in ackers {
            a.join().unwrap();
        }
        let stats = spool.stats();
        assert_eq!(
            (stats.appended, stats.acked, stats.entries),
            (n, n / 2, n / 2)
        );
        drop(spool);

        let spool = Spool::open(dir.path(), config).unwrap();
        let left: Vec<u64> = replay(&spool).iter().map(|(id, _)| id.get()).collect();
        let even: Vec<u64> = (0..n).step_by(2).collect();
        assert_eq!(left, even, "{fsync:?}");
        // Ids go on from where the last process stopped.
        assert_eq!(spool.append(b"next").unwrap().get(), n);
    }
}

#[test]
fn replay_skips_entries_acknowledged_while_it_runs_and_ignores_newer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(
        dir.path(),
        SpoolConfig {
            segment_bytes: 64,
            ..fast()
        },
    )
    .unwrap();
    let ids: Vec<_> = (0..10u8).map(|i| spool.append(&[i; 20]).unwrap()).collect();
    let mut replay = spool.replay();
    let (first, _) = replay.next().unwrap().unwrap();
    assert_eq!(first, ids[0]);
    spool.ack(ids[1]).unwrap();
    spool.ack(ids[2]).unwrap(); // one entry per segment: both deleted under the replay
    spool.append(b"after the replay started").unwrap();
    let rest: Vec<_> = replay.map(|r| r.unwrap().0).collect();
    assert_eq!(rest, ids[3..]);
}

#[test]
fn fully_acknowledged_segments_are_deleted_but_the_current_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(
        dir.path(),
        SpoolConfig {
            segment_bytes: 100,
            ..fast()
        },
    )
    .unwrap();
    let ids: Vec<_> = (0..6).map(|_| spool.append(&[1; 26]).unwrap()).collect();
    assert_eq!(segments(dir.path()).len(), 3);
    // Out of order: the last segment first, then the first.
    for i in [5, 4, 1, 0] {
        spool.ack(ids[i]).unwrap();
    }
    let firsts: Vec<u64> = segments(dir.path()).iter().map(|(f, _)| *f).collect();
    assert_eq!(firsts, [2, 4], "segment 0 deleted, current segment 4 kept");
    assert_eq!(spool.stats().segments, 2);
    drop(spool);
    let spool = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "finished segment 4 deleted at open"
    );
    assert_eq!(payloads(&spool).len(), 2);
}

#[test]
fn sync_flushes_under_every_policy_and_interval_keeps_working() {
    for fsync in [
        FsyncPolicy::Never,
        FsyncPolicy::Interval(Duration::ZERO),
        FsyncPolicy::EveryBatch,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(
            dir.path(),
            SpoolConfig {
                fsync,
                ..SpoolConfig::default()
            },
        )
        .unwrap();
        let id = spool.append(b"x").unwrap();
        spool.sync().unwrap();
        spool.ack(id).unwrap();
        spool.sync().unwrap();
        spool.append(b"y").unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), fast()).unwrap();
        assert_eq!(payloads(&spool), [b"y"]);
    }
}

#[test]
fn acking_an_id_never_handed_out_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), fast()).unwrap();
    spool.append(b"a").unwrap();
    assert!(matches!(
        spool.ack(EntryId::new(1)),
        Err(Error::UnknownEntry { id: 1 })
    ));
    spool.ack(EntryId::new(0)).unwrap();
}

#[test]
fn open_fails_with_a_message_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let err = Spool::open(&file, fast()).unwrap_err();
    let shown = err
        .to_string()
        .replace(&*dir.path().to_string_lossy(), "[TMP]");
    insta::assert_snapshot!(shown, @"cannot create [TMP]/not-a-dir");
}

#[test]
fn error_messages() {
    let messages = [
        Error::EntryTooLarge {
            len: 2_000_000,
            max_bytes: 1_000_000,
        },
        Error::Full {
            waited: Duration::from_millis(1500),
        },
        Error::Closed,
        Error::UnknownEntry { id: 42 },
    ]
    .map(|e| e.to_string())
    .join("\n");
    insta::assert_snapshot!(messages, @r"
    entry of 2000000 bytes cannot fit in a spool of 1000000 bytes
    spool still full after waiting 1.5s for deliveries to free space
    spool is shut down
    entry 42 was never appended to this spool
    ");
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = Spool::open(dir.path(), fast()).unwrap();
    let id = first.append(b"held by the first").unwrap();
    let err = Spool::open(dir.path(), fast()).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { dir: d } if d == dir.path()),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("in use by another logferry process"),
        "{message}"
    );
    // The refused open touched nothing: the first spool still works.
    first.ack(id).unwrap();
    first.append(b"still appending").unwrap();
    drop(first);
    let second = Spool::open(dir.path(), fast()).unwrap();
    assert_eq!(payloads(&second), [b"still appending".to_vec()]);
}

#[cfg(unix)]
#[test]
fn segments_and_acks_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    let id = spool
        .append(b"a record someone else must not read\n")
        .unwrap();
    spool.append(b"another\n").unwrap();
    spool.ack(id).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".seg") || name.ends_with(".ack") {
            seen += 1;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
    }
    assert_eq!(seen, 2, "one segment and its acks");
}
