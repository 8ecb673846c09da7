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
    let stdin = inputs
        .iter()
        .any(|i| matches!(i, logferry::source::Input::Stdin));
    if stdin && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("logferry: reading standard input (Ctrl-D to end)");
    }
    let mut sources = Vec::with_capacity(inputs.len());
    for input in &inputs {
        match Source::open(input, &config, checkpoints) {
            Ok(source) => sources.push(source),
            Err(e) => usage!("{}", crate::exit::chain(&e)),
        }
    }
    Ok(sources)
}

/// Expands `files` to whole files (File Upload signs each file's size, so standard
/// input cannot be one); every file must exist before anything is sent.
pub(crate) fn whole_files(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let inputs = match expand(files) {
        Ok(inputs) => inputs,
        Err(e) => usage!("{}", crate::exit::chain(&e)),
    };
    inputs
        .into_iter()
        .map(|i| match i {
            logferry::source::Input::File(p) => Ok(p),
            _ => Err(()),
        })
        .collect::<Result<_, _>>()
        .or_else(|()| usage!("file-upload needs files: standard input has no size to sign"))
}

/// What is left to read of `inputs` (from where each resumes), when every one is a file
/// of known size.
pub(crate) fn bytes_left(inputs: &[logferry::source::Source]) -> Option<u64> {
    inputs.iter().try_fold(0u64, |sum, input| {
        let size = std::fs::metadata(&**input.name())
            .ok()
            .filter(|m| m.is_file())?
            .len();
        Some(sum + size.saturating_sub(input.start().offset))
    })
}
