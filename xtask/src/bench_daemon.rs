//! `logferry run` rows of `cargo xtask bench`: latency, idle cost, many files, catch-up.
//!
//! Each row runs the release daemon against the emulator binary over plain loopback
//! HTTP, with files a writer in this process appends to:
//!
//! - **latency**: a steady 2,000 lines/s for 20 s, each line carrying its write time;
//!   the emulator's admin API is polled every 5 ms, and a line's latency is from its
//!   write to the poll that first saw it (so within 5 ms of the true receipt).
//! - **idle**: 100 followed files, no writes: the daemon's CPU over 20 s after start-up.
//! - **many files**: 1,000 files, 10,000 lines/s in all for 20 s: every line received,
//!   the daemon's peak RSS, and how long a `/metrics` scrape (every 2 s) takes.
//! - **catch-up**: the syslog corpus as a backlog present at start, until the emulator
//!   has every record; compared with the one-shot `logferry http-ingest` of the same file
//!   against the same kind of emulator, in the same run.

use crate::bench::{Emulator, bin, clock_ticks, mb, sample};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One row of the daemon table.
pub(crate) struct DaemonRow {
    pub(crate) what: String,
    pub(crate) result: String,
    pub(crate) target: String,
    pub(crate) met: bool,
}

/// Every daemon row, in `scratch`; the catch-up row ships `syslog`.
pub(crate) fn rows(scratch: &Path, syslog: &Path) -> Result<Vec<DaemonRow>> {
    Ok(vec![
        latency(scratch)?,
        idle(scratch)?,
        many_files(scratch)?,
        catch_up(scratch, syslog)?,
    ])
}

/// The daemon rows as a markdown table.
pub(crate) fn render(rows: &[DaemonRow]) -> String {
    let mut out = String::from(
        "\n### `logferry run`\n\n| what | result | target | met |\n|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.what,
            r.result,
            r.target,
            if r.met { "yes" } else { "**no**" }
        ));
    }
    out
}

