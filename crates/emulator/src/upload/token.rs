//! The Taegis token endpoint and the access tokens File Upload's presign endpoint takes.
//!
//! The token endpoint, `POST /auth/api/v2/auth/token`, is not in the seeds: it is the
//! path the vendor's Python SDK uses, an OAuth2 client-credentials grant (RFC 6749 §4.4).
//! It takes the client id and secret as HTTP Basic (the OAuth2 default, §2.3.1), in a
//! form body, or in a JSON body (as some public clients send), and refuses two at once
//! ("The client MUST NOT use more than one authentication method in each request").
//! Errors follow §5.2 (`invalid_request`, `invalid_client`, `unsupported_grant_type`).

use super::State;
use crate::auth::{Check, credential};
use crate::ctx::{Body, Ctx, Handled, taegis_fault};
use crate::reply::{self, Resp};
use crate::util::{constant_time_eq, parse_query, random_secret};
use base64::Engine;
use http::{Request, header};
use hyper::body::Incoming;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The largest token request body read (a form with two short fields).
const TOKEN_BODY_LIMIT: u64 = 64 * 1024;

impl State {
    /// Adds a static access token, which does not expire (but can be revoked).
    pub(crate) fn add_static_token(&self) -> String {
        let token = random_secret(32);
        self.tokens.insert(token.clone(), None, |_| true);
        token
    }

    pub(crate) fn check_token(&self, token: &str) -> Check {
        self.tokens.check(token, |expiry, revoked| match expiry {
            _ if revoked => Check::Revoked,
            Some(expiry) if Instant::now() >= *expiry => Check::Expired,
            _ => Check::Valid,
        })
    }

    /// A new token living `ttl`; tokens already expired are forgotten.
    fn issue_token(&self, ttl: Duration) -> String {
        let token = random_secret(32);
        let now = Instant::now();
        self.tokens
            .insert(token.clone(), Some(now + ttl), |expiry| {
                expiry.is_none_or(|e| e > now)
            });
        token
    }

    fn client_matches(&self, id: &str, secret: &str) -> bool {
        let id_ok = constant_time_eq(id.as_bytes(), self.client_id.as_bytes());
        let secret_ok = constant_time_eq(secret.as_bytes(), self.client_secret.as_bytes());
        id_ok && secret_ok
    }
}

/// The token endpoint's OAuth2 error reply (RFC 6749 §5.2).
fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    #[derive(Serialize)]
    struct Body<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    reply::json(
        status,
        &Body {
            error,
            error_description: description,
        },
    )
}

/// `POST /auth/api/v2/auth/token`.
pub(crate) async fn handle_token(
    ctx: &mut Ctx<'_>,
    state: &State,
    req: Request<Incoming>,
) -> Handled {
    let (parts, body) = req.into_parts();
    let body = ctx.read_body(body, TOKEN_BODY_LIMIT).await?;
    if let Some(injected) = ctx.fault().await {
        return ctx.injected(injected, taegis_fault);
    }
    let Body::Complete(body) = body else {
        return Ok(oauth_error(
            413,
            "invalid_request",
            "request body too large",
        ));
    };
    Ok(token_reply(ctx, state, &parts.headers, &body))
}

fn token_reply(ctx: &Ctx<'_>, state: &State, headers: &http::HeaderMap, body: &[u8]) -> Resp {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(_) => match credential(headers, &["Basic"]).and_then(decode_basic) {
            Some(pair) => Some(pair),
            None => {
                return oauth_error(
                    401,
                    "invalid_client",
                    "the Authorization header is not valid HTTP Basic",
                );
            }
        },
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let Ok(text) = std::str::from_utf8(body) else {
        return oauth_error(400, "invalid_request", "request body is not UTF-8");
    };
    let params: Vec<(String, String)> = match content_type.as_deref() {
        Some("application/json") => {
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
                Ok(map) => map
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                    .collect(),
                Err(_) => {
                    return oauth_error(
                        400,
                        "invalid_request",
                        "request body is not a JSON object",
                    );
                }
            }
        }
        None | Some("application/x-www-form-urlencoded") => match parse_query(text) {
            Ok(pairs) => pairs,
            Err(msg) => return oauth_error(400, "invalid_request", &msg),
        },
        Some(other) => {
            return oauth_error(
                400,
                "invalid_request",
                &format!(
                    "unsupported content type `{other}` (use application/x-www-form-urlencoded)"
                ),
            );
        }
    };
    let param = |name: &str| crate::util::param(&params, name);
    match param("grant_type") {
        None => return oauth_error(400, "invalid_request", "grant_type is required"),
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
    }
    let body_creds = match (param("client_id"), param("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        (Some(_), None) | (None, Some(_)) if basic.is_none() => {
            return oauth_error(
                401,
                "invalid_client",
                "client_id and client_secret go together",
            );
        }
        _ => None,
    };
    let (id, secret, used_basic) = match (basic, body_creds) {
        (Some(_), Some(_)) => {
            return oauth_error(
                400,
                "invalid_request",
                "client credentials given twice (Authorization header and body)",
            );
        }
        (Some((id, secret)), None) => (id, secret, true),
        (None, Some((id, secret))) => (id, secret, false),
        (None, None) => return oauth_error(401, "invalid_client", "no client credentials"),
    };
    if !state.client_matches(&id, &secret) {
        let mut resp = oauth_error(401, "invalid_client", "unknown client or wrong secret");
        if used_basic {
            reply::set_header(
                &mut resp,
                header::WWW_AUTHENTICATE,
                "Basic realm=\"taegis\"",
            );
        }
        return resp;
    }
    let ttl = ctx.common.config.token_ttl;
    let token = state.issue_token(ttl);
    #[derive(Serialize)]
    struct Token {
        access_token: String,
        token_type: &'static str,
        expires_in: u64,
    }
    let mut resp = reply::json(
        200,
        &Token {
            access_token: token,
            token_type: "bearer",
            expires_in: ttl.as_secs(),
        },
    );
    reply::set_header(&mut resp, header::CACHE_CONTROL, "no-store");
    resp
}

fn decode_basic(cred: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cred)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_revocation_wins_and_expired_ones_are_forgotten() {
        let state = State::new();
        let fixed = state.add_static_token();
        let short = state.issue_token(Duration::ZERO);
        assert_eq!(state.check_token(&fixed), Check::Valid);
        assert_eq!(state.check_token(&short), Check::Expired);
        assert_eq!(state.check_token("never issued"), Check::Unknown);
        let long = state.issue_token(Duration::from_secs(3600));
        assert_eq!(state.check_token(&long), Check::Valid);
        assert_eq!(
            state.check_token(&short),
            Check::Unknown,
            "issuing a token forgets the expired ones"
        );
        assert!(!state.revoke(&short));
        assert!(state.revoke(&fixed) && state.revoke(&long));
        assert_eq!(state.check_token(&fixed), Check::Revoked);
        assert_eq!(state.check_token(&long), Check::Revoked);
        let expired = state.issue_token(Duration::ZERO);
        assert!(state.revoke(&expired));
        assert_eq!(state.check_token(&expired), Check::Revoked);
    }

    #[test]
    fn the_client_must_match_both_id_and_secret() {
        let state = State::new();
        let (id, secret) = (
            state.client_id().to_owned(),
            state.client_secret().to_owned(),
        );
        assert!(state.client_matches(&id, &secret));
        assert!(!state.client_matches(&id, &id));
        assert!(!state.client_matches(&secret, &secret));
    }
}
