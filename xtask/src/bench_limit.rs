//! `cargo xtask bench --limit [--corpus NAME]`: logferry against this machine's limit,
//! per corpus (issue 18).
//!
//! The limit of HTTP Ingest with gzip 1 is every core running the batch encoder: the
//! one-core rate of `gzip-limit` (our encoder, 1 MiB batches, input in memory) times the
//! cores. Each round measures the encoder and then logferry on the same corpus, back to
//! back, and computes the fraction within the round; the table gives the median round
//! (ratios in one round survive a noisy shared machine far better than rates do).
//!
//! The share of logferry's CPU time spent compressing is exact: logferry counts the
//! thread CPU time of every batch encode (`compress_cpu_secs` in `--summary-json`,
//! `logferry_compress::compress_cpu`), over its user + system CPU time (from
//! `/proc/PID/stat`, read once more as the process exits, before it is reaped). Beside
//! it each row gives where the rest of the two cores went while logferry ran: its own
//! CPU outside compression, the emulator's CPU (the receiving end of the loopback, on
//! the same cores), and the machine's idle share (`/proc/stat`).
//!
//! Every row also runs `bare-sender` in every round, over the same transport (plain HTTP,
//! or HTTPS with rustls and ring like logferry): the least any HTTP Ingest sender must
//! do (read the file, cut bodies of logferry's size at a `\n`, check UTF-8, gzip with the
//! same encoder, POST each body over a kept-alive connection and read the answer, on one
//! thread more than there are cores), with no record spans, positions, checkpoints,
//! retries or queues. Its fraction of the limit is what this machine leaves a sender
//! once the file is read and the bodies cross loopback to the emulator. Then
//! `bare-sender ... framed`: the same, each thread also framing its body with logferry's
//! own `LineFramer` and `Batcher` (every line found and checked against the contract's
//! record limit, copied into a batch with its span): the ceiling of a sender that checks
//! its records one by one, as the contract's per-record limit and a dead-letter file
//! naming each failed record's position need, and so of logferry's row.
//!
//! Corpora, generated deterministically (a fixed-seed splitmix64), cached under
//! `target/bench/`:
//! - `syslog`: the bench's syslog-like corpus (`logferry_emulator::sample::syslog`);
//! - `entropy`: syslog lines full of random IPv4 and IPv6 addresses, UUIDs, user names,
//!   host names and URLs carrying tokens: what compresses worst among real logs;
//! - `events`: NDJSON security events (`logferry_emulator::sample::ndjson`), shipped as
//!   text lines;
//! - `cef`: ArcSight CEF lines from a firewall, a proxy and an EDR, with random
//!   addresses, users, hashes and request URLs.

use crate::bench::{Emulator, batch_gzip, bin, clock_ticks, machine_ticks, mb, sample};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The corpora, by name.
pub(crate) const CORPORA: [&str; 4] = ["syslog", "entropy", "events", "cef"];

/// One corpus file (`size_mb` MB), generated once.
pub(crate) fn corpus(dir: &Path, name: &str, size_mb: usize) -> Result<PathBuf> {
    let generate: fn(usize, u64) -> Vec<u8> = match name {
        "syslog" => logferry_emulator::sample::syslog,
        "events" => logferry_emulator::sample::ndjson,
        "entropy" => entropy,
        "cef" => cef,
        other => bail!("unknown corpus {other:?}: one of {}", CORPORA.join(", ")),
    };
    let ext = if name == "events" { "ndjson" } else { "log" };
    let path = dir.join(format!("limit-{name}-{size_mb}mb.{ext}"));
    crate::bench::write_corpus(path, size_mb, generate)
}

