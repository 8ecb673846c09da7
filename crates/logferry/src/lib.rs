//! logferry as one crate: every crate under a short name, and nothing else.
//!
//! | name | crate | what it is |
//! |---|---|---|
//! | [`pipeline`] | `logferry-pipeline` | the one pipeline: the `Source` and `Sink` traits, `run`, the ledger |
//! | [`framing`] | `logferry-framing` | line and JSON framing, UTF-8/size policies, batching |
//! | [`compress`] | `logferry-compress` | gzip for batches and streams |
//! | [`retry`] | `logferry-retry` | response classification, backoff, retry budget |
//! | [`http`] | `logferry-http` | the HTTPS client, `IngestUrl`, `Secret` |
//! | [`source`] | `logferry-source` | file, stdin and glob inputs with checkpoints; followed files |
//! | [`spool`] | `logferry-spool` | the crash-safe on-disk queue, with verify and repair |
//! | [`config`] | `logferry-config` | the `logferry run` configuration file |
//! | [`observe`] | `logferry-observe` | Prometheus `/metrics`, `/health` and `/ready` |
//! | [`taegis_ingest`] | `logferry-taegis-ingest` | Taegis HTTP Ingest (feature `http-ingest`) |
//! | [`taegis_upload`] | `logferry-taegis-upload` | Taegis File Upload (feature `file-upload`) |
//! | [`sdl_transport`] | `logferry-sdl` | SentinelOne SDL `addEvents` (feature `sdl`) |
//! | [`sdl_model`] | `logferry-sdl-model` | the SDL event model (feature `sdl`) |
//! | [`nats`] | `logferry-nats` | NATS JetStream transport for scale-out (feature `nats`) |
//!
//! Like ripgrep's `grep` crate, this facade holds no logic of its own: the assembly of
//! the stages lives in [`pipeline`], each policy in the crate that owns it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use logferry::framing::Format;
//! use logferry::http::{Client, ClientConfig, Secret};
//! use logferry::pipeline::{Files, FrontConfig, HttpIngestSink};
//! use logferry::source::{expand, Source, SourceConfig};
//! use logferry::taegis_ingest::{Ingest, IngestConfig};
//! let ingest = Ingest::new(
//!     Client::new(ClientConfig::default())?,
//!     IngestConfig::new("https://ingest.example.com/http-endpoint/v1/abc".parse()?, Secret::new("key")),
//! )?;
//! let inputs = expand(["app.log"])?
//!     .iter()
//!     .map(|input| Source::open(input, &SourceConfig::default(), None))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let front = FrontConfig::new(Format::Text);
//! let sink = HttpIngestSink::new(ingest, &front.batching);
//! let ledger = logferry::pipeline::run(Files::new(inputs, None), &sink, front, None, |event| {
//!     println!("{event:?}");
//!     std::ops::ControlFlow::Continue(())
//! })
//! .await;
//! println!("{} records undelivered", ledger.undelivered());
//! # Ok(()) }
//! ```

pub use logferry_compress as compress;
pub use logferry_config as config;
pub use logferry_framing as framing;
pub use logferry_http as http;
#[cfg(feature = "nats")]
pub use logferry_nats as nats;
pub use logferry_observe as observe;
pub use logferry_pipeline as pipeline;
pub use logferry_retry as retry;
#[cfg(feature = "sdl")]
pub use logferry_sdl as sdl_transport;
#[cfg(feature = "sdl")]
pub use logferry_sdl_model as sdl_model;
pub use logferry_source as source;
pub use logferry_spool as spool;
#[cfg(feature = "net")]
/// `logferry-syslog`: syslog and Splunk HEC parsing for the network sources.
pub use logferry_syslog as syslog;
#[cfg(feature = "http-ingest")]
pub use logferry_taegis_ingest as taegis_ingest;
#[cfg(feature = "file-upload")]
pub use logferry_taegis_upload as taegis_upload;
