//! Checkpoints and resume: a rerun continues after what was shipped; growth, truncation,
//! replacement and rotation are each recognised; the store survives reopening.

use crate::{chain, open, read_all};
use logferry_framing::SourceRange;
use logferry_source::{
    CHECKPOINT_DIR, CheckpointConfig, Checkpoints, HEAD_BYTES, Position, RestartReason, Resume,
    Source,
};
use std::io::Write;
use std::path::Path;

fn store(dir: &Path) -> Checkpoints {
    Checkpoints::open(dir, CheckpointConfig::default()).unwrap()
}

/// Reads `path` whole and checkpoints at its end (as if every record was delivered).
fn ship_all(path: &Path, checkpoints: &Checkpoints) -> Position {
    let mut source = open(path, Some(checkpoints));
    let (bytes, _) = read_all(&mut source);
    let start = source.start();
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let end = Position {
        offset: source.offset(),
        line: start.line + lines,
    };
    checkpoints.store(&source.checkpoint(end).unwrap()).unwrap();
    end
}

fn append(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn a_rerun_continues_after_the_checkpoint_and_a_shipped_file_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    std::fs::write(&log, b"one\ntwo\nthree\n").unwrap();
    let cps = store(tmp.path());

    // Only the first two records were delivered before the process died.
    let mut source = open(&log, Some(&cps));
    assert_eq!(source.resume(), Resume::Fresh);
    read_all(&mut source);
    let delivered = Position { offset: 8, line: 3 };
    cps.store(&source.checkpoint(delivered).unwrap()).unwrap();
    drop(cps);

    let cps = store(tmp.path());
    let mut source = open(&log, Some(&cps));
    assert_eq!(source.resume(), Resume::Continued(delivered));
    assert_eq!(source.start(), delivered);
    assert_eq!(read_all(&mut source).0, b"three\n");

    let end = ship_all(&log, &cps);
    assert_eq!(
        end,
        Position {
            offset: 14,
            line: 4
        }
    );
    let mut source = open(&log, Some(&cps));
    assert_eq!(source.resume(), Resume::Continued(end));
    assert_eq!(source.read_chunk().unwrap(), None, "nothing left to send");

    // Without a store there are no checkpoints: everything again.
    let mut source = open(&log, None);
    assert_eq!(source.resume(), Resume::Fresh);
    assert_eq!(read_all(&mut source).0.len(), 14);
}

#[test]
fn a_file_that_grew_past_the_fingerprinted_head_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("small.log");
    std::fs::write(&log, b"tiny\n").unwrap();
    let cps = store(tmp.path());
    let end = ship_all(&log, &cps);
    let more = "x".repeat(99).to_owned() + "\n";
    append(&log, more.repeat(100).as_bytes()); // now ~10 KB, head fingerprint was 5 bytes
    let mut source = open(&log, Some(&cps));
    assert_eq!(source.resume(), Resume::Continued(end));
    assert_eq!(read_all(&mut source).0.len(), 10_000);
    // A checkpoint taken now covers the first 4 KiB, read while shipping.
    let cp = source.checkpoint(source.start()).unwrap();
    assert_eq!(cp.fingerprint.head_len, 4096);
    cps.store(&cp).unwrap();
    let source = open(&log, Some(&cps));
    assert_eq!(source.resume(), Resume::Continued(end));
}

#[test]
fn a_truncated_file_restarts_from_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    std::fs::write(&log, b"first line\nsecond line\n").unwrap();
    let cps = store(tmp.path());
    ship_all(&log, &cps);
    // logrotate copytruncate: same inode, cut to 0, new lines written.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, b"first\n");
    let mut source = open(&log, Some(&cps));
    assert_eq!(
        source.resume(),
        Resume::Restarted(RestartReason::Truncated {
            checkpoint: 23,
            len: 6
        })
    );
    assert_eq!(source.start(), Position::START);
    assert_eq!(read_all(&mut source).0, b"first\n");
}

