//! `logferry check`: problems listed with file, line and byte offset; exit 0/1/2.

use crate::*;

#[test]
fn clean_input_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.log"), numbered(10)).unwrap();
    let out = logferry()
        .args(["check", "ok.log"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "ok: 10 records in 1 input(s), no problem found\n"
    );
}

#[test]
fn every_problem_is_listed_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.json"), b"{\"ok\":1}\n{\"bad\":\n[1]\n{\"utf8\":\"\xff\"}\n{\"big\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n").unwrap();
    std::fs::write(dir.path().join("empty.log"), b"").unwrap();
    let out = logferry()
        .args([
            "check",
            "--format",
            "json",
            "--max-record-bytes",
            "40",
            "events.json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let upload = logferry()
        .args(["check", "--backend", "file-upload", "empty.log"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(upload.status.code(), Some(1));
    insta::assert_snapshot!(format!("{}{}", stdout(&out), stdout(&upload)));
}

#[test]
fn stdin_is_checked_and_missing_files_exit_2() {
    let mut cmd = logferry();
    cmd.args(["check", "-"]);
    let out = run_with_stdin(cmd, b"line\nline \xc3\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).lines().next(),
        Some("<stdin>: line 2, byte 5: invalid UTF-8 at byte 10")
    );
    let missing = logferry()
        .args(["check", "/nonexistent/file.log"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).starts_with(
        "logferry: error: cannot open /nonexistent/file.log: No such file or directory"
    ));
}
