//! Access tokens: a static token, or OAuth2 client credentials exchanged at the token
//! endpoint, cached and refreshed before they expire.
//!
//! The File Upload seed begins: "Before proceeding, complete the API Authentication steps
//! in order to obtain a working access token." The authentication steps are not in the
//! seeds; the token endpoint used here, `POST {endpoint}/auth/api/v2/auth/token`, is the
//! path the vendor's Python SDK uses: an OAuth2 client-credentials grant (RFC 6749, 4.4)
//! with `grant_type=client_credentials` in a form body and the client id and secret as
//! HTTP Basic (the OAuth2 default, 2.3.1).

use crate::error::sanitize;
use crate::{Error, ParseError};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, header};
use logferry_http::{Client, IngestUrl, Secret, authorization, full};
use logferry_retry::{
    BudgetConfig, FastRng, Finish, GaveUp, Outcome, Retrier, Stop, TokioClock, Verdict, classify,
};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The token endpoint's path below the API endpoint.
pub const TOKEN_PATH: &str = "/auth/api/v2/auth/token";

/// How the uploader authenticates to the presign endpoint.
///
/// `Debug` never shows a secret (they are [`Secret`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// A ready access token, sent as `Authorization: Bearer <token>`. It is never
    /// refreshed: when the presign endpoint refuses it (401), uploads stop with
    /// [`Error::AccessTokenRejected`].
    AccessToken(Secret),
    /// OAuth2 client credentials, exchanged for access tokens at
    /// `POST {endpoint}/auth/api/v2/auth/token`.
    ClientCredentials {
        /// The client id (not a secret; it appears in logs).
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
}

impl Credentials {
    /// Client credentials.
    pub fn client(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Credentials {
        Credentials::ClientCredentials {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// A static access token.
    pub fn token(token: impl Into<Secret>) -> Credentials {
        Credentials::AccessToken(token.into())
    }
}

/// Token settings. `TokenConfig::default()` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenConfig {
    /// A token is replaced this long before it expires, or halfway through its lifetime
    /// when that comes first (so a short-lived token is still used). Default: 60 s.
    pub refresh_margin: Duration,
    /// The lifetime assumed when the token response has neither `expires_in` nor a JWT
    /// `exp` claim. Default: 15 minutes (a token refused earlier is refreshed on the 401).
    pub default_lifetime: Duration,
    /// Backoff and stop conditions of the token request (retried on 408, 429, 5xx and
    /// transport failures; see [`classify::token_endpoint`]). Default: the
    /// `logferry-retry` defaults, stopping after 5 attempts.
    pub retry: logferry_retry::Config,
    /// The retry budget of the token requests. Default: [`BudgetConfig::default`].
    pub budget: BudgetConfig,
}

impl Default for TokenConfig {
    fn default() -> TokenConfig {
        TokenConfig {
            refresh_margin: Duration::from_secs(60),
            default_lifetime: Duration::from_secs(15 * 60),
            retry: logferry_retry::Config {
                stop: Stop::after_attempts(5),
                ..logferry_retry::Config::default()
            },
            budget: BudgetConfig::default(),
        }
    }
}

/// An access token handed out by a [`TokenProvider`]. `Debug` shows only its generation.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: Secret,
    generation: u64,
}

impl AccessToken {
    /// The token.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Which token this is: 1 for the first obtained, counting up with each refresh.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &self.secret)
            .field("generation", &self.generation)
            .finish()
    }
}

/// A token endpoint's successful reply (RFC 6749, 5.1), parsed by
/// [`parse_token_response`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenResponse {
    /// `access_token`: non-empty, visible ASCII (it must fit an HTTP header).
    pub access_token: Secret,
    /// `token_type`, when given (expected `bearer`, any case; not enforced).
    pub token_type: Option<String>,
    /// `expires_in` in seconds, when given (a number or a string of digits).
    pub expires_in: Option<u64>,
    /// The `exp` claim (Unix seconds) of the token when it is a JWT, decoded from its
    /// middle segment without verifying anything: it only schedules a refresh.
    pub jwt_exp: Option<u64>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("jwt_exp", &self.jwt_exp)
            .finish()
    }
}

