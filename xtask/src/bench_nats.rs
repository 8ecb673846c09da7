//! NATS scale-out rows of `cargo xtask bench` (issue 17), when `nats-server` is on
//! `PATH`: release `logferry run` processes, a `nats-server -js` on loopback with its
//! store under the scratch directory, the emulator binary over plain HTTP.
//!
//! - **edge publish**: the syslog corpus as a backlog of an edge daemon (followed file
//!   into a `nats` sink); from the daemon's start to the moment the stream held every
//!   byte it ends with (the server's `/jsz` polled every 20 ms; the edge's ledger says
//!   when every record was acknowledged).
//! - **one worker**: that stream, full, drained by one worker daemon into HTTP Ingest
//!   (until the emulator counted every record), against a file-source daemon shipping
//!   the same file to the same kind of emulator in the same run.
//! - **two workers**: the stream refilled and drained by one worker, then refilled and
//!   drained by two, three rounds alternately (their median ratio), each time into a
//!   count-only emulator (decoding would make the emulator, on the same two cores, the
//!   bottleneck); the end is the stream empty (work queue retention: a message goes once
//!   a worker acknowledged it after delivery), and the workers' ledgers must add up to
//!   every record. Timed from 90% to 10% of the stream left (the workers' start and the
//!   last messages apart), with how busy the machine was meanwhile (`/proc/stat`).
//!
//! Workers run with the default `in_flight` (4); `LOGFERRY_BENCH_NATS_IN_FLIGHT=N` sets
//! it, to see how far holding more messages lets compression run ahead of the requests.

use crate::bench::{Emulator, bin, machine_ticks, mb, wait_until};
use crate::bench_daemon::DaemonRow;
use crate::bench_limit::median;
use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The rows, or none when `nats-server` is missing.
pub(crate) fn rows(scratch: &Path, syslog: &Path) -> Result<Vec<DaemonRow>> {
    if Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("nats-server not on PATH: no NATS rows");
        return Ok(Vec::new());
    }
    let dir = scratch.join("nats");
    std::fs::create_dir_all(&dir)?;
    let backlog = dir.join("backlog.log");
    std::fs::hard_link(syslog, &backlog).or_else(|_| std::fs::copy(syslog, &backlog).map(drop))?;
    let bytes = std::fs::metadata(&backlog)?.len();
    let lines = std::fs::read(&backlog)?
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64;

    let mut rows = Vec::new();
    // Edge publish, filling the stream for the one-worker row.
    let server = Server::start(&dir.join("nats-1"))?;
    let publish = fill(&server, &dir.join("edge-1"), &backlog, lines)?;
    let rate = mb(bytes) / publish;
    rows.push(DaemonRow {
        what: format!(
            "edge publish: a {:.0} MB backlog into a local JetStream stream (file storage)",
            mb(bytes)
        ),
        result: format!("{rate:.1} MB/s of records"),
        target: "≥ 200 MB/s".into(),
        met: rate >= 200.0,
    });
    let one = drain(&server, &dir.join("w1"), 1, lines, false, false)?.secs;
    drop(server);
    let file = file_daemon(&dir.join("file"), &backlog, lines)?;
    let (one_rate, file_rate) = (mb(bytes) / one, mb(bytes) / file);
    rows.push(DaemonRow {
        what: "one worker: the full stream → HTTP Ingest (emulator decoding)".into(),
        result: format!(
            "{one_rate:.1} MB/s, {:.2} × file → HTTP Ingest ({file_rate:.1} MB/s) in the same run",
            one_rate / file_rate
        ),
        target: "≥ 0.80 × file → HTTP Ingest".into(),
        met: one_rate >= 0.8 * file_rate,
    });
    // Two workers against one with an emulator that only reads the bodies: decoding them
    // takes about as much CPU as the workers do, on the same two cores, and would be
    // what limits both.
    // Each twice: the workers free to use every core (one worker alone already uses
    // both of this machine's), then each worker kept to a core of its own (`taskset`),
    // which is what "two workers on two cores" against one worker measures there;
    // nats-server and the emulator run anywhere either way.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for pin in [false, true] {
        if pin && cores < 2 {
            break;
        }
        // Drains under a second each swing with this machine's speed: one worker then
        // two, alternately, ROUNDS times; each round's ratio, and their median.
        let mut rounds = Vec::new();
        for round in 0..ROUNDS {
            let mut drained = Vec::new();
            for workers in [1, 2] {
                let name = format!("{}{workers}-{round}", if pin { "p" } else { "c" });
                let server = Server::start(&dir.join(format!("nats-{name}")))?;
                fill(&server, &dir.join(format!("edge-{name}")), &backlog, lines)?;
                let d = drain(&server, &dir.join(&name), workers, lines, true, pin)?;
                drop(server);
                std::fs::remove_dir_all(dir.join(format!("nats-{name}")))?;
                drained.push(d);
            }
            rounds.push(Round::of(&drained[0], &drained[1], bytes));
        }
        let by = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        let ratio = by(|r| r.two / r.one);
        let (lo, hi) = rounds
            .iter()
            .map(|r| r.two / r.one)
            .fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let busy = if rounds.iter().all(|r| r.busy.is_some()) {
            format!(
                "; the machine {:.0}% busy with one worker, {:.0}% with two (workers, nats-server and emulator, from /proc/stat)",
                100.0 * by(|r| r.busy.map_or(0.0, |b| b.0)),
                100.0 * by(|r| r.busy.map_or(0.0, |b| b.1)),
            )
        } else {
            String::new()
        };
        let what = if pin {
            "two workers vs one, each worker kept to a core of its own (`taskset`; nats-server and a count-only emulator run on either)"
        } else {
            "two workers vs one, same stream, same machine (both workers, nats-server and a count-only emulator share its cores)"
        };
        rows.push(DaemonRow {
            what: what.into(),
            result: format!(
                "{:.2} × one worker (median of {ROUNDS} alternating rounds, {lo:.2}–{hi:.2}): {:.1} vs {:.1} MB/s into the same count-only emulator, from 90% to 10% of the stream left{busy}; start to end {:.2} ×",
                ratio,
                by(|r| r.two),
                by(|r| r.one),
                by(|r| r.two_all / r.one_all),
            ),
            target: "≥ 1.6 × one worker (with the emulator not the bottleneck)".into(),
            met: ratio >= 1.6,
        });
    }
    Ok(rows)
}

