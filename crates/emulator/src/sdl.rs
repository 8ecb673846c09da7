//! SentinelOne SDL: `POST /api/addEvents` and `POST /api/uploadLogs`.
//!
//! # addEvents
//!
//! Rules from `sdl-add-events-api.txt`, in the order they are checked:
//!
//! 1. **Key.** "A Log Write Access SDL API key. We recommend you send the key in the
//!    header, in the format `Authorization: Bearer {token}`", or as the body's `token`.
//!    Missing, unknown or revoked: **401** `error/client/noPermission` ("If you receive 401
//!    errors with a status of error/client/noPermission [...] the token is incorrect or
//!    invalid"). A header key is checked before the body is parsed.
//! 2. **Size.** "The request body must be 6MB or less." Gzip and deflate bodies are
//!    decoded first (with a bomb guard at the limit). Over the limit: **400**
//!    `error/client/badParam`, the seed's status for it ("400: Check your request syntax.
//!    If the request exceeds 6 MB the data is truncated."); an emulator cannot keep
//!    truncated data honestly, so it refuses the request and says why.
//! 3. **JSON.** "The addEvents endpoint cannot handle malformed JSON": **400**
//!    `error/client/badParam` for malformed JSON and for each rule below.
//! 4. **One request in flight per session.** "Only one request can be in-flight at a time
//!    for a session": a request whose time in the emulator overlaps another of the same
//!    session gets **429** `error/server/backoff`.
//! 5. **Validation** against the `Format` section: `session` is required, a string of 1
//!    to 200 characters ("An arbitrary string (up to 200 characters)"); `sessionInfo` an
//!    object; `threads` an array of `{"id": "...", "name": "..."}`; `events` an array
//!    ("Zero or more events"; absent means none); each event an object whose `ts`, when
//!    present, is a string of digits ("This is a string, not a number"), `sev` an integer
//!    0 to 6 ("Set from 0 to 6"), `thread` a string, `log` the id of an entry of this
//!    request's `logs` ("map its value to the applicable id value in "logs": [...]"), and
//!    `attrs` an object; `logs` an array of `{"id": "...", "attrs": {...}}` with unique ids.
//! 6. **Per-session rate.** "Each session cannot exceed 10 MB/sec": decoded bytes
//!    accepted on a session over the last second, this request included, above the
//!    ceiling: **429** `error/server/backoff` ("If you receive 429 "backoff" errors
//!    during sustained periods of high throughput, separate your events into multiple
//!    sessions"). Also 429 when a request would create more than 50,000 sessions in five
//!    minutes ("There is a maximum of 50K sessions per five minute period per account").
//!
//! Success: `{"status":"success","bytesCharged":N}` with N from [`crate::charging`].
//! Events are stored with their `logs` attributes merged in.
//!
//! Counted as violations, not refused (the seed only recommends them, or says a change
//! "may be ignored"): a changed `sessionInfo` ("sessionInfo must be the same for all
//! requests with the same session value. If not, changes to the value may be ignored"), a
//! `ts` not above the session's previous one, a missing `ts`, a `thread` never declared in
//! the session's `threads`, and a `ts` whose magnitude looks like seconds, milliseconds or
//! microseconds (below 10^17 ns, i.e. before 1973).
//!
//! The request header `errorStatus: always200` (from the older SDL API docs) makes every
//! error come back as HTTP 200 carrying its `status` string.
//!
//! # uploadLogs
//!
//! The seed names it ("If you want to import unstructured, raw log text, it is easier to
//! use uploadLogs"); its public docs give the rest: the key as `Authorization: Bearer` or
//! a `token` query parameter, a `text/plain` body with one event per line, headers
//! `server-host`, `logfile`, `parser` and other `server-*` fields, and a `Nonce` header
//! that makes a repeat within about a minute a no-op. Each line is stored as an event
//! whose attributes are `message` plus those header fields; each line is charged as a
//! `message` field (its bytes plus 1).

use crate::FaultStatus;
use crate::auth::{Check, Keys, credential, new_key};
use crate::charging::attrs_charge;
use crate::ctx::{Body, Ctx, Handled, Injected};
use crate::reply::{self, Resp};
use crate::stats::{Collector, SessionStats, ViolationKind};
use crate::store::{NewRecord, SdlFields};
use crate::util::truncate;
use http::{HeaderMap, Request, header};
use hyper::body::Incoming;
use logferry_compress::{Encoding, decode};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// SDL's state: the API keys, the sessions, and the uploadLogs nonces seen lately.
#[derive(Debug, Default)]
pub(crate) struct State {
    keys: Keys<()>,
    sessions: Sessions,
    /// uploadLogs `Nonce` → when its request was stored.
    nonces: Mutex<HashMap<String, Instant>>,
}

impl State {
    /// Adds a Log Write Access key and returns it.
    pub(crate) fn add_key(&self) -> String {
        let key = new_key();
        self.keys.insert(key.clone(), (), |_| true);
        key
    }

    /// Revokes a key (then 401); false when it is not a current key.
    pub(crate) fn revoke(&self, key: &str) -> bool {
        self.keys.revoke(key)
    }

