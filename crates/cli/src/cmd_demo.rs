//! `logferry demo`: the whole product in one command, offline. Starts the emulator
//! in-process over TLS with faults injected, generates a realistic sample (syslog lines
//! and JSON events), ships it through every backend with the same code the subcommands
//! use, and shows what was sent beside what the emulator received.

use crate::exit::Exit;
use crate::progress::Progress;
use clap::Args;
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

/// Parses `argv` as the arguments of the subcommand whose clap type is `A`.
fn parse<A: Args + clap::FromArgMatches>(name: &'static str, argv: &[String]) -> anyhow::Result<A> {
    let command = A::augment_args(clap::Command::new(name).no_binary_name(true));
    let matches = command.try_get_matches_from(argv)?;
    Ok(A::from_arg_matches(&matches)?)
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let scratch = tempdir_or(&args.dir)?;
    let dir = scratch.path().to_path_buf();
    let syslog = dir.join("syslog.log");
    let events = dir.join("events.ndjson");
    eprintln!("logferry demo: generating a sample in {}", dir.display());
    let syslog_lines = write_sample(
        &syslog,
        logferry_benches::corpus::syslog(args.records * 150, 2026),
    )?;
    let event_lines = write_sample(
        &events,
        logferry_benches::corpus::ndjson(args.records / 2 * 420, 2027),
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
    let common = |summary: &str| {
        vec![
            "--ca-file".to_owned(),
            ca.display().to_string(),
            "--no-progress".to_owned(),
            "--dead-letter".to_owned(),
            dir.join("dead-letter.jsonl").display().to_string(),
            "--summary-json".to_owned(),
            dir.join(summary).display().to_string(),
        ]
    };
    let mut lines = Vec::new();

    // Taegis HTTP Ingest: the syslog file as text, the events as NDJSON.
    for (file, format, count) in [
        (&syslog, "text", syslog_lines),
        (&events, "json", event_lines),
    ] {
        let mut argv = vec![
            file.display().to_string(),
            "--url".into(),
            emu.http_ingest_url(),
            // `--key=…`: generated keys may start with `-`.
            format!("--key={}", emu.http_ingest_key()),
            "--format".into(),
            format.into(),
        ];
        argv.extend(common("http-ingest-summary.json"));
        let before = received(&emu, Endpoint::HttpIngest);
        let parsed: crate::cmd_http_ingest::HttpIngestArgs = parse("http-ingest", &argv)?;
        let mut quiet = Progress::new(false);
        let summary = crate::cmd_http_ingest::run(parsed, &mut quiet).await?;
        lines.push(Line::new(
            "http-ingest",
            format!("{} ({format})", name(file)),
            count,
            received(&emu, Endpoint::HttpIngest) - before,
            &summary,
        ));
    }

    // SentinelOne SDL: the JSON events, each object an event with its own time and
    // severity.
    let mut argv = vec![
        events.display().to_string(),
        "--url".into(),
        emu.sdl_url().to_owned(),
        format!("--key={}", emu.sdl_api_key()),
        "--format".into(),
        "json".into(),
        "--server-host".into(),
        "logferry-demo".into(),
    ];
    argv.extend(common("sdl-summary.json"));
    let before = received(&emu, Endpoint::SdlAddEvents);
    let parsed: crate::cmd_sdl::SdlArgs = parse("sdl", &argv)?;
    let mut quiet = Progress::new(false);
    let summary = crate::cmd_sdl::run(parsed, &mut quiet).await?;
    let charged = summary.bytes_charged;
    lines.push(Line::new(
        "sdl",
        format!("{} (json)", name(&events)),
        event_lines,
        received(&emu, Endpoint::SdlAddEvents) - before,
        &summary,
    ));

    // Taegis File Upload: the syslog file, with client credentials (token endpoint,
    // presign, PUT).
    let mut argv = vec![
        syslog.display().to_string(),
        "--endpoint".into(),
        emu.taegis_api_endpoint().to_owned(),
        format!("--client-id={}", emu.taegis_client_id()),
        format!("--client-secret={}", emu.taegis_client_secret()),
    ];
    argv.extend(common("file-upload-summary.json"));
    let before = received(&emu, Endpoint::UploadPut);
    let parsed: crate::cmd_file_upload::FileUploadArgs = parse("file-upload", &argv)?;
    let mut quiet = Progress::new(false);
    let summary = crate::cmd_file_upload::run(parsed, &mut quiet).await?;
    lines.push(Line::new(
        "file-upload",
        format!("{} (whole file)", name(&syslog)),
        syslog_lines,
        received(&emu, Endpoint::UploadPut) - before,
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
