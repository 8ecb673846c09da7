//! Taegis File Upload: presign (`POST /s3-signer/v2/signed-s3url`) and the S3-style
//! presigned `PUT`, with the Taegis token endpoint that issues the access tokens presign
//! takes (the `token` submodule).
//!
//! Presign, from `taegis-file-upload-api.txt`: "Returns a URL in which you can PUT your
//! logs", with URL parameters `file_name` ("The filename you are attempting to upload"),
//! `content_length` ("The size in bytes of the file you are attempting to upload") and
//! `sensor_id` ("Optional [...] If omitted, the value defaults to toaster.localhost");
//! the seed's script also sends `service`, which is optional here. It needs "a working
//! access token" as `Authorization: Bearer` (the static token or one from the token
//! endpoint): missing, unknown, revoked or expired: **401**. A missing or bad parameter:
//! **400**. The reply is `{"location": URL}` (the seed's script reads `res['location']`).
//!
//! The URL is self-contained, like an S3 presigned URL: it carries its date, lifetime,
//! the signed content length, sensor and service, and an HMAC-SHA256 signature over all
//! of them. The `PUT` answers as S3 does, with S3's XML error documents:
//!
//! | condition | reply |
//! |---|---|
//! | an `Authorization` header as well as the query signature | 400 `InvalidArgument` (only one auth mechanism allowed) |
//! | no signature in the query | 403 `AccessDenied` |
//! | `Transfer-Encoding: chunked` | 501 `NotImplemented` |
//! | no `Content-Length` | 411 `MissingContentLength` |
//! | signature does not match the URL | 403 `SignatureDoesNotMatch` |
//! | past its expiry | 403 `AccessDenied` (Request has expired) |
//! | `Content-Length` other than the signed one | 403 `SignatureDoesNotMatch` |
//!
//! A good `PUT` gets 200 with an `ETag`, and stores the file's lines as records and an
//! [`Upload`] entry.

mod token;

pub(crate) use token::handle_token;

use crate::FaultStatus;
use crate::auth::{Check, Keys, credential};
use crate::config::S3_MAX_PUT;
use crate::ctx::{Body, Common, Ctx, Handled, taegis_fault};
use crate::reply::{self, Resp};
use crate::stats::ViolationKind;
use crate::store::{NewRecord, Upload};
use crate::util::{self, param, parse_query, percent_decode, percent_encode, random_secret};
use http::{Request, header};
use hyper::body::Incoming;
use serde::Serialize;
use std::time::Instant;

/// Path prefix of presigned URLs.
pub(crate) const PUT_PREFIX: &str = "/s3/logferry-uploads/";

/// What the seed says `sensor_id` defaults to.
pub(crate) const DEFAULT_SENSOR: &str = "toaster.localhost";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The Taegis API's state: the OAuth2 client, the access tokens, and the key presigned
/// URLs are signed with.
pub(crate) struct State {
    /// Access token → expiry (`None`: a static token, which does not expire).
    tokens: Keys<Option<Instant>>,
    client_id: String,
    client_secret: String,
    signing_key: ring::hmac::Key,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl State {
    /// A new client with a random id and secret, and a random signing key.
    pub(crate) fn new() -> State {
        State {
            tokens: Keys::default(),
            client_id: format!("emulator-client-{}", &random_secret(6)),
            client_secret: random_secret(24),
            signing_key: ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                random_secret(32).as_bytes(),
            ),
        }
    }

    /// The OAuth2 client id the token endpoint takes.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The OAuth2 client secret the token endpoint takes.
    pub(crate) fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// Revokes an access token (then 401); false when it is not a current token.
    pub(crate) fn revoke(&self, token: &str) -> bool {
        self.tokens.revoke(token)
    }
}

