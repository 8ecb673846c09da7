//! Ends other than delivery: a refused key stops the sender, over-limit requests are
//! split, an oversized event fails alone, and shutdown reports what it could not send.

use crate::support::{client, config, emulator, emulator_with, event, sdl_faults, stored_ids};
use logferry_emulator::{Emulator, FaultSet};
use logferry_sdl::{Error, Record, Report, SdlSender, Sessions};
use logferry_sdl_model::{Attrs, Event, Oversize, Timestamp};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_stops_the_sender_at_once_with_the_reason() {
    let emu = emulator().await;
    // A client that does not trust the emulator's CA.
    let untrusting = logferry_http::Client::new(logferry_http::ClientConfig::default())
        .expect("the client builds");
    let sender = SdlSender::start(untrusting, config(&emu)).expect("starts");
    for i in 0..5 {
        sender
            .send_record(Record::new(event(i)).with_entry(i))
            .await
            .expect("queued before the stop is known");
    }
    let err = sender
        .flush()
        .await
        .expect_err("the certificate is refused");
    let Error::Unreachable { message } = &err else {
        panic!("stopped on the certificate: {err:?}")
    };
    assert!(message.contains("certificate is not trusted"), "{message}");
    assert!(
        message.contains("--ca-file"),
        "says what to check: {message}"
    );
    assert!(matches!(sender.stopped(), Some(Error::Unreachable { .. })));
    let report = sender.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        report.unsent.len(),
        5,
        "nothing given up, nothing dead-lettered"
    );
    assert_eq!(report.stats.attempts, 1, "no retry");
    assert_eq!(report.stats.events_failed, 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_stops_the_sender_with_a_clear_error() {
    let emu = emulator().await;
    assert!(emu.revoke_key(emu.sdl_api_key()));
    let mut c = config(&emu);
    c.sessions = Sessions::Fixed(2);
    let (sender, mut reports) = SdlSender::start_with_reports(client(&emu), c).expect("starts");
    for i in 0..5 {
        sender
            .send_record(Record::new(event(i)).with_entry(i))
            .await
            .expect("queued before the stop is known");
    }
    let err = sender.flush().await.expect_err("the key is refused");
    assert!(matches!(err, Error::Stopped { .. }), "{err:?}");
    insta::assert_snapshot!("stopped_on_401", err.to_string());
    let again = sender.send(event(9)).await.expect_err("stopped");
    assert_eq!(again.to_string(), err.to_string());
    assert!(matches!(sender.stopped(), Some(Error::Stopped { .. })));
    let report = sender.shutdown(Duration::from_secs(5)).await;
    let mut unsent: Vec<u64> = report.unsent.iter().filter_map(|r| r.entry).collect();
    unsent.sort_unstable();
    assert_eq!(
        unsent,
        [0, 1, 2, 3, 4],
        "nothing lost, nothing dead-lettered"
    );
    assert_eq!(
        report.unsent[0].event.ts,
        event(report.unsent[0].entry.expect("acked")).ts,
        "original times"
    );
    assert!(matches!(report.stopped, Some(Error::Stopped { .. })));
    let mut stopped = 0;
    while let Some(r) = reports.recv().await {
        match r {
            Report::Stopped(e) => {
                stopped += 1;
                assert_eq!(e.to_string(), err.to_string());
            }
            other => panic!("nothing is delivered or failed: {other:?}"),
        }
    }
    assert_eq!(stopped, 1);
    assert!(emu.records().is_empty());
    emu.shutdown().await;
}

async fn split_emulator(limit: u64) -> Emulator {
    Emulator::builder()
        .sdl_max_body(limit)
        .start()
        .await
        .expect("the emulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_limit_request_is_split_and_resent() {
    let emu = split_emulator(20_000).await;
    let mut c = config(&emu);
    c.max_body_bytes = 100_000;
    c.linger = Duration::from_secs(30);
    let (sender, mut reports) = SdlSender::start_with_reports(client(&emu), c).expect("starts");
    for i in 0..700 {
        sender
            .send_record(Record::new(event(i)).with_entry(i))
            .await
            .expect("queued");
    }
    sender.flush().await.expect("flushed");
    let stats = sender.stats();
    assert!(stats.splits >= 3, "{stats:?}");
    assert_eq!(stats.events_delivered, 700);
    let ids = stored_ids(&emu.records());
    assert_eq!(ids.len(), 700);
    assert!(ids.values().all(|n| *n == 1));
    let mut entries = Vec::new();
    let mut batches = std::collections::BTreeSet::new();
    while let Some(Report::Delivered(d)) = reports.try_recv() {
        assert!(d.body_bytes <= 20_000);
        batches.insert(d.batch);
        entries.extend(d.entries);
    }
    entries.sort_unstable();
    assert_eq!(entries, (0..700).collect::<Vec<_>>());
    assert!(
        batches.len() < stats.requests as usize,
        "halves share their batch"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_too_large_fails_alone() {
    let emu = emulator().await;
    let mut c = config(&emu);
    c.max_body_bytes = 2_000;
    c.oversize = Oversize::Reject;
    let (sender, mut reports) = SdlSender::start_with_reports(client(&emu), c).expect("starts");
    // Past the seed's 6 MB: no request can hold it (a smaller one goes alone).
    let big = Event::new(
        Timestamp::from_nanos(1),
        Attrs::new()
            .with("message", "x".repeat(6_000_000))
            .with("id", 99),
    );
    sender
        .send_record(Record::new(event(1)).with_entry(1))
        .await
        .expect("queued");
    sender
        .send_record(Record::new(big.clone()).with_entry(99))
        .await
        .expect("queued");
    sender
        .send_record(Record::new(event(2)).with_entry(2))
        .await
        .expect("queued");
    sender.flush().await.expect("flushed");
    let mut failed = Vec::new();
    let mut delivered = Vec::new();
    while let Some(r) = reports.try_recv() {
        match r {
            Report::Delivered(d) => delivered.extend(d.entries),
            Report::Failed(f) => {
                assert!(
                    matches!(f.error, Error::EventTooLarge { .. }),
                    "{:?}",
                    f.error
                );
                insta::assert_snapshot!("event_too_large", f.error.to_string());
                failed.extend(f.records);
            }
            other => panic!("{other:?}"),
        }
    }
    delivered.sort_unstable();
    assert_eq!(delivered, [1, 2]);
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].entry, &failed[0].event), (Some(99), &big));
    assert_eq!(sender.stats().events_failed, 1);
    emu.shutdown().await;
}

/// The seed's only limit is the 6 MB body: with the default options, events between
/// `max_body_bytes` and 6 MB are sent whole, alone in their request, not truncated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_between_the_batch_size_and_6_mb_go_whole() {
    let emu = emulator().await;
    let mut c = config(&emu);
    c.pacing = logferry_sdl::Pacing::Off;
    let defaults = logferry_sdl::SdlConfig::new(c.url.clone(), c.key.clone());
    assert_eq!(c.max_body_bytes, defaults.max_body_bytes);
    assert_eq!(c.oversize, defaults.oversize);
    let sender = SdlSender::start(client(&emu), c).expect("starts");
    let sizes = [1_500_000usize, 5_900_000];
    sender
        .send_record(Record::new(event(1)).with_entry(1))
        .await
        .expect("queued");
    for (i, n) in sizes.iter().enumerate() {
        let big = Event::new(
            Timestamp::from_nanos(crate::support::T0 + 10 + i as u64),
            Attrs::new()
                .with("message", "y".repeat(*n))
                .with("id", 100 + i as i64),
        );
        sender.send_record(Record::new(big)).await.expect("queued");
    }
    sender.flush().await.expect("flushed");
    let report = sender.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.stats.events_truncated, 0);
    assert_eq!(report.stats.events_delivered, 3);
    let records = emu.records();
    for (i, n) in sizes.iter().enumerate() {
        let r = records
            .iter()
            .find(|r| {
                r.sdl
                    .as_ref()
                    .and_then(|s| s.attrs.get("id"))
                    .and_then(|v| v.as_u64())
                    == Some(100 + i as u64)
            })
            .expect("stored");
        assert_eq!(r.text.len(), *n, "sent whole");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_what_the_deadline_cut_off() {
    let emu = emulator_with(sdl_faults(FaultSet::latency(Duration::from_secs(3)))).await;
    let mut c = config(&emu);
    c.sessions = Sessions::Fixed(2);
    c.max_body_bytes = 2_000;
    let sender = SdlSender::start(client(&emu), c).expect("starts");
    for i in 0..100 {
        sender
            .send_record(Record::new(event(i)).with_entry(i))
            .await
            .expect("queued");
    }
    let started = std::time::Instant::now();
    let report = sender.shutdown(Duration::from_millis(300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline holds"
    );
    assert!(report.timed_out);
    let mut unsent: Vec<u64> = report.unsent.iter().filter_map(|r| r.entry).collect();
    unsent.sort_unstable();
    assert_eq!(unsent, (0..100).collect::<Vec<_>>());
    assert!(matches!(sender.send(event(1)).await, Err(Error::Closed)));
    let err = sender.flush().await.expect_err("shut down");
    assert!(matches!(err, Error::Closed));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_delivers_everything() {
    let emu = emulator().await;
    let mut c = config(&emu);
    c.linger = Duration::from_secs(60);
    let sender = SdlSender::start(client(&emu), c).expect("starts");
    for i in 0..50 {
        sender.send(event(i)).await.expect("queued");
    }
    let report = sender.shutdown(Duration::from_secs(10)).await;
    assert!(!report.timed_out && report.unsent.is_empty());
    assert_eq!(report.stats.events_delivered, 50);
    assert_eq!(stored_ids(&emu.records()).len(), 50);
    emu.shutdown().await;
}
