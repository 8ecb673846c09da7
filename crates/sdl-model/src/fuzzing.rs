//! Property harnesses for the fuzz targets in `fuzz/` (public so the fuzz crate can call
//! them; not part of the stable API).

use crate::{
    Event, EventReader, FromJsonConfig, Severity, Status, Timestamp, parse_request,
    parse_request_serde_json, parse_response,
};

/// Request parsing: whatever is accepted satisfies the contract's rules, and the
/// simd-json and serde_json paths agree on what they both accept.
pub fn request(data: &[u8]) {
    let mut copy = data.to_vec();
    let simd = parse_request(&mut copy);
    let serde = parse_request_serde_json(data);
    for parsed in [&simd, &serde].into_iter().flatten() {
        let chars = parsed.session.as_str().chars().count();
        assert!(
            (1..=200).contains(&chars),
            "session of {chars} chars accepted"
        );
        for (i, event) in parsed.events.iter().enumerate() {
            assert!(event.sev.as_u8() <= 6);
            if let Some(id) = &event.log {
                assert!(
                    parsed.log(id).is_some(),
                    "event {i} refers to an undeclared log"
                );
            }
            assert!(parsed.merged_attrs(i).is_some());
        }
        let _ = parsed.bytes_charged();
    }
    if let (Ok(a), Ok(b)) = (&simd, &serde) {
        assert_eq!(a.session, b.session);
        assert_eq!(a.events.len(), b.events.len());
        assert_eq!(a.logs.len(), b.logs.len());
        for (x, y) in a.events.iter().zip(&b.events) {
            assert_eq!(
                (x.ts, x.sev, &x.thread, &x.log),
                (y.ts, y.sev, &y.thread, &y.log)
            );
        }
    }
}

/// Response parsing: never "success" unless the status string says so, and the
/// hierarchical match agrees with the classified status.
pub fn response(data: &[u8]) {
    let Ok(r) = parse_response(data) else {
        return;
    };
    assert_eq!(Status::classify(&r.status_text), r.status);
    assert_eq!(
        r.status_is("success"),
        r.status == Status::Success,
        "{:?}",
        r.status_text
    );
    assert_eq!(
        r.status_is("error/server"),
        matches!(r.status, Status::Backoff | Status::ServerError),
        "{:?}",
        r.status_text
    );
    if r.warning().is_some() {
        assert!(r.status.is_success());
    }
}

/// Severity parsing: only 0-6 come out, and every seed name parses to itself.
pub fn severity(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sev) = Severity::parse_lenient(s) {
        assert!(sev.as_u8() <= 6);
    }
    if let Some(sev) = Severity::from_seed_name(s) {
        assert!(
            matches!(Severity::parse_lenient(s), Ok(x) if x == sev),
            "seed name {s:?}"
        );
    }
}

/// NDJSON line to event (simd-json's tape, walked directly): never a panic; lenient reading
/// never refuses a JSON object; and on a line `serde_json` reads as an object, the same
/// attribute keys and level as the `serde_json` path (values may differ where a number is
/// beyond what `serde_json` keeps, and the time with them); and [`crate::Converter`] (which
/// parses first) gives exactly what [`EventReader::read`] (which checks numbers first) does.
pub fn event(data: &[u8]) {
    let now = Timestamp::from_nanos(1_700_000_000_000_000_000);
    let config = FromJsonConfig::default();
    let mut line = data.to_vec();
    let read = EventReader::new(config.clone()).read(&mut line, now);
    // The converter parses first and checks numbers only for a line holding an f64: the
    // same result as the reader, which checks first.
    let converted = crate::Converter::new(crate::RecordFormat::Json, None, config.clone())
        .convert(data, None, now);
    assert_eq!(
        format!("{converted:?}"),
        format!("{read:?}"),
        "the converter and the reader differ"
    );
    if let Ok(event) = &read {
        let text = event.attrs.to_json();
        // `IgnoredAny` checks the syntax only: numbers of any size pass, as RFC 8259 has it.
        assert!(
            text.starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(),
            "attributes written as invalid JSON: {text}"
        );
    }
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        return;
    };
    let event = read.unwrap_or_else(|e| panic!("a JSON object refused: {e}"));
    // Names equal but for case are matched in any case for the time and the level, and
    // the readers meet them in different orders (serde_json's map sorts its names, the
    // tape keeps the text's order): those lines are not compared. Names repeated
    // exactly are (both keep the last value).
    let mut copy = data.to_vec();
    let Ok(tape) = simd_json::to_tape(&mut copy) else {
        return;
    };
    let mut names: Vec<&str> = crate::attrs::TapeValue(&tape.0)
        .entries()
        .map(|(k, _)| k)
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut folded: Vec<String> = names.iter().map(|k| k.to_ascii_lowercase()).collect();
    folded.sort_unstable();
    folded.dedup();
    if folded.len() != names.len() {
        return;
    }
    let other = Event::from_json_object(&obj, now, &config).expect("lenient reading");
    let keys = |e: &Event| {
        let mut keys: Vec<String> = e.attrs.iter().map(|(k, _)| k.to_owned()).collect();
        keys.sort_unstable();
        keys
    };
    assert_eq!(keys(&event), keys(&other));
    assert_eq!(event.sev, other.sev);
}
