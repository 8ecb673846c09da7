//! `uploadLogs`: raw text, one event per line.
//!
//! The seed: "If you want to import unstructured, raw log text, it is easier to use
//! uploadLogs." Its public docs (not in the seeds) give the rest, which is what this
//! module follows: `POST /api/uploadLogs`, the key as `Authorization: Bearer`, a
//! `text/plain` body with one event per line, the headers `server-host`, `logfile`,
//! `parser` and other `server-*` fields, and a `Nonce` header that makes a repeat within
//! about a minute a no-op. Every request gets a fresh nonce that its retries reuse, so a
//! retry of a request the server did receive (its reply lost) is not stored twice.
//!
//! Text larger than [`UploadLogsConfig::max_body_bytes`] is cut at line ends into several
//! requests, sent one after the other.

use crate::config::endpoint;
use crate::{Error, host};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue};
use logferry_compress::{Level, gzip_blocking};
use logferry_http::{Client, IngestUrl, Secret, authorization, full};
use logferry_retry::{BudgetConfig, FastRng, Finish, GaveUp, Retrier, TokioClock, classify};
use logferry_sdl_model::MAX_BODY_BYTES;
use std::time::Duration;

/// Options of an [`UploadLogs`] client. [`UploadLogsConfig::new`] sets the documented
/// defaults.
#[derive(Debug, Clone)]
pub struct UploadLogsConfig {
    /// The Singularity Data Lake URL; requests go to `<url>/api/uploadLogs` (a URL already
    /// ending so is used as is). No default.
    pub url: IngestUrl,
    /// A "Log Write Access" key, sent as `Authorization: Bearer`. No default. Never logged.
    pub key: Secret,
    /// The `server-host` header. Default: this machine's hostname.
    pub server_host: Option<String>,
    /// The `logfile` header: the log's name. Default: none.
    pub logfile: Option<String>,
    /// The `parser` header: the parser applied to each line. Default: none.
    pub parser: Option<String>,
    /// More `server-<name>` fields, as (`name`, value) pairs: `("region", "eu")` sends
    /// `server-region: eu`. Default: none.
    pub server_fields: Vec<(String, String)>,
    /// gzip level of bodies; `None` sends plain text. Default `None`: the uploadLogs docs
    /// describe a plain text body.
    pub compression: Option<Level>,
    /// The largest body. Default and maximum 6,000,000 bytes.
    pub max_body_bytes: usize,
    /// Backoff and stop conditions. Default: [`logferry_retry::Config::default`] (never
    /// give up). The nonce makes a retry a no-op only within the server's window (about a
    /// minute): a retry later than that, of a request the server did store, stores it
    /// again.
    pub retry: logferry_retry::Config,
    /// Time allowed for one attempt. Default: the client's `request_timeout`.
    pub request_timeout: Option<Duration>,
}

