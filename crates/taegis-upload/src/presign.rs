//! The presign request, `POST {endpoint}/s3-signer/v2/signed-s3url`, and its reply.
//!
//! From `taegis-file-upload-api.txt`: "Returns a URL in which you can PUT your logs.
//! `POST https://api.ctpx.secureworks.com/s3-signer/v2/signed-s3url`", with URL parameters
//!
//! | Name | Type | Description |
//! |---|---|---|
//! | `file_name` | String | "The filename you are attempting to upload" |
//! | `content_length` | Integer | "The size in bytes of the file you are attempting to upload" |
//! | `sensor_id` | String | "Optional. Your desired sensor identifier. If omitted, the value defaults to toaster.localhost" |
//!
//! The seed's script also appends `&service=Syslog` (`s3url = endpoint +
//! "/s3-signer/v2/signed-s3url?file_name=" + filename + "&content_length=" +
//! str(content_length) + "&service=Syslog"`). It is not in the parameter table, but it is
//! the only working example, so it is sent by default ([`DEFAULT_SERVICE`]); a caller
//! can name another service or leave it out. The script sends the
//! access token as `Authorization: Bearer` and reads the reply's `location`
//! (`url = res['location']`).

use crate::ParseError;
use crate::token::{invalid, json_object};
use logferry_http::IngestUrl;

/// The presign endpoint's path below the API endpoint.
pub const PRESIGN_PATH: &str = "/s3-signer/v2/signed-s3url";

/// What the seed says `sensor_id` defaults to: "If omitted, the value defaults to
/// toaster.localhost".
pub const DEFAULT_SENSOR_ID: &str = "toaster.localhost";

/// The `service` the seed's only working example sends: `"&service=Syslog"`.
pub const DEFAULT_SERVICE: &str = "Syslog";

/// The presign URL for one file: `{endpoint}/s3-signer/v2/signed-s3url?file_name=…&
/// content_length=…&sensor_id=…[&service=…]`, every value percent-encoded.
pub(crate) fn presign_url(
    endpoint: &IngestUrl,
    file_name: &str,
    content_length: u64,
    sensor_id: &str,
    service: Option<&str>,
) -> Result<IngestUrl, logferry_http::Error> {
    let mut query = format!(
        "{PRESIGN_PATH}?file_name={}&content_length={content_length}&sensor_id={}",
        percent_encode(file_name),
        percent_encode(sensor_id)
    );
    if let Some(service) = service {
        query.push_str("&service=");
        query.push_str(&percent_encode(service));
    }
    endpoint.join(&query)
}

/// RFC 3986 percent-encoding of everything but the unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), so a value can hold `&`, `=`, `+`, spaces or any UTF-8.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Parses the presign endpoint's 200 body, `{"location": URL}`, into the URL to `PUT`
/// to. The location must be `https://` (or `http://` on a loopback host, for the
/// emulator) and carry no credentials, as [`IngestUrl`] enforces: the file's content and
/// the signature in the query string never go anywhere else.
///
/// ```
/// use logferry_taegis_upload::parse_presign_response;
/// let url = parse_presign_response(br#"{"location":"https://b.s3.amazonaws.com/k?X-Amz-Signature=s"}"#).unwrap();
/// assert_eq!(url.to_string(), "https://b.s3.amazonaws.com/k?…");
/// let err = parse_presign_response(br#"{"location":"http://b.s3.amazonaws.com/k?sig=s"}"#).unwrap_err();
/// assert!(err.to_string().starts_with("`location` is not a usable URL"));
/// ```
pub fn parse_presign_response(body: &[u8]) -> Result<IngestUrl, ParseError> {
    let map = json_object(body)?;
    let location = match map.get("location") {
        None | Some(serde_json::Value::Null) => return Err(ParseError::Missing("location")),
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return Err(invalid("location", "is not a string")),
    };
    if location.trim().is_empty() {
        return Err(invalid("location", "is empty"));
    }
    // IngestUrl's messages show the URL without its query string (the signature);
    // sanitizing keeps a hostile location to one bounded line.
    IngestUrl::parse(location).map_err(|e| ParseError::Invalid {
        field: "location",
        problem: format!(
            "is not a usable URL: {}",
            crate::error::sanitize(&e.to_string())
        ),
    })
}

