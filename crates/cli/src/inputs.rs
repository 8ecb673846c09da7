//! Opening the inputs named on the command line (files, `-` for stdin).

use crate::exit::usage;
use logferry::framing::Position;
use logferry::frontend::Input;
use std::path::PathBuf;

/// Opens every file up front, so an unreadable one is a usage error (exit 2) before
/// anything is sent. No file, or `-`, means standard input.
pub(crate) fn open_inputs(files: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    if files.is_empty() {
        return Ok(vec![stdin()]);
    }
    let mut inputs = Vec::with_capacity(files.len());
    for path in files {
        if path.as_os_str() == "-" {
            inputs.push(stdin());
            continue;
        }
        match std::fs::File::open(path) {
            Ok(file) => {
                if file.metadata().is_ok_and(|m| m.is_dir()) {
                    usage!("{} is a directory, not a file", path.display());
                }
                inputs.push(Input {
                    name: path.display().to_string().into(),
                    reader: Box::new(file),
                    start: Position::START,
                })
            }
            Err(e) => usage!("cannot read {}: {e}", path.display()),
        }
    }
    Ok(inputs)
}

fn stdin() -> Input {
    Input {
        name: "<stdin>".into(),
        reader: Box::new(std::io::stdin()),
        start: Position::START,
    }
}
