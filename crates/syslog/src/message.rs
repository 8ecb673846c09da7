//! One syslog message: [`parse`] tells RFC 5424 from RFC 3164 per message and never fails.
//!
//! The rules, in order:
//!
//! 1. **PRI** (`<` 1–3 digits `>`, value 0–191; RFC 5424 §6.2.1, RFC 3164 §4.1.1). A message
//!    without one is read as 3164 from its first byte (RFC 3164 §4.3.3 has a relay treat it
//!    as `user.notice`; here `pri` stays `None` and [`Message::severity`] says so).
//! 2. **`1 ` after the PRI**: RFC 5424 (§6): `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`,
//!    each header field `-` (NILVALUE, read as `None`) or printable US-ASCII without spaces;
//!    the timestamp is RFC 3339 with an optional fraction (§6.2.3), `Z` or `±hh:mm`.
//!    Structured data (§6.3) is `-` or `[id name="value" ...]...`, with `\"`, `\\` and `\]`
//!    unescaped in values (§6.3.3; a backslash before anything else stays). A UTF-8 BOM at the
//!    start of MSG is removed (§6.4). Field lengths are not enforced.
//! 3. **Otherwise RFC 3164** (§4.1.2), as senders actually write it: an optional Cisco
//!    sequence number (`123: `) and `*`/`.` clock mark, then `Mmm dd hh:mm:ss` (day space- or
//!    zero-padded, optional fraction, optional `:` as Cisco writes it) or an RFC 3339
//!    timestamp (rsyslog's forwarding format), then a hostname, then a TAG `app[pid]:` or
//!    `app:`. A word that ends in `:` or holds `[` right after the timestamp is the TAG, not a
//!    hostname (`logger` to a local socket, Cisco). Without a recognizable timestamp the whole
//!    text after the PRI is the message (RFC 3164 §4.3.2: FortiGate's `date=... time=...`).
//!
//! **Nothing is dropped.** `raw` is always the whole input. When the grammar breaks, the fields
//! read before the break are kept, `problem` says what broke, and `msg` is the text from the
//! break on. [`Kind::Unparsed`] means not even a header was found (an empty message, a 5424
//! header cut short); its `msg` is the whole input.

use crate::time::{Timestamp, days_in_month};
use std::borrow::Cow;

/// Which grammar read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RFC 5424 (`<PRI>1 ...`).
    Rfc5424,
    /// RFC 3164 (BSD syslog), or text after a PRI.
    Rfc3164,
    /// No header could be read; `msg` is the whole input.
    Unparsed,
}

/// The priority: `facility * 8 + severity` (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pri {
    /// 0–23 (0 kern, 1 user, ..., 16–23 local0–local7).
    pub facility: u8,
    /// 0–7 (0 emerg ... 7 debug).
    pub severity: u8,
}

/// An SD-ELEMENT (RFC 5424 §6.3.1): `[id param="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// The SD-ID, e.g. `timeQuality` or `exampleSDID@32473`.
    pub id: &'a str,
    /// The SD-PARAMs in order (a name may repeat, §6.3.3).
    pub params: Vec<SdParam<'a>>,
}

/// An SD-PARAM (RFC 5424 §6.3.3), its value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdParam<'a> {
    /// PARAM-NAME.
    pub name: &'a str,
    /// PARAM-VALUE with `\"`, `\\` and `\]` unescaped (borrowed when there was no escape).
    pub value: Cow<'a, str>,
}

