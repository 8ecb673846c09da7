//! Taegis File Upload: whole files through presigned URLs, skipping files already
//! uploaded. The unit is a file, not a batch of records, so there is no framing,
//! batching or spool stage; the run reports the pipeline's [`Event`]s and keeps its
//! [`Ledger`] (one record per file).
//!
//! With a checkpoint store, a file uploaded successfully gets a checkpoint at its end
//! (with its head fingerprint); a later run skips a file whose checkpoint still matches
//! and whose size has not changed. A file that changed since (it grew, or was replaced)
//! is uploaded again whole: the API takes whole files (the contract: "PUT the log file",
//! one object per presigned URL, no append). A file that grew is logged at INFO, with
//! the bytes it sends a second time, and once uploaded again it is reported
//! [`Event::Reuploaded`] (after its [`Event::Delivered`]).
//!
//! A file the uploader refuses as not text (gzip, not UTF-8: `logferry_taegis_upload::
//! TextCheck`) is reported [`Event::Invalid`] at its first bad byte, like a record the
//! framer refuses, and [`Event::InputFailed`]; every other failure is
//! [`Event::Undelivered`].

use crate::run::{Event, Flow, Ledger};
use crate::sink::{Control, Lost, SinkStats};
use futures_util::StreamExt;
use logferry_framing::{FrameStats, Position};
use logferry_source::{Checkpoints, EarlierUpload};
use logferry_taegis_upload::{Error as UploadError, NotText, Uploader};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// File Upload's [`Control`]: close lets uploads in progress finish and starts none.
#[derive(Debug, Clone)]
pub struct Upload(pub Arc<Uploader>);

impl Control for Upload {
    fn close(&self) {
        self.0.shutdown();
    }

    fn abort(&self) {
        self.0.shutdown();
    }

    fn stopped(&self) -> Option<String> {
        None
    }

    fn stats(&self) -> SinkStats {
        let s = self.0.stats();
        SinkStats {
            records_delivered: s.files_delivered,
            bytes_raw: s.bytes_delivered,
            bytes_wire: s.bytes_sent,
            requests: s.put_requests + s.presign_requests + s.token_requests,
            retries: s.put_retries + s.presign_retries + s.token_retries,
            requests_by_status: s.requests_by_status,
            request_failures: s.request_failures,
            in_flight: s.in_flight,
            ..SinkStats::default()
        }
    }
}

/// Uploads `files`, skipping those `checkpoints` show as already uploaded.
pub async fn run(
    upload: &Upload,
    files: Vec<PathBuf>,
    checkpoints: Option<Arc<Checkpoints>>,
    mut on_event: impl FnMut(Event<'_>) -> Flow,
) -> Ledger {
    let mut ledger = Ledger::default();
    let mut emit = |event: Event<'_>| {
        ledger.count(&event);
        if on_event(event).is_break() {
            upload.abort();
        }
    };
    let mut pending = Vec::with_capacity(files.len());
    // Files that grew since their earlier upload: the size then.
    let mut grew = HashMap::new();
    for path in files {
        let earlier = checkpoints
            .as_deref()
            .map_or(EarlierUpload::None, |s| s.uploaded(&path));
        match earlier {
            EarlierUpload::Unchanged(bytes) => emit(Event::Skipped {
                name: &path.display().to_string(),
                bytes,
            }),
            EarlierUpload::Grew { uploaded, now } => {
                // The API takes whole files: the part uploaded before goes again.
                tracing::info!(
                    "{}: grew from {uploaded} to {now} bytes since it was uploaded: uploading it again whole ({uploaded} bytes a second time)",
                    path.display()
                );
                grew.insert(path.clone(), uploaded);
                pending.push(path);
            }
            EarlierUpload::None => pending.push(path),
        }
    }
    let mut reports = std::pin::pin!(upload.0.upload_many(pending));
    while let Some(report) = reports.next().await {
        let name = report.path.display().to_string();
        emit(Event::Batched {
            records: 1,
            bytes: report.bytes,
        });
        match &report.result {
            Ok(()) => {
                if let Some(store) = &checkpoints
                    && let Err(e) = store.record_upload(&report.path, report.bytes)
                {
                    // It may be uploaded again by the next run: a duplicate, never a loss.
                    tracing::warn!("cannot store a checkpoint: {e}");
                }
                emit(Event::Delivered { records: 1 });
                if let Some(uploaded) = grew.remove(&report.path) {
                    emit(Event::Reuploaded {
                        name: &name,
                        uploaded,
                        now: report.bytes,
                    });
                }
                emit(Event::Finished {
                    name: &name,
                    position: Position {
                        offset: report.bytes,
                        line: 0,
                    },
                    stats: FrameStats::default(),
                });
            }
            Err(UploadError::NotText { problem, .. }) => {
                // Refused before anything was sent, like a record the framer refuses.
                let reason = problem.to_string();
                tracing::error!("{name}: {reason}");
                let position = match problem {
                    NotText::InvalidUtf8 { line, offset } => Position {
                        offset: *offset,
                        line: *line,
                    },
                    _ => Position { offset: 0, line: 1 },
                };
                emit(Event::Invalid(&Lost {
                    source: Some(Cow::Borrowed(&name)),
                    position: Some(position),
                    reason: Cow::Borrowed(&reason),
                    records: 1,
                    body: Cow::Borrowed(b""),
                    truncated: false,
                }));
                emit(Event::InputFailed {
                    name: &name,
                    reason: &reason,
                });
            }
            Err(e) => {
                let reason = crate::chain(e);
                tracing::error!("{name}: {reason}");
                emit(Event::Undelivered {
                    lost: &[Lost {
                        source: Some(Cow::Borrowed(&name)),
                        position: None,
                        reason: Cow::Borrowed(&reason),
                        records: 1,
                        body: Cow::Borrowed(b""),
                        truncated: false,
                    }],
                    kept: false,
                });
                emit(Event::InputFailed {
                    name: &name,
                    reason: &reason,
                });
            }
        }
    }
    ledger
}
