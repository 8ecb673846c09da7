//! `bare-sender FILE LEVEL THREADS BATCH_BYTES [framed]`: the least any HTTP Ingest
//! sender must do to ship FILE, timed: read it (one copy out of the page cache), cut it
//! into bodies of about BATCH_BYTES at the last `\n`, check each body is UTF-8, gzip it
//! with logferry's batch encoder, and POST it over HTTP/1.1 (one kept-alive connection
//! per thread) to `HTTP_INGEST_URL` with `HTTP_INGEST_KEY`, reading each answer before
//! the next body. An `https://` URL is reached over TLS with logferry's own TLS settings
//! (rustls, ring), trusting the CA in the PEM file `HTTP_INGEST_CA`. THREADS threads each do all
//! of it for the next body; nothing else (no record spans, no checkpoints, no retries,
//! no queues between threads).
//!
//! With `framed`, each thread also frames its body the way logferry does before it
//! compresses it: logferry's `LineFramer` finds every line (the contract's 500 KB record
//! limit is per record, and a record that fails needs its position) and its `Batcher`
//! copies the lines into a batch with a span per record. Nothing else of logferry's
//! (positions across bodies, checkpoints, acknowledgements, retries) is added: the
//! ceiling of a sender that checks its records one by one.
//!
//! It prints the wall seconds, the process's CPU seconds, its CPU seconds in batch
//! encodes and the bytes of gzip it sent (bodies only). `cargo xtask bench --limit` runs
//! it, both ways, beside `logferry http-ingest` in every round: the fraction of the limit
//! it reaches is what the machine leaves a sender once the file is read and the bodies
//! cross loopback, the ceiling for logferry's row.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The part of the file not handed out yet: the open file, the bytes after the last
/// `\n` of the previous read, and whether the file ended.
struct Input {
    file: std::fs::File,
    carry: Vec<u8>,
    ended: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare-sender: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (framed, args) = match args.as_slice() {
        [rest @ .., last] if last == "framed" => (true, rest),
        all => (false, all),
    };
    let [path, level, threads, batch] = args else {
        return Err("usage: bare-sender FILE LEVEL THREADS BATCH_BYTES [framed]".into());
    };
    let level = level
        .parse::<u8>()
        .ok()
        .and_then(|l| logferry_compress::Level::new(l).ok())
        .ok_or("LEVEL must be 0 to 9")?;
    let threads: usize = threads
        .parse()
        .ok()
        .filter(|&t| t > 0)
        .ok_or("THREADS must be a positive number")?;
    let batch: usize = batch
        .parse()
        .ok()
        .filter(|&b| b >= 4096)
        .ok_or("BATCH_BYTES must be at least 4096")?;
    let url = std::env::var("HTTP_INGEST_URL").map_err(|_| "HTTP_INGEST_URL is not set")?;
    let key = std::env::var("HTTP_INGEST_KEY").map_err(|_| "HTTP_INGEST_KEY is not set")?;
    let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (None, rest),
        (None, Some(rest)) => (Some(tls_config()?), rest),
        _ => return Err("HTTP_INGEST_URL must be an http:// or https:// URL".into()),
    };
    let (host, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let target = if target.is_empty() { "/" } else { target };
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: "
    );
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let input = Mutex::new(Input {
        file,
        carry: Vec::new(),
        ended: false,
    });
    let started = Instant::now();
    let sent: Result<Vec<usize>, String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let tls = tls.clone();
                let head = &head;
                let input = &input;
                scope.spawn(move || {
                    let conn = connect(host, tls)?;
                    worker(input, conn, batch, framed, level, head)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| "a worker panicked".to_owned())?)
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let sent: usize = sent?.iter().sum();
    let compress = logferry_compress::compress_cpu().as_secs_f64();
    println!(
        "{secs} {} {compress} {sent}",
        logferry_benches::proc_cpu_secs("/proc/self/stat").unwrap_or(secs)
    );
    Ok(())
}

/// Ships bodies until the input is used up; returns the gzip bytes it sent.
fn worker(
    input: &Mutex<Input>,
    mut conn: Box<dyn Connection>,
    batch: usize,
    framed: bool,
    level: logferry_compress::Level,
    head: &str,
) -> Result<usize, String> {
    let mut encoder = logferry_compress::GzipEncoder::new(level, Default::default());
    let mut buf = vec![0u8; batch];
    let mut body = Vec::with_capacity(batch);
    let mut answer = vec![0u8; 64 * 1024];
    let mut sent = 0;
    loop {
        let len = next_body(input, &mut buf)?;
        if len == 0 {
            break;
        }
        let framed = framed.then(|| frame(&buf[..len])).transpose()?;
        let raw = match &framed {
            Some(batch) => batch.body(),
            None => {
                std::str::from_utf8(&buf[..len]).map_err(|e| format!("not UTF-8: {e}"))?;
                &buf[..len]
            }
        };
        body.clear();
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(b"0000000000\r\n\r\n");
        let at = body.len();
        encoder.encode_into(raw, &mut body);
        sent += body.len() - at;
        let length = format!("{:010}", body.len() - at);
        body[head.len()..head.len() + 10].copy_from_slice(length.as_bytes());
        conn.write_all(&body)
            .map_err(|e| format!("cannot send: {e}"))?;
        read_answer(&mut *conn, &mut answer)?;
    }
    Ok(sent)
}

