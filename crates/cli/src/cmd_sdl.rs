//! `logferry sdl`: records to SentinelOne Singularity Data Lake as `addEvents` events.

use crate::args::Built;
use crate::args::{FormatArg, FramingArgs, SenderArgs, pace, secret, sessions};
use crate::exit::{chain, usage};
use crate::progress::Progress;
use crate::summary::Summary;
use clap::Args;
use logferry::http::Secret;
use logferry::pipeline::{SdlJob, SdlSink};
use logferry::sdl_transport::{Pacing, SdlConfig, SdlSender, Sessions};
use std::path::PathBuf;

/// Ship records to SentinelOne Singularity Data Lake (addEvents).
#[derive(Debug, Args)]
pub(crate) struct SdlArgs {
    /// Files (or glob patterns) to ship; none, or `-`, reads standard input.
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The Singularity Data Lake console URL (events go to <url>/api/addEvents).
    #[arg(long, env = "SDL_URL")]
    pub(crate) url: String,
    /// A "Log Write Access" key. Prefer the environment variable or --key-file: a value
    /// on the command line is visible to other users through `ps`.
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
    let mut built = build(&args)?;
    // Without a spool, the sink is the only reader of the records: it parses each one into
    // an event with the parser the framer would validate it with, and reports one it
    // cannot read with the framer's own reason (`FramingConfig::validate_lines`), so
    // validating while framing would parse every line twice. A spool keeps validating:
    // it stores the records before the sink reads them, and an invalid record in a stored
    // batch would be reported again each time the batch is read back.
    if args.sender.spool.is_none() {
        built.front.framing.validate_lines = false;
    }
    let job = args
        .sender
        .job(built.sink, &built.target, &args.files, built.front)?;
    crate::driver::ship(job, progress).await
}

/// The sink and framing `args` ask for (shared by the subcommand and `logferry run`).
pub(crate) fn build(args: &SdlArgs) -> anyhow::Result<Built<SdlSink>> {
    let (key, key_file) = (args.key.as_ref(), args.key_file.as_ref());
    let endpoint = args
        .sender
        .endpoint(&args.url, key, key_file, "SDL API key", "SDL_API_KEY")?;
    let target = endpoint.url.to_string();
    let mut config = SdlConfig::new(endpoint.url, endpoint.key);
    config.server_host = args.server_host.clone();
    config.sessions = args.sessions;
    config.pacing = args.pace;
    config.max_body_bytes = args.max_body_bytes;
    // The pipeline hands over whole converted batches (hundreds of events each): two
    // queued are enough to keep every session busy, and memory stays bounded. With the
    // converting threads at a lower priority (`--bulk-nice`) the dispatcher keeps up, and
    // 2 was as fast as 4 with 4-6 MB less peak memory (208 MB of NDJSON, alternating).
    config.queue_capacity = 2;
    config.retry = args.sender.retry_config();
    let (sender, reports) = match SdlSender::start_with_reports(endpoint.client, config) {
        Ok(s) => s,
        Err(e) => usage!("{}", chain(&e)),
    };
    let format = args.format.into();
    let sink = SdlSink::new(sender, reports, SdlJob::new(format, args.parser.clone()));
    let mut front = SdlSink::front(format);
    front.framing = args.framing.config(front.framing.max_record_bytes);
    front.batching.linger = args.framing.linger;
    Ok(Built {
        sink,
        front,
        target,
    })
}
