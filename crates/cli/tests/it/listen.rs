//! Network sources end to end (issue 16), with real clients nobody here wrote: util-linux
//! `logger` over UDP and TCP (RFC 5424 and 3164, with and without octet counting),
//! syslog-ng forwarding a file, `openssl s_client` over TLS, and `curl` posting HEC
//! batches; through a real `logferry run` into the emulator, each message exactly once.

use crate::run::Daemon;
use crate::*;
use logferry_emulator::{Emulator, Endpoint};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A config with one listening source `net` (`source` lines after `[sources.net]`) into
/// one sink of `sink_type` (`http-ingest` or `sdl`).
fn write_config(emu: &Emulator, dir: &Path, source: &str, sink_type: &str) -> PathBuf {
    let ca = ca_file(emu, dir);
    let (url, key) = match sink_type {
        "sdl" => ("SDL_URL", "SDL_API_KEY"),
        _ => ("HTTP_INGEST_URL", "HTTP_INGEST_KEY"),
    };
    let text = format!(
        r#"data_dir = "{data}"
shutdown_timeout = "10s"

[sources.net]
{source}

[sinks.out]
type = "{sink_type}"
inputs = ["net"]
url = "${{{url}}}"
key = "${{{key}}}"
ca_file = "{ca}"
linger = "100ms"
"#,
        data = dir.join("data").display(),
        ca = ca.display(),
    );
    let path = dir.join("logferry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The address the daemon's source says it listens on (it binds port 0).
fn listening(daemon: &Daemon) -> String {
    let mut addr = String::new();
    wait_for("the source never said where it listens", || {
        let log = daemon.log();
        let Some(line) = log.lines().find(|l| l.contains(" listening on ")) else {
            return false;
        };
        let rest = line.split(" listening on ").nth(1).unwrap();
        let rest = rest
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        addr = rest.split_whitespace().next().unwrap().to_owned();
        true
    });
    addr
}

fn port(addr: &str) -> String {
    addr.rsplit(':').next().unwrap().to_owned()
}

/// HTTP Ingest records, by text.
fn ingest_counts(emu: &Emulator) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in emu.records() {
        if r.endpoint == Endpoint::HttpIngest {
            *counts.entry(r.text).or_default() += 1;
        }
    }
    counts
}

/// Waits until each of `wanted` is (contained in) exactly one received record.
fn each_once(emu: &Emulator, wanted: &[String], daemon: &Daemon) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts = ingest_counts(emu);
        let found: Vec<usize> = wanted
            .iter()
            .map(|w| {
                counts
                    .iter()
                    .filter(|(text, _)| text.contains(w.as_str()))
                    .map(|(_, n)| n)
                    .sum()
            })
            .collect();
        if found.iter().all(|n| *n >= 1) {
            assert!(
                found.iter().all(|n| *n == 1),
                "duplicates: {:?}",
                wanted
                    .iter()
                    .zip(&found)
                    .filter(|(_, n)| **n > 1)
                    .take(5)
                    .collect::<Vec<_>>()
            );
            return;
        }
        let missing: Vec<&String> = wanted
            .iter()
            .zip(&found)
            .filter(|(_, n)| **n == 0)
            .map(|(w, _)| w)
            .collect();
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} messages never arrived (first {:?}); received {:?}; daemon log:\n{}",
            missing.len(),
            wanted.len(),
            &missing[..missing.len().min(3)],
            counts.keys().take(3).collect::<Vec<_>>(),
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `logger` sending each of `lines` as one message with `args`.
fn logger(args: &[&str], lines: &[String]) {
    let mut child = Command::new("logger")
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux logger is installed (.ci/run)");
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logger_over_tcp_with_and_without_octet_counting_arrives_once_as_original_text() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source = "type = \"syslog\"\nmode = \"tcp\"\nlisten = \"127.0.0.1:0\"";
    let config = write_config(&emu, dir.path(), source, "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[]);
    let addr = listening(&daemon);
    let p = port(&addr);
    let mut wanted = Vec::new();
    for (tag, args) in [
        ("octet5424", vec!["--octet-count", "--rfc5424"]),
        ("newline5424", vec!["--rfc5424"]),
        ("octet3164", vec!["--octet-count", "--rfc3164"]),
        ("newline3164", vec!["--rfc3164"]),
    ] {
        let lines: Vec<String> = (0..200).map(|i| format!("{tag} message {i:04}")).collect();
        let mut all = vec!["--tcp", "--server", "127.0.0.1", "--port", &p, "-t", "app"];
        all.extend(args);
        logger(&all, &lines);
        wanted.extend(lines);
    }
    each_once(&emu, &wanted, &daemon);
    // Original text: the syslog header is still there.
    let counts = ingest_counts(&emu);
    let one = counts
        .keys()
        .find(|t| t.contains("octet5424 message 0007"))
        .unwrap();
    assert!(one.starts_with("<13>1 "), "{one}");
    assert!(one.contains(" app "), "{one}");
    let bsd = counts
        .keys()
        .find(|t| t.contains("newline3164 message 0007"))
        .unwrap();
    assert!(bsd.starts_with("<13>"), "{bsd}");
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logger_over_udp_in_both_formats_arrives_once() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source = "type = \"syslog\"\nmode = \"udp\"\nlisten = \"127.0.0.1:0\"";
    let config = write_config(&emu, dir.path(), source, "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[]);
    let p = port(&listening(&daemon));
    let mut wanted = Vec::new();
    for (tag, format) in [("udp5424", "--rfc5424"), ("udp3164", "--rfc3164")] {
        let lines: Vec<String> = (0..100).map(|i| format!("{tag} datagram {i:04}")).collect();
        logger(
            &["--udp", "--server", "127.0.0.1", "--port", &p, format],
            &lines,
        );
        wanted.extend(lines);
    }
    each_once(&emu, &wanted, &daemon);
    assert!(daemon.term().success());
    assert!(
        daemon_log_has(&dir, "200 messages"),
        "the route's counters are logged at its end"
    );
    emu.shutdown().await;
}

/// `GET /metrics` from the daemon's API at `api`.
fn scrape(api: &std::net::SocketAddr) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(api) else {
        return String::new();
    };
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut text);
    text
}

