//! Packing records into request bodies.
//!
//! # Batch rules
//!
//! - Every record in a body ends with `\n`, an unterminated final record included: the
//!   HTTP Ingest contract says "Records that do not terminate with a line-feed MAY be
//!   combined with the following record", so a body never ends mid-record.
//! - A batch is emitted when it reaches [`BatchConfig::target_bytes`], when the next record
//!   would push it past [`BatchConfig::max_bytes`], when it holds
//!   [`BatchConfig::max_records`], or when its first record has waited
//!   [`BatchConfig::linger`] (checked by [`Batcher::poll`] with the caller's clock).
//! - A record is never split across batches. A single record longer than `max_bytes`
//!   (which only the framer's size policy can let through) travels alone.
//! - Every batch knows the source range it covers and a sequence number, so a checkpoint
//!   can advance only past delivered batches ([`AckTracker`]).

use crate::{LineRun, Position, Record};
use logferry_spool::{Entry, EntryError, EntryReader};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batch sizing. `BatchConfig::default()` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Emit once the body reaches this many bytes. Default: 100,000, the HTTP Ingest
    /// contract's "Recommended request body size ≈ 100 KB. Optimized for the lowest
    /// end-to-end ingest latency."
    pub target_bytes: usize,
    /// Never let a body grow past this many bytes (except for one oversized record
    /// alone). Default: 1,000,000.
    pub max_bytes: usize,
    /// Emit once the batch holds this many records. Default: no limit (the HTTP Ingest
    /// contract: "The API does not enforce a separate cap on the number of log records
    /// per request").
    pub max_records: Option<usize>,
    /// Emit a non-empty batch once its first record has waited this long. Default: 1 s.
    pub linger: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            target_bytes: 100_000,
            max_bytes: 1_000_000,
            max_records: None,
            linger: Duration::from_secs(1),
        }
    }
}

/// The part of a source a batch covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRange {
    /// The source's name, when known.
    pub source_name: Option<Arc<str>>,
    /// Where the first record starts.
    pub start: Position,
    /// Source offset just past the last record: the checkpoint once delivered.
    pub end: u64,
    /// Line of the last record.
    pub last_line: u64,
}

impl fmt::Display for SourceRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.source_name {
            write!(f, "{name}: ")?;
        }
        if self.start.line == self.last_line {
            write!(f, "line {}", self.start.line)?;
        } else {
            write!(f, "lines {}-{}", self.start.line, self.last_line)?;
        }
        write!(f, " (bytes {}..{})", self.start.offset, self.end)
    }
}

/// Where one record sits in a batch body and in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset just past the record's `\n` in the body.
    pub body_end: usize,
    /// Where the record starts in the source.
    pub position: Position,
    /// Source offset just past the record.
    pub source_end: u64,
}

/// A request body of whole `\n`-terminated records, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    seq: u64,
    body: Vec<u8>,
    spans: Vec<RecordSpan>,
    source_name: Option<Arc<str>>,
    /// A gzip member holding exactly `body`, when the batch arrived compressed.
    gzip: Option<bytes::Bytes>,
}

impl Batch {
    /// The batch's sequence number within its batcher (0, 1, 2, ...).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The body: records, each ending with `\n`.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Attaches `member`, a gzip member whose content is exactly this batch's body (the
    /// caller checked it: a NATS worker inflated the message it came in). An encoder that
    /// would gzip the body may send `member` instead ([`Batch::take_gzip`]). It does not
    /// travel into the stored form, and the halves of [`Batch::split_half`] have none.
    pub fn with_gzip(mut self, member: impl Into<bytes::Bytes>) -> Batch {
        self.gzip = Some(member.into());
        self
    }

    /// Takes the gzip member attached by [`Batch::with_gzip`], if any.
    pub fn take_gzip(&mut self) -> Option<bytes::Bytes> {
        self.gzip.take()
    }

