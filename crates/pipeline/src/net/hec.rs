//! [`Hec`]: a Splunk-HEC-compatible HTTP receiver.
//!
//! Endpoints: `POST /services/collector/event` (also `/services/collector` and `/1.0`
//! forms: one or more concatenated JSON event objects), `POST /services/collector/raw`
//! (newline-separated text), `GET /services/collector/health`, and `POST /ingest` (NDJSON
//! or text lines). Every POST needs `Authorization: Splunk <token>` (`Bearer <token>` is
//! accepted too); replies carry HEC's codes and texts (`{"text":"Success","code":0}`).
//!
//! A request is answered 200 only once every batch made of it is in the spool (each
//! batch's [`Ack`](crate::Ack)): a client that saw 200 can forget its events. When the
//! pipeline's queue stays full for `busy_after` (the spool is full) the answer is 503
//! with `Retry-After` and nothing of the request is kept. Bodies above `max_body_bytes`
//! (declared, received, or once gunzipped) get 413; a malformed event gets 400 with its
//! number (`invalid-event-number`, as Splunk) and, in our log, its byte offset.

use super::record::{Input, Shape, add_receipt, input_name, one_line, unix_nanos};
use super::{NetStats, Stop};
use crate::{Ack, FrontConfig, Item};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use logferry_framing::Batch;
use logferry_syslog::{HecCode, Payload};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::Sender;

/// The HTTP receiver's settings.
#[derive(Clone)]
pub struct HecConfig {
    /// The source's name: inputs are named `NAME http PEER-IP`.
    pub name: Arc<str>,
    /// The token clients send (`Authorization: Splunk <token>`).
    pub token: String,
    /// HTTPS with this server configuration; plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The largest body, as received and once decompressed (default 16 MiB).
    pub max_body_bytes: usize,
    /// What an event becomes.
    pub shape: Shape,
    /// How long a request may wait for room in the pipeline's queue before it is
    /// answered 503 (default 2 s).
    pub busy_after: Duration,
    /// The `Retry-After` of a 503, in seconds (default 5).
    pub retry_after_secs: u32,
    /// Requests read and held at once (default 64): memory stays below this many
    /// `max_body_bytes`; a request waits `busy_after` for its turn, then gets 503.
    pub max_requests: usize,
}

impl std::fmt::Debug for HecConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HecConfig")
            .field("name", &self.name)
            .field("token", &"***")
            .field("tls", &self.tls.is_some())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("shape", &self.shape)
            .field("busy_after", &self.busy_after)
            .finish()
    }
}

impl HecConfig {
    /// Defaults for source `name` accepting `token`, plain HTTP, text records.
    pub fn new(name: impl Into<Arc<str>>, token: impl Into<String>) -> HecConfig {
        HecConfig {
            name: name.into(),
            token: token.into(),
            tls: None,
            max_body_bytes: 16 << 20,
            shape: Shape::Text,
            busy_after: Duration::from_secs(2),
            retry_after_secs: 5,
            max_requests: 64,
        }
    }
}

/// A bound HEC receiver; [`start`](crate::Source::start) serves it.
pub struct Hec {
    config: HecConfig,
    listener: std::net::TcpListener,
    stats: Arc<NetStats>,
    stop: Stop,
}

impl Hec {
    /// Binds `addr` now (a port in use fails at once; port 0 is known).
    pub fn bind(addr: SocketAddr, config: HecConfig) -> io::Result<Hec> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Hec {
            config,
            listener,
            stats: Arc::new(NetStats::default()),
            stop: Stop::new(),
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The receiver's counters.
    pub fn stats(&self) -> Arc<NetStats> {
        self.stats.clone()
    }

    /// The handle that ends this source like an input ends (see [`Stop`]): no new
    /// connection or request; requests being answered finish; idle connections close.
    pub fn stopper(&self) -> Stop {
        self.stop.clone()
    }
}

struct Shared {
    config: HecConfig,
    front: FrontConfig,
    stats: Arc<NetStats>,
    /// Turns for requests to be read and held (`max_requests`).
    turns: tokio::sync::Semaphore,
    stop: Stop,
}

impl crate::Source for Hec {
    fn start(self, front: FrontConfig) -> tokio::sync::mpsc::Receiver<Item> {
        let (tx, rx) = tokio::sync::mpsc::channel(front.queue.max(1));
        let shared = Arc::new(Shared {
            turns: tokio::sync::Semaphore::new(self.config.max_requests.max(1)),
            config: self.config,
            front,
            stats: self.stats,
            stop: self.stop,
        });
        tokio::spawn(accept_loop(self.listener, shared, tx));
        rx
    }
}

async fn accept_loop(listener: std::net::TcpListener, shared: Arc<Shared>, tx: Sender<Item>) {
    let name = shared.config.name.clone();
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("http {name}: cannot listen: {e}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            () = shared.stop.stopped() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("http {name}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        shared.stats.connections.fetch_add(1, Relaxed);
        let _ = stream.set_nodelay(true);
        let (shared, tx) = (shared.clone(), tx.clone());
        tokio::spawn(async move {
            let closed = tx.clone();
            let serve = async {
                match shared.config.tls.clone() {
                    Some(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls)) => connection(tls, peer, &shared, &tx).await,
                            _ => {
                                shared.stats.refused_connections.fetch_add(1, Relaxed);
                                tracing::warn!(
                                    "http {}: TLS handshake with {peer} failed",
                                    shared.config.name
                                );
                            }
                        }
                    }
                    None => connection(stream, peer, &shared, &tx).await,
                }
            };
            tokio::select! {
                () = closed.closed() => {}
                () = serve => {}
            }
        });
    }
}

