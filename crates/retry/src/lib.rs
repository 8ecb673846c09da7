//! What a logferry sender does with a response: classify it, wait, retry within a budget,
//! and stop.
//!
//! Key items:
//! - [`classify`]: one status table per contract ([`classify::http_ingest`],
//!   [`classify::sdl`], [`classify::s3_put`], [`classify::token_endpoint`],
//!   [`classify::presign`], [`classify::transport`]) turning a response into a [`Verdict`]: delivered, retry
//!   (with the server's [`RetryAfter`]), split, re-authenticate, or fatal with a
//!   [`FatalReason`] an operator can act on; a backend ends a run for a reason of its own
//!   with [`Verdict::Stop`];
//! - [`Policy`] (from a [`Config`]): full-jitter exponential backoff with `Retry-After` as
//!   a floor, and the [`Stop`] conditions;
//! - [`Budget`]: retries capped as a share of a sender's recent traffic, so an outage
//!   cannot become a retry storm;
//! - [`Retrier`]: the async driver that runs an operation under all three, on an injected
//!   [`Clock`] and [`Rng`], reporting each attempt and the final [`Report`]. Backends
//!   build theirs with [`Retrier::from_config`].
//!
//! This crate sits inside the transports (`… → spool → transport → ack`): every backend
//! classifies and schedules through it. It performs no I/O: it never sends a request, does
//! not parse response bodies (callers pass the SDL `status` string or the S3 error code
//! they parsed), and does not split batches or refresh credentials itself: it tells the
//! caller to.
//!
//! # Defaults
//!
//! - Backoff ([`Config`]): base 1 s, cap 2 minutes, `Retry-After` honoured up to 10
//!   minutes, never give up ([`Stop::never`]: the data waits in the spool or the source).
//! - Budget ([`BudgetConfig`], tower's defaults): over a 10 s window, retries may add 20% to
//!   a sender's first attempts, plus a reserve of 10 retries per second. An empty budget
//!   delays retries (rechecked every second); it never drops data.
//! - Split and re-authenticate end a run: the backend splits the batch, or refreshes its
//!   token or presigned URL, and runs again, bounding how many times it refreshes for one
//!   batch or file.
//!
//! # Example
//!
//! A backend's send loop, here against a scripted server under tokio's paused clock:
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use logferry_retry::{classify, BudgetConfig, Config, Finish, Outcome, Retrier};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let retrier = Retrier::from_config(&Config::default(), BudgetConfig::default()).expect("valid");
//! let replies = [503, 429, 200];
//! let report = retrier
//!     .run(
//!         |attempt| async move {
//!             // A real backend POSTs here; the reply's status and headers are classified.
//!             let status = StatusCode::from_u16(replies[attempt as usize - 1]).expect("valid");
//!             Outcome::new(classify::http_ingest(status, &HeaderMap::new()), status)
//!         },
//!         |info| println!("attempt {}: {}", info.attempt, info.verdict),
//!     )
//!     .await;
//! assert_eq!(report.finish, Finish::Delivered);
//! assert_eq!(report.attempts, 3);
//! assert_eq!(report.value, StatusCode::OK);
//! # }
//! ```

mod budget;
pub mod classify;
mod driver;
mod env;
mod error;
mod policy;
mod retry_after;
mod verdict;

pub use budget::{Budget, BudgetConfig};
pub use driver::{AttemptInfo, Outcome, Report, Retrier};
#[cfg(feature = "tokio")]
pub use env::TokioClock;
pub use env::{Clock, FastRng, Rng};
pub use error::Error;
pub use policy::{Config, Decision, Finish, GaveUp, Policy, Stop};
pub use retry_after::RetryAfter;
#[doc(hidden)]
pub use retry_after::fuzz_retry_after;
pub use verdict::{
    Contract, FatalReason, RetryCause, TransportFailure, Verdict, sanitize_server_text,
};
