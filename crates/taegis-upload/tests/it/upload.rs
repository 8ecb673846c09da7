//! The happy paths: several files stored intact, the presign parameters, bounded
//! concurrency, HTTP/1.1 and HTTP/2, shutdown.

use crate::support::{
    self, config, log_lines, static_token, stored, uploader, write_files, write_logs,
};
use futures_util::StreamExt;
use logferry_emulator::{Emulator, Endpoint};
use logferry_http::ClientConfig;
use logferry_taegis_upload::{Config, Uploader};

#[tokio::test]
async fn several_files_are_stored_intact() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let big = log_lines("big", 20_000);
    let files: [(&str, &[u8]); 4] = [
        ("a.log", &log_lines("a", 3)),
        ("b.log", &big),
        ("no-final-newline.log", b"first\nsecond without newline"),
        (
            "crlf-utf8.log",
            "caf\u{e9} line\r\n\u{1F600} smile\r\n".as_bytes(),
        ),
    ];
    let paths = write_files(dir.path(), &files);
    let up = uploader(&emu, static_token(&emu), config());
    let reports = up.upload_all(paths.clone()).await;

    assert_eq!(reports.len(), 4);
    for ((report, path), (name, content)) in reports.iter().zip(&paths).zip(&files) {
        assert!(report.is_delivered(), "{name}: {:?}", report.result);
        assert_eq!(&report.path, path);
        assert_eq!(report.file_name, *name);
        assert_eq!(report.bytes, content.len() as u64);
        assert_eq!((report.attempts, report.presigns), (1, 1));
        assert_eq!(stored(&emu, name), *content, "{name} stored intact");
    }
    let uploads = emu.uploads();
    assert!(
        uploads
            .iter()
            .all(|u| u.sensor_id == "toaster.localhost" && u.service.as_deref() == Some("Syslog")),
        "the seed's example sends service=Syslog, and so does the default"
    );
    let lines: Vec<(String, u64)> = {
        let mut l: Vec<_> = uploads
            .iter()
            .map(|u| (u.file_name.clone(), u.lines))
            .collect();
        l.sort();
        l
    };
    assert_eq!(
        lines,
        [
            ("a.log".to_owned(), 3),
            ("b.log".to_owned(), 20_000),
            ("crlf-utf8.log".to_owned(), 2),
            ("no-final-newline.log".to_owned(), 2)
        ]
    );
    let total: u64 = files.iter().map(|(_, c)| c.len() as u64).sum();
    let stats = up.stats();
    assert_eq!(stats.files_delivered, 4);
    assert_eq!(stats.files_failed, 0);
    assert_eq!(stats.bytes_delivered, total);
    assert_eq!(stats.bytes_sent, total);
    assert_eq!((stats.put_requests, stats.put_retries), (4, 0));
    assert_eq!((stats.presign_requests, stats.token_requests), (4, 0));
    assert_eq!(emu.stats().status_count(Endpoint::UploadPut, 200), 4);
}

#[tokio::test]
async fn sensor_service_and_odd_file_names_reach_the_presign_request() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let names = ["a b&c=d+e%.log", "caf\u{e9} #1?.log"];
    let paths = write_files(dir.path(), &[(names[0], b"x\n"), (names[1], b"y\n")]);
    let up = uploader(
        &emu,
        static_token(&emu),
        Config {
            sensor_id: "fw-01/dmz & co".into(),
            service: Some("Syslog".into()),
            ..config()
        },
    );
    for report in up.upload_all(paths).await {
        assert!(report.is_delivered(), "{:?}", report.result);
    }
    let mut uploads = emu.uploads();
    uploads.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let seen: Vec<(&str, &str, Option<&str>)> = uploads
        .iter()
        .map(|u| {
            (
                u.file_name.as_str(),
                u.sensor_id.as_str(),
                u.service.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (names[0], "fw-01/dmz & co", Some("Syslog")),
            (names[1], "fw-01/dmz & co", Some("Syslog"))
        ]
    );
}

#[tokio::test]
async fn service_can_be_renamed_or_left_out() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("a.log", b"x\n"), ("b.log", b"y\n")]);
    for (path, service) in paths.iter().zip([Some("Windows"), None]) {
        let config = Config {
            service: service.map(str::to_owned),
            ..config()
        };
        let report = uploader(&emu, static_token(&emu), config)
            .upload(path)
            .await;
        assert!(report.is_delivered(), "{:?}", report.result);
    }
    let mut uploads = emu.uploads();
    uploads.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let seen: Vec<Option<&str>> = uploads.iter().map(|u| u.service.as_deref()).collect();
    assert_eq!(seen, [Some("Windows"), None]);
}

