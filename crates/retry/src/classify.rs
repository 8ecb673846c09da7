//! One status table per contract: a response becomes a [`Verdict`].
//!
//! Classification is separate from scheduling: these functions decide *what* happens to a
//! request (delivered, retry, split, re-authenticate, fatal), and
//! [`credentials_refused`] which fatal verdicts stop a whole sender;
//! [`Policy`](crate::Policy)
//! decides *when*. They are pure: no clock, no I/O. A `Retry-After` header is parsed here
//! and resolved against the clock later ([`RetryAfter::delay_from`]).
//!
//! Statuses a table does not name are treated "per the broader class semantics defined in
//! RFC 9110" (HTTP Ingest contract, *Versioning*), for every contract:
//!
//! | class | verdict | why |
//! |---|---|---|
//! | 1xx | retry | not a final response: the request's fate is unknown, and delivery is at least once |
//! | 2xx | delivered | "the request was successfully received, understood, and accepted" (RFC 9110, 15.3) |
//! | 3xx | fatal | logferry does not follow redirects: the configured URL is wrong |
//! | 4xx | fatal | a client error: "MUST NOT retry without changes" |
//! | 5xx | retry | "an unrecognized 5xx status SHOULD be treated as retryable" |
//! | 600–999 | retry | RFC 9110, 15: process an invalid status "as if it had a 5xx (Server Error) status code" |

use crate::{Contract, FatalReason, RetryAfter, RetryCause, TransportFailure, Verdict};
use http::{HeaderMap, StatusCode};

/// Taegis XDR HTTP Ingest, from the contract's *Status Codes* table.
///
/// | status | verdict | contract text (Meaning / Recommended Client Action) |
/// |---|---|---|
/// | 200 | [`Delivered`](Verdict::Delivered) | "The request body was accepted for asynchronous processing." / "Continue." |
/// | 400 | [`Fatal`](Verdict::Fatal) | "The request was malformed, empty, or otherwise unparseable." / "MUST NOT retry without changes. Inspect the payload, headers, and encoding." |
/// | 401 | [`Fatal`](Verdict::Fatal) | "The Authorization header was missing or its credential was not recognized." / "MUST NOT retry. Verify the integration key and URL pair." |
/// | 403 | [`Fatal`](Verdict::Fatal) | "The credential was recognized but is no longer authorized (for example, the integration has been deleted)." / "MUST NOT retry. Generate a replacement integration if necessary." |
/// | 408 | [`Retry`](Verdict::Retry) | "The request did not complete in time." / "MAY be retried with backoff." |
/// | 413 | [`Split`](Verdict::Split) | "The request body exceeded the maximum accepted size." / "MUST NOT retry. Split the payload into smaller requests." |
/// | 429 | [`Retry`](Verdict::Retry) | "The request was rate-limited by platform protections." / "SHOULD be retried with backoff and reduced concurrency or batch size." |
/// | 500, 502, 503, 504 | [`Retry`](Verdict::Retry) | "A transient service-side error occurred." / "SHOULD be retried with backoff." |
/// | 404 | [`Fatal`](Verdict::Fatal) | not in the table; 4xx class. "Operators SHOULD retrieve the exact URL from the XDR UI rather than constructing it manually." |
/// | 410 | [`Fatal`](Verdict::Fatal) | not in the table; 4xx class: the integration path is gone ("Integrations may be deleted at any time from the XDR UI"). |
/// | other | by class | "treat unrecognized response codes per the broader class semantics defined in RFC 9110 (for example, an unrecognized 5xx status SHOULD be treated as retryable)" |
///
/// Every retry honours a valid `Retry-After` header as a floor on the next delay.
pub fn http_ingest(status: StatusCode, headers: &HeaderMap) -> Verdict {
    const C: Contract = Contract::HttpIngest;
    match status.as_u16() {
        200 => Verdict::Delivered,
        400 => fatal(
            C,
            status,
            "the request was malformed, empty, or otherwise unparseable",
            "MUST NOT retry without changes: inspect the payload, headers, and encoding",
        ),
        401 => fatal(
            C,
            status,
            "the Authorization header was missing or its credential was not recognized",
            "verify the integration key and URL pair",
        ),
        403 => fatal(
            C,
            status,
            "the credential was recognized but is no longer authorized (for example, the integration has been deleted)",
            "generate a replacement integration if necessary",
        ),
        404 => fatal(
            C,
            status,
            "no integration answers at this URL",
            "retrieve the exact URL from the XDR UI rather than constructing it manually",
        ),
        410 => fatal(
            C,
            status,
            "the integration at this URL is gone (deleted)",
            "retrieve the exact URL from the XDR UI; if the integration was deleted, create a new one and use its URL and key",
        ),
        413 => Verdict::Split,
        408 | 429 | 500 | 502 | 503 | 504 => retry(status, headers),
        _ => by_class(
            C,
            status,
            headers,
            "retrieve the exact URL from the XDR UI rather than constructing it manually",
            "MUST NOT retry without changes: inspect the payload, headers, and encoding",
        ),
    }
}

