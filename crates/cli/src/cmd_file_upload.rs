//! `logferry file-upload`: whole log files to Taegis XDR through presigned URLs.

use crate::args::{SenderArgs, secret};
use crate::deadletter::{DeadLetter, Letter};
use crate::exit::{chain, usage};
use crate::progress::{Progress, Totals};
use crate::summary::{InputSummary, Summary};
use clap::Args;
use logferry::file_upload::{self, Event};
use logferry::http::{Client, Secret};
use logferry::taegis_upload::{Config, Credentials, Region, Uploader};
use std::path::PathBuf;
use std::time::Instant;

/// Upload whole log files to Taegis XDR (File Upload API).
#[derive(Debug, Args)]
pub(crate) struct FileUploadArgs {
    /// Files (or glob patterns) to upload.
    #[arg(value_name = "FILE", required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The Taegis API endpoint (the region's URL, or a custom one).
    #[arg(long, env = "TAEGIS_API_ENDPOINT", conflicts_with = "region")]
    pub(crate) endpoint: Option<String>,
    /// A Taegis region: us1, us2, us3 or eu.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// An access token (prefer the environment variable).
    #[arg(long, env = "ACCESS_TOKEN", hide_env_values = true, allow_hyphen_values = true, value_parser = secret)]
    pub(crate) token: Option<Secret>,
    /// OAuth2 client id, to obtain (and refresh) access tokens.
    #[arg(long, env = "TAEGIS_CLIENT_ID")]
    pub(crate) client_id: Option<String>,
    /// OAuth2 client secret (prefer the environment variable).
    #[arg(long, env = "TAEGIS_CLIENT_SECRET", hide_env_values = true, allow_hyphen_values = true, value_parser = secret)]
    pub(crate) client_secret: Option<Secret>,
    /// The sensor identifier the logs are filed under.
    #[arg(long, default_value = "toaster.localhost")]
    pub(crate) sensor_id: String,
    /// The `service` parameter, when your tenant expects it (some reject it).
    #[arg(long)]
    pub(crate) service: Option<String>,
    /// Files uploaded at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,
    #[command(flatten)]
    pub(crate) sender: SenderArgs,
}

pub(crate) async fn run(args: FileUploadArgs, progress: &mut Progress) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let region: Region = match (&args.endpoint, &args.region) {
        (Some(endpoint), _) => match endpoint.parse() {
            Ok(r) => r,
            Err(e) => usage!("{}", chain(&e)),
        },
        (None, Some(region)) => match region.parse() {
            Ok(r) => r,
            Err(e) => usage!("{}", chain(&e)),
        },
        (None, None) => {
            usage!("missing endpoint: pass --endpoint, set TAEGIS_API_ENDPOINT, or use --region")
        }
    };
    let credentials = match (&args.client_id, &args.client_secret, &args.token) {
        (Some(id), Some(secret), _) => Credentials::client(id.clone(), secret.clone()),
        (Some(_), None, _) => usage!("--client-id needs --client-secret (or TAEGIS_CLIENT_SECRET)"),
        (None, _, Some(token)) => Credentials::token(token.clone()),
        (None, _, None) => usage!(
            "missing credentials: pass --token (or ACCESS_TOKEN), or --client-id and --client-secret"
        ),
    };
    // Every file must exist before anything is sent.
    let files: Vec<PathBuf> = match logferry::source::expand(&args.files) {
        Ok(inputs) => inputs
            .into_iter()
            .map(|i| match i {
                logferry::source::Input::File(p) => Ok(p),
                _ => Err(()),
            })
            .collect::<Result<_, _>>()
            .or_else(|()| usage!("file-upload needs files: standard input has no size to sign"))?,
        Err(e) => usage!("{}", chain(&e)),
    };
    let client = match Client::new(args.sender.client_config()) {
        Ok(c) => c,
        Err(e) => usage!("{}", chain(&e)),
    };
    let config = Config {
        sensor_id: args.sensor_id.clone(),
        service: args.service.clone(),
        concurrency: usize::from(args.concurrency),
        retry: args.sender.retry_config(),
        ..Config::default()
    };
    let endpoint = region.endpoint().to_string();
    let uploader = match Uploader::new(client, &region, credentials, config) {
        Ok(u) => std::sync::Arc::new(u),
        Err(e) => usage!("{}", chain(&e)),
    };
    let opened = args.sender.open_spool("file-upload", &endpoint)?;

    let stopper = uploader.clone();
    let signals = tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::warn!("interrupted: finishing the uploads in progress, starting no new one");
        stopper.shutdown();
    });
    let mut summary = Summary {
        backend: "file-upload",
        ..Summary::default()
    };
    let mut dead = DeadLetter::new(args.sender.dead_letter_path());
    let mut totals = Totals::default();
    let mut failure: Option<anyhow::Error> = None;
    let mut skipped = 0u64;
    file_upload::run(&uploader, files, opened.as_ref().map(|o| o.checkpoints.clone()), |event| {
        match event {
            Event::Skipped { path, bytes } => {
                skipped += 1;
                tracing::info!("{} ({bytes} bytes) was uploaded by an earlier run and is unchanged: skipped", path.display());
            }
            Event::CheckpointError(e) => tracing::warn!("cannot store a checkpoint: {e}"),
            Event::Report(report) => {
                summary.records.read += 1;
                let name = report.path.display().to_string();
                match &report.result {
                    Ok(()) => {
                        summary.records.delivered += 1;
                        summary.inputs.push(InputSummary {
                            name,
                            line: 0,
                            offset: report.bytes,
                            error: None,
                        });
                    }
                    Err(e) => {
                        summary.failures += 1;
                        let reason = chain(e);
                        tracing::error!("{name}: {reason}");
                        if let Err(e) = dead.write(Letter {
                            kind: "undelivered",
                            source: Some(&name),
                            line: None,
                            offset: None,
                            reason: &reason,
                            count: 1,
                            body: b"",
                            truncated: false,
                        }) {
                            failure.get_or_insert(e);
                        }
                        summary.inputs.push(InputSummary {
                            name,
                            line: 0,
                            offset: 0,
                            error: Some(reason),
                        });
                    }
                }
            }
            _ => {}
        }
        let stats = uploader.stats();
        totals.records = stats.files_delivered;
        totals.bytes = stats.bytes_delivered;
        totals.retries = stats.put_retries + stats.presign_retries + stats.token_retries;
        progress.update(totals);
    })
    .await;
    signals.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    let stats = uploader.stats();
    summary.records.undelivered = summary.records.read - summary.records.delivered;
    summary.bytes_raw = stats.bytes_delivered;
    summary.bytes_sent = stats.bytes_sent;
    summary.requests = stats.put_requests + stats.presign_requests + stats.token_requests;
    summary.retries = stats.put_retries + stats.presign_retries + stats.token_retries;
    summary.records.skipped = skipped;
    summary.close(None, 0, &dead, started.elapsed());
    Ok(summary)
}
