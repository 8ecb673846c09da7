//! Taegis HTTP Ingest: `POST /http-endpoint/v1/{integration}` (the path shape of the
//! seed's examples, `https://<regional-ingest-host>/http-endpoint/v1/<integration-id>`),
//! with `/ingest/v1/{integration}` as an alias.
//!
//! Rules, each from `taegis-http-ingest-api.txt`, checked in this order:
//!
//! 1. **The integration.** "The path uniquely identifies the integration": a path with no
//!    integration id, or one naming no integration this emulator has, gets **404** (the
//!    seed names no status for it; RFC 9110's "did not find a current representation for
//!    the target resource"), whatever the credential.
//! 2. **Authentication.** "The integration key serves as the bearer token. Clients SHOULD
//!    use the Bearer scheme [...] Clients designed to interoperate with the Splunk HTTP
//!    Event Collector (HEC) MAY alternately present the credential using the Splunk
//!    scheme [...] Clients MUST NOT rely on any other authentication scheme."
//!    A missing header, another scheme, or a key that is not this integration's: **401**
//!    ("The Authorization header was missing or its credential was not recognized").
//!    A revoked key: **403** ("The credential was recognized but is no longer authorized
//!    (for example, the integration has been deleted)").
//! 3. **Size.** "Maximum request body size | 100 MB | Hard ceiling. Requests exceeding
//!    this size are rejected with 413 Payload Too Large." Checked on the wire and again
//!    on the decoded body (a gzip body cannot smuggle more).
//! 4. **Content-Type.** "The following request Content-Type values are supported:
//!    text/plain [...] application/json". Anything else or none: **400**. A `charset`
//!    parameter other than UTF-8 is refused too ("Request bodies MUST be UTF-8 encoded").
//! 5. **Content-Encoding.** "Request bodies MAY be sent uncompressed or compressed with
//!    gzip [...] Other content encodings are not supported." Another encoding, or gzip
//!    that does not decode: **400**.
//! 6. **Body.** "The request was malformed, empty, or otherwise unparseable": an empty
//!    body, a body that is not UTF-8, and for JSON a body that is neither one JSON object
//!    nor one JSON object per line: **400**, and nothing of it is stored.
//!
//! Framing: "Log records are delimited by the line-feed character (`\n`)". Each line is
//! one record; a last line without a line feed is stored with
//! [`Record::unterminated`](crate::Record::unterminated) set ("Records that do not
//! terminate with a line-feed MAY be combined with the following record"). For
//! `application/json`, a body that is one JSON object is one record (if it spans several
//! lines that is counted as [`ViolationKind::PrettyPrintedJson`]); otherwise every line
//! must be a JSON object ("one JSON object per newline-delimited line"); an empty line is
//! not one.
//!
//! Rate protection, off by default ([`Config::http_ingest_max_in_flight`](crate::Config::http_ingest_max_in_flight),
//! [`Config::http_ingest_bytes_per_sec`](crate::Config::http_ingest_bytes_per_sec)): "The
//! platform applies rate protections [...] Rate-limited requests are signalled with 429
//! Too Many Requests." A request arriving while the maximum are being handled, or whose
//! wire bytes would take the current one-second window past the byte rate, gets **429**
//! (no `Retry-After`: the seed names none), and nothing of it is stored.
//!
//! A good request gets **200** with an empty body (the seed defines no body) and an
//! `x-emulator-records` header with the number of records stored.

use crate::auth::{Check, Keys, credential, new_key};
use crate::ctx::{Body, Ctx, Handled, taegis_fault};
use crate::reply::{self, Resp};
use crate::stats::ViolationKind;
use crate::store::NewRecord;
use crate::util::truncate;
use http::{Request, header};
use hyper::body::Incoming;
use logferry_compress::{Encoding, decode};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// HTTP Ingest's state: the integrations' keys, and the rate protection's counters.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Key → the integration id it belongs to.
    keys: Keys<String>,
    /// Requests being handled now.
    in_flight: AtomicUsize,
    /// (start of the current one-second window, wire bytes accepted in it).
    window: Mutex<Option<(Instant, u64)>>,
}

/// Holds one place among the requests being handled.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The seed: "The platform applies rate protections to ensure stability for all tenants.
/// [...] Rate-limited requests are signalled with 429 Too Many Requests."
/// No `Retry-After`: the seed names none, and senders are left to their own backoff.
fn rate_limited(message: String) -> Resp {
    reply::taegis_error(429, message)
}

impl State {
    /// Adds an integration (or gives it a new key, retiring the old) and returns its key.
    pub(crate) fn add_integration(&self, id: &str) -> String {
        let key = new_key();
        self.keys
            .insert(key.clone(), id.to_owned(), |owner| owner != id);
        key
    }

