//! SDL addEvents and uploadLogs.

use crate::support::{Client, bearer, deflate, gzip};
use http::Method;
use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults, ViolationKind};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const JSON: (&str, &str) = ("content-type", "application/json");

fn add_events(emu: &Emulator) -> String {
    format!("{}/api/addEvents", emu.sdl_url())
}

fn upload_logs(emu: &Emulator) -> String {
    format!("{}/api/uploadLogs", emu.sdl_url())
}

/// The seed's curl example.
fn seed_example() -> Value {
    json!({
        "session": "149d8290-7871-11e1-b0c4-0800200c9a66",
        "sessionInfo": {"serverType": "frontend", "serverId": "prod-front-2"},
        "events": [{"thread": "1", "ts": "1667443947000000000", "sev": 3,
            "attrs": {"message": "record retrieved", "recordId": 39217, "latency": 19.4, "length": 39207}}],
        "threads": [{"id": "1", "name": "request handler thread"}, {"id": "2", "name": "background thread"}]
    })
}

async fn post(emu: &Emulator, client: &Client, body: &Value) -> crate::support::Reply {
    let key = bearer(emu.sdl_api_key());
    client
        .post(
            &add_events(emu),
            &[("authorization", &key), JSON],
            body.to_string(),
        )
        .await
}

#[tokio::test]
async fn the_seeds_example_succeeds_and_is_charged_by_the_seeds_rules() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::new(&emu);
    let r = post(&emu, &client, &seed_example()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // message 16+1, three numbers 8+1 each.
    assert_eq!(r.json(), json!({"status": "success", "bytesCharged": 44}));
    let records = emu.records();
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(
        (rec.endpoint, rec.source.as_str(), rec.text.as_str()),
        (
            Endpoint::SdlAddEvents,
            "149d8290-7871-11e1-b0c4-0800200c9a66",
            "record retrieved"
        )
    );
    let sdl = rec.sdl.as_ref().unwrap();
    assert_eq!(
        (sdl.ts.as_deref(), sdl.sev, sdl.thread.as_deref()),
        (Some("1667443947000000000"), Some(3), Some("1"))
    );
    assert!(
        emu.stats().violations.is_empty(),
        "{:?}",
        emu.stats().violations
    );
}

#[tokio::test]
async fn seed_figures_17_9_4_and_logs_merge() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    for (attrs, charged) in [
        (json!({"message": "record retrieved"}), 17),
        (json!({"recordId": 39217}), 9),
        (json!({"field 1": "x", "field 2": "y"}), 4),
    ] {
        let body =
            json!({"session": "s", "events": [{"ts": "1700000000000000000", "attrs": attrs}]});
        let r = post(&emu, &client, &body).await;
        assert_eq!(r.json()["bytesCharged"], charged);
    }
    let body = json!({"session": "k8s", "events": [
        {"log": "1", "ts": "1700000000000000001", "attrs": {"message": "Star light, start bright."}},
        {"log": "1", "ts": "1700000000000000002", "attrs": {"message": "hi", "_k8s_cn": "override"}}],
        "logs": [{"id": "1", "attrs": {"_k8s_ck": "Deployment", "_k8s_cn": "test-cluster"}}]});
    let r = post(&emu, &client, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // (25+1 + 10+1 + 12+1) + (2+1 + 10+1 + 8+1): logs attributes are charged per event.
    assert_eq!(r.json()["bytesCharged"], 50 + 23);
    let records = emu.records();
    let merged: Vec<&Value> = records[3..]
        .iter()
        .map(|r| &r.sdl.as_ref().unwrap().attrs)
        .collect();
    assert_eq!(
        merged[0],
        &json!({"message": "Star light, start bright.", "_k8s_ck": "Deployment", "_k8s_cn": "test-cluster"})
    );
    assert_eq!(merged[1]["_k8s_cn"], "override");
}

