//! Fuzzes the emulator's HTTP Ingest body handling (UTF-8, line framing, JSON, gzip); the
//! properties live in `logferry_emulator::fuzzing::ingest_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    logferry_emulator::fuzzing::ingest_body(data);
});