    /// Takes the body out (the spans go back to the shelf; hand the body to
    /// [`recycle`](crate::recycle) once done with it).
    pub fn into_body(mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the batch holds no record (never the case for emitted batches).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The record spans, in order.
    pub fn spans(&self) -> &[RecordSpan] {
        &self.spans
    }

    /// Record `i` without its `\n`, and where it came from.
    pub fn record(&self, i: usize) -> Option<(&[u8], Position)> {
        let span = self.spans.get(i)?;
        let start = if i == 0 {
            0
        } else {
            self.spans[i - 1].body_end
        };
        Some((&self.body[start..span.body_end - 1], span.position))
    }

    /// The source range the batch covers.
    pub fn range(&self) -> SourceRange {
        let (first, last) = match (self.spans.first(), self.spans.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => {
                return SourceRange {
                    source_name: self.source_name.clone(),
                    start: Position::START,
                    end: 0,
                    last_line: 1,
                };
            }
        };
        SourceRange {
            source_name: self.source_name.clone(),
            start: first.position,
            end: last.source_end,
            last_line: last.position.line,
        }
    }

    /// The length of the batch's stored form ([`Entry::encode`]).
    fn stored_len(&self) -> usize {
        let name = self.source_name.as_deref().unwrap_or_default().len();
        4 + 8 + 4 + name + 4 + self.spans.len() * SPAN_LEN + 8 + self.body.len()
    }

    /// Splits the batch in two at the record boundary nearest the middle of the body
    /// (for a server that answered "too large"). Both halves keep the sequence number.
    /// A single-record batch cannot be split and comes back as `Err`.
    pub fn split_half(mut self) -> Result<(Batch, Batch), Batch> {
        if self.spans.len() < 2 {
            return Err(self);
        }
        let ends: Vec<usize> = self.spans.iter().map(|s| s.body_end).collect();
        let cut = cut_near_middle(&ends, self.body.len());
        let at = self.spans[cut - 1].body_end;
        let mut body = std::mem::take(&mut self.body);
        let tail_body = body.split_off(at);
        let mut spans = std::mem::take(&mut self.spans);
        let tail_spans: Vec<RecordSpan> = spans
            .split_off(cut)
            .into_iter()
            .map(|s| RecordSpan {
                body_end: s.body_end - at,
                ..s
            })
            .collect();
        Ok((
            Batch {
                seq: self.seq,
                body,
                spans,
                source_name: self.source_name.clone(),
                gzip: None,
            },
            Batch {
                seq: self.seq,
                body: tail_body,
                spans: tail_spans,
                source_name: self.source_name.take(),
                gzip: None,
            },
        ))
    }
}

/// A batch's span list goes back to the shelf when the batch is done with, for the
/// next batch to fill (see the `recycle` module); the body does too if it is still here.
impl Drop for Batch {
    fn drop(&mut self) {
        crate::recycle::SPANS.put(std::mem::take(&mut self.spans));
        crate::recycle::BODIES.put(std::mem::take(&mut self.body));
    }
}

/// Bytes of one stored [`RecordSpan`].
const SPAN_LEN: usize = 32;

/// The batch as a spool entry, spans included, so a new process can frame nothing again
/// and still name every record's position. Layout (integers little-endian):
///
/// ```text
/// "LFR1" | seq u64 | name_len u32 | name (UTF-8, 0 bytes = none) | spans u32
///        | spans × (body_end u64, offset u64, line u64, source_end u64)
///        | body_len u64 | body
/// ```
///
/// Reading checks every invariant a batch keeps: spans increasing and covering the body,
/// each record one line ending with `\n`.
///
/// ```
/// use logferry_framing::{Batch, BatchConfig, Batcher, FramingConfig, LineFramer};
/// use logferry_spool::Entry;
/// let mut batcher = Batcher::new(BatchConfig::default(), Some("app.log".into()));
/// let mut framer = LineFramer::new(FramingConfig::default());
/// let now = std::time::Instant::now();
/// framer.push(b"one\ntwo\n", |r| batcher.push(&r.unwrap(), now, |_| {}));
/// let mut batches = Vec::new();
/// batcher.flush(|b| batches.push(b));
/// let stored = batches[0].encode();
/// assert_eq!(Batch::decode(&stored)?, batches[0]);
/// let mut broken = stored.clone();
/// *broken.last_mut().unwrap() = b'x';
/// assert_eq!(
///     Batch::decode(&broken).unwrap_err().to_string(),
///     "stored LFR1 entry, byte 106: record 2 does not end where its span says"
/// );
/// # Ok::<(), logferry_spool::EntryError>(())
/// ```
impl Entry for Batch {
    const KIND: [u8; 4] = *b"LFR1";