    /// Each session's counters.
    pub(crate) fn sessions(&self) -> BTreeMap<String, SessionStats> {
        self.sessions.snapshot()
    }

    fn key_is_valid(&self, key: &str) -> bool {
        let check = self.keys.check(key, |(), revoked| {
            if revoked {
                Check::Revoked
            } else {
                Check::Valid
            }
        });
        check == Check::Valid
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The longest session id: "An arbitrary string (up to 200 characters)".
pub(crate) const MAX_SESSION_CHARS: usize = 200;

/// Timestamps below this many nanoseconds (early 1973) look like s, ms or us.
const PLAUSIBLE_NS: u64 = 100_000_000_000_000_000;

const BAD_PARAM: &str = "error/client/badParam";
const NO_PERMISSION: &str = "error/client/noPermission";
const BACKOFF: &str = "error/server/backoff";
const SUCCESS: &str = "success";

/// A validated addEvents request.
#[derive(Debug)]
pub(crate) struct AddEvents {
    pub(crate) session: String,
    pub(crate) session_info: Option<Value>,
    pub(crate) threads: Vec<String>,
    pub(crate) events: Vec<Event>,
    pub(crate) logs: HashMap<String, Map<String, Value>>,
}

/// A validated event.
#[derive(Debug)]
pub(crate) struct Event {
    /// As sent, and its value.
    pub(crate) ts: Option<(String, u64)>,
    pub(crate) sev: Option<u8>,
    pub(crate) thread: Option<String>,
    pub(crate) log: Option<String>,
    pub(crate) attrs: Map<String, Value>,
}

impl AddEvents {
    /// An event's attributes with its `logs` entry merged in (the event's own win).
    pub(crate) fn merged_attrs(&self, event: &Event) -> Map<String, Value> {
        let mut merged = event
            .log
            .as_ref()
            .and_then(|id| self.logs.get(id))
            .cloned()
            .unwrap_or_default();
        merged.extend(event.attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
    }
}

/// Parses a body as a JSON object.
pub(crate) fn parse(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("request body must be a JSON object".to_owned()),
        Err(e) => Err(format!("request body is not valid JSON: {e}")),
    }
}

/// A request body read by one of two parsers.
///
/// The fast path is `logferry_sdl_model::parse_request` (simd-json), which validates the
/// whole request as the seed's format says. It is stricter than the emulator in two
/// places (a missing `ts` or `attrs` fails it, where the emulator accepts the event and
/// counts a violation) and its messages differ, so any body it refuses is read again by
/// the reference path (serde_json and [`validate`]), which decides and words the answer.
/// Every request that reaches a client's reply is therefore judged as before; valid
/// requests, the hot path, cost one simd-json parse. Records of fast-path requests differ
/// from the reference path's in three documented ways, all closer to what the service
/// stores: a nested attribute is stored as its compact JSON text (seed: "nested has the
/// value {"foo":"1","bar":"2","baz":"3"}"), a missing `sev` as 3 (seed: "defaults to 3"),
/// and `ts` in canonical digits (no leading zeros).
///
/// The charge is still computed by [`crate::charging`] from serde_json values, so it stays
/// independent of the model's own estimate.
pub(crate) enum Parsed {
    /// Validated by the model.
    Fast(logferry_sdl_model::AddEventsRequest),
    /// Parsed by serde_json, to be validated by [`validate`].
    Reference(Map<String, Value>),
}

impl Parsed {
    fn token(&self) -> Option<&str> {
        match self {
            Parsed::Fast(r) => r.token.as_ref().map(|t| t.expose()),
            Parsed::Reference(map) => map.get("token").and_then(Value::as_str),
        }
    }

    fn session(&self) -> Result<&str, String> {
        match self {
            Parsed::Fast(r) => Ok(r.session.as_str()),
            Parsed::Reference(map) => session_of(map),
        }
    }

    fn validate(self) -> Result<AddEvents, String> {
        match self {
            Parsed::Fast(r) => Ok(from_model(r)),
            Parsed::Reference(map) => validate(map),
        }
    }
}

/// Parses `decoded` with simd-json (which rewrites it) and, if that refuses it, decodes
/// `wire` again and parses it with serde_json.
fn parse_fast_or_reference(
    headers: &HeaderMap,
    wire: &[u8],
    mut decoded: Vec<u8>,
    limit: u64,
) -> Result<Parsed, (u16, String)> {
    if let Ok(request) = logferry_sdl_model::parse_request(&mut decoded) {
        return Ok(Parsed::Fast(request));
    }
    drop(decoded);
    let decoded = decode_body(headers, wire, limit)?;
    parse(&decoded).map(Parsed::Reference).map_err(|m| (400, m))
}

fn json_value(v: &logferry_sdl_model::AttrValue) -> Value {
    use logferry_sdl_model::AttrValue as A;
    match v {
        A::String(s) => Value::String(s.to_string()),
        A::Integer(i) => Value::from(*i),
        A::Unsigned(u) => Value::from(*u),
        A::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        A::Bool(b) => Value::Bool(*b),
        A::Null => Value::Null,
        // A number as written: its nearest value here (the records keep JSON values).
        A::Number(n) => serde_json::from_str(n).unwrap_or(Value::Null),
        // The model's enum may grow; a value it adds is not stored.
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

fn json_map(attrs: &logferry_sdl_model::Attrs) -> Map<String, Value> {
    attrs
        .iter()
        .map(|(k, v)| (k.to_owned(), json_value(v)))
        .collect()
}

/// The emulator's view of a request the model validated.
fn from_model(r: logferry_sdl_model::AddEventsRequest) -> AddEvents {
    let logs = r
        .logs
        .iter()
        .map(|l| (l.id.clone(), json_map(&l.attrs)))
        .collect();
    AddEvents {
        session: r.session.as_str().to_owned(),
        session_info: r.session_info.map(|i| Value::Object(json_map(&i.0))),
        threads: r.threads.into_iter().map(|t| t.id).collect(),
        events: r
            .events
            .into_iter()
            .map(|e| Event {
                ts: Some((e.ts.as_nanos().to_string(), e.ts.as_nanos())),
                sev: Some(e.sev.as_u8()),
                thread: e.thread,
                log: e.log,
                attrs: json_map(&e.attrs),
            })
            .collect(),
        logs,
    }
}

/// The `session` of a parsed request, checked.
pub(crate) fn session_of(map: &Map<String, Value>) -> Result<&str, String> {
    match map.get("session") {
        None => Err("`session` is required".to_owned()),
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if (1..=MAX_SESSION_CHARS).contains(&n) {
                Ok(s)
            } else {
                Err(format!(
                    "`session` must be 1 to {MAX_SESSION_CHARS} characters, got {n}"
                ))
            }
        }
        Some(_) => Err("`session` must be a string".to_owned()),
    }
}

/// Checks a parsed request against the seed's format and takes it apart.
pub(crate) fn validate(mut map: Map<String, Value>) -> Result<AddEvents, String> {
    let session = session_of(&map)?.to_owned();
    if let Some(token) = map.get("token")
        && !token.is_string()
    {
        return Err("`token` must be a string".to_owned());
    }
    let session_info = match map.remove("sessionInfo") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => return Err("`sessionInfo` must be an object".to_owned()),
    };
    let mut threads = Vec::new();
    match map.remove("threads") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let ok = match &item {
                    Value::Object(t) => match (t.get("id"), t.get("name")) {
                        (Some(Value::String(id)), Some(Value::String(_))) => Some(id.clone()),
                        _ => None,
                    },
                    _ => None,
                };
                match ok {
                    Some(id) => threads.push(id),
                    None => {
                        return Err(format!(
                            "`threads[{i}]` must be an object with a string `id` and a string `name`"
                        ));
                    }
                }
            }
        }
        Some(_) => return Err("`threads` must be an array".to_owned()),
    }
    let mut logs = HashMap::new();
    match map.remove("logs") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                let Value::Object(mut entry) = item else {
                    return Err(format!(
                        "`logs[{i}]` must be an object with a string `id` and an object `attrs`"
                    ));
                };
                let (Some(Value::String(id)), Some(Value::Object(attrs))) =
                    (entry.remove("id"), entry.remove("attrs"))
                else {
                    return Err(format!(
                        "`logs[{i}]` must be an object with a string `id` and an object `attrs`"
                    ));
                };
                if logs.insert(id.clone(), attrs).is_some() {
                    return Err(format!("`logs` has the id \"{}\" twice", truncate(&id, 60)));
                }
            }
        }
        Some(_) => return Err("`logs` must be an array".to_owned()),
    }
    let mut events = Vec::new();
    match map.remove("events") {
        None => {}
        Some(Value::Array(items)) => {
            events.reserve(items.len());
            for (i, item) in items.into_iter().enumerate() {
                events.push(validate_event(i, item, &logs)?);
            }
        }
        Some(_) => return Err("`events` must be an array".to_owned()),
    }
    Ok(AddEvents {
        session,
        session_info,
        threads,
        events,
        logs,
    })
}

