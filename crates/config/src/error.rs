//! The one error type: every error about the file names the file, the line, the column and the
//! key path, like `logferry.toml:12:10: sinks.taegis.inputs[1]: unknown source `authh``.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// 0-based byte offset in the file.
    pub offset: usize,
}

impl Location {
    /// The start of the file (1:1), for errors about something missing from the whole file.
    pub const START: Location = Location {
        line: 1,
        column: 1,
        offset: 0,
    };

    /// The location of byte `offset` in `text` (clamped to the text and moved back to a
    /// character boundary).
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.bytes().filter(|&b| b == b'\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            offset,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// An error reading or checking a configuration file.
///
/// `Display` is `FILE:LINE:COL: KEY.PATH: message` for errors about the content, and
/// `FILE: message` when the file cannot be read. No value that came from the environment
/// is ever part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    path: PathBuf,
    location: Option<Location>,
    key_path: String,
    message: String,
}

impl ConfigError {
    /// An error at `location` in the file `config_path`, about the key `key_path` (such as
    /// `sinks.taegis.inputs[1]`; empty when about no key in particular).
    ///
    /// `message` must not quote a value that came from the environment (see
    /// [`SinkOption::from_env`](crate::SinkOption::from_env)).
    pub fn at(
        config_path: &Path,
        location: Location,
        key_path: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            path: config_path.to_owned(),
            location: Some(location),
            key_path: key_path.into(),
            message: message.into(),
        }
    }

    /// The file could not be read.
    pub(crate) fn unreadable(config_path: &Path, error: &std::io::Error) -> ConfigError {
        ConfigError {
            path: config_path.to_owned(),
            location: None,
            key_path: String::new(),
            message: format!("cannot read the configuration file: {error}"),
        }
    }

    /// The configuration file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where in the file; `None` when the file could not be read.
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// The key at fault, such as `sinks.taegis.inputs[1]` (empty when none).
    pub fn key_path(&self) -> &str {
        &self.key_path
    }

    /// What is wrong, without the file, position and key.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(location) = self.location {
            write!(f, ":{location}")?;
        }
        if !self.key_path.is_empty() {
            write!(f, ": {}", self.key_path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The candidate closest to `wrong`, when one is close enough to be a likely typo (a few
/// characters apart, or the start of the candidate); `-` and `_` count as the same
/// character, and case is ignored.
///
/// ```
/// assert_eq!(logferry_config::did_you_mean("inptus", &["inputs", "type"]).as_deref(), Some("inputs"));
/// assert_eq!(logferry_config::did_you_mean("max-record-bytes", &["max_record_bytes"]).as_deref(), Some("max_record_bytes"));
/// assert_eq!(logferry_config::did_you_mean("move", &["move_to"]).as_deref(), Some("move_to"));
/// assert_eq!(logferry_config::did_you_mean("colour", &["inputs", "type"]), None);
/// ```
pub fn did_you_mean(wrong: &str, candidates: &[&str]) -> Option<String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let wrong_n = norm(wrong);
    let limit = (wrong_n.chars().count() / 3).clamp(1, 3);
    let close = candidates
        .iter()
        .map(|c| (strsim::levenshtein(&wrong_n, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned());
    close.or_else(|| {
        (wrong_n.len() >= 3)
            .then(|| candidates.iter().find(|c| norm(c).starts_with(&wrong_n)))
            .flatten()
            .map(|c| (*c).to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(Location::of_offset(text, 0).to_string(), "1:1");
        assert_eq!(Location::of_offset(text, 6).to_string(), "2:1");
        // `=` after a two-byte character is the fourth character.
        assert_eq!(Location::of_offset(text, 10).to_string(), "2:4");
        assert_eq!(Location::of_offset(text, 1000).line, 3);
    }
}
