//! Command-line arguments shared by the sending subcommands.

use clap::{Args, ValueEnum};
use logferry::framing::{FramingConfig, OversizePolicy, Utf8Policy};
use logferry::http::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// Parses a secret straight into the redacting type, so no `Debug` of the arguments can
/// show it.
pub(crate) fn secret(s: &str) -> Result<Secret, String> {
    if s.trim().is_empty() {
        return Err("the value is empty".into());
    }
    Ok(Secret::new(s.trim()))
}

/// A duration like `90s`, `15m`, `2h`, or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Within {
    Forever,
    For(Duration),
}

pub(crate) fn within(s: &str) -> Result<Within, String> {
    if s == "forever" {
        return Ok(Within::Forever);
    }
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 15m, 2h or forever"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(format!(
                "`{s}` is not a duration like 90s, 15m, 2h or forever"
            ));
        }
    };
    Ok(Within::For(Duration::from_secs(secs)))
}

/// A short duration: `250ms`, `1s`, `2m`.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration like 250ms, 1s or 2m");
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(bad()),
    }
}

/// `N` sessions or `auto`.
pub(crate) fn sessions(s: &str) -> Result<logferry::sdl_transport::Sessions, String> {
    if s == "auto" {
        return Ok(logferry::sdl_transport::Sessions::Auto { min: 1, max: 8 });
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(logferry::sdl_transport::Sessions::Fixed(n)),
        _ => Err(format!(
            "`{s}` is not a number of sessions (1-64) or `auto`"
        )),
    }
}

/// Bytes per second per session, or `off`.
pub(crate) fn pace(s: &str) -> Result<logferry::sdl_transport::Pacing, String> {
    if s == "off" {
        return Ok(logferry::sdl_transport::Pacing::Off);
    }
    match s.parse::<u64>() {
        Ok(n) if (1..=10_000_000).contains(&n) => {
            Ok(logferry::sdl_transport::Pacing::PerSession { bytes_per_sec: n })
        }
        _ => Err(format!(
            "`{s}` is not a rate in bytes per second (at most 10000000, the seed's ceiling) or `off`"
        )),
    }
}

/// How the HTTP Ingest key is presented.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AuthArg {
    /// `Authorization: Bearer <key>` (recommended by the contract).
    Bearer,
    /// `Authorization: Splunk <key>` (Splunk HEC compatible clients).
    Splunk,
}

impl From<AuthArg> for logferry::taegis_ingest::AuthScheme {
    fn from(auth: AuthArg) -> Self {
        match auth {
            AuthArg::Bearer => Self::Bearer,
            AuthArg::Splunk => Self::Splunk,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CompressionArg {
    Gzip,
    None,
}

impl CompressionArg {
    /// The gzip level to use, if any (`level` is checked by clap to be 1..=9).
    pub(crate) fn level(self, level: u8) -> Option<logferry::compress::Level> {
        match self {
            CompressionArg::Gzip => {
                Some(logferry::compress::Level::new(level).expect("clap checks 1..=9"))
            }
            CompressionArg::None => None,
        }
    }
}

/// Input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// One record per line.
    Text,
    /// One JSON object per record (NDJSON, pretty-printed objects or JSON arrays).
    Json,
}

impl From<FormatArg> for logferry::taegis_ingest::ContentType {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Text => Self::Text,
            FormatArg::Json => Self::Json,
        }
    }
}