/// Rounds of the two-worker rows.
const ROUNDS: usize = 3;

/// One round of a two-worker row: MB/s of records with one worker and with two, in the
/// steady window and start to end, and how busy the machine was in each.
struct Round {
    one: f64,
    two: f64,
    one_all: f64,
    two_all: f64,
    busy: Option<(f64, f64)>,
}

impl Round {
    fn of(one: &Drained, two: &Drained, bytes: u64) -> Round {
        let [s1, s2] = [one, two].map(|d| d.steady.as_ref().expect("count-only"));
        Round {
            one: s1.rate(bytes),
            two: s2.rate(bytes),
            one_all: mb(bytes) / one.secs,
            two_all: mb(bytes) / two.secs,
            busy: s1.busy.zip(s2.busy),
        }
    }
}

/// A `nats-server -js` on free ports (client and monitoring), killed on drop.
struct Server {
    child: Child,
    port: u16,
    monitor: u16,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    fn start(store: &Path) -> Result<Server> {
        std::fs::create_dir_all(store)?;
        let (port, monitor) = (free_port()?, free_port()?);
        let log = store.join("server.log");
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &monitor.to_string()])
            .arg("-sd")
            .arg(store)
            .arg("-l")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nats-server")?;
        let server = Server {
            child,
            port,
            monitor,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Server is ready")
        {
            if Instant::now() > deadline {
                bail!("nats-server did not become ready");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (messages, bytes) stored in JetStream now, from `/jsz`.
    fn stored(&self) -> Result<(u64, u64)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.monitor))?;
        write!(
            stream,
            "GET /jsz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
        )?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply)?;
        let text = String::from_utf8_lossy(&reply);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(body).context("/jsz is not JSON")?;
        Ok((
            v["messages"].as_u64().unwrap_or(0),
            v["bytes"].as_u64().unwrap_or(0),
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `logferry run` on `config`; its log next to it.
fn daemon(config: &Path, env: &[(&str, String)]) -> Result<Child> {
    daemon_on(config, env, None)
}

/// [`daemon`], kept to core `cpu` (`taskset -c`) when given.
fn daemon_on(config: &Path, env: &[(&str, String)], cpu: Option<usize>) -> Result<Child> {
    let log = config.with_extension("log");
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(cpu.to_string()).arg(bin("logferry"));
            cmd
        }
        None => Command::new(bin("logferry")),
    };
    cmd.args(["run", "--config"])
        .arg(config)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().context("cannot start logferry run")
}