    /// Revokes an integration key (then 403); false when it is not a current key.
    pub(crate) fn revoke(&self, key: &str) -> bool {
        self.keys.revoke(key)
    }

    /// Takes a place among the requests being handled; `Err` (a 429) when `max` are.
    #[allow(
        clippy::result_large_err,
        reason = "the error is the reply itself, built once per request"
    )]
    fn enter(&self, max: Option<usize>) -> Result<InFlight<'_>, Resp> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = InFlight(&self.in_flight);
        match max {
            Some(max) if now > max => Err(rate_limited(format!(
                "rate limited: more than {max} requests in flight"
            ))),
            _ => Ok(guard),
        }
    }

    /// Counts `bytes` in the current one-second window, or refuses them (a 429) when they
    /// would take it past `limit`.
    #[allow(
        clippy::result_large_err,
        reason = "the error is the reply itself, built once per request"
    )]
    fn admit_bytes(&self, limit: Option<u64>, bytes: u64) -> Result<(), Resp> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let now = Instant::now();
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let (start, used) = match *window {
            Some((start, used)) if now.duration_since(start) < Duration::from_secs(1) => {
                (start, used)
            }
            _ => (now, 0),
        };
        // A request larger than the whole limit is admitted in an empty window, or it
        // could never pass.
        if used > 0 && used + bytes > limit {
            *window = Some((start, used));
            return Err(rate_limited(format!(
                "rate limited: more than {limit} bytes per second"
            )));
        }
        *window = Some((start, used + bytes));
        Ok(())
    }

    /// Whether an integration with this id exists (deleted ones too: their keys get 403).
    fn exists(&self, integration: &str) -> bool {
        self.keys.any(|owner| owner == integration)
    }

    fn check(&self, integration: &str, key: &str) -> Check {
        self.keys.check(key, |owner, revoked| {
            if owner != integration {
                Check::Unknown
            } else if revoked {
                Check::Revoked
            } else {
                Check::Valid
            }
        })
    }
}

/// The two content types the seed supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Json,
}

/// A body split into records.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    /// (text, unterminated) per record.
    pub(crate) records: Vec<(&'a str, bool)>,
    /// One JSON object spread over several lines.
    pub(crate) pretty_printed: bool,
}

/// Parses `Content-Type` into a [`Kind`].
pub(crate) fn content_kind(value: Option<&str>) -> Result<Kind, String> {
    let Some(value) = value else {
        return Err("Content-Type is required (text/plain or application/json)".to_owned());
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    let kind = if media.eq_ignore_ascii_case("text/plain") {
        Kind::Text
    } else if media.eq_ignore_ascii_case("application/json") {
        Kind::Json
    } else {
        return Err(format!(
            "unsupported Content-Type `{}` (text/plain or application/json)",
            truncate(value, 100)
        ));
    };
    for param in parts {
        if let Some((name, val)) = param.split_once('=') {
            let val = val.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset") && !val.eq_ignore_ascii_case("utf-8") {
                return Err(format!(
                    "request bodies must be UTF-8, not charset `{}`",
                    truncate(val, 40)
                ));
            }
        }
    }
    Ok(kind)
}

/// Splits a decoded body into records, or says why the whole request is refused.
pub(crate) fn parse_body(kind: Kind, body: &[u8]) -> Result<Parsed<'_>, String> {
    if body.is_empty() {
        return Err("request body is empty".to_owned());
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "request body is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    match kind {
        Kind::Text => Ok(Parsed {
            records: lines(text),
            pretty_printed: false,
        }),
        Kind::Json => {
            if serde_json::from_str::<JsonObject>(text).is_ok() {
                let trimmed = text.strip_suffix('\n').unwrap_or(text);
                return Ok(Parsed {
                    records: vec![(trimmed, !text.ends_with('\n'))],
                    pretty_printed: trimmed.contains('\n'),
                });
            }
            let records = lines(text);
            for (i, (line, _)) in records.iter().enumerate() {
                if let Err(e) = serde_json::from_str::<JsonObject>(line) {
                    let what = if line.trim().is_empty() {
                        "is empty".to_owned()
                    } else {
                        format!("is not a JSON object: {e}")
                    };
                    return Err(format!("application/json body: line {} {what}", i + 1));
                }
            }
            Ok(Parsed {
                records,
                pretty_printed: false,
            })
        }
    }
}

/// Lines of `text` without their line feeds, the last flagged when unterminated.
fn lines(text: &str) -> Vec<(&str, bool)> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 64 + 1);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        out.push((&text[start..end], false));
        start = end + 1;
    }
    if start < bytes.len() {
        out.push((&text[start..], true));
    }
    out
}

