//! `/ready` over HTTP: 503 naming the sink and the reason while a route is stopped, its
//! spool full or stale, 200 again once it delivers.

use crate::support::{eventually, get, server};
use logferry_observe::{Observe, SinkSnapshot, State};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn ready(addr: std::net::SocketAddr) -> (u16, Value) {
    let reply = get(addr, "/ready").await;
    assert_eq!(reply.content_type, "application/json");
    (
        reply.status,
        serde_json::from_str(&reply.body).expect("a JSON body"),
    )
}

#[tokio::test]
async fn ready_flips_to_503_naming_the_stopped_sink_and_back() {
    let observe = Observe::new("0");
    let taegis = observe.route("taegis", "syslog");
    let sdl = observe.route("sdl", "syslog");
    taegis.set_state(State::Delivering);
    let server = server(&observe).await;
    let addr = server.local_addr();
    assert_eq!(ready(addr).await, (200, json!({"status": "ready"})));

    sdl.set_state(State::Stopped {
        reason: "401 Unauthorized: the key was refused".into(),
    });
    let (status, body) = ready(addr).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"status": "not ready", "routes": [{
            "sink": "sdl",
            "source": "syslog",
            "state": "stopped",
            "reason": "the sink stopped: 401 Unauthorized: the key was refused",
        }]})
    );

    taegis.set_state(State::SpoolFull);
    let (status, body) = ready(addr).await;
    assert_eq!(status, 503);
    let named: Vec<_> = body["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sink"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(named, [("sdl", "stopped"), ("taegis", "spool_full")]);

    // A reload restarts the SDL route with the right key; the spool drains.
    let sdl = observe.route("sdl", "syslog");
    sdl.set_state(State::Delivering);
    taegis.set_state(State::Idle);
    assert_eq!(ready(addr).await, (200, json!({"status": "ready"})));
    // Health says nothing about routes.
    sdl.set_state(State::Stopped { reason: "x".into() });
    let health = get(addr, "/health").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    // A removed route no longer counts.
    assert!(observe.remove("sdl", "syslog"));
    assert_eq!(ready(addr).await.0, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_route_with_pending_records_and_no_delivery_goes_stale() {
    let observe = Observe::new("0");
    observe.set_ready_max_age(Some(Duration::from_millis(200)));
    let route = observe.route("taegis", "syslog");
    route.set_state(State::Delivering);
    let idle = observe.route("sdl", "syslog");
    idle.set_state(State::Idle);
    let server = server(&observe).await;
    let addr = server.local_addr();
    // Nothing pending: never stale, however long it is quiet.
    assert_eq!(ready(addr).await.0, 200);

    let pending = SinkSnapshot {
        spool_entries: 3,
        oldest_undelivered: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    route.set_sink_stats(&pending);
    assert_eq!(ready(addr).await.0, 200, "pending, but only just");
    eventually("the route to go stale", || async {
        let (status, body) = ready(addr).await;
        status == 503
            && body["routes"][0]["sink"] == "taegis"
            && body["routes"][0]["state"] == "stale"
    })
    .await;
    let text = String::from_utf8(observe.scrape().to_vec()).unwrap();
    assert!(text.contains(r#"logferry_route_ready{sink="taegis",source="syslog"} 0"#));

    // A delivery makes it ready again, for as long as the maximum age.
    route.delivered(10);
    assert_eq!(ready(addr).await.0, 200);
    let later = |ms| Instant::now() + Duration::from_millis(ms);
    assert!(observe.ready_at(later(100)).0);
    let (ready_later, body) = observe.ready_at(later(10_000));
    assert!(!ready_later);
    assert_eq!(body["routes"][0]["state"], "stale");
    assert!(
        body["routes"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("for 10 s"),
        "{body}"
    );
    // Nothing pending: never stale.
    route.set_sink_stats(&SinkSnapshot::default());
    assert!(observe.ready_at(later(3_600_000)).0);
    // A route of its own may be allowed longer, or never to go stale.
    route.set_sink_stats(&pending);
    route.set_ready_max_age(Some(Duration::from_secs(60)));
    assert!(observe.ready_at(later(59_000)).0);
    assert!(!observe.ready_at(later(61_000)).0);
    route.set_ready_max_age(None);
    assert!(observe.ready_at(later(3_600_000)).0);
    // A stopped route stays stopped, stale or not.
    route.set_state(State::Stopped { reason: "r".into() });
    assert_eq!(
        observe.ready_at(later(0)).1["routes"][0]["state"],
        "stopped"
    );
    server.shutdown().await;
}