    fn write_body(&self, out: &mut Vec<u8>) {
        out.reserve(self.stored_len() - Self::KIND.len());
        self.write_head(out);
        out.extend_from_slice(&self.body);
    }

    fn read_body(stored: &[u8]) -> Result<Batch, EntryError> {
        Batch::read_stored(stored)
    }
}

impl Batch {
    /// The stored form ([`Entry::encode`]) up to its body: the kind tag, sequence
    /// number, name, spans and the body's length. Followed by [`Batch::body`] it is the
    /// whole stored form, so the two can be written (or compressed) apart without
    /// copying the body.
    ///
    /// ```
    /// use logferry_framing::{BatchConfig, Batcher, Record};
    /// use logferry_spool::Entry;
    /// let mut batcher = Batcher::new(BatchConfig::default(), Some("app.log".into()));
    /// let record = Record { text: "one".into(), position: Default::default(), source_len: 4, flags: Default::default() };
    /// let mut batches = Vec::new();
    /// batcher.push(&record, std::time::Instant::now(), |b| batches.push(b));
    /// batcher.flush(|b| batches.push(b));
    /// let mut stored = batches[0].stored_head();
    /// stored.extend_from_slice(batches[0].body());
    /// assert_eq!(stored, batches[0].encode());
    /// ```
    pub fn stored_head(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.stored_len() - self.body.len());
        out.extend_from_slice(&Self::KIND);
        self.write_head(&mut out);
        out
    }

