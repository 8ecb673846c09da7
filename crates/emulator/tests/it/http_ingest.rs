//! HTTP Ingest: every status path, over HTTPS with the emulator's CA.

use crate::support::{Client, bearer, gzip, raw, raw_body};
use http::Method;
use logferry_emulator::{Emulator, Endpoint, ViolationKind};

const TEXT: (&str, &str) = ("content-type", "text/plain");
const JSON: (&str, &str) = ("content-type", "application/json");

async fn start() -> (Emulator, Client) {
    let emu = Emulator::builder().start().await.expect("emulator starts");
    let client = Client::new(&emu);
    (emu, client)
}

#[tokio::test]
async fn text_records_are_stored_one_per_line_with_the_last_flagged() {
    let (emu, client) = start().await;
    let key = bearer(emu.http_ingest_key());
    let r = client
        .post(
            &emu.http_ingest_url(),
            &[("authorization", &key), TEXT],
            "first\nsecond\nthird",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-emulator-records"), Some("3"));
    let records = emu.records();
    let texts: Vec<(&str, bool)> = records
        .iter()
        .map(|r| (r.text.as_str(), r.unterminated))
        .collect();
    assert_eq!(
        texts,
        vec![("first", false), ("second", false), ("third", true)]
    );
    assert!(
        records
            .iter()
            .all(|r| r.endpoint == Endpoint::HttpIngest && r.source == "emulator-default")
    );
    let id: u64 = r.header("x-emulator-request-id").unwrap().parse().unwrap();
    assert!(records.iter().all(|r| r.request_id == id));
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    emu.shutdown().await;
}

#[tokio::test]
async fn splunk_scheme_and_the_ingest_alias_are_accepted() {
    let (emu, client) = start().await;
    let splunk = format!("Splunk {}", emu.http_ingest_key());
    let r = client
        .post(
            &emu.http_ingest_url(),
            &[("authorization", &splunk), TEXT],
            "a\n",
        )
        .await;
    assert_eq!(r.status, 200);
    let alias = format!("{}/ingest/v1/emulator-default", emu.base_url());
    let lower = format!("bearer {}", emu.http_ingest_key());
    let r = client
        .post(&alias, &[("authorization", &lower), TEXT], "b\n")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(emu.records().len(), 2);
}

#[tokio::test]
async fn http2_is_offered_by_alpn() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::http2_only(&emu);
    let key = bearer(emu.http_ingest_key());
    let (reply, version) = client
        .try_send(
            Method::POST,
            &emu.http_ingest_url(),
            &[("authorization", &key), TEXT],
            "over h2\n",
        )
        .await
        .expect("h2 request");
    assert_eq!(reply.status, 200);
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(emu.records()[0].text, "over h2");
}

