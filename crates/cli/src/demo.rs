//! What `logferry demo` runs: the faults it injects, the sample files, one job per
//! backend built directly (no argv), and the report of what was sent beside what arrived.

use crate::driver::{self, Job};
use crate::progress::Progress;
use crate::summary::Summary;
use logferry::framing::Format;
use logferry::http::{Client, ClientConfig, Secret};
use logferry::pipeline::file_upload::Upload;
use logferry::pipeline::{Files, FrontConfig, HttpIngestSink, SdlJob, SdlSink};
use logferry::sdl_transport::{SdlConfig, SdlSender};
use logferry::source::SourceConfig;
use logferry::taegis_ingest::{ContentType, Ingest, IngestConfig};
use logferry::taegis_upload::{Config as UploadConfig, Credentials, Region, Uploader};
use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults};
use std::path::{Path, PathBuf};

/// The faults the demo injects: 5xx and 429 answers, SDL backoff inside a 200, a
/// failing S3 PUT; none with `--no-faults`.
pub(crate) fn faults(none: bool) -> Faults {
    if none {
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
    }
}

/// One backend's line in the report.
pub(crate) struct Line {
    backend: &'static str,
    what: String,
    sent: u64,
    received: u64,
    requests: u64,
    retries: u64,
    exit: u8,
    charged: Option<u64>,
}

impl Line {
    /// One backend's row: what was in the sample, what arrived, and how the run went.
    pub(crate) fn new(
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
            charged: summary.bytes_charged,
        }
    }
}

/// A generated sample file and its number of records (lines).
pub(crate) struct Sample {
    pub(crate) path: PathBuf,
    pub(crate) records: u64,
}

impl Sample {
    /// Writes `bytes` to `path`.
    pub(crate) fn write(path: PathBuf, bytes: Vec<u8>) -> anyhow::Result<Sample> {
        let records = write_sample(&path, bytes)?;
        Ok(Sample { path, records })
    }
}

/// The running emulator and what every backend's job shares.
pub(crate) struct Demo {
    emu: Emulator,
    client: Client,
    dead_letter: PathBuf,
    charged: std::cell::Cell<Option<u64>>,
}

impl Demo {
    /// Trusts the emulator's CA (written beside the sample).
    pub(crate) fn new(emu: Emulator, dir: &Path) -> anyhow::Result<Demo> {
        let ca = dir.join("emulator-ca.pem");
        std::fs::write(&ca, emu.ca_cert_pem().unwrap_or_default())?;
        let client = Client::new(ClientConfig {
            ca_file: Some(ca),
            ..ClientConfig::default()
        })?;
        Ok(Demo {
            emu,
            client,
            dead_letter: dir.join("dead-letter.jsonl"),
            charged: std::cell::Cell::new(None),
        })
    }

    /// Ships `sample` as `format` records to HTTP Ingest.
    pub(crate) async fn http_ingest(
        &self,
        sample: &Sample,
        format: Format,
    ) -> anyhow::Result<Line> {
        let url = self.emu.http_ingest_url().parse()?;
        let mut config = IngestConfig::new(url, Secret::new(self.emu.http_ingest_key()));
        config.content_type = match format {
            Format::Json => ContentType::Json,
            Format::Text => ContentType::Text,
        };
        let front = HttpIngestSink::front(format, 100_000);
        let sink = HttpIngestSink::new(Ingest::new(self.client.clone(), config)?, &front.batching);
        let kind = if format == Format::Json {
            "json"
        } else {
            "text"
        };
        let job = job(sink, &sample.path, front, &self.dead_letter)?;
        let mut quiet = Progress::new(false);
        let ship = driver::ship(job, &mut quiet);
        self.line("http-ingest", kind, sample, Endpoint::HttpIngest, ship)
            .await
    }

