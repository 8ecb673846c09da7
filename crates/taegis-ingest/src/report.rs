//! What happened to a batch, and to the sender.

use logferry_framing::SourceRange;
use std::fmt;

/// Why a sender stopped sending.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The endpoint refused the key (401 or 403). HTTP Ingest: "MUST NOT retry".
    Unauthorized {
        /// The full explanation with the operator action, from the retry policy.
        message: String,
    },
    /// The endpoint answered 404 Not Found or 410 Gone: the integration path is mistyped
    /// or the integration was deleted. Every request to that URL would fail alike, so the
    /// sender stops and what it did not send stays for a run with the corrected URL.
    /// HTTP Ingest: "The path uniquely identifies the integration"; "Operators SHOULD
    /// retrieve the exact URL from the XDR UI rather than constructing it manually."
    WrongUrl {
        /// The URL to check (shown without its query string; never the key).
        url: String,
        /// The full explanation with the operator action, naming the URL.
        message: String,
    },
    /// The server's TLS certificate is not trusted (signed by a CA the client does not
    /// trust, expired, not valid for the URL's host name): every request would fail
    /// alike, so the sender stops at once rather than retrying a setting an operator must
    /// fix ("All requests MUST be made over HTTPS").
    UntrustedCertificate {
        /// What was wrong with the certificate and what to check (the CA file, the host
        /// name).
        message: String,
    },
    /// [`Ingest::abort`](crate::Ingest::abort) was called (shutdown).
    Requested,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Unauthorized { message }
            | StopReason::WrongUrl { message, .. }
            | StopReason::UntrustedCertificate { message } => f.write_str(message),
            StopReason::Requested => f.write_str("the sender was stopped"),
        }
    }
}

/// Records the endpoint refused for good: never to be retried as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where the records came from.
    pub label: String,
    /// Why they were refused, with what to do about it.
    pub reason: String,
    /// How many records.
    pub records: u32,
    /// The records themselves (`\n`-terminated), for a dead-letter file.
    pub body: Vec<u8>,
}

/// Why a batch was not delivered (it stays undelivered: with a spool, it is replayed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotDelivered {
    /// The sender stopped.
    Stopped(StopReason),
    /// A stop condition of the retry policy (attempts or time) ran out.
    GaveUp(String),
    /// The batch could not be re-encoded for a split (a corrupt stored body).
    Broken(String),
}

impl fmt::Display for NotDelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotDelivered::Stopped(r) => write!(f, "not delivered: {r}"),
            NotDelivered::GaveUp(why) => write!(f, "not delivered: gave up ({why})"),
            NotDelivered::Broken(why) => write!(f, "not delivered: {why}"),
        }
    }
}

/// The fate of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Every record was accepted (200).
    Delivered,
    /// Every record was either accepted or refused for good; the refused parts are here
    /// for the dead-letter file. The batch is done: a checkpoint may pass it.
    PartlyRejected(Vec<Rejected>),
    /// Not every record was accepted or refused: the batch must be sent again later.
    NotDelivered(NotDelivered),
}

/// The report for one batch.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The batch's sequence number in its source.
    pub seq: u64,
    /// The source range it covers.
    pub range: SourceRange,
    /// Records in the batch.
    pub records: u32,
    /// What happened.
    pub status: DeliveryStatus,
    /// HTTP requests made for it (attempts, split parts included).
    pub requests: u32,
    /// Of those, retries.
    pub retries: u32,
    /// The spool entry id set with
    /// [`EncodedBatch::with_entry`](crate::EncodedBatch::with_entry).
    pub entry: u64,
    /// The whole batch when it was not delivered, so the caller can keep it (spool it,
    /// or write it to a dead-letter file). Parts already accepted are in it too: sending
    /// it again may duplicate them, which at-least-once delivery allows.
    pub undelivered: Option<crate::EncodedBatch>,
    /// When the batch was given up after retryable answers: how long the last of them
    /// asked not to be sent anything (its `Retry-After`, from when it arrived). A caller
    /// that hands the batch back to a queue (a NATS worker) waits at least this long.
    pub retry_after: Option<std::time::Duration>,
}

impl Delivery {
    /// True when the batch needs nothing more (delivered, or refused parts handed over):
    /// its source range may be acknowledged.
    pub fn is_done(&self) -> bool {
        !matches!(self.status, DeliveryStatus::NotDelivered(_))
    }
}

/// Totals of a sender since it was built.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IngestStats {
    /// Batches fully delivered.
    pub batches_delivered: u64,
    /// Records accepted.
    pub records_delivered: u64,
    /// Records refused for good (400, or a single record too large).
    pub records_rejected: u64,
    /// Batches left undelivered.
    pub batches_failed: u64,
    /// HTTP requests made.
    pub requests: u64,
    /// Of those, retries.
    pub retries: u64,
    /// 413 answers that led to a split.
    pub splits: u64,
    /// Uncompressed bytes accepted.
    pub raw_bytes: u64,
    /// Bytes on the wire for accepted requests.
    pub wire_bytes: u64,
    /// Answers that asked the sender to slow down (429, 503, timeouts); each cut the
    /// adaptive concurrency limit.
    pub throttled: u64,
    /// The current limit on batches in flight: the configured concurrency, or with
    /// adaptive concurrency where it stands now (1 to the configured concurrency).
    pub concurrency_limit: u64,
    /// HTTP answers by status code (first tries, retries and split parts).
    pub requests_by_status: std::collections::BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused or reset, timeout, TLS).
    pub request_failures: u64,
    /// Requests on the wire now.
    pub in_flight: u64,
}
