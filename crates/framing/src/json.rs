//! The JSON-lines framer.
//!
//! # Input shapes
//!
//! The HTTP Ingest contract accepts "either a single JSON object per request body, or one
//! JSON object per newline-delimited line (JSON Lines / NDJSON)". Inputs come in three
//! shapes, told apart by the **first non-blank line**:
//!
//! - **NDJSON**: the first line is exactly one complete JSON object. Every non-blank line
//!   must then be one object; each line is validated (simd-json) and emitted as it is,
//!   surrounding whitespace trimmed. A bad line is an error for that line only.
//! - **Document**: the first line starts an object it does not finish (a pretty-printed
//!   object), or starts with `[` (a JSON array of objects, common for API exports). The
//!   input is then scanned structurally: each top-level object, or each element of a
//!   top-level array, is one record, validated and re-emitted compactly on one line
//!   (whitespace outside strings removed, so numbers and strings are kept byte for byte).
//!   Concatenated objects (`jq` output) work the same way. Memory is bounded by the
//!   maximum record size per object, however long a line (a minified array) is.
//! - Anything else (a first line starting with another character) is framed as NDJSON,
//!   so every line gets its own clear error.
//!
//! JSON records are never split or truncated (that would send invalid JSON): a record
//! over [`FramingConfig::max_record_bytes`] is always reported as
//! [`FrameErrorKind::TooLarge`](crate::FrameErrorKind), with its bytes for a dead-letter
//! file.
//!
//! A UTF-8 byte order mark at the very start of a source is skipped (see
//! [`LineFramer`]), in every shape.
//!
//! Checkpoints: for NDJSON, [`JsonFramer::position`] is an exact resume point. A document
//! resumed in the middle of an array would lose its opening `[`, so callers resume
//! documents from the start.

use crate::{
    FrameError, FrameErrorKind, FrameStats, FramingConfig, LineFramer, OversizePolicy, Position,
    Record, RecordFlags, Utf8Policy, lines::BOM,
};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Detect,
    Lines,
    Document,
}

/// Frames JSON objects out of NDJSON, pretty-printed or array input. Sans-IO.
///
/// ```
/// use logferry_framing::{FramingConfig, JsonFramer};
/// let mut framer = JsonFramer::new(FramingConfig::default());
/// let mut out = Vec::new();
/// framer.push(b"[\n  {\"a\": 1},\n  {\"b\": [1, 2]}\n]\n", |r| out.push(r.map(|r| r.text.into_owned())));
/// framer.finish(|r| out.push(r.map(|r| r.text.into_owned())));
/// assert_eq!(out, [Ok(r#"{"a":1}"#.to_string()), Ok(r#"{"b":[1,2]}"#.to_string())]);
/// ```
#[derive(Debug)]
pub struct JsonFramer {
    mode: Mode,
    /// Raw bytes held while the first line decides the mode.
    detect: Vec<u8>,
    /// Where the first byte of `detect` sits in the source.
    start: Position,
    lines: LineFramer,
    state: State,
}

/// Everything but the inner line framer, so both can be borrowed at once.
#[derive(Debug)]
struct State {
    config: FramingConfig,
    validator: Validator,
    doc: Scanner,
    records: u64,
    errors: u64,
    blank: u64,
    compacted: u64,
    replaced: u64,
}

impl JsonFramer {
    /// A framer at the start of a source.
    pub fn new(config: FramingConfig) -> Self {
        Self::resume(config, Position::START)
    }

