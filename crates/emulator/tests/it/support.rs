//! A minimal HTTP client for the tests: hyper-util's client with rustls trusting the
//! emulator's CA, plus raw TCP for requests a well-behaved client cannot send.

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use logferry_emulator::Emulator;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::io::{Read, Write};
use std::sync::Arc;

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {}", self.text()))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
pub(crate) struct Client {
    inner: HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    /// A client trusting the emulator's CA (when it serves TLS), HTTP/1.1 and HTTP/2.
    pub(crate) fn new(emu: &Emulator) -> Client {
        Client::with_ca(emu.ca_cert_pem(), false)
    }

    /// A client that speaks HTTP/2 only.
    pub(crate) fn http2_only(emu: &Emulator) -> Client {
        Client::with_ca(emu.ca_cert_pem(), true)
    }

    pub(crate) fn with_ca(ca_pem: Option<&str>, http2_only: bool) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = ca_pem {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots
                    .add(cert.expect("the CA PEM parses"))
                    .expect("the CA is a valid root");
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder.http2_only(http2_only);
        Client {
            inner: builder.build(connector),
        }
    }

    pub(crate) async fn try_send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<(Reply, http::Version), hyper_util::client::legacy::Error> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(body.into()))
            .expect("test requests are well-formed");
        let resp = self.inner.request(req).await?;
        let version = resp.version();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("reply body arrives")
            .to_bytes();
        Ok((
            Reply {
                status,
                headers,
                body,
            },
            version,
        ))
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        match self.try_send(method, url, headers, body).await {
            Ok((reply, _)) => reply,
            Err(e) => panic!("request to {url} failed: {e:?}"),
        }
    }

    pub(crate) async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.send(Method::POST, url, headers, body).await
    }
}

/// Sends raw bytes over plain TCP and returns everything the server sent before closing.
pub(crate) fn raw(emu: &Emulator, request: &[u8]) -> String {
    let mut stream =
        std::net::TcpStream::connect(emu.local_addr()).expect("connect to the emulator");
    stream.write_all(request).expect("send the raw request");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of a raw HTTP/1.1 reply.
pub(crate) fn raw_body(reply: &str) -> &str {
    reply.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

pub(crate) fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("deflate in memory");
    enc.finish().expect("deflate in memory")
}

pub(crate) fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Request headers as written in the tests' case tables.
pub(crate) type Headers<'a> = Vec<(&'a str, &'a str)>;
/// Owned request headers.
pub(crate) type OwnedHeaders<'a> = Vec<(&'a str, String)>;
