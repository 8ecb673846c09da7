//! Exit codes and the one-line error a usage mistake gets.

use std::process::ExitCode;

/// How a run ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: everything was delivered (or, for `check`, no problem found).
    Success = 0,
    /// 1: something could not be delivered (or `check` found problems); the summary
    /// says what and where it went.
    Undelivered = 1,
    /// 2: a usage or configuration error found before sending.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A configuration error found before anything was sent: printed as one line, exit 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Returns a [`UsageError`] from the current function.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::exit::UsageError(format!($($arg)*))))
    };
}
pub(crate) use usage;

/// An error and its causes on one line: `what: because: because`.
pub(crate) use logferry::pipeline::chain;
