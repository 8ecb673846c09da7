//! Scale-out through NATS JetStream (issue 17), end to end with real processes: edge
//! daemons (followed files into a `nats` sink) publish into a `nats-server` started by the
//! test (its own loopback port and store), worker daemons (a `nats` source into HTTP
//! Ingest) deliver to the emulator. Every line written must arrive; duplicates come only
//! from what was unacknowledged at a kill, and stay within that bound.

use crate::*;
use logferry::nats::server::{Cluster, Server, free_port};
use logferry_emulator::{Emulator, EmulatorBuilder, Endpoint, FaultSet, FaultStatus, Faults};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `logferry run` process.
struct Daemon {
    child: Child,
    config: PathBuf,
    log: PathBuf,
    emu_env: Vec<(String, String)>,
}

impl Daemon {
    fn start(emu: &Emulator, config: &Path) -> Daemon {
        Daemon::start_with(emu, config, &[])
    }

    /// Started with `env` besides the emulator's variables.
    fn start_with(emu: &Emulator, config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.extend([
            ("HTTP_INGEST_URL".to_owned(), emu.http_ingest_url()),
            (
                "HTTP_INGEST_KEY".to_owned(),
                emu.http_ingest_key().to_owned(),
            ),
        ]);
        Daemon::spawn(config, env)
    }

