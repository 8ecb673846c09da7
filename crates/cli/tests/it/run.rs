//! `logferry run` end to end: a real daemon process following real files that a writer
//! appends to and rotates, shipping to the emulator, stopped by real signals (SIGTERM,
//! SIGHUP, `kill -9`). Every line written must arrive; duplicates stay within what was in
//! flight at a kill.

use crate::*;
use logferry_emulator::{Emulator, Endpoint};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A daemon process and where its logs go.
pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `logferry run --config CONFIG` with the emulator's credentials in its
    /// environment (the config refers to them as `${VAR}`).
    pub(crate) fn start(emu: &Emulator, config: &Path, extra_env: &[(&str, &str)]) -> Daemon {
        let dir = config.parent().unwrap();
        let n = std::fs::read_dir(dir).unwrap().count();
        let log = dir.join(format!("daemon-{n}.log"));
        let mut cmd = logferry();
        cmd.args(["run", "--config"])
            .arg(config)
            .env("HTTP_INGEST_URL", emu.http_ingest_url())
            .env("HTTP_INGEST_KEY", emu.http_ingest_key())
            .env("SDL_URL", emu.sdl_url())
            .env("SDL_API_KEY", emu.sdl_api_key())
            .env("TAEGIS_API_ENDPOINT", emu.taegis_api_endpoint())
            .env("ACCESS_TOKEN", emu.taegis_access_token())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().expect("logferry run starts"),
            log,
        }
    }

    pub(crate) fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name}");
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn term(self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait()
    }

    /// The exit status, once the process ended.
    pub(crate) fn wait(mut self) -> std::process::ExitStatus {
        let mut status = None;
        wait_for("the daemon ignored SIGTERM", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }

    /// `kill -9`.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config with one file source `app` (`include`, plus `source_extra` lines) into one
/// HTTP Ingest sink `taegis` (plus `sink_extra` lines), data under `dir/data`.
fn http_config(
    emu: &Emulator,
    dir: &Path,
    include: &str,
    source_extra: &str,
    sink_extra: &str,
) -> PathBuf {
    let ca = ca_file(emu, dir);
    let text = format!(
        r#"data_dir = "{data}"
shutdown_timeout = "10s"

[sources.app]
type = "file"
include = ["{include}"]
{source_extra}

[sinks.taegis]
type = "http-ingest"
inputs = ["app"]
url = "${{HTTP_INGEST_URL}}"
key = "${{HTTP_INGEST_KEY}}"
ca_file = "{ca}"
linger = "100ms"
{sink_extra}
"#,
        data = dir.join("data").display(),
        ca = ca.display(),
    );
    let path = dir.join("logferry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// How many times each line reached HTTP Ingest.
fn counts(emu: &Emulator) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in emu.records() {
        if r.endpoint == Endpoint::HttpIngest {
            *counts.entry(r.text).or_default() += 1;
        }
    }
    counts
}

/// The ledger of route `sink`/`source` in `dir/data` after the daemon stopped: its
/// numbers add up; returns (read, delivered, pending).
fn ledger(dir: &Path, sink: &str, source: &str) -> (u64, u64, u64) {
    let path = dir.join("data").join(sink).join(source).join("ledger.json");
    let text = std::fs::read_to_string(&path).expect("the route wrote its ledger");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap();
    let (read, delivered, rejected, invalid) =
        (n("read"), n("delivered"), n("rejected"), n("invalid"));
    assert!(read >= delivered + rejected + invalid, "{text}");
    (read, delivered, read - delivered - rejected - invalid)
}

/// Every record HTTP Ingest received.
fn total(emu: &Emulator) -> u64 {
    counts(emu).values().sum::<usize>() as u64
}

/// Line `i` of writer `tag`.
fn line(tag: &str, i: usize) -> String {
    format!("{tag} line {i:06} with some text after it")
}

fn append(path: &Path, tag: &str, lines: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = lines.map(|i| line(tag, i) + "\n").collect();
    f.write_all(text.as_bytes()).unwrap();
}

/// Waits until every line `0..n` of `tag` arrived; returns the largest duplicate count.
fn all_arrived(emu: &Emulator, tag: &str, n: usize, daemon: &Daemon) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts = counts(emu);
        let missing: Vec<usize> = (0..n)
            .filter(|i| !counts.contains_key(&line(tag, *i)))
            .collect();
        if missing.is_empty() {
            return (0..n).map(|i| counts[&line(tag, i)]).max().unwrap_or(0);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} lines of {tag} never arrived (first {:?}); daemon log:\n{}",
            missing.len(),
            &missing[..missing.len().min(5)],
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The rotations users run, each done to `log` between two bursts of writes.
#[derive(Debug, Clone, Copy)]
enum Rotation {
    RenameAndCreate,
    CopyTruncate,
    Truncate,
    DeleteWhileOpen,
    RewriteInPlace,
    SharedHeader,
}

impl Rotation {
    fn rotate(self, log: &Path) {
        let rotated = log.with_extension("log.1");
        match self {
            Rotation::RenameAndCreate | Rotation::SharedHeader => {
                std::fs::rename(log, &rotated).unwrap();
                std::fs::write(log, self.header()).unwrap();
            }
            Rotation::CopyTruncate => {
                std::fs::copy(log, &rotated).unwrap();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(log)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
            Rotation::Truncate => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(log)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
            Rotation::DeleteWhileOpen => {
                std::fs::remove_file(log).unwrap();
            }
            Rotation::RewriteInPlace => {
                // Same inode, new content from the start.
                let mut f = std::fs::OpenOptions::new().write(true).open(log).unwrap();
                f.set_len(0).unwrap();
                f.write_all(self.header().as_bytes()).unwrap();
            }
        }
    }

    /// A header block every file of this kind starts with (the same 4 KiB+ for
    /// `SharedHeader`, so heads alone cannot tell the files apart).
    fn header(self) -> String {
        match self {
            Rotation::SharedHeader | Rotation::RewriteInPlace => {
                let mut h = String::new();
                for i in 0..80 {
                    h.push_str(&format!(
                        "# header block line {i:03}: the same in every file\n"
                    ));
                }
                h
            }
            _ => String::new(),
        }
    }
}

/// Writes, rotates (with a `kill -9` and a restart in the middle when `crash`), writes
/// again; every line arrives, the header once per file at most... and SIGTERM exits 0.
async fn rotation(kind: Rotation, crash: bool) {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, kind.header()).unwrap();
    let config = http_config(&emu, dir.path(), &format!("{}*", log.display()), "", "");
    let tag = format!("{kind:?}-{crash}");
    let mut daemon = Daemon::start(&emu, &config, &[]);
    append(&log, &tag, 0..300);
    all_arrived(&emu, &tag, 300, &daemon);
    // Lines written just before the rotation: the daemon may not have read them yet.
    append(&log, &tag, 300..400);
    // A truncate or a rewrite destroys lines nobody read, as does deleting a file while
    // no process holds it open: those lines are read first.
    let destroys = matches!(kind, Rotation::Truncate | Rotation::RewriteInPlace)
        || (crash && matches!(kind, Rotation::DeleteWhileOpen));
    if destroys {
        all_arrived(&emu, &tag, 400, &daemon);
    }
    if crash {
        daemon.kill();
        kind.rotate(&log);
        daemon = Daemon::start(&emu, &config, &[]);
    } else {
        kind.rotate(&log);
    }
    if matches!(kind, Rotation::DeleteWhileOpen) {
        std::fs::write(&log, "").unwrap();
    }
    append(&log, &tag, 400..700);
    let worst = all_arrived(&emu, &tag, 700, &daemon);
    // Copies of a rotated file are found by identity: without a crash nothing is sent
    // twice; after a kill -9, only what was in flight may be.
    if !crash {
        let counts = counts(&emu);
        let twice: Vec<usize> = (0..700).filter(|i| counts[&line(&tag, *i)] > 1).collect();
        assert_eq!(
            worst,
            1,
            "{kind:?}: lines sent twice: {twice:?}; log:\n{}",
            daemon.log()
        );
    }
    let status = daemon.term();
    assert!(status.success(), "{kind:?}: {status:?}");
    // Everything read was delivered, as the emulator saw it. (After a kill -9 the
    // persisted ledger may miss its last second of events: not checked then.)
    if !crash {
        let (read, delivered, pending) = ledger(dir.path(), "taegis", "app");
        assert_eq!(pending, 0, "{kind:?}");
        assert_eq!((read, delivered), (total(&emu), total(&emu)), "{kind:?}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_suite_without_and_with_a_kill_9_in_the_middle() {
    for kind in [
        Rotation::RenameAndCreate,
        Rotation::CopyTruncate,
        Rotation::Truncate,
        Rotation::DeleteWhileOpen,
        Rotation::RewriteInPlace,
        Rotation::SharedHeader,
    ] {
        for crash in [false, true] {
            rotation(kind, crash).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_several_times_while_a_writer_appends_and_rotates_loses_nothing() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let config = http_config(&emu, dir.path(), &format!("{}*", log.display()), "", "");
    let writer_log = log.clone();
    let writer = std::thread::spawn(move || {
        for round in 0..6 {
            for chunk in 0..10 {
                let start = round * 1000 + chunk * 100;
                append(&writer_log, "chaos", start..start + 100);
                std::thread::sleep(Duration::from_millis(50));
            }
            // Rotate by rename, keeping two generations.
            let one = writer_log.with_extension("log.1");
            let two = writer_log.with_extension("log.2");
            if one.exists() {
                std::fs::rename(&one, &two).unwrap();
            }
            std::fs::rename(&writer_log, &one).unwrap();
            std::fs::write(&writer_log, "").unwrap();
        }
    });
    let mut daemon = Daemon::start(&emu, &config, &[]);
    for _ in 0..4 {
        let before = counts(&emu).len();
        wait_for("nothing new arrived before the kill", || {
            counts(&emu).len() > before
        });
        daemon.kill();
        daemon = Daemon::start(&emu, &config, &[]);
    }
    writer.join().unwrap();
    all_arrived(&emu, "chaos", 6000, &daemon);
    let total: usize = counts(&emu).values().sum();
    // Duplicates: at most what each of the 4 kills had in flight, spooled but not yet
    // delivered, or read since the registry was last written (it is written every
    // 250 ms): about half a second of the writer's 2,000 lines/s per kill.
    assert!(total - 6000 <= 4 * 1000, "{} duplicates", total - 6000);
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_adds_and_removes_a_source_and_a_bad_config_keeps_the_old_one() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let config = http_config(&emu, dir.path(), &a.display().to_string(), "", "");
    let daemon = Daemon::start(&emu, &config, &[]);
    append(&a, "a", 0..100);
    all_arrived(&emu, "a", 100, &daemon);

    // A broken file is refused; the running routes go on.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace("inputs = [\"app\"]", "inputs = [\"nope\"]"),
    )
    .unwrap();
    daemon.signal("HUP");
    wait_for("the bad config was not refused", || {
        daemon.log().contains("refused")
    });
    append(&a, "a", 100..200);
    all_arrived(&emu, "a", 200, &daemon);

    // Source `b` replaces `app` as the sink's input.
    let replaced = good.replace("[sources.app]", "[sources.b]").replace(
        &format!("include = [\"{}\"]", a.display()),
        &format!("include = [\"{}\"]", b.display()),
    );
    let replaced = replaced.replace("inputs = [\"app\"]", "inputs = [\"b\"]");
    std::fs::write(&config, &replaced).unwrap();
    daemon.signal("HUP");
    wait_for("the reload did not finish", || {
        daemon.log().contains("configuration reloaded")
    });
    append(&b, "b", 0..100);
    all_arrived(&emu, "b", 100, &daemon);
    // `a` is no longer followed.
    append(&a, "a", 200..300);
    append(&b, "b", 100..200);
    all_arrived(&emu, "b", 200, &daemon);
    let counts = counts(&emu);
    assert!(
        (200..300).all(|i| !counts.contains_key(&line("a", i))),
        "a removed source was still shipped"
    );
    assert!((0..200).all(|i| counts[&line("a", i)] == 1));
    assert!(daemon.term().success());
    assert_eq!(ledger(dir.path(), "taegis", "app"), (200, 200, 0));
    assert_eq!(ledger(dir.path(), "taegis", "b"), (200, 200, 0));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_trace_arrives_as_one_record() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let config = http_config(
        &emu,
        dir.path(),
        &log.display().to_string(),
        r#"multiline = { start = '^\d{4}-', timeout = "200ms" }"#,
        "",
    );
    let daemon = Daemon::start(&emu, &config, &[]);
    std::fs::write(
        &log,
        "2026-12-02 ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)\n2026-12-02 INFO fine\n",
    )
    .unwrap();
    wait_for("the trace did not arrive", || counts(&emu).len() >= 2);
    let counts = counts(&emu);
    assert!(
        counts.contains_key(
            "2026-12-02 ERROR boom\\njava.lang.IllegalStateException: x\\n\tat a.B.c(B.java:1)\\n\tat a.B.d(B.java:2)"
        ),
        "{counts:?}"
    );
    assert!(counts.contains_key("2026-12-02 INFO fine"), "{counts:?}");
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drop_folder_uploads_each_file_once_it_settled_then_deletes_it() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    let ca = ca_file(&emu, dir.path());
    let config = dir.path().join("logferry.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{data}"
[sources.drop]
type = "file"
include = ["{drop}/*.log"]
whole_files = true
settle = "300ms"
after_upload = "delete"

[sinks.upload]
type = "file-upload"
inputs = ["drop"]
ca_file = "{ca}"
"#,
            data = dir.path().join("data").display(),
            drop = drop.display(),
            ca = ca.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&emu, &config, &[]);
    std::fs::write(drop.join("one.log"), numbered(50)).unwrap();
    std::fs::write(drop.join("skip.gz"), "not matched").unwrap();
    wait_for("one.log was not uploaded and deleted", || {
        !drop.join("one.log").exists()
    });
    let uploads = emu.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(
        (uploads[0].file_name.as_str(), uploads[0].lines),
        ("one.log", 50)
    );
    assert!(drop.join("skip.gz").exists());
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[test]
fn validate_accepts_the_example_and_names_file_line_and_key_of_each_error() {
    let dir = tempfile::tempdir().unwrap();
    // The example as shipped, with its SDL key file here instead of /etc/logferry.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/logferry.example.toml");
    let key_file = dir.path().join("sdl.key");
    std::fs::write(&key_file, "sdl-key\n").unwrap();
    let text = std::fs::read_to_string(shipped).unwrap();
    assert!(text.contains("/etc/logferry/sdl.key"));
    let example = dir.path().join("example.toml");
    std::fs::write(
        &example,
        text.replace("/etc/logferry/sdl.key", key_file.to_str().unwrap()),
    )
    .unwrap();
    let out = logferry()
        .args(["validate", "--config"])
        .arg(&example)
        .env("TAEGIS_CLIENT_ID", "id")
        .env("TAEGIS_CLIENT_SECRET", "secret")
        .env(
            "HTTP_INGEST_URL",
            "https://ingest.example.com/http-endpoint/v1/x",
        )
        .env("HTTP_INGEST_KEY", "k")
        .env("SDL_URL", "https://xdr.us1.sentinelone.net")
        .env("SDL_API_KEY", "k")
        .env("ACCESS_TOKEN", "t")
        .env("HEC_TOKEN", "hec")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(": ok:"), "{}", stdout(&out));

    let base = "data_dir = \"/tmp/x\"\n[sources.app]\ntype = \"file\"\ninclude = [\"/var/log/app.log\"]\n[sinks.s]\ntype = \"http-ingest\"\ninputs = [\"app\"]\nurl = \"https://ingest.example.com/v1/x\"\nkey = \"secret-value-77\"\n";
    for (text, want) in [
        // Line 10: an option the subcommand does not have.
        (
            format!("{base}batch_byte = 5\n"),
            ":10:1: sinks.s.batch_byte: unknown option for a http-ingest sink (did you mean `batch_bytes`?)",
        ),
        // A value clap refuses, at its line.
        (format!("{base}compression_level = 12\n"), ":10:"),
        // A key the daemon decides itself.
        (
            format!("{base}spool = \"/x\"\n"),
            "sinks.s.spool: not a sink option",
        ),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, &text).unwrap();
        let out = logferry()
            .args(["validate", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(want), "{want} not in {err}");
        assert!(!err.contains("secret-value-77"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let config = http_config(&emu, dir.path(), &log.display().to_string(), "", "");
    let daemon = Daemon::start(
        &emu,
        &config,
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    daemon.signal("TERM");
    let n = socket.recv(&mut buf).expect("a notification");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    assert!(daemon.wait().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_spool_is_found_by_verify_repaired_and_the_rest_delivered() {
    use logferry_emulator::{FaultSet, FaultStatus, Faults};
    let emu = emulator().await;
    // The endpoint fails every request: everything read stays in the spool.
    let down = FaultSet::fail_rate(1.0, vec![FaultStatus::Code(503)]);
    emu.set_faults(Faults::none().with_endpoint(Endpoint::HttpIngest, down))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let config = http_config(
        &emu,
        dir.path(),
        &log.display().to_string(),
        "",
        "batch_bytes = 2000",
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"10s\"", "\"1s\"");
    std::fs::write(&config, text).unwrap();
    append(&log, "spooled", 0..1000);
    let daemon = Daemon::start(&emu, &config, &[]);
    let spool = dir.path().join("data/taegis/app");
    let registry = spool.join("files.json");
    // Every line is in the spool once the registry says the whole file was read.
    let size = std::fs::metadata(&log).unwrap().len();
    wait_for("the file was never spooled whole", || {
        std::fs::read_to_string(&registry).is_ok_and(|r| r.contains(&format!("\"offset\": {size}")))
    });
    assert!(daemon.term().success());
    assert_eq!(ledger(dir.path(), "taegis", "app"), (1000, 0, 1000));

    let verify = |action: &str| {
        logferry()
            .args(["spool", action, "--config"])
            .arg(&config)
            .env("HTTP_INGEST_URL", emu.http_ingest_url())
            .env("HTTP_INGEST_KEY", emu.http_ingest_key())
            .output()
            .unwrap()
    };
    // `status` reads the ledger, the spool and the registry from data_dir.
    let status = logferry()
        .args(["status", "--config"])
        .arg(&config)
        .env("HTTP_INGEST_URL", emu.http_ingest_url())
        .env("HTTP_INGEST_KEY", emu.http_ingest_key())
        .output()
        .unwrap();
    let report = stdout(&status);
    assert_eq!(status.status.code(), Some(0), "{report}{}", stderr(&status));
    for want in [
        "taegis<-app",
        "read 1000 = delivered 0 + rejected 0 + invalid 0 + pending 1000",
        "(1000 records)",
        &format!(
            "file {}: line 1001, byte {size}, 0 bytes behind",
            log.display()
        ),
    ] {
        assert!(report.contains(want), "{want} not in {report}");
    }
    let healthy = verify("verify");
    assert_eq!(
        healthy.status.code(),
        Some(0),
        "{}{}",
        stdout(&healthy),
        stderr(&healthy)
    );
    assert!(stdout(&healthy).contains("healthy"), "{}", stdout(&healthy));

    // Flip a byte in the middle of the first segment.
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&segments[0], &bytes).unwrap();

    let found = verify("verify");
    assert_eq!(found.status.code(), Some(1), "{}", stdout(&found));
    let report = stdout(&found);
    let name = segments[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        report.contains("CORRUPT") && report.contains(&name),
        "{report}"
    );
    let lost: usize = report
        .split(" records lost")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of records lost in {report}"));
    assert!(lost > 0 && lost < 1000, "{report}");

    let repaired = verify("repair");
    assert_eq!(
        repaired.status.code(),
        Some(0),
        "{}{}",
        stdout(&repaired),
        stderr(&repaired)
    );
    assert!(spool.join("quarantine").read_dir().unwrap().count() >= 1);
    assert_eq!(verify("verify").status.code(), Some(0));

    // The endpoint is back: everything but the quarantined records arrives, once.
    emu.set_faults(Faults::none()).unwrap();
    let daemon = Daemon::start(&emu, &config, &[]);
    wait_for("the rest was not delivered", || {
        counts(&emu).len() >= 1000 - lost
    });
    let counts = counts(&emu);
    assert_eq!(counts.len(), 1000 - lost);
    assert!(counts.values().all(|n| *n == 1));
    assert!(daemon.term().success());
    // The quarantined records are still counted pending: read, and not delivered.
    assert_eq!(
        ledger(dir.path(), "taegis", "app"),
        (1000, (1000 - lost) as u64, lost as u64)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letter_replay_delivers_what_a_400_refused_once_accepted() {
    use logferry_emulator::{FaultSet, FaultStatus, Faults};
    let emu = emulator().await;
    let refuse = || {
        Faults::none().with_endpoint(
            Endpoint::HttpIngest,
            FaultSet::fail_first(u64::MAX, FaultStatus::Code(400)),
        )
    };
    emu.set_faults(refuse()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "refused", 0..50);
    let config = http_config(&emu, dir.path(), &log.display().to_string(), "", "");
    let daemon = Daemon::start(&emu, &config, &[]);
    let letters = dir.path().join("data/taegis/app/dead-letter.jsonl");
    let lines_in = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|t| {
                t.lines()
                    .map(|l| {
                        serde_json::from_str::<serde_json::Value>(l).unwrap()["count"]
                            .as_u64()
                            .unwrap()
                    })
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    wait_for("the refused records were not dead-lettered", || {
        lines_in(&letters) == 50
    });
    assert!(daemon.term().success());
    assert_eq!(ledger(dir.path(), "taegis", "app"), (50, 0, 0));

    let replay = |out: &Path| {
        logferry()
            .args(["dead-letter", "replay"])
            .arg(&letters)
            .args(["--sink", "taegis", "--config"])
            .arg(&config)
            .arg("--dead-letter")
            .arg(out)
            .env("HTTP_INGEST_URL", emu.http_ingest_url())
            .env("HTTP_INGEST_KEY", emu.http_ingest_key())
            .output()
            .unwrap()
    };
    // Still refused: everything goes to the new file, under its original source name.
    let again = dir.path().join("again.jsonl");
    let out = replay(&again);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(lines_in(&again), 50);
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&again)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["source"], log.display().to_string());
    assert_eq!(first["kind"], "rejected");

    // Accepted now: all 50 delivered, nothing dead-lettered.
    emu.set_faults(Faults::none()).unwrap();
    let none = dir.path().join("none.jsonl");
    let out = replay(&none);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!none.exists());
    let counts = counts(&emu);
    assert!(
        (0..50).all(|i| counts.get(&line("refused", i)) == Some(&1)),
        "{counts:?}"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_with_a_heartbeat_sends_one_every_period_while_its_files_are_silent() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let config = http_config(
        &emu,
        dir.path(),
        &log.display().to_string(),
        "",
        "heartbeat = \"1s\"",
    );
    let daemon = Daemon::start(&emu, &config, &[]);
    let beats = || {
        counts(&emu)
            .iter()
            .filter(|(text, _)| {
                text.starts_with("logferry heartbeat host=") && text.contains("sink=taegis")
            })
            .map(|(_, n)| *n)
            .sum::<usize>()
    };
    wait_for("no second heartbeat", || beats() >= 2);
    assert!(daemon.term().success());
}

/// `GET path` on `addr`: the status and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply[9..12].parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the series `name{labels}` (labels as written, in order) in a scrape.
fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_match_the_emulator_and_ready_flips_on_a_refused_key_and_back() {
    use logferry_emulator::{FaultSet, FaultStatus, Faults};
    let emu = emulator().await;
    let mut flaky = FaultSet::fail_rate(0.3, vec![FaultStatus::Code(503)]);
    flaky.latency_ms = 1;
    emu.set_faults(Faults::none().with_endpoint(Endpoint::HttpIngest, flaky))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "metered", 0..500);
    let config = http_config(
        &emu,
        dir.path(),
        &log.display().to_string(),
        "",
        "batch_bytes = 1500",
    );
    // `[api]` on any free port: the daemon logs where it listens.
    let good = std::fs::read_to_string(&config).unwrap().replacen(
        "\n\n",
        "\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n",
        1,
    );
    std::fs::write(&config, &good).unwrap();
    // The default verbosity (an empty RUST_LOG): a daemon says where it listens.
    let daemon = Daemon::start(&emu, &config, &[("RUST_LOG", "")]);
    let mut addr = String::new();
    wait_for("the API did not start", || {
        let log = daemon.log();
        match log
            .split("serving /metrics, /health and /ready on http://")
            .nth(1)
        {
            Some(rest) => {
                addr = rest.split_whitespace().next().unwrap().to_owned();
                true
            }
            None => false,
        }
    });
    all_arrived(&emu, "metered", 500, &daemon);
    // While the daemon runs and is idle, its ledger file catches up within a tick.
    let ledger_file = dir.path().join("data/taegis/app/ledger.json");
    wait_for(
        "the ledger file never showed every record delivered",
        || ledger_file.exists() && ledger(dir.path(), "taegis", "app") == (500, 500, 0),
    );
    assert_eq!(get(&addr, "/health").0, 200);
    let series = |name: &str| format!("{name}{{sink=\"taegis\",source=\"app\"}}");
    // The sink's totals reach the metrics within a tick: wait until they agree with
    // the emulator's own counts.
    let mut scrape = String::new();
    wait_for("the metrics never matched the emulator", || {
        scrape = get(&addr, "/metrics").1;
        let by_status = &emu.stats().endpoints[&Endpoint::HttpIngest].by_status;
        let code = |c: u16| {
            metric(
                &scrape,
                &format!(
                    "logferry_sink_requests_total{{sink=\"taegis\",source=\"app\",code=\"{c}\"}}"
                ),
            )
        };
        metric(&scrape, &series("logferry_sink_records_delivered_total")) == Some(500)
            && metric(&scrape, &series("logferry_source_records_read_total")) == Some(500)
            && code(200) == by_status.get(&200).copied()
            && code(503) == by_status.get(&503).copied()
    });
    assert!(metric(&scrape, &series("logferry_sink_retries_total")).unwrap() > 0);
    assert!(scrape.contains("logferry_build_info{version="), "{scrape}");
    // promtool, the Prometheus project's own checker, accepts the exposition.
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package `prometheus`; .ci/run installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        stdout(&checked),
        stderr(&checked)
    );
    assert_eq!(get(&addr, "/ready").0, 200);

    // A wrong key: the route stops, /ready says which sink and why.
    emu.set_faults(Faults::none()).unwrap();
    let wrong = good.replace("key = \"${HTTP_INGEST_KEY}\"", "key = \"not-the-key\"");
    std::fs::write(&config, &wrong).unwrap();
    daemon.signal("HUP");
    append(&log, "metered", 500..510);
    let mut body = String::new();
    wait_for("/ready never said 503", || {
        let (status, b) = get(&addr, "/ready");
        body = b;
        status == 503
    });
    assert!(
        body.contains("\"sink\":\"taegis\"") && body.contains("stopped"),
        "{body}"
    );
    assert!(!body.contains("not-the-key"), "{body}");
    // The right key again: ready, and the records held meanwhile arrive.
    std::fs::write(&config, &good).unwrap();
    daemon.signal("HUP");
    wait_for("/ready never came back", || get(&addr, "/ready").0 == 200);
    all_arrived(&emu, "metered", 510, &daemon);
    assert!(daemon.term().success());
    emu.shutdown().await;
}
