//! Fault injection, run-time changes, and count-only mode.

use crate::support::{Client, bearer};
use http::Method;
use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults, LimitOverrides};
use std::time::{Duration, Instant};

const TEXT: (&str, &str) = ("content-type", "text/plain");

async fn ingest(
    emu: &Emulator,
    client: &Client,
    body: &str,
) -> Result<crate::support::Reply, hyper_util::client::legacy::Error> {
    let key = bearer(emu.http_ingest_key());
    client
        .try_send(
            Method::POST,
            &emu.http_ingest_url(),
            &[("authorization", &key), TEXT],
            body.to_owned(),
        )
        .await
        .map(|(r, _)| r)
}

#[tokio::test]
async fn resets_give_no_reply_and_store_nothing() {
    let emu = Emulator::builder()
        .plain_http()
        .faults(Faults::all(FaultSet::reset_first(1)))
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let err = ingest(&emu, &client, "lost\n")
        .await
        .expect_err("the first request is reset");
    assert!(
        err.is_connect() || std::error::Error::source(&err).is_some(),
        "{err:?}"
    );
    let r = ingest(&emu, &client, "kept\n")
        .await
        .expect("the second request is answered");
    assert_eq!(r.status, 200);
    let texts: Vec<String> = emu.records().into_iter().map(|r| r.text).collect();
    assert_eq!(texts, vec!["kept"]);
    let stats = emu.stats();
    let e = &stats.endpoints[&Endpoint::HttpIngest];
    assert_eq!((e.resets, e.faults_injected, e.requests), (1, 1, 2));
}

#[tokio::test]
async fn a_seeded_fraction_fails_with_the_chosen_statuses() {
    let run = |seed| async move {
        let emu = Emulator::builder()
            .plain_http()
            .seed(seed)
            .faults(Faults::all(FaultSet::fail_rate(
                0.5,
                [FaultStatus::Code(500), FaultStatus::Code(429)],
            )))
            .start()
            .await
            .unwrap();
        let client = Client::new(&emu);
        let mut statuses = Vec::new();
        for i in 0..40 {
            statuses.push(
                ingest(&emu, &client, &format!("{i}\n"))
                    .await
                    .unwrap()
                    .status,
            );
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(emu.records().len(), ok, "failed requests store nothing");
        statuses
    };
    let a = run(11).await;
    assert_eq!(a, run(11).await, "the same seed fails the same requests");
    assert!(
        a.contains(&500) && a.contains(&429) && a.contains(&200),
        "{a:?}"
    );
    assert!(a.iter().all(|s| [200, 429, 500].contains(s)));
}

#[tokio::test]
async fn retry_after_is_sent_with_injected_503() {
    let emu = Emulator::builder()
        .plain_http()
        .faults(Faults::all(
            FaultSet::fail_first(1, FaultStatus::Code(503)).with_retry_after(7),
        ))
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let r = ingest(&emu, &client, "x\n").await.unwrap();
    assert_eq!((r.status, r.header("retry-after")), (503, Some("7")));
    insta::assert_snapshot!("ingest_injected_503", r.text());
    assert!(emu.records().is_empty());
    let r = ingest(&emu, &client, "x\n").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("retry-after"), None);
}

#[tokio::test]
async fn latency_and_slow_bodies_slow_the_reply() {
    let emu = Emulator::builder()
        .plain_http()
        .faults(Faults::all(FaultSet {
            latency_ms: 200,
            slow_body_bytes_per_sec: Some(100_000),
            ..FaultSet::default()
        }))
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let body = "y".repeat(49_999) + "\n";
    let started = Instant::now();
    let r = ingest(&emu, &client, &body).await.unwrap();
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    // 50 KB at 100 KB/s is 0.5 s, plus 0.2 s of latency.
    assert!(took >= Duration::from_millis(650), "{took:?}");
    assert_eq!(emu.records().len(), 1);
}

