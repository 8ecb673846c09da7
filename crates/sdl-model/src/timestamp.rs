//! [`Timestamp`]: nanoseconds since the Unix epoch, written as a JSON string of digits.
//!
//! The seed: "`ts` is the timestamp for the event. This is a string, not a number. (Some
//! JSON packages convert numbers to floating-point, and a standard 64-bit floating-point
//! value is not large enough for a nanosecond timestamp.)"

use crate::Error;
use std::fmt;
use std::str::FromStr;

/// An event time in nanoseconds since 1970-01-01T00:00:00Z, the unit of the SDL `ts` field.
///
/// Serialized (by serde and by the request builder) as a string of decimal digits,
/// never as a JSON number. Any `u64` is valid (up to the year 2554).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

const NANOS_PER_SEC: u64 = 1_000_000_000;

impl Timestamp {
    /// The epoch itself.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The largest representable time.
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// A timestamp from nanoseconds since the epoch.
    pub const fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time as a [`std::time::SystemTime`] offset (callers pass `SystemTime::now()`
    /// through this to obtain the "now" that [`crate::Event::from_json_object`] needs).
    /// Times before the epoch give [`Timestamp::EPOCH`]; times past the year 2554 saturate.
    pub fn from_system_time(t: std::time::SystemTime) -> Timestamp {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            Err(_) => Timestamp::EPOCH,
        }
    }

