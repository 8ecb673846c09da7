//! The SentinelOne SDL `addEvents` event model: events, their parts, and request bodies
//! built within the 6 MB limit, with no I/O.
//!
//! Key items:
//! - [`Event`] with [`Timestamp`] (nanoseconds, written as a string; read from RFC 3339,
//!   the ISO 8601 forms logs carry and epoch numbers), [`Severity`] (0-6,
//!   parsed from numbers, syslog levels and the names of the seed's table and of
//!   [`EXTRA_NAMES`] in any case), thread, log and [`Attrs`]
//!   of [`AttrValue`]s (numbers stay numbers; nested JSON is flattened as the seed says);
//!   [`Event::from_json_object`] / [`Event::from_json_slice`] turn an NDJSON object into
//!   an event, and a [`Converter`] turns any framed record (a text line or a JSON
//!   object, [`RecordFormat`]) into one by the pipeline's rules;
//! - [`RequestBuilder`]: one per session; push events, receive [`ReadyRequest`]s whose
//!   bodies are at most [`Config::max_body_bytes`] long by exact accounting, with times
//!   strictly increasing across the session and constant attributes moved into `logs`
//!   (see the [`builder`] module for the layout and the rules);
//! - [`Event::bytes_charged`] and [`ReadyRequest::bytes_charged`]: the charge estimate
//!   (rules in [`charge`]);
//! - [`parse_request`] (simd-json) and [`parse_request_serde_json`]: validate and read a
//!   request body, errors naming the field and the event index;
//! - [`parse_response`]: the reply, with a hierarchical [`Status`].
//!
//! This crate sits at the batching stage of the SDL path
//! (`source → framing → sdl-model builder → compress → logferry-sdl transport`). It does
//! not open sessions, pace them, compress, retry or speak HTTP: `logferry-sdl` does, with
//! one [`RequestBuilder`] per session.
//!
//! # Performance
//!
//! Measured by `cargo bench -p logferry-benches --bench sdl_model` on the 2-core
//! development machine while other builds ran (load average 4 to 5), so these are floors;
//! ranges span three runs:
//!
//! | what | figure |
//! |---|---|
//! | building bodies, small events (≈ 170 body bytes each), times strictly increasing | 1.7–2.1 M events/s |
//! | the same, times as given | 3.0–3.3 M events/s |
//! | syslog-line events (≈ 220 bytes), strictly increasing / as given | 1.7–1.8 / 2.0–2.2 M events/s |
//! | Kubernetes events (≈ 930 bytes, 17 attributes) with the `logs` dedupe | 0.33–0.36 M events/s |
//! | [`parse_request`] (simd-json, body copy and validation included), 1 MB / 5.9 MB | 140–167 / 146–200 MiB/s |
//! | [`parse_request_serde_json`], 1 MB / 5.9 MB | 72–77 / 65–75 MiB/s |
//! | parse only: simd-json / serde_json `Value`, 5.9 MB | 270–330 / 90–150 MiB/s |
//! | NDJSON lines to events: [`EventReader`] / serde_json + [`Event::from_json_object`] | 127–180 / 97–170 MiB/s |
//! | NDJSON validation only: simd-json (reused buffers) / serde_json | 280–434 / 145–158 MiB/s |
//!
//! simd-json pays off on whole requests (2–2.5× on validated parsing) and on plain NDJSON
//! validation (about 2×); turning a line into an event is dominated by building its
//! attributes, so there the two parsers are close.
//!
//! The `logs` dedupe on a Kubernetes-style corpus (Vector `kubernetes_logs`-shaped lines
//! from 60 containers, metadata ≈ 80% of each event) saves 82% of request bytes with
//! 5.9 MB requests (77% after gzip level 1), 79% with 250 kB requests (72% after gzip).
//!
//! # Example
//!
//! ```
//! use logferry_sdl_model::{
//!     Attrs, Config, Event, RequestBuilder, Session, SessionHeader, SessionInfo, Severity,
//!     Timestamp, parse_request, parse_response, Status,
//! };
//!
//! let header = SessionHeader::new(Session::new("149d8290-7871-11e1-b0c4-0800200c9a66")?)
//!     .with_info(SessionInfo::with_server_host("prod-front-2"));
//! let mut builder = RequestBuilder::new(header, Config::default())?;
//! let attrs = Attrs::new()
//!     .with("message", "record retrieved")
//!     .with("recordId", 39217)
//!     .with("latency", 19.4);
//! let event = Event::new(Timestamp::from_nanos(1_667_443_947_000_000_000), attrs)
//!     .with_sev(Severity::Info);
//! assert_eq!(event.bytes_charged(None), 17 + 9 + 9);
//! assert!(builder.push(event)?.is_none());
//! let request = builder.finish().expect("one event pending");
//! assert_eq!(
//!     &request.body()[..],
//!     br#"{"session":"149d8290-7871-11e1-b0c4-0800200c9a66","sessionInfo":{"serverHost":"prod-front-2"},"events":[{"ts":"1667443947000000000","sev":3,"attrs":{"message":"record retrieved","recordId":39217,"latency":19.4}}]}"#
//! );
//! let parsed = parse_request(&mut request.body().to_vec())?;
//! assert_eq!(parsed.events.len(), 1);
//!
//! let reply = parse_response(br#"{"status":"error/server/backoff","message":"slow down"}"#)?;
//! assert_eq!(reply.status, Status::Backoff);
//! assert!(reply.status_is("error/server"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attrs;
pub mod builder;
pub mod charge;
mod convert;
mod error;
mod event;
pub mod fuzzing;
mod json;
mod numbers;
mod request;
mod response;
mod severity;
mod timestamp;

pub use attrs::{AttrValue, Attrs, Flatten};
pub use builder::{
    Config, Dedupe, MAX_BODY_BYTES, ORIGINAL_TS, Oversize, ReadyRequest, RequestBuilder,
    SessionHeader, Stats, Timestamps,
};
/// The string type of attribute keys and string values ([`AttrValue::String`]).
pub use compact_str::CompactString;
pub use convert::{Converter, RecordFormat};
pub use error::{Error, ParseError};
pub use event::{
    Event, EventReader, FromJsonConfig, Log, SEVERITY_KEYS, Session, SessionInfo, TIME_KEYS,
    Thread, Unreadable,
};
pub use request::{AddEventsRequest, Token, parse_request, parse_request_serde_json};
pub use response::{AddEventsResponse, Status, parse_response, status_matches};
pub use severity::{EXTRA_NAMES, SEED_NAMES, SYSLOG_LEVELS, Severity};
pub use timestamp::Timestamp;
