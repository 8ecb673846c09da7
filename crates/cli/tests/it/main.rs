//! End-to-end tests of the `logferry` binary against `logferry-emulator` (in-process, TLS
//! with its CA, on 127.0.0.1): each subcommand's happy path, each exit code, stdin, `check`
//! output, and secrets staying out of every output.

mod chaos;
mod check;
mod demo;
mod file_upload;
mod http_ingest;
mod listen;
mod nats;
mod run;
mod sdl;

use logferry_emulator::Emulator;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The built binary.
pub fn logferry() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logferry"));
    // Never inherit credentials or log settings from the developer's shell.
    for var in [
        "HTTP_INGEST_URL",
        "HTTP_INGEST_KEY",
        "SDL_URL",
        "SDL_API_KEY",
        "TAEGIS_API_ENDPOINT",
        "ACCESS_TOKEN",
        "TAEGIS_CLIENT_ID",
        "TAEGIS_CLIENT_SECRET",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` with `stdin` piped in.
pub fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("logferry starts");
    let mut pipe = child.stdin.take().expect("piped");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&data));
    let out = child.wait_with_output().expect("logferry runs");
    writer.join().expect("writer").expect("stdin written");
    out
}

/// Writes the emulator's CA next to the test's files and returns its path.
pub fn ca_file(emu: &Emulator, dir: &Path) -> std::path::PathBuf {
    let path = dir.join("ca.pem");
    std::fs::write(&path, emu.ca_cert_pem().expect("TLS emulator")).unwrap();
    path
}

/// `n` numbered lines.
pub fn numbered(n: usize) -> String {
    (0..n)
        .map(|i| format!("event number {i} from the test\n"))
        .collect()
}

/// The child's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The child's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An emulator over TLS.
pub async fn emulator() -> Emulator {
    Emulator::builder().start().await.expect("emulator starts")
}

/// The `--summary-json` file `name` a run wrote in `dir`, its counts checked by
/// [`assert_counts_add_up`]: every test that reads a summary checks them.
pub fn summary(dir: &Path, name: &str) -> serde_json::Value {
    let bytes = std::fs::read(dir.join(name)).expect("the summary was written");
    let summary = serde_json::from_slice(&bytes).expect("the summary is JSON");
    assert_counts_add_up(&summary);
    summary
}

/// Issue 13, item 7: a summary's counts add up, whatever the backend and however the
/// run ended. Every record read (framed from the inputs, or replayed from the spool;
/// file-upload: every file) is exactly one of delivered, rejected, invalid or
/// undelivered: `read = delivered + rejected + invalid + undelivered`. And this run's
/// dead-letter count holds its invalid and rejected records, plus its undelivered ones
/// when no spool keeps them (README: "in the spool, or the dead-letter file without
/// one").
pub fn assert_counts_add_up(summary: &serde_json::Value) {
    let count = |field: &str| {
        summary["records"][field]
            .as_u64()
            .unwrap_or_else(|| panic!("records.{field} is a count: {summary}"))
    };
    let (read, delivered, rejected, invalid, undelivered) = (
        count("read"),
        count("delivered"),
        count("rejected"),
        count("invalid"),
        count("undelivered"),
    );
    assert_eq!(
        read,
        delivered + rejected + invalid + undelivered,
        "read = delivered + rejected + invalid + undelivered: {summary}"
    );
    let dead = summary["dead_letter"]["records"].as_u64().unwrap_or(0);
    let judged = invalid + rejected;
    if summary.get("spool").is_some() {
        assert!(
            (judged..=judged + undelivered).contains(&dead),
            "dead letters = invalid + rejected (+ undelivered not kept in the spool): {summary}"
        );
    } else {
        assert_eq!(
            dead,
            judged + undelivered,
            "without a spool, dead letters = invalid + rejected + undelivered: {summary}"
        );
    }
    let complete = rejected + invalid + undelivered == 0;
    if summary["status"] == "delivered" {
        assert!(complete, "a delivered run lost nothing: {summary}");
    }
}

/// Waits up to 20 s for `done`, panicking with `what` if it never is.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs `cmd` (a sending subcommand reading `-`) with standard input kept open: writes
/// `input`, waits until `arrived` says all `expected` records reached the emulator, sends
/// SIGINT while the input is idle, and returns the exit status once the run has ended.
pub fn interrupt_while_idle(
    mut cmd: Command,
    input: &[u8],
    expected: usize,
    arrived: impl Fn() -> usize,
) -> std::process::ExitStatus {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logferry starts");
    let mut pipe = child.stdin.take().expect("piped");
    pipe.write_all(input).unwrap();
    pipe.flush().unwrap();
    wait_for("idle input was not flushed", || arrived() >= expected);
    // Standard input stays open and idle: only the signal can end the run.
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut status = None;
    wait_for("the run ignored the interrupt", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    drop(pipe);
    status.expect("ended")
}