/// splitmix64: tiny, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn ipv4(&mut self, out: &mut String) {
        let v = self.next();
        let _ = write!(
            out,
            "{}.{}.{}.{}",
            v as u8,
            (v >> 8) as u8,
            (v >> 16) as u8,
            (v >> 24) as u8
        );
    }

    fn ipv6(&mut self, out: &mut String) {
        let (a, b) = (self.next(), self.next());
        let _ = write!(
            out,
            "2001:db8:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            a as u16,
            (a >> 16) as u16,
            (a >> 32) as u16,
            b as u16,
            (b >> 16) as u16,
            (b >> 32) as u16
        );
    }

    fn ip(&mut self, out: &mut String) {
        if self.below(3) == 0 {
            self.ipv6(out)
        } else {
            self.ipv4(out)
        }
    }

    fn uuid(&mut self, out: &mut String) {
        let (a, b) = (self.next(), self.next());
        let _ = write!(
            out,
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) as u16,
            a as u16 & 0xfff,
            (b >> 48) as u16 & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        );
    }

    /// `n` characters of `alphabet`.
    fn token(&mut self, n: usize, alphabet: &[u8], out: &mut String) {
        for _ in 0..n {
            out.push(char::from(
                alphabet[self.below(alphabet.len() as u64) as usize],
            ));
        }
    }

    /// A user name: a first-name-like stem and random letters and digits, or an email.
    fn user(&mut self, out: &mut String) {
        out.push_str(self.pick(&["j", "a", "m", "svc_", "admin.", "k", "s", "d", "t", "r"]));
        let n = 4 + self.below(8) as usize;
        self.token(n, b"abcdefghijklmnopqrstuvwxyz", out);
        if self.below(3) == 0 {
            self.token(2, b"0123456789", out);
        }
        if self.below(4) == 0 {
            out.push('@');
            out.push_str(self.pick(&["corp.example.com", "example.org", "acme.io"]));
        }
    }

    fn host(&mut self, out: &mut String) {
        out.push_str(self.pick(&["web", "db", "api", "k8s-node", "edge", "vpn", "mail"]));
        out.push('-');
        self.token(6, b"0123456789abcdef", out);
    }

    fn url(&mut self, out: &mut String) {
        out.push_str(self.pick(&[
            "https://login.example.com/oauth2/authorize",
            "https://api.example.com/v2/users/",
            "https://cdn.example.net/assets/",
            "https://portal.acme.io/session/",
            "http://updates.vendor.example/dl/",
        ]));
        self.uuid(out);
        out.push_str("?token=");
        let n = 24 + self.below(24) as usize;
        self.token(
            n,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            out,
        );
        out.push_str("&sig=");
        self.token(16, b"0123456789abcdef", out);
    }

    fn time(&mut self, seq: u64, out: &mut String) {
        let s = 1_764_633_600 + seq / 40;
        let (h, m, sec) = ((s / 3600) % 24, (s / 60) % 60, s % 60);
        let _ = write!(
            out,
            "Dec {:>2} {h:02}:{m:02}:{sec:02}",
            1 + (s / 86_400) % 28
        );
    }
}

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "curl/8.5.0",
    "python-requests/2.32.3",
];

