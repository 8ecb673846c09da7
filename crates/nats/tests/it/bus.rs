//! Stream creation, deduplicated publishes, and a durable pull consumer's settlements.

use logferry_nats::server::Server;
use logferry_nats::{ConnectConfig, ConsumerSpec, Headers, StreamSpec, connect};
use std::time::{Duration, Instant};

async fn bus(server: &Server) -> logferry_nats::Bus {
    connect(&ConnectConfig::new(vec![server.url()]))
        .await
        .expect("connects")
}

fn headers() -> Headers {
    let mut h = Headers::new();
    h.insert("Logferry-Source", "/var/log/a.log");
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_message_is_dropped_by_the_server_and_a_consumer_gets_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).unwrap();
    let bus = bus(&server).await;
    bus.ensure_stream(&StreamSpec::new("LOGS", vec!["logs.x".into()]))
        .await
        .unwrap();
    // Twice: the second finds it.
    bus.ensure_stream(&StreamSpec::new("LOGS", vec!["logs.x".into()]))
        .await
        .unwrap();
    assert!(bus.max_payload() >= 1 << 20);
    let first = bus
        .publish("logs.x", "id-1", headers(), "one".into())
        .await
        .unwrap()
        .acknowledged()
        .await
        .unwrap();
    let again = bus
        .publish("logs.x", "id-1", headers(), "one".into())
        .await
        .unwrap()
        .acknowledged()
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate, "same id within the window");
    assert_eq!(again.sequence, first.sequence);
    bus.publish("logs.x", "id-2", headers(), "two".into())
        .await
        .unwrap()
        .acknowledged()
        .await
        .unwrap();
    assert_eq!(bus.stream_messages("LOGS").await.unwrap(), 2);

    let consumer = bus
        .consumer("LOGS", &ConsumerSpec::new("shippers"))
        .await
        .unwrap();
    let got = consumer.fetch(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(&got[0].payload[..], b"one");
    assert_eq!(
        got[0].headers.get("Logferry-Source").map(|v| v.as_str()),
        Some("/var/log/a.log")
    );
    assert_eq!(got[0].delivered, 1);
    for d in &got {
        d.settle.ack().await.unwrap();
    }
    bus.flush().await.unwrap();
    // Work-queue retention: acknowledged messages are gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while bus.stream_messages("LOGS").await.unwrap() != 0 {
        assert!(
            Instant::now() < deadline,
            "acked messages stay in the stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nak_delays_redelivery_progress_holds_it_and_an_unacked_message_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).unwrap();
    let bus = bus(&server).await;
    bus.ensure_stream(&StreamSpec::new("LOGS", vec!["logs.x".into()]))
        .await
        .unwrap();
    for id in ["a", "b"] {
        bus.publish("logs.x", id, headers(), id.as_bytes().to_vec().into())
            .await
            .unwrap()
            .acknowledged()
            .await
            .unwrap();
    }
    let mut spec = ConsumerSpec::new("shippers");
    spec.ack_wait = Duration::from_secs(1);
    let worker_1 = bus.consumer("LOGS", &spec).await.unwrap();
    let worker_2 = bus.consumer("LOGS", &spec).await.unwrap();
    let got = worker_1.fetch(2, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 2);
    // a: negatively acknowledged with a delay; b: kept alive past the ack wait.
    got[0]
        .settle
        .nak(Duration::from_millis(1500))
        .await
        .unwrap();
    let nak_at = Instant::now();
    let held = &got[1];
    let mut again = Vec::new();
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        held.settle.progress().await.unwrap();
        for d in worker_2.fetch(2, Duration::from_millis(300)).await.unwrap() {
            d.settle.ack().await.unwrap();
            again.push((d.payload.clone(), d.delivered, nak_at.elapsed()));
        }
    }
    assert_eq!(again.len(), 1, "only the nak'd one: {again:?}");
    let (payload, delivered, after) = &again[0];
    assert_eq!(&payload[..], b"a");
    assert_eq!(*delivered, 2);
    assert!(
        *after >= Duration::from_millis(1400),
        "redelivered after {after:?}"
    );
    // b, no longer kept alive, comes back after the ack wait (worker 1 "died").
    let deadline = Instant::now() + Duration::from_secs(5);
    let back = loop {
        let got = worker_2.fetch(1, Duration::from_millis(300)).await.unwrap();
        if let Some(d) = got.into_iter().next() {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "an unacked message was never redelivered"
        );
    };
    assert_eq!(&back.payload[..], b"b");
    assert_eq!(back.delivered, 2);
    back.settle.term().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_its_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).unwrap();
    {
        let bus = bus(&server).await;
        bus.ensure_stream(&StreamSpec::new("LOGS", vec!["logs.x".into()]))
            .await
            .unwrap();
        bus.publish("logs.x", "k", headers(), "kept".into())
            .await
            .unwrap()
            .acknowledged()
            .await
            .unwrap();
    }
    server.restart().unwrap();
    let bus = bus(&server).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match bus.stream_messages("LOGS").await {
            Ok(n) => {
                assert_eq!(n, 1);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fetch asking for more than the stream holds gets what there is at once (a worker
/// at the end of a backlog, or on a quiet stream, must not wait for the pull request's
/// expiry), and one asking on an empty stream gets the first message that comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_hands_over_what_there_is_without_waiting_for_more() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).unwrap();
    let bus = bus(&server).await;
    bus.ensure_stream(&StreamSpec::new("LOGS", vec!["logs.x".into()]))
        .await
        .unwrap();
    for id in ["a", "b", "c"] {
        bus.publish("logs.x", id, headers(), id.as_bytes().to_vec().into())
            .await
            .unwrap()
            .acknowledged()
            .await
            .unwrap();
    }
    let consumer = bus
        .consumer("LOGS", &ConsumerSpec::new("shippers"))
        .await
        .unwrap();
    let asked = Instant::now();
    let got = consumer.fetch(4, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 3);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "waited {:?} for a fourth message",
        asked.elapsed()
    );
    for d in &got {
        d.settle.ack().await.unwrap();
    }
    // Empty now: waits for the next one, and has it as soon as it is published.
    let waiting = tokio::spawn({
        let consumer = bus
            .consumer("LOGS", &ConsumerSpec::new("shippers"))
            .await
            .unwrap();
        async move {
            let got = consumer.fetch(4, Duration::from_secs(10)).await.unwrap();
            (got.len(), Instant::now())
        }
    });
    // Published once the pull request is out, waiting at the server.
    let deadline = Instant::now() + Duration::from_secs(5);
    while bus.consumer_waiting("LOGS", "shippers").await.unwrap() == 0 {
        assert!(
            Instant::now() < deadline,
            "the fetch never waited at the server"
        );
        tokio::task::yield_now().await;
    }
    bus.publish("logs.x", "d", headers(), "d".into())
        .await
        .unwrap()
        .acknowledged()
        .await
        .unwrap();
    let published = Instant::now();
    let (n, at) = waiting.await.unwrap();
    assert_eq!(n, 1);
    assert!(
        at.duration_since(published) < Duration::from_secs(2),
        "handed over {:?} after it was published",
        at.duration_since(published)
    );
    let empty = Instant::now();
    assert!(
        consumer
            .fetch(4, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        empty.elapsed() >= Duration::from_millis(250),
        "no wait when empty"
    );
}
