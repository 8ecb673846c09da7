//! Fuzzes the emulator's SDL addEvents parser and validator; the properties live in
//! `logferry_emulator::fuzzing::sdl_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    logferry_emulator::fuzzing::sdl_request(data);
});
