//! Shared setup: an emulator over HTTPS with its CA, a client trusting it, fast retry
//! settings, test files, and readers of what the emulator stored.

use logferry_emulator::{Emulator, EmulatorBuilder, Endpoint};
use logferry_http::{Client, ClientConfig};
use logferry_retry::{BudgetConfig, Stop};
use logferry_taegis_upload::{Config, Credentials, Region, TokenConfig, Uploader};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, PoisonError};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// Starts an emulator (HTTPS, the default) from `builder`, after installing the test
/// binary's log capture.
pub(crate) async fn start(builder: EmulatorBuilder) -> Emulator {
    install_log_capture();
    builder.start().await.expect("the emulator starts")
}

/// Everything logged in this test binary, at TRACE, HTTP/2 frames included.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        Captured
    }
}

/// A global subscriber (a scoped one misses events from callsites whose interest other
/// test threads cached first).
fn install_log_capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(Captured)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("installed once");
    });
}

/// The captured logs so far.
pub(crate) fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

/// A client trusting the emulator's CA.
pub(crate) fn client(emu: &Emulator) -> Client {
    client_with(emu, ClientConfig::default())
}

pub(crate) fn client_with(emu: &Emulator, config: ClientConfig) -> Client {
    Client::new(ClientConfig {
        ca_pem: Some(
            emu.ca_cert_pem()
                .expect("the emulator serves TLS")
                .to_owned(),
        ),
        ..config
    })
    .expect("the CA parses")
}

pub(crate) fn region(emu: &Emulator) -> Region {
    emu.taegis_api_endpoint()
        .parse()
        .expect("the emulator's endpoint is a loopback URL")
}

/// Retry settings for tests: millisecond backoff, a budget that never runs dry.
pub(crate) fn fast_retry(attempts: u32) -> logferry_retry::Config {
    logferry_retry::Config {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(10),
        retry_after_ceiling: Duration::from_millis(10),
        stop: Stop::after_attempts(attempts),
        budget_recheck: Duration::from_millis(5),
    }
}

fn roomy_budget() -> BudgetConfig {
    BudgetConfig {
        min_retries_per_sec: 10_000,
        ..BudgetConfig::default()
    }
}

/// The default config with fast retries.
pub(crate) fn config() -> Config {
    Config {
        retry: fast_retry(50),
        budget: roomy_budget(),
        token: TokenConfig {
            retry: fast_retry(20),
            budget: roomy_budget(),
            ..TokenConfig::default()
        },
        ..Config::default()
    }
}

pub(crate) fn static_token(emu: &Emulator) -> Credentials {
    Credentials::token(emu.taegis_access_token())
}

pub(crate) fn client_credentials(emu: &Emulator) -> Credentials {
    Credentials::client(emu.taegis_client_id(), emu.taegis_client_secret())
}

pub(crate) fn uploader(emu: &Emulator, credentials: Credentials, config: Config) -> Uploader {
    Uploader::new(client(emu), &region(emu), credentials, config).expect("valid config")
}

/// Writes `(name, content)` files into `dir`.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(name, content)| {
            let path = dir.join(name);
            std::fs::write(&path, content).expect("the temp dir is writable");
            path
        })
        .collect()
}

/// Writes `count` log files into `dir`: file `i` is named `name(i)` and holds
/// `lines(i)` lines of [`log_lines`] tagged `i`.
pub(crate) fn write_logs(
    dir: &Path,
    count: usize,
    name: impl Fn(usize) -> String,
    lines: impl Fn(usize) -> usize,
) -> Vec<PathBuf> {
    let contents: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| (name(i), log_lines(&i.to_string(), lines(i))))
        .collect();
    let files: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    write_files(dir, &files)
}

/// A syslog-like file of `lines` distinct lines.
pub(crate) fn log_lines(tag: &str, lines: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| {
            format!(
                "<13>Jan  1 00:00:{:02} host-{tag} app[{i}]: event {i} of {tag}\n",
                i % 60
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// The file the emulator stored as `file_name`, rebuilt from its records (lines, with the
/// line feeds the records dropped), checking it was stored exactly once.
pub(crate) fn stored(emu: &Emulator, file_name: &str) -> Vec<u8> {
    let copies = stored_copies(emu, file_name);
    assert_eq!(copies.len(), 1, "{file_name} stored once");
    copies.into_iter().next().expect("one copy")
}

/// Every copy the emulator stored as `file_name` (at least once delivery: a reply lost to
/// a broken connection makes the client send the file again).
pub(crate) fn stored_copies(emu: &Emulator, file_name: &str) -> Vec<Vec<u8>> {
    let records = emu.records();
    emu.uploads()
        .into_iter()
        .filter(|u| u.file_name == file_name)
        .map(|upload| {
            let mut out = Vec::new();
            for record in records
                .iter()
                .filter(|r| r.endpoint == Endpoint::UploadPut && r.request_id == upload.request_id)
            {
                out.extend_from_slice(record.text.as_bytes());
                if !record.unterminated {
                    out.push(b'\n');
                }
            }
            assert_eq!(out.len() as u64, upload.bytes);
            out
        })
        .collect()
}

/// An error and its sources, joined with ": ".
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