#[tokio::test]
async fn keys_in_header_or_body_and_401s() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::new(&emu);
    let mut with_token = seed_example();
    with_token["token"] = json!(emu.sdl_api_key());
    let r = client
        .post(&add_events(&emu), &[JSON], with_token.to_string())
        .await;
    assert_eq!(r.status, 200, "a body token authenticates");
    let body = seed_example().to_string();
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no_key", vec![]),
        (
            "wrong_header_key",
            vec![("authorization", "Bearer nope".to_owned())],
        ),
        (
            "basic_scheme",
            vec![("authorization", format!("Basic {}", emu.sdl_api_key()))],
        ),
    ];
    for (name, headers) in cases {
        let mut h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.push(JSON);
        let r = client.post(&add_events(&emu), &h, body.clone()).await;
        assert_eq!(r.status, 401, "{name}");
        insta::assert_snapshot!(format!("sdl_401_{name}"), r.text());
    }
    let mut wrong_token = seed_example();
    wrong_token["token"] = json!("nope");
    assert_eq!(
        client
            .post(&add_events(&emu), &[JSON], wrong_token.to_string())
            .await
            .status,
        401
    );
    assert!(emu.revoke_key(emu.sdl_api_key()));
    assert_eq!(post(&emu, &client, &seed_example()).await.status, 401);
    assert_eq!(emu.records().len(), 1);
    let stats = emu.stats();
    assert_eq!(
        stats.endpoints[&Endpoint::SdlAddEvents].sdl_status["error/client/noPermission"],
        5
    );
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decoded() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::new(&emu);
    let key = bearer(emu.sdl_api_key());
    let body = seed_example().to_string();
    for (encoding, encoded) in [
        ("gzip", gzip(body.as_bytes())),
        ("deflate", deflate(body.as_bytes())),
    ] {
        let r = client
            .post(
                &add_events(&emu),
                &[
                    ("authorization", &key),
                    JSON,
                    ("content-encoding", encoding),
                ],
                encoded,
            )
            .await;
        assert_eq!(r.status, 200, "{encoding}: {}", r.text());
    }
    let r = client
        .post(
            &add_events(&emu),
            &[("authorization", &key), JSON, ("content-encoding", "br")],
            body,
        )
        .await;
    assert_eq!(r.status, 400);
    insta::assert_snapshot!("sdl_400_br", r.text());
    assert_eq!(emu.records().len(), 2);
}

#[tokio::test]
async fn over_six_megabytes_is_400_bad_param_as_the_seed_says() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    let message = "m".repeat(6_000_000);
    let body = json!({"session": "s", "events": [{"ts": "1700000000000000000", "attrs": {"message": message}}]});
    let r = post(&emu, &client, &body).await;
    assert_eq!(r.status, 400);
    insta::assert_snapshot!("sdl_too_large", r.text());
    // Compressed small, decoded large: still refused.
    let key = bearer(emu.sdl_api_key());
    let zipped = gzip(body.to_string().as_bytes());
    assert!(zipped.len() < 100_000);
    let r = client
        .post(
            &add_events(&emu),
            &[("authorization", &key), JSON, ("content-encoding", "gzip")],
            zipped,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["status"], "error/client/badParam");
    // Just under the limit is fine.
    let small = json!({"session": "s", "events": [{"ts": "1700000000000000000", "attrs": {"message": "m".repeat(5_999_000)}}]});
    assert_eq!(post(&emu, &client, &small).await.status, 200);
    assert_eq!(emu.records().len(), 1);
}

