//! The crate's error types: [`Error`] for building events and requests, [`ParseError`]
//! for reading request and response bodies.

use crate::Event;

/// Why a value, an event or a builder could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A timestamp that can't be read.
    #[error("invalid timestamp `{input}`: {reason}")]
    InvalidTimestamp {
        /// The input (at most 64 characters of it).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A severity that is not 0-6 nor a known name.
    #[error("invalid severity `{input}` (expected 0 to 6 or a name such as info, warn, error)")]
    InvalidSeverity {
        /// The input (at most 64 characters of it).
        input: String,
    },
    /// A session id that is empty or longer than 200 characters.
    #[error("session id has {chars} characters, expected 1 to 200")]
    InvalidSession {
        /// Its length in characters.
        chars: usize,
    },
    /// A member of a JSON input object that can't be read (its time or severity).
    #[error("member `{field}`: {reason}")]
    InvalidField {
        /// The member's key.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Input that is not a JSON object.
    #[error("invalid JSON: {reason}")]
    InvalidJson {
        /// The parser's message.
        reason: String,
    },
    /// A single event that can't fit in a request even alone, after the oversize policy
    /// ran. The event is handed back for dead-lettering.
    #[error("event of {size} bytes cannot fit a {limit}-byte request")]
    EventTooLarge {
        /// The size the request would have with this event alone.
        size: usize,
        /// The body limit.
        limit: usize,
        /// The rejected event.
        event: Box<Event>,
    },
    /// An event names a `log` that the builder was not given.
    #[error("event refers to log id `{id}`, which is not among the builder's logs")]
    UnknownLog {
        /// The unknown id.
        id: String,
    },
    /// A builder configuration that can't work.
    #[error("invalid request builder configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
}

/// Why an `addEvents` request or response body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not JSON (or not a JSON object).
    #[error("body is not a JSON object: {reason}")]
    NotJson {
        /// The parser's message.
        reason: String,
    },
    /// A member is missing or has the wrong shape. `path` names it, with the index of the
    /// event, thread or log it belongs to: `events[3].sev`, `logs[0].id`, `status`.
    #[error("{path}: {reason}")]
    Field {
        /// Where, as a JSON path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl ParseError {
    pub(crate) fn field(path: impl Into<String>, reason: impl Into<String>) -> ParseError {
        ParseError::Field {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The JSON path of the offending member, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ParseError::Field { path, .. } => Some(path),
            ParseError::NotJson { .. } => None,
        }
    }
}
