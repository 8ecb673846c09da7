//! Criterion benches for logferry, and the `gzip-limit` tool of `cargo xtask bench`. The
//! deterministic corpora they measure (syslog-like text and NDJSON events, the same bytes
//! on every run and every machine, so figures can be compared) are
//! [`logferry_emulator::sample`]'s, re-exported as [`corpus`].
//!
//! ```
//! let a = logferry_benches::corpus::syslog(10_000, 7);
//! assert_eq!(a, logferry_emulator::sample::syslog(10_000, 7));
//! ```

pub mod corpus;
