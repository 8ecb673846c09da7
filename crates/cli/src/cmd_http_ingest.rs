//! `logferry http-ingest`: files or stdin to a Taegis HTTP Ingest integration.

use crate::args::Built;
use crate::args::{AuthArg, CompressionArg, FormatArg, FramingArgs, SenderArgs, secret};
use crate::progress::Progress;
use crate::summary::Summary;
use clap::Args;
use logferry::http::Secret;
use logferry::pipeline::HttpIngestSink;
use logferry::taegis_ingest::{Ingest, IngestConfig};
use std::path::PathBuf;

/// Ship records to a Taegis XDR HTTP Ingest integration.
#[derive(Debug, Args)]
pub(crate) struct HttpIngestArgs {
    /// Files (or glob patterns) to ship; none, or `-`, reads standard input.
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The integration URL from the XDR UI.
    #[arg(long, env = "HTTP_INGEST_URL")]
    pub(crate) url: String,
    /// The integration key. Prefer the environment variable or --key-file: a value on
    /// the command line is visible to other users through `ps`.
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
    /// Most requests in flight. The number adapts: halved on 429, 503 and timeouts, grown
    /// back one at a time on success (the contract: "retried with backoff and reduced
    /// concurrency").
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
    /// Keep --concurrency requests in flight whatever the answers.
    #[arg(long)]
    pub(crate) fixed_concurrency: bool,
    /// Most bytes per second on the wire (retries included), to stay under an ingest
    /// rate; no cap when not given.
    #[arg(long, value_name = "BYTES/s", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) rate: Option<u64>,
    #[command(flatten)]
    pub(crate) framing: FramingArgs,
    #[command(flatten)]
    pub(crate) sender: SenderArgs,
}

pub(crate) async fn run(args: HttpIngestArgs, progress: &mut Progress) -> anyhow::Result<Summary> {
    let built = build(&args)?;
    let job = args
        .sender
        .job(built.sink, &built.target, &args.files, built.front)?;
    crate::driver::ship(job, progress).await
}

/// The sink and framing `args` ask for (shared by the subcommand and `logferry run`).
pub(crate) fn build(args: &HttpIngestArgs) -> anyhow::Result<Built<HttpIngestSink>> {
    let (key, key_file) = (args.key.as_ref(), args.key_file.as_ref());
    let what = ("integration key", "HTTP_INGEST_KEY");
    let endpoint = args
        .sender
        .endpoint(&args.url, key, key_file, what.0, what.1)?;
    let target = endpoint.url.to_string();
    let mut config = IngestConfig::new(endpoint.url, endpoint.key);
    config.auth = args.auth.into();
    config.content_type = args.format.into();
    config.compression = args.compression.level(args.compression_level);
    config.concurrency = usize::from(args.concurrency);
    config.adaptive_concurrency = !args.fixed_concurrency;
    config.rate = args.rate.and_then(std::num::NonZeroU64::new);
    config.retry = args.sender.retry_config();
    let mut front = HttpIngestSink::front(args.format.into(), args.batch_bytes);
    front.framing = args.framing.config(front.framing.max_record_bytes);
    front.batching.linger = args.framing.linger;
    let sink = HttpIngestSink::new(Ingest::new(endpoint.client, config)?, &front.batching);
    Ok(Built {
        sink,
        front,
        target,
    })
}
