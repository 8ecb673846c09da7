//! `bytes_charged` estimates, from the seed's charging rules.
//!
//! The seed: "you will be charged for the bytes consumed by the message text, plus one byte
//! for the field. For example, `"attrs": {"message": "record retrieved"}` incurs a charge of
//! 17 bytes (16 characters plus 1 byte for the field); and `"attrs": {recordId": 39217}`
//! incurs a charge of 9 bytes (8 for the number and 1 for the field). We do not charge for
//! escape backslashes." And: "you will be charged 1 byte for each field, plus the bytes
//! consumed by the field values. In the example below, only 4 bytes are charged, one for
//! each field, and one for each character: `"attrs": {"field 1": "x", "field 2": "y"}`".
//!
//! logferry's reading, per attribute (keys are never charged):
//!
//! | value | charge |
//! |---|---|
//! | string | 1 + its UTF-8 length, unescaped (the stored text, no backslashes) |
//! | integer or finite float | 1 + 8 (seed: "8 for the number") |
//! | boolean | 1 + 1 (*not in the seed*: assumed one stored byte) |
//! | null, NaN, ±infinity (sent as `null`) | 1 (*not in the seed*: the field only) |
//! | nested object or array | 1 + the length of its compact JSON text, since the server stores it as that string (seed: "nested has the value `{"foo":"1","bar":"2","baz":"3"}`") |
//!
//! An event is charged for its own attributes plus those of the `logs` entry it refers
//! to ("During ingestion, constant metadata is attached to each applicable event"), so
//! the `logs` dedupe saves request bytes but not charged bytes. `ts`, `sev`, `thread`
//! and `sessionInfo` are not charged (the seed's figures count only `attrs`; whether
//! `sessionInfo` fields are charged per event is not stated, and is assumed not).

use crate::{AttrValue, Attrs, Event, Log};

impl AttrValue {
    /// The charged bytes of this value alone (without the 1 byte for the field).
    pub fn charged_value_bytes(&self) -> u64 {
        match self {
            AttrValue::String(s) => s.len() as u64,
            AttrValue::Integer(_) | AttrValue::Unsigned(_) | AttrValue::Number(_) => 8,
            AttrValue::Float(f) if f.is_finite() => 8,
            AttrValue::Bool(_) => 1,
            AttrValue::Float(_) | AttrValue::Null => 0,
        }
    }
}

impl Attrs {
    /// The charged bytes of these attributes: per field, 1 plus the value's bytes.
    pub fn bytes_charged(&self) -> u64 {
        self.iter().map(|(_, v)| 1 + v.charged_value_bytes()).sum()
    }
}

impl Event {
    /// The estimated charge for this event: its attributes plus those of `log`, the
    /// `logs` entry it refers to (pass `None` when it refers to none).
    pub fn bytes_charged(&self, log: Option<&Log>) -> u64 {
        let own = self.attrs.bytes_charged();
        match log {
            Some(log) => {
                own + log
                    .attrs
                    .iter()
                    .filter(|(k, _)| self.attrs.get(k).is_none())
                    .map(|(_, v)| 1 + v.charged_value_bytes())
                    .sum::<u64>()
            }
            None => own,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn charged(attrs: Attrs) -> u64 {
        Event::new(Timestamp::EPOCH, attrs).bytes_charged(None)
    }

    #[test]
    fn seed_worked_figures() {
        assert_eq!(
            charged(Attrs::new().with("message", "record retrieved")),
            17
        );
        assert_eq!(charged(Attrs::new().with("recordId", 39217)), 9);
        assert_eq!(
            charged(Attrs::new().with("field 1", "x").with("field 2", "y")),
            4
        );
    }

    #[test]
    fn documented_choices() {
        // The seed's example event: 17 + 9 + 9 + 9.
        let example = Attrs::new()
            .with("message", "record retrieved")
            .with("recordId", 39217)
            .with("latency", 19.4)
            .with("length", 39207);
        assert_eq!(charged(example), 44);
        // No charge for escape backslashes: the quote is one stored byte.
        assert_eq!(charged(Attrs::new().with("m", "a\"b")), 4);
        assert_eq!(charged(Attrs::new().with("m", "é")), 3);
        assert_eq!(
            charged(Attrs::new().with("b", true).with("n", AttrValue::Null)),
            3
        );
        assert_eq!(charged(Attrs::new().with("nan", f64::NAN)), 1);
        assert_eq!(
            charged(Attrs::new().with("nested", r#"{"foo":"1","bar":"2","baz":"3"}"#)),
            32
        );
        let log = Log::new("1", Attrs::new().with("_k8s_cn", "test-cluster"));
        let e = Event::message(Timestamp::EPOCH, "x").with_log("1");
        assert_eq!(e.bytes_charged(Some(&log)), 2 + 13);
    }
}
