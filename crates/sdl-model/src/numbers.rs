//! Numbers as written: the top-level numbers of a JSON object that an `f64` would change
//! (integers beyond 64 bits, decimals with more digits than an `f64` keeps), found in the
//! object's text so the event keeps them exactly
//! ([`AttrValue::Number`](crate::AttrValue::Number)). A number beyond `f64`'s range
//! (`1E400`) is still refused by simd-json (and by the reference request parser), so such
//! a record stays invalid.

use crate::json;

/// Whether `text` may hold a number that an `f64` changes: outside strings, a digit
/// followed by `.`, `e` or `E`, or 19 digits in a row. A cheap test before keeping a copy
/// of a line (false positives only cost the copy); digits inside strings (addresses,
/// times, ids) never count, so ordinary log lines are not copied.
pub(crate) fn may_need_text(text: &[u8]) -> bool {
    let mut run = 0;
    let mut prev_digit = false;
    let (mut in_string, mut escaped) = (false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if b == b'"' {
            in_string = true;
            run = 0;
            prev_digit = false;
        } else if b.is_ascii_digit() {
            run += 1;
            if run >= 19 {
                return true;
            }
            prev_digit = true;
        } else {
            if prev_digit && matches!(b, b'.' | b'e' | b'E') {
                return true;
            }
            run = 0;
            prev_digit = false;
        }
    }
    false
}

/// Whether a JSON number token must be kept as text: neither `i64`/`u64` nor an `f64`
/// holds its value exactly (the shortest form of the nearest `f64` is a different number).
pub(crate) fn needs_text(token: &str) -> bool {
    if !token.contains(['.', 'e', 'E']) {
        return token.parse::<i64>().is_err() && token.parse::<u64>().is_err();
    }
    let Ok(f) = token.parse::<f64>() else {
        return true;
    };
    if !f.is_finite() {
        return true;
    }
    let mut shortest = Vec::new();
    json::write_f64(&mut shortest, f);
    decimal(token) != decimal(std::str::from_utf8(&shortest).unwrap_or_default())
}

/// A JSON number's value as (negative, significant digits, exponent of the first digit),
/// for comparing two spellings; `None` when it is not a number.
fn decimal(s: &str) -> Option<(bool, String, i64)> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    let lead = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = int.len() as i64 + exp - lead as i64;
    Some((neg, significant.to_owned(), point))
}

/// The members of the JSON object `text` whose value is a number: (name as written
/// between its quotes, the number's byte range). Names with escapes are left out. Stops
/// at the first thing that is not well-formed (what was found until then is returned).
pub(crate) fn top_level_numbers(text: &[u8]) -> Vec<(&str, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return out;
    }
    i += 1;
    loop {
        i = skip_ws(text, i);
        if text.get(i) != Some(&b'"') {
            return out;
        }
        let Some(end) = string_end(text, i) else {
            return out;
        };
        let name = &text[i + 1..end - 1];
        i = skip_ws(text, end);
        if text.get(i) != Some(&b':') {
            return out;
        }
        i = skip_ws(text, i + 1);
        let start = i;
        match text.get(i) {
            Some(b'-' | b'0'..=b'9') => {
                while text
                    .get(i)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    i += 1;
                }
                if !name.contains(&b'\\')
                    && let Ok(name) = std::str::from_utf8(name)
                {
                    out.push((name, start..i));
                }
            }
            Some(b'"') => match string_end(text, i) {
                Some(end) => i = end,
                None => return out,
            },
            Some(b'{' | b'[') => match container_end(text, i) {
                Some(end) => i = end,
                None => return out,
            },
            Some(_) => {
                while text.get(i).is_some_and(u8::is_ascii_alphabetic) {
                    i += 1;
                }
            }
            None => return out,
        }
        i = skip_ws(text, i);
        match text.get(i) {
            Some(b',') => i += 1,
            _ => return out,
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

/// The index just after the string starting at `i` (a `"`).
fn string_end(text: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The index just after the object or array starting at `i`.
fn container_end(text: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < text.len() {
        match text[i] {
            b'"' => {
                i = string_end(text, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_inside_strings_never_ask_for_a_copy() {
        assert!(!may_need_text(
            br#"{"ip":"10.0.0.1","ts":"2026-12-01T10:00:00.123Z","id":"12345678901234567890"}"#
        ));
        assert!(!may_need_text(br#"{"q":"a \\\" 1.5","n":42}"#));
        assert!(may_need_text(br#"{"ip":"10.0.0.1","score":0.5}"#));
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
            "0",
            "-0.0",
        ] {
            assert!(!needs_text(plain), "{plain}");
        }
    }

    #[test]
    fn top_level_numbers_are_found_in_the_text() {
        let text = br#" {"a": 1, "b\"": 2, "s": "x:3,", "o": {"n": 4, "t": [5, "}"]}, "big" : 1E400 ,"t":true}"#;
        let found: Vec<(&str, &[u8])> = top_level_numbers(text)
            .into_iter()
            .map(|(k, r)| (k, &text[r]))
            .collect();
        assert_eq!(found, [("a", &b"1"[..]), ("big", b"1E400")]);
        assert!(may_need_text(b"{\"v\":1.5}"));
        assert!(!may_need_text(b"{\"v\":15,\"s\":\"a.b\"}"));
    }
}
