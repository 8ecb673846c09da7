//! Durations: `"250ms"`, `"90s"`, `"15m"`, `"2h"`, or whole seconds (`30` or `"30"`).

use std::time::Duration;

/// What a duration looks like, for error messages.
pub(crate) const EXPECTED: &str =
    "a duration like \"250ms\", \"90s\", \"15m\", \"2h\" or whole seconds";

/// Parses a duration string; `None` when it is not one.
pub(crate) fn parse(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse("2h"), Some(Duration::from_secs(7200)));
        for bad in ["", "s", "1d", "1.5s", "-1s", " 1s", "99999999999999999999h"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
