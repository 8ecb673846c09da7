//! Numbers as written: a JSON number that an `f64` would change (an integer beyond 64 bits,
//! a decimal with more digits than an `f64` keeps, a magnitude beyond `f64`'s range such as
//! `1E400`), at any depth, reaches the wire with its digits as written. RFC 8259 allows
//! any such number; SDL stores what it is sent.
//!
//! simd-json and serde_json read every number as `i64`, `u64` or `f64` (simd-json's
//! `big-int-as-float` feature turns an integer beyond 64 bits into an `f64` instead of an
//! error; serde_json refuses `1E400`). So a text that holds such a number
//! ([`numbers_as_written`]) takes a slower path: the parser validates a copy in which each
//! such number is replaced by `0` padded with spaces (same length, so its errors name the
//! same bytes, and the verdict is the same since a number was replaced by a number), then
//! [`Raw`] reads the original text into a tree that keeps those numbers' text
//! ([`Node::Number`]). Text without such a number (almost every log line) takes the parser's
//! fast path unchanged.

use crate::attrs::{JsonNode, JsonTree, Node};
use crate::json;
use std::borrow::Cow;
use std::ops::Range;

/// Whether `text` may hold a number that an `f64` changes ([`numbers_needing_text`] finds
/// one only if this says yes): outside strings, a number token of 19 digits or more, or a
/// decimal with an exponent or more than 15 digits (any other decimal an `f64` keeps,
/// [`needs_text`]). A cheap test before keeping a copy of a line (false positives only
/// cost a second look); digits inside strings (addresses, times, ids) never count, and
/// strings are skipped eight bytes at a time, so ordinary log lines cost little.
pub(crate) fn may_need_text(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => match string_end(text, i) {
                Some(end) => i = end,
                None => return false,
            },
            // A token as `numbers_needing_text` cuts it.
            b'-' | b'0'..=b'9' => {
                let (mut digits, mut decimal, mut exponent) = (0usize, false, false);
                while let Some(&b) = text.get(i) {
                    match b {
                        b'0'..=b'9' => digits += usize::from(!exponent),
                        b'.' => decimal = true,
                        b'e' | b'E' => exponent = true,
                        b'-' | b'+' => {}
                        _ => break,
                    }
                    i += 1;
                }
                if exponent || (decimal && digits > 15) || (!decimal && digits >= 19) {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// Whether a JSON number token must be kept as text: an integer that neither `i64` nor
/// `u64` holds, or a decimal an `f64` would not write back as written.
///
/// A decimal of 15 significant digits or fewer inside the normal range keeps its value
/// in an `f64` (it may come back spelled otherwise: `1.50` as `1.5`), so a decimal with at
/// most 15 digits (leading zeros counted) and an exponent within ±280 is read as an `f64`.
/// Any other decimal is an `f64` only when the `f64` writes back exactly its text (as the
/// request writer's own floats do: `0.30000000000000004`); otherwise it is sent as written
/// (`-0.0000000000000000000001`, `123456789012345678901234567890.5`, `1E400`).
pub(crate) fn needs_text(token: &str) -> bool {
    if !token.contains(['.', 'e', 'E']) {
        return token.parse::<i64>().is_err() && token.parse::<u64>().is_err();
    }
    let e = token.find(['e', 'E']);
    let mantissa = &token[..e.unwrap_or(token.len())];
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let exp = e.map_or(Some(0), |e| token[e + 1..].parse::<i32>().ok());
    if digits <= 15 && exp.is_some_and(|x| x.abs() <= 280) {
        return false;
    }
    let Ok(f) = token.parse::<f64>() else {
        return true;
    };
    let mut written = Vec::new();
    json::write_f64(&mut written, f);
    !f.is_finite() || written != token.as_bytes()
}

/// Whether `token` is a JSON number (RFC 8259, 6):
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub(crate) fn is_json_number(token: &[u8]) -> bool {
    let mut i = usize::from(token.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while token.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    match token.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if token.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(token.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(token.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == token.len()
}

/// The byte ranges of the numbers in `text` (at any depth, outside strings) that must be
/// kept as text ([`needs_text`]); only well-formed number tokens count.
pub(crate) fn numbers_needing_text(text: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => i = string_end(text, i).unwrap_or(text.len()),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while text
                    .get(i)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    i += 1;
                }
                let token = &text[start..i];
                if is_json_number(token) && std::str::from_utf8(token).is_ok_and(needs_text) {
                    out.push(start..i);
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// `text` read keeping the numbers an `f64` would change as written, or `None` when it
/// holds none (the caller's fast path applies). `validate` is the caller's parser, run on
/// a copy in which those numbers are `0`: its verdict is the text's, its error the
/// caller's error.
pub(crate) fn numbers_as_written<'t>(
    text: &'t [u8],
    validate: impl FnOnce(&mut [u8]) -> Result<(), String>,
) -> Option<Result<Raw<'t>, String>> {
    if !may_need_text(text) {
        return None;
    }
    let ranges = numbers_needing_text(text);
    if ranges.is_empty() {
        return None;
    }
    let mut copy = text.to_vec();
    for r in ranges {
        copy[r.start] = b'0';
        copy[r.start + 1..r.end].fill(b' ');
    }
    Some(validate(&mut copy).and_then(|()| Raw::parse(text)))
}

/// A JSON value read from valid text, numbers kept as their text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    Str(Cow<'a, str>),
    Array(Vec<Raw<'a>>),
    /// Members in text order, duplicates kept (as simd-json keeps them).
    Object(Vec<(Cow<'a, str>, Raw<'a>)>),
}

/// How deep [`Raw::parse`] nests before refusing (it recurses).
const MAX_DEPTH: usize = 512;

impl<'a> Raw<'a> {
    /// Reads one JSON value (with surrounding whitespace) from `text`, which a JSON parser
    /// has validated; anything unexpected is still an error, never a panic.
    pub(crate) fn parse(text: &'a [u8]) -> Result<Raw<'a>, String> {
        let mut p = RawParser { text, i: 0 };
        let value = p.value(0)?;
        p.ws();
        if p.i != text.len() {
            return Err(p.error("trailing characters"));
        }
        Ok(value)
    }
}

struct RawParser<'a> {
    text: &'a [u8],
    i: usize,
}

impl<'a> RawParser<'a> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.i)
    }

    fn ws(&mut self) {
        self.i = skip_ws(self.text, self.i);
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let hit = self.text.get(self.i) == Some(&b);
        self.i += usize::from(hit);
        hit
    }

    fn value(&mut self, depth: usize) -> Result<Raw<'a>, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.ws();
        let rest = &self.text[self.i..];
        match rest.first() {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Ok(Raw::Object(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return Err(self.error("expected `:`"));
                    }
                    members.push((key, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        return Ok(Raw::Object(members));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected `,` or `}`"));
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut elems = Vec::new();
                if self.eat(b']') {
                    return Ok(Raw::Array(elems));
                }
                loop {
                    elems.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Ok(Raw::Array(elems));
                    }
                    if !self.eat(b',') {
                        return Err(self.error("expected `,` or `]`"));
                    }
                }
            }
            Some(b'"') => Ok(Raw::Str(self.string()?)),
            Some(b't') if rest.starts_with(b"true") => {
                self.i += 4;
                Ok(Raw::Bool(true))
            }
            Some(b'f') if rest.starts_with(b"false") => {
                self.i += 5;
                Ok(Raw::Bool(false))
            }
            Some(b'n') if rest.starts_with(b"null") => {
                self.i += 4;
                Ok(Raw::Null)
            }
            Some(b'-' | b'0'..=b'9') => {
                let len = rest
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(rest.len());
                let token = &rest[..len];
                if !is_json_number(token) {
                    return Err(self.error("invalid number"));
                }
                self.i += len;
                Ok(Raw::Number(
                    std::str::from_utf8(token).expect("a JSON number is ASCII"),
                ))
            }
            _ => Err(self.error("expected a value")),
        }
    }

    /// A string starting at the current `"`, unescaped.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        let start = self.i;
        let end = match self.text.get(start) {
            Some(b'"') => string_end(self.text, start),
            _ => None,
        }
        .ok_or_else(|| self.error("expected a string"))?;
        self.i = end;
        let inner = &self.text[start + 1..end - 1];
        let inner = std::str::from_utf8(inner).map_err(|_| self.error("invalid UTF-8"))?;
        if !inner.contains('\\') {
            return Ok(Cow::Borrowed(inner));
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let unit = |chars: &mut std::str::Chars<'_>| {
                let hex: String = chars.by_ref().take(4).collect();
                u32::from_str_radix(&hex, 16).ok()
            };
            match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('/') => out.push('/'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hi = unit(&mut chars).ok_or_else(|| self.error("invalid escape"))?;
                    let code =
                        if (0xD800..0xDC00).contains(&hi) && chars.as_str().starts_with("\\u") {
                            let mut ahead = chars.clone();
                            ahead.nth(1);
                            match unit(&mut ahead) {
                                Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                    chars = ahead;
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                }
                                _ => hi,
                            }
                        } else {
                            hi
                        };
                    out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                _ => return Err(self.error("invalid escape")),
            }
        }
        Ok(Cow::Owned(out))
    }
}

