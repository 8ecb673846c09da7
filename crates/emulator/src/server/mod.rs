//! The router: the accept loop, optional TLS, HTTP/1.1 and HTTP/2 (hyper-util's auto
//! connection, by ALPN or prior knowledge), routing each request to its API's handler
//! with that API's state (after checking the endpoint's method), the admin API, and the
//! stats of every request. The only module
//! that knows every API.

mod admin;

use crate::ctx::{Abort, Common, Ctx, Handled};
use crate::reply;
use crate::stats::Stats;
use crate::store::Store;
use crate::{Config, Endpoint, http_ingest, sdl, upload, util};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Everything the server keeps: the services every API shares and each API's own state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) common: Common,
    pub(crate) http_ingest: http_ingest::State,
    pub(crate) upload: upload::State,
    pub(crate) sdl: sdl::State,
    next_request: AtomicU64,
    pub(crate) admin_token: String,
}

impl Shared {
    pub(crate) fn new(config: Config, base_url: String, store: Store) -> Shared {
        Shared {
            http_ingest: http_ingest::State::default(),
            upload: upload::State::new(),
            sdl: sdl::State::default(),
            next_request: AtomicU64::new(0),
            admin_token: util::random_secret(24),
            common: Common::new(config, base_url, store),
        }
    }

    /// Revokes an integration key, an SDL key or an access token; false when none is
    /// known.
    pub(crate) fn revoke(&self, key: &str) -> bool {
        self.http_ingest.revoke(key) | self.sdl.revoke(key) | self.upload.revoke(key)
    }

    /// Assembles [`Stats`] from the counters, the SDL sessions and the store.
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.common.stats.snapshot();
        stats.sdl_sessions = self.sdl.sessions();
        stats.records_dropped_from_memory = self.common.store.dropped();
        stats
    }
}

/// Which endpoint a path belongs to.
pub(crate) fn route(path: &str) -> Endpoint {
    if path.starts_with("/http-endpoint/v1/") || path.starts_with("/ingest/v1/") {
        Endpoint::HttpIngest
    } else if path == "/auth/api/v2/auth/token" {
        Endpoint::TaegisAuth
    } else if path == "/s3-signer/v2/signed-s3url" {
        Endpoint::UploadPresign
    } else if path.starts_with(upload::PUT_PREFIX) {
        Endpoint::UploadPut
    } else if path == "/api/addEvents" {
        Endpoint::SdlAddEvents
    } else if path == "/api/uploadLogs" {
        Endpoint::SdlUploadLogs
    } else {
        Endpoint::Unknown
    }
}

/// The one method an endpoint takes (`None`: any, for the unknown endpoint's 404).
fn allowed_method(endpoint: Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::UploadPut => Some("PUT"),
        Endpoint::Unknown => None,
        Endpoint::HttpIngest
        | Endpoint::TaegisAuth
        | Endpoint::UploadPresign
        | Endpoint::SdlAddEvents
        | Endpoint::SdlUploadLogs => Some("POST"),
    }
}

