//! `bytesCharged`: what SDL charges for an event, computed from the seed's words alone.
//!
//! The seed (`sdl-add-events-api.txt`) says:
//!
//! > you will be charged for the bytes consumed by the message text, plus one byte for the
//! > field. For example, `"attrs": {"message": "record retrieved"}` incurs a charge of 17
//! > bytes (16 characters plus 1 byte for the field); and `"attrs": {recordId": 39217}`
//! > incurs a charge of 9 bytes (8 for the number and 1 for the field). We do not charge
//! > for escape backslashes.
//! >
//! > When you send structured events as key-value pairs, you will be charged 1 byte for
//! > each field, plus the bytes consumed by the field values. [...] only 4 bytes are
//! > charged, one for each field, and one for each character:
//! > `"attrs": { "field 1": "x", "field 2": "y" }`
//!
//! # Our reading
//!
//! An event costs the sum, over its attributes, of **1 byte per field plus the value's
//! bytes**; field *names* cost nothing (`"field 1": "x"` costs 2, not 9). Value bytes:
//!
//! | value | bytes | why |
//! |---|---|---|
//! | string | its UTF-8 length after JSON unescaping | "16 characters"; "we do not charge for escape backslashes" |
//! | number (any) | 8 | `39217` has 5 digits yet costs 8: a number is stored as 8 bytes |
//! | `true` / `false` | 1 | not in the seed; the smallest storage a boolean needs |
//! | `null` | 0 | not in the seed; nothing is stored |
//! | object / array | length of its compact JSON text | "Nested attributes are flattened [...] `nested` has the value `{"foo":"1",...}`": the value is that string |
//!
//! Only `attrs` are charged: `ts`, `sev`, `thread` and `log` are event metadata, and
//! `sessionInfo` and `threads` are not per-event content (the seed charges "the message
//! text" and "the field values"). The `logs` attributes an event references are charged
//! **with every event they are attached to** ("During ingestion, constant metadata is
//! attached to each applicable event"): `logs` shrinks the request, not the bill. This
//! is the conservative (higher) reading; the seed does not say either way.
//!
//! The seed's own figures, checked in the tests below: 17, 9 and 4 bytes.
//!
//! ```
//! use logferry_emulator::charging::attrs_charge;
//! let attrs = serde_json::json!({"message": "record retrieved"});
//! assert_eq!(attrs_charge(attrs.as_object().unwrap()), 17);
//! ```

use serde_json::{Map, Value};

/// Bytes charged for one attribute value, without the 1 byte of its field.
pub fn value_charge(value: &Value) -> u64 {
    let bytes = match value {
        Value::String(s) => s.len(),
        Value::Number(_) => 8,
        Value::Bool(_) => 1,
        Value::Null => 0,
        Value::Array(_) | Value::Object(_) => serde_json::to_string(value)
            .expect("a serde_json::Value always serializes")
            .len(),
    };
    bytes as u64
}

/// Bytes charged for an event with these (already merged) attributes.
pub fn attrs_charge(attrs: &Map<String, Value>) -> u64 {
    attrs.values().map(|v| 1 + value_charge(v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn charge(v: Value) -> u64 {
        attrs_charge(v.as_object().expect("test attrs are objects"))
    }

    #[test]
    fn the_seeds_worked_figures() {
        assert_eq!(charge(json!({"message": "record retrieved"})), 17);
        assert_eq!(charge(json!({"recordId": 39217})), 9);
        assert_eq!(charge(json!({"field 1": "x", "field 2": "y"})), 4);
    }

    #[test]
    fn escapes_are_not_charged_and_utf8_counts_bytes() {
        let parsed: Value = serde_json::from_str(r#"{"message": "a \"quoted\" \\ word"}"#).unwrap();
        // `a "quoted" \ word` is 17 characters once unescaped, plus 1 for the field.
        assert_eq!(charge(parsed), 18);
        assert_eq!(charge(json!({"m": "é"})), 3);
    }

    #[test]
    fn numbers_cost_eight_whatever_their_digits() {
        assert_eq!(
            charge(json!({"a": 1, "b": 1.5, "c": 12345678901234_u64})),
            27
        );
    }

    #[test]
    fn nested_values_cost_their_flattened_text() {
        let v = json!({"nested": {"foo": "1", "bar": "2", "baz": "3"}});
        // {"bar":"2","baz":"3","foo":"1"} is 31 bytes.
        assert_eq!(charge(v), 32);
        assert_eq!(
            charge(json!({"b": true, "n": null, "l": [1, 2]})),
            (1 + 1) + 1 + (1 + 5)
        );
    }

    #[test]
    fn the_seeds_curl_example() {
        let attrs = json!({"message": "record retrieved", "recordId": 39217, "latency": 19.4, "length": 39207});
        assert_eq!(charge(attrs), 17 + 9 + 9 + 9);
    }
}
