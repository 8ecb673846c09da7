//! From a configuration file to the routes `logferry run` starts: every sink's options
//! are the flags of its one-shot subcommand, parsed by the same definitions, so each
//! option has the same name, default and checks in both places.

use crate::cmd_file_upload::FileUploadArgs;
use crate::cmd_http_ingest::HttpIngestArgs;
use crate::cmd_sdl::SdlArgs;
use clap::{Args, FromArgMatches};
use logferry_config::{
    Config, ConfigError, FileSource, Format, NatsSource, OptionValue, SinkConfig, SinkKind,
    SinkOption, SourceConfig, SourceKind,
};
use std::path::PathBuf;

/// A sink's options, parsed as its subcommand's flags.
pub(crate) enum SinkArgs {
    HttpIngest(Box<HttpIngestArgs>),
    Sdl(Box<SdlArgs>),
    FileUpload(Box<FileUploadArgs>),
    Nats(Box<super::bus::NatsArgs>),
}

/// One route: records of one source into one sink, with its own spool, checkpoints and
/// dead-letter file in `dir`, so a slow sink or input holds back nobody else.
pub(crate) struct RouteSpec {
    /// `SINK<-SOURCE`, for logs.
    pub(crate) name: String,
    /// The sink's parsed options.
    pub(crate) sink: SinkArgs,
    /// The source.
    pub(crate) source: RouteSource,
    /// `DATA_DIR/SINK/SOURCE`.
    pub(crate) dir: PathBuf,
    /// What the route was built from: an unchanged pair keeps running on reload.
    pub(crate) from: (SinkConfig, SourceConfig),
    /// The sink's `heartbeat`: a record this often from this route (the sink's first).
    pub(crate) heartbeat: Option<std::time::Duration>,
}

/// Counts the records of one spool entry, if it can be read.
pub(crate) type Counter = fn(&[u8]) -> Option<u64>;

/// How to count the records of one of `route`'s spool entries, if it keeps any.
pub(crate) fn spool_records(route: &RouteSpec) -> Option<Counter> {
    use logferry::spool::Entry;
    match route.sink {
        SinkArgs::HttpIngest(_) => Some(|payload| {
            logferry::taegis_ingest::EncodedBatch::decode(payload)
                .ok()
                .map(|e| u64::from(e.records()))
        }),
        SinkArgs::Sdl(_) => Some(|payload| {
            logferry::sdl_transport::StoredBatch::decode(payload)
                .ok()
                .map(|e| e.batch.len() as u64)
        }),
        SinkArgs::Nats(_) => Some(|payload| {
            logferry::framing::Batch::decode(payload)
                .ok()
                .map(|b| b.len() as u64)
        }),
        SinkArgs::FileUpload(_) => None,
    }
}

/// A route's source.
pub(crate) enum RouteSource {
    /// Followed files (or whole files for a file-upload sink).
    File(FileSource),
    /// A listening source (syslog, HTTP): `super::listen`.
    Listen(super::listen::Listener),
    /// A worker's share of a NATS consumer: `super::bus`.
    Nats(NatsSource),
}

impl RouteSource {
    /// The file source; only file sources feed a file-upload sink (the reader checks).
    pub(crate) fn file(&self) -> Option<&FileSource> {
        match self {
            RouteSource::File(f) => Some(f),
            RouteSource::Listen(_) | RouteSource::Nats(_) => None,
        }
    }
}

/// Sink keys `logferry run` reads itself (no one-shot subcommand has them).
const RUN_KEYS: &[&str] = &["heartbeat"];

/// Keys of a subcommand that `logferry run` decides itself, and why.
const DAEMON_KEYS: &[(&str, &str)] = &[
    ("files", "inputs come from the sink's `inputs`"),
    (
        "format",
        "the format belongs to the source (`format` under [sources.NAME])",
    ),
    ("spool", "the spool is always on, under `data_dir`"),
    (
        "summary_json",
        "`logferry run` logs a summary per route when it stops",
    ),
    ("no_progress", "`logferry run` shows no progress bar"),
];