/// SentinelOne SDL `addEvents`: the HTTP status and the body's `status` string together.
///
/// `parsed_status` is the response body's `status` field (`None` when the body was not
/// JSON or had no `status`); `message` its `message` field. `status` strings are
/// hierarchical, slash-delimited ("success", "error/client/noPermission", ...) and may be
/// refined over time, so they match by component prefix: `error/server/backoff/x` is an
/// `error/server/backoff`.
///
/// Rules, first match wins:
///
/// 1. HTTP 413, or a 4xx (not 408 or 429) / `error/client…` whose message says the
///    request is too large (a size, not a rate) →
///    [`Split`](Verdict::Split). "The request body must be 6MB or less"; "If the request
///    exceeds 6 MB the data is truncated."
/// 2. `error/server…` (including `error/server/backoff`) → [`Retry`](Verdict::Retry),
///    even inside an HTTP 200: the server says the fault is its own.
/// 3. HTTP 408, 429, 5xx → [`Retry`](Verdict::Retry). 429: "If you receive 429 'backoff'
///    errors during sustained periods of high throughput, separate your events into
///    multiple sessions." 5xx: "Retry the request after a short delay."
/// 4. `error/client/noPermission…`, or HTTP 401 / 403 → [`Fatal`](Verdict::Fatal): "If you
///    receive 401 errors with a status of error/client/noPermission or
///    error/client/noPermission/accountDisabled, the token is incorrect or invalid."
/// 5. Other `error/client…`, or HTTP 400 → [`Fatal`](Verdict::Fatal): "Check your request
///    syntax. … The addEvents endpoint cannot handle malformed JSON."
/// 6. `success…` with a 2xx → [`Delivered`](Verdict::Delivered) ("If the request is a
///    success: {"bytesCharged":0,"status": "success"}"; "A 'success' may have a warning
///    message").
/// 7. Any other 2xx (no parseable `status`, an unknown one, a bare `error`) →
///    [`Retry`](Verdict::Retry) as [`RetryCause::Unconfirmed`]: a 2xx alone is not a
///    success, and at-least-once delivery sends what is not confirmed again.
/// 8. Anything else by its HTTP class (see the module docs).
pub fn sdl(
    status: StatusCode,
    headers: &HeaderMap,
    parsed_status: Option<&str>,
    message: Option<&str>,
) -> Verdict {
    const C: Contract = Contract::SdlAddEvents;
    let is = |prefix: &str| parsed_status.is_some_and(|s| has_component_prefix(s, prefix));
    // A size complaint splits only when the fault is the client's: not a backoff (429,
    // 408, or an `error/server…` body), whose message can speak of a rate ("Each
    // session cannot exceed 10 MB/sec").
    let client_side = is("error/client")
        || (status.is_client_error() && !is_transient(status) && !is("error/server"));

    if status == StatusCode::PAYLOAD_TOO_LARGE
        || (client_side && message.is_some_and(says_too_large))
    {
        return Verdict::Split;
    }
    if is("error/server") {
        return Verdict::Retry {
            not_before: RetryAfter::from_headers(headers),
            cause: RetryCause::Reported {
                status,
                code: parsed_status.unwrap_or_default().to_owned(),
            },
        };
    }
    if is_transient(status) {
        return retry(status, headers);
    }
    if refuses_credentials(status, parsed_status) {
        return Verdict::Fatal {
            reason: FatalReason::new(
                C,
                status,
                "the token is incorrect or invalid",
                "use a valid Log Write Access key (console user API tokens expire; a Log Write Access key is recommended for an integration)",
            )
            .with_server_text(parsed_status, message),
        };
    }
    if is("error/client") || status == StatusCode::BAD_REQUEST {
        return Verdict::Fatal {
            reason: FatalReason::new(
                C,
                status,
                "the request was refused as the client's fault",
                "check your request syntax: the addEvents endpoint cannot handle malformed JSON",
            )
            .with_server_text(parsed_status, message),
        };
    }
    if status.is_success() {
        return if is("success") {
            Verdict::Delivered
        } else {
            Verdict::Retry {
                not_before: RetryAfter::from_headers(headers),
                cause: RetryCause::Unconfirmed(status),
            }
        };
    }
    by_class(
        C,
        status,
        headers,
        "use the Singularity Data Lake URL for your datacenter, ending in /api/addEvents",
        "check your request syntax",
    )
    .with_server_text(parsed_status, message)
}

