//! What a response means for the request that produced it: [`Verdict`] and the types it
//! carries ([`RetryCause`], [`FatalReason`], [`Contract`], [`TransportFailure`]).

use crate::RetryAfter;
use http::StatusCode;
use std::fmt;

/// What the sender does with a request after seeing its response (or its transport failure).
///
/// Produced by the functions of [`classify`](crate::classify); consumed by
/// [`Policy::decide`](crate::Policy::decide) and the [`Retrier`](crate::Retrier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The server accepted the request: acknowledge what it carried.
    Delivered,
    /// Send the same request again after a backoff delay.
    Retry {
        /// The server's `Retry-After`, if it sent a valid one: the next attempt waits at
        /// least this long (up to the policy's ceiling).
        not_before: Option<RetryAfter>,
        /// What asked for the retry, for logs and metrics.
        cause: RetryCause,
    },
    /// The request body was too large: split it and send the halves (fail only when a
    /// single record is too large).
    Split,
    /// The credential is no longer good: refresh it (a new access token, or for a presigned
    /// S3 URL, which is itself a credential, a new presigned URL) and send again. The caller
    /// bounds how many times it does this for one piece of data.
    Reauthenticate,
    /// Sending this request again cannot succeed; an operator must act.
    Fatal {
        /// What happened and what to check.
        reason: FatalReason,
    },
    /// End the run now, without another attempt, for a reason no status table names: the
    /// request could not be made (a local failure such as an unreadable file, or an
    /// unusable request), an accepted answer could not be used, or the sender is
    /// stopping. The attempt's value says which; the caller does not send this again.
    ///
    /// Backends return it from their attempt; of the [`classify`](crate::classify)
    /// functions only [`classify::transport`](crate::classify::transport) does, for an
    /// untrusted certificate (no response, so no status for [`Verdict::Fatal`]); a refused
    /// credential is [`Verdict::Fatal`], recognised by
    /// [`classify::credentials_refused`](crate::classify::credentials_refused).
    Stop,
}

impl Verdict {
    /// A fatal verdict with the server's own status and message attached (sanitized);
    /// any other verdict unchanged.
    pub(crate) fn with_server_text(
        self,
        server_status: Option<&str>,
        server_message: Option<&str>,
    ) -> Verdict {
        match self {
            Verdict::Fatal { reason } => Verdict::Fatal {
                reason: reason.with_server_text(server_status, server_message),
            },
            other => other,
        }
    }

    /// True for [`Verdict::Retry`].
    pub fn is_retry(&self) -> bool {
        matches!(self, Verdict::Retry { .. })
    }

    /// The wait the server's `Retry-After` asked for, counted from `now`, when this is a
    /// retry that came with one: what a caller that gives the request up should still
    /// respect before the data is offered again (a worker handing it back to a queue).
    ///
    /// ```
    /// use logferry_retry::{RetryAfter, RetryCause, Verdict};
    /// use std::time::{Duration, SystemTime};
    /// let v = Verdict::Retry {
    ///     not_before: Some(RetryAfter::Delay(Duration::from_secs(30))),
    ///     cause: RetryCause::Status(http::StatusCode::TOO_MANY_REQUESTS),
    /// };
    /// assert_eq!(v.retry_after(SystemTime::now()), Some(Duration::from_secs(30)));
    /// assert_eq!(Verdict::Delivered.retry_after(SystemTime::now()), None);
    /// ```
    pub fn retry_after(&self, now: std::time::SystemTime) -> Option<std::time::Duration> {
        match self {
            Verdict::Retry {
                not_before: Some(at),
                ..
            } => Some(at.delay_from(now)),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Delivered => f.write_str("delivered"),
            Verdict::Retry {
                not_before: Some(RetryAfter::Delay(delay)),
                cause,
            } => write!(f, "retry ({cause}; retry-after {}s)", delay.as_secs()),
            Verdict::Retry {
                not_before: Some(RetryAfter::At(at)),
                cause,
            } => write!(
                f,
                "retry ({cause}; retry-after {})",
                httpdate::fmt_http_date(*at)
            ),
            Verdict::Retry { cause, .. } => write!(f, "retry ({cause})"),
            Verdict::Split => f.write_str("split: the request body is too large"),
            Verdict::Reauthenticate => f.write_str("re-authenticate: the credential has expired"),
            Verdict::Fatal { reason } => write!(f, "fatal: {reason}"),
            Verdict::Stop => f.write_str("stop: no further attempt"),
        }
    }
}