/// Every route of `config`, each sink's options checked against its subcommand's flags.
pub(crate) fn plan(config: &Config) -> Result<Vec<RouteSpec>, ConfigError> {
    let mut routes = Vec::new();
    for sink in config.sinks.values() {
        for input in &sink.inputs {
            let source = &config.sources[input];
            #[allow(unreachable_patterns)]
            let (route_source, format) = match &source.kind {
                SourceKind::File(file) => (RouteSource::File(file.clone()), file.format),
                SourceKind::Nats(n) => {
                    super::bus::check_worker(config, sink, source)?;
                    (RouteSource::Nats(n.clone()), n.format)
                }
                kind => match super::listen::plan(kind, sink.kind) {
                    Some((listener, format)) => (RouteSource::Listen(listener), format),
                    None => {
                        return Err(error(
                            config,
                            sink,
                            None,
                            "this source type cannot feed it yet",
                        ));
                    }
                },
            };
            if let Some(m) = route_source.file().and_then(|f| f.multiline.as_ref())
                && m.join.as_deref().is_some_and(|j| j.contains(['\n', '\r']))
            {
                return Err(ConfigError::at(
                    &config.path,
                    source.location,
                    format!("sources.{}.multiline.join", source.name),
                    "must not hold a line feed: batches are line-delimited (as HTTP Ingest \
                     text is), so a merged record stays on one line",
                ));
            }
            let parsed = sink_args(config, sink, format)?;
            let first = routes
                .last()
                .is_none_or(|r: &RouteSpec| r.from.0.name != sink.name);
            routes.push(RouteSpec {
                heartbeat: heartbeat(config, sink)?.filter(|_| first),
                name: format!("{}<-{}", sink.name, source.name),
                sink: parsed,
                source: route_source,
                dir: config.data_dir.join(&sink.name).join(&source.name),
                from: (sink.clone(), source.clone()),
            });
        }
    }
    Ok(routes)
}

/// The sink's options as its subcommand's arguments, with `format` from its source.
fn sink_args(config: &Config, sink: &SinkConfig, format: Format) -> Result<SinkArgs, ConfigError> {
    #[allow(unreachable_patterns)]
    match sink.kind {
        SinkKind::HttpIngest => {
            let mut args: HttpIngestArgs = parse(config, sink, "http-ingest")?;
            args.format = format.into();
            Ok(SinkArgs::HttpIngest(Box::new(args)))
        }
        SinkKind::Sdl => {
            let mut args: SdlArgs = parse(config, sink, "sdl")?;
            args.format = format.into();
            Ok(SinkArgs::Sdl(Box::new(args)))
        }
        SinkKind::FileUpload => Ok(SinkArgs::FileUpload(Box::new(parse(
            config,
            sink,
            "file-upload",
        )?))),
        SinkKind::Nats => {
            let mut args: super::bus::NatsArgs = parse(config, sink, "nats")?;
            args.format = format.into();
            Ok(SinkArgs::Nats(Box::new(args)))
        }
        _ => Err(error(
            config,
            sink,
            None,
            "this sink type is not supported yet",
        )),
    }
}

impl From<Format> for crate::args::FormatArg {
    fn from(f: Format) -> Self {
        #[allow(unreachable_patterns)]
        match f {
            Format::Json => crate::args::FormatArg::Json,
            _ => crate::args::FormatArg::Text,
        }
    }
}

/// Parses `sink`'s options with the flags of subcommand `name` (`A`): key `max_body_bytes`
/// is `--max-body-bytes`, a list repeats its flag, `true` is a bare flag.
fn parse<A: Args + FromArgMatches>(
    config: &Config,
    sink: &SinkConfig,
    name: &'static str,
) -> Result<A, ConfigError> {
    let command = A::augment_args(clap::Command::new(name).no_binary_name(true))
        .mut_arg("files", |a| a.required(false));
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(|l| l.replace('-', "_"))
        .filter(|l| !DAEMON_KEYS.iter().any(|(k, _)| k == l))
        .chain(RUN_KEYS.iter().map(|k| (*k).to_owned()))
        .collect();
    let mut argv: Vec<String> = Vec::new();
    for option in &sink.options {
        let key = option.key.replace('-', "_");
        if RUN_KEYS.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, why)) = DAEMON_KEYS.iter().find(|(k, _)| *k == key) {
            return Err(key_error(
                config,
                sink,
                option,
                &format!("not a sink option: {why}"),
            ));
        }
        if !known.contains(&key) {
            let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
            let hint = logferry_config::did_you_mean(&key, &candidates)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            let message = format!("unknown option for a {name} sink{hint}");
            return Err(key_error(config, sink, option, &message));
        }
        argv.extend(arguments(&flag(&key), &option.value));
    }
    let matches = command.try_get_matches_from(&argv).map_err(|e| {
        // Name the option clap complains about, else the sink itself.
        let detail = e
            .get(clap::error::ContextKind::InvalidArg)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let option = sink.options.iter().find(|o| {
            let flag = flag(&o.key);
            detail == flag
                || detail.starts_with(&format!("{flag} "))
                || detail.starts_with(&format!("{flag}="))
        });
        let message = match (e.kind(), option) {
            (clap::error::ErrorKind::MissingRequiredArgument, _) => {
                format!("missing required option: {}", flag_keys(&detail))
            }
            // clap's own words, which quote the value: only for values that may be shown.
            (_, Some(o)) if o.is_showable() => {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                first
                    .trim_start_matches("error: ")
                    .replace(&detail, &format!("`{}`", o.key))
            }
            _ => e.kind().as_str().unwrap_or("invalid options").to_owned(),
        };
        error(config, sink, option, &message)
    })?;
    A::from_arg_matches(&matches).map_err(|e| error(config, sink, None, &e.kind().to_string()))
}