/// A parsed syslog message borrowing from the input (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The whole input, as received: what goes to HTTP Ingest.
    pub raw: &'a [u8],
    /// Which grammar read it.
    pub kind: Kind,
    /// What could not be parsed, when something could not (fields before it are kept).
    pub problem: Option<&'static str>,
    /// Facility and severity, when the message has a valid PRI.
    pub pri: Option<Pri>,
    /// The timestamp, when present and valid.
    pub timestamp: Option<Timestamp>,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME (5424) or the TAG's name (3164).
    pub app_name: Option<&'a str>,
    /// PROCID (5424) or the TAG's `[pid]` (3164).
    pub proc_id: Option<&'a str>,
    /// MSGID (5424 only).
    pub msg_id: Option<&'a str>,
    /// STRUCTURED-DATA (5424 only).
    pub structured_data: Vec<SdElement<'a>>,
    /// MSG: the free text (a leading UTF-8 BOM removed), or the rest from a `problem` on.
    pub msg: &'a [u8],
}

impl<'a> Message<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Message {
            raw,
            kind: Kind::Unparsed,
            problem: None,
            pri: None,
            timestamp: None,
            hostname: None,
            app_name: None,
            proc_id: None,
            msg_id: None,
            structured_data: Vec::new(),
            msg: raw,
        }
    }

    /// The severity (0–7), when the message has a PRI.
    pub fn severity(&self) -> Option<u8> {
        self.pri.map(|p| p.severity)
    }

    /// The facility (0–23), when the message has a PRI.
    pub fn facility(&self) -> Option<u8> {
        self.pri.map(|p| p.facility)
    }

    /// MSG as text (invalid UTF-8 replaced).
    pub fn msg_text(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.msg)
    }
}

/// The UTF-8 byte order mark RFC 5424 §6.4 puts before a UTF-8 MSG.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses one syslog message (without its framing: no trailing newline expected, though a
/// trailing `\n` or `\r\n` is not part of `msg`). Never fails; see the module docs.
pub fn parse(raw: &[u8]) -> Message<'_> {
    let mut m = Message::new(raw);
    let body = trim_trailing_newline(raw);
    if body.is_empty() {
        m.problem = Some("empty message");
        return m;
    }
    let mut cur = Cursor { s: body, pos: 0 };
    match read_pri(&mut cur) {
        Ok(pri) => m.pri = pri,
        Err(problem) => {
            m.problem = Some(problem);
            return m;
        }
    }
    if m.pri.is_some() && cur.rest().starts_with(b"1 ") {
        cur.pos += 2;
        rfc5424(&mut m, &mut cur);
    } else {
        rfc3164(&mut m, &mut cur);
    }
    m
}

fn trim_trailing_newline(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.s[self.pos..]
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    /// The bytes up to the next space (or the end), the cursor left on the space.
    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        let len = memchr::memchr(b' ', self.rest()).unwrap_or(self.rest().len());
        self.pos += len;
        &self.s[start..self.pos]
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
}