    /// Parses a string of ASCII digits (the wire form of `ts`): no sign, no spaces, no
    /// decimal point, at least one digit, at most `u64::MAX`.
    pub fn from_digits(s: &str) -> Result<Timestamp, Error> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidTimestamp {
                input: truncated(s),
                reason: "expected a string of decimal digits",
            });
        }
        s.parse::<u64>()
            .map(Timestamp)
            .map_err(|_| Error::InvalidTimestamp {
                input: truncated(s),
                reason: "nanoseconds do not fit in 64 bits",
            })
    }

    /// An epoch time whose unit is guessed from its magnitude, as log producers write
    /// seconds, milliseconds, microseconds or nanoseconds:
    ///
    /// | value | read as |
    /// |---|---|
    /// | below 10¹¹ | seconds (up to the year 5138) |
    /// | below 10¹⁴ | milliseconds |
    /// | below 10¹⁷ | microseconds |
    /// | otherwise | nanoseconds |
    ///
    /// (So millisecond times before 1973-03-03 are misread as seconds: an accepted
    /// limit of the heuristic.) Times past `u64` nanoseconds (the year 2554) are errors.
    pub fn from_epoch_auto(value: u64) -> Result<Timestamp, Error> {
        let scale = if value < 100_000_000_000 {
            NANOS_PER_SEC
        } else if value < 100_000_000_000_000 {
            1_000_000
        } else if value < 100_000_000_000_000_000 {
            1_000
        } else {
            1
        };
        value
            .checked_mul(scale)
            .map(Timestamp)
            .ok_or_else(|| Error::InvalidTimestamp {
                input: value.to_string(),
                reason: "epoch number past the year 2554",
            })
    }

    /// Like [`Timestamp::from_epoch_auto`] for a decimal written as text (`"1667443947.123456789"`),
    /// read exactly: the unit comes from the integer part's magnitude, and fraction digits
    /// past nanoseconds are dropped. A string without `.` is an integer.
    pub fn from_epoch_decimal(s: &str) -> Result<Timestamp, Error> {
        let bad = |reason| Error::InvalidTimestamp {
            input: truncated(s),
            reason,
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad("expected decimal digits with at most one `.`"));
        }
        let whole = if int.is_empty() {
            0
        } else {
            int.parse::<u64>()
                .map_err(|_| bad("epoch number past the year 2554"))?
        };
        let base = Timestamp::from_epoch_auto(whole)?.as_nanos();
        // Nanoseconds per unit, so the fraction digits that count: 9, 6, 3 or none.
        let scale = base.checked_div(whole).unwrap_or(NANOS_PER_SEC);
        let mut nanos = 0u64;
        let mut unit = scale;
        for d in frac.bytes() {
            if unit < 10 {
                break;
            }
            unit /= 10;
            nanos += u64::from(d - b'0') * unit;
        }
        base.checked_add(nanos)
            .map(Timestamp)
            .ok_or_else(|| bad("epoch number past the year 2554"))
    }

    /// Like [`Timestamp::from_epoch_auto`] for a fractional number (`1667443947.25` is a
    /// quarter second past a whole second). Negative, non-finite and too-large values are
    /// errors. Precision is that of the `f64`: about 0.25 µs for seconds in this century.
    pub fn from_epoch_auto_f64(value: f64) -> Result<Timestamp, Error> {
        if !value.is_finite() || !(0.0..1.8e19).contains(&value) {
            return Err(Error::InvalidTimestamp {
                input: value.to_string(),
                reason: "epoch number out of range",
            });
        }
        let scale: u64 = if value < 1e11 {
            NANOS_PER_SEC
        } else if value < 1e14 {
            1_000_000
        } else if value < 1e17 {
            1_000
        } else {
            1
        };
        let whole = value.trunc();
        // `as` on a finite, non-negative f64 below 2^64 is exact for its integer part.
        let frac = ((value - whole) * scale as f64).round() as u64;
        (whole as u64)
            .checked_mul(scale)
            .and_then(|n| n.checked_add(frac))
            .map(Timestamp)
            .ok_or_else(|| Error::InvalidTimestamp {
                input: value.to_string(),
                reason: "epoch number out of range",
            })
    }

    /// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    ///
    /// Accepted as RFC 3339 allows: a lowercase `t`/`z`, a space instead of `T` (RFC 3339
    /// section 5.6 note), any number of fraction digits (digits past nanoseconds are
    /// dropped), and a leap second `:60`, read as `:59.999999999`. Times before 1970 are
    /// errors, since `ts` is unsigned.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, Error> {
        rfc3339(s.as_bytes(), false).ok_or_else(|| Error::InvalidTimestamp {
            input: truncated(s),
            reason: "expected an RFC 3339 date-time at or after 1970",
        })
    }

    /// Parses the date-times real logs carry: RFC 3339 ([`Timestamp::parse_rfc3339`]) and
    /// these relaxations of it (ISO 8601 forms that loggers write):
    ///
    /// | form | example |
    /// |---|---|
    /// | no zone: read as **UTC** (the one assumption; a log written in local time without an offset can't be told apart) | `2022-11-03T02:52:27.5` |
    /// | an offset without a colon, or hours only | `…27+0200`, `…27-05` |
    /// | a comma before the fraction (ISO 8601, log4j, Python's `asctime`) | `2022-11-03 02:52:27,500` |
    /// | a space (or `t`) instead of `T` | `2022-11-03 02:52:27Z` |
    /// | a space before the zone, or the zone spelled `UTC`/`GMT` | `2022-11-03 02:52:27 +0000`, `…27 UTC` |
    ///
    /// Epoch numbers are read by [`Timestamp::from_epoch_auto`]. Times before 1970 are
    /// errors.
    pub fn parse_lenient(s: &str) -> Result<Timestamp, Error> {
        rfc3339(s.trim().as_bytes(), true).ok_or_else(|| Error::InvalidTimestamp {
            input: truncated(s),
            reason: "expected an ISO 8601 / RFC 3339 date-time at or after 1970",
        })
    }
}

impl From<u64> for Timestamp {
    fn from(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }
}

