//! Prometheus metrics, health and readiness for `logferry run`: the metric families,
//! their exposition, and the HTTP endpoints on `[api] listen`.
//!
//! - [`Observe`] holds the registry (one per process). [`Observe::route`] gives the
//!   daemon a [`Route`] per (sink, source) to count with as records move
//!   ([`Route::read`], [`Route::delivered`], ...), to hand the sink's cumulative totals
//!   to about once a second ([`Route::set_sink_stats`] with a [`SinkSnapshot`]), to
//!   report followed files' lag ([`Route::file_lag`]) and the route's [`State`].
//! - [`Observe::ready`] says whether every route is delivering or idle, with a JSON body
//!   naming those that are not and why; a route with records pending and no delivery
//!   for longer than [`Observe::set_ready_max_age`] is [`State::Stale`].
//! - [`serve`] binds the address and answers `GET /metrics`, `/health` and `/ready`
//!   until [`ServerHandle::shutdown`] (or drop).
//!
//! Where it sits: beside the pipeline, not in it. The daemon (`crates/cli`) converts
//! `logferry_pipeline::SinkStats` and the spool's state into a [`SinkSnapshot`]; this
//! crate depends on no other logferry crate.
//!
//! **Counters never go down.** Event counters are atomics shared with the exposition
//! (an atomic add on the hot path). A sink's totals start from zero with each sink
//! instance; each [`Route`] handle remembers the last totals it saw and adds only what
//! grew, and a restarted route (a new handle for the same sink and source) continues the
//! same series. [`Observe::remove`] drops a route's series (a route removed on reload).
//!
//! **Labels carry names only**: `sink` and `source` (names from the configuration),
//! `file` (a followed file's path), `code` (an HTTP status) and `version`. No URL, key or
//! header ever becomes a label.
//!
//! The exposition is the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]), which
//! `promtool check metrics` reads and every Prometheus-compatible scraper accepts. It is
//! encoded into a buffer kept between scrapes.
//!
//! # Metric families
//!
//! | name | type | labels | help |
//! |---|---|---|---|
//! | `logferry_build_info` | gauge | `version` | The logferry version running, as a label; the value is always 1 |
//! | `logferry_start_time_seconds` | gauge | | When the process started, in seconds since the Unix epoch |
//! | `logferry_source_records_read_total` | counter | `sink`, `source` | Records read from the source for this sink |
//! | `logferry_source_read_bytes_total` | counter | `sink`, `source` | Bytes of records read from the source for this sink |
//! | `logferry_source_records_invalid_total` | counter | `sink`, `source` | Records that could not be framed or converted (to the dead-letter file, never sent) |
//! | `logferry_sink_records_delivered_total` | counter | `sink`, `source` | Records the endpoint accepted |
//! | `logferry_sink_records_refused_total` | counter | `sink`, `source` | Records the endpoint refused for good (to the dead-letter file, never sent again) |
//! | `logferry_sink_records_dead_lettered_total` | counter | `sink`, `source` | Records written to the dead-letter file |
//! | `logferry_sink_delivered_raw_bytes_total` | counter | `sink`, `source` | Uncompressed bytes of records the endpoint accepted |
//! | `logferry_sink_delivered_wire_bytes_total` | counter | `sink`, `source` | Request body bytes on the wire (compressed when compressed) of accepted requests |
//! | `logferry_sink_requests_total` | counter | `sink`, `source`, `code` | HTTP requests answered, by status code (first tries and retries) |
//! | `logferry_sink_request_failures_total` | counter | `sink`, `source` | HTTP requests that got no answer (connection refused or reset, timeout, TLS failure) |
//! | `logferry_sink_retries_total` | counter | `sink`, `source` | HTTP requests that were retries of an earlier attempt |
//! | `logferry_sink_requests_in_flight` | gauge | `sink`, `source` | HTTP requests on the wire now |
//! | `logferry_sink_concurrency_limit` | gauge | `sink`, `source` | The current limit on requests in flight: adaptive concurrency, or SDL sessions open (one request each) |
//! | `logferry_spool_bytes` | gauge | `sink`, `source` | Bytes the route's spool holds on disk |
//! | `logferry_spool_entries` | gauge | `sink`, `source` | Entries (batches) in the route's spool not yet acknowledged |
//! | `logferry_sink_oldest_undelivered_age_seconds` | gauge | `sink`, `source` | Age of the oldest record read and not yet delivered, 0 when none is pending |
//! | `logferry_source_dropped_total` | counter | `sink`, `source`, `reason` | What a listening source dropped or refused, by reason (oversized and incomplete messages, kernel drops of UDP datagrams, connections over the limit or failing TLS, HTTP requests refused or answered busy) |
//! | `logferry_file_lag_bytes` | gauge | `sink`, `source`, `file` | Bytes between the read position and the end of a followed file |
//! | `logferry_route_ready` | gauge | `sink`, `source` | 1 while the route is delivering or idle, 0 while it is stopped, its spool is full or it is stale |
//!
//! (The same list is [`FAMILIES`]; a test checks this table, the list and the
//! exposition agree.) Everything is per route, sources included: a source read by two
//! sinks is two routes, each with its own reader.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use logferry_observe::{Observe, SinkSnapshot, State, serve};
//!
//! let observe = Observe::new("0.1.0");
//! let route = observe.route("taegis", "syslog");
//! route.read(10, 1_000);
//! route.delivered(10);
//! route.set_sink_stats(&SinkSnapshot {
//!     bytes_raw: 1_000,
//!     requests_by_status: [(200, 1)].into(),
//!     ..Default::default()
//! });
//! route.set_state(State::Stopped { reason: "401 Unauthorized".into() });
//! assert!(!observe.ready().0);
//!
//! let server = serve(observe.clone(), "127.0.0.1:0".parse()?).await?;
//! println!("metrics on http://{}/metrics", server.local_addr());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Not here: the delivery ledger's arithmetic, the spool's and files' own state (the
//! daemon reads them and passes numbers), and any push or remote-write exporter.

mod error;
mod metrics;
mod observe;
mod route;
mod server;

pub use error::Error;
pub use metrics::{FAMILIES, FamilyInfo};
pub use observe::{CONTENT_TYPE, Observe};
pub use route::{Route, SinkSnapshot, State};
pub use server::{ServerHandle, serve};
