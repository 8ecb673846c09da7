//! Fuzz NDJSON lines into SDL events (simd-json's tape walked directly): no panic, and
//! the same keys and level as the serde_json path (see `logferry_sdl_model::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_sdl_model::fuzzing::event(data));
