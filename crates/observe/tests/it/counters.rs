//! Counters never go down: across a route restart, a handle given older totals, and
//! what removal does.

use crate::support::{sample, value};
use logferry_observe::{Observe, SinkSnapshot};

const RAW: &str = r#"logferry_sink_delivered_raw_bytes_total{sink="s",source="a"}"#;
const OK: &str = r#"logferry_sink_requests_total{sink="s",source="a",code="200"}"#;
const READ: &str = r#"logferry_source_records_read_total{sink="s",source="a"}"#;

fn snapshot(raw: u64, ok: u64) -> SinkSnapshot {
    SinkSnapshot {
        bytes_raw: raw,
        requests_by_status: [(200, ok)].into(),
        ..Default::default()
    }
}

fn scrape(observe: &Observe) -> String {
    String::from_utf8(observe.scrape().to_vec()).unwrap()
}

#[test]
fn a_restarted_route_continues_its_counters() {
    let observe = Observe::new("0");
    let first = observe.route("s", "a");
    first.read(4, 40);
    first.set_sink_stats(&snapshot(100, 5));
    first.set_sink_stats(&snapshot(150, 6));
    let text = scrape(&observe);
    assert_eq!((value(&text, RAW), value(&text, OK)), (150.0, 6.0));

    // The route restarts: a new sink counts from zero again.
    let second = observe.route("s", "a");
    second.read(1, 10);
    second.set_sink_stats(&snapshot(30, 2));
    let text = scrape(&observe);
    assert_eq!(value(&text, RAW), 180.0);
    assert_eq!(value(&text, OK), 8.0);
    assert_eq!(value(&text, READ), 5.0);

    // Totals that went back on one handle count as a new sink's, never as a decrease.
    second.set_sink_stats(&snapshot(10, 1));
    let text = scrape(&observe);
    assert_eq!((value(&text, RAW), value(&text, OK)), (190.0, 9.0));
}

#[test]
fn the_same_totals_twice_add_nothing() {
    let observe = Observe::new("0");
    let route = observe.route("s", "a");
    for _ in 0..3 {
        route.set_sink_stats(&snapshot(100, 5));
    }
    let text = scrape(&observe);
    assert_eq!((value(&text, RAW), value(&text, OK)), (100.0, 5.0));
}

#[test]
fn a_removed_route_disappears_and_its_old_handle_changes_nothing() {
    let observe = Observe::new("0");
    let route = observe.route("s", "a");
    route.read(1, 1);
    route.file_lag("/f", 9);
    route.set_sink_stats(&SinkSnapshot {
        concurrency_limit: Some(2),
        ..snapshot(1, 1)
    });
    let other = observe.route("s", "b");
    other.read(1, 1);
    assert!(observe.remove("s", "a"));
    assert!(!observe.remove("s", "a"));
    route.set_sink_stats(&snapshot(5, 5));
    route.file_lag("/f", 10);
    let text = scrape(&observe);
    assert!(!text.contains(r#"source="a""#), "{text}");
    assert_eq!(
        value(
            &text,
            r#"logferry_source_records_read_total{sink="s",source="b"}"#
        ),
        1.0
    );
    // Added again later, it starts from zero (a new series as far as Prometheus knows).
    observe.route("s", "a").read(2, 2);
    let text = scrape(&observe);
    assert_eq!(value(&text, READ), 2.0);
    assert_eq!(sample(&text, RAW), Some(0.0));
}

#[test]
fn files_no_longer_followed_are_dropped() {
    let observe = Observe::new("0");
    let route = observe.route("s", "a");
    for f in ["/a", "/b", "/c"] {
        route.file_lag(f, 1);
    }
    route.file_lag("/a", 50);
    route.retain_files(|p| p != std::path::Path::new("/b"));
    route.forget_file("/c");
    let text = scrape(&observe);
    let lag = |f: &str| {
        sample(
            &text,
            &format!(r#"logferry_file_lag_bytes{{sink="s",source="a",file="{f}"}}"#),
        )
    };
    assert_eq!((lag("/a"), lag("/b"), lag("/c")), (Some(50.0), None, None));
}

#[test]
fn a_limit_no_longer_reported_disappears() {
    let observe = Observe::new("0");
    let route = observe.route("s", "a");
    let limit = r#"logferry_sink_concurrency_limit{sink="s",source="a"}"#;
    route.set_sink_stats(&SinkSnapshot {
        concurrency_limit: Some(3),
        ..Default::default()
    });
    assert_eq!(sample(&scrape(&observe), limit), Some(3.0));
    route.set_sink_stats(&SinkSnapshot::default());
    assert_eq!(sample(&scrape(&observe), limit), None);
}
