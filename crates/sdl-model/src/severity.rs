//! [`Severity`]: the SDL `sev` scale, 0 to 6, and the names the seed lists for each level.
//!
//! The seed: "`sev` is the severity of the event. This field is optional (defaults to 3,
//! "info"). Set from 0 to 6. The scale is the classic "finest, finer, fine, info, warning,
//! error, and fatal":
//!
//! ```text
//! 0: "finest"
//! 1: "finer", "trace", "TRC"
//! 2: "fine", "debug", "d", "dbg", "DBG"
//! 3: "info", "inf", "notice", "i", "INF", "NOT"
//! 4: "warn", "warning", "w", "wrn", "WRN"
//! 5: "error", "err", "e", "ERR"
//! 6: "fatal", "emerg", "emergency", "crit", "critical", "panic", ""alert", "f", "CRT"
//! ```
//!
//! (Row 6's `""alert"` is a typo in the seed, read here as `alert`.)

use crate::Error;
use std::fmt;
use std::str::FromStr;

/// An event severity on the SDL scale. Always serialized as its number, 0 included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Severity {
    /// 0, "finest".
    Finest = 0,
    /// 1, "finer" / "trace".
    Finer = 1,
    /// 2, "fine" / "debug".
    Fine = 2,
    /// 3, "info": the server's default when `sev` is absent, and ours.
    #[default]
    Info = 3,
    /// 4, "warning".
    Warning = 4,
    /// 5, "error".
    Error = 5,
    /// 6, "fatal".
    Fatal = 6,
}

/// Every name in the seed's table, exactly as written there (case included), with its level.
pub const SEED_NAMES: &[(&str, Severity)] = &[
    ("finest", Severity::Finest),
    ("finer", Severity::Finer),
    ("trace", Severity::Finer),
    ("TRC", Severity::Finer),
    ("fine", Severity::Fine),
    ("debug", Severity::Fine),
    ("d", Severity::Fine),
    ("dbg", Severity::Fine),
    ("DBG", Severity::Fine),
    ("info", Severity::Info),
    ("inf", Severity::Info),
    ("notice", Severity::Info),
    ("i", Severity::Info),
    ("INF", Severity::Info),
    ("NOT", Severity::Info),
    ("warn", Severity::Warning),
    ("warning", Severity::Warning),
    ("w", Severity::Warning),
    ("wrn", Severity::Warning),
    ("WRN", Severity::Warning),
    ("error", Severity::Error),
    ("err", Severity::Error),
    ("e", Severity::Error),
    ("ERR", Severity::Error),
    ("fatal", Severity::Fatal),
    ("emerg", Severity::Fatal),
    ("emergency", Severity::Fatal),
    ("crit", Severity::Fatal),
    ("critical", Severity::Fatal),
    ("panic", Severity::Fatal),
    ("alert", Severity::Fatal),
    ("f", Severity::Fatal),
    ("CRT", Severity::Fatal),
];

/// The level names logferry reads, besides the seed's, matched in any ASCII case: the
/// long and short forms of syslog's names, and common loggers' spellings.
///
/// | level | names (any case) |
/// |---|---|
/// | 0 finest | every seed name of the level, `silly` (winston) |
/// | 1 finer | every seed name, `verbose` (Serilog, Android, winston), `vrb` |
/// | 2 fine | every seed name, `config` (java.util.logging) |
/// | 3 info | every seed name, `information`, `informational` (syslog's long form) |
/// | 4 warning | every seed name |
/// | 5 error | every seed name, `severe` (java.util.logging), `eror` |
/// | 6 fatal | every seed name (syslog's `emerg`, `alert`, `crit` included), `dpanic` (zap), `ftl` |
///
/// With the seed's table read in any case, that covers syslog's `emerg alert crit err
/// warning notice info debug` and their long forms (`emergency`, `critical`, `error`,
/// `informational`), and logger names such as `WARN`, `Warning`, `FATAL`, `TRACE`.
pub const EXTRA_NAMES: &[(&str, Severity)] = &[
    ("silly", Severity::Finest),
    ("verbose", Severity::Finer),
    ("vrb", Severity::Finer),
    ("config", Severity::Fine),
    ("information", Severity::Info),
    ("informational", Severity::Info),
    ("severe", Severity::Error),
    ("eror", Severity::Error),
    ("dpanic", Severity::Fatal),
    ("ftl", Severity::Fatal),
];