fn stop(mut child: Child) -> Result<()> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    child.wait()?;
    Ok(())
}

/// Where the edge's registry says reading of its (one) file stands.
fn read_offset(data: &Path) -> u64 {
    std::fs::read(data.join("bus").join("backlog").join("files.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["files"][0]["offset"].as_u64())
        .unwrap_or(0)
}

/// Publishes `backlog` through an edge daemon; the seconds until the stream held all of
/// it: the file read to its end (the registry, written every 250 ms), and the stream's
/// bytes unchanged for 1.5 s after that (the time of their last change is the end).
/// The edge's ledger, exact once it stopped, must then say every record was published.
fn fill(server: &Server, dir: &Path, backlog: &Path, lines: u64) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let size = std::fs::metadata(backlog)?.len();
    let config = dir.join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n[sources.backlog]\ntype = \"file\"\ninclude = [\"{file}\"]\n\
             [sinks.bus]\ntype = \"nats\"\ninputs = [\"backlog\"]\nurl = \"{url}\"\nstream = \"LOGS\"\nsubject = \"logs.bench\"\nfsync = \"never\"\n",
            data = dir.join("data").display(),
            file = backlog.display(),
            url = server.url(),
        ),
    )?;
    let started = Instant::now();
    let edge = daemon(&config, &[])?;
    let mut last = (0u64, started.elapsed());
    let deadline = started + Duration::from_secs(600);
    loop {
        if Instant::now() > deadline {
            bail!("edge publish: not done after 600 s");
        }
        let (_, bytes) = server.stored().unwrap_or_default();
        if bytes != last.0 {
            last = (bytes, started.elapsed());
        }
        if read_offset(&dir.join("data")) >= size
            && started.elapsed() - last.1 > Duration::from_millis(1500)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop(edge)?;
    let ledger: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("data/bus/backlog/ledger.json"))?)?;
    let (read, published) = (
        ledger["read"].as_u64().unwrap_or(0),
        ledger["delivered"].as_u64().unwrap_or(0),
    );
    if read != lines || published != lines {
        bail!("edge publish: {published} of {read} records published, {lines} lines: {ledger}");
    }
    Ok(last.1.as_secs_f64())
}

/// Drains the stream with `workers` worker daemons into an emulator; the seconds until
/// it counted `lines` records. With `count_only` the emulator only reads the bodies (so
/// it is not what limits the workers) and the end is the stream empty: its retention
/// removes a message once a worker acknowledged it, which it does only after delivery;
/// the workers' ledgers must then add up to `lines`. With `pin`, worker `i` runs on core
/// `i` only. Also the share of the machine's CPU time that was busy meanwhile (anything
/// but idle), when `/proc/stat` can say.
fn drain(
    server: &Server,
    dir: &Path,
    workers: usize,
    lines: u64,
    count_only: bool,
    pin: bool,
) -> Result<Drained> {
    let emu = Emulator::start_with(false, count_only, 0)?;
    let env = [
        ("HTTP_INGEST_URL", emu.str("http_ingest_url")),
        ("HTTP_INGEST_KEY", emu.str("http_ingest_key")),
    ];
    let configs: Vec<PathBuf> = (0..workers)
        .map(|i| {
            let d = dir.join(format!("worker-{i}"));
            std::fs::create_dir_all(&d)?;
            let config = d.join("worker.toml");
            std::fs::write(
                &config,
                format!(
                    "data_dir = \"{data}\"\n[sources.bus]\ntype = \"nats\"\nurl = \"{url}\"\nstream = \"LOGS\"\nconsumer = \"bench\"\n{in_flight}\
                     [sinks.taegis]\ntype = \"http-ingest\"\ninputs = [\"bus\"]\nurl = \"${{HTTP_INGEST_URL}}\"\nkey = \"${{HTTP_INGEST_KEY}}\"\n",
                    data = d.join("data").display(),
                    url = server.url(),
                    in_flight = std::env::var("LOGFERRY_BENCH_NATS_IN_FLIGHT")
                        .map(|n| format!("in_flight = {n}\n"))
                        .unwrap_or_default(),
                ),
            )?;
            Ok(config)
        })
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let children = configs
        .iter()
        .enumerate()
        .map(|(i, c)| daemon_on(c, &env, pin.then_some(i)))
        .collect::<Result<Vec<_>>>()?;
    let mut steady = None;
    if count_only {
        steady = Some(steady_window(server, lines, || emu.received())?);
    } else {
        emu.wait_received(lines, "drain")?;
    }
    let secs = started.elapsed().as_secs_f64();
    for c in children {
        stop(c)?;
    }
    if count_only {
        let delivered: u64 = configs
            .iter()
            .map(|c| {
                let ledger = c.with_file_name("data").join("taegis/bus/ledger.json");
                std::fs::read(&ledger)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v["delivered"].as_u64())
                    .unwrap_or(0)
            })
            .sum();
        if delivered < lines {
            bail!("drain: the workers' ledgers say {delivered} of {lines} records delivered");
        }
    }
    Ok(Drained { secs, steady })
}