/// Handles one request end to end: routing, the endpoint's handler, stats.
async fn dispatch(shared: Arc<Shared>, req: Request<Incoming>) -> Handled {
    if req.uri().path().starts_with(admin::PREFIX) {
        return Ok(admin::handle(&shared, req).await);
    }
    let endpoint = route(req.uri().path());
    let id = shared.next_request.fetch_add(1, Ordering::Relaxed) + 1;
    let common = &shared.common;
    let plan = common.faults().plan(endpoint);
    common.stats.started();
    let mut ctx = Ctx::new(common, endpoint, id, plan);
    let result = match allowed_method(endpoint) {
        Some(allow) if req.method().as_str() != allow => {
            method_not_allowed(&mut ctx, req, allow).await
        }
        _ => match endpoint {
            Endpoint::HttpIngest => http_ingest::handle(&mut ctx, &shared.http_ingest, req).await,
            Endpoint::TaegisAuth => upload::handle_token(&mut ctx, &shared.upload, req).await,
            Endpoint::UploadPresign => upload::handle_presign(&mut ctx, &shared.upload, req).await,
            Endpoint::UploadPut => upload::handle_put(&mut ctx, &shared.upload, req).await,
            Endpoint::SdlAddEvents => sdl::handle_add_events(&mut ctx, &shared.sdl, req).await,
            Endpoint::SdlUploadLogs => sdl::handle_upload_logs(&mut ctx, &shared.sdl, req).await,
            Endpoint::Unknown => unknown(&mut ctx, req).await,
        },
    };
    let mut outcome = std::mem::take(&mut ctx.outcome);
    let result = match result {
        Ok(mut resp) => {
            outcome.status = Some(resp.status().as_u16());
            reply::set_header(
                &mut resp,
                http::header::HeaderName::from_static("x-emulator-request-id"),
                &id.to_string(),
            );
            Ok(resp)
        }
        Err(abort) => {
            match abort {
                Abort::Reset => {
                    outcome.reset = true;
                    outcome.faulted = true;
                }
                Abort::ClientGone => outcome.client_abort = true,
            }
            outcome.records = 0;
            Err(abort)
        }
    };
    common.stats.finished(endpoint, outcome);
    result
}

async fn unknown(ctx: &mut Ctx<'_>, req: Request<Incoming>) -> Handled {
    let path = util::truncate(req.uri().path(), 200);
    ctx.drain(req.into_body()).await?;
    Ok(reply::taegis_error(
        404,
        format!("no emulated endpoint at {path}"),
    ))
}

/// Answers 405 for a method an endpoint does not take, after draining the body.
pub(crate) async fn method_not_allowed(
    ctx: &mut Ctx<'_>,
    req: Request<Incoming>,
    allow: &'static str,
) -> Handled {
    let method = req.method().clone();
    ctx.drain(req.into_body()).await?;
    let mut resp = if ctx.endpoint.is_sdl() {
        reply::sdl(
            405,
            "error/client/badParam",
            Some(&format!("{method} is not supported here; use {allow}")),
            None,
            false,
        )
    } else if ctx.endpoint == Endpoint::UploadPut {
        reply::s3_error(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            "",
            ctx.id,
        )
    } else {
        reply::taegis_error(405, format!("{method} is not supported here; use {allow}"))
    };
    reply::set_header(&mut resp, http::header::ALLOW, allow);
    Ok(resp)
}
/// A TCP stream that can be closed with a reset (SO_LINGER 0) when a fault asks for it.
struct ResettableIo {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableIo {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.inner.set_zero_linger();
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "reset by fault injection",
            ))
        } else {
            Ok(())
        }
    }
}

impl Drop for ResettableIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Accepts connections until `shutdown` fires, then lets open connections finish (up to
/// five seconds).
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(err) => {
            tracing::error!(%err, "cannot register the listening socket");
            return;
        }
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(4 << 20)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .initial_stream_window_size(4 << 20)
        .initial_connection_window_size(8 << 20)
        .max_frame_size(1 << 20);
    let builder = Arc::new(builder);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, _peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let reset = Arc::new(AtomicBool::new(false));
        let io = ResettableIo {
            inner: tcp,
            reset: reset.clone(),
        };
        let shared = shared.clone();
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                let reset = reset.clone();
                async move {
                    let result = dispatch(shared, req).await;
                    if let Err(Abort::Reset) = &result {
                        reset.store(true, Ordering::Relaxed);
                    }
                    result
                }
            });
            let result = match acceptor {
                Some(acceptor) => match acceptor.accept(io).await {
                    Ok(tls) => {
                        let conn = builder
                            .serve_connection(TokioIo::new(tls), service)
                            .into_owned();
                        watcher.watch(conn).await
                    }
                    Err(err) => {
                        tracing::debug!(%err, "tls handshake failed");
                        return;
                    }
                },
                None => {
                    let conn = builder
                        .serve_connection(TokioIo::new(io), service)
                        .into_owned();
                    watcher.watch(conn).await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {
            tracing::warn!("connections still open after 5 s; closing them");
        }
    }
}
