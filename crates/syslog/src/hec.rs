//! Splunk HTTP Event Collector bodies: `POST /services/collector/event` ([`parse_events`])
//! and `POST /services/collector/raw` ([`raw_records`]), and HEC's reply codes ([`HecCode`]).
//!
//! An event body is one or more JSON objects, concatenated with or without whitespace
//! between them (not a JSON array): `{"event":"a"}{"event":{"b":1},"time":1700000000.5}`.
//! Each object needs `event` (any JSON value but `null` or `""`); `time` (epoch seconds, a
//! number or a string holding one), `host`, `source`, `sourcetype`, `index` (strings) and
//! `fields` (an object) are optional; other keys are ignored, as Splunk does.
//!
//! Reply codes and texts follow Splunk's table of HEC status codes (Splunk REST API
//! reference, `services/collector`; the same table is in the SplunkAdmins app's
//! `splunkadmins_hec_reply_code_lookup.csv`), e.g.:
//!
//! > 0 · 200 OK · Success
//! > 5 · 400 Bad Request · No data — "Client is sending without any data"
//! > 6 · 400 Bad Request · Invalid data format — "Client is sending with data in an invalid format"
//! > 12 · 400 · Event field is required · 13 · 400 · Event field cannot be blank
//!
//! An error names the event (`invalid-event-number`, 0-based, as Splunk counts) in its body
//! and the byte offset in the request body in its `Display`, for our logs.

use serde_json::{Map, Value};
use std::fmt;

/// A HEC status code (the `code` of a reply body), with its text and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HecCode {
    /// 0, 200: "Success".
    Success,
    /// 1, 403: "Token disabled".
    TokenDisabled,
    /// 2, 401: "Token is required".
    TokenRequired,
    /// 3, 401: "Invalid authorization" (an `Authorization` header not `Splunk <token>`).
    InvalidAuthorization,
    /// 4, 403: "Invalid token".
    InvalidToken,
    /// 5, 400: "No data".
    NoData,
    /// 6, 400: "Invalid data format".
    InvalidDataFormat,
    /// 7, 400: "Incorrect index".
    IncorrectIndex,
    /// 8, 500: "Internal server error".
    InternalServerError,
    /// 9, 503: "Server is busy".
    ServerBusy,
    /// 12, 400: "Event field is required".
    EventFieldRequired,
    /// 13, 400: "Event field cannot be blank".
    EventFieldBlank,
    /// 15, 400: "Error in handling indexed fields" (`fields` not an object).
    IndexedFields,
    /// 17, 200: "HEC is healthy" (`GET /services/collector/health`).
    Healthy,
    /// 18, 503: "HEC is unhealthy, queues are full".
    QueuesFull,
}

impl HecCode {
    /// The numeric `code`.
    pub fn code(self) -> u16 {
        match self {
            HecCode::Success => 0,
            HecCode::TokenDisabled => 1,
            HecCode::TokenRequired => 2,
            HecCode::InvalidAuthorization => 3,
            HecCode::InvalidToken => 4,
            HecCode::NoData => 5,
            HecCode::InvalidDataFormat => 6,
            HecCode::IncorrectIndex => 7,
            HecCode::InternalServerError => 8,
            HecCode::ServerBusy => 9,
            HecCode::EventFieldRequired => 12,
            HecCode::EventFieldBlank => 13,
            HecCode::IndexedFields => 15,
            HecCode::Healthy => 17,
            HecCode::QueuesFull => 18,
        }
    }

