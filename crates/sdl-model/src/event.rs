//! [`Event`] and the per-session pieces of a request: [`Session`], [`SessionInfo`],
//! [`Thread`], [`Log`]; and the conversion of an NDJSON object into an event
//! ([`Event::from_json_object`]).

#[cfg(test)]
use crate::AttrValue;
use crate::attrs::{JsonNode, Node};
use crate::{Attrs, Error, Flatten, Severity, Timestamp};

/// One SDL event.
///
/// The seed: `{"ts": "event timestamp, as a string (nanoseconds since 1/1/1970)", "sev":
/// nnn, "thread": "thread id you set in the events field", "attrs": {...}}`, plus `log`,
/// the id of a `logs` entry whose constant attributes the server attaches to the event.
///
/// `sev` is always written, 0 included (the server's default for a missing `sev` is 3).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// When it happened.
    pub ts: Timestamp,
    /// How severe it is.
    pub sev: Severity,
    /// The id of a [`Thread`] of the session, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The id of a caller-declared [`Log`], if any. The request builder fills this itself
    /// for its automatic `logs` dedupe; an event that already names a log is left alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The content: `message` and any structured fields.
    pub attrs: Attrs,
}

impl Event {
    /// An event at `ts` with severity info and the given attributes.
    pub fn new(ts: Timestamp, attrs: Attrs) -> Event {
        Event {
            ts,
            sev: Severity::Info,
            thread: None,
            log: None,
            attrs,
        }
    }

    /// An event at `ts` whose only attribute is `message`.
    pub fn message(ts: Timestamp, message: impl Into<String>) -> Event {
        Event::new(ts, Attrs::new().with("message", message.into()))
    }

    /// Sets the severity.
    pub fn with_sev(mut self, sev: Severity) -> Event {
        self.sev = sev;
        self
    }

    /// Sets the thread id.
    pub fn with_thread(mut self, thread: impl Into<String>) -> Event {
        self.thread = Some(thread.into());
        self
    }

    /// Sets the log id.
    pub fn with_log(mut self, log: impl Into<String>) -> Event {
        self.log = Some(log.into());
        self
    }

    /// Turns one JSON object (one NDJSON line, parsed by `serde_json`) into an event.
    ///
    /// - `ts` comes from the first of the members `ts`, `timestamp`, `@timestamp`, `time`
    ///   that is present: an RFC 3339 string ([`Timestamp::parse_rfc3339`]), an epoch
    ///   number or digit string whose unit is read from its magnitude
    ///   ([`Timestamp::from_epoch_auto`]: seconds, ms, µs or ns; fractions allowed), and
    ///   `now` when none of them is present.
    /// - `sev` comes from the first of `sev`, `severity`, `level`: a number 0-6, a name
    ///   from the seed's table ([`Severity::parse_lenient`]); and in `level` only, the
    ///   pino/bunyan numbers 10, 20, …, 60 (trace … fatal). Info when absent.
    /// - The time member stays an attribute, as the source wrote it (so an event keeps the
    ///   source's own record of its time whatever `ts` is written); the severity member
    ///   read is removed; every other member becomes an attribute, nested values flattened
    ///   as `config.flatten` says.
    ///
    /// A time or severity member that can't be read is an error naming it, unless
    /// `config.lenient`: then it stays an ordinary attribute and the default (`now`, info)
    /// is used.
    pub fn from_json_object(
        obj: &serde_json::Map<String, serde_json::Value>,
        now: Timestamp,
        config: &FromJsonConfig,
    ) -> Result<Event, Error> {
        let mut members: Vec<(&str, &serde_json::Value)> =
            obj.iter().map(|(k, v)| (k.as_str(), v)).collect();
        event_from_members(&mut members, now, config)
    }

    /// Like [`Event::from_json_object`], parsing one JSON object with simd-json (the fast
    /// path for NDJSON input). simd-json parses in place, so `line` is overwritten.
    pub fn from_json_slice(
        line: &mut [u8],
        now: Timestamp,
        config: &FromJsonConfig,
    ) -> Result<Event, Error> {
        let mut buffers = simd_json::Buffers::new(line.len());
        event_from_slice(line, &mut buffers, now, config)
    }
}

