//! Snapshots of request bodies and error messages. Session ids are redacted; times are
//! synthetic (not clocks) so the strictly-increasing adjustment stays visible.

use crate::{build, check_round_trip};
use logferry_sdl_model::{
    AttrValue, Attrs, Config, Dedupe, Event, Log, ORIGINAL_TS, Oversize, RequestBuilder, Session,
    SessionHeader, SessionInfo, Severity, Thread, Timestamp, Timestamps, parse_request,
    parse_request_serde_json, parse_response,
};

const T0: u64 = 1_667_443_947_000_000_000;

/// The body with one event per line, for review.
fn view(body: &[u8]) -> String {
    std::str::from_utf8(body)
        .expect("bodies are UTF-8")
        .replace("\"events\":[{", "\"events\":[\n  {")
        .replace("},{\"ts\"", "},\n  {\"ts\"")
        .replace("],\"logs\":[", "],\n\"logs\":[\n  ")
}

fn header() -> SessionHeader {
    SessionHeader::new(Session::new("6f1c2d3e-0000-4000-8000-000000000001").expect("valid"))
}

macro_rules! snapshot {
    ($value:expr) => {
        insta::with_settings!({filters => vec![
            (r#""session":"[^"]*""#, r#""session":"[session]""#),
        ]}, {
            insta::assert_snapshot!($value);
        })
    };
}

#[test]
fn seed_example_event() {
    let header = header()
        .with_info(SessionInfo(
            Attrs::new()
                .with("serverType", "frontend")
                .with("serverId", "prod-front-2"),
        ))
        .with_thread(Thread::new("1", "request handler thread"))
        .with_thread(Thread::new("2", "background thread"));
    let attrs = Attrs::new()
        .with("message", "record retrieved")
        .with("recordId", 39217)
        .with("latency", 19.4)
        .with("length", 39207);
    let event = Event::new(Timestamp::from_nanos(T0), attrs)
        .with_thread("1")
        .with_sev(Severity::Info);
    let out = build(header, Config::default(), vec![(None, event)]);
    assert_eq!(out.requests.len(), 1);
    check_round_trip(&out.requests[0]);
    assert_eq!(out.requests[0].bytes_charged(), 44);
    snapshot!(view(out.requests[0].body()));
}

#[test]
fn severities_escapes_and_numbers() {
    let events = [
        (
            Severity::Finest,
            Attrs::new().with("message", "sev 0 is written too"),
        ),
        (
            Severity::Fatal,
            Attrs::new()
                .with(
                    "message",
                    "quote \" backslash \\ newline \n tab \t nul \u{0} é 日本 😀",
                )
                .with("big", u64::MAX)
                .with("neg", -42)
                .with("float", 3.0)
                .with("tiny", 1e-300)
                .with("nan", f64::NAN)
                .with("ok", true)
                .with("none", logferry_sdl_model::AttrValue::Null),
        ),
    ];
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, (sev, attrs))| {
            (
                None,
                Event::new(Timestamp::from_nanos(T0 + i as u64), attrs).with_sev(sev),
            )
        })
        .collect();
    let out = build(header(), Config::default(), events);
    check_round_trip(&out.requests[0]);
    snapshot!(view(out.requests[0].body()));
}

#[test]
fn times_sorted_and_bumped_across_requests() {
    // Ties, a regression, and a second request that starts before the first one ended.
    let times = [T0 + 10, T0 + 10, T0 + 5, T0 + 11, T0 + 10];
    let later = [T0 + 3, T0 + 100];
    let mut builder = RequestBuilder::new(header(), Config::default()).expect("valid");
    for (i, t) in times.iter().enumerate() {
        assert!(
            builder
                .push(Event::message(Timestamp::from_nanos(*t), format!("a{i}")))
                .expect("fits")
                .is_none()
        );
    }
    let first = builder.finish().expect("pending");
    for (i, t) in later.iter().enumerate() {
        assert!(
            builder
                .push(Event::message(Timestamp::from_nanos(*t), format!("b{i}")))
                .expect("fits")
                .is_none()
        );
    }
    let second = builder.finish().expect("pending");
    assert_eq!(builder.stats().ts_adjusted, 4);
    // b0 is older than the first request's last event: moved past it, its own time kept.
    assert_eq!((builder.stats().ts_moved, second.ts_moved()), (1, 1));
    assert_eq!(
        second.events()[0].attrs.get(ORIGINAL_TS),
        Some(&AttrValue::from((T0 + 3).to_string()))
    );
    assert_eq!(first.ts_moved(), 0);
    let ts: Vec<u64> = first
        .events()
        .iter()
        .chain(second.events())
        .map(|e| e.ts.as_nanos() - T0)
        .collect();
    assert_eq!(ts, [5, 10, 11, 12, 13, 14, 100]);
    snapshot!(format!("{}\n\n{}", view(first.body()), view(second.body())));

    // And as given when asked.
    let config = Config {
        timestamps: Timestamps::AsGiven,
        ..Config::default()
    };
    let events = times
        .iter()
        .map(|t| (None, Event::message(Timestamp::from_nanos(*t), "x")))
        .collect();
    let out = build(header(), config, events);
    let ts: Vec<u64> = out.requests[0]
        .events()
        .iter()
        .map(|e| e.ts.as_nanos() - T0)
        .collect();
    assert_eq!(ts, [10, 10, 5, 11, 10]);
}

