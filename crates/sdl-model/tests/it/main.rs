//! Integration tests of logferry-sdl-model: request bodies (snapshots), builder invariants
//! (proptest), dedupe savings, and parsing round trips.