impl TokenResponse {
    /// How long the token lives from `now`: `expires_in`, else the JWT `exp` minus `now`
    /// (zero when already past), else `None`.
    pub fn lifetime(&self, now: SystemTime) -> Option<Duration> {
        if let Some(secs) = self.expires_in {
            return Some(Duration::from_secs(secs));
        }
        let exp = UNIX_EPOCH.checked_add(Duration::from_secs(self.jwt_exp?))?;
        Some(exp.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

/// Parses a token endpoint's 200 body: a JSON object with a string `access_token`, an
/// optional `token_type`, and an optional `expires_in` (seconds, as a number or a string
/// of digits). When the token is a JWT, its `exp` claim is read too.
///
/// ```
/// use logferry_taegis_upload::parse_token_response;
/// let r = parse_token_response(br#"{"access_token":"abc","token_type":"bearer","expires_in":3600}"#).unwrap();
/// assert_eq!((r.access_token.expose(), r.expires_in), ("abc", Some(3600)));
/// let err = parse_token_response(br#"{"token_type":"bearer"}"#).unwrap_err();
/// assert_eq!(err.to_string(), "`access_token` is missing");
/// ```
pub fn parse_token_response(body: &[u8]) -> Result<TokenResponse, ParseError> {
    let map = json_object(body)?;
    let token = match map.get("access_token") {
        None | Some(serde_json::Value::Null) => return Err(ParseError::Missing("access_token")),
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return Err(invalid("access_token", "is not a string")),
    };
    if token.is_empty() {
        return Err(invalid("access_token", "is empty"));
    }
    // RFC 6750's b64token is narrower; anything a header can carry is accepted.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "access_token",
            "contains characters an Authorization header cannot carry",
        ));
    }
    let token_type = match map.get("token_type") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(sanitize(s)),
        Some(_) => return Err(invalid("token_type", "is not a string")),
    };
    let expires_in = match map.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(
            n.as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        // Saturates: a lifetime of centuries is as good as forever.
                        .map(|f| f as u64)
                })
                .ok_or_else(|| invalid("expires_in", "is not a non-negative number"))?,
        ),
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(
                s.parse()
                    .map_err(|_| invalid("expires_in", "is out of range"))?,
            )
        }
        Some(_) => {
            return Err(invalid(
                "expires_in",
                "is neither a number nor a string of digits",
            ));
        }
    };
    Ok(TokenResponse {
        jwt_exp: jwt_exp(token),
        access_token: Secret::new(token.as_str()),
        token_type,
        expires_in,
    })
}

/// The `exp` claim of a JWT (`header.payload.signature`, base64url), read without
/// verifying anything. `None` for anything that is not a JWT with a numeric `exp`.
pub(crate) fn jwt_exp(token: &str) -> Option<u64> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > 64 * 1024 {
        return None;
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let claims = engine.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&claims).ok()?;
    let exp = claims.get("exp")?;
    exp.as_u64().or_else(|| {
        exp.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

pub(crate) fn json_object(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, ParseError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParseError::NotAnObject(
            "a JSON value, but not an object".into(),
        )),
        // serde_json's messages name a position, never the input.
        Err(e) => Err(ParseError::NotAnObject(e.to_string())),
    }
}

pub(crate) fn invalid(field: &'static str, problem: &str) -> ParseError {
    ParseError::Invalid {
        field,
        problem: problem.to_owned(),
    }
}

/// When a token obtained at `obtained` and living `lifetime` should be replaced.
pub(crate) fn refresh_at(obtained: Instant, lifetime: Duration, margin: Duration) -> Instant {
    let early = margin.min(lifetime / 2);
    obtained + lifetime.saturating_sub(early)
}

/// A monotonic clock for token expiry (injectable for tests).
type Now = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    generation: u64,
    /// A refusal of the client credentials, remembered: the same credentials are not
    /// sent again (every upload would repeat the request, and repeated bad attempts can
    /// lock an account).
    refused: Option<(logferry_retry::FatalReason, Option<String>)>,
}

