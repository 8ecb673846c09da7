//! Integration tests of logferry-syslog: real-world messages, live `logger` output, TCP
//! framing, HEC bodies and properties.

mod framer;
mod hec;
mod live;
mod parse;
mod props;
