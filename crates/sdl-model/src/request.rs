//! Reading and validating an `addEvents` request body (what the emulator receives).
//!
//! The checks follow the seed's format:
//!
//! | member | rule | seed |
//! |---|---|---|
//! | `token` | optional string | "A "Log Write Access" key. We recommend setting the key in the header." |
//! | `session` | required string of 1 to 200 characters | "Required." "An arbitrary string (up to 200 characters)" |
//! | `sessionInfo` | optional object | "Optional." |
//! | `threads` | optional array of `{"id": string, "name": string}` | "Objects with id and name key-values" |
//! | `events` | array of events (absent = none) | "Zero or more events" |
//! | `events[i].ts` | required string of digits | "This is a string, not a number." |
//! | `events[i].sev` | optional integer 0 to 6 | "This field is optional (defaults to 3, "info"). Set from 0 to 6." |
//! | `events[i].thread` | optional string | "thread is optional" |
//! | `events[i].log` | optional string, an id of `logs` | "You must add the log property to "events": [...], and map its value to the applicable id value in "logs": [...]." |
//! | `events[i].attrs` | required object | "attrs has the "content" of the event" (not marked optional) |
//! | `logs` | optional array of `{"id": string, "attrs": object}`, ids unique | "logs is an array of {...} objects, each with an id, and attrs properties" |
//!
//! Unknown members are ignored. Nested attribute values are flattened to their compact
//! JSON text, as the server stores them ([`crate::Flatten::JsonString`]).

use crate::attrs::{JsonNode, JsonTree, Node};
use crate::{
    Attrs, Event, Flatten, Log, ParseError, Session, SessionInfo, Severity, Thread, Timestamp,
};
use std::collections::HashSet;
use std::fmt;

/// The `token` member of a request body: a secret, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token.
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The secret itself, for comparing with the expected key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A parsed, validated `addEvents` request.
#[derive(Debug, Clone, PartialEq)]
pub struct AddEventsRequest {
    /// `token`, if the body carries one (the header is the recommended place).
    pub token: Option<Token>,
    /// `session`.
    pub session: Session,
    /// `sessionInfo`, if present.
    pub session_info: Option<SessionInfo>,
    /// `threads`.
    pub threads: Vec<Thread>,
    /// `events`, in body order, each with its own attributes (not merged with its log's).
    pub events: Vec<Event>,
    /// `logs`.
    pub logs: Vec<Log>,
}

impl AddEventsRequest {
    /// The `logs` entry with this id.
    pub fn log(&self, id: &str) -> Option<&Log> {
        self.logs.iter().find(|l| l.id == id)
    }

    /// Event `i`'s attributes as the server reconstructs them: its own plus its log's.
    pub fn merged_attrs(&self, i: usize) -> Option<Attrs> {
        let event = self.events.get(i)?;
        Some(event.merged_attrs(event.log.as_deref().and_then(|id| self.log(id))))
    }

    /// The estimated charge for the whole request (see [`crate::charge`]): each event's
    /// attributes plus those of the log it refers to.
    pub fn bytes_charged(&self) -> u64 {
        self.events
            .iter()
            .map(|e| e.bytes_charged(e.log.as_deref().and_then(|id| self.log(id))))
            .sum()
    }
}

