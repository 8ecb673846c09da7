//! The `Retry-After` response header (RFC 9110, section 10.2.3): "indicate how long the
//! user agent ought to wait before making a follow-up request", as delay-seconds or an
//! HTTP-date.
//!
//! Parsing is separate from resolving: [`RetryAfter::parse`] needs no clock, and
//! [`RetryAfter::delay_from`] turns the value into a wait given the wall-clock time the
//! caller trusts. This keeps the classifiers pure and the driver testable under a paused
//! clock.

use crate::Error;
use http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// A server-given earliest time for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryAfter {
    /// `Retry-After: 120`: wait this long from when the response arrived.
    Delay(Duration),
    /// `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`: do not retry before this instant.
    At(SystemTime),
}

impl RetryAfter {
    /// Parses one `Retry-After` header value.
    ///
    /// Accepts delay-seconds (`1*DIGIT`; values too large for a `u64` saturate, the policy's
    /// ceiling bounds them anyway) and the three HTTP-date forms RFC 9110 requires recipients
    /// to accept (IMF-fixdate, RFC 850, asctime). Leading and trailing spaces and tabs are
    /// ignored. Anything else (a sign, a fraction, an empty value, other text) is an error.
    pub fn parse(value: &HeaderValue) -> Result<RetryAfter, Error> {
        RetryAfter::from_bytes(value.as_bytes())
    }

    /// [`RetryAfter::parse`] over raw bytes: the entry point for fuzzing. Never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<RetryAfter, Error> {
        let value = trim_ows(bytes);
        if value.is_empty() {
            return Err(Error::InvalidRetryAfter { reason: "empty" });
        }
        if value.iter().all(u8::is_ascii_digit) {
            let secs = value.iter().fold(0_u64, |acc, &d| {
                acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            });
            return Ok(RetryAfter::Delay(Duration::from_secs(secs)));
        }
        let text = std::str::from_utf8(value).map_err(|_| Error::InvalidRetryAfter {
            reason: "not ascii text",
        })?;
        httpdate::parse_http_date(text)
            .map(RetryAfter::At)
            .map_err(|_| Error::InvalidRetryAfter {
                reason: "neither delay-seconds nor an http-date",
            })
    }

    /// The first `Retry-After` header of a response, if present and valid.
    ///
    /// An invalid value is ignored, as the HTTP Ingest contract asks of headers a sender does
    /// not understand: "senders SHOULD be implemented to ignore unrecognized optional
    /// response headers".
    pub fn from_headers(headers: &HeaderMap) -> Option<RetryAfter> {
        headers
            .get(RETRY_AFTER)
            .and_then(|value| RetryAfter::parse(value).ok())
    }

    /// How long to wait from `now` (the wall-clock time the response was received).
    /// A date in the past means no wait.
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            RetryAfter::Delay(delay) => delay,
            RetryAfter::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

/// Strips RFC 9110 optional whitespace (SP / HTAB) from both ends.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Property checks for a fuzz target: `fuzz/fuzz_targets/retry_after.rs` calls this with
/// arbitrary bytes.
#[doc(hidden)]
pub fn fuzz_retry_after(data: &[u8]) {
    match RetryAfter::from_bytes(data) {
        Ok(RetryAfter::Delay(delay)) => {
            let digits = trim_ows(data);
            assert!(!digits.is_empty() && digits.iter().all(u8::is_ascii_digit));
            // Resolving a delay ignores the clock.
            assert_eq!(
                RetryAfter::Delay(delay).delay_from(SystemTime::UNIX_EPOCH),
                delay
            );
        }
        Ok(RetryAfter::At(at)) => {
            // A parsed date formats back to a date that parses to the same instant.
            let again = httpdate::fmt_http_date(at);
            assert_eq!(
                RetryAfter::from_bytes(again.as_bytes()),
                Ok(RetryAfter::At(at))
            );
            assert_eq!(RetryAfter::At(at).delay_from(at), Duration::ZERO);
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expect: Option<RetryAfter>) {
        assert_eq!(
            RetryAfter::from_bytes(input.as_bytes()).ok(),
            expect,
            "{input:?}"
        );
    }

    fn at(secs: u64) -> Option<RetryAfter> {
        Some(RetryAfter::At(
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        ))
    }

    #[test]
    fn delay_seconds() {
        check("0", Some(RetryAfter::Delay(Duration::ZERO)));
        check("120", Some(RetryAfter::Delay(Duration::from_secs(120))));
        check(" \t 7 ", Some(RetryAfter::Delay(Duration::from_secs(7))));
        check("007", Some(RetryAfter::Delay(Duration::from_secs(7))));
        check(
            "99999999999999999999999999",
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX))),
        );
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        // RFC 9110, section 5.6.7 examples: 1994-11-06 08:49:37 UTC.
        check("Sun, 06 Nov 1994 08:49:37 GMT", at(784_111_777));
        check("Sunday, 06-Nov-94 08:49:37 GMT", at(784_111_777));
        check("Sun Nov  6 08:49:37 1994", at(784_111_777));
        check("  Sun, 06 Nov 1994 08:49:37 GMT\t", at(784_111_777));
    }

    #[test]
    fn garbage_is_refused() {
        for input in [
            "",
            "   ",
            "-1",
            "+5",
            "1.5",
            "1e3",
            "soon",
            "12 s",
            "0x10",
            "Sun, 32 Nov 1994",
        ] {
            check(input, None);
        }
        assert!(RetryAfter::from_bytes(&[0xff, b'1']).is_err());
        assert_eq!(
            RetryAfter::from_bytes(b"later").unwrap_err().to_string(),
            "invalid retry-after value: neither delay-seconds nor an http-date"
        );
    }

    #[test]
    fn from_headers_ignores_invalid_values() {
        let mut headers = HeaderMap::new();
        assert_eq!(RetryAfter::from_headers(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("nonsense"));
        assert_eq!(RetryAfter::from_headers(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
        assert_eq!(
            RetryAfter::from_headers(&headers),
            Some(RetryAfter::Delay(Duration::from_secs(30)))
        );
    }

    #[test]
    fn dates_resolve_against_the_given_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let later = RetryAfter::At(now + Duration::from_secs(90));
        assert_eq!(later.delay_from(now), Duration::from_secs(90));
        let past = RetryAfter::At(now - Duration::from_secs(5));
        assert_eq!(past.delay_from(now), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            fuzz_retry_after(&data);
        }

        #[test]
        fn formatted_dates_round_trip(secs in 0_u64..4_102_444_800) {
            let when = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let text = httpdate::fmt_http_date(when);
            prop_assert_eq!(RetryAfter::from_bytes(text.as_bytes()), Ok(RetryAfter::At(when)));
        }
    }
}
