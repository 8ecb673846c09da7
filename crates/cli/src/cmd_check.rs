//! `logferry check`: validate input offline against a backend's rules and list every
//! problem with file, line and byte offset. It runs what the sender runs (see `check.rs`),
//! so a file it passes is a file the sender accepts, record for record.

use crate::args::{FormatArg, FramingArgs};
use crate::check;
use crate::exit::Exit;
use clap::{Args, ValueEnum};
use logferry::framing::Format;
use logferry::pipeline::{HttpIngestSink, SdlSink};
use logferry::sdl_model::{Converter, RecordFormat};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// Taegis HTTP Ingest: UTF-8 records of at most about 500 KB, valid JSON objects.
    HttpIngest,
    /// Taegis File Upload: a non-empty UTF-8 text file (not gzip).
    FileUpload,
    /// SentinelOne SDL: UTF-8 records that convert to events (JSON: a readable time and
    /// severity).
    Sdl,
}

/// Check files offline against a backend's rules (the same rules the sender applies);
/// exit 0 if clean, 1 if problems.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Files to check; none, or `-`, reads standard input.
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Whose rules to apply.
    #[arg(long, value_enum, default_value = "http-ingest")]
    pub(crate) backend: BackendArg,
    /// Input format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: FormatArg,
    /// file-upload: accept gzip-compressed and non-UTF-8 files, as `file-upload
    /// --allow-binary` does.
    #[arg(long)]
    pub(crate) allow_binary: bool,
    #[command(flatten)]
    pub(crate) framing: FramingArgs,
}

/// Checks every input; problems go to `out`, one per line.
pub(crate) fn run(args: &CheckArgs, out: &mut impl Write) -> anyhow::Result<Exit> {
    let format: Format = args.format.into();
    // The senders' own framing: their flags only decide it (`HttpIngestSink::front` and
    // `SdlSink::front` change batching, never framing).
    let front = match args.backend {
        BackendArg::Sdl => SdlSink::front(format),
        BackendArg::HttpIngest | BackendArg::FileUpload => HttpIngestSink::front(format, 100_000),
    };
    let mut config = args.framing.config(front.framing.max_record_bytes);
    // Only the verdict is needed, not the refused bytes.
    config.max_rejected_bytes = 0;
    let sdl = logferry::pipeline::SdlJob::new(format, None);
    let inputs = crate::inputs::open_inputs(&args.files, None)?;
    let (mut problems, mut records, mut files_with_problems) = (0u64, 0u64, 0usize);
    let total = inputs.len();
    for input in inputs {
        let counts = if args.backend == BackendArg::FileUpload {
            check::whole_file(input, args.allow_binary, out)?
        } else {
            // The SDL sender's record -> event conversion, the one `Converter`.
            let kind = match format {
                Format::Json => RecordFormat::Json,
                Format::Text => RecordFormat::Text,
            };
            let converter = (args.backend == BackendArg::Sdl)
                .then(|| Converter::new(kind, sdl.parser.clone(), sdl.from_json.clone()));
            check::records(input, format, &config, converter, out)?
        };
        records += counts.records;
        problems += counts.problems;
        files_with_problems += usize::from(counts.problems > 0);
    }
    if problems == 0 {
        writeln!(
            out,
            "ok: {records} records in {total} input(s), no problem found"
        )?;
        Ok(Exit::Success)
    } else {
        writeln!(
            out,
            "{problems} problem(s) in {files_with_problems} of {total} input(s) ({records} good records)"
        )?;
        Ok(Exit::Undelivered)
    }
}
