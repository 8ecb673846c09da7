//! Fuzz the Retry-After parser: delta-seconds are digits only, dates round-trip through
//! their HTTP-date form, nothing panics (see `logferry_retry::fuzz_retry_after`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_retry::fuzz_retry_after(data));
