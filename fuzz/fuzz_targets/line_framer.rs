//! Fuzz the line framer: any cut of the input frames like the whole, positions are exact,
//! records stay within the size maximum (see `logferry_framing::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_framing::fuzzing::line_framer(data));
