//! Scale-out through NATS JetStream in `logferry run`: a `nats` sink on edge hosts (a
//! followed-files route like any other: spool in front, checkpoints, publish
//! acknowledged before the spool lets go) and a `nats` source on workers.
//!
//! A worker's route (a `nats` source into one HTTP Ingest or SDL sink) runs **without a
//! spool**: the bus is its queue, and a message is acknowledged only once the sink
//! delivered its batch (or refused it for good, the records then in the route's
//! dead-letter file). A batch the sink gives up on goes back to the bus (a delayed
//! negative acknowledgement), not to the dead-letter file; one delivered more than
//! `max_deliver` times goes to the dead-letter subject. A worker killed at any instant
//! loses nothing: what it held unacknowledged is delivered again to another worker after
//! the ack wait (duplicates bounded by `in_flight` messages per worker).

use super::ledger::RouteLedger;
use super::observer::Watch;
use super::plan::{RouteSpec, SinkArgs};
use super::route::{Stage, ticking, until_stopped};
use crate::args::{Built, CompressionArg, FormatArg, FramingArgs, SenderArgs, secret};
use crate::driver::Recorder;
use crate::progress::Progress;
use crate::summary::Summary;
use clap::Args;
use logferry::http::Secret;
use logferry::nats::{Auth, ConnectConfig, StreamSpec};
use logferry::pipeline::nats::{NatsSinkConfig, NatsSourceConfig};
use logferry::pipeline::{Event, NatsSink, NatsSource, Sink};
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// A NATS server URL, which may carry a password or a token (`nats://user:pass@host`):
/// `Debug` shows it redacted.
#[derive(Clone)]
pub(crate) struct NatsUrl(pub(crate) String);

impl std::str::FromStr for NatsUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(NatsUrl(s.to_owned()))
    }
}

impl std::fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&logferry::nats::redact_url(&self.0), f)
    }
}

/// The options of a `nats` sink (`[sinks.NAME]` with `type = "nats"`).
#[derive(Debug, Args)]
pub(crate) struct NatsArgs {
    /// Inputs come from the sink's `inputs` (kept for the shared option parser).
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// A NATS server URL; repeat (a list in the file) for a cluster.
    #[arg(long, required = true)]
    pub(crate) url: Vec<NatsUrl>,
    /// The stream, created when missing (file storage, work-queue retention).
    #[arg(long)]
    pub(crate) stream: String,
    /// The subject published to (the stream captures it).
    #[arg(long)]
    pub(crate) subject: String,
    /// The format of the records (set from the source).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FormatArg,
    /// A NATS credentials file (`.creds`). One way to authenticate at most: this, --user
    /// and --password, --token or --nkey-seed-file (the config checks it).
    #[arg(long, value_name = "PATH")]
    pub(crate) credentials_file: Option<PathBuf>,
    /// A user, with --password.
    #[arg(long, requires = "password")]
    pub(crate) user: Option<String>,
    /// The user's password (give it from the environment: `password = "${NATS_PASSWORD}"`).
    #[arg(long, requires = "user", allow_hyphen_values = true, value_parser = secret)]
    pub(crate) password: Option<Secret>,
    /// A token (give it from the environment: `token = "${NATS_TOKEN}"`).
    #[arg(long, allow_hyphen_values = true, value_parser = secret)]
    pub(crate) token: Option<Secret>,
    /// A file holding a user NKey seed (`SU...`).
    #[arg(long, value_name = "PATH")]
    pub(crate) nkey_seed_file: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS, with --client-key.
    #[arg(long, value_name = "PATH", requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "PATH", requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
    /// Replicas of the stream when it is created (3 on a three-node cluster).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=5))]
    pub(crate) replicas: u16,
    /// How long the server drops republished copies (same message id) when it creates
    /// the stream.
    #[arg(long, value_parser = crate::args::duration, default_value = "10m", value_name = "DURATION")]
    pub(crate) duplicate_window: Duration,
    /// Publishes awaiting their acknowledgement at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub(crate) max_in_flight: u16,
    /// Message compression: `gzip` (`lfr1+gzip`, the body a ready HTTP Ingest body) or
    /// `none` (`lfr1`: the worker's sink compresses).
    #[arg(long, value_enum, default_value = "gzip")]
    pub(crate) compression: CompressionArg,
    /// gzip level, 1 (fastest) to 9 (smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub(crate) compression_level: u8,
    /// Who publishes, in message ids and the `Logferry-Origin` header [default:
    /// HOSTNAME/SINK/SOURCE]. Must differ between hosts.
    #[arg(long)]
    pub(crate) origin: Option<String>,
    #[command(flatten)]
    pub(crate) framing: FramingArgs,
    #[command(flatten)]
    pub(crate) sender: SenderArgs,
}

