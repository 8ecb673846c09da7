//! The crate's error type.

use logferry_retry::FatalReason;

/// Why the sender, a request or an upload failed.
///
/// No variant ever holds the API key: fatal reasons come from the server's reply, and
/// configuration errors name the setting, not its value.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting that can't work; the message names it.
    #[error("invalid sdl configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The sender was shut down (or every handle dropped): nothing more is accepted.
    #[error("the sdl sender is shut down")]
    Closed,
    /// The sender stopped because the server refused the key (HTTP 401/403 or
    /// `error/client/noPermission…`): no request can succeed until the key is fixed.
    /// Events it held are in the [`ShutdownReport`](crate::ShutdownReport).
    #[error("the sdl sender stopped: {reason}")]
    Stopped {
        /// The server's answer, with what to check.
        reason: FatalReason,
    },
    /// The sender stopped because no request can reach the server: its TLS certificate is
    /// not trusted (a wrong or missing CA file, expired, not valid for the URL's host
    /// name), which no retry fixes. The message names the failure and what to check.
    /// Events it held are in the [`ShutdownReport`](crate::ShutdownReport).
    #[error("the sdl sender stopped: {message}")]
    Unreachable {
        /// What failed, and what to check.
        message: String,
    },
    /// One request was refused as the client's fault (HTTP 400, `error/client/…`); its
    /// events are reported as failed and the sender goes on.
    #[error("request refused: {reason}")]
    Refused {
        /// The server's answer, with what to check.
        reason: FatalReason,
    },
    /// A request was not delivered within the retry policy's stop conditions.
    #[error("request not delivered after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's outcome.
        last: String,
        /// How long the last answer asked not to be sent anything (its `Retry-After`),
        /// when it did: a caller handing the records back to a queue waits that long.
        retry_after: Option<std::time::Duration>,
    },
    /// A single event can't fit any request (after the oversize policy ran), or a
    /// one-event request was still too large for the server.
    #[error("event of {size} bytes cannot fit a {limit}-byte request")]
    EventTooLarge {
        /// The size of a request holding only this event.
        size: usize,
        /// The body limit.
        limit: usize,
    },
    /// An event the model refused (for example a `log` id that no declared log has).
    #[error("event refused: {reason}")]
    InvalidEvent {
        /// The model's message.
        reason: String,
    },
}
