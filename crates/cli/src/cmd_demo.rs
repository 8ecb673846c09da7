//! `logferry demo`: the whole product in one command, offline. Starts the emulator
//! in-process over TLS with faults injected, generates a realistic sample (syslog lines
//! and JSON events), ships it through every backend with the same code the subcommands
//! use, and shows what was sent beside what the emulator received.

use crate::driver::{self, Job};
use crate::exit::Exit;
use crate::progress::Progress;
use clap::Args;
use logferry::framing::{Format, FramingConfig};
use logferry::http::{Client, ClientConfig, Secret};
use logferry::pipeline::file_upload::Upload;
use logferry::pipeline::{Files, FrontConfig, HttpIngestSink, SdlSink};
use logferry::sdl_transport::{SdlConfig, SdlSender};
use logferry::source::SourceConfig;
use logferry::taegis_ingest::{ContentType, Ingest, IngestConfig};
use logferry::taegis_upload::{Config as UploadConfig, Credentials, Region, Uploader};
use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults};
use std::path::{Path, PathBuf};

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

/// One backend's line in the report.
struct Line {
    backend: &'static str,
    what: String,
    sent: u64,
    received: u64,
    requests: u64,
    retries: u64,
    exit: u8,
}

impl Line {
    /// One backend's row: what was in the sample, what arrived, and how the run went.
    fn new(
        backend: &'static str,
        what: String,
        sent: u64,
        received: u64,
        summary: &crate::summary::Summary,
    ) -> Line {
        Line {
            backend,
            what,
            sent,
            received,
            requests: summary.requests,
            retries: summary.retries,
            exit: summary.exit_code,
        }
    }
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let scratch = tempdir_or(&args.dir)?;
    let dir = scratch.path().to_path_buf();
    let syslog = dir.join("syslog.log");
    let events = dir.join("events.ndjson");
    eprintln!("logferry demo: generating a sample in {}", dir.display());
    let syslog_lines = write_sample(
        &syslog,
        logferry_emulator::sample::syslog(args.records * 150, 2026),
    )?;
    let event_lines = write_sample(
        &events,
        logferry_emulator::sample::ndjson(args.records / 2 * 420, 2027),
    )?;

    let faults = if args.no_faults {
        Faults::none()
    } else {
        Faults::none()
            .with_endpoint(
                Endpoint::HttpIngest,
                FaultSet::fail_rate(
                    0.15,
                    vec![
                        FaultStatus::Code(503),
                        FaultStatus::Code(429),
                        FaultStatus::Code(502),
                    ],
                ),
            )
            .with_endpoint(
                Endpoint::SdlAddEvents,
                FaultSet::fail_first(3, FaultStatus::SdlBackoffIn200),
            )
            .with_endpoint(
                Endpoint::UploadPut,
                FaultSet::fail_first(1, FaultStatus::Code(500)),
            )
    };
    let emu = Emulator::builder()
        .faults(faults)
        .seed(2026)
        .start()
        .await?;
    let ca = dir.join("emulator-ca.pem");
    std::fs::write(&ca, emu.ca_cert_pem().unwrap_or_default())?;
    eprintln!(
        "logferry demo: emulator listening on {} (TLS, faults {})",
        emu.base_url(),
        if args.no_faults { "off" } else { "on" }
    );
    let client = Client::new(ClientConfig {
        ca_file: Some(ca.clone()),
        ..ClientConfig::default()
    })?;
    let dead_letter = dir.join("dead-letter.jsonl");
    let mut lines = Vec::new();

    // Taegis HTTP Ingest: the syslog file as text, the events as NDJSON.
    for (file, format, content, count) in [
        (&syslog, Format::Text, ContentType::Text, syslog_lines),
        (&events, Format::Json, ContentType::Json, event_lines),
    ] {
        let mut config = IngestConfig::new(
            emu.http_ingest_url().parse()?,
            Secret::new(emu.http_ingest_key()),
        );
        config.content_type = content;
        let front = crate::cmd_http_ingest::front(format, FramingConfig::default(), 100_000);
        let sink = HttpIngestSink::new(Ingest::new(client.clone(), config)?, &front.batching);
        let before = received(&emu, Endpoint::HttpIngest);
        let summary = driver::ship(
            job(sink, file, front, &dead_letter)?,
            &mut Progress::new(false),
        )
        .await?;
        let what = format!(
            "{} ({})",
            name(file),
            if format == Format::Json {
                "json"
            } else {
                "text"
            }
        );
        let got = received(&emu, Endpoint::HttpIngest) - before;
        lines.push(Line::new("http-ingest", what, count, got, &summary));
    }

