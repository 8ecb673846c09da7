//! The crate's error: an opaque struct with predicates, since transport failures grow.

use logferry_retry::Verdict;
use std::error::Error as StdError;
use std::fmt;

/// Boxed error type used for bodies.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// What went wrong with a request, classified for retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// A bad configuration (CA file, secret file): fix it and restart.
    Config,
    /// A URL that may not be used (plain HTTP to a remote host, credentials in it).
    InvalidUrl,
    /// The connection could not be established (refused, DNS, unreachable).
    Connect,
    /// The connect or request timeout expired.
    Timeout,
    /// TLS failed (handshake, alert), not because of the server's certificate.
    Tls,
    /// The server's certificate is not trusted (unknown CA, expired, wrong host name):
    /// fix the CA file or the URL, then restart. No retry fixes it.
    Certificate,
    /// The connection broke mid-request (reset, closed, incomplete response).
    Reset,
    /// Anything else the HTTP stack reported.
    Other,
}

/// A failed request or configuration.
///
/// `Display` says what happened at this layer; the cause is available through
/// [`std::error::Error::source`]. No secret is ever part of the message: URLs are shown
/// without their query string and headers are never included.
pub struct Error {
    kind: FailureKind,
    message: String,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(
        kind: FailureKind,
        message: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source,
        }
    }

    pub(crate) fn config(message: String) -> Self {
        Self::new(FailureKind::Config, message, None)
    }

    pub(crate) fn invalid_url(url: String, why: String) -> Self {
        Self::new(
            FailureKind::InvalidUrl,
            format!("invalid URL {url}: {why}"),
            None,
        )
    }

    /// The failure's kind.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// True when sending again may succeed: connect, timeout, TLS, reset and other
    /// transport failures (not configuration or URL errors, nor an untrusted
    /// certificate).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self.kind,
            FailureKind::Config | FailureKind::InvalidUrl | FailureKind::Certificate
        )
    }

    /// True when the server's TLS certificate is not trusted.
    pub fn is_certificate(&self) -> bool {
        self.kind == FailureKind::Certificate
    }

    /// True when a timeout expired.
    pub fn is_timeout(&self) -> bool {
        self.kind == FailureKind::Timeout
    }

    /// True when no connection could be made.
    pub fn is_connect(&self) -> bool {
        self.kind == FailureKind::Connect
    }

    /// True for TLS failures.
    pub fn is_tls(&self) -> bool {
        self.kind == FailureKind::Tls
    }

    /// True for configuration and URL errors, which no retry fixes.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, FailureKind::Config | FailureKind::InvalidUrl)
    }

    /// The failure as the retry policy sees it, for
    /// [`logferry_retry::classify::transport`]. Configuration and URL errors map to
    /// `Other`; callers should not retry those ([`Error::is_config`]).
    pub fn transport_failure(&self) -> logferry_retry::TransportFailure {
        use logferry_retry::TransportFailure as T;
        match self.kind {
            FailureKind::Connect => T::ConnectRefused,
            FailureKind::Timeout => T::Timeout,
            FailureKind::Tls => T::Tls,
            FailureKind::Certificate => T::Certificate,
            FailureKind::Reset => T::Reset,
            FailureKind::Config | FailureKind::InvalidUrl | FailureKind::Other => T::Other,
        }
    }

    /// What the retry policy does after this failure: [`classify::transport`] (retry) for a
    /// transport failure, [`Verdict::Stop`] for an untrusted certificate (by the same
    /// table) and for a configuration or URL error, which no retry fixes.
    ///
    /// [`classify::transport`]: logferry_retry::classify::transport
    pub fn verdict(&self) -> Verdict {
        if self.is_config() {
            Verdict::Stop
        } else {
            logferry_retry::classify::transport(&self.transport_failure())
        }
    }

    /// Classifies an error from the HTTP stack by walking its source chain.
    pub(crate) fn from_transport(context: &str, err: BoxError) -> Self {
        let kind = classify(err.as_ref());
        let message = match certificate_error(err.as_ref()) {
            Some(cert) if kind == FailureKind::Certificate => {
                format!("{context}: {}", untrusted(cert))
            }
            _ => context.to_owned(),
        };
        Self::new(kind, message, Some(err))
    }
}

/// The rustls certificate error in a chain, if any.
fn certificate_error<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    let mut current: Option<&'e (dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>()
            && is_certificate(r)
        {
            return Some(r);
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &'e (dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Whether rustls refused the server's certificate (as opposed to the handshake).
fn is_certificate(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
    )
}

/// What was wrong with the server's certificate, and what to check.
fn untrusted(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let check = match e {
        rustls::Error::InvalidCertificate(
            C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension,
        ) => {
            "it is not signed by a CA this client trusts: give the CA that signed the server's \
             certificate with --ca-file (or check the file given), or check that no proxy \
             intercepts TLS"
        }
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => {
            "it is outside its validity dates: check the server's certificate and this machine's clock"
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "it is not valid for the URL's host name: check the host name in the URL",
        _ => "check the CA file (--ca-file) and the host name in the URL",
    };
    format!("the server's TLS certificate is not trusted ({e}); {check}")
}

fn classify(err: &(dyn StdError + 'static)) -> FailureKind {
    let mut connect = false;
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(kind) = classify_one(e) {
            return kind;
        }
        if let Some(c) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            connect |= c.is_connect();
        }
        // `io::Error::source` skips the error it wraps; look inside it explicitly.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    if connect {
        FailureKind::Connect
    } else {
        FailureKind::Other
    }
}

/// The kind one error in the chain decides on its own, if any.
fn classify_one(e: &(dyn StdError + 'static)) -> Option<FailureKind> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(if is_certificate(r) {
            FailureKind::Certificate
        } else {
            FailureKind::Tls
        });
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind::*;
        match io.kind() {
            TimedOut => return Some(FailureKind::Timeout),
            ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable => {
                return Some(FailureKind::Connect);
            }
            // Unless something deeper says TLS, a broken stream is a reset.
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
                if io.get_ref().is_none() =>
            {
                return Some(FailureKind::Reset);
            }
            _ => {}
        }
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        if h.is_timeout() {
            return Some(FailureKind::Timeout);
        }
        if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
            return Some(FailureKind::Reset);
        }
    }
    None
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let detail = match self.kind {
            FailureKind::Connect => Some("connection failed"),
            FailureKind::Timeout => Some("timed out"),
            FailureKind::Tls => Some("TLS error"),
            // The message already says what was wrong with the certificate.
            FailureKind::Certificate => None,
            FailureKind::Reset => Some("connection broken"),
            _ => None,
        };
        if let Some(d) = detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// An error and its causes on one line (`what: because: because`), skipping a cause whose
/// text the line already holds. Every sender and the CLI print failures this one way.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