/// The S3 PUT of a Taegis File Upload presigned URL.
///
/// The contract's step 3, "PUT the log file", counts only 200 as success
/// (`if response.status_code == 200: print("Upload success!…")`). The failure rows follow
/// S3's documented error responses (`s3_error_code` is the `<Code>` of S3's XML error body,
/// `None` if there was none or it did not parse):
///
/// | status | code | verdict | why |
/// |---|---|---|---|
/// | 200 | | [`Delivered`](Verdict::Delivered) | the object was stored |
/// | 400 | `RequestTimeout` | [`Retry`](Verdict::Retry) | S3 timed out reading the body |
/// | 400 | `ExpiredToken`, `TokenRefreshRequired` | [`Reauthenticate`](Verdict::Reauthenticate) | the signer's session credential expired: presign again |
/// | 400 | `EntityTooLarge` | [`Split`](Verdict::Split) | above S3's single-PUT size: upload the file in parts |
/// | 400 | other | [`Fatal`](Verdict::Fatal) | |
/// | 403 | `SignatureDoesNotMatch`, `AccessDenied` (how S3 reports an expired presigned URL), `ExpiredToken`, `InvalidToken`, `TokenRefreshRequired`, none | [`Reauthenticate`](Verdict::Reauthenticate) | the presigned URL is a credential that expired or no longer matches: presign again, a bounded number of times |
/// | 403 | other | [`Fatal`](Verdict::Fatal) | for example `AccountProblem`, `AllAccessDisabled` |
/// | 413 | | [`Split`](Verdict::Split) | |
/// | 408, 429, 500, 503 (`SlowDown`), other 5xx | | [`Retry`](Verdict::Retry) | transient |
/// | other | | by class | |
pub fn s3_put(status: StatusCode, headers: &HeaderMap, s3_error_code: Option<&str>) -> Verdict {
    const C: Contract = Contract::S3Put;
    let code = s3_error_code.map(str::trim);
    match (status.as_u16(), code) {
        (200, _) => Verdict::Delivered,
        (400, Some("RequestTimeout")) => Verdict::Retry {
            not_before: RetryAfter::from_headers(headers),
            cause: RetryCause::Reported {
                status,
                code: "RequestTimeout".to_owned(),
            },
        },
        (400, Some("ExpiredToken" | "TokenRefreshRequired")) => Verdict::Reauthenticate,
        (400, Some("EntityTooLarge")) | (413, _) => Verdict::Split,
        (400, _) => Verdict::Fatal {
            reason: FatalReason::new(
                C,
                status,
                "S3 refused the upload request",
                "check the S3 error code; the file name, content length and sensor id sent to the presign request must match the PUT",
            )
            .with_server_text(code, None),
        },
        (
            403,
            None
            | Some(
                "SignatureDoesNotMatch" | "AccessDenied" | "ExpiredToken" | "InvalidToken"
                | "TokenRefreshRequired",
            ),
        ) => Verdict::Reauthenticate,
        (403, _) => Verdict::Fatal {
            reason: FatalReason::new(
                C,
                status,
                "S3 refused access for a reason a new presigned URL cannot fix",
                "check the S3 error code and the Taegis tenant's File Upload access",
            )
            .with_server_text(code, None),
        },
        _ if is_transient(status) => retry(status, headers),
        _ => by_class(
            C,
            status,
            headers,
            "upload to the exact location returned by the presign request",
            "check the S3 error code",
        )
        .with_server_text(code, None),
    }
}