    fn spawn(config: &Path, emu_env: Vec<(String, String)>) -> Daemon {
        let dir = config.parent().unwrap();
        let n = std::fs::read_dir(dir).unwrap().count();
        let log = dir.join(format!("daemon-{n}.log"));
        let mut cmd = logferry();
        cmd.args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,logferry_pipeline::nats=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in &emu_env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().expect("logferry run starts"),
            config: config.to_owned(),
            log,
            emu_env,
        }
    }

    /// `kill -9`, then the same daemon started again.
    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        *self = Daemon::spawn(&self.config, self.emu_env.clone());
    }

    /// SIGTERM; true when it exited 0.
    fn term(mut self) -> bool {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let mut status = None;
        wait_for("the daemon ignored SIGTERM", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap().success()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn quoted(urls: &[String]) -> String {
    let list: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!("[{}]", list.join(", "))
}

/// An edge host: `dir/app.log*` into the `nats` sink `bus`.
fn edge_config(dir: &Path, urls: &[String], extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let text = format!(
        r#"data_dir = "{data}"
shutdown_timeout = "10s"

[sources.app]
type = "file"
include = ["{dir}/app.log*"]

[sinks.bus]
type = "nats"
inputs = ["app"]
url = {urls}
stream = "LOGS"
subject = "logs.test"
linger = "100ms"
{extra}
"#,
        data = dir.join("data").display(),
        dir = dir.display(),
        urls = quoted(urls),
    );
    let path = dir.join("edge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A worker: the consumer `shippers` of stream `LOGS` into HTTP Ingest.
fn worker_config(emu: &Emulator, dir: &Path, urls: &[String], extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let ca = ca_file(emu, dir);
    let text = format!(
        r#"data_dir = "{data}"
shutdown_timeout = "10s"

[sources.bus]
type = "nats"
url = {urls}
stream = "LOGS"
consumer = "shippers"
ack_wait = "3s"
{extra}

[sinks.taegis]
type = "http-ingest"
inputs = ["bus"]
url = "${{HTTP_INGEST_URL}}"
key = "${{HTTP_INGEST_KEY}}"
ca_file = "{ca}"
"#,
        data = dir.join("data").display(),
        urls = quoted(urls),
        ca = ca.display(),
    );
    let path = dir.join("worker.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A worker quick to give a batch up and hand it back: a 1 s retry budget and a 100 ms
/// `nak_delay`, `extra` added to its source.
fn quick_to_give_up(emu: &Emulator, dir: &Path, urls: &[String], extra: &str) -> Daemon {
    let extra = format!("{SUBJECT}\nnak_delay = \"100ms\"\n{extra}");
    let config = worker_config(emu, dir, urls, &extra);
    let text = std::fs::read_to_string(&config).unwrap() + "retry_for = \"1s\"\n";
    std::fs::write(&config, text).unwrap();
    Daemon::start(emu, &config)
}

/// An emulator (over TLS) that keeps every record it receives, so each line's arrivals
/// can be counted.
fn keeping_all() -> EmulatorBuilder {
    Emulator::builder().memory_records(usize::MAX / 2)
}

/// A worker that creates the stream when it starts first (single server: one replica).
const SUBJECT: &str = "subject = \"logs.test\"";

fn line(i: usize) -> String {
    format!("bus line {i:07} with some text after it")
}

fn append(path: &Path, lines: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = lines.map(|i| line(i) + "\n").collect();
    f.write_all(text.as_bytes()).unwrap();
}

/// How many times each line reached HTTP Ingest.
fn counts(emu: &Emulator) -> HashMap<String, usize> {
    counts_at(emu, Endpoint::HttpIngest)
}

/// How many times each line reached `endpoint`.
fn counts_at(emu: &Emulator, endpoint: Endpoint) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in emu.records() {
        if r.endpoint == endpoint {
            *counts.entry(r.text).or_default() += 1;
        }
    }
    counts
}

/// Waits until lines `0..n` all arrived; returns how many records arrived in all.
fn all_arrived(emu: &Emulator, n: usize, logs: &[&Daemon], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let counts = counts(emu);
        let missing: Vec<usize> = (0..n).filter(|i| !counts.contains_key(&line(*i))).collect();
        if missing.is_empty() {
            return counts.values().sum();
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = logs.iter().map(|d| d.log()).collect();
            panic!(
                "{} of {n} lines never arrived (first {:?}); logs:\n{}",
                missing.len(),
                &missing[..missing.len().min(5)],
                logs.join("\n-----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A route's ledger file: (read, delivered, rejected, invalid).
fn ledger(data: &Path, sink: &str, source: &str) -> (u64, u64, u64, u64) {
    let path = data.join(sink).join(source).join("ledger.json");
    let text = std::fs::read_to_string(&path).expect("the route wrote its ledger");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap();
    (n("read"), n("delivered"), n("rejected"), n("invalid"))
}

/// A worker's bus counters (`bus.json`).
fn bus_stats(data: &Path) -> serde_json::Value {
    let path = data.join("taegis").join("bus").join("bus.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("bus.json")).unwrap()
}

/// Waits until the workers' consumer has nothing left: no message undelivered, none
/// delivered and unacknowledged (polled: a worker's acknowledgement may still travel).
///
/// The stream itself should then be empty (work-queue retention); nats-server 2.9 may
/// keep a message acknowledged just before it was killed in the stream after its
/// restart (the consumer no longer delivers it), so the stream is checked only when the
/// server was not restarted (`stream_too`).
async fn drained(urls: &[String], logs: &[&Daemon], stream_too: bool) {
    let bus = logferry::nats::connect(&logferry::nats::ConnectConfig::new(urls.to_vec()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = bus.consumer_pending("LOGS", "shippers").await;
        let stream = bus.stream_messages("LOGS").await;
        let done = matches!(left, Ok((0, 0))) && (!stream_too || matches!(stream, Ok(0)));
        if done {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = logs.iter().map(|d| d.log()).collect();
            panic!(
                "the consumer has {left:?} (undelivered, unacknowledged), the stream {stream:?} messages; logs:\n{}",
                logs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn edge_to_nats_to_a_worker_delivers_every_record_once_and_the_ledgers_add_up() {
    let emu = keeping_all().seed(5).start().await.unwrap();
    // Retryable refusals: the worker retries (holding its messages), never duplicates.
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_rate(0.2, vec![FaultStatus::Code(503), FaultStatus::Code(429)]),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nats")).unwrap();
    let urls = vec![server.url()];
    let edge_dir = dir.path().join("edge");
    let edge = Daemon::start(&emu, &edge_config(&edge_dir, &urls, ""));
    let worker_dir = dir.path().join("worker");
    let worker = Daemon::start(&emu, &worker_config(&emu, &worker_dir, &urls, SUBJECT));
    const N: usize = 20_000;
    for chunk in 0..20 {
        append(&edge_dir.join("app.log"), chunk * 1000..(chunk + 1) * 1000);
        std::thread::sleep(Duration::from_millis(20));
    }
    let total = all_arrived(&emu, N, &[&edge, &worker], Duration::from_secs(60));
    assert_eq!(total, N, "no kill, no duplicate");
    // Stopped at once: its last acknowledgements still reach the server (nothing is
    // left for redelivery, and no worker runs to take it).
    let log = worker.log.clone();
    assert!(worker.term(), "the worker exits 0");
    let log = std::fs::read_to_string(log).unwrap();
    drained(&urls, &[&edge], true).await;
    assert!(edge.term(), "the edge exits 0");
    assert!(!log.contains("did not settle"), "{log}");
    let (read, delivered, rejected, invalid) = ledger(&edge_dir.join("data"), "bus", "app");
    assert_eq!(
        (read, delivered, rejected, invalid),
        (N as u64, N as u64, 0, 0)
    );
    let (read, delivered, rejected, invalid) = ledger(&worker_dir.join("data"), "taegis", "bus");
    assert_eq!(
        (read, delivered, rejected, invalid),
        (N as u64, N as u64, 0, 0)
    );
    let stats = bus_stats(&worker_dir.join("data"));
    assert_eq!(stats["redelivered"], 0, "{stats}");
    assert_eq!(stats["dead_lettered"], 0, "{stats}");
    assert_eq!(stats["messages"], stats["acked"], "{stats}");
    emu.shutdown().await;
}

/// Issue 17's chaos test: two workers behind a slow, flaky HTTP Ingest; `kill -9` a
/// worker while it holds messages (they go to the other after the ack wait), `kill -9`
/// the edge (what it republishes is deduplicated by the server), and kill and restart
/// nats-server (its file store keeps the stream). Every line arrives; duplicates stay
/// within what was unacknowledged at the kills, and the workers count what came back.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_a_worker_and_the_edge_and_restart_nats_server_loses_nothing() {
    let emu = keeping_all().seed(17).start().await.unwrap();
    let mut faults = FaultSet::fail_rate(0.1, vec![FaultStatus::Code(503)]);
    faults.latency_ms = 150; // requests take a while: a kill finds messages held
    emu.set_faults(Faults::none().with_endpoint(Endpoint::HttpIngest, faults))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("nats")).unwrap();
    let urls = vec![server.url()];
    let edge_dir = dir.path().join("edge");
    let mut edge = Daemon::start(&emu, &edge_config(&edge_dir, &urls, ""));
    let (w1_dir, w2_dir) = (dir.path().join("w1"), dir.path().join("w2"));
    let mut w1 = Daemon::start(&emu, &worker_config(&emu, &w1_dir, &urls, SUBJECT));
    let w2 = Daemon::start(&emu, &worker_config(&emu, &w2_dir, &urls, SUBJECT));
    const N: usize = 30_000;
    let log = edge_dir.join("app.log");
    let writer = std::thread::spawn(move || {
        for chunk in 0..60 {
            append(&log, chunk * 500..(chunk + 1) * 500);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let arrived = || counts(&emu).len();
    wait_for("nothing arrived before the first kill", || {
        arrived() > 3_000
    });
    w1.kill_and_restart(); // mid-batch: requests take 150 ms, 4 messages held
    wait_for("nothing arrived after the worker's kill", || {
        arrived() > 9_000
    });
    edge.kill_and_restart();
    wait_for("nothing arrived after the edge's kill", || {
        arrived() > 15_000
    });
    server.kill();
    std::thread::sleep(Duration::from_millis(500)); // the bus is down for a moment
    server.restart().unwrap();
    writer.join().unwrap();
    let total = all_arrived(&emu, N, &[&edge, &w1, &w2], Duration::from_secs(90));
    for d in [&w1_dir, &w2_dir] {
        let stats = std::fs::read_to_string(d.join("data/taegis/bus/bus.json")).unwrap_or_default();
        eprintln!("worker {}: {stats}", d.display());
    }
    drained(&urls, &[&edge, &w1, &w2], false).await;
    assert!(edge.term() && w1.term() && w2.term(), "all exit 0");
    let duplicates = total - N;
    // Bound: each worker holds at most 4 messages (in_flight) of at most ~2,000 lines
    // (100 ms of the writer's 10,000 lines/s, linger 100 ms), so the worker's kill and
    // the server's restart (both workers' held messages) re-send at most 3 × 4
    // messages; the edge's kill re-reads at most what its registry had not recorded.
    assert!(
        duplicates <= 3 * 4 * 2_000 + 5_000,
        "{duplicates} duplicates"
    );
    let redelivered: u64 = [&w1_dir, &w2_dir]
        .iter()
        .map(|d| {
            bus_stats(&d.join("data"))["redelivered_records"]
                .as_u64()
                .unwrap()
        })
        .sum();
    eprintln!(
        "nats chaos: {N} lines, {duplicates} duplicates at the emulator, {redelivered} records redelivered (counted by the workers, the killed worker's earlier run not included)"
    );
    // The edge's ledger adds up across its two runs: nothing pending. Its first run was
    // killed, and a ledger is written once a second (daemon/ledger.rs): the events of
    // the first run's last second may be missing, reads and deliveries alike (a batch
    // delivered and checkpointed in that second is not read again). The writer appends
    // 10,000 lines a second and the edge keeps up with it, so at most about that many.
    let (read, delivered, rejected, invalid) = ledger(&edge_dir.join("data"), "bus", "app");
    assert_eq!(read, delivered + rejected + invalid, "edge ledger");
    assert!(
        delivered + 12_000 >= N as u64,
        "the edge's ledger counts {delivered} of {N} delivered"
    );
    emu.shutdown().await;
}

/// A three-node cluster on loopback (routes between the nodes, a stream of three
/// replicas): one node is killed while records flow; clients fail over to the others.
#[tokio::test(flavor = "multi_thread")]
async fn a_three_node_cluster_loses_a_node_and_every_record_arrives() {
    let emu = keeping_all().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let route_ports: Vec<u16> = (0..3).map(|_| free_port().unwrap()).collect();
    let mut nodes: Vec<Server> = (0..3)
        .map(|i| {
            let cluster = Cluster {
                name: "logs".into(),
                port: route_ports[i],
                routes: route_ports.clone(),
            };
            Server::start_with(
                free_port().unwrap(),
                &dir.path().join(format!("n{i}")),
                Some(cluster),
                &format!("n{i}"),
            )
            .unwrap()
        })
        .collect();
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    let edge_dir = dir.path().join("edge");
    let edge = Daemon::start(&emu, &edge_config(&edge_dir, &urls, "replicas = 3"));
    let worker_dir = dir.path().join("worker");
    let worker = Daemon::start(&emu, &worker_config(&emu, &worker_dir, &urls, ""));
    const N: usize = 20_000;
    let log = edge_dir.join("app.log");
    let writer = std::thread::spawn(move || {
        for chunk in 0..40 {
            append(&log, chunk * 500..(chunk + 1) * 500);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts(&emu).len() <= 5_000 {
        if Instant::now() > deadline {
            panic!(
                "nothing arrived before the node's kill; logs:\n{}\n-----\n{}",
                edge.log(),
                worker.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    nodes[0].kill();
    writer.join().unwrap();
    let total = all_arrived(&emu, N, &[&edge, &worker], Duration::from_secs(90));
    let duplicates = total - N;
    eprintln!("nats cluster: {N} lines, {duplicates} duplicates");
    assert!(duplicates <= 4 * 2_000, "{duplicates} duplicates");
    drained(&urls[1..], &[&edge, &worker], true).await;
    assert!(edge.term() && worker.term(), "both exit 0");
    emu.shutdown().await;
}

/// SDL behind NATS: two workers, each with an `sdl` sink of two sessions, drain the
/// stream into the emulator while it fails some requests and answers slowly. Every line
/// arrives, and no SDL session ever has two requests in flight (each worker owns its
/// sessions; the emulator records every overlap).
#[tokio::test(flavor = "multi_thread")]
async fn workers_with_sdl_sinks_deliver_every_record_one_request_per_session() {
    let emu = keeping_all().seed(23).start().await.unwrap();
    let mut faults = FaultSet::fail_rate(0.1, vec![FaultStatus::Code(503)]);
    faults.latency_ms = 30;
    emu.set_faults(Faults::none().with_endpoint(Endpoint::SdlAddEvents, faults))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nats")).unwrap();
    let urls = vec![server.url()];
    let edge_dir = dir.path().join("edge");
    let edge = Daemon::start(&emu, &edge_config(&edge_dir, &urls, ""));
    let sdl_env = vec![
        ("SDL_URL".to_owned(), emu.sdl_url().to_string()),
        ("SDL_API_KEY".to_owned(), emu.sdl_api_key().to_string()),
    ];
    let workers: Vec<(PathBuf, Daemon)> = (0..2)
        .map(|i| {
            let d = dir.path().join(format!("w{i}"));
            std::fs::create_dir_all(&d).unwrap();
            let ca = ca_file(&emu, &d);
            let config = d.join("worker.toml");
            std::fs::write(
                &config,
                format!(
                    r#"data_dir = "{data}"
shutdown_timeout = "10s"

[sources.bus]
type = "nats"
url = {urls}
stream = "LOGS"
consumer = "shippers"
{SUBJECT}

[sinks.sdl]
type = "sdl"
inputs = ["bus"]
url = "${{SDL_URL}}"
key = "${{SDL_API_KEY}}"
ca_file = "{ca}"
sessions = 2
pace = "off"
"#,
                    data = d.join("data").display(),
                    urls = quoted(&urls),
                    ca = ca.display(),
                ),
            )
            .unwrap();
            (d, Daemon::spawn(&config, sdl_env.clone()))
        })
        .collect();
    const N: usize = 8_000;
    for chunk in 0..8 {
        append(&edge_dir.join("app.log"), chunk * 1000..(chunk + 1) * 1000);
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let arrived = loop {
        let counts = counts_at(&emu, Endpoint::SdlAddEvents);
        if (0..N).all(|i| counts.contains_key(&line(i))) {
            break counts;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = workers.iter().map(|(_, w)| w.log()).collect();
            panic!(
                "{} of {N} lines arrived; logs:\n{}\n-----\n{}",
                counts.len(),
                edge.log(),
                logs.join("\n-----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // No kill: every record once (a 503 is retried by the worker holding its message).
    assert_eq!(arrived.values().sum::<usize>(), N);
    let stats = emu.stats();
    assert_eq!(
        stats.max_concurrent_per_session(),
        1,
        "{:?}",
        stats.violations
    );
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
    drained(&urls, &[&edge], true).await;
    let mut delivered = 0;
    for (d, w) in workers {
        assert!(w.term(), "the worker exits 0");
        let (read, got, rejected, invalid) = ledger(&d.join("data"), "sdl", "bus");
        assert_eq!((rejected, invalid), (0, 0));
        assert_eq!(read, got, "{}", d.display());
        delivered += got;
    }
    assert_eq!(delivered, N as u64);
    assert!(edge.term(), "the edge exits 0");
    emu.shutdown().await;
}

/// Records HTTP Ingest refuses for good (400) go to the worker's dead-letter file and
/// their messages are done; batches it keeps failing (503 until `retry_for` ran out) are
/// handed back with a delayed nak and, after `max_deliver` deliveries, moved to the
/// dead-letter subject (stream `LOGS_DEAD`), counted. Nothing stays in the stream.
#[tokio::test(flavor = "multi_thread")]
async fn refused_records_are_dead_lettered_and_exhausted_messages_go_to_the_dead_letter_subject() {
    let emu = keeping_all().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nats")).unwrap();
    let urls = vec![server.url()];
    let nats = logferry::nats::connect(&logferry::nats::ConnectConfig::new(urls.clone()))
        .await
        .unwrap();

    // 1. Every request refused for good.
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_rate(1.0, vec![FaultStatus::Code(400)]),
    ))
    .unwrap();
    let edge_dir = dir.path().join("edge");
    let edge = Daemon::start(&emu, &edge_config(&edge_dir, &urls, ""));
    let worker_dir = dir.path().join("worker");
    let worker = quick_to_give_up(&emu, &worker_dir, &urls, "max_deliver = 2");
    append(&edge_dir.join("app.log"), 0..1_000);
    let dead_file = worker_dir.join("data/taegis/bus/dead-letter.jsonl");
    let dead_lines = || {
        std::fs::read_to_string(&dead_file)
            .map(|t| {
                t.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .map(|v| v["count"].as_u64().unwrap_or(1))
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    wait_for("refused records never reached the dead-letter file", || {
        dead_lines() >= 1_000
    });
    drained(&urls, &[&edge, &worker], true).await;

    // 2. Every request answered 503: given up after 1 s, handed back, delivered again,
    // then moved to the dead-letter subject.
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_rate(1.0, vec![FaultStatus::Code(503)]),
    ))
    .unwrap();
    append(&edge_dir.join("app.log"), 1_000..1_100);
    let deadline = Instant::now() + Duration::from_secs(30);
    while nats.stream_messages("LOGS_DEAD").await.unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing reached the dead-letter subject; worker log:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drained(&urls, &[&edge, &worker], true).await;
    assert!(edge.term() && worker.term(), "both exit 0");
    let stats = bus_stats(&worker_dir.join("data"));
    assert!(stats["dead_lettered"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["naked"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(counts(&emu).len(), 0, "nothing was accepted");
    emu.shutdown().await;
}

/// A batch the worker gives up on after a 429 with `Retry-After: 3` goes back to the
/// stream for no less than those 3 s, though its `nak_delay` is 100 ms.
#[tokio::test]
async fn a_worker_hands_a_batch_back_no_sooner_than_the_endpoints_retry_after() {
    let emu = keeping_all().start().await.unwrap();
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(1, FaultStatus::Code(429)).with_retry_after(3),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nats")).unwrap();
    let urls = vec![server.url()];
    let edge_dir = dir.path().join("edge");
    let edge = Daemon::start(&emu, &edge_config(&edge_dir, &urls, ""));
    let worker_dir = dir.path().join("worker");
    // Its retry budget (1 s) is shorter than the Retry-After: it gives up at the 429.
    let worker = quick_to_give_up(&emu, &worker_dir, &urls, "");
    append(&edge_dir.join("app.log"), 0..100);
    let requests = || {
        emu.stats()
            .endpoints
            .get(&Endpoint::HttpIngest)
            .map_or(0, |e| e.requests)
    };
    wait_for("the worker never sent its first request", || {
        requests() >= 1
    });
    let refused_at = Instant::now();
    all_arrived(&emu, 100, &[&edge, &worker], Duration::from_secs(30));
    let waited = refused_at.elapsed();
    assert!(
        waited >= Duration::from_millis(2_900),
        "the batch came back after {waited:?}, sooner than the endpoint's Retry-After of 3 s; worker log:\n{}",
        worker.log()
    );
    assert!(
        worker.log().contains("asked for a pause of 3s"),
        "the pause is logged; worker log:\n{}",
        worker.log()
    );
    drained(&urls, &[&edge, &worker], true).await;
    assert!(edge.term() && worker.term(), "both exit 0");
    let stats = bus_stats(&worker_dir.join("data"));
    assert!(stats["naked"].as_u64().unwrap() >= 1, "{stats}");
    emu.shutdown().await;
}

/// An edge with `edge_keys` (in `dir/edge`) and a worker with `worker_keys` (in
/// `dir/worker`, after the subject), both given `env`: 3,000 lines appended to the edge's
/// input arrive once each, and the worker exits 0. The edge, still running.
fn edge_and_worker_deliver(
    emu: &Emulator,
    dir: &Path,
    urls: &[String],
    edge_keys: &str,
    worker_keys: &str,
    env: &[(&str, &str)],
) -> Daemon {
    let edge_dir = dir.join("edge");
    let edge = Daemon::start_with(emu, &edge_config(&edge_dir, urls, edge_keys), env);
    let worker_keys = format!("{SUBJECT}\n{worker_keys}");
    let worker_config = worker_config(emu, &dir.join("worker"), urls, &worker_keys);
    let worker = Daemon::start_with(emu, &worker_config, env);
    const N: usize = 3_000;
    append(&edge_dir.join("app.log"), 0..N);
    let total = all_arrived(emu, N, &[&edge, &worker], Duration::from_secs(60));
    assert_eq!(total, N, "every line, once");
    assert!(worker.term(), "the worker exits 0");
    edge
}

/// The config's `ca_file` and `credentials_file`, on an edge's `nats` sink and on a
/// worker's `nats` source, reach a nats-server in operator mode behind TLS (its CA and a
/// user's `.creds` file made by the test): every line arrives. A worker without the
/// credentials file is refused by the server and its log says why.
#[tokio::test(flavor = "multi_thread")]
async fn ca_file_and_credentials_file_from_the_config_reach_a_secured_server() {
    let emu = keeping_all().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nats_dir = dir.path().join("nats");
    std::fs::create_dir_all(&nats_dir).unwrap();
    let secured = logferry_nats::secured::secured(&nats_dir);
    let urls = vec![secured.server.url()];
    let ca = format!("ca_file = \"{}\"", secured.ca.display());
    let keys = format!("{ca}\ncredentials_file = \"{}\"", secured.creds.display());
    let edge = edge_and_worker_deliver(&emu, dir.path(), &urls, &keys, &keys, &[]);

    // The same worker without its credentials file: the server refuses it.
    let anonymous_dir = dir.path().join("anonymous");
    let anonymous = Daemon::start(
        &emu,
        &worker_config(&emu, &anonymous_dir, &urls, &format!("{SUBJECT}\n{ca}")),
    );
    wait_for("the refused worker says why", || {
        anonymous
            .log()
            .to_ascii_lowercase()
            .contains("authorization")
    });
    drop(anonymous);
    assert!(edge.term(), "the edge exits 0");
    emu.shutdown().await;
}

/// The config's `client_cert` and `client_key` (mutual TLS), on an edge's `nats` sink
/// and a worker's `nats` source, against a server that verifies client certificates
/// (`verify: true`): every line arrives. A worker without them, and an edge whose
/// certificate another CA signed, are refused, and their logs say so and name the route.
#[tokio::test(flavor = "multi_thread")]
async fn client_cert_and_client_key_from_the_config_reach_a_server_that_verifies_clients() {
    let emu = keeping_all().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nats_dir = dir.path().join("nats");
    std::fs::create_dir_all(&nats_dir).unwrap();
    let m = logferry_nats::secured::mutual_tls(&nats_dir);
    let urls = vec![m.server.url()];
    let ca = format!("ca_file = \"{}\"", m.ca.display());
    let cert = |(c, k): &(PathBuf, PathBuf)| {
        format!(
            "{ca}\nclient_cert = \"{}\"\nclient_key = \"{}\"",
            c.display(),
            k.display()
        )
    };
    let keys = cert(&m.client);
    let edge = edge_and_worker_deliver(&emu, dir.path(), &urls, &keys, &keys, &[]);
    assert!(edge.term(), "the edge exits 0");

    // Without a certificate: the server ends the handshake.
    let bare = Daemon::start(
        &emu,
        &worker_config(
            &emu,
            &dir.path().join("bare"),
            &urls,
            &format!("{SUBJECT}\n{ca}"),
        ),
    );
    // Another CA's certificate: refused too.
    let stranger_dir = dir.path().join("stranger");
    let stranger = Daemon::start(&emu, &edge_config(&stranger_dir, &urls, &cert(&m.stranger)));
    for (daemon, route) in [(&bare, "taegis<-bus"), (&stranger, "bus<-app")] {
        wait_for("the refused daemon says why", || {
            daemon.log().lines().any(|l| {
                let l = l.to_ascii_lowercase();
                l.contains(route)
                    && l.contains("connect to")
                    && (l.contains("tls") || l.contains("certificate"))
            })
        });
    }
    emu.shutdown().await;
}

/// A server that knows a user by password and another by NKey: an edge with `user` and
/// `password` (the password from the environment) and a worker with `nkey_seed_file`
/// deliver every line; a worker with a wrong password is refused and says so; the
/// password shows in no log.
#[tokio::test(flavor = "multi_thread")]
async fn user_and_password_and_an_nkey_seed_file_from_the_config() {
    let emu = keeping_all().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nats_dir = dir.path().join("nats");
    std::fs::create_dir_all(&nats_dir).unwrap();
    let (public, seed_file) = logferry_nats::secured::nkey_user(&nats_dir, "worker");
    const PASSWORD: &str = "edge-pass-Zq81";
    let conf = format!(
        r#"authorization {{ users = [ {{ user: "edge", password: "{PASSWORD}" }}, {{ nkey: {public} }} ] }}"#
    );
    let server = Server::start_configured(&nats_dir.join("store"), &conf).unwrap();
    let urls = vec![server.url()];
    let edge_keys = "user = \"edge\"\npassword = \"${NATS_PASSWORD}\"";
    let worker_keys = format!("nkey_seed_file = \"{}\"", seed_file.display());
    let edge = edge_and_worker_deliver(
        &emu,
        dir.path(),
        &urls,
        edge_keys,
        &worker_keys,
        &[("NATS_PASSWORD", PASSWORD)],
    );

    const WRONG: &str = "wrong-pass-Kx27";
    let wrong_keys = format!("{SUBJECT}\nuser = \"edge\"\npassword = \"${{NATS_PASSWORD}}\"");
    let wrong_dir = dir.path().join("wrong");
    let wrong = Daemon::start_with(
        &emu,
        &worker_config(&emu, &wrong_dir, &urls, &wrong_keys),
        &[("NATS_PASSWORD", WRONG)],
    );
    refused_and_no_secret_logged(wrong, edge, &[PASSWORD, WRONG]);
    emu.shutdown().await;
}

/// `wrong`, a worker with a wrong secret, is refused and says so at its route; the edge
/// then exits 0, and neither log holds any of `secrets`.
fn refused_and_no_secret_logged(wrong: Daemon, edge: Daemon, secrets: &[&str]) {
    wait_for("the refused worker says why", || {
        wrong
            .log()
            .lines()
            .any(|l| l.contains("taegis<-bus") && l.to_ascii_lowercase().contains("authorization"))
    });
    let wrong_log = wrong.log();
    drop(wrong);
    let edge_log = edge.log();
    assert!(edge.term(), "the edge exits 0");
    for log in [&edge_log, &wrong_log] {
        for secret in secrets {
            assert!(!log.contains(secret), "{log}");
        }
    }
}

/// A server that wants a token: an edge and a worker with `token` (from the environment)
/// deliver every line; a worker with another token is refused and says so; the token
/// shows in no log.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_the_config() {
    let emu = keeping_all().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    const TOKEN: &str = "t0ken-Pq55";
    let conf = format!(r#"authorization {{ token: "{TOKEN}" }}"#);
    let server = Server::start_configured(&dir.path().join("nats"), &conf).unwrap();
    let urls = vec![server.url()];
    let keys = "token = \"${NATS_TOKEN}\"";
    let env = [("NATS_TOKEN", TOKEN)];
    let edge = edge_and_worker_deliver(&emu, dir.path(), &urls, keys, keys, &env);
    let worker_keys = format!("{SUBJECT}\n{keys}");

    const WRONG: &str = "t0ken-Wr66";
    let wrong = Daemon::start_with(
        &emu,
        &worker_config(&emu, &dir.path().join("wrong"), &urls, &worker_keys),
        &[("NATS_TOKEN", WRONG)],
    );
    refused_and_no_secret_logged(wrong, edge, &[TOKEN, WRONG]);
    emu.shutdown().await;
}

/// `compression = "none"` on one edge and gzip at level 9 on another: the first
/// publishes plain `lfr1` messages, the second `lfr1+gzip` (looked at by the test
/// through the workers' consumer before any worker runs, then handed back), and one
/// worker delivers every line of both.
#[tokio::test(flavor = "multi_thread")]
async fn edges_with_and_without_compression_reach_the_same_worker() {
    let emu = keeping_all().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nats")).unwrap();
    let urls = vec![server.url()];
    let plain_dir = dir.path().join("plain");
    let plain = Daemon::start(
        &emu,
        &edge_config(&plain_dir, &urls, "compression = \"none\""),
    );
    let gzip_dir = dir.path().join("gzip");
    let gzip = Daemon::start(
        &emu,
        &edge_config(
            &gzip_dir,
            &urls,
            "compression = \"gzip\"\ncompression_level = 9",
        ),
    );
    const N: usize = 3_000;
    append(&plain_dir.join("app.log"), 0..N);
    append(&gzip_dir.join("app.log"), N..2 * N);

    // Every message's encoding, by the edge that published it, until both edges'
    // records are all in the stream; each message handed back at once.
    let bus = logferry::nats::connect(&logferry::nats::ConnectConfig::new(urls.clone()))
        .await
        .unwrap();
    let consumer = async {
        loop {
            if let Ok(c) = bus
                .consumer("LOGS", &logferry::nats::ConsumerSpec::new("shippers"))
                .await
            {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // the stream is not there yet
        }
    };
    let consumer = tokio::time::timeout(Duration::from_secs(20), consumer)
        .await
        .expect("an edge creates the stream");
    // Keyed by stream sequence: a message handed back comes again.
    let mut by_sequence: HashMap<u64, (String, String, usize)> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while by_sequence.values().map(|m| m.2).sum::<usize>() < 2 * N {
        assert!(Instant::now() < deadline, "in the stream: {by_sequence:?}");
        for d in consumer.fetch(16, Duration::from_secs(1)).await.unwrap() {
            let h = |k: &str| {
                d.headers
                    .get(k)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            let source = PathBuf::from(h("Logferry-Source"));
            let edge = if source.starts_with(&plain_dir) {
                "plain"
            } else {
                "gzip"
            };
            let records: usize = h("Logferry-Records").parse().unwrap();
            by_sequence.insert(
                d.stream_sequence,
                (edge.to_owned(), h("Logferry-Encoding"), records),
            );
            d.settle.nak(Duration::ZERO).await.unwrap();
        }
    }
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (edge, encoding, records) in by_sequence.into_values() {
        *seen.entry((edge, encoding)).or_default() += records;
    }
    let want = HashMap::from([
        (("plain".to_owned(), "lfr1".to_owned()), N),
        (("gzip".to_owned(), "lfr1+gzip".to_owned()), N),
    ]);
    assert_eq!(seen, want, "(edge, encoding) → records");
    drop(consumer);

    let worker_dir = dir.path().join("worker");
    let worker = Daemon::start(&emu, &worker_config(&emu, &worker_dir, &urls, SUBJECT));
    let total = all_arrived(
        &emu,
        2 * N,
        &[&plain, &gzip, &worker],
        Duration::from_secs(60),
    );
    assert_eq!(total, 2 * N, "every line of both edges, once");
    assert!(worker.term(), "the worker exits 0");
    assert!(plain.term(), "the plain edge exits 0");
    assert!(gzip.term(), "the gzip edge exits 0");
    emu.shutdown().await;
}

/// `logferry validate`: a worker's nats source feeds one sink, never two.
#[test]
fn a_nats_source_feeding_two_sinks_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker.toml");
    std::fs::write(
        &config,
        r#"data_dir = "/tmp/unused"
[sources.bus]
type = "nats"
url = "nats://127.0.0.1:4222"
stream = "LOGS"
consumer = "shippers"

[sinks.a]
type = "http-ingest"
inputs = ["bus"]
url = "https://ingest.example.com/http-endpoint/v1/x"
key = "k"

[sinks.b]
type = "http-ingest"
inputs = ["bus"]
url = "https://ingest.example.com/http-endpoint/v1/y"
key = "k"
"#,
    )
    .unwrap();
    let out = logferry()
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("worker.toml:2:10: sources.bus: a nats source feeds exactly one sink"),
        "{}",
        stderr(&out)
    );
}
