//! Integration tests of `logferry-config`: the shipped example, every error with its exact
//! position and key, `${VAR}` substitution, secrets, and a property test that `parse`
//! never panics.

mod env;
mod errors;
mod example;
mod listen;
mod nats;
mod props;
mod secrets;

use logferry_config::{Config, ConfigError};
use std::path::Path;

/// A small valid file the tests edit.
pub(crate) const BASE: &str = r#"data_dir = "/var/lib/logferry"

[sources.auth]
type = "file"
include = ["/var/log/auth.log*"]

[sinks.taegis]
type = "http-ingest"
inputs = ["auth"]
url = "https://ingest.example"
"#;

/// The test environment: `URL`, `KEY` (a secret) and `EMPTY` are set.
pub(crate) fn env(name: &str) -> Option<String> {
    match name {
        "URL" => Some("https://from-env.example".to_owned()),
        "KEY" => Some("sekrit-from-env".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    logferry_config::parse(text, Path::new("t.toml"), &env)
}

/// The error `text` gives, as displayed.
pub(crate) fn error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, parsed {config:#?}"),
        Err(e) => e.to_string(),
    }
}

/// `BASE` with `from` replaced by `to` (which must occur).
pub(crate) fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no {from:?}");
    BASE.replacen(from, to, 1)
}
