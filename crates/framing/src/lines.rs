//! The streaming line framer.
//!
//! # Framing rules
//!
//! - A record ends at `\n` (HTTP Ingest: "Log records are delimited by the line-feed
//!   character"). The `\n` is not part of the record.
//! - A `\r` directly before `\n` is removed too, so CRLF files frame like LF files. A `\r`
//!   anywhere else, including at the very end of an input without a final `\n`, is data.
//! - Bytes after the last `\n` form a final record when the input ends
//!   ([`LineFramer::finish`]); it is flagged `unterminated`.
//! - Empty lines are skipped (counted) unless [`FramingConfig::skip_blank`] is off.
//! - A UTF-8 byte order mark (`EF BB BF`) at the very start of a source (offset 0) is
//!   skipped: it is part of no record, and the first record starts at offset 3. Anywhere
//!   else it is data.
//! - Positions: every record knows its byte offset and 1-based line number in the source,
//!   however the input was cut into chunks.
//! - Memory: a line is buffered only while it straddles chunks, and never beyond
//!   [`FramingConfig::max_record_bytes`] (+4 bytes, see `SLACK`) for kept data or
//!   [`FramingConfig::max_rejected_bytes`] for a rejected record, however long it is.

use crate::{
    FrameError, FrameErrorKind, FrameStats, Framed, FramingConfig, LineRun, OversizePolicy,
    Position, Record, RecordFlags, Utf8Policy,
};
use std::borrow::Cow;

/// Bytes a straddling line keeps beyond the maximum before anything is cut from it: a cut
/// decision reads at most one character past the maximum (up to 4 bytes of UTF-8, or a
/// `\r` that may end a CRLF), so with this slack a line is cut exactly as it would be if
/// it had arrived in one chunk.
const SLACK: usize = 4;

/// The UTF-8 byte order mark.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How the line in progress (straddling chunks) is being kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// All bytes so far are in `carry` (within the maximum + slack, or being split).
    All,
    /// `carry` holds the first `max + SLACK` bytes; the rest is dropped (Truncate).
    Prefix,
    /// `carry` holds up to `max_rejected_bytes` for the error (Reject).
    Rejected,
}

/// Cuts a byte stream into line records. Sans-IO: feed chunks as they are read.
///
/// ```
/// use logferry_framing::{FramingConfig, LineFramer};
/// let mut framer = LineFramer::new(FramingConfig::default());
/// let mut lines = Vec::new();
/// for chunk in [&b"first\r\nsec"[..], b"ond\nthird"] {
///     framer.push(chunk, |r| lines.push(r.unwrap().into_owned()));
/// }
/// framer.finish(|r| lines.push(r.unwrap().into_owned()));
/// let texts: Vec<_> = lines.iter().map(|r| r.text.as_ref()).collect();
/// assert_eq!(texts, ["first", "second", "third"]);
/// assert_eq!((lines[1].position.offset, lines[1].position.line), (7, 2));
/// assert!(lines[2].flags.unterminated);
/// ```
#[derive(Debug)]
pub struct LineFramer {
    config: FramingConfig,
    /// Source offset of the next byte to be pushed.
    offset: u64,
    /// Line number of the line in progress.
    line: u64,
    /// Whether a line is in progress (bytes seen since the last `\n`).
    pending: bool,
    /// Where the kept part of the line in progress starts.
    part_start: u64,
    /// Total bytes of the line in progress seen so far (from `part_start`).
    part_len: u64,
    keep: Keep,
    /// Whether parts of the line in progress were already emitted (Split).
    parts_emitted: bool,
    /// Whether the last byte seen of the line in progress is `\r` (kept or not).
    ends_cr: bool,
    carry: Vec<u8>,
    stats: FrameStats,
    /// While a byte order mark may still start the source: how many of its bytes were
    /// seen (held back, not yet framed). `None` once decided, or when not at offset 0.
    bom_seen: Option<usize>,
}

impl LineFramer {
    /// A framer at the start of a source. A `max_record_bytes` of 0 is taken as 1.
    pub fn new(config: FramingConfig) -> Self {
        Self::resume(config, Position::START)
    }