fn validate_event(
    i: usize,
    item: Value,
    logs: &HashMap<String, Map<String, Value>>,
) -> Result<Event, String> {
    let Value::Object(mut e) = item else {
        return Err(format!("`events[{i}]` must be an object"));
    };
    let ts = match e.remove("ts") {
        None => None,
        Some(Value::String(s)) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "`events[{i}].ts` must be a string of digits (nanoseconds since 1970), got \"{}\"",
                    truncate(&s, 40)
                ));
            }
            let Ok(value) = s.parse::<u64>() else {
                return Err(format!(
                    "`events[{i}].ts` is too large for a nanosecond timestamp"
                ));
            };
            Some((s, value))
        }
        Some(Value::Number(_)) => {
            return Err(format!(
                "`events[{i}].ts` must be a string of digits, not a number (\"This is a string, not a number\")"
            ));
        }
        Some(_) => return Err(format!("`events[{i}].ts` must be a string of digits")),
    };
    let sev = match e.remove("sev") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n @ 0..=6) => Some(n as u8),
            _ => {
                return Err(format!(
                    "`events[{i}].sev` must be an integer from 0 to 6, got {}",
                    truncate(&v.to_string(), 40)
                ));
            }
        },
    };
    let thread = match e.remove("thread") {
        None => None,
        Some(Value::String(t)) => Some(t),
        Some(_) => return Err(format!("`events[{i}].thread` must be a string")),
    };
    let log = match e.remove("log") {
        None => None,
        Some(Value::String(id)) => {
            if !logs.contains_key(&id) {
                return Err(format!(
                    "`events[{i}].log` is \"{}\", which is not an id in this request's `logs`",
                    truncate(&id, 60)
                ));
            }
            Some(id)
        }
        Some(_) => return Err(format!("`events[{i}].log` must be a string")),
    };
    let attrs = match e.remove("attrs") {
        None => Map::new(),
        Some(Value::Object(attrs)) => attrs,
        Some(_) => return Err(format!("`events[{i}].attrs` must be an object")),
    };
    Ok(Event {
        ts,
        sev,
        thread,
        log,
        attrs,
    })
}

