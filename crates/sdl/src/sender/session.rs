//! Session I/O: one `addEvents` attempt over `logferry-http`, and what its answer means
//! (classification through `logferry-retry`). No state: the dispatcher decides when an
//! attempt starts and what follows it.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use logferry_http::{Client, IngestUrl, full};
use logferry_retry::{FatalReason, Outcome, classify};
use logferry_sdl_model::{AddEventsResponse, parse_response, status_matches};
use std::time::Duration;

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
    pub(super) async fn attempt(
        &self,
        body: Bytes,
        gzip: bool,
    ) -> Outcome<Option<AddEventsResponse>> {
        let mut builder = self
            .client
            .request(http::Method::POST, &self.url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json");
        if gzip {
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        let request = builder
            .body(full(body))
            .expect("a checked URL and static headers make a valid request");
        exchange_outcome(
            self.client
                .send_with_timeout(request, self.request_timeout)
                .await,
        )
    }
}

/// What one `addEvents` or `uploadLogs` exchange means for the retry policy: the seed's
/// table applied to the HTTP status and the body's `status` and `message` (a 200 can
/// carry `error/server/backoff`), with the parsed body kept for the caller; or the
/// transport failure's verdict when no response came.
pub(crate) fn exchange_outcome(
    result: Result<http::Response<Bytes>, logferry_http::Error>,
) -> Outcome<Option<AddEventsResponse>> {
    match result {
        Ok(response) => {
            let parsed = parse_response(response.body()).ok();
            let verdict = classify::sdl(
                response.status(),
                response.headers(),
                parsed.as_ref().map(|p| p.status_text.as_str()),
                parsed.as_ref().and_then(|p| p.message.as_deref()),
            );
            Outcome::new(verdict, parsed)
        }
        Err(e) => Outcome::new(classify::transport(&e.transport_failure()), None),
    }
}

/// Whether a fatal answer means the key itself is refused (so no request can succeed).
pub(super) fn key_refused(reason: &FatalReason) -> bool {
    matches!(reason.status().as_u16(), 401 | 403)
        || reason
            .server_status()
            .is_some_and(|s| status_matches(s, "error/client/noPermission"))
}