/// Reads JSON objects (NDJSON lines) into events with simd-json, reusing its parse buffers
/// from line to line: [`Event::from_json_slice`] for a stream.
///
/// ```
/// use logferry_sdl_model::{EventReader, FromJsonConfig, Severity, Timestamp};
/// let mut reader = EventReader::new(FromJsonConfig::default());
/// let mut line = br#"{"@timestamp":"2022-11-03T02:52:27Z","level":"warn","message":"disk 91% full"}"#.to_vec();
/// let event = reader.read(&mut line, Timestamp::EPOCH).unwrap();
/// assert_eq!((event.ts.as_nanos(), event.sev), (1_667_443_947_000_000_000, Severity::Warning));
/// assert_eq!(
///     event.attrs.to_json(),
///     r#"{"@timestamp":"2022-11-03T02:52:27Z","message":"disk 91% full"}"#
/// );
/// ```
pub struct EventReader {
    buffers: simd_json::Buffers,
    config: FromJsonConfig,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EventReader {
    /// A reader applying `config` to every line.
    pub fn new(config: FromJsonConfig) -> EventReader {
        EventReader {
            buffers: simd_json::Buffers::default(),
            config,
        }
    }

    /// One line (a JSON object) as an event, as [`Event::from_json_object`] describes.
    /// simd-json parses in place, so `line` is overwritten.
    pub fn read(&mut self, line: &mut [u8], now: Timestamp) -> Result<Event, Error> {
        event_from_slice(line, &mut self.buffers, now, &self.config)
    }
}

fn event_from_slice(
    line: &mut [u8],
    buffers: &mut simd_json::Buffers,
    now: Timestamp,
    config: &FromJsonConfig,
) -> Result<Event, Error> {
    let value = simd_json::to_borrowed_value_with_buffers(line, buffers).map_err(|e| {
        Error::InvalidJson {
            reason: e.to_string(),
        }
    })?;
    let simd_json::BorrowedValue::Object(obj) = &value else {
        return Err(Error::InvalidJson {
            reason: "expected a JSON object".to_owned(),
        });
    };
    let mut members: Vec<(&str, &simd_json::BorrowedValue<'_>)> =
        obj.iter().map(|(k, v)| (k.as_ref(), v)).collect();
    event_from_members(&mut members, now, config)
}

/// How [`Event::from_json_object`] reads an object.
#[derive(Debug, Clone, Default)]
pub struct FromJsonConfig {
    /// How nested values become attributes. Default [`Flatten::JsonString`], as the server
    /// would flatten them.
    pub flatten: Flatten,
    /// Keep unreadable time or severity members as attributes and use the defaults,
    /// instead of failing. Default `false`.
    pub lenient: bool,
}

/// Members that can carry the time, in priority order.
pub const TIME_KEYS: [&str; 4] = ["ts", "timestamp", "@timestamp", "time"];
/// Members that can carry the severity, in priority order.
pub const SEVERITY_KEYS: [&str; 3] = ["sev", "severity", "level"];

fn event_from_members<V: JsonNode>(
    members: &mut Vec<(&str, &V)>,
    now: Timestamp,
    config: &FromJsonConfig,
) -> Result<Event, Error> {
    let mut ts = now;
    if let Some(i) = TIME_KEYS
        .iter()
        .find_map(|key| members.iter().position(|(k, _)| k == key))
    {
        match json_time(members[i].1) {
            // The member stays among the attributes: the source's own record of its time.
            Ok(t) => ts = t,
            Err(reason) if !config.lenient => {
                return Err(Error::InvalidField {
                    field: members[i].0.to_owned(),
                    reason,
                });
            }
            Err(_) => {}
        }
    }
    let mut sev = Severity::Info;
    if let Some(i) = SEVERITY_KEYS
        .iter()
        .find_map(|key| members.iter().position(|(k, _)| k == key))
    {
        match json_severity(members[i].1, members[i].0 == "level") {
            Ok(s) => {
                sev = s;
                members.remove(i);
            }
            Err(reason) if !config.lenient => {
                return Err(Error::InvalidField {
                    field: members[i].0.to_owned(),
                    reason,
                });
            }
            Err(_) => {}
        }
    }
    let mut attrs = Attrs::with_capacity(members.len());
    for (k, v) in members.iter() {
        attrs.add_node(k, *v, config.flatten);
    }
    Ok(Event {
        ts,
        sev,
        thread: None,
        log: None,
        attrs,
    })
}

fn json_time<V: JsonNode>(v: &V) -> Result<Timestamp, String> {
    match v.node() {
        Node::I64(i) => u64::try_from(i)
            .map_err(|_| format!("negative epoch time {i}"))
            .and_then(|u| Timestamp::from_epoch_auto(u).map_err(|e| e.to_string())),
        Node::U64(u) => Timestamp::from_epoch_auto(u).map_err(|e| e.to_string()),
        Node::F64(f) => Timestamp::from_epoch_auto_f64(f).map_err(|e| e.to_string()),
        Node::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<u64>()
            .map_err(|_| "epoch time does not fit in 64 bits".to_owned())
            .and_then(|u| Timestamp::from_epoch_auto(u).map_err(|e| e.to_string())),
        Node::Str(s) if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') => s
            .parse::<f64>()
            .map_err(|_| format!("`{}` is not a time", crate::timestamp::truncated(s)))
            .and_then(|f| Timestamp::from_epoch_auto_f64(f).map_err(|e| e.to_string())),
        Node::Str(s) => Timestamp::parse_rfc3339(s).map_err(|e| e.to_string()),
        _ => Err("expected an RFC 3339 string or an epoch number".to_owned()),
    }
}

fn json_severity<V: JsonNode>(v: &V, pino: bool) -> Result<Severity, String> {
    match v.node() {
        Node::I64(i) if pino && (10..=60).contains(&i) && i % 10 == 0 => {
            Ok(Severity::ALL[(i / 10) as usize])
        }
        Node::I64(i) => Severity::from_number(i).map_err(|e| e.to_string()),
        Node::Str(s) => Severity::parse_lenient(s).map_err(|e| e.to_string()),
        _ => Err("expected a severity number 0 to 6 or a name".to_owned()),
    }
}

/// The `session` value: "An arbitrary string (up to 200 characters) that uniquely
/// identifies the lifetime of the upload process." Required, so never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Session(String);

impl Session {
    /// The most characters a session id may have.
    pub const MAX_CHARS: usize = 200;

    /// A session id of 1 to 200 characters (Unicode scalar values).
    pub fn new(id: impl Into<String>) -> Result<Session, Error> {
        let id = id.into();
        let chars = id.chars().count();
        if chars == 0 || chars > Session::MAX_CHARS {
            return Err(Error::InvalidSession { chars });
        }
        Ok(Session(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sessionInfo`: "fields related to the upload process that are useful for querying. For
/// example serverHost, or region." The seed: "sessionInfo must be the same for all requests
/// with the same session value", which is why the request builder fixes it per session.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct SessionInfo(pub Attrs);

impl SessionInfo {
    /// Session info with `serverHost` set ("Set at least the serverHost field with the
    /// hostname, or a stable server identifier").
    pub fn with_server_host(host: impl Into<String>) -> SessionInfo {
        SessionInfo(Attrs::new().with("serverHost", host.into()))
    }
}

/// A `threads` entry: `{"id": "...", "name": "..."}`, giving a thread id a readable name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Thread {
    /// The id events use in `thread`.
    pub id: String,
    /// The readable name (shown as `threadName`).
    pub name: String,
}

impl Thread {
    /// A thread entry.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Thread {
        Thread {
            id: id.into(),
            name: name.into(),
        }
    }
}

/// A `logs` entry: constant attributes that the server attaches to every event whose
/// `log` is this `id` ("During ingestion, constant metadata is attached to each applicable
/// event").
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Log {
    /// The id events use in `log`.
    pub id: String,
    /// The constant attributes.
    pub attrs: Attrs,
}

impl Log {
    /// A log entry.
    pub fn new(id: impl Into<String>, attrs: Attrs) -> Log {
        Log {
            id: id.into(),
            attrs,
        }
    }
}

impl From<Attrs> for SessionInfo {
    fn from(attrs: Attrs) -> SessionInfo {
        SessionInfo(attrs)
    }
}

impl Event {
    /// The attributes the server ends up with: this event's own merged with those of
    /// `log` (the event's value wins on a shared key, which logferry's dedupe never
    /// produces).
    pub fn merged_attrs(&self, log: Option<&Log>) -> Attrs {
        let mut merged = Attrs::with_capacity(self.attrs.len());
        if let Some(log) = log {
            for (k, v) in log.attrs.iter() {
                merged.insert(k, v.clone());
            }
        }
        for (k, v) in self.attrs.iter() {
            merged.insert(k, v.clone());
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_nanos(7);

    fn simd(text: &str, config: &FromJsonConfig) -> Result<Event, Error> {
        let mut buf = text.as_bytes().to_vec();
        Event::from_json_slice(&mut buf, NOW, config)
    }

    fn serde(text: &str, config: &FromJsonConfig) -> Result<Event, Error> {
        let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        Event::from_json_object(value.as_object().expect("object"), NOW, config)
    }

    fn both(text: &str) -> Event {
        let config = FromJsonConfig::default();
        let a = simd(text, &config).expect("simd-json reads it");
        let b = serde(text, &config).expect("serde_json reads it");
        assert_eq!(a.ts, b.ts, "{text}");
        assert_eq!(a.sev, b.sev, "{text}");
        assert_eq!(a.attrs.len(), b.attrs.len(), "{text}");
        a
    }

    #[test]
    fn time_members_in_priority_order() {
        let e = both(r#"{"time":1,"@timestamp":"2022-11-03T02:52:27Z","message":"m"}"#);
        assert_eq!(e.ts.as_nanos(), 1_667_443_947_000_000_000);
        assert_eq!(e.attrs.get("time"), Some(&AttrValue::Integer(1)));
        // The source's time field is never deleted.
        assert_eq!(
            e.attrs.get("@timestamp"),
            Some(&AttrValue::from("2022-11-03T02:52:27Z"))
        );
        let e = both(r#"{"ts":"1667443947000000000","timestamp":5}"#);
        assert_eq!(e.ts.as_nanos(), 1_667_443_947_000_000_000);
        assert_eq!(
            e.attrs.to_json(),
            r#"{"ts":"1667443947000000000","timestamp":5}"#
        );
        for t in [
            "1667443947",
            "1667443947000",
            "1667443947000000",
            "1.667443947e9",
            "\"1667443947.0\"",
        ] {
            let e = both(&format!(r#"{{"timestamp":{t}}}"#));
            assert_eq!(e.ts.as_nanos(), 1_667_443_947_000_000_000, "{t}");
            assert_eq!(e.attrs.len(), 1, "the time field is kept");
        }
        assert_eq!(both(r#"{"message":"no time"}"#).ts, NOW);
    }

    #[test]
    fn severity_members() {
        assert_eq!(both(r#"{"level":"WARN"}"#).sev, Severity::Warning);
        assert_eq!(both(r#"{"level":30}"#).sev, Severity::Info);
        assert_eq!(both(r#"{"level":60}"#).sev, Severity::Fatal);
        assert_eq!(both(r#"{"sev":0,"level":"x"}"#).sev, Severity::Finest);
        assert_eq!(both(r#"{"severity":"CRT"}"#).sev, Severity::Fatal);
        assert!(serde(r#"{"sev":30}"#, &FromJsonConfig::default()).is_err());
    }

    #[test]
    fn bad_members_are_errors_or_kept_when_lenient() {
        let config = FromJsonConfig::default();
        let err = simd(r#"{"time":"12:30:01"}"#, &config).expect_err("not a time");
        assert!(err.to_string().contains("`time`"), "{err}");
        let err = simd(r#"{"level":"verbose"}"#, &config).expect_err("not a level");
        assert!(err.to_string().contains("`level`"), "{err}");
        let lenient = FromJsonConfig {
            lenient: true,
            ..FromJsonConfig::default()
        };
        let e = simd(r#"{"time":"12:30:01","level":"verbose"}"#, &lenient).expect("lenient");
        assert_eq!((e.ts, e.sev), (NOW, Severity::Info));
        assert_eq!(
            e.attrs.to_json(),
            r#"{"time":"12:30:01","level":"verbose"}"#
        );
        assert!(simd("[1]", &config).is_err());
        assert!(simd("{", &config).is_err());
    }

    #[test]
    fn sessions_are_1_to_200_chars() {
        assert!(Session::new("").is_err());
        assert!(Session::new("é".repeat(200)).is_ok());
        assert!(Session::new("x".repeat(201)).is_err());
    }
}