/// The sink's `heartbeat` interval, if it has one.
fn heartbeat(
    config: &Config,
    sink: &SinkConfig,
) -> Result<Option<std::time::Duration>, ConfigError> {
    let Some(option) = sink.option("heartbeat") else {
        return Ok(None);
    };
    if sink.kind.takes_whole_files() {
        return Err(key_error(
            config,
            sink,
            option,
            "a file-upload sink uploads whole files: it has no heartbeat record",
        ));
    }
    let parsed = match &option.value {
        OptionValue::String(s) => crate::args::duration(s).ok(),
        _ => None,
    };
    match parsed {
        Some(d) if d >= std::time::Duration::from_secs(1) => Ok(Some(d)),
        _ => Err(error(
            config,
            sink,
            Some(option),
            "expected a duration of at least 1s, like \"60s\" or \"5m\"",
        )),
    }
}

/// The flag of config key `key`: `max_body_bytes` (or `max-body-bytes`) is
/// `--max-body-bytes`.
fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

/// `value` as arguments of `flag`: `true` is the bare flag, `false` nothing (every flag
/// defaults to off), a list repeats the flag.
fn arguments(flag: &str, value: &OptionValue) -> Vec<String> {
    match value {
        OptionValue::Bool(true) => vec![flag.to_owned()],
        OptionValue::Bool(false) => Vec::new(),
        OptionValue::List(items) => items.iter().map(|v| format!("{flag}={v}")).collect(),
        other => other
            .as_arg()
            .map(|v| vec![format!("{flag}={v}")])
            .unwrap_or_default(),
    }
}

/// `--url <URL>` as the config key `url`.
fn flag_keys(detail: &str) -> String {
    detail
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| format!("`{}`", w.replace('-', "_")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An error about `option`'s key itself (unknown, not allowed), at the key.
fn key_error(
    config: &Config,
    sink: &SinkConfig,
    option: &SinkOption,
    message: &str,
) -> ConfigError {
    ConfigError::at(
        &config.path,
        option.key_location,
        format!("sinks.{}.{}", sink.name, option.key),
        message,
    )
}

/// An error at `option`'s value (or at the sink's table).
pub(super) fn error(
    config: &Config,
    sink: &SinkConfig,
    option: Option<&SinkOption>,
    message: &str,
) -> ConfigError {
    match option {
        Some(o) => ConfigError::at(
            &config.path,
            o.location,
            format!("sinks.{}.{}", sink.name, o.key),
            message,
        ),
        None => ConfigError::at(
            &config.path,
            sink.location,
            format!("sinks.{}", sink.name),
            message,
        ),
    }
}

impl RouteSpec {
    /// What can be checked without sending: the URL, that a key or credentials are
    /// given (not that they are accepted), the CA file.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        use crate::args::resolve_key;
        let sender = match &self.sink {
            SinkArgs::HttpIngest(a) => {
                url(&a.url)?;
                resolve_key(
                    a.key.as_ref(),
                    a.key_file.as_ref(),
                    "integration key",
                    "HTTP_INGEST_KEY",
                )?;
                &a.sender
            }
            SinkArgs::Sdl(a) => {
                url(&a.url)?;
                resolve_key(
                    a.key.as_ref(),
                    a.key_file.as_ref(),
                    "SDL API key",
                    "SDL_API_KEY",
                )?;
                &a.sender
            }
            SinkArgs::FileUpload(a) => {
                crate::args::region(a.endpoint.as_deref(), a.region.as_deref())?;
                if a.token.is_none() && (a.client_id.is_none() || a.client_secret.is_none()) {
                    anyhow::bail!(
                        "missing credentials: set `token`, or `client_id` and `client_secret`"
                    );
                }
                &a.sender
            }
            SinkArgs::Nats(a) => {
                a.check()?;
                &a.sender
            }
        };
        logferry::http::Client::new(sender.client_config())
            .map_err(|e| anyhow::anyhow!("{}", crate::exit::chain(&e)))?;
        Ok(())
    }
}

fn url(url: &str) -> anyhow::Result<()> {
    logferry::http::IngestUrl::parse(url)
        .map(drop)
        .map_err(|e| anyhow::anyhow!("{}", crate::exit::chain(&e)))
}
