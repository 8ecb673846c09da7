//! Credentials: HTTP Ingest integration keys, Taegis client credentials and access
//! tokens, SDL keys; and the Taegis token endpoint.
//!
//! The token endpoint, `POST /auth/api/v2/auth/token`, is not in the seeds: it is the
//! path the vendor's Python SDK uses, an OAuth2 client-credentials grant (RFC 6749 §4.4).
//! It takes the client id and secret as HTTP Basic (the OAuth2 default, §2.3.1), in a
//! form body, or in a JSON body (as some public clients send), and refuses two at once
//! ("The client MUST NOT use more than one authentication method in each request").
//! Errors follow §5.2 (`invalid_request`, `invalid_client`, `unsupported_grant_type`).

use crate::reply::{self, Resp};
use crate::server::{Ctx, Handled, method_not_allowed, taegis_fault};
use crate::util::{parse_query, random_secret};
use base64::Engine;
use http::{Method, Request, header};
use hyper::body::Incoming;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest token request body read (a form with two short fields).
const TOKEN_BODY_LIMIT: u64 = 64 * 1024;

/// How a credential check turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Valid,
    /// Not known here (or belongs to another integration).
    Unknown,
    /// Known but revoked (a deleted integration).
    Revoked,
    /// An access token past its lifetime.
    Expired,
}

#[derive(Debug, Default)]
struct State {
    /// Integration id → key.
    integrations: HashMap<String, String>,
    sdl_keys: HashSet<String>,
    /// Access token → expiry (`None`: the static token, which does not expire).
    tokens: HashMap<String, Option<Instant>>,
    revoked: HashSet<String>,
}

/// Every credential the emulator knows.
pub(crate) struct Credentials {
    state: Mutex<State>,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

/// A new random key.
pub(crate) fn new_key() -> String {
    random_secret(24)
}

impl Credentials {
    pub(crate) fn new() -> Credentials {
        Credentials {
            state: Mutex::new(State::default()),
            client_id: format!("emulator-client-{}", &random_secret(6)),
            client_secret: random_secret(24),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an integration (or gives it a new key) and returns its key.
    pub(crate) fn add_integration(&self, id: &str) -> String {
        let key = new_key();
        self.state().integrations.insert(id.to_owned(), key.clone());
        key
    }

    pub(crate) fn add_sdl_key(&self) -> String {
        let key = new_key();
        self.state().sdl_keys.insert(key.clone());
        key
    }

    pub(crate) fn add_static_token(&self) -> String {
        let token = random_secret(32);
        self.state().tokens.insert(token.clone(), None);
        token
    }

    /// Marks a key or token revoked; false when it is not known.
    pub(crate) fn revoke(&self, key: &str) -> bool {
        let mut state = self.state();
        let known = state.integrations.values().any(|k| k == key)
            || state.sdl_keys.contains(key)
            || state.tokens.contains_key(key);
        if known {
            state.revoked.insert(key.to_owned());
        }
        known
    }

    pub(crate) fn check_ingest(&self, integration: &str, key: &str) -> Check {
        let state = self.state();
        match state.integrations.get(integration) {
            Some(k) if k == key && state.revoked.contains(key) => Check::Revoked,
            Some(k) if k == key => Check::Valid,
            _ => Check::Unknown,
        }
    }

    pub(crate) fn check_sdl(&self, key: &str) -> Check {
        let state = self.state();
        if !state.sdl_keys.contains(key) {
            Check::Unknown
        } else if state.revoked.contains(key) {
            Check::Revoked
        } else {
            Check::Valid
        }
    }

    pub(crate) fn check_token(&self, token: &str) -> Check {
        let state = self.state();
        match state.tokens.get(token) {
            None => Check::Unknown,
            Some(_) if state.revoked.contains(token) => Check::Revoked,
            Some(Some(expiry)) if Instant::now() >= *expiry => Check::Expired,
            Some(_) => Check::Valid,
        }
    }

    fn issue_token(&self, ttl: Duration) -> String {
        let token = random_secret(32);
        let now = Instant::now();
        let mut state = self.state();
        state
            .tokens
            .retain(|_, expiry| expiry.is_none_or(|e| e > now));
        state.tokens.insert(token.clone(), Some(now + ttl));
        token
    }

    fn client_matches(&self, id: &str, secret: &str) -> bool {
        let id_ok = crate::util::constant_time_eq(id.as_bytes(), self.client_id.as_bytes());
        let secret_ok =
            crate::util::constant_time_eq(secret.as_bytes(), self.client_secret.as_bytes());
        id_ok && secret_ok
    }
}

/// The credential of an `Authorization: <scheme> <credential>` header when the scheme is
/// one of `schemes` (compared case-insensitively, RFC 9110 §11.1).
pub(crate) fn credential<'a>(headers: &'a http::HeaderMap, schemes: &[&str]) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let cred = rest.trim_start_matches(' ');
    (!cred.is_empty()).then_some(cred)
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
pub(crate) async fn handle_token(ctx: &mut Ctx, req: Request<Incoming>) -> Handled {
    if req.method() != Method::POST {
        return method_not_allowed(ctx, req, "POST").await;
    }
    let (parts, body) = req.into_parts();
    let body = ctx.read_body(body, TOKEN_BODY_LIMIT).await?;
    if let Some(injected) = ctx.fault().await {
        return ctx.injected(injected, taegis_fault);
    }
    let crate::server::Body::Complete(body) = body else {
        return Ok(oauth_error(
            413,
            "invalid_request",
            "request body too large",
        ));
    };
    Ok(token_reply(ctx, &parts.headers, &body))
}

fn token_reply(ctx: &Ctx, headers: &http::HeaderMap, body: &[u8]) -> Resp {
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
    if !ctx.shared.creds.client_matches(&id, &secret) {
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
    let ttl = ctx.shared.config.token_ttl;
    let token = ctx.shared.creds.issue_token(ttl);
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