/// Syslog's numeric severities (RFC 5424 section 6.2.1, also journald's `PRIORITY`) on the
/// SDL scale, by the names the seed gives: 0 emerg, 1 alert, 2 crit → 6 (fatal); 3 err → 5;
/// 4 warning → 4; 5 notice, 6 info → 3; 7 debug → 2.
pub const SYSLOG_LEVELS: [Severity; 8] = [
    Severity::Fatal,
    Severity::Fatal,
    Severity::Fatal,
    Severity::Error,
    Severity::Warning,
    Severity::Info,
    Severity::Info,
    Severity::Fine,
];

impl Severity {
    /// A syslog numeric severity, 0 to 7 ([`SYSLOG_LEVELS`]).
    pub fn from_syslog(n: i64) -> Result<Severity, Error> {
        usize::try_from(n)
            .ok()
            .and_then(|i| SYSLOG_LEVELS.get(i).copied())
            .ok_or(Error::InvalidSeverity {
                input: n.to_string(),
            })
    }

    /// All levels, 0 to 6.
    pub const ALL: [Severity; 7] = [
        Severity::Finest,
        Severity::Finer,
        Severity::Fine,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Fatal,
    ];

    /// The wire number, 0 to 6.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The level for a number 0 to 6.
    pub fn from_number(n: i64) -> Result<Severity, Error> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Severity::ALL.get(i).copied())
            .ok_or(Error::InvalidSeverity {
                input: n.to_string(),
            })
    }

    /// The first (canonical) name of the level in the seed's table: `finest`, `finer`,
    /// `fine`, `info`, `warn`, `error`, `fatal`.
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Finest => "finest",
            Severity::Finer => "finer",
            Severity::Fine => "fine",
            Severity::Info => "info",
            Severity::Warning => "warn",
            Severity::Error => "error",
            Severity::Fatal => "fatal",
        }
    }

    /// A name from the seed's table, matched exactly (case as written there).
    pub fn from_seed_name(s: &str) -> Option<Severity> {
        SEED_NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, sev)| *sev)
    }

    /// Parses a level the way logferry reads it from input, in this order:
    ///
    /// 1. a name from the seed's table, exactly as written there (`"info"`, `"DBG"`, `"f"`);
    /// 2. a single digit `0`..`6` (`"3"`), since producers often quote numbers;
    /// 3. leniency: any name of the table, or of [`EXTRA_NAMES`], in any ASCII case
    ///    (`"INFO"`, `"Warning"`, `"Err"`, `"verbose"`, `"Informational"`), surrounding
    ///    spaces ignored, as users expect from common loggers. No two levels share a name
    ///    case-insensitively, so this is unambiguous.
    pub fn parse_lenient(s: &str) -> Result<Severity, Error> {
        if let Some(sev) = Severity::from_seed_name(s) {
            return Ok(sev);
        }
        if let [d @ b'0'..=b'6'] = s.as_bytes() {
            return Ok(Severity::ALL[usize::from(d - b'0')]);
        }
        Severity::from_name(s).ok_or_else(|| Error::InvalidSeverity {
            input: crate::timestamp::truncated(s),
        })
    }

    /// A name of the seed's table or of [`EXTRA_NAMES`], in any ASCII case, surrounding
    /// spaces ignored. Numbers are not names.
    pub fn from_name(s: &str) -> Option<Severity> {
        let s = s.trim();
        SEED_NAMES
            .iter()
            .chain(EXTRA_NAMES)
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, sev)| *sev)
    }
}

impl FromStr for Severity {
    type Err = Error;

    /// See [`Severity::parse_lenient`].
    fn from_str(s: &str) -> Result<Severity, Error> {
        Severity::parse_lenient(s)
    }
}

impl TryFrom<i64> for Severity {
    type Error = Error;

