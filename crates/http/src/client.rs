//! The pooled HTTPS client.

use crate::{BoxError, Error, FailureKind, IngestUrl, RequestCounts};
use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http::{Request, Response};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as Pooled;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use logferry_retry::Outcome;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request body: anything implementing [`http_body::Body`] with `Bytes` frames, boxed.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body holding `bytes` whole.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The value every request carries in `User-Agent`.
pub const USER_AGENT_VALUE: &str = concat!("logferry/", env!("CARGO_PKG_VERSION"));

/// Client settings. `ClientConfig::default()` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TCP connect timeout (TLS handshake excluded). Default: 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request: sending the body, receiving the response.
    /// Default: 60 s. [`Client::send_with_timeout`] overrides it per request (for large
    /// uploads).
    pub request_timeout: Duration,
    /// A PEM file of extra CA certificates trusted beside the webpki roots (a private CA,
    /// a TLS-inspecting proxy, the emulator's CA). Default: none.
    pub ca_file: Option<PathBuf>,
    /// Extra CA certificates as PEM text, like `ca_file`. Default: none.
    pub ca_pem: Option<String>,
    /// Idle pooled connections are closed after this long. Default: 90 s.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per host. Default: 32.
    pub pool_max_idle_per_host: usize,
    /// Response bodies are read up to this many bytes (the rest is discarded: only
    /// status strings and error messages are needed). Default: 1 MiB.
    pub max_response_bytes: usize,
    /// Offer HTTP/2 by ALPN besides HTTP/1.1 on TLS connections. Default: true.
    pub http2: bool,
}

impl ClientConfig {
    /// The TLS settings of every connection the client makes: rustls with the ring
    /// provider and its safe default protocol versions, trusting the webpki roots plus
    /// `ca_file` and `ca_pem`, no client certificate (ALPN is the client's to add). Fails
    /// on a CA file that cannot be read or holds no valid certificate.
    pub fn tls(&self) -> Result<rustls::ClientConfig, Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            add_pem(&mut roots, &pem, &path.display().to_string())?;
        }
        if let Some(pem) = &self.ca_pem {
            add_pem(&mut roots, pem.as_bytes(), "the CA PEM text")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(FailureKind::Config, "cannot configure TLS", Some(e.into())))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            ca_file: None,
            ca_pem: None,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 32,
            max_response_bytes: 1 << 20,
            http2: true,
        }
    }
}

