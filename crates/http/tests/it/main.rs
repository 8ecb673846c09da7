//! Integration tests for logferry-http over real loopback sockets: how transport
//! failures are classified, and the gates in front of the network.

mod failures;
