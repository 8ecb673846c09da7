//! Response builders for each endpoint family's error format.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

/// Every response the emulator sends.
pub(crate) type Resp = Response<Full<Bytes>>;

fn with_body(status: u16, content_type: &'static str, body: Vec<u8>) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A JSON body.
pub(crate) fn json(status: u16, value: &impl Serialize) -> Resp {
    let body = serde_json::to_vec(value).expect("reply values always serialize");
    with_body(status, "application/json", body)
}

/// An empty body.
pub(crate) fn empty(status: u16) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

/// The Taegis endpoints' error body. The seeds do not define one; the emulator sends
/// `{"status": 400, "error": "Bad Request", "message": "..."}` so a human can see why.
pub(crate) fn taegis_error(status: u16, message: impl Into<String>) -> Resp {
    #[derive(Serialize)]
    struct Body<'a> {
        status: u16,
        error: &'a str,
        message: String,
    }
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    json(
        status,
        &Body {
            status,
            error: reason,
            message: message.into(),
        },
    )
}

/// An S3 error document (`<Error><Code>...</Code>...`), as S3 answers a presigned PUT.
pub(crate) fn s3_error(
    status: u16,
    code: &str,
    message: &str,
    resource: &str,
    request_id: u64,
) -> Resp {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{request_id:016X}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(resource),
    );
    with_body(status, "application/xml", body.into_bytes())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An SDL reply: `{"status": ..., "message": ...}` (errors) or with `bytesCharged`.
///
/// With `always_200` (the request's `errorStatus: always200` header) the HTTP status is
/// 200 whatever the `status` string says.
pub(crate) fn sdl(
    http: u16,
    status: &str,
    message: Option<&str>,
    charged: Option<u64>,
    always_200: bool,
) -> Resp {
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'a str,
        #[serde(rename = "bytesCharged", skip_serializing_if = "Option::is_none")]
        bytes_charged: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    }
    json(
        if always_200 { 200 } else { http },
        &Body {
            status,
            bytes_charged: charged,
            message,
        },
    )
}

/// Adds a header (values here are always valid header text).
pub(crate) fn set_header(resp: &mut Resp, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
}
