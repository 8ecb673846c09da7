//! No client secret, access token or presigned signature in any log line (at TRACE, HTTP
//! and TLS crates included), error message, or `Debug` output.

use crate::support::{self, client_credentials, config, static_token, uploader, write_files};
use base64::Engine;
use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults};
use logferry_taegis_upload::Credentials;

#[tokio::test]
async fn secrets_never_reach_logs_errors_or_debug_output() {
    // One 403 on the PUT makes a presigned URL (with its signature) fail and be replaced.
    let emu = support::start(Emulator::builder().faults(Faults::none().with_endpoint(
        Endpoint::UploadPut,
        FaultSet::fail_first(1, FaultStatus::Code(403)),
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(
        dir.path(),
        &[("ok.log", b"fine\n"), ("again.log", b"again\n")],
    );
    let mut shown = Vec::new();

    // Succeeding: client credentials, a token issued and used, a presigned URL refused.
    let up = uploader(&emu, client_credentials(&emu), config());
    for report in up.upload_all(paths.clone()).await {
        assert!(report.is_delivered(), "{:?}", report.result);
        shown.push(format!("{report:?}"));
    }
    let issued = up.tokens().token().await.unwrap();
    shown.push(format!("{issued:?} {up:?} {:?}", up.config()));

    // Failing: a wrong client secret, then a revoked static token.
    let wrong_secret = "wrong-secret-0123456789";
    let bad = uploader(
        &emu,
        Credentials::client(emu.taegis_client_id(), wrong_secret),
        config(),
    );
    let report = bad.upload(&paths[0]).await;
    let err = report.result.as_ref().unwrap_err();
    shown.push(format!("{err} {err:?} {}", support::chain(err)));
    shown.push(format!("{bad:?}"));

    assert!(emu.revoke_key(emu.taegis_access_token()));
    let revoked = uploader(&emu, static_token(&emu), config());
    let report = revoked.upload(&paths[0]).await;
    let err = report.result.as_ref().unwrap_err();
    shown.push(format!("{err} {err:?} {}", support::chain(err)));
    shown.push(format!("{revoked:?} {:?}", static_token(&emu)));

    // The whole test binary logs at TRACE into one buffer (see `support::start`), so this
    // holds this test's scenarios and every other test's that has run so far.
    let logs = support::logs();
    assert!(
        logs.contains("access token obtained"),
        "the capture works:\n{logs}"
    );
    assert!(
        logs.contains("presigned URL refused; presigning again"),
        "{logs}"
    );
    assert!(logs.contains("TRACE"), "TRACE level is on");
    let basic = |id: &str, secret: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    };
    let secrets = [
        emu.taegis_client_secret().to_owned(),
        wrong_secret.to_owned(),
        basic(emu.taegis_client_id(), emu.taegis_client_secret()),
        basic(emu.taegis_client_id(), wrong_secret),
        emu.taegis_access_token().to_owned(),
        issued.secret().expose().to_owned(),
        "X-Amz-Signature".to_owned(),
    ];
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs:\n{logs}"
        );
        for text in &shown {
            assert!(!text.contains(secret.as_str()), "a secret is in {text}");
        }
    }
}
