//! Encoded batches: what is sent, spooled and resent.

use crate::Error;
use bytes::Bytes;
use logferry_compress::{Encoding, Level};
use logferry_framing::{Batch, Position, SourceRange};
use std::fmt;
use std::sync::Arc;

/// A request body ready for the wire (gzip or identity) and where its records came from.
///
/// This is the unit the spool stores and a retry resends unchanged. When built from a
/// [`Batch`] it also remembers each record's source position, so a part split off after a
/// 413 can still be named exactly; a batch rebuilt from storage
/// ([`EncodedBatch::from_parts`]) names parts by record index instead.
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
    tag: u64,
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
    pub async fn encode(batch: Batch, compression: Option<Level>) -> EncodedBatch {
        let seq = batch.seq();
        let range = batch.range();
        let records = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let positions: Arc<[Position]> = batch.spans().iter().map(|s| s.position).collect();
        let raw = batch.into_body();
        let raw_len = raw.len();
        let (body, encoding) = encode_body(raw, compression).await;
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
            tag: 0,
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
            tag: 0,
        }
    }

    /// Attaches an opaque token (a spool entry id, say) that comes back in the batch's
    /// [`Delivery::tag`](crate::Delivery::tag).
    pub fn with_tag(mut self, tag: u64) -> EncodedBatch {
        self.tag = tag;
        self
    }

    /// The caller's token (0 unless set with [`EncodedBatch::with_tag`]).
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The batch as bytes for durable storage (a spool entry): everything but the
    /// per-record positions and the tag. Layout (integers little-endian):
    ///
    /// ```text
    /// "LFB1" | seq u64 | records u32 | raw_len u64 | encoding u8 (0 identity, 1 gzip)
    ///        | start.offset u64 | start.line u64 | end u64 | last_line u64
    ///        | name_len u32 | name (UTF-8, 0 bytes = no name) | body_len u64 | body
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let name = self
            .range
            .source_name
            .as_deref()
            .unwrap_or_default()
            .as_bytes();
        let mut out = Vec::with_capacity(64 + name.len() + self.body.len());
        out.extend_from_slice(MAGIC);
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
        out
    }

    /// Reads a batch written by [`EncodedBatch::to_bytes`]. Never panics on bad input:
    /// anything malformed is an [`Error::Stored`](crate::Error::Stored) saying what.
    pub fn from_bytes(bytes: &[u8]) -> Result<EncodedBatch, Error> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(Error::Stored("not a stored HTTP Ingest batch (bad magic)"));
        }
        let seq = r.u64()?;
        let records = r.u32()?;
        let raw_len =
            usize::try_from(r.u64()?).map_err(|_| Error::Stored("raw length too large"))?;
        let encoding = match r.take(1)?[0] {
            0 => Encoding::Identity,
            1 => Encoding::Gzip,
            _ => return Err(Error::Stored("unknown body encoding")),
        };
        let (offset, line, end, last_line) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
        let name_len = r.u32()? as usize;
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| Error::Stored("source name is not UTF-8"))?;
        let body_len =
            usize::try_from(r.u64()?).map_err(|_| Error::Stored("body length too large"))?;
        let body = Bytes::copy_from_slice(r.take(body_len)?);
        if !r.0.is_empty() {
            return Err(Error::Stored("trailing bytes after the body"));
        }
        if encoding == Encoding::Identity && body.len() != raw_len {
            return Err(Error::Stored(
                "identity body length differs from the raw length",
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
            tag: self.tag,
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
            let (_, gz) = logferry_compress::gzip_blocking(raw, level).await;
            (Bytes::from(gz), Encoding::Gzip)
        }
        None => (Bytes::from(raw), Encoding::Identity),
    }
}

const MAGIC: &[u8; 4] = b"LFB1";

/// A cursor over stored bytes that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Stored("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// Fuzz harness: [`EncodedBatch::from_bytes`] never panics, and whatever it accepts
/// round-trips through [`EncodedBatch::to_bytes`] unchanged.
#[doc(hidden)]
pub fn fuzz_stored_batch(data: &[u8]) {
    if let Ok(batch) = EncodedBatch::from_bytes(data) {
        assert_eq!(batch.to_bytes(), data, "a stored batch must round-trip");
        let _ = batch.label();
        let _ = batch.raw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            EncodedBatch::from_parts(7, range.clone(), 2, raw.len(), body, encoding).with_tag(99);
        let stored = batch.to_bytes();
        let back = EncodedBatch::from_bytes(&stored).unwrap();
        assert_eq!(
            (
                back.seq(),
                back.records(),
                back.range(),
                back.raw().unwrap()
            ),
            (7, 2, &range, raw)
        );
        assert_eq!(back.tag(), 0, "the tag is the caller's, not stored");
        for cut in [0, 3, 10, stored.len() - 1] {
            assert!(EncodedBatch::from_bytes(&stored[..cut]).is_err());
        }
        let mut extra = stored.clone();
        extra.push(0);
        assert!(EncodedBatch::from_bytes(&extra).is_err());
        fuzz_stored_batch(&stored);
    }
}
