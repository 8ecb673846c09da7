//! Fuzzes the File Upload presign response parser; the properties live in
//! `logferry_taegis_upload::fuzzing::presign_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    logferry_taegis_upload::fuzzing::presign_response(data);
});