/// `Ok(None)` when the message does not start with `<`; an error for a broken PRI.
fn read_pri(cur: &mut Cursor<'_>) -> Result<Option<Pri>, &'static str> {
    if !cur.eat(b'<') {
        return Ok(None);
    }
    let digits = cur.rest().iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 3 || cur.rest().get(digits) != Some(&b'>') {
        return Err("malformed PRI");
    }
    let value: u16 = cur.rest()[..digits]
        .iter()
        .fold(0, |v, d| v * 10 + u16::from(d - b'0'));
    // RFC 5424 §6.2.1: no leading zeros, except "<0>".
    if value > 191 || (digits > 1 && cur.rest()[0] == b'0') {
        return Err("PRI out of range");
    }
    cur.pos += digits + 1;
    Ok(Some(Pri {
        facility: (value / 8) as u8,
        severity: (value % 8) as u8,
    }))
}

fn rfc5424<'a>(m: &mut Message<'a>, cur: &mut Cursor<'a>) {
    m.kind = Kind::Rfc5424;
    let body = cur.s;
    let fail = |m: &mut Message<'a>, at: usize, problem: &'static str| {
        m.problem = Some(problem);
        m.msg = &body[at.min(body.len())..];
    };
    let start = cur.pos;
    let ts = cur.word();
    if ts != b"-" {
        match rfc3339(ts) {
            Some(t) => m.timestamp = Some(t),
            None => return fail(m, start, "invalid RFC 5424 timestamp"),
        }
    }
    let fields: [(&mut Option<&'a str>, &'static str); 4] = [
        (&mut m.hostname, "missing or invalid HOSTNAME"),
        (&mut m.app_name, "missing or invalid APP-NAME"),
        (&mut m.proc_id, "missing or invalid PROCID"),
        (&mut m.msg_id, "missing or invalid MSGID"),
    ];
    let mut failed = None;
    for (slot, problem) in fields {
        let at = cur.pos;
        if !cur.eat(b' ') {
            failed = Some((at, problem));
            break;
        }
        let word = cur.word();
        match header_field(word) {
            Some(value) => *slot = value,
            None => {
                failed = Some((at + 1, problem));
                break;
            }
        }
    }
    if let Some((at, problem)) = failed {
        return fail(m, at, problem);
    }
    let at = cur.pos;
    if !cur.eat(b' ') {
        return fail(m, at, "missing STRUCTURED-DATA");
    }
    let sd_start = cur.pos;
    if cur.eat(b'-') {
        // NILVALUE
    } else if cur.peek() == Some(b'[') {
        while cur.peek() == Some(b'[') {
            match sd_element(cur) {
                Ok(e) => m.structured_data.push(e),
                Err(problem) => return fail(m, sd_start, problem),
            }
        }
    } else {
        return fail(m, sd_start, "invalid STRUCTURED-DATA");
    }
    match cur.peek() {
        None => m.msg = &[],
        Some(b' ') => {
            let msg = &cur.rest()[1..];
            m.msg = msg.strip_prefix(BOM).unwrap_or(msg);
        }
        Some(_) => fail(m, sd_start, "invalid STRUCTURED-DATA"),
    }
}

/// `None` for an invalid field; `Some(None)` for the NILVALUE `-`.
fn header_field(word: &[u8]) -> Option<Option<&str>> {
    if word.is_empty() || !word.iter().all(|b| (33..=126).contains(b)) {
        return None;
    }
    if word == b"-" {
        return Some(None);
    }
    // Printable US-ASCII is UTF-8.
    std::str::from_utf8(word).ok().map(Some)
}

fn sd_name<'a>(cur: &mut Cursor<'a>) -> Option<&'a str> {
    let rest = cur.rest();
    let len = rest
        .iter()
        .take_while(|&&b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'))
        .count();
    if len == 0 {
        return None;
    }
    cur.pos += len;
    std::str::from_utf8(&rest[..len]).ok()
}

fn sd_element<'a>(cur: &mut Cursor<'a>) -> Result<SdElement<'a>, &'static str> {
    cur.eat(b'[');
    let id = sd_name(cur).ok_or("invalid SD-ID")?;
    let mut params = Vec::new();
    loop {
        if cur.eat(b']') {
            return Ok(SdElement { id, params });
        }
        if !cur.eat(b' ') {
            return Err("unterminated SD-ELEMENT");
        }
        let name = sd_name(cur).ok_or("invalid SD-PARAM name")?;
        if !cur.eat(b'=') || !cur.eat(b'"') {
            return Err("SD-PARAM without =\"value\"");
        }
        let value = sd_value(cur)?;
        params.push(SdParam { name, value });
    }
}

/// A PARAM-VALUE after its opening quote, through its closing quote (RFC 5424 §6.3.3).
fn sd_value<'a>(cur: &mut Cursor<'a>) -> Result<Cow<'a, str>, &'static str> {
    let rest = cur.rest();
    let mut i = 0;
    let mut escaped = false;
    loop {
        match rest.get(i) {
            None => return Err("unterminated SD-PARAM value"),
            Some(b'\\') => {
                escaped = true;
                i += 2;
            }
            Some(b'"') => break,
            Some(_) => i += 1,
        }
    }
    let bytes = &rest[..i];
    cur.pos += i + 1;
    let text = std::str::from_utf8(bytes).map_err(|_| "SD-PARAM value is not UTF-8")?;
    if !escaped {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('"' | '\\' | ']')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(Cow::Owned(out))
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    let d = s.get(..n)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0u32, |v, b| v * 10 + u32::from(b - b'0')))
}