/// One pooled hyper 1.x client over rustls (ring provider) for every backend.
///
/// TLS trusts the webpki roots plus any extra CA from the config; HTTP/1.1 and HTTP/2 are
/// negotiated by ALPN; every request gets `User-Agent: logferry/<version>`. Requests go
/// only to [`IngestUrl`]s, so plain HTTP can reach loopback hosts and nothing else.
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct Client {
    inner: Pooled<HttpsConnector<HttpConnector>, Body>,
    config: Arc<ClientConfig>,
    /// Where this handle counts its requests ([`Client::counted`]).
    counts: Option<Arc<RequestCounts>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client; fails only on a bad CA file.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let tls = config.tls()?;

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1();
        let connector = if config.http2 {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.wrap_connector(http)
        };
        let inner = Pooled::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .build(connector);
        Ok(Client {
            inner,
            config: Arc::new(config),
            counts: None,
        })
    }

    /// A handle on the same pool that counts every request it sends in `counts`: the
    /// answer's status, or a failure without one, and requests on the wire. Each sender
    /// takes its own, so its statistics are its own.
    pub fn counted(&self, counts: Arc<RequestCounts>) -> Client {
        Client {
            inner: self.inner.clone(),
            config: self.config.clone(),
            counts: Some(counts),
        }
    }

    /// The counts of a [`Client::counted`] handle.
    pub fn counts(&self) -> Option<&Arc<RequestCounts>> {
        self.counts.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// A request builder for `method` on `url`.
    pub fn request(&self, method: http::Method, url: &IngestUrl) -> http::request::Builder {
        Request::builder().method(method).uri(url.uri().clone())
    }

    /// Sends `request` under the configured request timeout and reads the response body
    /// (up to [`ClientConfig::max_response_bytes`]).
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Bytes>, Error> {
        self.send_with_timeout(request, self.config.request_timeout)
            .await
    }

    /// Like [`Client::send`] with a timeout for this request only.
    pub async fn send_with_timeout(
        &self,
        mut request: Request<Body>,
        timeout: Duration,
    ) -> Result<Response<Bytes>, Error> {
        // Requests are built from IngestUrls, but check again: this is the last gate.
        let checked = IngestUrl::from_uri(request.uri().clone())?;
        request
            .headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT_VALUE));
        let method = request.method().clone();
        let started = Instant::now();
        let on_the_wire = self.counts.as_deref().map(RequestCounts::start);
        // For errors only (the URL's Display hides its query string).
        let context = || format!("{method} {checked}");
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| Error::from_transport(&context(), e.into()))?;
            let (parts, body) = response.into_parts();
            let bytes = read_limited(body, self.config.max_response_bytes)
                .await
                .map_err(|e| Error::from_transport(&context(), e))?;
            Ok::<_, Error>(Response::from_parts(parts, bytes))
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                FailureKind::Timeout,
                format!("{}: no complete response within {timeout:?}", context()),
                None,
            )),
        };
        if let Some(counts) = &self.counts {
            match &result {
                Ok(r) => counts.answered(r.status()),
                Err(_) => counts.failed(),
            }
        }
        drop(on_the_wire);
        match &result {
            Ok(r) => {
                tracing::debug!(%method, url = %checked, status = r.status().as_u16(), elapsed = ?started.elapsed(), "http exchange")
            }
            Err(e) => {
                tracing::debug!(%method, url = %checked, error = %e, elapsed = ?started.elapsed(), "http exchange failed")
            }
        }
        result
    }

    /// One attempt of an exchange with an API, ready for a
    /// [`Retrier`](logferry_retry::Retrier): builds the request from `request` and `body`,
    /// sends it (within `timeout`, or [`ClientConfig::request_timeout`] when `None`), and
    /// classifies what came back.
    ///
    /// A response goes to `on_response`, which classifies it by its contract's table
    /// (`logferry_retry::classify`) and keeps what the caller needs of it. A request that
    /// got no response (or could not be built) is classified by [`Error::verdict`]:
    /// retried after a transport failure, stopped on a configuration or URL error; the
    /// error goes to `on_failure` for the attempt's value.
    ///
    /// ```no_run
    /// # async fn demo(client: logferry_http::Client, url: logferry_http::IngestUrl) {
    /// use logferry_http::full;
    /// use logferry_retry::{classify, Outcome};
    /// let outcome = client
    ///     .exchange(
    ///         client.request(http::Method::POST, &url),
    ///         full("record\n"),
    ///         None,
    ///         |response| {
    ///             let verdict = classify::http_ingest(response.status(), response.headers());
    ///             Outcome::new(verdict, Some(response))
    ///         },
    ///         |_error| None,
    ///     )
    ///     .await;
    /// println!("{}", outcome.verdict);
    /// # }
    /// ```
    pub async fn exchange<T>(
        &self,
        request: http::request::Builder,
        body: Body,
        timeout: Option<Duration>,
        on_response: impl FnOnce(Response<Bytes>) -> Outcome<T>,
        on_failure: impl FnOnce(Error) -> T,
    ) -> Outcome<T> {
        let sent = match request.body(body) {
            Ok(request) => {
                let timeout = timeout.unwrap_or(self.config.request_timeout);
                self.send_with_timeout(request, timeout).await
            }
            Err(e) => Err(Error::config(format!("cannot build the request: {e}"))),
        };
        match sent {
            Ok(response) => on_response(response),
            Err(e) => Outcome::new(e.verdict(), on_failure(e)),
        }
    }
}

fn add_pem(roots: &mut rustls::RootCertStore, pem: &[u8], origin: &str) -> Result<(), Error> {
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| Error::config(format!("cannot parse PEM in {origin}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::config(format!("invalid CA certificate in {origin}: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(Error::config(format!("no certificate found in {origin}")));
    }
    Ok(())
}

/// Collects a body up to `limit` bytes, discarding (but draining) the rest.
async fn read_limited(mut body: hyper::body::Incoming, limit: usize) -> Result<Bytes, BoxError> {
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..room.min(data.len())]);
        }
    }
    Ok(out.freeze())
}

/// Builds an `Authorization` header value `"<scheme> <secret>"` marked sensitive, so
/// hyper never indexes it in HPACK and `Debug` prints `Sensitive`.
pub fn authorization(scheme: &str, secret: &crate::Secret) -> Result<HeaderValue, Error> {
    let mut value =
        HeaderValue::try_from(format!("{scheme} {}", secret.expose())).map_err(|_| {
            Error::config("the credential contains characters not allowed in an HTTP header".into())
        })?;
    value.set_sensitive(true);
    Ok(value)
}
