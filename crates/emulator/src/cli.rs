//! The command line of `logferry-emulator`, as a library so the `logferry emulator`
//! subcommand can reuse it exactly: flatten [`Args`] into a clap command and call
//! [`run`].
//!
//! ```text
//! logferry-emulator --listen 127.0.0.1:0 --ready-file PATH [--plain-http] [--records FILE]
//!                   [--count-only] [--danger-allow-non-loopback] [fault and limit flags]
//! ```
//!
//! Once listening, the ready file receives a JSON object ([`ReadyInfo`]) with
//! `base_url`, `http_ingest_url`, `http_ingest_key`, `taegis_api_endpoint`,
//! `taegis_client_id`, `taegis_client_secret`, `taegis_access_token`, `sdl_url`,
//! `sdl_api_key`, `ca_cert` (the CA PEM's path when serving TLS), `admin_token`,
//! `records_file` and `pid`. It is written to a temporary file and renamed, so a reader
//! never sees half of it, with mode 0600 since it holds keys. Without `--ready-file` the
//! same JSON is printed on standard output. The process runs until SIGTERM or Ctrl-C,
//! then finishes the requests in progress and exits 0.

use crate::{
    Config, Emulator, Endpoint, Error, FaultSet, FaultStatus, Faults, LimitOverrides, ReadyInfo,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The emulator's command-line arguments.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct Args {
    /// Address to listen on (loopback only unless --danger-allow-non-loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write the connection details (URLs, keys, CA path, admin token) here as JSON once
    /// listening; without it they are printed on standard output.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (loopback only).
    #[arg(long)]
    pub plain_http: bool,
    /// Append every stored record to this JSONL file (flushed before each reply).
    #[arg(long, value_name = "FILE")]
    pub records: Option<PathBuf>,
    /// Benchmark mode: read and discard bodies without decoding, checking or storing.
    #[arg(long)]
    pub count_only: bool,
    /// Allow listening on a non-loopback address (TLS only).
    #[arg(long)]
    pub danger_allow_non_loopback: bool,
    /// Directory for the CA certificate PEM [default: the ready file's directory, else a
    /// temporary directory].
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Records kept in memory (the admin API serves them).
    #[arg(long, default_value_t = 1_000_000)]
    pub memory_records: usize,
    /// HTTP Ingest body limit in bytes, wire and decoded (the 413 threshold).
    #[arg(long, default_value_t = crate::config::HTTP_INGEST_MAX_BODY)]
    pub http_ingest_max_body: u64,
    /// HTTP Ingest rate protection: 429 to a request arriving while this many are being
    /// handled.
    #[arg(long)]
    pub http_ingest_max_in_flight: Option<usize>,
    /// HTTP Ingest rate protection: 429 to a request that would take the wire bytes
    /// accepted in the current second past this.
    #[arg(long)]
    pub http_ingest_bytes_per_sec: Option<u64>,
    /// SDL body limit in bytes (the 6 MB threshold).
    #[arg(long, default_value_t = crate::config::SDL_MAX_BODY)]
    pub sdl_max_body: u64,
    /// SDL per-session ceiling, decoded bytes per second over a sliding 1 s window.
    #[arg(long, default_value_t = crate::config::SDL_SESSION_RATE)]
    pub sdl_session_rate: u64,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub token_ttl: u64,
    /// Presigned URL lifetime in seconds.
    #[arg(long, default_value_t = 900, value_name = "SECS")]
    pub presign_ttl: u64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Apply the fault flags below to these endpoints only (repeatable; default all):
    /// http_ingest, taegis_auth, upload_presign, upload_put, sdl_add_events, sdl_upload_logs.
    #[arg(long, value_name = "ENDPOINT")]
    pub fault_endpoint: Vec<Endpoint>,
    /// Fail the first N requests.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fail_first: u64,
    /// Status of those failures (a code, or sdl_backoff_in_200).
    #[arg(long, default_value = "503", value_name = "STATUS")]
    pub fail_first_status: FaultStatus,
    /// Fail this fraction (0 to 1) of requests at random (seeded).
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub fail_rate: f64,
    /// Statuses for --fail-rate, comma-separated [default: 503].
    #[arg(long, value_delimiter = ',', value_name = "STATUS,...")]
    pub fail_statuses: Vec<FaultStatus>,
    /// Reset the connection without a reply on the first N requests.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub reset_first: u64,
    /// Reset the connection on this fraction of requests.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub reset_rate: f64,
    /// Milliseconds added before every reply.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Read request bodies at most this many bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC")]
    pub slow_body: Option<u64>,
    /// Send Retry-After: SECS with injected 429 and 503 replies.
    #[arg(long, value_name = "SECS")]
    pub retry_after: Option<u64>,
    /// Start with the faults in this JSON file (the `POST /_emulator/faults` format);
    /// replaces the fault flags.
    #[arg(long, value_name = "FILE")]
    pub faults_file: Option<PathBuf>,
    /// Worker threads of the server.
    #[arg(long, default_value_t = 2)]
    pub worker_threads: usize,
    /// On shutdown, write the final statistics (the `GET /_emulator/stats` JSON) here,
    /// for scripts that check what was received without an HTTP client.
    #[arg(long, value_name = "PATH")]
    pub stats_file: Option<PathBuf>,
}