/// Gzip and other binary files are refused before presigning (the contract takes "properly
/// formatted log files"), unless `allow_binary`.
#[tokio::test]
async fn binary_files_are_refused_unless_allowed() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut big_then_bad = vec![b'a'; 300_000];
    big_then_bad[299_000] = b'\n';
    big_then_bad.extend_from_slice(b"\xc3(\n");
    let paths = write_files(
        dir.path(),
        &[
            ("logs.gz", &[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]),
            ("latin1.log", b"ok\ncaf\xe9\n"),
            ("late.log", &big_then_bad),
        ],
    );
    let up = uploader(&emu, static_token(&emu), config());
    let messages: Vec<String> = up
        .upload_all(paths.clone())
        .await
        .iter()
        .map(|r| r.result.as_ref().unwrap_err().to_string())
        .collect();
    let shown: Vec<String> = messages
        .iter()
        .map(|m| m.rsplit_once('/').map_or(m.clone(), |(_, n)| n.to_owned()))
        .collect();
    assert_eq!(
        shown,
        [
            "logs.gz: gzip-compressed, not a text log file (decompress it first, or pass --allow-binary to upload it as it is)",
            "latin1.log: line 2, byte 6: invalid UTF-8, not a text log file (pass --allow-binary to upload it as it is)",
            "late.log: line 2, byte 300000: invalid UTF-8, not a text log file (pass --allow-binary to upload it as it is)",
        ]
    );
    assert_eq!(up.stats().presign_requests, 0, "refused before presigning");
    assert!(emu.uploads().is_empty());

    let config = Config {
        allow_binary: true,
        ..config()
    };
    let up = uploader(&emu, static_token(&emu), config);
    for report in up.upload_all(paths).await {
        assert!(report.is_delivered(), "{:?}", report.result);
    }
    let mut uploads: Vec<(String, u64)> = emu
        .uploads()
        .into_iter()
        .map(|u| (u.file_name, u.bytes))
        .collect();
    uploads.sort();
    let expected = [("late.log", 300_003), ("latin1.log", 8), ("logs.gz", 13)];
    assert_eq!(uploads, expected.map(|(n, b)| (n.to_owned(), b)));
}

#[tokio::test]
async fn concurrency_is_bounded_and_reports_keep_input_order() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_logs(dir.path(), 8, |i| format!("f{i}.log"), |i| 2_000 + i * 500);
    let up = uploader(
        &emu,
        static_token(&emu),
        Config {
            concurrency: 2,
            ..config()
        },
    );
    let reports = up.upload_all(paths.clone()).await;
    let order: Vec<_> = reports.iter().map(|r| r.path.clone()).collect();
    assert_eq!(order, paths);
    assert!(reports.iter().all(|r| r.is_delivered()));
    // Presign and PUT of one file never overlap, so two uploads make two requests at most.
    let max = emu.stats().max_concurrent_requests;
    assert!((1..=2).contains(&max), "{max} requests at once");
}

/// Over HTTP/1.1 the emulator answers 501 to `Transfer-Encoding: chunked`, 411 without a
/// `Content-Length`, 403 to one other than the signed length, and 400 to an
/// `Authorization` header beside the URL's signature: success proves the PUT sent exactly
/// the signed length, unchunked, without `Authorization`.
#[tokio::test]
async fn http1_only_clients_upload_too() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let content = log_lines("h1", 5_000);
    let paths = write_files(dir.path(), &[("h1.log", &content)]);
    let client = support::client_with(
        &emu,
        ClientConfig {
            http2: false,
            ..ClientConfig::default()
        },
    );
    let up = Uploader::new(client, &support::region(&emu), static_token(&emu), config()).unwrap();
    let report = up.upload(&paths[0]).await;
    assert!(report.is_delivered(), "{:?}", report.result);
    assert_eq!(stored(&emu, "h1.log"), content);
}

#[tokio::test]
async fn shutdown_reports_what_was_not_sent() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(
        dir.path(),
        &[
            ("1.log", b"one\n"),
            ("2.log", b"two\n"),
            ("3.log", b"three\n"),
        ],
    );
    let up = uploader(
        &emu,
        static_token(&emu),
        Config {
            concurrency: 1,
            ..config()
        },
    );
    let mut stream = Box::pin(up.upload_many(paths.clone()));
    let first = stream.next().await.expect("a first report");
    assert!(first.is_delivered(), "{:?}", first.result);
    up.shutdown();
    let rest: Vec<_> = stream.collect().await;
    assert_eq!(rest.len(), 2);
    for report in &rest {
        let err = report.result.as_ref().unwrap_err();
        assert!(err.is_shutdown());
        assert_eq!(
            err.to_string(),
            format!(
                "{} was not uploaded: the uploader is shutting down",
                report.path.display()
            )
        );
        assert_eq!((report.attempts, report.presigns), (0, 0));
    }
    let stats = up.stats();
    assert_eq!(
        (
            stats.files_delivered,
            stats.files_not_sent,
            stats.files_failed
        ),
        (1, 2, 0)
    );
    assert_eq!(emu.uploads().len(), 1);
    // Later uploads are refused at once, without a request.
    let before = emu.stats().requests;
    assert!(up.upload(&paths[0]).await.result.unwrap_err().is_shutdown());
    assert_eq!(emu.stats().requests, before);
}