    /// A framer whose first byte sits at `position` in the source (resuming from a
    /// checkpoint): offsets and line numbers continue from there.
    pub fn resume(mut config: FramingConfig, position: Position) -> Self {
        config.max_record_bytes = config.max_record_bytes.max(1);
        Self {
            config,
            offset: position.offset,
            line: position.line,
            pending: false,
            part_start: position.offset,
            part_len: 0,
            keep: Keep::All,
            parts_emitted: false,
            ends_cr: false,
            carry: Vec::new(),
            stats: FrameStats::default(),
            bom_seen: (position.offset == 0).then_some(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FramingConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> &FrameStats {
        &self.stats
    }

    /// Where the next record will start: the checkpoint position once every record
    /// emitted so far is delivered.
    pub fn position(&self) -> Position {
        Position {
            offset: if self.pending {
                self.part_start
            } else {
                self.offset
            },
            line: self.line,
        }
    }

    /// Frames `chunk`, calling `sink` for each record or error completed by it.
    pub fn push<F>(&mut self, chunk: &[u8], sink: F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let chunk = match self.bom_seen {
            None => chunk,
            Some(seen) => {
                let want = &BOM[seen..];
                let n = want.len().min(chunk.len());
                if chunk[..n] == want[..n] {
                    // Still (part of) the mark: consumed, framed as nothing.
                    self.offset += n as u64;
                    self.stats.bytes += n as u64;
                    self.part_start = self.offset;
                    if n == want.len() {
                        self.bom_seen = None;
                    } else {
                        self.bom_seen = Some(seen + n);
                    }
                    &chunk[n..]
                } else {
                    // Not a mark: the bytes held back are data after all.
                    self.bom_seen = None;
                    if seen > 0 {
                        self.offset -= seen as u64;
                        self.stats.bytes -= seen as u64;
                        self.part_start = self.offset;
                        let mut joined = BOM[..seen].to_vec();
                        joined.extend_from_slice(chunk);
                        self.push(&joined, sink);
                        return;
                    }
                    chunk
                }
            }
        };
        self.push_data(chunk, sink);
    }

    /// Frames `chunk` exactly like [`LineFramer::push`] (same records, positions,
    /// errors and counters), but gives runs of plain lines ([`LineRun`]) in one piece
    /// instead of record by record: the chunk's whole lines are checked for UTF-8 in one
    /// pass and cut at their `\n`s, and only lines a policy touches (blank, CRLF,
    /// oversized, invalid UTF-8) and lines straddling chunks become single records.
    ///
    /// ```
    /// use logferry_framing::{Framed, FramingConfig, LineFramer};
    /// let mut framer = LineFramer::new(FramingConfig::default());
    /// let mut seen = Vec::new();
    /// framer.push_runs(b"one\ntwo\n\nthree\r\nfour\nfi", |f| match f {
    ///     Framed::Run(run) => seen.push(format!("run {:?} at line {}", run.ends, run.start.line)),
    ///     Framed::Record(r) => seen.push(format!("record {}", r.unwrap().text)),
    /// });
    /// framer.finish(|r| seen.push(format!("record {}", r.unwrap().text)));
    /// assert_eq!(seen, [
    ///     "record one",   // the source's first line says whether it starts with a BOM
    ///     "run [4] at line 2",
    ///     "record three", // after a blank line; CRLF: the record is not the line's bytes
    ///     "run [5] at line 5",
    ///     "record fi",    // not whole yet
    /// ]);
    /// ```
    pub fn push_runs<F>(&mut self, chunk: &[u8], mut sink: F)
    where
        F: for<'r> FnMut(Framed<'r>),
    {
        let mut rest = chunk;
        if self.pending || self.bom_seen.is_some() {
            // A line in progress, or a possible byte order mark: up to the first `\n`
            // the record way (a framer may be fed any cut of its input).
            let head = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            self.push(&rest[..head], |r| sink(Framed::Record(r)));
            rest = &rest[head..];
        }
        if rest.is_empty() {
            return;
        }
        let whole = memchr::memrchr(b'\n', rest).map_or(0, |i| i + 1);
        let (lines, tail) = rest.split_at(whole);
        if !lines.is_empty() {
            if std::str::from_utf8(lines).is_ok() {
                self.push_plain(lines, &mut sink);
            } else {
                self.push(lines, |r| sink(Framed::Record(r)));
            }
        }
        if !tail.is_empty() {
            self.push(tail, |r| sink(Framed::Record(r)));
        }
    }

    /// Whole lines of valid UTF-8 (`lines` ends with `\n`), no line in progress.
    fn push_plain<F>(&mut self, lines: &[u8], sink: &mut F)
    where
        F: for<'r> FnMut(Framed<'r>),
    {
        let base = self.offset;
        self.offset += lines.len() as u64;
        self.stats.bytes += lines.len() as u64;
        let max = self.config.max_record_bytes;
        // Line ends of the run being gathered (one allocation per chunk).
        let mut ends = Vec::new();
        let (mut run_start, mut run_line) = (0usize, self.line);
        let mut start = 0usize;
        for nl in memchr::memchr_iter(b'\n', lines) {
            let line = &lines[start..nl];
            if !line.is_empty() && line[line.len() - 1] != b'\r' && line.len() <= max {
                if ends.is_empty() {
                    (run_start, run_line) = (start, self.line);
                }
                ends.push(nl + 1 - run_start);
            } else {
                self.flush_run(
                    &lines[run_start..start],
                    &mut ends,
                    base,
                    run_start,
                    run_line,
                    sink,
                );
                let at = base + start as u64;
                let len = (nl - start) as u64 + 1;
                self.emit(line, at, len, true, &mut |r| sink(Framed::Record(r)));
            }
            self.line += 1;
            start = nl + 1;
        }
        self.flush_run(
            &lines[run_start..start],
            &mut ends,
            base,
            run_start,
            run_line,
            sink,
        );
    }

    /// Gives the gathered run, if any, and starts a new one.
    fn flush_run<F>(
        &mut self,
        bytes: &[u8],
        ends: &mut Vec<usize>,
        base: u64,
        at: usize,
        line: u64,
        sink: &mut F,
    ) where
        F: for<'r> FnMut(Framed<'r>),
    {
        if ends.is_empty() {
            return;
        }
        self.stats.records += ends.len() as u64;
        sink(Framed::Run(LineRun {
            bytes,
            ends,
            start: Position {
                offset: base + at as u64,
                line,
            },
        }));
        ends.clear();
    }

