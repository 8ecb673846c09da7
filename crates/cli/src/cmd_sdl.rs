//! `logferry sdl`: records to SentinelOne Singularity Data Lake as `addEvents` events.

use crate::args::{FormatArg, FramingArgs, SenderArgs, resolve_key, secret};
use crate::deadletter::{DeadLetter, Letter};
use crate::exit::{chain, usage};
use crate::inputs::open_inputs;
use crate::progress::{Progress, Totals};
use crate::summary::Summary;
use clap::Args;
use logferry::frontend::FrontConfig;
use logferry::http::{Client, IngestUrl, Secret};
use logferry::sdl::{self, Event, SdlJob};
use logferry::sdl_model::FromJsonConfig;
use logferry::sdl_transport::{Pacing, SdlConfig, SdlSender, Sessions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `N` sessions or `auto`.
fn sessions(s: &str) -> Result<Sessions, String> {
    if s == "auto" {
        return Ok(Sessions::Auto { min: 1, max: 8 });
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(Sessions::Fixed(n)),
        _ => Err(format!(
            "`{s}` is not a number of sessions (1-64) or `auto`"
        )),
    }
}

/// Bytes per second per session, or `off`.
fn pace(s: &str) -> Result<Pacing, String> {
    if s == "off" {
        return Ok(Pacing::Off);
    }
    match s.parse::<u64>() {
        Ok(n) if (1..=10_000_000).contains(&n) => Ok(Pacing::PerSession { bytes_per_sec: n }),
        _ => Err(format!(
            "`{s}` is not a rate in bytes per second (at most 10000000, the seed's ceiling) or `off`"
        )),
    }
}

/// Ship records to SentinelOne Singularity Data Lake (addEvents).
#[derive(Debug, Args)]
pub(crate) struct SdlArgs {
    /// Files (or glob patterns) to ship; none, or `-`, reads standard input.
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The Singularity Data Lake console URL (events go to <url>/api/addEvents).
    #[arg(long, env = "SDL_URL")]
    pub(crate) url: String,
    /// A "Log Write Access" key (prefer the environment variable or --key-file).
    #[arg(long, env = "SDL_API_KEY", hide_env_values = true, allow_hyphen_values = true, value_parser = secret)]
    pub(crate) key: Option<Secret>,
    /// Read the key from this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
    /// text: each line becomes an event's `message`; json: each object becomes the event's
    /// attributes, `ts` from ts/timestamp/@timestamp/time, `sev` from sev/severity/level.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FormatArg,
    /// `sessionInfo.serverHost` [default: this machine's hostname].
    #[arg(long)]
    pub(crate) server_host: Option<String>,
    /// The `parser` attribute of every event (the SDL parser for `message`).
    #[arg(long)]
    pub(crate) parser: Option<String>,
    /// Sessions: a number, or `auto` (1 to 8, grown with throughput).
    #[arg(long, value_parser = sessions, default_value = "auto")]
    pub(crate) sessions: Sessions,
    /// Pace per session in uncompressed bytes per second (the seed recommends 2.5 MB/s,
    /// and a session must stay under 10 MB/s), or `off`.
    #[arg(long, value_parser = pace, default_value = "2500000")]
    pub(crate) pace: Pacing,
    /// Largest request body, uncompressed (the API's limit is 6,000,000).
    #[arg(long, default_value_t = 1_000_000, value_name = "BYTES")]
    pub(crate) max_body_bytes: usize,
    #[command(flatten)]
    pub(crate) framing: FramingArgs,
    #[command(flatten)]
    pub(crate) sender: SenderArgs,
}

pub(crate) async fn run(args: SdlArgs, progress: &mut Progress) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let url = match IngestUrl::parse(&args.url) {
        Ok(u) => u,
        Err(e) => usage!("{}", chain(&e)),
    };
    let key = resolve_key(
        args.key.as_ref(),
        args.key_file.as_ref(),
        "SDL API key",
        "SDL_API_KEY",
    )?;
    let client = match Client::new(args.sender.client_config()) {
        Ok(c) => c,
        Err(e) => usage!("{}", chain(&e)),
    };
    let target = url.to_string();
    let mut config = SdlConfig::new(url, key);
    config.server_host = args.server_host.clone();
    config.sessions = args.sessions;
    config.pacing = args.pace;
    config.max_body_bytes = args.max_body_bytes;
    // The pipeline hands over whole converted batches (hundreds of events each): a few
    // queued are enough to keep every session busy, and memory stays bounded.
    config.queue_capacity = 4;
    config.retry = args.sender.retry_config();
    let (sender, reports) = match SdlSender::start_with_reports(client, config) {
        Ok(s) => s,
        Err(e) => usage!("{}", chain(&e)),
    };
    let opened = args.sender.open_spool("sdl", &target)?;
    let sources = open_inputs(&args.files, opened.as_ref().map(|o| &*o.checkpoints))?;
    let durable = opened.as_ref().map(crate::args::Opened::durable);
    let mut front = FrontConfig::new(args.format.into());
    front.framing = args.framing.config();
    // Spool units and conversion work come in ~256 KB batches; the sender makes its own
    // requests of up to --max-body-bytes.
    front.batching.target_bytes = 256_000;
    front.batching.max_bytes = 1_000_000;
    let job = SdlJob {
        format: args.format.into(),
        parser: args.parser.clone(),
        from_json: FromJsonConfig::default(),
        shutdown_deadline: Duration::from_secs(60),
    };

    let sender = std::sync::Arc::new(sender);
    let stopper = sender.clone();
    let signals = tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::warn!("interrupted: flushing what is queued, reading nothing new");
        // Only close: the pipeline's own shutdown collects what was not delivered.
        stopper.close();
    });
    let mut summary = Summary {
        backend: "sdl",
        ..Summary::default()
    };
    let mut dead = DeadLetter::new(args.sender.dead_letter_path());
    let mut totals = Totals::default();
    let mut failure: Option<anyhow::Error> = None;
    let mut replayed = 0u64;
    let (mut charged, mut charged_seen) = (0u64, false);
    let spooling = durable.is_some();
    let shutdown = sdl::run(&sender, reports, job, front, sources, durable, |event| {
        let written = match event {
            Event::Input(e) => {
                crate::summary::input_event(&e, &mut summary, &mut dead, &mut totals, &mut replayed)
            }
            Event::Invalid {
                source,
                position,
                reason,
                record,
            } => {
                summary.records.invalid += 1;
                let where_ = format!("{}: {position}", source.unwrap_or("<input>"));
                dead.write(Letter {
                    kind: "invalid",
                    source,
                    line: Some(position.line),
                    offset: Some(position.offset),
                    reason: &format!("{where_}: not a valid SDL event: {reason}"),
                    count: 1,
                    body: record,
                    truncated: false,
                })
            }
            Event::Delivered(d) => {
                if let Some(c) = d.bytes_charged {
                    charged += c;
                    charged_seen = true;
                }
                if let Some(w) = &d.warning {
                    tracing::warn!("SDL accepted a request with a warning: {w}");
                }
                Ok(())
            }
            Event::Failed(f) => {
                summary.failures += 1;
                summary.records.rejected += f.records.len() as u64;
                dead_letter_events(&mut dead, "rejected", &chain(&f.error), &f.records)
            }
            Event::GaveUp(_) if spooling => {
                summary.failures += 1;
                Ok(())
            }
            Event::GaveUp(f) => {
                summary.failures += 1;
                dead_letter_events(&mut dead, "undelivered", &chain(&f.error), &f.records)
            }
            Event::Stopped(e) => {
                summary.stopped = Some(chain(e));
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = written {
            tracing::error!("{e:#}");
            failure.get_or_insert(e);
        }
        let stats = sender.stats();
        totals.records = stats.events_delivered;
        totals.bytes = stats.bytes_raw;
        totals.retries = stats.retries;
        progress.update(totals);
    })
    .await;
    signals.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    // Events neither delivered nor refused: kept in the spool, else dead-lettered.
    if !spooling {
        dead_letter_events(
            &mut dead,
            "undelivered",
            "not sent before the sender stopped",
            &shutdown.unsent,
        )?;
    }
    let stats = &shutdown.stats;
    summary.records.delivered = stats.events_delivered;
    summary.records.undelivered = summary.records.read.saturating_sub(
        summary.records.delivered + summary.records.rejected + summary.records.invalid,
    );
    summary.failures += u64::from(!shutdown.unsent.is_empty());
    summary.bytes_raw = stats.bytes_raw;
    summary.bytes_sent = stats.bytes_wire;
    summary.requests = stats.attempts;
    summary.retries = stats.retries;
    summary.bytes_charged = charged_seen.then_some(charged);
    if stats.events_truncated > 0 {
        tracing::warn!(
            events = stats.events_truncated,
            "events were too large for one request: their message was truncated"
        );
        summary.events_truncated = Some(stats.events_truncated);
    }
    if summary.stopped.is_none() {
        summary.stopped = shutdown.stopped.as_ref().map(|e| chain(e));
    }
    summary.close(opened.as_ref(), replayed, &dead, started.elapsed());
    Ok(summary)
}

/// Writes each event of `records` to the dead-letter file as its JSON, one entry each.
fn dead_letter_events(
    dead: &mut DeadLetter,
    kind: &str,
    reason: &str,
    records: &[logferry::sdl_transport::Record],
) -> anyhow::Result<()> {
    records.iter().try_for_each(|r| {
        let json = serde_json::to_vec(&r.event).unwrap_or_default();
        dead.write(Letter {
            kind,
            source: r.source.as_deref(),
            line: None,
            offset: None,
            reason,
            count: 1,
            body: &json,
            truncated: false,
        })
    })
}