/// How a number token reads: as simd-json reads it (`i64`, then `u64`, then `f64`), or
/// as its text when an `f64` would change it.
fn number_node(token: &str) -> Node<'_> {
    if needs_text(token) {
        Node::Number(token)
    } else if !token.contains(['.', 'e', 'E']) {
        token
            .parse::<i64>()
            .map(Node::I64)
            .or_else(|_| token.parse::<u64>().map(Node::U64))
            .unwrap_or(Node::Number(token))
    } else {
        token.parse::<f64>().map_or(Node::Number(token), Node::F64)
    }
}

impl JsonNode for Raw<'_> {
    fn node(&self) -> Node<'_> {
        match self {
            Raw::Null => Node::Null,
            Raw::Bool(b) => Node::Bool(*b),
            Raw::Number(t) => number_node(t),
            Raw::Str(s) => Node::Str(s),
            Raw::Array(_) => Node::Array,
            Raw::Object(_) => Node::Object,
        }
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, &Self)) {
        if let Raw::Object(m) = self {
            for (k, v) in m {
                f(k, v);
            }
        }
    }
    fn for_each_elem(&self, f: &mut dyn FnMut(&Self)) {
        if let Raw::Array(a) = self {
            a.iter().for_each(f);
        }
    }
    fn container_len(&self) -> usize {
        match self {
            Raw::Array(a) => a.len(),
            Raw::Object(m) => m.len(),
            _ => 0,
        }
    }
}

