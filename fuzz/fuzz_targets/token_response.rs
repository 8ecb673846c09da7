//! Fuzzes the Taegis token endpoint's response parser; the properties live in
//! `logferry_taegis_upload::fuzzing::token_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    logferry_taegis_upload::fuzzing::token_response(data);
});