/// One session's state.
#[derive(Debug, Default)]
struct Session {
    stats: SessionStats,
    /// Requests in progress: (request id, arrival).
    active: Vec<(u64, Instant)>,
    /// When the last few requests finished.
    recent_ends: VecDeque<Instant>,
    /// Accepted decoded bytes over the last second.
    window: VecDeque<(Instant, u64)>,
    window_sum: u64,
    last_ts: Option<u64>,
    session_info: Option<Value>,
    threads: HashSet<String>,
}

#[derive(Debug, Default)]
struct SessionsInner {
    map: HashMap<String, Session>,
    /// When sessions were created, over the last five minutes.
    created: VecDeque<Instant>,
}

/// All SDL sessions.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<SessionsInner>,
}

/// A request registered on a session; unregisters on drop.
pub(crate) struct SessionGuard<'a> {
    sessions: &'a Sessions,
    session: String,
    id: u64,
    /// Other requests of the session that overlapped this one when it registered.
    pub(crate) overlapping: u64,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        let mut inner = self.sessions.lock();
        if let Some(s) = inner.map.get_mut(&self.session) {
            s.active.retain(|(id, _)| *id != self.id);
            s.recent_ends.push_back(Instant::now());
            if s.recent_ends.len() > 16 {
                s.recent_ends.pop_front();
            }
        }
    }
}

/// Decoded bytes over the window exceed the ceiling.
pub(crate) struct RateExceeded {
    window: u64,
    limit: u64,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, SessionsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers request `id`, which arrived at `arrival`, on `session`. `None` when the
    /// session is new and `per_5_min` sessions were created in the last 5 minutes.
    fn enter(
        &self,
        per_5_min: usize,
        session: &str,
        id: u64,
        arrival: Instant,
    ) -> Option<SessionGuard<'_>> {
        let mut inner = self.lock();
        let now = Instant::now();
        if !inner.map.contains_key(session) {
            while inner
                .created
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(300))
            {
                inner.created.pop_front();
            }
            if inner.created.len() >= per_5_min {
                return None;
            }
            inner.created.push_back(now);
        }
        let s = inner.map.entry(session.to_owned()).or_default();
        let overlapping = s.active.len() as u64
            + s.recent_ends.iter().filter(|end| **end > arrival).count() as u64;
        s.active.push((id, arrival));
        s.stats.requests += 1;
        s.stats.max_concurrent = s.stats.max_concurrent.max(overlapping + 1);
        Some(SessionGuard {
            sessions: self,
            session: session.to_owned(),
            id,
            overlapping,
        })
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<String, SessionStats> {
        self.lock()
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.stats.clone()))
            .collect()
    }

    /// Checks the rate against `limit` (decoded bytes per second), then accepts the
    /// request: counts violations in `stats`, builds the records, charges.
    fn accept(
        &self,
        stats: &Collector,
        limit: u64,
        req: &AddEvents,
        decoded: u64,
        request_id: u64,
    ) -> Result<(Vec<NewRecord>, u64), RateExceeded> {
        let mut inner = self.lock();
        let s = inner.map.entry(req.session.clone()).or_default();
        let now = Instant::now();
        while s
            .window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= Duration::from_secs(1))
        {
            if let Some((_, n)) = s.window.pop_front() {
                s.window_sum -= n;
            }
        }
        if s.window_sum + decoded > limit {
            return Err(RateExceeded {
                window: s.window_sum + decoded,
                limit,
            });
        }
        s.window.push_back((now, decoded));
        s.window_sum += decoded;
        s.stats.peak_rate = s.stats.peak_rate.max(s.window_sum);

        let violation = |kind: ViolationKind, what: String| {
            stats.violation(kind, || {
                format!(
                    "request {request_id}, session {}: {what}",
                    truncate(&req.session, 60)
                )
            });
        };
        if let Some(info) = &req.session_info {
            match &s.session_info {
                None => s.session_info = Some(info.clone()),
                Some(first) if first != info => violation(
                    ViolationKind::SessionInfoChanged,
                    format!(
                        "sessionInfo {} differs from the first {}",
                        truncate(&info.to_string(), 100),
                        truncate(&first.to_string(), 100)
                    ),
                ),
                Some(_) => {}
            }
        }
        s.threads.extend(req.threads.iter().cloned());
        let mut records = Vec::with_capacity(req.events.len());
        let mut charged = 0;
        for (i, event) in req.events.iter().enumerate() {
            match &event.ts {
                None => violation(ViolationKind::MissingTs, format!("events[{i}] has no ts")),
                Some((text, ts)) => {
                    if *ts < PLAUSIBLE_NS {
                        let unit = match ts {
                            0..100_000_000_000 => "seconds",
                            100_000_000_000..100_000_000_000_000 => "milliseconds",
                            _ => "microseconds",
                        };
                        violation(
                            ViolationKind::TsNotNanoseconds,
                            format!("events[{i}].ts {text} looks like {unit}, not nanoseconds"),
                        );
                    }
                    if let Some(last) = s.last_ts
                        && *ts <= last
                    {
                        violation(
                            ViolationKind::TsNotIncreasing,
                            format!("events[{i}].ts {text} is not above the previous {last}"),
                        );
                    }
                    s.last_ts = Some(*ts);
                }
            }
            if let Some(thread) = &event.thread
                && !s.threads.contains(thread)
            {
                violation(
                    ViolationKind::UndeclaredThread,
                    format!(
                        "events[{i}].thread \"{}\" was never declared in threads",
                        truncate(thread, 60)
                    ),
                );
            }
            let merged = req.merged_attrs(event);
            charged += attrs_charge(&merged);
            records.push(NewRecord {
                text: merged
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                unterminated: false,
                sdl: Some(SdlFields {
                    ts: event.ts.as_ref().map(|(t, _)| t.clone()),
                    sev: event.sev,
                    thread: event.thread.clone(),
                    attrs: Value::Object(merged),
                }),
            });
        }
        s.stats.accepted += 1;
        s.stats.events += records.len() as u64;
        s.stats.decoded_bytes += decoded;
        s.stats.bytes_charged += charged;
        Ok((records, charged))
    }
}

