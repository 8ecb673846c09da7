//! Integration tests of logferry-emulator: every endpoint's status paths over real
//! loopback sockets, driven by a plain hyper client (or raw TCP for malformed requests),
//! the binary with its admin API, and the seeds' Python example clients.

mod binary;
mod faults;
mod http_ingest;
mod sdl;
mod support;
mod taegis;