/// What asked for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryCause {
    /// The HTTP status alone (408, 429, 5xx, ...).
    Status(StatusCode),
    /// A status inside the body (an SDL `status` such as `error/server/backoff`, an S3
    /// error `Code` such as `RequestTimeout`), whatever the HTTP status.
    Reported {
        /// The HTTP status of the response.
        status: StatusCode,
        /// The status or error code the body carried.
        code: String,
    },
    /// A 2xx whose body did not confirm success (unparseable, or an unknown status): the
    /// data may not have been accepted, so it is sent again (at least once).
    Unconfirmed(StatusCode),
    /// No response at all.
    Transport(TransportFailure),
}

impl fmt::Display for RetryCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryCause::Status(status) => write!(f, "http {}", status_text(*status)),
            RetryCause::Reported { status, code } => {
                write!(f, "server status {code} (http {})", status.as_u16())
            }
            RetryCause::Unconfirmed(status) => write!(
                f,
                "http {} without a success status in the body",
                status.as_u16()
            ),
            RetryCause::Transport(failure) => write!(f, "transport: {failure}"),
        }
    }
}

/// How a request failed before any response arrived.
///
/// Every kind but [`TransportFailure::Certificate`] is retried
/// ([`classify::transport`](crate::classify::transport)): the request may or may not have
/// reached the server, and delivery is at least once. An untrusted certificate stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportFailure {
    /// The connection was refused (nothing listening, or a firewall reject).
    ConnectRefused,
    /// The connection was reset or closed mid-request.
    Reset,
    /// Connecting, sending or waiting for the response took too long.
    Timeout,
    /// The TLS handshake failed or a TLS alert arrived (not about the server's
    /// certificate).
    Tls,
    /// The server's TLS certificate is not trusted: signed by a CA the client does not
    /// trust (a wrong or missing CA file), expired or not yet valid, not valid for the
    /// URL's host name. No retry fixes it; an operator must.
    Certificate,
    /// Any other I/O or protocol failure (DNS, malformed response, ...).
    Other,
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportFailure::ConnectRefused => "connection refused",
            TransportFailure::Reset => "connection reset",
            TransportFailure::Timeout => "timed out",
            TransportFailure::Tls => "tls failure",
            TransportFailure::Certificate => "untrusted tls certificate",
            TransportFailure::Other => "transport failure",
        })
    }
}

/// Which API contract a classification applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Contract {
    /// Taegis XDR HTTP Ingest (`taegis-http-ingest-api.txt`).
    HttpIngest,
    /// SentinelOne SDL `addEvents` (`sdl-add-events-api.txt`).
    SdlAddEvents,
    /// The S3 PUT of a Taegis File Upload presigned URL (`taegis-file-upload-api.txt`).
    S3Put,
    /// The Taegis OAuth client-credentials token endpoint (File Upload's first step).
    TokenEndpoint,
    /// The Taegis File Upload presign request (`taegis-file-upload-api.txt`, step 2).
    Presign,
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Contract::HttpIngest => "taegis http ingest",
            Contract::SdlAddEvents => "sdl addEvents",
            Contract::S3Put => "presigned s3 put",
            Contract::TokenEndpoint => "taegis token endpoint",
            Contract::Presign => "taegis file upload presign",
        })
    }
}

/// Why a request can never succeed as sent, and what an operator should check.
///
/// `Display` reads as one line: the contract and status, what the contract says the
/// status means, and its recommended client action, then what the server said, if it said
/// anything. Server text is cut to [`FatalReason::MAX_SERVER_TEXT`] characters and control
/// characters are replaced, so a hostile body cannot flood or forge log lines. Requests'
/// credentials never appear here: the classifiers only see responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatalReason {
    contract: Contract,
    status: StatusCode,
    meaning: &'static str,
    action: &'static str,
    server_status: Option<String>,
    server_message: Option<String>,
}

