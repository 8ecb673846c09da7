//! Session I/O: one `addEvents` attempt over `logferry-http`'s
//! [`Client::exchange`](logferry_http::Client::exchange), and what its answer means
//! (classification through `logferry-retry`). No state: the dispatcher decides when an
//! attempt starts and what follows it.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use logferry_http::error_chain as chain;
use logferry_http::{Client, IngestUrl, full};
use logferry_retry::{Outcome, classify};
use logferry_sdl_model::{AddEventsResponse, parse_response};
use std::time::Duration;

/// What one attempt brought back: the server's reply, parsed (`None` when its body is not
/// the documented JSON), or why no reply came (the transport failure, as text).
pub(crate) type Answer = Result<Option<AddEventsResponse>, String>;

/// Where and how a sender's requests go: the same for every session.
#[derive(Debug)]
pub(super) struct Exchange {
    pub(super) client: Client,
    pub(super) url: IngestUrl,
    pub(super) auth: HeaderValue,
    pub(super) request_timeout: Duration,
}

impl Exchange {
    /// Sends one request body (`gzip`: already compressed) and classifies the answer.
    pub(super) async fn attempt(&self, body: Bytes, gzip: bool) -> Outcome<Answer> {
        let mut builder = self
            .client
            .request(http::Method::POST, &self.url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json");
        if gzip {
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        self.client
            .exchange(
                builder,
                full(body),
                Some(self.request_timeout),
                classify_reply,
                no_reply,
            )
            .await
    }
}

/// What one `addEvents` or `uploadLogs` reply means for the retry policy: the seed's
/// table applied to the HTTP status and the body's `status` and `message` (a 200 can
/// carry `error/server/backoff`), with the parsed body kept for the caller. The
/// `on_response` of [`Client::exchange`](logferry_http::Client::exchange).
pub(crate) fn classify_reply(response: http::Response<Bytes>) -> Outcome<Answer> {
    let parsed = parse_response(response.body()).ok();
    let verdict = classify::sdl(
        response.status(),
        response.headers(),
        parsed.as_ref().map(|p| p.status_text.as_str()),
        parsed.as_ref().and_then(|p| p.message.as_deref()),
    );
    Outcome::new(verdict, Ok(parsed))
}

/// A request that got no reply: its error and causes as text, the `on_failure` of
/// [`Client::exchange`](logferry_http::Client::exchange). A failure that will be retried
/// (connection refused or reset, a timeout) is a warning with its cause, so an
/// unreachable endpoint is visible at the default verbosity while the sender keeps
/// trying.
pub(crate) fn no_reply(error: logferry_http::Error) -> Answer {
    let message = chain(&error);
    if error.is_retryable() {
        tracing::warn!("SDL request failed, will retry: {message}");
    }
    Err(message)
}
