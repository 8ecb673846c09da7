//! Merging consecutive lines into one record: stack traces, tracebacks, wrapped messages.

use crate::{Position, Record, RecordFlags};
use regex::Regex;
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// How lines are merged. No default: the pattern is the user's.
#[derive(Debug, Clone)]
pub struct MultilineConfig {
    /// Which lines begin a record and which continue one.
    pub rule: MultilineRule,
    /// The largest merged record, in bytes of text (separators included). A line that
    /// would pass it begins a new record instead.
    pub max_bytes: usize,
    /// How long a held record waits for its next line, counted from its last line.
    pub timeout: Duration,
    /// Put between the lines of a merged record: `"\n"` for SDL, a visible separator for
    /// HTTP Ingest text.
    pub join: String,
}

/// Which lines begin a record.
#[derive(Debug, Clone)]
pub enum MultilineRule {
    /// A line matching the pattern begins a record; other lines continue the held one
    /// (e.g. `^\S` for Java stack traces, whose frames are indented).
    Start(Regex),
    /// A line matching the pattern continues the held record; other lines begin a new one
    /// (e.g. `^(\s|Traceback|\w+Error)` for Python tracebacks).
    Continue(Regex),
}

impl MultilineRule {
    /// Whether `line` joins a held record.
    fn joins(&self, line: &str) -> bool {
        match self {
            MultilineRule::Start(start) => !start.is_match(line),
            MultilineRule::Continue(cont) => cont.is_match(line),
        }
    }
}

/// What a [`Multiline`] merger did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MultilineStats {
    /// Records emitted that hold more than one line.
    pub records_merged: u64,
    /// Lines appended to an earlier line (so lines in = records out + `lines_merged`).
    pub lines_merged: u64,
    /// Records emitted early because the next line would have taken them past
    /// [`MultilineConfig::max_bytes`].
    pub records_cut: u64,
}

/// The held record, apart from its text.
#[derive(Debug, Clone, Copy)]
struct Held {
    position: Position,
    end: u64,
    flags: RecordFlags,
    lines: u64,
    last_at: Instant,
}

/// Merges framed lines into multiline records. Sans-IO: the caller passes the current
/// instant.
///
/// # Rules
///
/// - [`MultilineRule::Start`]: a line matching the pattern begins a new record; a line that
///   does not match is appended to the record being held.
/// - [`MultilineRule::Continue`]: a line matching the pattern is appended to the record being
///   held; a line that does not match begins a new record.
/// - When nothing is held (the first line of the input, or the first line after a timeout,
///   a cut or a flush), the line begins a record whatever it is, and the lines that follow
///   join it by the rule above. So lines before the first start-pattern match form one
///   record together (they are most likely the tail of a trace whose start was not read,
///   e.g. when following a file from its end), and the lines after a cut or a timeout stay
///   together too: the same rule in all three cases, instead of one record per orphan line.
/// - A line that would take the held record past [`MultilineConfig::max_bytes`] (text,
///   separators included) is not appended: the held record is emitted and the line begins
///   the next one ([`MultilineStats::records_cut`]). A single line longer than the cap
///   travels alone (the framer's `max_record_bytes` bounds lines).
/// - A held record is emitted once [`MultilineConfig::timeout`] has passed since its **last**
///   line arrived ([`Multiline::poll`], [`Multiline::deadline`]), and at the end of the input
///   ([`Multiline::flush`]). [`Multiline::push`] applies the timeout too before it looks at the
///   line, so the output depends only on the lines and the instants they arrived at, not on
///   how often the caller polls.
///
/// # The merged record
///
/// - `text`: the lines' texts joined with [`MultilineConfig::join`]. For SDL, `"\n"` (an SDL
///   message may hold newlines); for HTTP Ingest `text/plain`, whose contract makes every line
///   feed a record boundary, a visible separator instead. Note that a [`Batch`](crate::Batch)
///   keeps one record per body line (its stored form refuses a record spanning lines), so
///   text joined with `"\n"` needs a carrier that delimits records otherwise.
/// - `position`: the first line's. `source_len`: from the first line's start to the last
///   line's end, which is the sum of the lines' `source_len` since the framer's records tile
///   the source (skipped blank lines and records the framer rejected in between are covered
///   too, as a [`Batch`](crate::Batch)'s range covers them). So `end_offset()` is the last
///   line's, and the merged records tile the source exactly as the lines did.
/// - `flags`: `unterminated` and `continues` from the last line; the others (`replaced`,
///   `truncated`, `split`, `compacted`) set when any line had them.
///
/// # Checkpoints and memory
///
/// A record the merger holds has not been handed on, so it is in no batch yet, and a
/// checkpoint (which only ever moves to the end of a delivered batch, see
/// [`AckTracker`](crate::AckTracker)) never passes it: a crash while a trace is held loses
/// nothing, the restart re-reads the trace from its first line. Memory is bounded by
/// `max_bytes` plus one line: the held text, never more.
///
/// Lines must come in source order from one source; a line that starts before the held
/// record ends is never joined to it.
///
/// # Example
///
/// ```
/// use logferry_framing::{FramingConfig, LineFramer, Multiline, MultilineConfig, MultilineRule};
/// use regex::Regex;
/// use std::time::{Duration, Instant};
/// let mut merger = Multiline::new(MultilineConfig {
///     rule: MultilineRule::Start(Regex::new(r"^\S").unwrap()),
///     max_bytes: 1_000_000,
///     timeout: Duration::from_secs(1),
///     join: "\n".into(),
/// });
/// let source = b"boom\n  at a\n  at b\nok\n";
/// let mut framer = LineFramer::new(FramingConfig::default());
/// let mut out = Vec::new();
/// let now = Instant::now();
/// framer.push(source, |r| {
///     merger.push(r.unwrap(), now, &mut |m| out.push((m.text.into_owned(), m.position.line, m.source_len)))
/// });
/// assert_eq!(out, [("boom\n  at a\n  at b".to_owned(), 1, 19)]); // "ok" is held
/// assert_eq!(merger.deadline(), Some(now + Duration::from_secs(1)));
/// merger.flush(&mut |m| out.push((m.text.into_owned(), m.position.line, m.source_len)));
/// assert_eq!(out[1], ("ok".to_owned(), 4, 3));
/// ```
#[derive(Debug)]
pub struct Multiline {
    config: MultilineConfig,
    text: String,
    held: Option<Held>,
    stats: MultilineStats,
}