impl From<FormatArg> for logferry::framing::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => logferry::framing::Format::Text,
            FormatArg::Json => logferry::framing::Format::Json,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Utf8Arg {
    /// Send the record to the dead-letter file with the offset of the bad byte.
    Reject,
    /// Replace invalid bytes with U+FFFD and send the record.
    Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OversizeArg {
    /// Cut a long text record into several (JSON records are always rejected).
    Split,
    /// Keep only the start of a long text record.
    Truncate,
    /// Send a long record to the dead-letter file.
    Reject,
}

/// Framing options common to every subcommand that reads records.
#[derive(Debug, Clone, Args)]
pub(crate) struct FramingArgs {
    /// What to do with a record that is not valid UTF-8 (the APIs require UTF-8).
    #[arg(long, value_enum, default_value = "reject")]
    pub(crate) invalid_utf8: Utf8Arg,
    /// Largest record in bytes [default: 500000 for HTTP Ingest, which recommends at
    /// most about 500 KB; 5900000 for SDL, whose only limit is the 6 MB request].
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_record_bytes: Option<usize>,
    /// What to do with a longer text record.
    #[arg(long, value_enum, default_value = "split")]
    pub(crate) oversize: OversizeArg,
    /// How long a batch that is not full waits for more records before it is sent
    /// (250ms, 1s, 2m): the latency of a quiet input.
    #[arg(long, value_parser = duration, default_value = "1s", value_name = "DURATION")]
    pub(crate) linger: Duration,
}

impl FramingArgs {
    /// The framing policies; `--max-record-bytes` defaults to the sink's `default_max`.
    pub(crate) fn config(&self, default_max: usize) -> FramingConfig {
        FramingConfig {
            utf8: match self.invalid_utf8 {
                Utf8Arg::Reject => Utf8Policy::Reject,
                Utf8Arg::Replace => Utf8Policy::Replace,
            },
            max_record_bytes: self.max_record_bytes.unwrap_or(default_max),
            oversize: match self.oversize {
                OversizeArg::Split => OversizePolicy::Split,
                OversizeArg::Truncate => OversizePolicy::Truncate,
                OversizeArg::Reject => OversizePolicy::Reject,
            },
            ..FramingConfig::default()
        }
    }
}

/// Options every sender has.
#[derive(Debug, Clone, Args)]
pub(crate) struct SenderArgs {
    /// Durable queue and checkpoints: undelivered batches survive a crash and are sent
    /// first on the next start; files already shipped continue where they stopped.
    #[arg(long, value_name = "DIR")]
    pub(crate) spool: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust besides the built-in roots (the emulator's:
    /// `ca_file` in its ready file). A certificate not trusted stops the run at once.
    #[arg(long, env = "LOGFERRY_CA_FILE", value_name = "PATH")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Write the final summary here as one JSON object (fields in the README).
    #[arg(long, value_name = "PATH")]
    pub(crate) summary_json: Option<PathBuf>,
    /// Where records that cannot be delivered go, one JSON object per line
    /// [default: DIR/dead-letter.jsonl with --spool, else ./logferry-dead-letter.jsonl;
    /// created only when needed].
    #[arg(long, value_name = "PATH")]
    pub(crate) dead_letter: Option<PathBuf>,
    /// How long to keep retrying a batch before giving up on it (90s, 15m, 2h, forever).
    /// A batch given up goes to the dead-letter file, or stays in the spool.
    #[arg(long, value_parser = within, default_value = "15m", value_name = "DURATION")]
    pub(crate) retry_for: Within,
    /// Timeout for one HTTP request, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub(crate) request_timeout: u64,
    /// Never show a progress bar, even on a terminal.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// When the spool forces data to disk: after every batch (survives power loss, slow
    /// on most disks), every second (a power loss may lose the last second; a crash of
    /// the process loses nothing), or never (left to the OS).
    #[arg(long, value_enum, default_value = "interval")]
    pub(crate) fsync: FsyncArg,
    /// Largest spool size in bytes.
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    pub(crate) spool_max_bytes: u64,
    /// What to do when the spool is full: pause reading until batches are delivered, or
    /// drop the oldest batches (counted loudly).
    #[arg(long, value_enum, default_value = "block")]
    pub(crate) spool_full: SpoolFullArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FsyncArg {
    EveryBatch,
    Interval,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SpoolFullArg {
    Block,
    DropOldest,
}

/// A durable run's spool and checkpoints, opened under `--spool DIR`.
pub(crate) struct Opened {
    pub(crate) dir: PathBuf,
    pub(crate) spool: std::sync::Arc<logferry::spool::Spool>,
    pub(crate) checkpoints: std::sync::Arc<logferry::source::Checkpoints>,
}

/// A sink built from a subcommand's flags, with how its inputs become batches and the
/// target that names its spool.
pub(crate) struct Built<S> {
    pub(crate) sink: S,
    pub(crate) front: logferry::pipeline::FrontConfig,
    pub(crate) target: String,
}

/// What every record-shipping subcommand needs before its sink.
pub(crate) struct Endpoint {
    pub(crate) url: logferry::http::IngestUrl,
    pub(crate) key: Secret,
    pub(crate) client: logferry::http::Client,
}

/// A key from `--key` (or its environment variable) or `--key-file`; its absence is a usage error.
pub(crate) fn resolve_key(
    key: Option<&logferry::http::Secret>,
    key_file: Option<&PathBuf>,
    what: &str,
    env: &str,
) -> anyhow::Result<logferry::http::Secret> {
    if let Some(path) = key_file {
        return match logferry::http::Secret::from_file(path) {
            Ok(k) => Ok(k),
            Err(e) => crate::exit::usage!("{}", crate::exit::chain(&e)),
        };
    }
    match key {
        Some(k) => Ok(k.clone()),
        None => crate::exit::usage!("missing {what}: pass --key, set {env}, or use --key-file"),
    }
}

impl SenderArgs {
    /// The URL, the key (`what`, from `--key`, `env` or `--key-file`) and the client.
    pub(crate) fn endpoint(
        &self,
        url: &str,
        key: Option<&Secret>,
        key_file: Option<&PathBuf>,
        what: &str,
        env: &str,
    ) -> anyhow::Result<Endpoint> {
        let url = match logferry::http::IngestUrl::parse(url) {
            Ok(u) => u,
            Err(e) => crate::exit::usage!("{}", crate::exit::chain(&e)),
        };
        let key = resolve_key(key, key_file, what, env)?;
        let client = match logferry::http::Client::new(self.client_config()) {
            Ok(c) => c,
            Err(e) => crate::exit::usage!("{}", crate::exit::chain(&e)),
        };
        Ok(Endpoint { url, key, client })
    }

    /// A job for `sink`: its spool (under `--spool`, named for `target`) and the inputs
    /// `files`, resumed from their checkpoints.
    pub(crate) fn job<S: logferry::pipeline::Sink>(
        &self,
        sink: S,
        target: &str,
        files: &[PathBuf],
        front: logferry::pipeline::FrontConfig,
    ) -> anyhow::Result<crate::driver::Job<S>> {
        let opened = self.open_spool(sink.name(), target)?;
        let checkpoints = opened.as_ref().map(|o| o.checkpoints.clone());
        let inputs = crate::inputs::open_inputs(files, checkpoints.as_deref())?;
        let total_bytes = crate::inputs::bytes_left(&inputs);
        Ok(crate::driver::Job {
            total_bytes,
            sink,
            files: logferry::pipeline::Files::new(inputs, checkpoints),
            front,
            opened,
            dead_letter: self.dead_letter_path(),
        })
    }

    /// The dead-letter file's path.
    pub(crate) fn dead_letter_path(&self) -> PathBuf {
        match (&self.dead_letter, &self.spool) {
            (Some(p), _) => p.clone(),
            (None, Some(dir)) => dir.join("dead-letter.jsonl"),
            (None, None) => PathBuf::from("logferry-dead-letter.jsonl"),
        }
    }

    /// The HTTP client settings.
    pub(crate) fn client_config(&self) -> logferry::http::ClientConfig {
        logferry::http::ClientConfig {
            ca_file: self.ca_file.clone(),
            request_timeout: Duration::from_secs(self.request_timeout.max(1)),
            ..logferry::http::ClientConfig::default()
        }
    }

    /// Opens the spool for one backend and target under `--spool DIR`, in its own
    /// subdirectory (`DIR/<backend>-<hash of the target>`), so two integrations never
    /// replay each other's batches or share checkpoints.
    pub(crate) fn open_spool(&self, backend: &str, target: &str) -> anyhow::Result<Option<Opened>> {
        let Some(root) = &self.spool else {
            return Ok(None);
        };
        self.open_spool_at(root.join(logferry::spool::dir_name(backend, target)))
            .map(Some)
    }

    /// Opens the spool and checkpoints in `dir` with these flags' spool settings.
    pub(crate) fn open_spool_at(&self, dir: PathBuf) -> anyhow::Result<Opened> {
        let config = logferry::spool::SpoolConfig {
            fsync: match self.fsync {
                FsyncArg::EveryBatch => logferry::spool::FsyncPolicy::EveryBatch,
                FsyncArg::Interval => {
                    logferry::spool::FsyncPolicy::Interval(Duration::from_secs(1))
                }
                FsyncArg::Never => logferry::spool::FsyncPolicy::Never,
            },
            max_bytes: self.spool_max_bytes,
            when_full: match self.spool_full {
                SpoolFullArg::Block => logferry::spool::WhenFull::Block,
                SpoolFullArg::DropOldest => logferry::spool::WhenFull::DropOldest,
            },
            ..logferry::spool::SpoolConfig::default()
        };
        let spool = match logferry::spool::Spool::open(&dir, config) {
            Ok(s) => s,
            Err(e) => crate::exit::usage!(
                "cannot open the spool in {}: {}",
                dir.display(),
                crate::exit::chain(&e)
            ),
        };
        let checkpoints = match logferry::source::Checkpoints::open(
            &dir,
            logferry::source::CheckpointConfig {
                fsync: self.fsync == FsyncArg::EveryBatch,
            },
        ) {
            Ok(c) => c,
            Err(e) => crate::exit::usage!(
                "cannot open the checkpoints in {}: {}",
                dir.display(),
                crate::exit::chain(&e)
            ),
        };
        Ok(Opened {
            dir,
            spool: std::sync::Arc::new(spool),
            checkpoints: std::sync::Arc::new(checkpoints),
        })
    }

    /// The retry policy.
    pub(crate) fn retry_config(&self) -> logferry::retry::Config {
        logferry::retry::Config {
            stop: match self.retry_for {
                Within::Forever => logferry::retry::Stop::never(),
                Within::For(d) => logferry::retry::Stop::after_elapsed(d),
            },
            ..logferry::retry::Config::default()
        }
    }
}

/// The Taegis region from `--endpoint` (or `TAEGIS_API_ENDPOINT`) or `--region`, one of
/// the two; a conflict names the environment variable when that is where the endpoint
/// came from.
pub(crate) fn region(
    endpoint: Option<&str>,
    region: Option<&str>,
) -> anyhow::Result<logferry::taegis_upload::Region> {
    let name = match (endpoint, region) {
        (Some(endpoint), Some(_)) => {
            let from_env = std::env::var("TAEGIS_API_ENDPOINT").is_ok_and(|v| v == endpoint);
            if from_env {
                crate::exit::usage!(
                    "--region conflicts with TAEGIS_API_ENDPOINT, set in the environment: unset one"
                )
            }
            crate::exit::usage!("--endpoint and --region conflict: pass one")
        }
        (Some(name), None) | (None, Some(name)) => name,
        (None, None) => {
            crate::exit::usage!(
                "missing endpoint: pass --endpoint, set TAEGIS_API_ENDPOINT, or use --region"
            )
        }
    };
    match name.parse() {
        Ok(r) => Ok(r),
        Err(e) => crate::exit::usage!("{}", crate::exit::chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(within("forever"), Ok(Within::Forever));
        assert_eq!(within("90"), Ok(Within::For(Duration::from_secs(90))));
        assert_eq!(within("15m"), Ok(Within::For(Duration::from_secs(900))));
        assert!(within("soon").is_err());
        assert!(within("5d").is_err());
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert!(duration("1h").is_err());
    }

    /// Generated keys use the URL-safe alphabet and may start with `-`.
    #[test]
    fn secrets_may_start_with_a_dash() {
        use clap::{Args, FromArgMatches};
        let command =
            crate::cmd_sdl::SdlArgs::augment_args(clap::Command::new("sdl").no_binary_name(true));
        let matches = command
            .try_get_matches_from(["--url", "https://x.example", "--key", "-9dash-key"])
            .unwrap();
        let args = crate::cmd_sdl::SdlArgs::from_arg_matches(&matches).unwrap();
        assert_eq!(args.key.unwrap().expose(), "-9dash-key");
    }
}