    fn write_head(&self, out: &mut Vec<u8>) {
        let name = self.source_name.as_deref().unwrap_or_default().as_bytes();
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(self.spans.len() as u32).to_le_bytes());
        for s in &self.spans {
            for v in [
                s.body_end as u64,
                s.position.offset,
                s.position.line,
                s.source_end,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.body.len() as u64).to_le_bytes());
    }

    /// A batch from its stored head ([`Batch::stored_head`], kind tag included) and its
    /// body, read apart (a NATS message's two members), checked exactly like a whole
    /// stored batch, without copying the body.
    ///
    /// ```
    /// use logferry_framing::{Batch, BatchConfig, Batcher, Record};
    /// let mut batcher = Batcher::new(BatchConfig::default(), Some("app.log".into()));
    /// let record = Record { text: "one".into(), position: Default::default(), source_len: 4, flags: Default::default() };
    /// let mut batches = Vec::new();
    /// batcher.push(&record, std::time::Instant::now(), |b| batches.push(b));
    /// batcher.flush(|b| batches.push(b));
    /// let (head, body) = (batches[0].stored_head(), batches[0].body().to_vec());
    /// assert_eq!(Batch::from_stored_parts(&head, body)?, batches[0]);
    /// let err = Batch::from_stored_parts(&head, b"one\ntwo\n".to_vec()).unwrap_err();
    /// assert!(err.to_string().contains("the body is not the length stored"), "{err}");
    /// # Ok::<(), logferry_spool::EntryError>(())
    /// ```
    pub fn from_stored_parts(head: &[u8], body: Vec<u8>) -> Result<Batch, EntryError> {
        match head.strip_prefix(&Self::KIND) {
            Some(head) => Self::read_parts(head, Some(body)),
            None => Err(stored_error(0, "wrong kind tag")),
        }
    }

    fn read_stored(stored: &[u8]) -> Result<Batch, EntryError> {
        Self::read_parts(stored, None)
    }

    /// The stored form after its kind tag; the body is in it, or given apart.
    fn read_parts(stored: &[u8], apart: Option<Vec<u8>>) -> Result<Batch, EntryError> {
        let mut r = EntryReader::new(Self::KIND, stored);
        let seq = r.u64()?;
        let name = r.str_u32()?;
        let count = r.u32()? as usize;
        let spans_at = r.offset();
        let mut spans = Vec::with_capacity(r.capacity_for(count, SPAN_LEN));
        for _ in 0..count {
            let body_end = r.usize_u64()?;
            let (offset, line, source_end) = (r.u64()?, r.u64()?, r.u64()?);
            spans.push(RecordSpan {
                body_end,
                position: Position { offset, line },
                source_end,
            });
        }
        let body_at = r.offset() + 8;
        let body = match apart {
            None => r.bytes_u64()?.to_vec(),
            Some(body) => {
                if r.usize_u64()? != body.len() {
                    return Err(stored_error(
                        body_at - 8,
                        "the body is not the length stored",
                    ));
                }
                body
            }
        };
        r.finish()?;
        let mut start = 0;
        for (i, s) in spans.iter().enumerate() {
            let span_at = spans_at + i * SPAN_LEN;
            let n = i + 1;
            if s.body_end <= start || s.body_end > body.len() {
                return Err(stored_error(
                    span_at,
                    format!("record {n}'s span is outside the body"),
                ));
            }
            if body[s.body_end - 1] != b'\n' {
                return Err(stored_error(
                    body_at + s.body_end - 1,
                    format!("record {n} does not end where its span says"),
                ));
            }
            if let Some(nl) = memchr::memchr(b'\n', &body[start..s.body_end - 1]) {
                return Err(stored_error(
                    body_at + start + nl,
                    format!("record {n}'s span covers more than one line"),
                ));
            }
            start = s.body_end;
        }
        if start != body.len() {
            return Err(stored_error(
                body_at + start,
                "body bytes outside any record",
            ));
        }
        Ok(Batch {
            seq,
            body,
            spans,
            source_name: (!name.is_empty()).then(|| name.into()),
            gzip: None,
        })
    }
}

/// An error in a stored batch found after reading it whole.
fn stored_error(offset: usize, reason: impl Into<std::borrow::Cow<'static, str>>) -> EntryError {
    EntryError::new(Batch::KIND, offset, reason)
}

/// Packs records into [`Batch`]es. Sans-IO: the caller passes the current instant.
///
/// ```
/// use logferry_framing::{BatchConfig, Batcher, FramingConfig, LineFramer};
/// use std::time::Instant;
/// let mut batcher = Batcher::new(BatchConfig { target_bytes: 11, ..BatchConfig::default() }, None);
/// let mut framer = LineFramer::new(FramingConfig::default());
/// let mut batches = Vec::new();
/// let now = Instant::now();
/// framer.push(b"alpha\nbeta\ngamma", |r| batcher.push(&r.unwrap(), now, |b| batches.push(b)));
/// framer.finish(|r| batcher.push(&r.unwrap(), now, |b| batches.push(b)));
/// batcher.flush(|b| batches.push(b));
/// assert_eq!(batches[0].body(), b"alpha\nbeta\n");
/// assert_eq!(batches[1].body(), b"gamma\n"); // unterminated in the source, terminated here
/// assert_eq!(batches[1].range().to_string(), "line 3 (bytes 11..16)");
/// ```
#[derive(Debug)]
pub struct Batcher {
    config: BatchConfig,
    source_name: Option<Arc<str>>,
    next_seq: u64,
    body: Vec<u8>,
    spans: Vec<RecordSpan>,
    opened: Option<Instant>,
    /// The last batch closed because it was full: the input comes in bulk, and the next
    /// batch reserves its whole target at once. An input that trickles (its batches
    /// close on linger) reserves little: a thousand followed files each holding an open
    /// batch must not each hold the target's memory.
    bulk: bool,
}

/// What a batch of a trickling input reserves when it opens.
const TRICKLE_RESERVE: usize = 4096;

