//! The typed configuration: what `parse` returns once every check passed.
//!
//! Every type is `Clone + PartialEq` (the daemon compares the old and the new configuration
//! on SIGHUP to keep unchanged routes running) and has a redacting `Debug`: a value that
//! came from the environment, and a sink option named like a secret, print as `<redacted>`.

use crate::error::Location;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const REDACTED: &str = "<redacted>";

/// Which fields of a struct took (part of) their value from the environment; their `Debug`
/// shows `<redacted>`. Two configurations with the same values are equal whatever came from
/// where, so this never makes a route look changed.
#[derive(Clone, Default)]
pub(crate) struct EnvMarks(BTreeSet<&'static str>);

impl EnvMarks {
    pub(crate) fn mark(&mut self, field: &'static str) {
        self.0.insert(field);
    }

    fn has(&self, field: &str) -> bool {
        self.0.contains(field)
    }
}

impl PartialEq for EnvMarks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// `value`'s `Debug`, or `<redacted>` when `secret`.
struct Shown<'a, T: fmt::Debug>(&'a T, bool);

impl<T: fmt::Debug> fmt::Debug for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            f.write_str(REDACTED)
        } else {
            self.0.fmt(f)
        }
    }
}

/// Server URLs for `Debug`: one with user info (`nats://user:password@host`, a token as
/// `nats://token@host`) is shown as `<redacted>`, whole.
struct UrlsShown<'a>(&'a [String]);

impl fmt::Debug for UrlsShown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|u| Shown(u, has_user_info(u))))
            .finish()
    }
}

/// Whether `url` carries user info (`scheme://user:password@host`, `scheme://token@host`),
/// which may be a secret: an `@` anywhere before a fragment, since users type passwords
/// raw (`user:pa/ss@host` holds one before its `/`), as `logferry_http::user_info` reads
/// it.
pub(crate) fn has_user_info(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(_, rest)| rest.split('#').next().is_some_and(|r| r.contains('@')))
}

/// A whole configuration file.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The file it was read from (as given to [`load`](crate::load) or [`parse`](crate::parse)).
    pub path: PathBuf,
    /// `data_dir`: spool, checkpoints and dead letters, one folder per sink.
    pub data_dir: PathBuf,
    /// `shutdown_timeout`: how long SIGTERM waits for in-flight data (default 30 s).
    pub shutdown_timeout: Duration,
    /// `[api]`, when present.
    pub api: Option<Api>,
    /// `[sources.NAME]` by name.
    pub sources: BTreeMap<String, SourceConfig>,
    /// `[sinks.NAME]` by name.
    pub sinks: BTreeMap<String, SinkConfig>,
    pub(crate) env: EnvMarks,
}

impl Config {
    /// The default `shutdown_timeout`.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

    /// The sinks that `source` feeds, in name order.
    pub fn sinks_of<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a SinkConfig> + 'a {
        self.sinks
            .values()
            .filter(move |s| s.inputs.iter().any(|i| i == source))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("data_dir", &Shown(&self.data_dir, self.env.has("data_dir")))
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("api", &self.api)
            .field("sources", &self.sources)
            .field("sinks", &self.sinks)
            .finish()
    }
}

/// `[api]`: the observability endpoint.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Api {
    /// `listen`: the socket address to serve on.
    pub listen: SocketAddr,
    /// `ready_max_age`: `/ready` answers 503 for a route with records pending and nothing
    /// delivered for longer than this. Default: none.
    pub ready_max_age: Option<Duration>,
    pub(crate) env: EnvMarks,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("listen", &Shown(&self.listen, self.env.has("listen")))
            .field("ready_max_age", &self.ready_max_age)
            .finish()
    }
}

/// One `[sources.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SourceConfig {
    /// Its name (the key in `[sources.NAME]`).
    pub name: String,
    /// Where its name is in the file.
    pub location: Location,
    /// What it reads, by `type`.
    pub kind: SourceKind,
}

/// A source's `type` and its own options.
///
/// Adding a type (`syslog`, `http`, `nats`): a variant here with its struct, its name in
/// `SourceKind::TYPES` and a reader in `reader.rs` (`source_kind`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SourceKind {
    /// `type = "file"`: files matched by globs, followed as they grow and rotate.
    File(FileSource),
    /// `type = "syslog"`: a syslog listener (UDP, TCP or TLS).
    Syslog(SyslogSource),
    /// `type = "http"`: a Splunk-HEC-compatible HTTP receiver.
    Http(HttpSource),
    /// `type = "nats"`: a worker's share of a durable pull consumer on a JetStream stream.
    Nats(NatsSource),
}

