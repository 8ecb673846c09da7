//! Encoded batches: what is sent, spooled and resent.

use crate::Error;
use bytes::Bytes;
use logferry_compress::{Encoding, Level};
use logferry_framing::{Batch, Position, SourceRange};
use logferry_spool::{Entry, EntryError, EntryReader};
use std::fmt;
use std::sync::Arc;

/// A request body ready for the wire (gzip or identity) and where its records came from.
///
/// This is the unit the spool stores (an `LFB1` [`Entry`]) and a retry resends
/// unchanged. When built from a [`Batch`] it also remembers each record's source
/// position, so a part split off after a 413 can still be named exactly; a batch rebuilt
/// from storage ([`EncodedBatch::from_parts`], [`Entry::decode`]) names parts by record
/// index instead.
#[derive(Clone)]
pub struct EncodedBatch {
    seq: u64,
    range: SourceRange,
    records: u32,
    raw_len: usize,
    body: Bytes,
    encoding: Encoding,
    /// Source positions of the records of the *original* batch, when known.
    positions: Option<Arc<[Position]>>,
    /// Index of this part's first record within the original batch.
    first_record: u32,
    /// Records in the original batch.
    total: u32,
    /// The caller's token, echoed in the batch's [`Delivery`](crate::Delivery).
    entry: u64,
}

impl fmt::Debug for EncodedBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedBatch")
            .field("seq", &self.seq)
            .field("range", &self.range.to_string())
            .field("records", &self.records)
            .field("raw_len", &self.raw_len)
            .field("wire_len", &self.body.len())
            .field("encoding", &self.encoding)
            .finish()
    }
}

impl EncodedBatch {
    /// Encodes `batch`, gzipping on tokio's blocking pool when `compression` is set (so
    /// batches compress on every core while the runtime keeps sending).
    ///
    /// A batch that arrived with a gzip member of its body ([`Batch::with_gzip`]: records
    /// an edge host compressed before publishing them to NATS) is sent as that member
    /// when `compression` is set, at whatever level it has, rather than compressed again.
    pub async fn encode(mut batch: Batch, compression: Option<Level>) -> EncodedBatch {
        let member = batch.take_gzip();
        let seq = batch.seq();
        let range = batch.range();
        let records = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let positions: Arc<[Position]> = batch.spans().iter().map(|s| s.position).collect();
        let raw = batch.into_body();
        let raw_len = raw.len();
        let (body, encoding) = match (compression, member) {
            (Some(_), Some(member)) => {
                logferry_framing::recycle(raw);
                (member, Encoding::Gzip)
            }
            _ => encode_body(raw, compression).await,
        };
        EncodedBatch {
            seq,
            range,
            records,
            raw_len,
            body,
            encoding,
            positions: Some(positions),
            first_record: 0,
            total: records,
            entry: 0,
        }
    }

    /// Rebuilds a batch from stored parts (a spool replay).
    pub fn from_parts(
        seq: u64,
        range: SourceRange,
        records: u32,
        raw_len: usize,
        body: Bytes,
        encoding: Encoding,
    ) -> EncodedBatch {
        EncodedBatch {
            seq,
            range,
            records,
            raw_len,
            body,
            encoding,
            positions: None,
            first_record: 0,
            total: records,
            entry: 0,
        }
    }

    /// Attaches an opaque token (a spool entry id, say) that comes back in the batch's
    /// [`Delivery::entry`](crate::Delivery::entry).
    pub fn with_entry(mut self, entry: u64) -> EncodedBatch {
        self.entry = entry;
        self
    }

    /// The caller's spool entry id (0 unless set with [`EncodedBatch::with_entry`]).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The batch's sequence number in its source.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The source range the batch covers.
    pub fn range(&self) -> &SourceRange {
        &self.range
    }

    /// Number of records.
    pub fn records(&self) -> u32 {
        self.records
    }

