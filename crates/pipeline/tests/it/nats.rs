//! `NatsSink` and `NatsSource` in process, against a real `nats-server`: a file through
//! the sink into a stream (published twice: the second time the server drops every
//! message as a duplicate), then the stream through the source into HTTP Ingest, each
//! message acknowledged once delivered.

use crate::{emulator, files, front, ingest, lines};
use logferry_emulator::Endpoint;
use logferry_nats::ConnectConfig;
use logferry_nats::server::Server;
use logferry_pipeline::nats::{NatsSinkConfig, NatsSourceConfig};
use logferry_pipeline::{Control, NatsSink, NatsSource};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_through_the_bus_arrives_once_and_a_republish_is_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("nats")).unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, lines(3_000)).unwrap();
    let connect = ConnectConfig::new(vec![server.url()]);
    let publish = || async {
        let config = NatsSinkConfig::new(connect.clone(), "LOGS", "logs.x", "host/bus/app".into());
        let sink = NatsSink::new(config);
        let ledger = logferry_pipeline::run(
            files(&path, None),
            &sink,
            front(logferry_framing::Format::Text),
            None,
            |_| ControlFlow::Continue(()),
        )
        .await;
        (ledger, sink.duplicates())
    };
    let (first, duplicates) = publish().await;
    assert_eq!((first.read, first.delivered), (3_000, 3_000));
    assert_eq!(duplicates, 0);
    // The same batches again (a restarted edge republishing): all dropped by the server.
    let (again, duplicates) = publish().await;
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
    let run = logferry_pipeline::run(
        source,
        &sink,
        front(logferry_framing::Format::Text),
        None,
        |_| ControlFlow::Continue(()),
    );
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
