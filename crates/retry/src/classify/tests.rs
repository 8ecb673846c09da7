//! Table tests: every row of every contract's status table, plus the class fallbacks.

use super::*;
use http::HeaderValue;
use http::header::RETRY_AFTER;
use std::time::Duration;

/// What a row expects, compactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Delivered,
    Retry,
    Split,
    Reauth,
    Fatal,
    Stop,
}

fn kind(verdict: &Verdict) -> Want {
    match verdict {
        Verdict::Delivered => Want::Delivered,
        Verdict::Retry { .. } => Want::Retry,
        Verdict::Split => Want::Split,
        Verdict::Reauthenticate => Want::Reauth,
        Verdict::Fatal { .. } => Want::Fatal,
        Verdict::Stop => Want::Stop,
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("test statuses are valid")
}

fn check(rows: &[(u16, Want)], classify: impl Fn(StatusCode) -> Verdict) {
    for &(code, want) in rows {
        let verdict = classify(status(code));
        assert_eq!(kind(&verdict), want, "status {code}: {verdict}");
    }
}

fn no_headers() -> HeaderMap {
    HeaderMap::new()
}

fn retry_after(value: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
    headers
}

use Want::*;

#[test]
fn http_ingest_status_table() {
    check(
        &[
            (200, Delivered),
            (400, Fatal),
            (401, Fatal),
            (403, Fatal),
            (408, Retry),
            (413, Split),
            (429, Retry),
            (500, Retry),
            (502, Retry),
            (503, Retry),
            (504, Retry),
        ],
        |s| http_ingest(s, &no_headers()),
    );
}

#[test]
fn http_ingest_unlisted_statuses_follow_their_class() {
    check(
        &[
            (100, Retry),
            (201, Delivered),
            (202, Delivered),
            (204, Delivered),
            (301, Fatal),
            (307, Fatal),
            (404, Fatal),
            (405, Fatal),
            (415, Fatal),
            (422, Fatal),
            (501, Retry),
            (507, Retry),
            (599, Retry),
            (600, Retry),
            (999, Retry),
        ],
        |s| http_ingest(s, &no_headers()),
    );
}

#[test]
fn retries_carry_retry_after_and_cause() {
    let verdict = http_ingest(status(429), &retry_after("30"));
    assert_eq!(
        verdict,
        Verdict::Retry {
            not_before: Some(RetryAfter::Delay(Duration::from_secs(30))),
            cause: RetryCause::Status(StatusCode::TOO_MANY_REQUESTS),
        }
    );
    // An unusable Retry-After is ignored, not fatal.
    let verdict = http_ingest(status(503), &retry_after("whenever"));
    assert_eq!(
        verdict,
        Verdict::Retry {
            not_before: None,
            cause: RetryCause::Status(StatusCode::SERVICE_UNAVAILABLE),
        }
    );
    // Retry-After on a fatal status changes nothing.
    assert_eq!(kind(&http_ingest(status(401), &retry_after("5"))), Fatal);
}

fn sdl_check(rows: &[(u16, Option<&str>, Option<&str>, Want)]) {
    for &(code, parsed, message, want) in rows {
        let verdict = sdl(status(code), &no_headers(), parsed, message);
        assert_eq!(
            kind(&verdict),
            want,
            "http {code}, status {parsed:?}, message {message:?}: {verdict}"
        );
    }
}

#[test]
fn sdl_status_table() {
    sdl_check(&[
        // "If the request is a success: {"bytesCharged":0,"status": "success"}"
        (200, Some("success"), None, Delivered),
        // "A 'success' may have a warning message."
        (
            200,
            Some("success"),
            Some("some events were too old"),
            Delivered,
        ),
        (200, Some("success/partial"), None, Delivered),
        // error/server/backoff and error/server retry even inside a 200.
        (200, Some("error/server/backoff"), None, Retry),
        (200, Some("error/server"), None, Retry),
        (200, Some("error/server/unavailable"), None, Retry),
        (429, Some("error/server/backoff"), None, Retry),
        (503, Some("error/server"), None, Retry),
        // 401 with noPermission: "the token is incorrect or invalid".
        (401, Some("error/client/noPermission"), None, Fatal),
        (
            401,
            Some("error/client/noPermission/accountDisabled"),
            None,
            Fatal,
        ),
        (200, Some("error/client/noPermission"), None, Fatal),
        (401, None, None, Fatal),
        (403, None, None, Fatal),
        // 400: "Check your request syntax."
        (400, Some("error/client/badParam"), Some("bad JSON"), Fatal),
        (400, None, None, Fatal),
        (200, Some("error/client"), None, Fatal),
        // Too large: 413, or a client error whose message says so.
        (413, None, None, Split),
        (413, Some("error/client/badParam"), None, Split),
        (
            400,
            Some("error/client/badParam"),
            Some("Request too large"),
            Split,
        ),
        (
            200,
            Some("error/client"),
            Some("request body exceeds the maximum size of 6 MB"),
            Split,
        ),
        (400, None, Some("payload TOO BIG"), Split),
        // A backoff speaking of a rate is a backoff, not a size complaint (the seed's own
        // words: "Each session cannot exceed 10 MB/sec").
        (
            429,
            Some("error/server/backoff"),
            Some("Each session cannot exceed 10 MB/sec"),
            Retry,
        ),
        (
            429,
            None,
            Some("throughput exceeds 10 MB per second"),
            Retry,
        ),
        (
            400,
            Some("error/client/badParam"),
            Some("session exceeded 10 MB/s"),
            Fatal,
        ),
        // 429 and 5xx retry, whatever the body.
        (429, None, None, Retry),
        (429, Some("error/client/tooMany"), None, Retry),
        (500, None, None, Retry),
        (502, None, None, Retry),
        (503, None, None, Retry),
        (504, None, None, Retry),
        (520, None, None, Retry),
        (408, None, None, Retry),
        // An unparseable or unknown status inside a 2xx is not "success".
        (200, None, None, Retry),
        (200, Some("warning"), None, Retry),
        (200, Some("error"), None, Retry),
        (200, Some("successful"), None, Retry),
        (204, None, None, Retry),
        // A claimed success with a failing HTTP status is not delivered.
        (404, Some("success"), None, Fatal),
        (301, None, None, Fatal),
        (100, None, None, Retry),
    ]);
}

#[test]
fn sdl_backoff_inside_200_reports_the_body_status() {
    let verdict = sdl(
        StatusCode::OK,
        &retry_after("12"),
        Some("error/server/backoff"),
        None,
    );
    assert_eq!(
        verdict,
        Verdict::Retry {
            not_before: Some(RetryAfter::Delay(Duration::from_secs(12))),
            cause: RetryCause::Reported {
                status: StatusCode::OK,
                code: "error/server/backoff".to_owned(),
            },
        }
    );
    assert_eq!(
        sdl(StatusCode::OK, &no_headers(), None, None),
        Verdict::Retry {
            not_before: None,
            cause: RetryCause::Unconfirmed(StatusCode::OK),
        }
    );
}

#[test]
fn s3_put_table() {
    let rows: &[(u16, Option<&str>, Want)] = &[
        (200, None, Delivered),
        (204, None, Delivered),
        (400, Some("RequestTimeout"), Retry),
        (400, Some(" RequestTimeout "), Retry),
        (400, Some("ExpiredToken"), Reauth),
        (400, Some("TokenRefreshRequired"), Reauth),
        (400, Some("EntityTooLarge"), Split),
        (400, Some("InvalidArgument"), Fatal),
        (400, None, Fatal),
        (403, Some("SignatureDoesNotMatch"), Reauth),
        (403, Some("AccessDenied"), Reauth),
        (403, Some("ExpiredToken"), Reauth),
        (403, Some("InvalidToken"), Reauth),
        (403, None, Reauth),
        (403, Some("AccountProblem"), Fatal),
        (403, Some("AllAccessDisabled"), Fatal),
        (404, Some("NoSuchBucket"), Fatal),
        (301, Some("PermanentRedirect"), Fatal),
        (408, None, Retry),
        (413, None, Split),
        (429, None, Retry),
        (500, Some("InternalError"), Retry),
        (503, Some("SlowDown"), Retry),
        (502, None, Retry),
        (504, None, Retry),
    ];
    for &(code, s3_code, want) in rows {
        let verdict = s3_put(status(code), &no_headers(), s3_code);
        assert_eq!(kind(&verdict), want, "{code} {s3_code:?}: {verdict}");
    }
    assert_eq!(
        s3_put(status(503), &retry_after("3"), Some("SlowDown")),
        Verdict::Retry {
            not_before: Some(RetryAfter::Delay(Duration::from_secs(3))),
            cause: RetryCause::Status(StatusCode::SERVICE_UNAVAILABLE),
        }
    );
}

/// Quotes are from `taegis-file-upload-api.txt`.
#[test]
fn presign_table() {
    check(
        &[
            // "Returns a URL in which you can PUT your logs." / `url = res['location']`
            (200, Delivered),
            (201, Delivered),
            // "Before proceeding, complete the API Authentication steps in order to
            // obtain a working access token.": a refused token is refreshed.
            (401, Reauth),
            // `if response.status_code != 200: print("Failed to request a pre-signed url
            // with error: ...")`: the request as sent will not get a URL.
            (400, Fatal),
            (403, Fatal),
            (404, Fatal),
            (405, Fatal),
            (301, Fatal),
            // Transient in every logferry contract.
            (408, Retry),
            (429, Retry),
            (500, Retry),
            (502, Retry),
            (503, Retry),
            (504, Retry),
            (599, Retry),
            (100, Retry),
        ],
        |s| presign(s, &no_headers()),
    );
    assert_eq!(
        presign(status(429), &retry_after("7")),
        Verdict::Retry {
            not_before: Some(RetryAfter::Delay(Duration::from_secs(7))),
            cause: RetryCause::Status(StatusCode::TOO_MANY_REQUESTS),
        }
    );
    assert_eq!(
        presign(status(400), &no_headers()).to_string(),
        "fatal: taegis file upload presign answered 400 bad request: the presign request was refused; \
         check the file name, content length and sensor id (and the service, if one is set)"
    );
}

#[test]
fn token_endpoint_table() {
    check(
        &[
            (200, Delivered),
            (400, Fatal),
            (401, Fatal),
            (403, Fatal),
            (404, Fatal),
            (408, Retry),
            (429, Retry),
            (500, Retry),
            (502, Retry),
            (503, Retry),
            (504, Retry),
            (301, Fatal),
        ],
        |s| token_endpoint(s, &no_headers()),
    );
}

#[test]
fn an_untrusted_certificate_stops_at_once() {
    assert_eq!(transport(&TransportFailure::Certificate), Verdict::Stop);
}

#[test]
fn every_other_transport_failure_retries() {
    for failure in [
        TransportFailure::ConnectRefused,
        TransportFailure::Reset,
        TransportFailure::Timeout,
        TransportFailure::Tls,
        TransportFailure::Other,
    ] {
        assert_eq!(
            transport(&failure),
            Verdict::Retry {
                not_before: None,
                cause: RetryCause::Transport(failure),
            }
        );
    }
}

#[test]
fn refused_credentials_are_one_rule_for_every_contract() {
    let h = no_headers();
    let refused = |verdict: Verdict| match verdict {
        Verdict::Fatal { reason } => credentials_refused(&reason),
        other => panic!("not fatal: {other}"),
    };
    // HTTP Ingest 401: "MUST NOT retry. Verify the integration key and URL pair."
    assert!(refused(http_ingest(status(401), &h)));
    // HTTP Ingest 403: "MUST NOT retry. Generate a replacement integration if necessary."
    assert!(refused(http_ingest(status(403), &h)));
    // "If you receive 401 errors with a status of error/client/noPermission or
    // error/client/noPermission/accountDisabled, the token is incorrect or invalid."
    assert!(refused(sdl(status(401), &h, None, None)));
    assert!(refused(sdl(status(403), &h, None, None)));
    for body in [
        "error/client/noPermission",
        "error/client/noPermission/accountDisabled",
    ] {
        assert!(refused(sdl(status(401), &h, Some(body), None)), "{body}");
        assert!(refused(sdl(status(200), &h, Some(body), None)), "{body}");
    }
    assert!(refused(token_endpoint(status(401), &h)));
    // Refusals of the request, not of the credential.
    assert!(!refused(http_ingest(status(400), &h)));
    assert!(!refused(http_ingest(status(404), &h)));
    assert!(!refused(sdl(
        status(400),
        &h,
        Some("error/client/badParam"),
        None
    )));
    assert!(!refused(sdl(
        status(400),
        &h,
        Some("error/client/noPermissionToo"),
        None
    )));
    assert!(!refused(s3_put(status(400), &h, Some("InvalidArgument"))));
}

#[test]
fn component_prefixes() {
    assert!(has_component_prefix("error/server/backoff", "error/server"));
    assert!(has_component_prefix("error/server", "error/server"));
    assert!(!has_component_prefix("error/serverless", "error/server"));
    assert!(!has_component_prefix("error", "error/server"));
}

/// Fatal reasons are what an operator reads: snapshot them all.
#[test]
fn fatal_reasons_tell_the_operator_what_to_check() {
    let h = no_headers();
    let cases = [
        http_ingest(status(400), &h),
        http_ingest(status(401), &h),
        http_ingest(status(403), &h),
        http_ingest(status(404), &h),
        http_ingest(status(301), &h),
        http_ingest(status(415), &h),
        sdl(
            status(401),
            &h,
            Some("error/client/noPermission"),
            Some("invalid token"),
        ),
        sdl(
            status(400),
            &h,
            Some("error/client/badParam"),
            Some("could not parse JSON"),
        ),
        sdl(status(404), &h, None, None),
        s3_put(status(400), &h, Some("InvalidArgument")),
        s3_put(status(403), &h, Some("AccountProblem")),
        s3_put(status(404), &h, Some("NoSuchBucket")),
        token_endpoint(status(401), &h),
        token_endpoint(status(403), &h),
    ];
    let text: Vec<String> = cases.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn a_url_that_names_nothing_is_its_own_stop_rule() {
    let h = no_headers();
    let url = |verdict: Verdict| match verdict {
        Verdict::Fatal { reason } => url_refused(&reason),
        other => panic!("not fatal: {other}"),
    };
    // "Operators SHOULD retrieve the exact URL from the XDR UI rather than constructing
    // it manually": a mistyped path (404) or a deleted integration's path (410).
    assert!(url(http_ingest(status(404), &h)));
    assert!(url(http_ingest(status(410), &h)));
    let Verdict::Fatal { reason } = http_ingest(status(410), &h) else {
        panic!("410 is fatal")
    };
    assert!(reason.to_string().contains("gone"), "{reason}");
    // Refusals of the credential or of the request are not about the URL.
    for code in [400, 401, 403, 405, 422] {
        assert!(!url(http_ingest(status(code), &h)), "{code}");
    }
}