    /// Uncompressed body length.
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }

    /// The body as sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body's encoding.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The uncompressed records (`\n`-terminated).
    pub fn raw(&self) -> Result<Vec<u8>, Error> {
        Ok(logferry_compress::decode(
            self.encoding,
            &self.body,
            self.raw_len,
        )?)
    }

    /// A description of this part for messages: the source range, and which records
    /// of the batch it holds when it is a part.
    pub fn label(&self) -> String {
        // A whole batch, or a part whose exact range is known from record positions.
        if (self.first_record == 0 && self.records == self.total) || self.positions.is_some() {
            return self.range.to_string();
        }
        let first = self.first_record + 1;
        let last = self.first_record + self.records;
        if self.records == 1 {
            format!("record {first} of the batch from {}", self.range)
        } else {
            format!("records {first}-{last} of the batch from {}", self.range)
        }
    }

    /// Splits the body in two at the record boundary nearest its middle, re-encoding
    /// both halves. A single-record batch comes back as `Err`.
    pub(crate) async fn split(
        self,
        compression: Option<Level>,
    ) -> Result<Result<(EncodedBatch, EncodedBatch), EncodedBatch>, Error> {
        if self.records < 2 {
            return Ok(Err(self));
        }
        let raw = self.raw()?;
        let ends: Vec<usize> = raw
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        if ends.len() < 2 {
            return Ok(Err(self));
        }
        let k = logferry_framing::cut_near_middle(&ends, raw.len());
        let cut = ends[k - 1];
        let mut left = raw;
        let right = left.split_off(cut);
        let (left_n, right_n) = (k as u32, ends.len() as u32 - k as u32);
        let (left_range, right_range) = self.part_ranges(left_n);
        let (left_len, right_len) = (left.len(), right.len());
        let ((lb, le), (rb, re)) = tokio::join!(
            encode_body(left, compression),
            encode_body(right, compression)
        );
        let part = |range, records, raw_len, body, encoding, first_record| EncodedBatch {
            seq: self.seq,
            range,
            records,
            raw_len,
            body,
            encoding,
            positions: self.positions.clone(),
            first_record,
            total: self.total,
            entry: self.entry,
        };
        Ok(Ok((
            part(left_range, left_n, left_len, lb, le, self.first_record),
            part(
                right_range,
                right_n,
                right_len,
                rb,
                re,
                self.first_record + left_n,
            ),
        )))
    }

    /// Consecutive parts of one original batch, in source order, made one batch again:
    /// what is left of a batch after its first parts were delivered or refused.
    pub(crate) async fn rejoin(
        parts: Vec<EncodedBatch>,
        compression: Option<Level>,
    ) -> Result<EncodedBatch, Error> {
        let mut parts = parts.into_iter();
        let first = parts.next().expect("rejoin is given at least one part");
        let rest: Vec<EncodedBatch> = parts.collect();
        let Some(last) = rest.last() else {
            return Ok(first);
        };
        let range = SourceRange {
            source_name: first.range.source_name.clone(),
            start: first.range.start,
            end: last.range.end,
            last_line: last.range.last_line,
        };
        let mut raw = first.raw()?;
        let mut records = first.records;
        for part in &rest {
            raw.extend_from_slice(&part.raw()?);
            records += part.records;
        }
        let raw_len = raw.len();
        let (body, encoding) = encode_body(raw, compression).await;
        Ok(EncodedBatch {
            range,
            records,
            raw_len,
            body,
            encoding,
            ..first
        })
    }

    /// Source ranges of the two parts when the left one holds `left_n` records: exact
    /// when record positions are known, else the whole batch's range for both.
    fn part_ranges(&self, left_n: u32) -> (SourceRange, SourceRange) {
        let Some(positions) = &self.positions else {
            return (self.range.clone(), self.range.clone());
        };
        let at = |i: u32| positions.get(i as usize).copied();
        let first = self.first_record;
        let mid = first + left_n;
        let last = first + self.records - 1;
        match (at(first), at(mid - 1), at(mid), at(last)) {
            (Some(a), Some(b), Some(c), Some(d)) => (
                SourceRange {
                    source_name: self.range.source_name.clone(),
                    start: a,
                    end: c.offset,
                    last_line: b.line,
                },
                SourceRange {
                    source_name: self.range.source_name.clone(),
                    start: c,
                    end: self.range.end,
                    last_line: d.line,
                },
            ),
            _ => (self.range.clone(), self.range.clone()),
        }
    }
}

async fn encode_body(raw: Vec<u8>, compression: Option<Level>) -> (Bytes, Encoding) {
    match compression {
        Some(level) => {
            let (raw, gz) = logferry_compress::gzip_blocking(raw, level).await;
            // The next batch fills the same memory (no fresh pages to fault in).
            logferry_framing::recycle(raw);
            (Bytes::from(gz), Encoding::Gzip)
        }
        None => (Bytes::from(raw), Encoding::Identity),
    }
}

/// The batch as a spool entry: everything but the per-record positions and the entry id.
/// Layout (integers little-endian):
///
/// ```text
/// "LFB1" | seq u64 | records u32 | raw_len u64 | encoding u8 (0 identity, 1 gzip)
///        | start.offset u64 | start.line u64 | end u64 | last_line u64
///        | name_len u32 | name (UTF-8, 0 bytes = no name) | body_len u64 | body
/// ```
///
/// Reading rebuilds the batch with [`EncodedBatch::from_parts`]; an identity body whose
/// length differs from the raw length is refused.
impl Entry for EncodedBatch {
    const KIND: [u8; 4] = *b"LFB1";