/// `bytes` (whole lines) as logferry frames them into one batch: every line found,
/// checked (UTF-8, size, `\r`, blank) and copied into the batch with its span.
fn frame(bytes: &[u8]) -> Result<logferry_framing::Batch, String> {
    use logferry_framing::{BatchConfig, Batcher, Framed, FramingConfig, LineFramer};
    let now = std::time::Instant::now();
    let whole = BatchConfig {
        target_bytes: bytes.len() + 1,
        max_bytes: bytes.len() + 1,
        ..BatchConfig::default()
    };
    let mut framer = LineFramer::new(FramingConfig::default());
    let mut batcher = Batcher::new(whole, None);
    let mut batches = Vec::new();
    let mut failed = None;
    framer.push_runs(bytes, |framed| match framed {
        Framed::Run(run) => batcher.push_run(&run, now, |b| batches.push(b)),
        Framed::Record(Ok(record)) => batcher.push(&record, now, |b| batches.push(b)),
        Framed::Record(Err(e)) => failed = Some(e.to_string()),
    });
    framer.finish(|record| match record {
        Ok(record) => batcher.push(&record, now, |b| batches.push(b)),
        Err(e) => failed = Some(e.to_string()),
    });
    batcher.flush(|b| batches.push(b));
    if let Some(e) = failed {
        return Err(format!("cannot frame: {e}"));
    }
    match <[_; 1]>::try_from(batches) {
        Ok([batch]) => Ok(batch),
        Err(batches) => Err(format!("{} batches from one body", batches.len())),
    }
}

/// Fills `buf` with the next body: the previous read's tail, then the file, cut after
/// the last `\n` (all of it at the end of the file or for one line longer than `buf`).
/// Returns its length, 0 once the file is used up.
fn next_body(input: &Mutex<Input>, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut input = input.lock().map_err(|_| "poisoned")?;
    let carried = input.carry.len();
    if carried > buf.len() / 2 {
        buf.resize(carried * 2, 0);
    }
    buf[..carried].copy_from_slice(&input.carry);
    let mut filled = carried;
    while !input.ended && filled < buf.len() {
        match input.file.read(&mut buf[filled..]) {
            Ok(0) => input.ended = true,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    let cut = if input.ended {
        filled
    } else {
        buf[..filled]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(filled, |i| i + 1)
    };
    input.carry.clear();
    input.carry.extend_from_slice(&buf[cut..filled]);
    Ok(cut)
}

/// A kept-alive connection: plain TCP, or TLS over it.
trait Connection: Read + Write + Send {}
impl<T: Read + Write + Send> Connection for T {}

/// Connects to `host` (`127.0.0.1:PORT`), over TLS with `tls`.
fn connect(
    host: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Box<dyn Connection>, String> {
    let tcp = TcpStream::connect(host).map_err(|e| format!("cannot connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let name = rustls::pki_types::ServerName::try_from(name.to_owned())
        .map_err(|e| format!("{name}: {e}"))?;
    let session = rustls::ClientConnection::new(tls, name).map_err(|e| e.to_string())?;
    Ok(Box::new(rustls::StreamOwned::new(session, tcp)))
}

/// logferry's own TLS settings (`logferry_http::ClientConfig::tls`), trusting the CA in
/// `HTTP_INGEST_CA` besides the webpki roots.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let ca = std::env::var("HTTP_INGEST_CA").map_err(|_| "HTTP_INGEST_CA is not set")?;
    let config = logferry_http::ClientConfig {
        ca_file: Some(ca.into()),
        ..logferry_http::ClientConfig::default()
    };
    config.tls().map(Arc::new).map_err(|e| e.to_string())
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body; fails unless it is 2xx.
fn read_answer(conn: &mut dyn Connection, buf: &mut [u8]) -> Result<(), String> {
    let mut filled = 0;
    loop {
        let n = conn
            .read(&mut buf[filled..])
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        filled += n;
        let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            if filled == buf.len() {
                return Err("the answer's head is too long".into());
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 2") {
            return Err(format!(
                "answer: {}",
                head.lines().next().unwrap_or_default()
            ));
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut have = filled - (end + 4);
        let room = buf.len();
        while have < length {
            let n = conn
                .read(&mut buf[..(length - have).min(room)])
                .map_err(|e| format!("cannot read the answer: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            have += n;
        }
        return Ok(());
    }
}