    fn push_data<F>(&mut self, chunk: &[u8], mut sink: F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let base = self.offset;
        self.offset += chunk.len() as u64;
        self.stats.bytes += chunk.len() as u64;
        let mut rest = chunk;
        let mut rest_at = base;

        if self.pending {
            match memchr::memchr(b'\n', rest) {
                None => {
                    self.accumulate(rest, &mut sink);
                    return;
                }
                Some(i) => {
                    self.accumulate(&rest[..i], &mut sink);
                    self.finish_carry(true, &mut sink);
                    rest = &rest[i + 1..];
                    rest_at += i as u64 + 1;
                }
            }
        }

        // Fast path: whole lines inside the chunk are emitted straight from it.
        let mut start = 0usize;
        for nl in memchr::memchr_iter(b'\n', rest) {
            let line = &rest[start..nl];
            let at = rest_at + start as u64;
            self.emit(line, at, (nl - start) as u64 + 1, true, &mut sink);
            self.line += 1;
            start = nl + 1;
        }
        if start < rest.len() {
            self.pending = true;
            self.part_start = rest_at + start as u64;
            self.part_len = 0;
            self.keep = Keep::All;
            self.parts_emitted = false;
            self.ends_cr = false;
            self.carry.clear();
            self.accumulate(&rest[start..], &mut sink);
        }
    }

    /// Ends the source: emits the final record if it lacked a `\n`.
    pub fn finish<F>(&mut self, mut sink: F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        if let Some(seen) = self.bom_seen.take().filter(|&seen| seen > 0) {
            // The input ended inside what could have been a mark: those bytes are data.
            self.offset -= seen as u64;
            self.stats.bytes -= seen as u64;
            self.part_start = self.offset;
            self.push_data(&BOM[..seen], &mut sink);
        }
        if self.pending {
            self.stats.unterminated += 1;
            self.finish_carry(false, &mut sink);
        }
    }

    /// Adds bytes of the line in progress to the carry buffer under the size policies.
    fn accumulate<F>(&mut self, bytes: &[u8], sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        self.part_len += bytes.len() as u64;
        if let Some(&last) = bytes.last() {
            self.ends_cr = last == b'\r';
        }
        let max = self.config.max_record_bytes;
        match self.keep {
            Keep::All => {
                self.carry.extend_from_slice(bytes);
                if self.carry.len() > max + SLACK {
                    match self.config.oversize {
                        OversizePolicy::Split => self.emit_carry_parts(sink),
                        OversizePolicy::Truncate => {
                            self.carry.truncate(max + SLACK);
                            self.keep = Keep::Prefix;
                        }
                        OversizePolicy::Reject => {
                            self.carry.truncate(self.config.max_rejected_bytes);
                            self.keep = Keep::Rejected;
                        }
                    }
                }
            }
            Keep::Prefix => {}
            Keep::Rejected => {
                let room = self
                    .config
                    .max_rejected_bytes
                    .saturating_sub(self.carry.len());
                self.carry
                    .extend_from_slice(&bytes[..room.min(bytes.len())]);
            }
        }
    }