/// How long a drain took, from the workers' start to the end.
struct Drained {
    secs: f64,
    /// With `count_only`: the steady part, [`steady_window`].
    steady: Option<Steady>,
}

/// The middle of a drain: from the stream holding 90% of its bytes to it holding 10%, so
/// without the workers' start (connecting, creating the consumer, the first fetches) and
/// the last messages, which a pool working a stream for hours does not have either.
struct Steady {
    /// Seconds for 80% of the stream.
    secs: f64,
    /// The share of the machine's CPU time that was busy meanwhile (anything but idle:
    /// the workers, nats-server and the emulator), when `/proc/stat` can say.
    busy: Option<f64>,
}

impl Steady {
    /// MB/s of records, for a stream of `bytes` of them.
    fn rate(&self, bytes: u64) -> f64 {
        0.8 * mb(bytes) / self.secs
    }
}

/// Waits until the stream is empty (its retention removes a message once a worker
/// acknowledged it after delivery), timing its [`Steady`] window on the way (the
/// server's `/jsz`, polled by [`wait_until`]).
fn steady_window(server: &Server, lines: u64, received: impl Fn() -> u64) -> Result<Steady> {
    let full = server.stored()?.1.max(1);
    // When the stream first held 90% and 10% of its bytes, and the machine's ticks then.
    type Mark = Option<(Instant, Option<(u64, u64)>)>;
    let marks: RefCell<[Mark; 2]> = RefCell::new([None; 2]);
    wait_until(
        "drain",
        || {
            let Ok((messages, bytes)) = server.stored() else {
                return false;
            };
            for (mark, tenths) in marks.borrow_mut().iter_mut().zip([9, 1]) {
                if mark.is_none() && bytes * 10 <= full * tenths {
                    *mark = Some((Instant::now(), machine_ticks()));
                }
            }
            messages == 0
        },
        || format!("{} of {lines} records", received()),
    )?;
    let [start, end] = marks.into_inner();
    let ((t0, m0), (t1, m1)) = start
        .zip(end)
        .context("drain: the stream was empty at the start")?;
    let busy = m0
        .zip(m1)
        .and_then(|((b0, n0), (b1, n1))| (n1 > n0).then(|| (b1 - b0) as f64 / (n1 - n0) as f64));
    Ok(Steady {
        secs: (t1 - t0).as_secs_f64().max(1e-3),
        busy,
    })
}

/// The same backlog shipped by a file-source daemon; the seconds until all arrived.
fn file_daemon(dir: &Path, backlog: &Path, lines: u64) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let emu = Emulator::start_with(false, false, 0)?;
    let config = dir.join("file.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n[sources.backlog]\ntype = \"file\"\ninclude = [\"{file}\"]\n\
             [sinks.taegis]\ntype = \"http-ingest\"\ninputs = [\"backlog\"]\nurl = \"${{HTTP_INGEST_URL}}\"\nkey = \"${{HTTP_INGEST_KEY}}\"\nfsync = \"never\"\n",
            data = dir.join("data").display(),
            file = backlog.display(),
        ),
    )?;
    let env = [
        ("HTTP_INGEST_URL", emu.str("http_ingest_url")),
        ("HTTP_INGEST_KEY", emu.str("http_ingest_key")),
    ];
    let started = Instant::now();
    let child = daemon(&config, &env)?;
    emu.wait_received(lines, "file daemon")?;
    let secs = started.elapsed().as_secs_f64();
    stop(child)?;
    Ok(secs)
}
