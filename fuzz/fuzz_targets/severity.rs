//! Fuzz the severity parser: only 0-6 come out, seed names parse to themselves.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_sdl_model::fuzzing::severity(data));