#[tokio::test]
async fn validation_failures_are_400_bad_param() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    let key = bearer(emu.sdl_api_key());
    let r = client
        .post(
            &add_events(&emu),
            &[("authorization", &key), JSON],
            "{\"session\": ",
        )
        .await;
    assert_eq!(r.status, 400);
    insta::assert_snapshot!("sdl_400_malformed", r.text());
    let ev = |e: Value| json!({"session": "s", "events": [e]});
    let cases = [
        ("no_session", json!({"events": []})),
        ("long_session", json!({"session": "x".repeat(201)})),
        (
            "ts_number",
            ev(json!({"ts": 1700000000000000000_u64, "attrs": {}})),
        ),
        ("ts_letters", ev(json!({"ts": "17e9", "attrs": {}}))),
        ("sev_7", ev(json!({"ts": "1", "sev": 7, "attrs": {}}))),
        (
            "sev_name",
            ev(json!({"ts": "1", "sev": "info", "attrs": {}})),
        ),
        (
            "unknown_log",
            ev(json!({"ts": "1", "log": "9", "attrs": {}})),
        ),
        ("attrs_string", ev(json!({"ts": "1", "attrs": "message"}))),
        (
            "thread_number",
            ev(json!({"ts": "1", "thread": 1, "attrs": {}})),
        ),
        ("events_object", json!({"session": "s", "events": {}})),
    ];
    for (name, body) in cases {
        let r = post(&emu, &client, &body).await;
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        insta::assert_snapshot!(format!("sdl_400_{name}"), r.text());
    }
    assert!(emu.records().is_empty());
    // Boundaries that are valid.
    assert_eq!(
        post(&emu, &client, &json!({"session": "x".repeat(200)}))
            .await
            .status,
        200
    );
    assert_eq!(
        post(
            &emu,
            &client,
            &ev(json!({"ts": "1700000000000000000", "sev": 0, "attrs": {}}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        post(
            &emu,
            &client,
            &ev(json!({"ts": "1700000000000000001", "sev": 6, "attrs": {}}))
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn a_second_request_in_flight_on_a_session_gets_429_backoff() {
    let emu = Emulator::builder()
        .faults(Faults::none().with_endpoint(
            Endpoint::SdlAddEvents,
            FaultSet::latency(Duration::from_millis(1000)),
        ))
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let body = seed_example();
    let (a, b) = tokio::join!(post(&emu, &client, &body), post(&emu, &client, &body));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429], "{} / {}", a.text(), b.text());
    let refused = if a.status == 429 { a } else { b };
    insta::assert_snapshot!("sdl_429_in_flight", refused.text());
    let stats = emu.stats();
    assert_eq!(stats.max_concurrent_per_session(), 2);
    assert_eq!(
        stats.violation_count(ViolationKind::ConcurrentSessionRequest),
        1
    );
    assert_eq!(emu.records().len(), 1);
    // Different sessions may overlap freely.
    let mut other = seed_example();
    other["session"] = json!("another-session");
    let (a, b) = tokio::join!(post(&emu, &client, &body), post(&emu, &client, &other));
    assert_eq!((a.status, b.status), (200, 200));
    // One after the other on one session is fine.
    let mut later = seed_example();
    later["events"][0]["ts"] = json!("1667443947000000005");
    assert_eq!(post(&emu, &client, &later).await.status, 200);
}

#[tokio::test]
async fn a_session_above_its_byte_rate_gets_429() {
    let emu = Emulator::builder()
        .sdl_session_rate(1_000)
        .plain_http()
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let body = |ts: &str| json!({"session": "fast", "events": [{"ts": ts, "attrs": {"message": "x".repeat(500)}}]});
    let first = post(&emu, &client, &body("1700000000000000001")).await;
    assert_eq!(first.status, 200);
    let started = Instant::now();
    let second = post(&emu, &client, &body("1700000000000000002")).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the test relies on both requests within 1 s"
    );
    assert_eq!(second.status, 429);
    insta::assert_snapshot!("sdl_429_rate", second.text());
    // Another session has its own budget.
    let other = json!({"session": "other", "events": [{"ts": "1700000000000000003", "attrs": {"message": "x".repeat(500)}}]});
    assert_eq!(post(&emu, &client, &other).await.status, 200);
    let stats = emu.stats();
    assert_eq!(stats.violation_count(ViolationKind::SessionRateExceeded), 1);
    assert!(stats.peak_session_rate() <= 1_000);
    assert!(stats.sdl_sessions["fast"].peak_rate > 500);
}

#[tokio::test]
async fn too_many_new_sessions_get_429() {
    let emu = Emulator::builder()
        .sdl_sessions_per_5_min(1)
        .plain_http()
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    assert_eq!(
        post(&emu, &client, &json!({"session": "a"})).await.status,
        200
    );
    assert_eq!(
        post(&emu, &client, &json!({"session": "a"})).await.status,
        200
    );
    let r = post(&emu, &client, &json!({"session": "b"})).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["status"], "error/server/backoff");
}

#[tokio::test]
async fn error_status_always200_keeps_the_status_string() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    let r = client
        .post(
            &add_events(&emu),
            &[JSON, ("errorStatus", "always200")],
            seed_example().to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "error/client/noPermission");
    let key = bearer(emu.sdl_api_key());
    let r = client
        .post(
            &add_events(&emu),
            &[("authorization", &key), JSON, ("errorStatus", "always200")],
            "[]",
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("error/client/badParam"))
    );
    assert!(emu.records().is_empty());
}

#[tokio::test]
async fn recommendations_are_counted_not_refused() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    let first = json!({"session": "v", "sessionInfo": {"serverHost": "a"}, "threads": [{"id": "t1", "name": "main"}],
        "events": [{"ts": "1700000000000000010", "thread": "t1", "attrs": {}}]});
    assert_eq!(post(&emu, &client, &first).await.status, 200);
    assert!(emu.stats().violations.is_empty());
    let second = json!({"session": "v", "sessionInfo": {"serverHost": "b"},
    "events": [
        {"ts": "1700000000000000010", "thread": "t1", "attrs": {}},
        {"attrs": {}},
        {"ts": "1700000000", "thread": "t9", "attrs": {}}
    ]});
    let r = post(&emu, &client, &second).await;
    assert_eq!(r.status, 200);
    let stats = emu.stats();
    for kind in [
        ViolationKind::SessionInfoChanged,
        ViolationKind::MissingTs,
        ViolationKind::UndeclaredThread,
        ViolationKind::TsNotNanoseconds,
    ] {
        assert_eq!(stats.violation_count(kind), 1, "{kind}");
    }
    // 10 after 10, then 1700000000 after 10.
    assert_eq!(stats.violation_count(ViolationKind::TsNotIncreasing), 2);
    insta::assert_json_snapshot!("sdl_violations", stats.violations);
    assert_eq!(emu.records().len(), 4);
}

