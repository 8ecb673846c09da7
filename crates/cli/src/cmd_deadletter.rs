//! `logferry dead-letter replay FILE --config CFG --sink NAME`: resend the records of a
//! dead-letter file once the cause is fixed, under their original source names; what is
//! still refused goes to a new dead-letter file.

use crate::daemon::SinkArgs;
use crate::exit::usage;
use crate::progress::Progress;
use crate::summary::Summary;
use clap::{Args, Subcommand};
use logferry::pipeline::Files;
use std::path::PathBuf;

/// Work with dead-letter files.
#[derive(Debug, Args)]
pub(crate) struct DeadLetterArgs {
    #[command(subcommand)]
    pub(crate) action: DeadLetterAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeadLetterAction {
    /// Resend every record of a dead-letter file through a sink of a `logferry run`
    /// configuration (exit 0 when all were delivered, 1 otherwise).
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The dead-letter file (one JSON object per line, as logferry writes them).
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// The sink to send through (its options, credentials and format).
    #[arg(long, value_name = "NAME")]
    pub(crate) sink: String,
    /// Where records still refused go [default: FILE with `.replay.jsonl` for its
    /// extension].
    #[arg(long, value_name = "PATH")]
    pub(crate) dead_letter: Option<PathBuf>,
}

pub(crate) async fn run(args: ReplayArgs, progress: &mut Progress) -> anyhow::Result<Summary> {
    let (config, routes) = crate::daemon::load(&args.config)?;
    let Some(route) = routes.iter().find(|r| r.from.0.name == args.sink) else {
        let names: Vec<&str> = config.sinks.keys().map(String::as_str).collect();
        let hint = logferry_config::did_you_mean(&args.sink, &names)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        usage!("no sink `{}` in {}{hint}", args.sink, args.config.display())
    };
    let inputs = crate::deadletter::grouped(&args.file)?;
    let total: u64 = inputs.iter().map(|(_, b)| b.len() as u64).sum();
    let sources = inputs
        .into_iter()
        .map(|(name, bytes)| {
            logferry::source::Source::from_reader(
                name,
                std::io::Cursor::new(bytes),
                &logferry::source::SourceConfig::default(),
            )
        })
        .collect();
    let dead_letter = args
        .dead_letter
        .clone()
        .unwrap_or_else(|| args.file.with_extension("replay.jsonl"));
    if dead_letter == args.file {
        usage!("--dead-letter must not be the file being replayed");
    }
    macro_rules! ship {
        ($built:expr) => {{
            let built = $built;
            let job = crate::driver::Job {
                sink: built.sink,
                files: Files::new(sources, None),
                front: built.front,
                opened: None,
                dead_letter,
                total_bytes: Some(total),
            };
            crate::driver::ship(job, progress).await
        }};
    }
    match &route.sink {
        SinkArgs::HttpIngest(a) => ship!(crate::cmd_http_ingest::build(a)?),
        SinkArgs::Sdl(a) => ship!(crate::cmd_sdl::build(a)?),
        SinkArgs::Nats(a) => ship!(crate::daemon::bus::build_sink(route, a)?),
        SinkArgs::FileUpload(_) => usage!(
            "sink `{}` uploads whole files: there are no records to replay",
            args.sink
        ),
    }
}