    fn try_from(n: i64) -> Result<Severity, Error> {
        Severity::from_number(n)
    }
}

impl TryFrom<u8> for Severity {
    type Error = Error;

    fn try_from(n: u8) -> Result<Severity, Error> {
        Severity::from_number(i64::from(n))
    }
}

impl From<Severity> for u8 {
    fn from(sev: Severity) -> u8 {
        sev.as_u8()
    }
}

impl fmt::Display for Severity {
    /// The canonical name, e.g. `info`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.as_u8())
    }
}

impl<'de> serde::Deserialize<'de> for Severity {
    /// A number 0 to 6 (the wire form), or a name as [`Severity::parse_lenient`] reads it.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Severity, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Severity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a severity 0 to 6 or a severity name")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Severity, E> {
                Severity::from_number(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Severity, E> {
                Severity::from_number(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Severity, E> {
                Severity::parse_lenient(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_table_exactly() {
        let rows: [&[&str]; 7] = [
            &["finest"],
            &["finer", "trace", "TRC"],
            &["fine", "debug", "d", "dbg", "DBG"],
            &["info", "inf", "notice", "i", "INF", "NOT"],
            &["warn", "warning", "w", "wrn", "WRN"],
            &["error", "err", "e", "ERR"],
            &[
                "fatal",
                "emerg",
                "emergency",
                "crit",
                "critical",
                "panic",
                "alert",
                "f",
                "CRT",
            ],
        ];
        let mut count = 0;
        for (level, names) in rows.iter().enumerate() {
            for name in *names {
                let sev = Severity::from_seed_name(name).unwrap_or_else(|| panic!("{name}"));
                assert_eq!(sev.as_u8() as usize, level, "{name}");
                assert_eq!(name.parse::<Severity>().ok(), Some(sev));
                count += 1;
            }
        }
        assert_eq!(count, SEED_NAMES.len());
    }

    #[test]
    fn numbers_and_leniency() {
        for n in 0..=6i64 {
            let sev = Severity::from_number(n).expect("in range");
            assert_eq!(i64::from(sev.as_u8()), n);
            assert_eq!(n.to_string().parse::<Severity>().ok(), Some(sev));
        }
        assert!(Severity::from_number(7).is_err());
        assert!(Severity::from_number(-1).is_err());
        assert_eq!("INFO".parse::<Severity>().ok(), Some(Severity::Info));
        assert_eq!("Warning".parse::<Severity>().ok(), Some(Severity::Warning));
        assert_eq!("trc".parse::<Severity>().ok(), Some(Severity::Finer));
        assert!(Severity::from_seed_name("INFO").is_none());
        for (name, sev) in [
            ("verbose", Severity::Finer),
            ("Informational", Severity::Info),
            (" info", Severity::Info),
            ("SEVERE", Severity::Error),
            ("Warning", Severity::Warning),
            ("FATAL", Severity::Fatal),
            ("TRACE", Severity::Finer),
            ("emerg", Severity::Fatal),
            ("Critical", Severity::Fatal),
            ("Notice", Severity::Info),
            ("dpanic", Severity::Fatal),
        ] {
            assert_eq!(name.parse::<Severity>().ok(), Some(sev), "{name}");
        }
        let syslog: Vec<u8> = (0..8)
            .map(|n| Severity::from_syslog(n).expect("0-7").as_u8())
            .collect();
        assert_eq!(syslog, [6, 6, 6, 5, 4, 3, 3, 2]);
        assert!(Severity::from_syslog(8).is_err());
        for bad in ["", "7", "infos", "\"alert", "warn ing"] {
            assert!(bad.parse::<Severity>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_always_a_number() {
        assert_eq!(
            serde_json::to_string(&Severity::Finest).expect("serializes"),
            "0"
        );
        let sev: Severity = serde_json::from_str(r#""CRT""#).expect("name");
        assert_eq!(sev, Severity::Fatal);
        let sev: Severity = serde_json::from_str("5").expect("number");
        assert_eq!(sev, Severity::Error);
        assert!(serde_json::from_str::<Severity>("9").is_err());
    }
}