/// Deserializes only from a JSON object, ignoring its content.
struct JsonObject;

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonObject)
            }
        }
        d.deserialize_map(V)
    }
}

/// The integration id of an ingest path: exactly one non-empty segment after the prefix.
fn integration(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/http-endpoint/v1/")
        .or_else(|| path.strip_prefix("/ingest/v1/"))?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// `POST /http-endpoint/v1/{integration}`.
pub(crate) async fn handle(ctx: &mut Ctx<'_>, state: &State, req: Request<Incoming>) -> Handled {
    let (parts, body) = req.into_parts();
    let limit = ctx
        .common
        .limits()
        .http_ingest_max_body
        .unwrap_or(ctx.common.config.http_ingest_max_body);
    let config = &ctx.common.config;
    let (max_in_flight, bytes_per_sec) = (
        config.http_ingest_max_in_flight,
        config.http_ingest_bytes_per_sec,
    );
    let _in_flight = match state.enter(max_in_flight) {
        Ok(guard) => guard,
        Err(resp) => {
            ctx.drain(body).await?;
            return Ok(resp);
        }
    };
    if ctx.common.config.count_only {
        let auth = authenticate(state, parts.uri.path(), &parts.headers);
        ctx.drain(body).await?;
        return Ok(auth.err().unwrap_or_else(|| reply::empty(200)));
    }
    let body = ctx.read_body(body, limit).await?;
    if let Err(resp) = state.admit_bytes(bytes_per_sec, ctx.outcome.wire_bytes) {
        return Ok(resp);
    }
    if let Some(injected) = ctx.fault().await {
        return ctx.injected(injected, taegis_fault);
    }
    let (integration, headers) = match authenticate(state, parts.uri.path(), &parts.headers) {
        Ok(id) => (id, &parts.headers),
        Err(resp) => return Ok(resp),
    };
    let Body::Complete(wire) = body else {
        return Ok(too_large(limit, "request body"));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let kind = match content_kind(content_type) {
        Ok(kind) => kind,
        Err(msg) => return Ok(reply::taegis_error(400, msg)),
    };
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => Encoding::Identity,
        Some(value) => match value.to_str().ok().map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("gzip") => Encoding::Gzip,
            Some(v) if v.eq_ignore_ascii_case("identity") => Encoding::Identity,
            other => {
                return Ok(reply::taegis_error(
                    400,
                    format!(
                        "unsupported Content-Encoding `{}` (only gzip is supported)",
                        truncate(other.unwrap_or("<not text>"), 40)
                    ),
                ));
            }
        },
    };
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let decoded = match encoding {
        Encoding::Identity => wire.to_vec(),
        _ => match decode(encoding, &wire, limit_usize) {
            Ok(d) => d,
            Err(logferry_compress::Error::TooLarge { .. }) => {
                return Ok(too_large(limit, "decoded request body"));
            }
            Err(e) => {
                return Ok(reply::taegis_error(
                    400,
                    format!("request body is not valid {encoding}: {e}"),
                ));
            }
        },
    };
    ctx.outcome.decoded_bytes = decoded.len() as u64;
    let parsed = match parse_body(kind, &decoded) {
        Ok(p) => p,
        Err(msg) => return Ok(reply::taegis_error(400, msg)),
    };
    if parsed.pretty_printed {
        ctx.common
            .stats
            .violation(ViolationKind::PrettyPrintedJson, || {
                format!(
                    "request {} to integration {integration}: one JSON object over several lines",
                    ctx.id
                )
            });
    }
    let records: Vec<NewRecord> = parsed
        .records
        .iter()
        .map(|(text, unterminated)| NewRecord {
            text: (*text).to_owned(),
            unterminated: *unterminated,
            sdl: None,
        })
        .collect();
    let count = records.len() as u64;
    if let Err(err) = ctx
        .common
        .store
        .append(ctx.endpoint, &integration, ctx.id, records, None)
    {
        tracing::error!(%err, "cannot write the records file");
        return Ok(reply::taegis_error(
            500,
            "emulator cannot write its records file",
        ));
    }
    ctx.outcome.records = count;
    let mut resp = reply::empty(200);
    reply::set_header(
        &mut resp,
        header::HeaderName::from_static("x-emulator-records"),
        &count.to_string(),
    );
    Ok(resp)
}

fn too_large(limit: u64, what: &str) -> Resp {
    reply::taegis_error(413, format!("{what} exceeds the {limit}-byte limit"))
}

