//! A [`Message`] as the parts of an SDL event: `ts`, `sev` and attributes (issue 16: "an event
//! with the parsed fields as attributes, `ts` from the message's timestamp (or receipt time
//! when it has none), and `sev` from the syslog severity").

use crate::message::Message;
use crate::time::ParseOptions;
use serde_json::{Map, Value};

/// Syslog severity (0–7) to SDL `sev` (0 finest … 6 fatal), per issue 16:
/// 0–2 (emerg, alert, crit) → 6, 3 (err) → 5, 4 (warning) → 4, 5–6 (notice, info) → 3,
/// 7 (debug) → 2. Values above 7 (never produced by [`parse`](crate::parse)) read as 7.
pub fn sev_to_sdl(severity: u8) -> u8 {
    match severity {
        0..=2 => 6,
        3 => 5,
        4 => 4,
        5 | 6 => 3,
        _ => 2,
    }
}

/// The syslog severity assumed for a message without PRI: notice (RFC 3164 §4.3.3 has a
/// relay give such a message PRI 13, `user.notice`).
pub const DEFAULT_SEVERITY: u8 = 5;

/// The SDL view of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct SdlParts {
    /// Unix nanoseconds from the message's timestamp; `None` when it has none (the caller
    /// uses the receipt time).
    pub ts: Option<i64>,
    /// SDL severity ([`sev_to_sdl`] of the message's severity, or of [`DEFAULT_SEVERITY`]).
    pub sev: u8,
    /// Attributes: `message` (MSG as text), `facility`, `severity` (numbers), `hostname`,
    /// `appname`, `procid`, `msgid` (strings, when present), `sd.<SD-ID>.<PARAM-NAME>` (a
    /// string; an array of strings when the name repeats in the element), and
    /// `syslog_problem` when part of the message could not be parsed.
    pub attrs: Map<String, Value>,
}

/// Builds the SDL parts of `msg`; `opts` resolves a 3164 timestamp's year and zone.
pub fn to_sdl(msg: &Message<'_>, opts: &ParseOptions) -> SdlParts {
    let mut attrs = Map::new();
    attrs.insert("message".into(), Value::String(msg.msg_text().into_owned()));
    if let Some(pri) = msg.pri {
        attrs.insert("facility".into(), pri.facility.into());
        attrs.insert("severity".into(), pri.severity.into());
    }
    for (key, value) in [
        ("hostname", msg.hostname),
        ("appname", msg.app_name),
        ("procid", msg.proc_id),
        ("msgid", msg.msg_id),
    ] {
        if let Some(v) = value {
            attrs.insert(key.into(), Value::String(v.to_owned()));
        }
    }
    for element in &msg.structured_data {
        for param in &element.params {
            let key = format!("sd.{}.{}", element.id, param.name);
            let value = Value::String(param.value.clone().into_owned());
            match attrs.get_mut(&key) {
                Some(Value::Array(values)) => values.push(value),
                Some(previous) => {
                    let first = previous.take();
                    *previous = Value::Array(vec![first, value]);
                }
                None => {
                    attrs.insert(key, value);
                }
            }
        }
    }
    if let Some(problem) = msg.problem {
        attrs.insert("syslog_problem".into(), Value::String(problem.to_owned()));
    }
    SdlParts {
        ts: msg.timestamp.and_then(|t| t.unix_nanos(opts)),
        sev: sev_to_sdl(msg.severity().unwrap_or(DEFAULT_SEVERITY)),
        attrs,
    }
}
