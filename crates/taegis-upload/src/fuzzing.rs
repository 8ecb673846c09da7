//! Property harnesses for the fuzz targets in `fuzz/` (public so the fuzz crate can call
//! them; not part of the stable API).

use crate::{ParseError, parse_presign_response, parse_token_response};
use std::time::{Duration, UNIX_EPOCH};

/// Token responses: never a panic; an accepted token is non-empty visible ASCII (it goes
/// into an `Authorization` header); no error message quotes the token; the lifetime is
/// `expires_in` when present, and never negative.
pub fn token_response(data: &[u8]) {
    match parse_token_response(data) {
        Ok(response) => {
            let token = response.access_token.expose();
            assert!(!token.is_empty());
            assert!(token.bytes().all(|b| b.is_ascii_graphic()), "{token:?}");
            assert!(
                logferry_http::authorization("Bearer", &response.access_token).is_ok(),
                "an accepted token fits a header"
            );
            let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            match (response.expires_in, response.lifetime(now)) {
                (Some(secs), lifetime) => assert_eq!(lifetime, Some(Duration::from_secs(secs))),
                (None, Some(_)) => assert!(response.jwt_exp.is_some()),
                (None, None) => assert!(response.jwt_exp.is_none()),
            }
            if let Some(kind) = &response.token_type {
                assert!(!kind.chars().any(char::is_control));
            }
        }
        Err(err) => check_error(&err, data),
    }
}

/// Presign responses: never a panic; an accepted location is an https URL or a loopback
/// http one, without credentials in its authority (an `@` in the path is fine), and prints
/// without its query string.
pub fn presign_response(data: &[u8]) {
    match parse_presign_response(data) {
        Ok(url) => {
            assert!(
                url.is_https() || logferry_http::is_loopback(url.host()),
                "{url}"
            );
            let shown = url.to_string();
            let authority = url.uri().authority().map_or("", |a| a.as_str());
            assert!(!authority.contains('@'), "{shown}: credentials in the URL");
            if url.uri().query().is_some() {
                let after = shown.split_once('?').map(|(_, after)| after);
                assert_eq!(after, Some("…"), "{shown} shows its query");
            }
        }
        Err(err) => check_error(&err, data),
    }
}

/// Error messages are one line and never longer than the input warrants.
fn check_error(err: &ParseError, data: &[u8]) {
    let shown = err.to_string();
    assert!(!shown.contains('\n'), "{shown:?}");
    assert!(shown.len() <= 400 + data.len(), "{shown:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harnesses_accept_their_seeds() {
        for seed in [
            &br#"{"access_token":"abc","token_type":"bearer","expires_in":3600}"#[..],
            br#"{"access_token":"a.eyJleHAiOjE3MDAwMDAzMDB9.c"}"#,
            b"{}",
            b"\xff",
        ] {
            token_response(seed);
        }
        for seed in [
            &br#"{"location":"https://b.s3.amazonaws.com/k?X-Amz-Signature=s"}"#[..],
            br#"{"location":"http://127.0.0.1:1/k?sig=s"}"#,
            br#"{"location":"http://example.com/k"}"#,
            b"[",
        ] {
            presign_response(seed);
        }
    }
}
