//! Deterministic corpora for logferry's benchmarks: syslog-like text and NDJSON events
//! with realistic variety (several programs, IP addresses, users, URLs, durations), the
//! same bytes on every run and every machine so figures can be compared.
//!
//! ```
//! let a = logferry_benches::corpus::syslog(10_000, 7);
//! assert_eq!(a, logferry_benches::corpus::syslog(10_000, 7));
//! assert!(a.len() >= 10_000 && a.ends_with(b"\n"));
//! ```

pub mod corpus;