    fn write_body(&self, out: &mut Vec<u8>) {
        let name = self
            .range
            .source_name
            .as_deref()
            .unwrap_or_default()
            .as_bytes();
        out.reserve(60 + name.len() + self.body.len());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.records.to_le_bytes());
        out.extend_from_slice(&(self.raw_len as u64).to_le_bytes());
        out.push(match self.encoding {
            Encoding::Gzip => 1,
            _ => 0,
        });
        for v in [
            self.range.start.offset,
            self.range.start.line,
            self.range.end,
            self.range.last_line,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(self.body.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.body);
    }

    fn read_body(stored: &[u8]) -> Result<EncodedBatch, EntryError> {
        let mut r = EntryReader::new(Self::KIND, stored);
        let seq = r.u64()?;
        let records = r.u32()?;
        let raw_len = r.usize_u64()?;
        let encoding = match r.u8()? {
            0 => Encoding::Identity,
            1 => Encoding::Gzip,
            other => {
                return Err(r.error_at(r.offset() - 1, format!("unknown body encoding {other}")));
            }
        };
        let (offset, line, end, last_line) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        let name = r.str_u32()?;
        let body_at = r.offset();
        let body = Bytes::copy_from_slice(r.bytes_u64()?);
        r.finish()?;
        if encoding == Encoding::Identity && body.len() != raw_len {
            return Err(EntryError::new(
                Self::KIND,
                body_at,
                format!(
                    "identity body of {} bytes but a raw length of {raw_len}",
                    body.len()
                ),
            ));
        }
        let range = SourceRange {
            source_name: (!name.is_empty()).then(|| name.into()),
            start: Position { offset, line },
            end,
            last_line,
        };
        Ok(EncodedBatch::from_parts(
            seq, range, records, raw_len, body, encoding,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gzip_member_that_came_with_the_batch_is_sent_as_it_is() {
        let mut batcher = logferry_framing::Batcher::new(Default::default(), None);
        let record = logferry_framing::Record {
            text: "a record".into(),
            position: Position::START,
            source_len: 9,
            flags: Default::default(),
        };
        batcher.push(&record, std::time::Instant::now(), |_| {});
        let mut batches = Vec::new();
        batcher.flush(|b| batches.push(b));
        let batch = batches.pop().expect("a batch");
        // Level 9, unlike what this sender would make: proof the member went out as is.
        let member = logferry_compress::gzip(batch.body(), Level::new(9).unwrap());
        let sent =
            EncodedBatch::encode(batch.clone().with_gzip(member.clone()), Some(Level::FAST)).await;
        assert_eq!(
            (sent.body().as_ref(), sent.encoding()),
            (&member[..], Encoding::Gzip)
        );
        assert_eq!(sent.raw().unwrap(), batch.body());
        // Without compression the raw body goes, member or not.
        let plain = EncodedBatch::encode(batch.clone().with_gzip(member), None).await;
        assert_eq!(
            (plain.body().as_ref(), plain.encoding()),
            (batch.body(), Encoding::Identity)
        );
    }

    #[tokio::test]
    async fn stored_form_round_trips_and_rejects_garbage() {
        let range = SourceRange {
            source_name: Some("app.log".into()),
            start: Position {
                offset: 10,
                line: 2,
            },
            end: 30,
            last_line: 3,
        };
        let raw = b"first record\nsecond!\n".to_vec();
        let (body, encoding) = encode_body(raw.clone(), Some(Level::FAST)).await;
        let batch =
            EncodedBatch::from_parts(7, range.clone(), 2, raw.len(), body, encoding).with_entry(99);
        let stored = batch.encode();
        let back = EncodedBatch::decode(&stored).unwrap();
        assert_eq!(
            (
                back.seq(),
                back.records(),
                back.range(),
                back.raw().unwrap()
            ),
            (7, 2, &range, raw)
        );
        assert_eq!(back.entry(), 0, "the entry id is the caller's, not stored");
        let error = |bytes: &[u8]| EncodedBatch::decode(bytes).unwrap_err().to_string();
        assert_eq!(
            error(&stored[..3]),
            "stored LFB1 entry, byte 0: shorter than its kind tag"
        );
        assert_eq!(
            error(&stored[..10]),
            "stored LFB1 entry, byte 4: truncated (8 bytes needed, 6 left)"
        );
        assert_eq!(
            error(&stored[..stored.len() - 1]),
            format!(
                "stored LFB1 entry, byte 76: truncated ({} bytes needed, {} left)",
                stored.len() - 76,
                stored.len() - 77
            )
        );
        let mut extra = stored.clone();
        extra.push(0);
        assert_eq!(
            error(&extra),
            format!("stored LFB1 entry, byte {}: 1 trailing bytes", stored.len())
        );
        let mut unknown = stored.clone();
        unknown[24] = 7;
        assert_eq!(
            error(&unknown),
            "stored LFB1 entry, byte 24: unknown body encoding 7"
        );
        assert!(logferry_spool::fuzzing::entry::<EncodedBatch>(false, &stored).is_some());
    }
}