/// A running daemon with its config in `dir`.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Daemon {
    fn start(emu: &Emulator, dir: &Path, include: &str, extra: &str) -> Result<Daemon> {
        std::fs::create_dir_all(dir)?;
        let config = dir.join("logferry.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{data}\"\n[api]\nlisten = \"127.0.0.1:0\"\n[sources.bench]\ntype = \"file\"\ninclude = [\"{include}\"]\n{extra}\n\
                 [sinks.emulator]\ntype = \"http-ingest\"\ninputs = [\"bench\"]\nurl = \"{url}\"\nkey = \"{key}\"\nfsync = \"never\"\n",
                data = dir.join("data").display(),
                url = emu.str("http_ingest_url"),
                key = emu.str("http_ingest_key"),
            ),
        )?;
        let child = Command::new(bin("logferry"))
            .args(["run", "--config"])
            .arg(&config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("daemon.log"))?)
            .spawn()
            .context("cannot start logferry run")?;
        Ok(Daemon {
            child,
            dir: dir.to_path_buf(),
        })
    }

    /// Where its `/metrics` listens, once it said so in its log.
    fn api(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.dir.join("daemon.log")).ok()?;
        let rest = log
            .split("serving /metrics, /health and /ready on http://")
            .nth(1)?;
        rest.split_whitespace().next().map(str::to_owned)
    }

    /// CPU seconds and peak RSS KiB so far.
    fn sample(&self) -> (f64, u64) {
        sample(self.child.id(), clock_ticks()).unwrap_or_default()
    }

    fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            let log = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
            bail!("logferry run exited with {status}: {log}");
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET /metrics` from `addr`, whole: how long it took, and the body's size.
fn scrape(addr: &str) -> Result<(Duration, usize)> {
    use std::io::Read;
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    if !reply.starts_with(b"HTTP/1.1 200") {
        bail!(
            "/metrics answered {}",
            String::from_utf8_lossy(&reply[..reply.len().min(40)])
        );
    }
    Ok((started.elapsed(), reply.len()))
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn latency(scratch: &Path) -> Result<DaemonRow> {
    const RATE: u64 = 2_000;
    const SECS: u64 = 20;
    let emu = Emulator::start_with(false, false, 1_000_000)?;
    let dir = scratch.join("latency");
    let log = dir.join("app.log");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&log, "")?;
    let daemon = Daemon::start(&emu, &dir, &log.display().to_string(), "")?;
    let total = RATE * SECS;
    let writer = std::thread::spawn(move || -> Result<()> {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log)?;
        let start = Instant::now();
        // 20 writes a second of 100 lines each.
        for tick in 0..SECS * 20 {
            let due = start + Duration::from_millis(tick * 50);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let mut chunk = String::new();
            for _ in 0..RATE / 20 {
                chunk.push_str(&format!(
                    "t={} a steady line of a service log with some words\n",
                    now_ns()
                ));
            }
            f.write_all(chunk.as_bytes())?;
        }
        Ok(())
    });
    let mut latencies: Vec<f64> = Vec::with_capacity(total as usize);
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(SECS + 30);
    while (latencies.len() as u64) < total && Instant::now() < deadline {
        let (records, after) = emu.records_since(next)?;
        let seen = now_ns();
        for text in records {
            if let Some(t) = text
                .strip_prefix("t=")
                .and_then(|r| r.split(' ').next())
                .and_then(|t| t.parse::<u128>().ok())
            {
                latencies.push((seen.saturating_sub(t)) as f64 / 1e9);
            }
        }
        next = after;
        std::thread::sleep(Duration::from_millis(5));
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    daemon.stop()?;
    if (latencies.len() as u64) < total {
        bail!("latency: {} of {total} lines arrived", latencies.len());
    }
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let (median, p99) = (q(0.5), q(0.99));
    Ok(DaemonRow {
        what: "latency, line written → emulator, 2,000 lines/s for 20 s (linger 1s, the default)"
            .into(),
        result: format!(
            "median {median:.3} s, p90 {:.3} s, p99 {p99:.3} s, max {:.3} s",
            q(0.9),
            latencies[latencies.len() - 1]
        ),
        target: "median ≤ 1 s, p99 ≤ 2 s".into(),
        met: median <= 1.0 && p99 <= 2.0,
    })
}

fn idle(scratch: &Path) -> Result<DaemonRow> {
    let emu = Emulator::start_with(false, false, 0)?;
    let dir = scratch.join("idle");
    let files = dir.join("files");
    std::fs::create_dir_all(&files)?;
    for i in 0..100 {
        std::fs::write(
            files.join(format!("f{i:03}.log")),
            format!("one line in file {i}\n"),
        )?;
    }
    let daemon = Daemon::start(&emu, &dir, &format!("{}/*.log", files.display()), "")?;
    // Start-up (first reads, the first flush) is not idle.
    let started = Instant::now();
    while emu.received() < 100 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (before, _) = daemon.sample();
    let window = Duration::from_secs(20);
    std::thread::sleep(window);
    let (after, _) = daemon.sample();
    daemon.stop()?;
    let share = (after - before) / window.as_secs_f64() * 100.0;
    Ok(DaemonRow {
        what: "idle: 100 followed files, no writes, 20 s".into(),
        result: format!("{share:.3}% of one core ({:.3} CPU s)", after - before),
        target: "≤ 0.5% of one core".into(),
        met: share <= 0.5,
    })
}

fn many_files(scratch: &Path) -> Result<DaemonRow> {
    const FILES: usize = 1_000;
    const SECS: u64 = 20;
    const RATE: u64 = 10_000;
    let emu = Emulator::start_with(false, false, 0)?;
    let dir = scratch.join("many");
    let files = dir.join("files");
    std::fs::create_dir_all(&files)?;
    let paths: Vec<PathBuf> = (0..FILES)
        .map(|i| files.join(format!("f{i:04}.log")))
        .collect();
    for p in &paths {
        std::fs::write(p, "")?;
    }
    let daemon = Daemon::start(
        &emu,
        &dir,
        &format!("{}/*.log", files.display()),
        "max_open_files = 1024",
    )?;
    let start = Instant::now();
    let mut written = 0u64;
    let mut peak = 0u64;
    let mut scrapes: Vec<(Duration, usize)> = Vec::new();
    // Ten rounds a second; each round appends one line to a tenth of the files... in turn.
    for tick in 0..SECS * 10 {
        let due = start + Duration::from_millis(tick * 100);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let per_tick = (RATE / 10) as usize;
        for k in 0..per_tick {
            let i = (tick as usize * per_tick + k) % FILES;
            let mut f = std::fs::OpenOptions::new().append(true).open(&paths[i])?;
            writeln!(f, "file {i} line {written} of the many-files bench")?;
            written += 1;
        }
        peak = peak.max(daemon.sample().1);
        // A Prometheus scrape every 2 s, while the files are written.
        if tick % 20 == 10
            && let Some(addr) = daemon.api()
        {
            scrapes.push(scrape(&addr)?);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while emu.received() < written && Instant::now() < deadline {
        peak = peak.max(daemon.sample().1);
        std::thread::sleep(Duration::from_millis(50));
    }
    peak = peak.max(daemon.sample().1);
    let got = emu.received();
    daemon.stop()?;
    let rss = peak as f64 / 1024.0;
    if scrapes.is_empty() {
        bail!("many files: the daemon never said where /metrics listens");
    }
    let mut times: Vec<f64> = scrapes.iter().map(|(t, _)| t.as_secs_f64() * 1e3).collect();
    times.sort_by(f64::total_cmp);
    let (median, worst) = (times[times.len() / 2], times[times.len() - 1]);
    let body = scrapes.iter().map(|(_, n)| *n).max().unwrap_or(0) as f64 / 1e3;
    Ok(DaemonRow {
        what: "1,000 followed files, 10,000 lines/s in all for 20 s; `/metrics` scraped every 2 s"
            .into(),
        result: format!(
            "{got} of {written} lines received, peak RSS {rss:.1} MB; scrape ({body:.0} kB) median {median:.1} ms, worst {worst:.1} ms of {}",
            times.len()
        ),
        target: "nothing lost, peak RSS < 64 MB, scrape < 50 ms".into(),
        met: got >= written && rss < 64.0 && worst < 50.0,
    })
}

fn catch_up(scratch: &Path, syslog: &Path) -> Result<DaemonRow> {
    let dir = scratch.join("catch-up");
    std::fs::create_dir_all(&dir)?;
    let backlog = dir.join("backlog.log");
    std::fs::hard_link(syslog, &backlog).or_else(|_| std::fs::copy(syslog, &backlog).map(drop))?;
    let bytes = std::fs::metadata(&backlog)?.len();
    let lines = std::fs::read(&backlog)?
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64;
    // Both runs against an emulator that decodes and counts (and stores nothing), so
    // they compete with the same server work for the two cores.
    let emu = Emulator::start_with(false, false, 0)?;
    let started = Instant::now();
    let status = Command::new(bin("logferry"))
        .args(["http-ingest", "--no-progress"])
        .arg(&backlog)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HTTP_INGEST_URL", emu.str("http_ingest_url"))
        .env("HTTP_INGEST_KEY", emu.str("http_ingest_key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let one_shot = started.elapsed().as_secs_f64();
    if !status.success() || emu.received() < lines {
        bail!("catch-up: the one-shot run failed ({status}) or lost records");
    }
    drop(emu);
    let emu = Emulator::start_with(false, false, 0)?;
    let started = Instant::now();
    let daemon = Daemon::start(&emu, &dir, &backlog.display().to_string(), "")?;
    emu.wait_received(lines, "catch-up")?;
    let secs = started.elapsed().as_secs_f64();
    daemon.stop()?;
    let (rate, one_shot_rate) = (mb(bytes) / secs, mb(bytes) / one_shot);
    let ratio = rate / one_shot_rate;
    Ok(DaemonRow {
        what: format!(
            "catch-up: a {:.0} MB backlog at start, emulator decoding",
            mb(bytes)
        ),
        result: format!(
            "{rate:.1} MB/s, {ratio:.2} × the one-shot `http-ingest` of the same file ({one_shot_rate:.1} MB/s) in the same conditions"
        ),
        target: "≥ 0.90 × one-shot".into(),
        met: ratio >= 0.9,
    })
}

impl Emulator {
    /// Records (their text) with `seq >= since`, and the next `since`, from the admin API.
    fn records_since(&self, since: u64) -> Result<(Vec<String>, u64)> {
        let value = self.admin(&format!("records?since={since}&limit=100000"))?;
        let records = value["records"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["text"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok((records, value["next"].as_u64().unwrap_or(since)))
    }
}