    /// The `text`.
    pub fn text(self) -> &'static str {
        match self {
            HecCode::Success => "Success",
            HecCode::TokenDisabled => "Token disabled",
            HecCode::TokenRequired => "Token is required",
            HecCode::InvalidAuthorization => "Invalid authorization",
            HecCode::InvalidToken => "Invalid token",
            HecCode::NoData => "No data",
            HecCode::InvalidDataFormat => "Invalid data format",
            HecCode::IncorrectIndex => "Incorrect index",
            HecCode::InternalServerError => "Internal server error",
            HecCode::ServerBusy => "Server is busy",
            HecCode::EventFieldRequired => "Event field is required",
            HecCode::EventFieldBlank => "Event field cannot be blank",
            HecCode::IndexedFields => "Error in handling indexed fields",
            HecCode::Healthy => "HEC is healthy",
            HecCode::QueuesFull => "HEC is unhealthy, queues are full",
        }
    }

    /// The HTTP status Splunk answers with.
    pub fn http_status(self) -> u16 {
        match self {
            HecCode::Success | HecCode::Healthy => 200,
            HecCode::TokenRequired | HecCode::InvalidAuthorization => 401,
            HecCode::TokenDisabled | HecCode::InvalidToken => 403,
            HecCode::InternalServerError => 500,
            HecCode::ServerBusy | HecCode::QueuesFull => 503,
            HecCode::NoData
            | HecCode::InvalidDataFormat
            | HecCode::IncorrectIndex
            | HecCode::EventFieldRequired
            | HecCode::EventFieldBlank
            | HecCode::IndexedFields => 400,
        }
    }

    /// The reply body: `{"text":"Success","code":0}`.
    pub fn body(self) -> String {
        format!(r#"{{"text":"{}","code":{}}}"#, self.text(), self.code())
    }
}

/// An event's `event` value.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A string event: the record's text.
    Text(String),
    /// Any other JSON value (usually an object): the record is its JSON text.
    Json(Value),
}

/// One event of an `/event` body.
#[derive(Debug, Clone, PartialEq)]
pub struct HecEvent {
    /// Byte offset of the event's object in the body.
    pub offset: usize,
    /// `event`.
    pub event: Payload,
    /// `time` as Unix nanoseconds (a number is read to the microsecond, a string exactly to
    /// the nanosecond).
    pub time: Option<i64>,
    /// `host`.
    pub host: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `sourcetype`.
    pub sourcetype: Option<String>,
    /// `index`.
    pub index: Option<String>,
    /// `fields`: indexed fields.
    pub fields: Option<Map<String, Value>>,
}

/// Why a body was refused: its code, the event (0-based) and byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecError {
    /// The HEC code (5, 6, 12, 13 or 15).
    pub code: HecCode,
    /// The 0-based number of the faulty event (`None` for "No data").
    pub event_number: Option<usize>,
    /// Byte offset in the body where the fault was found.
    pub offset: usize,
    /// What was wrong, for our logs.
    pub detail: String,
}

impl HecError {
    /// The HTTP status (400 for every parse error).
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The reply body, as Splunk writes it:
    /// `{"text":"Invalid data format","code":6,"invalid-event-number":0}`.
    pub fn body(&self) -> String {
        match self.event_number {
            Some(n) => format!(
                r#"{{"text":"{}","code":{},"invalid-event-number":{n}}}"#,
                self.code.text(),
                self.code.code()
            ),
            None => self.code.body(),
        }
    }
}

impl fmt::Display for HecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.code.text(), self.code.code())?;
        if let Some(n) = self.event_number {
            write!(f, " in event {n}")?;
        }
        write!(f, " at byte {}: {}", self.offset, self.detail)
    }
}

impl std::error::Error for HecError {}

