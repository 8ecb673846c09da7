//! `logferry`: ship files and pipes to Taegis XDR HTTP Ingest, Taegis File Upload and
//! SentinelOne SDL, with a crash-safe spool, and check or emulate those APIs locally.

mod args;
mod check;
mod cmd_check;
mod cmd_deadletter;
mod cmd_demo;
mod cmd_file_upload;
mod cmd_http_ingest;
mod cmd_run;
mod cmd_sdl;
mod cmd_spool;
mod cmd_status;
mod daemon;
mod deadletter;
mod demo;
mod driver;
mod exit;
mod inputs;
mod logging;
mod progress;
mod summary;

use clap::{Parser, Subcommand};
use exit::{Exit, UsageError};
use std::process::ExitCode;

/// Ship security telemetry to Taegis XDR and SentinelOne SDL without losing any.
#[derive(Debug, Parser)]
#[command(name = "logferry", version, propagate_version = true)]
struct Cli {
    /// More logging: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Nice value (0 to 19) of the threads that compress, convert and inflate batches: the
    /// stages that cannot be split (the SDL dispatcher, framing, the network) then run
    /// first, and the bulk work gives way to the host's applications. 0 keeps those
    /// threads at the process's own priority.
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = logferry::compress::DEFAULT_BULK_NICE,
        value_parser = clap::value_parser!(i32).range(0..=19)
    )]
    bulk_nice: i32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ship records to a Taegis XDR HTTP Ingest integration.
    HttpIngest(cmd_http_ingest::HttpIngestArgs),
    /// Upload whole log files to Taegis XDR (File Upload API).
    FileUpload(cmd_file_upload::FileUploadArgs),
    /// Ship records as events to SentinelOne Singularity Data Lake (addEvents).
    Sdl(cmd_sdl::SdlArgs),
    /// Run as a service configured by one file: follow files through rotation and ship
    /// them until SIGTERM (SIGHUP reloads the configuration).
    Run(cmd_run::RunArgs),
    /// Check a `logferry run` configuration file without sending anything.
    Validate(cmd_run::ValidateArgs),
    /// Print the ledger, spool depth and lag per file of a `logferry run` configuration.
    Status(cmd_status::StatusArgs),
    /// Replay a dead-letter file through a sink of a `logferry run` configuration.
    DeadLetter(cmd_deadletter::DeadLetterArgs),
    /// Verify or repair the spools of a `logferry run` configuration.
    Spool(cmd_spool::SpoolArgs),
    /// Run the local emulator of all three APIs.
    Emulator(logferry_emulator::cli::Args),
    /// Check files offline against a backend's rules.
    Check(cmd_check::CheckArgs),
    /// Ship a generated sample through every backend to the built-in emulator, offline.
    Demo(cmd_demo::DemoArgs),
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let writer = logging::BarWriter::default();
    // A daemon says at the default verbosity what it started and where it listens.
    let daemon = matches!(cli.command, Command::Run(_));
    logging::init(cli.verbose, daemon, writer.clone());
    // Blocking work (gzip, spool appends and acks, replay reads) needs a few threads per
    // core, not tokio's default of 512: each thread that ever ran keeps its own gzip
    // encoder and malloc arena, and with a thousand followed files making small batches
    // the pool grew to dozens of threads and the daemon's memory with it. A one-shot
    // run has one pipeline, which encodes at most two batches per core at once
    // (`pipeline/src/run.rs`), so two threads per core keep every core busy; the threads
    // beyond them only came and went, each leaving its own arena behind: with four per core
    // `sdl` peaked at 93–97 MB against 77–80 MB with two, and `http-ingest` on the
    // bench's syslog corpus took 0.73–0.75 s against 0.69–0.71 s (issue 18). The daemon
    // keeps four per core: its routes each have a pipeline encoding two batches per core
    // at once, and their spool appends and reads, which wait on the disk, run on the same
    // pool.
    logferry::compress::set_bulk_nice(cli.bulk_nice);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let blocking = if daemon { 4 * cores } else { 2 * cores };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("logferry: error: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    match runtime.block_on(run(cli.command, writer)) {
        Ok(exit) => exit.into(),
        Err(e) => {
            if let Some(usage) = e.downcast_ref::<UsageError>() {
                eprintln!("logferry: error: {usage}");
                Exit::Usage.into()
            } else {
                eprintln!("logferry: error: {e:#}");
                Exit::Undelivered.into()
            }
        }
    }
}

async fn run(command: Command, writer: logging::BarWriter) -> anyhow::Result<Exit> {
    match command {
        Command::HttpIngest(args) => send(args, |a| &a.sender, cmd_http_ingest::run, &writer).await,
        Command::Sdl(args) => send(args, |a| &a.sender, cmd_sdl::run, &writer).await,
        Command::FileUpload(args) => send(args, |a| &a.sender, cmd_file_upload::run, &writer).await,
        Command::Emulator(args) => match logferry_emulator::cli::run(args).await {
            Ok(()) => Ok(Exit::Success),
            Err(e) => Err(anyhow::Error::new(UsageError(format!("{e:#}")))),
        },
        Command::Demo(args) => cmd_demo::run(args).await,
        Command::Run(args) => cmd_run::run(args).await,
        Command::Validate(args) => cmd_run::validate(&args, &mut std::io::stdout().lock()),
        Command::Spool(args) => cmd_spool::run(&args, &mut std::io::stdout().lock()),
        Command::DeadLetter(args) => {
            let cmd_deadletter::DeadLetterAction::Replay(args) = args.action;
            let mut progress = progress::Progress::new(false);
            let summary = cmd_deadletter::run(args, &mut progress).await;
            finish(summary, None, &progress, &writer)
        }
        Command::Status(args) => cmd_status::status(&args, &mut std::io::stdout().lock()),
        Command::Check(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            cmd_check::run(&args, &mut out)
        }
    }
}

/// Runs a sending subcommand with its progress bar, then [`finish`]es it.
async fn send<A>(
    args: A,
    sender: impl Fn(&A) -> &args::SenderArgs,
    run: impl AsyncFnOnce(A, &mut progress::Progress) -> anyhow::Result<summary::Summary>,
    writer: &logging::BarWriter,
) -> anyhow::Result<Exit> {
    let mut progress = progress::Progress::new(!sender(&args).no_progress);
    writer.set_bar(progress.bar());
    let summary_path = sender(&args).summary_json.clone();
    if let Some(path) = &summary_path {
        // Refused before sending, and never left behind from an earlier run looking
        // current: the file is emptied now and written at the end.
        if let Err(e) = std::fs::File::create(path) {
            progress.finish();
            writer.set_bar(None);
            return Err(anyhow::Error::new(exit::UsageError(format!(
                "cannot write the summary to {}: {e}",
                path.display()
            ))));
        }
    }
    let summary = run(args, &mut progress).await;
    finish(summary, summary_path, &progress, writer)
}

/// Ends a sending subcommand: the summary on stderr, as JSON if asked, and the exit code.
fn finish(
    summary: anyhow::Result<summary::Summary>,
    json: Option<std::path::PathBuf>,
    progress: &progress::Progress,
    writer: &logging::BarWriter,
) -> anyhow::Result<Exit> {
    progress.finish();
    writer.set_bar(None);
    let summary = summary?;
    eprint!("{}", summary.render());
    if let Some(path) = json {
        summary.write_json(&path)?;
    }
    Ok(if summary.exit_code == 0 {
        Exit::Success
    } else {
        Exit::Undelivered
    })
}
