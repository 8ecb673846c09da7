//! The crate's error type.

/// Why a configuration or a `Retry-After` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `Retry-After` header value that is neither delay-seconds nor an HTTP-date
    /// (RFC 9110, section 10.2.3).
    #[error("invalid retry-after value: {reason}")]
    InvalidRetryAfter {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A [`Config`](crate::Config) or [`BudgetConfig`](crate::BudgetConfig) field out of range.
    #[error("invalid retry config: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field, as named in the config struct.
        field: &'static str,
        /// The rule it broke.
        reason: &'static str,
    },
}
