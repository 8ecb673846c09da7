//! Fuzz the syslog parser: `parse` never panics, keeps the input whole, and its message lies
//! inside the input (see `logferry_syslog::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_syslog::fuzzing::syslog_parse(data));
