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
        }
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
        let middle = raw.len() / 2;
        let k = ends
            .iter()
            .take(ends.len() - 1)
            .enumerate()
            .min_by_key(|(_, end)| end.abs_diff(middle))
            .map(|(i, _)| i + 1)
            .expect("at least two records");
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
