//! `logferry demo`: the whole product in one command, offline. Starts the emulator
//! in-process over TLS with faults injected, generates a realistic sample (syslog lines
//! and JSON events), ships it through every backend with the same code the subcommands
//! use, and shows what was sent beside what the emulator received.

use crate::demo::{Demo, Sample, tempdir_or};
use crate::exit::Exit;
use clap::Args;
use logferry::framing::Format;
use logferry_emulator::{Emulator, sample};
use std::path::PathBuf;

/// Run every backend against the built-in emulator, offline.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Approximate number of syslog lines to generate (JSON events: half as many).
    #[arg(long, default_value_t = 50_000)]
    pub(crate) records: usize,
    /// Keep the generated sample and the emulator's CA in this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Do not inject faults.
    #[arg(long)]
    pub(crate) no_faults: bool,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let scratch = tempdir_or(&args.dir)?;
    let dir = scratch.path().to_path_buf();
    eprintln!("logferry demo: generating a sample in {}", dir.display());
    let syslog = Sample::write(
        dir.join("syslog.log"),
        sample::syslog(args.records * 150, 2026),
    )?;
    let events = Sample::write(
        dir.join("events.ndjson"),
        sample::ndjson(args.records / 2 * 420, 2027),
    )?;
    let emu = Emulator::builder()
        .faults(crate::demo::faults(args.no_faults))
        .seed(2026)
        .start()
        .await?;
    let faults = if args.no_faults { "off" } else { "on" };
    eprintln!(
        "logferry demo: emulator listening on {} (TLS, faults {faults})",
        emu.base_url()
    );
    let demo = Demo::new(emu, &dir)?;
    let lines = vec![
        // Taegis HTTP Ingest: the syslog file as text, the events as NDJSON.
        demo.http_ingest(&syslog, Format::Text).await?,
        demo.http_ingest(&events, Format::Json).await?,
        // SentinelOne SDL: the JSON events, each object an event with its own time and
        // severity.
        demo.sdl(&events).await?,
        // Taegis File Upload: the syslog file, with client credentials (token endpoint,
        // presign, PUT).
        demo.file_upload(&syslog).await?,
    ];
    let ok = demo.report(&lines).await;
    Ok(if ok { Exit::Success } else { Exit::Undelivered })
}
