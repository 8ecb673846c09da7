//! Delivery against the emulator: every event exactly once under faults, one request in
//! flight per session, pacing, session scaling, backoff inside HTTP 200.

use crate::support::{
    Freezer, client, config, emulator, emulator_with, event, sdl_faults, stored_ids,
};
use logferry_emulator::{Endpoint, FaultSet, FaultStatus, ViolationKind};
use logferry_sdl::{Pacing, Record, Report, SdlSender, Sessions};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Reads every report until the sender is gone; returns how often each token was acked.
async fn collect_acks(mut reports: logferry_sdl::Reports) -> (BTreeMap<u64, usize>, usize) {
    let mut entries = BTreeMap::new();
    let mut failures = 0;
    while let Some(report) = reports.recv().await {
        match report {
            Report::Delivered(d) => {
                for a in d.entries {
                    *entries.entry(a).or_default() += 1;
                }
            }
            Report::Failed(f) => failures += f.records.len(),
            other => panic!("unexpected report {other:?}"),
        }
    }
    (entries, failures)
}

/// Ships 3,000 events with 3 sessions through random 5xx, 429, backoff-in-200, resets and
/// latency; returns the emulator (stopped by the caller).
async fn ship_under_faults(http2: bool) -> logferry_emulator::Emulator {
    let faults = FaultSet {
        fail_rate: 0.2,
        fail_statuses: vec![
            FaultStatus::Code(503),
            FaultStatus::Code(429),
            FaultStatus::Code(500),
            FaultStatus::SdlBackoffIn200,
        ],
        reset_rate: 0.05,
        latency_ms: 5,
        ..FaultSet::default()
    };
    let emu = emulator_with(sdl_faults(faults)).await;
    let mut c = config(&emu);
    c.sessions = Sessions::Fixed(3);
    c.max_body_bytes = 8_000;
    c.linger = Duration::from_millis(20);
    let http = logferry_http::Client::new(logferry_http::ClientConfig {
        http2,
        ..client(&emu).config().clone()
    })
    .expect("client");
    let (sender, reports) = SdlSender::start_with_reports(http, c).expect("starts");
    let collector = tokio::spawn(collect_acks(reports));
    let mut producers = Vec::new();
    for part in 0..2 {
        let sender = sender.clone();
        producers.push(tokio::spawn(async move {
            for i in (part..N).step_by(2) {
                let record = Record::new(event(i)).with_entry(i);
                if i % 10 == 0 {
                    sender.send_many(vec![record]).await.expect("queued");
                } else {
                    sender.send_record(record).await.expect("queued");
                }
            }
        }));
    }
    for p in producers {
        p.await.expect("producer");
    }
    sender.flush().await.expect("flushed");
    let report = sender.shutdown(Duration::from_secs(10)).await;
    assert!(report.unsent.is_empty() && !report.timed_out && report.stopped.is_none());
    let (entries, failures) = collector.await.expect("collector");
    assert_eq!(failures, 0);
    assert_eq!(entries.len() as u64, N);
    assert!(entries.values().all(|n| *n == 1), "every token acked once");

    let stats = emu.stats();
    assert_eq!(stats.max_concurrent_per_session(), 1);
    assert_eq!(stats.sdl_sessions.len(), 3);
    for kind in [
        ViolationKind::ConcurrentSessionRequest,
        ViolationKind::SessionInfoChanged,
        ViolationKind::SessionRateExceeded,
    ] {
        assert_eq!(stats.violation_count(kind), 0, "{kind}");
    }
    if !http2 {
        // Over HTTP/2 a request stored but unanswered is sent again, and its times are
        // then not above the session's last: the emulator counts that.
        assert_eq!(stats.violation_count(ViolationKind::TsNotIncreasing), 0);
    }
    let ours = report.stats;
    assert!(ours.retries > 0, "faults were injected and retried");
    assert_eq!(ours.events_delivered, N);
    assert_eq!(ours.attempts, ours.requests + ours.retries);
    let emu_sdl = &stats.endpoints[&Endpoint::SdlAddEvents];
    assert!(emu_sdl.faults_injected > 0 && emu_sdl.resets > 0);
    // Requests by status (for `/metrics`): every attempt answered or failed, once.
    let answered: u64 = ours.requests_by_status.values().sum();
    assert_eq!(answered + ours.request_failures, ours.attempts);
    assert_eq!(ours.in_flight, 0);
    if !http2 {
        // One connection per request: what the emulator answered is what we saw, and
        // each reset is one request without an answer.
        assert_eq!(ours.requests_by_status, emu_sdl.by_status);
        assert_eq!(ours.request_failures, emu_sdl.resets);
    }
    emu
}