impl Batcher {
    /// A batcher whose first batch has sequence number 0.
    pub fn new(config: BatchConfig, source_name: Option<Arc<str>>) -> Self {
        Self {
            config,
            source_name,
            next_seq: 0,
            body: Vec::new(),
            spans: Vec::new(),
            opened: None,
            bulk: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Changes the target size for the batches still to come (the hard maximum stays):
    /// a caller that knows how well bodies compress can aim at a size on the wire.
    pub fn set_target_bytes(&mut self, target: usize) {
        self.config.target_bytes = target.clamp(1, self.config.max_bytes.max(1));
    }

    /// Bytes waiting in the open batch.
    pub fn pending_bytes(&self) -> usize {
        self.body.len()
    }

    /// Adds a record, calling `sink` for every batch this completes (at most two: the
    /// open batch if the record does not fit beside it, then the record's own batch if
    /// it fills it).
    pub fn push(&mut self, record: &Record<'_>, now: Instant, mut sink: impl FnMut(Batch)) {
        let text = record.text.as_bytes();
        let need = text.len() + 1;
        self.make_room(need, now, &mut sink);
        self.body.extend_from_slice(text);
        self.body.push(b'\n');
        self.spans.push(RecordSpan {
            body_end: self.body.len(),
            position: record.position,
            source_end: record.end_offset(),
        });
        self.close_if_full(&mut sink);
    }

    /// Adds a run of plain lines: the same batches as [`Batcher::push`] of each line's
    /// record in turn, with the bytes copied in one piece per batch.
    pub fn push_run(&mut self, run: &LineRun<'_>, now: Instant, mut sink: impl FnMut(Batch)) {
        let ends = run.ends;
        let mut i = 0;
        while i < ends.len() {
            let base = if i == 0 { 0 } else { ends[i - 1] };
            let need = ends[i] - base;
            self.make_room(need, now, &mut sink);
            // Records `i..i + take` go in: up to the one reaching the target, none past
            // the maximum (but one at least: an oversized record travels alone), none
            // past the record limit.
            let held = self.body.len();
            let rest = &ends[i..];
            let fit = rest
                .partition_point(|&e| held + (e - base) <= self.config.max_bytes)
                .max(1);
            let reach = rest.partition_point(|&e| held + (e - base) < self.config.target_bytes) + 1;
            let room = self.config.max_records.map_or(usize::MAX, |max| {
                max.saturating_sub(self.spans.len()).max(1)
            });
            let take = fit.min(reach).min(room).min(rest.len());
            let last = ends[i + take - 1];
            self.body.extend_from_slice(&run.bytes[base..last]);
            let mut from = base;
            for (k, &end) in rest[..take].iter().enumerate() {
                let offset = run.start.offset + from as u64;
                self.spans.push(RecordSpan {
                    body_end: held + (end - base),
                    position: Position {
                        offset,
                        line: run.start.line + (i + k) as u64,
                    },
                    source_end: offset + (end - from) as u64,
                });
                from = end;
            }
            i += take;
            self.close_if_full(&mut sink);
        }
    }

    /// Before `need` more bytes: closes the open batch if they would take it past the
    /// maximum, and opens a new one (reserving the whole target for an input that comes
    /// in bulk, little for one that trickles) if none is open.
    fn make_room(&mut self, need: usize, now: Instant, sink: &mut impl FnMut(Batch)) {
        if !self.body.is_empty() && self.body.len() + need > self.config.max_bytes {
            self.bulk = true;
            self.emit(sink);
        }
        if self.body.is_empty() {
            self.opened = Some(now);
            let target = if self.bulk {
                self.config.target_bytes
            } else {
                self.config.target_bytes.min(TRICKLE_RESERVE)
            };
            if self.bulk && self.body.capacity() == 0 {
                // Memory of a batch already sent, rather than fresh pages.
                self.body = crate::recycle::BODIES.take().unwrap_or_default();
                self.spans = crate::recycle::SPANS.take().unwrap_or_default();
            }
            self.body
                .reserve(target.max(need).min(self.config.max_bytes.max(need)) + 256);
        }
    }

    /// Closes the open batch once it reached the target size or the record limit.
    fn close_if_full(&mut self, sink: &mut impl FnMut(Batch)) {
        let full_count = self
            .config
            .max_records
            .is_some_and(|max| self.spans.len() >= max);
        if self.body.len() >= self.config.target_bytes || full_count {
            self.bulk = true;
            self.emit(sink);
        }
    }

    /// Emits the open batch if its linger time has passed.
    pub fn poll(&mut self, now: Instant, mut sink: impl FnMut(Batch)) {
        if self.deadline().is_some_and(|d| d <= now) {
            self.bulk = false;
            self.emit(&mut sink);
        }
    }

    /// When [`Batcher::poll`] should next be called, if a batch is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened.map(|t| t + self.config.linger)
    }

    /// Emits the open batch, if any (at the end of the input).
    pub fn flush(&mut self, mut sink: impl FnMut(Batch)) {
        self.emit(&mut sink);
    }

    fn emit(&mut self, sink: &mut impl FnMut(Batch)) {
        if self.spans.is_empty() {
            return;
        }
        let batch = Batch {
            seq: self.next_seq,
            body: std::mem::take(&mut self.body),
            spans: std::mem::take(&mut self.spans),
            source_name: self.source_name.clone(),
            gzip: None,
        };
        self.next_seq += 1;
        self.opened = None;
        sink(batch);
    }
}

/// Advances a checkpoint only over a contiguous prefix of delivered batches.
///
/// With several requests in flight, batch 7 may be delivered before batch 6. The
/// checkpoint (the source offset a restart resumes from) must not pass batch 6's records
/// until batch 6 is delivered too, or a crash would lose them.
///
/// ```
/// use logferry_framing::AckTracker;
/// let mut acks = AckTracker::new(0, 0);
/// assert_eq!(acks.ack(1, 200), None);       // batch 0 still in flight
/// assert_eq!(acks.ack(0, 100), Some(200));  // now both are delivered
/// assert_eq!(acks.checkpoint(), 200);
/// ```
#[derive(Debug, Clone)]
pub struct AckTracker {
    next: u64,
    checkpoint: u64,
    done: BTreeMap<u64, u64>,
}

impl AckTracker {
    /// A tracker expecting batch `first_seq` next, with the checkpoint at `start`.
    pub fn new(first_seq: u64, start: u64) -> Self {
        Self {
            next: first_seq,
            checkpoint: start,
            done: BTreeMap::new(),
        }
    }

