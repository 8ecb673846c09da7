//! Fuzz the JSON framer: any cut of the input frames like the whole, positions are exact,
//! every record is one line (see `logferry_framing::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_framing::fuzzing::json_framer(data));