/// RFC 3339 as RFC 5424 §6.2.3 restricts it: `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`.
pub(crate) fn rfc3339(s: &[u8]) -> Option<Timestamp> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b't') {
        return None;
    }
    let year = digits(s, 4)?;
    let month = digits(&s[5..], 2)? as u8;
    let day = digits(&s[8..], 2)? as u8;
    let (hour, minute, second, rest) = clock(&s[11..])?;
    let (nanos, rest) = fraction(rest)?;
    let offset_secs = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2], 2)? as i32;
            let m = digits(&[*m1, *m2], 2)? as i32;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    Some(Timestamp {
        year: Some(year as u16),
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset_secs: Some(offset_secs),
    })
}

/// `hh:mm:ss`, checked, and what follows.
fn clock(s: &[u8]) -> Option<(u8, u8, u8, &[u8])> {
    if s.len() < 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    let h = digits(s, 2)? as u8;
    let m = digits(&s[3..], 2)? as u8;
    let sec = digits(&s[6..], 2)? as u8;
    (h < 24 && m < 60 && sec < 60).then_some((h, m, sec, &s[8..]))
}

/// An optional `.d{1,9}` as nanoseconds, and what follows.
fn fraction(s: &[u8]) -> Option<(u32, &[u8])> {
    let Some(after) = s.strip_prefix(b".") else {
        return Some((0, s));
    };
    let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 9 {
        return None;
    }
    let v = digits(after, n)?;
    Some((v * 10u32.pow(9 - n as u32), &after[n..]))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Mmm dd hh:mm:ss[.frac]` (day space- or zero-padded, or a single digit) and what follows.
fn bsd_timestamp(s: &[u8]) -> Option<(Timestamp, &[u8])> {
    let month = MONTHS.iter().position(|m| s.get(..3) == Some(&m[..]))? as u8 + 1;
    let s = s.get(3..)?.strip_prefix(b" ")?;
    let (day, s) = match s {
        [b' ', d, b' ', rest @ ..] | [d, b' ', rest @ ..] if d.is_ascii_digit() => (d - b'0', rest),
        [d1, d2, b' ', rest @ ..] if d1.is_ascii_digit() && d2.is_ascii_digit() => {
            ((d1 - b'0') * 10 + (d2 - b'0'), rest)
        }
        _ => return None,
    };
    if day == 0 || day > days_in_month(2000, month) {
        return None;
    }
    let (hour, minute, second, rest) = clock(s)?;
    let (nanos, rest) = fraction(rest)?;
    Some((
        Timestamp {
            year: None,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset_secs: None,
        },
        rest,
    ))
}

fn rfc3164<'a>(m: &mut Message<'a>, cur: &mut Cursor<'a>) {
    m.kind = Kind::Rfc3164;
    let content_start = cur.pos;
    // Cisco: an optional sequence number "123: " and a clock mark "*" (not synchronized)
    // or "." (synchronized once, now lost).
    let rest = cur.rest();
    let seq = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if seq > 0 && rest[seq..].starts_with(b": ") {
        cur.pos += seq + 2;
    }
    if matches!(cur.peek(), Some(b'*' | b'.')) {
        cur.pos += 1;
    }
    let mut cisco_colon = false;
    let after_ts = if let Some((ts, after)) = bsd_timestamp(cur.rest()) {
        m.timestamp = Some(ts);
        after
    } else {
        let word = {
            let r = cur.rest();
            &r[..memchr::memchr(b' ', r).unwrap_or(r.len())]
        };
        match rfc3339(word) {
            Some(ts) => {
                m.timestamp = Some(ts);
                &cur.rest()[word.len()..]
            }
            None => {
                // RFC 3164 §4.3.2: no valid TIMESTAMP, so all of it is content.
                cur.pos = content_start;
                if m.pri.is_none() {
                    m.kind = Kind::Unparsed;
                    m.problem = Some("no PRI and no timestamp: the whole text is the message");
                } else {
                    m.problem = Some("no RFC 3164 timestamp: the text after PRI is the message");
                }
                m.msg = cur.rest();
                return;
            }
        }
    };
    let after_ts = match after_ts.strip_prefix(b":") {
        Some(after) => {
            cisco_colon = true;
            after
        }
        None => after_ts,
    };
    cur.pos = cur.s.len() - after_ts.len();
    if !cur.eat(b' ') {
        if cur.peek().is_none() {
            m.msg = &[];
        } else {
            m.problem = Some("no space after the RFC 3164 timestamp");
            m.msg = cur.rest();
        }
        return;
    }
    // HOSTNAME, unless the next word is already the TAG.
    if !cisco_colon {
        let save = cur.pos;
        let word = cur.word();
        let looks_like_tag = word.ends_with(b":") || word.contains(&b'[');
        if !word.is_empty() && !looks_like_tag && cur.peek() == Some(b' ') {
            m.hostname = std::str::from_utf8(word).ok();
            if m.hostname.is_some() {
                cur.pos += 1;
            } else {
                cur.pos = save;
            }
        } else {
            cur.pos = save;
        }
    }
    // TAG: "name[pid]:" or "name:" followed by a space or the end.
    let save = cur.pos;
    let word = cur.word();
    if let Some((app, pid)) = tag(word) {
        m.app_name = Some(app);
        m.proc_id = pid;
        cur.eat(b' ');
    } else {
        cur.pos = save;
    }
    let msg = cur.rest();
    m.msg = msg.strip_prefix(BOM).unwrap_or(msg);
}

/// `name[pid]:` or `name:`, name and pid non-empty printable ASCII (`%` excluded from names
/// so that Cisco's `%SYS-5-CONFIG_I:` mnemonic stays in the message).
fn tag(word: &[u8]) -> Option<(&str, Option<&str>)> {
    let word = word.strip_suffix(b":")?;
    let printable = |s: &[u8]| !s.is_empty() && s.iter().all(|b| (33..=126).contains(b));
    let (name, pid) = match word.strip_suffix(b"]") {
        Some(w) => {
            let open = memchr::memchr(b'[', w)?;
            (&w[..open], Some(&w[open + 1..]))
        }
        None => (word, None),
    };
    if !printable(name) || name.contains(&b'[') || name.starts_with(b"%") {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    let pid = match pid {
        Some(p) if printable(p) => Some(std::str::from_utf8(p).ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((name, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_examples_from_rfc_5424() {
        let t = rfc3339(b"1985-04-12T23:20:50.52Z").expect("valid");
        assert_eq!(
            (t.year, t.nanos, t.offset_secs),
            (Some(1985), 520_000_000, Some(0))
        );
        let t = rfc3339(b"2003-08-24T05:14:15.000003-07:00").expect("valid");
        assert_eq!((t.nanos, t.offset_secs), (3_000, Some(-25_200)));
        // §6.2.3.2: invalid examples.
        assert!(rfc3339(b"1990-12-31T23:59:60Z").is_none());
        assert!(rfc3339(b"2003-08-24T05:14:15").is_none());
        assert!(rfc3339(b"2003-02-29T05:14:15Z").is_none());
    }

    #[test]
    fn bsd_days() {
        assert!(bsd_timestamp(b"Mar  1 18:46:11 x").is_some());
        assert!(bsd_timestamp(b"Mar 01 18:46:11 x").is_some());
        assert!(bsd_timestamp(b"Feb 30 18:46:11 x").is_none());
        assert!(bsd_timestamp(b"Feb 29 18:46:11 x").is_some());
        assert!(bsd_timestamp(b"Mar  1 24:46:11 x").is_none());
    }
}
