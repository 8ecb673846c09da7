//! URLs that may carry telemetry: HTTPS anywhere, plain HTTP only on loopback.

use crate::Error;
use http::Uri;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An endpoint URL that is safe to send logs and credentials to.
///
/// The HTTP Ingest contract: "All requests MUST be made over HTTPS. [...] Plaintext HTTP is
/// not accepted." An `IngestUrl` is therefore `https://` for any host, and `http://` only
/// for a loopback host (`127.0.0.0/8`, `::1`, `localhost`), which is where the emulator,
/// tests and benchmarks live. Any other plain-HTTP URL is refused with an error naming the
/// rule, before a connection is attempted.
///
/// Credentials embedded in the URL (`https://user:pass@host`) are refused too: they would
/// end up in logs. `Display` and `Debug` never show the query string, which for a
/// presigned S3 URL holds a signature.
///
/// ```
/// use logferry_http::IngestUrl;
/// assert!("https://ingest.example.com/http-endpoint/v1/abc".parse::<IngestUrl>().is_ok());
/// assert!("http://127.0.0.1:8080/http-endpoint/v1/abc".parse::<IngestUrl>().is_ok());
/// let err = "http://ingest.example.com/x".parse::<IngestUrl>().unwrap_err();
/// assert!(err.to_string().contains("plain http:// is allowed only for loopback hosts"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IngestUrl {
    uri: Uri,
}

impl IngestUrl {
    /// Parses and checks a URL.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let uri: Uri = s
            .trim()
            .parse()
            .map_err(|e| Error::invalid_url(displayable(s), format!("not a URL ({e})")))?;
        Self::from_uri(uri)
    }

    /// Checks an already parsed URI.
    pub fn from_uri(uri: Uri) -> Result<Self, Error> {
        // Built only for an error: this check runs on every request.
        let shown = || displayable(&uri.to_string());
        let Some(authority) = uri.authority() else {
            return Err(Error::invalid_url(
                shown(),
                "a URL needs a scheme and a host".into(),
            ));
        };
        if authority.as_str().contains('@') {
            return Err(Error::invalid_url(
                shown(),
                "credentials in the URL are not allowed; pass keys with --key or an environment variable".into(),
            ));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(authority.host()) => {}
            Some("http") => {
                return Err(Error::invalid_url(
                    shown(),
                    "plain http:// is allowed only for loopback hosts (127.0.0.1, ::1, localhost); \
                     use https://"
                        .into(),
                ));
            }
            _ => {
                return Err(Error::invalid_url(
                    shown(),
                    "the scheme must be https:// (or http:// for loopback)".into(),
                ));
            }
        }
        Ok(Self { uri })
    }

    /// The URI, query string included (do not log it).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }

    /// The host.
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// A new URL below this one: its scheme, authority and path, followed by
    /// `path_and_query` (which starts with `/`); this URL's own query is dropped. For API
    /// paths below a regional endpoint.
    pub fn join(&self, path_and_query: &str) -> Result<IngestUrl, Error> {
        let scheme = self.uri.scheme_str().unwrap_or("https");
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let prefix = self.uri.path().trim_end_matches('/');
        IngestUrl::parse(&format!("{scheme}://{authority}{prefix}{path_and_query}"))
    }
}

impl FromStr for IngestUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        IngestUrl::parse(s)
    }
}

impl fmt::Display for IngestUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_query(&self.uri.to_string()))
    }
}

impl fmt::Debug for IngestUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IngestUrl({self})")
    }
}

/// True for `localhost`, `127.0.0.0/8` and `::1` (brackets allowed).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The URL with any query string replaced by `?…`.
pub(crate) fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((before, _)) => format!("{before}?…"),
        None => url.to_owned(),
    }
}

/// Where the user info of `url` is (`user:password` or a token, before the host), if it
/// has any: from after the scheme (or the start) to the *last* `@` before any fragment,
/// since users type passwords raw (`user:p@ss/w?rd@host` must not show any of it).
///
/// ```
/// use logferry_http::user_info;
/// let url = "nats://alice:p@ss/w?rd@127.0.0.1:4222";
/// assert_eq!(user_info(url).map(|r| &url[r]), Some("alice:p@ss/w?rd"));
/// assert_eq!(user_info("https://ingest.example.com/x"), None);
/// ```
pub fn user_info(url: &str) -> Option<std::ops::Range<usize>> {
    let end = url.find('#').unwrap_or(url.len());
    let start = url.find("://").map_or(0, |s| s + 3);
    url[..end]
        .rfind('@')
        .filter(|&at| at >= start)
        .map(|at| start..at)
}

/// A URL as an error may show it: no query string, and nothing of any credentials before
/// the host ([`user_info`]), with or without a scheme.
fn displayable(url: &str) -> String {
    let url = redact_query(url);
    match user_info(&url) {
        Some(r) => format!("{}***{}", &url[..r.start], &url[r.end..]),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_show_credentials() {
        for (input, secret) in [
            ("https://user:p@zq9x@ingest.example.com/x", "zq9x"),
            ("https://user:zq ss@ingest.example.com/x", "zq ss"),
            ("https://user:zq|ss@ingest.example.com/x", "zq|ss"),
            ("https://user:hunter2@ingest.example.com/x", "hunter2"),
            ("user:hunter2@ingest example.com", "hunter2"),
        ] {
            let err = IngestUrl::parse(input).unwrap_err().to_string();
            assert!(!err.contains(secret), "{input} -> {err}");
            assert!(err.contains("ingest"), "{input} -> {err}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "example.com",
            "localhost.example.com",
            "0.0.0.0",
            "[::]",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(IngestUrl::parse("http://localhost:9/x").is_ok());
        assert!(IngestUrl::parse("http://[::1]:9/x").is_ok());
        let e = IngestUrl::parse("http://10.1.2.3/http-endpoint/v1/x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid URL http://10.1.2.3/http-endpoint/v1/x: plain http:// is allowed only for loopback \
             hosts (127.0.0.1, ::1, localhost); use https://"
        );
        assert!(IngestUrl::parse("ftp://example.com/").is_err());
        assert!(IngestUrl::parse("/just/a/path").is_err());
    }

    #[test]
    fn secrets_in_urls_are_never_shown() {
        let e = IngestUrl::parse("https://user:hunter2@example.com/x").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let signed =
            IngestUrl::parse("https://bucket.s3.example.com/f?X-Amz-Signature=abc123").unwrap();
        assert_eq!(signed.to_string(), "https://bucket.s3.example.com/f?…");
        assert!(!format!("{signed:?}").contains("abc123"));
        let e = IngestUrl::parse("http://example.com/f?sig=abc123").unwrap_err();
        assert!(!e.to_string().contains("abc123"), "{e}");
    }

    #[test]
    fn join_replaces_path_and_query() {
        let base = IngestUrl::parse("https://api.example.com").unwrap();
        assert_eq!(
            base.join("/auth/api/v2/auth/token")
                .unwrap()
                .uri()
                .to_string(),
            "https://api.example.com/auth/api/v2/auth/token"
        );
        let base = IngestUrl::parse("http://127.0.0.1:5/").unwrap();
        assert_eq!(
            base.join("/a?b=c").unwrap().uri().to_string(),
            "http://127.0.0.1:5/a?b=c"
        );
    }
}
