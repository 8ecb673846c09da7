//! The walk over the parsed TOML tree: every key checked against what its table allows,
//! every value read into its type, then the checks across sources and sinks. The first
//! error (in the order the walk meets them, keys in file order) is returned.

use crate::duration;
use crate::env::{Substituted, substitute};
use crate::error::{ConfigError, Location, did_you_mean};
use crate::model::{
    AfterUpload, Api, Config, EnvMarks, FileSource, Format, HttpSource, Multiline, MultilineRule,
    NatsAuth, NatsSource, OptionValue, SinkConfig, SinkKind, SinkOption, SourceConfig, SourceKind,
    StartAt, SyslogMode, SyslogSource, TlsFiles,
};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

type Value<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<DeString<'i>>;
type Result<T> = std::result::Result<T, ConfigError>;

const ROOT_KEYS: &[&str] = &["data_dir", "shutdown_timeout", "api", "sources", "sinks"];
const API_KEYS: &[&str] = &["listen", "ready_max_age"];
const FILE_KEYS: &[&str] = &[
    "type",
    "include",
    "exclude",
    "format",
    "start_at",
    "multiline",
    "whole_files",
    "settle",
    "after_upload",
    "max_open_files",
];
const SYSLOG_KEYS: &[&str] = &[
    "type",
    "mode",
    "listen",
    "cert_file",
    "key_file",
    "client_ca_file",
    "max_message_bytes",
    "max_connections",
];
const HTTP_KEYS: &[&str] = &[
    "type",
    "listen",
    "token",
    "cert_file",
    "key_file",
    "client_ca_file",
    "max_body_bytes",
];
const NATS_KEYS: &[&str] = &[
    "type",
    "url",
    "stream",
    "consumer",
    "subject",
    "format",
    "credentials_file",
    "user",
    "password",
    "token",
    "nkey_seed_file",
    "ca_file",
    "client_cert",
    "client_key",
    "in_flight",
    "max_deliver",
    "ack_wait",
    "dead_letter_subject",
    "nak_delay",
];
const MULTILINE_KEYS: &[&str] = &["start", "continue", "max_bytes", "timeout", "join"];
const AFTER_UPLOAD_KEYS: &[&str] = &["move_to"];

pub(crate) fn read(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config> {
    let line_starts = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let r = Reader {
        text,
        path,
        env,
        line_starts,
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().trim_end_matches('.').to_owned();
            return Err(r.err(at..at, "", message));
        }
    };
    r.config(root.get_ref())
}

struct Reader<'a> {
    text: &'a str,
    path: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Byte offset of each line's start, so a location costs a search, not a scan.
    line_starts: Vec<usize>,
}

