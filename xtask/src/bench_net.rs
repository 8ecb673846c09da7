//! Network source rows of `cargo xtask bench` (issue 16): syslog over TCP against
//! syslog-ng receiving the same stream, UDP loss at a steady rate, and HEC throughput.
//!
//! Each row runs the release `logferry run` with one listening source into HTTP Ingest on a
//! count-only emulator over plain loopback (spool with its default fsync policy), fed by
//! senders in this process:
//!
//! - **syslog TCP**: 2,000,000 messages of 200 bytes (newline-framed RFC 5424) over 4
//!   connections as fast as they are taken, until the emulator holds every record; then
//!   syslog-ng 3.x (`network()` source, `file()` destination) receives the same stream
//!   until its file holds every byte.
//! - **UDP**: 50,000 datagrams/s for 10 s from one socket; loss = 1 − received/sent, with
//!   the kernel's drop count on the daemon's socket as it logs it.
//! - **HEC**: 4 clients posting 1 MB `/services/collector/event` bodies (200-byte events)
//!   on keep-alive connections; MB/s of bodies answered 200 (each 200 means spooled).

use crate::bench::{Emulator, bin};
use crate::bench_daemon::DaemonRow;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `cargo xtask bench --net-only`: builds the release binaries and prints these rows.
pub(crate) fn command() -> Result<()> {
    crate::util::cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "logferry-cli",
        "-p",
        "logferry-emulator",
        "--bin",
        "logferry",
        "--bin",
        "logferry-emulator",
    ])?;
    let scratch = std::env::temp_dir().join(format!("logferry-bench-net-{}", std::process::id()));
    let rows = rows(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    println!("{}", crate::bench_daemon::render(&rows?));
    Ok(())
}

/// The three rows, in `scratch`.
pub(crate) fn rows(scratch: &Path) -> Result<Vec<DaemonRow>> {
    Ok(vec![syslog_tcp(scratch)?, udp(scratch)?, hec(scratch)?])
}

/// A daemon with one listening source.
struct Daemon {
    child: Child,
    log: PathBuf,
    /// Its `[api]` address.
    api: String,
}