    /// Ships `sample`'s JSON objects as SDL events.
    pub(crate) async fn sdl(&self, sample: &Sample) -> anyhow::Result<Line> {
        let key = Secret::new(self.emu.sdl_api_key());
        let mut config = SdlConfig::new(self.emu.sdl_url().parse()?, key);
        config.server_host = Some("logferry-demo".into());
        config.queue_capacity = 4;
        let (sender, reports) = SdlSender::start_with_reports(self.client.clone(), config)?;
        let sink = SdlSink::new(sender, reports, SdlJob::new(Format::Json, None));
        let job = job(
            sink,
            &sample.path,
            SdlSink::front(Format::Json),
            &self.dead_letter,
        )?;
        let mut quiet = Progress::new(false);
        let ship = driver::ship(job, &mut quiet);
        let line = self
            .line("sdl", "json", sample, Endpoint::SdlAddEvents, ship)
            .await?;
        self.charged.set(line.charged);
        Ok(line)
    }

    /// Uploads `sample` whole, with client credentials.
    pub(crate) async fn file_upload(&self, sample: &Sample) -> anyhow::Result<Line> {
        let region: Region = self.emu.taegis_api_endpoint().parse()?;
        let credentials = Credentials::client(
            self.emu.taegis_client_id().to_owned(),
            Secret::new(self.emu.taegis_client_secret()),
        );
        let uploader = Uploader::new(
            self.client.clone(),
            &region,
            credentials,
            UploadConfig::default(),
        )?;
        let upload = Upload(std::sync::Arc::new(uploader));
        let files = vec![sample.path.clone()];
        let dead_letter = self.dead_letter.clone();
        let mut quiet = Progress::new(false);
        let ship = driver::upload(&upload, files, None, dead_letter, &mut quiet);
        self.line(
            "file-upload",
            "whole file",
            sample,
            Endpoint::UploadPut,
            ship,
        )
        .await
    }

    /// Runs `ship` and counts what reached `endpoint` meanwhile.
    async fn line(
        &self,
        backend: &'static str,
        kind: &str,
        sample: &Sample,
        endpoint: Endpoint,
        ship: impl Future<Output = anyhow::Result<Summary>>,
    ) -> anyhow::Result<Line> {
        let before = received(&self.emu, endpoint);
        let summary = ship.await?;
        let got = received(&self.emu, endpoint) - before;
        let what = format!("{} ({kind})", name(&sample.path));
        Ok(Line::new(backend, what, sample.records, got, &summary))
    }

    /// Prints the report; true when every record arrived and the emulator saw no
    /// violation.
    pub(crate) async fn report(self, lines: &[Line]) -> bool {
        let (emu, charged) = (self.emu, self.charged.get());
        let stats = emu.stats();
        let violations: u64 = stats.violations.values().map(|v| v.count).sum();
        let faults_injected: u64 = stats.endpoints.values().map(|e| e.faults_injected).sum();
        emu.shutdown().await;

        let mut ok = violations == 0;
        println!(
            "\n| backend | input | records in the sample | received by the emulator | requests | retries | result |"
        );
        println!("|---|---|---|---|---|---|---|");
        for l in lines {
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
        ok
    }
}

/// A job shipping one file, without a spool.
pub(crate) fn job<S>(
    sink: S,
    file: &Path,
    front: FrontConfig,
    dead_letter: &Path,
) -> anyhow::Result<Job<S>> {
    let input = logferry::source::Input::File(file.to_path_buf());
    let opened = logferry::source::Source::open(&input, &SourceConfig::default(), None)?;
    Ok(Job {
        sink,
        files: Files::new(vec![opened], None),
        front,
        opened: None,
        dead_letter: dead_letter.to_path_buf(),
        total_bytes: None,
    })
}

pub(crate) fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(crate) fn received(emu: &Emulator, endpoint: Endpoint) -> u64 {
    emu.stats()
        .endpoints
        .get(&endpoint)
        .map_or(0, |e| e.records)
}

/// Writes the sample and returns its number of lines.
pub(crate) fn write_sample(path: &Path, bytes: Vec<u8>) -> anyhow::Result<u64> {
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    std::fs::write(path, bytes)?;
    Ok(lines)
}

/// The directory to work in: the one asked for (kept), or a temporary one.
pub(crate) enum Scratch {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl Scratch {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Scratch::Kept(p) => p,
            Scratch::Temp(t) => t.path(),
        }
    }
}

pub(crate) fn tempdir_or(dir: &Option<PathBuf>) -> anyhow::Result<Scratch> {
    Ok(match dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Scratch::Kept(d.clone())
        }
        None => Scratch::Temp(tempfile::tempdir()?),
    })
}