impl UploadLogsConfig {
    /// The defaults, for `url` and `key`.
    pub fn new(url: IngestUrl, key: Secret) -> UploadLogsConfig {
        UploadLogsConfig {
            url,
            key,
            server_host: None,
            logfile: None,
            parser: None,
            server_fields: Vec::new(),
            compression: None,
            max_body_bytes: MAX_BODY_BYTES,
            retry: logferry_retry::Config::default(),
            request_timeout: None,
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadReport {
    /// Requests sent (each confirmed).
    pub requests: u32,
    /// Attempts, retries included.
    pub attempts: u32,
    /// Lines uploaded.
    pub lines: u64,
    /// Body bytes, uncompressed.
    pub bytes: u64,
    /// The server's `bytesCharged`, summed.
    pub bytes_charged: u64,
    /// Requests the server answered as repeats of an earlier nonce (a success with a
    /// warning message: nothing was stored again).
    pub repeats: u32,
}

/// A client of `POST /api/uploadLogs`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use logferry_sdl::{UploadLogs, UploadLogsConfig};
/// let client = logferry_http::Client::new(Default::default())?;
/// let mut config = UploadLogsConfig::new(
///     "https://xdr.us1.sentinelone.net".parse()?,
///     logferry_http::Secret::new("log-write-key"),
/// );
/// config.logfile = Some("/var/log/app.log".into());
/// let uploader = UploadLogs::new(client, config)?;
/// let report = uploader.upload(b"first line\nsecond line\n").await?;
/// assert_eq!(report.lines, 2);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct UploadLogs {
    client: Client,
    url: IngestUrl,
    headers: http::HeaderMap,
    retrier: Retrier<TokioClock, FastRng>,
    compression: Option<Level>,
    max_body: usize,
    request_timeout: Duration,
}

impl UploadLogs {
    /// A client with `config`; fails on an invalid configuration.
    pub fn new(client: Client, config: UploadLogsConfig) -> Result<UploadLogs, Error> {
        let bad = |reason: String| Error::Config { reason };
        if config.key.is_empty() {
            return Err(bad("key is empty".to_owned()));
        }
        if !(1..=MAX_BODY_BYTES).contains(&config.max_body_bytes) {
            return Err(bad(format!(
                "max_body_bytes: {} is outside 1..={MAX_BODY_BYTES}",
                config.max_body_bytes
            )));
        }
        let url = endpoint(&config.url, "/api/uploadLogs")?;
        let mut headers = http::HeaderMap::new();
        let auth = authorization("Bearer", &config.key)
            .map_err(|_| bad("key: not a valid HTTP header value".to_owned()))?;
        headers.insert(AUTHORIZATION, auth);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let host = config.server_host.clone().unwrap_or_else(host::hostname);
        let mut fields = vec![("server-host".to_owned(), host)];
        fields.extend(config.logfile.clone().map(|v| ("logfile".to_owned(), v)));
        fields.extend(config.parser.clone().map(|v| ("parser".to_owned(), v)));
        for (name, value) in &config.server_fields {
            fields.push((format!("server-{name}"), value.clone()));
        }
        for (name, value) in fields {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| bad(format!("`{name}` is not a valid header name")))?;
            let value = HeaderValue::try_from(value)
                .map_err(|_| bad(format!("the value of `{name}` is not a valid header value")))?;
            headers.insert(header, value);
        }
        let retrier = Retrier::from_config(&config.retry, BudgetConfig::default())
            .map_err(|e| bad(format!("retry: {e}")))?;
        Ok(UploadLogs {
            request_timeout: config
                .request_timeout
                .unwrap_or(client.config().request_timeout),
            client,
            url,
            headers,
            retrier,
            compression: config.compression,
            max_body: config.max_body_bytes,
        })
    }

    /// Uploads `text`, one event per line (a last line without a line feed is an event
    /// too), in as many requests as the body limit needs, each with a fresh nonce.
    /// A single line longer than the limit is [`Error::EventTooLarge`], before anything
    /// is sent.
    pub async fn upload(&self, text: &[u8]) -> Result<UploadReport, Error> {
        let chunks = chunk_lines(text, self.max_body)?;
        let mut total = UploadReport::default();
        for chunk in chunks {
            let nonce = uuid::Uuid::new_v4().to_string();
            let r = self
                .upload_with_nonce(Bytes::copy_from_slice(chunk), &nonce)
                .await?;
            total.requests += r.requests;
            total.attempts += r.attempts;
            total.lines += r.lines;
            total.bytes += r.bytes;
            total.bytes_charged += r.bytes_charged;
            total.repeats += r.repeats;
        }
        Ok(total)
    }

    /// Uploads one body with the caller's `nonce` (for example derived from a spool
    /// position), so that replaying the same body with the same nonce within the server's
    /// window (about a minute) is a no-op. The body must fit the limit.
    pub async fn upload_with_nonce(&self, body: Bytes, nonce: &str) -> Result<UploadReport, Error> {
        if body.len() > self.max_body {
            return Err(Error::EventTooLarge {
                size: body.len(),
                limit: self.max_body,
            });
        }
        let nonce = HeaderValue::try_from(nonce).map_err(|_| Error::Config {
            reason: "nonce: not a valid header value".to_owned(),
        })?;
        let lines = line_count(&body);
        let raw_len = body.len() as u64;
        let wire = match self.compression {
            Some(level) => Bytes::from(gzip_blocking(body, level).await.1),
            None => body,
        };
        let report = self
            .retrier
            .run(
                |_| {
                    let wire = wire.clone();
                    let nonce = nonce.clone();
                    async move {
                        let mut builder = self.client.request(http::Method::POST, &self.url);
                        if let Some(h) = builder.headers_mut() {
                            h.extend(self.headers.clone());
                            h.insert("nonce", nonce);
                            if self.compression.is_some() {
                                h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                            }
                        }
                        self.client
                            .exchange(
                                builder,
                                full(wire),
                                Some(self.request_timeout),
                                crate::sender::classify_reply,
                                crate::sender::no_reply,
                            )
                            .await
                    }
                },
                |info| {
                    if let Some(delay) = info.next_delay {
                        tracing::debug!(attempt = info.attempt, verdict = %info.verdict, ?delay, "sdl uploadLogs will be retried");
                    }
                },
            )
            .await;
        match report.finish {
            Finish::Delivered => {
                let response = report.value.ok().flatten();
                let warning = response.as_ref().and_then(|r| r.warning());
                let repeat = warning.is_some_and(|w| w.to_ascii_lowercase().contains("nonce"));
                Ok(UploadReport {
                    requests: 1,
                    attempts: report.attempts,
                    lines,
                    bytes: raw_len,
                    bytes_charged: response.as_ref().and_then(|r| r.bytes_charged).unwrap_or(0),
                    repeats: u32::from(repeat),
                })
            }
            Finish::Split => Err(Error::EventTooLarge {
                size: raw_len as usize,
                limit: self.max_body,
            }),
            Finish::GaveUp(GaveUp::Fatal(reason)) if classify::credentials_refused(&reason) => {
                Err(Error::Stopped { reason })
            }
            // An untrusted certificate: no retry can succeed.
            Finish::GaveUp(GaveUp::Stopped) => Err(Error::Unreachable {
                message: report
                    .value
                    .err()
                    .unwrap_or_else(|| report.last_verdict.to_string()),
            }),
            Finish::GaveUp(GaveUp::Fatal(reason)) => Err(Error::Refused { reason }),
            Finish::GaveUp(_) | Finish::Reauthenticate => Err(Error::GaveUp {
                attempts: report.attempts,
                retry_after: report
                    .last_verdict
                    .retry_after(std::time::SystemTime::now()),
                last: report.last_verdict.to_string(),
            }),
        }
    }
}

/// Lines in a body: line feeds, plus one for an unterminated last line.
fn line_count(text: &[u8]) -> u64 {
    let feeds = text.iter().filter(|b| **b == b'\n').count() as u64;
    feeds + u64::from(!text.is_empty() && !text.ends_with(b"\n"))
}

/// Cuts `text` after line feeds into pieces of at most `limit` bytes.
fn chunk_lines(text: &[u8], limit: usize) -> Result<Vec<&[u8]>, Error> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let rest = &text[start..];
        if rest.len() <= limit {
            chunks.push(rest);
            break;
        }
        // The last line feed within the limit.
        match rest[..limit].iter().rposition(|b| *b == b'\n') {
            Some(i) => {
                chunks.push(&rest[..=i]);
                start += i + 1;
            }
            None => {
                let line = rest
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                return Err(Error::EventTooLarge { size: line, limit });
            }
        }
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_at_line_feeds_and_cover_the_text() {
        let text = b"aaaa\nbb\ncccccc\nd";
        let chunks = chunk_lines(text, 8).expect("every line fits");
        assert_eq!(chunks, [&b"aaaa\nbb\n"[..], b"cccccc\nd"]);
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunk_lines(b"", 8).expect("empty").len(), 0);
        let err = chunk_lines(b"a\nbbbbbbbbbbbb\nc", 8).expect_err("a line is too long");
        assert_eq!(
            err.to_string(),
            "event of 13 bytes cannot fit a 8-byte request"
        );
    }

    #[test]
    fn lines_are_counted_like_the_server() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"a"), 1);
        assert_eq!(line_count(b"a\n"), 1);
        assert_eq!(line_count(b"a\nb"), 2);
    }
}
