//! Fuzz the SDL response parser: status classification is consistent and never
//! "success" by accident (see `logferry_sdl_model::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_sdl_model::fuzzing::response(data));
