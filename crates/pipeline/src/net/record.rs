//! From a received message to a record: the [`Shape`] a route wants, and the batcher of
//! one input (a connection, a UDP peer, a request).

use crate::FrontConfig;
use logferry_framing::{Batch, Batcher, Position, Record, RecordFlags};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What a received message becomes (see the [module docs](crate::net)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// The original text, one line per message (HTTP Ingest).
    #[default]
    Text,
    /// A JSON object with `ts`, `sev`, the parsed fields, `peer` and `received` (SDL).
    Sdl,
}

/// One input's batcher: records get positions (the byte offset in the input, the message
/// number as the line).
pub(crate) struct Input {
    batcher: Batcher,
    line: u64,
}

impl Input {
    pub(crate) fn new(front: &FrontConfig, name: Arc<str>) -> Input {
        let mut batcher = Batcher::new(front.batching, Some(name));
        if let Some(target) = &front.wire_target {
            batcher.set_target_bytes(target.raw_target());
        }
        Input { batcher, line: 0 }
    }

    /// Adds the record `text`, which took `len` bytes of the input from `offset`.
    pub(crate) fn push(
        &mut self,
        text: &str,
        offset: u64,
        len: u64,
        now: Instant,
        out: &mut Vec<Batch>,
    ) {
        self.line += 1;
        let record = Record {
            text: Cow::Borrowed(text),
            position: Position {
                offset,
                line: self.line,
            },
            source_len: len,
            flags: RecordFlags::default(),
        };
        self.batcher.push(&record, now, |b| out.push(b));
    }

    /// Closes the open batch if it lingered long enough.
    pub(crate) fn poll(&mut self, now: Instant, out: &mut Vec<Batch>) {
        self.batcher.poll(now, |b| out.push(b));
    }

    /// Closes the open batch.
    pub(crate) fn flush(&mut self, out: &mut Vec<Batch>) {
        self.batcher.flush(|b| out.push(b));
    }

    /// When the open batch must close.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.batcher.deadline()
    }

    /// The message number of the last record pushed.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }
}

/// `bytes` as one line of text: invalid UTF-8 replaced, `\r` dropped, `\n` written as a
/// backslash and an `n`, trailing line ends and NULs removed.
pub(crate) fn one_line(bytes: &[u8]) -> Cow<'_, str> {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&bytes[..end]);
    if text.contains(['\n', '\r']) {
        Cow::Owned(text.replace('\r', "").replace('\n', "\\n"))
    } else {
        text
    }
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// `t` as RFC 3339 UTC with microseconds: `2026-12-02T16:40:00.123456Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// A syslog message as an SDL-shaped JSON object.
pub(crate) fn syslog_sdl(
    msg: &logferry_syslog::Message<'_>,
    peer: SocketAddr,
    received: SystemTime,
) -> String {
    let secs = received
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let parts = logferry_syslog::to_sdl(msg, &logferry_syslog::ParseOptions::received_at(secs));
    let mut object = Map::with_capacity(parts.attrs.len() + 4);
    object.insert(
        "ts".into(),
        Value::from(parts.ts.unwrap_or_else(|| unix_nanos(received))),
    );
    object.insert("sev".into(), Value::from(parts.sev));
    object.extend(parts.attrs);
    add_receipt(&mut object, peer, received);
    Value::Object(object).to_string()
}

/// Adds `peer` and `received` to an SDL-shaped object (never replacing the sender's own).
pub(crate) fn add_receipt(object: &mut Map<String, Value>, peer: SocketAddr, received: SystemTime) {
    object
        .entry("peer")
        .or_insert_with(|| Value::String(peer.to_string()));
    object
        .entry("received")
        .or_insert_with(|| Value::String(rfc3339(received)));
}

/// The input name of a peer of listener `name`: `fw tcp 10.0.0.1`.
pub(crate) fn input_name(name: &str, transport: &str, peer: SocketAddr) -> Arc<str> {
    Arc::from(format!("{name} {transport} {}", peer.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_becomes_one_line() {
        assert_eq!(one_line(b"a\r\nb\nc\n\0"), "a\\nb\\nc");
        assert_eq!(one_line(b"plain"), "plain");
        assert_eq!(one_line(b"bad \xff byte"), "bad \u{fffd} byte");
    }

    #[test]
    fn rfc3339_counts_days_like_the_calendar() {
        let t = UNIX_EPOCH + std::time::Duration::from_micros(1_065_910_455_003_000);
        assert_eq!(rfc3339(t), "2003-10-11T22:14:15.003000Z");
        let leap = UNIX_EPOCH + std::time::Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn a_syslog_message_in_the_sdl_shape_has_ts_sev_fields_and_receipt() {
        let m = logferry_syslog::parse(
            b"<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 [ex@1 a=\"b\"] hello",
        );
        let peer: SocketAddr = "10.0.0.1:514".parse().unwrap();
        let received = UNIX_EPOCH + std::time::Duration::from_secs(1_065_910_500);
        let v: Value = serde_json::from_str(&syslog_sdl(&m, peer, received)).unwrap();
        assert_eq!(v["ts"], 1_065_910_455_003_000_000i64);
        assert_eq!(v["sev"], 3);
        assert_eq!(v["severity"], 5);
        assert_eq!(v["facility"], 20);
        assert_eq!(v["hostname"], "host");
        assert_eq!(v["appname"], "app");
        assert_eq!(v["sd.ex@1.a"], "b");
        assert_eq!(v["message"], "hello");
        assert_eq!(v["peer"], "10.0.0.1:514");
        assert_eq!(v["received"], "2003-10-11T22:15:00.000000Z");
        // No timestamp: the receipt time.
        let bare = logferry_syslog::parse(b"no pri at all");
        let v: Value = serde_json::from_str(&syslog_sdl(&bare, peer, received)).unwrap();
        assert_eq!(v["ts"], 1_065_910_500_000_000_000i64);
        assert!(v["syslog_problem"].is_string(), "{v}");
    }
}