fn pod_event(t: u64, pod: &str, message: &str) -> Event {
    let attrs = Attrs::new()
        .with("message", message)
        .with("stream", "stdout")
        .with("k8s.namespace", "payments")
        .with("k8s.pod", pod)
        .with("k8s.container", "api")
        .with("k8s.node", "node-7");
    Event::new(Timestamp::from_nanos(t), attrs)
}

#[test]
fn logs_dedupe_per_source() {
    let header = header().with_log(Log::new("app", Attrs::new().with("app", "checkout")));
    let events = vec![
        (
            Some("payments/api-1".to_owned()),
            pod_event(T0, "api-1", "GET /pay 200"),
        ),
        (
            Some("payments/api-2".to_owned()),
            pod_event(T0 + 1, "api-2", "GET /pay 500"),
        ),
        (
            Some("payments/api-1".to_owned()),
            pod_event(T0 + 2, "api-1", "POST /refund 201"),
        ),
        (Some("payments/api-1".to_owned()), {
            let mut e = pod_event(T0 + 3, "api-1", "GET /pay 200");
            e.attrs.insert("stream", "stderr");
            e
        }),
        (
            None,
            Event::message(Timestamp::from_nanos(T0 + 4), "no source").with_log("app"),
        ),
        (
            Some("payments/api-2".to_owned()),
            pod_event(T0 + 5, "api-2", "GET /pay 200"),
        ),
    ];
    let out = build(header.clone(), Config::default(), events.clone());
    let ready = &out.requests[0];
    check_round_trip(ready);
    assert!(ready.body().len() < ready.inline_len());
    snapshot!(format!(
        "{} bytes, {} without dedupe\n{}",
        ready.body().len(),
        ready.inline_len(),
        view(ready.body())
    ));
    let off = build(
        header,
        Config {
            dedupe: Dedupe::Off,
            ..Config::default()
        },
        events,
    );
    assert_eq!(off.requests[0].body().len(), ready.inline_len());
    assert_eq!(off.requests[0].inline_len(), ready.inline_len());
    check_round_trip(&off.requests[0]);
}

#[test]
fn oversized_event_truncated_or_rejected() {
    let config = Config {
        max_body_bytes: 1_000,
        ..Config::default()
    };
    let long = format!("{}{}", "é\"".repeat(300), "tail");
    let events = vec![
        (
            None,
            Event::message(Timestamp::from_nanos(T0), "small before"),
        ),
        (
            None,
            Event::message(Timestamp::from_nanos(T0 + 1), long.clone()).with_sev(Severity::Error),
        ),
        (
            None,
            Event::new(
                Timestamp::from_nanos(T0 + 2),
                Attrs::new().with("blob", "x".repeat(2_000)),
            ),
        ),
    ];
    let out = build(header(), config.clone(), events.clone());
    assert_eq!(out.rejected.len(), 1);
    assert!(out.rejected[0].attrs.get("blob").is_some());
    assert_eq!(out.requests.len(), 2);
    let truncated = &out.requests[1];
    assert_eq!(truncated.truncated(), 1);
    assert!(
        (990..=1_000).contains(&truncated.body().len()),
        "cut to fit, closely"
    );
    check_round_trip(truncated);
    assert!(truncated.split().is_none(), "one event can't be split");
    snapshot!(view(truncated.body()));

    let reject = Config {
        oversize: Oversize::Reject,
        ..config
    };
    let out = build(header(), reject, events);
    assert_eq!(out.rejected.len(), 2);
    assert_eq!(
        out.rejected[0]
            .attrs
            .get("message")
            .and_then(|m| m.as_str()),
        Some(long.as_str())
    );
    assert_eq!(out.requests.len(), 1);
}