async fn connection<S>(stream: S, peer: SocketAddr, shared: &Arc<Shared>, tx: &Sender<Item>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(|req| {
        let (shared, tx) = (shared.clone(), tx.clone());
        async move { Ok::<_, Infallible>(handle(req, peer, &shared, &tx).await) }
    });
    // A client that never finishes its headers does not hold a connection forever.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        () = shared.stop.stopped() => {
            // Stopping: the request being answered finishes, then the connection closes.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::debug!("http {}: connection from {peer}: {e}", shared.config.name);
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, body: String) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

fn code(code: HecCode) -> Reply {
    reply(code.http_status(), code.body())
}

/// What a POST carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Event,
    Raw,
    Ingest,
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    tx: &Sender<Item>,
) -> Reply {
    let path = req.uri().path().trim_end_matches('/');
    let endpoint = match path {
        "/services/collector/health" | "/services/collector/health/1.0" => {
            return if tx.capacity() == 0 {
                code(HecCode::QueuesFull)
            } else {
                code(HecCode::Healthy)
            };
        }
        "/services/collector" | "/services/collector/event" | "/services/collector/event/1.0" => {
            Endpoint::Event
        }
        "/services/collector/raw" | "/services/collector/raw/1.0" => Endpoint::Raw,
        "/ingest" => Endpoint::Ingest,
        _ => {
            return reply(
                404,
                r#"{"text":"The requested URL was not found on this server.","code":404}"#.into(),
            );
        }
    };
    let refused = |r: Reply| {
        shared.stats.requests_refused.fetch_add(1, Relaxed);
        r
    };
    if req.method() != Method::POST {
        return refused(reply(
            405,
            r#"{"text":"Method not allowed","code":405}"#.into(),
        ));
    }
    if let Err(c) = authorize(&req, &shared.config.token) {
        return refused(code(c));
    }
    if shared.stop.is_stopped() {
        return busy(shared);
    }
    // Our turn to read and hold a body, or busy.
    let Ok(Ok(_turn)) =
        tokio::time::timeout(shared.config.busy_after, shared.turns.acquire()).await
    else {
        return busy(shared);
    };
    let limit = shared.config.max_body_bytes;
    let too_large = |what: &str| {
        refused(reply(
            413,
            format!(r#"{{"text":"Content too large: {what} is over {limit} bytes","code":413}}"#),
        ))
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large("the body");
    }
    let gzipped = req
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let json_lines = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large("the body"),
        Err(e) => {
            tracing::debug!(
                "http {}: reading a body from {peer}: {e}",
                shared.config.name
            );
            return refused(code(HecCode::InvalidDataFormat));
        }
    };
    let body: Cow<'_, [u8]> = match gzipped.as_deref() {
        None | Some("identity") => Cow::Borrowed(&body),
        Some("gzip") => {
            match logferry_compress::decode(logferry_compress::Encoding::Gzip, &body, limit) {
                Ok(b) => Cow::Owned(b),
                Err(logferry_compress::Error::TooLarge { .. }) => {
                    return too_large("the decompressed body");
                }
                Err(e) => {
                    tracing::info!(
                        "http {}: a gzip body from {peer} cannot be decoded: {e}",
                        shared.config.name
                    );
                    return refused(code(HecCode::InvalidDataFormat));
                }
            }
        }
        Some(other) => {
            return refused(reply(
                415,
                format!(
                    r#"{{"text":"Unsupported Content-Encoding {other:?} (gzip or none)","code":415}}"#
                ),
            ));
        }
    };
    let received = SystemTime::now();
    let now = Instant::now();
    let mut input = Input::new(&shared.front, input_name(&shared.config.name, "http", peer));
    let mut batches = Vec::new();
    let max_record = shared.front.framing.max_record_bytes;
    let mut count = 0u64;
    let mut push = |text: &str, offset: usize, len: usize, batches: &mut Vec<Batch>| {
        if text.len() > max_record {
            return Err(());
        }
        count += 1;
        input.push(text, offset as u64, len as u64, now, batches);
        Ok(())
    };
    let shape = shared.config.shape;
    let oversized = |n: u64| {
        shared.stats.oversized.fetch_add(1, Relaxed);
        too_large(&format!("event {n}"))
    };
    match endpoint {
        Endpoint::Event => {
            let events = match logferry_syslog::parse_events(&body) {
                Ok(events) => events,
                Err(e) => {
                    tracing::info!(
                        "http {}: refused a body from {peer}: {e}",
                        shared.config.name
                    );
                    return refused(reply(e.http_status(), e.body()));
                }
            };
            for (i, (event, end)) in events
                .iter()
                .zip(events.iter().skip(1).map(|e| e.offset).chain([body.len()]))
                .enumerate()
            {
                let text = event_record(event, shape, peer, received);
                if push(&text, event.offset, end - event.offset, &mut batches).is_err() {
                    return oversized(i as u64);
                }
            }
        }
        Endpoint::Raw => {
            for (i, r) in logferry_syslog::raw_records(&body).enumerate() {
                let text = one_line(r.bytes);
                let text = match shape {
                    Shape::Text => text,
                    Shape::Sdl => Cow::Owned(text_object(&text, peer, received)),
                };
                if push(&text, r.offset, r.bytes.len(), &mut batches).is_err() {
                    return oversized(i as u64);
                }
            }
        }
        Endpoint::Ingest => {
            let mut offset = 0;
            for (i, line) in body.split_inclusive(|b| *b == b'\n').enumerate() {
                let start = offset;
                offset += line.len();
                let text = one_line(line);
                if text.trim().is_empty() {
                    continue;
                }
                // NDJSON (a JSON content type): every line must be an object. Text: a
                // line that reads as an object is one, anything else is text.
                let object = if json_lines {
                    Some(serde_json::from_str::<Map<String, Value>>(&text))
                } else if text.trim_start().starts_with('{') {
                    serde_json::from_str::<Map<String, Value>>(&text)
                        .ok()
                        .map(Ok)
                } else {
                    None
                };
                let record = match (object, shape) {
                    (Some(Err(e)), _) => {
                        tracing::info!(
                            "http {}: refused a body from {peer}: line {} (byte {start}) is not a JSON object: {e}",
                            shared.config.name,
                            i + 1
                        );
                        return refused(reply(
                            400,
                            format!(
                                r#"{{"text":"Invalid data format","code":6,"invalid-event-number":{i},"line":{},"byte":{start}}}"#,
                                i + 1
                            ),
                        ));
                    }
                    (Some(Ok(_)), Shape::Text) | (None, Shape::Text) => text,
                    (Some(Ok(mut object)), Shape::Sdl) => {
                        add_receipt(&mut object, peer, received);
                        Cow::Owned(Value::Object(object).to_string())
                    }
                    (None, Shape::Sdl) => Cow::Owned(text_object(&text, peer, received)),
                };
                if push(&record, start, line.len(), &mut batches).is_err() {
                    return oversized(i as u64);
                }
            }
        }
    }
    input.flush(&mut batches);
    if batches.is_empty() {
        return refused(code(HecCode::NoData));
    }
    let bytes = body.len() as u64;
    drop(body);
    match submit(batches, shared, tx).await {
        Ok(()) => {
            shared.stats.messages.fetch_add(count, Relaxed);
            shared.stats.bytes.fetch_add(bytes, Relaxed);
            code(HecCode::Success)
        }
        Err(()) => busy(shared),
    }
}

