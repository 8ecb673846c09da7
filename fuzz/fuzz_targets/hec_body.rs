//! Fuzz the Splunk HEC body parsers (`/event` and `/raw`): no panic, errors point inside the
//! body with a JSON reply (see `logferry_syslog::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_syslog::fuzzing::hec_body(data));
