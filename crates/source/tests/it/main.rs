//! Integration tests for logferry-source over real temporary files: argument and glob
//! expansion, chunked reading (files, pipes, real stdin), checkpoints and resume after
//! growth, truncation, replacement and rotation, and error messages naming the input.

#[cfg(unix)]
mod follow;
mod inputs;
mod read;
mod resume;

use logferry_source::{Checkpoints, Input, Source, SourceConfig};
use std::path::Path;

/// Reads `source` to the end, returning the bytes and the chunk sizes.
pub fn read_all(source: &mut Source) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::new();
    let mut sizes = Vec::new();
    while let Some(chunk) = source.read_chunk().expect("read") {
        sizes.push(chunk.len());
        bytes.extend_from_slice(chunk);
    }
    (bytes, sizes)
}

/// Opens `path` with the default config and `checkpoints`.
pub fn open(path: &Path, checkpoints: Option<&Checkpoints>) -> Source {
    Source::open(
        &Input::File(path.to_path_buf()),
        &SourceConfig::default(),
        checkpoints,
    )
    .expect("open")
}

/// An error and its causes, `: `-joined, with `dir` shown as `[TMP]`.
pub fn chain(err: &dyn std::error::Error, dir: &Path) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out.replace(&*dir.to_string_lossy(), "[TMP]")
}
