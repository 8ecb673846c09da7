//! Fuzz batching in runs: plain lines through `push_runs` and `Batcher::push_run` batch
//! exactly like records one by one, for any cut and batch limits, with recycled bodies
//! (see `logferry_framing::fuzzing::line_batcher`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| logferry_framing::fuzzing::line_batcher(data));