    /// Emits full-size parts from the front of an over-long carry, keeping the rest.
    fn emit_carry_parts<F>(&mut self, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let max = self.config.max_record_bytes;
        if !self.parts_emitted {
            self.stats.split += 1;
            self.parts_emitted = true;
        }
        let carry = std::mem::take(&mut self.carry);
        let mut from = 0usize;
        while carry.len() - from > max + SLACK {
            let cut = self.cut(&carry[from..]);
            let part = &carry[from..from + cut];
            let position = Position {
                offset: self.part_start,
                line: self.line,
            };
            let flags = RecordFlags {
                split: true,
                continues: true,
                ..RecordFlags::default()
            };
            self.emit_checked(part, position, cut as u64, flags, sink);
            self.part_start += cut as u64;
            self.part_len -= cut as u64;
            from += cut;
        }
        self.carry = carry;
        self.carry.drain(..from);
    }

    /// Emits the line in progress once its end (`\n` or end of input) is known.
    fn finish_carry<F>(&mut self, terminated: bool, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let carry = std::mem::take(&mut self.carry);
        let at = self.part_start;
        let source_len = self.part_len + u64::from(terminated);
        let position = Position {
            offset: at,
            line: self.line,
        };
        let cr = terminated && self.ends_cr;
        match self.keep {
            Keep::All => {
                let content = if cr {
                    &carry[..carry.len() - 1]
                } else {
                    &carry[..]
                };
                let was_split = self.parts_emitted;
                self.emit_content(content, position, source_len, terminated, was_split, sink);
            }
            Keep::Prefix => {
                let cut = self.cut(&carry);
                let flags = RecordFlags {
                    unterminated: !terminated,
                    truncated: true,
                    ..RecordFlags::default()
                };
                self.stats.truncated += 1;
                self.emit_checked(&carry[..cut], position, source_len, flags, sink);
            }
            Keep::Rejected => {
                let len = self.part_len - u64::from(cr);
                self.reject_too_large(&carry, len, position, sink);
            }
        }
        if terminated {
            self.line += 1;
        }
        self.pending = false;
        self.keep = Keep::All;
        self.parts_emitted = false;
        self.carry = carry;
        self.carry.clear();
    }

    /// Emits one complete line (from a chunk or the carry), applying every policy.
    fn emit<F>(&mut self, line: &[u8], at: u64, source_len: u64, terminated: bool, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let content = if terminated && line.last() == Some(&b'\r') {
            &line[..line.len() - 1]
        } else {
            line
        };
        let position = Position {
            offset: at,
            line: self.line,
        };
        self.emit_content(content, position, source_len, terminated, false, sink);
    }