impl SourceKind {
    /// Every accepted `type`.
    pub const TYPES: &'static [&'static str] = &["file", "syslog", "http", "nats"];

    /// The `type` as written in the file.
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceKind::File(_) => "file",
            SourceKind::Syslog(_) => "syslog",
            SourceKind::Http(_) => "http",
            SourceKind::Nats(_) => "nats",
        }
    }

    /// Whether the source listens on a port (and so can feed only one sink: a port is
    /// bound once).
    pub fn listens(&self) -> bool {
        matches!(self, SourceKind::Syslog(_) | SourceKind::Http(_))
    }
}

/// `mode` of a syslog source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyslogMode {
    /// `"udp"`: one message per datagram (RFC 5426).
    Udp,
    /// `"tcp"`: RFC 6587 octet counting or newline framing, told apart per message (the default).
    #[default]
    Tcp,
    /// `"tls"`: TCP inside TLS (RFC 5425), with `cert_file` and `key_file`.
    Tls,
}

/// TLS files of a listening source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// `cert_file`: the server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// `key_file`: its private key (PEM).
    pub key_file: PathBuf,
    /// `client_ca_file`: when set, clients must present a certificate signed by one of
    /// these CAs (PEM).
    pub client_ca_file: Option<PathBuf>,
}

/// `type = "syslog"`.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct SyslogSource {
    /// `mode` (default tcp).
    pub mode: SyslogMode,
    /// `listen`: the socket address to listen on.
    pub listen: SocketAddr,
    /// `cert_file`, `key_file`, `client_ca_file` (mode tls only; required there).
    pub tls: Option<TlsFiles>,
    /// `max_message_bytes`: longer messages are dropped and counted (default 65536).
    pub max_message_bytes: usize,
    /// `max_connections`: TCP/TLS connections served at once; more wait in the kernel's
    /// backlog (default 1024).
    pub max_connections: usize,
    pub(crate) env: EnvMarks,
}

impl SyslogSource {
    /// The default `max_message_bytes`.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
    /// The default `max_connections`.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
}

impl fmt::Debug for SyslogSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = |k| self.env.has(k);
        f.debug_struct("SyslogSource")
            .field("mode", &self.mode)
            .field("listen", &Shown(&self.listen, e("listen")))
            .field("tls", &Shown(&self.tls, e("tls")))
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `type = "http"`.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpSource {
    /// `listen`: the socket address to serve on.
    pub listen: SocketAddr,
    /// `token`: what clients send as `Authorization: Splunk <token>` (never printed).
    pub token: String,
    /// `cert_file`, `key_file` (HTTPS when set; `client_ca_file` asks for client
    /// certificates).
    pub tls: Option<TlsFiles>,
    /// `max_body_bytes`: the largest request body, after decompression (default 16 MiB);
    /// a larger one is answered 413.
    pub max_body_bytes: usize,
    pub(crate) env: EnvMarks,
}

impl HttpSource {
    /// The default `max_body_bytes`.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;
}

impl fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = |k| self.env.has(k);
        f.debug_struct("HttpSource")
            .field("listen", &Shown(&self.listen, e("listen")))
            .field("token", &REDACTED)
            .field("tls", &Shown(&self.tls, e("tls")))
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

