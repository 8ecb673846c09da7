//! The offline verdicts behind `logferry check`: what the sender runs, so the records it
//! lists are the ones the sender sends to the dead-letter file as invalid:
//!
//! - **http-ingest**: the sender's framing, with the same `--max-record-bytes`,
//!   `--oversize` and `--invalid-utf8` policies (the sinks' `front` changes batching only);
//! - **sdl**: the same framing, then the sender's record → event conversion, the one
//!   `logferry_sdl_model::Converter` with `SdlJob::new`'s settings (a bad time or severity
//!   is a problem here as it is there);
//! - **file-upload**: the uploader's own rule, `logferry_taegis_upload::TextCheck` (not
//!   gzip, valid UTF-8), a non-empty file, at most `MAX_PUT_BYTES`.
//!
//! Records a policy changes but still sends (`--oversize split` or `truncate`) are
//! noted, not counted as problems. What only the server can refuse (an HTTP Ingest 400,
//! for example) is out of reach offline.

use crate::exit::usage;
use logferry::framing::{Format, FrameError, Framer, FramingConfig, Record};
use logferry::sdl_model::{Converter, Timestamp};
use logferry::source::Source;
use logferry::taegis_upload::{MAX_PUT_BYTES, TextCheck};
use std::io::Write;

/// What one input holds: records that pass, and problems listed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) records: u64,
    pub(crate) problems: u64,
}

/// File Upload's rule, applied to the whole file.
pub(crate) fn whole_file(
    mut input: Source,
    allow_binary: bool,
    out: &mut impl Write,
) -> anyhow::Result<Counts> {
    let name = input.name().clone();
    let mut problems = 0u64;
    let mut bytes = 0u64;
    // The uploader's rule, applied to the whole file.
    let mut text = TextCheck::new();
    let mut verdict = Ok(());
    loop {
        match input.read_chunk() {
            Ok(None) => break,
            Ok(Some(chunk)) => {
                bytes += chunk.len() as u64;
                if !allow_binary && verdict.is_ok() {
                    verdict = text.push(chunk);
                }
            }
            Err(e) => usage!("{}", crate::exit::chain(&e)),
        }
    }
    if !allow_binary && let Err(problem) = verdict.and_then(|()| text.finish()) {
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
    Ok(Counts {
        records: u64::from(problems == 0),
        problems,
    })
}

/// The senders' framing (`config`), then the SDL conversion when `converter` is given.
pub(crate) fn records(
    mut input: Source,
    format: Format,
    config: &FramingConfig,
    mut converter: Option<Converter>,
    out: &mut impl Write,
) -> anyhow::Result<Counts> {
    let name = input.name().clone();
    let (mut problems, mut records) = (0u64, 0u64);
    let mut framing = config.clone();
    framing.source_name = Some(name.clone());
    let mut framer = Framer::new(format, framing);
    let read_at = Timestamp::from_system_time(std::time::SystemTime::now());
    let mut noted_line = 0u64;
    let mut report = |r: Result<Record<'_>, FrameError>| match r {
        Ok(record) => {
            if (record.flags.split || record.flags.truncated) && record.position.line != noted_line
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
            if let Some(converter) = &mut converter {
                let converted = converter.convert(record.text.as_bytes(), Some(&name), read_at);
                if let Err(e) = converted {
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
    Ok(Counts { records, problems })
}