/// Checks that the path names an integration (else 404), then the key against it.
#[allow(
    clippy::result_large_err,
    reason = "the error is the reply itself, built once per request"
)]
fn authenticate(state: &State, path: &str, headers: &http::HeaderMap) -> Result<String, Resp> {
    let Some(integration) = integration(path) else {
        return Err(reply::taegis_error(
            404,
            "no integration id in the path (expected /http-endpoint/v1/<integration-id>)",
        ));
    };
    if !state.exists(integration) {
        return Err(reply::taegis_error(
            404,
            format!(
                "no integration `{}` at this URL",
                truncate(integration, 100)
            ),
        ));
    }
    let Some(key) = credential(headers, &["Bearer", "Splunk"]) else {
        let message = if headers.contains_key(header::AUTHORIZATION) {
            "unsupported authorization scheme: use Bearer <integration key> (or Splunk <key>)"
        } else {
            "missing credential: send Authorization: Bearer <integration key> (or Splunk <key>)"
        };
        return Err(reply::taegis_error(401, message));
    };
    match state.check(integration, key) {
        Check::Valid => Ok(integration.to_owned()),
        Check::Revoked => Err(reply::taegis_error(
            403,
            "the integration key is no longer authorized (integration deleted)",
        )),
        Check::Unknown | Check::Expired => Err(reply::taegis_error(
            401,
            "credential not recognized for this integration",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_belong_to_one_integration_and_rekeying_retires_the_old() {
        let state = State::default();
        let old = state.add_integration("a");
        let other = state.add_integration("b");
        assert_eq!(state.check("a", &old), Check::Valid);
        assert_eq!(state.check("a", &other), Check::Unknown);
        let new = state.add_integration("a");
        assert_eq!(state.check("a", &old), Check::Unknown);
        assert_eq!(state.check("a", &new), Check::Valid);
        assert!(!state.revoke(&old), "a retired key is not known");
        assert!(state.revoke(&other));
        assert_eq!(state.check("b", &other), Check::Revoked);
        assert_eq!(
            state.check("a", &other),
            Check::Unknown,
            "another integration's key stays unknown here, revoked or not"
        );
        assert_eq!(state.check("b", &new), Check::Unknown);
    }

    #[test]
    fn text_lines_flag_only_an_unterminated_last_line() {
        let p = parse_body(Kind::Text, b"a\n\nb").unwrap();
        assert_eq!(p.records, vec![("a", false), ("", false), ("b", true)]);
        let p = parse_body(Kind::Text, b"a\n").unwrap();
        assert_eq!(p.records, vec![("a", false)]);
    }

    #[test]
    fn json_is_one_object_or_one_object_per_line() {
        let p = parse_body(Kind::Json, b"{\"a\":1}").unwrap();
        assert_eq!(p.records, vec![("{\"a\":1}", true)]);
        let p = parse_body(Kind::Json, b"{\n \"a\": 1\n}\n").unwrap();
        assert!(p.pretty_printed);
        assert_eq!(p.records.len(), 1);
        let p = parse_body(Kind::Json, b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert_eq!(p.records.len(), 2);
        assert_eq!(
            parse_body(Kind::Json, b"{\"a\":1}\n[1]\n").unwrap_err(),
            "application/json body: line 2 is not a JSON object: invalid type: sequence, expected a JSON object at line 1 column 0"
        );
        assert_eq!(
            parse_body(Kind::Json, b"{\"a\":1}\n\n{\"b\":2}\n").unwrap_err(),
            "application/json body: line 2 is empty"
        );
    }

    #[test]
    fn empty_and_non_utf8_bodies_are_refused() {
        assert_eq!(
            parse_body(Kind::Text, b"").unwrap_err(),
            "request body is empty"
        );
        assert_eq!(
            parse_body(Kind::Text, b"ok\n\xff").unwrap_err(),
            "request body is not valid UTF-8 (invalid byte at offset 3)"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_kind(Some("text/plain; charset=utf-8")),
            Ok(Kind::Text)
        );
        assert_eq!(content_kind(Some("Application/JSON")), Ok(Kind::Json));
        assert!(content_kind(Some("text/plain; charset=latin1")).is_err());
        assert!(content_kind(Some("application/x-ndjson")).is_err());
        assert!(content_kind(None).is_err());
    }

    #[test]
    fn integration_ids_come_from_one_path_segment() {
        assert_eq!(integration("/http-endpoint/v1/abc"), Some("abc"));
        assert_eq!(integration("/ingest/v1/abc"), Some("abc"));
        assert_eq!(integration("/http-endpoint/v1/"), None);
        assert_eq!(integration("/http-endpoint/v1/a/b"), None);
    }
}
