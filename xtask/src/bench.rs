//! `cargo xtask bench`: end-to-end throughput against the physical limits, in one run.
//!
//! 1. Builds the release binaries and generates deterministic corpora (cached under
//!    `target/bench/`): syslog-like text and NDJSON events.
//! 2. Measures the limits on this machine: single-core batch gzip with our encoder
//!    (levels 1 and 6), the `gzip` command at the same levels, and raw loopback POST
//!    throughput to the emulator (a minimal HTTP/1.1 client, no TLS, no compression).
//! 3. Runs `logferry` against the emulator in count-only mode, several times each, and
//!    reports medians: MB/s of input, ratios to `gzip -1` and to the single-core limit,
//!    CPU time, peak RSS. Every run checks the emulator received exactly the bytes the
//!    sender reports; one run with decoding on checks every record.
//!
//! Prints a markdown table and writes it to `target/bench-report.md`.

use crate::util::{cargo, flag_value};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Options {
    size_mb: usize,
    /// Only the rows against the machine's limit (`--limit`), for these corpora
    /// (`--corpus NAME`, else all).
    limit_only: Option<Vec<String>>,
    runs: usize,
    /// Only the `logferry run` rows (`--daemon-only`).
    daemon_only: bool,
    /// Only the NATS rows (`--nats-only`, `bench_nats.rs`).
    nats_only: bool,
}

/// `cargo xtask bench [--size-mb N] [--runs N] [--daemon-only | --net-only | --nats-only]
/// [--limit [--corpus NAME]] [--criterion [FILTER]]`.
pub(crate) fn command(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--net-only") {
        return crate::bench_net::command();
    }
    if args.first().is_some_and(|a| a == "--criterion") {
        let mut cmd = vec!["bench", "--locked", "-p", "logferry-benches"];
        if args.len() > 1 {
            cmd.push("--");
            cmd.extend(args[1..].iter().map(String::as_str));
        }
        return cargo(&cmd);
    }
    let options = Options {
        size_mb: flag_value(args, "--size-mb")
            .map(str::parse)
            .transpose()?
            .unwrap_or(300),
        runs: flag_value(args, "--runs")
            .map(str::parse)
            .transpose()?
            .unwrap_or(3)
            .max(1),
        daemon_only: args.iter().any(|a| a == "--daemon-only"),
        nats_only: args.iter().any(|a| a == "--nats-only"),
        limit_only: args.iter().any(|a| a == "--limit").then(|| {
            flag_value(args, "--corpus").map_or_else(
                || crate::bench_limit::CORPORA.map(str::to_owned).to_vec(),
                |c| vec![c.to_owned()],
            )
        }),
    };
    run(&options)
}