/// `prefix.key`, quoting a key that is not bare.
fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// `list`'s items as "`a`, `b` or `c`".
fn one_of(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| format!("`{s}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

fn hint(wrong: &str, candidates: &[&str]) -> String {
    did_you_mean(wrong, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// A value's kind, for "expected X, found Y".
fn found(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// What is wrong with the NATS keys `keys` (a `nats` source's or sink's, in file order,
/// `-` read as `_`), if anything: two ways to authenticate ([`NatsAuth::KEYS`]), `user`
/// without `password` or the reverse, `client_cert` without `client_key` or the reverse.
/// The index of the key the error is about, and why.
fn nats_keys_problem(keys: &[String]) -> Option<(usize, String)> {
    let at = |k: &str| keys.iter().position(|w| w == k);
    // `user` and `password` are one way.
    fn way(k: &str) -> &str {
        if k == "password" { "user" } else { k }
    }
    let mut auth = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| NatsAuth::KEYS.contains(&k.as_str()));
    if let Some((_, first)) = auth.next()
        && let Some((i, second)) = auth.find(|(_, k)| way(k) != way(first))
    {
        return Some((
            i,
            format!(
                "`{second}` cannot be used with `{first}`: one way to authenticate at most \
                 (`credentials_file`, `user` and `password`, `token`, or `nkey_seed_file`)"
            ),
        ));
    }
    for (one, other) in [
        ("user", "password"),
        ("password", "user"),
        ("client_cert", "client_key"),
        ("client_key", "client_cert"),
    ] {
        if let Some(i) = at(one)
            && at(other).is_none()
        {
            return Some((i, format!("`{one}` needs `{other}` too")));
        }
    }
    None
}

/// A table's entries in file order.
fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut all: Vec<_> = table.iter().collect();
    all.sort_by_key(|(k, _)| k.span().start);
    all
}

/// At most 60 characters of `s` for a message, control characters escaped.
fn short(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(60)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if s.chars().nth(60).is_some() {
        out.push('…');
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A source's name, its location and whether it sets `whole_files`, for the checks across.
struct SourceSeen {
    span: Range<usize>,
    whole_files: bool,
    /// A listening source: the sink that takes it (a port is bound once).
    listens: bool,
    taken_by: std::cell::RefCell<Option<String>>,
}

impl Reader<'_> {
    fn loc(&self, span: &Range<usize>) -> Location {
        let mut offset = span.start.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // line_starts[0] is 0, so `line` is at least 1.
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        Location {
            line,
            column: self.text[start..offset].chars().count() + 1,
            offset,
        }
    }

    fn err(&self, span: Range<usize>, key_path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path, self.loc(&span), key_path, message)
    }

    /// Refuses the keys of the `nats` source or sink `table` at `path` that
    /// [`nats_keys_problem`] finds wrong, at the key.
    fn nats_keys(&self, table: &DeTable<'_>, path: &str) -> Result<()> {
        let entries = entries(table);
        let names: Vec<String> = entries
            .iter()
            .map(|(k, _)| k.get_ref().replace('-', "_"))
            .collect();
        match nats_keys_problem(&names) {
            Some((i, why)) => {
                let k = entries[i].0.get_ref();
                Err(self.err(entries[i].0.span(), &join(path, k.as_ref()), why))
            }
            None => Ok(()),
        }
    }

    /// Unknown keys of `table` are errors, with a suggestion.
    fn check_keys(&self, table: &DeTable<'_>, allowed: &[&str], prefix: &str) -> Result<()> {
        for (key, _) in entries(table) {
            let name = key.get_ref().as_ref();
            if !allowed.contains(&name) {
                let path = join(prefix, name);
                let message = match did_you_mean(name, allowed) {
                    Some(c) => format!("unknown key `{name}` (did you mean `{c}`?)"),
                    None => format!("unknown key `{name}`: expected {}", one_of(allowed)),
                };
                return Err(self.err(key.span(), &path, message));
            }
        }
        Ok(())
    }

    /// `key` is missing from `table` (owned by the key at `owner`): an error at a near miss
    /// (`typ`, `input`) when there is one, else at the owner.
    fn missing(
        &self,
        table: &DeTable<'_>,
        owner: Range<usize>,
        prefix: &str,
        key: &str,
        message: String,
    ) -> ConfigError {
        for (k, _) in entries(table) {
            let written = k.get_ref().as_ref();
            if did_you_mean(written, &[key]).is_some() {
                return self.err(
                    k.span(),
                    &join(prefix, written),
                    format!("unknown key `{written}` (did you mean `{key}`?)"),
                );
            }
        }
        self.err(
            owner,
            &join(prefix, key),
            format!("missing required key: {message}"),
        )
    }

    fn table<'t, 'i>(&self, v: &'t Value<'i>, path: &str) -> Result<&'t DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            other => Err(self.err(
                v.span(),
                path,
                format!("expected a table, found {}", found(other)),
            )),
        }
    }

    fn string(&self, v: &Value<'_>, path: &str) -> Result<Substituted> {
        match v.get_ref() {
            DeValue::String(s) => {
                substitute(s, self.env).map_err(|message| self.err(v.span(), path, message))
            }
            other => Err(self.err(
                v.span(),
                path,
                format!("expected a string, found {}", found(other)),
            )),
        }
    }

    /// A list of strings; `from_env` when any item took something from the environment.
    fn strings(&self, v: &Value<'_>, path: &str) -> Result<(Vec<String>, bool)> {
        let items = self.substituted_items(v, path)?;
        let from_env = items.iter().any(|s| s.from_env);
        Ok((items.into_iter().map(|s| s.text).collect(), from_env))
    }

    /// A list of strings, each substituted.
    fn substituted_items(&self, v: &Value<'_>, path: &str) -> Result<Vec<Substituted>> {
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.err(
                v.span(),
                path,
                format!("expected an array of strings, found {}", found(v.get_ref())),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect()
    }

    fn bool(&self, v: &Value<'_>, path: &str) -> Result<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            other => Err(self.err(
                v.span(),
                path,
                format!("expected a boolean (true or false), found {}", found(other)),
            )),
        }
    }

    fn integer(&self, v: &Value<'_>, path: &str) -> Result<i64> {
        match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| self.err(v.span(), path, "the integer is too large")),
            other => Err(self.err(
                v.span(),
                path,
                format!("expected an integer, found {}", found(other)),
            )),
        }
    }

    /// A count of at least `min`.
    fn count(&self, v: &Value<'_>, path: &str, min: usize) -> Result<usize> {
        let n = self.integer(v, path)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| {
                self.err(
                    v.span(),
                    path,
                    format!("expected an integer of at least {min}"),
                )
            })
    }

    fn duration(&self, v: &Value<'_>, path: &str) -> Result<std::time::Duration> {
        if let DeValue::Integer(_) = v.get_ref() {
            let n = self.integer(v, path)?;
            return u64::try_from(n)
                .map(std::time::Duration::from_secs)
                .map_err(|_| self.err(v.span(), path, format!("expected {}", duration::EXPECTED)));
        }
        let s = match v.get_ref() {
            DeValue::String(_) => self.string(v, path)?,
            other => {
                return Err(self.err(
                    v.span(),
                    path,
                    format!("expected {}, found {}", duration::EXPECTED, found(other)),
                ));
            }
        };
        duration::parse(&s.text).ok_or_else(|| {
            let what = self.quoted(v, &s);
            self.err(
                v.span(),
                path,
                format!("{what} is not {}", duration::EXPECTED),
            )
        })
    }

    /// A value for a message: the string quoted, or, when it took something from the
    /// environment, the text as written in the file with a note.
    fn quoted(&self, v: &Value<'_>, s: &Substituted) -> String {
        if s.from_env {
            let raw = match v.get_ref() {
                DeValue::String(raw) => raw.as_ref(),
                _ => "",
            };
            format!("`{}` (after substitution from the environment)", short(raw))
        } else {
            format!("`{}`", short(&s.text))
        }
    }

    /// A section's optional `format` (`text` or `json`; text when absent).
    fn format(&self, table: &DeTable<'_>, path: &str) -> Result<Format> {
        match table.get("format") {
            Some(v) => self.choice(v, path, &[("text", Format::Text), ("json", Format::Json)]),
            None => Ok(Format::default()),
        }
    }

    /// One of `choices`, by name.
    fn choice<T: Clone>(&self, v: &Value<'_>, path: &str, choices: &[(&str, T)]) -> Result<T> {
        let s = self.string(v, path)?;
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == s.text) {
            return Ok(t.clone());
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let suggestion = if s.from_env {
            String::new()
        } else {
            hint(&s.text, &names)
        };
        Err(self.err(
            v.span(),
            path,
            format!(
                "unknown value {}: expected {}{suggestion}",
                self.quoted(v, &s),
                one_of(&names)
            ),
        ))
    }

    fn config(&self, root: &DeTable<'_>) -> Result<Config> {
        self.check_keys(root, ROOT_KEYS, "")?;
        let mut env = EnvMarks::default();
        let data_dir = match root.get("data_dir") {
            Some(v) => {
                let s = self.string(v, "data_dir")?;
                if s.text.is_empty() {
                    return Err(self.err(v.span(), "data_dir", "must not be empty"));
                }
                if s.from_env {
                    env.mark("data_dir");
                }
                PathBuf::from(s.text)
            }
            None => {
                return Err(self.err(
                    0..0,
                    "data_dir",
                    "missing required key: the folder for spools and checkpoints, like `data_dir = \"/var/lib/logferry\"`",
                ));
            }
        };
        let shutdown_timeout = match root.get("shutdown_timeout") {
            Some(v) => self.duration(v, "shutdown_timeout")?,
            None => Config::DEFAULT_SHUTDOWN_TIMEOUT,
        };
        let api = match root.get_key_value("api") {
            Some((key, v)) => Some(self.api(key, v)?),
            None => None,
        };

        let mut sources = BTreeMap::new();
        let mut seen = BTreeMap::new();
        if let Some(v) = root.get("sources") {
            for (key, v) in entries(self.table(v, "sources")?) {
                let name = key.get_ref().as_ref();
                let path = join("sources", name);
                if !valid_name(name) {
                    return Err(self.err(
                        key.span(),
                        &path,
                        "a source name is letters, digits, `_` and `-`",
                    ));
                }
                let source = self.source(name, key, v, &path)?;
                let whole_files = match &source.kind {
                    SourceKind::File(file) => file.whole_files,
                    _ => false,
                };
                seen.insert(
                    name.to_owned(),
                    SourceSeen {
                        span: key.span(),
                        whole_files,
                        listens: source.kind.listens(),
                        taken_by: std::cell::RefCell::new(None),
                    },
                );
                sources.insert(name.to_owned(), source);
            }
        }

        let mut sinks = BTreeMap::new();
        let sinks_key = root.get_key_value("sinks");
        if let Some((_, v)) = sinks_key {
            for (key, v) in entries(self.table(v, "sinks")?) {
                let name = key.get_ref().as_ref();
                let path = join("sinks", name);
                if !valid_name(name) {
                    return Err(self.err(
                        key.span(),
                        &path,
                        "a sink name is letters, digits, `_` and `-`",
                    ));
                }
                sinks.insert(name.to_owned(), self.sink(name, key, v, &path, &seen)?);
            }
        }
        if sinks.is_empty() {
            let span = sinks_key.map_or(0..0, |(k, _)| k.span());
            return Err(self.err(
                span,
                "sinks",
                "at least one sink is needed, like `[sinks.NAME]` with `type` and `inputs`",
            ));
        }
        let mut unused: Vec<(&String, &SourceSeen)> = seen
            .iter()
            .filter(|(name, _)| !sinks.values().any(|s: &SinkConfig| s.inputs.contains(name)))
            .collect();
        unused.sort_by_key(|(_, s)| s.span.start);
        if let Some((name, s)) = unused.first() {
            return Err(self.err(
                s.span.clone(),
                &join("sources", name),
                format!("source `{name}` is not an input of any sink"),
            ));
        }
        Ok(Config {
            path: self.path.to_owned(),
            data_dir,
            shutdown_timeout,
            api,
            sources,
            sinks,
            env,
        })
    }

    fn api(&self, key: &Key<'_>, v: &Value<'_>) -> Result<Api> {
        let table = self.table(v, "api")?;
        self.check_keys(table, API_KEYS, "api")?;
        let Some(listen) = table.get("listen") else {
            return Err(self.err(
                key.span(),
                "api.listen",
                "missing required key: the address to serve on, like `listen = \"127.0.0.1:9598\"`",
            ));
        };
        let s = self.string(listen, "api.listen")?;
        let mut env = EnvMarks::default();
        if s.from_env {
            env.mark("listen");
        }
        let ready_max_age = match table.get("ready_max_age") {
            Some(v) => Some(self.duration(v, "api.ready_max_age")?),
            None => None,
        };
        match s.text.parse() {
            Ok(listen) => Ok(Api {
                listen,
                ready_max_age,
                env,
            }),
            Err(_) => Err(self.err(
                listen.span(),
                "api.listen",
                format!(
                    "{} is not a socket address like `127.0.0.1:9598` or `[::1]:9598`",
                    self.quoted(listen, &s)
                ),
            )),
        }
    }

    fn source(&self, name: &str, key: &Key<'_>, v: &Value<'_>, path: &str) -> Result<SourceConfig> {
        let table = self.table(v, path)?;
        let type_path = format!("{path}.type");
        let Some(type_value) = table.get("type") else {
            let message = format!("one of {}", one_of(SourceKind::TYPES));
            return Err(self.missing(table, key.span(), path, "type", message));
        };
        let kind = match self.choice(
            type_value,
            &type_path,
            &[("file", 0), ("syslog", 1), ("http", 2), ("nats", 3)],
        )? {
            0 => SourceKind::File(self.file_source(key, table, path)?),
            1 => SourceKind::Syslog(self.syslog_source(key, table, path)?),
            2 => SourceKind::Http(self.http_source(key, table, path)?),
            _ => SourceKind::Nats(self.nats_source(key, table, path)?),
        };
        Ok(SourceConfig {
            name: name.to_owned(),
            location: self.loc(&key.span()),
            kind,
        })
    }

    /// `listen`: a socket address (required).
    fn listen(
        &self,
        key: &Key<'_>,
        table: &DeTable<'_>,
        path: &str,
        env: &mut EnvMarks,
    ) -> Result<std::net::SocketAddr> {
        let at = format!("{path}.listen");
        let Some(listen) = table.get("listen") else {
            return Err(self.err(
                key.span(),
                &at,
                "missing required key: the address to listen on, like `listen = \"0.0.0.0:6514\"`",
            ));
        };
        let s = self.string(listen, &at)?;
        if s.from_env {
            env.mark("listen");
        }
        s.text.parse().map_err(|_| {
            self.err(
                listen.span(),
                &at,
                format!(
                    "{} is not a socket address like `0.0.0.0:6514` or `[::]:6514`",
                    self.quoted(listen, &s)
                ),
            )
        })
    }

    /// `cert_file`, `key_file`, `client_ca_file`: both of the first two or none.
    fn tls_files(
        &self,
        key: &Key<'_>,
        table: &DeTable<'_>,
        path: &str,
        env: &mut EnvMarks,
    ) -> Result<Option<TlsFiles>> {
        let mut file = |k: &str| -> Result<Option<PathBuf>> {
            match table.get(k) {
                Some(v) => {
                    let s = self.string(v, &format!("{path}.{k}"))?;
                    if s.text.is_empty() {
                        return Err(self.err(
                            v.span(),
                            &format!("{path}.{k}"),
                            "must not be empty",
                        ));
                    }
                    if s.from_env {
                        env.mark("tls");
                    }
                    Ok(Some(PathBuf::from(s.text)))
                }
                None => Ok(None),
            }
        };
        let (cert, private, ca) = (
            file("cert_file")?,
            file("key_file")?,
            file("client_ca_file")?,
        );
        match (cert, private) {
            (Some(cert_file), Some(key_file)) => Ok(Some(TlsFiles {
                cert_file,
                key_file,
                client_ca_file: ca,
            })),
            (None, None) => match table.get_key_value("client_ca_file") {
                Some((k, _)) => Err(self.err(
                    k.span(),
                    &format!("{path}.client_ca_file"),
                    "`client_ca_file` needs `cert_file` and `key_file` (TLS)",
                )),
                None => Ok(None),
            },
            (Some(_), None) => Err(self.missing(
                table,
                key.span(),
                path,
                "key_file",
                "the certificate's private key (PEM)".into(),
            )),
            (None, Some(_)) => Err(self.missing(
                table,
                key.span(),
                path,
                "cert_file",
                "the certificate chain (PEM)".into(),
            )),
        }
    }

    fn syslog_source(
        &self,
        key: &Key<'_>,
        table: &DeTable<'_>,
        path: &str,
    ) -> Result<SyslogSource> {
        self.check_keys(table, SYSLOG_KEYS, path)?;
        let mut env = EnvMarks::default();
        let at = |k: &str| format!("{path}.{k}");
        let mode = match table.get("mode") {
            Some(v) => self.choice(
                v,
                &at("mode"),
                &[
                    ("udp", SyslogMode::Udp),
                    ("tcp", SyslogMode::Tcp),
                    ("tls", SyslogMode::Tls),
                ],
            )?,
            None => SyslogMode::default(),
        };
        let listen = self.listen(key, table, path, &mut env)?;
        let tls = self.tls_files(key, table, path, &mut env)?;
        match (mode, &tls) {
            (SyslogMode::Tls, None) => {
                return Err(self.missing(
                    table,
                    key.span(),
                    path,
                    "cert_file",
                    "`mode = \"tls\"` needs `cert_file` and `key_file` (PEM)".into(),
                ));
            }
            (SyslogMode::Udp | SyslogMode::Tcp, Some(_)) => {
                let (k, _) = table
                    .get_key_value("cert_file")
                    .expect("tls needs cert_file");
                return Err(self.err(
                    k.span(),
                    &at("cert_file"),
                    "certificates apply only with `mode = \"tls\"`",
                ));
            }
            _ => {}
        }
        let max_message_bytes = match table.get("max_message_bytes") {
            Some(v) => self.count(v, &at("max_message_bytes"), 480)?,
            None => SyslogSource::DEFAULT_MAX_MESSAGE_BYTES,
        };
        let max_connections = match table.get("max_connections") {
            Some(v) => {
                if mode == SyslogMode::Udp {
                    let (k, _) = table.get_key_value("max_connections").expect("present");
                    return Err(self.err(
                        k.span(),
                        &at("max_connections"),
                        "UDP has no connections: `max_connections` applies to tcp and tls",
                    ));
                }
                self.count(v, &at("max_connections"), 1)?
            }
            None => SyslogSource::DEFAULT_MAX_CONNECTIONS,
        };
        Ok(SyslogSource {
            mode,
            listen,
            tls,
            max_message_bytes,
            max_connections,
            env,
        })
    }

    fn http_source(&self, key: &Key<'_>, table: &DeTable<'_>, path: &str) -> Result<HttpSource> {
        self.check_keys(table, HTTP_KEYS, path)?;
        let mut env = EnvMarks::default();
        let at = |k: &str| format!("{path}.{k}");
        let listen = self.listen(key, table, path, &mut env)?;
        let tls = self.tls_files(key, table, path, &mut env)?;
        let Some(token_value) = table.get("token") else {
            return Err(self.err(
                key.span(),
                &at("token"),
                "missing required key: what clients send as `Authorization: Splunk <token>`, like `token = \"${HEC_TOKEN}\"`",
            ));
        };
        let token = self.string(token_value, &at("token"))?;
        if token.text.trim().is_empty() {
            return Err(self.err(token_value.span(), &at("token"), "must not be empty"));
        }
        let max_body_bytes = match table.get("max_body_bytes") {
            Some(v) => self.count(v, &at("max_body_bytes"), 1024)?,
            None => HttpSource::DEFAULT_MAX_BODY_BYTES,
        };
        Ok(HttpSource {
            listen,
            token: token.text,
            tls,
            max_body_bytes,
            env,
        })
    }

    fn nats_source(&self, key: &Key<'_>, table: &DeTable<'_>, path: &str) -> Result<NatsSource> {
        self.check_keys(table, NATS_KEYS, path)?;
        let mut env = EnvMarks::default();
        let at = |k: &str| format!("{path}.{k}");
        let required = |k: &'static str, example: &str| -> Result<(String, bool)> {
            let Some(v) = table.get(k) else {
                return Err(self.err(
                    key.span(),
                    &at(k),
                    format!("missing required key: {example}"),
                ));
            };
            let s = self.string(v, &at(k))?;
            if s.text.is_empty() {
                return Err(self.err(v.span(), &at(k), "must not be empty"));
            }
            Ok((s.text, s.from_env))
        };
        let Some(url) = table.get("url") else {
            return Err(self.err(
                key.span(),
                &at("url"),
                "missing required key: the server, like `url = \"nats://nats-1:4222\"` (or a list)",
            ));
        };
        let (urls, from_env) = match url.get_ref() {
            DeValue::Array(_) => self.strings(url, &at("url"))?,
            _ => {
                let s = self.string(url, &at("url"))?;
                (vec![s.text], s.from_env)
            }
        };
        if from_env {
            env.mark("url");
        }
        if urls.is_empty() || urls.iter().any(String::is_empty) {
            return Err(self.err(url.span(), &at("url"), "must name at least one server"));
        }
        let (stream, _) = required("stream", "the stream's name, like `stream = \"LOGS\"`")?;
        let (consumer, _) = required(
            "consumer",
            "the durable consumer shared by workers, like `consumer = \"shippers\"`",
        )?;
        let optional = |k: &str| -> Result<Option<(String, bool)>> {
            table
                .get(k)
                .map(|v| self.string(v, &at(k)).map(|s| (s.text, s.from_env)))
                .transpose()
        };
        let subject = optional("subject")?.map(|(s, _)| s);
        let format = self.format(table, &at("format"))?;
        self.nats_keys(table, path)?;
        // The secrets themselves are never marked: their `Debug` never shows them.
        let mut from_env = false;
        let mut value = |k: &str| -> Result<Option<String>> {
            Ok(optional(k)?.map(|(s, e)| {
                from_env |= e;
                s
            }))
        };
        let auth = if let Some(path) = value("credentials_file")? {
            NatsAuth::CredentialsFile(PathBuf::from(path))
        } else if let Some(path) = value("nkey_seed_file")? {
            NatsAuth::NkeySeedFile(PathBuf::from(path))
        } else if let (Some(user), Some(password)) = (value("user")?, optional("password")?) {
            NatsAuth::UserPassword {
                user,
                password: password.0,
            }
        } else if let Some((token, _)) = optional("token")? {
            NatsAuth::Token(token)
        } else {
            NatsAuth::None
        };
        if from_env {
            env.mark("auth");
        }
        for k in ["password", "token"] {
            if let Some(v) = table.get(k)
                && optional(k)?.is_some_and(|(s, _)| s.trim().is_empty())
            {
                return Err(self.err(v.span(), &at(k), "must not be empty"));
            }
        }
        let ca_file = optional("ca_file")?.map(|(s, _)| PathBuf::from(s));
        let client_cert = optional("client_cert")?
            .zip(optional("client_key")?)
            .map(|((c, _), (k, _))| (PathBuf::from(c), PathBuf::from(k)));
        let in_flight = match table.get("in_flight") {
            Some(v) => self.count(v, &at("in_flight"), 1)?,
            None => NatsSource::DEFAULT_IN_FLIGHT,
        };
        let max_deliver = match table.get("max_deliver") {
            Some(v) => self.count(v, &at("max_deliver"), 1)? as u64,
            None => NatsSource::DEFAULT_MAX_DELIVER,
        };
        let ack_wait = match table.get("ack_wait") {
            Some(v) => self.duration(v, &at("ack_wait"))?,
            None => NatsSource::DEFAULT_ACK_WAIT,
        };
        let dead_letter_subject = optional("dead_letter_subject")?.map(|(s, _)| s);
        let nak_delay = match table.get("nak_delay") {
            Some(v) => self.duration(v, &at("nak_delay"))?,
            None => NatsSource::DEFAULT_NAK_DELAY,
        };
        Ok(NatsSource {
            urls,
            stream,
            consumer,
            subject,
            format,
            auth,
            ca_file,
            client_cert,
            in_flight,
            max_deliver,
            ack_wait,
            dead_letter_subject,
            nak_delay,
            env,
        })
    }

    fn file_source(&self, key: &Key<'_>, table: &DeTable<'_>, path: &str) -> Result<FileSource> {
        self.check_keys(table, FILE_KEYS, path)?;
        let mut env = EnvMarks::default();
        let at = |k: &str| format!("{path}.{k}");
        let Some(include_value) = table.get("include") else {
            return Err(self.err(
                key.span(),
                &at("include"),
                "missing required key: the files to read, like `include = [\"/var/log/*.log\"]`",
            ));
        };
        let (include, from_env) = self.strings(include_value, &at("include"))?;
        if from_env {
            env.mark("include");
        }
        if include.is_empty() {
            return Err(self.err(
                include_value.span(),
                &at("include"),
                "must name at least one file or glob",
            ));
        }
        let mut exclude = Vec::new();
        if let Some(v) = table.get("exclude") {
            let (list, from_env) = self.strings(v, &at("exclude"))?;
            if from_env {
                env.mark("exclude");
            }
            exclude = list;
        }
        for (field, list, value) in [
            ("include", &include, Some(include_value)),
            ("exclude", &exclude, table.get("exclude")),
        ] {
            if let (Some(i), Some(value)) = (list.iter().position(|g| g.is_empty()), value) {
                let DeValue::Array(items) = value.get_ref() else {
                    continue;
                };
                return Err(self.err(
                    items[i].span(),
                    &format!("{}[{i}]", at(field)),
                    "an empty pattern matches nothing",
                ));
            }
        }
        let format = self.format(table, &at("format"))?;
        let start_at = match table.get("start_at") {
            Some(v) => self.choice(
                v,
                &at("start_at"),
                &[("beginning", StartAt::Beginning), ("end", StartAt::End)],
            )?,
            None => StartAt::default(),
        };
        let multiline = match table.get("multiline") {
            Some(v) => Some(self.multiline(v, &at("multiline"))?),
            None => None,
        };
        let whole_files = match table.get("whole_files") {
            Some(v) => self.bool(v, &at("whole_files"))?,
            None => false,
        };
        let settle = match table.get("settle") {
            Some(v) => self.duration(v, &at("settle"))?,
            None => FileSource::DEFAULT_SETTLE,
        };
        let after_upload = match table.get("after_upload") {
            Some(v) => self.after_upload(v, &at("after_upload"), &mut env)?,
            None => AfterUpload::default(),
        };
        if !whole_files {
            for k in ["settle", "after_upload"] {
                if let Some((key, _)) = table.get_key_value(k) {
                    return Err(self.err(
                        key.span(),
                        &at(k),
                        format!("`{k}` applies only with `whole_files = true`"),
                    ));
                }
            }
        } else if let Some((key, _)) = table.get_key_value("multiline") {
            return Err(self.err(
                key.span(),
                &at("multiline"),
                "`multiline` does not apply with `whole_files = true` (files are uploaded as they are)",
            ));
        }
        let max_open_files = match table.get("max_open_files") {
            Some(v) => Some(self.count(v, &at("max_open_files"), 1)?),
            None => None,
        };
        Ok(FileSource {
            include,
            exclude,
            format,
            start_at,
            multiline,
            whole_files,
            settle,
            after_upload,
            max_open_files,
            env,
        })
    }

    fn multiline(&self, v: &Value<'_>, path: &str) -> Result<Multiline> {
        let table = self.table(v, path)?;
        self.check_keys(table, MULTILINE_KEYS, path)?;
        let mut env = EnvMarks::default();
        let at = |k: &str| format!("{path}.{k}");
        let rule = match (
            table.get_key_value("start"),
            table.get_key_value("continue"),
        ) {
            (Some((_, start)), None) => ("start", start),
            (None, Some((_, cont))) => ("continue", cont),
            (Some(_), Some((key, _))) => {
                return Err(self.err(
                    key.span(),
                    &at("continue"),
                    "set one of `start` and `continue`, not both",
                ));
            }
            (None, None) => {
                return Err(self.err(
                    v.span(),
                    path,
                    "missing `start` (a regex matching a record's first line) or `continue` (one matching its other lines)",
                ));
            }
        };
        let (which, value) = rule;
        let pattern = self.string(value, &at(which))?;
        if pattern.from_env {
            env.mark("rule");
        }
        if let Err(e) = regex::Regex::new(&pattern.text) {
            let message = if pattern.from_env {
                "not a valid regular expression (after substitution from the environment)"
                    .to_owned()
            } else {
                // The regex crate's message spans several lines with a caret: keep its last line.
                let detail = e.to_string();
                let detail = detail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                format!(
                    "not a valid regular expression: {}",
                    detail.trim().trim_start_matches("error: ")
                )
            };
            return Err(self.err(value.span(), &at(which), message));
        }
        let rule = if which == "start" {
            MultilineRule::Start(pattern.text)
        } else {
            MultilineRule::Continue(pattern.text)
        };
        let max_bytes = match table.get("max_bytes") {
            Some(v) => self.count(v, &at("max_bytes"), 1)?,
            None => Multiline::DEFAULT_MAX_BYTES,
        };
        let timeout = match table.get("timeout") {
            Some(v) => self.duration(v, &at("timeout"))?,
            None => Multiline::DEFAULT_TIMEOUT,
        };
        let join = match table.get("join") {
            Some(v) => {
                let s = self.string(v, &at("join"))?;
                if s.from_env {
                    env.mark("join");
                }
                Some(s.text)
            }
            None => None,
        };
        Ok(Multiline {
            rule,
            max_bytes,
            timeout,
            join,
            env,
        })
    }

    fn after_upload(&self, v: &Value<'_>, path: &str, env: &mut EnvMarks) -> Result<AfterUpload> {
        if let DeValue::Table(table) = v.get_ref() {
            self.check_keys(table, AFTER_UPLOAD_KEYS, path)?;
            let at = format!("{path}.move_to");
            let Some(dir) = table.get("move_to") else {
                return Err(self.err(
                    v.span(),
                    &at,
                    "missing required key: the folder to move uploaded files to",
                ));
            };
            let s = self.string(dir, &at)?;
            if s.text.is_empty() {
                return Err(self.err(dir.span(), &at, "must not be empty"));
            }
            if s.from_env {
                env.mark("after_upload");
            }
            return Ok(AfterUpload::MoveTo(PathBuf::from(s.text)));
        }
        if !matches!(v.get_ref(), DeValue::String(_)) {
            return Err(self.err(
                v.span(),
                path,
                format!(
                    "expected `keep`, `delete` or `{{ move_to = \"/path\" }}`, found {}",
                    found(v.get_ref())
                ),
            ));
        }
        self.choice(
            v,
            path,
            &[("keep", AfterUpload::Keep), ("delete", AfterUpload::Delete)],
        )
        .map_err(|e| {
            ConfigError::at(
                self.path,
                self.loc(&v.span()),
                path,
                format!("{} (or `{{ move_to = \"/path\" }}`)", e.message()),
            )
        })
    }

    fn sink(
        &self,
        name: &str,
        key: &Key<'_>,
        v: &Value<'_>,
        path: &str,
        sources: &BTreeMap<String, SourceSeen>,
    ) -> Result<SinkConfig> {
        let table = self.table(v, path)?;
        let at = |k: &str| format!("{path}.{k}");
        let Some(type_value) = table.get("type") else {
            let message = format!("one of {}", one_of(SinkKind::TYPES));
            return Err(self.missing(table, key.span(), path, "type", message));
        };
        let choices: Vec<(&str, SinkKind)> = SinkKind::TYPES
            .iter()
            .filter_map(|t| SinkKind::from_type(t).map(|k| (*t, k)))
            .collect();
        let kind = self.choice(type_value, &at("type"), &choices)?;
        let Some(inputs_value) = table.get("inputs") else {
            let message = "the sources it takes, like `inputs = [\"auth\"]`".to_owned();
            return Err(self.missing(table, key.span(), path, "inputs", message));
        };
        let substituted = self.substituted_items(inputs_value, &at("inputs"))?;
        let inputs: Vec<String> = substituted.iter().map(|s| s.text.clone()).collect();
        if inputs.is_empty() {
            return Err(self.err(
                inputs_value.span(),
                &at("inputs"),
                "must name at least one source",
            ));
        }
        let items: &[Value<'_>] = match inputs_value.get_ref() {
            DeValue::Array(items) => items,
            _ => &[],
        };
        let names: Vec<&str> = sources.keys().map(String::as_str).collect();
        for (i, ((input, item), sub)) in inputs.iter().zip(items).zip(&substituted).enumerate() {
            let item_path = format!("{}[{i}]", at("inputs"));
            if inputs[..i].contains(input) {
                return Err(self.err(
                    item.span(),
                    &item_path,
                    format!("source `{input}` is listed twice"),
                ));
            }
            let Some(source) = sources.get(input) else {
                return Err(self.err(
                    item.span(),
                    &item_path,
                    if sub.from_env {
                        format!("unknown source {}", self.quoted(item, sub))
                    } else {
                        format!("unknown source `{input}`{}", hint(input, &names))
                    },
                ));
            };
            if source.listens {
                let mut taken = source.taken_by.borrow_mut();
                if let Some(other) = taken.as_ref().filter(|other| *other != name) {
                    return Err(self.err(
                        item.span(),
                        &item_path,
                        format!(
                            "source `{input}` listens on a port, which is bound once, and sink \
                             `{other}` takes it already: a listening source feeds one sink \
                             (declare a second source on another port for this sink)"
                        ),
                    ));
                }
                *taken = Some(name.to_owned());
            }
            if kind.takes_whole_files() && !source.whole_files {
                return Err(self.err(
                    item.span(),
                    &item_path,
                    format!(
                        "source `{input}` does not set `whole_files = true`, which a `{}` sink needs",
                        kind.type_name()
                    ),
                ));
            }
            if !kind.takes_whole_files() && source.whole_files {
                return Err(self.err(
                    item.span(),
                    &item_path,
                    format!(
                        "source `{input}` sets `whole_files = true`: only a `file-upload` sink takes whole files"
                    ),
                ));
            }
        }
        if kind == SinkKind::Nats {
            self.nats_keys(table, path)?;
        }
        let mut options = Vec::new();
        for (key, value) in entries(table) {
            let k = key.get_ref().as_ref();
            if k == "type" || k == "inputs" {
                continue;
            }
            let (value, from_env) = self.option_value(value, &join(path, k))?;
            options.push(SinkOption {
                key: k.to_owned(),
                value,
                location: self.loc(&table[k].span()),
                key_location: self.loc(&key.span()),
                from_env,
            });
        }
        Ok(SinkConfig {
            name: name.to_owned(),
            location: self.loc(&key.span()),
            kind,
            inputs,
            options,
        })
    }

    fn option_value(&self, v: &Value<'_>, path: &str) -> Result<(OptionValue, bool)> {
        Ok(match v.get_ref() {
            DeValue::String(_) => {
                let s = self.string(v, path)?;
                (OptionValue::String(s.text), s.from_env)
            }
            DeValue::Integer(_) => (OptionValue::Integer(self.integer(v, path)?), false),
            DeValue::Float(f) => match f.as_str().parse() {
                Ok(x) => (OptionValue::Float(x), false),
                Err(_) => return Err(self.err(v.span(), path, "not a number")),
            },
            DeValue::Boolean(b) => (OptionValue::Bool(*b), false),
            DeValue::Array(_) => {
                let (list, from_env) = self.strings(v, path)?;
                (OptionValue::List(list), from_env)
            }
            other => {
                return Err(self.err(
                    v.span(),
                    path,
                    format!(
                        "expected a string, a number, a boolean or an array of strings, found {}",
                        found(other)
                    ),
                ));
            }
        })
    }
}
