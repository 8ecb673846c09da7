//! Every status path of the contract, and faults: what is retried, split, rejected, or
//! stops the sender.

use crate::*;
use logferry_emulator::{Endpoint, FaultSet, FaultStatus, LimitOverrides};
use logferry_taegis_ingest::{ContentType, DeliveryStatus, EncodedBatch, NotDelivered, StopReason};

#[tokio::test]
async fn faults_and_resets_lose_nothing_and_corrupt_nothing() {
    let mut set = FaultSet::fail_rate(
        0.3,
        vec![
            FaultStatus::Code(500),
            FaultStatus::Code(502),
            FaultStatus::Code(503),
            FaultStatus::Code(504),
            FaultStatus::Code(429),
            FaultStatus::Code(408),
        ],
    );
    set.reset_rate = 0.1;
    let emu = emulator(Faults::none().with_endpoint(Endpoint::HttpIngest, set)).await;
    let ingest = sender(&emu, |c| c.budget.min_retries_per_sec = 1000);
    let input = lines(3000, 30);
    let deliveries = ship(&ingest, batches(&input, 4_000)).await;
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
    );
    // At least once, none corrupted. (A reset can take down sibling HTTP/2 streams whose
    // records were already stored, so a retry may deliver a record twice: the contract's
    // at-least-once semantics.)
    let received = received_sorted(&emu);
    let expected = sorted(&input);
    let mut unique = received.clone();
    unique.dedup();
    assert!(
        unique == expected,
        "missing or corrupted records ({} unique of {} expected)",
        unique.len(),
        expected.len()
    );
    let duplicates = received.len() - unique.len();
    assert!(duplicates < input.len() / 4, "{duplicates} duplicates");
    let stats = ingest.stats();
    assert!(
        stats.retries > 5,
        "faults must have caused retries: {stats:?}"
    );
    let emu_stats = emu.stats();
    assert!(emu_stats.endpoints[&Endpoint::HttpIngest].resets > 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(1, FaultStatus::Code(429)).with_retry_after(1),
    ))
    .await;
    let ingest = sender(&emu, |_| {});
    let started = std::time::Instant::now();
    let deliveries = ship(&ingest, batches(&lines(3, 1), 1_000)).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    assert_eq!(deliveries[0].retries, 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 is a floor"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_request_rejects_that_batch_only_with_its_range() {
    let emu = emulator(Faults::none()).await;
    // Text lines declared as JSON: the emulator answers 400 for each body.
    let bad = sender(&emu, |c| c.content_type = ContentType::Json);
    let deliveries = ship(&bad, batches(&lines(10, 1), 1_000)).await;
    assert_eq!(deliveries.len(), 1);
    let DeliveryStatus::PartlyRejected(rejected) = &deliveries[0].status else {
        panic!("expected a rejection: {deliveries:?}");
    };
    assert!(
        deliveries[0].is_done(),
        "a refused batch is handled: the checkpoint may pass it"
    );
    assert_eq!(deliveries[0].requests, 1, "a 400 is never retried");
    assert_eq!(rejected[0].records, 10);
    assert_eq!(rejected[0].label, "test.log: lines 1-10 (bytes 0..90)");
    assert!(rejected[0].reason.contains("400"), "{}", rejected[0].reason);
    assert!(rejected[0].body.starts_with(b"line 0 x\nline 1 x\n"));
    assert!(bad.stopped().is_none(), "a 400 does not stop the sender");
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_key_stops_the_sender_at_once() {
    let emu = emulator(Faults::none()).await;
    let ingest = sender(&emu, |c| c.key = Secret::new("not-the-key"));
    let deliveries = ship(&ingest, batches(&lines(500, 10), 500)).await;
    let Some(StopReason::Unauthorized { message }) = ingest.stopped() else {
        panic!("the sender must stop: {deliveries:?}");
    };
    insta::assert_snapshot!(message);
    assert!(deliveries.iter().all(|d| !d.is_done()));
    assert!(deliveries.iter().all(|d| matches!(
        d.status,
        DeliveryStatus::NotDelivered(NotDelivered::Stopped(_))
    )));
    // At most one request per in-flight slot reached the server, and none was retried.
    let sent = emu.stats().status_count(Endpoint::HttpIngest, 401);
    assert!(sent <= 4, "{sent} requests after a 401");
    assert_eq!(ingest.stats().retries, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn mistyped_integration_path_stops_the_sender_with_404_naming_the_url() {
    let emu = emulator(Faults::none()).await;
    let typo = emu.http_ingest_url_for("emulator-defualt");
    let ingest = sender(&emu, |c| c.url = typo.parse().unwrap());
    let deliveries = ship(&ingest, batches(&lines(500, 10), 500)).await;
    let Some(StopReason::WrongUrl { url, message }) = ingest.stopped() else {
        panic!("the sender must stop: {:?}", ingest.stopped());
    };
    assert_eq!(url, typo);
    assert!(message.contains("404"), "{message}");
    assert!(
        message.contains(&typo),
        "the message names the URL: {message}"
    );
    assert!(
        !message.contains(emu.http_ingest_key()),
        "never the key: {message}"
    );
    // Nothing refused into the dead-letter file: every batch comes back whole, to be
    // sent again (from the spool) once the URL is corrected.
    assert_eq!(ingest.stats().records_rejected, 0);
    assert!(deliveries.iter().all(|d| matches!(
        &d.status,
        DeliveryStatus::NotDelivered(NotDelivered::Stopped(StopReason::WrongUrl { .. }))
    ) && d.undelivered.as_ref().map(EncodedBatch::records)
        == Some(d.records)));
    // At most one request per in-flight slot reached the server, none retried.
    let sent = emu.stats().status_count(Endpoint::HttpIngest, 404);
    assert!(sent <= 4, "{sent} requests after a 404");
    assert_eq!(ingest.stats().retries, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn gone_410_stops_the_sender_like_a_wrong_url() {
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(1_000, FaultStatus::Code(410)),
    ))
    .await;
    let ingest = sender(&emu, |c| c.concurrency = 1);
    let deliveries = ship(&ingest, batches(&lines(100, 10), 300)).await;
    let reason = ingest.stopped().expect("stopped");
    assert!(matches!(reason, StopReason::WrongUrl { .. }), "{reason:?}");
    assert!(reason.to_string().contains("410"), "{reason}");
    assert_eq!(emu.stats().status_count(Endpoint::HttpIngest, 410), 1);
    assert!(deliveries.iter().all(|d| !d.is_done()));
    assert_eq!(ingest.stats().records_rejected, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn deleted_integration_stops_with_403() {
    let emu = emulator(Faults::none()).await;
    let ingest = sender(&emu, |c| c.concurrency = 1);
    let first = ship(&ingest, batches(&lines(10, 1), 1_000)).await;
    assert!(first[0].is_done());
    assert!(emu.revoke_key(emu.http_ingest_key()));
    let after = ship(&ingest, batches(&lines(10, 1), 1_000)).await;
    assert!(!after[0].is_done());
    let reason = ingest.stopped().expect("stopped").to_string();
    assert!(reason.contains("403"), "{reason}");
    assert!(reason.contains("integration"), "{reason}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_stopped_after_a_split_hands_back_only_what_was_not_delivered() {
    let emu = Emulator::builder().start().await.unwrap();
    emu.update_faults(|f| {
        f.limits = LimitOverrides {
            http_ingest_max_body: Some(1_500),
            ..LimitOverrides::default()
        };
        f.endpoints.insert(
            Endpoint::HttpIngest,
            FaultSet::latency(Duration::from_millis(1500)),
        );
    })
    .unwrap();
    let ingest = sender(&emu, |c| c.compression = None);
    // Two records of ~1 KB: together over the limit (413, split), each under it.
    let input = vec![
        format!("first {}", "a".repeat(1_000)),
        format!("second {}", "b".repeat(1_000)),
    ];
    let stop_after_first_half = async {
        // The first half is answered 200; a moment later the second is on the wire
        // (it waits 1.5 s there).
        let answered = || {
            emu.stats()
                .endpoints
                .get(&Endpoint::HttpIngest)
                .and_then(|e| e.by_status.get(&200).copied())
                .unwrap_or(0)
        };
        while answered() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        ingest.abort();
    };
    let (deliveries, ()) = tokio::join!(
        ship(&ingest, batches(&input, 100_000)),
        stop_after_first_half
    );
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].status,
        DeliveryStatus::NotDelivered(NotDelivered::Stopped(StopReason::Requested)),
        "{deliveries:?}"
    );
    let left = deliveries[0]
        .undelivered
        .as_ref()
        .expect("what is left comes back");
    assert_eq!(left.records(), 1);
    assert_eq!(left.raw().unwrap(), format!("{}\n", input[1]).into_bytes());
    assert_eq!(left.range().start.line, 2);
    assert_eq!(received_sorted(&emu), [input[0].clone()]);
    emu.shutdown().await;
}

#[tokio::test]
async fn payload_too_large_splits_until_it_fits_and_rejects_a_lone_giant() {
    let emu = Emulator::builder().start().await.unwrap();
    emu.update_faults(|f| {
        f.limits = LimitOverrides {
            http_ingest_max_body: Some(1_500),
            ..LimitOverrides::default()
        }
    })
    .unwrap();
    // gzip off so the limit applies to predictable sizes.
    let ingest = sender(&emu, |c| c.compression = None);
    let mut input = lines(200, 30);
    input[123] = format!("giant {}", "g".repeat(3_000));
    let deliveries = ship(&ingest, batches(&input, 12_000)).await;
    let rejected: Vec<_> = deliveries
        .iter()
        .flat_map(|d| match &d.status {
            DeliveryStatus::PartlyRejected(r) => r.clone(),
            DeliveryStatus::Delivered => Vec::new(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].records, 1);
    assert!(
        rejected[0].label.starts_with("test.log: line 124 "),
        "{}",
        rejected[0].label
    );
    assert!(
        rejected[0].reason.contains("single record of 3007 bytes"),
        "{}",
        rejected[0].reason
    );
    let mut expected = input.clone();
    expected.remove(123);
    assert_eq!(received_sorted(&emu), sorted(&expected));
    assert!(ingest.stats().splits >= 8, "{:?}", ingest.stats());
    assert!(deliveries.iter().all(|d| d.is_done()));
    emu.shutdown().await;
}

#[tokio::test]
async fn stop_abandons_requests_in_flight() {
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::latency(Duration::from_secs(5)),
    ))
    .await;
    let ingest = sender(&emu, |_| {});
    let stopper = ingest.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.abort();
    });
    let started = std::time::Instant::now();
    let deliveries = ship(&ingest, batches(&lines(10, 1), 1_000)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stop must not wait for the reply"
    );
    assert_eq!(
        deliveries[0].status,
        DeliveryStatus::NotDelivered(NotDelivered::Stopped(StopReason::Requested))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn close_lets_requests_on_the_wire_finish_and_starts_no_new_one() {
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::latency(Duration::from_millis(1500)),
    ))
    .await;
    // One request at a time: the first batch is on the wire when close() comes.
    let ingest = sender(&emu, |c| c.concurrency = 1);
    let closer = ingest.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        closer.close();
    });
    let input = lines(20, 1);
    let deliveries = ship(&ingest, batches(&input, 100)).await;
    // The batch on the wire was answered and reported; no other batch was taken.
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(
        deliveries[0].status,
        DeliveryStatus::Delivered,
        "{deliveries:?}"
    );
    assert!(deliveries[0].undelivered.is_none());
    assert_eq!(emu.stats().endpoints[&Endpoint::HttpIngest].requests, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn close_ends_shipping_while_the_input_is_idle() {
    let emu = emulator(Faults::none()).await;
    let ingest = sender(&emu, |_| {});
    let mut encoded = Vec::new();
    for b in batches(&lines(10, 1), 1_000) {
        encoded.push(ingest.encode(b).await);
    }
    // The input gives its batches, then waits forever (stdin left open).
    let input = futures_util::StreamExt::chain(
        futures_util::stream::iter(encoded),
        futures_util::stream::pending(),
    );
    let closer = ingest.clone();
    let (delivered_tx, mut delivered_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Close once the batch is reported: shipping is then waiting on the input.
        delivered_rx.recv().await;
        closer.close();
    });
    let mut deliveries = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        ingest.ship(input, |d| {
            let _ = delivered_tx.send(());
            deliveries.push(d);
        }),
    )
    .await
    .expect("ship returns after close even while the input is idle");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_batch_given_up_after_a_retry_after_reports_it() {
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(100, FaultStatus::Code(429)).with_retry_after(42),
    ))
    .await;
    let ingest = sender(&emu, |c| {
        c.retry.stop = logferry_retry::Stop::after_attempts(1)
    });
    let deliveries = ship(&ingest, batches(&lines(3, 1), 1_000)).await;
    assert!(
        matches!(
            deliveries[0].status,
            DeliveryStatus::NotDelivered(NotDelivered::GaveUp(_))
        ),
        "{deliveries:?}"
    );
    let wait = deliveries[0]
        .retry_after
        .expect("the endpoint's Retry-After");
    assert_eq!(wait, Duration::from_secs(42));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_stop_condition_gives_up_and_reports() {
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(100, FaultStatus::Code(503)),
    ))
    .await;
    let ingest = sender(&emu, |c| {
        c.retry.stop = logferry_retry::Stop::after_attempts(3)
    });
    let deliveries = ship(&ingest, batches(&lines(5, 1), 1_000)).await;
    let DeliveryStatus::NotDelivered(NotDelivered::GaveUp(why)) = &deliveries[0].status else {
        panic!("{deliveries:?}");
    };
    assert!(why.contains("3 attempts"), "{why}");
    assert_eq!(deliveries[0].requests, 3);
    assert_eq!(deliveries[0].retry_after, None, "503s without Retry-After");
    let kept = deliveries[0]
        .undelivered
        .as_ref()
        .expect("the batch comes back");
    assert_eq!(
        kept.raw().unwrap(),
        b"line 0 x\nline 1 x\nline 2 x\nline 3 x\nline 4 x\n"
    );
    assert!(received_sorted(&emu).is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_certificate_stops_at_once_saying_what_to_check() {
    let emu = emulator(Faults::none()).await;
    let mut config = IngestConfig::new(
        emu.http_ingest_url().parse().unwrap(),
        Secret::new(emu.http_ingest_key()),
    );
    config.retry = fast_retry();
    // The webpki roots only: the emulator's generated CA is not among them.
    let untrusting = Client::new(ClientConfig::default()).unwrap();
    let ingest = Ingest::new(untrusting, config).unwrap();
    // Without the stop rule this retries for as long as the policy allows (forever by
    // default): the timeout fails the test.
    let deliveries = tokio::time::timeout(
        Duration::from_secs(5),
        ship(&ingest, batches(&lines(200, 10), 500)),
    )
    .await
    .expect("stops at once, not after retries");
    let Some(StopReason::UntrustedCertificate { message }) = ingest.stopped() else {
        panic!("the sender must stop: {:?}", ingest.stopped());
    };
    assert!(message.contains("certificate"), "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("--ca-file"), "what to check: {message}");
    assert_eq!(ingest.stats().retries, 0);
    assert!(deliveries.iter().all(|d| matches!(
        &d.status,
        DeliveryStatus::NotDelivered(NotDelivered::Stopped(
            StopReason::UntrustedCertificate { .. }
        ))
    )));
    assert!(emu.records().is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn a_refused_connection_keeps_retrying_with_a_warning_naming_the_cause() {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }
    let captured = Captured::default();
    // The default verbosity: warnings and errors only.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = IngestConfig::new(
        format!("http://127.0.0.1:{port}/http-endpoint/v1/x")
            .parse()
            .unwrap(),
        Secret::new("key"),
    );
    config.retry = fast_retry();
    config.retry.stop.max_attempts = Some(3);
    let ingest = Ingest::new(Client::new(ClientConfig::default()).unwrap(), config).unwrap();
    let deliveries = ship(&ingest, batches(&lines(3, 1), 1_000)).await;
    assert!(matches!(
        &deliveries[0].status,
        DeliveryStatus::NotDelivered(NotDelivered::GaveUp(_))
    ));
    assert_eq!(
        deliveries[0].requests, 3,
        "retried until the stop condition"
    );
    assert!(
        ingest.stopped().is_none(),
        "a refused connection does not stop"
    );
    let stats = ingest.stats();
    assert_eq!(
        (stats.request_failures, stats.requests_by_status.len()),
        (3, 0),
        "three attempts without an answer"
    );
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings >= 3, "one warning per failed attempt:\n{log}");
    assert!(log.contains("will retry"), "{log}");
    assert!(
        log.to_lowercase().contains("connection refused"),
        "the cause: {log}"
    );
}

/// HTTP Ingest 429: "SHOULD be retried with backoff and reduced concurrency or batch
/// size". Against a server that refuses a third concurrent request, an adaptive sender
/// is refused far less often than one that keeps 8 in flight, and both deliver it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_concurrency_backs_off_under_429() {
    let input = lines(1_200, 40);
    let mut shares = Vec::new();
    for adaptive in [false, true] {
        let emu = Emulator::builder()
            .http_ingest_max_in_flight(2)
            .faults(Faults::none().with_endpoint(
                Endpoint::HttpIngest,
                FaultSet::latency(Duration::from_millis(20)),
            ))
            .start()
            .await
            .unwrap();
        let ingest = sender(&emu, |c| {
            c.concurrency = 8;
            c.adaptive_concurrency = adaptive;
            c.budget.min_retries_per_sec = 10_000;
        });
        let deliveries = ship(&ingest, batches(&input, 1_000)).await;
        assert!(
            deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Delivered)
        );
        assert_eq!(received_sorted(&emu), sorted(&input), "every record, once");
        let stats = emu.stats();
        let refused = stats.status_count(Endpoint::HttpIngest, 429);
        let total = stats.endpoints[&Endpoint::HttpIngest].requests;
        let share = refused as f64 / total as f64;
        let sent = ingest.stats();
        eprintln!(
            "adaptive={adaptive}: {refused} of {total} requests refused with 429 ({:.0}%), \
             limit now {}, {} slow-down signals",
            share * 100.0,
            sent.concurrency_limit,
            sent.throttled
        );
        assert_eq!(sent.throttled, refused);
        if adaptive {
            assert!(sent.concurrency_limit < 8, "{sent:?}");
        } else {
            assert_eq!(sent.concurrency_limit, 8);
        }
        shares.push(share);
        emu.shutdown().await;
    }
    let (fixed, adaptive) = (shares[0], shares[1]);
    assert!(
        fixed > 0.3,
        "8 in flight against 2 places must be refused often: {fixed}"
    );
    assert!(
        adaptive < fixed / 2.0,
        "adaptive {adaptive:.2} must be clearly below fixed {fixed:.2}"
    );
}