    fn emit_content<F>(
        &mut self,
        content: &[u8],
        position: Position,
        source_len: u64,
        terminated: bool,
        was_split: bool,
        sink: &mut F,
    ) where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let max = self.config.max_record_bytes;
        let mut flags = RecordFlags {
            unterminated: !terminated,
            split: was_split,
            ..RecordFlags::default()
        };
        if content.is_empty() && !was_split && self.config.skip_blank {
            self.stats.blank += 1;
            return;
        }
        if content.len() <= max {
            // The hot path: one UTF-8 validation, no copy.
            if let Ok(text) = std::str::from_utf8(content) {
                self.stats.records += 1;
                sink(Ok(Record {
                    text: Cow::Borrowed(text),
                    position,
                    source_len,
                    flags,
                }));
                return;
            }
            // Invalid UTF-8: rejected, or replaced if the replacement still fits.
            if self.config.utf8 == Utf8Policy::Reject || lossy_len(content) <= max {
                self.emit_checked(content, position, source_len, flags, sink);
                return;
            }
        }
        match self.config.oversize {
            OversizePolicy::Split => {
                if !was_split {
                    self.stats.split += 1;
                }
                let mut from = 0usize;
                let mut at = position.offset;
                // Replacement only ever grows a record, so the exact (costlier) output
                // length is needed only once the raw rest fits.
                while content.len() - from > max || self.output_len(&content[from..]) > max {
                    let cut = self.cut(&content[from..]);
                    let part_flags = RecordFlags {
                        split: true,
                        continues: true,
                        unterminated: false,
                        ..flags
                    };
                    let pos = Position {
                        offset: at,
                        line: position.line,
                    };
                    self.emit_checked(
                        &content[from..from + cut],
                        pos,
                        cut as u64,
                        part_flags,
                        sink,
                    );
                    from += cut;
                    at += cut as u64;
                }
                flags.split = true;
                let pos = Position {
                    offset: at,
                    line: position.line,
                };
                let consumed = position.offset + source_len - at;
                self.emit_checked(&content[from..], pos, consumed, flags, sink);
            }
            OversizePolicy::Truncate => {
                self.stats.truncated += 1;
                flags.truncated = true;
                let cut = self.cut(content);
                self.emit_checked(&content[..cut], position, source_len, flags, sink);
            }
            OversizePolicy::Reject => {
                let keep = content.len().min(self.config.max_rejected_bytes);
                self.reject_too_large(&content[..keep], content.len() as u64, position, sink);
            }
        }
    }

    /// Length of the record `bytes` becomes: longer than `bytes` when invalid UTF-8 is
    /// replaced (each invalid sequence becomes the 3-byte U+FFFD).
    fn output_len(&self, bytes: &[u8]) -> usize {
        match self.config.utf8 {
            Utf8Policy::Replace => lossy_len(bytes),
            Utf8Policy::Reject => bytes.len(),
        }
    }

    /// Where to cut `bytes` so the part emitted fits the maximum: at a character
    /// boundary, counting replacement characters when invalid UTF-8 is replaced.
    fn cut(&self, bytes: &[u8]) -> usize {
        let max = self.config.max_record_bytes;
        match self.config.utf8 {
            Utf8Policy::Replace => lossy_cut(bytes, max),
            Utf8Policy::Reject => char_cut(bytes, max),
        }
    }

    fn reject_too_large<F>(&mut self, raw: &[u8], len: u64, position: Position, sink: &mut F)
    where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        self.stats.errors += 1;
        sink(Err(FrameError {
            source_name: self.config.source_name.clone(),
            position,
            kind: FrameErrorKind::TooLarge {
                len,
                max: self.config.max_record_bytes as u64,
            },
            raw: raw.to_vec(),
            raw_truncated: (raw.len() as u64) < len,
            continues: false,
        }));
    }

    /// Applies the UTF-8 policy and hands the record to the sink.
    fn emit_checked<F>(
        &mut self,
        content: &[u8],
        position: Position,
        source_len: u64,
        mut flags: RecordFlags,
        sink: &mut F,
    ) where
        F: for<'r> FnMut(Result<Record<'r>, FrameError>),
    {
        let text = match std::str::from_utf8(content) {
            Ok(text) => Cow::Borrowed(text),
            Err(e) => match self.config.utf8 {
                Utf8Policy::Replace => {
                    self.stats.replaced += 1;
                    flags.replaced = true;
                    String::from_utf8_lossy(content)
                }
                Utf8Policy::Reject => {
                    self.stats.errors += 1;
                    let keep = content.len().min(self.config.max_rejected_bytes);
                    sink(Err(FrameError {
                        source_name: self.config.source_name.clone(),
                        position,
                        kind: FrameErrorKind::InvalidUtf8 {
                            at: position.offset + e.valid_up_to() as u64,
                        },
                        raw: content[..keep].to_vec(),
                        raw_truncated: keep < content.len(),
                        continues: flags.continues,
                    }));
                    return;
                }
            },
        };
        self.stats.records += 1;
        sink(Ok(Record {
            text,
            position,
            source_len,
            flags,
        }));
    }
}

/// The largest cut ≤ `max` that does not split a UTF-8 sequence of `bytes` (which is
/// longer than `max`): step back over at most three continuation bytes. Invalid data with
/// no boundary that close is cut at `max`.
fn char_cut(bytes: &[u8], max: usize) -> usize {
    let continuation = |i: usize| bytes.get(i).is_some_and(|b| b & 0xC0 == 0x80);
    let mut cut = max;
    while cut + 3 > max && cut > 0 && continuation(cut) {
        cut -= 1;
    }
    if cut == 0 || continuation(cut) {
        max
    } else {
        cut
    }
}

/// Length of `String::from_utf8_lossy(bytes)` without building it.
fn lossy_len(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|c| c.valid().len() + if c.invalid().is_empty() { 0 } else { 3 })
        .sum()
}

/// The longest prefix of `bytes` whose lossy conversion is at most `max` bytes, cut at a
/// character or invalid-sequence boundary. Never 0 for non-empty input: a first
/// character wider than `max` is taken alone.
fn lossy_cut(bytes: &[u8], max: usize) -> usize {
    let (mut out, mut raw) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        if out + valid.len() > max {
            let mut cut = max - out;
            while !valid.is_char_boundary(cut) {
                cut -= 1;
            }
            if raw + cut == 0 {
                return valid.chars().next().map_or(1, char::len_utf8);
            }
            return raw + cut;
        }
        out += valid.len();
        raw += valid.len();
        let invalid = chunk.invalid();
        if !invalid.is_empty() {
            if out + 3 > max {
                return if raw == 0 { invalid.len() } else { raw };
            }
            out += 3;
            raw += invalid.len();
        }
    }
    raw
}
