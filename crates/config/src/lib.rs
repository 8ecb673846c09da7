//! The configuration file of `logferry run`: TOML read into a typed [`Config`], with every
//! error naming the file, line, column and key (`logferry.toml:12:10:
//! sinks.taegis.inputs[1]: unknown source `authh` (did you mean `auth`?)`).
//!
//! [`load`] reads a file with the process environment; [`parse`] takes the text and an
//! environment, for tests and for `logferry validate`. The result holds sources
//! ([`SourceConfig`], by `type`: [`SourceKind`]) and sinks ([`SinkConfig`], by `type`:
//! [`SinkKind`]). A sink's options other than `type` and `inputs` stay an ordered list of
//! [`SinkOption`]s: the daemon checks them against the one-shot subcommand's flags, so each
//! option is defined once, in the CLI. Errors it finds there use [`ConfigError::at`] and
//! [`did_you_mean`] to read like this crate's.
//!
//! What this crate does not do: open files, expand globs, build sinks, or check a sink's
//! options (the daemon does, with the CLI's definitions). It depends on no transport crate.
//!
//! Secrets: a value that came from the environment (`${VAR}`) never appears in an error or a
//! `Debug`, and a sink option named `key`, `token`, `password`, `secret`, `client_secret` or
//! `*_key` / `*_token` is redacted in `Debug` too.
//!
//! ```
//! use std::path::Path;
//! let text = r#"
//! data_dir = "/var/lib/logferry"
//! [sources.auth]
//! type = "file"
//! include = ["/var/log/auth.log*"]
//! [sinks.taegis]
//! type = "http-ingest"
//! inputs = ["auth"]
//! url = "${HTTP_INGEST_URL}"
//! key = "${HTTP_INGEST_KEY}"
//! "#;
//! let env = |name: &str| match name {
//!     "HTTP_INGEST_URL" => Some("https://ingest.example".to_owned()),
//!     "HTTP_INGEST_KEY" => Some("s3cret".to_owned()),
//!     _ => None,
//! };
//! let config = logferry_config::parse(text, Path::new("logferry.toml"), &env).unwrap();
//! let sink = &config.sinks["taegis"];
//! assert_eq!(sink.kind, logferry_config::SinkKind::HttpIngest);
//! assert_eq!(sink.option("url").unwrap().value.as_arg().as_deref(), Some("https://ingest.example"));
//! assert!(!format!("{config:?}").contains("s3cret"));
//!
//! let wrong = text.replace(r#"inputs = ["auth"]"#, r#"inputs = ["authh"]"#);
//! let error = logferry_config::parse(&wrong, Path::new("logferry.toml"), &env).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "logferry.toml:8:11: sinks.taegis.inputs[0]: unknown source `authh` (did you mean `auth`?)"
//! );
//! ```
//!
//! # Adding a source or sink type
//!
//! A source type (`syslog`, `http`, `nats`): a [`SourceKind`] variant with its own struct
//! in `model.rs`, its name in [`SourceKind::TYPES`], and a reader beside `file_source` in
//! `reader.rs` (`source` dispatches on `type`; the checks across sources and sinks only need
//! to know whether it yields whole files). A sink type (`nats`): a [`SinkKind`] variant, its
//! name in [`SinkKind::TYPES`] and [`SinkKind::type_name`]; its options need nothing here.
//! Both enums are `#[non_exhaustive]`, so adding a variant breaks no caller.
//!
//! # Reference
//!
#![doc = include_str!("../../../docs/config.md")]

mod duration;
mod env;
mod error;
pub mod fuzzing;
mod model;
mod reader;

pub use error::{ConfigError, Location, did_you_mean};
pub use model::{
    AfterUpload, Api, Config, FileSource, Format, HttpSource, Multiline, MultilineRule, NatsAuth,
    NatsSource, OptionValue, SinkConfig, SinkKind, SinkOption, SourceConfig, SourceKind, StartAt,
    SyslogMode, SyslogSource, TlsFiles,
};

use std::path::Path;

/// Reads and checks the configuration file at `path`, substituting `${VAR}` from the
/// process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::unreadable(path, &e))?;
    parse(&text, path, &|name| std::env::var(name).ok())
}

/// Checks the configuration `text`, read from `path` (used in errors and kept in
/// [`Config::path`]), substituting `${VAR}` from `env`.
pub fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    reader::read(text, path, env)
}
