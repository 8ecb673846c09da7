//! What an HTTP Ingest sender is configured with.

use logferry_compress::Level;
use logferry_http::{IngestUrl, Secret};
use logferry_retry::{BudgetConfig, Config as RetryConfig};
use std::fmt;
use std::str::FromStr;

/// How the integration key is presented.
///
/// HTTP Ingest: "Clients SHOULD use the Bearer scheme as defined in RFC 6750 [...]
/// Clients designed to interoperate with the Splunk HTTP Event Collector (HEC) MAY
/// alternately present the credential using the Splunk scheme [...] Clients MUST NOT rely
/// on any other authentication scheme."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthScheme {
    /// `Authorization: Bearer <key>` (the default, as the contract recommends).
    #[default]
    Bearer,
    /// `Authorization: Splunk <key>`.
    Splunk,
}

impl AuthScheme {
    /// The scheme's token in the `Authorization` header.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Bearer => "Bearer",
            AuthScheme::Splunk => "Splunk",
        }
    }
}

impl FromStr for AuthScheme {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, crate::Error> {
        match s.to_ascii_lowercase().as_str() {
            "bearer" => Ok(AuthScheme::Bearer),
            "splunk" => Ok(AuthScheme::Splunk),
            _ => Err(crate::Error::Config(format!(
                "unknown auth scheme `{s}` (expected bearer or splunk)"
            ))),
        }
    }
}

/// The request `Content-Type`.
///
/// HTTP Ingest: "`text/plain`: Line-delimited log records, one log record per
/// newline-terminated line. `application/json`: Either a single JSON object per request
/// body, or one JSON object per newline-delimited line (JSON Lines / NDJSON)."
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentType {
    /// `text/plain`.
    #[default]
    Text,
    /// `application/json` (NDJSON bodies: one compact object per line).
    Json,
}

impl ContentType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Text => "text/plain",
            ContentType::Json => "application/json",
        }
    }
}

/// An HTTP Ingest integration and how to send to it. Build with
/// [`IngestConfig::new`], which sets the documented defaults.
#[derive(Clone)]
pub struct IngestConfig {
    /// The integration's URL, as shown in the XDR UI ("Operators SHOULD retrieve the exact
    /// URL from the XDR UI rather than constructing it manually").
    pub url: IngestUrl,
    /// The integration key.
    pub key: Secret,
    /// How the key is presented. Default: Bearer.
    pub auth: AuthScheme,
    /// Body content type. Default: text.
    pub content_type: ContentType,
    /// gzip level, or `None` for identity bodies. Default: level 1 ("Request bodies MAY
    /// be sent uncompressed or compressed with gzip").
    pub compression: Option<Level>,
    /// Requests in flight at once, at most. Default: 4. With
    /// [`adaptive_concurrency`](IngestConfig::adaptive_concurrency) the sender starts here
    /// and moves between 1 and this.
    pub concurrency: usize,
    /// Adapt the number of batches in flight to the endpoint (AIMD): halve it on a 429,
    /// a 503 or a timeout, grow it by one after as many deliveries in a row as the
    /// current limit, between 1 and [`concurrency`](IngestConfig::concurrency). HTTP
    /// Ingest: 429 "SHOULD be retried with backoff and reduced concurrency or batch
    /// size". Default: true; false keeps `concurrency` fixed.
    pub adaptive_concurrency: bool,
    /// A ceiling on the bytes put on the wire per second (request bodies, retries
    /// included), paced request by request so traffic is even. HTTP Ingest: "Clients
    /// SHOULD tune senders for steady, evenly distributed traffic and avoid bursts that
    /// compress many minutes of data into a few seconds." Default: none.
    pub rate: Option<std::num::NonZeroU64>,
    /// Backoff and stop conditions. Default: [`RetryConfig::default`] (1 s base, 2 min
    /// cap, Retry-After honoured up to 10 min, never give up).
    pub retry: RetryConfig,
    /// The retry budget shared by this sender's requests. Default: tower's (20% over 10 s
    /// plus 10 retries/s).
    pub budget: BudgetConfig,
}

impl IngestConfig {
    /// A configuration for `url` and `key` with every other setting at its default.
    pub fn new(url: IngestUrl, key: Secret) -> Self {
        Self {
            url,
            key,
            auth: AuthScheme::default(),
            content_type: ContentType::default(),
            compression: Some(Level::FAST),
            concurrency: 4,
            adaptive_concurrency: true,
            rate: None,
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
        }
    }
}

impl fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestConfig")
            .field("url", &self.url)
            .field("key", &self.key)
            .field("auth", &self.auth)
            .field("content_type", &self.content_type)
            .field("compression", &self.compression)
            .field("concurrency", &self.concurrency)
            .field("adaptive_concurrency", &self.adaptive_concurrency)
            .field("rate", &self.rate)
            .field("retry", &self.retry)
            .field("budget", &self.budget)
            .finish()
    }
}
