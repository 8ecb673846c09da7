//! Shared helpers: an emulator, a client trusting it, sender configs, events with ids,
//! and a loopback server that captures requests.

use logferry_emulator::{Emulator, Endpoint, FaultSet, Faults, Record as EmuRecord};
use logferry_http::{Client, ClientConfig, Secret};
use logferry_sdl::{Pacing, SdlConfig, Sessions};
use logferry_sdl_model::{Attrs, Event, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub(crate) const T0: u64 = 1_767_225_600_000_000_000;

pub(crate) async fn emulator_with(faults: Faults) -> Emulator {
    Emulator::builder()
        .faults(faults)
        .start()
        .await
        .expect("the emulator starts")
}

pub(crate) async fn emulator() -> Emulator {
    emulator_with(Faults::none()).await
}

pub(crate) fn sdl_faults(set: FaultSet) -> Faults {
    Faults::none().with_endpoint(Endpoint::SdlAddEvents, set)
}

pub(crate) fn client(emu: &Emulator) -> Client {
    Client::new(ClientConfig {
        ca_pem: emu.ca_cert_pem().map(str::to_owned),
        ..ClientConfig::default()
    })
    .expect("the client builds")
}

/// A config for the emulator: one session, short linger, fast retries, no hostname.
pub(crate) fn config(emu: &Emulator) -> SdlConfig {
    let mut c = SdlConfig::new(
        emu.base_url().parse().expect("the emulator URL is valid"),
        Secret::new(emu.sdl_api_key()),
    );
    c.server_host = Some("test-host".to_owned());
    c.sessions = Sessions::Fixed(1);
    c.linger = Duration::from_millis(50);
    c.retry.base = Duration::from_millis(5);
    c.retry.cap = Duration::from_millis(50);
    c.retry.retry_after_ceiling = Duration::from_secs(1);
    c.pacing = Pacing::default();
    c
}

/// Event `i`: a message and an `id` attribute, 1 ms apart.
pub(crate) fn event(i: u64) -> Event {
    Event::new(
        Timestamp::from_nanos(T0 + i * 1_000_000),
        Attrs::new()
            .with(
                "message",
                format!("event number {i} with some text to give it weight"),
            )
            .with("id", i as i64),
    )
}

/// How many times each `id` was stored by the emulator.
pub(crate) fn stored_ids(records: &[EmuRecord]) -> BTreeMap<u64, usize> {
    let mut ids = BTreeMap::new();
    for r in records {
        let id = r
            .sdl
            .as_ref()
            .and_then(|s| s.attrs.get("id"))
            .and_then(serde_json::Value::as_u64)
            .expect("every test event has an id");
        *ids.entry(id).or_default() += 1;
    }
    ids
}

/// One request seen by the capture server.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Captured {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain-HTTP loopback server that records requests and answers them from `replies`
/// in order (HTTP status, body), then with an SDL success.
pub(crate) struct Capture {
    pub(crate) url: String,
    pub(crate) requests: Arc<Mutex<Vec<Captured>>>,
}

pub(crate) async fn capture(replies: Vec<(u16, &'static str)>) -> Capture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let replies = Arc::new(Mutex::new(replies.into_iter()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            let replies = replies.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        stream.read_line(&mut h).await.expect("header line");
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').expect("name: value");
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                    }
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .map_or(0, |(_, v)| v.parse().expect("a length"));
                    let mut body = vec![0; len];
                    stream.read_exact(&mut body).await.expect("the body");
                    seen.lock().expect("not poisoned").push(Captured {
                        path,
                        headers,
                        body,
                    });
                    let (status, reply) = replies
                        .lock()
                        .expect("not poisoned")
                        .next()
                        .unwrap_or((200, r#"{"status":"success","bytesCharged":0}"#));
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    if stream
                        .get_mut()
                        .write_all(response.as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Capture { url, requests }
}

impl Capture {
    pub(crate) fn taken(&self) -> Vec<Captured> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

/// A TCP proxy in front of a plain-HTTP server that can be frozen like a stopped process:
/// while frozen it accepts connections and reads what clients send, but forwards nothing;
/// thawed, it forwards each connection's bytes, even of a client that has gone (so the
/// server sees every request that was sent, as a `SIGSTOP`ped server would), and keeps
/// the server side open until the server closes it.
pub(crate) struct Freezer {
    pub(crate) addr: std::net::SocketAddr,
    /// Connections that sent bytes while frozen.
    pub(crate) held: tokio::sync::watch::Receiver<usize>,
    thaw: tokio::sync::watch::Sender<bool>,
}

impl Freezer {
    /// A frozen proxy to `upstream`.
    pub(crate) async fn frozen(upstream: std::net::SocketAddr) -> Freezer {
        use tokio::sync::watch;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("addr");
        let (thaw, thawed) = watch::channel(false);
        let (held_tx, held) = watch::channel(0usize);
        let held_tx = Arc::new(held_tx);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream, thawed.clone(), held_tx.clone()));
            }
        });
        Freezer { addr, held, thaw }
    }

    /// Forwards everything held, and from now on.
    pub(crate) fn thaw(&self) {
        self.thaw.send_replace(true);
    }
}

async fn forward(
    mut client: tokio::net::TcpStream,
    upstream: std::net::SocketAddr,
    mut thawed: tokio::sync::watch::Receiver<bool>,
    held: Arc<tokio::sync::watch::Sender<usize>>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut counted = false;
    let mut client_gone = false;
    while !*thawed.borrow() {
        tokio::select! {
            _ = thawed.changed() => {}
            n = client.read(&mut chunk), if !client_gone => match n {
                Ok(0) | Err(_) => client_gone = true,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if !counted {
                        counted = true;
                        held.send_modify(|c| *c += 1);
                    }
                }
            },
        }
    }
    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    if up.write_all(&buf).await.is_err() {
        return;
    }
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = up.into_split();
    let to_server = async {
        if !client_gone {
            let _ = tokio::io::copy(&mut cr, &mut uw).await;
        }
        // The server side stays open: the server answers what it was sent.
        std::future::pending::<()>().await
    };
    let to_client = async {
        let mut b = vec![0u8; 64 * 1024];
        while let Ok(n) = ur.read(&mut b).await {
            if n == 0 {
                break;
            }
            // The client may have gone; what the server says is read anyway.
            let _ = cw.write_all(&b[..n]).await;
        }
    };
    tokio::select! {
        () = to_server => {}
        () = to_client => {}
    }
}
