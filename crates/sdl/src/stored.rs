//! A framed batch as the SDL pipeline spools it: the records, when they were read, and
//! how to read them, so a new process converts them again to the same events.

use crate::Record;
use logferry_framing::{Batch, Format, Position};
use logferry_sdl_model::{Converter, FromJsonConfig, RecordFormat, Timestamp};
use logferry_spool::{Entry, EntryError, EntryReader};

/// A framed batch waiting to become SDL events: what the SDL pipeline spools.
///
/// The events themselves are not stored: a new process converts the records again (with
/// the read time stored here, so events without a timestamp of their own keep theirs)
/// and "wraps them in its own session".
///
/// Stored as an `LFE1` [`Entry`] (integers little-endian), the batch nested whole:
///
/// ```text
/// "LFE1" | read_at ns u64 | format u8 (0 text, 1 JSON) | batch (an LFR1 entry, tag included)
/// ```
///
/// ```
/// use logferry_framing::{Batch, BatchConfig, Batcher, Format, FramingConfig, LineFramer};
/// use logferry_sdl::StoredBatch;
/// use logferry_sdl_model::Timestamp;
/// use logferry_spool::Entry;
/// let mut batcher = Batcher::new(BatchConfig::default(), Some("app.log".into()));
/// let mut framer = LineFramer::new(FramingConfig::default());
/// let now = std::time::Instant::now();
/// framer.push(b"one\ntwo\n", |r| batcher.push(&r.unwrap(), now, |_| {}));
/// let mut batches = Vec::new();
/// batcher.flush(|b| batches.push(b));
/// let stored = StoredBatch {
///     read_at: Timestamp::from_nanos(1_700_000_000_000_000_000),
///     format: Format::Text,
///     batch: batches.remove(0),
/// };
/// let bytes = stored.encode();
/// assert_eq!(&bytes[..4], b"LFE1");
/// assert_eq!(StoredBatch::decode(&bytes)?, stored);
/// # Ok::<(), logferry_spool::EntryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// When the records were read: the timestamp of events that carry none.
    pub read_at: Timestamp,
    /// How records become events: text lines or JSON objects.
    pub format: Format,
    /// The records and where they came from.
    pub batch: Batch,
}

/// A record of the batch that is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRecord {
    /// Where it starts in its source.
    pub position: Position,
    /// Why it is not an event (a bad timestamp or severity, not a JSON object, ...).
    pub reason: String,
    /// The record, without its `\n`.
    pub bytes: Vec<u8>,
}

impl StoredBatch {
    /// Every record as an SDL [`Record`] (its event made by a
    /// [`Converter`] for the batch's format, with `parser` and `from_json`; the source
    /// name from the batch; [`Record::with_entry`]`(entry)` when given), and the records
    /// that are not valid events, in batch order.
    pub fn records(
        &self,
        parser: Option<&str>,
        from_json: &FromJsonConfig,
        entry: Option<u64>,
    ) -> Converted {
        let format = match self.format {
            Format::Text => RecordFormat::Text,
            Format::Json => RecordFormat::Json,
        };
        let mut converter = Converter::new(format, parser.map(str::to_owned), from_json.clone());
        let source = self.batch.range().source_name;
        let mut records = Vec::with_capacity(self.batch.len());
        let mut invalid = Vec::new();
        for i in 0..self.batch.len() {
            let (bytes, position) = self.batch.record(i).expect("i < len");
            match converter.convert(bytes, source.as_deref(), self.read_at) {
                Ok(event) => {
                    let mut record = Record::new(event).at(position);
                    if let Some(name) = &source {
                        record = record.from_source(name.clone());
                    }
                    if let Some(entry) = entry {
                        record = record.with_entry(entry);
                    }
                    records.push(record);
                }
                Err(e) => invalid.push(InvalidRecord {
                    position,
                    reason: reason(&e, bytes),
                    bytes: bytes.to_vec(),
                }),
            }
        }
        Converted {
            records,
            invalid,
            unreadable: converter.unreadable(),
        }
    }
}

