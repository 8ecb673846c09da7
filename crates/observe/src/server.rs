//! The HTTP server: `GET /metrics`, `/health` and `/ready` on hyper 1.x (HTTP/1.1).

use crate::{Error, Observe};
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long open connections get to finish once the server shuts down.
const GRACE: Duration = Duration::from_secs(2);

/// A running API server. Dropping it stops the server too (without waiting).
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on (the real port when `listen` asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets open connections finish (up to two seconds), and returns
    /// once the server is gone.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Binds `listen` (so a bad or busy address is an error now) and serves `observe` on
/// it from a task of the current tokio runtime:
///
/// - `GET /metrics`: the exposition ([`CONTENT_TYPE`](crate::CONTENT_TYPE));
/// - `GET /health`: `200 {"status":"ok"}` while the process runs;
/// - `GET /ready`: `200` while every route is delivering or idle, else `503`, with
///   [`Observe::ready`]'s JSON body;
/// - `405` for another method on those paths, `404` elsewhere.
pub async fn serve(observe: Arc<Observe>, listen: SocketAddr) -> Result<ServerHandle, Error> {
    let bind = |source| Error::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind)?;
    let local_addr = listener.local_addr().map_err(bind)?;
    let (shutdown, stop) = watch::channel(false);
    let task = tokio::spawn(accept(listener, observe, stop));
    tracing::info!(%local_addr, "serving /metrics, /health and /ready");
    Ok(ServerHandle {
        local_addr,
        shutdown,
        task: Some(task),
    })
}

async fn accept(listener: TcpListener, observe: Arc<Observe>, mut stop: watch::Receiver<bool>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(err) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(%err, "the API server could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let observe = observe.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let response = respond(&observe, &request);
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, "API connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(GRACE) => {
            tracing::debug!("API connections still open at shutdown; closing them");
        }
    }
}

fn respond<B>(observe: &Observe, request: &Request<B>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(path, "/metrics" | "/health" | "/ready") {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/metrics" => reply(StatusCode::OK, crate::CONTENT_TYPE, observe.scrape()),
        "/health" => reply(StatusCode::OK, JSON, r#"{"status":"ok"}"#),
        _ => {
            let (ready, body) = observe.ready();
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(status, JSON, body.to_string())
        }
    }
}

const JSON: &str = "application/json";

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