impl Daemon {
    fn start(emu: &Emulator, dir: &Path, source: &str) -> Result<(Daemon, String)> {
        std::fs::create_dir_all(dir)?;
        let config = dir.join("logferry.toml");
        let api = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .to_string();
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{data}\"\n[api]\nlisten = \"{api}\"\n[sources.net]\n{source}\nlisten = \"127.0.0.1:0\"\n\
                 [sinks.emulator]\ntype = \"http-ingest\"\ninputs = [\"net\"]\nurl = \"{url}\"\nkey = \"{key}\"\n",
                data = dir.join("data").display(),
                url = emu.str("http_ingest_url"),
                key = emu.str("http_ingest_key"),
            ),
        )?;
        let log = dir.join("daemon.log");
        let child = Command::new(bin("logferry"))
            .args(["run", "--config"])
            .arg(&config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("cannot start logferry run")?;
        let daemon = Daemon { child, log, api };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&daemon.log).unwrap_or_default();
            if let Some(rest) = text.lines().find_map(|l| l.split(" listening on ").nth(1)) {
                let addr = rest
                    .trim_start_matches("http://")
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                return Ok((daemon, addr));
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the daemon never listened: {text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM; the daemon's log.
    fn stop(mut self) -> Result<String> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records the daemon says the emulator accepted (its `/metrics`; a count-only emulator
/// counts no records).
fn delivered(daemon: &Daemon) -> u64 {
    let Ok(mut s) = TcpStream::connect(&daemon.api) else {
        return 0;
    };
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .filter(|l| l.starts_with("logferry_sink_records_delivered_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until `n` records were delivered (or nothing came for 20 s); the count.
fn wait_records(daemon: &Daemon, n: u64) -> u64 {
    let (mut last, mut changed) = (0, Instant::now());
    loop {
        let now = delivered(daemon);
        if now >= n || changed.elapsed() > Duration::from_secs(20) {
            return now;
        }
        if now != last {
            (last, changed) = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Message `i` of the stream: 199 bytes and a newline.
fn message(i: usize) -> String {
    let head = format!("<14>1 2026-12-02T16:40:00.000000Z web-01 bench 4242 - - message {i:09} ");
    format!("{head}{}\n", "x".repeat(199 - head.len()))
}

const TCP_MESSAGES: usize = 2_000_000;
const TCP_CONNECTIONS: usize = 4;

/// Sends the stream to `addr` over `TCP_CONNECTIONS` connections.
fn send_stream(addr: &str) -> Result<()> {
    let per = TCP_MESSAGES / TCP_CONNECTIONS;
    let senders: Vec<_> = (0..TCP_CONNECTIONS)
        .map(|c| {
            let addr = addr.to_owned();
            std::thread::spawn(move || -> Result<()> {
                let mut s = TcpStream::connect(&addr)?;
                let mut chunk = String::with_capacity(1 << 20);
                for i in c * per..(c + 1) * per {
                    chunk.push_str(&message(i));
                    if chunk.len() >= 1 << 20 {
                        s.write_all(chunk.as_bytes())?;
                        chunk.clear();
                    }
                }
                s.write_all(chunk.as_bytes())?;
                Ok(())
            })
        })
        .collect();
    for s in senders {
        s.join()
            .map_err(|_| anyhow::anyhow!("a sender panicked"))??;
    }
    Ok(())
}

fn syslog_tcp(scratch: &Path) -> Result<DaemonRow> {
    let emu = Emulator::start_with(false, true, 0)?;
    let (daemon, addr) = Daemon::start(&emu, &scratch.join("syslog-tcp"), "type = \"syslog\"")?;
    let started = Instant::now();
    send_stream(&addr)?;
    let got = wait_records(&daemon, TCP_MESSAGES as u64);
    let ours = started.elapsed().as_secs_f64();
    let log = daemon.stop()?;
    emu.kill();
    if got < TCP_MESSAGES as u64 {
        bail!("syslog TCP: {got} of {TCP_MESSAGES} messages arrived; daemon log:\n{log}");
    }
    let ours_rate = TCP_MESSAGES as f64 / ours;
    let (theirs, note) = match syslog_ng_to_file(scratch) {
        Ok(secs) => {
            let rate = TCP_MESSAGES as f64 / secs;
            (
                Some(rate),
                format!(
                    "; syslog-ng to a file: {rate:.0} msg/s ({:.1}×)",
                    ours_rate / rate
                ),
            )
        }
        Err(e) => (None, format!("; syslog-ng not measured: {e}")),
    };
    Ok(DaemonRow {
        what: format!(
            "syslog over TCP into HTTP Ingest, {TCP_MESSAGES} messages of 200 bytes on {TCP_CONNECTIONS} connections, until all received"
        ),
        result: format!("{ours_rate:.0} msg/s{note}"),
        target: "≥ 300,000 msg/s and ≥ 2× syslog-ng".into(),
        met: ours_rate >= 300_000.0 && theirs.is_some_and(|t| ours_rate >= 2.0 * t),
    })
}

/// syslog-ng receiving the stream on TCP into a file: seconds until the file is whole.
fn syslog_ng_to_file(scratch: &Path) -> Result<f64> {
    let dir = scratch.join("syslog-ng");
    std::fs::create_dir_all(&dir)?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let out = dir.join("received.log");
    let conf = dir.join("syslog-ng.conf");
    std::fs::write(
        &conf,
        format!(
            r#"@version: 3.38
options {{ log-msg-size(65536); log-fifo-size(100000); flush-lines(1000); stats-freq(0); }};
source s_net {{ network(ip("127.0.0.1") port({port}) transport("tcp") flags(no-parse) log-iw-size(100000) max-connections(10)); }};
destination d_file {{ file("{out}" template("${{MESSAGE}}\n")); }};
log {{ source(s_net); destination(d_file); }};
"#,
            out = out.display()
        ),
    )?;
    let mut child = Command::new("syslog-ng")
        .arg("-F")
        .arg("-f")
        .arg(&conf)
        .arg("-R")
        .arg(dir.join("persist"))
        .arg("-p")
        .arg(dir.join("pid"))
        .arg("-c")
        .arg(dir.join("ctl"))
        .arg("--no-caps")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr"))?)
        .spawn()
        .context("cannot start syslog-ng")?;
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while TcpStream::connect(&addr).is_err() {
        if started.elapsed() > Duration::from_secs(10) || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!(
                "syslog-ng did not listen: {}",
                std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let expected = (TCP_MESSAGES * 200) as u64;
    let started = Instant::now();
    send_stream(&addr)?;
    let (mut last, mut changed) = (0, Instant::now());
    let secs = loop {
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        if size >= expected {
            break started.elapsed().as_secs_f64();
        }
        if size != last {
            (last, changed) = (size, Instant::now());
        }
        if changed.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("syslog-ng stalled at {size} of {expected} bytes");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&out);
    Ok(secs)
}

fn udp(scratch: &Path) -> Result<DaemonRow> {
    const RATE: usize = 50_000;
    const SECS: usize = 10;
    let emu = Emulator::start_with(false, true, 0)?;
    let (daemon, addr) = Daemon::start(
        &emu,
        &scratch.join("syslog-udp"),
        "type = \"syslog\"\nmode = \"udp\"",
    )?;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(&addr)?;
    let total = RATE * SECS;
    let started = Instant::now();
    // 50 datagrams every millisecond.
    for ms in 0..(SECS * 1000) {
        let due = started + Duration::from_millis(ms as u64);
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        for i in 0..RATE / 1000 {
            let m = message(ms * (RATE / 1000) + i);
            let _ = socket.send(m.trim_end().as_bytes());
        }
    }
    let sending = started.elapsed().as_secs_f64();
    let got = wait_records(&daemon, total as u64);
    let log = daemon.stop()?;
    emu.kill();
    let drops = log
        .lines()
        .filter_map(|l| {
            l.split(" kernel drops")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .next_back()
        .map_or_else(|| "not reported".to_owned(), |d| d.to_string());
    let loss = 1.0 - got as f64 / total as f64;
    Ok(DaemonRow {
        what: format!(
            "syslog over UDP, {RATE} datagrams/s of 200 bytes for {SECS} s (sent in {sending:.1} s)"
        ),
        result: format!(
            "{got} of {total} received: loss {:.3}% (kernel drops on the socket: {drops})",
            loss * 100.0
        ),
        target: "< 0.1% loss".into(),
        met: loss < 0.001,
    })
}

fn hec(scratch: &Path) -> Result<DaemonRow> {
    const CLIENTS: usize = 4;
    const REQUESTS: usize = 100;
    let emu = Emulator::start_with(false, true, 0)?;
    let (daemon, addr) = Daemon::start(
        &emu,
        &scratch.join("hec"),
        "type = \"http\"\ntoken = \"bench-token\"",
    )?;
    let body: String = (0..5000)
        .map(|i| {
            format!(
                r#"{{"event":"a 200-byte event of a webhook sender, number {i:06}, with some padding text after it to fill the line to size {}","time":1764693600.5}}"#,
                "y".repeat(30)
            )
        })
        .collect();
    let body = std::sync::Arc::new(body);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addr, body) = (addr.clone(), body.clone());
            std::thread::spawn(move || -> Result<u64> {
                let mut s = TcpStream::connect(&addr)?;
                let mut reader = BufReader::new(s.try_clone()?);
                let mut sent = 0u64;
                for _ in 0..REQUESTS {
                    write!(
                        s,
                        "POST /services/collector/event HTTP/1.1\r\nHost: bench\r\nAuthorization: Splunk bench-token\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )?;
                    s.write_all(body.as_bytes())?;
                    let status = read_response(&mut reader)?;
                    if status != 200 {
                        bail!("HEC answered {status}");
                    }
                    sent += body.len() as u64;
                }
                Ok(sent)
            })
        })
        .collect();
    let mut bytes = 0;
    for c in clients {
        bytes += c
            .join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    daemon.stop()?;
    emu.kill();
    let mb_s = bytes as f64 / 1e6 / secs;
    Ok(DaemonRow {
        what: format!(
            "HEC /services/collector/event, {CLIENTS} clients × {REQUESTS} bodies of {:.1} MB (5,000 events), each answered 200 once spooled",
            body.len() as f64 / 1e6
        ),
        result: format!("{mb_s:.0} MB/s of events acknowledged"),
        target: "≥ 100 MB/s".into(),
        met: mb_s >= 100.0,
    })
}

/// Reads one HTTP/1.1 response; its status.
fn read_response(reader: &mut BufReader<TcpStream>) -> Result<u16> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not a status line: {line:?}"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(status)
}