/// Maps an injected status to SDL's HTTP status and `status` string.
fn fault_status(status: FaultStatus) -> (u16, &'static str) {
    match status {
        FaultStatus::SdlBackoffIn200 => (200, BACKOFF),
        FaultStatus::Code(429) => (429, BACKOFF),
        FaultStatus::Code(code @ (401 | 403)) => (code, NO_PERMISSION),
        FaultStatus::Code(code @ (400 | 413)) => (code, BAD_PARAM),
        FaultStatus::Code(code @ 400..=499) => (code, "error/client"),
        FaultStatus::Code(code) => (code, "error/server"),
    }
}

/// Replies for one SDL request, remembering its `status` for the stats.
struct Replier {
    always_200: bool,
}

impl Replier {
    fn new(headers: &HeaderMap) -> Replier {
        Replier {
            always_200: headers
                .get("errorStatus")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("always200")),
        }
    }

    fn error(&self, ctx: &mut Ctx<'_>, http: u16, status: &'static str, message: &str) -> Resp {
        ctx.outcome.sdl_status = Some(status.to_owned());
        reply::sdl(http, status, Some(message), None, self.always_200)
    }

    fn success(&self, ctx: &mut Ctx<'_>, charged: u64, message: Option<&str>) -> Resp {
        ctx.outcome.sdl_status = Some(SUCCESS.to_owned());
        reply::sdl(200, SUCCESS, message, Some(charged), self.always_200)
    }

    fn injected(&self, ctx: &mut Ctx<'_>, injected: Injected) -> Handled {
        if let Injected::Fail(status) = &injected {
            ctx.outcome.sdl_status = Some(fault_status(*status).1.to_owned());
        }
        let always_200 = self.always_200;
        ctx.injected(injected, |status| {
            let (http, text) = fault_status(status);
            reply::sdl(http, text, Some("injected fault"), None, always_200)
        })
    }
}

/// Decodes an SDL body by its `Content-Encoding` (gzip, deflate or none) within `limit`.
fn decode_body(headers: &HeaderMap, wire: &[u8], limit: u64) -> Result<Vec<u8>, (u16, String)> {
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => Encoding::Identity,
        Some(v) => match v.to_str().ok().map(str::parse::<Encoding>) {
            Some(Ok(e)) => e,
            _ => {
                return Err((
                    400,
                    format!(
                        "unsupported Content-Encoding `{}` (gzip, deflate or none)",
                        truncate(v.to_str().unwrap_or("<not text>"), 40)
                    ),
                ));
            }
        },
    };
    match decode(encoding, wire, usize::try_from(limit).unwrap_or(usize::MAX)) {
        Ok(d) => Ok(d),
        Err(logferry_compress::Error::TooLarge { .. }) => Err((400, too_large_message(limit))),
        Err(e) => Err((400, format!("request body does not decode: {e}"))),
    }
}

fn too_large_message(limit: u64) -> String {
    format!(
        "request body exceeds {limit} bytes (decoded); the limit is 6MB and the service would truncate it, so the emulator refuses it"
    )
}

/// The body limit in force (wire and decoded).
fn body_limit(ctx: &Ctx<'_>) -> u64 {
    ctx.common
        .limits()
        .sdl_max_body
        .unwrap_or(ctx.common.config.sdl_max_body)
}

