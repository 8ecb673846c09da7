//! logferry's one pipeline: any [`Source`] through framing, batching, the spool and any
//! [`Sink`], with acknowledgements back to the source.
//!
//! ```text
//! Source ─records+positions→ framing/batching ─Batch→ Sink::encode ─entry→ spool
//!        ─→ Sink::ship ─Report→ spool ack ─→ Source ack (checkpoint)
//! ```
//!
//! The two traits are the API boundaries: a new way in (followed files, syslog, an HTTP
//! receiver, a bus consumer) is one [`Source`] implementation; a new way out is one
//! [`Sink`]. [`run`] assembles them for every backend and reports one vocabulary of
//! [`Event`]s to a consumer that can stop the run by its return value (as ripgrep's
//! `Sink` does). The run keeps the [`Ledger`]: read = delivered + rejected + invalid +
//! undelivered.
//!
//! Sources here: [`Files`] (files, globs, stdin, read once) and [`Follow`] (log files
//! followed through rotation for `logferry run`, checkpointed in a
//! [`Registry`](logferry_source::follow::Registry)). Both frame through one frame loop
//! (a framer and a batcher per input, with linger deadlines honoured while idle). Sinks here:
//! [`HttpIngestSink`] (Taegis HTTP Ingest) and [`SdlSink`] (SentinelOne SDL); whole
//! files go to Taegis File Upload through [`file_upload::run`], whose unit is a file,
//! not a batch of records.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use logferry_framing::Format;
//! use logferry_http::{Client, ClientConfig, Secret};
//! use logferry_pipeline::{Files, FrontConfig, HttpIngestSink};
//! use logferry_source::{expand, SourceConfig};
//! use logferry_taegis_ingest::{Ingest, IngestConfig};
//! let ingest = Ingest::new(
//!     Client::new(ClientConfig::default())?,
//!     IngestConfig::new("https://ingest.example.com/http-endpoint/v1/abc".parse()?, Secret::new("key")),
//! )?;
//! let inputs = expand(["app.log"])?
//!     .iter()
//!     .map(|input| logferry_source::Source::open(input, &SourceConfig::default(), None))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let front = FrontConfig::new(Format::Text);
//! let sink = HttpIngestSink::new(ingest, &front.batching);
//! let ledger = logferry_pipeline::run(Files::new(inputs, None), &sink, front, None, |event| {
//!     println!("{event:?}");
//!     std::ops::ControlFlow::Continue(())
//! })
//! .await;
//! assert_eq!(ledger.undelivered(), 0);
//! # Ok(()) }
//! ```

mod durable;
#[cfg(feature = "file-upload")]
pub mod file_upload;
#[cfg(unix)]
mod follow;
mod front;
#[cfg(feature = "http-ingest")]
mod http_ingest;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "net")]
pub mod net;
mod run;
#[cfg(feature = "sdl")]
mod sdl;
mod sink;
mod source;

pub use durable::Durable;
#[cfg(unix)]
pub use follow::Follow;
#[cfg(feature = "http-ingest")]
pub use http_ingest::HttpIngestSink;
#[cfg(feature = "nats")]
pub use nats::{NatsSink, NatsSource};
pub use run::{Event, Flow, Ledger, run};
#[cfg(feature = "sdl")]
pub use sdl::{SdlJob, SdlSink};
pub use sink::{Control, Lost, Report, Sink, SinkStats};
pub use source::{Ack, Files, FrontConfig, Item, Source};

/// A tokio receiver as a stream.
pub(crate) fn receiver_stream<T>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

pub use logferry_http::error_chain as chain;
