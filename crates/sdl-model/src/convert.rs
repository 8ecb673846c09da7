//! Records to events: a framed record (a text line or a JSON object) becomes an [`Event`]
//! by the rules every logferry SDL pipeline uses.

use crate::{AttrValue, Error, Event, EventReader, FromJsonConfig, Timestamp};

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecordFormat {
    /// A line of text: it becomes the event's `message`.
    #[default]
    Text,
    /// A JSON object: its members become the event's attributes, time and severity.
    Json,
}

/// Turns records into events, reusing its parse buffers from one record to the next.
///
/// - A text record becomes an event at the read time whose `message` is the line
///   (invalid UTF-8 replaced by U+FFFD), with `logfile` set to the source's name when
///   there is one.
/// - A JSON record becomes the event [`EventReader::read`] makes of it: `ts` and `sev`
///   from their usual members ([`TIME_KEYS`](crate::TIME_KEYS),
///   [`SEVERITY_KEYS`](crate::SEVERITY_KEYS)), the read time when it has none, the other
///   members as attributes as [`FromJsonConfig`] says. A record that is not such an
///   object is an [`Error`].
/// - Either way, every event gets the `parser` attribute when one is configured (the SDL
///   parser that parses `message`).
///
/// ```
/// use logferry_sdl_model::{Converter, FromJsonConfig, RecordFormat, Severity, Timestamp};
/// let read_at = Timestamp::from_nanos(1_700_000_000_000_000_000);
///
/// let mut text = Converter::new(RecordFormat::Text, Some("accessLog".into()), FromJsonConfig::default());
/// let event = text.convert(b"GET / 200", Some("/var/log/nginx/access.log"), read_at)?;
/// assert_eq!(event.ts, read_at);
/// assert_eq!(
///     event.attrs.to_json(),
///     r#"{"message":"GET / 200","logfile":"/var/log/nginx/access.log","parser":"accessLog"}"#
/// );
///
/// let mut json = Converter::new(RecordFormat::Json, None, FromJsonConfig::default());
/// let event = json.convert(br#"{"level":"warn","message":"disk 91% full"}"#, None, read_at)?;
/// assert_eq!((event.ts, event.sev), (read_at, Severity::Warning));
/// assert!(json.convert(b"not json", None, read_at).is_err());
/// # Ok::<(), logferry_sdl_model::Error>(())
/// ```
#[derive(Debug)]
pub struct Converter {
    /// The JSON reader, for JSON records; `None` for text.
    reader: Option<EventReader>,
    parser: Option<String>,
    /// A copy of the record, which the JSON parser overwrites in place.
    scratch: Vec<u8>,
}

impl Converter {
    /// A converter for records of `format`, adding `parser` to every event when given;
    /// `from_json` says how JSON objects become attributes (unused for text).
    pub fn new(format: RecordFormat, parser: Option<String>, from_json: FromJsonConfig) -> Self {
        Self {
            reader: (format == RecordFormat::Json).then(|| EventReader::new(from_json)),
            parser,
            scratch: Vec::new(),
        }
    }

    /// Events converted so far whose time or level could not be read (sent anyway, the
    /// raw value kept among their attributes); always zero for text.
    pub fn unreadable(&self) -> crate::Unreadable {
        self.reader
            .as_ref()
            .map_or_else(crate::Unreadable::default, EventReader::unreadable)
    }

