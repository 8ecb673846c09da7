//! The uploader: presign, `PUT`, retry, presign again; many files at once.

use crate::body::{FailureSlot, FileBody, OnRead};
use crate::content::TextCheck;
use crate::presign::{
    DEFAULT_SENSOR_ID, DEFAULT_SERVICE, parse_presign_response, presign_url, server_message,
};
use crate::s3::S3Error;
use crate::token::{AccessToken, Credentials, TokenConfig, TokenProvider};
use crate::{Error, Region};
use futures_util::stream::{self, Stream, StreamExt};
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use logferry_http::{Client, IngestUrl, authorization, full};
use logferry_retry::{
    AttemptInfo, BudgetConfig, FastRng, Finish, GaveUp, Outcome, Retrier, Stop, TokioClock,
    Verdict, classify,
};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The largest object a single S3 `PUT` stores: 5 GiB. Larger files are refused before
/// presigning (they would need a multipart upload, which File Upload does not offer).
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Uploader settings. `Config::default()` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `sensor_id` sent with every presign request. Default: `toaster.localhost`, what the
    /// seed says the server assumes when it is omitted. Must not be empty.
    pub sensor_id: String,
    /// `service` sent with every presign request when set. Default: `Syslog`, what the
    /// contract's only working example sends (`"&service=Syslog"` in its
    /// `upload_file(endpoint, token, filename, sensorid = "toaster.localhost", service =
    /// "Syslog")`); `None` leaves the parameter out (it is not in the seed's parameter
    /// table, for a tenant that refuses it).
    pub service: Option<String>,
    /// Upload files that are not text (gzip-compressed, or not valid UTF-8) as they are.
    /// Default: false: such a file is refused before presigning
    /// ([`Error::NotText`], the rule of [`TextCheck`](crate::TextCheck)), since the
    /// contract takes "properly formatted log files" and normalizes their lines.
    pub allow_binary: bool,
    /// Files uploaded at once. Default: 2. At least 1.
    pub concurrency: usize,
    /// Presigned URLs tried per file: when S3 refuses a URL as expired or not matching
    /// (403), a new one is requested and the file sent again from its start, up to this
    /// many URLs in all. Default: 3. At least 1.
    pub max_presigns: u32,
    /// Bytes read from the file per chunk of the body. Default: 256 KiB. Between 4 KiB
    /// and 16 MiB.
    pub read_chunk: usize,
    /// Time allowed for a `PUT` beyond what its size needs at `put_min_bytes_per_sec`.
    /// Default: 60 s.
    pub put_timeout: Duration,
    /// The slowest upload rate tolerated: a `PUT` of `n` bytes may take
    /// `put_timeout + n / put_min_bytes_per_sec`. Default: 1 MiB/s. Above zero.
    pub put_min_bytes_per_sec: u64,
    /// Backoff and stop conditions of the presign request and of each presigned `PUT`
    /// (retried on 408, 429, 5xx, S3's 400 `RequestTimeout`, and transport failures).
    /// Default: the `logferry-retry` defaults (full jitter from 1 s, capped at 2 min),
    /// stopping after 10 attempts: the file is still on disk, so the failure is reported
    /// rather than retried forever.
    pub retry: logferry_retry::Config,
    /// The retry budget shared by all uploads of this uploader. Default:
    /// [`BudgetConfig::default`].
    pub budget: BudgetConfig,
    /// Token refresh and token request retries. Default: [`TokenConfig::default`].
    pub token: TokenConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sensor_id: DEFAULT_SENSOR_ID.to_owned(),
            service: Some(DEFAULT_SERVICE.to_owned()),
            allow_binary: false,
            concurrency: 2,
            max_presigns: 3,
            read_chunk: 256 * 1024,
            put_timeout: Duration::from_secs(60),
            put_min_bytes_per_sec: 1024 * 1024,
            retry: logferry_retry::Config {
                stop: Stop::after_attempts(10),
                ..logferry_retry::Config::default()
            },
            budget: BudgetConfig::default(),
            token: TokenConfig::default(),
        }
    }
}