/// `POST /api/addEvents`.
pub(crate) async fn handle_add_events(
    ctx: &mut Ctx<'_>,
    state: &State,
    req: Request<Incoming>,
) -> Handled {
    let (parts, body) = req.into_parts();
    let replier = Replier::new(&parts.headers);
    let header_key = parts
        .headers
        .contains_key(header::AUTHORIZATION)
        .then(|| credential(&parts.headers, &["Bearer"]));
    if let Some(key) = header_key
        && !key.is_some_and(|k| state.key_is_valid(k))
    {
        ctx.drain(body).await?;
        return Ok(replier.error(
            ctx,
            401,
            NO_PERMISSION,
            "API key missing, incorrect or revoked",
        ));
    }
    let limit = body_limit(ctx);
    if ctx.common.config.count_only {
        ctx.drain(body).await?;
        return Ok(replier.success(ctx, 0, None));
    }
    let body = ctx.read_body(body, limit).await?;
    let parsed = match body {
        Body::TooLarge => Err((400, too_large_message(limit))),
        Body::Complete(wire) => decode_body(&parts.headers, &wire, limit).and_then(|decoded| {
            ctx.outcome.decoded_bytes = decoded.len() as u64;
            parse_fast_or_reference(&parts.headers, &wire, decoded, limit)
        }),
    };
    let mut auth_error = None;
    if header_key.is_none()
        && let Ok(request) = &parsed
    {
        let valid = request.token().is_some_and(|t| state.key_is_valid(t));
        if !valid {
            auth_error = Some(
                "API key missing, incorrect or revoked (send Authorization: Bearer <key> or a body `token`)",
            );
        }
    }
    // Register on the session as early as possible, so the overlap window is as wide as
    // the server can see.
    let mut guard = None;
    let mut too_many_sessions = false;
    if let (Ok(request), None) = (&parsed, auth_error)
        && let Ok(session) = request.session()
    {
        let per_5_min = ctx.common.config.sdl_sessions_per_5_min;
        guard = state
            .sessions
            .enter(per_5_min, session, ctx.id, ctx.arrival);
        too_many_sessions = guard.is_none();
    }
    if let Some(injected) = ctx.fault().await {
        return replier.injected(ctx, injected);
    }
    let request = match parsed {
        Ok(request) => request,
        Err((http, message)) => return Ok(replier.error(ctx, http, BAD_PARAM, &message)),
    };
    if let Some(message) = auth_error {
        return Ok(replier.error(ctx, 401, NO_PERMISSION, message));
    }
    if too_many_sessions {
        return Ok(replier.error(
            ctx,
            429,
            BACKOFF,
            "too many new sessions in the last five minutes (50K per account)",
        ));
    }
    if let Some(g) = &guard
        && g.overlapping > 0
    {
        let id = ctx.id;
        let session = g.session.clone();
        ctx.common
            .stats
            .violation(ViolationKind::ConcurrentSessionRequest, || {
                format!(
                    "request {id}, session {}: another request of the session was in flight",
                    truncate(&session, 60)
                )
            });
        return Ok(replier.error(
                ctx,
                429,
                BACKOFF,
                "another request of this session is in flight; only one request can be in-flight at a time for a session",
            ));
    }
    let request = match request.validate() {
        Ok(r) => r,
        Err(message) => return Ok(replier.error(ctx, 400, BAD_PARAM, &message)),
    };
    let decoded = ctx.outcome.decoded_bytes;
    let rate = ctx
        .common
        .limits()
        .sdl_session_rate
        .unwrap_or(ctx.common.config.sdl_session_rate);
    let accepted = state
        .sessions
        .accept(&ctx.common.stats, rate, &request, decoded, ctx.id);
    let (records, charged) = match accepted {
        Ok(accepted) => accepted,
        Err(RateExceeded { window, limit }) => {
            let id = ctx.id;
            ctx.common
                .stats
                .violation(ViolationKind::SessionRateExceeded, || {
                    format!(
                        "request {id}, session {}: {window} bytes in 1 s over the {limit} ceiling",
                        truncate(&request.session, 60)
                    )
                });
            return Ok(replier.error(
                ctx,
                429,
                BACKOFF,
                &format!(
                    "session above {limit} bytes/s; back off or spread events over more sessions"
                ),
            ));
        }
    };
    let count = records.len() as u64;
    if let Err(err) = ctx
        .common
        .store
        .append(ctx.endpoint, &request.session, ctx.id, records, None)
    {
        tracing::error!(%err, "cannot write the records file");
        return Ok(replier.error(
            ctx,
            500,
            "error/server",
            "emulator cannot write its records file",
        ));
    }
    ctx.outcome.records = count;
    drop(guard);
    Ok(replier.success(ctx, charged, None))
}

