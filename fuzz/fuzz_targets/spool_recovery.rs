//! Fuzz spool recovery: any segment and ack-log bytes open and replay without panicking,
//! replay only checksum-valid entries, and keep the counters consistent (see
//! `logferry_spool::fuzzing`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_spool::fuzzing::recover(data));