impl NatsArgs {
    /// What `logferry validate` can check without connecting.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        for NatsUrl(url) in &self.url {
            url.parse::<logferry::nats::ServerAddr>()
                .map_err(|e| anyhow::anyhow!("`url` {}: {e}", logferry::nats::redact_url(url)))?;
        }
        if let Some(creds) = &self.credentials_file
            && !creds.is_file()
        {
            anyhow::bail!("`credentials_file` {}: not a file", creds.display());
        }
        if let Some(seed) = &self.nkey_seed_file
            && !seed.is_file()
        {
            anyhow::bail!("`nkey_seed_file` {}: not a file", seed.display());
        }
        Ok(())
    }

    fn connect(&self) -> ConnectConfig {
        let mut c = ConnectConfig::new(self.url.iter().map(|u| u.0.clone()).collect());
        // The config allows one of them at most.
        c.auth = if let Some(path) = &self.credentials_file {
            Auth::CredentialsFile(path.clone())
        } else if let Some(path) = &self.nkey_seed_file {
            Auth::NkeySeedFile(path.clone())
        } else if let (Some(user), Some(password)) = (&self.user, &self.password) {
            Auth::UserPassword {
                user: user.clone(),
                password: password.clone(),
            }
        } else if let Some(token) = &self.token {
            Auth::Token(token.clone())
        } else {
            Auth::None
        };
        c.ca_file = self.sender.ca_file.clone();
        c.client_cert = self.client_cert.clone().zip(self.client_key.clone());
        c
    }
}

/// The edge's sink for `spec` (a route of followed files into the bus).
pub(crate) fn build_sink(spec: &RouteSpec, args: &NatsArgs) -> anyhow::Result<Built<NatsSink>> {
    let (sink_name, source_name) = (&spec.from.0.name, &spec.from.1.name);
    let origin = args.origin.clone().unwrap_or_else(|| {
        format!(
            "{}/{sink_name}/{source_name}",
            logferry::sdl_transport::hostname()
        )
    });
    let mut config = NatsSinkConfig::new(args.connect(), &args.stream, &args.subject, origin);
    config.connect.name = format!("logferry edge {sink_name}<-{source_name}");
    config.format = args.format.into();
    config.stream.replicas = usize::from(args.replicas);
    config.stream.duplicate_window = args.duplicate_window;
    config.max_in_flight = usize::from(args.max_in_flight);
    config.compression = args.compression.level(args.compression_level);
    let mut front = NatsSink::front(args.format.into());
    front.framing = args.framing.config(front.framing.max_record_bytes);
    front.batching.linger = args.framing.linger;
    Ok(Built {
        sink: NatsSink::new(config),
        front,
        target: format!("nats {} {}", args.stream, args.subject),
    })
}

/// The config's way to authenticate as the transport's.
fn auth(auth: &logferry_config::NatsAuth) -> Auth {
    use logferry_config::NatsAuth;
    match auth {
        NatsAuth::CredentialsFile(p) => Auth::CredentialsFile(p.clone()),
        NatsAuth::UserPassword { user, password } => Auth::UserPassword {
            user: user.clone(),
            password: Secret::new(password.as_str()),
        },
        NatsAuth::Token(t) => Auth::Token(Secret::new(t.as_str())),
        NatsAuth::NkeySeedFile(p) => Auth::NkeySeedFile(p.clone()),
        _ => Auth::None,
    }
}

/// A worker's route: `source` (a durable consumer) into the route's sink, no spool.
pub(crate) async fn worker(
    spec: &RouteSpec,
    source: &logferry_config::NatsSource,
    stage: watch::Receiver<Stage>,
    watch: &RefCell<Watch>,
) -> anyhow::Result<Summary> {
    let mut connect = ConnectConfig::new(source.urls.clone());
    connect.auth = auth(&source.auth);
    connect.ca_file = source.ca_file.clone();
    connect.client_cert = source.client_cert.clone();
    connect.name = format!("logferry worker {}", spec.name);
    let mut config = NatsSourceConfig::new(connect, &source.stream, &source.consumer);
    if let Some(subject) = &source.subject {
        config.stream = StreamSpec::new(source.stream.clone(), vec![subject.clone()]);
    }
    config.in_flight = source.in_flight;
    config.max_deliver = source.max_deliver;
    config.consumer.ack_wait = source.ack_wait;
    config.nak_delay = source.nak_delay;
    if let Some(s) = &source.dead_letter_subject {
        config.dead_letter_subject = s.clone();
    }
    match &spec.sink {
        SinkArgs::HttpIngest(args) => {
            let built = crate::cmd_http_ingest::build(args)?;
            consume(spec, config, &args.sender, built, stage, watch).await
        }
        SinkArgs::Sdl(args) => {
            let built = crate::cmd_sdl::build(args)?;
            consume(spec, config, &args.sender, built, stage, watch).await
        }
        SinkArgs::FileUpload(_) | SinkArgs::Nats(_) => {
            anyhow::bail!("a nats source feeds an http-ingest or sdl sink")
        }
    }
}