/// `POST /s3-signer/v2/signed-s3url`.
pub(crate) async fn handle_presign(
    ctx: &mut Ctx<'_>,
    state: &State,
    req: Request<Incoming>,
) -> Handled {
    let (parts, body) = req.into_parts();
    ctx.drain(body).await?;
    if let Some(injected) = ctx.fault().await {
        return ctx.injected(injected, taegis_fault);
    }
    let Some(token) = credential(&parts.headers, &["Bearer"]) else {
        return Ok(reply::taegis_error(
            401,
            "missing access token: send Authorization: Bearer <token>",
        ));
    };
    match state.check_token(token) {
        Check::Valid => {}
        Check::Expired => return Ok(reply::taegis_error(401, "access token expired")),
        Check::Unknown | Check::Revoked => {
            return Ok(reply::taegis_error(401, "access token not recognized"));
        }
    }
    let query = parts.uri.query().unwrap_or("");
    let pairs = match parse_query(query) {
        Ok(p) => p,
        Err(msg) => return Ok(reply::taegis_error(400, msg)),
    };
    let file_name = match param(&pairs, "file_name") {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => return Ok(reply::taegis_error(400, "file_name is required")),
    };
    let content_length = match param(&pairs, "content_length") {
        None => return Ok(reply::taegis_error(400, "content_length is required")),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Ok(reply::taegis_error(
                    400,
                    format!(
                        "content_length must be a whole number of bytes, got `{}`",
                        util::truncate(v, 40)
                    ),
                ));
            }
        },
    };
    if content_length > S3_MAX_PUT {
        return Ok(reply::taegis_error(
            400,
            format!(
                "content_length {content_length} exceeds the {S3_MAX_PUT}-byte limit of a single PUT"
            ),
        ));
    }
    let sensor_id = match param(&pairs, "sensor_id") {
        Some("") => {
            return Ok(reply::taegis_error(
                400,
                "sensor_id must not be empty when given",
            ));
        }
        Some(s) => s.to_owned(),
        None => DEFAULT_SENSOR.to_owned(),
    };
    let service = match param(&pairs, "service") {
        Some("") => {
            return Ok(reply::taegis_error(
                400,
                "service must not be empty when given",
            ));
        }
        other => other.map(str::to_owned),
    };
    let location = presign(
        ctx.common,
        state,
        ctx.id,
        &file_name,
        content_length,
        &sensor_id,
        service.as_deref(),
    );
    #[derive(Serialize)]
    struct Location {
        location: String,
    }
    Ok(reply::json(200, &Location { location }))
}

/// The signed fields of a presigned URL.
struct Signed<'a> {
    path: &'a str,
    file_name: &'a str,
    date: &'a str,
    expires: &'a str,
    length: &'a str,
    sensor: &'a str,
    service: &'a str,
}

impl Signed<'_> {
    fn string_to_sign(&self) -> String {
        format!(
            "PUT\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.path,
            self.file_name,
            self.date,
            self.expires,
            self.length,
            self.sensor,
            self.service
        )
    }
}

fn presign(
    common: &Common,
    state: &State,
    id: u64,
    file_name: &str,
    length: u64,
    sensor: &str,
    service: Option<&str>,
) -> String {
    let now = util::unix_now();
    let date = util::amz_date(now);
    let expires = common.config.presign_ttl.as_secs().to_string();
    let base = file_name
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("file");
    let path = format!("{PUT_PREFIX}{id:016x}/{}", percent_encode(base));
    let length = length.to_string();
    let service = service.unwrap_or("");
    let signed = Signed {
        path: &path,
        file_name,
        date: &date,
        expires: &expires,
        length: &length,
        sensor,
        service,
    };
    let tag = ring::hmac::sign(&state.signing_key, signed.string_to_sign().as_bytes());
    format!(
        "{}{path}?X-Amz-Algorithm={ALGORITHM}&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=content-length%3Bhost&x-emulator-content-length={length}&x-emulator-file-name={}&x-emulator-sensor-id={}&x-emulator-service={}&X-Amz-Signature={}",
        common.base_url,
        percent_encode(file_name),
        percent_encode(sensor),
        percent_encode(service),
        util::hex(tag.as_ref()),
    )
}