/// Parses and validates a request body with simd-json (the fast path for whole requests).
/// simd-json parses in place: `body` is overwritten.
pub fn parse_request(body: &mut [u8]) -> Result<AddEventsRequest, ParseError> {
    let validate = |copy: &mut [u8]| {
        simd_json::to_borrowed_value(copy)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    if let Some(raw) = crate::numbers::numbers_as_written(body, validate) {
        return request_from(&raw.map_err(|reason| ParseError::NotJson { reason })?);
    }
    let value = simd_json::to_borrowed_value(body).map_err(|e| ParseError::NotJson {
        reason: e.to_string(),
    })?;
    request_from(&value)
}

/// The same as [`parse_request`] with `serde_json`: the reference implementation, kept for
/// comparison (benchmarks, differential fuzzing). Slower on large bodies.
pub fn parse_request_serde_json(body: &[u8]) -> Result<AddEventsRequest, ParseError> {
    let validate = |copy: &mut [u8]| {
        serde_json::from_slice::<serde::de::IgnoredAny>(copy)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    if let Some(raw) = crate::numbers::numbers_as_written(body, validate) {
        return request_from(&raw.map_err(|reason| ParseError::NotJson { reason })?);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson {
            reason: e.to_string(),
        })?;
    request_from(&value)
}

fn string<V: JsonNode>(v: &V, path: impl FnOnce() -> String) -> Result<&str, ParseError> {
    match v.node() {
        Node::Str(s) => Ok(s),
        _ => Err(ParseError::field(path(), "expected a string")),
    }
}

fn object<V: JsonNode>(v: &V, path: impl FnOnce() -> String) -> Result<Attrs, ParseError> {
    match v.node() {
        Node::Object => {
            let mut attrs = Attrs::with_capacity(v.container_len());
            v.for_each_entry(&mut |k, e| attrs.add_node(k, e, Flatten::JsonString));
            Ok(attrs)
        }
        _ => Err(ParseError::field(path(), "expected an object")),
    }
}

fn array<V: JsonNode>(v: &V, path: &str) -> Result<usize, ParseError> {
    match v.node() {
        Node::Array => Ok(v.container_len()),
        _ => Err(ParseError::field(path, "expected an array")),
    }
}

fn request_from<V: JsonTree>(root: &V) -> Result<AddEventsRequest, ParseError> {
    if !matches!(root.node(), Node::Object) {
        return Err(ParseError::NotJson {
            reason: "expected a JSON object".to_owned(),
        });
    }
    let token = root
        .member("token")
        .map(|t| string(t, || "token".to_owned()).map(Token::new))
        .transpose()?;
    let session = root
        .member("session")
        .ok_or_else(|| ParseError::field("session", "missing"))?;
    let session = Session::new(string(session, || "session".to_owned())?)
        .map_err(|e| ParseError::field("session", e.to_string()))?;
    let session_info = root
        .member("sessionInfo")
        .map(|v| object(v, || "sessionInfo".to_owned()).map(SessionInfo))
        .transpose()?;

    let mut threads = Vec::new();
    if let Some(v) = root.member("threads") {
        for i in 0..array(v, "threads")? {
            let t = v.elem(i).expect("index below the array's length");
            if !matches!(t.node(), Node::Object) {
                return Err(ParseError::field(
                    format!("threads[{i}]"),
                    "expected an object",
                ));
            }
            let field = |name: &str| {
                let path = || format!("threads[{i}].{name}");
                t.member(name)
                    .ok_or_else(|| ParseError::field(path(), "missing"))
                    .and_then(|v| string(v, path).map(str::to_owned))
            };
            threads.push(Thread {
                id: field("id")?,
                name: field("name")?,
            });
        }
    }

    let mut logs = Vec::new();
    let mut log_ids = HashSet::new();
    if let Some(v) = root.member("logs") {
        for i in 0..array(v, "logs")? {
            let l = v.elem(i).expect("index below the array's length");
            if !matches!(l.node(), Node::Object) {
                return Err(ParseError::field(
                    format!("logs[{i}]"),
                    "expected an object",
                ));
            }
            let id = l
                .member("id")
                .ok_or_else(|| ParseError::field(format!("logs[{i}].id"), "missing"))?;
            let id = string(id, || format!("logs[{i}].id"))?.to_owned();
            if !log_ids.insert(id.clone()) {
                return Err(ParseError::field(
                    format!("logs[{i}].id"),
                    format!("duplicate log id `{id}`"),
                ));
            }
            let attrs = l
                .member("attrs")
                .ok_or_else(|| ParseError::field(format!("logs[{i}].attrs"), "missing"))?;
            let attrs = object(attrs, || format!("logs[{i}].attrs"))?;
            logs.push(Log { id, attrs });
        }
    }

    let mut events = Vec::new();
    if let Some(v) = root.member("events") {
        let n = array(v, "events")?;
        events.reserve(n);
        for i in 0..n {
            let e = v.elem(i).expect("index below the array's length");
            events.push(event_from(e, i, &log_ids)?);
        }
    }
    Ok(AddEventsRequest {
        token,
        session,
        session_info,
        threads,
        events,
        logs,
    })
}

fn event_from<V: JsonTree>(
    e: &V,
    i: usize,
    log_ids: &HashSet<String>,
) -> Result<Event, ParseError> {
    if !matches!(e.node(), Node::Object) {
        return Err(ParseError::field(
            format!("events[{i}]"),
            "expected an object",
        ));
    }
    let path = |name: &str| format!("events[{i}].{name}");
    let ts = e
        .member("ts")
        .ok_or_else(|| ParseError::field(path("ts"), "missing"))?;
    let ts = match ts.node() {
        Node::Str(s) => Timestamp::from_digits(s)
            .map_err(|err| ParseError::field(path("ts"), err.to_string()))?,
        _ => {
            return Err(ParseError::field(
                path("ts"),
                "expected a string of digits, not a number or other value",
            ));
        }
    };
    let sev = match e.member("sev") {
        None => Severity::Info,
        Some(v) => match v.node() {
            Node::I64(n) => Severity::from_number(n)
                .map_err(|err| ParseError::field(path("sev"), err.to_string()))?,
            _ => return Err(ParseError::field(path("sev"), "expected an integer 0 to 6")),
        },
    };
    let thread = e
        .member("thread")
        .map(|v| string(v, || path("thread")).map(str::to_owned))
        .transpose()?;
    let log = e
        .member("log")
        .map(|v| string(v, || path("log")).map(str::to_owned))
        .transpose()?;
    if let Some(id) = &log
        && !log_ids.contains(id)
    {
        return Err(ParseError::field(
            path("log"),
            format!("no entry of `logs` has id `{id}`"),
        ));
    }
    let attrs = e
        .member("attrs")
        .ok_or_else(|| ParseError::field(path("attrs"), "missing"))?;
    let attrs = object(attrs, || path("attrs"))?;
    Ok(Event {
        ts,
        sev,
        thread,
        log,
        attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(body: &str) -> Result<AddEventsRequest, ParseError> {
        let a = parse_request(&mut body.as_bytes().to_vec());
        let b = parse_request_serde_json(body.as_bytes());
        match (&a, &b) {
            (Ok(x), Ok(y)) => {
                assert_eq!(x.events.len(), y.events.len());
                for (e, f) in x.events.iter().zip(&y.events) {
                    assert_eq!(
                        (e.ts, e.sev, &e.thread, &e.log),
                        (f.ts, f.sev, &f.thread, &f.log)
                    );
                }
            }
            (Err(x), Err(y)) => assert_eq!(x.path(), y.path(), "{x} / {y}"),
            _ => panic!("parsers disagree on {body}: {a:?} / {b:?}"),
        }
        a
    }

    #[test]
    fn seed_example_request() {
        let body = r#"{
            "session": "149d8290-7871-11e1-b0c4-0800200c9a66",
            "sessionInfo": {"serverType": "frontend", "serverId": "prod-front-2"},
            "events": [{"thread": "1", "ts": "1667443947000000000", "sev": 3,
                "attrs": {"message": "record retrieved", "recordId": 39217, "latency": 19.4, "length": 39207}}],
            "threads": [{"id": "1", "name": "request handler thread"}, {"id": "2", "name": "background thread"}]
        }"#;
        let req = both(body).expect("the seed's example is valid");
        assert_eq!(req.session.as_str(), "149d8290-7871-11e1-b0c4-0800200c9a66");
        assert_eq!(req.threads.len(), 2);
        assert_eq!(req.events[0].ts.as_nanos(), 1_667_443_947_000_000_000);
        assert_eq!(req.events[0].thread.as_deref(), Some("1"));
        assert_eq!(req.bytes_charged(), 17 + 9 + 9 + 9);
        assert!(req.token.is_none());
    }

    #[test]
    fn seed_logs_example_merges() {
        let body = r#"{"session":"s","events":[
            {"ts":"1","log":"1","attrs":{"raw_timestamp":"2019-09-26T03:34:53.522532294Z","message":"Thirteen old orange elephants cartwheel over the old foxes."}},
            {"ts":"2","log":"1","attrs":{"raw_timestamp":"2019-09-26T04:45:35.413474923Z","message":"Star light, start bright."}}],
            "logs":[{"id":"1","attrs":{"_k8s_ck":"Deployment","_k8s_cn":"test-cluster"}}]}"#;
        let req = both(body).expect("valid");
        let merged = req.merged_attrs(1).expect("event 1");
        assert_eq!(merged.len(), 4);
        assert_eq!(
            merged.get("_k8s_cn").and_then(|v| v.as_str()),
            Some("test-cluster")
        );
    }

    #[test]
    fn errors_name_the_field_and_index() {
        let cases = [
            (r#"{"events":[]}"#, "session"),
            (r#"{"session":""}"#, "session"),
            (r#"{"session":5}"#, "session"),
            (r#"{"session":"s","token":1}"#, "token"),
            (r#"{"session":"s","sessionInfo":[]}"#, "sessionInfo"),
            (
                r#"{"session":"s","threads":[{"id":"1"}]}"#,
                "threads[0].name",
            ),
            (r#"{"session":"s","events":{}}"#, "events"),
            (
                r#"{"session":"s","events":[{"ts":"1","attrs":{}},{"ts":1,"attrs":{}}]}"#,
                "events[1].ts",
            ),
            (
                r#"{"session":"s","events":[{"ts":"1a","attrs":{}}]}"#,
                "events[0].ts",
            ),
            (r#"{"session":"s","events":[{"attrs":{}}]}"#, "events[0].ts"),
            (
                r#"{"session":"s","events":[{"ts":"1","sev":7,"attrs":{}}]}"#,
                "events[0].sev",
            ),
            (
                r#"{"session":"s","events":[{"ts":"1","sev":"info","attrs":{}}]}"#,
                "events[0].sev",
            ),
            (
                r#"{"session":"s","events":[{"ts":"1","sev":3.0,"attrs":{}}]}"#,
                "events[0].sev",
            ),
            (
                r#"{"session":"s","events":[{"ts":"1","log":"9","attrs":{}}],"logs":[]}"#,
                "events[0].log",
            ),
            (
                r#"{"session":"s","events":[{"ts":"1","attrs":"x"}]}"#,
                "events[0].attrs",
            ),
            (
                r#"{"session":"s","events":[{"ts":"1"}]}"#,
                "events[0].attrs",
            ),
            (
                r#"{"session":"s","logs":[{"id":"1","attrs":{}},{"id":"1","attrs":{}}]}"#,
                "logs[1].id",
            ),
            (r#"{"session":"s","logs":[{"id":"1"}]}"#, "logs[0].attrs"),
        ];
        for (body, path) in cases {
            let err = both(body).expect_err(body);
            assert_eq!(err.path(), Some(path), "{body}: {err}");
            assert!(err.to_string().starts_with(path), "{err}");
        }
        for body in ["", "[]", "{", "not json", "\"s\""] {
            let err = both(body).expect_err(body);
            assert!(matches!(err, ParseError::NotJson { .. }), "{body}: {err}");
        }
    }

    #[test]
    fn token_is_redacted() {
        let req = both(r#"{"session":"s","token":"very-secret-key"}"#).expect("valid");
        assert_eq!(
            req.token.as_ref().map(Token::expose),
            Some("very-secret-key")
        );
        let debug = format!("{req:?}");
        assert!(!debug.contains("very-secret-key"), "{debug}");
    }
}