    // SentinelOne SDL: the JSON events, each object an event with its own time and
    // severity.
    let mut config = SdlConfig::new(emu.sdl_url().parse()?, Secret::new(emu.sdl_api_key()));
    config.server_host = Some("logferry-demo".into());
    config.queue_capacity = 4;
    let (sender, reports) = SdlSender::start_with_reports(client.clone(), config)?;
    let sink = SdlSink::new(sender, reports, crate::cmd_sdl::job(Format::Json, None));
    let front = crate::cmd_sdl::front(Format::Json, FramingConfig::default());
    let before = received(&emu, Endpoint::SdlAddEvents);
    let summary = driver::ship(
        job(sink, &events, front, &dead_letter)?,
        &mut Progress::new(false),
    )
    .await?;
    let charged = summary.bytes_charged;
    let got = received(&emu, Endpoint::SdlAddEvents) - before;
    lines.push(Line::new(
        "sdl",
        format!("{} (json)", name(&events)),
        event_lines,
        got,
        &summary,
    ));

    // Taegis File Upload: the syslog file, with client credentials (token endpoint,
    // presign, PUT).
    let region: Region = emu.taegis_api_endpoint().parse()?;
    let credentials = Credentials::client(
        emu.taegis_client_id().to_owned(),
        Secret::new(emu.taegis_client_secret()),
    );
    let uploader = Uploader::new(client, &region, credentials, UploadConfig::default())?;
    let before = received(&emu, Endpoint::UploadPut);
    let upload = Upload(std::sync::Arc::new(uploader));
    let files = vec![syslog.clone()];
    let summary = driver::upload(
        &upload,
        files,
        None,
        dead_letter.clone(),
        &mut Progress::new(false),
    )
    .await?;
    let got = received(&emu, Endpoint::UploadPut) - before;
    lines.push(Line::new(
        "file-upload",
        format!("{} (whole file)", name(&syslog)),
        syslog_lines,
        got,
        &summary,
    ));

    let stats = emu.stats();
    let violations: u64 = stats.violations.values().map(|v| v.count).sum();
    let faults_injected: u64 = stats.endpoints.values().map(|e| e.faults_injected).sum();
    emu.shutdown().await;

    let mut ok = violations == 0;
    println!(
        "\n| backend | input | records in the sample | received by the emulator | requests | retries | result |"
    );
    println!("|---|---|---|---|---|---|---|");
    for l in &lines {
        let good = l.exit == 0 && l.received >= l.sent;
        ok &= good;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            l.backend,
            l.what,
            l.sent,
            l.received,
            l.requests,
            l.retries,
            if good { "all delivered" } else { "INCOMPLETE" }
        );
    }
    println!(
        "\n{faults_injected} faults injected by the emulator, all retried; {violations} contract violations seen by the emulator."
    );
    if let Some(charged) = charged {
        println!("SDL charged {charged} bytes for the events (bytesCharged).");
    }
    println!(
        "{}",
        if ok {
            "demo: every record arrived."
        } else {
            "demo: something did not arrive (see above)."
        }
    );
    Ok(if ok { Exit::Success } else { Exit::Undelivered })
}

/// A job shipping one file, without a spool.
fn job<S>(sink: S, file: &Path, front: FrontConfig, dead_letter: &Path) -> anyhow::Result<Job<S>> {
    let input = logferry::source::Input::File(file.to_path_buf());
    let opened = logferry::source::Source::open(&input, &SourceConfig::default(), None)?;
    Ok(Job {
        sink,
        files: Files::new(vec![opened], None),
        front,
        opened: None,
        dead_letter: dead_letter.to_path_buf(),
    })
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn received(emu: &Emulator, endpoint: Endpoint) -> u64 {
    emu.stats()
        .endpoints
        .get(&endpoint)
        .map_or(0, |e| e.records)
}

/// Writes the sample and returns its number of lines.
fn write_sample(path: &Path, bytes: Vec<u8>) -> anyhow::Result<u64> {
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    std::fs::write(path, bytes)?;
    Ok(lines)
}

/// The directory to work in: the one asked for (kept), or a temporary one.
enum Scratch {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl Scratch {
    fn path(&self) -> &Path {
        match self {
            Scratch::Kept(p) => p,
            Scratch::Temp(t) => t.path(),
        }
    }
}

fn tempdir_or(dir: &Option<PathBuf>) -> anyhow::Result<Scratch> {
    Ok(match dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Scratch::Kept(d.clone())
        }
        None => Scratch::Temp(tempfile::tempdir()?),
    })
}
