//! Syslog timestamps: what the message says ([`Timestamp`]), and how a time without a year or
//! zone (RFC 3164) becomes an instant ([`ParseOptions`]).
//!
//! Parsing never guesses: a 3164 timestamp keeps `year: None` and `offset_secs: None`. Only
//! [`Timestamp::unix_nanos`] fills them in, from the options:
//!
//! - **Year**: of the years around the receipt time (the year before, the receipt year in the
//!   configured zone, the year after), the one that puts the message closest to its receipt.
//!   A `Dec 31 23:59:59` received on 1 January is last year's; a `Jan  1 00:00:01` received
//!   a second before midnight on 31 December is next year's (a sender's clock slightly ahead).
//! - **Zone**: [`Zone::Utc`] or a fixed offset. The socket layer passes the local offset
//!   when configured so; this crate reads no clock and no time zone database.

/// How to read timestamps that lack a year or zone (RFC 3164).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// When the message was received, in Unix seconds: picks the year of a 3164 timestamp.
    pub received_unix_secs: i64,
    /// The zone of timestamps without an offset.
    pub zone: Zone,
}

impl ParseOptions {
    /// Options for a message received at `received_unix_secs`, zone UTC.
    pub fn received_at(received_unix_secs: i64) -> Self {
        ParseOptions {
            received_unix_secs,
            zone: Zone::Utc,
        }
    }
}

/// The zone assumed for a timestamp without an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// Coordinated Universal Time (the default).
    #[default]
    Utc,
    /// A fixed offset east of UTC in seconds (the host's local offset, computed by the caller).
    Offset(i32),
}

impl Zone {
    fn secs(self) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Offset(s) => i64::from(s),
        }
    }
}

/// A timestamp as written in the message, fields checked for range (a day exists in its month
/// when the year is known; 29 February without a year is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// The year, absent in RFC 3164.
    pub year: Option<u16>,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59 (RFC 5424 §6.2.3 forbids leap seconds).
    pub second: u8,
    /// Fraction of the second in nanoseconds (RFC 5424 allows six digits; up to nine are read).
    pub nanos: u32,
    /// Offset east of UTC in seconds (`Z` is 0); absent in RFC 3164.
    pub offset_secs: Option<i32>,
}

impl Timestamp {
    /// The instant in Unix nanoseconds, the year and zone taken from `opts` where the message
    /// has none (see the module docs). `None` outside what an `i64` of nanoseconds holds
    /// (years 1678–2261) or for a 29 February that no candidate year has.
    pub fn unix_nanos(&self, opts: &ParseOptions) -> Option<i64> {
        let offset = self.offset_secs.map_or(opts.zone.secs(), i64::from);
        let secs = match self.year {
            Some(year) => self.local_secs(i64::from(year))? - offset,
            None => {
                let received_local = opts.received_unix_secs.checked_add(opts.zone.secs())?;
                let year = civil_from_days(received_local.div_euclid(86_400)).0;
                let mut best: Option<i64> = None;
                for y in [year - 1, year, year + 1] {
                    let Some(local) = self.local_secs(y) else {
                        continue;
                    };
                    let candidate = local - offset;
                    let distance = (candidate - opts.received_unix_secs).abs();
                    if best.is_none_or(|b| distance < (b - opts.received_unix_secs).abs()) {
                        best = Some(candidate);
                    }
                }
                best?
            }
        };
        secs.checked_mul(1_000_000_000)?
            .checked_add(i64::from(self.nanos))
    }

    /// Seconds since the epoch of this wall-clock time in year `year`, zone ignored.
    fn local_secs(&self, year: i64) -> Option<i64> {
        if self.day > days_in_month(year, self.month) {
            return None;
        }
        let days = days_from_civil(year, self.month, self.day);
        Some(
            days * 86_400
                + i64::from(self.hour) * 3600
                + i64::from(self.minute) * 60
                + i64::from(self.second),
        )
    }
}

pub(crate) fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, `days_from_civil`).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01 (H. Hinnant, `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for days in [-800_000, -1, 0, 1, 59, 365, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