#[test]
fn error_messages() {
    let mut lines = Vec::new();
    let mut builder = RequestBuilder::new(
        header(),
        Config {
            max_body_bytes: 500,
            oversize: Oversize::Reject,
            ..Config::default()
        },
    )
    .expect("valid");
    lines.push(
        builder
            .push(Event::message(Timestamp::EPOCH, "x".repeat(600)))
            .expect_err("too large")
            .to_string(),
    );
    lines.push(
        builder
            .push(Event::message(Timestamp::EPOCH, "x").with_log("nope"))
            .expect_err("unknown log")
            .to_string(),
    );
    lines.push(
        RequestBuilder::new(
            header(),
            Config {
                max_body_bytes: 7_000_000,
                ..Config::default()
            },
        )
        .expect_err("too big")
        .to_string(),
    );
    lines.push(
        RequestBuilder::new(
            header(),
            Config {
                max_body_bytes: 100,
                ..Config::default()
            },
        )
        .expect_err("too small")
        .to_string(),
    );
    lines.push(
        RequestBuilder::new(
            header()
                .with_log(Log::new("1", Attrs::new()))
                .with_log(Log::new("1", Attrs::new())),
            Config::default(),
        )
        .expect_err("duplicate")
        .to_string(),
    );
    lines.push(Session::new("").expect_err("empty").to_string());
    lines.push(
        Timestamp::parse_rfc3339("yesterday")
            .expect_err("bad")
            .to_string(),
    );
    lines.push(Timestamp::from_digits("12a").expect_err("bad").to_string());
    lines.push("loud".parse::<Severity>().expect_err("bad").to_string());
    for body in [
        r#"{"session":"s","events":[{"ts":"1","attrs":{}},{"ts":"2","sev":9,"attrs":{}}]}"#,
        r#"{"session":"s","events":[{"ts":1667443947000000000,"attrs":{}}]}"#,
        r#"{"session":"s","events":[{"ts":"1","log":"k8s","attrs":{}}]}"#,
        r#"{"session":"s","threads":[{"id":1,"name":"main"}]}"#,
        "{\"session\":",
    ] {
        lines.push(
            parse_request(&mut body.as_bytes().to_vec())
                .expect_err(body)
                .to_string(),
        );
    }
    for body in ["<html>", r#"{"message":"no status"}"#] {
        lines.push(parse_response(body.as_bytes()).expect_err(body).to_string());
    }
    snapshot!(lines.join("\n"));
}

#[test]
fn an_event_larger_than_the_batch_size_goes_alone_up_to_the_alone_limit() {
    let config = Config {
        max_body_bytes: 2_000,
        ..Config::default()
    };
    let mut builder = RequestBuilder::new(header(), config)
        .expect("valid")
        .with_alone_limit(10_000);
    let small = Event::message(Timestamp::from_nanos(T0), "small");
    assert!(builder.push(small).expect("fits").is_none());
    let big = Event::message(Timestamp::from_nanos(T0 + 1), "x".repeat(5_000));
    let first = builder
        .push(big)
        .expect("goes alone")
        .expect("the small one first");
    assert_eq!(first.event_count(), 1);
    let alone = builder.finish().expect("pending");
    assert_eq!(alone.event_count(), 1);
    assert!(alone.body().len() > 5_000 && alone.body().len() <= 10_000);
    assert_eq!((alone.truncated(), builder.stats().truncated), (0, 0));
    check_round_trip(&alone);
    // Past the alone limit, the oversize policy applies (here: truncate to it).
    let huge = Event::message(Timestamp::from_nanos(T0 + 2), "z".repeat(20_000));
    assert!(builder.push(huge).expect("truncated").is_none());
    let cut = builder.finish().expect("pending");
    assert_eq!(cut.truncated(), 1);
    assert!(cut.body().len() <= 10_000 && cut.body().len() > 9_000);
}

/// Issue "Correctness round", item 4: numbers survive, from a JSON record through the
/// event model to the request body.
#[test]
fn numbers_go_on_the_wire_as_written() {
    let mut reader = logferry_sdl_model::EventReader::new(Default::default());
    let mut line = br#"{"ts":1767225600.123456789,"big":18446744073709551616,"neg":-9223372036854775809,"plain":19.4,"n":7,"msg":"x"}"#.to_vec();
    let event = reader
        .read(&mut line, Timestamp::EPOCH)
        .expect("valid JSON");
    assert_eq!(
        event.ts.as_nanos(),
        1_767_225_600_123_456_789,
        "a float ts keeps its exact digits"
    );
    let mut builder = RequestBuilder::new(header(), Config::default()).expect("valid");
    assert!(builder.push(event).expect("fits").is_none());
    let request = builder.finish().expect("pending");
    let body = std::str::from_utf8(request.body()).expect("UTF-8");
    for kept in [
        r#""ts":1767225600.123456789"#,
        r#""big":18446744073709551616"#,
        r#""neg":-9223372036854775809"#,
        r#""plain":19.4"#,
        r#""n":7"#,
        r#""ts":"1767225600123456789""#,
    ] {
        assert!(body.contains(kept), "{kept} in {body}");
    }
    // Valid JSON. (The reference parser, `parse_request`, reads such numbers back as
    // `f64`, so `check_round_trip` does not apply.)
    serde_json::from_str::<serde_json::Value>(body).expect("valid JSON");
}