fn run(options: &Options) -> Result<()> {
    cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "logferry-cli",
        "-p",
        "logferry-emulator",
        "-p",
        "logferry-benches",
        "--bin",
        "logferry",
        "--bin",
        "logferry-emulator",
        "--bin",
        "gzip-limit",
        "--bin",
        "bare-sender",
    ])?;
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    if let Some(corpora) = &options.limit_only {
        let corpora: Vec<&str> = corpora.iter().map(String::as_str).collect();
        let table = crate::bench_limit::rows(&dir, &corpora, options.size_mb, options.runs)?;
        println!("\n{table}");
        std::fs::write(target_dir().join("bench-limit.md"), &table)?;
        return Ok(());
    }
    let syslog = corpus(
        &dir,
        "syslog",
        options.size_mb,
        logferry_emulator::sample::syslog,
    )?;
    if options.nats_only {
        let scratch = dir.join(format!("nats-{}", std::process::id()));
        let rows = crate::bench_nats::rows(&scratch, &syslog);
        let _ = std::fs::remove_dir_all(&scratch);
        println!("{}", crate::bench_daemon::render(&rows?));
        return Ok(());
    }
    if options.daemon_only {
        println!("{}", daemon_rows(&dir, &syslog)?);
        return Ok(());
    }
    let ndjson = corpus(
        &dir,
        "events",
        options.size_mb * 2 / 3,
        logferry_emulator::sample::ndjson,
    )?;
    let syslog_mb = mb(std::fs::metadata(&syslog)?.len());
    let mut rows: Vec<Row> = Vec::new();

    // The limits.
    let gzip1 = median(options.runs, || gzip_command(&syslog, 1))?;
    let ours1 = median(options.runs, || Ok(batch_gzip(&syslog, 1, 1)?.0))?;
    rows.push(Row::limit(
        "batch gzip level 1, our encoder (libdeflate), one core",
        syslog_mb / ours1,
    ));
    rows.push(Row::limit("`gzip -1` command, one core", syslog_mb / gzip1));
    let ours6 = median(options.runs, || Ok(batch_gzip(&syslog, 6, 1)?.0))?;
    let gzip6 = median(options.runs, || gzip_command(&syslog, 6))?;
    rows.push(Row::limit(
        "batch gzip level 6, our encoder, one core",
        syslog_mb / ours6,
    ));
    rows.push(Row::limit("`gzip -6` command, one core", syslog_mb / gzip6));
    let post = median(options.runs, || raw_post(2048))?;
    rows.push(Row::limit(
        "raw loopback POST to the emulator (1 MiB bodies, 4 connections)",
        2048.0 * 1.048_576 / post,
    ));
    let gzip1_rate = syslog_mb / gzip1;
    let single_core = syslog_mb / ours1;

    // The senders.
    let ingest_gzip = |tls: bool| Scenario {
        name: if tls {
            "logferry http-ingest, gzip 1, HTTPS"
        } else {
            "logferry http-ingest, gzip 1, plain HTTP (headline)"
        },
        input: syslog.clone(),
        tls,
        args: vec!["http-ingest".into()],
        endpoint: "http_ingest",
    };
    let mut scenarios = vec![ingest_gzip(false), ingest_gzip(true)];
    scenarios.push(Scenario {
        name: "logferry http-ingest, no compression, plain HTTP",
        input: syslog.clone(),
        tls: false,
        args: vec!["http-ingest".into(), "--compression".into(), "none".into()],
        endpoint: "http_ingest",
    });
    scenarios.push(Scenario {
        name: "logferry http-ingest, no compression, HTTPS",
        input: syslog.clone(),
        tls: true,
        args: vec!["http-ingest".into(), "--compression".into(), "none".into()],
        endpoint: "http_ingest",
    });
    if subcommand_exists("sdl") {
        scenarios.push(Scenario {
            name: "logferry sdl, NDJSON, pacing off, HTTPS",
            input: ndjson.clone(),
            tls: true,
            args: vec![
                "sdl".into(),
                "--format".into(),
                "json".into(),
                "--pace".into(),
                "off".into(),
            ],
            endpoint: "sdl_add_events",
        });
    }
    if subcommand_exists("file-upload") {
        scenarios.push(Scenario {
            name: "logferry file-upload, HTTPS",
            input: syslog.clone(),
            tls: true,
            args: vec!["file-upload".into()],
            endpoint: "upload_put",
        });
    }
    // What the sender rows are compared with: `gzip -1` and our encoder on one core.
    let ratios = (gzip1_rate, single_core);
    for scenario in &scenarios {
        let input_mb = mb(std::fs::metadata(&scenario.input)?.len());
        let mid = median_run((0..options.runs).map(|_| scenario.run(true)))?;
        rows.push(Row::measured(
            scenario.name.to_owned(),
            input_mb,
            mid,
            ratios,
        ));
    }

    // A peer, when installed: syslog-ng's http() destination (it cannot gzip), the same
    // file to the same endpoint over plain HTTP.
    if let Some(peer) = syslog_ng_available() {
        let mid = median_run((0..options.runs).map(|_| syslog_ng(&syslog)))?;
        rows.push(Row::measured(
            format!("peer: {peer}, http() destination, uncompressed, plain HTTP"),
            syslog_mb,
            mid,
            ratios,
        ));
    } else {
        println!("syslog-ng (with its http module) is not installed: no peer row");
    }

    // One run with decoding on: every record checked.
    let verify = Scenario {
        name: "logferry http-ingest, gzip 1, HTTPS, emulator decoding and storing",
        input: syslog.clone(),
        tls: true,
        args: vec!["http-ingest".into()],
        endpoint: "http_ingest",
    };
    let checked = verify.run(false)?;
    let verify_mb = mb(std::fs::metadata(&verify.input)?.len());
    rows.push(Row::measured(
        verify.name.to_owned(),
        verify_mb,
        checked,
        ratios,
    ));

    let mut report = render(&rows, options, syslog_mb);
    report.push('\n');
    report.push_str(&crate::bench_limit::rows(
        &dir,
        &crate::bench_limit::CORPORA,
        options.size_mb,
        options.runs,
    )?);
    if subcommand_exists("run") {
        report.push_str(&daemon_rows(&dir, &syslog)?);
    }
    println!("\n{report}");
    let written = target_dir().join("bench-report.md");
    std::fs::write(&written, &report)?;
    println!("written to {}", written.display());
    Ok(())
}

