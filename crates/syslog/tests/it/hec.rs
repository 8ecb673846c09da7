//! Splunk HEC bodies: concatenated events and every error code.

use logferry_syslog::{HecCode, Payload, parse_events, raw_records};
use serde_json::json;

#[test]
fn concatenated_events_with_and_without_whitespace() {
    let body = br#"{"event":"one","time":1700000000.25,"host":"h1","source":"s","sourcetype":"st","index":"main"}{"event":{"k":[1,2]},"time":"1700000001.123456789","fields":{"env":"prod"}}
  {"event":"three"}
"#;
    let events = parse_events(body).expect("valid");
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].offset, 0);
    assert_eq!(events[0].event, Payload::Text("one".into()));
    assert_eq!(events[0].time, Some(1_700_000_000_250_000_000));
    assert_eq!(events[0].host.as_deref(), Some("h1"));
    assert_eq!(events[0].source.as_deref(), Some("s"));
    assert_eq!(events[0].sourcetype.as_deref(), Some("st"));
    assert_eq!(events[0].index.as_deref(), Some("main"));
    assert_eq!(events[1].event, Payload::Json(json!({"k": [1, 2]})));
    assert_eq!(events[1].time, Some(1_700_000_001_123_456_789));
    assert_eq!(
        events[1].fields.as_ref().map(|f| f["env"].clone()),
        Some(json!("prod"))
    );
    assert_eq!(
        &body[events[1].offset..events[1].offset + 10],
        br#"{"event":{"#
    );
    assert_eq!(events[2].event, Payload::Text("three".into()));
    assert_eq!(&body[events[2].offset..events[2].offset + 1], b"{");
    assert_eq!(events[2].time, None);
}

#[test]
fn integer_time_and_unknown_keys() {
    let events = parse_events(br#"{"event":1,"time":1700000000,"extra":true}"#).expect("valid");
    assert_eq!(events[0].time, Some(1_700_000_000_000_000_000));
    assert_eq!(events[0].event, Payload::Json(json!(1)));
}

fn error(body: &[u8]) -> logferry_syslog::HecError {
    parse_events(body).expect_err("invalid")
}

#[test]
fn no_data() {
    for body in [&b""[..], b"  \n\t "] {
        let e = error(body);
        assert_eq!(e.code, HecCode::NoData);
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.body(), r#"{"text":"No data","code":5}"#);
    }
}

#[test]
fn invalid_data_format_names_the_event_and_offset() {
    let body = b"{\"event\":\"a\"}\n{\"event\":\"b\",}";
    let e = error(body);
    assert_eq!(e.code, HecCode::InvalidDataFormat);
    assert_eq!(e.event_number, Some(1));
    assert_eq!(
        e.body(),
        r#"{"text":"Invalid data format","code":6,"invalid-event-number":1}"#
    );
    assert_eq!(
        body[e.offset], b'}',
        "offset {} points at the fault",
        e.offset
    );
    assert!(
        e.to_string().contains(&format!("at byte {}", e.offset)),
        "{e}"
    );
    for body in [
        &br#"[{"event":"a"}]"#[..],
        br#"{"event":"a"} x"#,
        br#"{"event":"a","time":"soon"}"#,
        br#"{"event":"a","host":5}"#,
        br#"{"event":"a""#,
        b"\"event\"",
    ] {
        assert_eq!(
            error(body).code,
            HecCode::InvalidDataFormat,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn event_field_required_and_blank() {
    let e = error(br#"{"event":"a"} {"time":1}"#);
    assert_eq!(
        e.body(),
        r#"{"text":"Event field is required","code":12,"invalid-event-number":1}"#
    );
    assert_eq!(e.offset, 14);
    let e = error(br#"{"event":""}"#);
    assert_eq!(
        e.body(),
        r#"{"text":"Event field cannot be blank","code":13,"invalid-event-number":0}"#
    );
    assert_eq!(error(br#"{"event":null}"#).code, HecCode::EventFieldBlank);
}

#[test]
fn fields_must_be_an_object() {
    let e = error(br#"{"event":"a","fields":[1]}"#);
    assert_eq!(e.code, HecCode::IndexedFields);
    assert_eq!(
        e.body(),
        r#"{"text":"Error in handling indexed fields","code":15,"invalid-event-number":0}"#
    );
}

#[test]
fn reply_bodies() {
    assert_eq!(HecCode::Success.body(), r#"{"text":"Success","code":0}"#);
    assert_eq!(HecCode::Success.http_status(), 200);
    assert_eq!(
        HecCode::Healthy.body(),
        r#"{"text":"HEC is healthy","code":17}"#
    );
    assert_eq!(
        (
            HecCode::TokenRequired.code(),
            HecCode::TokenRequired.http_status()
        ),
        (2, 401)
    );
    assert_eq!(
        (
            HecCode::InvalidToken.code(),
            HecCode::InvalidToken.http_status()
        ),
        (4, 403)
    );
    assert_eq!(HecCode::ServerBusy.http_status(), 503);
}

#[test]
fn raw_body_lines() {
    let body = b"first\r\n\nsecond\nthird";
    let records: Vec<(usize, &[u8])> = raw_records(body).map(|r| (r.offset, r.bytes)).collect();
    assert_eq!(
        records,
        vec![(0, &b"first"[..]), (8, b"second"), (15, b"third")]
    );
    assert_eq!(raw_records(b"\n\n").count(), 0);
}