impl JsonTree for Raw<'_> {
    fn member(&self, key: &str) -> Option<&Self> {
        // The last of duplicate names, as the other two readers take it.
        match self {
            Raw::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn elem(&self, i: usize) -> Option<&Self> {
        match self {
            Raw::Array(a) => a.get(i),
            _ => None,
        }
    }
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while text
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The index just after the string starting at `i` (a `"`): a backslash escapes the
/// byte after it; eight bytes at a time between them.
fn string_end(text: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i = json::next_quote_or_backslash(text, i)?;
        if text[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::strategy::Strategy;

    proptest::proptest! {
        #[test]
        fn the_cheap_test_never_misses_a_number_kept_as_text(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "\"", "\\", ",", ":", "{", "}", "[", "]", " ", "-", "+", ".", "e", "E",
                        "a", "true", "1E400", "0.30000000000000004", "18446744073709551616",
                        "123456789012345678901234567890.5", "1.5", "-0.0000000000000000000001",
                    ]).prop_map(str::to_owned),
                    "[0-9]{1,22}",
                ],
                0..30,
            )
        ) {
            let text = parts.concat();
            if !numbers_needing_text(text.as_bytes()).is_empty() {
                proptest::prop_assert!(may_need_text(text.as_bytes()), "{}", text);
            }
        }
    }

    #[test]
    fn ordinary_decimals_need_no_second_look() {
        assert!(!may_need_text(
            br#"{"latency_ms":12.5,"n":-3,"ratio":0.00012345678}"#
        ));
        assert!(may_need_text(br#"{"x":0.1234567890123456}"#), "16 digits");
        assert!(may_need_text(br#"{"x":1e5}"#), "an exponent");
        assert!(may_need_text(br#"{"x":1234567890123456789}"#), "19 digits");
    }

    #[test]
    fn digits_inside_strings_never_ask_for_a_copy() {
        assert!(!may_need_text(
            br#"{"ip":"10.0.0.1","ts":"2026-12-01T10:00:00.123Z","id":"12345678901234567890"}"#
        ));
        assert!(!may_need_text(br#"{"q":"a \\\" 1.5","n":42}"#));
        assert!(may_need_text(
            br#"{"ip":"10.0.0.1","score":0.12345678901234567}"#
        ));
        assert!(may_need_text(br#"{"big":18446744073709551616}"#));
    }

    #[test]
    fn numbers_an_f64_would_change_are_kept_as_text() {
        for kept in [
            "18446744073709551616",
            "-9223372036854775809",
            "1E400",
            "1767225600.123456789",
            "0.10000000000000000001",
            "-0.0000000000000000000001",
        ] {
            assert!(needs_text(kept), "{kept}");
        }
        for plain in [
            "18446744073709551615",
            "-9223372036854775808",
            "1.5",
            "1.50",
            "19.4",
            "1e3",
            "1767225600.25",
            "0.30000000000000004",
            "1e-300",
            "0",
            "-0.0",
        ] {
            assert!(!needs_text(plain), "{plain}");
        }
    }

    #[test]
    fn numbers_needing_text_are_found_at_any_depth() {
        let text = br#" {"a": 1, "b\"": 2, "s": "x:3,1E400", "o": {"n": 4.5, "t": [18446744073709551616, "}"]}, "big" : 1E400 ,"t":true, "bad": 01E400}"#;
        let found: Vec<&[u8]> = numbers_needing_text(text)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(found, [&b"18446744073709551616"[..], b"1E400"]);
    }

    #[test]
    fn json_number_grammar() {
        for good in [
            "0",
            "-0",
            "1.5",
            "1E400",
            "-1e-5",
            "1e+5",
            "123456789012345678901234567890.5",
        ] {
            assert!(is_json_number(good.as_bytes()), "{good}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "--1", "1.2.3", "+1", "1-1",
        ] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn raw_reads_valid_json_keeping_number_text() {
        let text = br#" {"a":[1E400,{"b":"x\u00e9\ud83d\ude00\n"}],"a":null,"c":true,"d":-0.5} "#;
        let raw = Raw::parse(text).expect("valid");
        let Raw::Object(m) = &raw else {
            panic!("object")
        };
        assert_eq!(m.len(), 4);
        assert_eq!(raw.member("a"), Some(&Raw::Null));
        let Raw::Array(a) = &m[0].1 else {
            panic!("array")
        };
        assert_eq!(a[0], Raw::Number("1E400"));
        assert_eq!(
            a[1].member("b"),
            Some(&Raw::Str("x\u{e9}\u{1F600}\n".into()))
        );
        assert!(Raw::parse(b"[1,]").is_err());
        assert!(Raw::parse(b"[1] x").is_err());
        let deep = format!("{}{}", "[".repeat(600), "]".repeat(600));
        assert!(Raw::parse(deep.as_bytes()).is_err());
    }
}
