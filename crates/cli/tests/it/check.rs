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

/// Awkward JSON records: bad JSON, bad and odd times and severities, invalid UTF-8, an
/// over-long record, a byte order mark, empty lines, a value that is not an object, and
/// a last record without its line feed.
fn awkward_json() -> Vec<u8> {
    let mut input = "\u{feff}{\"msg\":\"after a BOM\"}\n".as_bytes().to_vec();
    for line in [
        &b"{\"ts\":\"2026-11-23T20:00:00Z\",\"level\":\"error\",\"msg\":\"fine\"}"[..],
        b"",
        b"{\"bad\": tru}",
        b"{\"ts\":\"yesterday\",\"msg\":\"bad time\"}",
        b"{\"timestamp\":\"2026-11-23 20:00:00\",\"msg\":\"space, no zone\"}",
        b"{\"timestamp\":\"2026-11-23T20:00:00,5+0100\",\"msg\":\"comma, +hhmm\"}",
        b"{\"sev\":\"loud\",\"msg\":\"bad severity\"}",
        b"{\"level\":\"WARNING\",\"msg\":\"syslog name\"}",
        b"{\"ts\":1763928000,\"msg\":\"numeric time\"}",
        b"  ",
        b"{\"msg\":\"caf\xe9\"}",
        b"[1, 2]",
        b"\"a string\"",
        b"{\"ts\":-5,\"msg\":\"negative time\"}",
        b"{\"n\":18446744073709551616,\"x\":1E400}",
        b"{\"a\":{\"b\":18446744073709551616},\"c\":[-0.0000000000000000000001,1E400]}",
    ] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    input.extend_from_slice(format!("{{\"big\":\"{}\"}}\n", "x".repeat(400)).as_bytes());
    input.extend_from_slice(b"{\"msg\":\"last, unterminated\"}");
    input
}

/// The same troubles as text lines (a long line is split by default, not refused).
fn awkward_text() -> Vec<u8> {
    let mut input = "\u{feff}after a BOM\nfine\n\n   \n".as_bytes().to_vec();
    input.extend_from_slice(b"latin-1 caf\xe9\n");
    input.extend_from_slice(format!("{}\n", "y".repeat(700)).as_bytes());
    input.extend_from_slice(b"cut \xe2\x82\nlast, unterminated");
    input
}

/// What `check` said of `file`: the (line, byte) of each problem, and the good records.
fn check_verdicts(dir: &Path, backend: &str, flags: &[&str], file: &str) -> (Vec<(u64, u64)>, u64) {
    let out = logferry()
        .args(["check", "--backend", backend])
        .args(flags)
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = stdout(&out);
    let mut problems = Vec::new();
    let mut good = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(&format!("{file}: line ")) {
            if rest.contains(": note: ") {
                continue;
            }
            let (line_no, rest) = rest.split_once(", byte ").expect("line N, byte M");
            let (offset, _) = rest.split_once(':').expect("byte M: reason");
            problems.push((line_no.parse().unwrap(), offset.parse().unwrap()));
        } else if let Some(rest) = line.strip_prefix("ok: ") {
            good = rest.split_once(' ').map(|(n, _)| n.parse().unwrap());
        } else if let Some((_, rest)) = line.split_once(" input(s) (") {
            good = rest.split_once(' ').map(|(n, _)| n.parse().unwrap());
        } else {
            panic!("unexpected check output: {line}\n{text}");
        }
    }
    let expected_exit = if problems.is_empty() { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(expected_exit), "{text}");
    problems.sort_unstable();
    (problems, good.expect("a last line with the count"))
}

/// What the sender did with `file`: the (line, byte) of each record in the dead-letter
/// file (every one invalid or refused, none undelivered), and the records delivered.
fn sender_verdicts(
    mut cmd: Command,
    dir: &Path,
    flags: &[&str],
    file: &str,
) -> (Vec<(u64, u64)>, u64) {
    let out = cmd
        .args(flags)
        .args([
            file,
            "--dead-letter",
            "dead.jsonl",
            "--summary-json",
            "s.json",
        ])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let dead = std::fs::read_to_string(dir.join("dead.jsonl")).unwrap_or_default();
    let _ = std::fs::remove_file(dir.join("dead.jsonl"));
    let mut problems = Vec::new();
    for line in dead.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            matches!(entry["kind"].as_str(), Some("invalid" | "rejected")),
            "only records the sender judged: {entry}"
        );
        assert_eq!(entry["count"], 1, "{entry}");
        problems.push((
            entry["line"].as_u64().unwrap(),
            entry["offset"].as_u64().unwrap(),
        ));
    }
    problems.sort_unstable();
    let summary = summary(dir, "s.json");
    assert_eq!(summary["records"]["undelivered"], 0, "{summary}");
    (problems, summary["records"]["delivered"].as_u64().unwrap())
}

/// `check --backend B` and the sender for B give the same verdict on every record of an
/// awkward corpus: the same invalid records (by line and byte) and the same number of
/// good ones, for SDL and HTTP Ingest, JSON and text, with default and strict policies.
#[tokio::test(flavor = "multi_thread")]
async fn check_and_the_senders_agree_record_for_record() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("awkward.json"), awkward_json()).unwrap();
    std::fs::write(dir.path().join("awkward.log"), awkward_text()).unwrap();
    let ca = ca_file(&emu, dir.path());
    let sender = |backend: &str| {
        let mut cmd = logferry();
        cmd.arg(backend)
            .arg("--ca-file")
            .arg(&ca)
            .current_dir(dir.path());
        match backend {
            "sdl" => cmd
                .env("SDL_URL", emu.sdl_url())
                .env("SDL_API_KEY", emu.sdl_api_key()),
            _ => cmd
                .env("HTTP_INGEST_URL", emu.http_ingest_url())
                .env("HTTP_INGEST_KEY", emu.http_ingest_key()),
        };
        cmd
    };
    let cases: [(&str, &[&str]); 4] = [
        (
            "awkward.json",
            &["--format", "json", "--max-record-bytes", "300"],
        ),
        ("awkward.log", &["--max-record-bytes", "300"]),
        (
            "awkward.log",
            &["--max-record-bytes", "300", "--oversize", "reject"],
        ),
        (
            "awkward.log",
            &["--max-record-bytes", "300", "--invalid-utf8", "replace"],
        ),
    ];
    for backend in ["sdl", "http-ingest"] {
        for (file, flags) in cases {
            let checked = check_verdicts(dir.path(), backend, flags, file);
            let sent = sender_verdicts(sender(backend), dir.path(), flags, file);
            assert_eq!(checked, sent, "{backend} {file} {flags:?}: check vs sender");
        }
    }
    emu.shutdown().await;
}