/// 503 with `Retry-After`: nothing of the request was kept.
fn busy(shared: &Shared) -> Reply {
    shared.stats.requests_busy.fetch_add(1, Relaxed);
    let mut r = code(HecCode::ServerBusy);
    r.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        shared.config.retry_after_secs.into(),
    );
    r
}

/// Hands `batches` to the pipeline and waits until every one is in the spool; `Err`
/// when there was no room for `busy_after` or the pipeline stopped first.
async fn submit(batches: Vec<Batch>, shared: &Shared, tx: &Sender<Item>) -> Result<(), ()> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let group = Arc::new(Group {
        left: AtomicUsize::new(batches.len()),
        done: Mutex::new(Some(done_tx)),
    });
    let mut batches = batches.into_iter();
    let first = batches.next().expect("not empty");
    // Room for the first batch within `busy_after`, or the spool is full: 503 with
    // nothing kept. The rest follow however long it takes (the client waits for 200).
    let permit = tokio::time::timeout(shared.config.busy_after, tx.reserve())
        .await
        .map_err(|_| ())?
        .map_err(|_| ())?;
    permit.send(Item::Batch {
        batch: first,
        ack: Some(group.ack()),
    });
    for batch in batches {
        let item = Item::Batch {
            batch,
            ack: Some(group.ack()),
        };
        tx.send(item).await.map_err(|_| ())?;
    }
    drop(group);
    done_rx.await.map_err(|_| ())
}

