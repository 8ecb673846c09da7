//! `logferry http-ingest` end to end.

use crate::*;
use logferry_emulator::{Endpoint, FaultSet, FaultStatus, Faults};

fn received(emu: &Emulator) -> Vec<String> {
    let mut v: Vec<String> = emu
        .records()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::HttpIngest)
        .map(|r| r.text)
        .collect();
    v.sort();
    v
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// `in.log` shipped with a spool in small batches, giving up after 1 s of failures.
fn spooled_run(emu: &Emulator, dir: &Path, summary: &str) -> std::process::Output {
    ingest(emu, dir)
        .args([
            "in.log",
            "--spool",
            "spool",
            "--retry-for",
            "1s",
            "--batch-bytes",
            "5000",
            "--summary-json",
            summary,
        ])
        .output()
        .unwrap()
}

fn ingest(emu: &Emulator, dir: &Path) -> Command {
    let mut cmd = logferry();
    cmd.arg("http-ingest")
        .arg("--ca-file")
        .arg(ca_file(emu, dir))
        .env("HTTP_INGEST_URL", emu.http_ingest_url())
        .env("HTTP_INGEST_KEY", emu.http_ingest_key())
        .current_dir(dir);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_delivered_and_summarised() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (numbered(3000), "second file line\n".repeat(10));
    std::fs::write(dir.path().join("a.log"), &a).unwrap();
    std::fs::write(dir.path().join("b.log"), &b).unwrap();
    let out = ingest(&emu, dir.path())
        .args([
            "a.log",
            "b.log",
            "--summary-json",
            "summary.json",
            "--batch-bytes",
            "20000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(received(&emu), sorted_lines(&format!("{a}{b}")));
    let summary = summary(dir.path(), "summary.json");
    assert_eq!(summary["status"], "delivered");
    assert_eq!(summary["records"]["read"], 3010);
    assert_eq!(summary["records"]["delivered"], 3010);
    assert_eq!(summary["inputs"][1]["name"], "b.log");
    assert_eq!(summary["inputs"][1]["line"], 11);
    assert!(summary["bytes_sent"].as_u64().unwrap() < summary["bytes_raw"].as_u64().unwrap());
    assert!(summary["requests"].as_u64().unwrap() >= 4);
    // The CPU compression took: some, and less than the whole run took on every core.
    let compress = summary["compress_cpu_secs"].as_f64().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    if cfg!(target_os = "linux") {
        assert!(compress > 0.0, "{summary}");
    }
    assert!(
        compress < summary["elapsed_secs"].as_f64().unwrap() * cores,
        "{summary}"
    );
    assert!(stderr(&out).contains("logferry http-ingest: delivered"));
    assert!(!dir.path().join("logferry-dead-letter.jsonl").exists());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_json_is_delivered() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let input = "[\n {\"a\": 1},\n {\"b\": \"two\"}\n]\n";
    let mut cmd = ingest(&emu, dir.path());
    cmd.args(["--format", "json", "-", "--summary-json", "s.json"]);
    let out = run_with_stdin(cmd, input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(received(&emu), [r#"{"a":1}"#, r#"{"b":"two"}"#]);
    assert_eq!(summary(dir.path(), "s.json")["records"]["delivered"], 2);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_records_go_to_the_dead_letter_file_and_exit_1() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.log"),
        b"good one\nbad \xff here\ngood two\n",
    )
    .unwrap();
    let out = ingest(&emu, dir.path())
        .args(["in.log", "--summary-json", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(received(&emu), ["good one", "good two"]);
    assert_eq!(summary(dir.path(), "s.json")["records"]["invalid"], 1);
    let dead = std::fs::read_to_string(dir.path().join("logferry-dead-letter.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(entry["kind"], "invalid");
    assert_eq!(entry["line"], 2);
    assert_eq!(entry["offset"], 9);
    assert_eq!(
        entry["reason"],
        "in.log: line 2, byte 9: invalid UTF-8 at byte 13"
    );
    assert_eq!(entry["raw_base64"], "YmFkIP8gaGVyZQ==");
    // A whole record carries no truncation mark.
    assert!(entry.get("truncated").is_none(), "{entry}");
    assert!(stderr(&out).contains("dead letter  1 records in logferry-dead-letter.jsonl"));
    // Named on stderr at the default verbosity, where it is.
    assert!(
        stderr(&out)
            .contains("in.log:2: byte 9: invalid UTF-8 at byte 13 (sent to the dead-letter file)"),
        "{}",
        stderr(&out)
    );
    // Readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.path().join("logferry-dead-letter.jsonl")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_first_twenty_invalid_records_are_named_then_counted() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let bad: Vec<u8> = (0..25)
        .flat_map(|i| [format!("bad {i} ").into_bytes(), vec![0xff, b'\n']].concat())
        .collect();
    std::fs::write(dir.path().join("in.log"), bad).unwrap();
    let out = ingest(&emu, dir.path())
        .args(["in.log", "--summary-json", "s.json"])
        .output()
        .unwrap();
    assert_eq!(summary(dir.path(), "s.json")["records"]["invalid"], 25);
    let err = stderr(&out);
    assert_eq!(
        err.matches("(sent to the dead-letter file)").count(),
        20,
        "{err}"
    );
    assert!(
        err.contains("5 more invalid records, not named here"),
        "{err}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_summary_path_that_cannot_be_written_is_refused_before_sending() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.log"), "one\n").unwrap();
    let out = ingest(&emu, dir.path())
        .args(["in.log", "--summary-json", "no/such/dir/s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write the summary to no/such/dir/s.json"));
    assert!(received(&emu).is_empty(), "nothing was sent");
    // An earlier summary is never left behind looking current.
    std::fs::write(dir.path().join("old.json"), "{\"status\":\"delivered\"}").unwrap();
    let out = ingest(&emu, dir.path())
        .args([
            "in.log",
            "--url",
            "http://127.0.0.1:9/nowhere",
            "--summary-json",
            "old.json",
        ])
        .args(["--retry-for", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = summary(dir.path(), "old.json");
    assert_eq!(summary["status"], "incomplete", "{summary}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spool_that_cannot_be_written_stops_the_run_with_its_summary() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.log"), numbered(500)).unwrap();
    let out = ingest(&emu, dir.path())
        .args(["in.log", "--spool", "spool", "--spool-max-bytes", "64"])
        .args(["--summary-json", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = summary(dir.path(), "s.json");
    let stopped = summary["stopped"].as_str().unwrap_or_default();
    assert!(stopped.contains("the spool failed"), "{summary}");
    assert!(
        stderr(&out).contains("the spool failed"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("logferry http-ingest: incomplete"),
        "{}",
        stderr(&out)
    );
    assert!(received(&emu).is_empty(), "nothing unspooled was sent");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_record_longer_than_what_is_kept_is_marked_truncated() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let huge = "y".repeat(9 << 20);
    std::fs::write(dir.path().join("in.log"), format!("small\n{huge}\nend\n")).unwrap();
    let out = ingest(&emu, dir.path())
        .args([
            "in.log",
            "--oversize",
            "reject",
            "--max-record-bytes",
            "1000",
            "--summary-json",
            "s.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(received(&emu), ["end", "small"]);
    assert_eq!(summary(dir.path(), "s.json")["records"]["invalid"], 1);
    let dead = std::fs::read_to_string(dir.path().join("logferry-dead-letter.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(entry["line"], 2);
    assert_eq!(entry["truncated"], true);
    assert_eq!(entry["records"].as_str().unwrap().len(), 8 << 20);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rejected_at_run_time_exits_1_and_never_prints_the_key() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.log"), numbered(100)).unwrap();
    let wrong = "wrong-key-do-not-print-7f3a9c";
    let out = ingest(&emu, dir.path())
        .env("HTTP_INGEST_KEY", wrong)
        .args(["-vvv", "in.log", "--summary-json", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("verify the integration key and URL pair"),
        "{err}"
    );
    assert!(
        err.contains("TRACE") || err.contains("DEBUG"),
        "-vvv must log"
    );
    let summary = std::fs::read_to_string(dir.path().join("s.json")).unwrap();
    for text in [&err, &stdout(&out), &summary] {
        assert!(!text.contains(wrong), "the key leaked");
        assert!(!text.contains(emu.http_ingest_key()), "the key leaked");
    }
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_counts_add_up(&summary);
    assert_eq!(summary["records"]["undelivered"], 100);
    assert!(summary["stopped"].as_str().unwrap().contains("401"));
    // Every undelivered batch says why.
    let failed = summary["failed"]
        .as_array()
        .expect("the failures are named");
    assert_eq!(
        failed.len() as u64,
        summary["failures"].as_u64().unwrap(),
        "{summary}"
    );
    assert!(
        failed
            .iter()
            .all(|f| f.as_str().unwrap().contains("in.log")),
        "{summary}"
    );
    emu.shutdown().await;
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.log"), "x\n").unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 4] = [
        (
            &["in.log"],
            &[("HTTP_INGEST_URL", "https://ingest.example.com/x")],
        ),
        (
            &["in.log"],
            &[
                ("HTTP_INGEST_URL", "http://ingest.example.com/x"),
                ("HTTP_INGEST_KEY", "k"),
            ],
        ),
        (
            &["missing.log"],
            &[
                ("HTTP_INGEST_URL", "https://ingest.example.com/x"),
                ("HTTP_INGEST_KEY", "k"),
            ],
        ),
        (
            &["in.log", "--key-file", "nokey"],
            &[("HTTP_INGEST_URL", "https://ingest.example.com/x")],
        ),
    ];
    let mut lines = Vec::new();
    for (args, env) in cases {
        let mut cmd = logferry();
        cmd.arg("http-ingest").args(args).current_dir(dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        lines.push(err.trim_end().to_owned());
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn help_never_shows_secrets_from_the_environment() {
    let out = logferry()
        .args(["http-ingest", "--help"])
        .env("HTTP_INGEST_KEY", "env-secret-3b1f")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("HTTP_INGEST_KEY"));
    assert!(!stdout(&out).contains("env-secret-3b1f"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spool_keeps_what_could_not_be_sent_and_reruns_do_not_resend() {
    let emu = emulator().await;
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(u64::MAX, FaultStatus::Code(503)),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = numbered(500);
    std::fs::write(dir.path().join("in.log"), &text).unwrap();
    let run = |summary: &str| spooled_run(&emu, dir.path(), summary);
    let read = |name: &str| summary(dir.path(), name);

    // 1. Nothing gets through: everything waits in the spool, nothing is dead-lettered.
    let first = run("1.json");
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let s1 = read("1.json");
    assert!(
        s1["spool"]["pending_batches"].as_u64().unwrap() >= 3,
        "{s1}"
    );
    assert_eq!(s1["records"]["delivered"], 0);
    assert!(!dir.path().join("spool").join("dead-letter.jsonl").exists());

    // 2. The endpoint recovers: the spooled batches are sent; the file is not read again.
    emu.set_faults(Faults::none()).unwrap();
    let second = run("2.json");
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let s2 = read("2.json");
    assert_eq!(
        s2["spool"]["replayed_batches"],
        s1["spool"]["pending_batches"]
    );
    assert_eq!(s2["spool"]["pending_batches"], 0);
    assert_eq!(s2["records"]["delivered"], 500);
    assert_eq!(received(&emu), sorted_lines(&text));

    // 3. Again: nothing new, nothing pending, nothing sent.
    let third = run("3.json");
    assert_eq!(third.status.code(), Some(0));
    assert_eq!(read("3.json")["records"]["read"], 0);
    assert_eq!(received(&emu).len(), 500);

    // 4. The file grows: only the new lines go.
    let mut grown = text.clone();
    grown.push_str("appended later\n");
    std::fs::write(dir.path().join("in.log"), &grown).unwrap();
    let fourth = run("4.json");
    assert_eq!(fourth.status.code(), Some(0));
    assert_eq!(read("4.json")["records"]["delivered"], 1);
    assert_eq!(received(&emu), sorted_lines(&grown));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_a_spool_in_use_is_refused_and_the_first_finishes() {
    use std::io::Write;
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["-", "--spool", "spool", "--no-progress"];
    let mut first = ingest(&emu, dir.path())
        .args(args)
        .args(["--summary-json", "1.json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = first.stdin.take().unwrap();
    input.write_all(b"first run, line 1\n").unwrap();
    // The first run holds the lock once its spool directory has the lock file.
    let spool = dir.path().join("spool");
    wait_for("no spool lock appeared", || {
        std::fs::read_dir(&spool)
            .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.path().join("spool.lock").exists())))
    });

    let mut cmd = ingest(&emu, dir.path());
    cmd.args(args);
    let second = run_with_stdin(cmd, b"second run\n");
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("in use by another logferry process"),
        "{}",
        stderr(&second)
    );

    input.write_all(b"first run, line 2\n").unwrap();
    drop(input);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(
        received(&emu),
        ["first run, line 1", "first run, line 2"].map(String::from)
    );
    assert_eq!(summary(dir.path(), "1.json")["records"]["delivered"], 2);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spool_batch_corrupted_on_disk_makes_the_run_incomplete() {
    let emu = emulator().await;
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(u64::MAX, FaultStatus::Code(503)),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.log"), numbered(500)).unwrap();
    let run = |summary: &str| spooled_run(&emu, dir.path(), summary);
    let first = run("1.json");
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    assert_eq!(summary(dir.path(), "1.json")["records"]["delivered"], 0);

    // Flip a byte inside the first entry's payload (after its 24-byte header).
    let spool_dir = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let segment = std::fs::read_dir(&spool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[40] ^= 0x55;
    std::fs::write(&segment, bytes).unwrap();

    emu.set_faults(Faults::none()).unwrap();
    let second = run("2.json");
    let summary = summary(dir.path(), "2.json");
    assert_eq!(second.status.code(), Some(1), "{summary}");
    assert_eq!(summary["status"], "incomplete", "{summary}");
    assert_eq!(summary["spool"]["lost_batches"], 1, "{summary}");
    assert!(stderr(&second).contains("1 lost"), "{}", stderr(&second));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_while_stdin_is_idle_ends_the_run_with_everything_accounted_for() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ingest(&emu, dir.path());
    cmd.args(["-", "--no-progress", "--summary-json", "s.json"]);
    let status = interrupt_while_idle(cmd, b"one\ntwo\nthree\n", 3, || received(&emu).len());
    let summary = summary(dir.path(), "s.json");
    assert_eq!(summary["records"]["delivered"], 3, "{summary} ({status})");
    assert_eq!(summary["records"]["undelivered"], 0, "{summary}");
    // Where reading stopped is kept.
    let input = &summary["inputs"][0];
    assert_eq!(input["interrupted"], true, "{summary}");
    assert_eq!(
        (input["line"].as_u64(), input["offset"].as_u64()),
        (Some(4), Some(14)),
        "{summary}"
    );
    assert_eq!(received(&emu), ["one", "three", "two"]);
    emu.shutdown().await;
}

/// Entries dropped from a full spool whose batches were still in memory and delivered are
/// not lost: the summary says so, and the run is complete.
#[tokio::test(flavor = "multi_thread")]
async fn entries_dropped_from_a_full_spool_but_delivered_are_not_counted_lost() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.log"), numbered(20_000)).unwrap();
    // The first answers are 503s: while the sender backs off, reading fills the spool.
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(3, FaultStatus::Code(503)),
    ))
    .unwrap();
    let out = ingest(&emu, dir.path())
        .args(["in.log", "--spool", "spool", "--spool-full", "drop-oldest"])
        .args([
            "--spool-max-bytes",
            "8000",
            "--batch-bytes",
            "2000",
            "--compression",
            "none",
            "--concurrency",
            "1",
        ])
        .args(["--summary-json", "s.json"])
        .output()
        .unwrap();
    let summary = summary(dir.path(), "s.json");
    assert!(
        stderr(&out).contains("spool full: dropped the oldest segment"),
        "the spool had to drop: {}",
        stderr(&out)
    );
    assert_eq!(summary["records"]["delivered"], 20_000, "{summary}");
    assert_eq!(summary["spool"]["lost_batches"], 0, "{summary}");
    assert_eq!(out.status.code(), Some(0), "{summary}");
    assert_eq!(received(&emu).len(), 20_000);
    emu.shutdown().await;
}

/// Issue 13, item 7: invalid and refused records in one run are each counted once, and
/// the dead-letter file holds what the summary says.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_and_rejected_records_in_one_run_all_add_up() {
    let emu = emulator().await;
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(u64::MAX, FaultStatus::Code(400)),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.log"),
        b"good one\nbad \xff here\ngood two\n",
    )
    .unwrap();
    let out = ingest(&emu, dir.path())
        .args(["in.log", "--summary-json", "s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let s = summary(dir.path(), "s.json");
    let counts = ["read", "delivered", "rejected", "invalid", "undelivered"]
        .map(|f| s["records"][f].as_u64().unwrap());
    assert_eq!(counts, [3, 0, 2, 1, 0], "{s}");
    let dead = std::fs::read_to_string(dir.path().join("logferry-dead-letter.jsonl")).unwrap();
    let mut kinds: Vec<(String, u64)> = dead
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    kinds.sort();
    let total: u64 = kinds.iter().map(|k| k.1).sum();
    assert_eq!(total, 3, "{kinds:?}");
    assert!(
        kinds.iter().all(|(k, _)| k == "invalid" || k == "rejected"),
        "{kinds:?}"
    );
    emu.shutdown().await;
}
