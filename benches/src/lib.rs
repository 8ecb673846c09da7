//! Criterion benches for logferry (`benches/*.rs`), and the `gzip-limit` tool of
//! `cargo xtask bench`. The deterministic corpora they measure (syslog-like text and
//! NDJSON events, the same bytes on every run and every machine, so figures can be
//! compared) are `logferry_emulator::sample`'s.