async fn consume<S: Sink>(
    spec: &RouteSpec,
    config: NatsSourceConfig,
    sender: &SenderArgs,
    built: Built<S>,
    stage: watch::Receiver<Stage>,
    observer: &RefCell<Watch>,
) -> anyhow::Result<Summary> {
    let sink = built.sink;
    let source = NatsSource::new(config);
    let hold = source.hold_off();
    let counts = source.stats();
    let finished = source.finished();
    let dead_letter = sender
        .dead_letter
        .clone()
        .unwrap_or_else(|| spec.dir.join("dead-letter.jsonl"));
    let mut progress = Progress::new(false);
    let mut recorder = Recorder::new(&sink, dead_letter, &mut progress);
    let mut book = RouteLedger::open(&spec.dir);
    let run = logferry::pipeline::run(source, &sink, built.front, None, |e| {
        // A batch the sink gave up on goes back to the bus (its message is negatively
        // acknowledged), so it is kept: not a dead letter.
        let e = match e {
            Event::Undelivered { lost, .. } => Event::Undelivered { lost, kept: true },
            // The batches name the edges' files; where a worker stopped in them means
            // nothing (the bus keeps what it did not take).
            Event::Interrupted { .. } => return std::ops::ControlFlow::Continue(()),
            // The endpoint's Retry-After: what goes back to the bus waits that long.
            Event::HoldOff(wait) => {
                tracing::info!(
                    "nats worker: the endpoint asked for a pause of {wait:?}: batches handed back to the stream wait at least that long"
                );
                hold.hold_for(wait);
                return std::ops::ControlFlow::Continue(());
            }
            e => e,
        };
        observer.borrow_mut().event(&e);
        book.event(&e);
        recorder.event(e)
    });
    let stats_path = spec.dir.join("bus.json");
    let write_stats = || {
        let c = &counts;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let json = serde_json::json!({
            "messages": get(&c.messages),
            "redelivered": get(&c.redelivered),
            "redelivered_records": get(&c.redelivered_records),
            "acked": get(&c.acked),
            "naked": get(&c.naked),
            "dead_lettered": get(&c.dead_lettered),
            "progress": get(&c.progress),
        });
        let tmp = stats_path.with_extension("json.tmp");
        if std::fs::write(&tmp, json.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &stats_path);
        }
    };
    let tick = || {
        observer
            .borrow_mut()
            .tick(&sink.stats(), &logferry::spool::SpoolStats::default(), None);
        write_stats();
    };
    let run = ticking(run, &tick);
    let ledger = until_stopped(&sink, stage, run, None).await;
    // The last acknowledgements reach the server before the route ends.
    if tokio::time::timeout(Duration::from_secs(5), finished.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "route {}: the NATS source did not settle within 5 s: what it held comes back after the ack wait",
            spec.name
        );
    }
    tick();
    book.write();
    let c = &counts;
    tracing::info!(
        "route {}: nats messages {} (redelivered {}, {} records), acknowledged {}, handed back {}, dead-lettered {}",
        spec.name,
        c.messages.load(Ordering::Relaxed),
        c.redelivered.load(Ordering::Relaxed),
        c.redelivered_records.load(Ordering::Relaxed),
        c.acked.load(Ordering::Relaxed),
        c.naked.load(Ordering::Relaxed),
        c.dead_lettered.load(Ordering::Relaxed),
    );
    super::route::log_ledger(spec, &book);
    recorder.finish(sink.name(), ledger, None)
}

/// A `nats` source feeds exactly one sink, an `http-ingest` or `sdl` one: its messages
/// are acknowledged once that sink delivered them, and two sinks would each need their
/// own acknowledgement of one message.
pub(crate) fn check_worker(
    config: &logferry_config::Config,
    sink: &logferry_config::SinkConfig,
    source: &logferry_config::SourceConfig,
) -> Result<(), logferry_config::ConfigError> {
    use logferry_config::SinkKind;
    let fed: Vec<&str> = config
        .sinks_of(&source.name)
        .map(|s| s.name.as_str())
        .collect();
    if fed.len() > 1 {
        return Err(logferry_config::ConfigError::at(
            &config.path,
            source.location,
            format!("sources.{}", source.name),
            format!(
                "a nats source feeds exactly one sink (its messages are acknowledged once that sink delivered them), not {}: use one consumer per sink",
                fed.iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ));
    }
    if !matches!(sink.kind, SinkKind::HttpIngest | SinkKind::Sdl) {
        return Err(super::plan::error(
            config,
            sink,
            None,
            &format!(
                "a nats source feeds an http-ingest or sdl sink, not a {} one",
                sink.kind.type_name()
            ),
        ));
    }
    Ok(())
}
