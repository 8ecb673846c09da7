//! Framing policies and their defaults.

use std::sync::Arc;

/// What to do with a record that is not valid UTF-8.
///
/// Both contracts require UTF-8 request bodies (HTTP Ingest: "Request bodies MUST be UTF-8
/// encoded for both content types"), so invalid bytes never reach the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Utf8Policy {
    /// Report a [`FrameError`](crate::FrameError) naming the offset of the first invalid
    /// byte; the record's raw bytes travel with the error for a dead-letter file.
    #[default]
    Reject,
    /// Replace each invalid sequence with U+FFFD and emit the record (counted in
    /// [`FrameStats::replaced`](crate::FrameStats)).
    Replace,
}

/// What to do with a text record longer than [`FramingConfig::max_record_bytes`].
///
/// JSON records ignore this and are always rejected: splitting or truncating a JSON
/// object would send invalid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OversizePolicy {
    /// Emit the line as several records of at most the maximum, cut at UTF-8 character
    /// boundaries; nothing is lost. Each part is flagged `split`.
    #[default]
    Split,
    /// Emit only the first maximum bytes (cut at a character boundary), flagged `truncated`.
    Truncate,
    /// Report a [`FrameError`](crate::FrameError) and emit nothing for the record.
    Reject,
}

/// How records are cut out of a byte stream. `FramingConfig::default()` gives the
/// documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingConfig {
    /// A name for the source (a path, `<stdin>`), included in every error. Default: none.
    pub source_name: Option<Arc<str>>,
    /// Invalid UTF-8 handling. Default: [`Utf8Policy::Reject`].
    pub utf8: Utf8Policy,
    /// Largest record, in bytes, without its terminator. Default: 500,000, from the HTTP
    /// Ingest contract: "Recommended maximum individual log record size ≈ 500 KB.
    /// Individual records larger than this MAY be split or truncated by downstream
    /// processing." Splitting them here keeps that decision with the sender.
    pub max_record_bytes: usize,
    /// Oversized text records. Default: [`OversizePolicy::Split`].
    pub oversize: OversizePolicy,
    /// Skip empty lines (after removing a `\r` before `\n`) instead of emitting empty
    /// records; they are counted in [`FrameStats::blank`](crate::FrameStats). Default: true.
    pub skip_blank: bool,
    /// How many bytes of a rejected record travel with its error for a dead-letter file;
    /// longer records keep only their start, so memory stays bounded however long a line
    /// is. Default: 8 MiB.
    pub max_rejected_bytes: usize,
    /// Validate each NDJSON line as one JSON object (simd-json). Default: true. Turn it
    /// off only when whatever consumes the records parses each one anyway and reports the
    /// ones it cannot read, with their position: the SDL sink does (it reads every record
    /// into an event with the same parser, and [`json_object_error`](crate::json_object_error)
    /// gives the framer's own reason for one it cannot read), so validating here too would
    /// parse every line twice. Documents (pretty-printed objects, arrays) are validated
    /// either way.
    pub validate_lines: bool,
}

impl Default for FramingConfig {
    fn default() -> Self {
        Self {
            source_name: None,
            utf8: Utf8Policy::Reject,
            max_record_bytes: 500_000,
            oversize: OversizePolicy::Split,
            skip_blank: true,
            max_rejected_bytes: 8 << 20,
            validate_lines: true,
        }
    }
}

impl FramingConfig {
    /// The default configuration with a source name for error messages.
    pub fn named(name: impl Into<Arc<str>>) -> Self {
        Self {
            source_name: Some(name.into()),
            ..Self::default()
        }
    }
}

/// Counters kept by a framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FrameStats {
    /// Source bytes consumed.
    pub bytes: u64,
    /// Records emitted (each part of a split line counts).
    pub records: u64,
    /// Empty lines skipped.
    pub blank: u64,
    /// Records emitted with invalid UTF-8 replaced.
    pub replaced: u64,
    /// Records emitted truncated.
    pub truncated: u64,
    /// Lines emitted as several parts.
    pub split: u64,
    /// JSON objects re-emitted compactly.
    pub compacted: u64,
    /// Errors reported (records not emitted).
    pub errors: u64,
    /// Whether the source ended without a final `\n` (0 or 1 per source).
    pub unterminated: u64,
}