impl Config {
    fn validate(&self) -> Result<(), Error> {
        let bad = |field, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.sensor_id.trim().is_empty() {
            return bad("sensor_id", "must not be empty");
        }
        if self.service.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return bad("service", "must not be empty when set");
        }
        if self.concurrency == 0 {
            return bad("concurrency", "must be at least 1");
        }
        if self.max_presigns == 0 {
            return bad("max_presigns", "must be at least 1");
        }
        if !(4 * 1024..=16 * 1024 * 1024).contains(&self.read_chunk) {
            return bad("read_chunk", "must be between 4 KiB and 16 MiB");
        }
        if self.put_min_bytes_per_sec == 0 {
            return bad("put_min_bytes_per_sec", "must be above zero");
        }
        Ok(())
    }
}

/// What happened to one file.
#[derive(Debug)]
#[non_exhaustive]
pub struct UploadReport {
    /// The file.
    pub path: PathBuf,
    /// The `file_name` presigned: the path's last component.
    pub file_name: String,
    /// Its size when the upload started (0 if it could not be read).
    pub bytes: u64,
    /// `PUT` attempts, over all presigned URLs.
    pub attempts: u32,
    /// Presigned URLs obtained.
    pub presigns: u32,
    /// From the start of the upload (after waiting for a concurrency slot) to its end.
    pub elapsed: Duration,
    /// `Ok` when S3 stored the file (200).
    pub result: Result<(), Error>,
}

impl UploadReport {
    /// True when the file was stored.
    pub fn is_delivered(&self) -> bool {
        self.result.is_ok()
    }
}

/// Counters over an uploader's life. File Upload sends files as they are, so bytes on
/// the wire equal the bytes read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Files stored.
    pub files_delivered: u64,
    /// Files that failed.
    pub files_failed: u64,
    /// Files not sent because of [`Uploader::shutdown`] (not counted in `files_failed`).
    pub files_not_sent: u64,
    /// Bytes of the files stored.
    pub bytes_delivered: u64,
    /// Bytes read and handed to the connection, over all `PUT` attempts (resent bytes
    /// counted again).
    pub bytes_sent: u64,
    /// `PUT` requests.
    pub put_requests: u64,
    /// Of which retries (the same presigned URL again).
    pub put_retries: u64,
    /// Presign requests.
    pub presign_requests: u64,
    /// Of which retries.
    pub presign_retries: u64,
    /// Token endpoint requests.
    pub token_requests: u64,
    /// Of which retries.
    pub token_retries: u64,
    /// Presign and `PUT` answers by HTTP status code (token requests are the token
    /// provider's, not counted here).
    pub requests_by_status: std::collections::BTreeMap<u16, u64>,
    /// Presign and `PUT` requests that got no answer (connection refused or reset,
    /// timeout, TLS).
    pub request_failures: u64,
    /// Presign and `PUT` requests on the wire now.
    pub in_flight: u64,
}

/// A step of an upload, for progress displays ([`Uploader::with_progress`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// The file was examined and is about to be presigned.
    Started {
        /// The file.
        path: &'a Path,
        /// Its size.
        bytes: u64,
    },
    /// A presigned URL was obtained (1 for the first).
    Presigned {
        /// The file.
        path: &'a Path,
        /// Which URL.
        presign: u32,
    },
    /// A chunk was read and handed to the connection.
    Read {
        /// The file.
        path: &'a Path,
        /// The `PUT` attempt (1-based, over all presigned URLs).
        attempt: u32,
        /// Bytes read in this attempt so far.
        read: u64,
        /// The file's size.
        total: u64,
    },
    /// A `PUT` attempt ended.
    AttemptEnded {
        /// The file.
        path: &'a Path,
        /// The attempt (1-based, over all presigned URLs).
        attempt: u32,
        /// How it was classified.
        verdict: &'a Verdict,
    },
}

type Observer = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

#[derive(Default)]
struct Counters {
    files_delivered: AtomicU64,
    files_failed: AtomicU64,
    files_not_sent: AtomicU64,
    bytes_delivered: AtomicU64,
    bytes_sent: Arc<AtomicU64>,
    put_requests: AtomicU64,
    put_retries: AtomicU64,
    presign_requests: AtomicU64,
    presign_retries: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Reads `path` through [`TextCheck`]: the file is refused before presigning when it is
/// gzip-compressed or not UTF-8. (A file that changes afterwards is caught by the size
/// check of the upload itself.)
async fn text_check(path: &Path) -> Result<(), Error> {
    use tokio::io::AsyncReadExt as _;
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io_error)?;
    let mut check = TextCheck::new();
    let mut buf = vec![0u8; 256 * 1024];
    let not_text = |problem| Error::NotText {
        path: path.to_path_buf(),
        problem,
    };
    loop {
        let n = file.read(&mut buf).await.map_err(io_error)?;
        if n == 0 {
            return check.finish().map_err(not_text);
        }
        check.push(&buf[..n]).map_err(not_text)?;
    }
}

