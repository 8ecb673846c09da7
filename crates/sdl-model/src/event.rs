//! [`Event`] and the per-session pieces of a request: [`Session`], [`SessionInfo`],
//! [`Thread`], [`Log`]; and the conversion of an NDJSON object into an event
//! ([`Event::from_json_object`]).

#[cfg(test)]
use crate::AttrValue;
use crate::attrs::{JsonNode, Node, TapeValue};
use crate::{Attrs, Error, Flatten, Severity, Timestamp};
use std::borrow::Borrow;

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

    /// The event as compact JSON, written as a request body writes it: `ts` a string of
    /// digits, `sev` a number, and numbers kept as written
    /// ([`AttrValue::Number`](crate::AttrValue::Number), which serde's data model cannot
    /// carry: `Serialize` gives the nearest `f64`). For a dead-letter file, so an event
    /// that could not be sent keeps its exact values.
    ///
    /// ```
    /// use logferry_sdl_model::{Event, Timestamp};
    /// let mut line = br#"{"msg":"x","big":1E400,"tiny":-0.0000000000000000000001}"#.to_vec();
    /// let config = Default::default();
    /// let event = Event::from_json_slice(&mut line, Timestamp::from_nanos(7), &config)?;
    /// assert_eq!(
    ///     String::from_utf8(event.to_json()).unwrap(),
    ///     r#"{"ts":"7","sev":3,"attrs":{"msg":"x","big":1E400,"tiny":-0.0000000000000000000001}}"#
    /// );
    /// # Ok::<(), logferry_sdl_model::Error>(())
    /// ```
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        write_ts_sev(&mut out, self.ts.as_nanos(), self.sev);
        self.write_thread_and_log(&mut out);
        out.extend_from_slice(b",\"attrs\":");
        self.attrs.write_json(&mut out);
        out.push(b'}');
        out
    }

    /// Appends `,"thread":"…"` and `,"log":"…"`, each when set: the members an event's
    /// JSON has between `sev` and `attrs`.
    pub(crate) fn write_thread_and_log(&self, out: &mut Vec<u8>) {
        if let Some(thread) = &self.thread {
            out.extend_from_slice(b",\"thread\":");
            crate::json::write_str(out, thread);
        }
        if let Some(log) = &self.log {
            out.extend_from_slice(b",\"log\":");
            crate::json::write_str(out, log);
        }
    }

    /// Turns one JSON object (one NDJSON line, parsed by `serde_json`) into an event.
    ///
    /// Member names are matched in any ASCII case (`Timestamp`, `LEVEL`).
    ///
    /// - `ts` comes from the first of the members of [`TIME_KEYS`] that is present
    ///   (`ts`, `timestamp`, `@timestamp`, `time`, then journald's
    ///   `_SOURCE_REALTIME_TIMESTAMP` and `__REALTIME_TIMESTAMP`, microseconds): a date-time
    ///   ([`Timestamp::parse_lenient`]: RFC 3339 and the ISO 8601 forms logs carry; no zone
    ///   means UTC), an epoch number or digit string whose unit is read from its magnitude
    ///   ([`Timestamp::from_epoch_auto`]: seconds, ms, µs or ns; a fraction in a string is
    ///   read exactly), and `now` when none of them is present.
    /// - `sev` comes from the first of the members of [`SEVERITY_KEYS`] that is present: a
    ///   name ([`Severity::from_name`]: the seed's table and [`crate::EXTRA_NAMES`], any
    ///   case), or a number (or digit string) on the scale of its member: `sev` is SDL's
    ///   own 0-6; `level` is pino/bunyan's 10, 20, …, 60 (trace … fatal) or syslog's 0-7
    ///   ([`crate::SYSLOG_LEVELS`]); `severity`, `priority` (journald's `PRIORITY`),
    ///   `loglevel` and `levelname` are syslog's 0-7. Info when absent.
    /// - The time member stays an attribute, as the source wrote it (so an event keeps the
    ///   source's own record of its time whatever `ts` is written); the severity member
    ///   read is removed; every other member becomes an attribute, nested values flattened
    ///   as `config.flatten` says.
    ///
    /// A time or severity member that can't be read does not lose the event (with
    /// `config.lenient`, the default): it stays an ordinary attribute, holding the raw
    /// value, and the default is used (`now`, the read time; info, `sev` 3).
    /// [`EventReader::unreadable`] counts such events. With `lenient: false` it is an
    /// error naming the member.
    pub fn from_json_object(
        obj: &serde_json::Map<String, serde_json::Value>,
        now: Timestamp,
        config: &FromJsonConfig,
    ) -> Result<Event, Error> {
        let mut members: Vec<(&str, &serde_json::Value)> =
            obj.iter().map(|(k, v)| (k.as_str(), v)).collect();
        event_from_members::<serde_json::Value, _>(&mut members, now, config)
            .map(|(event, _)| event)
    }

    /// Like [`Event::from_json_object`], parsing one JSON object with simd-json (the fast
    /// path for NDJSON input). simd-json parses in place, so `line` is overwritten.
    pub fn from_json_slice(
        line: &mut [u8],
        now: Timestamp,
        config: &FromJsonConfig,
    ) -> Result<Event, Error> {
        let mut buffers = simd_json::Buffers::new(line.len());
        let mut tape = simd_json::Tape(Vec::new());
        event_from_slice(line, &mut buffers, &mut tape, now, config).map(|(event, _)| event)
    }
}