impl FatalReason {
    /// Longest server-supplied status or message kept, in characters.
    pub const MAX_SERVER_TEXT: usize = 200;

    pub(crate) fn new(
        contract: Contract,
        status: StatusCode,
        meaning: &'static str,
        action: &'static str,
    ) -> FatalReason {
        FatalReason {
            contract,
            status,
            meaning,
            action,
            server_status: None,
            server_message: None,
        }
    }

    pub(crate) fn with_server_text(
        mut self,
        server_status: Option<&str>,
        server_message: Option<&str>,
    ) -> FatalReason {
        self.server_status = server_status.map(sanitize_server_text);
        self.server_message = server_message.map(sanitize_server_text);
        self
    }

    /// The contract whose table produced this verdict.
    pub fn contract(&self) -> Contract {
        self.contract
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the contract says the status means.
    pub fn meaning(&self) -> &'static str {
        self.meaning
    }

    /// The contract's recommended client action: what an operator should check.
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The status or error code the body carried (SDL `status`, S3 `Code`), if any.
    pub fn server_status(&self) -> Option<&str> {
        self.server_status.as_deref()
    }

    /// The human-readable message the body carried, if any.
    pub fn server_message(&self) -> Option<&str> {
        self.server_message.as_deref()
    }
}

impl fmt::Display for FatalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}", self.contract, status_text(self.status))?;
        if let Some(code) = &self.server_status {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}; {}", self.meaning, self.action)?;
        if let Some(message) = &self.server_message {
            write!(f, " (server said: {message})")?;
        }
        Ok(())
    }
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {}", status.as_u16(), reason.to_ascii_lowercase()),
        None => status.as_u16().to_string(),
    }
}

/// Server-supplied text made safe for one log line, as [`FatalReason`] keeps it: trimmed,
/// control characters replaced by spaces (no forged log lines), cut to
/// [`FatalReason::MAX_SERVER_TEXT`] characters with `…` marking the cut (no flooding).
///
/// ```
/// let text = logferry_retry::sanitize_server_text("  bad\nkey  ");
/// assert_eq!(text, "bad key");
/// ```
pub fn sanitize_server_text(text: &str) -> String {
    let text = text.trim();
    let mut out: String = text
        .chars()
        .take(FatalReason::MAX_SERVER_TEXT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(FatalReason::MAX_SERVER_TEXT).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_cut_and_cleaned() {
        let long = "x".repeat(500);
        let reason = FatalReason::new(Contract::SdlAddEvents, StatusCode::BAD_REQUEST, "m", "a")
            .with_server_text(Some("error/client/badParam"), Some(&long));
        assert_eq!(
            reason.server_message().map(|m| m.chars().count()),
            Some(FatalReason::MAX_SERVER_TEXT + 1)
        );
        let forged = FatalReason::new(Contract::SdlAddEvents, StatusCode::BAD_REQUEST, "m", "a")
            .with_server_text(None, Some("oops\nFAKE LOG LINE"));
        assert_eq!(forged.server_message(), Some("oops FAKE LOG LINE"));
    }

    #[test]
    fn verdicts_display_on_one_line() {
        let retry = Verdict::Retry {
            not_before: Some(RetryAfter::Delay(std::time::Duration::from_secs(30))),
            cause: RetryCause::Status(StatusCode::TOO_MANY_REQUESTS),
        };
        assert_eq!(
            retry.to_string(),
            "retry (http 429 too many requests; retry-after 30s)"
        );
        let transport = Verdict::Retry {
            not_before: None,
            cause: RetryCause::Transport(TransportFailure::Reset),
        };
        assert_eq!(transport.to_string(), "retry (transport: connection reset)");
        assert!(transport.is_retry());
        assert!(!Verdict::Split.is_retry());
        assert_eq!(Verdict::Stop.to_string(), "stop: no further attempt");
    }
}