impl Args {
    /// The faults the flags describe.
    pub fn faults(&self) -> Result<Faults, Error> {
        if let Some(path) = &self.faults_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
            return serde_json::from_str(&text).map_err(|e| {
                Error::Usage(format!("{} is not a faults object: {e}", path.display()))
            });
        }
        let set = FaultSet {
            fail_first: self.fail_first,
            fail_first_status: self.fail_first_status,
            fail_rate: self.fail_rate,
            fail_statuses: self.fail_statuses.clone(),
            reset_first: self.reset_first,
            reset_rate: self.reset_rate,
            latency_ms: self.latency_ms,
            slow_body_bytes_per_sec: self.slow_body,
            retry_after_secs: self.retry_after,
        };
        let mut faults = if self.fault_endpoint.is_empty() {
            Faults::all(set)
        } else {
            self.fault_endpoint
                .iter()
                .fold(Faults::none(), |f, e| f.with_endpoint(*e, set.clone()))
        };
        faults.limits = LimitOverrides::default();
        faults.validate()?;
        Ok(faults)
    }

    /// The configuration the flags describe.
    pub fn config(&self) -> Result<Config, Error> {
        let ca_dir = self
            .ca_dir
            .clone()
            .or_else(|| {
                self.ready_file.as_deref().and_then(Path::parent).map(|p| {
                    if p.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        p.to_owned()
                    }
                })
            })
            // Absolute, so the ready file names a CA any sender can open from anywhere.
            .map(|dir| std::path::absolute(&dir).unwrap_or(dir));
        Ok(Config {
            listen: self.listen,
            tls: !self.plain_http,
            danger_allow_non_loopback: self.danger_allow_non_loopback,
            count_only: self.count_only,
            records_file: self.records.clone(),
            memory_records: self.memory_records,
            http_ingest_max_body: self.http_ingest_max_body,
            http_ingest_max_in_flight: self.http_ingest_max_in_flight,
            http_ingest_bytes_per_sec: self.http_ingest_bytes_per_sec,
            sdl_max_body: self.sdl_max_body,
            sdl_session_rate: self.sdl_session_rate,
            token_ttl: Duration::from_secs(self.token_ttl),
            presign_ttl: Duration::from_secs(self.presign_ttl),
            faults: self.faults()?,
            seed: self.seed,
            ca_dir,
            worker_threads: self.worker_threads,
            ..Config::default()
        })
    }
}

/// Writes `info` to `path` atomically (temporary file in the same directory, then rename),
/// readable by the owner only.
pub fn write_ready_file(path: &Path, info: &ReadyInfo) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(info).expect("ready info always serializes");
    let file_name = path
        .file_name()
        .map_or_else(|| "ready".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// Starts the emulator as `args` say, writes the ready file, serves until SIGTERM or
/// Ctrl-C, then shuts down cleanly.
pub async fn run(args: Args) -> Result<(), Error> {
    let config = args.config()?;
    let stop = stop_signal();
    let emulator = Emulator::builder().config(config).start().await?;
    let info = emulator.ready_info();
    match &args.ready_file {
        Some(path) => write_ready_file(path, &info)?,
        None => {
            let json = serde_json::to_string_pretty(&info).expect("ready info always serializes");
            println!("{json}");
        }
    }
    eprintln!(
        "logferry-emulator: listening on {}{}",
        emulator.base_url(),
        if args.count_only { " (count-only)" } else { "" }
    );
    stop.await;
    eprintln!("logferry-emulator: stopping");
    let stats_file = args.stats_file.clone();
    let stats = emulator.stats();
    emulator.shutdown().await;
    if let Some(path) = stats_file {
        let json = serde_json::to_vec_pretty(&stats).expect("stats always serialize");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| Error::Write { path, source })?;
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not
/// when it is first awaited: called before the emulator says it listens, a signal sent
/// right after that line is never the default "terminate at once".
#[cfg(unix)]
fn stop_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait(term) => {}
            () = wait(int) => {}
        }
    }
}

#[cfg(not(unix))]
fn stop_signal() -> impl Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn fault_flags_build_faults_for_the_named_endpoints() {
        let cli = Cli::parse_from([
            "x",
            "--fault-endpoint",
            "sdl_add_events",
            "--fail-first",
            "2",
            "--fail-first-status",
            "sdl_backoff_in_200",
            "--fail-rate",
            "0.1",
            "--fail-statuses",
            "429,503",
            "--retry-after",
            "1",
        ]);
        let faults = cli.args.faults().unwrap();
        assert!(faults.all.is_off());
        let set = &faults.endpoints[&Endpoint::SdlAddEvents];
        assert_eq!(set.fail_first, 2);
        assert_eq!(set.fail_first_status, FaultStatus::SdlBackoffIn200);
        assert_eq!(
            set.fail_statuses,
            vec![FaultStatus::Code(429), FaultStatus::Code(503)]
        );
        assert_eq!(set.retry_after_secs, Some(1));
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(Cli::try_parse_from(["x", "--fault-endpoint", "nope"]).is_err());
        let cli = Cli::parse_from(["x", "--fail-rate", "2"]);
        assert!(cli.args.faults().is_err());
    }
}
