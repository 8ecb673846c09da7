//! Fuzz the SDL addEvents request parser: accepted requests obey the contract, and the
//! simd-json and serde_json paths agree (see `logferry_sdl_model::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_sdl_model::fuzzing::request(data));