/// The `message` (or `error`) of a Taegis API error body, for error messages.
pub(crate) fn server_message(body: &[u8]) -> Option<String> {
    let map = json_object(body).ok()?;
    ["message", "error_description", "error"]
        .iter()
        .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
        .filter(|s| !s.trim().is_empty())
        .map(crate::error::sanitize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn query_values_are_encoded() {
        let endpoint = IngestUrl::parse("https://api.ctpx.secureworks.com").unwrap();
        let url = presign_url(&endpoint, "a b&c=d+é.log", 42, DEFAULT_SENSOR_ID, None).unwrap();
        assert_eq!(
            url.uri().to_string(),
            "https://api.ctpx.secureworks.com/s3-signer/v2/signed-s3url?file_name=a%20b%26c%3Dd%2B%C3%A9.log&content_length=42&sensor_id=toaster.localhost"
        );
        let url = presign_url(&endpoint, "x.log", 1, "host/1", Some("Syslog")).unwrap();
        assert!(
            url.uri()
                .to_string()
                .ends_with("?file_name=x.log&content_length=1&sensor_id=host%2F1&service=Syslog")
        );
    }

    #[test]
    fn custom_endpoint_prefix_is_kept() {
        let endpoint = IngestUrl::parse("http://127.0.0.1:9000/proxy/").unwrap();
        let url = presign_url(&endpoint, "f", 1, "s", None).unwrap();
        assert_eq!(url.uri().path(), "/proxy/s3-signer/v2/signed-s3url");
    }

    proptest! {
        #[test]
        fn encoding_round_trips_and_stays_in_the_query_alphabet(value in any::<String>()) {
            let encoded = percent_encode(&value);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            prop_assert_eq!(decode(&encoded), value.as_bytes());
        }
    }

    #[test]
    fn presign_replies() {
        let ok = parse_presign_response(
            br#"{"location":"https://127.0.0.1:1/s3/x?X-Amz-Signature=abc","extra":1}"#,
        )
        .unwrap();
        assert_eq!(ok.uri().query(), Some("X-Amz-Signature=abc"));
        for (body, message) in [
            (&b"{}"[..], "`location` is missing"),
            (br#"{"location":null}"#, "`location` is missing"),
            (br#"{"location":5}"#, "`location` is not a string"),
            (br#"{"location":" "}"#, "`location` is empty"),
            (
                br#"{"location":"ftp://x/y?sig=SECRET"}"#,
                "`location` is not a usable URL: invalid URL ftp://x/y?…: the scheme must be https:// (or http:// for loopback)",
            ),
            (
                br#"{"location":"http://s3.example.com/y?sig=SECRET"}"#,
                "`location` is not a usable URL: invalid URL http://s3.example.com/y?…: plain http:// is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https://",
            ),
            (
                b"<html>",
                "the body is not a JSON object (expected value at line 1 column 1)",
            ),
        ] {
            let err = parse_presign_response(body).unwrap_err();
            assert_eq!(err.to_string(), message);
            assert!(!format!("{err:?}").contains("SECRET"));
        }
    }

    /// Found by the `presign_response` fuzz target (a harness bug: it took any `@` for
    /// credentials): `@` is legal in a path, and only credentials in the authority are
    /// refused.
    #[test]
    fn at_signs_in_paths_are_not_credentials() {
        let found: &[u8] = br#"{"location":"http://127.0.0.1:8443/s3/logferry-uploads/000000000000000@/app.log?X-ADz-Signat27.0.0.1:84ure=00"}"#;
        let url = parse_presign_response(found).unwrap();
        assert_eq!(
            url.uri().path(),
            "/s3/logferry-uploads/000000000000000@/app.log"
        );
        crate::fuzzing::presign_response(found);
        let err = parse_presign_response(br#"{"location":"https://user:pw@host/k"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("credentials in the URL are not allowed"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    /// Found by the `presign_response` fuzz target (a harness bug: a query string equal to
    /// the redaction mark looked shown).
    #[test]
    fn a_query_is_replaced_by_the_mark_whatever_it_holds() {
        let found: &[u8] = "{\"location\":\"https://l.log?\u{2026}\"}".as_bytes();
        let url = parse_presign_response(found).unwrap();
        assert_eq!(url.to_string(), "https://l.log/?…");
        crate::fuzzing::presign_response(found);
    }

    #[test]
    fn server_messages() {
        assert_eq!(
            server_message(
                br#"{"status":400,"error":"Bad Request","message":"file_name is required"}"#
            ),
            Some("file_name is required".to_owned())
        );
        assert_eq!(
            server_message(br#"{"error":"nope"}"#),
            Some("nope".to_owned())
        );
        assert_eq!(server_message(b"<html>"), None);
    }
}