/// The batches of one request: the last ack answers it.
struct Group {
    left: AtomicUsize,
    done: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Group {
    fn ack(self: &Arc<Self>) -> Ack {
        let group = self.clone();
        Box::new(move || {
            if group.left.fetch_sub(1, Relaxed) == 1
                && let Some(done) = group.done.lock().expect("not poisoned").take()
            {
                let _ = done.send(());
            }
            Ok(())
        })
    }
}

/// Checks `Authorization: Splunk <token>` (or `Bearer <token>`).
fn authorize(req: &Request<Incoming>, token: &str) -> Result<(), HecCode> {
    let Some(value) = req.headers().get(hyper::header::AUTHORIZATION) else {
        return Err(HecCode::TokenRequired);
    };
    let value = value.to_str().map_err(|_| HecCode::InvalidAuthorization)?;
    let (scheme, given) = value
        .trim()
        .split_once(' ')
        .ok_or(HecCode::InvalidAuthorization)?;
    if !scheme.eq_ignore_ascii_case("splunk") && !scheme.eq_ignore_ascii_case("bearer") {
        return Err(HecCode::InvalidAuthorization);
    }
    if same(given.trim().as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(HecCode::InvalidToken)
    }
}

/// Compares in time that does not depend on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A HEC event as a record.
fn event_record(
    event: &logferry_syslog::HecEvent,
    shape: Shape,
    peer: SocketAddr,
    received: SystemTime,
) -> String {
    match (shape, &event.event) {
        (Shape::Text, Payload::Text(s)) => one_line(s.as_bytes()).into_owned(),
        (Shape::Text, Payload::Json(v)) => v.to_string(),
        (Shape::Sdl, payload) => {
            let mut object = match payload {
                Payload::Json(Value::Object(o)) => o.clone(),
                Payload::Json(v) => Map::from_iter([("message".to_owned(), v.clone())]),
                Payload::Text(s) => {
                    Map::from_iter([("message".to_owned(), Value::from(s.as_str()))])
                }
            };
            if let Some(t) = event.time {
                object.insert("ts".into(), Value::from(t));
            }
            for (k, v) in [
                ("host", &event.host),
                ("source", &event.source),
                ("sourcetype", &event.sourcetype),
                ("index", &event.index),
            ] {
                if let Some(v) = v {
                    object.entry(k).or_insert_with(|| Value::from(v.as_str()));
                }
            }
            if let Some(fields) = &event.fields {
                for (k, v) in fields {
                    object.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            add_receipt(&mut object, peer, received);
            Value::Object(object).to_string()
        }
    }
}

/// A line of text in the SDL shape: `message`, `ts` (receipt), `peer`, `received`.
fn text_object(text: &str, peer: SocketAddr, received: SystemTime) -> String {
    let mut object = Map::new();
    object.insert("message".into(), Value::from(text));
    object.insert("ts".into(), Value::from(unix_nanos(received)));
    add_receipt(&mut object, peer, received);
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }

    #[test]
    fn an_object_event_in_the_sdl_shape_keeps_its_members_and_gains_the_envelope() {
        let events = logferry_syslog::parse_events(
            br#"{"event":{"msg":"hi","host":"own"},"time":1700000000.5,"host":"h","sourcetype":"st","fields":{"f":1}}"#,
        )
        .unwrap();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let v: Value = serde_json::from_str(&event_record(
            &events[0],
            Shape::Sdl,
            peer,
            SystemTime::UNIX_EPOCH,
        ))
        .unwrap();
        assert_eq!(v["msg"], "hi");
        assert_eq!(v["host"], "own", "the event's own member wins");
        assert_eq!(v["sourcetype"], "st");
        assert_eq!(v["f"], 1);
        assert_eq!(v["ts"], 1_700_000_000_500_000_000i64);
        assert_eq!(v["peer"], "127.0.0.1:9");
        let text = event_record(&events[0], Shape::Text, peer, SystemTime::UNIX_EPOCH);
        assert_eq!(text, r#"{"host":"own","msg":"hi"}"#);
    }
}