/// Why a record is not an event. A record that is not one JSON object is described in
/// the framer's words (it was framed without validation, see
/// `FramingConfig::validate_lines`), as it would have been had the framer refused it.
fn reason(e: &logferry_sdl_model::Error, bytes: &[u8]) -> String {
    match e {
        logferry_sdl_model::Error::InvalidJson { .. } => logferry_framing::json_object_error(bytes)
            .map_or_else(|| e.to_string(), |kind| kind.to_string()),
        _ => e.to_string(),
    }
}

/// A stored batch as SDL events ([`StoredBatch::records`]).
#[derive(Debug)]
pub struct Converted {
    /// Every record that is an event, as a sender's record.
    pub records: Vec<Record>,
    /// The records that are not events.
    pub invalid: Vec<InvalidRecord>,
    /// Events sent although their time or level could not be read (the raw value is
    /// kept among their attributes).
    pub unreadable: logferry_sdl_model::Unreadable,
}

impl Entry for StoredBatch {
    const KIND: [u8; 4] = *b"LFE1";

    fn write_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.read_at.as_nanos().to_le_bytes());
        out.push(u8::from(self.format == Format::Json));
        self.batch.encode_into(out);
    }

    fn read_body(body: &[u8]) -> Result<StoredBatch, EntryError> {
        let mut r = EntryReader::new(Self::KIND, body);
        let read_at = Timestamp::from_nanos(r.u64()?);
        let format = match r.u8()? {
            0 => Format::Text,
            1 => Format::Json,
            other => return Err(r.error_at(r.offset() - 1, format!("unknown format {other}"))),
        };
        let batch = r.nested::<Batch>()?;
        r.finish()?;
        Ok(StoredBatch {
            read_at,
            format,
            batch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logferry_framing::{BatchConfig, Batcher, Framer, FramingConfig, RecordSpan};
    use logferry_sdl_model::Severity;

    fn stored(format: Format, input: &[u8]) -> StoredBatch {
        let mut framer = Framer::new(format, FramingConfig::default());
        let mut batcher = Batcher::new(BatchConfig::default(), Some("app.log".into()));
        let now = std::time::Instant::now();
        let mut batches = Vec::new();
        framer.push(input, |r| {
            if let Ok(r) = r {
                batcher.push(&r, now, |b| batches.push(b));
            }
        });
        framer.finish(|r| {
            if let Ok(r) = r {
                batcher.push(&r, now, |b| batches.push(b));
            }
        });
        batcher.flush(|b| batches.push(b));
        StoredBatch {
            read_at: Timestamp::from_nanos(1_700_000_000_123_456_789),
            format,
            batch: batches.remove(0),
        }
    }

    /// The facade's `store` before `StoredBatch` existed, verbatim but for the batch's
    /// own encoding: the bytes must not change, so spools written before replay.
    fn old_store(read_at: Timestamp, format: Format, batch: &Batch) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"LFE1");
        out.extend_from_slice(&read_at.as_nanos().to_le_bytes());
        out.push(u8::from(format == Format::Json));
        out.extend_from_slice(&batch.encode());
        out
    }

    #[test]
    fn stored_form_is_the_old_one_and_round_trips() {
        for (format, input) in [
            (Format::Text, &b"first\nsecond\n"[..]),
            (Format::Json, &b"{\"a\":1}\n{\"b\":2}\n"[..]),
        ] {
            let entry = stored(format, input);
            let bytes = entry.encode();
            assert_eq!(bytes, old_store(entry.read_at, format, &entry.batch));
            assert_eq!(StoredBatch::decode(&bytes).unwrap(), entry);
            assert!(logferry_spool::fuzzing::entry::<StoredBatch>(false, &bytes).is_some());
        }
    }

    #[test]
    fn errors_name_the_kind_and_the_offset() {
        let bytes = stored(Format::Text, b"first\nsecond\n").encode();
        let error = |bytes: &[u8]| StoredBatch::decode(bytes).unwrap_err().to_string();
        assert_eq!(
            error(&bytes[..12]),
            "stored LFE1 entry, byte 12: truncated (1 bytes needed, 0 left)"
        );
        let mut format = bytes.clone();
        format[12] = 2;
        assert_eq!(
            error(&format),
            "stored LFE1 entry, byte 12: unknown format 2"
        );
        // The nested batch starts at byte 13: its errors count from the outer entry.
        assert_eq!(
            error(&bytes[..13]),
            "stored LFR1 entry, byte 13: shorter than its kind tag"
        );
        let mut broken = bytes.clone();
        let last = broken.len() - 1;
        broken[last] = b'x';
        assert_eq!(
            error(&broken),
            format!("stored LFR1 entry, byte {last}: record 2 does not end where its span says")
        );
    }

    #[test]
    fn text_records_become_messages_with_logfile_parser_source_and_ack() {
        let entry = stored(Format::Text, b"first line\nsecond\n");
        let Converted {
            records, invalid, ..
        } = entry.records(Some("app"), &FromJsonConfig::default(), Some(42));
        assert!(invalid.is_empty());
        let got: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.event.ts,
                    r.event.attrs.to_json(),
                    r.source.as_deref(),
                    r.entry,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    entry.read_at,
                    r#"{"message":"first line","logfile":"app.log","parser":"app"}"#.to_owned(),
                    Some("app.log"),
                    Some(42)
                ),
                (
                    entry.read_at,
                    r#"{"message":"second","logfile":"app.log","parser":"app"}"#.to_owned(),
                    Some("app.log"),
                    Some(42)
                ),
            ]
        );
    }

    #[test]
    fn json_records_keep_their_time_and_severity_and_invalid_ones_are_named() {
        // The second object parses, but is no event when strict: no severity table knows
        // "loud" (by default it would be sent with sev 3 and counted).
        let entry = stored(
            Format::Json,
            b"{\"ts\":\"2022-11-03T02:52:27Z\",\"sev\":\"warn\",\"m\":1}\n{\"sev\":\"loud\"}\n{\"m\":2}\n",
        );
        let strict = FromJsonConfig {
            lenient: false,
            ..FromJsonConfig::default()
        };
        let Converted {
            records, invalid, ..
        } = entry.records(None, &strict, None);
        let got: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.event.ts.as_nanos(),
                    r.event.sev,
                    r.event.attrs.to_json(),
                    r.entry,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    1_667_443_947_000_000_000,
                    Severity::Warning,
                    r#"{"ts":"2022-11-03T02:52:27Z","m":1}"#.to_owned(),
                    None
                ),
                (
                    entry.read_at.as_nanos(),
                    Severity::Info,
                    r#"{"m":2}"#.to_owned(),
                    None
                ),
            ]
        );
        assert_eq!(invalid.len(), 1, "{invalid:?}");
        assert_eq!(
            invalid[0].position,
            Position {
                offset: 49,
                line: 2
            }
        );
        assert_eq!(invalid[0].bytes, br#"{"sev":"loud"}"#);
        assert!(!invalid[0].reason.is_empty());
        // By default the same record is an event, counted as unreadable.
        let lenient = entry.records(None, &FromJsonConfig::default(), None);
        assert!(lenient.invalid.is_empty());
        assert_eq!(lenient.records.len(), 3);
        assert_eq!(lenient.unreadable.events, 1);
    }

    #[test]
    fn a_record_that_is_not_json_is_reported_with_its_position() {
        // A text batch stored as JSON: what a corrupt or hand-made entry could hold.
        let mut entry = stored(Format::Text, b"{\"a\":1}\nnot json\n");
        entry.format = Format::Json;
        assert_eq!(
            entry.batch.spans()[1],
            RecordSpan {
                body_end: 17,
                position: Position { offset: 8, line: 2 },
                source_end: 17,
            }
        );
        let Converted {
            records, invalid, ..
        } = entry.records(None, &FromJsonConfig::default(), Some(7));
        assert_eq!(records.len(), 1);
        assert_eq!(
            invalid,
            [InvalidRecord {
                position: Position { offset: 8, line: 2 },
                reason: invalid[0].reason.clone(),
                bytes: b"not json".to_vec(),
            }]
        );
        assert!(
            invalid[0].reason.starts_with("invalid JSON"),
            "{}",
            invalid[0].reason
        );
    }
}