    /// A framer whose first byte sits at `position` (resuming NDJSON from a checkpoint).
    pub fn resume(config: FramingConfig, position: Position) -> Self {
        Self {
            lines: LineFramer::resume(config.clone(), position),
            state: State {
                config,
                validator: Validator::default(),
                doc: Scanner::default(),
                records: 0,
                errors: 0,
                blank: 0,
                compacted: 0,
                replaced: 0,
            },
            mode: Mode::Detect,
            detect: Vec::new(),
            start: position,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> FrameStats {
        let inner = self.lines.stats();
        FrameStats {
            bytes: inner.bytes + self.detect.len() as u64,
            records: self.state.records,
            blank: inner.blank + self.state.blank,
            replaced: inner.replaced + self.state.replaced,
            compacted: self.state.compacted,
            errors: inner.errors + self.state.errors,
            unterminated: inner.unterminated,
            ..FrameStats::default()
        }
    }

    /// Where the next record will start (see the module docs on checkpoints).
    pub fn position(&self) -> Position {
        match self.mode {
            Mode::Detect => self.start,
            Mode::Lines => self.lines.position(),
            Mode::Document => self
                .state
                .doc
                .resume_point()
                .unwrap_or(self.lines.position()),
        }
    }

    /// Whether the input was recognised as a document (pretty-printed objects or an
    /// array) rather than NDJSON; `None` until the first non-blank line decides.
    pub fn is_document(&self) -> Option<bool> {
        match self.mode {
            Mode::Detect => None,
            Mode::Lines => Some(false),
            Mode::Document => Some(true),
        }
    }

    /// Frames `chunk`, calling `sink` for each record or error completed by it.
    pub fn push<F>(&mut self, chunk: &[u8], mut sink: F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        if self.mode == Mode::Detect {
            self.detect.extend_from_slice(chunk);
            let Some(mode) = detect(
                &self.detect,
                false,
                self.state.config.max_record_bytes,
                self.start.offset == 0,
            ) else {
                return;
            };
            self.enter(mode, &mut sink);
        } else {
            self.feed(chunk, &mut sink);
        }
    }

    /// Ends the source: emits what the last bytes complete, and reports a document that
    /// ends inside a value.
    pub fn finish<F>(&mut self, mut sink: F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        if self.mode == Mode::Detect {
            let mode = detect(
                &self.detect,
                true,
                self.state.config.max_record_bytes,
                self.start.offset == 0,
            )
            .unwrap_or(Mode::Lines);
            self.enter(mode, &mut sink);
        }
        let Self {
            lines, state, mode, ..
        } = self;
        let mode = *mode;
        lines.finish(|piece| state.on_piece(mode, piece, &mut sink));
        if mode == Mode::Document {
            state.end_of_input(&mut sink);
        }
    }

    fn enter<F>(&mut self, mode: Mode, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        self.mode = mode;
        let mut inner = self.state.config.clone();
        match mode {
            // Lines over the maximum are rejected whole, with their bytes.
            Mode::Lines | Mode::Detect => inner.oversize = OversizePolicy::Reject,
            // Documents stream through long lines in parts (objects are bounded instead),
            // and the scanner sees raw bytes so positions stay exact: invalid UTF-8 comes
            // back whole in the error and is replaced, if asked, when its value completes.
            Mode::Document => {
                inner.oversize = OversizePolicy::Split;
                inner.utf8 = Utf8Policy::Reject;
                inner.max_rejected_bytes = inner.max_rejected_bytes.max(inner.max_record_bytes + 8);
            }
        }
        self.lines = LineFramer::resume(inner, self.start);
        let buffered = std::mem::take(&mut self.detect);
        self.feed(&buffered, sink);
    }

    fn feed<F>(&mut self, chunk: &[u8], sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let Self {
            lines, state, mode, ..
        } = self;
        let mode = *mode;
        lines.push(chunk, |piece| state.on_piece(mode, piece, sink));
    }
}

/// Decides the mode from the first bytes, or `None` if more input is needed. At the start
/// of a source (`at_start`), a byte order mark is skipped (the line framer drops it).
fn detect(buf: &[u8], at_end: bool, max: usize, at_start: bool) -> Option<Mode> {
    let buf = match buf.strip_prefix(BOM) {
        Some(rest) if at_start => rest,
        _ if at_start && !at_end && BOM.starts_with(buf) => return None,
        _ => buf,
    };
    let Some(first) = buf.iter().position(|b| !is_ws(*b)) else {
        return at_end.then_some(Mode::Lines);
    };
    match buf[first] {
        b'[' => Some(Mode::Document),
        b'{' => {
            let rest = &buf[first..];
            let line_end = memchr::memchr(b'\n', rest);
            // A first line longer than any record would be rejected in either mode; decide
            // on length alone so the outcome never depends on how the input was cut.
            if line_end.unwrap_or(rest.len()) > max + 2 {
                return Some(Mode::Lines);
            }
            let line = match line_end {
                Some(end) => &rest[..end],
                None if at_end => rest,
                None => return None,
            };
            if is_one_complete_object(line) {
                Some(Mode::Lines)
            } else {
                Some(Mode::Document)
            }
        }
        _ => Some(Mode::Lines),
    }
}

/// True when `line` is one `{...}` value, structurally closed, followed only by whitespace.
fn is_one_complete_object(line: &[u8]) -> bool {
    let mut depth = 0u32;
    let (mut in_string, mut escape) = (false, false);
    for (i, &b) in line.iter().enumerate() {
        if in_string {
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return line[i + 1..].iter().all(|b| is_ws(*b));
                }
            }
            _ => {}
        }
    }
    false
}

