//! logferry-nats against a real `nats-server` (JetStream on, a loopback port, a
//! temporary store): the calls the pipeline makes, checked end to end.

mod auth;
mod bus;
mod secure;