/// The `logferry run` rows (the catch-up row ships `syslog`), as a markdown table.
fn daemon_rows(dir: &Path, syslog: &Path) -> Result<String> {
    let scratch = dir.join(format!("daemon-{}", std::process::id()));
    let rows = crate::bench_daemon::rows(&scratch, syslog).and_then(|mut rows| {
        rows.extend(crate::bench_net::rows(&scratch)?);
        rows.extend(crate::bench_nats::rows(&scratch, syslog)?);
        Ok(rows)
    });
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(crate::bench_daemon::render(&rows?))
}

pub(crate) fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn median(runs: usize, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut v = (0..runs).map(|_| f()).collect::<Result<Vec<f64>>>()?;
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// Writes `size_mb` of a corpus (in 16 MB pieces with successive seeds), once.
fn corpus(
    dir: &Path,
    name: &str,
    size_mb: usize,
    generate: fn(usize, u64) -> Vec<u8>,
) -> Result<PathBuf> {
    let path = dir.join(format!("{name}-{size_mb}mb"));
    let path = path.with_extension(if name == "events" { "ndjson" } else { "log" });
    write_corpus(path, size_mb, generate)
}

/// Waits (polling every 20 ms, at most 600 s) until `done`; past that, fails naming
/// `what` and where it got (`progress`).
pub(crate) fn wait_until(
    what: &str,
    done: impl Fn() -> bool,
    progress: impl Fn() -> String,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done() {
        if Instant::now() > deadline {
            bail!("{what}: {} after 600 s", progress());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Writes `size_mb` MB of `generate`'s output to `path` (16 MB pieces with successive
/// seeds, through a temporary file), unless a file of that size is there already.
pub(crate) fn write_corpus(
    path: PathBuf,
    size_mb: usize,
    generate: fn(usize, u64) -> Vec<u8>,
) -> Result<PathBuf> {
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= (size_mb as u64) * 1_000_000) {
        return Ok(path);
    }
    println!("generating {} ({size_mb} MB)", path.display());
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut written = 0usize;
    let mut seed = 1u64;
    while written < size_mb * 1_000_000 {
        let piece = generate(16_000_000, seed);
        out.write_all(&piece)?;
        written += piece.len();
        seed += 1;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Seconds for the `gzip` command to compress `file` at `level`.
fn gzip_command(file: &Path, level: u8) -> Result<f64> {
    let started = Instant::now();
    let status = Command::new("gzip")
        .arg(format!("-{level}"))
        .arg("-c")
        .stdin(std::fs::File::open(file)?)
        .stdout(Stdio::null())
        .status()
        .context("the gzip command is needed for the comparison")?;
    if !status.success() {
        bail!("gzip failed: {status}");
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Our batch encoder gzipping `file` at `level` in 1 MiB batches on `threads` threads at
/// once, measured by the release-built `gzip-limit` binary (this xtask is a debug build):
/// (wall seconds, CPU seconds of the encoding threads).
pub(crate) fn batch_gzip(file: &Path, level: u8, threads: usize) -> Result<(f64, f64)> {
    let out = Command::new(bin("gzip-limit"))
        .arg(file)
        .arg(level.to_string())
        .arg(threads.to_string())
        .output()?;
    if !out.status.success() {
        bail!(
            "gzip-limit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let wall = fields.next().context("gzip-limit printed nothing")??;
    let cpu = fields.next().transpose()?.unwrap_or(wall);
    Ok((wall, cpu))
}

/// Seconds to POST `total_mib` MiB to a count-only plain-HTTP emulator over 4 connections.
fn raw_post(total_mib: usize) -> Result<f64> {
    let emu = Emulator::start(false, true)?;
    let addr = emu.ready["base_url"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("http://")
        .to_owned();
    let url = emu.ready["http_ingest_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = url
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let key = emu.ready["http_ingest_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = vec![b'x'; 1 << 20];
    let started = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (addr, path, key, body) = (addr.clone(), path.clone(), key.clone(), body.clone());
            std::thread::spawn(move || -> Result<()> {
                let mut stream = TcpStream::connect(&addr)?;
                stream.set_nodelay(true)?;
                let head = format!(
                    "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                for _ in 0..total_mib / 4 {
                    stream.write_all(head.as_bytes())?;
                    stream.write_all(&body)?;
                    read_response(&mut stream)?;
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a POST worker panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    emu.stop()?;
    Ok(secs)
}

/// Reads one HTTP/1.1 response (status 200 expected) with a content-length body.
fn read_response(stream: &mut TcpStream) -> Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            bail!("the emulator closed the connection");
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !text.starts_with("http/1.1 200") {
        bail!(
            "unexpected reply: {}",
            text.lines().next().unwrap_or_default()
        );
    }
    let len: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap_or(0))
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(())
}

fn subcommand_exists(name: &str) -> bool {
    Command::new(bin("logferry"))
        .args([name, "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn bin(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}

/// The emulator binary, running until stopped.
pub(crate) struct Emulator {
    child: Child,
    ready: serde_json::Value,
    stats_path: PathBuf,
    _dir: TempDir,
}

/// An emulator left running by an early return or an error stops with its row.
impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory under target/bench, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return; // handed over by `Emulator::stop`
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Emulator {
    fn start(tls: bool, count_only: bool) -> Result<Emulator> {
        Self::start_with(tls, count_only, 0)
    }

    /// An emulator keeping the last `memory_records` records for its admin API.
    pub(crate) fn start_with(
        tls: bool,
        count_only: bool,
        memory_records: usize,
    ) -> Result<Emulator> {
        let dir = PathBuf::from(format!(
            "{}/bench/run-{}-{}",
            target_dir().display(),
            std::process::id(),
            fastrand_u64()
        ));
        std::fs::create_dir_all(&dir)?;
        let ready_path = dir.join("ready.json");
        let stats_path = dir.join("stats.json");
        let mut cmd = Command::new(bin("logferry-emulator"));
        let memory = memory_records.to_string();
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--memory-records",
            &memory,
            "--ready-file",
        ])
        .arg(&ready_path)
        .arg("--stats-file")
        .arg(&stats_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if !tls {
            cmd.arg("--plain-http");
        }
        if count_only {
            cmd.arg("--count-only");
        } else {
            cmd.arg("--records").arg(dir.join("records.jsonl"));
        }
        let child = cmd.spawn().context("cannot start logferry-emulator")?;
        let started = Instant::now();
        while !ready_path.exists() {
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the emulator did not become ready");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let ready: serde_json::Value = serde_json::from_slice(&std::fs::read(&ready_path)?)?;
        Ok(Emulator {
            child,
            ready,
            stats_path,
            _dir: TempDir(dir),
        })
    }

    /// The emulator's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn str(&self, key: &str) -> String {
        self.ready[key].as_str().unwrap_or_default().to_owned()
    }

    /// Stops the emulator and returns its final stats, and the scratch directory (kept
    /// until the caller drops it).
    pub(crate) fn stop(mut self) -> Result<(serde_json::Value, TempDir)> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        self.child.wait()?;
        let stats = serde_json::from_slice(
            &std::fs::read(&self.stats_path).context("the emulator wrote no stats")?,
        )?;
        Ok((
            stats,
            std::mem::replace(&mut self._dir, TempDir(PathBuf::new())),
        ))
    }

    /// Ends the emulator without reading its stats.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The emulator's stats now, from its admin API (plain HTTP emulators only).
    pub(crate) fn live_stats(&self) -> Result<serde_json::Value> {
        self.admin("stats")
    }

    /// HTTP Ingest records stored so far, from the live stats (0 when they cannot be read).
    pub(crate) fn received(&self) -> u64 {
        self.live_stats()
            .ok()
            .and_then(|s| s["endpoints"]["http_ingest"]["records"].as_u64())
            .unwrap_or(0)
    }

    /// Waits (polling every 20 ms, at most 600 s) until `lines` HTTP Ingest records are
    /// stored; `what` names the row in the error.
    pub(crate) fn wait_received(&self, lines: u64, what: &str) -> Result<()> {
        wait_until(
            what,
            || self.received() >= lines,
            || format!("{} of {lines} records", self.received()),
        )
    }

    /// `GET /_emulator/PATH` on the admin API (plain HTTP emulators only), as JSON.
    pub(crate) fn admin(&self, path: &str) -> Result<serde_json::Value> {
        let addr = self
            .str("base_url")
            .trim_start_matches("http://")
            .to_owned();
        let token = self.str("admin_token");
        let mut stream = TcpStream::connect(&addr)?;
        write!(
            stream,
            "GET /_emulator/{path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
        )?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply)?;
        let text = String::from_utf8_lossy(&reply);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        serde_json::from_str(body).with_context(|| format!("the admin API's {path} is not JSON"))
    }

    fn records_file(&self) -> PathBuf {
        self._dir.0.join("records.jsonl")
    }
}

fn fastrand_u64() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

struct Scenario {
    name: &'static str,
    input: PathBuf,
    tls: bool,
    args: Vec<String>,
    endpoint: &'static str,
}

struct Measured {
    wall: f64,
    cpu: f64,
    rss_kb: u64,
    check: String,
}

impl Scenario {
    fn run(&self, count_only: bool) -> Result<Measured> {
        let emu = Emulator::start(self.tls, count_only)?;
        let summary_path = emu._dir.0.join("summary.json");
        let mut cmd = Command::new(bin("logferry"));
        cmd.args(&self.args)
            .arg(&self.input)
            .arg("--no-progress")
            .arg("--summary-json")
            .arg(&summary_path)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HTTP_INGEST_URL", emu.str("http_ingest_url"))
            .env("HTTP_INGEST_KEY", emu.str("http_ingest_key"))
            .env("SDL_URL", emu.str("sdl_url"))
            .env("SDL_API_KEY", emu.str("sdl_api_key"))
            .env("TAEGIS_API_ENDPOINT", emu.str("taegis_api_endpoint"))
            .env("ACCESS_TOKEN", emu.str("taegis_access_token"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if self.tls {
            cmd.arg("--ca-file").arg(emu.str("ca_cert"));
        }
        let started = Instant::now();
        let mut child = cmd.spawn().context("cannot start logferry")?;
        let (cpu, rss_kb) = watch(&mut child)?;
        let wall = started.elapsed().as_secs_f64();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = child.wait()?;
        let records_file = emu.records_file();
        let (stats, _scratch) = emu.stop()?;
        if !status.success() {
            bail!("{} failed ({status}): {err}", self.name);
        }
        let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary_path)?)?;
        let sent = summary["bytes_sent"].as_u64().unwrap_or(0);
        let received = stats["endpoints"][self.endpoint]["wire_bytes"]
            .as_u64()
            .unwrap_or(0);
        if sent != received {
            bail!(
                "{}: the sender reports {sent} bytes sent, the emulator received {received}",
                self.name
            );
        }
        let mut check = format!("{} bytes received = sent", received);
        if !count_only {
            let (lines, fingerprint) = fingerprint_lines(&std::fs::read(&self.input)?);
            let (records, received_fp) = fingerprint_records(&records_file)?;
            if lines != records || fingerprint != received_fp {
                bail!(
                    "{}: {records} records received for {lines} input lines, or their content differs",
                    self.name
                );
            }
            check = format!("all {records} records identical");
        }
        Ok(Measured {
            wall,
            cpu,
            rss_kb,
            check,
        })
    }
}

/// Samples a child's CPU time and peak RSS from /proc until it exits. Both counters are
/// monotonic, so the last sample is (within 10 ms) the final value.
fn watch(child: &mut Child) -> Result<(f64, u64)> {
    let pid = child.id();
    let tick = clock_ticks();
    let (mut cpu, mut rss) = (0.0, 0u64);
    loop {
        if let Some((c, r)) = sample(pid, tick) {
            (cpu, rss) = (c, rss.max(r));
        }
        if child.try_wait()?.is_some() {
            return Ok((cpu, rss));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Line count and an order-independent fingerprint (wrapping sum of FNV-1a hashes).
fn fingerprint_lines(data: &[u8]) -> (u64, u64) {
    let mut n = 0;
    let mut sum = 0u64;
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        n += 1;
        sum = sum.wrapping_add(fnv(line));
    }
    (n, sum)
}

fn fingerprint_records(path: &Path) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string(path)?;
    let mut n = 0;
    let mut sum = 0u64;
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line)?;
        let t = record["text"].as_str().unwrap_or_default();
        n += 1;
        sum = sum.wrapping_add(fnv(t.as_bytes()));
    }
    Ok((n, sum))
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

struct Row {
    what: String,
    mb_s: f64,
    vs_gzip1: Option<f64>,
    vs_core: Option<f64>,
    cpu_s: Option<f64>,
    rss_mb: Option<f64>,
    check: String,
}

impl Row {
    /// A sender's row: `input_mb` shipped as `m` measured, against `(gzip -1, one core)`.
    fn measured(what: String, input_mb: f64, m: Measured, (gzip1, core): (f64, f64)) -> Row {
        let mb_s = input_mb / m.wall;
        Row {
            what,
            mb_s,
            vs_gzip1: Some(mb_s / gzip1),
            vs_core: Some(mb_s / core),
            cpu_s: Some(m.cpu),
            rss_mb: Some(m.rss_kb as f64 / 1024.0),
            check: m.check,
        }
    }

    fn limit(what: &str, mb_s: f64) -> Row {
        Row {
            what: what.to_owned(),
            mb_s,
            vs_gzip1: None,
            vs_core: None,
            cpu_s: None,
            rss_mb: None,
            check: String::new(),
        }
    }
}

/// The run with the median wall time.
fn median_run(runs: impl Iterator<Item = Result<Measured>>) -> Result<Measured> {
    let mut runs = runs.collect::<Result<Vec<_>>>()?;
    runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    let mid = runs.len() / 2;
    Ok(runs.swap_remove(mid))
}

fn render(rows: &[Row], options: &Options, syslog_mb: f64) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = format!(
        "## logferry bench\n\n{syslog_mb:.0} MB syslog-like corpus, medians of {} runs, {cores} cores, emulator in count-only mode unless noted.\n\n\
         | what | MB/s of input | × `gzip -1` | × one-core encoder | CPU s | peak RSS MB | check |\n|---|---|---|---|---|---|---|\n",
        options.runs
    );
    let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.1} | {} | {} | {} | {} | {} |\n",
            r.what,
            r.mb_s,
            opt(r.vs_gzip1, 2),
            opt(r.vs_core, 2),
            opt(r.cpu_s, 2),
            opt(r.rss_mb, 1),
            r.check
        ));
    }
    out
}

/// syslog-ng's version line, when it is installed with its http() module.
fn syslog_ng_available() -> Option<String> {
    let out = Command::new("syslog-ng").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().next()?.trim().to_owned();
    let modules = Command::new("syslog-ng")
        .arg("--module-registry")
        .output()
        .ok()?;
    String::from_utf8_lossy(&modules.stdout)
        .contains("http")
        .then_some(version)
}

/// syslog-ng shipping `file` to a count-only emulator until every byte arrived (it never
/// exits at the end of a file, so the emulator's live stats say when it is done).
fn syslog_ng(file: &Path) -> Result<Measured> {
    let emu = Emulator::start(false, true)?;
    let dir = emu._dir.0.clone();
    let url = emu.str("http_ingest_url");
    let key = emu.str("http_ingest_key");
    let config = format!(
        r#"@version: 3.38
options {{ log-msg-size(65536); log-fifo-size(100000); flush-lines(1000); stats-freq(0); }};
source s_file {{ file("{file}" flags(no-parse) follow-freq(1) log-fetch-limit(10000)); }};
destination d_http {{
  http(url("{url}") method("POST")
       headers("Authorization: Bearer {key}", "Content-Type: text/plain")
       body("${{MESSAGE}}") delimiter("
")
       batch-lines(10000) batch-bytes(1MiB) batch-timeout(200) workers(4));
}};
log {{ source(s_file); destination(d_http); }};
"#,
        file = std::fs::canonicalize(file)?.display()
    );
    let conf = dir.join("syslog-ng.conf");
    std::fs::write(&conf, config)?;
    let expected = std::fs::metadata(file)?.len();
    let started = Instant::now();
    let mut child = Command::new("syslog-ng")
        .arg("-F")
        .arg("-f")
        .arg(&conf)
        .arg("--persist-file")
        .arg(dir.join("persist"))
        .arg("--pidfile")
        .arg(dir.join("pid"))
        .arg("--control")
        .arg(dir.join("ctl"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr"))?)
        .spawn()
        .context("cannot start syslog-ng")?;
    let pid = child.id();
    let (mut cpu, mut rss) = (0.0, 0u64);
    let tick = clock_ticks();
    let mut received = 0u64;
    let mut requests;
    let mut last_change = Instant::now();
    let wall = loop {
        if let Some((c, r)) = sample(pid, tick) {
            (cpu, rss) = (c, rss.max(r));
        }
        // syslog-ng puts its delimiter between records, not after the last one of a
        // request: each request carries one newline fewer than its lines had.
        let stats = emu.live_stats()?;
        let endpoint = &stats["endpoints"]["http_ingest"];
        let wire = endpoint["wire_bytes"].as_u64().unwrap_or(0);
        requests = endpoint["requests"].as_u64().unwrap_or(0);
        let now = wire + requests;
        if now != received {
            received = now;
            last_change = Instant::now();
        }
        if received >= expected {
            break started.elapsed().as_secs_f64();
        }
        if last_change.elapsed() > Duration::from_secs(20) || child.try_wait()?.is_some() {
            let _ = child.kill();
            let err = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
            bail!("syslog-ng stalled at {received} of {expected} bytes: {err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    child.wait()?;
    emu.stop()?;
    Ok(Measured {
        wall,
        cpu,
        rss_kb: rss,
        check: format!(
            "{received} bytes received (+1 newline per request) = file size, {requests} requests"
        ),
    })
}

/// CPU seconds and resident KiB of a running process, from /proc.
pub(crate) fn sample(pid: u32, tick: f64) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((ticks / tick, kb))
}

/// Busy and total CPU ticks of the whole machine since boot, from `/proc/stat` (busy is
/// everything but idle and I/O wait): two readings give the share of the machine a run
/// kept busy, its own processes and everything they talk to.
pub(crate) fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}
