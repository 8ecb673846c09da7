//! Fuzz the stored HTTP Ingest batch parser (spool entries after a crash): never panics,
//! and whatever it accepts round-trips byte for byte.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_taegis_ingest::fuzz_stored_batch(data));