#[tokio::test]
async fn injected_sdl_faults_carry_status_strings_and_store_nothing() {
    let faults = Faults::none().with_endpoint(
        Endpoint::SdlAddEvents,
        FaultSet {
            fail_first: 1,
            fail_first_status: FaultStatus::SdlBackoffIn200,
            ..FaultSet::default()
        },
    );
    let emu = Emulator::builder()
        .faults(faults)
        .plain_http()
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let r = post(&emu, &client, &seed_example()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"status": "error/server/backoff", "message": "injected fault"})
    );
    assert!(emu.records().is_empty());
    emu.set_faults(Faults::none().with_endpoint(
        Endpoint::SdlAddEvents,
        FaultSet::fail_first(2, FaultStatus::Code(429)).with_retry_after(3),
    ))
    .unwrap();
    let r = post(&emu, &client, &seed_example()).await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    assert_eq!(r.json()["status"], "error/server/backoff");
    emu.update_faults(|f| {
        f.endpoints.insert(
            Endpoint::SdlAddEvents,
            FaultSet::fail_first(1, FaultStatus::Code(503)),
        );
    })
    .unwrap();
    let r = post(&emu, &client, &seed_example()).await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (503, Some("error/server"))
    );
    assert_eq!(post(&emu, &client, &seed_example()).await.status, 200);
    assert_eq!(emu.records().len(), 1);
    assert_eq!(
        emu.stats().endpoints[&Endpoint::SdlAddEvents].faults_injected,
        3
    );
}

#[tokio::test]
async fn upload_logs_stores_lines_with_header_fields_and_honours_nonce() {
    let emu = Emulator::builder().start().await.unwrap();
    let client = Client::new(&emu);
    let key = bearer(emu.sdl_api_key());
    let headers = [
        ("authorization", key.as_str()),
        ("content-type", "text/plain"),
        ("server-host", "web-1"),
        ("logfile", "/var/log/app.log"),
        ("parser", "accessLog"),
        ("server-region", "eu"),
        ("nonce", "n-1"),
    ];
    let r = client
        .post(&upload_logs(&emu), &headers, "GET /a 200\nGET /b 404\n")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"status": "success", "bytesCharged": 11 + 11})
    );
    let records = emu.records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[0].endpoint, records[0].source.as_str()),
        (Endpoint::SdlUploadLogs, "/var/log/app.log")
    );
    assert_eq!(
        records[1].sdl.as_ref().unwrap().attrs,
        json!({"message": "GET /b 404", "serverHost": "web-1", "logfile": "/var/log/app.log", "parser": "accessLog", "region": "eu"})
    );
    // The same nonce again: success, nothing stored.
    let r = client
        .post(&upload_logs(&emu), &headers, "GET /a 200\nGET /b 404\n")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["bytesCharged"], 0);
    assert_eq!(emu.records().len(), 2);
    // Key as a query parameter.
    let url = format!("{}?token={}", upload_logs(&emu), emu.sdl_api_key());
    assert_eq!(
        client
            .post(&url, &[("content-type", "text/plain")], "x\n")
            .await
            .status,
        200
    );
    let r = client
        .post(&upload_logs(&emu), &[("content-type", "text/plain")], "x\n")
        .await;
    assert_eq!(r.status, 401);
    let r = client
        .post(
            &upload_logs(&emu),
            &[("authorization", &key), ("content-type", "text/plain")],
            vec![0xff, b'\n'],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = client
        .post(
            &upload_logs(&emu),
            &[
                ("authorization", &key),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(emu.records().len(), 3);
}

#[tokio::test]
async fn other_methods_get_405_in_sdl_form() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    let key = bearer(emu.sdl_api_key());
    for url in [add_events(&emu), upload_logs(&emu)] {
        let r = client
            .send(Method::GET, &url, &[("authorization", &key)], "")
            .await;
        assert_eq!(r.status, 405, "{url}");
        assert_eq!(r.header("allow"), Some("POST"));
        assert_eq!(r.json()["status"], "error/client/badParam");
        assert_eq!(r.json()["message"], "GET is not supported here; use POST");
    }
    assert!(emu.records().is_empty());
}
