//! A string that must never be printed: keys, tokens, client secrets.

use std::fmt;
use std::path::Path;

/// A credential. Its `Debug` and `Display` print `***`, so it can sit inside configs and
/// errors that are logged without leaking; only [`Secret::expose`] reveals it, at the one
/// place a request header is built.
///
/// ```
/// use logferry_http::Secret;
/// let key = Secret::new("s3cr3t-integration-key");
/// assert_eq!(format!("{key} {key:?}"), "*** Secret(***)");
/// assert_eq!(key.expose(), "s3cr3t-integration-key");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().into_boxed_str())
    }

    /// The credential itself. Call this only to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the credential is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a credential from a file, trimming surrounding whitespace (a trailing newline
    /// is the common case). The error names the file, never its content.
    pub fn from_file(path: &Path) -> Result<Self, crate::Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            crate::Error::config(format!("cannot read secret file {}: {e}", path.display()))
        })?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(crate::Error::config(format!(
                "secret file {} is empty",
                path.display()
            )));
        }
        Ok(Secret::new(trimmed))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret::new(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}
