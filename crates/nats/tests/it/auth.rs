//! The other ways in: a client certificate (a server with `verify: true`), a user and
//! password, a token, an NKey seed. Each against a nats-server that wants exactly that:
//! the right one publishes and consumes, a wrong one is refused with an error that says
//! so and never shows the secret.

use logferry_nats::secured::{mutual_tls, nkey_user};
use logferry_nats::server::Server;
use logferry_nats::{Auth, ConnectConfig, ConsumerSpec, Headers, Secret, StreamSpec, connect};
use std::time::Duration;

/// Connects with `config`, then publishes one message and consumes it back.
pub(crate) async fn round_trip(config: &ConnectConfig) {
    let bus = connect(config).await.expect("connects");
    bus.ensure_stream(&StreamSpec::new("LOGS", vec!["logs.x".into()]))
        .await
        .unwrap();
    bus.publish("logs.x", "id-1", Headers::new(), "hello".into())
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
    assert_eq!(&got[0].payload[..], b"hello");
    got[0].settle.ack().await.unwrap();
}

/// Connecting with `config` fails, saying the server refused the authorization, and
/// neither the error (its chain included) nor the config's `Debug` shows `secret`.
async fn refused(config: &ConnectConfig, secret: &str) {
    let e = connect(config)
        .await
        .expect_err("a wrong secret is refused");
    let text = format!("{e} / {e:?}");
    assert!(
        text.to_ascii_lowercase().contains("authorization"),
        "{text}"
    );
    assert!(
        text.contains("logferry-test"),
        "names the connection: {text}"
    );
    assert!(!text.contains(secret), "{text}");
    assert!(!format!("{config:?}").contains(secret), "{config:?}");
}

fn config(server: &Server, auth: Auth) -> ConnectConfig {
    let mut c = ConnectConfig::new(vec![server.url()]);
    c.auth = auth;
    c.name = "logferry-test".into();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_signed_by_the_servers_ca_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let m = mutual_tls(dir.path());
    let mut with = ConnectConfig::new(vec![m.server.url()]);
    with.ca_file = Some(m.ca.clone());
    with.client_cert = Some(m.client.clone());
    round_trip(&with).await;

    // Without a certificate, and with one of another CA: refused during the handshake.
    let mut without = with.clone();
    without.client_cert = None;
    let mut stranger = with.clone();
    stranger.client_cert = Some(m.stranger.clone());
    for (what, config) in [("no certificate", without), ("another CA", stranger)] {
        let e = connect(&config).await.expect_err(what);
        let text = format!("{e} / {e:?}").to_ascii_lowercase();
        // The server's TLS alert, and a hint at the keys.
        assert!(
            text.contains("fatal alert: badcertificate") && text.contains("client_cert"),
            "{what}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let conf = r#"authorization { user: "shipper", password: "s3cret-pass" }"#;
    let server = Server::start_configured(dir.path(), conf).unwrap();
    let user = |password: &str| Auth::UserPassword {
        user: "shipper".into(),
        password: Secret::new(password),
    };
    round_trip(&config(&server, user("s3cret-pass"))).await;
    refused(&config(&server, user("wrong-pass")), "wrong-pass").await;
    // Debug of the right one never shows it either.
    assert!(!format!("{:?}", config(&server, user("s3cret-pass"))).contains("s3cret-pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token() {
    let dir = tempfile::tempdir().unwrap();
    let conf = r#"authorization { token: "t0ken-right" }"#;
    let server = Server::start_configured(dir.path(), conf).unwrap();
    let token = |t: &str| Auth::Token(Secret::new(t));
    round_trip(&config(&server, token("t0ken-right"))).await;
    refused(&config(&server, token("t0ken-wrong")), "t0ken-wrong").await;
    assert!(!format!("{:?}", config(&server, token("t0ken-right"))).contains("t0ken-right"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let (public, seed_file) = nkey_user(dir.path(), "shipper");
    let (_, other_file) = nkey_user(dir.path(), "stranger");
    let conf = format!("authorization {{ users = [ {{ nkey: {public} }} ] }}");
    let server = Server::start_configured(&dir.path().join("store"), &conf).unwrap();
    round_trip(&config(&server, Auth::NkeySeedFile(seed_file))).await;
    let other_seed = std::fs::read_to_string(&other_file).unwrap();
    refused(
        &config(&server, Auth::NkeySeedFile(other_file)),
        other_seed.trim(),
    )
    .await;
    // A file that holds no seed is named, its content is not shown.
    let bogus = dir.path().join("bogus.nk");
    std::fs::write(&bogus, "SUnot-a-seed-at-all\n").unwrap();
    let e = connect(&config(&server, Auth::NkeySeedFile(bogus)))
        .await
        .expect_err("not a seed");
    let text = e.to_string();
    assert!(
        text.contains("bogus.nk") && text.contains("not a user NKey seed"),
        "{text}"
    );
    assert!(!text.contains("SUnot-a-seed"), "{text}");
}
