//! Integration tests of logferry-sdl against the emulator (HTTPS, its own CA, 127.0.0.1)
//! and, where the exact bytes on the wire matter, a capturing loopback server.

mod bodies;
mod charge;
mod clocks;
mod delivery;
mod secrets;
mod stop;
mod support;
mod upload;
