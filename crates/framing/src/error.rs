//! Framing errors: what went wrong, and exactly where in which source.

use crate::Position;
use std::fmt;
use std::sync::Arc;

/// A record the framer could not emit under the configured policies.
///
/// Framing errors never abort the stream: the framer reports one and carries on with the
/// next record. The caller's policy decides what an error means (reject the whole input,
/// or write [`FrameError::raw`] to a dead-letter file and go on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The source's name, when the caller gave one (a file path, `<stdin>`).
    pub source_name: Option<Arc<str>>,
    /// Where the offending record starts.
    pub position: Position,
    /// What is wrong with it.
    pub kind: FrameErrorKind,
    /// The record's raw bytes, for a dead-letter file: the whole record when it is at most
    /// [`FramingConfig::max_rejected_bytes`](crate::FramingConfig) long, else its first
    /// that many bytes (see [`FrameError::raw_truncated`]).
    pub raw: Vec<u8>,
    /// True when [`FrameError::raw`] holds only the start of the record.
    pub raw_truncated: bool,
    /// The error covers one part of a line cut by
    /// [`OversizePolicy::Split`](crate::OversizePolicy), and more of the line follows.
    pub continues: bool,
}

/// The kinds of framing error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// The record is not valid UTF-8 and the policy is `Reject`.
    InvalidUtf8 {
        /// Source offset of the first invalid byte.
        at: u64,
    },
    /// The record is longer than the maximum and the policy is `Reject` (always the case
    /// for JSON records, which cannot be split or truncated without becoming invalid).
    TooLarge {
        /// The record's length in bytes (without terminator).
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The record is not valid JSON (RFC 8259; numbers of any size are valid).
    InvalidJson {
        /// What was expected where, in plain words ("expected ':' at byte 9, found '1'",
        /// "unterminated string at byte 27"). Byte offsets count from the error's
        /// [`position`](FrameError::position) (the line's first byte) for an NDJSON line,
        /// and within the record's compacted form ([`FrameError::raw`]) for a record of a
        /// pretty-printed document or array.
        reason: String,
    },
    /// The record is valid JSON but not an object.
    NotAnObject,
    /// The source ended inside a JSON value that spans lines.
    UnterminatedJson,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.source_name {
            write!(f, "{name}: ")?;
        }
        write!(f, "{}: {}", self.position, self.kind)
    }
}

impl fmt::Display for FrameErrorKind {
    /// What is wrong, without where (a [`FrameError`] says where).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameErrorKind::InvalidUtf8 { at } => {
                write!(f, "invalid UTF-8 at byte {at}")
            }
            FrameErrorKind::TooLarge { len, max } => {
                write!(f, "record of {len} bytes exceeds the {max}-byte maximum")
            }
            FrameErrorKind::InvalidJson { reason } => write!(f, "invalid JSON: {reason}"),
            FrameErrorKind::NotAnObject => f.write_str("JSON value is not an object"),
            FrameErrorKind::UnterminatedJson => {
                f.write_str("input ends inside a JSON value that started here")
            }
        }
    }
}

impl std::error::Error for FrameError {}