#[test]
fn a_replaced_file_of_any_length_restarts_from_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    std::fs::write(&log, b"2024-01-01 old line\n").unwrap();
    let cps = store(tmp.path());
    ship_all(&log, &cps);
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&log, b"2024-01-02 new line\nand another one\n").unwrap();
    let mut source = open(&log, Some(&cps));
    assert_eq!(source.resume(), Resume::Restarted(RestartReason::Replaced));
    assert_eq!(read_all(&mut source).0.len(), 36);
    assert_eq!(
        RestartReason::Replaced.to_string(),
        "file's first bytes changed since its checkpoint: replaced"
    );
}

#[cfg(unix)]
#[test]
fn a_rotated_file_is_found_again_by_inode_and_its_successor_starts_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    let rotated = tmp.path().join("app.log.1");
    std::fs::write(&log, b"old 1\nold 2\n").unwrap();
    let cps = store(tmp.path());
    let end = ship_all(&log, &cps);
    append(&log, b"old 3\n"); // written just before rotation, never shipped
    std::fs::rename(&log, &rotated).unwrap();
    std::fs::write(&log, b"new 1\n").unwrap();

    let mut source = open(&rotated, Some(&cps));
    assert_eq!(source.resume(), Resume::Continued(end));
    assert_eq!(read_all(&mut source).0, b"old 3\n");
    let mut source = open(&log, Some(&cps));
    assert!(
        matches!(source.resume(), Resume::Restarted(_)),
        "{:?}",
        source.resume()
    );
    assert_eq!(read_all(&mut source).0, b"new 1\n");
}

#[test]
fn the_store_is_one_atomic_json_file_per_source_and_survives_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.log");
    let b = tmp.path().join("b.log");
    std::fs::write(&a, b"a\n").unwrap();
    std::fs::write(&b, b"b\n").unwrap();
    let cps = store(tmp.path());
    ship_all(&a, &cps);
    ship_all(&b, &cps);
    ship_all(&b, &cps); // replaced, not duplicated
    let dir = tmp.path().join(CHECKPOINT_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".json")), "{names:?}");

    let canonical_a = std::fs::canonicalize(&a).unwrap();
    let text = std::fs::read_to_string(
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::read_to_string(p).unwrap().contains("a.log"))
            .unwrap(),
    )
    .unwrap();
    let shown = text
        .replace(&*canonical_a.parent().unwrap().to_string_lossy(), "[TMP]")
        .split(",\"file_id\":")
        .map(|part| match part.split_once("},") {
            Some((_, rest)) if part.starts_with('{') => format!("[ID],{rest}"),
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",\"file_id\":");
    insta::assert_snapshot!(shown, @r#"{"version":1,"path":"[TMP]/a.log","file_id":[ID],"offset":2,"line":2,"head_len":2,"head_hash":"089bdc07b544e7b2","tail_len":2,"tail_hash":"089bdc07b544e7b2"}"#);

    // A damaged file and a leftover temporary file from a crash mid-store.
    let b_file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains("b.log"))
        .unwrap();
    std::fs::write(&b_file, b"{\"version\":1,\"pa").unwrap();
    std::fs::write(dir.join("0123456789abcdef.json.7.tmp"), b"{").unwrap();
    drop(cps);
    let cps = store(tmp.path());
    assert_eq!(cps.all().len(), 1);
    assert!(!dir.join("0123456789abcdef.json.7.tmp").exists());
    assert_eq!(
        open(&a, Some(&cps)).resume(),
        Resume::Continued(Position { offset: 2, line: 2 })
    );
    assert_eq!(
        open(&b, Some(&cps)).resume(),
        Resume::Fresh,
        "damaged checkpoint: resend"
    );
}

/// A 4 KiB header block (a banner), then `records` records of 16 bytes each tagged `tag`.
fn with_header(tag: &str, records: usize) -> Vec<u8> {
    let mut bytes = b"# banner".to_vec();
    bytes.resize(HEAD_BYTES - 1, b'=');
    bytes.push(b'\n');
    for i in 0..records {
        bytes.extend_from_slice(format!("{tag} record {i:04}\n").as_bytes());
    }
    bytes
}

