//! TLS and a credentials file: a nats-server in operator mode (its operator, account and
//! user JWTs signed here with NKeys, the account's JWT preloaded in a memory resolver)
//! behind TLS (a CA and a server certificate for 127.0.0.1 made here). A client with the
//! CA and the user's `.creds` file publishes and consumes; one without the credentials,
//! or without the CA, is refused.

use logferry_nats::secured::secured;
use logferry_nats::{Auth, ConnectConfig, ConsumerSpec, Headers, StreamSpec, connect};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_a_credentials_file_reach_jetstream_and_neither_can_be_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = secured(dir.path());
    let mut config = ConnectConfig::new(vec![s.server.url()]);
    config.ca_file = Some(s.ca.clone());
    config.auth = Auth::CredentialsFile(s.creds.clone());
    config.request_timeout = Duration::from_secs(5);
    let bus = connect(&config).await.expect("TLS and the .creds file");
    bus.ensure_stream(&StreamSpec::new("LOGS", vec!["logs.x".into()]))
        .await
        .unwrap();
    bus.publish("logs.x", "id-1", Headers::new(), "secret".into())
        .await
        .unwrap()
        .acknowledged()
        .await
        .unwrap();
    let consumer = bus
        .consumer("LOGS", &ConsumerSpec::new("shippers"))
        .await
        .unwrap();
    let got = consumer.fetch(4, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"secret");
    got[0].settle.ack().await.unwrap();

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
