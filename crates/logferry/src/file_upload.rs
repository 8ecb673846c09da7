//! File Upload: whole files through presigned URLs, skipping files already uploaded.
//!
//! With a checkpoint store, a file uploaded successfully gets a checkpoint at its end
//! (with its head fingerprint); a later run skips a file whose checkpoint still matches
//! and whose size has not changed. A file that changed since (it grew, or was replaced)
//! is uploaded again whole: the API takes whole files.

use futures_util::StreamExt;
use logferry_framing::Position;
use logferry_source::{Checkpoints, Input, Resume, Source, SourceConfig};
use logferry_taegis_upload::{UploadReport, Uploader};
use std::path::PathBuf;
use std::sync::Arc;

/// What a File Upload run reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The file was uploaded by an earlier run and has not changed.
    Skipped {
        /// The file.
        path: &'a std::path::Path,
        /// Its size.
        bytes: u64,
    },
    /// A file's upload ended (delivered or not).
    Report(&'a UploadReport),
    /// The checkpoint of an uploaded file could not be stored (it may be uploaded again
    /// by the next run: a duplicate, never a loss).
    CheckpointError(String),
}

/// Uploads `files`, skipping those `checkpoints` show as already uploaded.
pub async fn run(
    uploader: &Uploader,
    files: Vec<PathBuf>,
    checkpoints: Option<Arc<Checkpoints>>,
    mut on_event: impl FnMut(Event<'_>),
) {
    let mut pending = Vec::with_capacity(files.len());
    for path in files {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if let Some(store) = &checkpoints {
            let input = Input::File(path.clone());
            if let Ok(source) = Source::open(&input, &SourceConfig::default(), Some(store))
                && let Resume::Continued(at) = source.resume()
                && at.offset == size
                && size > 0
            {
                on_event(Event::Skipped {
                    path: &path,
                    bytes: size,
                });
                continue;
            }
        }
        pending.push(path);
    }
    let mut reports = std::pin::pin!(uploader.upload_many(pending));
    while let Some(report) = reports.next().await {
        if report.is_delivered()
            && let Some(store) = &checkpoints
        {
            let input = Input::File(report.path.clone());
            let stored = Source::open(&input, &SourceConfig::default(), None)
                .map_err(|e| e.to_string())
                .and_then(|source| {
                    let end = Position {
                        offset: report.bytes,
                        line: 1,
                    };
                    match source.checkpoint(end) {
                        Some(c) => store.store(&c).map_err(|e| e.to_string()),
                        None => Ok(()),
                    }
                });
            if let Err(e) = stored {
                on_event(Event::CheckpointError(e));
            }
        }
        on_event(Event::Report(&report));
    }
}