#[test]
fn a_file_rewritten_in_place_behind_the_same_header_is_read_again_from_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    std::fs::write(&log, with_header("old", 600)).unwrap();
    let cps = store(tmp.path());
    // Half the records were shipped.
    let mut source = open(&log, Some(&cps));
    read_all(&mut source);
    let shipped = Position {
        offset: HEAD_BYTES as u64 + 300 * 16,
        line: 302,
    };
    cps.store(&source.checkpoint(shipped).unwrap()).unwrap();

    // Growth alone still continues after the checkpoint.
    append(&log, b"new record 0600\n");
    assert_eq!(open(&log, Some(&cps)).resume(), Resume::Continued(shipped));

    // Rewritten in place (same inode, same header, same length): new records throughout.
    let rewritten = with_header("new", 601);
    assert_eq!(
        rewritten.len(),
        std::fs::metadata(&log).unwrap().len() as usize
    );
    std::fs::write(&log, &rewritten).unwrap();
    let mut source = open(&log, Some(&cps));
    assert_eq!(
        source.resume(),
        Resume::Restarted(RestartReason::Rewritten {
            checkpoint: shipped.offset
        })
    );
    assert_eq!(source.start(), Position::START);
    assert_eq!(read_all(&mut source).0, rewritten, "nothing skipped");
    assert_eq!(
        RestartReason::Rewritten { checkpoint: 8896 }.to_string(),
        "file's bytes before its checkpoint at byte 8896 changed since (its first bytes did \
         not): rewritten"
    );
}

#[test]
fn checkpoints_moved_after_a_batch_notice_a_rewrite_too() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    std::fs::write(&log, with_header("old", 600)).unwrap();
    let cps = store(tmp.path());
    // As the pipeline does: a template at the start, moved after each safe batch.
    let mut source = open(&log, Some(&cps));
    let template = source.checkpoint(source.start()).unwrap();
    read_all(&mut source);
    let range = SourceRange {
        source_name: None,
        start: Position::START,
        end: HEAD_BYTES as u64 + 300 * 16,
        last_line: 301,
    };
    let checkpoint = template.after(&range).unwrap();
    assert!(checkpoint.fingerprint.tail.is_some() || cfg!(not(unix)));
    cps.store(&checkpoint).unwrap();
    assert_eq!(
        open(&log, Some(&cps)).resume(),
        Resume::Continued(checkpoint.position)
    );

    std::fs::write(&log, with_header("new", 600)).unwrap();
    let source = open(&log, Some(&cps));
    if cfg!(unix) {
        assert!(
            matches!(
                source.resume(),
                Resume::Restarted(RestartReason::Rewritten { .. })
            ),
            "{:?}",
            source.resume()
        );
    }

    // A template whose file was renamed away and replaced stores no checkpoint: the next
    // run reads the new file again rather than trusting bytes it never read.
    #[cfg(unix)]
    {
        std::fs::rename(&log, tmp.path().join("app.log.1")).unwrap();
        std::fs::write(&log, with_header("new", 600)).unwrap();
        assert_eq!(template.after(&range), None);
    }
}

#[test]
fn checkpoints_stored_without_a_tail_still_load_and_compare_the_head_only() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    std::fs::write(&log, with_header("old", 600)).unwrap();
    let cps = store(tmp.path());
    let end = ship_all(&log, &cps);
    drop(cps);
    // Rewrite the stored file as an older version wrote it: no tail fields.
    let dir = tmp.path().join(CHECKPOINT_DIR);
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let object = json.as_object_mut().unwrap();
    assert!(object.remove("tail_len").is_some() || cfg!(not(unix)));
    object.remove("tail_hash");
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();

    let cps = store(tmp.path());
    assert_eq!(cps.all()[0].fingerprint.tail, None);
    assert_eq!(open(&log, Some(&cps)).resume(), Resume::Continued(end));
}

#[test]
fn store_errors_name_the_checkpoint_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(CHECKPOINT_DIR), b"a file in the way").unwrap();
    let err = Checkpoints::open(tmp.path(), CheckpointConfig::default()).unwrap_err();
    insta::assert_snapshot!(chain(&err, tmp.path()), @"cannot create checkpoint file [TMP]/checkpoints: File exists (os error 17)");
}

#[test]
fn shared_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Checkpoints>();
    send::<Source>();
}