/// Appends an event's JSON up to its `sev`: `{"ts":"<digits>","sev":<0-6>` (the time as
/// written, which a request may have moved by a tie-break).
pub(crate) fn write_ts_sev(out: &mut Vec<u8>, ts: u64, sev: Severity) {
    out.extend_from_slice(b"{\"ts\":\"");
    crate::json::write_u64(out, ts);
    out.extend_from_slice(b"\",\"sev\":");
    out.push(b'0' + sev.as_u8());
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
    /// The tape of the last line, kept for its allocation.
    tape: simd_json::Tape<'static>,
    config: FromJsonConfig,
    unreadable: Unreadable,
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
            tape: simd_json::Tape(Vec::new()),
            config,
            unreadable: Unreadable::default(),
        }
    }

    /// One line (a JSON object) as an event, as [`Event::from_json_object`] describes.
    /// simd-json parses in place, so `line` is overwritten.
    pub fn read(&mut self, line: &mut [u8], now: Timestamp) -> Result<Event, Error> {
        let (event, unread) =
            event_from_slice(line, &mut self.buffers, &mut self.tape, now, &self.config)?;
        self.unreadable.add(unread);
        Ok(event)
    }

    /// Like [`EventReader::read`] for a record the caller keeps: `record` is copied into
    /// `scratch` and parsed there first, and the number check (a number an `f64` would
    /// change is kept as written, `crate::numbers`) looks at `record` only when the parsed
    /// line holds a number read as an `f64`, the only kind an `f64` can change (an integer
    /// simd-json reads as `i64` or `u64` is exact). Lines without one, most log lines,
    /// skip the check's scan; a line the check keeps numbers of, or one simd-json
    /// refuses, is read the whole way of [`EventReader::read`], so the result is the same.
    pub(crate) fn read_record(
        &mut self,
        record: &[u8],
        scratch: &mut Vec<u8>,
        now: Timestamp,
    ) -> Result<Event, Error> {
        scratch.clear();
        scratch.extend_from_slice(record);
        let config = &self.config;
        let first = on_tape(
            scratch,
            &mut self.buffers,
            &mut self.tape,
            |tape| match tape {
                Ok(tape) if !(has_f64(tape) && crate::numbers::may_need_text(record)) => {
                    Some(event_from_tape(tape, now, config))
                }
                _ => None,
            },
        );
        if let Some(done) = first {
            let (event, unread) = done?;
            self.unreadable.add(unread);
            return Ok(event);
        }
        // Parsing overwrote the copy in place: the whole way, on a fresh one.
        scratch.clear();
        scratch.extend_from_slice(record);
        self.read(scratch, now)
    }

    /// How many of the events read so far had a time or level member that could not be
    /// read (sent with the read time or `sev` 3, the raw value kept as an attribute).
    pub fn unreadable(&self) -> Unreadable {
        self.unreadable
    }
}