    /// Records batch `seq` (ending at source offset `end`) as delivered, or handled for
    /// good (dead-lettered). Returns the new checkpoint when it advanced.
    pub fn ack(&mut self, seq: u64, end: u64) -> Option<u64> {
        if seq < self.next {
            return None;
        }
        self.done.insert(seq, end);
        let before = self.checkpoint;
        while let Some(end) = self.done.remove(&self.next) {
            self.checkpoint = self.checkpoint.max(end);
            self.next += 1;
        }
        (self.checkpoint != before).then_some(self.checkpoint)
    }

    /// The offset up to which everything is delivered.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    /// The lowest sequence number not yet acknowledged.
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// Batches acknowledged out of order, waiting for an earlier one.
    pub fn waiting(&self) -> usize {
        self.done.len()
    }
}

/// How many records go in the left part when a body of `len` bytes, whose records end
/// at `ends` (offsets just past each record, increasing; at least two), is cut in two
/// at the record boundary nearest its middle, with one record at least on each side.
/// On a tie, the left part is the smaller.
pub fn cut_near_middle(ends: &[usize], len: usize) -> usize {
    assert!(ends.len() >= 2, "a cut needs two records");
    let middle = len / 2;
    let before = ends.partition_point(|&end| end <= middle);
    [before, before + 1]
        .into_iter()
        .map(|k| k.clamp(1, ends.len() - 1))
        .min_by_key(|&k| ends[k - 1].abs_diff(middle))
        .expect("two candidates")
}
