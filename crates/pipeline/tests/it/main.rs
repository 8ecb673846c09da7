//! The pipeline against the emulator over loopback: every source through every sink.