/// Hands out access tokens to concurrent uploads: one static token, or tokens from the
/// client-credentials grant, cached and refreshed before they expire.
///
/// Share it with an `Arc`. Getting a token takes an async lock that is held while a new
/// token is fetched, so however many uploads find the token stale at once, **one** request
/// goes to the token endpoint and every waiter gets its answer (no thundering herd).
///
/// A token is replaced [`TokenConfig::refresh_margin`] before it expires (or halfway
/// through its lifetime if that is sooner). Its lifetime is `expires_in` from the token
/// response, else the JWT `exp` claim of the token (decoded without verification), else
/// [`TokenConfig::default_lifetime`]. When the presign endpoint still answers 401, the
/// uploader calls [`TokenProvider::refresh`] with the refused token, once per presign.
///
/// When the token endpoint refuses the client credentials (400, 401, 403), the refusal is
/// remembered and returned to every later caller without another request.
pub struct TokenProvider {
    client: Client,
    endpoint: IngestUrl,
    token_url: IngestUrl,
    credentials: Credentials,
    config: TokenConfig,
    retrier: Retrier<TokioClock, FastRng>,
    now: Now,
    state: tokio::sync::Mutex<State>,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What one token request produced.
enum Attempt {
    Response(http::Response<Bytes>),
    /// No response ([`logferry_http::Error::verdict`] says whether it is retried).
    Failed(logferry_http::Error),
}

impl TokenProvider {
    /// A provider for `credentials` at the API `endpoint` (see
    /// [`Region::endpoint`](crate::Region::endpoint)).
    pub fn new(
        client: Client,
        endpoint: IngestUrl,
        credentials: Credentials,
        config: TokenConfig,
    ) -> Result<TokenProvider, Error> {
        TokenProvider::with_clock(client, endpoint, credentials, config, Instant::now)
    }

    /// Like [`TokenProvider::new`], reading monotonic time from `now` (tests move time
    /// forward to see tokens refreshed; everything else uses [`Instant::now`]).
    pub fn with_clock(
        client: Client,
        endpoint: IngestUrl,
        credentials: Credentials,
        config: TokenConfig,
        now: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Result<TokenProvider, Error> {
        let bad = |field, reason: &str| Error::InvalidConfig {
            field,
            reason: reason.to_owned(),
        };
        match &credentials {
            Credentials::AccessToken(token) if token.is_empty() => {
                return Err(bad("credentials", "holds an empty access token"));
            }
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                if client_id.is_empty() || client_secret.is_empty() {
                    return Err(bad(
                        "credentials",
                        "needs both a client id and a client secret",
                    ));
                }
                if client_id.contains(':') {
                    return Err(bad(
                        "credentials",
                        "has a client id containing `:`, which HTTP Basic cannot carry",
                    ));
                }
            }
            Credentials::AccessToken(_) => {}
        }
        if config.default_lifetime.is_zero() {
            return Err(bad("token.default_lifetime", "must be above zero"));
        }
        let retrier = Retrier::from_config(&config.retry, config.budget)
            .map_err(|e| bad("token.retry", &e.to_string()))?;
        let token_url = endpoint.join(TOKEN_PATH).map_err(Error::InvalidEndpoint)?;
        Ok(TokenProvider {
            client,
            endpoint,
            token_url,
            credentials,
            retrier,
            config,
            now: Arc::new(now),
            state: tokio::sync::Mutex::new(State::default()),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        })
    }

    /// True for client credentials; a static token cannot be refreshed.
    pub fn can_refresh(&self) -> bool {
        matches!(self.credentials, Credentials::ClientCredentials { .. })
    }

    /// Requests sent to the token endpoint so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Of [`TokenProvider::requests`], how many were retries.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// A token that is not due for refresh: the cached one, or a new one from the token
    /// endpoint (one request, whoever else is waiting).
    pub async fn token(&self) -> Result<AccessToken, Error> {
        let mut state = self.state.lock().await;
        if let Some(cached) = &state.current
            && (self.now)() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        self.renew(&mut state).await
    }

    /// A replacement for `refused`, which the presign endpoint answered 401. If another
    /// upload already replaced it, that newer token is returned without a request. A
    /// static token is returned as it is (check [`TokenProvider::can_refresh`]).
    pub async fn refresh(&self, refused: &AccessToken) -> Result<AccessToken, Error> {
        let mut state = self.state.lock().await;
        if let Some(cached) = &state.current
            && cached.token.generation != refused.generation
            && (self.now)() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        self.renew(&mut state).await
    }

