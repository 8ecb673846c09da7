//! Fuzz the configuration reader: `parse` never panics, its errors point inside the text,
//! and no environment value shows in an error or a `Debug` (see `logferry_config::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_config::fuzzing::config(data));
