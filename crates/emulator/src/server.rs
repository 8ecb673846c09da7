//! The server: accept loop, optional TLS, HTTP/1.1 and HTTP/2 (hyper-util's auto
//! connection, by ALPN or prior knowledge), routing, and the per-request context that
//! applies faults and counts bytes.

use crate::faults::{Action, FaultState, Plan};
use crate::reply::{self, Resp};
use crate::stats::{Collector, RequestOutcome};
use crate::store::Store;
use crate::{Config, Endpoint, FaultStatus, admin, auth, http_ingest, sdl, upload};
use bytes::{Bytes, BytesMut};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) creds: auth::Credentials,
    pub(crate) store: Store,
    pub(crate) stats: Collector,
    pub(crate) sessions: sdl::Sessions,
    pub(crate) nonces: Mutex<std::collections::HashMap<String, Instant>>,
    pub(crate) next_request: AtomicU64,
    pub(crate) base_url: String,
    pub(crate) signing_key: ring::hmac::Key,
    pub(crate) admin_token: String,
}

impl Shared {
    pub(crate) fn faults(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn http_ingest_limit(&self) -> u64 {
        self.faults()
            .faults()
            .limits
            .http_ingest_max_body
            .unwrap_or(self.config.http_ingest_max_body)
    }

    pub(crate) fn sdl_limit(&self) -> u64 {
        self.faults()
            .faults()
            .limits
            .sdl_max_body
            .unwrap_or(self.config.sdl_max_body)
    }

    pub(crate) fn sdl_rate(&self) -> u64 {
        self.faults()
            .faults()
            .limits
            .sdl_session_rate
            .unwrap_or(self.config.sdl_session_rate)
    }
}

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Abort {
    #[error("connection reset by fault injection")]
    Reset,
    #[error("client went away before the request body was complete")]
    ClientGone,
}

pub(crate) type Handled = Result<Resp, Abort>;

/// A request body, read up to a limit.
pub(crate) enum Body {
    Complete(Bytes),
    /// Past the limit: the rest was read and discarded.
    TooLarge,
}

/// A fault to apply now.
pub(crate) enum Injected {
    Reset,
    Fail(FaultStatus),
}

/// The per-request context.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) endpoint: Endpoint,
    pub(crate) id: u64,
    pub(crate) arrival: Instant,
    plan: Plan,
    pub(crate) outcome: RequestOutcome,
}

impl Ctx {
    /// Reads the whole body, keeping at most `limit` bytes; past that, reads and discards
    /// the rest so the client can see the 413 (a server that stops reading leaves many
    /// clients stuck writing).
    pub(crate) async fn read_body(
        &mut self,
        mut body: Incoming,
        limit: u64,
    ) -> Result<Body, Abort> {
        let started = Instant::now();
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        let mut total: u64 = 0;
        let mut over = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Abort::ClientGone)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len() as u64;
            self.outcome.wire_bytes += data.len() as u64;
            if total > limit {
                over = true;
                first = None;
                rest = None;
            } else if !over {
                match (&mut first, &mut rest) {
                    (None, None) => first = Some(data),
                    (Some(f), None) => {
                        let mut buf = BytesMut::with_capacity(f.len() + data.len() * 2);
                        buf.extend_from_slice(f);
                        buf.extend_from_slice(&data);
                        first = None;
                        rest = Some(buf);
                    }
                    (_, Some(buf)) => buf.extend_from_slice(&data),
                }
            }
            if let Some(rate) = self.plan.slow_body {
                let due = started + Duration::from_secs_f64(total as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
        }
        if over {
            return Ok(Body::TooLarge);
        }
        Ok(Body::Complete(match (first, rest) {
            (_, Some(buf)) => buf.freeze(),
            (Some(f), None) => f,
            (None, None) => Bytes::new(),
        }))
    }

    /// Reads and discards the body (count-only mode, and replies that do not need it).
    pub(crate) async fn drain(&mut self, mut body: Incoming) -> Result<(), Abort> {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Abort::ClientGone)?;
            if let Ok(data) = frame.into_data() {
                self.outcome.wire_bytes += data.len() as u64;
            }
        }
        Ok(())
    }

    /// The fault point: waits the injected latency, then says whether to reset or fail.
    pub(crate) async fn fault(&mut self) -> Option<Injected> {
        if !self.plan.latency.is_zero() {
            tokio::time::sleep(self.plan.latency).await;
        }
        let injected = match self.plan.action? {
            Action::Reset => Injected::Reset,
            Action::Fail(status) => Injected::Fail(status),
        };
        self.outcome.faulted = true;
        Some(injected)
    }

    /// Finishes an injected fault: a reset, or `reply(status)` plus `Retry-After` when set.
    pub(crate) fn injected(
        &mut self,
        injected: Injected,
        reply: impl FnOnce(FaultStatus) -> Resp,
    ) -> Handled {
        match injected {
            Injected::Reset => Err(Abort::Reset),
            Injected::Fail(status) => {
                let mut resp = reply(status);
                if let Some(secs) = self.plan.retry_after
                    && matches!(status.http_code(), 429 | 503)
                {
                    reply::set_header(&mut resp, http::header::RETRY_AFTER, &secs.to_string());
                }
                Ok(resp)
            }
        }
    }
}

/// The standard injected-fault reply of the Taegis JSON endpoints.
pub(crate) fn taegis_fault(status: FaultStatus) -> Resp {
    reply::taegis_error(status.http_code(), "injected fault")
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

/// Handles one request end to end: routing, the endpoint's handler, stats.
async fn dispatch(shared: Arc<Shared>, req: Request<Incoming>) -> Handled {
    if req.uri().path().starts_with(admin::PREFIX) {
        return Ok(admin::handle(&shared, req).await);
    }
    let endpoint = route(req.uri().path());
    let id = shared.next_request.fetch_add(1, Ordering::Relaxed) + 1;
    let plan = shared.faults().plan(endpoint);
    shared.stats.started();
    let mut ctx = Ctx {
        shared: shared.clone(),
        endpoint,
        id,
        arrival: Instant::now(),
        plan,
        outcome: RequestOutcome::default(),
    };
    let result = match endpoint {
        Endpoint::HttpIngest => http_ingest::handle(&mut ctx, req).await,
        Endpoint::TaegisAuth => auth::handle_token(&mut ctx, req).await,
        Endpoint::UploadPresign => upload::handle_presign(&mut ctx, req).await,
        Endpoint::UploadPut => upload::handle_put(&mut ctx, req).await,
        Endpoint::SdlAddEvents => sdl::handle_add_events(&mut ctx, req).await,
        Endpoint::SdlUploadLogs => sdl::handle_upload_logs(&mut ctx, req).await,
        Endpoint::Unknown => unknown(&mut ctx, req).await,
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
    shared.stats.finished(endpoint, outcome);
    result
}

async fn unknown(ctx: &mut Ctx, req: Request<Incoming>) -> Handled {
    let path = crate::util::truncate(req.uri().path(), 200);
    ctx.drain(req.into_body()).await?;
    Ok(reply::taegis_error(
        404,
        format!("no emulated endpoint at {path}"),
    ))
}

/// Answers 405 for a method an endpoint does not take, after draining the body.
pub(crate) async fn method_not_allowed(
    ctx: &mut Ctx,
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