/// Uploads files to Taegis XDR File Upload: access token → presigned URL → `PUT`.
///
/// From `taegis-file-upload-api.txt`, the process: "1. Generate an Access Token 2.
/// Request the S3 Presigned URL 3. PUT the log file". For each file:
///
/// 1. The file is examined: it must be a regular, non-empty file of at most
///    [`MAX_PUT_BYTES`]. An empty file is refused here: the contract does not say what an
///    empty upload means, and it holds no logs. Unless [`Config::allow_binary`], it is
///    read once through [`TextCheck`] and refused if gzip-compressed or not UTF-8.
/// 2. A token comes from the shared [`TokenProvider`]; the presign request names the file
///    (its last path component), its size, the sensor and optionally the service. It is
///    classified by [`classify::presign`]: a 401 refreshes the token once; 408, 429, 5xx
///    and transport failures are retried.
/// 3. The file is streamed from disk (never read whole) with exactly the presigned
///    `Content-Length` and no `Authorization` header (S3 refuses two authentication
///    mechanisms); no chunked encoding. The `PUT` is classified by
///    [`classify::s3_put`] from its status and S3 error code: retried on 5xx, 400
///    `RequestTimeout` and transport failures (the file is reopened and sent from its
///    start); on a 403 (`AccessDenied` for an expired URL, `SignatureDoesNotMatch`) the
///    file is presigned again, up to [`Config::max_presigns`] URLs. A file whose size
///    changes during the upload fails with [`Error::FileChanged`], and nothing is stored.
///
/// Uploads run concurrently up to [`Config::concurrency`], whether started with
/// [`Uploader::upload`] from several tasks or with [`Uploader::upload_many`].
pub struct Uploader {
    client: Client,
    endpoint: IngestUrl,
    tokens: Arc<TokenProvider>,
    config: Config,
    retrier: Retrier<TokioClock, FastRng>,
    permits: tokio::sync::Semaphore,
    shutting_down: AtomicBool,
    observer: Option<Observer>,
    counters: Counters,
}

impl fmt::Debug for Uploader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Uploader")
            .field("endpoint", &self.endpoint)
            .field("tokens", &self.tokens)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How one presign attempt ended.
enum PresignStep {
    Located(IngestUrl),
    Unauthorized(Option<String>),
    Refused(Error),
    Transient,
    /// No response ([`logferry_http::Error::verdict`] says whether it is retried).
    Failed(logferry_http::Error),
    Shutdown,
}

/// How one `PUT` attempt ended.
enum PutStep {
    Response(StatusCode, S3Error),
    /// No response ([`logferry_http::Error::verdict`] says whether it is retried).
    Failed(logferry_http::Error),
    File(Error),
    Shutdown,
}

/// How the `PUT`s on one presigned URL ended.
enum PutEnd {
    Stored,
    PresignAgain(String),
    Failed(Error),
}

impl Uploader {
    /// An uploader for `region` with its own [`TokenProvider`] for `credentials`.
    pub fn new(
        client: Client,
        region: &Region,
        credentials: Credentials,
        config: Config,
    ) -> Result<Uploader, Error> {
        let tokens = TokenProvider::new(
            client.clone(),
            region.endpoint(),
            credentials,
            config.token.clone(),
        )?;
        Uploader::with_tokens(client, region, Arc::new(tokens), config)
    }

    /// An uploader sharing `tokens` with other uploaders (`config.token` is not used).
    pub fn with_tokens(
        client: Client,
        region: &Region,
        tokens: Arc<TokenProvider>,
        config: Config,
    ) -> Result<Uploader, Error> {
        config.validate()?;
        let retrier = Retrier::from_config(&config.retry, config.budget).map_err(|e| {
            Error::InvalidConfig {
                field: "retry",
                reason: e.to_string(),
            }
        })?;
        Ok(Uploader {
            client: client.counted(Arc::new(logferry_http::RequestCounts::default())),
            endpoint: region.endpoint(),
            tokens,
            retrier,
            permits: tokio::sync::Semaphore::new(config.concurrency),
            config,
            shutting_down: AtomicBool::new(false),
            observer: None,
            counters: Counters::default(),
        })
    }

