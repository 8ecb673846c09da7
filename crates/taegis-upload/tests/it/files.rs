//! Files that cannot be uploaded as they are: empty, missing, not a file, changing.

use crate::support::{self, chain, config, log_lines, static_token, uploader, write_files};
use logferry_emulator::{Emulator, Endpoint};
use logferry_taegis_upload::{Config, Error, Progress};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

#[tokio::test]
async fn empty_missing_and_non_files_fail_before_any_request() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("empty.log", b"")]);
    let missing = dir.path().join("missing.log");
    let up = uploader(&emu, static_token(&emu), config());
    let reports = up
        .upload_all([paths[0].clone(), missing.clone(), dir.path().to_path_buf()])
        .await;
    let messages: Vec<String> = reports
        .iter()
        .map(|r| {
            let err = r.result.as_ref().unwrap_err();
            assert!(err.is_file_problem(), "{err:?}");
            chain(err).replace(&dir.path().display().to_string(), "[dir]")
        })
        .collect();
    assert_eq!(
        messages,
        [
            "[dir]/empty.log is empty: there is nothing to upload (refused before presigning)",
            "cannot read [dir]/missing.log: No such file or directory (os error 2)",
            "[dir] is not a regular file",
        ]
    );
    assert_eq!(emu.stats().requests, 0);
    assert_eq!(up.stats().files_failed, 3);
}

#[tokio::test]
async fn a_file_growing_during_the_upload_fails_and_nothing_is_stored() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let content = log_lines("grow", 40_000); // about 2.4 MB: many 64 KiB chunks
    let paths = write_files(dir.path(), &[("grow.log", &content)]);
    let appended = AtomicBool::new(false);
    let target = paths[0].clone();
    // A writer appends to the file while the body is between its first and second chunk.
    let up = uploader(
        &emu,
        static_token(&emu),
        Config {
            read_chunk: 64 * 1024,
            ..config()
        },
    )
    .with_progress(move |progress| {
        if let Progress::Read { read, .. } = progress
            && read >= 64 * 1024
            && !appended.swap(true, Ordering::SeqCst)
        {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&target)
                .unwrap();
            file.write_all(b"<13>Jan  1 00:00:00 late line\n").unwrap();
        }
    });
    let report = up.upload(&paths[0]).await;
    let err = report.result.unwrap_err();
    assert!(
        matches!(err, Error::FileChanged { expected, .. } if expected == content.len() as u64),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} changed while uploading: it grew past the {} bytes presigned while being read; the upload was abandoned and nothing was stored",
            paths[0].display(),
            content.len()
        )
    );
    assert_eq!((report.attempts, report.presigns), (1, 1), "not retried");
    assert!(emu.uploads().is_empty());
    assert_eq!(emu.stats().status_count(Endpoint::UploadPut, 200), 0);
    let stats = up.stats();
    assert!(stats.bytes_sent < content.len() as u64 + 30, "{stats:?}");
}

#[tokio::test]
async fn a_file_changed_between_presign_and_put_fails_naming_it() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("trunc.log", b"0123456789\n")]);
    let target = paths[0].clone();
    let up = uploader(&emu, static_token(&emu), config()).with_progress(move |progress| {
        if let Progress::Presigned { .. } = progress {
            std::fs::write(&target, b"short\n").unwrap();
        }
    });
    let err = up.upload(&paths[0]).await.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} changed while uploading: it is now 6 bytes long, not the 11 bytes presigned; the upload was abandoned and nothing was stored",
            paths[0].display()
        )
    );
    assert_eq!(
        emu.stats()
            .endpoints
            .get(&Endpoint::UploadPut)
            .map_or(0, |e| e.requests),
        0
    );
}