/// Parses a `/services/collector/event` body: every event, or the first fault.
pub fn parse_events(body: &[u8]) -> Result<Vec<HecEvent>, HecError> {
    let mut events = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let mut offset = skip_ws(body, 0);
    if offset == body.len() {
        return Err(HecError {
            code: HecCode::NoData,
            event_number: None,
            offset: 0,
            detail: "empty body".into(),
        });
    }
    loop {
        let number = events.len();
        let invalid = |code, offset, detail: String| HecError {
            code,
            event_number: Some(number),
            offset,
            detail,
        };
        let value = match stream.next() {
            None => break,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                let at = error_offset(body, &e).max(offset);
                return Err(invalid(HecCode::InvalidDataFormat, at, e.to_string()));
            }
        };
        let Value::Object(mut object) = value else {
            return Err(invalid(
                HecCode::InvalidDataFormat,
                offset,
                "an event must be a JSON object".into(),
            ));
        };
        let event = match object.remove("event") {
            None => {
                return Err(invalid(
                    HecCode::EventFieldRequired,
                    offset,
                    "no \"event\" key".into(),
                ));
            }
            Some(Value::Null) => {
                return Err(invalid(
                    HecCode::EventFieldBlank,
                    offset,
                    "\"event\" is null".into(),
                ));
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(invalid(
                    HecCode::EventFieldBlank,
                    offset,
                    "\"event\" is \"\"".into(),
                ));
            }
            Some(Value::String(s)) => Payload::Text(s),
            Some(v) => Payload::Json(v),
        };
        let time = match object.get("time") {
            None | Some(Value::Null) => None,
            Some(t) => Some(epoch_nanos(t).ok_or_else(|| {
                invalid(
                    HecCode::InvalidDataFormat,
                    offset,
                    format!("\"time\" is not epoch seconds: {t}"),
                )
            })?),
        };
        let mut text = |key: &str| match object.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(
                HecCode::InvalidDataFormat,
                offset,
                format!("{key:?} is not a string: {other}"),
            )),
        };
        let host = text("host")?;
        let source = text("source")?;
        let sourcetype = text("sourcetype")?;
        let index = text("index")?;
        let fields = match object.remove("fields") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                return Err(invalid(
                    HecCode::IndexedFields,
                    offset,
                    format!("\"fields\" is not an object: {other}"),
                ));
            }
        };
        events.push(HecEvent {
            offset,
            event,
            time,
            host,
            source,
            sourcetype,
            index,
            fields,
        });
        offset = skip_ws(body, stream.byte_offset());
    }
    Ok(events)
}

/// The byte offset of a serde_json error (it counts lines and columns from 1).
fn error_offset(body: &[u8], e: &serde_json::Error) -> usize {
    let mut line_start = 0;
    for _ in 1..e.line() {
        match memchr::memchr(b'\n', &body[line_start..]) {
            Some(i) => line_start += i + 1,
            None => break,
        }
    }
    (line_start + e.column().saturating_sub(1)).min(body.len())
}

fn skip_ws(body: &[u8], from: usize) -> usize {
    from + body[from.min(body.len())..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

/// Epoch seconds (a number, or a string holding a decimal number) as Unix nanoseconds.
fn epoch_nanos(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return i.checked_mul(1_000_000_000);
            }
            let f = n.as_f64()?;
            // f64 seconds near today carry about a microsecond of precision.
            let micros = (f * 1e6).round();
            (micros.is_finite() && micros.abs() < 9.2e15).then(|| micros as i64 * 1000)
        }
        Value::String(s) => decimal_nanos(s.trim()),
        _ => None,
    }
}

/// `[-]digits[.digits]` as nanoseconds, exact to 9 decimals (more are cut).
fn decimal_nanos(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    let total = secs.checked_mul(1_000_000_000)?.checked_add(nanos)?;
    Some(if neg { -total } else { total })
}

/// One record of a `/services/collector/raw` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Byte offset of the record in the body.
    pub offset: usize,
    /// The line, without its LF or CRLF.
    pub bytes: &'a [u8],
}

/// The newline-separated records of a `/raw` body; empty lines are skipped.
pub fn raw_records(body: &[u8]) -> impl Iterator<Item = RawRecord<'_>> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        while offset < body.len() {
            let rest = &body[offset..];
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let line = &rest[..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let start = offset;
            offset += end + 1;
            if !line.is_empty() {
                return Some(RawRecord {
                    offset: start,
                    bytes: line,
                });
            }
        }
        None
    })
}