/// Whether any daemon log in `dir` holds `text`.
fn daemon_log_has(dir: &tempfile::TempDir, text: &str) -> bool {
    std::fs::read_dir(dir.path()).unwrap().flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("daemon-")
            && std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains(text)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_into_sdl_becomes_events_with_parsed_fields_ts_sev_and_peer() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source = "type = \"syslog\"\nlisten = \"127.0.0.1:0\"";
    let config = write_config(&emu, dir.path(), source, "sdl");
    let daemon = Daemon::start(&emu, &config, &[]);
    let addr = listening(&daemon);
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let messages = [
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 77 ID47 [exampleSDID@32473 iut=\"3\"] An application event",
        "<11>Feb  5 17:32:18 web01 sshd[4242]: error: bad thing",
        "not syslog at all, kept as text",
    ];
    // The first octet-counted, the others newline-framed, on one connection.
    let first = messages[0];
    write!(stream, "{} {first}", first.len()).unwrap();
    for m in &messages[1..] {
        writeln!(stream, "{m}").unwrap();
    }
    drop(stream);
    let mut events = Vec::new();
    wait_for("three SDL events", || {
        events = emu
            .records()
            .into_iter()
            .filter(|r| r.endpoint == Endpoint::SdlAddEvents)
            .collect();
        events.len() >= 3
    });
    assert_eq!(events.len(), 3, "{events:?}");
    let by_message = |m: &str| {
        events
            .iter()
            .find(|e| e.text == m)
            .unwrap_or_else(|| panic!("no event {m:?} in {events:?}"))
            .sdl
            .clone()
            .unwrap()
    };
    let e = by_message("An application event");
    assert_eq!(e.ts.as_deref(), Some("1065910455003000000"));
    assert_eq!(e.sev, Some(3), "notice (5) is SDL 3");
    assert_eq!(e.attrs["hostname"], "mymachine.example.com");
    assert_eq!(e.attrs["appname"], "evntslog");
    assert_eq!(e.attrs["procid"], "77");
    assert_eq!(e.attrs["msgid"], "ID47");
    assert_eq!(e.attrs["facility"], 20);
    assert_eq!(e.attrs["sd.exampleSDID@32473.iut"], "3");
    assert!(
        e.attrs["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{:?}",
        e.attrs
    );
    assert!(e.attrs["received"].as_str().unwrap().ends_with('Z'));
    let bsd = by_message("error: bad thing");
    assert_eq!(bsd.sev, Some(5), "err (3) is SDL 5");
    assert_eq!(bsd.attrs["appname"], "sshd");
    assert_eq!(bsd.attrs["procid"], "4242");
    let bad = by_message("not syslog at all, kept as text");
    assert!(bad.attrs["syslog_problem"].is_string(), "{:?}", bad.attrs);
    assert!(daemon.term().success());
    emu.shutdown().await;
}

/// `curl` with `args` against `url`; (status, body).
fn curl(url: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", url])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

fn hec_source(extra: &str) -> String {
    format!("type = \"http\"\nlisten = \"127.0.0.1:0\"\ntoken = \"${{HEC_TOKEN}}\"\n{extra}")
}

const TOKEN: &str = "hec-token-5f1e2d";

#[tokio::test(flavor = "multi_thread")]
async fn hec_batches_from_curl_arrive_once_and_errors_have_hec_codes() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &emu,
        dir.path(),
        &hec_source("max_body_bytes = 100_000"),
        "http-ingest",
    );
    let daemon = Daemon::start(&emu, &config, &[("HEC_TOKEN", TOKEN)]);
    let base = format!("http://{}", listening(&daemon));
    let auth = format!("Authorization: Splunk {TOKEN}");
    let event = format!("{base}/services/collector/event");

    let (status, body) = curl(&format!("{base}/services/collector/health"), &[]);
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"text":"HEC is healthy","code":17}"#)
    );
    let (status, body) = curl(&event, &["-d", r#"{"event":"x"}"#]);
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"text":"Token is required","code":2}"#)
    );
    let (status, body) = curl(&event, &["-H", "Authorization: Splunk nope", "-d", "{}"]);
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"text":"Invalid token","code":4}"#)
    );
    let (status, body) = curl(&event, &["-H", &auth, "-d", r#"{"event":"a"}{"event":"#]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""invalid-event-number":1"#), "{body}");
    let big = dir.path().join("big.json");
    std::fs::write(&big, format!(r#"{{"event":"{}"}}"#, "x".repeat(200_000))).unwrap();
    let big = format!("@{}", big.display());
    let (status, _) = curl(&event, &["-H", &auth, "--data-binary", &big]);
    assert_eq!(status, 413);
    // Small on the wire, too large once decompressed: 413 as well.
    let bomb = dir.path().join("bomb.gz");
    std::fs::write(
        &bomb,
        logferry::compress::gzip(&vec![b' '; 1_000_000], logferry::compress::Level::FAST),
    )
    .unwrap();
    let bomb = format!("@{}", bomb.display());
    let (status, _) = curl(
        &event,
        &[
            "-H",
            &auth,
            "-H",
            "Content-Encoding: gzip",
            "--data-binary",
            &bomb,
        ],
    );
    assert_eq!(status, 413);

    let mut wanted = Vec::new();
    // Several batches of concatenated events, strings and objects.
    for batch in 0..5 {
        let mut body = String::new();
        for i in 0..50 {
            let text = format!("hec event {batch}-{i:03}");
            if i % 2 == 0 {
                body.push_str(&format!(
                    r#"{{"event":"{text}","time":1700000000.5,"host":"h"}}"#
                ));
            } else {
                body.push_str(&format!(r#"{{"event":{{"msg":"{text}"}}}}"#));
                body.push('\n');
            }
            wanted.push(text);
        }
        let (status, reply) = curl(&event, &["-H", &auth, "--data-binary", &body]);
        assert_eq!(
            (status, reply.as_str()),
            (200, r#"{"text":"Success","code":0}"#)
        );
    }
    // Raw text, gzipped.
    let raw: String = (0..30).map(|i| format!("raw line {i:03}\n")).collect();
    let gz = dir.path().join("raw.gz");
    std::fs::write(
        &gz,
        logferry::compress::gzip(raw.as_bytes(), logferry::compress::Level::FAST),
    )
    .unwrap();
    let (status, reply) = curl(
        &format!("{base}/services/collector/raw"),
        &[
            "-H",
            &auth,
            "-H",
            "Content-Encoding: gzip",
            "--data-binary",
            &format!("@{}", gz.display()),
        ],
    );
    assert_eq!(status, 200, "{reply}");
    wanted.extend((0..30).map(|i| format!("raw line {i:03}")));
    // /ingest with NDJSON and Bearer.
    let (status, reply) = curl(
        &format!("{base}/ingest"),
        &[
            "-H",
            &format!("Authorization: Bearer {TOKEN}"),
            "--data-binary",
            "{\"ingest\":\"ndjson 1\"}\nplain ingest text\n",
        ],
    );
    assert_eq!(status, 200, "{reply}");
    // Declared NDJSON: a line that is not an object is refused with its position.
    let (status, reply) = curl(
        &format!("{base}/ingest"),
        &[
            "-H",
            &auth,
            "-H",
            "Content-Type: application/x-ndjson",
            "--data-binary",
            "{\"fine\":1}\nnot json\n",
        ],
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains(r#""line":2,"byte":11"#), "{reply}");
    wanted.push("ndjson 1".into());
    wanted.push("plain ingest text".into());
    each_once(&emu, &wanted, &daemon);
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_between_acknowledged_hec_requests_loses_nothing_acknowledged() {
    let emu = emulator().await;
    // The sink is down while requests are acknowledged: everything sits in the spool.
    use logferry_emulator::{FaultSet, FaultStatus, Faults};
    let down = FaultSet::fail_rate(1.0, vec![FaultStatus::Code(503)]);
    emu.set_faults(Faults::none().with_endpoint(Endpoint::HttpIngest, down))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&emu, dir.path(), &hec_source(""), "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[("HEC_TOKEN", TOKEN)]);
    let base = format!("http://{}", listening(&daemon));
    let auth = format!("Authorization: Splunk {TOKEN}");
    let mut wanted = Vec::new();
    for batch in 0..10 {
        let body: String = (0..20)
            .map(|i| format!(r#"{{"event":"acked {batch}-{i:02}"}}"#))
            .collect();
        let (status, _) = curl(
            &format!("{base}/services/collector/event"),
            &["-H", &auth, "--data-binary", &body],
        );
        assert_eq!(status, 200);
        wanted.extend((0..20).map(|i| format!("acked {batch}-{i:02}")));
    }
    daemon.kill();
    emu.set_faults(Faults::none()).unwrap();
    let daemon = Daemon::start(&emu, &config, &[("HEC_TOKEN", TOKEN)]);
    each_once(&emu, &wanted, &daemon);
    assert!(daemon.term().success());
    emu.shutdown().await;
}

/// A self-signed certificate for 127.0.0.1 (cert, key) made by `openssl`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_over_tls_from_openssl_s_client_and_hec_over_https_from_curl() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let source = format!(
        "type = \"syslog\"\nmode = \"tls\"\nlisten = \"127.0.0.1:0\"\ncert_file = \"{}\"\nkey_file = \"{}\"",
        cert.display(),
        key.display()
    );
    let config = write_config(&emu, dir.path(), &source, "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[]);
    let addr = listening(&daemon);
    let lines: Vec<String> = (0..50).map(|i| format!("tls message {i:03}")).collect();
    let input: String = lines
        .iter()
        .map(|l| {
            let m = format!("<14>1 - host app - - - {l}");
            format!("{} {m}", m.len())
        })
        .collect();
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &addr, "-CAfile"])
        .arg(&cert)
        .args(["-verify_return_error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    each_once(&emu, &lines, &daemon);
    let _ = child.kill();
    let _ = child.wait();
    assert!(daemon.term().success());

    // HEC over HTTPS, on a fresh route.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let tls = format!(
        "cert_file = \"{}\"\nkey_file = \"{}\"",
        cert.display(),
        key.display()
    );
    let config = write_config(&emu, dir.path(), &hec_source(&tls), "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[("HEC_TOKEN", TOKEN)]);
    let addr = listening(&daemon);
    let (status, reply) = curl(
        &format!("https://{addr}/services/collector/event"),
        &[
            "--cacert",
            &cert.display().to_string(),
            "-H",
            &format!("Authorization: Splunk {TOKEN}"),
            "-d",
            r#"{"event":"over https"}"#,
        ],
    );
    assert_eq!(status, 200, "{reply}");
    each_once(&emu, &["over https".to_owned()], &daemon);
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_ng_forwards_a_file_to_the_tcp_listener() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source = "type = \"syslog\"\nlisten = \"127.0.0.1:0\"";
    let config = write_config(&emu, dir.path(), source, "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[]);
    let p = port(&listening(&daemon));
    let input = dir.path().join("input.log");
    let lines: Vec<String> = (0..300)
        .map(|i| format!("forwarded by syslog-ng {i:04}"))
        .collect();
    std::fs::write(
        &input,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let conf = dir.path().join("syslog-ng.conf");
    std::fs::write(
        &conf,
        format!(
            r#"@version: 3.38
options {{ keep-hostname(yes); }};
source s_file {{ file("{input}" follow-freq(1) flags(no-parse)); }};
destination d_net {{ syslog("127.0.0.1" transport("tcp") port({p})); }};
log {{ source(s_file); destination(d_net); }};
"#,
            input = input.display()
        ),
    )
    .unwrap();
    let mut ng = Command::new("syslog-ng")
        .arg("-F")
        .arg("-f")
        .arg(&conf)
        .arg("-R")
        .arg(dir.path().join("ng.persist"))
        .arg("-p")
        .arg(dir.path().join("ng.pid"))
        .arg("-c")
        .arg(dir.path().join("ng.ctl"))
        .arg("--no-caps")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("syslog-ng is installed (.ci/run: syslog-ng-core)");
    each_once(&emu, &lines, &daemon);
    let _ = ng.kill();
    let _ = ng.wait();
    // syslog-ng's syslog() destination frames with octet counting (RFC 6587 3.4.1) and
    // writes RFC 5424: the original text is what arrives.
    let counts = ingest_counts(&emu);
    let one = counts
        .keys()
        .find(|t| t.contains("forwarded by syslog-ng 0000"))
        .unwrap();
    assert!(one.starts_with('<'), "{one}");
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_past_max_connections_are_closed_and_a_second_sink_is_refused() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source =
        "type = \"syslog\"\nlisten = \"127.0.0.1:0\"\nmax_connections = 2\nmax_message_bytes = 512";
    let config = write_config(&emu, dir.path(), source, "http-ingest");
    let api = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[api]\nlisten = \"{api}\"\n"));
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&emu, &config, &[]);
    let addr = listening(&daemon);
    let mut a = std::net::TcpStream::connect(&addr).unwrap();
    let mut b = std::net::TcpStream::connect(&addr).unwrap();
    writeln!(a, "<13>first connection").unwrap();
    writeln!(b, "<13>second connection").unwrap();
    each_once(
        &emu,
        &["first connection".into(), "second connection".into()],
        &daemon,
    );
    // A message over max_message_bytes: dropped, counted, and in the dead-letter file
    // with the peer and its position in the connection.
    writeln!(a, "<13>{}", "z".repeat(600)).unwrap();
    writeln!(a, "<13>after the long one").unwrap();
    each_once(&emu, &["after the long one".into()], &daemon);
    let letters = dir.path().join("data/out/net/dead-letter.jsonl");
    wait_for("the oversized message is dead-lettered", || {
        std::fs::read_to_string(&letters).is_ok_and(|t| t.contains("exceeds the 512-byte maximum"))
    });
    let letter: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&letters)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(letter["source"], "net tcp 127.0.0.1", "{letter}");
    assert_eq!(
        letter["line"], 2,
        "the second message of its connection: {letter}"
    );
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 1];
    let n = std::io::Read::read(&mut c, &mut buf);
    assert!(
        matches!(n, Ok(0)) || n.is_err(),
        "the third connection is closed: {n:?}"
    );
    // Both drops are in /metrics.
    wait_for("the drops never showed in /metrics", || {
        let metrics = scrape(&api);
        metrics.contains(
            "logferry_source_dropped_total{sink=\"out\",source=\"net\",reason=\"oversized\"} 1\n",
        ) && metrics.contains(
            "logferry_source_dropped_total{sink=\"out\",source=\"net\",reason=\"connection_refused\"} 1\n",
        )
    });
    drop((a, b));
    assert!(daemon.term().success());
    assert!(daemon_log_has(&dir, "max_connections"));

    // The same listener as the input of two sinks: refused with the reason.
    let text = std::fs::read_to_string(&config).unwrap()
        + "\n[sinks.second]\ntype = \"http-ingest\"\ninputs = [\"net\"]\nurl = \"https://x.example.com/v1/a\"\nkey = \"k\"\n";
    std::fs::write(&config, text).unwrap();
    let out = logferry()
        .args(["validate", "--config"])
        .arg(&config)
        .env("HTTP_INGEST_URL", emu.http_ingest_url())
        .env("HTTP_INGEST_KEY", emu.http_ingest_key())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("listens on a port, which is bound once"),
        "{}",
        stderr(&out)
    );
    emu.shutdown().await;
}

/// Runs `openssl` with `args` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl s_client` to `addr` trusting `ca`, with `extra` arguments, writing `input`;
/// returns once the child ended or was killed after `input` went out.
fn s_client(addr: &str, ca: &Path, extra: &[&str], input: &str) -> std::process::Child {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", addr, "-CAfile"])
        .arg(ca)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child
}

#[tokio::test(flavor = "multi_thread")]
async fn with_client_ca_file_only_clients_with_a_signed_certificate_get_in() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cert, key) = certificate(d);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-days", "2", "-subj", "/CN=test clients CA"]);
    // Not `ca.pem`: that is the emulator's CA, which `write_config` writes.
    ca.extend(["-keyout", "clients-ca.key", "-out", "clients-ca.pem"]);
    openssl(d, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=firewall-1",
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
    ]);
    openssl(d, &csr);
    std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "clients-ca.pem",
            "-CAkey",
            "clients-ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "client.pem",
            "-extfile",
            "client.ext",
        ],
    );
    openssl(d, &["verify", "-CAfile", "clients-ca.pem", "client.pem"]);
    let source = format!(
        "type = \"syslog\"\nmode = \"tls\"\nlisten = \"127.0.0.1:0\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"",
        cert.display(),
        key.display(),
        d.join("clients-ca.pem").display()
    );
    let config = write_config(&emu, d, &source, "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[]);
    let addr = listening(&daemon);
    let framed = |text: &str| {
        let m = format!("<14>1 - host app - - - {text}");
        format!("{} {m}", m.len())
    };
    // Without a certificate: the handshake fails, nothing is read.
    let mut anonymous = s_client(&addr, &cert, &[], &framed("from nobody"));
    wait_for("the refused handshake is logged", || {
        daemon.log().contains("TLS handshake with")
    });
    let _ = anonymous.kill();
    let _ = anonymous.wait();
    // With the signed client certificate: delivered.
    let (client_cert, client_key) = (d.join("client.pem"), d.join("client.key"));
    let mut signed = s_client(
        &addr,
        &cert,
        &[
            "-cert",
            client_cert.to_str().unwrap(),
            "-key",
            client_key.to_str().unwrap(),
        ],
        &framed("from firewall-1"),
    );
    each_once(&emu, &["from firewall-1".to_owned()], &daemon);
    let _ = signed.kill();
    let _ = signed.wait();
    assert!(
        !ingest_counts(&emu)
            .keys()
            .any(|t| t.contains("from nobody")),
        "a client without a certificate got in"
    );
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_listener_rebinds_its_port_on_sighup() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = format!("type = \"syslog\"\nlisten = \"127.0.0.1:{port}\"");
    let config = write_config(&emu, dir.path(), &source, "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[]);
    let addr = listening(&daemon);
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    let mut before = std::net::TcpStream::connect(&addr).unwrap();
    writeln!(before, "<13>before the reload").unwrap();
    each_once(&emu, &["before the reload".into()], &daemon);

    // The same port, another setting: the route is closed and started again, and the new
    // one binds the port the old one releases.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(&source, &format!("{source}\nmax_message_bytes = 4096")),
    )
    .unwrap();
    daemon.signal("HUP");
    wait_for("the reload did not finish", || {
        daemon.log().contains("configuration reloaded")
    });
    wait_for("the new route did not listen", || {
        daemon.log().matches(" listening on 127.0.0.1:").count() == 2
    });
    let mut after = None;
    wait_for("the port was not listened on again", || {
        after = std::net::TcpStream::connect(&addr).ok();
        after.is_some()
    });
    writeln!(after.unwrap(), "<13>after the reload").unwrap();
    each_once(
        &emu,
        &["before the reload".into(), "after the reload".into()],
        &daemon,
    );
    drop(before);
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_right_after_a_burst_loses_nothing_a_tcp_sender_handed_over() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source = "type = \"syslog\"\nlisten = \"127.0.0.1:0\"";
    let config = write_config(&emu, dir.path(), source, "http-ingest");
    let daemon = Daemon::start(&emu, &config, &[]);
    let addr = listening(&daemon);
    let lines: Vec<String> = (0..5000).map(|i| format!("burst message {i:05}")).collect();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let burst: String = lines.iter().map(|l| format!("<13>{l}\n")).collect();
    stream.write_all(burst.as_bytes()).unwrap();
    // At once, the connection still open: the source stops, reads what was sent, and the
    // run spools and delivers it before the process exits.
    assert!(daemon.term().success());
    let daemon = Daemon::start(&emu, &config, &[]);
    each_once(&emu, &lines, &daemon);
    drop(stream);
    assert!(daemon.term().success());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hec_events_into_sdl_keep_their_members_envelope_time_and_peer() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&emu, dir.path(), &hec_source(""), "sdl");
    let daemon = Daemon::start(&emu, &config, &[("HEC_TOKEN", TOKEN)]);
    let base = format!("http://{}", listening(&daemon));
    let (status, reply) = curl(
        &format!("{base}/services/collector/event"),
        &[
            "-H",
            &format!("Authorization: Splunk {TOKEN}"),
            "--data-binary",
            r#"{"event":{"message":"login ok","user":"alice"},"time":"1764693600.25","host":"idp-1","sourcetype":"okta","fields":{"tenant":"t1"}}{"event":"plain text event"}"#,
        ],
    );
    assert_eq!(
        (status, reply.as_str()),
        (200, r#"{"text":"Success","code":0}"#)
    );
    let mut events = Vec::new();
    wait_for("two SDL events", || {
        events = emu
            .records()
            .into_iter()
            .filter(|r| r.endpoint == Endpoint::SdlAddEvents)
            .collect();
        events.len() >= 2
    });
    let login = events.iter().find(|e| e.text == "login ok").unwrap();
    let sdl = login.sdl.as_ref().unwrap();
    assert_eq!(sdl.ts.as_deref(), Some("1764693600250000000"));
    assert_eq!(sdl.attrs["user"], "alice");
    assert_eq!(sdl.attrs["host"], "idp-1");
    assert_eq!(sdl.attrs["sourcetype"], "okta");
    assert_eq!(sdl.attrs["tenant"], "t1");
    assert!(
        sdl.attrs["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let plain = events
        .iter()
        .find(|e| e.text == "plain text event")
        .unwrap();
    assert!(plain.sdl.as_ref().unwrap().attrs["received"].is_string());
    assert!(daemon.term().success());
    emu.shutdown().await;
}