/// "Clients SHOULD tune senders for steady, evenly distributed traffic and avoid bursts":
/// with a rate cap under the server's byte rate, nothing is refused; without one, the
/// same input is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_cap_keeps_under_the_servers_byte_rate() {
    let input = lines(3_000, 40);
    let server_rate = 40_000;
    let mut refused = Vec::new();
    for cap in [None, std::num::NonZeroU64::new(server_rate / 2)] {
        let emu = Emulator::builder()
            .http_ingest_bytes_per_sec(server_rate)
            .start()
            .await
            .unwrap();
        let ingest = sender(&emu, |c| {
            c.compression = None;
            c.rate = cap;
            c.budget.min_retries_per_sec = 10_000;
            c.retry.cap = Duration::from_millis(200);
        });
        let started = Instant::now();
        let deliveries = ship(&ingest, batches(&input, 4_000)).await;
        assert!(
            deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Delivered)
        );
        assert_eq!(received_sorted(&emu), sorted(&input));
        let n = emu.stats().status_count(Endpoint::HttpIngest, 429);
        eprintln!(
            "rate cap {cap:?}: {n} requests refused with 429, {:?}",
            started.elapsed()
        );
        if let Some(cap) = cap {
            let bytes = ingest.stats().wire_bytes as f64;
            assert!(
                started.elapsed().as_secs_f64() >= bytes / cap.get() as f64 * 0.8,
                "paced to the cap"
            );
        }
        refused.push(n);
        emu.shutdown().await;
    }
    assert!(
        refused[0] > 0,
        "an uncapped sender bursts past the server's rate"
    );
    assert_eq!(refused[1], 0, "a capped sender stays under it");
}

