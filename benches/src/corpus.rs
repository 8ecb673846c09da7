//! The corpora the benchmarks measure: [`logferry_emulator::sample`]'s generators, which
//! moved there so the `logferry` binary's demo does not depend on this crate. Re-exported
//! here for `cargo xtask bench` and other callers of `logferry_benches::corpus`.

pub use logferry_emulator::sample::{ndjson, syslog};