/// Counts of events whose time or level member could not be read
/// ([`EventReader::unreadable`]): each was still produced, with the read time or `sev` 3,
/// the member's raw value kept among its attributes. Counters add up across readers with
/// `+=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unreadable {
    /// Events with an unreadable time or level (or both): the number to report.
    pub events: u64,
    /// Events whose time member could not be read (they carry the read time).
    pub times: u64,
    /// Events whose level member could not be read (they carry `sev` 3).
    pub levels: u64,
}

impl Unreadable {
    fn add(&mut self, unread: Unread) {
        self.events += u64::from(unread.time || unread.level);
        self.times += u64::from(unread.time);
        self.levels += u64::from(unread.level);
    }
}

impl std::ops::AddAssign for Unreadable {
    fn add_assign(&mut self, other: Unreadable) {
        self.events += other.events;
        self.times += other.times;
        self.levels += other.levels;
    }
}

/// Which members of one object could not be read.
#[derive(Debug, Clone, Copy, Default)]
struct Unread {
    time: bool,
    level: bool,
}

fn event_from_slice(
    line: &mut [u8],
    buffers: &mut simd_json::Buffers,
    spare_tape: &mut simd_json::Tape<'static>,
    now: Timestamp,
    config: &FromJsonConfig,
) -> Result<(Event, Unread), Error> {
    // simd-json reads numbers as `i64`, `u64` or `f64`: a line holding a number an `f64`
    // would change is read keeping it as written (crate::numbers), at any depth.
    let invalid = |reason: String| Error::InvalidJson { reason };
    let validate = |copy: &mut [u8]| {
        simd_json::to_borrowed_value_with_buffers(copy, buffers)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    if let Some(raw) = crate::numbers::numbers_as_written(line, validate) {
        let raw = raw.map_err(invalid)?;
        let crate::numbers::Raw::Object(obj) = &raw else {
            return Err(not_object());
        };
        let mut members: Vec<(&str, &crate::numbers::Raw<'_>)> =
            obj.iter().map(|(k, v)| (k.as_ref(), v)).collect();
        return event_from_members::<crate::numbers::Raw<'_>, _>(&mut members, now, config);
    }
    // Read from the tape itself, which is reused from line to line.
    on_tape(line, buffers, spare_tape, |tape| {
        event_from_tape(tape.map_err(|e| invalid(e.to_string()))?, now, config)
    })
}

/// `line` parsed onto the allocation of `spare`, a tape reused from line to line, and
/// handed to `read`; the allocation goes back to `spare` whatever the outcome.
fn on_tape<R>(
    line: &mut [u8],
    buffers: &mut simd_json::Buffers,
    spare: &mut simd_json::Tape<'static>,
    read: impl FnOnce(simd_json::Result<&simd_json::Tape<'_>>) -> R,
) -> R {
    let mut tape = std::mem::replace(spare, simd_json::Tape(Vec::new())).reset();
    let parsed = simd_json::fill_tape(line, buffers, &mut tape);
    let done = read(parsed.map(|()| &tape));
    *spare = tape.reset();
    done
}

/// The error of a line that is JSON but not an object.
fn not_object() -> Error {
    Error::InvalidJson {
        reason: "expected a JSON object".to_owned(),
    }
}

/// The event of a parsed line.
fn event_from_tape(
    tape: &simd_json::Tape<'_>,
    now: Timestamp,
    config: &FromJsonConfig,
) -> Result<(Event, Unread), Error> {
    let root = TapeValue(&tape.0);
    if matches!(root.node(), Node::Object) {
        let mut members = Vec::with_capacity(root.container_len());
        members.extend(root.entries());
        event_from_members(&mut members, now, config)
    } else {
        Err(not_object())
    }
}

/// Whether a parsed line holds a number read as an `f64`.
fn has_f64(tape: &simd_json::Tape<'_>) -> bool {
    tape.0
        .iter()
        .any(|n| matches!(n, simd_json::Node::Static(simd_json::StaticNode::F64(_))))
}

/// How [`Event::from_json_object`] reads an object.
#[derive(Debug, Clone)]
pub struct FromJsonConfig {
    /// How nested values become attributes. Default [`Flatten::JsonString`], as the server
    /// would flatten them.
    pub flatten: Flatten,
    /// Keep unreadable time or severity members as attributes and use the defaults (the
    /// read time, info), instead of failing. Default `true`: a record is never lost for
    /// a time or level the reader does not know (counted by [`EventReader::unreadable`]).
    pub lenient: bool,
}

impl Default for FromJsonConfig {
    fn default() -> FromJsonConfig {
        FromJsonConfig {
            flatten: Flatten::default(),
            lenient: true,
        }
    }
}

/// Members that can carry the time, in priority order, matched in any ASCII case. The
/// last two are journald's (microseconds since the epoch).
pub const TIME_KEYS: [&str; 6] = [
    "ts",
    "timestamp",
    "@timestamp",
    "time",
    "_SOURCE_REALTIME_TIMESTAMP",
    "__REALTIME_TIMESTAMP",
];
/// Members that can carry the severity, in priority order, matched in any ASCII case.
/// `priority` is journald's `PRIORITY` (syslog's 0-7).
pub const SEVERITY_KEYS: [&str; 6] = [
    "sev",
    "severity",
    "level",
    "loglevel",
    "levelname",
    "priority",
];

/// The scale of a severity number, by member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// SDL's own 0-6 (`sev`).
    Sdl,
    /// pino's 10-60 or syslog's 0-7 (`level`).
    PinoOrSyslog,
    /// syslog's 0-7.
    Syslog,
}

/// The first member named by `keys` (in their order), names compared in any case.
fn find_member<V>(members: &[(&str, V)], keys: &[&str]) -> Option<(usize, usize)> {
    keys.iter().enumerate().find_map(|(ki, key)| {
        members
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|i| (i, ki))
    })
}

/// Members whose names repeat exactly become one: the last value, at the first one's
/// place (as [`Attrs::insert`] keeps them). So the time and the level are read from the
/// value that stays, as `serde_json`'s map (which keeps the last) reads them.
fn merge_repeated_names<V>(members: &mut Vec<(&str, V)>) {
    let mut i = 1;
    while i < members.len() {
        let name = members[i].0;
        match members[..i].iter().position(|(k, _)| *k == name) {
            Some(first) => {
                let (_, last) = members.remove(i);
                members[first].1 = last;
            }
            None => i += 1,
        }
    }
}

/// The event of an object's `members` (values, or references to them).
fn event_from_members<V: JsonNode, M: Borrow<V>>(
    members: &mut Vec<(&str, M)>,
    now: Timestamp,
    config: &FromJsonConfig,
) -> Result<(Event, Unread), Error> {
    merge_repeated_names(members);
    let mut unread = Unread::default();
    let mut ts = now;
    if let Some((i, ki)) = find_member(members, &TIME_KEYS) {
        let micros = ki >= 4;
        match json_time(members[i].1.borrow(), micros) {
            // The member stays among the attributes: the source's own record of its time.
            Ok(t) => ts = t,
            Err(reason) if !config.lenient => {
                return Err(Error::InvalidField {
                    field: members[i].0.to_owned(),
                    reason,
                });
            }
            Err(_) => unread.time = true,
        }
    }
    let mut sev = Severity::Info;
    if let Some((i, ki)) = find_member(members, &SEVERITY_KEYS) {
        let scale = match ki {
            0 => Scale::Sdl,
            2 => Scale::PinoOrSyslog,
            _ => Scale::Syslog,
        };
        match json_severity(members[i].1.borrow(), scale) {
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
            Err(_) => unread.level = true,
        }
    }
    let mut attrs = Attrs::with_capacity(members.len());
    for (k, v) in members.iter() {
        attrs.add_node(k, v.borrow(), config.flatten);
    }
    let event = Event {
        ts,
        sev,
        thread: None,
        log: None,
        attrs,
    };
    Ok((event, unread))
}

fn json_time<V: JsonNode>(v: &V, micros: bool) -> Result<Timestamp, String> {
    let err = |e: Error| e.to_string();
    if micros {
        // journald: microseconds, written as a string of digits (or a number).
        let us = match v.node() {
            Node::I64(i) => u64::try_from(i).ok(),
            Node::U64(u) => Some(u),
            Node::Str(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        return us
            .and_then(|us| us.checked_mul(1_000))
            .map(Timestamp::from_nanos)
            .ok_or_else(|| "expected microseconds since the epoch".to_owned());
    }
    match v.node() {
        Node::I64(i) => u64::try_from(i)
            .map_err(|_| format!("negative epoch time {i}"))
            .and_then(|u| Timestamp::from_epoch_auto(u).map_err(err)),
        Node::U64(u) => Timestamp::from_epoch_auto(u).map_err(err),
        Node::F64(f) => Timestamp::from_epoch_auto_f64(f).map_err(err),
        // More digits than an `f64` keeps: read from the text, exactly.
        Node::Number(t) if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            Timestamp::from_epoch_decimal(t).map_err(err)
        }
        Node::Number(t) => {
            Timestamp::from_epoch_auto_f64(t.parse().unwrap_or(f64::NAN)).map_err(err)
        }
        Node::Str(s) => {
            let t = s.trim();
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                Timestamp::from_epoch_decimal(t).map_err(err)
            } else {
                Timestamp::parse_lenient(s).map_err(err)
            }
        }
        _ => Err("expected a date-time string or an epoch number".to_owned()),
    }
}

fn json_severity<V: JsonNode>(v: &V, scale: Scale) -> Result<Severity, String> {
    let number = |n: i64| match scale {
        Scale::PinoOrSyslog if (10..=60).contains(&n) && n % 10 == 0 => {
            Ok(Severity::ALL[(n / 10) as usize])
        }
        Scale::Sdl => Severity::from_number(n).map_err(|e| e.to_string()),
        Scale::PinoOrSyslog | Scale::Syslog => Severity::from_syslog(n).map_err(|e| e.to_string()),
    };
    match v.node() {
        Node::I64(i) => number(i),
        Node::Str(s) => match s.trim().parse::<i64>() {
            Ok(n) => number(n),
            Err(_) => Severity::from_name(s).ok_or_else(|| {
                Error::InvalidSeverity {
                    input: crate::timestamp::truncated(s),
                }
                .to_string()
            }),
        },
        _ => Err("expected a severity number or name".to_owned()),
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
        let strict = FromJsonConfig {
            lenient: false,
            ..FromJsonConfig::default()
        };
        assert!(serde(r#"{"sev":30}"#, &strict).is_err());
    }

    #[test]
    fn levels_real_logs_carry() {
        for (line, sev) in [
            (r#"{"level":"verbose"}"#, Severity::Finer),
            (r#"{"Level":"Warning"}"#, Severity::Warning),
            (r#"{"LEVEL":"FATAL"}"#, Severity::Fatal),
            (r#"{"level":"TRACE"}"#, Severity::Finer),
            (r#"{"severity":"informational"}"#, Severity::Info),
            (r#"{"severity":"emerg"}"#, Severity::Fatal),
            (r#"{"levelname":"CRITICAL"}"#, Severity::Fatal),
            // Syslog numbers, in numbers or strings: 3 err, 4 warning, 7 debug.
            (r#"{"severity":3}"#, Severity::Error),
            (r#"{"level":4}"#, Severity::Warning),
            (r#"{"level":"7"}"#, Severity::Fine),
            (r#"{"PRIORITY":"6"}"#, Severity::Info),
            (r#"{"PRIORITY":"2"}"#, Severity::Fatal),
            // `sev` is SDL's own scale.
            (r#"{"sev":3}"#, Severity::Info),
            (r#"{"Sev":"5"}"#, Severity::Error),
        ] {
            assert_eq!(both(line).sev, sev, "{line}");
        }
    }

    #[test]
    fn times_real_logs_carry() {
        let want = 1_667_443_947_000_000_000;
        for line in [
            r#"{"time":"2022-11-03T02:52:27"}"#,
            r#"{"Timestamp":"2022-11-03 04:52:27+0200"}"#,
            r#"{"TIME":"2022-11-03 02:52:27,000"}"#,
            r#"{"@Timestamp":"2022-11-03T02:52:27Z"}"#,
            r#"{"__REALTIME_TIMESTAMP":"1667443947000000","PRIORITY":"6","MESSAGE":"m"}"#,
            r#"{"_SOURCE_REALTIME_TIMESTAMP":"1667443947000000","__REALTIME_TIMESTAMP":"1"}"#,
        ] {
            assert_eq!(both(line).ts.as_nanos(), want, "{line}");
        }
        // A time written as a decimal string keeps every digit.
        assert_eq!(
            both(r#"{"ts":"1667443947.123456789"}"#).ts.as_nanos(),
            want + 123_456_789
        );
    }

    #[test]
    fn unreadable_members_keep_the_event_and_are_counted() {
        let mut reader = EventReader::new(FromJsonConfig::default());
        let mut read = |line: &str| {
            let mut buf = line.as_bytes().to_vec();
            reader.read(&mut buf, NOW).expect("still an event")
        };
        let e = read(r#"{"time":"12:30:01","level":"loud","message":"m"}"#);
        assert_eq!((e.ts, e.sev), (NOW, Severity::Info));
        assert_eq!(
            e.attrs.to_json(),
            r#"{"time":"12:30:01","level":"loud","message":"m"}"#,
            "the raw values are kept"
        );
        read(r#"{"time":"2022-11-03T02:52:27Z","level":99}"#);
        read(r#"{"time":"2022-11-03T02:52:27Z","level":"info"}"#);
        assert_eq!(
            reader.unreadable(),
            Unreadable {
                events: 2,
                times: 1,
                levels: 2
            }
        );
        let mut total = Unreadable::default();
        total += reader.unreadable();
        assert_eq!(total.events, 2);
    }

    #[test]
    fn repeated_names_keep_the_last_value_as_serde_json_does() {
        let text = r#"{"level":"war","msg":"x","level":"warn","ts":"bad","ts":5,"msg":"y"}"#;
        let e = both(text);
        assert_eq!(e.sev, Severity::Warning, "the last level, not the first");
        assert_eq!(e.ts.as_nanos(), 5_000_000_000);
        assert_eq!(e.attrs.get("level"), None, "a level read is not kept");
        assert_eq!(e.attrs.to_json(), r#"{"msg":"y","ts":5}"#);
    }

    #[test]
    fn bad_members_are_errors_when_strict() {
        let config = FromJsonConfig {
            lenient: false,
            ..FromJsonConfig::default()
        };
        let err = simd(r#"{"time":"12:30:01"}"#, &config).expect_err("not a time");
        assert!(err.to_string().contains("`time`"), "{err}");
        let err = simd(r#"{"level":"loud"}"#, &config).expect_err("not a level");
        assert!(err.to_string().contains("`level`"), "{err}");
        assert!(simd("[1]", &config).is_err());
        assert!(simd("{", &FromJsonConfig::default()).is_err());
    }

    #[test]
    fn sessions_are_1_to_200_chars() {
        assert!(Session::new("").is_err());
        assert!(Session::new("é".repeat(200)).is_ok());
        assert!(Session::new("x".repeat(201)).is_err());
    }
}