/// Per-status counts (for `/metrics`) against the emulator's own: retried faults, a 413
/// split and a 400 refusal, every answer counted once under its code.
#[tokio::test]
async fn requests_by_status_match_what_the_emulator_answered() {
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_rate(
            0.3,
            vec![
                FaultStatus::Code(503),
                FaultStatus::Code(429),
                FaultStatus::Code(500),
            ],
        ),
    ))
    .await;
    emu.update_faults(|f| {
        f.limits = LimitOverrides {
            http_ingest_max_body: Some(3_000),
            ..LimitOverrides::default()
        }
    })
    .unwrap();
    // gzip off so the limit applies to predictable sizes.
    let ingest = sender(&emu, |c| {
        c.budget.min_retries_per_sec = 1000;
        c.compression = None;
    });
    let deliveries = ship(&ingest, batches(&lines(400, 30), 5_000)).await;
    assert!(deliveries.iter().all(|d| d.is_done()));
    let stats = ingest.stats();
    let seen = &emu.stats().endpoints[&Endpoint::HttpIngest];
    assert_eq!(stats.requests_by_status, seen.by_status);
    for code in [200, 413] {
        assert!(stats.requests_by_status.contains_key(&code), "{stats:?}");
    }
    assert!(stats.retries > 0, "{stats:?}");
    let answered: u64 = stats.requests_by_status.values().sum();
    assert_eq!(answered + stats.request_failures, stats.requests);
    assert_eq!((stats.request_failures, stats.in_flight), (0, 0));
    emu.shutdown().await;
}
