//! Integration tests of logferry-syslog.
mod placeholder {}
