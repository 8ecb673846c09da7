//! The handle: [`EmulatorBuilder`] starts an [`Emulator`], which serves on its own
//! runtime until [`Emulator::shutdown`] (or drop).

use crate::server::{self, Shared};
use crate::store::Store;
use crate::{Config, Error, Faults, Record, Stats, Upload, tls};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The integration id of the HTTP Ingest integration every emulator starts with.
pub const DEFAULT_INTEGRATION: &str = "emulator-default";

/// Builds an [`Emulator`]: every method sets one [`Config`] field.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EmulatorBuilder {
    config: Config,
}

impl EmulatorBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Listen on `addr` (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// Serve plain HTTP instead of HTTPS (loopback only).
    pub fn plain_http(mut self) -> Self {
        self.config.tls = false;
        self
    }

    /// Allow a non-loopback listen address.
    pub fn danger_allow_non_loopback(mut self) -> Self {
        self.config.danger_allow_non_loopback = true;
        self
    }

    /// Benchmark mode: read and discard bodies (see [`Config::count_only`]).
    pub fn count_only(mut self) -> Self {
        self.config.count_only = true;
        self
    }

    /// Append stored records to this JSONL file.
    pub fn records_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.records_file = Some(path.into());
        self
    }

    /// Keep at most `n` records in memory.
    pub fn memory_records(mut self, n: usize) -> Self {
        self.config.memory_records = n;
        self
    }

    /// HTTP Ingest body limit, wire and decoded (default 100 MB).
    pub fn http_ingest_max_body(mut self, bytes: u64) -> Self {
        self.config.http_ingest_max_body = bytes;
        self
    }

    /// HTTP Ingest answers 429 to a request arriving while `n` are already being handled
    /// (see [`Config::http_ingest_max_in_flight`]).
    pub fn http_ingest_max_in_flight(mut self, n: usize) -> Self {
        self.config.http_ingest_max_in_flight = Some(n);
        self
    }

    /// HTTP Ingest answers 429 to a request that would take the wire bytes accepted in
    /// the current second past `bytes_per_sec` (see [`Config::http_ingest_bytes_per_sec`]).
    pub fn http_ingest_bytes_per_sec(mut self, bytes_per_sec: u64) -> Self {
        self.config.http_ingest_bytes_per_sec = Some(bytes_per_sec);
        self
    }

    /// SDL body limit (default 6 MB).
    pub fn sdl_max_body(mut self, bytes: u64) -> Self {
        self.config.sdl_max_body = bytes;
        self
    }

    /// SDL per-session ceiling, decoded bytes per second (default 10 MB/s).
    pub fn sdl_session_rate(mut self, bytes_per_sec: u64) -> Self {
        self.config.sdl_session_rate = bytes_per_sec;
        self
    }

    /// New SDL sessions allowed per five minutes (default 50,000).
    pub fn sdl_sessions_per_5_min(mut self, n: usize) -> Self {
        self.config.sdl_sessions_per_5_min = n;
        self
    }

    /// Access token lifetime (default 1 hour).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.config.token_ttl = ttl;
        self
    }

    /// Presigned URL lifetime (default 15 minutes).
    pub fn presign_ttl(mut self, ttl: Duration) -> Self {
        self.config.presign_ttl = ttl;
        self
    }

    /// uploadLogs `Nonce` memory (default 60 s).
    pub fn nonce_ttl(mut self, ttl: Duration) -> Self {
        self.config.nonce_ttl = ttl;
        self
    }

    /// Faults in force at start.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.config.faults = faults;
        self
    }

    /// Seed of the fault generator.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Write the CA PEM into this directory instead of a temporary one.
    pub fn ca_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.ca_dir = Some(dir.into());
        self
    }

    /// Worker threads of the emulator's runtime (default 2).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.config.worker_threads = n.max(1);
        self
    }

    /// Binds, generates the TLS material, and starts serving.
    pub async fn start(self) -> Result<Emulator, Error> {
        Emulator::start(self.config)
    }
}