    async fn renew(&self, state: &mut State) -> Result<AccessToken, Error> {
        let (client_id, client_secret) = match &self.credentials {
            Credentials::AccessToken(token) => {
                let cached = state.current.get_or_insert_with(|| Cached {
                    token: AccessToken {
                        secret: token.clone(),
                        generation: 1,
                    },
                    // A static token is good until the server says otherwise.
                    refresh_at: (self.now)() + Duration::from_secs(100 * 365 * 24 * 3600),
                });
                return Ok(cached.token.clone());
            }
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        if let Some((reason, oauth_error)) = &state.refused {
            return Err(Error::TokenRefused {
                reason: reason.clone(),
                oauth_error: oauth_error.clone(),
            });
        }
        let obtained = (self.now)();
        let wall = SystemTime::now();
        let response = match self.request(client_id, client_secret).await {
            Ok(response) => response,
            Err(Error::TokenRefused {
                reason,
                oauth_error,
            }) => {
                state.refused = Some((reason.clone(), oauth_error.clone()));
                return Err(Error::TokenRefused {
                    reason,
                    oauth_error,
                });
            }
            Err(e) => return Err(e),
        };
        let lifetime = response
            .lifetime(wall)
            .unwrap_or(self.config.default_lifetime);
        state.generation += 1;
        let token = AccessToken {
            secret: response.access_token,
            generation: state.generation,
        };
        tracing::info!(
            endpoint = %self.endpoint,
            %client_id,
            generation = token.generation,
            lifetime_secs = lifetime.as_secs(),
            lifetime_from = if response.expires_in.is_some() {
                "expires_in"
            } else if response.jwt_exp.is_some() {
                "jwt exp"
            } else {
                "default"
            },
            "access token obtained"
        );
        state.current = Some(Cached {
            token: token.clone(),
            refresh_at: refresh_at(obtained, lifetime, self.config.refresh_margin),
        });
        Ok(token)
    }

    /// One client-credentials exchange, retried under the token policy.
    async fn request(
        &self,
        client_id: &str,
        client_secret: &Secret,
    ) -> Result<TokenResponse, Error> {
        let basic = Secret::new(
            base64::engine::general_purpose::STANDARD
                .encode(format!("{client_id}:{}", client_secret.expose())),
        );
        let auth = authorization("Basic", &basic).map_err(|source| Error::Http {
            step: "the token request".into(),
            source,
        })?;
        let report = self
            .retrier
            .run(
                |attempt| {
                    let auth = auth.clone();
                    async move {
                        self.requests.fetch_add(1, Ordering::Relaxed);
                        if attempt > 1 {
                            self.retries.fetch_add(1, Ordering::Relaxed);
                        }
                        self.attempt(auth).await
                    }
                },
                |info| {
                    if let Some(delay) = info.next_delay {
                        tracing::warn!(attempt = info.attempt, verdict = %info.verdict, ?delay, "token request failed; retrying");
                    }
                },
            )
            .await;
        let step = || "the token request".to_owned();
        match (report.finish, report.value) {
            (Finish::Delivered, Attempt::Response(response)) => {
                parse_token_response(response.body()).map_err(Error::TokenResponse)
            }
            (Finish::GaveUp(GaveUp::Stopped), Attempt::Failed(source)) => Err(Error::Http {
                step: step(),
                source,
            }),
            (Finish::GaveUp(GaveUp::Fatal(reason)), value) => Err(Error::TokenRefused {
                reason,
                oauth_error: match value {
                    Attempt::Response(r) => oauth_error(r.body()),
                    _ => None,
                },
            }),
            (_, value) => Err(Error::GaveUp {
                step: step(),
                attempts: report.attempts,
                last: describe(&report.last_verdict, &value),
            }),
        }
    }

    async fn attempt(&self, auth: HeaderValue) -> Outcome<Attempt> {
        let request = self
            .client
            .request(Method::POST, &self.token_url)
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        let classify = |response: http::Response<Bytes>| {
            let verdict = classify::token_endpoint(response.status(), response.headers());
            Outcome::new(verdict, Attempt::Response(response))
        };
        let body = full("grant_type=client_credentials");
        self.client
            .exchange(request, body, None, classify, Attempt::Failed)
            .await
    }
}

fn describe(verdict: &Verdict, value: &Attempt) -> String {
    match value {
        Attempt::Failed(e) => format!("{verdict}: {e}"),
        _ => verdict.to_string(),
    }
}

/// `error` and `error_description` of an OAuth2 error reply (RFC 6749, 5.2).
fn oauth_error(body: &[u8]) -> Option<String> {
    let map = json_object(body).ok()?;
    let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(sanitize);
    match (text("error"), text("error_description")) {
        (Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (Some(e), None) => Some(e),
        (None, Some(d)) => Some(d),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.{}",
            b64.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64.encode(claims),
            b64.encode("not-checked")
        )
    }

    #[test]
    fn expires_in_as_number_or_digits() {
        for (body, expect) in [
            (r#"{"access_token":"t","expires_in":3600}"#, Some(3600)),
            (r#"{"access_token":"t","expires_in":"120"}"#, Some(120)),
            (r#"{"access_token":"t","expires_in":59.9}"#, Some(59)),
            (r#"{"access_token":"t","expires_in":null}"#, None),
            (r#"{"access_token":"t"}"#, None),
        ] {
            let r = parse_token_response(body.as_bytes()).unwrap();
            assert_eq!(r.expires_in, expect, "{body}");
            assert_eq!(r.access_token.expose(), "t");
        }
    }

    #[test]
    fn bad_bodies_say_why_without_quoting_the_token() {
        let cases = [
            (
                "",
                "the body is not a JSON object (EOF while parsing a value at line 1 column 0)",
            ),
            (
                "[1]",
                "the body is not a JSON object (a JSON value, but not an object)",
            ),
            (r#"{"access_token":7}"#, "`access_token` is not a string"),
            (r#"{"access_token":""}"#, "`access_token` is empty"),
            (
                r#"{"access_token":"sec ret"}"#,
                "`access_token` contains characters an Authorization header cannot carry",
            ),
            (
                r#"{"access_token":"t","expires_in":-5}"#,
                "`expires_in` is not a non-negative number",
            ),
            (
                r#"{"access_token":"t","expires_in":"soon"}"#,
                "`expires_in` is neither a number nor a string of digits",
            ),
            (
                r#"{"access_token":"t","token_type":1}"#,
                "`token_type` is not a string",
            ),
        ];
        for (body, message) in cases {
            let err = parse_token_response(body.as_bytes()).unwrap_err();
            assert_eq!(err.to_string(), message, "{body}");
            assert!(!format!("{err:?}").contains("sec ret"));
        }
    }

    #[test]
    fn lifetime_from_expires_in_then_jwt_exp() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = jwt(r#"{"sub":"x","exp":1700000300}"#);
        assert_eq!(jwt_exp(&token), Some(1_700_000_300));
        let body = format!(r#"{{"access_token":"{token}"}}"#);
        let r = parse_token_response(body.as_bytes()).unwrap();
        assert_eq!(r.lifetime(now), Some(Duration::from_secs(300)));
        // expires_in wins over exp.
        let body = format!(r#"{{"access_token":"{token}","expires_in":60}}"#);
        let r = parse_token_response(body.as_bytes()).unwrap();
        assert_eq!(r.lifetime(now), Some(Duration::from_secs(60)));
        // An exp in the past: zero, refresh at once.
        let r = parse_token_response(br#"{"access_token":"a.eyJleHAiOjF9.c"}"#).unwrap();
        assert_eq!(r.jwt_exp, Some(1));
        assert_eq!(r.lifetime(now), Some(Duration::ZERO));
        // Opaque tokens and malformed JWTs have no lifetime.
        for t in ["opaque", "a.b", "a.!!!.c", "a.e30.c", "a.b.c.d"] {
            assert_eq!(jwt_exp(t), None, "{t}");
        }
        // Padding is tolerated.
        let padded = format!(
            "h.{}.s",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":5}"#)
        );
        assert_eq!(jwt_exp(&padded), Some(5));
    }

    #[test]
    fn refresh_margin_never_more_than_half_the_lifetime() {
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(refresh_at(t0, 60 * minute, minute), t0 + 59 * minute);
        assert_eq!(refresh_at(t0, minute, minute), t0 + minute / 2);
        assert_eq!(refresh_at(t0, Duration::ZERO, minute), t0);
    }

    #[test]
    fn debug_shows_no_secret() {
        let creds = Credentials::client("id-1", "hunter2-secret");
        let r = parse_token_response(br#"{"access_token":"tok-XYZ"}"#).unwrap();
        let shown = format!("{creds:?} {r:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-XYZ"),
            "{shown}"
        );
        assert!(shown.contains("id-1"));
    }
}