/// About `bytes` of high-entropy syslog, newline-terminated, deterministic per `seed`.
pub(crate) fn entropy(bytes: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0xe17a);
    let mut out = String::with_capacity(bytes + 1024);
    let mut seq = 0u64;
    while out.len() < bytes {
        out.push_str(["<38>", "<190>", "<86>", "<30>", "<134>"][r.below(5) as usize]);
        r.time(seq, &mut out);
        out.push(' ');
        r.host(&mut out);
        match r.below(5) {
            0 => {
                let _ = write!(out, " sshd[{}]: Accepted publickey for ", r.below(60_000));
                r.user(&mut out);
                out.push_str(" from ");
                r.ip(&mut out);
                let _ = write!(out, " port {} ssh2: ED25519 SHA256:", r.below(65_536));
                r.token(
                    43,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    &mut out,
                );
            }
            1 => {
                out.push_str(" nginx: ");
                r.ip(&mut out);
                out.push_str(" - ");
                r.user(&mut out);
                let _ = write!(
                    out,
                    " \"{} ",
                    r.pick(&["GET", "GET", "POST", "PUT", "DELETE"])
                );
                r.url(&mut out);
                let _ = write!(
                    out,
                    " HTTP/1.1\" {} {} \"-\" \"{}\" rt=0.{:03} req_id=",
                    [200, 200, 302, 401, 403, 404, 500][r.below(7) as usize],
                    r.below(500_000),
                    r.pick(&AGENTS),
                    r.below(1000)
                );
                r.uuid(&mut out);
            }
            2 => {
                out.push_str(" auditd: type=USER_LOGIN user=");
                r.user(&mut out);
                out.push_str(" session=");
                r.uuid(&mut out);
                out.push_str(" addr=");
                r.ip(&mut out);
                let _ = write!(
                    out,
                    " uid={} res={}",
                    r.below(70_000),
                    r.pick(&["success", "failed"])
                );
            }
            3 => {
                out.push_str(" proxy: client=");
                r.ip(&mut out);
                out.push_str(" user=");
                r.user(&mut out);
                out.push_str(" dest=");
                r.ip(&mut out);
                let _ = write!(out, ":{} url=", r.below(65_536));
                r.url(&mut out);
                let _ = write!(
                    out,
                    " bytes={} cat={}",
                    r.below(10_000_000),
                    r.pick(&["business", "social", "malware", "uncategorized"])
                );
            }
            _ => {
                let _ = write!(out, " app[{}]: request_id=", r.below(60_000));
                r.uuid(&mut out);
                out.push_str(" trace=");
                r.token(32, b"0123456789abcdef", &mut out);
                out.push_str(" user=");
                r.user(&mut out);
                out.push_str(" src=");
                r.ip(&mut out);
                let _ = write!(
                    out,
                    " msg=\"{}\" duration_ms={}",
                    r.pick(&[
                        "token refreshed",
                        "password changed",
                        "mfa challenge sent",
                        "api key rotated"
                    ]),
                    r.below(5000)
                );
            }
        }
        out.push('\n');
        seq += 1;
    }
    out.into_bytes()
}

/// About `bytes` of CEF lines (syslog header + `CEF:0|...`), deterministic per `seed`.
pub(crate) fn cef(bytes: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9) ^ 0xcef0);
    let mut out = String::with_capacity(bytes + 1024);
    let mut seq = 0u64;
    while out.len() < bytes {
        out.push_str("<134>");
        r.time(seq, &mut out);
        out.push(' ');
        r.host(&mut out);
        let rt = 1_764_633_600_000 + seq * 25 + r.below(25);
        match r.below(3) {
            0 => {
                let (sig, name, sev) = [
                    ("100", "Traffic allowed", 1),
                    ("101", "Traffic denied", 5),
                    ("310", "Port scan detected", 8),
                ][r.below(3) as usize];
                let _ = write!(
                    out,
                    " CEF:0|Acme|NGFW|10.2.4|{sig}|{name}|{sev}|rt={rt} src="
                );
                r.ipv4(&mut out);
                let _ = write!(out, " spt={} dst=", r.below(65_536));
                r.ip(&mut out);
                let _ = write!(
                    out,
                    " dpt={} proto={} act={} cs1Label=rule cs1=policy-{} deviceInboundInterface=eth{} in={} out={}",
                    [22, 53, 80, 443, 445, 3389, 8443][r.below(7) as usize],
                    r.pick(&["TCP", "UDP"]),
                    r.pick(&["allow", "deny", "drop"]),
                    r.below(400),
                    r.below(4),
                    r.below(2_000_000),
                    r.below(2_000_000)
                );
            }
            1 => {
                let _ = write!(
                    out,
                    " CEF:0|Acme|SecureWebGateway|6.1|{}|Web request|3|rt={rt} src=",
                    r.below(40)
                );
                r.ipv4(&mut out);
                out.push_str(" suser=");
                r.user(&mut out);
                out.push_str(" request=");
                r.url(&mut out);
                let _ = write!(
                    out,
                    " requestMethod={} requestClientApplication={} outcome={} cat={}",
                    r.pick(&["GET", "POST", "CONNECT"]),
                    r.pick(&AGENTS),
                    r.pick(&["200", "302", "403", "407"]),
                    r.pick(&["Business", "Cloud Storage", "Malicious", "News"])
                );
            }
            _ => {
                let _ = write!(
                    out,
                    " CEF:0|Acme|EDR|4.0|{}|Suspicious process|{}|rt={rt} dhost=",
                    r.below(900),
                    4 + r.below(6)
                );
                r.host(&mut out);
                out.push_str(" duser=");
                r.user(&mut out);
                let _ = write!(
                    out,
                    " sproc={} fname={} fileHash=",
                    r.pick(&[
                        "explorer.exe",
                        "winword.exe",
                        "powershell.exe",
                        "svchost.exe"
                    ]),
                    r.pick(&["rundll32.exe", "cmd.exe", "wscript.exe", "certutil.exe"])
                );
                r.token(64, b"0123456789abcdef", &mut out);
                out.push_str(" cs2Label=commandLine cs2=-enc ");
                let n = 40 + r.below(80) as usize;
                r.token(
                    n,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    &mut out,
                );
                out.push_str(" externalId=");
                r.uuid(&mut out);
            }
        }
        out.push('\n');
        seq += 1;
    }
    out.into_bytes()
}

