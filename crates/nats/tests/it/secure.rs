//! TLS and a credentials file: a nats-server in operator mode (its operator, account and
//! user JWTs signed here with NKeys, the account's JWT preloaded in a memory resolver)
//! behind TLS (a CA and a server certificate for 127.0.0.1 made here). A client with the
//! CA and the user's `.creds` file publishes and consumes; one without the credentials,
//! or without the CA, is refused.

use logferry_nats::secured::secured;
use logferry_nats::{Auth, ConnectConfig, connect};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_a_credentials_file_reach_jetstream_and_neither_can_be_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = secured(dir.path());
    let mut config = ConnectConfig::new(vec![s.server.url()]);
    config.ca_file = Some(s.ca.clone());
    config.auth = Auth::CredentialsFile(s.creds.clone());
    config.request_timeout = Duration::from_secs(5);
    // TLS and the .creds file.
    crate::auth::round_trip(&config).await;

    // No credentials: refused by the server.
    let mut anonymous = config.clone();
    anonymous.auth = Auth::None;
    let refused = connect(&anonymous).await.expect_err("no credentials");
    assert!(
        refused.to_string().to_ascii_lowercase().contains("auth"),
        "{refused}"
    );
    // No CA: the server's certificate is not trusted (the system roots do not know it).
    let mut untrusted = config.clone();
    untrusted.ca_file = None;
    untrusted.require_tls = true;
    let refused = connect(&untrusted).await.expect_err("unknown CA");
    let text = format!("{refused:?}").to_ascii_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls"),
        "{text}"
    );
    // A credentials file that is not one names the file.
    let bogus = dir.path().join("bogus.creds");
    std::fs::write(&bogus, "not a creds file").unwrap();
    let mut wrong = config.clone();
    wrong.auth = Auth::CredentialsFile(bogus);
    let refused = connect(&wrong).await.expect_err("not a creds file");
    assert!(refused.to_string().contains("bogus.creds"), "{refused}");
}
