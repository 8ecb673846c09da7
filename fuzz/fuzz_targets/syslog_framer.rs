//! Fuzz the RFC 6587 TCP framer: any cut of the input frames like the whole, frames stay
//! within the maximum, memory stays bounded (see `logferry_syslog::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_syslog::fuzzing::syslog_framer(data));