/// Issue "Correctness round", item 4, at any depth: a number an `f64` would change
/// (beyond 64 bits, beyond `f64`'s range, more digits than an `f64` keeps) reaches the
/// request body with its digits as written, nested or not, flattened either way, and the
/// model's request parsers (the emulator's) read it back as written.
#[test]
fn numbers_at_any_depth_and_beyond_f64_go_on_the_wire_as_written() {
    use logferry_sdl_model::{Converter, Flatten, FromJsonConfig, RecordFormat};
    let lines: [&[u8]; 5] = [
        br#"{"a":{"b":18446744073709551616}}"#,
        br#"{"x":1E400,"o":{"y":-1E400,"z":[1E400]}}"#,
        br#"{"tiny":-0.0000000000000000000001,"o":{"tiny":-0.0000000000000000000001}}"#,
        br#"{"d":123456789012345678901234567890.5,"o":{"d":[123456789012345678901234567890.5]}}"#,
        br#"{"msg":"plain","o":{"f":19.4,"i":7}}"#,
    ];
    let expect_string = [
        r#""a":"{\"b\":18446744073709551616}""#,
        r#""x":1E400,"o":"{\"y\":-1E400,\"z\":[1E400]}""#,
        r#""tiny":-0.0000000000000000000001,"o":"{\"tiny\":-0.0000000000000000000001}""#,
        r#""d":123456789012345678901234567890.5,"o":"{\"d\":[123456789012345678901234567890.5]}""#,
        r#""msg":"plain","o":"{\"f\":19.4,\"i\":7}""#,
    ];
    let expect_dotted = [
        r#""a.b":18446744073709551616"#,
        r#""x":1E400,"o.y":-1E400,"o.z":"[1E400]""#,
        r#""tiny":-0.0000000000000000000001,"o.tiny":-0.0000000000000000000001"#,
        r#""d":123456789012345678901234567890.5,"o.d":"[123456789012345678901234567890.5]""#,
        r#""msg":"plain","o.f":19.4,"o.i":7"#,
    ];
    for (flatten, expected) in [
        (Flatten::JsonString, expect_string),
        (Flatten::Dotted, expect_dotted),
    ] {
        let mut converter = Converter::new(
            RecordFormat::Json,
            None,
            FromJsonConfig {
                flatten,
                ..FromJsonConfig::default()
            },
        );
        let mut builder = RequestBuilder::new(header(), Config::default()).expect("valid");
        for line in lines {
            let event = converter
                .convert(line, None, Timestamp::EPOCH)
                .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(line)));
            assert!(builder.push(event).expect("fits").is_none());
        }
        let request = builder.finish().expect("pending");
        let body = std::str::from_utf8(request.body()).expect("UTF-8");
        for kept in expected {
            assert!(
                body.contains(&format!("{{{kept}}}")),
                "{flatten:?}: {kept} in {body}"
            );
        }
        // The emulator's parsers read the body, numbers as written.
        let fast = parse_request(&mut request.body().to_vec()).expect("simd-json path");
        let reference = parse_request_serde_json(request.body()).expect("serde_json path");
        for parsed in [fast, reference] {
            assert_eq!(parsed.events.len(), lines.len());
            assert_eq!(
                parsed.events[1].attrs.get("x"),
                Some(&AttrValue::Number("1E400".into()))
            );
            let tiny = &parsed.events[2].attrs.get("tiny");
            assert_eq!(
                *tiny,
                Some(&AttrValue::Number("-0.0000000000000000000001".into()))
            );
        }
    }
}

/// A number token is only kept as written when it is one: malformed numbers stay
/// invalid JSON, with the parser's own error.
#[test]
fn malformed_big_numbers_stay_invalid() {
    let mut reader = logferry_sdl_model::EventReader::new(Default::default());
    for line in [
        &br#"{"x":01E400}"#[..],
        br#"{"x":1E400"#,
        br#"{"x":1E400,}"#,
        br#"[1E400]"#,
        br#"{"x":1E400} {}"#,
        br#"{"x":--18446744073709551616}"#,
    ] {
        assert!(
            reader.read(&mut line.to_vec(), Timestamp::EPOCH).is_err(),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}