/// Why `bytes` is not exactly one JSON object, in the framer's words (the
/// [`FrameErrorKind`] it would report for such an NDJSON line), or `None` when it is one.
/// For a consumer of records framed with
/// [`FramingConfig::validate_lines`](crate::FramingConfig) off, to phrase the error for a
/// record its own parser refused. Byte offsets count from the start of `bytes`.
///
/// ```
/// use logferry_framing::{FrameErrorKind, json_object_error};
/// assert_eq!(json_object_error(br#"{"a":1}"#), None);
/// assert_eq!(json_object_error(b"[1]"), Some(FrameErrorKind::NotAnObject));
/// assert_eq!(
///     json_object_error(br#"{"a":}"#).map(|k| k.to_string()),
///     Some("invalid JSON: expected a value at byte 5, found '}'".to_owned())
/// );
/// ```
pub fn json_object_error(bytes: &[u8]) -> Option<FrameErrorKind> {
    Validator::default().check_object(bytes, 0).err()
}

/// JSON whitespace (RFC 8259 §2).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// simd-json validation with reused buffers.
#[derive(Default)]
struct Validator {
    scratch: Vec<u8>,
    buffers: Option<simd_json::Buffers>,
    /// The last record's tape, kept for its allocation.
    tape: Option<simd_json::Tape<'static>>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").finish_non_exhaustive()
    }
}

impl Validator {
    /// Checks that `bytes` is exactly one JSON object (RFC 8259: numbers of any size).
    /// Byte offsets in an error's reason are indices into `bytes` plus `base`.
    ///
    /// simd-json decides first (fast); what it refuses is checked again by the strict
    /// [`syntax`](crate::syntax) checker, which accepts the valid JSON simd-json cannot
    /// hold (numbers beyond an `f64`: the record's bytes are sent as they are) and
    /// phrases what is wrong with the rest.
    fn check_object(&mut self, bytes: &[u8], base: usize) -> Result<(), FrameErrorKind> {
        self.scratch.clear();
        self.scratch.extend_from_slice(bytes);
        let buffers = self
            .buffers
            .get_or_insert_with(|| simd_json::Buffers::new(bytes.len().max(4096)));
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(|| simd_json::Tape(Vec::new()))
            .reset();
        let parsed = simd_json::fill_tape(&mut self.scratch, buffers, &mut tape)
            .map(|()| tape.as_value().is_object());
        self.tape = Some(tape.reset());
        match parsed {
            Ok(true) => Ok(()),
            Ok(false) => Err(FrameErrorKind::NotAnObject),
            Err(_) => match crate::syntax::check(bytes, base) {
                Ok(true) => Ok(()),
                Ok(false) => Err(FrameErrorKind::NotAnObject),
                Err(e) => Err(FrameErrorKind::InvalidJson { reason: e.message }),
            },
        }
    }
}

impl State {
    fn error<F>(&mut self, position: Position, kind: FrameErrorKind, raw: &[u8], sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        self.errors += 1;
        let keep = raw.len().min(self.config.max_rejected_bytes);
        sink(Err(FrameError {
            source_name: self.config.source_name.clone(),
            position,
            kind,
            raw: raw[..keep].to_vec(),
            raw_truncated: keep < raw.len(),
            continues: false,
        }));
    }

