//! Reading an `addEvents` response: `{"status": "...", "message": "...", "bytesCharged": N}`.
//!
//! The seed: "If the request is a success: `{"bytesCharged":0,"status": "success"}`. A
//! "success" may have a warning message." Errors carry statuses such as
//! `error/client/noPermission`, `error/client/noPermission/accountDisabled` (401) and
//! "backoff" (429). Statuses are `/`-separated paths, matched here segment by segment, so a
//! more specific status the seed does not list still lands in the right family.
//!
//! Responses are tiny, so this uses `serde_json` (as fast as simd-json at this size).

use crate::ParseError;
use std::fmt;

/// The family of a response `status`, most specific known match first.
///
/// | status text | variant |
/// |---|---|
/// | `success`, `success/…` | [`Status::Success`] |
/// | `error/client/badParam`, `…/…` | [`Status::BadParam`] |
/// | `error/client/noPermission`, `…/accountDisabled`, `…/…` | [`Status::NoPermission`] |
/// | other `error/client…` | [`Status::ClientError`] |
/// | `error/server/backoff`, `…/…` | [`Status::Backoff`] |
/// | `error/server`, other `error/server/…` | [`Status::ServerError`] |
/// | other `error…` | [`Status::OtherError`] |
/// | anything else | [`Status::Unknown`] (never a success) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Accepted; the response may still carry a warning `message`.
    Success,
    /// The request is malformed: do not retry as is.
    BadParam,
    /// The token is wrong, invalid, or its account disabled: do not retry.
    NoPermission,
    /// Another client error.
    ClientError,
    /// Too much throughput: retry later, or spread over more sessions.
    Backoff,
    /// A server-side error: retry after a delay.
    ServerError,
    /// An `error` outside the client and server families.
    OtherError,
    /// A status this crate does not recognise.
    Unknown,
}

impl Status {
    /// The family of a status text.
    pub fn classify(text: &str) -> Status {
        let mut seg = text.split('/');
        match (seg.next(), seg.next(), seg.next()) {
            (Some("success"), _, _) => Status::Success,
            (Some("error"), Some("client"), Some("badParam")) => Status::BadParam,
            (Some("error"), Some("client"), Some("noPermission")) => Status::NoPermission,
            (Some("error"), Some("client"), _) => Status::ClientError,
            (Some("error"), Some("server"), Some("backoff")) => Status::Backoff,
            (Some("error"), Some("server"), _) => Status::ServerError,
            (Some("error"), _, _) => Status::OtherError,
            _ => Status::Unknown,
        }
    }

    /// Whether this is [`Status::Success`].
    pub fn is_success(self) -> bool {
        self == Status::Success
    }
}

impl fmt::Display for Status {
    /// The family's status path: `success`, `error/client/badParam`, …, `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Success => "success",
            Status::BadParam => "error/client/badParam",
            Status::NoPermission => "error/client/noPermission",
            Status::ClientError => "error/client",
            Status::Backoff => "error/server/backoff",
            Status::ServerError => "error/server",
            Status::OtherError => "error",
            Status::Unknown => "unknown",
        })
    }
}

/// Whether `status` is `prefix` or under it, segment by segment: `error/server` matches
/// `error/server` and `error/server/backoff`, not `error/serverless`.
pub fn status_matches(status: &str, prefix: &str) -> bool {
    match status.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

/// A parsed `addEvents` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddEventsResponse {
    /// The status family.
    pub status: Status,
    /// The status text as sent.
    pub status_text: String,
    /// `message`: an error's explanation, or a success's warning.
    pub message: Option<String>,
    /// `bytesCharged`, when present as a non-negative integer.
    pub bytes_charged: Option<u64>,
}

impl AddEventsResponse {
    /// Whether the status is `prefix` or under it (see [`status_matches`]).
    pub fn status_is(&self, prefix: &str) -> bool {
        status_matches(&self.status_text, prefix)
    }

    /// The warning of a success, if it has one.
    pub fn warning(&self) -> Option<&str> {
        self.message.as_deref().filter(|_| self.status.is_success())
    }
}

/// Parses a response body. A body that is not a JSON object, or has no string `status`,
/// is an error (never a success); `message` and `bytesCharged` are optional, and ignored
/// when of the wrong type.
pub fn parse_response(body: &[u8]) -> Result<AddEventsResponse, ParseError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson {
            reason: e.to_string(),
        })?;
    let obj = value.as_object().ok_or_else(|| ParseError::NotJson {
        reason: "expected a JSON object".to_owned(),
    })?;
    let status_text = match obj.get("status") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err(ParseError::field("status", "expected a string")),
        None => return Err(ParseError::field("status", "missing")),
    };
    Ok(AddEventsResponse {
        status: Status::classify(&status_text),
        message: obj
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_owned),
        bytes_charged: obj.get("bytesCharged").and_then(serde_json::Value::as_u64),
        status_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, status: Status) -> AddEventsResponse {
        let r = parse_response(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(r.status, status, "{body}");
        r
    }

    #[test]
    fn statuses() {
        let r = check(r#"{"bytesCharged":0,"status": "success"}"#, Status::Success);
        assert_eq!((r.bytes_charged, r.warning()), (Some(0), None));
        let r = check(
            r#"{"status":"success","bytesCharged":44,"message":"sessionInfo changed; ignored"}"#,
            Status::Success,
        );
        assert_eq!(r.warning(), Some("sessionInfo changed; ignored"));
        let r = check(
            r#"{"status":"error/client/badParam","message":"bad ts"}"#,
            Status::BadParam,
        );
        assert_eq!((r.message.as_deref(), r.warning()), (Some("bad ts"), None));
        assert!(
            r.status_is("error/client") && r.status_is("error") && !r.status_is("error/server")
        );
        check(
            r#"{"status":"error/client/noPermission"}"#,
            Status::NoPermission,
        );
        let r = check(
            r#"{"status":"error/client/noPermission/accountDisabled"}"#,
            Status::NoPermission,
        );
        assert!(r.status_is("error/client/noPermission"));
        assert!(!r.status_is("error/client/noPerm"));
        check(r#"{"status":"error/client/tooLarge"}"#, Status::ClientError);
        check(r#"{"status":"error/server/backoff"}"#, Status::Backoff);
        check(r#"{"status":"error/server"}"#, Status::ServerError);
        check(r#"{"status":"error/server/xyz"}"#, Status::ServerError);
        check(r#"{"status":"error/serverless"}"#, Status::OtherError);
        check(r#"{"status":"error"}"#, Status::OtherError);
        check(r#"{"status":"successful"}"#, Status::Unknown);
        check(r#"{"status":""}"#, Status::Unknown);
        check(r#"{"status":"Success"}"#, Status::Unknown);
        let r = check(
            r#"{"status":"success","bytesCharged":-1,"message":5}"#,
            Status::Success,
        );
        assert_eq!((r.bytes_charged, r.message), (None, None));
    }

    #[test]
    fn not_a_response_is_an_error() {
        for body in [
            "",
            "<html>502 Bad Gateway</html>",
            "[]",
            "{}",
            r#"{"status":1}"#,
            "{\"status\":\"success\"",
        ] {
            assert!(parse_response(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn prefix_matching() {
        assert!(status_matches("error/server/backoff", "error/server"));
        assert!(status_matches("error/server", "error/server"));
        assert!(status_matches("error/server/backoff", "error/"));
        assert!(!status_matches("error/serverX", "error/server"));
        assert!(!status_matches("error", "error/server"));
    }
}