#[tokio::test]
async fn limits_lowered_and_keys_revoked_at_run_time() {
    let emu = Emulator::builder().plain_http().start().await.unwrap();
    let client = Client::new(&emu);
    assert_eq!(
        ingest(&emu, &client, "0123456789\n").await.unwrap().status,
        200
    );
    emu.set_faults(Faults::none().with_limits(LimitOverrides {
        http_ingest_max_body: Some(10),
        ..LimitOverrides::default()
    }))
    .unwrap();
    assert_eq!(
        ingest(&emu, &client, "0123456789\n").await.unwrap().status,
        413
    );
    assert_eq!(
        ingest(&emu, &client, "012345678\n").await.unwrap().status,
        200
    );
    emu.set_faults(Faults::none()).unwrap();
    assert_eq!(
        ingest(&emu, &client, "0123456789\n").await.unwrap().status,
        200
    );
    assert!(emu.revoke_key(emu.http_ingest_key()));
    assert_eq!(ingest(&emu, &client, "x\n").await.unwrap().status, 403);
    assert!(!emu.revoke_key("unknown"));
    assert!(
        emu.set_faults(Faults::all(FaultSet::reset_rate(2.0)))
            .is_err()
    );
}

#[tokio::test]
async fn count_only_reads_and_discards() {
    let emu = Emulator::builder()
        .plain_http()
        .count_only()
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let key = bearer(emu.http_ingest_key());
    let garbage = vec![0xffu8; 300_000];
    let r = client
        .post(&emu.http_ingest_url(), &[("authorization", &key)], garbage)
        .await;
    assert_eq!(r.status, 200);
    let r = client
        .post(
            &emu.http_ingest_url(),
            &[("authorization", "Bearer nope")],
            "x",
        )
        .await;
    assert_eq!(r.status, 401, "count-only still checks header credentials");
    let sdl_key = bearer(emu.sdl_api_key());
    let r = client
        .post(
            &format!("{}/api/addEvents", emu.sdl_url()),
            &[("authorization", &sdl_key)],
            "not json",
        )
        .await;
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "success", "bytesCharged": 0})
    );
    assert!(emu.records().is_empty());
    let stats = emu.stats();
    assert_eq!(stats.endpoints[&Endpoint::HttpIngest].wire_bytes, 300_001);
    assert_eq!(stats.records_received, 0);
}

#[tokio::test]
async fn memory_is_bounded_and_the_records_file_has_everything() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.jsonl");
    let emu = Emulator::builder()
        .plain_http()
        .memory_records(2)
        .records_file(&file)
        .start()
        .await
        .unwrap();
    let client = Client::new(&emu);
    let r = ingest(&emu, &client, "a\nb\nc\nd\n").await.unwrap();
    assert_eq!(r.status, 200);
    // The file is flushed before the reply: read it right away.
    let lines: Vec<logferry_emulator::Record> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        vec!["a", "b", "c", "d"]
    );
    assert_eq!(
        emu.records().iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let stats = emu.stats();
    assert_eq!(
        (stats.records_received, stats.records_dropped_from_memory),
        (4, 2)
    );
}

#[tokio::test]
async fn non_loopback_needs_the_danger_flag_and_plain_http_never() {
    let any = "0.0.0.0:0".parse().unwrap();
    let err = Emulator::builder().listen(any).start().await.unwrap_err();
    assert!(err.to_string().contains("danger"), "{err}");
    let err = Emulator::builder()
        .listen(any)
        .plain_http()
        .danger_allow_non_loopback()
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plain http is served on loopback addresses only, not on 0.0.0.0:0"
    );
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output() {
    let emu = Emulator::builder().start().await.unwrap();
    let info = emu.ready_info();
    let shown = format!("{emu:?} {info:?} {:?}", emu.stats());
    for secret in [
        emu.http_ingest_key(),
        emu.sdl_api_key(),
        emu.taegis_client_secret(),
        emu.taegis_access_token(),
        emu.admin_token(),
    ] {
        assert!(
            !shown.contains(secret),
            "a secret leaked into Debug output: {shown}"
        );
    }
    assert!(shown.contains("<redacted>"));
}