    fn on_piece<F>(&mut self, mode: Mode, piece: Result<Record<'_>, FrameError>, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        match mode {
            Mode::Document => self.on_document_piece(piece, sink),
            Mode::Lines | Mode::Detect => match piece {
                Err(e) => sink(Err(e)),
                Ok(record) => self.on_line(record, sink),
            },
        }
    }

    fn on_line<F>(&mut self, record: Record<'_>, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let trimmed = record.text.trim_matches([' ', '\t', '\r']);
        if trimmed.is_empty() {
            self.blank += 1;
            return;
        }
        let lead =
            (record.text.len() - record.text.trim_start_matches([' ', '\t', '\r']).len()) as u64;
        // Offsets in a reason count from the line's start, where the error is reported.
        let base = usize::try_from(lead).unwrap_or(usize::MAX);
        if self.config.validate_lines
            && let Err(kind) = self.validator.check_object(trimmed.as_bytes(), base)
        {
            self.error(record.position, kind, trimmed.as_bytes(), sink);
            return;
        }
        let text = match record.text {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim_matches([' ', '\t', '\r'])),
            Cow::Owned(s) => Cow::Owned(s.trim_matches([' ', '\t', '\r']).to_owned()),
        };
        self.records += 1;
        sink(Ok(Record {
            text,
            position: Position {
                offset: record.position.offset + lead,
                line: record.position.line,
            },
            source_len: record.source_len - lead,
            flags: record.flags,
        }));
    }

    fn on_document_piece<F>(&mut self, piece: Result<Record<'_>, FrameError>, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        match piece {
            Ok(record) => {
                let ends_line = !record.flags.continues;
                self.scan(record.text.as_bytes(), record.position, false, sink);
                if ends_line {
                    self.doc.end_of_line();
                }
            }
            Err(error) => {
                let ends_line = !error.continues;
                let replace = self.config.utf8 == Utf8Policy::Replace
                    && matches!(error.kind, FrameErrorKind::InvalidUtf8 { .. });
                let position = error.position;
                let raw = if replace {
                    error.raw
                } else {
                    // Keep the structure in step with the bytes, but drop whatever value
                    // they touch: its error is reported here.
                    let raw = error.raw.clone();
                    sink(Err(error));
                    raw
                };
                self.scan(&raw, position, !replace, sink);
                if ends_line {
                    self.doc.end_of_line();
                }
            }
        }
    }

    fn scan<F>(&mut self, bytes: &[u8], at: Position, poisoned: bool, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        if self.doc.skip_line && !poisoned && !bytes.is_empty() {
            // The rest of a line given up on: reported, never silently dropped (a minified
            // array longer than a record arrives in several pieces).
            self.error(
                at,
                FrameErrorKind::InvalidJson {
                    reason: "rest of a line skipped after invalid JSON".into(),
                },
                bytes,
                sink,
            );
            return;
        }
        let max = self.config.max_record_bytes;
        let max_rejected = self.config.max_rejected_bytes;
        let mut i = 0;
        while i < bytes.len() {
            let pos = Position {
                offset: at.offset + i as u64,
                line: at.line,
            };
            match self.doc.step(bytes[i], pos, poisoned, max, max_rejected) {
                Step::Consumed => i += 1,
                Step::Garbage => {
                    let rest = &bytes[i..];
                    let shown: String = String::from_utf8_lossy(&rest[..rest.len().min(1)]).into();
                    self.error(
                        pos,
                        FrameErrorKind::InvalidJson {
                            reason: format!("unexpected `{shown}` outside any object"),
                        },
                        rest,
                        sink,
                    );
                    self.doc.skip_line = true;
                    return;
                }
                Step::Complete(value) => {
                    i += usize::from(!value.reprocess_last);
                    self.complete(value, sink);
                }
            }
        }
    }

    fn complete<F>(&mut self, value: Value, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        if value.poisoned {
            return;
        }
        let max = self.config.max_record_bytes as u64;
        if value.len > max {
            let kind = FrameErrorKind::TooLarge {
                len: value.len,
                max,
            };
            self.errors += 1;
            sink(Err(FrameError {
                source_name: self.config.source_name.clone(),
                position: value.start,
                kind,
                raw_truncated: (value.buf.len() as u64) < value.len,
                raw: value.buf,
                continues: false,
            }));
            return;
        }
        if !value.object {
            self.error(value.start, FrameErrorKind::NotAnObject, &value.buf, sink);
            return;
        }
        let text = match String::from_utf8(value.buf) {
            Ok(text) => text,
            // Only reachable under Utf8Policy::Replace (invalid bytes are otherwise
            // rejected with their piece): replace them now that the value is whole.
            Err(e) => {
                self.replaced += 1;
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        if text.len() > self.config.max_record_bytes {
            let len = text.len() as u64;
            let max = self.config.max_record_bytes as u64;
            self.error(
                value.start,
                FrameErrorKind::TooLarge { len, max },
                text.as_bytes(),
                sink,
            );
            return;
        }
        if let Err(kind) = self.validator.check_object(text.as_bytes(), 0) {
            self.error(value.start, kind, text.as_bytes(), sink);
            return;
        }
        self.records += 1;
        self.compacted += 1;
        sink(Ok(Record {
            text: Cow::Owned(text),
            position: value.start,
            source_len: value.end - value.start.offset,
            flags: RecordFlags {
                compacted: true,
                ..RecordFlags::default()
            },
        }));
    }

    fn end_of_input<F>(&mut self, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        if let Some(value) = self.doc.value.take() {
            if !value.poisoned {
                self.error(
                    value.start,
                    FrameErrorKind::UnterminatedJson,
                    &value.buf,
                    sink,
                );
            }
        } else if let Some(start) = self.doc.array_start.take() {
            self.error(start, FrameErrorKind::UnterminatedJson, b"[", sink);
        }
    }
}

/// Structural state of a document.
#[derive(Debug, Default)]
struct Scanner {
    place: Place,
    array_start: Option<Position>,
    value: Option<Value>,
    /// Skip the rest of the current line after garbage.
    skip_line: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Between top-level values.
    #[default]
    Top,
    /// Inside a top-level array, expecting an element or `]`.
    ArrayValue,
    /// Inside a top-level array, after an element: expecting `,` or `]`.
    ArrayNext,
}

/// A value being collected (compacted as it goes).
#[derive(Debug)]
struct Value {
    start: Position,
    buf: Vec<u8>,
    /// Bytes of the compacted value, including any beyond what `buf` keeps.
    len: u64,
    depth: u32,
    in_string: bool,
    escape: bool,
    /// An object (else an array or scalar, which is not a valid record).
    object: bool,
    /// A scalar ends at a delimiter that belongs to the array, not to it.
    scalar: bool,
    in_array: bool,
    poisoned: bool,
    /// Source offset just past the value.
    end: u64,
    /// The byte that completed a scalar must be processed again by the array.
    reprocess_last: bool,
}

enum Step {
    Consumed,
    Garbage,
    Complete(Value),
}

impl Scanner {
    fn resume_point(&self) -> Option<Position> {
        self.value.as_ref().map(|v| v.start)
    }

    fn end_of_line(&mut self) {
        self.skip_line = false;
        if let Some(v) = self.value.as_mut().filter(|v| v.in_string) {
            // A raw line break inside a string is invalid JSON; keep it so the
            // validator says so instead of silently joining the lines.
            v.buf.push(b'\n');
            v.len += 1;
        }
    }

    fn step(&mut self, b: u8, pos: Position, poisoned: bool, max: usize, keep: usize) -> Step {
        if self.skip_line {
            return Step::Consumed;
        }
        if let Some(v) = &mut self.value {
            v.poisoned |= poisoned;
            // What this byte does to the value: kept (compaction drops whitespace outside
            // strings), and whether it ends the value (consumed, or left for the array).
            let (keep_byte, ends, reprocess) = if v.in_string {
                if v.escape {
                    v.escape = false;
                } else if b == b'\\' {
                    v.escape = true;
                } else if b == b'"' {
                    v.in_string = false;
                }
                (true, false, false)
            } else {
                match b {
                    b'"' => {
                        v.in_string = true;
                        (true, false, false)
                    }
                    b'{' | b'[' => {
                        v.depth += 1;
                        (true, false, false)
                    }
                    b'}' | b']' if v.depth > 0 => {
                        v.depth -= 1;
                        (true, v.depth == 0 && !v.scalar, false)
                    }
                    // A scalar array element ends at the array's next delimiter.
                    b',' | b']' | b'}' if v.scalar => (false, true, true),
                    _ if is_ws(b) => (false, v.scalar && v.depth == 0, false),
                    _ => (true, false, false),
                }
            };
            if keep_byte {
                v.len += 1;
                if v.buf.len() < max.max(keep) {
                    v.buf.push(b);
                }
            }
            if !ends {
                return Step::Consumed;
            }
            let mut value = self.value.take().expect("a value is being collected");
            value.end = if reprocess || !keep_byte {
                pos.offset
            } else {
                pos.offset + 1
            };
            value.reprocess_last = reprocess;
            self.place = if value.in_array {
                Place::ArrayNext
            } else {
                Place::Top
            };
            return Step::Complete(value);
        }
        if is_ws(b) {
            return Step::Consumed;
        }
        match (self.place, b) {
            (Place::Top, b'{') => self.start_value(b, pos, poisoned, false),
            (Place::Top, b'[') => {
                self.array_start = Some(pos);
                self.place = Place::ArrayValue;
                Step::Consumed
            }
            (Place::ArrayValue, b']') | (Place::ArrayNext, b']') => {
                self.array_start = None;
                self.place = Place::Top;
                Step::Consumed
            }
            (Place::ArrayNext, b',') => {
                self.place = Place::ArrayValue;
                Step::Consumed
            }
            (Place::ArrayValue, _) => self.start_value(b, pos, poisoned, true),
            _ => Step::Garbage,
        }
    }

    fn start_value(&mut self, b: u8, pos: Position, poisoned: bool, in_array: bool) -> Step {
        let container = b == b'{' || b == b'[';
        self.value = Some(Value {
            start: pos,
            buf: vec![b],
            len: 1,
            depth: u32::from(container),
            in_string: b == b'"',
            escape: false,
            object: b == b'{',
            scalar: !container,
            in_array,
            poisoned,
            end: pos.offset + 1,
            reprocess_last: false,
        });
        Step::Consumed
    }
}
