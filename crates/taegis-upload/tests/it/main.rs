//! Integration tests of logferry-taegis-upload against the emulator over HTTPS with its
//! CA, on 127.0.0.1: the happy paths, tokens, faults, files that cannot be uploaded, and
//! secrets.

mod faults;
mod files;
mod secrets;
mod support;
mod tokens;
mod upload;
