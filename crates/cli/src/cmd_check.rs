//! `logferry check`: validate input offline against a backend's rules and list every
//! problem with file, line and byte offset.
//!
//! `--backend file-upload` applies the uploader's own rule,
//! `logferry_taegis_upload::TextCheck` (not gzip, valid UTF-8), to whole files, and
//! refuses empty files and files past `MAX_PUT_BYTES`, as the uploader does.

use crate::args::{FormatArg, FramingArgs};
use crate::exit::{Exit, usage};
use clap::{Args, ValueEnum};
use logferry::framing::{Format, Framer, OversizePolicy};
use logferry::taegis_upload::{MAX_PUT_BYTES, TextCheck};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// Taegis HTTP Ingest: UTF-8 records of at most about 500 KB, valid JSON objects.
    HttpIngest,
    /// Taegis File Upload: a non-empty UTF-8 text file (not gzip).
    FileUpload,
    /// SentinelOne SDL: UTF-8 records, each small enough for a 6 MB request.
    Sdl,
}

/// Check files offline against a backend's rules; exit 0 if clean, 1 if problems.
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
    let mut config = args.framing.config();
    // Every oversized record is a problem to report, whatever the sender would do.
    config.oversize = OversizePolicy::Reject;
    if args.backend == BackendArg::Sdl
        && args.framing.max_record_bytes == crate::args::DEFAULT_MAX_RECORD_BYTES
    {
        // SDL has no record limit of its own, only the 6 MB request body.
        config.max_record_bytes = 5_900_000;
    }
    config.max_rejected_bytes = 0;
    let format: Format = args.format.into();
    let inputs = crate::inputs::open_inputs(&args.files, None)?;
    let (mut problems, mut records, mut files_with_problems) = (0u64, 0u64, 0usize);
    let total = inputs.len();
    for mut input in inputs {
        let name = input.name().clone();
        let before = problems;
        let mut bytes = 0u64;
        if args.backend == BackendArg::FileUpload {
            // The uploader's rule, applied to the whole file.
            let mut text = TextCheck::new();
            let mut verdict = Ok(());
            loop {
                match input.read_chunk() {
                    Ok(None) => break,
                    Ok(Some(chunk)) => {
                        bytes += chunk.len() as u64;
                        if !args.allow_binary && verdict.is_ok() {
                            verdict = text.push(chunk);
                        }
                    }
                    Err(e) => usage!("{}", crate::exit::chain(&e)),
                }
            }
            if !args.allow_binary
                && let Err(problem) = verdict.and_then(|()| text.finish())
            {
                problems += 1;
                writeln!(out, "{name}: {problem}")?;
            }
            if bytes == 0 {
                problems += 1;
                writeln!(out, "{name}: the file is empty (File Upload needs content)")?;
            }
            if bytes > MAX_PUT_BYTES {
                problems += 1;
                writeln!(
                    out,
                    "{name}: {bytes} bytes, more than the {MAX_PUT_BYTES} bytes a single upload takes"
                )?;
            }
            if problems == before {
                records += 1;
            } else {
                files_with_problems += 1;
            }
            continue;
        }
        let mut framing = config.clone();
        framing.source_name = Some(name.clone());
        let mut framer = Framer::new(format, framing);
        let mut report =
            |r: Result<logferry::framing::Record<'_>, logferry::framing::FrameError>| match r {
                Ok(_) => records += 1,
                Err(e) => {
                    problems += 1;
                    let _ = writeln!(out, "{e}");
                }
            };
        loop {
            match input.read_chunk() {
                Ok(None) => break,
                Ok(Some(chunk)) => framer.push(chunk, &mut report),
                Err(e) => usage!("{}", crate::exit::chain(&e)),
            }
        }
        framer.finish(&mut report);
        if problems > before {
            files_with_problems += 1;
        }
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