struct Ca {
    pem: String,
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// A running emulator. Dropping it stops the server; [`Emulator::shutdown`] waits for open
/// requests first.
pub struct Emulator {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    ca: Option<Ca>,
    http_ingest_key: String,
    sdl_api_key: String,
    access_token: String,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.shared.common.base_url)
            .field("count_only", &self.shared.common.config.count_only)
            .field("secrets", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What a process needs to talk to the emulator: the ready file's content.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReadyInfo {
    /// `https://127.0.0.1:PORT` (or `http://`).
    pub base_url: String,
    /// The default integration's HTTP Ingest URL.
    pub http_ingest_url: String,
    /// Its key.
    pub http_ingest_key: String,
    /// The Taegis API endpoint (File Upload, token endpoint).
    pub taegis_api_endpoint: String,
    /// OAuth2 client id.
    pub taegis_client_id: String,
    /// OAuth2 client secret.
    pub taegis_client_secret: String,
    /// A static access token that does not expire.
    pub taegis_access_token: String,
    /// The SDL console base URL (`/api/addEvents` is below it).
    pub sdl_url: String,
    /// An SDL Log Write Access key.
    pub sdl_api_key: String,
    /// Path of the CA PEM when serving TLS.
    pub ca_cert: Option<PathBuf>,
    /// Token for the `/_emulator/` admin API.
    pub admin_token: String,
    /// The JSONL records file, if any.
    pub records_file: Option<PathBuf>,
    /// The serving process.
    pub pid: u32,
}

impl std::fmt::Debug for ReadyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyInfo")
            .field("base_url", &self.base_url)
            .field("http_ingest_url", &self.http_ingest_url)
            .field("ca_cert", &self.ca_cert)
            .field("records_file", &self.records_file)
            .field("pid", &self.pid)
            .field("secrets", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl Emulator {
    /// A builder with the default [`Config`].
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    fn start(config: Config) -> Result<Emulator, Error> {
        let listen = config.listen;
        if !is_loopback(listen.ip()) {
            if !config.tls {
                return Err(Error::PlainHttpNonLoopback(listen));
            }
            if !config.danger_allow_non_loopback {
                return Err(Error::NonLoopback(listen));
            }
        }
        config.faults.validate()?;
        let listener = std::net::TcpListener::bind(listen).map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| Error::Bind {
                addr: listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        let host = match local_addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{host}:{}", local_addr.port());

        let (tls_config, ca) = if config.tls {
            let extra =
                Some(local_addr.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
            let tls = tls::generate(extra)?;
            let (dir, temp) = match &config.ca_dir {
                Some(dir) => (dir.clone(), None),
                None => {
                    let temp = tempfile::Builder::new()
                        .prefix("logferry-emulator-")
                        .tempdir()
                        .map_err(|source| Error::Write {
                            path: std::env::temp_dir(),
                            source,
                        })?;
                    (temp.path().to_owned(), Some(temp))
                }
            };
            let path = dir.join(format!("logferry-emulator-ca-{}.pem", local_addr.port()));
            std::fs::write(&path, &tls.ca_pem).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            (
                Some(tls.server_config),
                Some(Ca {
                    pem: tls.ca_pem,
                    path,
                    _dir: temp,
                }),
            )
        } else {
            (None, None)
        };

        let store = Store::new(config.memory_records, config.records_file.as_deref())?;
        let shared = Arc::new(Shared::new(config, base_url, store));
        let http_ingest_key = shared.http_ingest.add_integration(DEFAULT_INTEGRATION);
        let sdl_api_key = shared.sdl.add_key();
        let access_token = shared.upload.add_static_token();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(shared.common.config.worker_threads.max(1))
            .thread_name("logferry-emulator")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let server = runtime.spawn(server::serve(listener, shared.clone(), tls_config, rx));
        let common = &shared.common;
        tracing::info!(base_url = %common.base_url, tls = common.config.tls, "emulator listening");
        Ok(Emulator {
            shared,
            local_addr,
            runtime: Some(runtime),
            shutdown,
            server: Some(server),
            ca,
            http_ingest_key,
            sdl_api_key,
            access_token,
        })
    }

    /// `https://127.0.0.1:PORT` (or `http://` with [`EmulatorBuilder::plain_http`]).
    pub fn base_url(&self) -> &str {
        &self.shared.common.base_url
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The default integration's URL: base + `/http-endpoint/v1/emulator-default`.
    pub fn http_ingest_url(&self) -> String {
        self.http_ingest_url_for(DEFAULT_INTEGRATION)
    }

    /// The HTTP Ingest URL of integration `id`.
    pub fn http_ingest_url_for(&self, id: &str) -> String {
        format!("{}/http-endpoint/v1/{id}", self.shared.common.base_url)
    }

    /// The default integration's key.
    pub fn http_ingest_key(&self) -> &str {
        &self.http_ingest_key
    }

    /// Adds an HTTP Ingest integration (or re-keys it) and returns its key.
    pub fn add_integration(&self, id: &str) -> String {
        self.shared.http_ingest.add_integration(id)
    }

    /// Adds an SDL key and returns it.
    pub fn add_sdl_key(&self) -> String {
        self.shared.sdl.add_key()
    }

    /// Revokes an integration key (then 403, as for a deleted integration), an SDL key
    /// (then 401) or an access token (then 401). False when the key is not known.
    pub fn revoke_key(&self, key: &str) -> bool {
        self.shared.revoke(key)
    }

    /// The Taegis API endpoint (the base URL): the token endpoint and File Upload live
    /// below it.
    pub fn taegis_api_endpoint(&self) -> &str {
        &self.shared.common.base_url
    }

    /// OAuth2 client id for the token endpoint.
    pub fn taegis_client_id(&self) -> &str {
        self.shared.upload.client_id()
    }

    /// OAuth2 client secret for the token endpoint.
    pub fn taegis_client_secret(&self) -> &str {
        self.shared.upload.client_secret()
    }

    /// A static access token that never expires (revocable).
    pub fn taegis_access_token(&self) -> &str {
        &self.access_token
    }

    /// The SDL console base URL; `/api/addEvents` and `/api/uploadLogs` are below it.
    pub fn sdl_url(&self) -> &str {
        &self.shared.common.base_url
    }

    /// An SDL Log Write Access key.
    pub fn sdl_api_key(&self) -> &str {
        &self.sdl_api_key
    }

    /// The CA certificate (PEM) when serving TLS.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(|c| c.pem.as_str())
    }

    /// Where the CA PEM was written, when serving TLS.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca.as_ref().map(|c| c.path.as_path())
    }

    /// The admin API's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.shared.admin_token
    }

    /// The JSONL records file, if any.
    pub fn records_file(&self) -> Option<&Path> {
        self.shared.common.store.path()
    }

    /// Records in memory, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        self.shared.common.store.records()
    }

    /// Records in memory with `seq >= since`.
    pub fn records_since(&self, since: u64) -> Vec<Record> {
        self.shared.common.store.since(since, usize::MAX).records
    }

    /// Files received through File Upload.
    pub fn uploads(&self) -> Vec<Upload> {
        self.shared.common.store.uploads()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.shared.common.faults().faults().clone()
    }

    /// Replaces the faults (counters and generator restart).
    pub fn set_faults(&self, faults: Faults) -> Result<(), Error> {
        faults.validate()?;
        self.shared.common.faults().replace(faults);
        Ok(())
    }

    /// Changes the faults in place (counters and generator restart).
    pub fn update_faults(&self, change: impl FnOnce(&mut Faults)) -> Result<(), Error> {
        let mut faults = self.faults();
        change(&mut faults);
        self.set_faults(faults)
    }

    /// What the ready file holds.
    pub fn ready_info(&self) -> ReadyInfo {
        ReadyInfo {
            base_url: self.base_url().to_owned(),
            http_ingest_url: self.http_ingest_url(),
            http_ingest_key: self.http_ingest_key.clone(),
            taegis_api_endpoint: self.taegis_api_endpoint().to_owned(),
            taegis_client_id: self.taegis_client_id().to_owned(),
            taegis_client_secret: self.taegis_client_secret().to_owned(),
            taegis_access_token: self.access_token.clone(),
            sdl_url: self.sdl_url().to_owned(),
            sdl_api_key: self.sdl_api_key.clone(),
            ca_cert: self.ca_cert_path().map(Path::to_owned),
            admin_token: self.admin_token().to_owned(),
            records_file: self.records_file().map(Path::to_owned),
            pid: std::process::id(),
        }
    }

    /// Stops accepting, lets requests in progress finish (up to 5 s), and stops.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
