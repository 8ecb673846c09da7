//! The SentinelOne SDL transport of logferry: ships [`Event`]s to `POST /api/addEvents`
//! over a pool of sessions, and raw text to `POST /api/uploadLogs`.
//!
//! Key items:
//! - [`SdlSender`]: started from a [`logferry_http::Client`] and an [`SdlConfig`]; queue
//!   events with [`SdlSender::send`] / [`SdlSender::send_from`] /
//!   [`SdlSender::send_record`] / [`SdlSender::send_many`] (a bounded queue: they wait
//!   when it is full), then [`SdlSender::flush`], [`SdlSender::stats`],
//!   [`SdlSender::shutdown`] → [`ShutdownReport`];
//! - [`SdlSender::start_with_reports`] → [`Reports`]: one [`Report`] per request, with
//!   the caller's spool entry ids ([`Record::entry`]) and the server's
//!   `bytesCharged`, or the failed [`Record`]s to dead-letter;
//! - [`UploadLogs`]: raw text, one event per line, with a `Nonce` per request.
//!
//! # What the sender does, and the seed sentence behind it
//!
//! | behaviour | seed (`sdl-add-events-api.txt`) |
//! |---|---|
//! | each session a UUID made once when the sender starts it, reused for every request | "You can generate a UUID at process startup [...] Do not create a new session identifier for each request" |
//! | a constant `sessionInfo` per session, `serverHost` defaulting to the hostname | "sessionInfo must be the same for all requests with the same session value"; "Set at least the serverHost field with the hostname" |
//! | one request in flight per session; a retrying session does not hold up the others | "Only one request can be in-flight at a time for a session" |
//! | per-session token bucket of uncompressed bytes, 2.5 MB/s by default, never 10 MB in any 1 s | "We recommend you conservatively set each session to 2.5 MB/sec"; "Each session cannot exceed 10 MB/sec" |
//! | sessions fixed or added with load ([`Sessions::Auto`]) | "If you receive "backoff" (429) errors during sustained periods of high throughput, separate your events into multiple sessions" |
//! | batches by size (1 MB default, 6 MB at most) and linger (2 s default) | "The request body must be 6MB or less"; "group them into batches and send a batch every few seconds" |
//! | bodies gzipped (level 1) on the blocking pool | |
//! | `error/server…` retried even inside HTTP 200; 429 and 5xx retried; 401 / `noPermission` stops the sender | "If you receive 401 errors with a status of error/client/noPermission [...] the token is incorrect or invalid"; "5xx: Retry the request after a short delay" |
//! | a request too large for the server is split in two and resent | "If the request exceeds 6 MB the data is truncated" |
//! | `threads` from [`SdlConfig::threads`] | "Lets you create a readable name for each thread in events" |
//!
//! Bodies come from `logferry-sdl-model`'s `RequestBuilder`: exact sizes, times strictly
//! increasing per session, constant attributes of a source's events moved into `logs`.
//! Each event keeps its own time (up to 1 ns tie-breaks among equal times): every input
//! ([`Record::source`]) has sessions of its own, within [`SdlConfig::sessions`]'s maximum.
//! Only when no session is left for an input can an event older than its session's last
//! be moved after it; it then keeps its own time in the attribute `logferry_original_ts`
//! and is counted in [`Stats::events_ts_moved`].
//! The [`sender`] module describes the tasks; [`pacer`](SdlConfig::pacing) the pacing.
//!
//! This crate sits at the transport stage (`source → framing → sdl-model → compress →
//! transport → ack`). It does not read files, keep a spool or checkpoints: the caller acks
//! what [`Report::Delivered`] returns.
//!
//! # Performance
//!
//! On the 2-core development machine (other builds running), pacing and gzip off, an
//! in-process count-only emulator over plain loopback HTTP:
//!
//! | what | figure |
//! |---|---|
//! | small events (≈ 170 body bytes) through the sender (`benches/benches/sdl.rs`), `send_many` of 512 | 1.5–1.7 M events/s |
//! | the same, `send_record` one by one | 0.41–0.47 M events/s |
//! | NDJSON (≈ 400-byte Kubernetes lines) → `EventReader` → sender, 1 GB, 1 MB bodies, 4–8 sessions (`examples/ship_ndjson.rs`) | 101–118 MB/s of input, peak RSS 62–80 MB |
//! | the same, two converting threads, times as given | 112 MB/s, peak RSS 96 MB |
//!
//! Turning NDJSON lines into events is the ceiling of the last two rows (about 120 MB/s
//! on one core). (Before sources had sessions of their own, feeding one session events
//! from two sources whose times were far apart cut the rate to 45 MB/s: the builder raised
//! every late event past the session's last time.)
//!
//! # Example
//!
//! ```
//! use logferry_sdl::{Record, Report, SdlConfig, SdlSender, Sessions};
//! use logferry_sdl_model::{Event, Timestamp};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emu = logferry_emulator::Emulator::builder().start().await?;
//! # let (emulator_url, emulator_key, emulator_ca) =
//! #     (emu.base_url().to_owned(), emu.sdl_api_key().to_owned(), emu.ca_cert_pem().map(str::to_owned));
//! let client = logferry_http::Client::new(logferry_http::ClientConfig {
//!     ca_pem: emulator_ca, // trust the emulator's CA; omit for the real service
//!     ..Default::default()
//! })?;
//! let mut config = SdlConfig::new(emulator_url.parse()?, logferry_http::Secret::new(emulator_key));
//! config.sessions = Sessions::Fixed(2);
//! let (sender, mut reports) = SdlSender::start_with_reports(client, config)?;
//! for i in 0..10u64 {
//!     let event = Event::message(Timestamp::from_nanos(1_767_225_600_000_000_000 + i), format!("event {i}"));
//!     sender.send_record(Record::new(event).with_entry(i)).await?;
//! }
//! sender.flush().await?;
//! let mut acked = Vec::new();
//! while let Some(Report::Delivered(d)) = reports.try_recv() {
//!     acked.extend(d.entries);
//! }
//! acked.sort();
//! assert_eq!(acked, (0..10).collect::<Vec<_>>());
//! let report = sender.shutdown(Duration::from_secs(5)).await;
//! assert!(report.unsent.is_empty());
//! assert_eq!(report.stats.events_delivered, 10);
//! # emu.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod host;
mod pacer;
mod report;
pub mod sender;
mod stats;
mod stored;
mod upload;

pub use config::{Pacing, RECOMMENDED_SESSION_RATE, SESSION_RATE_CEILING, SdlConfig, Sessions};
pub use error::Error;
pub use host::hostname;
pub use logferry_sdl_model::Event;
pub use report::{Delivery, Failure, Record, Report, Reports, ShutdownReport};
pub use sender::SdlSender;
pub use stats::{SessionStats, Stats};
pub use stored::{Converted, InvalidRecord, StoredBatch};
pub use upload::{UploadLogs, UploadLogsConfig, UploadReport};
