//! Taegis token endpoint and File Upload (presign + S3-style PUT).

use crate::support::{Client, bearer, raw, raw_body};
use base64::Engine;
use http::Method;
use logferry_emulator::{Emulator, Endpoint};
use std::time::Duration;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn token_url(emu: &Emulator) -> String {
    format!("{}/auth/api/v2/auth/token", emu.taegis_api_endpoint())
}

fn basic(emu: &Emulator) -> String {
    let pair = format!("{}:{}", emu.taegis_client_id(), emu.taegis_client_secret());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

async fn token(emu: &Emulator, client: &Client) -> String {
    let r = client
        .post(
            &token_url(emu),
            &[("authorization", &basic(emu)), FORM],
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn presign(
    emu: &Emulator,
    client: &Client,
    token: &str,
    query: &str,
) -> crate::support::Reply {
    let url = format!(
        "{}/s3-signer/v2/signed-s3url?{query}",
        emu.taegis_api_endpoint()
    );
    client
        .post(&url, &[("authorization", &bearer(token))], "")
        .await
}

async fn location(emu: &Emulator, client: &Client, len: usize) -> String {
    let r = presign(
        emu,
        client,
        emu.taegis_access_token(),
        &format!("file_name=app.log&content_length={len}&service=Syslog"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["location"]
        .as_str()
        .expect("a location")
        .to_owned()
}

#[tokio::test]
async fn client_credentials_in_basic_form_or_json() {
    let emu = Emulator::builder()
        .token_ttl(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let r = client
        .post(
            &token_url(&emu),
            &[("authorization", &basic(&emu)), FORM],
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 120);
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        emu.taegis_client_id(),
        emu.taegis_client_secret()
    );
    assert_eq!(
        client
            .post(&token_url(&emu), &[FORM], form.clone())
            .await
            .status,
        200
    );
    let json = serde_json::json!({"grant_type": "client_credentials", "client_id": emu.taegis_client_id(), "client_secret": emu.taegis_client_secret()});
    let r = client
        .post(
            &token_url(&emu),
            &[("content-type", "application/json")],
            json.to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    // A token from the endpoint presigns.
    let t = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        presign(&emu, &client, &t, "file_name=a&content_length=1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn token_errors_follow_oauth2() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::new(&emu);
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:wrong", emu.taegis_client_id()))
    );
    let both = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        emu.taegis_client_id(),
        emu.taegis_client_secret()
    );
    let good = basic(&emu);
    let cases: Vec<(&str, crate::support::Headers<'_>, String, u16)> = vec![
        (
            "wrong_secret",
            vec![("authorization", &wrong), FORM],
            "grant_type=client_credentials".into(),
            401,
        ),
        (
            "no_credentials",
            vec![FORM],
            "grant_type=client_credentials".into(),
            401,
        ),
        (
            "no_grant_type",
            vec![("authorization", &good), FORM],
            String::new(),
            400,
        ),
        (
            "password_grant",
            vec![("authorization", &good), FORM],
            "grant_type=password".into(),
            400,
        ),
        (
            "credentials_twice",
            vec![("authorization", &good), FORM],
            both,
            400,
        ),
    ];
    for (name, headers, body, status) in cases {
        let r = client.post(&token_url(&emu), &headers, body).await;
        assert_eq!(r.status, status, "{name}: {}", r.text());
        insta::assert_snapshot!(format!("token_{name}"), r.text());
        if name == "wrong_secret" {
            assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"taegis\""));
        }
    }
    let r = client.send(Method::GET, &token_url(&emu), &[], "").await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn expired_and_revoked_tokens_cannot_presign() {
    let emu = Emulator::builder()
        .token_ttl(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let t = token(&emu, &client).await;
    let r = presign(&emu, &client, &t, "file_name=a&content_length=1").await;
    assert_eq!(r.status, 401);
    insta::assert_snapshot!("presign_expired_token", r.text());
    assert_eq!(
        presign(
            &emu,
            &client,
            emu.taegis_access_token(),
            "file_name=a&content_length=1"
        )
        .await
        .status,
        200
    );
    assert!(emu.revoke_key(emu.taegis_access_token()));
    assert_eq!(
        presign(
            &emu,
            &client,
            emu.taegis_access_token(),
            "file_name=a&content_length=1"
        )
        .await
        .status,
        401
    );
}

#[tokio::test]
async fn presign_checks_token_and_parameters() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::new(&emu);
    let url = format!(
        "{}/s3-signer/v2/signed-s3url?file_name=a&content_length=1",
        emu.base_url()
    );
    let r = client.post(&url, &[], "").await;
    assert_eq!(r.status, 401);
    insta::assert_snapshot!("presign_no_token", r.text());
    assert_eq!(
        presign(&emu, &client, "nope", "file_name=a&content_length=1")
            .await
            .status,
        401
    );
    let token = emu.taegis_access_token().to_owned();
    for (name, query) in [
        ("missing_file_name", "content_length=1"),
        ("empty_file_name", "file_name=&content_length=1"),
        ("missing_length", "file_name=a"),
        ("negative_length", "file_name=a&content_length=-1"),
        ("text_length", "file_name=a&content_length=ten"),
        ("huge_length", "file_name=a&content_length=6000000000"),
        ("empty_sensor", "file_name=a&content_length=1&sensor_id="),
    ] {
        let r = presign(&emu, &client, &token, query).await;
        assert_eq!(r.status, 400, "{name}");
        insta::assert_snapshot!(format!("presign_400_{name}"), r.text());
    }
    let r = client
        .send(Method::GET, &url, &[("authorization", &bearer(&token))], "")
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn a_good_put_stores_the_files_lines() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::new(&emu);
    let file = "one\ntwo\nthree\n";
    let url = presign(
        &emu,
        &client,
        emu.taegis_access_token(),
        "file_name=/var/log/app.log&content_length=14&sensor_id=host-1&service=Syslog",
    )
    .await;
    assert_eq!(url.status, 200, "{}", url.text());
    let url = url.json()["location"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/s3/", emu.base_url())));
    let r = client.send(Method::PUT, &url, &[], file).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("etag").is_some());
    let uploads = emu.uploads();
    assert_eq!(uploads.len(), 1);
    let u = &uploads[0];
    assert_eq!(
        (
            u.file_name.as_str(),
            u.sensor_id.as_str(),
            u.service.as_deref()
        ),
        ("/var/log/app.log", "host-1", Some("Syslog"))
    );
    assert_eq!((u.bytes, u.lines), (14, 3));
    let texts: Vec<String> = emu.records().into_iter().map(|r| r.text).collect();
    assert_eq!(texts, vec!["one", "two", "three"]);
    assert!(
        emu.records()
            .iter()
            .all(|r| r.endpoint == Endpoint::UploadPut && r.source == "/var/log/app.log")
    );
    // Without sensor_id the seed's default applies.
    let url = location(&emu, &client, 2).await;
    assert_eq!(client.send(Method::PUT, &url, &[], "x\n").await.status, 200);
    assert_eq!(emu.uploads()[1].sensor_id, "toaster.localhost");
}

#[tokio::test]
async fn put_refusals_are_s3_errors() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    let url = location(&emu, &client, 5).await;

    let r = client.send(Method::PUT, &url, &[], "1234").await;
    assert_eq!(r.status, 403, "a different length");
    insta::assert_snapshot!("put_wrong_length", r.text());

    let tampered = url.replace("X-Amz-Expires=900", "X-Amz-Expires=99999");
    assert_ne!(tampered, url);
    let r = client.send(Method::PUT, &tampered, &[], "12345").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<Code>SignatureDoesNotMatch</Code>"));

    let (head, sig) = url.rsplit_once("X-Amz-Signature=").unwrap();
    let flipped = format!(
        "{head}X-Amz-Signature={}",
        sig.replace(&sig[..1], if &sig[..1] == "0" { "1" } else { "0" })
    );
    let r = client.send(Method::PUT, &flipped, &[], "12345").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<Code>SignatureDoesNotMatch</Code>"));

    let r = client
        .send(
            Method::PUT,
            &url,
            &[("authorization", "AWS4-HMAC-SHA256 Credential=x")],
            "12345",
        )
        .await;
    assert_eq!(r.status, 400);
    insta::assert_snapshot!("put_two_auth_mechanisms", r.text());

    let unsigned = url.split_once('?').unwrap().0;
    let r = client.send(Method::PUT, unsigned, &[], "12345").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<Code>AccessDenied</Code>"));

    // Raw requests: no Content-Length, and chunked.
    let target = url.strip_prefix(emu.base_url()).unwrap();
    let reply = raw(
        &emu,
        format!("PUT {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(reply.starts_with("HTTP/1.1 411"), "{reply}");
    insta::assert_snapshot!("put_no_length", raw_body(&reply));
    let reply = raw(
        &emu,
        format!("PUT {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n0\r\n\r\n").as_bytes(),
    );
    assert!(reply.starts_with("HTTP/1.1 501"), "{reply}");
    insta::assert_snapshot!("put_chunked", raw_body(&reply));

    assert!(emu.uploads().is_empty());
    assert!(emu.records().is_empty());
    // The URL still works after all that.
    assert_eq!(
        client.send(Method::PUT, &url, &[], "12345").await.status,
        200
    );
    let r = client.send(Method::GET, &url, &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("PUT"));
    assert!(
        r.text().contains("<Code>MethodNotAllowed</Code>"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn expired_urls_are_access_denied() {
    let emu = Emulator::builder()
        .presign_ttl(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let url = location(&emu, &client, 3).await;
    let r = client.send(Method::PUT, &url, &[], "abc").await;
    assert_eq!(r.status, 403);
    insta::assert_snapshot!("put_expired", r.text());
    assert!(emu.uploads().is_empty());
}