/// `type = "nats"`: batches published by edge hosts' `nats` sinks, consumed through one
/// durable pull consumer shared by every worker.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct NatsSource {
    /// `url`: one server URL or several (a cluster), never empty.
    pub urls: Vec<String>,
    /// `stream`: the stream's name.
    pub stream: String,
    /// `consumer`: the durable consumer's name, shared by all workers.
    pub consumer: String,
    /// `subject`: when set, the stream is created capturing it if missing (so workers may
    /// start before any edge host).
    pub subject: Option<String>,
    /// `format` of the records (default text): what the sink is told they are.
    pub format: Format,
    /// How the worker authenticates: `credentials_file`, `user` and `password`, `token`
    /// or `nkey_seed_file`, one of them at most.
    pub auth: NatsAuth,
    /// `ca_file`: CA certificates (PEM) to trust; turns TLS on.
    pub ca_file: Option<PathBuf>,
    /// `client_cert` and `client_key`: a client certificate and its key (PEM), both or
    /// neither, for a server that verifies clients' certificates (mutual TLS; its
    /// `tls { verify: true }`). May come with any `auth`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `in_flight`: messages this worker holds unacknowledged at most (default 4).
    pub in_flight: usize,
    /// `max_deliver`: deliveries before a message goes to the dead-letter subject
    /// (default 10).
    pub max_deliver: u64,
    /// `ack_wait`: how long the server waits for an (in-progress) acknowledgement
    /// before redelivering (default 60 s).
    pub ack_wait: Duration,
    /// `dead_letter_subject` (default `STREAM.dead`, lowercased).
    pub dead_letter_subject: Option<String>,
    /// `nak_delay`: the delay of the first negative acknowledgement of a batch the sink
    /// gave up on, doubled with each delivery up to 5 minutes (default 5 s).
    pub nak_delay: Duration,
    pub(crate) env: EnvMarks,
}

impl NatsSource {
    /// The default `in_flight`.
    pub const DEFAULT_IN_FLIGHT: usize = 4;
    /// The default `max_deliver`.
    pub const DEFAULT_MAX_DELIVER: u64 = 10;
    /// The default `ack_wait`.
    pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(60);
    /// The default `nak_delay`.
    pub const DEFAULT_NAK_DELAY: Duration = Duration::from_secs(5);
}

impl fmt::Debug for NatsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = |k| self.env.has(k);
        f.debug_struct("NatsSource")
            .field("urls", &Shown(&UrlsShown(&self.urls), e("url")))
            .field("stream", &self.stream)
            .field("consumer", &self.consumer)
            .field("subject", &self.subject)
            .field("format", &self.format)
            .field("auth", &Shown(&self.auth, e("auth")))
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("in_flight", &self.in_flight)
            .field("max_deliver", &self.max_deliver)
            .field("ack_wait", &self.ack_wait)
            .field("dead_letter_subject", &self.dead_letter_subject)
            .field("nak_delay", &self.nak_delay)
            .finish()
    }
}

/// How a `nats` source (or sink) authenticates to the servers: one way at most, each its
/// own keys. Passwords and tokens never show in `Debug`; give them from the environment
/// (`password = "${NATS_PASSWORD}"`) to keep them out of the file.
#[derive(Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum NatsAuth {
    /// None of the keys: no authentication (or a client certificate alone).
    #[default]
    None,
    /// `credentials_file`: a NATS `.creds` file (a user JWT and its NKey seed).
    CredentialsFile(PathBuf),
    /// `user` and `password` (both).
    UserPassword {
        /// `user`.
        user: String,
        /// `password` (never printed).
        password: String,
    },
    /// `token` (never printed).
    Token(String),
    /// `nkey_seed_file`: a file holding a user NKey seed (`SU...`).
    NkeySeedFile(PathBuf),
}

impl NatsAuth {
    /// The keys that choose a way to authenticate, each of which excludes the others
    /// (`user` and `password` go together).
    pub const KEYS: &'static [&'static str] = &[
        "credentials_file",
        "user",
        "password",
        "token",
        "nkey_seed_file",
    ];
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::CredentialsFile(p) => f.debug_tuple("CredentialsFile").field(p).finish(),
            NatsAuth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &REDACTED)
                .finish(),
            NatsAuth::Token(_) => f.debug_tuple("Token").field(&REDACTED).finish(),
            NatsAuth::NkeySeedFile(p) => f.debug_tuple("NkeySeedFile").field(p).finish(),
        }
    }
}

/// `type = "file"`.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct FileSource {
    /// `include`: globs of the files to read (never empty).
    pub include: Vec<String>,
    /// `exclude`: globs of files never read, even when `include` matches them.
    pub exclude: Vec<String>,
    /// `format` (default text).
    pub format: Format,
    /// `start_at`, for files first seen (default beginning).
    pub start_at: StartAt,
    /// `multiline`: merging of continuation lines into one record.
    pub multiline: Option<Multiline>,
    /// `whole_files`: upload each file whole once it stopped changing (for `file-upload` sinks).
    pub whole_files: bool,
    /// `settle`: with `whole_files`, how long a file must be unchanged (default 10 s).
    pub settle: Duration,
    /// `after_upload`: with `whole_files`, what becomes of an uploaded file (default keep).
    pub after_upload: AfterUpload,
    /// `max_open_files`: the most files held open at once (the daemon's default when `None`).
    pub max_open_files: Option<usize>,
    pub(crate) env: EnvMarks,
}

