//! Access tokens: client credentials, one request for concurrent uploads, refresh before
//! expiry, refresh once on a 401, and the refusals.

use crate::support::{
    self, client_credentials, config, static_token, uploader, write_files, write_logs,
};
use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults};
use logferry_taegis_upload::{Config, Credentials, Error, TokenConfig, TokenProvider, Uploader};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::test]
async fn client_credentials_one_token_for_concurrent_uploads() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_logs(dir.path(), 6, |i| format!("{i}.log"), |_| 100);
    let up = uploader(
        &emu,
        client_credentials(&emu),
        Config {
            concurrency: 6,
            ..config()
        },
    );
    let reports = up.upload_all(paths).await;
    assert!(reports.iter().all(|r| r.is_delivered()), "{reports:?}");
    // Six uploads found no token at once; one request served them all.
    assert_eq!(emu.stats().status_count(Endpoint::TaegisAuth, 200), 1);
    assert_eq!(up.stats().token_requests, 1);
    assert_eq!(emu.uploads().len(), 6);
}

#[tokio::test]
async fn token_endpoint_faults_are_retried() {
    let emu = support::start(Emulator::builder().faults(Faults::none().with_endpoint(
        Endpoint::TaegisAuth,
        FaultSet {
            reset_first: 1,
            ..FaultSet::fail_first(2, FaultStatus::Code(503))
        },
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("x.log", b"x\n")]);
    let up = uploader(&emu, client_credentials(&emu), config());
    let report = up.upload(&paths[0]).await;
    assert!(report.is_delivered(), "{:?}", report.result);
    let stats = up.stats();
    assert_eq!((stats.token_requests, stats.token_retries), (4, 3));
}

/// A clock the test moves by hand: tokens expire without waiting.
fn manual_clock() -> (Arc<AtomicU64>, impl Fn() -> Instant + Send + Sync + 'static) {
    let base = Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let seen = offset.clone();
    (offset, move || {
        base + Duration::from_secs(seen.load(Ordering::SeqCst))
    })
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // The emulator's tokens live an hour (expires_in = 3600): refreshed a minute early.
    let emu = support::start(Emulator::builder().token_ttl(Duration::from_secs(3600))).await;
    let (offset, now) = manual_clock();
    let tokens = Arc::new(
        TokenProvider::with_clock(
            support::client(&emu),
            support::region(&emu).endpoint(),
            client_credentials(&emu),
            TokenConfig::default(),
            now,
        )
        .unwrap(),
    );
    let first = tokens.token().await.unwrap();
    offset.store(3539, Ordering::SeqCst);
    let again = tokens.token().await.unwrap();
    assert_eq!(again, first, "still fresh at 59 minutes less a second");
    assert_eq!(tokens.requests(), 1);
    offset.store(3540, Ordering::SeqCst);
    let second = tokens.token().await.unwrap();
    assert_eq!((first.generation(), second.generation()), (1, 2));
    assert_ne!(first.secret(), second.secret());
    assert_eq!(tokens.requests(), 2);
    assert_eq!(emu.stats().status_count(Endpoint::TaegisAuth, 200), 2);

    // Uploads share the provider and use the current token.
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("x.log", b"x\n")]);
    let up = Uploader::with_tokens(
        support::client(&emu),
        &support::region(&emu),
        tokens.clone(),
        config(),
    )
    .unwrap();
    assert!(up.upload(&paths[0]).await.is_delivered());
    assert_eq!(tokens.requests(), 2);
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("x.log", b"x\n"), ("y.log", b"y\n")]);
    let up = uploader(&emu, client_credentials(&emu), config());
    assert!(up.upload(&paths[0]).await.is_delivered());
    let current = up.tokens().token().await.unwrap();
    assert!(emu.revoke_key(current.secret().expose()));

    let report = up.upload(&paths[1]).await;
    assert!(report.is_delivered(), "{:?}", report.result);
    let stats = emu.stats();
    assert_eq!(stats.status_count(Endpoint::UploadPresign, 401), 1);
    assert_eq!(stats.status_count(Endpoint::TaegisAuth, 200), 2);
    assert_eq!(up.tokens().token().await.unwrap().generation(), 2);
}

#[tokio::test]
async fn tokens_refused_even_when_fresh_stop_the_file() {
    // Every token expires at once: the refreshed one is refused too.
    let emu = support::start(Emulator::builder().token_ttl(Duration::ZERO)).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("x.log", b"x\n")]);
    let up = uploader(&emu, client_credentials(&emu), config());
    let report = up.upload(&paths[0]).await;
    let err = report.result.unwrap_err();
    assert!(
        matches!(
            err,
            Error::AccessTokenRejected {
                refreshed: true,
                ..
            }
        ),
        "{err:?}"
    );
    insta::assert_snapshot!("token_refused_after_refresh", err);
    let stats = emu.stats();
    assert_eq!(stats.status_count(Endpoint::UploadPresign, 401), 2);
    assert_eq!(stats.status_count(Endpoint::TaegisAuth, 200), 2);
    assert_eq!(stats.status_count(Endpoint::UploadPut, 200), 0);
}

#[tokio::test]
async fn a_refused_static_token_is_fatal_at_once() {
    let emu = support::start(Emulator::builder()).await;
    assert!(emu.revoke_key(emu.taegis_access_token()));
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[("x.log", b"x\n")]);
    let up = uploader(&emu, static_token(&emu), config());
    let err = up.upload(&paths[0]).await.result.unwrap_err();
    assert!(
        matches!(
            err,
            Error::AccessTokenRejected {
                refreshed: false,
                ..
            }
        ),
        "{err:?}"
    );
    insta::assert_snapshot!("static_token_refused", err);
    let stats = emu.stats();
    assert_eq!(stats.status_count(Endpoint::UploadPresign, 401), 1);
    assert_eq!(
        stats
            .endpoints
            .get(&Endpoint::TaegisAuth)
            .map_or(0, |e| e.requests),
        0
    );
}

#[tokio::test]
async fn a_bad_client_secret_is_a_clear_fatal_error_asked_once() {
    let emu = support::start(Emulator::builder()).await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(
        dir.path(),
        &[("x.log", b"x\n"), ("y.log", b"y\n"), ("z.log", b"z\n")],
    );
    let up = uploader(
        &emu,
        Credentials::client(emu.taegis_client_id(), "not-the-secret"),
        config(),
    );
    let reports = up.upload_all(paths).await;
    for report in &reports {
        let err = report.result.as_ref().unwrap_err();
        assert!(matches!(err, Error::TokenRefused { .. }), "{err:?}");
        assert!(!err.is_file_problem());
    }
    insta::assert_snapshot!("bad_client_secret", reports[0].result.as_ref().unwrap_err());
    // The refusal is remembered: the wrong secret was sent once, not once per file.
    assert_eq!(emu.stats().status_count(Endpoint::TaegisAuth, 401), 1);
    assert_eq!(
        emu.stats()
            .endpoints
            .get(&Endpoint::UploadPresign)
            .map_or(0, |e| e.requests),
        0
    );
    assert_eq!(up.stats().files_failed, 3);
}
