//! Faults on every endpoint: retried until every file is stored intact; presigned URLs
//! refused or expired lead to presigning again, a bounded number of times.

use crate::support::{
    self, client_credentials, config, log_lines, static_token, stored, stored_copies, uploader,
    write_files, write_logs,
};
use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults};
use logferry_taegis_upload::{Config, Error};
use std::time::Duration;

#[tokio::test]
async fn random_5xx_and_resets_everywhere_still_store_every_file_once_intact() {
    let put_faults = FaultSet {
        reset_rate: 0.2,
        ..FaultSet::fail_rate(
            0.3,
            [
                FaultStatus::Code(500),
                FaultStatus::Code(503),
                FaultStatus::Code(400),
            ],
        )
    };
    let api_faults = FaultSet {
        reset_rate: 0.15,
        ..FaultSet::fail_rate(0.25, [FaultStatus::Code(502), FaultStatus::Code(429)])
    };
    let emu = support::start(
        Emulator::builder().seed(7).faults(
            Faults::none()
                .with_endpoint(Endpoint::UploadPut, put_faults)
                .with_endpoint(Endpoint::UploadPresign, api_faults.clone())
                .with_endpoint(Endpoint::TaegisAuth, api_faults),
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_logs(
        dir.path(),
        12,
        |i| format!("f{i:02}.log"),
        |i| 300 + 700 * i,
    );
    let up = uploader(
        &emu,
        client_credentials(&emu),
        Config {
            concurrency: 3,
            ..config()
        },
    );
    let reports = up.upload_all(paths).await;
    for report in &reports {
        let name = &report.file_name;
        let content = std::fs::read(&report.path).expect("the file is still there");
        assert!(report.is_delivered(), "{name}: {:?}", report.result);
        // At least once: a reset of an HTTP/2 connection can lose the reply of another
        // upload on it, which is then sent again. Every copy is whole.
        let copies = stored_copies(&emu, name);
        assert!(!copies.is_empty(), "{name} stored");
        for copy in copies {
            assert_eq!(copy, content, "{name} intact");
        }
    }
    let stats = emu.stats();
    let put = &stats.endpoints[&Endpoint::UploadPut];
    assert!(put.faults_injected > 0, "{put:?}");
    let ours = up.stats();
    assert!(ours.put_retries > 0, "{ours:?}");
    assert_eq!(ours.put_requests, reports.len() as u64 + ours.put_retries);
    let total: u64 = reports
        .iter()
        .map(|r| {
            std::fs::metadata(&r.path)
                .expect("the file is still there")
                .len()
        })
        .sum();
    assert_eq!(ours.bytes_delivered, total);
    assert!(ours.bytes_sent > total, "retried bodies are counted again");
}

#[tokio::test]
async fn a_reset_and_s3_request_timeout_are_retried_on_the_same_url() {
    let emu = support::start(Emulator::builder().faults(Faults::none().with_endpoint(
        Endpoint::UploadPut,
        FaultSet {
            reset_first: 1,
            ..FaultSet::fail_first(1, FaultStatus::Code(400))
        },
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let content = log_lines("rt", 3_000);
    let paths = write_files(dir.path(), &[("rt.log", &content)]);
    let up = uploader(&emu, static_token(&emu), config());
    let report = up.upload(&paths[0]).await;
    assert!(report.is_delivered(), "{:?}", report.result);
    assert_eq!((report.presigns, report.attempts), (1, 3));
    assert_eq!(stored(&emu, "rt.log"), content);
    let stats = emu.stats();
    assert_eq!(stats.endpoints[&Endpoint::UploadPut].resets, 1);
    assert_eq!(stats.status_count(Endpoint::UploadPut, 400), 1);
    assert_eq!(up.stats().bytes_sent, 3 * content.len() as u64);
}

#[tokio::test]
async fn an_expired_presigned_url_is_presigned_again() {
    // The first PUT is refused as S3 refuses an expired URL (403 AccessDenied).
    let emu = support::start(Emulator::builder().faults(Faults::none().with_endpoint(
        Endpoint::UploadPut,
        FaultSet::fail_first(1, FaultStatus::Code(403)),
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let content = log_lines("again", 500);
    let paths = write_files(dir.path(), &[("again.log", &content)]);
    let up = uploader(&emu, static_token(&emu), config());
    let report = up.upload(&paths[0]).await;
    assert!(report.is_delivered(), "{:?}", report.result);
    assert_eq!((report.presigns, report.attempts), (2, 2));
    assert_eq!(stored(&emu, "again.log"), content);
    assert_eq!(emu.stats().status_count(Endpoint::UploadPresign, 200), 2);
}

#[tokio::test]
async fn urls_that_expire_at_once_exhaust_the_presign_bound() {
    let emu = support::start(Emulator::builder().presign_ttl(Duration::ZERO)).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("late.log", b"late\n")]);
    let up = uploader(
        &emu,
        static_token(&emu),
        Config {
            max_presigns: 3,
            ..config()
        },
    );
    let report = up.upload(&paths[0]).await;
    assert_eq!((report.presigns, report.attempts), (3, 3));
    let err = report.result.unwrap_err();
    assert!(
        matches!(err, Error::PresignsExhausted { presigns: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the upload of {} was refused with 3 presigned URLs in a row (last: http 403 AccessDenied: Request has expired); check the clock of this host and the tenant's File Upload access",
            paths[0].display()
        )
    );
    let stats = emu.stats();
    assert_eq!(stats.status_count(Endpoint::UploadPut, 403), 3);
    assert_eq!(stats.status_count(Endpoint::UploadPresign, 200), 3);
    assert!(emu.uploads().is_empty());
}

#[tokio::test]
async fn a_403_on_every_put_is_fatal_after_the_bound() {
    let emu = support::start(Emulator::builder().faults(Faults::none().with_endpoint(
        Endpoint::UploadPut,
        FaultSet::fail_rate(1.0, [FaultStatus::Code(403)]),
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("denied.log", b"denied\n")]);
    let up = uploader(
        &emu,
        static_token(&emu),
        Config {
            max_presigns: 2,
            ..config()
        },
    );
    let report = up.upload(&paths[0]).await;
    assert!(
        matches!(
            report.result,
            Err(Error::PresignsExhausted { presigns: 2, .. })
        ),
        "{:?}",
        report.result
    );
    assert_eq!(emu.stats().status_count(Endpoint::UploadPut, 403), 2);
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_the_retry_stop() {
    let emu = support::start(Emulator::builder().faults(Faults::none().with_endpoint(
        Endpoint::UploadPut,
        FaultSet::fail_rate(1.0, [FaultStatus::Code(503)]),
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("down.log", b"down\n")]);
    let up = uploader(
        &emu,
        static_token(&emu),
        Config {
            retry: support::fast_retry(4),
            ..config()
        },
    );
    let report = up.upload(&paths[0]).await;
    assert_eq!((report.presigns, report.attempts), (1, 4));
    let err = report.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "gave up on the upload of {} after 4 attempts (last: http 503 SlowDown: Please reduce your request rate.)",
            paths[0].display()
        )
    );
}

#[tokio::test]
async fn presign_refusals_are_fatal_with_the_servers_reason() {
    let emu = support::start(Emulator::builder().faults(Faults::none().with_endpoint(
        Endpoint::UploadPresign,
        FaultSet::fail_first(1, FaultStatus::Code(403)),
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("p.log", b"p\n")]);
    let up = uploader(&emu, static_token(&emu), config());
    let err = up.upload(&paths[0]).await.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the presign request for `p.log` was refused with http 403: injected fault"
    );
    assert_eq!(emu.stats().status_count(Endpoint::UploadPresign, 403), 1);
}

/// Per-status counts (for `/metrics`): presign and `PUT` answers, each counted once
/// under its code, equal what the emulator answered on those endpoints.
#[tokio::test]
async fn requests_by_status_match_what_the_emulator_answered() {
    let emu = support::start(
        Emulator::builder().seed(11).faults(
            Faults::none()
                .with_endpoint(
                    Endpoint::UploadPut,
                    FaultSet::fail_rate(0.3, [FaultStatus::Code(500), FaultStatus::Code(503)]),
                )
                .with_endpoint(
                    Endpoint::UploadPresign,
                    FaultSet::fail_rate(0.25, [FaultStatus::Code(502), FaultStatus::Code(429)]),
                ),
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_logs(dir.path(), 8, |i| format!("s{i}.log"), |i| 200 + 100 * i);
    let up = uploader(&emu, static_token(&emu), config());
    let reports = up.upload_all(paths).await;
    assert!(reports.iter().all(|r| r.is_delivered()));
    let stats = emu.stats();
    let mut seen = stats.endpoints[&Endpoint::UploadPresign].by_status.clone();
    for (code, n) in &stats.endpoints[&Endpoint::UploadPut].by_status {
        *seen.entry(*code).or_default() += n;
    }
    let ours = up.stats();
    assert_eq!(ours.requests_by_status, seen);
    assert!(ours.put_retries + ours.presign_retries > 0, "{ours:?}");
    let answered: u64 = ours.requests_by_status.values().sum();
    assert_eq!(
        answered + ours.request_failures,
        ours.put_requests + ours.presign_requests
    );
    assert_eq!((ours.request_failures, ours.in_flight), (0, 0));
}
