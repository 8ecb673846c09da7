//! Fuzz the stored form of framed batches (SDL spool entries after a crash): never a
//! panic, and accepted input round-trips with every record inside the body.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_framing::fuzzing::stored_batch(data));
