//! The bytes on the wire: request bodies (insta, session ids and times redacted), headers,
//! gzip.

use crate::support::{T0, capture};
use logferry_compress::{Encoding, decode};
use logferry_http::{Client, ClientConfig, Secret};
use logferry_sdl::{SdlConfig, SdlSender, Sessions};
use logferry_sdl_model::{Attrs, Event, Severity, Thread, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// Snapshots a body with session ids and times redacted.
fn check(name: &str, body: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[session]",
    );
    settings.add_filter(r#""ts":"\d+""#, r#""ts":"[ts]""#);
    settings.bind(|| insta::assert_snapshot!(name, body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies() {
    let server = capture(Vec::new()).await;
    let mut config = SdlConfig::new(
        server.url.parse().expect("loopback URL"),
        Secret::new("k-123"),
    );
    config.server_host = Some("web-7".to_owned());
    config.session_info = Attrs::new().with("region", "eu-west-1");
    config.threads = vec![Thread::new("1", "request handler thread")];
    config.sessions = Sessions::Fixed(1);
    config.linger = Duration::from_secs(60);
    let sender = SdlSender::start(
        Client::new(ClientConfig::default()).expect("client"),
        config,
    )
    .expect("starts");
    let pod: Arc<str> = Arc::from("payments/api-7f9c");
    for i in 0..3u64 {
        let attrs = Attrs::new()
            .with("message", format!("GET /pay {i}"))
            .with("status", 200)
            .with("pod", "api-7f9c")
            .with("namespace", "payments");
        // Out of order on purpose: the body is sorted by time.
        let ts = Timestamp::from_nanos(T0 + (2 - i) * 1_000);
        let event = Event::new(ts, attrs)
            .with_sev(Severity::ALL[i as usize])
            .with_thread("1");
        sender.send_from(pod.clone(), event).await.expect("queued");
    }
    sender
        .send(Event::message(Timestamp::from_nanos(T0), "no source").with_sev(Severity::Finest))
        .await
        .expect("queued");
    sender.flush().await.expect("flushed");
    let report = sender.shutdown(Duration::from_secs(5)).await;
    assert!(report.unsent.is_empty());

    let requests = server.taken();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/api/addEvents");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("authorization"), Some("Bearer k-123"));
    let body = decode(Encoding::Gzip, &r.body, 1 << 20).expect("a gzip body");
    let body = String::from_utf8(body).expect("UTF-8");
    let parsed = logferry_sdl_model::parse_request(&mut body.clone().into_bytes()).expect("valid");
    // Strictly increasing times, the sev 0 kept, the pod's constant attributes in `logs`.
    let ts: Vec<u64> = parsed.events.iter().map(|e| e.ts.as_nanos()).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    assert_eq!(parsed.logs.len(), 1);
    check("gzip_body_with_threads_logs_and_severities", &body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_bodies_when_asked() {
    let server = capture(Vec::new()).await;
    let mut config = SdlConfig::new(server.url.parse().expect("loopback URL"), Secret::new("k"));
    config.server_host = Some("h".to_owned());
    config.compression = None;
    config.sessions = Sessions::Fixed(1);
    let sender = SdlSender::start(
        Client::new(ClientConfig::default()).expect("client"),
        config,
    )
    .expect("starts");
    sender
        .send(Event::message(Timestamp::from_nanos(T0), "plain"))
        .await
        .expect("queued");
    sender.flush().await.expect("flushed");
    let requests = server.taken();
    assert_eq!(requests[0].header("content-encoding"), None);
    check(
        "plain_body",
        std::str::from_utf8(&requests[0].body).expect("UTF-8"),
    );
}
