//! Integration tests of logferry-retry through its public API: the driver under tokio's
//! paused clock (no real sleeping, no sockets).

mod driver;