/// `PUT` on a presigned URL.
pub(crate) async fn handle_put(
    ctx: &mut Ctx<'_>,
    state: &State,
    req: Request<Incoming>,
) -> Handled {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let id = ctx.id;
    let s3 = |status: u16, code: &str, message: &str| {
        let mut resp = reply::s3_error(status, code, message, &path, id);
        reply::set_header(
            &mut resp,
            header::HeaderName::from_static("x-amz-request-id"),
            &format!("{id:016X}"),
        );
        resp
    };
    // Header checks come first, as S3 answers before reading the body; the body is still
    // read (and discarded) so the client sees the reply.
    let checked = check_put(state, &parts, &s3);
    let signed = match checked {
        Ok(signed) => signed,
        Err(resp) => {
            ctx.drain(body).await?;
            return Ok(resp);
        }
    };
    if ctx.common.config.count_only {
        ctx.drain(body).await?;
        return Ok(reply::empty(200));
    }
    let body = ctx.read_body(body, signed.length).await?;
    if let Some(injected) = ctx.fault().await {
        return ctx.injected(injected, |status| match status {
            FaultStatus::Code(503) | FaultStatus::SdlBackoffIn200 => s3(503, "SlowDown", "Please reduce your request rate."),
            FaultStatus::Code(500) => s3(500, "InternalError", "We encountered an internal error. Please try again."),
            FaultStatus::Code(400) => s3(
                400,
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
            ),
            FaultStatus::Code(403) => s3(403, "AccessDenied", "Access Denied"),
            FaultStatus::Code(code) => s3(code, "InternalError", "injected fault"),
        });
    }
    let Body::Complete(bytes) = body else {
        return Ok(s3(
            400,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
        ));
    };
    ctx.outcome.decoded_bytes = bytes.len() as u64;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => {
            ctx.common
                .stats
                .violation(ViolationKind::NonUtf8Upload, || {
                    format!(
                        "upload {}: not UTF-8, stored with replacement characters",
                        signed.file_name
                    )
                });
            String::from_utf8_lossy(&bytes)
        }
    };
    let mut records = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        records.push(NewRecord {
            text: text[start..end].to_owned(),
            unterminated: false,
            sdl: None,
        });
        start = end + 1;
    }
    if start < text.len() {
        records.push(NewRecord {
            text: text[start..].to_owned(),
            unterminated: true,
            sdl: None,
        });
    }
    let lines = records.len() as u64;
    let upload = Upload {
        request_id: id,
        file_name: signed.file_name.clone(),
        sensor_id: signed.sensor,
        service: (!signed.service.is_empty()).then_some(signed.service),
        bytes: bytes.len() as u64,
        lines,
    };
    if let Err(err) =
        ctx.common
            .store
            .append(ctx.endpoint, &signed.file_name, id, records, Some(upload))
    {
        tracing::error!(%err, "cannot write the records file");
        return Ok(s3(
            500,
            "InternalError",
            "emulator cannot write its records file",
        ));
    }
    ctx.outcome.records = lines;
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let mut resp = reply::empty(200);
    reply::set_header(
        &mut resp,
        header::ETAG,
        &format!("\"{}\"", &util::hex(digest.as_ref())[..32]),
    );
    reply::set_header(
        &mut resp,
        header::HeaderName::from_static("x-amz-request-id"),
        &format!("{id:016X}"),
    );
    Ok(resp)
}

struct PutTarget {
    length: u64,
    file_name: String,
    sensor: String,
    service: String,
}

#[allow(
    clippy::result_large_err,
    reason = "the error is the reply itself, built once per request"
)]
fn check_put(
    state: &State,
    parts: &http::request::Parts,
    s3: &dyn Fn(u16, &str, &str) -> Resp,
) -> Result<PutTarget, Resp> {
    let pairs = parse_query(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let q = |name: &str| param(&pairs, name);
    let has_query_auth = q("X-Amz-Signature").is_some() || q("X-Amz-Algorithm").is_some();
    if parts.headers.contains_key(header::AUTHORIZATION) && has_query_auth {
        return Err(s3(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        ));
    }
    let (Some(signature), Some(date), Some(expires)) =
        (q("X-Amz-Signature"), q("X-Amz-Date"), q("X-Amz-Expires"))
    else {
        return Err(s3(403, "AccessDenied", "Access Denied"));
    };
    if parts
        .headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        return Err(s3(
            501,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
        ));
    }
    let Some(declared) = parts.headers.get(header::CONTENT_LENGTH) else {
        return Err(s3(
            411,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        ));
    };
    let signed = Signed {
        path: parts.uri.path(),
        file_name: q("x-emulator-file-name").unwrap_or(""),
        date,
        expires,
        length: q("x-emulator-content-length").unwrap_or(""),
        sensor: q("x-emulator-sensor-id").unwrap_or(""),
        service: q("x-emulator-service").unwrap_or(""),
    };
    let tag_ok = util::unhex(signature).is_some_and(|tag| {
        ring::hmac::verify(&state.signing_key, signed.string_to_sign().as_bytes(), &tag).is_ok()
    });
    if !tag_ok || q("X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(s3(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    let start = util::parse_amz_date(date);
    let ttl = expires.parse::<u64>().ok();
    match (start, ttl) {
        (Some(start), Some(ttl)) if util::unix_now() < start.saturating_add(ttl) => {}
        _ => return Err(s3(403, "AccessDenied", "Request has expired")),
    }
    let signed_length: u64 = signed.length.parse().unwrap_or(u64::MAX);
    let declared: Option<u64> = declared.to_str().ok().and_then(|v| v.trim().parse().ok());
    if declared != Some(signed_length) {
        return Err(s3(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    let file_name = match signed.file_name {
        "" => parts
            .uri
            .path()
            .rsplit('/')
            .next()
            .and_then(|n| percent_decode(n, false))
            .unwrap_or_default(),
        name => name.to_owned(),
    };
    Ok(PutTarget {
        length: signed_length,
        file_name,
        sensor: signed.sensor.to_owned(),
        service: signed.service.to_owned(),
    })
}
