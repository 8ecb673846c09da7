//! Inputs with independent clocks: each keeps its own times, and every session's times
//! still increase (seed: "you can ensure chronological order by incrementing the value by
//! 1 for each event in the session, or by ordering the events in a batch").

use crate::support::{T0, client, config, emulator};
use logferry_emulator::ViolationKind;
use logferry_sdl::{Record, SdlSender, Sessions};
use logferry_sdl_model::{Attrs, Event, ORIGINAL_TS, Timestamp};
use std::time::Duration;

const TWENTY_MINUTES: u64 = 20 * 60 * 1_000_000_000;

/// Event `i` of host `host` at `base + i` ms.
fn host_event(host: &str, base: u64, i: u64) -> Record {
    let ts = base + i * 1_000_000;
    let event = Event::new(
        Timestamp::from_nanos(ts),
        Attrs::new()
            .with(
                "message",
                format!("{host} event {i} with some text to weigh"),
            )
            .with("host", host)
            .with("want", ts.to_string()),
    );
    Record::new(event).from_source(format!("/var/log/{host}.log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_clocks_20_minutes_apart_keep_their_own_times() {
    let emu = emulator().await;
    let mut c = config(&emu);
    c.sessions = Sessions::Auto { min: 1, max: 8 };
    c.max_body_bytes = 4_000;
    let (sender, _reports) = SdlSender::start_with_reports(client(&emu), c).expect("starts");
    // Host a's file, then host b's (its clock 20 minutes behind), then both interleaved.
    for i in 0..200 {
        sender
            .send_record(host_event("a", T0 + TWENTY_MINUTES, i))
            .await
            .expect("queued");
    }
    for i in 0..200 {
        sender
            .send_record(host_event("b", T0, i))
            .await
            .expect("queued");
    }
    for i in 200..400 {
        let both = vec![
            host_event("a", T0 + TWENTY_MINUTES, i),
            host_event("b", T0, i),
        ];
        sender.send_many(both).await.expect("queued");
    }
    sender.flush().await.expect("flushed");
    let report = sender.shutdown(Duration::from_secs(10)).await;
    assert!(report.unsent.is_empty() && report.stopped.is_none());
    assert_eq!(report.stats.events_delivered, 800);
    assert_eq!(report.stats.events_ts_moved, 0);

    let records = emu.records();
    assert_eq!(records.len(), 800);
    for r in &records {
        let sdl = r.sdl.as_ref().expect("an SDL record");
        let want = sdl.attrs["want"].as_str().expect("the time it was given");
        assert_eq!(sdl.ts.as_deref(), Some(want), "{}", r.text);
        assert!(sdl.attrs.get(ORIGINAL_TS).is_none());
    }
    let stats = emu.stats();
    assert_eq!(stats.violation_count(ViolationKind::TsNotIncreasing), 0);
    assert_eq!(
        stats.violation_count(ViolationKind::ConcurrentSessionRequest),
        0
    );
    assert!(stats.sdl_sessions.len() >= 2, "a session per host");
    emu.shutdown().await;
}