impl Multiline {
    /// A merger holding nothing.
    pub fn new(config: MultilineConfig) -> Self {
        Self {
            config,
            text: String::new(),
            held: None,
            stats: MultilineStats::default(),
        }
    }

    /// Takes the next line (a framed record), calling `emit` for every record this
    /// completes: the held one if it timed out, or if this line begins a new record or
    /// would pass the cap. The line itself is held until the next line, `poll` or `flush`
    /// decides.
    pub fn push(&mut self, record: Record<'_>, now: Instant, emit: &mut dyn FnMut(Record<'_>)) {
        self.poll(now, emit);
        let joins = match &self.held {
            None => {
                self.hold(record, now);
                return;
            }
            Some(held) => {
                record.position.offset >= held.end && self.config.rule.joins(&record.text)
            }
        };
        if !joins {
            self.emit_held(emit);
            self.hold(record, now);
            return;
        }
        let grown = self.text.len() + self.config.join.len() + record.text.len();
        if grown > self.config.max_bytes {
            self.stats.records_cut += 1;
            self.emit_held(emit);
            self.hold(record, now);
            return;
        }
        self.text.push_str(&self.config.join);
        self.text.push_str(&record.text);
        let held = self.held.as_mut().expect("a held record: checked above");
        let f = record.flags;
        held.end = record.end_offset();
        held.lines += 1;
        held.last_at = now;
        held.flags = RecordFlags {
            unterminated: f.unterminated,
            continues: f.continues,
            replaced: held.flags.replaced || f.replaced,
            truncated: held.flags.truncated || f.truncated,
            split: held.flags.split || f.split,
            compacted: held.flags.compacted || f.compacted,
        };
    }

    /// Emits the held record if `timeout` has passed since its last line arrived.
    pub fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(Record<'_>)) {
        if self.deadline().is_some_and(|d| d <= now) {
            self.emit_held(emit);
        }
    }

    /// Emits the held record, if any (at the end of the input).
    pub fn flush(&mut self, emit: &mut dyn FnMut(Record<'_>)) {
        self.emit_held(emit);
    }

    /// When [`Multiline::poll`] should next be called: `None` when nothing is held (or the
    /// timeout is too long for an `Instant`).
    pub fn deadline(&self) -> Option<Instant> {
        self.held
            .as_ref()
            .and_then(|h| h.last_at.checked_add(self.config.timeout))
    }

    /// Counters so far.
    pub fn stats(&self) -> MultilineStats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &MultilineConfig {
        &self.config
    }

    fn hold(&mut self, record: Record<'_>, now: Instant) {
        self.text.clear();
        self.text.push_str(&record.text);
        self.held = Some(Held {
            position: record.position,
            end: record.end_offset(),
            flags: record.flags,
            lines: 1,
            last_at: now,
        });
    }

    fn emit_held(&mut self, emit: &mut dyn FnMut(Record<'_>)) {
        let Some(held) = self.held.take() else {
            return;
        };
        if held.lines > 1 {
            self.stats.records_merged += 1;
            self.stats.lines_merged += held.lines - 1;
        }
        emit(Record {
            text: Cow::Borrowed(&self.text),
            position: held.position,
            source_len: held.end - held.position.offset,
            flags: held.flags,
        });
        // Keep the allocation for the next record, but not a huge one from an oversized
        // line: memory stays near `max_bytes`.
        self.text.clear();
        if self.text.capacity() > self.config.max_bytes.saturating_mul(2).max(4096) {
            self.text.shrink_to(self.config.max_bytes.max(4096));
        }
    }
}