#[tokio::test]
async fn an_unknown_integration_path_is_404_whatever_the_key() {
    let (emu, client) = start().await;
    let typo = emu.http_ingest_url_for("emulator-defualt");
    for auth in [bearer(emu.http_ingest_key()), bearer("not-a-key")] {
        let r = client
            .post(&typo, &[("authorization", &auth), TEXT], "x\n")
            .await;
        assert_eq!(r.status, 404, "{}", r.text());
        assert!(r.text().contains("emulator-defualt"), "{}", r.text());
    }
    // A deleted integration's path still exists: its revoked key gets 403, not 404.
    let key = emu.add_integration("gone");
    assert!(emu.revoke_key(&key));
    let r = client
        .post(
            &emu.http_ingest_url_for("gone"),
            &[("authorization", &bearer(&key)), TEXT],
            "x\n",
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(emu.records().is_empty());
}

#[tokio::test]
async fn credentials_401_and_revoked_403() {
    let (emu, client) = start().await;
    let url = emu.http_ingest_url();
    let other_key = emu.add_integration("other");
    let cases: Vec<(crate::support::OwnedHeaders<'_>, u16, &str)> = vec![
        (vec![], 401, "missing"),
        (
            vec![("authorization", format!("Basic {}", emu.http_ingest_key()))],
            401,
            "basic_scheme",
        ),
        (
            vec![("authorization", "Bearer not-a-key".to_owned())],
            401,
            "unknown_key",
        ),
        (
            vec![("authorization", bearer(&other_key))],
            401,
            "other_integrations_key",
        ),
    ];
    for (headers, status, name) in cases {
        let mut h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.push(TEXT);
        let r = client.post(&url, &h, "x\n").await;
        assert_eq!(r.status, status, "{name}: {}", r.text());
        insta::assert_snapshot!(format!("ingest_{name}"), r.text());
    }
    // The other integration's key works on its own URL.
    let r = client
        .post(
            &emu.http_ingest_url_for("other"),
            &[("authorization", &bearer(&other_key)), TEXT],
            "x\n",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(emu.records()[0].source, "other");
    assert!(emu.revoke_key(&other_key));
    let r = client
        .post(
            &emu.http_ingest_url_for("other"),
            &[("authorization", &bearer(&other_key)), TEXT],
            "y\n",
        )
        .await;
    assert_eq!(r.status, 403);
    insta::assert_snapshot!("ingest_revoked", r.text());
    assert_eq!(emu.records().len(), 1);
}

#[tokio::test]
async fn bad_requests_are_400_and_store_nothing() {
    let (emu, client) = start().await;
    let key = bearer(emu.http_ingest_key());
    let auth = ("authorization", key.as_str());
    let url = emu.http_ingest_url();
    let cases: Vec<(&str, crate::support::Headers<'_>, Vec<u8>)> = vec![
        ("no_content_type", vec![auth], b"x\n".to_vec()),
        (
            "unsupported_content_type",
            vec![auth, ("content-type", "application/x-ndjson")],
            b"x\n".to_vec(),
        ),
        (
            "latin1_charset",
            vec![auth, ("content-type", "text/plain; charset=latin1")],
            b"x\n".to_vec(),
        ),
        (
            "deflate_encoding",
            vec![auth, TEXT, ("content-encoding", "deflate")],
            crate::support::deflate(b"x\n"),
        ),
        (
            "br_encoding",
            vec![auth, TEXT, ("content-encoding", "br")],
            b"x\n".to_vec(),
        ),
        (
            "corrupt_gzip",
            vec![auth, TEXT, ("content-encoding", "gzip")],
            b"\x1f\x8b\x08garbage".to_vec(),
        ),
        ("empty_body", vec![auth, TEXT], Vec::new()),
        (
            "empty_after_gzip",
            vec![auth, TEXT, ("content-encoding", "gzip")],
            gzip(b""),
        ),
        ("non_utf8", vec![auth, TEXT], b"ok\n\xff\xfe\n".to_vec()),
        (
            "json_bad_line",
            vec![auth, JSON],
            b"{\"a\":1}\n{\"b\":\n".to_vec(),
        ),
        (
            "json_array_line",
            vec![auth, JSON],
            b"{\"a\":1}\n[1,2]\n".to_vec(),
        ),
        (
            "json_blank_line",
            vec![auth, JSON],
            b"{\"a\":1}\n\n{\"b\":2}\n".to_vec(),
        ),
        ("json_scalar", vec![auth, JSON], b"42\n".to_vec()),
    ];
    for (name, headers, body) in cases {
        let r = client.post(&url, &headers, body).await;
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        insta::assert_snapshot!(format!("ingest_400_{name}"), r.text());
    }
    assert!(emu.records().is_empty());
    let stats = emu.stats();
    assert_eq!(stats.status_count(Endpoint::HttpIngest, 400), 13);
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let (emu, client) = start().await;
    let key = bearer(emu.http_ingest_key());
    let body = gzip(b"{\"a\":1}\n{\"b\":2}\n");
    let wire = body.len() as u64;
    let r = client
        .post(
            &emu.http_ingest_url(),
            &[("authorization", &key), JSON, ("content-encoding", "gzip")],
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let texts: Vec<String> = emu.records().into_iter().map(|r| r.text).collect();
    assert_eq!(texts, vec!["{\"a\":1}", "{\"b\":2}"]);
    let stats = emu.stats();
    let e = &stats.endpoints[&Endpoint::HttpIngest];
    assert_eq!((e.wire_bytes, e.decoded_bytes), (wire, 16));
}

#[tokio::test]
async fn a_single_json_object_is_one_record_and_pretty_printing_is_counted() {
    let (emu, client) = start().await;
    let key = bearer(emu.http_ingest_key());
    let r = client
        .post(
            &emu.http_ingest_url(),
            &[("authorization", &key), JSON],
            "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(emu.records().len(), 1);
    assert_eq!(emu.records()[0].text, "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}");
    assert_eq!(
        emu.stats()
            .violation_count(ViolationKind::PrettyPrintedJson),
        1
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_on_the_wire_and_decoded() {
    let emu = Emulator::builder()
        .http_ingest_max_body(1000)
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let key = bearer(emu.http_ingest_key());
    let auth = ("authorization", key.as_str());
    let r = client
        .post(&emu.http_ingest_url(), &[auth, TEXT], vec![b'a'; 1001])
        .await;
    assert_eq!(r.status, 413);
    insta::assert_snapshot!("ingest_413_wire", r.text());
    let mut exactly = vec![b'a'; 999];
    exactly.push(b'\n');
    let r = client
        .post(&emu.http_ingest_url(), &[auth, TEXT], exactly)
        .await;
    assert_eq!(r.status, 200, "a body of exactly the limit is accepted");
    // 20 KB of line feeds gzip to a few dozen bytes: the decoded size is what counts.
    let bomb = gzip(&vec![b'\n'; 20_000]);
    assert!(bomb.len() < 1000);
    let r = client
        .post(
            &emu.http_ingest_url(),
            &[auth, TEXT, ("content-encoding", "gzip")],
            bomb,
        )
        .await;
    assert_eq!(r.status, 413);
    insta::assert_snapshot!("ingest_413_decoded", r.text());
    assert_eq!(emu.records().len(), 1);
}

#[tokio::test]
async fn other_methods_and_paths_are_refused() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    let r = client
        .send(Method::GET, &emu.http_ingest_url(), &[], "")
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = client
        .send(
            Method::POST,
            &format!("{}/nothing/here", emu.base_url()),
            &[],
            "",
        )
        .await;
    assert_eq!(r.status, 404);
    let key = bearer(emu.http_ingest_key());
    let r = client
        .post(
            &format!("{}/http-endpoint/v1/", emu.base_url()),
            &[("authorization", &key), TEXT],
            "x\n",
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    // A malformed HTTP request never reaches a handler.
    let reply = raw(
        &emu,
        b"POST /http-endpoint/v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert_eq!(raw_body(&reply), "");
}