/// `POST /api/uploadLogs`.
pub(crate) async fn handle_upload_logs(
    ctx: &mut Ctx<'_>,
    state: &State,
    req: Request<Incoming>,
) -> Handled {
    let (parts, body) = req.into_parts();
    let replier = Replier::new(&parts.headers);
    let query_token = parts
        .uri
        .query()
        .and_then(|q| crate::util::parse_query(q).ok())
        .and_then(|pairs| crate::util::param(&pairs, "token").map(str::to_owned));
    let key = credential(&parts.headers, &["Bearer"])
        .map(str::to_owned)
        .or(query_token);
    if !key.is_some_and(|k| state.key_is_valid(&k)) {
        ctx.drain(body).await?;
        return Ok(replier.error(
            ctx,
            401,
            NO_PERMISSION,
            "API key missing, incorrect or revoked",
        ));
    }
    let limit = body_limit(ctx);
    if ctx.common.config.count_only {
        ctx.drain(body).await?;
        return Ok(replier.success(ctx, 0, None));
    }
    let body = ctx.read_body(body, limit).await?;
    if let Some(injected) = ctx.fault().await {
        return replier.injected(ctx, injected);
    }
    let Body::Complete(wire) = body else {
        return Ok(replier.error(ctx, 400, BAD_PARAM, &too_large_message(limit)));
    };
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !media.eq_ignore_ascii_case("text/plain") {
            return Ok(replier.error(ctx, 400, BAD_PARAM, "uploadLogs takes a text/plain body"));
        }
    }
    let decoded = match decode_body(&parts.headers, &wire, limit) {
        Ok(d) => d,
        Err((http, message)) => return Ok(replier.error(ctx, http, BAD_PARAM, &message)),
    };
    ctx.outcome.decoded_bytes = decoded.len() as u64;
    let nonce = parts
        .headers
        .get("nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(nonce) = &nonce {
        let ttl = ctx.common.config.nonce_ttl;
        let mut nonces = state.nonces();
        let now = Instant::now();
        nonces.retain(|_, seen| now.duration_since(*seen) < ttl);
        if nonces.contains_key(nonce) {
            drop(nonces);
            return Ok(replier.success(ctx, 0, Some("duplicate Nonce: request ignored")));
        }
    }
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return Ok(replier.error(ctx, 400, BAD_PARAM, "request body is not valid UTF-8"));
    };
    if text.is_empty() {
        return Ok(replier.error(ctx, 400, BAD_PARAM, "request body is empty"));
    }
    let mut fields = Map::new();
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        let name = name.as_str();
        let key = match name {
            "server-host" => "serverHost".to_owned(),
            "logfile" | "parser" => name.to_owned(),
            _ => match name.strip_prefix("server-") {
                Some(rest) => rest.to_owned(),
                None => continue,
            },
        };
        fields.insert(key, Value::String(value.to_owned()));
    }
    let source = fields
        .get("logfile")
        .and_then(Value::as_str)
        .unwrap_or("uploadLogs")
        .to_owned();
    let mut records = Vec::new();
    let mut charged = 0;
    let mut start = 0;
    let mut push = |line: &str, unterminated: bool| {
        charged += line.len() as u64 + 1;
        let mut attrs = fields.clone();
        attrs.insert("message".to_owned(), Value::String(line.to_owned()));
        records.push(NewRecord {
            text: line.to_owned(),
            unterminated,
            sdl: Some(SdlFields {
                ts: None,
                sev: None,
                thread: None,
                attrs: Value::Object(attrs),
            }),
        });
    };
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        push(&text[start..end], false);
        start = end + 1;
    }
    if start < text.len() {
        push(&text[start..], true);
    }
    let count = records.len() as u64;
    if let Err(err) = ctx
        .common
        .store
        .append(ctx.endpoint, &source, ctx.id, records, None)
    {
        tracing::error!(%err, "cannot write the records file");
        return Ok(replier.error(
            ctx,
            500,
            "error/server",
            "emulator cannot write its records file",
        ));
    }
    if let Some(nonce) = nonce {
        state.nonces().insert(nonce, Instant::now());
    }
    ctx.outcome.records = count;
    Ok(replier.success(ctx, charged, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_valid_until_revoked() {
        let state = State::default();
        let key = state.add_key();
        let other = state.add_key();
        assert!(state.key_is_valid(&key) && state.key_is_valid(&other));
        assert!(!state.key_is_valid("never issued"));
        assert!(state.revoke(&key));
        assert!(!state.key_is_valid(&key));
        assert!(state.key_is_valid(&other));
        assert!(!state.revoke("never issued"));
    }

    fn check(v: Value) -> Result<AddEvents, String> {
        validate(v.as_object().expect("test requests are objects").clone())
    }

    #[test]
    fn the_seeds_example_is_valid() {
        let r = check(json!({
            "session": "149d8290-7871-11e1-b0c4-0800200c9a66",
            "sessionInfo": {"serverType": "frontend", "serverId": "prod-front-2"},
            "events": [{"thread": "1", "ts": "1667443947000000000", "sev": 3,
                        "attrs": {"message": "record retrieved", "recordId": 39217, "latency": 19.4, "length": 39207}}],
            "threads": [{"id": "1", "name": "request handler thread"}, {"id": "2", "name": "background thread"}]
        }))
        .unwrap();
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.threads, vec!["1", "2"]);
    }

    #[test]
    fn rules_refuse_with_a_message() {
        let cases = [
            (json!({}), "`session` is required"),
            (
                json!({"session": ""}),
                "`session` must be 1 to 200 characters, got 0",
            ),
            (
                json!({"session": "x".repeat(201)}),
                "`session` must be 1 to 200 characters, got 201",
            ),
            (json!({"session": 5}), "`session` must be a string"),
            (
                json!({"session": "s", "events": [{"ts": 17}]}),
                "`events[0].ts` must be a string of digits, not a number (\"This is a string, not a number\")",
            ),
            (
                json!({"session": "s", "events": [{"ts": "17a"}]}),
                "`events[0].ts` must be a string of digits (nanoseconds since 1970), got \"17a\"",
            ),
            (
                json!({"session": "s", "events": [{"sev": 7}]}),
                "`events[0].sev` must be an integer from 0 to 6, got 7",
            ),
            (
                json!({"session": "s", "events": [{"sev": "info"}]}),
                "`events[0].sev` must be an integer from 0 to 6, got \"info\"",
            ),
            (
                json!({"session": "s", "events": [{"log": "1"}]}),
                "`events[0].log` is \"1\", which is not an id in this request's `logs`",
            ),
            (
                json!({"session": "s", "events": [{"attrs": []}]}),
                "`events[0].attrs` must be an object",
            ),
            (
                json!({"session": "s", "sessionInfo": 1}),
                "`sessionInfo` must be an object",
            ),
            (
                json!({"session": "s", "threads": [{"id": 1, "name": "x"}]}),
                "`threads[0]` must be an object with a string `id` and a string `name`",
            ),
            (
                json!({"session": "s", "logs": [{"id": "1", "attrs": {}}, {"id": "1", "attrs": {}}]}),
                "`logs` has the id \"1\" twice",
            ),
        ];
        for (request, message) in cases {
            assert_eq!(check(request).unwrap_err(), message);
        }
        assert!(check(json!({"session": "x".repeat(200)})).is_ok());
        assert!(check(json!({"session": "é".repeat(200)})).is_ok());
    }

    #[test]
    fn logs_attrs_are_merged_under_the_events_own() {
        let r = check(json!({"session": "s",
            "events": [{"log": "1", "attrs": {"message": "m", "k": "event"}}],
            "logs": [{"id": "1", "attrs": {"k": "log", "pod": "p"}}]}))
        .unwrap();
        assert_eq!(
            Value::Object(r.merged_attrs(&r.events[0])),
            json!({"message": "m", "k": "event", "pod": "p"})
        );
    }

    #[test]
    fn both_parsers_agree_on_valid_requests() {
        let bodies = [
            r#"{"session":"149d8290","sessionInfo":{"serverHost":"h"},"threads":[{"id":"1","name":"t"}],
                "events":[{"thread":"1","ts":"1667443947000000000","sev":3,
                "attrs":{"message":"record retrieved","recordId":39217,"latency":19.4,"length":39207}}]}"#,
            r#"{"session":"s","events":[{"ts":"1","log":"1","attrs":{"message":"m","k":"own"}},
                {"ts":"2","sev":0,"log":"1","attrs":{"nested":{"foo":"1","bar":[1,2]}}}],
                "logs":[{"id":"1","attrs":{"k":"log","pod":"p"}}]}"#,
            r#"{"session":"s","token":"t","events":[{"ts":"5","attrs":{"e":"tab\tq\"é","n":-1,"u":18446744073709551615,"b":true,"z":null}}]}"#,
        ];
        for body in bodies {
            let fast = match parse_fast_or_reference(
                &HeaderMap::new(),
                body.as_bytes(),
                body.as_bytes().to_vec(),
                1 << 20,
            ) {
                Ok(Parsed::Fast(r)) => from_model(r),
                _ => panic!("the fast path reads {body}"),
            };
            let reference = validate(parse(body.as_bytes()).expect("JSON")).expect("valid");
            assert_eq!(fast.session, reference.session);
            assert_eq!(fast.threads, reference.threads);
            assert_eq!(fast.session_info, reference.session_info);
            assert_eq!(fast.events.len(), reference.events.len());
            for (f, r) in fast.events.iter().zip(&reference.events) {
                assert_eq!((&f.ts, &f.thread, &f.log), (&r.ts, &r.thread, &r.log));
                assert_eq!(f.sev, r.sev.or(Some(3)));
                assert_eq!(
                    attrs_charge(&fast.merged_attrs(f)),
                    attrs_charge(&reference.merged_attrs(r)),
                    "{body}"
                );
            }
        }
        // What the model refuses goes to the reference path, which may accept it.
        let lenient = r#"{"session":"s","events":[{"attrs":{}}]}"#;
        assert!(matches!(
            parse_fast_or_reference(
                &HeaderMap::new(),
                lenient.as_bytes(),
                lenient.as_bytes().to_vec(),
                1 << 20
            ),
            Ok(Parsed::Reference(_))
        ));
    }

    #[test]
    fn injected_statuses_map_to_sdl_status_strings() {
        assert_eq!(fault_status(FaultStatus::SdlBackoffIn200), (200, BACKOFF));
        assert_eq!(fault_status(FaultStatus::Code(429)), (429, BACKOFF));
        assert_eq!(fault_status(FaultStatus::Code(503)), (503, "error/server"));
        assert_eq!(fault_status(FaultStatus::Code(401)), (401, NO_PERMISSION));
        assert_eq!(fault_status(FaultStatus::Code(400)), (400, BAD_PARAM));
    }
}