/// The Taegis OAuth client-credentials token endpoint (File Upload: "Before proceeding,
/// complete the API Authentication steps in order to obtain a working access token").
///
/// | status | verdict | why |
/// |---|---|---|
/// | 200 | [`Delivered`](Verdict::Delivered) | a token was issued |
/// | 400, 401 | [`Fatal`](Verdict::Fatal) | `invalid_client` / `invalid_grant` (RFC 6749, 5.2): the client credentials are wrong |
/// | 403 | [`Fatal`](Verdict::Fatal) | the client may not obtain tokens |
/// | 408, 429, 5xx | [`Retry`](Verdict::Retry) | transient |
/// | other | by class | |
pub fn token_endpoint(status: StatusCode, headers: &HeaderMap) -> Verdict {
    const C: Contract = Contract::TokenEndpoint;
    match status.as_u16() {
        200 => Verdict::Delivered,
        400 | 401 => fatal(
            C,
            status,
            "the client credentials were refused (invalid client)",
            "verify the client ID and client secret, and that the API URL is your region's",
        ),
        403 => fatal(
            C,
            status,
            "the client is not allowed to obtain an access token",
            "check the API client's permissions in the XDR UI",
        ),
        _ if is_transient(status) => retry(status, headers),
        _ => by_class(
            C,
            status,
            headers,
            "use your region's API URL (US1, US2, US3 or EU) exactly",
            "verify the client ID and client secret",
        ),
    }
}

/// The Taegis File Upload presign request, `POST {endpoint}/s3-signer/v2/signed-s3url`
/// (`taegis-file-upload-api.txt`, step 2: "Request the S3 Presigned URL"; "Returns a URL
/// in which you can PUT your logs").
///
/// The seed's script takes only a success: `if response.status_code != 200:
/// print("Failed to request a pre-signed url with error: …")`, then `url =
/// res['location']`. The caller reads `location` from a delivered reply's body.
///
/// | status | verdict | why |
/// |---|---|---|
/// | 2xx | [`Delivered`](Verdict::Delivered) | the body holds the `location` to `PUT` to |
/// | 401 | [`Reauthenticate`](Verdict::Reauthenticate) | the access token was refused ("Before proceeding, complete the API Authentication steps in order to obtain a working access token"): refresh it and presign again, a bounded number of times |
/// | 400 | [`Fatal`](Verdict::Fatal) | the request's parameters (`file_name`, `content_length`, `sensor_id`) were refused |
/// | 403 | [`Fatal`](Verdict::Fatal) | the token is valid but may not request upload URLs |
/// | 408, 429, 5xx | [`Retry`](Verdict::Retry) | transient |
/// | other | by class | 1xx retried; 3xx, 404 and other 4xx fatal |
pub fn presign(status: StatusCode, headers: &HeaderMap) -> Verdict {
    const C: Contract = Contract::Presign;
    match status.as_u16() {
        200..=299 => Verdict::Delivered,
        401 => Verdict::Reauthenticate,
        400 => fatal(
            C,
            status,
            "the presign request was refused",
            "check the file name, content length and sensor id (and the service, if one is set)",
        ),
        403 => fatal(
            C,
            status,
            "the access token may not request upload URLs",
            "check the API client's File Upload permissions in the XDR UI",
        ),
        _ if is_transient(status) => retry(status, headers),
        _ => by_class(
            C,
            status,
            headers,
            "use your region's API URL (US1, US2, US3 or EU) exactly",
            "check the presign request's parameters",
        ),
    }
}

/// A request that got no response.
///
/// Every kind but an untrusted certificate retries: the connection may come back
/// (refused, reset, timeout) and delivery is at least once, so a request that may or may
/// not have arrived is sent again. A TLS failure that is not about the certificate (a
/// handshake cut short, an alert) retries too; the retry budget and stop conditions bound
/// it.
///
/// [`TransportFailure::Certificate`] is [`Verdict::Stop`]: a certificate the client does
/// not trust (wrong or missing CA, expired, wrong host name) is refused identically on
/// every attempt, and the HTTP Ingest contract makes TLS the only transport ("All
/// requests MUST be made over HTTPS"), so retrying it would only hide, for as long as the
/// stop conditions allow, a setting an operator must fix.
pub fn transport(failure: &TransportFailure) -> Verdict {
    match failure {
        TransportFailure::Certificate => Verdict::Stop,
        _ => Verdict::Retry {
            not_before: None,
            cause: RetryCause::Transport(*failure),
        },
    }
}

