//! Happy paths: every record arrives once, in every encoding, scheme and content type;
//! acknowledgements advance in source order; several integrations from one process.

use crate::*;
use logferry_emulator::{Endpoint, FaultSet, FaultStatus};
use logferry_framing::AckTracker;
use logferry_taegis_ingest::{AuthScheme, ContentType, DeliveryStatus};

#[tokio::test]
async fn every_record_arrives_once_gzip_bearer() {
    let emu = emulator(Faults::none()).await;
    let ingest = sender(&emu, |_| {});
    let input = lines(2000, 40);
    let deliveries = ship(&ingest, batches(&input, 8_000)).await;
    assert!(deliveries.len() > 5);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
    );
    assert_eq!(received_sorted(&emu), sorted(&input));
    let stats = ingest.stats();
    assert_eq!(stats.records_delivered, 2000);
    assert_eq!(stats.retries, 0);
    assert!(
        stats.wire_bytes * 3 < stats.raw_bytes,
        "gzip must shrink the bodies: {stats:?}"
    );
    let emu_stats = emu.stats();
    assert_eq!(
        emu_stats.status_count(Endpoint::HttpIngest, 200),
        deliveries.len() as u64
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn identity_splunk_and_json_bodies() {
    let emu = emulator(Faults::none()).await;
    let ingest = sender(&emu, |c| {
        c.compression = None;
        c.auth = AuthScheme::Splunk;
        c.content_type = ContentType::Json;
    });
    let input: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"n":{i},"msg":"event {i}"}}"#))
        .collect();
    let deliveries = ship(&ingest, batches(&input, 2_000)).await;
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
    );
    assert_eq!(received_sorted(&emu), sorted(&input));
    assert_eq!(ingest.stats().wire_bytes, ingest.stats().raw_bytes);
    emu.shutdown().await;
}

#[tokio::test]
async fn checkpoint_advances_only_over_a_delivered_prefix() {
    // One request fails once, so its batch finishes after batches sent beside it.
    let emu = emulator(Faults::none().with_endpoint(
        Endpoint::HttpIngest,
        FaultSet::fail_first(1, FaultStatus::Code(503)),
    ))
    .await;
    let ingest = sender(&emu, |c| {
        c.concurrency = 4;
        c.retry.base = Duration::from_millis(200);
        c.retry.cap = Duration::from_millis(400);
    });
    let input = lines(400, 20);
    let all = batches(&input, 2_000);
    let ends: Vec<u64> = all.iter().map(|b| b.range().end).collect();
    let mut acks = AckTracker::new(0, 0);
    let mut delivered = vec![false; ends.len()];
    let mut order = Vec::new();
    let mut last_checkpoint = 0;
    let mut encoded = Vec::new();
    for b in all {
        encoded.push(ingest.encode(b).await);
    }
    ingest
        .ship(futures_util::stream::iter(encoded), |d| {
            assert!(d.is_done());
            order.push(d.seq);
            delivered[d.seq as usize] = true;
            let prefix = delivered.iter().take_while(|x| **x).count();
            match acks.ack(d.seq, d.range.end) {
                Some(c) => {
                    assert_eq!(
                        c,
                        ends[prefix - 1],
                        "checkpoint must be the end of the delivered prefix"
                    );
                    last_checkpoint = c;
                }
                None => assert_eq!(
                    last_checkpoint,
                    if prefix == 0 { 0 } else { ends[prefix - 1] },
                    "the checkpoint must not move past an undelivered batch"
                ),
            }
        })
        .await;
    let mut sorted_order = order.clone();
    sorted_order.sort();
    assert_ne!(
        order, sorted_order,
        "the retried batch must have finished out of order"
    );
    assert_eq!(last_checkpoint, *ends.last().unwrap());
    assert_eq!(received_sorted(&emu), sorted(&input));
    emu.shutdown().await;
}

#[tokio::test]
async fn several_integrations_from_one_process() {
    let emu = emulator(Faults::none()).await;
    let second_key = emu.add_integration("second");
    let client = client(&emu);
    let mut configs = Vec::new();
    for (url, key) in [
        (emu.http_ingest_url(), emu.http_ingest_key().to_owned()),
        (emu.http_ingest_url_for("second"), second_key),
    ] {
        let mut c = IngestConfig::new(url.parse().unwrap(), Secret::new(key));
        c.retry = fast_retry();
        configs.push(c);
    }
    let a = Ingest::new(client.clone(), configs.remove(0)).unwrap();
    let b = Ingest::new(client, configs.remove(0)).unwrap();
    let (left, right) = (
        lines(100, 5),
        (0..50).map(|i| format!("other {i}")).collect::<Vec<_>>(),
    );
    let (da, db) = tokio::join!(
        ship(&a, batches(&left, 500)),
        ship(&b, batches(&right, 500))
    );
    assert!(da.iter().chain(&db).all(|d| d.is_done()));
    let records = emu.records();
    let for_source = |id: &str| {
        let mut v: Vec<String> = records
            .iter()
            .filter(|r| r.source == id)
            .map(|r| r.text.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(for_source("second"), sorted(&right));
    assert_eq!(records.len(), 150);
    emu.shutdown().await;
}