/// One logferry run: wall and CPU seconds, peak RSS, and where the machine's time went.
struct Shipped {
    wall: f64,
    cpu: f64,
    /// CPU seconds logferry spent compressing (its own count).
    compress_cpu: f64,
    /// CPU seconds of the emulator receiving meanwhile.
    emulator_cpu: f64,
    /// Share of the machine's CPU time left idle meanwhile.
    idle: f64,
    rss_kb: u64,
    /// Input bytes per request: the body size the bare sender is given.
    body_raw: usize,
}

/// One `bare-sender` run.
struct Bare {
    wall: f64,
    cpu: f64,
}

/// The bare sender's two runs in a round: as it is, and framing its bodies.
struct Bares {
    plain: Bare,
    framed: Bare,
}

/// Ships `input` with `bare-sender` on `threads` threads, bodies of `body_raw` input
/// bytes (each `framed` by logferry's framer and batcher first, if so), to a count-only
/// emulator (over HTTPS with `tls`), and checks the emulator received every byte sent.
fn bare(input: &Path, tls: bool, body_raw: usize, threads: usize, framed: bool) -> Result<Bare> {
    let emu = Emulator::start_with(tls, true, 0)?;
    let mut cmd = Command::new(bin("bare-sender"));
    cmd.arg(input)
        .arg("1")
        .arg(threads.to_string())
        .arg(body_raw.max(4096).to_string())
        .args(framed.then_some("framed"))
        .env("HTTP_INGEST_URL", emu.str("http_ingest_url"))
        .env("HTTP_INGEST_KEY", emu.str("http_ingest_key"));
    if tls {
        cmd.env("HTTP_INGEST_CA", emu.str("ca_cert"));
    }
    let out = cmd.output().context("cannot start bare-sender")?;
    let (stats, _scratch) = emu.stop()?;
    if !out.status.success() {
        bail!(
            "bare-sender failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<f64> = text
        .split_whitespace()
        .map(str::parse::<f64>)
        .collect::<Result<_, _>>()?;
    let [wall, cpu, _compress, sent] = fields[..] else {
        bail!("bare-sender printed {text:?}");
    };
    all_received("bare-sender", sent as u64, &stats)?;
    Ok(Bare { wall, cpu })
}

/// Fails unless the emulator's `stats` count exactly the `sent` bytes (more than none)
/// that `sender` reports it sent to HTTP Ingest.
fn all_received(sender: &str, sent: u64, stats: &serde_json::Value) -> Result<()> {
    let received = stats["endpoints"]["http_ingest"]["wire_bytes"]
        .as_u64()
        .unwrap_or(0);
    if sent != received || sent == 0 {
        bail!("{sender} reports {sent} bytes sent, the emulator received {received}");
    }
    Ok(())
}

/// Ships `input` with `logferry http-ingest` (gzip 1) to a count-only emulator and checks
/// the emulator received every byte sent.
fn ship(input: &Path, tls: bool, extra: &[&str]) -> Result<Shipped> {
    let emu = Emulator::start_with(tls, true, 0)?;
    let summary_path = input.with_extension(format!("summary-{}.json", std::process::id()));
    let mut cmd = Command::new(bin("logferry"));
    cmd.arg("http-ingest")
        .args(extra)
        .arg(input)
        .arg("--no-progress")
        .arg("--summary-json")
        .arg(&summary_path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HTTP_INGEST_URL", emu.str("http_ingest_url"))
        .env("HTTP_INGEST_KEY", emu.str("http_ingest_key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if tls {
        cmd.arg("--ca-file").arg(emu.str("ca_cert"));
    }
    let tick = clock_ticks();
    let emulator_cpu = || sample(emu.pid(), tick).map_or(0.0, |(cpu, _)| cpu);
    let emulator_before = emulator_cpu();
    let machine_before = machine_ticks();
    let started = Instant::now();
    let mut child = cmd.spawn().context("cannot start logferry")?;
    let pid = child.id();
    let (mut cpu, mut rss_kb) = (0.0, 0u64);
    // Sampled until the process has exited but is not reaped yet: its last reading holds
    // its whole CPU time.
    loop {
        if let Some((c, r)) = sample(pid, tick) {
            (cpu, rss_kb) = (c, rss_kb.max(r));
        }
        if exited(pid) || child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = started.elapsed().as_secs_f64();
    let idle = match (machine_before, machine_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => 1.0 - (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => 0.0,
    };
    let emulator_cpu = emulator_cpu() - emulator_before;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = child.wait()?;
    let (stats, _scratch) = emu.stop()?;
    if !status.success() {
        bail!("logferry http-ingest failed ({status}): {err}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary_path)?)?;
    let _ = std::fs::remove_file(&summary_path);
    all_received(
        "logferry",
        summary["bytes_sent"].as_u64().unwrap_or(0),
        &stats,
    )?;
    let compress_cpu = summary["compress_cpu_secs"].as_f64().unwrap_or(0.0);
    let requests = summary["requests"].as_u64().unwrap_or(0).max(1);
    let body_raw = (summary["bytes_raw"].as_u64().unwrap_or(0) / requests) as usize;
    Ok(Shipped {
        wall,
        cpu,
        compress_cpu,
        emulator_cpu,
        idle,
        rss_kb,
        body_raw,
    })
}

/// Whether process `pid` has exited and waits to be reaped (a zombie keeps its final
/// CPU times in `/proc/PID/stat`).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// One round of one variant: the encoder on one core and on every core, then logferry.
struct Round {
    enc_wall: f64,
    enc_cpu: f64,
    all_wall: f64,
    shipped: Shipped,
    /// The bare sender right after logferry, as it is and framing.
    bare: Bares,
}

/// The bare sender's medians in a row.
#[derive(Clone, Copy)]
struct BareRow {
    /// Its throughput as a fraction of the limit.
    fraction: f64,
    /// logferry's throughput over its.
    logferry_over: f64,
    cpu_s: f64,
    /// The framing bare sender's throughput as a fraction of the limit.
    framed_fraction: f64,
    /// logferry's throughput over the framing bare sender's.
    logferry_over_framed: f64,
}

/// A row: the medians over rounds.
struct Row {
    corpus: String,
    what: &'static str,
    input_mb: f64,
    core_mb_s: f64,
    mb_s: f64,
    fraction: f64,
    /// The encoder on every core at once, as a fraction of the limit (one core × cores):
    /// what this machine gives two encoders that share nothing but the input.
    all_cores: f64,
    /// logferry as a fraction of the encoder on every core at once.
    of_all_cores: f64,
    /// The bare sender's medians.
    bare: BareRow,
    /// Of logferry's CPU time, the share spent compressing (exact).
    compress_share: f64,
    /// Logferry's compression CPU over the one-core encoder's for the same bytes.
    compress_vs_encoder: f64,
    /// Where the machine's CPU time went while logferry ran, as shares of it:
    /// compressing, logferry's other work, the emulator, idle.
    machine: [f64; 4],
    cpu_s: f64,
    rss_mb: f64,
    spread: (f64, f64),
}

/// The middle value of `v` (the upper one of an even count).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The rows for `corpora`, `runs` rounds each.
pub(crate) fn rows(dir: &Path, corpora: &[&str], size_mb: usize, runs: usize) -> Result<String> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let mut rows = Vec::new();
    for name in corpora {
        let input = corpus(dir, name, size_mb)?;
        let input_mb = mb(std::fs::metadata(&input)?.len());
        let variants: [(&'static str, bool); 2] =
            [("gzip 1, plain HTTP", false), ("gzip 1, HTTPS", true)];
        let mut per: Vec<Vec<Round>> = variants.iter().map(|_| Vec::new()).collect();
        for round in 0..runs {
            for (i, (what, tls)) in variants.iter().enumerate() {
                // The encoders right before each logferry run: the fractions are taken
                // within the round.
                let (enc_wall, enc_cpu) = batch_gzip(&input, 1, 1)?;
                let (all_wall, _) = batch_gzip(&input, 1, cores as usize)?;
                let shipped = ship(&input, *tls, &[])?;
                // One thread more than cores: a thread waiting for its answer leaves its
                // core to the next body (3 threads on 2 cores measured 2–10% faster than
                // 2, and 4 no faster than 3).
                let threads = cores as usize + 1;
                let bare = Bares {
                    plain: bare(&input, *tls, shipped.body_raw, threads, false)?,
                    framed: bare(&input, *tls, shipped.body_raw, threads, true)?,
                };
                println!(
                    "{name} round {round} {what}: encoder {:.1} MB/s (on {cores} cores at once {:.1} MB/s), logferry {:.1} MB/s = {:.2} of {cores} cores ({:.2} of the encoder on {cores} cores), CPU {:.2} s of which compressing {:.2} s (encoder {:.2} s), emulator {:.2} s, machine idle {:.0}%",
                    input_mb / enc_wall,
                    input_mb / all_wall,
                    input_mb / shipped.wall,
                    enc_wall / (cores * shipped.wall),
                    all_wall / shipped.wall,
                    shipped.cpu,
                    shipped.compress_cpu,
                    enc_cpu,
                    shipped.emulator_cpu,
                    shipped.idle * 100.0
                );
                for (how, b) in [("", &bare.plain), (" framing", &bare.framed)] {
                    println!(
                        "{name} round {round} bare sender{how}, {what}, bodies of {} bytes: {:.1} MB/s = {:.2} of {cores} cores, CPU {:.2} s",
                        shipped.body_raw,
                        input_mb / b.wall,
                        enc_wall / (cores * b.wall),
                        b.cpu
                    );
                }
                per[i].push(Round {
                    enc_wall,
                    enc_cpu,
                    all_wall,
                    shipped,
                    bare,
                });
            }
        }
        for ((what, _), rounds) in variants.iter().zip(per) {
            let over = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
            let fractions: Vec<f64> = rounds
                .iter()
                .map(|r| r.enc_wall / (cores * r.shipped.wall))
                .collect();
            let (lo, hi) = fractions
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), f| (l.min(*f), h.max(*f)));
            rows.push(Row {
                corpus: (*name).to_owned(),
                what,
                input_mb,
                core_mb_s: over(&|r| input_mb / r.enc_wall),
                mb_s: over(&|r| input_mb / r.shipped.wall),
                fraction: median(fractions),
                all_cores: over(&|r| r.enc_wall / (cores * r.all_wall)),
                of_all_cores: over(&|r| r.all_wall / r.shipped.wall),
                bare: BareRow {
                    fraction: over(&|r| r.enc_wall / (cores * r.bare.plain.wall)),
                    logferry_over: over(&|r| r.bare.plain.wall / r.shipped.wall),
                    cpu_s: over(&|r| r.bare.plain.cpu),
                    framed_fraction: over(&|r| r.enc_wall / (cores * r.bare.framed.wall)),
                    logferry_over_framed: over(&|r| r.bare.framed.wall / r.shipped.wall),
                },
                compress_share: over(&|r| r.shipped.compress_cpu / r.shipped.cpu),
                compress_vs_encoder: over(&|r| r.shipped.compress_cpu / r.enc_cpu),
                machine: [
                    over(&|r| r.shipped.compress_cpu / (cores * r.shipped.wall)),
                    over(&|r| (r.shipped.cpu - r.shipped.compress_cpu) / (cores * r.shipped.wall)),
                    over(&|r| r.shipped.emulator_cpu / (cores * r.shipped.wall)),
                    over(&|r| r.shipped.idle),
                ],
                cpu_s: over(&|r| r.shipped.cpu),
                rss_mb: rounds.iter().map(|r| r.shipped.rss_kb).max().unwrap_or(0) as f64 / 1024.0,
                spread: (lo, hi),
            });
        }
    }
    Ok(render(&rows, runs, cores))
}

fn render(rows: &[Row], runs: usize, cores: f64) -> String {
    let mut out = format!(
        "### HTTP Ingest against the machine's limit\n\n{cores} cores; limit = one-core batch encoder (gzip 1, 1 MiB batches) × {cores}; medians of {runs} rounds, each fraction taken within its round (range in brackets); encoder on {cores} cores = the same encoder on {cores} threads at once (nothing shared but the input) as a fraction of the limit, the most this machine gives {cores} encoders; compression share = logferry's CPU time in batch encodes (its own count) / its whole CPU time; the {cores} cores while logferry ran = shares of the machine's CPU time spent compressing / in the rest of logferry / in the emulator / idle (the remainder: the kernel's own threads and other processes); compression CPU / encoder = logferry's compression CPU over the one-core encoder's for the same bytes; bare sender = `bare-sender` right after logferry's run, over the same transport (read, cut at a newline into bodies of logferry's size, check UTF-8, gzip, POST over kept-alive connections, on {cores} + 1 threads, nothing else), the ceiling of a sender on this machine; framing bare sender = the same, each body also framed by logferry's `LineFramer` and `Batcher` (every line checked, copied into a batch with its span), the ceiling of a sender that checks each record.\n\n\
         | corpus | MB | what | one-core encoder MB/s | logferry MB/s | fraction of limit | encoder on {cores} cores, fraction of limit | logferry / encoder on {cores} cores | bare sender, fraction of limit | logferry / bare sender | framing bare sender, fraction of limit | logferry / framing bare sender | compression share of CPU | the {cores} cores: compressing / rest of logferry / emulator / idle | compression CPU / encoder | CPU s | bare sender CPU s | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let [compressing, rest, emulator, idle] = r.machine.map(|f| f * 100.0);
        let b = r.bare;
        let [bare, of_bare, framed, of_framed, bare_cpu] = [
            b.fraction,
            b.logferry_over,
            b.framed_fraction,
            b.logferry_over_framed,
            b.cpu_s,
        ]
        .map(|v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {:.1} | {:.1} | **{:.2}** ({:.2}–{:.2}) | {:.2} | {:.2} | {bare} | {of_bare} | {framed} | {of_framed} | {:.0}% | {compressing:.0}% / {rest:.0}% / {emulator:.0}% / {idle:.0}% | {:.2} | {:.2} | {bare_cpu} | {:.1} |",
            r.corpus,
            r.input_mb,
            r.what,
            r.core_mb_s,
            r.mb_s,
            r.fraction,
            r.spread.0,
            r.spread.1,
            r.all_cores,
            r.of_all_cores,
            r.compress_share * 100.0,
            r.compress_vs_encoder,
            r.cpu_s,
            r.rss_mb
        );
    }
    out
}
