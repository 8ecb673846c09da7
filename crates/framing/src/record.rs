//! Records and their positions in the source.

use std::borrow::Cow;
use std::fmt;

/// Where something starts in a source: a 0-based byte offset and a 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Byte offset from the start of the source (0-based).
    pub offset: u64,
    /// Line number (1-based): one more than the number of `\n` before `offset`.
    pub line: u64,
}

impl Position {
    /// The start of a source: offset 0, line 1.
    pub const START: Position = Position { offset: 0, line: 1 };
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, byte {}", self.line, self.offset)
    }
}

/// What a policy did to a record on its way out of the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecordFlags {
    /// The source ended before this record's `\n`.
    pub unterminated: bool,
    /// Invalid UTF-8 was replaced by U+FFFD ([`Utf8Policy::Replace`](crate::Utf8Policy)).
    pub replaced: bool,
    /// The record was cut to the maximum size ([`OversizePolicy::Truncate`](crate::OversizePolicy)).
    pub truncated: bool,
    /// The record is one part of a longer line ([`OversizePolicy::Split`](crate::OversizePolicy)).
    pub split: bool,
    /// More parts of the same line follow this one (only with `split`).
    pub continues: bool,
    /// A JSON object was re-emitted compactly (it spanned lines, or sat in an array).
    pub compacted: bool,
}

/// One framed record: valid UTF-8 without its line terminator, and where it came from.
///
/// The text borrows from the chunk passed to the framer when it can, so framing a chunk
/// allocates only for records that straddle chunks or that a policy rewrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's text, without `\n` (and without the `\r` of a `\r\n`).
    pub text: Cow<'a, str>,
    /// Where the record starts in the source.
    pub position: Position,
    /// How many source bytes the record consumed, its terminator included, so
    /// `position.offset + source_len` is where the next record starts. A split part
    /// counts only its own bytes, the last part the terminator too.
    pub source_len: u64,
    /// What policies did to the record.
    pub flags: RecordFlags,
}

impl Record<'_> {
    /// The offset just past this record in the source: a safe checkpoint once the
    /// record (and everything before it) is delivered.
    pub fn end_offset(&self) -> u64 {
        self.position.offset + self.source_len
    }

    /// Detaches the record from the chunk it borrows.
    pub fn into_owned(self) -> Record<'static> {
        Record {
            text: Cow::Owned(self.text.into_owned()),
            position: self.position,
            source_len: self.source_len,
            flags: self.flags,
        }
    }
}

/// Consecutive whole lines taken verbatim from a chunk: each is valid UTF-8, not blank,
/// has no `\r` before its `\n`, and is within the size limit, so its record is exactly
/// its bytes and a batch body holds them as they are ([`Batcher::push_run`]).
///
/// [`Batcher::push_run`]: crate::Batcher::push_run
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRun<'a> {
    /// The lines, each ending with `\n`.
    pub bytes: &'a [u8],
    /// Offset just past each line's `\n` in `bytes`, increasing; the last is
    /// `bytes.len()`.
    pub ends: &'a [usize],
    /// Where the first line starts in the source; line `i` of the run is source line
    /// `start.line + i`.
    pub start: Position,
}

/// What [`LineFramer::push_runs`](crate::LineFramer::push_runs) and
/// [`Framer::push_runs`](crate::Framer::push_runs) give, in input order.
#[derive(Debug)]
pub enum Framed<'a> {
    /// A record or a framing error, as [`Framer::push`](crate::Framer::push) gives them.
    Record(Result<Record<'a>, crate::FrameError>),
    /// Plain lines in one piece.
    Run(LineRun<'a>),
}
