//! The exposition: what a scrape over HTTP shows after driving routes, checked by
//! promtool, against the documented list of families.

use crate::support::{get, promtool_check, sample, server, value};
use logferry_observe::{CONTENT_TYPE, FAMILIES, Observe, SinkSnapshot, State};
use std::time::Duration;

/// Three routes driven through every counter and gauge, one file path that needs
/// escaping.
fn driven() -> std::sync::Arc<Observe> {
    let observe = Observe::new("1.2.3");
    let a = observe.route("taegis", "syslog");
    a.read(10, 1_000);
    a.read(5, 500);
    a.invalid(1);
    a.delivered(12);
    a.refused(2);
    a.dead_lettered(3);
    a.set_sink_stats(&SinkSnapshot {
        bytes_raw: 1_400,
        bytes_wire: 300,
        requests_by_status: [(200, 4), (413, 1), (429, 2)].into(),
        request_failures: 1,
        retries: 3,
        in_flight: 2,
        concurrency_limit: Some(8),
        spool_bytes: 4_096,
        spool_entries: 2,
        oldest_undelivered: Some(Duration::from_millis(1_500)),
    });
    a.file_lag("/var/log/app.log", 123);
    a.source_dropped("oversized", 4);
    a.source_dropped("kernel", 0);
    a.source_dropped("oversized", 6);
    a.file_lag(r#"/var/log/we"ird\name.log"#, 7);
    let b = observe.route("sdl", "syslog");
    b.read(3, 30);
    b.set_sink_stats(&SinkSnapshot {
        requests_by_status: [(200, 1)].into(),
        ..Default::default()
    });
    let c = observe.route("taegis", "journal");
    c.set_state(State::Stopped {
        reason: "401 Unauthorized".into(),
    });
    observe
}

#[tokio::test]
async fn a_scrape_over_http_shows_what_the_routes_counted() {
    let observe = driven();
    let server = server(&observe).await;
    let reply = get(server.local_addr(), "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, CONTENT_TYPE);
    let text = &reply.body;
    let ts = r#"{sink="taegis",source="syslog"}"#;
    let checks: &[(&str, f64)] = &[
        ("logferry_source_records_read_total", 15.0),
        ("logferry_source_read_bytes_total", 1_500.0),
        ("logferry_source_records_invalid_total", 1.0),
        ("logferry_sink_records_delivered_total", 12.0),
        ("logferry_sink_records_refused_total", 2.0),
        ("logferry_sink_records_dead_lettered_total", 3.0),
        ("logferry_sink_delivered_raw_bytes_total", 1_400.0),
        ("logferry_sink_delivered_wire_bytes_total", 300.0),
        ("logferry_sink_request_failures_total", 1.0),
        ("logferry_sink_retries_total", 3.0),
        ("logferry_sink_requests_in_flight", 2.0),
        ("logferry_sink_concurrency_limit", 8.0),
        ("logferry_spool_bytes", 4_096.0),
        ("logferry_spool_entries", 2.0),
        ("logferry_sink_oldest_undelivered_age_seconds", 1.5),
        ("logferry_route_ready", 1.0),
    ];
    for (name, expected) in checks {
        assert_eq!(value(text, &format!("{name}{ts}")), *expected, "{name}");
    }
    for (code, n) in [(200, 4.0), (413, 1.0), (429, 2.0)] {
        let series = format!(
            r#"logferry_sink_requests_total{{sink="taegis",source="syslog",code="{code}"}}"#
        );
        assert_eq!(value(text, &series), n);
    }
    assert_eq!(
        value(
            text,
            r#"logferry_sink_requests_total{sink="sdl",source="syslog",code="200"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            text,
            r#"logferry_file_lag_bytes{sink="taegis",source="syslog",file="/var/log/app.log"}"#
        ),
        123.0
    );
    assert_eq!(
        value(
            text,
            r#"logferry_file_lag_bytes{sink="taegis",source="syslog",file="/var/log/we\"ird\\name.log"}"#
        ),
        7.0
    );
    assert_eq!(value(text, r#"logferry_build_info{version="1.2.3"}"#), 1.0);
    let start = value(text, "logferry_start_time_seconds");
    assert!(start > 1.7e9, "start time {start}");
    // The stopped route is not ready; the SDL route (no limit reported) has no limit series.
    assert_eq!(
        value(
            text,
            r#"logferry_route_ready{sink="taegis",source="journal"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(
            text,
            r#"logferry_sink_concurrency_limit{sink="sdl",source="syslog"}"#
        ),
        None
    );
    assert_eq!(
        sample(
            text,
            r#"logferry_source_dropped_total{sink="taegis",source="syslog",reason="oversized"}"#
        ),
        Some(6.0)
    );
    assert_eq!(
        sample(
            text,
            r#"logferry_source_dropped_total{sink="taegis",source="syslog",reason="kernel"}"#
        ),
        None,
        "no series for a reason nothing was dropped for"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn every_family_has_help_and_type_and_promtool_accepts_the_exposition() {
    let observe = driven();
    let server = server(&observe).await;
    let text = get(server.local_addr(), "/metrics").await.body;
    for family in FAMILIES {
        let help = format!("# HELP {} {}.\n", family.name, family.help);
        assert!(text.contains(&help), "missing {help:?} in:\n{text}");
        let kind = format!("# TYPE {} {}\n", family.name, family.kind);
        assert!(text.contains(&kind), "missing {kind:?}");
        assert!(family.name.starts_with("logferry_"), "{}", family.name);
        assert_eq!(family.kind == "counter", family.name.ends_with("_total"));
    }
    let families = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(
        families,
        FAMILIES.len(),
        "a family not in FAMILIES:\n{text}"
    );
    if let Err(problems) = promtool_check(&text) {
        panic!("promtool check metrics refused the exposition:\n{problems}\n---\n{text}");
    }
    server.shutdown().await;
}

#[test]
fn promtool_refuses_a_broken_exposition() {
    // The check above means something only if promtool does find problems.
    let broken = "# HELP logferry_x A counter.\n# TYPE logferry_x counter\nlogferry_x{a=\"1} 1\n";
    assert!(promtool_check(broken).is_err());
}

#[test]
fn the_crate_docs_list_every_family_with_its_help() {
    let docs = include_str!("../../src/lib.rs");
    for family in FAMILIES {
        let labels: Vec<String> = family.labels.iter().map(|l| format!("`{l}` ")).collect();
        let row = format!(
            "//! | `{}` | {} | {}| {} |",
            family.name,
            family.kind,
            labels.join(", ").replace("` , ", "`, "),
            family.help
        );
        assert!(docs.contains(&row), "the crate docs lack the row\n{row}");
    }
    let rows = docs
        .lines()
        .filter(|l| l.starts_with("//! | `logferry_"))
        .count();
    assert_eq!(rows, FAMILIES.len());
}

#[test]
fn a_scrape_of_a_thousand_routes_with_files_stays_small_and_quick() {
    // A sanity bound, not a benchmark: the bench in benches/ measures this in release.
    let observe = Observe::new("0");
    for i in 0..1_000 {
        let route = observe.route("taegis", &format!("source-{i}"));
        route.read(1, 100);
        route.file_lag(format!("/var/log/app/{i}.log"), 10);
        route.set_sink_stats(&SinkSnapshot {
            requests_by_status: [(200, 1)].into(),
            concurrency_limit: Some(4),
            ..Default::default()
        });
    }
    let started = std::time::Instant::now();
    let text = observe.scrape();
    let took = started.elapsed();
    assert!(text.len() > 1_000 * 18 * 40, "{} bytes", text.len());
    // Debug builds of this crate are slower; the bound is generous.
    assert!(took < Duration::from_millis(500), "scrape took {took:?}");
}
