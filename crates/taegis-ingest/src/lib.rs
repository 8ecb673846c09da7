//! The Taegis XDR HTTP Ingest backend: batches of records POSTed to an integration URL,
//! retried as the contract says, split on 413, acknowledged in source order.
//!
//! Key types:
//! - [`IngestConfig`]: URL, key ([`Secret`](logferry_http::Secret)), [`AuthScheme`],
//!   [`ContentType`], gzip level, requests in flight, retry policy and budget;
//! - [`EncodedBatch`]: a body ready for the wire (what a spool stores, as an `LFB1`
//!   `logferry_spool::Entry`, and a retry resends);
//! - [`Ingest`]: the sender. [`Ingest::deliver`] takes one batch to the end,
//!   [`Ingest::ship`] drives a stream of them with bounded concurrency;
//! - [`Delivery`] and [`DeliveryStatus`]: each batch's fate, with the records the endpoint
//!   refused for good ([`Rejected`]) for the dead-letter file.
//!
//! # The contract, as this crate keeps it
//!
//! From `taegis-http-ingest-api.txt` (status table and retry strategy):
//!
//! | status | what the sender does |
//! |---|---|
//! | 200 | delivered: the batch's records are acknowledged |
//! | 400 | "MUST NOT retry without changes": the part is handed back as [`Rejected`] with its source range, the sender goes on |
//! | 401, 403 | "MUST NOT retry": the whole sender stops at once ([`StopReason::Unauthorized`]) with what to check |
//! | 404, 410 | the integration path is mistyped or deleted ("Operators SHOULD retrieve the exact URL from the XDR UI"): the whole sender stops at once ([`StopReason::WrongUrl`]) naming the URL to check; nothing is refused into the dead-letter file |
//! | 413 | "MUST NOT retry. Split the payload into smaller requests": split in half at record boundaries and resend, recursively; a single record still too large is [`Rejected`] |
//! | 408, 429, 5xx, transport failures | retried with full-jitter exponential backoff, `Retry-After` honoured, under a shared retry budget; a connection refused or reset is logged as a warning with its cause |
//! | untrusted TLS certificate | "All requests MUST be made over HTTPS": the whole sender stops at once ([`StopReason::UntrustedCertificate`]) saying what was wrong and what to check (the CA file, the host name) |
//! | anything else | by its class (RFC 9110), as the versioning section asks |
//!
//! "The HTTP Ingest API provides at-least-once delivery semantics": a batch is reported
//! delivered only after a 200 for every part of it; a batch that could not be finished is
//! reported [`NotDelivered`] and must be sent again (the CLI's spool does).
//!
//! This crate does no framing (see `logferry-framing`) and keeps nothing on disk (see
//! `logferry-spool`); it does not depend on the other backends.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use logferry_framing::{BatchConfig, Batcher, FramingConfig, LineFramer};
//! use logferry_http::{Client, ClientConfig, Secret};
//! use logferry_taegis_ingest::{Ingest, IngestConfig};
//! let config = IngestConfig::new(
//!     "https://ingest.example.com/http-endpoint/v1/abc".parse()?,
//!     Secret::new(std::env::var("HTTP_INGEST_KEY")?),
//! );
//! let ingest = Ingest::new(Client::new(ClientConfig::default())?, config)?;
//! let mut framer = LineFramer::new(FramingConfig::default());
//! let mut batcher = Batcher::new(BatchConfig::default(), None);
//! let mut batches = Vec::new();
//! let now = std::time::Instant::now();
//! framer.push(b"first record\nsecond record\n", |r| {
//!     if let Ok(r) = r { batcher.push(&r, now, |b| batches.push(b)) }
//! });
//! batcher.flush(|b| batches.push(b));
//! for batch in batches {
//!     let delivery = ingest.deliver(ingest.encode(batch).await).await;
//!     assert!(delivery.is_done(), "{:?}", delivery.status);
//! }
//! # Ok(()) }
//! ```

mod batch;
mod config;
mod error;
mod report;
mod sender;

pub use batch::EncodedBatch;
pub use config::{AuthScheme, ContentType, IngestConfig};
pub use error::Error;
pub use report::{Delivery, DeliveryStatus, IngestStats, NotDelivered, Rejected, StopReason};
pub use sender::Ingest;