impl FileSource {
    /// The default `settle`.
    pub const DEFAULT_SETTLE: Duration = Duration::from_secs(10);
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = |k| self.env.has(k);
        f.debug_struct("FileSource")
            .field("include", &Shown(&self.include, e("include")))
            .field("exclude", &Shown(&self.exclude, e("exclude")))
            .field("format", &self.format)
            .field("start_at", &self.start_at)
            .field("multiline", &self.multiline)
            .field("whole_files", &self.whole_files)
            .field("settle", &self.settle)
            .field(
                "after_upload",
                &Shown(&self.after_upload, e("after_upload")),
            )
            .field("max_open_files", &self.max_open_files)
            .finish()
    }
}

/// `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// `"text"`: one record per line.
    #[default]
    Text,
    /// `"json"`: one JSON object per record.
    Json,
}

/// `start_at`: where reading starts in a file seen for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// `"beginning"`: read what the file already holds.
    #[default]
    Beginning,
    /// `"end"`: only what is appended from now on.
    End,
}

/// `multiline = { ... }`.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Multiline {
    /// `start` or `continue` (exactly one), a regular expression (`regex` crate syntax).
    pub rule: MultilineRule,
    /// `max_bytes`: a merged record is cut (flushed) at this size (default 1,000,000).
    pub max_bytes: usize,
    /// `timeout`: a pending record is flushed when no line came for this long (default 1 s).
    pub timeout: Duration,
    /// `join`: put between merged lines (default: `\n`, a backslash and an `n`; the daemon
    /// refuses a line feed here, as batches are line-delimited).
    pub join: Option<String>,
    pub(crate) env: EnvMarks,
}

impl Multiline {
    /// The default `max_bytes`.
    pub const DEFAULT_MAX_BYTES: usize = 1_000_000;
    /// The default `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
}

impl fmt::Debug for Multiline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multiline")
            .field("rule", &Shown(&self.rule, self.env.has("rule")))
            .field("max_bytes", &self.max_bytes)
            .field("timeout", &self.timeout)
            .field("join", &Shown(&self.join, self.env.has("join")))
            .finish()
    }
}

/// How lines are merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultilineRule {
    /// `start = 'RE'`: a line matching RE starts a record; other lines continue it.
    Start(String),
    /// `continue = 'RE'`: a line matching RE continues the record before it.
    Continue(String),
}

impl MultilineRule {
    /// The regular expression (already checked to compile).
    pub fn pattern(&self) -> &str {
        match self {
            MultilineRule::Start(p) | MultilineRule::Continue(p) => p,
        }
    }
}

/// `after_upload`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AfterUpload {
    /// `"keep"`: leave the file where it is (a checkpoint remembers it was uploaded).
    #[default]
    Keep,
    /// `"delete"`: delete it.
    Delete,
    /// `{ move_to = "/path" }`: move it into this folder.
    MoveTo(PathBuf),
}

/// One `[sinks.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SinkConfig {
    /// Its name (the key in `[sinks.NAME]`).
    pub name: String,
    /// Where its name is in the file.
    pub location: Location,
    /// Its `type`.
    pub kind: SinkKind,
    /// `inputs`: the sources it takes records (or files) from, each the name of a source.
    pub inputs: Vec<String>,
    /// Every other key, in file order: the options of the matching one-shot subcommand,
    /// checked against its flags by the daemon.
    pub options: Vec<SinkOption>,
}

impl SinkConfig {
    /// The option `key` (written with `_` or `-`), if set.
    pub fn option(&self, key: &str) -> Option<&SinkOption> {
        let want = key.replace('-', "_");
        self.options
            .iter()
            .find(|o| o.key.replace('-', "_") == want)
    }
}

