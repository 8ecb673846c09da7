//! `logferry file-upload`: whole log files to Taegis XDR through presigned URLs.

use crate::args::{SenderArgs, secret};
use crate::exit::{chain, usage};
use crate::progress::Progress;
use crate::summary::Summary;
use clap::Args;
use logferry::http::{Client, Secret};
use logferry::pipeline::file_upload::Upload;
use logferry::taegis_upload::{Config, Credentials, Uploader};
use std::path::PathBuf;

/// Upload whole log files to Taegis XDR (File Upload API).
#[derive(Debug, Args)]
pub(crate) struct FileUploadArgs {
    /// Files (or glob patterns) to upload.
    #[arg(value_name = "FILE", required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The Taegis API endpoint (the region's URL, or a custom one).
    #[arg(long, env = "TAEGIS_API_ENDPOINT")]
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
    /// The `service` parameter of the presign request (the API's own example sends
    /// `Syslog`).
    #[arg(long, value_name = "NAME", default_value = logferry::taegis_upload::DEFAULT_SERVICE)]
    pub(crate) service: String,
    /// Send no `service` parameter (for a tenant that refuses it).
    #[arg(long, conflicts_with = "service")]
    pub(crate) no_service: bool,
    /// Upload gzip-compressed or non-UTF-8 files as they are (refused by default: the API
    /// ingests text log files, and `logferry check --backend file-upload` applies the
    /// same rule).
    #[arg(long)]
    pub(crate) allow_binary: bool,
    /// Files uploaded at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,
    #[command(flatten)]
    pub(crate) sender: SenderArgs,
}

pub(crate) async fn run(args: FileUploadArgs, progress: &mut Progress) -> anyhow::Result<Summary> {
    let files = crate::inputs::whole_files(&args.files)?;
    let (upload, endpoint) = build(&args)?;
    let opened = args.sender.open_spool("file-upload", &endpoint)?;
    let dead_letter = args.sender.dead_letter_path();
    crate::driver::upload(&upload, files, opened, dead_letter, progress).await
}

/// The uploader `args` ask for, and its endpoint (shared by the subcommand and
/// `logferry run`).
pub(crate) fn build(args: &FileUploadArgs) -> anyhow::Result<(Upload, String)> {
    let region = crate::args::region(args.endpoint.as_deref(), args.region.as_deref())?;
    let credentials = match (&args.client_id, &args.client_secret, &args.token) {
        (Some(id), Some(secret), _) => Credentials::client(id.clone(), secret.clone()),
        (Some(_), None, _) => usage!("--client-id needs --client-secret (or TAEGIS_CLIENT_SECRET)"),
        (None, _, Some(token)) => Credentials::token(token.clone()),
        (None, _, None) => usage!(
            "missing credentials: pass --token (or ACCESS_TOKEN), or --client-id and --client-secret"
        ),
    };
    let client = match Client::new(args.sender.client_config()) {
        Ok(c) => c,
        Err(e) => usage!("{}", chain(&e)),
    };
    let config = Config {
        sensor_id: args.sensor_id.clone(),
        service: (!args.no_service).then(|| args.service.clone()),
        allow_binary: args.allow_binary,
        concurrency: usize::from(args.concurrency),
        retry: args.sender.retry_config(),
        ..Config::default()
    };
    let endpoint = region.endpoint().to_string();
    match Uploader::new(client, &region, credentials, config) {
        Ok(u) => Ok((Upload(std::sync::Arc::new(u)), endpoint)),
        Err(e) => usage!("{}", chain(&e)),
    }
}
