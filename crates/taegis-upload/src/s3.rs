//! S3's XML error documents, read just enough for classification and messages.
//!
//! S3 answers a failed `PUT` with `<Error><Code>…</Code><Message>…</Message>…</Error>`.
//! Only `Code` (for [`logferry_retry::classify::s3_put`]) and `Message` (for people) are
//! read, by finding the first element of each name; entities are decoded; nothing else
//! of XML is attempted.

use crate::error::sanitize;

/// `Code` and `Message` of an S3 error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Error {
    /// The error code (`AccessDenied`, `SignatureDoesNotMatch`, `RequestTimeout`, ...).
    pub code: Option<String>,
    /// The human-readable message, cleaned for one log line.
    pub message: Option<String>,
}

impl S3Error {
    /// Reads `body`; fields that are absent or empty stay `None`.
    pub fn parse(body: &[u8]) -> S3Error {
        let text = String::from_utf8_lossy(body);
        S3Error {
            code: element(&text, "Code")
                .map(|c| sanitize(&c))
                .filter(|c| !c.is_empty()),
            message: element(&text, "Message")
                .map(|m| sanitize(&m))
                .filter(|m| !m.is_empty()),
        }
    }
}

/// The decoded text of the first `<name>…</name>` in `text`.
fn element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&close)?;
    Some(decode_entities(&text[start..start + len]))
}

fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest.find(';').map(|end| (&rest[1..end], end));
        let decoded = entity.and_then(|(name, end)| {
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = if let Some(hex) = name.strip_prefix("#x") {
                        u32::from_str_radix(hex, 16).ok()
                    } else if let Some(dec) = name.strip_prefix('#') {
                        dec.parse().ok()
                    } else {
                        None
                    };
                    char::from_u32(code?)?
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_code_and_message() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Request has expired</Message><Resource>/s3/x</Resource><RequestId>01</RequestId></Error>"#;
        assert_eq!(
            S3Error::parse(body),
            S3Error {
                code: Some("AccessDenied".into()),
                message: Some("Request has expired".into())
            }
        );
    }

    #[test]
    fn entities_and_odd_bodies() {
        let e = S3Error::parse(b"<Error><Code>X</Code><Message>a &amp; b &lt;c&gt; &#65;&#x42; &bogus; &</Message></Error>");
        assert_eq!(e.message.as_deref(), Some("a & b <c> AB &bogus; &"));
        assert_eq!(S3Error::parse(b""), S3Error::default());
        assert_eq!(S3Error::parse(b"<Code>unterminated"), S3Error::default());
        assert_eq!(S3Error::parse(b"<Code></Code>").code, None);
        assert_eq!(
            S3Error::parse(b"<Code>a\nb</Code>").code.as_deref(),
            Some("a b")
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_on_one_line(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let e = S3Error::parse(&body);
            for text in [e.code, e.message].into_iter().flatten() {
                prop_assert!(!text.chars().any(char::is_control));
            }
        }
    }
}
