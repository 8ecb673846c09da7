//! Fuzz harnesses, called by the targets in the workspace's `fuzz/` directory. Each takes
//! arbitrary bytes and asserts properties of the emulator's parsers, so a fuzzer finds
//! wrong answers as well as panics.

use crate::http_ingest::{Kind, parse_body};
use crate::{charging, sdl};
use logferry_compress::{Encoding, decode};

/// SDL addEvents request parsing and validation.
///
/// Properties: no panic; an accepted request has a session of 1 to 200 characters, `ts`
/// strings of digits that fit a u64, severities 0 to 6, `log` references that exist, and
/// merged attributes that contain every attribute of the event; charging is at least one
/// byte per field; and a request accepted once is accepted again after a JSON round trip,
/// with the same events.
pub fn sdl_request(data: &[u8]) {
    let Ok(map) = sdl::parse(data) else { return };
    let Ok(request) = sdl::validate(map.clone()) else {
        return;
    };
    let chars = request.session.chars().count();
    assert!(
        (1..=sdl::MAX_SESSION_CHARS).contains(&chars),
        "session of {chars} characters accepted"
    );
    for event in &request.events {
        if let Some((text, value)) = &event.ts {
            assert!(!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(text.parse::<u64>().ok(), Some(*value));
        }
        assert!(event.sev.is_none_or(|s| s <= 6));
        if let Some(log) = &event.log {
            assert!(
                request.logs.contains_key(log),
                "dangling log reference accepted"
            );
        }
        let merged = request.merged_attrs(event);
        for (k, v) in &event.attrs {
            assert_eq!(merged.get(k), Some(v), "event attribute lost in the merge");
        }
        assert!(charging::attrs_charge(&merged) >= merged.len() as u64);
    }
    let text = serde_json::to_vec(&map).expect("a parsed value serializes");
    let again = sdl::validate(sdl::parse(&text).expect("serialized JSON parses"))
        .expect("a valid request stays valid after a round trip");
    assert_eq!(again.events.len(), request.events.len());
    assert_eq!(again.session, request.session);
}

/// HTTP Ingest body handling. The first byte chooses the content type (bit 0: JSON) and
/// whether the rest is gzip (bit 1).
///
/// Properties: no panic; an accepted body is rebuilt exactly from its records (each plus
/// a line feed unless flagged unterminated, which only the last may be); JSON records are
/// JSON objects; a text body is refused only when empty or not UTF-8.
pub fn ingest_body(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = if selector & 1 == 0 {
        Kind::Text
    } else {
        Kind::Json
    };
    let decoded = if selector & 2 != 0 {
        match decode(Encoding::Gzip, body, 1 << 20) {
            Ok(d) => d,
            Err(_) => return,
        }
    } else {
        body.to_vec()
    };
    match parse_body(kind, &decoded) {
        Ok(parsed) => {
            let mut rebuilt = String::with_capacity(decoded.len());
            let last = parsed.records.len().saturating_sub(1);
            for (i, (text, unterminated)) in parsed.records.iter().enumerate() {
                assert!(
                    !unterminated || i == last,
                    "only the last record may be unterminated"
                );
                rebuilt.push_str(text);
                if !unterminated {
                    rebuilt.push('\n');
                }
                if kind == Kind::Json {
                    // An object by JSON's grammar: values are skipped, not converted, since
                    // RFC 8259 numbers have no range (`52e7555…` is valid JSON).
                    assert!(
                        serde_json::from_str::<
                            std::collections::BTreeMap<String, serde::de::IgnoredAny>,
                        >(text)
                        .is_ok(),
                        "accepted JSON record is not an object"
                    );
                }
                if !parsed.pretty_printed {
                    assert!(!text.contains('\n'));
                }
            }
            assert_eq!(
                rebuilt.as_bytes(),
                &decoded[..],
                "records do not rebuild the body"
            );
        }
        Err(message) => {
            assert!(!message.is_empty());
            if kind == Kind::Text {
                assert!(decoded.is_empty() || std::str::from_utf8(&decoded).is_err());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harnesses_accept_their_seeds() {
        sdl_request(br#"{"session":"s","events":[{"ts":"1","sev":0,"log":"a","attrs":{"m":1}}],"logs":[{"id":"a","attrs":{"k":"v"}}]}"#);
        sdl_request(b"not json");
        ingest_body(b"\x00a\nb");
        ingest_body(b"\x01{\"a\":1}\n{\"b\":[]}\n");
        ingest_body(b"\x01{\n}");
        ingest_body(b"");
    }

    /// Found by fuzzing: a number beyond f64 is still JSON (the harness, not the handler,
    /// was wrong), and the handler accepts it as the grammar says.
    #[test]
    fn fuzz_regression_huge_exponent() {
        let data = b"\x01{\"7\":52e7555555555555555555555555555000000000000969}";
        ingest_body(data);
        assert!(crate::http_ingest::parse_body(crate::http_ingest::Kind::Json, &data[1..]).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn ingest_body_properties_hold(data: Vec<u8>) {
            ingest_body(&data);
        }

        #[test]
        fn sdl_request_properties_hold(session in "[a-z]{0,3}", ts in "[0-9]{0,22}", sev in 0u8..9) {
            let body = format!(r#"{{"session":"{session}","events":[{{"ts":"{ts}","sev":{sev},"attrs":{{"message":"m"}}}}]}}"#);
            sdl_request(body.as_bytes());
        }
    }
}