impl fmt::Display for Timestamp {
    /// The wire form: decimal nanoseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    /// The wire form only (see [`Timestamp::from_digits`]).
    fn from_str(s: &str) -> Result<Timestamp, Error> {
        Timestamp::from_digits(s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string of digits (nanoseconds since the epoch)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::from_digits(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// At most 64 characters of `s`, for error messages.
pub(crate) fn truncated(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |acc, d| acc * 10 + u64::from(d - b'0')))
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), for years 1970 and later.
fn days_from_civil(y: i64, m: u64, d: u64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        _ => 28,
    }
}

fn rfc3339(b: &[u8], lenient: bool) -> Option<Timestamp> {
    // YYYY-MM-DDTHH:MM:SS is 19 bytes.
    if b.len() < if lenient { 19 } else { 20 }
        || b[4] != b'-'
        || b[7] != b'-'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let mut second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u64;
    if let [b'.', tail @ ..] | [b',', tail @ ..] = rest
        && (lenient || rest[0] == b'.')
    {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, d) in tail[..n].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u64::from(d - b'0');
            }
        }
        for _ in n..9 {
            nanos *= 10;
        }
        rest = &tail[n..];
    }
    if second == 60 {
        second = 59;
        nanos = 999_999_999;
    }
    if lenient && let [b' ', tail @ ..] = rest {
        rest = tail;
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [] | [b'U', b'T', b'C'] | [b'G', b'M', b'T'] if lenient => 0,
        [sign @ (b'+' | b'-'), h1, h2, rest @ ..] if lenient && matches!(rest.len(), 0 | 2) => {
            let h = digits(&[*h1, *h2])?;
            let m = if rest.is_empty() { 0 } else { digits(rest)? };
            if h > 23 || m > 59 {
                return None;
            }
            let off = (h * 3600 + m * 60) as i64;
            if *sign == b'+' { off } else { -off }
        }
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let off = (h * 3600 + m * 60) as i64;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(NANOS_PER_SEC)?
        .checked_add(nanos)
        .map(Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> u64 {
        Timestamp::parse_rfc3339(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .as_nanos()
    }

    #[test]
    fn rfc3339_examples() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), 0);
        // The seed's example event: 1667443947000000000.
        assert_eq!(ts("2022-11-03T02:52:27Z"), 1_667_443_947_000_000_000);
        assert_eq!(ts("2022-11-03T02:52:27.5Z"), 1_667_443_947_500_000_000);
        assert_eq!(
            ts("2019-09-26T03:34:53.522532294Z"),
            1_569_468_893_522_532_294
        );
        assert_eq!(
            ts("2019-09-26T03:34:53.5225322949999Z"),
            1_569_468_893_522_532_294
        );
        assert_eq!(ts("2022-11-03t04:52:27+02:00"), 1_667_443_947_000_000_000);
        assert_eq!(ts("2022-11-02 21:52:27-05:00"), 1_667_443_947_000_000_000);
        assert_eq!(ts("2000-02-29T00:00:00z"), 951_782_400_000_000_000);
        assert_eq!(ts("2016-12-31T23:59:60Z"), 1_483_228_799_999_999_999);
        assert_eq!(ts("2262-04-11T23:47:16.854775807Z"), i64::MAX as u64);
    }

    #[test]
    fn rfc3339_rejects() {
        for bad in [
            "",
            "2022-11-03",
            "2022-11-03T02:52:27",
            "2022-11-03T02:52:27.Z",
            "2022-13-03T02:52:27Z",
            "2022-02-29T02:52:27Z",
            "2022-11-31T02:52:27Z",
            "2022-11-03T24:00:00Z",
            "2022-11-03T02:60:00Z",
            "2022-11-03T02:52:61Z",
            "2022-11-03T02:52:27+0200",
            "2022-11-03T02:52:27+24:00",
            "2022-11-03X02:52:27Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "+022-11-03T02:52:27Z",
            "2022-11-03T02:52:27Zjunk",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lenient_forms_real_logs_carry() {
        let want = 1_667_443_947_000_000_000;
        let half = want + 500_000_000;
        for (text, nanos) in [
            ("2022-11-03T02:52:27", want), // no zone: UTC
            ("2022-11-03 02:52:27", want),
            ("2022-11-03T02:52:27.5", half),
            ("2022-11-03 02:52:27,500", half), // log4j / Python asctime
            ("2022-11-03T04:52:27+0200", want),
            ("2022-11-03T04:52:27+02", want),
            ("2022-11-02T21:52:27-0500", want),
            ("2022-11-03 04:52:27,5+02:00", half),
            ("2022-11-03 02:52:27 +0000", want),
            ("2022-11-03 02:52:27 UTC", want),
            ("2022-11-03T02:52:27Z", want),
            (" 2022-11-03T02:52:27Z ", want),
        ] {
            assert_eq!(
                Timestamp::parse_lenient(text).map(Timestamp::as_nanos).ok(),
                Some(nanos),
                "{text}"
            );
        }
        for bad in [
            "2022-11-03",
            "2022-11-03T02:52",
            "2022-11-03T02:52:27,",
            "2022-11-03T02:52:27+2",
            "2022-11-03T02:52:27+02:0",
            "2022-11-03T02:52:27 PST",
            "12:30:01",
            "1969-12-31 23:59:59",
        ] {
            assert!(Timestamp::parse_lenient(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn epoch_magnitudes() {
        let want = 1_667_443_947_000_000_000;
        for v in [
            1_667_443_947u64,
            1_667_443_947_000,
            1_667_443_947_000_000,
            1_667_443_947_000_000_000,
        ] {
            assert_eq!(
                Timestamp::from_epoch_auto(v).map(Timestamp::as_nanos).ok(),
                Some(want),
                "{v}"
            );
        }
        assert_eq!(
            Timestamp::from_epoch_auto_f64(1_667_443_947.25)
                .expect("valid")
                .as_nanos(),
            1_667_443_947_250_000_000
        );
        assert_eq!(
            Timestamp::from_epoch_auto_f64(1_667_443_947_123.0)
                .expect("valid")
                .as_nanos(),
            1_667_443_947_123_000_000
        );
        // Seconds, milliseconds and microseconds past the year 2554 do not fit.
        for v in [
            99_999_999_999u64,
            99_999_999_999_999,
            99_999_999_999_999_999,
        ] {
            assert!(Timestamp::from_epoch_auto(v).is_err(), "{v}");
        }
        assert!(Timestamp::from_epoch_auto(u64::MAX).is_ok());
        assert!(Timestamp::from_epoch_auto_f64(99_999_999_999.0).is_err());
        assert!(Timestamp::from_epoch_auto_f64(-1.0).is_err());
        assert!(Timestamp::from_epoch_auto_f64(f64::NAN).is_err());
        assert!(Timestamp::from_epoch_auto_f64(1e30).is_err());
    }

    #[test]
    fn epoch_decimals_are_exact() {
        let d = |s: &str| {
            Timestamp::from_epoch_decimal(s)
                .map(Timestamp::as_nanos)
                .ok()
        };
        assert_eq!(d("1667443947.123456789"), Some(1_667_443_947_123_456_789));
        assert_eq!(d("1667443947.1234567891"), Some(1_667_443_947_123_456_789));
        assert_eq!(d("1667443947123.456789"), Some(1_667_443_947_123_456_789));
        assert_eq!(d("1667443947123456.789"), Some(1_667_443_947_123_456_789));
        assert_eq!(d("1667443947"), Some(1_667_443_947_000_000_000));
        assert_eq!(d("1667443947."), Some(1_667_443_947_000_000_000));
        for bad in ["", ".", "1.2.3", "-1.5", "1e9"] {
            assert!(d(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn digits_wire_form() {
        assert_eq!(
            Timestamp::from_digits("1667443947000000000")
                .expect("digits")
                .as_nanos(),
            1_667_443_947_000_000_000
        );
        assert_eq!(
            Timestamp::from_digits("18446744073709551615").ok(),
            Some(Timestamp::MAX)
        );
        for bad in ["", "-1", "+1", "1.0", " 1", "18446744073709551616", "1e9"] {
            assert!(Timestamp::from_digits(bad).is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&Timestamp::from_nanos(42)).expect("serializes");
        assert_eq!(json, r#""42""#);
        let back: Timestamp = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back.as_nanos(), 42);
        assert!(serde_json::from_str::<Timestamp>("42").is_err());
    }
}
