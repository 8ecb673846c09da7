//! Opening the inputs named on the command line (files, globs, `-` for stdin).

use crate::exit::usage;
use logferry::source::{Checkpoints, Source, SourceConfig, expand};
use std::path::PathBuf;

/// Expands and opens every input up front, so a missing or unreadable one is a usage
/// error (exit 2) before anything is sent. No argument, or `-`, means standard input.
/// With a checkpoint store, files already shipped resume after their checkpoint.
pub(crate) fn open_inputs(
    files: &[PathBuf],
    checkpoints: Option<&Checkpoints>,
) -> anyhow::Result<Vec<Source>> {
    let inputs = match expand(files) {
        Ok(inputs) => inputs,
        Err(e) => usage!("{}", crate::exit::chain(&e)),
    };
    let config = SourceConfig::default();
    let mut sources = Vec::with_capacity(inputs.len());
    for input in &inputs {
        match Source::open(input, &config, checkpoints) {
            Ok(source) => sources.push(source),
            Err(e) => usage!("{}", crate::exit::chain(&e)),
        }
    }
    Ok(sources)
}
