//! Compact JSON writing into a reused `Vec<u8>`: string escaping, numbers, and the exact
//! escaped length of a string (used to size and truncate without serializing twice).
//!
//! Escaping follows RFC 8259 section 7 minimally: `"` and `\` are escaped, the control
//! characters U+0000..U+001F are written as `\b \f \n \r \t` or `\u00XX`, and everything
//! else (DEL, non-ASCII) passes through as UTF-8. This is what `serde_json` writes, so bodies
//! compare equal with its output.

use serde_json::ser::{CompactFormatter, Formatter};

/// Per byte: 0 = copy as is, otherwise the escape to use (`u` = `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a quoted, escaped JSON string.
#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_content(out, s);
    out.push(b'"');
}

/// Appends the escaped content of `s` without the surrounding quotes.
///
/// Eight bytes per step: a word without a byte to escape is appended whole (a fixed-size
/// copy, no `memcpy` call); a word with one is appended, cut back to that byte, and the
/// escape written after it. Log text with escaped quotes (nested JSON flattened to its
/// text, quoted request lines) has many short runs between escapes, where copying each
/// run by its length cost a call per run.
#[inline]
pub(crate) fn write_str_content(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let word: [u8; 8] = word.try_into().expect("eight bytes");
        let flags = special_flags(u64::from_le_bytes(word), true);
        out.extend_from_slice(&word);
        if flags == 0 {
            i += 8;
            continue;
        }
        let k = (flags.trailing_zeros() / 8) as usize;
        out.truncate(out.len() - 8 + k);
        write_escape(out, bytes[i + k]);
        i += k + 1;
    }
    for &b in &bytes[i..] {
        if ESCAPE[b as usize] == 0 {
            out.push(b);
        } else {
            write_escape(out, b);
        }
    }
}

/// Appends the escape of `b`, a byte [`ESCAPE`] marks.
#[inline]
fn write_escape(out: &mut Vec<u8>, b: u8) {
    match ESCAPE[b as usize] {
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
        ]),
        other => out.extend_from_slice(&[b'\\', other]),
    }
}

/// Index of the first byte at or after `from` that must be escaped (a control character,
/// `"` or `\\`), eight bytes at a time (the usual case: log text rarely contains any).
#[inline]
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    find_special(bytes, from, true)
}

/// Index of the first `"` or `\\` at or after `from`, eight bytes at a time (for skipping
/// the strings of a JSON text).
#[inline]
pub(crate) fn next_quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    find_special(bytes, from, false)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `v` that is zero. Only bytes above a zero byte can be
/// flagged wrongly (by its borrow), so the lowest flag is always exact.
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The high bit of each byte of `w` that is `"`, `\\` or (with `control`) below 0x20;
/// the lowest flag is exact (see [`zero_bytes`]).
#[inline]
fn special_flags(w: u64, control: bool) -> u64 {
    let mut flags =
        zero_bytes(w ^ (ONES * u64::from(b'"'))) | zero_bytes(w ^ (ONES * u64::from(b'\\')));
    if control {
        // A byte below 0x20 (bytes >= 0x80 never match).
        flags |= w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    }
    flags
}

/// Index of the first `"`, `\\` or (with `control`) byte below 0x20 at or after `from`:
/// a word of eight bytes per step, the match's index read from the lowest flag of the
/// word; the last few bytes one by one.
#[inline]
fn find_special(bytes: &[u8], from: usize, control: bool) -> Option<usize> {
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        let flags = special_flags(
            u64::from_le_bytes(word.try_into().expect("eight bytes")),
            control,
        );
        if flags != 0 {
            return Some(i + (flags.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let special = |b: u8| b == b'"' || b == b'\\' || (control && b < 0x20);
    bytes
        .get(i..)?
        .iter()
        .position(|&b| special(b))
        .map(|p| i + p)
}

/// The length of the escaped form of one byte of UTF-8 (continuation bytes count 1).
#[inline]
pub(crate) fn escaped_byte_len(b: u8) -> usize {
    match ESCAPE[b as usize] {
        0 => 1,
        b'u' => 6,
        _ => 2,
    }
}

/// The length of `s` once escaped, without the quotes.
pub(crate) fn escaped_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = bytes.len();
    let mut from = 0;
    while let Some(i) = next_escape(bytes, from) {
        len += escaped_byte_len(bytes[i]) - 1;
        from = i + 1;
    }
    len
}

/// Appends a signed integer.
#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    CompactFormatter
        .write_i64(out, v)
        .expect("writing to a Vec cannot fail");
}

/// Appends an unsigned integer.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    CompactFormatter
        .write_u64(out, v)
        .expect("writing to a Vec cannot fail");
}

/// Appends a float: the shortest text that reads back as the same `f64` when finite,
/// `null` otherwise (JSON has no NaN or infinity).
#[inline]
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        CompactFormatter
            .write_f64(out, v)
            .expect("writing to a Vec cannot fail");
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The number of decimal digits of `v`.
#[inline]
pub(crate) fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) {
        let mut out = Vec::new();
        write_str(&mut out, s);
        assert_eq!(
            out,
            serde_json::to_vec(s).expect("strings serialize"),
            "escaping {s:?}"
        );
        assert_eq!(escaped_len(s) + 2, out.len());
        let back: String = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(back, s);
    }

    #[test]
    fn escapes_like_serde_json() {
        check("");
        check("plain");
        check("quote \" backslash \\ slash /");
        check("\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}");
        check("non-ASCII é ü 日本 😀 \u{2028}");
        let all: String = (0u8..0x80).map(char::from).collect();
        check(&all);
    }

    proptest::proptest! {
        #[test]
        fn escapes_any_string_like_serde_json(
            s in proptest::string::string_regex("(?s)[a-z \"\\\\\x00-\x1f\x7fé😀]{0,40}").expect("valid regex"),
        ) {
            check(&s);
        }

        #[test]
        fn the_word_scan_finds_what_a_byte_loop_finds(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::u8::ANY,
                    proptest::strategy::Just(b'"'),
                    proptest::strategy::Just(b'\\'),
                    0u8..0x20,
                    0x20u8..0x30,
                ],
                0..40,
            ),
            from in 0usize..41,
        ) {
            let from = from.min(bytes.len());
            let naive = |special: &dyn Fn(u8) -> bool| {
                bytes[from..].iter().position(|&b| special(b)).map(|p| from + p)
            };
            proptest::prop_assert_eq!(
                next_escape(&bytes, from),
                naive(&|b| ESCAPE[b as usize] != 0)
            );
            proptest::prop_assert_eq!(
                next_quote_or_backslash(&bytes, from),
                naive(&|b| b == b'"' || b == b'\\')
            );
        }
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        write_i64(&mut out, i64::MIN);
        out.push(b' ');
        write_u64(&mut out, u64::MAX);
        out.push(b' ');
        write_f64(&mut out, 19.4);
        out.push(b' ');
        write_f64(&mut out, 3.0);
        out.push(b' ');
        write_f64(&mut out, f64::NAN);
        out.push(b' ');
        write_f64(&mut out, f64::NEG_INFINITY);
        assert_eq!(
            String::from_utf8(out).expect("ASCII"),
            "-9223372036854775808 18446744073709551615 19.4 3.0 null null"
        );
    }

    #[test]
    fn decimal_lengths() {
        for v in [0u64, 9, 10, 99, 100, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(decimal_len(v), v.to_string().len(), "{v}");
        }
    }
}
