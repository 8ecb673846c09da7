//! logferry as one crate: every backend under a short name, and the pipelines that
//! assemble them.
//!
//! The crates, re-exported whole:
//!
//! | name | crate | what it is |
//! |---|---|---|
//! | [`framing`] | `logferry-framing` | line and JSON framing, UTF-8/size policies, batching |
//! | [`compress`] | `logferry-compress` | gzip for batches and streams |
//! | [`retry`] | `logferry-retry` | response classification, backoff, retry budget |
//! | [`http`] | `logferry-http` | the HTTPS client, `IngestUrl`, `Secret` |
//! | [`source`] | `logferry-source` | file, stdin and glob inputs with checkpoints |
//! | [`spool`] | `logferry-spool` | the crash-safe on-disk queue |
//! | [`taegis_ingest`] | `logferry-taegis-ingest` | Taegis HTTP Ingest (feature `http-ingest`) |
//! | [`taegis_upload`] | `logferry-taegis-upload` | Taegis File Upload (feature `file-upload`) |
//! | [`sdl_transport`] | `logferry-sdl` | SentinelOne SDL `addEvents` (feature `sdl`) |
//! | [`sdl_model`] | `logferry-sdl-model` | the SDL event model (feature `sdl`) |
//!
//! The pipelines only assemble those stages — source, framing, batching, compression,
//! transport — and report what happened; no format, protocol or policy logic lives here.
//! [`frontend`] turns inputs into batches on two threads; [`http_ingest::run`] drives
//! them through an HTTP Ingest sender; [`file_upload::run`] uploads whole files, skipping
//! those already uploaded; [`sdl::run`] turns records into SDL events and ships them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use logferry::frontend::FrontConfig;
//! use logferry::framing::Format;
//! use logferry::http::{Client, ClientConfig, Secret};
//! use logferry::source::{expand, Source, SourceConfig};
//! use logferry::taegis_ingest::{Ingest, IngestConfig};
//! let ingest = Ingest::new(
//!     Client::new(ClientConfig::default())?,
//!     IngestConfig::new("https://ingest.example.com/http-endpoint/v1/abc".parse()?, Secret::new("key")),
//! )?;
//! let sources = expand(["app.log"])?
//!     .iter()
//!     .map(|input| Source::open(input, &SourceConfig::default(), None))
//!     .collect::<Result<Vec<_>, _>>()?;
//! logferry::http_ingest::run(&ingest, FrontConfig::new(Format::Text), sources, None, |event| {
//!     println!("{event:?}");
//! })
//! .await;
//! # Ok(()) }
//! ```

mod durable;
#[cfg(feature = "file-upload")]
pub mod file_upload;
pub mod frontend;
#[cfg(feature = "http-ingest")]
pub mod http_ingest;
#[cfg(feature = "sdl")]
pub mod sdl;

pub use durable::Durable;
pub use logferry_compress as compress;
pub use logferry_framing as framing;
pub use logferry_http as http;
pub use logferry_retry as retry;
#[cfg(feature = "sdl")]
pub use logferry_sdl as sdl_transport;
#[cfg(feature = "sdl")]
pub use logferry_sdl_model as sdl_model;
pub use logferry_source as source;
pub use logferry_spool as spool;
#[cfg(feature = "http-ingest")]
pub use logferry_taegis_ingest as taegis_ingest;
#[cfg(feature = "file-upload")]
pub use logferry_taegis_upload as taegis_upload;
