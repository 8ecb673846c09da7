//! `logferry http-ingest`: files or stdin to a Taegis HTTP Ingest integration.

use crate::args::{FormatArg, FramingArgs, SenderArgs, resolve_key, secret};
use crate::deadletter::{DeadLetter, Letter};
use crate::exit::usage;
use crate::inputs::open_inputs;
use crate::progress::{Progress, Totals};
use crate::summary::Summary;
use clap::{Args, ValueEnum};
use logferry::compress::Level;
use logferry::frontend::FrontConfig;
use logferry::http::{Client, IngestUrl, Secret};
use logferry::http_ingest::{self, Event};
use logferry::taegis_ingest::{AuthScheme, ContentType, DeliveryStatus, Ingest, IngestConfig};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AuthArg {
    /// `Authorization: Bearer <key>` (recommended by the contract).
    Bearer,
    /// `Authorization: Splunk <key>` (Splunk HEC compatible clients).
    Splunk,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CompressionArg {
    Gzip,
    None,
}

/// Ship records to a Taegis XDR HTTP Ingest integration.
#[derive(Debug, Args)]
pub(crate) struct HttpIngestArgs {
    /// Files (or glob patterns) to ship; none, or `-`, reads standard input.
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The integration URL from the XDR UI.
    #[arg(long, env = "HTTP_INGEST_URL")]
    pub(crate) url: String,
    /// The integration key (prefer the environment variable or --key-file).
    #[arg(long, env = "HTTP_INGEST_KEY", hide_env_values = true, allow_hyphen_values = true, value_parser = secret)]
    pub(crate) key: Option<Secret>,
    /// Read the integration key from this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
    /// How the key is presented.
    #[arg(long, value_enum, default_value = "bearer")]
    pub(crate) auth: AuthArg,
    /// Input format: text lines (text/plain) or JSON objects (application/json).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FormatArg,
    /// Body compression.
    #[arg(long, value_enum, default_value = "gzip")]
    pub(crate) compression: CompressionArg,
    /// gzip level, 1 (fastest) to 9 (smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub(crate) compression_level: u8,
    /// Target request body size as sent, after gzip (the contract recommends about
    /// 100 KB). With gzip, batches hold as many records as compress to about this size.
    #[arg(long, default_value_t = 100_000, value_name = "BYTES")]
    pub(crate) batch_bytes: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
    #[command(flatten)]
    pub(crate) framing: FramingArgs,
    #[command(flatten)]
    pub(crate) sender: SenderArgs,
}

pub(crate) async fn run(args: HttpIngestArgs, progress: &mut Progress) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let url = match IngestUrl::parse(&args.url) {
        Ok(u) => u,
        Err(e) => usage!("{}", crate::exit::chain(&e)),
    };
    let key = resolve_key(
        args.key.as_ref(),
        args.key_file.as_ref(),
        "integration key",
        "HTTP_INGEST_KEY",
    )?;
    let client = match Client::new(args.sender.client_config()) {
        Ok(c) => c,
        Err(e) => usage!("{}", crate::exit::chain(&e)),
    };
    let mut config = IngestConfig::new(url, key);
    config.auth = match args.auth {
        AuthArg::Bearer => AuthScheme::Bearer,
        AuthArg::Splunk => AuthScheme::Splunk,
    };
    config.content_type = match args.format {
        FormatArg::Text => ContentType::Text,
        FormatArg::Json => ContentType::Json,
    };
    config.compression = match args.compression {
        CompressionArg::Gzip => {
            Some(Level::new(args.compression_level).expect("clap checks 1..=9"))
        }
        CompressionArg::None => None,
    };
    config.concurrency = usize::from(args.concurrency);
    config.retry = args.sender.retry_config();
    let target = config.url.to_string();
    let ingest = Ingest::new(client, config)?;
    let opened = args.sender.open_spool("http-ingest", &target)?;
    let sources = open_inputs(&args.files, opened.as_ref().map(|o| &*o.checkpoints))?;
    let durable = opened.as_ref().map(crate::args::Opened::durable);

    let mut front = FrontConfig::new(args.format.into());
    front.framing = args.framing.config();
    front.batching.target_bytes = args.batch_bytes.max(1);
    // Room for the raw batch behind a compressed body of the target size (logs compress
    // 3-6x at level 1), and never below 1 MB.
    front.batching.max_bytes = args.batch_bytes.max(1).saturating_mul(8).max(1_000_000);

    let stopper = ingest.clone();
    let signals = tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::warn!(
            "interrupted: finishing the requests in flight, sending nothing new (again to abandon them)"
        );
        stopper.close();
        crate::shutdown_signal().await;
        tracing::warn!("interrupted again: abandoning the requests in flight");
        stopper.stop();
    });

    let mut summary = Summary {
        backend: "http-ingest",
        ..Summary::default()
    };
    let mut dead = DeadLetter::new(args.sender.dead_letter_path());
    let mut totals = Totals::default();
    let mut failure: Option<anyhow::Error> = None;
    let mut replayed = 0u64;
    let spooling = durable.is_some();
    http_ingest::run(&ingest, front, sources, durable, |event| {
        let written = match event {
            Event::Input(e) => {
                crate::summary::input_event(&e, &mut summary, &mut dead, &mut totals, &mut replayed)
            }
            Event::Delivery(d) => {
                summary.requests += u64::from(d.requests);
                summary.retries += u64::from(d.retries);
                totals.retries += u64::from(d.retries);
                match &d.status {
                    DeliveryStatus::Delivered => Ok(()),
                    DeliveryStatus::PartlyRejected(parts) => parts.iter().try_for_each(|part| {
                        summary.records.rejected += u64::from(part.records);
                        dead.write(Letter {
                            kind: "rejected",
                            source: d.range.source_name.as_deref(),
                            line: None,
                            offset: None,
                            reason: &format!("{}: {}", part.label, part.reason),
                            count: u64::from(part.records),
                            body: &part.body,
                            truncated: false,
                        })
                    }),
                    DeliveryStatus::NotDelivered(_) if spooling => {
                        // It stays in the spool and is sent again on the next run.
                        summary.failures += 1;
                        Ok(())
                    }
                    DeliveryStatus::NotDelivered(why) => {
                        summary.failures += 1;
                        match d.undelivered.as_ref().map(|b| b.raw()) {
                            Some(Ok(body)) => dead.write(Letter {
                                kind: "undelivered",
                                source: d.range.source_name.as_deref(),
                                line: Some(d.range.start.line),
                                offset: Some(d.range.start.offset),
                                reason: &format!("{}: {why}", d.range),
                                count: u64::from(d.records),
                                body: &body,
                                truncated: false,
                            }),
                            Some(Err(e)) => {
                                Err(anyhow::anyhow!("cannot decode an undelivered batch: {e}"))
                            }
                            None => Ok(()),
                        }
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        };
        if let Err(e) = written {
            tracing::error!("{e:#}");
            failure.get_or_insert(e);
            ingest.stop();
        }
        let stats = ingest.stats();
        totals.records = stats.records_delivered;
        totals.bytes = stats.raw_bytes;
        progress.update(totals);
    })
    .await;
    signals.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    let stats = ingest.stats();
    summary.records.delivered = stats.records_delivered;
    summary.bytes_raw = stats.raw_bytes;
    summary.bytes_sent = stats.wire_bytes;
    // Records framed but never taken by the sender (it stopped) are undelivered too.
    summary.records.undelivered = summary
        .records
        .read
        .saturating_sub(summary.records.delivered + summary.records.rejected);
    summary.stopped = ingest.stopped().map(|r| r.to_string());
    summary.close(opened.as_ref(), replayed, &dead, started.elapsed());
    Ok(summary)
}
