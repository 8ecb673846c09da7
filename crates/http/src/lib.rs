//! The one HTTP client of logferry's backends: hyper 1.x with hyper-util's pool, rustls
//! with the ring provider, and the rules that keep telemetry and credentials safe.
//!
//! Key types:
//! - [`Client`] and [`ClientConfig`]: pooled HTTP/1.1 + HTTP/2 (ALPN), webpki roots plus
//!   an optional extra CA file, connect and request timeouts, `User-Agent: logferry/<v>`;
//! - [`IngestUrl`]: `https://` anywhere, `http://` only for loopback hosts, never
//!   credentials in the URL, never a query string in `Display`;
//! - [`Secret`]: keys and tokens, `***` in `Debug` and `Display`;
//! - [`RequestCounts`]: a sender's requests by status code, failures without one, and
//!   requests on the wire, kept by a [`Client::counted`] handle;
//! - [`Error`]: opaque, with [`Error::is_retryable`] and [`FailureKind`] for the retry
//!   policy.
//!
//! Each transport crate (`logferry-taegis-ingest`, `logferry-taegis-upload`,
//! `logferry-sdl`) builds its requests and picks its contract's table; this crate moves
//! them, and [`Client::exchange`] runs one attempt for the retry policy: send, hand the
//! response to the caller's classifier, or turn a failure into a
//! [`Verdict`](logferry_retry::Verdict) ([`Error::verdict`]). It knows no API contract.
//!
//! ```no_run
//! # async fn demo() -> Result<(), logferry_http::Error> {
//! use logferry_http::{authorization, full, Client, ClientConfig, IngestUrl, Secret};
//! let client = Client::new(ClientConfig::default())?;
//! let url: IngestUrl = "https://ingest.example.com/http-endpoint/v1/abc".parse()?;
//! let key = Secret::new("integration-key");
//! let request = client
//!     .request(http::Method::POST, &url)
//!     .header(http::header::AUTHORIZATION, authorization("Bearer", &key)?)
//!     .header(http::header::CONTENT_TYPE, "text/plain")
//!     .body(full("hello world\n"))
//!     .expect("static headers are valid");
//! let response = client.send(request).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```

mod client;
mod counts;
mod error;
mod secret;
mod url;

pub use client::{Body, Client, ClientConfig, USER_AGENT_VALUE, authorization, full};
pub use counts::{OnTheWire, RequestCounts};
pub use error::{BoxError, Error, FailureKind, error_chain};
pub use secret::Secret;
pub use url::{IngestUrl, is_loopback, user_info};
