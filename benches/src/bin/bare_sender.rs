//! `bare-sender FILE LEVEL THREADS BATCH_BYTES`: the least any HTTP Ingest sender must do
//! to ship FILE, timed: read it (one copy out of the page cache), cut it into bodies of
//! about BATCH_BYTES at the last `\n`, check each body is UTF-8, gzip it with logferry's
//! batch encoder, and POST it over plain HTTP/1.1 (one kept-alive connection per thread)
//! to `HTTP_INGEST_URL` with `HTTP_INGEST_KEY`, reading each answer before the next body.
//! THREADS threads each do all of it for the next body; nothing else (no record spans,
//! no checkpoints, no retries, no queues between threads).
//!
//! It prints the wall seconds, the process's CPU seconds, its CPU seconds in batch
//! encodes and the bytes of gzip it sent (bodies only). `cargo xtask bench --limit` runs it beside `logferry http-ingest` in every
//! round: the fraction of the limit this reaches is what the machine leaves a sender once
//! the file is read and the bodies cross loopback, the ceiling for logferry's row.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Mutex;
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
    let [path, level, threads, batch] = args.as_slice() else {
        return Err("usage: bare-sender FILE LEVEL THREADS BATCH_BYTES".into());
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
    let rest = url
        .strip_prefix("http://")
        .ok_or("HTTP_INGEST_URL must be a plain http:// URL")?;
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
            .map(|_| scope.spawn(|| worker(&input, batch, level, host, &head)))
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
    batch: usize,
    level: logferry_compress::Level,
    host: &str,
    head: &str,
) -> Result<usize, String> {
    let mut conn = TcpStream::connect(host).map_err(|e| format!("cannot connect: {e}"))?;
    conn.set_nodelay(true).map_err(|e| e.to_string())?;
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
        std::str::from_utf8(&buf[..len]).map_err(|e| format!("not UTF-8: {e}"))?;
        body.clear();
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(b"0000000000\r\n\r\n");
        let at = body.len();
        encoder.encode_into(&buf[..len], &mut body);
        sent += body.len() - at;
        let length = format!("{:010}", body.len() - at);
        body[head.len()..head.len() + 10].copy_from_slice(length.as_bytes());
        conn.write_all(&body)
            .map_err(|e| format!("cannot send: {e}"))?;
        read_answer(&mut conn, &mut answer)?;
    }
    Ok(sent)
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

/// Reads one HTTP/1.1 answer with a `Content-Length` body; fails unless it is 2xx.
fn read_answer(conn: &mut TcpStream, buf: &mut [u8]) -> Result<(), String> {
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