/// A sink's `type`, named like the one-shot subcommand whose options it takes.
///
/// Adding a type (`nats`): a variant here, its name in `SinkKind::TYPES` and
/// `type_name`, and whether it takes whole files in `takes_whole_files`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SinkKind {
    /// `type = "http-ingest"`: Taegis HTTP Ingest (`logferry http-ingest`).
    HttpIngest,
    /// `type = "sdl"`: Singularity Data Lake `addEvents` (`logferry sdl`).
    Sdl,
    /// `type = "file-upload"`: Taegis File Upload of whole files (`logferry file-upload`).
    FileUpload,
    /// `type = "nats"`: batches published to a NATS JetStream stream, for a pool of
    /// workers (`url`, `stream`, `subject`).
    Nats,
}

impl SinkKind {
    /// Every accepted `type`.
    pub const TYPES: &'static [&'static str] = &["http-ingest", "sdl", "file-upload", "nats"];

    /// The `type` as written in the file, which is also the subcommand's name.
    pub fn type_name(self) -> &'static str {
        match self {
            SinkKind::HttpIngest => "http-ingest",
            SinkKind::Sdl => "sdl",
            SinkKind::FileUpload => "file-upload",
            SinkKind::Nats => "nats",
        }
    }

    /// Whether its inputs must set `whole_files = true` (and others must not).
    pub fn takes_whole_files(self) -> bool {
        matches!(self, SinkKind::FileUpload)
    }

    pub(crate) fn from_type(name: &str) -> Option<SinkKind> {
        match name {
            "http-ingest" => Some(SinkKind::HttpIngest),
            "sdl" => Some(SinkKind::Sdl),
            "file-upload" => Some(SinkKind::FileUpload),
            "nats" => Some(SinkKind::Nats),
            _ => None,
        }
    }
}

/// A sink key other than `type` and `inputs`, as written (not yet checked against the
/// subcommand's flags).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct SinkOption {
    /// The key as written (`max_record_bytes` or `max-record-bytes`).
    pub key: String,
    /// The value, after `${VAR}` substitution.
    pub value: OptionValue,
    /// Where the value is.
    pub location: Location,
    /// Where the key is.
    pub key_location: Location,
    /// Whether the value took anything from the environment: never quote it in an error then.
    pub from_env: bool,
}

impl SinkOption {
    /// Whether the key names a secret (`key`, `token`, `password`, `secret`,
    /// `client_secret`, or ending in `_key` / `_token`, with `-` or `_`); such values are
    /// redacted in `Debug`.
    pub fn is_secret(&self) -> bool {
        is_secret_key(&self.key)
    }

    /// Whether the value may be shown to a user (in an error, a log, `Debug`): not from
    /// the environment, not under a secret's key, and not a URL with user info (a NATS
    /// URL may carry a password or a token: `nats://user:password@host`).
    pub fn is_showable(&self) -> bool {
        let user_info = match &self.value {
            OptionValue::String(s) => has_user_info(s),
            OptionValue::List(l) => l.iter().any(|s| has_user_info(s)),
            _ => false,
        };
        !self.from_env && !self.is_secret() && !user_info
    }
}

pub(crate) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    matches!(
        k.as_str(),
        "key" | "token" | "password" | "secret" | "client_secret"
    ) || k.ends_with("_key")
        || k.ends_with("_token")
}

impl fmt::Debug for SinkOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkOption")
            .field("key", &self.key)
            .field("value", &Shown(&self.value, !self.is_showable()))
            .field("location", &self.location)
            .finish()
    }
}

/// A sink option's value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OptionValue {
    /// A string.
    String(String),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array of strings.
    List(Vec<String>),
}

impl OptionValue {
    /// The value as one command-line argument (`1_000` as `1000`, `true` as `true`);
    /// `None` for a list.
    pub fn as_arg(&self) -> Option<String> {
        match self {
            OptionValue::String(s) => Some(s.clone()),
            OptionValue::Integer(i) => Some(i.to_string()),
            OptionValue::Float(x) => Some(x.to_string()),
            OptionValue::Bool(b) => Some(b.to_string()),
            OptionValue::List(_) => None,
        }
    }

    /// What kind of value it is, for messages: `a string`, `an integer`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            OptionValue::String(_) => "a string",
            OptionValue::Integer(_) => "an integer",
            OptionValue::Float(_) => "a float",
            OptionValue::Bool(_) => "a boolean",
            OptionValue::List(_) => "a list of strings",
        }
    }
}