/// Whether a fatal verdict means the credential itself was refused, so that no request
/// of the sender can succeed until an operator replaces it: the one rule every backend
/// stops on.
///
/// - HTTP 401 or 403, in every contract. HTTP Ingest: 401 "The Authorization header was
///   missing or its credential was not recognized" / "MUST NOT retry. Verify the
///   integration key and URL pair."; 403 "The credential was recognized but is no longer
///   authorized" / "MUST NOT retry. Generate a replacement integration if necessary."
/// - An SDL `error/client/noPermission…` status, whatever the HTTP status: "If you
///   receive 401 errors with a status of error/client/noPermission or
///   error/client/noPermission/accountDisabled, the token is incorrect or invalid."
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use logferry_retry::{classify, Verdict};
/// let Verdict::Fatal { reason } = classify::http_ingest(StatusCode::FORBIDDEN, &HeaderMap::new()) else {
///     unreachable!("403 is fatal")
/// };
/// assert!(classify::credentials_refused(&reason));
/// ```
pub fn credentials_refused(reason: &FatalReason) -> bool {
    refuses_credentials(reason.status(), reason.server_status())
}

/// Whether a fatal verdict means the URL itself names nothing (404 Not Found, 410 Gone),
/// so that no request to it can succeed until an operator corrects it: a sender stops on
/// it as on a refused credential ([`credentials_refused`]), and keeps what it did not send
/// for the corrected run.
///
/// HTTP Ingest: "The path uniquely identifies the integration"; "Operators SHOULD retrieve
/// the exact URL from the XDR UI rather than constructing it manually"; "Integrations may
/// be deleted at any time from the XDR UI". A mistyped or deleted integration path is the
/// same for every request of the sender: retrying each batch, or refusing each one as a
/// bad request, would drain the whole input into the dead-letter file.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use logferry_retry::{classify, Verdict};
/// let Verdict::Fatal { reason } = classify::http_ingest(StatusCode::NOT_FOUND, &HeaderMap::new()) else {
///     unreachable!("404 is fatal")
/// };
/// assert!(classify::url_refused(&reason));
/// assert!(!classify::credentials_refused(&reason));
/// ```
pub fn url_refused(reason: &FatalReason) -> bool {
    matches!(reason.status().as_u16(), 404 | 410)
}

/// [`credentials_refused`] on a status and a body's status string.
fn refuses_credentials(status: StatusCode, body_status: Option<&str>) -> bool {
    matches!(status.as_u16(), 401 | 403)
        || body_status.is_some_and(|s| has_component_prefix(s, "error/client/noPermission"))
}

fn retry(status: StatusCode, headers: &HeaderMap) -> Verdict {
    Verdict::Retry {
        not_before: RetryAfter::from_headers(headers),
        cause: RetryCause::Status(status),
    }
}

fn fatal(
    contract: Contract,
    status: StatusCode,
    meaning: &'static str,
    action: &'static str,
) -> Verdict {
    Verdict::Fatal {
        reason: FatalReason::new(contract, status, meaning, action),
    }
}

/// 408, 429, 5xx and invalid (600–999) statuses: retry with backoff in every contract.
fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500..=999)
}

/// The RFC 9110 class rules of the module docs.
fn by_class(
    contract: Contract,
    status: StatusCode,
    headers: &HeaderMap,
    url_action: &'static str,
    client_error_action: &'static str,
) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Delivered,
        300..=399 => fatal(
            contract,
            status,
            "the endpoint redirected, and redirects are not followed",
            url_action,
        ),
        404 => fatal(contract, status, "nothing answers at this URL", url_action),
        400..=499 => fatal(
            contract,
            status,
            "the request was refused as a client error",
            client_error_action,
        ),
        // 1xx, 5xx and 600-999.
        _ => retry(status, headers),
    }
}

/// `status` equals `prefix` or refines it (`prefix/...`).
fn has_component_prefix(status: &str, prefix: &str) -> bool {
    status
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a server message says the request was too large (SDL has no dedicated status
/// for it; the message is the only signal).
fn says_too_large(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    // A rate ("10 MB/sec", "per second") is throughput, not size.
    if ["b/s", "bytes/s", "/sec", "per sec", "a second"]
        .iter()
        .any(|r| m.contains(r))
    {
        return false;
    }
    m.contains("too large")
        || m.contains("too big")
        || (m.contains("exceed")
            && ["size", "bytes", " mb", "length"]
                .iter()
                .any(|unit| m.contains(unit)))
}

#[cfg(test)]
mod tests;
