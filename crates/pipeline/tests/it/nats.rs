//! `NatsSink` and `NatsSource` in process, against a real `nats-server`: a file through
//! the sink into a stream (published twice: the second time the server drops every
//! message as a duplicate), then the stream through the source into HTTP Ingest, each
//! message acknowledged once delivered.

use crate::{emulator, files, front, ingest, lines};
use logferry_emulator::Endpoint;
use logferry_framing::Format;
use logferry_nats::server::Server;
use logferry_nats::{ConnectConfig, ConsumerSpec};
use logferry_pipeline::nats::{NatsSinkConfig, NatsSourceConfig};
use logferry_pipeline::{Control, Ledger, NatsSink, NatsSource, Source};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A nats-server of its own (killed when dropped, with the directory) and a file of
/// 3,000 lines to publish.
fn server_and_file() -> (tempfile::TempDir, Server, PathBuf, ConnectConfig) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nats")).unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, lines(3_000)).unwrap();
    let connect = ConnectConfig::new(vec![server.url()]);
    (dir, server, path, connect)
}

/// `path` published through an edge's `NatsSink` into stream `LOGS`: its ledger and the
/// messages the server dropped as duplicates.
async fn publish(connect: &ConnectConfig, path: &Path) -> (Ledger, u64) {
    let config = NatsSinkConfig::new(connect.clone(), "LOGS", "logs.x", "host/bus/app".into());
    let sink = NatsSink::new(config);
    let ledger =
        logferry_pipeline::run(files(path, None), &sink, front(Format::Text), None, |_| {
            ControlFlow::Continue(())
        })
        .await;
    (ledger, sink.duplicates())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_through_the_bus_arrives_once_and_a_republish_is_deduplicated() {
    let (_dir, _server, path, connect) = server_and_file();
    let (first, duplicates) = publish(&connect, &path).await;
    assert_eq!((first.read, first.delivered), (3_000, 3_000));
    assert_eq!(duplicates, 0);
    // The same batches again (a restarted edge republishing): all dropped by the server.
    let (again, duplicates) = publish(&connect, &path).await;
    assert_eq!(again.delivered, 3_000);
    assert!(duplicates > 0);
    let bus = logferry_nats::connect(&connect).await.unwrap();
    let messages = bus.stream_messages("LOGS").await.unwrap();
    assert_eq!(
        messages, duplicates,
        "every republished message was a duplicate"
    );

    let emu = emulator().await;
    let sink = ingest(&emu, emu.http_ingest_key());
    let source = NatsSource::new(NatsSourceConfig::new(connect.clone(), "LOGS", "workers"));
    let stats = source.stats();
    let finished = source.finished();
    let received = || {
        emu.records()
            .iter()
            .filter(|r| r.endpoint == Endpoint::HttpIngest)
            .count()
    };
    let run = logferry_pipeline::run(source, &sink, front(Format::Text), None, |_| {
        ControlFlow::Continue(())
    });
    let stop = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while received() < 3_000 {
            assert!(Instant::now() < deadline, "{} of 3000 arrived", received());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sink.close();
        std::future::pending::<()>().await
    };
    let ledger = tokio::select! {
        ledger = run => ledger,
        () = stop => unreachable!(),
    };
    tokio::time::timeout(Duration::from_secs(5), finished.wait())
        .await
        .expect("the source settled");
    assert_eq!(received(), 3_000, "each record once");
    assert_eq!(ledger.delivered, 3_000);
    let acked = stats.acked.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(acked, messages, "every message acknowledged once delivered");
    let deadline = Instant::now() + Duration::from_secs(10);
    while bus.stream_messages("LOGS").await.unwrap() != 0 {
        assert!(
            Instant::now() < deadline,
            "acknowledged messages stay in the stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emu.shutdown().await;
}

/// A worker whose pipeline goes away (its daemon stopping) hands back at once every
/// message it fetched, those still being read or waiting for room included: another
/// worker gets them now, not after the consumer's ack wait (60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_stops_hands_back_at_once_what_it_fetched() {
    let (_dir, _server, path, connect) = server_and_file();
    let (published, _) = publish(&connect, &path).await;
    assert_eq!(published.delivered, 3_000);
    let bus = logferry_nats::connect(&connect).await.unwrap();
    let messages = bus.stream_messages("LOGS").await.unwrap();
    assert!(messages > 16, "{messages} messages");

    let mut config = NatsSourceConfig::new(connect.clone(), "LOGS", "workers");
    config.in_flight = 12;
    let source = NatsSource::new(config);
    let stats = source.stats();
    let finished = source.finished();
    // A pipeline that takes one batch and has room for one more: the rest of the window
    // waits in the worker.
    let mut slow = front(Format::Text);
    slow.queue = 1;
    let mut rx = source.start(slow);
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a batch within 10 s")
        .expect("a batch");
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.messages.load(Ordering::Relaxed) < 12 {
        assert!(
            Instant::now() < deadline,
            "the worker did not fill its window"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(first);
    drop(rx);
    tokio::time::timeout(Duration::from_secs(5), finished.wait())
        .await
        .expect("the source settled");

    let consumer = bus
        .consumer("LOGS", &ConsumerSpec::new("workers"))
        .await
        .unwrap();
    let started = Instant::now();
    let mut got = 0;
    while got < messages {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{got} of {messages} messages back within 20 s"
        );
        for delivery in consumer.fetch(64, Duration::from_secs(1)).await.unwrap() {
            delivery.settle.ack().await.unwrap();
            got += 1;
        }
    }
    // The whole window, and a message a fetch in flight brought after the pipeline
    // went away (the pull request that replaced the dropped first batch's message).
    let fetched = stats.messages.load(Ordering::Relaxed);
    assert!((12..=13).contains(&fetched), "{fetched} messages fetched");
    assert_eq!(
        stats.naked.load(Ordering::Relaxed),
        fetched,
        "everything fetched handed back"
    );
}
