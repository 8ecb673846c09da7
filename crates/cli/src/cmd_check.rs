//! `logferry check`: validate input offline against a backend's rules and list every
//! problem with file, line and byte offset.
//!
//! `check` runs what the sender runs, so a file it passes is a file the sender accepts,
//! record for record, and the records it lists are the ones the sender sends to the
//! dead-letter file as invalid:
//!
//! - **http-ingest**: the sender's framing (`cmd_http_ingest::front`), with the same
//!   `--max-record-bytes`, `--oversize` and `--invalid-utf8` policies;
//! - **sdl**: the sender's framing (`cmd_sdl::front`) and then its record → event
//!   conversion (`cmd_sdl::job`: a text line becomes an event's `message`, a JSON object
//!   is read by `EventReader` with the same `FromJsonConfig`, so a bad time or severity
//!   is a problem here as it is there);
//! - **file-upload**: the uploader's own rule, `logferry_taegis_upload::TextCheck` (not
//!   gzip, valid UTF-8), a non-empty file, at most `MAX_PUT_BYTES`.
//!
//! Records a policy changes but still sends (`--oversize split` or `truncate`) are
//! noted, not counted as problems. What only the server can refuse (an HTTP Ingest 400,
//! for example) is out of reach offline.

use crate::args::{FormatArg, FramingArgs};
use crate::exit::{Exit, usage};
use clap::{Args, ValueEnum};
use logferry::framing::{Format, FrameError, Framer, FramingConfig, Record};
use logferry::sdl_model::{EventReader, Timestamp};
use logferry::taegis_upload::{MAX_PUT_BYTES, TextCheck};
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

/// The framing the sender for `backend` uses.
fn sender_framing(backend: BackendArg, format: Format, framing: &FramingArgs) -> FramingConfig {
    match backend {
        BackendArg::Sdl => crate::cmd_sdl::front(format, framing.config()).framing,
        BackendArg::HttpIngest | BackendArg::FileUpload => {
            crate::cmd_http_ingest::front(format, framing.config(), 100_000).framing
        }
    }
}

/// Checks every input; problems go to `out`, one per line.
pub(crate) fn run(args: &CheckArgs, out: &mut impl Write) -> anyhow::Result<Exit> {
    let format: Format = args.format.into();
    let mut config = sender_framing(args.backend, format, &args.framing);
    // Only the verdict is needed, not the refused bytes.
    config.max_rejected_bytes = 0;
    let sdl = crate::cmd_sdl::job(format, None);
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
        let read_at = Timestamp::from_system_time(std::time::SystemTime::now());
        let mut reader = (args.backend == BackendArg::Sdl && format == Format::Json)
            .then(|| EventReader::new(sdl.from_json.clone()));
        let mut scratch = Vec::new();
        let mut noted_line = 0u64;
        let mut report = |r: Result<Record<'_>, FrameError>| match r {
            Ok(record) => {
                if (record.flags.split || record.flags.truncated)
                    && record.position.line != noted_line
                {
                    noted_line = record.position.line;
                    let what = if record.flags.split {
                        "sent in parts (--oversize split)"
                    } else {
                        "sent cut to the maximum (--oversize truncate)"
                    };
                    let _ = writeln!(
                        out,
                        "{name}: {}: note: longer than --max-record-bytes, {what}",
                        record.position
                    );
                }
                // The sender's record → event conversion (a text line always converts).
                if let Some(reader) = &mut reader {
                    scratch.clear();
                    scratch.extend_from_slice(record.text.as_bytes());
                    if let Err(e) = reader.read(&mut scratch, read_at) {
                        problems += 1;
                        let _ = writeln!(out, "{name}: {}: {e}", record.position);
                        return;
                    }
                }
                records += 1;
            }
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
