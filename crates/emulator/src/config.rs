//! Settings, with the defaults the seeds give.

use crate::Faults;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// HTTP Ingest's limit: "Maximum request body size | 100 MB | Hard ceiling. Requests
/// exceeding this size are rejected with 413 Payload Too Large." Read as decimal
/// megabytes (100,000,000 bytes), the stricter reading.
pub const HTTP_INGEST_MAX_BODY: u64 = 100_000_000;

/// SDL's limit: "The request body must be 6MB or less." Read as 6,000,000 bytes.
pub const SDL_MAX_BODY: u64 = 6_000_000;

/// SDL's per-session ceiling: "Each session cannot exceed 10 MB/sec."
pub const SDL_SESSION_RATE: u64 = 10_000_000;

/// SDL: "There is a maximum of 50K sessions per five minute period per account."
pub const SDL_SESSIONS_PER_5_MIN: usize = 50_000;

/// The largest file a single S3 `PUT` takes (5 GB), enforced at presign time.
pub const S3_MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Everything the emulator can be told at start. Build it with
/// [`Emulator::builder`](crate::Emulator::builder).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:0` (any free port).
    pub listen: SocketAddr,
    /// Serve HTTPS with a generated CA (default `true`); `false` serves plain HTTP, on
    /// loopback only.
    pub tls: bool,
    /// Allow a non-loopback listen address (TLS only). Default `false`.
    pub danger_allow_non_loopback: bool,
    /// Benchmark mode: bodies are read and discarded without decoding, parsing or
    /// storing; only header authentication is checked. Default `false`.
    pub count_only: bool,
    /// Append every stored record to this JSONL file. Default: none.
    pub records_file: Option<PathBuf>,
    /// How many records to keep in memory (the newest). Default 1,000,000.
    pub memory_records: usize,
    /// HTTP Ingest body limit, wire and decoded. Default [`HTTP_INGEST_MAX_BODY`].
    pub http_ingest_max_body: u64,
    /// HTTP Ingest rate protection: requests arriving while this many are already being
    /// handled get **429** ("Rate-limited requests are signalled with 429 Too Many
    /// Requests"). Default: none.
    pub http_ingest_max_in_flight: Option<usize>,
    /// HTTP Ingest rate protection: a request whose wire bytes would take the bytes
    /// accepted in the current one-second window past this gets **429**. Default: none.
    pub http_ingest_bytes_per_sec: Option<u64>,
    /// SDL body limit, wire and decoded. Default [`SDL_MAX_BODY`].
    pub sdl_max_body: u64,
    /// SDL per-session ceiling in decoded bytes per second, over a sliding 1 s window.
    /// Default [`SDL_SESSION_RATE`].
    pub sdl_session_rate: u64,
    /// New SDL sessions allowed per 5 minutes. Default [`SDL_SESSIONS_PER_5_MIN`].
    pub sdl_sessions_per_5_min: usize,
    /// Lifetime of access tokens from the token endpoint. Default 1 hour. Zero makes
    /// every token expire at once (for tests).
    pub token_ttl: Duration,
    /// Lifetime of presigned URLs. Default 15 minutes. Zero makes every URL expire at once.
    pub presign_ttl: Duration,
    /// How long an uploadLogs `Nonce` makes a repeat a no-op. Default 60 s.
    pub nonce_ttl: Duration,
    /// Faults in force at start. Default: none.
    pub faults: Faults,
    /// Seed of the fault generator. Default 0.
    pub seed: u64,
    /// Directory for the CA certificate PEM. Default: a temporary directory removed at
    /// shutdown.
    pub ca_dir: Option<PathBuf>,
    /// Worker threads of the emulator's own runtime. Default 2.
    pub worker_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            danger_allow_non_loopback: false,
            count_only: false,
            records_file: None,
            memory_records: 1_000_000,
            http_ingest_max_body: HTTP_INGEST_MAX_BODY,
            http_ingest_max_in_flight: None,
            http_ingest_bytes_per_sec: None,
            sdl_max_body: SDL_MAX_BODY,
            sdl_session_rate: SDL_SESSION_RATE,
            sdl_sessions_per_5_min: SDL_SESSIONS_PER_5_MIN,
            token_ttl: Duration::from_secs(3600),
            presign_ttl: Duration::from_secs(900),
            nonce_ttl: Duration::from_secs(60),
            faults: Faults::default(),
            seed: 0,
            ca_dir: None,
            worker_threads: 2,
        }
    }
}