    /// The event of `record` (without its `\n`), read at `read_at` from the source named
    /// `source`, when known.
    pub fn convert(
        &mut self,
        record: &[u8],
        source: Option<&str>,
        read_at: Timestamp,
    ) -> Result<Event, Error> {
        let mut event = match &mut self.reader {
            None => {
                let mut event = Event::message(read_at, String::from_utf8_lossy(record));
                if let Some(name) = source {
                    event.attrs.insert("logfile", AttrValue::from(name));
                }
                event
            }
            Some(reader) => reader.read_record(record, &mut self.scratch, read_at)?,
        };
        if let Some(parser) = &self.parser {
            event
                .attrs
                .insert("parser", AttrValue::from(parser.as_str()));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;

    const READ_AT: Timestamp = Timestamp::from_nanos(1_700_000_000_000_000_000);

    /// A JSON record reads the same through the converter (parsed first, the number check
    /// only for a line holding an `f64`) as through [`EventReader::read`] (the check
    /// first): numbers kept as written or not, errors, unreadable times.
    #[test]
    fn json_records_read_the_same_as_through_the_reader() {
        let lines: &[&str] = &[
            r#"{"message":"no floats","n":42,"big":18446744073709551615,"neg":-9223372036854775808}"#,
            r#"{"latency_ms":1406.38,"message":"a float an f64 keeps"}"#,
            r#"{"x":0.30000000000000001,"message":"17 digits: kept as written"}"#,
            r#"{"x":0.30000000000000004}"#,
            r#"{"big":18446744073709551616}"#,
            r#"{"x":1E400}"#,
            r#"{"x":1e5,"y":-0.0000000000000000000001}"#,
            r#"{"nested":{"deep":[1.5,{"z":123456789012345678901234567890.5}]}}"#,
            r#"{"q":"a \" 1.5e300 \\","n":1.25}"#,
            r#"{"ts":"1763900000000781080","severity":"debug","m":"\u00e9\n"}"#,
            r#"{"time":"yesterday","level":"loud"}"#,
            r#"{"time":1667443947.25}"#,
            r#"[1,2]"#,
            r#"{"unterminated":"#,
            r#"not json"#,
            r#"{"a":1}{"b":2}"#,
        ];
        for line in lines {
            let mut converter = Converter::new(RecordFormat::Json, None, FromJsonConfig::default());
            let converted = converter.convert(line.as_bytes(), None, READ_AT);
            let mut reader = EventReader::new(FromJsonConfig::default());
            let read = reader.read(&mut line.as_bytes().to_vec(), READ_AT);
            assert_eq!(format!("{converted:?}"), format!("{read:?}"), "{line}");
            assert_eq!(converter.unreadable(), reader.unreadable(), "{line}");
        }
        // The cases the check is for are there: a number kept as written, and one not.
        let mut converter = Converter::new(RecordFormat::Json, None, FromJsonConfig::default());
        let kept = converter
            .convert(lines[2].as_bytes(), None, READ_AT)
            .unwrap();
        assert!(
            kept.attrs.to_json().contains("0.30000000000000001"),
            "{kept:?}"
        );
        let plain = converter
            .convert(lines[1].as_bytes(), None, READ_AT)
            .unwrap();
        assert!(plain.attrs.to_json().contains("1406.38"), "{plain:?}");
    }

    fn check(
        format: RecordFormat,
        parser: Option<&str>,
        record: &[u8],
        source: Option<&str>,
        expect: Result<(u64, Severity, &str), &str>,
    ) {
        let mut converter =
            Converter::new(format, parser.map(str::to_owned), FromJsonConfig::default());
        let got = converter
            .convert(record, source, READ_AT)
            .map(|e| (e.ts.as_nanos(), e.sev, e.attrs.to_json()));
        match (got, expect) {
            (Ok((ts, sev, attrs)), Ok((ets, esev, eattrs))) => {
                assert_eq!((ts, sev, attrs.as_str()), (ets, esev, eattrs));
            }
            (Err(e), Err(reason)) => assert_eq!(e.to_string(), reason),
            (got, expect) => panic!("got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn a_text_line_is_the_message_with_its_logfile_and_parser() {
        check(
            RecordFormat::Text,
            Some("accessLog"),
            b"GET /caf\xc3\xa9 \xff 200",
            Some("/var/log/access.log"),
            Ok((
                READ_AT.as_nanos(),
                Severity::Info,
                r#"{"message":"GET /café � 200","logfile":"/var/log/access.log","parser":"accessLog"}"#,
            )),
        );
        // No source, no parser: the message alone. A text line that looks like JSON stays text.
        check(
            RecordFormat::Text,
            None,
            br#"{"sev":5}"#,
            None,
            Ok((
                READ_AT.as_nanos(),
                Severity::Info,
                r#"{"message":"{\"sev\":5}"}"#,
            )),
        );
    }

    #[test]
    fn a_json_object_gives_its_time_severity_and_attributes() {
        check(
            RecordFormat::Json,
            Some("json"),
            br#"{"ts":"2022-11-03T02:52:27Z","sev":"error","message":"disk full","disk":{"pct":91}}"#,
            Some("/var/log/app.ndjson"),
            Ok((
                1_667_443_947_000_000_000,
                Severity::Error,
                r#"{"ts":"2022-11-03T02:52:27Z","message":"disk full","disk":"{\"pct\":91}","parser":"json"}"#,
            )),
        );
        // Without a time of its own the event gets the read time; no logfile for JSON.
        check(
            RecordFormat::Json,
            None,
            br#"{"level":"warn","message":"m"}"#,
            Some("/var/log/app.ndjson"),
            Ok((READ_AT.as_nanos(), Severity::Warning, r#"{"message":"m"}"#)),
        );
    }

    #[test]
    fn a_record_that_is_not_a_json_object_is_an_error() {
        let mut converter = Converter::new(RecordFormat::Json, None, FromJsonConfig::default());
        assert!(matches!(
            converter.convert(b"not json", None, READ_AT),
            Err(Error::InvalidJson { .. })
        ));
        assert!(converter.convert(b"[1]", None, READ_AT).is_err());
        // A severity no table knows: an error only when strict.
        let strict = FromJsonConfig {
            lenient: false,
            ..FromJsonConfig::default()
        };
        let mut strict = Converter::new(RecordFormat::Json, None, strict);
        assert!(strict.convert(br#"{"sev":"loud"}"#, None, READ_AT).is_err());
        assert!(
            converter
                .convert(br#"{"sev":"loud"}"#, None, READ_AT)
                .is_ok()
        );
        assert_eq!(converter.unreadable().events, 1);
        // The converter goes on after an error.
        assert!(converter.convert(br#"{"a":1}"#, None, READ_AT).is_ok());
    }
}