    /// Calls `observer` at each step of every upload (for progress bars). It runs inline,
    /// while reading the file: keep it quick.
    #[must_use]
    pub fn with_progress(
        mut self,
        observer: impl Fn(Progress<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The token provider (share it with [`Uploader::with_tokens`]).
    pub fn tokens(&self) -> &Arc<TokenProvider> {
        &self.tokens
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let http = self.client.counts();
        Stats {
            files_delivered: get(&c.files_delivered),
            files_failed: get(&c.files_failed),
            files_not_sent: get(&c.files_not_sent),
            bytes_delivered: get(&c.bytes_delivered),
            bytes_sent: get(&c.bytes_sent),
            put_requests: get(&c.put_requests),
            put_retries: get(&c.put_retries),
            presign_requests: get(&c.presign_requests),
            presign_retries: get(&c.presign_retries),
            token_requests: self.tokens.requests(),
            token_retries: self.tokens.retries(),
            requests_by_status: http.map(|h| h.by_status()).unwrap_or_default(),
            request_failures: http.map_or(0, |h| h.failures()),
            in_flight: http.map_or(0, |h| h.in_flight()),
        }
    }

    /// Stops gracefully: files not yet started are reported as not sent
    /// ([`Error::Shutdown`]); uploads in progress finish the attempt under way but are not
    /// retried or presigned again. (To stop at once, drop the upload futures: an
    /// interrupted `PUT` stores nothing.)
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// True after [`Uploader::shutdown`].
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Uploads many files, [`Config::concurrency`] at a time, yielding each report as its
    /// upload ends (so not in input order).
    pub fn upload_many<'a, I>(&'a self, paths: I) -> impl Stream<Item = UploadReport> + 'a
    where
        I: IntoIterator + 'a,
        I::Item: Into<PathBuf>,
        I::IntoIter: 'a,
    {
        stream::iter(paths)
            .map(move |path| {
                let path: PathBuf = path.into();
                async move { self.upload(&path).await }
            })
            .buffer_unordered(self.config.concurrency)
    }

    /// Uploads many files like [`Uploader::upload_many`] and returns the reports in input
    /// order.
    pub async fn upload_all<I>(&self, paths: I) -> Vec<UploadReport>
    where
        I: IntoIterator,
        I::Item: Into<PathBuf>,
    {
        let paths: Vec<PathBuf> = paths.into_iter().map(Into::into).collect();
        let mut indexed: Vec<(usize, UploadReport)> = stream::iter(paths.into_iter().enumerate())
            .map(|(i, path)| async move { (i, self.upload(&path).await) })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        indexed.sort_by_key(|(i, _)| *i);
        indexed.into_iter().map(|(_, report)| report).collect()
    }

    /// Uploads one file, waiting for a concurrency slot first.
    pub async fn upload(&self, path: impl AsRef<Path>) -> UploadReport {
        let path = path.as_ref();
        let mut report = UploadReport {
            path: path.to_path_buf(),
            file_name: file_name_of(path),
            bytes: 0,
            attempts: 0,
            presigns: 0,
            elapsed: Duration::ZERO,
            result: Ok(()),
        };
        let _permit = if self.is_shutting_down() {
            None
        } else {
            self.permits.acquire().await.ok()
        };
        let started = Instant::now();
        report.result = if self.is_shutting_down() {
            Err(Error::Shutdown {
                path: path.to_path_buf(),
            })
        } else {
            self.upload_file(path, &mut report).await
        };
        report.elapsed = started.elapsed();
        let c = &self.counters;
        match &report.result {
            Ok(()) => {
                bump(&c.files_delivered, 1);
                bump(&c.bytes_delivered, report.bytes);
                tracing::info!(
                    file = %path.display(),
                    bytes = report.bytes,
                    attempts = report.attempts,
                    presigns = report.presigns,
                    elapsed = ?report.elapsed,
                    "file uploaded"
                );
            }
            Err(e) if e.is_shutdown() => {
                bump(&c.files_not_sent, 1);
                tracing::info!(file = %path.display(), "file not uploaded: shutting down");
            }
            Err(e) => {
                bump(&c.files_failed, 1);
                tracing::error!(
                    file = %path.display(),
                    error = %e,
                    attempts = report.attempts,
                    presigns = report.presigns,
                    "file upload failed"
                );
            }
        }
        report
    }

    async fn upload_file(&self, path: &Path, report: &mut UploadReport) -> Result<(), Error> {
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = tokio::fs::metadata(path).await.map_err(io_error)?;
        if !meta.is_file() {
            return Err(Error::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let len = meta.len();
        report.bytes = len;
        if len == 0 {
            return Err(Error::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        if len > MAX_PUT_BYTES {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                size: len,
                limit: MAX_PUT_BYTES,
            });
        }
        if !self.config.allow_binary {
            text_check(path).await?;
        }
        self.notify(Progress::Started { path, bytes: len });
        let shared_path: Arc<Path> = path.into();
        let mut last_refusal = String::new();
        loop {
            if report.presigns >= self.config.max_presigns {
                return Err(Error::PresignsExhausted {
                    path: path.to_path_buf(),
                    presigns: report.presigns,
                    last: last_refusal,
                });
            }
            if report.presigns > 0 && self.is_shutting_down() {
                return Err(Error::Shutdown {
                    path: path.to_path_buf(),
                });
            }
            let location = self.presign(path, &report.file_name, len).await?;
            report.presigns += 1;
            self.notify(Progress::Presigned {
                path,
                presign: report.presigns,
            });
            match self.put(&shared_path, len, &location, report).await {
                PutEnd::Stored => return Ok(()),
                PutEnd::PresignAgain(last) => {
                    tracing::warn!(
                        file = %path.display(),
                        presigns = report.presigns,
                        refusal = %last,
                        "presigned URL refused; presigning again"
                    );
                    last_refusal = last;
                }
                PutEnd::Failed(e) => return Err(e),
            }
        }
    }

    /// A presigned URL for the file, refreshing the token once on a 401.
    async fn presign(&self, path: &Path, file_name: &str, len: u64) -> Result<IngestUrl, Error> {
        let url = presign_url(
            &self.endpoint,
            file_name,
            len,
            &self.config.sensor_id,
            self.config.service.as_deref(),
        )
        .map_err(Error::InvalidEndpoint)?;
        let mut token = self.tokens.token().await?;
        let mut refreshed = false;
        loop {
            let run = self
                .retrier
                .run(
                    |attempt| {
                        let (url, token) = (&url, &token);
                        async move {
                            if attempt > 1 && self.is_shutting_down() {
                                return Outcome::new(Verdict::Stop, PresignStep::Shutdown);
                            }
                            bump(&self.counters.presign_requests, 1);
                            if attempt > 1 {
                                bump(&self.counters.presign_retries, 1);
                            }
                            self.presign_once(url, token, file_name).await
                        }
                    },
                    |info| log_retry("presign request", path, info),
                )
                .await;
            let step = || format!("the presign request for `{file_name}`");
            match (run.finish, run.value) {
                (Finish::Delivered, PresignStep::Located(location)) => {
                    tracing::debug!(file = %path.display(), %location, "presigned");
                    return Ok(location);
                }
                (_, PresignStep::Unauthorized(message)) => {
                    if refreshed || !self.tokens.can_refresh() {
                        return Err(Error::AccessTokenRejected { refreshed, message });
                    }
                    tracing::info!(
                        generation = token.generation(),
                        "the presign endpoint refused the access token; refreshing it"
                    );
                    token = self.tokens.refresh(&token).await?;
                    refreshed = true;
                }
                (_, PresignStep::Refused(e)) => return Err(e),
                (Finish::GaveUp(GaveUp::Stopped), PresignStep::Failed(source)) => {
                    return Err(Error::Http {
                        step: step(),
                        source,
                    });
                }
                (_, PresignStep::Shutdown) => {
                    return Err(Error::Shutdown {
                        path: path.to_path_buf(),
                    });
                }
                (_, value) => {
                    let last = match value {
                        PresignStep::Failed(e) => format!("{}: {e}", run.last_verdict),
                        _ => run.last_verdict.to_string(),
                    };
                    return Err(Error::GaveUp {
                        step: step(),
                        attempts: run.attempts,
                        last,
                    });
                }
            }
        }
    }

    async fn presign_once(
        &self,
        url: &IngestUrl,
        token: &AccessToken,
        file_name: &str,
    ) -> Outcome<PresignStep> {
        let auth = match authorization("Bearer", token.secret()) {
            Ok(auth) => auth,
            Err(e) => return Outcome::new(Verdict::Stop, PresignStep::Failed(e)),
        };
        let request = self
            .client
            .request(Method::POST, url)
            .header(header::AUTHORIZATION, auth)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let classify = |response| presign_outcome(&response, file_name);
        self.client
            .exchange(request, full(""), None, classify, PresignStep::Failed)
            .await
    }

    /// `PUT`s the file to `location` under the retry policy.
    async fn put(
        &self,
        path: &Arc<Path>,
        len: u64,
        location: &IngestUrl,
        report: &mut UploadReport,
    ) -> PutEnd {
        let before = report.attempts;
        let timeout =
            self.config.put_timeout + Duration::from_secs(len / self.config.put_min_bytes_per_sec);
        let run = self
            .retrier
            .run(
                |attempt| async move {
                    if attempt > 1 && self.is_shutting_down() {
                        return Outcome::new(Verdict::Stop, PutStep::Shutdown);
                    }
                    bump(&self.counters.put_requests, 1);
                    if attempt > 1 {
                        bump(&self.counters.put_retries, 1);
                    }
                    self.put_once(path, len, location, before + attempt, timeout)
                        .await
                },
                |info| {
                    log_retry("upload", path, info);
                    self.notify(Progress::AttemptEnded {
                        path,
                        attempt: before + info.attempt,
                        verdict: info.verdict,
                    });
                },
            )
            .await;
        report.attempts = before + run.attempts;
        let describe = |value: &PutStep| match value {
            PutStep::Response(status, s3) => match (&s3.code, &s3.message) {
                (Some(code), Some(message)) => {
                    format!("http {} {code}: {message}", status.as_u16())
                }
                (Some(code), None) => format!("http {} {code}", status.as_u16()),
                _ => format!("http {}", status.as_u16()),
            },
            PutStep::Failed(e) => format!("{}: {e}", run.last_verdict),
            _ => run.last_verdict.to_string(),
        };
        match (run.finish, run.value) {
            (Finish::Delivered, _) => PutEnd::Stored,
            (_, PutStep::File(e)) => PutEnd::Failed(e),
            (_, PutStep::Shutdown) => PutEnd::Failed(Error::Shutdown {
                path: path.to_path_buf(),
            }),
            (Finish::GaveUp(GaveUp::Stopped), PutStep::Failed(source)) => {
                PutEnd::Failed(Error::Http {
                    step: format!("the upload of {}", path.display()),
                    source,
                })
            }
            (Finish::Reauthenticate, value) => PutEnd::PresignAgain(describe(&value)),
            (Finish::Split, value) => PutEnd::Failed(Error::NeedsMultipart {
                path: path.to_path_buf(),
                last: describe(&value),
            }),
            (Finish::GaveUp(GaveUp::Fatal(reason)), _) => PutEnd::Failed(Error::PutRefused {
                path: path.to_path_buf(),
                reason,
            }),
            (Finish::GaveUp(_), value) => PutEnd::Failed(Error::GaveUp {
                step: format!("the upload of {}", path.display()),
                attempts: run.attempts,
                last: describe(&value),
            }),
        }
    }

    async fn put_once(
        &self,
        path: &Arc<Path>,
        len: u64,
        location: &IngestUrl,
        attempt: u32,
        timeout: Duration,
    ) -> Outcome<PutStep> {
        let failure = FailureSlot::default();
        let sent = self.counters.bytes_sent.clone();
        let observer = self.observer.clone();
        let observed_path = path.clone();
        let on_read: OnRead = Arc::new(move |chunk, read| {
            sent.fetch_add(chunk, Ordering::Relaxed);
            if let Some(observer) = &observer {
                observer(Progress::Read {
                    path: &observed_path,
                    attempt,
                    read,
                    total: len,
                });
            }
        });
        let body = match FileBody::open(
            path.clone(),
            len,
            self.config.read_chunk,
            failure.clone(),
            Some(on_read),
        )
        .await
        {
            Ok(body) => body,
            Err(e) => return Outcome::new(Verdict::Stop, PutStep::File(e)),
        };
        // The signed length, exactly; no Authorization header (the URL's signature is the
        // credential, and S3 refuses a request carrying two).
        let request = self
            .client
            .request(Method::PUT, location)
            .header(header::CONTENT_LENGTH, HeaderValue::from(len));
        let classify = |response: http::Response<bytes::Bytes>| {
            let s3 = S3Error::parse(response.body());
            let verdict =
                classify::s3_put(response.status(), response.headers(), s3.code.as_deref());
            Outcome::new(verdict, PutStep::Response(response.status(), s3))
        };
        let outcome = self
            .client
            .exchange(
                request,
                body.boxed(),
                Some(timeout),
                classify,
                PutStep::Failed,
            )
            .await;
        // A file that changed or failed to read is the answer, whatever the server said.
        match failure.take() {
            Some(e) => Outcome::new(Verdict::Stop, PutStep::File(e)),
            None => outcome,
        }
    }

    fn notify(&self, progress: Progress<'_>) {
        if let Some(observer) = &self.observer {
            observer(progress);
        }
    }
}

/// A presign reply classified by [`classify::presign`], with the `location` of an
/// accepted one.
fn presign_outcome(
    response: &http::Response<bytes::Bytes>,
    file_name: &str,
) -> Outcome<PresignStep> {
    let status = response.status();
    let body = response.body();
    let verdict = classify::presign(status, response.headers());
    let step = match &verdict {
        Verdict::Delivered => match parse_presign_response(body) {
            Ok(location) => PresignStep::Located(location),
            Err(source) => {
                return Outcome::new(
                    Verdict::Stop,
                    PresignStep::Refused(Error::PresignResponse {
                        file_name: file_name.to_owned(),
                        source,
                    }),
                );
            }
        },
        // Refresh the token (once) and presign again.
        Verdict::Reauthenticate => PresignStep::Unauthorized(server_message(body)),
        Verdict::Retry { .. } => PresignStep::Transient,
        _ => PresignStep::Refused(Error::PresignRefused {
            file_name: file_name.to_owned(),
            status: status.as_u16(),
            message: server_message(body),
        }),
    };
    Outcome::new(verdict, step)
}

fn log_retry(what: &str, path: &Path, info: &AttemptInfo<'_>) {
    match info.next_delay {
        Some(delay) => tracing::warn!(
            file = %path.display(),
            attempt = info.attempt,
            verdict = %info.verdict,
            ?delay,
            "{what} failed; retrying"
        ),
        None => tracing::debug!(
            file = %path.display(),
            attempt = info.attempt,
            verdict = %info.verdict,
            "{what} attempt ended"
        ),
    }
}

/// The `file_name` presigned for `path`: its last component (a local directory layout is
/// nobody else's business).
fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "file".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_last_components() {
        assert_eq!(file_name_of(Path::new("/var/log/app/x.log")), "x.log");
        assert_eq!(file_name_of(Path::new("rel/a b.log")), "a b.log");
        assert_eq!(file_name_of(Path::new("/")), "file");
    }

    #[test]
    fn config_ranges() {
        let check = |config: Config| config.validate().map_err(|e| e.to_string());
        assert!(check(Config::default()).is_ok());
        for (config, message) in [
            (
                Config {
                    concurrency: 0,
                    ..Config::default()
                },
                "invalid file upload config: `concurrency` must be at least 1",
            ),
            (
                Config {
                    max_presigns: 0,
                    ..Config::default()
                },
                "invalid file upload config: `max_presigns` must be at least 1",
            ),
            (
                Config {
                    sensor_id: " ".into(),
                    ..Config::default()
                },
                "invalid file upload config: `sensor_id` must not be empty",
            ),
            (
                Config {
                    service: Some(String::new()),
                    ..Config::default()
                },
                "invalid file upload config: `service` must not be empty when set",
            ),
            (
                Config {
                    read_chunk: 100,
                    ..Config::default()
                },
                "invalid file upload config: `read_chunk` must be between 4 KiB and 16 MiB",
            ),
            (
                Config {
                    put_min_bytes_per_sec: 0,
                    ..Config::default()
                },
                "invalid file upload config: `put_min_bytes_per_sec` must be above zero",
            ),
        ] {
            assert_eq!(check(config).unwrap_err(), message);
        }
    }
}
