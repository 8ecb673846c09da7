//! Sans-IO framing for logferry: turns a stream of bytes into records, and records into
//! request bodies.
//!
//! Key types:
//! - [`LineFramer`]: `\n`-delimited text records from arbitrarily cut chunks, with byte
//!   offsets and line numbers, CRLF handling, and bounded memory for any line length;
//! - [`JsonFramer`]: JSON objects from NDJSON, pretty-printed objects or JSON arrays,
//!   validated with simd-json and re-emitted one per line;
//! - [`Framer`]: either of the two, chosen by [`Format`] at run time;
//! - [`Utf8Policy`] and [`OversizePolicy`] in [`FramingConfig`]: what happens to invalid
//!   UTF-8 and to records over the maximum size; every such event is counted in
//!   [`FrameStats`] or reported as a [`FrameError`] naming source, line and byte offset;
//! - [`Batcher`] and [`Batch`]: request bodies by size, count and linger time, each
//!   knowing the source range it covers, stored in a spool as an `LFR1` entry
//!   (`logferry_spool::Entry`); [`AckTracker`] advances a checkpoint only over
//!   delivered batches;
//! - [`Multiline`]: merges consecutive lines (a stack trace, a traceback) into one record
//!   by a start or continuation pattern, with a byte cap and a timeout; a merged record
//!   keeps its first line's position and covers all its lines' source bytes, and a record
//!   it holds is in no batch yet, so no checkpoint passes it.
//!
//! In the flow (`source → framing → batching → compress → spool → transport`) this crate
//! is the second and third stage. It does no I/O and reads no clock: callers push the
//! bytes they read and pass the current instant in. Errors never stop a framer: each is
//! handed to the caller, whose policy decides (reject the input, or dead-letter the
//! record and go on).
//!
//! ```
//! use logferry_framing::{Format, Framer, FramingConfig};
//! let mut framer = Framer::new(Format::Json, FramingConfig::named("events.ndjson"));
//! let mut records = Vec::new();
//! let mut errors = Vec::new();
//! framer.push(b"{\"a\":1}\nnot json\n{\"b\":2}\n", |r| match r {
//!     Ok(r) => records.push(r.text.into_owned()),
//!     Err(e) => errors.push(e.to_string()),
//! });
//! framer.finish(|_| {});
//! assert_eq!(records, [r#"{"a":1}"#, r#"{"b":2}"#]);
//! assert!(errors[0].starts_with("events.ndjson: line 2, byte 8: invalid JSON"));
//! ```

mod batch;
mod config;
mod error;
pub mod fuzzing;
mod json;
mod lines;
mod multiline;
mod record;
mod recycle;
mod syntax;
mod target;

pub use batch::{
    AckTracker, Batch, BatchConfig, Batcher, RecordSpan, SourceRange, cut_near_middle,
};
pub use config::{FrameStats, FramingConfig, OversizePolicy, Utf8Policy};
pub use error::{FrameError, FrameErrorKind};
pub use json::{JsonFramer, json_object_error};
pub use lines::LineFramer;
pub use multiline::{Multiline, MultilineConfig, MultilineRule, MultilineStats};
pub use record::{Framed, LineRun, Position, Record, RecordFlags};
pub use recycle::recycle;
pub use target::WireTarget;

/// The input format: plain text lines or JSON objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// One record per line (`text/plain`).
    #[default]
    Text,
    /// One JSON object per record (`application/json`).
    Json,
}

/// A line or JSON framer, chosen at run time.
#[derive(Debug)]
pub enum Framer {
    /// Text lines.
    Lines(LineFramer),
    /// JSON objects.
    Json(Box<JsonFramer>),
}

impl Framer {
    /// A framer for `format` at the start of a source.
    pub fn new(format: Format, config: FramingConfig) -> Self {
        Self::resume(format, config, Position::START)
    }

    /// A framer for `format` whose first byte sits at `position` in the source.
    pub fn resume(format: Format, config: FramingConfig, position: Position) -> Self {
        match format {
            Format::Text => Framer::Lines(LineFramer::resume(config, position)),
            Format::Json => Framer::Json(Box::new(JsonFramer::resume(config, position))),
        }
    }

    /// Frames `chunk`, calling `sink` for each record or error it completes.
    pub fn push<F>(&mut self, chunk: &[u8], sink: F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        match self {
            Framer::Lines(f) => f.push(chunk, sink),
            Framer::Json(f) => f.push(chunk, sink),
        }
    }

    /// Frames `chunk` like [`Framer::push`], but gives runs of plain text lines in one
    /// piece ([`LineFramer::push_runs`]); JSON objects come one by one.
    pub fn push_runs<F>(&mut self, chunk: &[u8], mut sink: F)
    where
        F: for<'r> FnMut(Framed<'r>),
    {
        match self {
            Framer::Lines(f) => f.push_runs(chunk, sink),
            Framer::Json(f) => f.push(chunk, |r| sink(Framed::Record(r))),
        }
    }

    /// Ends the source.
    pub fn finish<F>(&mut self, sink: F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        match self {
            Framer::Lines(f) => f.finish(sink),
            Framer::Json(f) => f.finish(sink),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> FrameStats {
        match self {
            Framer::Lines(f) => *f.stats(),
            Framer::Json(f) => f.stats(),
        }
    }

    /// Whether JSON input was recognised as a document (pretty-printed objects or an
    /// array), where resuming mid-way is impossible: `Some(false)` for text and NDJSON,
    /// `None` while JSON detection waits for the first line.
    pub fn is_document(&self) -> Option<bool> {
        match self {
            Framer::Lines(_) => Some(false),
            Framer::Json(f) => f.is_document(),
        }
    }

    /// Where the next record will start.
    pub fn position(&self) -> Position {
        match self {
            Framer::Lines(f) => f.position(),
            Framer::Json(f) => f.position(),
        }
    }
}