const N: u64 = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_exactly_once_under_faults_over_http1() {
    // One connection per request in flight: a reset only loses a request the emulator
    // refused, so every event is stored exactly once.
    let emu = ship_under_faults(false).await;
    let ids = stored_ids(&emu.records());
    assert_eq!(ids.len() as u64, N, "every event stored");
    assert!(ids.values().all(|n| *n == 1), "no event stored twice");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_at_least_once_under_faults_over_http2() {
    // The sessions share one HTTP/2 connection: a reset also cuts off replies to other
    // sessions' requests that the emulator had stored, and those are sent again. So
    // events may be stored twice, but only as whole requests sent again unchanged.
    let emu = ship_under_faults(true).await;
    let records = emu.records();
    let ids = stored_ids(&records);
    assert_eq!(ids.len() as u64, N, "every event stored");
    let mut requests: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for r in &records {
        let id = r
            .sdl
            .as_ref()
            .and_then(|s| s.attrs["id"].as_u64())
            .expect("an id");
        requests.entry(r.request_id).or_default().push(id);
    }
    let mut by_content: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
    for ids in requests.values() {
        *by_content.entry(ids.clone()).or_default() += 1;
    }
    for (id, n) in &ids {
        if *n > 1 {
            let copies: Vec<_> = by_content.iter().filter(|(k, _)| k.contains(id)).collect();
            assert_eq!(copies.len(), 1, "event {id} came in different requests");
            assert_eq!(*copies[0].1, *n, "event {id}: whole requests repeated");
        }
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_inside_http_200_is_retried() {
    let emu = emulator_with(sdl_faults(FaultSet::fail_first(
        2,
        FaultStatus::SdlBackoffIn200,
    )))
    .await;
    let sender = SdlSender::start(client(&emu), config(&emu)).expect("starts");
    sender.send(event(1)).await.expect("queued");
    sender.flush().await.expect("flushed");
    let stats = sender.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.events_delivered),
        (1, 2, 1)
    );
    let emu_stats = emu.stats();
    assert_eq!(emu_stats.status_count(Endpoint::SdlAddEvents, 200), 3);
    assert_eq!(stored_ids(&emu.records()).len(), 1);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_above_its_pace() {
    let emu = emulator().await;
    let mut c = config(&emu);
    const PACE: u64 = 100_000;
    const BODY: usize = 10_000;
    c.pacing = Pacing::PerSession {
        bytes_per_sec: PACE,
    };
    c.max_body_bytes = BODY;
    c.sessions = Sessions::Fixed(2);
    let sender = SdlSender::start(client(&emu), c).expect("starts");
    let started = Instant::now();
    // About 470 kB of bodies: at least 2.3 s for two sessions at 100 kB/s (one bucket each
    // to start).
    for i in 0..4_000 {
        sender.send(event(i)).await.expect("queued");
    }
    sender.flush().await.expect("flushed");
    let elapsed = started.elapsed();
    let stats = sender.stats();
    assert_eq!(stats.events_delivered, 4_000);
    let floor = (stats.bytes_raw - 2 * BODY as u64) as f64 / (2 * PACE) as f64;
    assert!(
        elapsed.as_secs_f64() >= floor * 0.95,
        "{elapsed:?} for {} bytes",
        stats.bytes_raw
    );
    let emu_stats = emu.stats();
    // Any 1 s window: one bucket plus a second of pace, with a little slack for the delay
    // between sending and the emulator's accepting.
    let bound = BODY as u64 + PACE * 11 / 10;
    assert!(
        emu_stats.peak_session_rate() <= bound,
        "peak {} above {bound}",
        emu_stats.peak_session_rate()
    );
    assert!(
        emu_stats.peak_session_rate() >= PACE / 2,
        "pacing was exercised"
    );
    assert_eq!(emu_stats.max_concurrent_per_session(), 1);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_added_when_all_are_saturated() {
    let emu = emulator().await;
    let mut c = config(&emu);
    c.pacing = Pacing::PerSession {
        bytes_per_sec: 40_000,
    };
    c.max_body_bytes = 4_000;
    c.sessions = Sessions::Auto { min: 1, max: 3 };
    c.scale_interval = Duration::from_millis(100);
    let sender = SdlSender::start(client(&emu), c).expect("starts");
    for i in 0..1_200 {
        sender.send(event(i)).await.expect("queued");
    }
    sender.flush().await.expect("flushed");
    let stats = sender.stats();
    assert_eq!(stats.sessions.len(), 3, "scaled to the maximum");
    assert!(stats.sessions.iter().all(|s| s.requests > 0), "{stats:?}");
    let emu_stats = emu.stats();
    assert_eq!(emu_stats.sdl_sessions.len(), 3);
    assert_eq!(emu_stats.max_concurrent_per_session(), 1);
    // An idle sender does not scale.
    let emu2 = emulator().await;
    let mut c = config(&emu2);
    c.sessions = Sessions::Auto { min: 1, max: 3 };
    let idle = SdlSender::start(client(&emu2), c).expect("starts");
    for i in 0..20 {
        idle.send(event(i)).await.expect("queued");
    }
    idle.flush().await.expect("flushed");
    assert_eq!(idle.stats().sessions.len(), 1);
    emu.shutdown().await;
    emu2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrying_session_does_not_block_the_others() {
    // The first request is refused with `Retry-After: 2`: its session waits 2 s, and every
    // later batch goes through the other session meanwhile.
    let emu = emulator_with(sdl_faults(
        FaultSet::fail_first(1, FaultStatus::Code(503)).with_retry_after(2),
    ))
    .await;
    let mut c = config(&emu);
    c.sessions = Sessions::Fixed(2);
    c.max_body_bytes = 2_000;
    c.retry.retry_after_ceiling = Duration::from_secs(5);
    let (sender, mut reports) = SdlSender::start_with_reports(client(&emu), c).expect("starts");
    let started = Instant::now();
    for i in 0..200 {
        sender.send(event(i)).await.expect("queued");
    }
    sender.flush().await.expect("flushed");
    let mut deliveries = Vec::new();
    while let Some(Report::Delivered(d)) = reports.try_recv() {
        deliveries.push((d.session, d.attempts, d.events));
    }
    let retried: Vec<_> = deliveries.iter().filter(|d| d.1 > 1).collect();
    assert_eq!(retried.len(), 1, "{deliveries:?}");
    let slow = retried[0].0;
    let others: usize = deliveries.iter().filter(|d| d.0 != slow).map(|d| d.2).sum();
    assert_eq!(others + retried[0].2, 200);
    assert!(
        others >= 150,
        "the other session carried the rest: {deliveries:?}"
    );
    // Reports come in delivery order: every batch of the other session was confirmed
    // before the retried one.
    let last = deliveries.last().expect("deliveries");
    assert_eq!((last.0, last.1), (slow, 2), "{deliveries:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    emu.shutdown().await;
}

/// A request given up after an answer with `Retry-After` says how long was asked, for a
/// caller that hands the events back to a queue (a NATS worker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_given_up_reports_the_last_retry_after() {
    let emu = emulator_with(sdl_faults(
        FaultSet::fail_first(100, FaultStatus::Code(429)).with_retry_after(42),
    ))
    .await;
    let mut c = config(&emu);
    c.retry.stop = logferry_retry::Stop::after_attempts(1);
    let (sender, mut reports) = SdlSender::start_with_reports(client(&emu), c).expect("starts");
    sender.send(event(0)).await.expect("queued");
    let _ = sender.flush().await;
    let failure = loop {
        match reports.recv().await {
            Some(Report::Failed(f)) => break f,
            Some(_) => {}
            None => panic!("no failure reported"),
        }
    };
    let logferry_sdl::Error::GaveUp { retry_after, .. } = failure.error else {
        panic!("{:?}", failure.error);
    };
    assert_eq!(retry_after, Some(Duration::from_secs(42)));
    emu.shutdown().await;
}

/// Issue "Correctness round", item 8: a request that timed out may still be held by a
/// frozen server, which reads and answers it once it runs again; its retry must not
/// overlap it on the same session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_is_retried_on_a_new_session_without_overlap() {
    const N: u64 = 20;
    // Each reply takes 200 ms, so requests the frozen server gets at once overlap.
    let emu = logferry_emulator::Emulator::builder()
        .plain_http()
        .faults(sdl_faults(FaultSet::latency(Duration::from_millis(200))))
        .start()
        .await
        .expect("the emulator starts");
    let freezer = Freezer::frozen(emu.local_addr()).await;
    let mut c = config(&emu);
    c.url = format!("http://{}", freezer.addr)
        .parse()
        .expect("a loopback URL");
    c.request_timeout = Some(Duration::from_millis(300));
    let sender = SdlSender::start(client(&emu), c).expect("starts");
    for i in 0..N {
        sender
            .send_record(Record::new(event(i)).with_entry(i))
            .await
            .expect("queued");
    }
    // The first attempt times out; its retry is sent while the server is still frozen.
    let mut held = freezer.held.clone();
    tokio::time::timeout(Duration::from_secs(10), held.wait_for(|n| *n >= 2))
        .await
        .expect("a retry within 10 s")
        .expect("the proxy runs");
    freezer.thaw();
    sender.flush().await.expect("flushed");
    let report = sender.shutdown(Duration::from_secs(10)).await;
    assert!(report.unsent.is_empty() && report.stopped.is_none());
    assert_eq!(report.stats.events_delivered, N);

    let stats = emu.stats();
    assert_eq!(
        stats.violation_count(ViolationKind::ConcurrentSessionRequest),
        0
    );
    assert_eq!(stats.max_concurrent_per_session(), 1);
    let sessions = &report.stats.sessions;
    assert!(sessions.len() >= 2, "the retry went to a new session");
    assert_eq!(
        sessions[0].requests, 0,
        "the timed-out session delivered nothing"
    );
    // Every event stored (those of the timed-out request twice: at least once).
    let stored = stored_ids(&emu.records());
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        (0..N).collect::<Vec<_>>()
    );
    emu.shutdown().await;
}
