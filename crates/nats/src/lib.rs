//! NATS JetStream transport for logferry's scale-out: edge hosts publish batches into a
//! stream, a pool of workers shares one durable pull consumer of it.
//!
//! Transport only: [`connect`] (several server URLs, TLS with a CA and a client
//! certificate, and one way to authenticate, [`Auth`]: a credentials file, a user and
//! password, a token or an NKey seed file), [`Bus::ensure_stream`] (file storage, work-queue
//! retention, a duplicate window), [`Bus::publish`] (headers, a `Nats-Msg-Id`, and the
//! server's acknowledgement awaited), [`Bus::consumer`] (a durable pull consumer with
//! explicit acknowledgement) whose [`Consumer::fetch`] hands out [`Delivery`]s, each
//! settled once by its [`Settle`]: ack, nak with a delay, term, and in-progress
//! acknowledgements in between. What a message holds and when to settle it is the
//! pipeline's business (`logferry-pipeline`'s NATS sink and source).
//!
//! Checked against nats-server 2.9 (Debian's) and newer: the client is built without its
//! `server_2_10`+ features, so the stream and consumer configurations it sends carry no
//! field an older server refuses.

#[cfg(feature = "testing")]
pub mod secured;
pub mod server;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, message::Acker, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::time::Duration;

pub use async_nats::HeaderMap as Headers;
pub use async_nats::ServerAddr;

/// What went wrong talking to NATS, with the operation it happened in.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct Error {
    what: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Error {
    fn new(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// A password or a token: kept out of every `Debug` and `Display` (the project's one
/// credential type).
pub use logferry_http::Secret;

/// `url` with the secret of its user info replaced by `<redacted>`, for logs, errors and
/// `Debug`: NATS takes `nats://user:password@host` and `nats://token@host`, so the
/// password, or a lone user part (a token), is hidden; the user name of a pair is kept.
///
/// ```
/// use logferry_nats::redact_url;
/// assert_eq!(redact_url("nats://alice:s3cret@127.0.0.1:4222"), "nats://alice:<redacted>@127.0.0.1:4222");
/// assert_eq!(redact_url("tls://t0ken@nats-1"), "tls://<redacted>@nats-1");
/// assert_eq!(redact_url("nats://bob:a/b?c@nats-1"), "nats://bob:<redacted>@nats-1");
/// assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
/// ```
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(info) = logferry_http::user_info(url) else {
        return url.into();
    };
    let keep = url[info.clone()]
        .find(':')
        .map_or(info.start, |colon| info.start + colon + 1);
    format!("{}<redacted>{}", &url[..keep], &url[info.end..]).into()
}

/// How the client proves who it is to the server: one way at most (a client
/// certificate, [`ConnectConfig::client_cert`], may come with any of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// Nothing (a server without authorization, or one that knows clients by their
    /// certificate).
    #[default]
    None,
    /// A credentials file (`.creds`: a user JWT and its NKey seed), for a server in
    /// operator mode.
    CredentialsFile(PathBuf),
    /// A user and a password (the server's `authorization { user, password }` or
    /// `authorization { users = [...] }`).
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: Secret,
    },
    /// A token (the server's `authorization { token }`).
    Token(Secret),
    /// A file holding a user's NKey seed (`SU...`, one line), read at each connection; the
    /// server knows the matching public key (`authorization { users = [{ nkey: U... }] }`)
    /// and the client signs the server's nonce with the seed.
    NkeySeedFile(PathBuf),
}

/// How to reach the servers.
#[derive(Clone)]
#[non_exhaustive]
pub struct ConnectConfig {
    /// Server URLs (`nats://host:4222`, `tls://host:4222`): any of them is tried, and the
    /// servers a cluster announces are added.
    pub urls: Vec<String>,
    /// How the client authenticates (default: it does not).
    pub auth: Auth,
    /// A PEM file of CA certificates to trust (TLS on).
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, PEM (mutual TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Require TLS even with `nats://` URLs.
    pub require_tls: bool,
    /// The connection's name, as the server's monitoring shows it.
    pub name: String,
    /// How long a JetStream request (publish acknowledgement, stream lookup) waits.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Paths, and a user name: passwords and tokens are `Secret`s, and files of
        // credentials are read only while connecting.
        f.debug_struct("ConnectConfig")
            .field(
                "urls",
                &self.urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>(),
            )
            .field("auth", &self.auth)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("require_tls", &self.require_tls)
            .field("name", &self.name)
            .finish()
    }
}

impl ConnectConfig {
    /// Defaults for `urls`: no TLS unless a URL says `tls://`, no credentials, 5 s
    /// requests (a publish not acknowledged within it is sent again, with the same
    /// message id).
    pub fn new(urls: Vec<String>) -> Self {
        ConnectConfig {
            urls,
            auth: Auth::None,
            ca_file: None,
            client_cert: None,
            require_tls: false,
            name: "logferry".into(),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection with its JetStream context.
#[derive(Debug, Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
}

/// Connects to one of `config.urls`. The client reconnects by itself afterwards (to any
/// server of the cluster), forever; requests made while it is away fail with a timeout.
pub async fn connect(config: &ConnectConfig) -> Result<Bus, Error> {
    if config.urls.is_empty() {
        return Err(Error::new("connect", "no server URL"));
    }
    let addrs = config
        .urls
        .iter()
        .map(|u| {
            u.parse::<ServerAddr>()
                .map_err(|e| Error::new(format!("server URL {}", redact_url(u)), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut options = async_nats::ConnectOptions::new()
        .name(&config.name)
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(config.request_timeout))
        .max_reconnects(None)
        .require_tls(config.require_tls);
    match &config.auth {
        Auth::None => {}
        Auth::CredentialsFile(creds) => {
            options = options
                .credentials_file(creds)
                .await
                .map_err(|e| Error::new(format!("credentials file {}", creds.display()), e))?;
        }
        Auth::UserPassword { user, password } => {
            options = options.user_and_password(user.clone(), password.expose().to_owned());
        }
        Auth::Token(token) => options = options.token(token.expose().to_owned()),
        Auth::NkeySeedFile(path) => options = options.nkey(nkey_seed(path)?),
    }
    if let Some(ca) = &config.ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some((cert, key)) = &config.client_cert {
        options = options
            .add_client_certificate(cert.clone(), key.clone())
            .require_tls(true);
    }
    let client = options.connect(addrs).await.map_err(|e| {
        let urls: Vec<_> = config.urls.iter().map(|u| redact_url(u)).collect();
        let mut what = format!("{}: connect to {}", config.name, urls.join(", "));
        // A server that verifies clients' certificates answers a missing or unknown one
        // with a TLS alert that does not say which side's certificate it means.
        let text = e.to_string();
        if text.contains("fatal alert") && text.contains("Certificate") {
            what.push_str(match config.client_cert {
                None => " (the server may want a client certificate: `client_cert`, `client_key`)",
                Some(_) => " (the server may not trust the client certificate, `client_cert`)",
            });
        }
        Error::new(what, e)
    })?;
    let js = jetstream::ContextBuilder::new()
        .timeout(config.request_timeout)
        .max_ack_inflight(4096)
        .backpressure_on_inflight(true)
        .build(client.clone());
    Ok(Bus { client, js })
}

/// The user NKey seed in the file at `path`: its one line, which must look like one (the
/// seed itself is never put in the error).
fn nkey_seed(path: &std::path::Path) -> Result<String, Error> {
    let what = || format!("nkey seed file {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| Error::new(what(), e))?;
    let seed = text.trim();
    // A user seed: base32 of a prefix byte pair that encodes as `SU`, 58 characters.
    let looks_like_one = seed.len() == 58
        && seed.starts_with("SU")
        && seed
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !looks_like_one {
        return Err(Error::new(
            what(),
            "not a user NKey seed (one line of 58 characters starting with SU)",
        ));
    }
    Ok(seed.to_owned())
}

/// The stream the edge publishes into and workers consume.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSpec {
    /// Its name (`LOGS`).
    pub name: String,
    /// The subjects it captures (`logs.>`, or the one subject published to).
    pub subjects: Vec<String>,
    /// How long the server remembers message ids to drop republished duplicates.
    pub duplicate_window: Duration,
    /// Copies in a cluster (1 on a single server; 3 for a three-node cluster).
    pub replicas: usize,
    /// The largest message the stream takes (`None`: the server's max payload).
    pub max_message_bytes: Option<i32>,
}

impl StreamSpec {
    /// The default duplicate window: long enough to cover a publisher's restart and
    /// the republish of what it had in flight.
    pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

    /// A stream `name` capturing `subjects`, with the defaults.
    pub fn new(name: impl Into<String>, subjects: Vec<String>) -> Self {
        StreamSpec {
            name: name.into(),
            subjects,
            duplicate_window: Self::DEFAULT_DUPLICATE_WINDOW,
            replicas: 1,
            max_message_bytes: None,
        }
    }
}

/// What the server said of a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// Its sequence number in the stream.
    pub sequence: u64,
    /// The server had it already (same `Nats-Msg-Id` within the duplicate window): it was
    /// not stored again.
    pub duplicate: bool,
}

/// A durable pull consumer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerSpec {
    /// The durable name, shared by every worker.
    pub durable: String,
    /// How long the server waits for an acknowledgement (or an in-progress one) before it
    /// delivers the message again, to any worker.
    pub ack_wait: Duration,
    /// The most messages unacknowledged across all workers at once.
    pub max_ack_pending: i64,
}

impl ConsumerSpec {
    /// A consumer `durable` with a 60 s ack wait and 1,000 messages pending at most.
    pub fn new(durable: impl Into<String>) -> Self {
        ConsumerSpec {
            durable: durable.into(),
            ack_wait: Duration::from_secs(60),
            max_ack_pending: 1000,
        }
    }
}

impl Bus {
    /// The largest message (headers and payload) the server takes.
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// Whether the connection is up now.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Creates the stream when it is missing: file storage, work-queue retention (a
    /// message is gone once acknowledged), the duplicate window. An existing stream is
    /// used as it is (its subjects must cover what is published).
    pub async fn ensure_stream(&self, spec: &StreamSpec) -> Result<(), Error> {
        let config = stream::Config {
            name: spec.name.clone(),
            subjects: spec.subjects.clone(),
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            duplicate_window: spec.duplicate_window,
            num_replicas: spec.replicas.max(1),
            max_message_size: spec.max_message_bytes.unwrap_or(-1),
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map(drop)
            .map_err(|e| Error::new(format!("stream {}", spec.name), e))
    }

    /// Creates a stream for dead letters when missing: limits retention (kept until
    /// removed by an operator), file storage.
    pub async fn ensure_dead_letter_stream(&self, name: &str, subject: &str) -> Result<(), Error> {
        let config = stream::Config {
            name: name.to_owned(),
            subjects: vec![subject.to_owned()],
            storage: stream::StorageType::File,
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map(drop)
            .map_err(|e| Error::new(format!("stream {name}"), e))
    }

    /// Sends a message and returns a future of the server's acknowledgement: several can
    /// be on the wire at once, the acknowledgements awaited in order.
    pub async fn publish(
        &self,
        subject: &str,
        id: &str,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<PendingPublish, Error> {
        let message = jetstream::message::PublishMessage::build()
            .headers(headers)
            .message_id(id)
            .payload(payload);
        let ack = self
            .js
            .send_publish(subject.to_owned(), message)
            .await
            .map_err(|e| Error::new(format!("publish to {subject}"), e))?;
        Ok(PendingPublish {
            ack,
            subject: subject.to_owned(),
        })
    }

    /// Binds to the durable pull consumer `spec.durable` on `stream`, creating it when
    /// missing (explicit acknowledgement, deliver all, no server-side delivery limit: the
    /// worker counts deliveries and moves exhausted messages to a dead-letter subject
    /// itself, so none is left silently in the stream).
    pub async fn consumer(&self, stream: &str, spec: &ConsumerSpec) -> Result<Consumer, Error> {
        let config = jetstream::consumer::pull::Config {
            durable_name: Some(spec.durable.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_wait: spec.ack_wait,
            max_deliver: -1,
            max_ack_pending: spec.max_ack_pending,
            ..Default::default()
        };
        let what = || format!("consumer {} on stream {stream}", spec.durable);
        let s = self
            .js
            .get_stream(stream)
            .await
            .map_err(|e| Error::new(what(), e))?;
        let consumer: PullConsumer = s
            .get_or_create_consumer(&spec.durable, config)
            .await
            .map_err(|e| Error::new(what(), e))?;
        Ok(Consumer {
            inner: consumer,
            name: what(),
        })
    }

    /// Flushes what the client buffered (acknowledgements included) to the server.
    pub async fn flush(&self) -> Result<(), Error> {
        self.client
            .flush()
            .await
            .map_err(|e| Error::new("flush", e))
    }

    /// What durable consumer `durable` of `stream` has left: (messages not yet delivered,
    /// messages delivered and not yet acknowledged).
    pub async fn consumer_pending(&self, stream: &str, durable: &str) -> Result<(u64, u64), Error> {
        let info = self.consumer_info(stream, durable).await?;
        Ok((info.num_pending, info.num_ack_pending as u64))
    }

    /// The server's information on consumer `durable` of `stream`.
    async fn consumer_info(
        &self,
        stream: &str,
        durable: &str,
    ) -> Result<async_nats::jetstream::consumer::Info, Error> {
        let what = || format!("consumer {durable} on stream {stream}");
        let s = self
            .js
            .get_stream(stream)
            .await
            .map_err(|e| Error::new(what(), e))?;
        s.consumer_info(durable)
            .await
            .map_err(|e| Error::new(what(), e))
    }

    /// Messages in `stream` now (a work-queue stream: not yet acknowledged).
    pub async fn stream_messages(&self, stream: &str) -> Result<u64, Error> {
        let mut s = self
            .js
            .get_stream(stream)
            .await
            .map_err(|e| Error::new(format!("stream {stream}"), e))?;
        let info = s
            .info()
            .await
            .map_err(|e| Error::new(format!("stream {stream}"), e))?;
        Ok(info.state.messages)
    }

    /// Pull requests of consumer `durable` of `stream` waiting at the server for messages
    /// (for monitoring, and for tests that must know a worker is waiting).
    pub async fn consumer_waiting(&self, stream: &str, durable: &str) -> Result<u64, Error> {
        let info = self.consumer_info(stream, durable).await?;
        Ok(info.num_waiting as u64)
    }
}

/// A published message whose acknowledgement has not come yet.
pub struct PendingPublish {
    ack: jetstream::context::PublishAckFuture,
    subject: String,
}

impl std::fmt::Debug for PendingPublish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPublish")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl PendingPublish {
    /// Waits for the server's acknowledgement: once it comes the message is stored (on
    /// the replicas the stream asks for).
    pub async fn acknowledged(self) -> Result<Published, Error> {
        let subject = self.subject;
        self.ack
            .await
            .map(|a| Published {
                sequence: a.sequence,
                duplicate: a.duplicate,
            })
            .map_err(|e| Error::new(format!("publish to {subject}: no acknowledgement"), e))
    }
}

/// A durable pull consumer.
#[derive(Debug)]
pub struct Consumer {
    inner: PullConsumer,
    name: String,
}

impl Consumer {
    /// Up to `max` messages: those the server has for this consumer now (one request
    /// that does not wait), or when it has none, the first one that comes within `wait`
    /// (an empty list when none came). Never waits for more once it has one: a worker
    /// asking for four while three are left gets the three at once, not after `wait`.
    pub async fn fetch(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, Error> {
        match self.fetch_within(max, None).await {
            Ok(now) if !now.is_empty() => return Ok(now),
            Ok(_) => {}
            // A request that does not wait is refused where a waiting one is held (the
            // consumer's `max_ack_pending` reached by delayed naks): wait instead.
            Err(e) => tracing::debug!("{e}: waiting for a message instead"),
        }
        self.fetch_within(1, Some(wait)).await
    }

    /// One pull request: without `wait`, answered at once with what there is.
    async fn fetch_within(
        &self,
        max: usize,
        wait: Option<Duration>,
    ) -> Result<Vec<Delivery>, Error> {
        // A pull request sent while the connection was down (a server restarting) is
        // never answered: give up on it a little after its own expiry.
        let limit = wait.unwrap_or_default() + Duration::from_secs(3);
        tokio::time::timeout(limit, self.fetch_once(max, wait))
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    format!("{}: fetch", self.name),
                    "no answer to the pull request",
                ))
            })
    }

    async fn fetch_once(&self, max: usize, wait: Option<Duration>) -> Result<Vec<Delivery>, Error> {
        let max = max.max(1);
        let batch = match wait {
            Some(wait) => {
                self.inner
                    .batch()
                    .max_messages(max)
                    .expires(wait)
                    .messages()
                    .await
            }
            None => self.inner.fetch().max_messages(max).messages().await,
        };
        let mut batch = batch.map_err(|e| Error::new(format!("{}: fetch", self.name), e))?;
        let mut out = Vec::new();
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| Error::new(format!("{}: fetch", self.name), e))?;
            let (delivered, stream_sequence) = message
                .info()
                .map(|i| (u64::try_from(i.delivered).unwrap_or(1), i.stream_sequence))
                .unwrap_or((1, 0));
            let (message, acker) = message.split();
            out.push(Delivery {
                payload: message.payload,
                headers: message.headers.unwrap_or_default(),
                delivered,
                stream_sequence,
                settle: Settle { acker },
            });
        }
        Ok(out)
    }
}

/// A message handed to this worker: settle it once through [`Delivery::settle`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Delivery {
    /// Its payload.
    pub payload: Bytes,
    /// Its headers.
    pub headers: HeaderMap,
    /// How many times the server has delivered it (1 the first time).
    pub delivered: u64,
    /// Its sequence number in the stream.
    pub stream_sequence: u64,
    /// How to settle it.
    pub settle: Settle,
}

/// How a delivered message is settled.
pub struct Settle {
    acker: Acker,
}

impl std::fmt::Debug for Settle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Settle")
    }
}

impl Settle {
    /// Done: the server removes it from the work queue.
    pub async fn ack(&self) -> Result<(), Error> {
        self.send(AckKind::Ack).await
    }

    /// Not now: delivered again (to any worker) after `delay`.
    pub async fn nak(&self, delay: Duration) -> Result<(), Error> {
        self.send(AckKind::Nak(Some(delay))).await
    }

    /// Still working on it: the ack wait starts over.
    pub async fn progress(&self) -> Result<(), Error> {
        self.send(AckKind::Progress).await
    }

    /// Never deliver it again.
    pub async fn term(&self) -> Result<(), Error> {
        self.send(AckKind::Term).await
    }

    async fn send(&self, kind: AckKind) -> Result<(), Error> {
        let name = match kind {
            AckKind::Ack => "ack",
            AckKind::Nak(_) => "nak",
            AckKind::Progress => "in-progress ack",
            AckKind::Term => "term",
            AckKind::Next => "ack next",
        };
        self.acker
            .ack_with(kind)
            .await
            .map_err(|e| Error::new(name, e))
    }
}

/// A message id for `Nats-Msg-Id` from the parts that identify a batch (origin, source,
/// range, a checksum of the body): the same batch republished gets the same id, any
/// other batch a different one. Printable, at most about 100 bytes.
pub fn message_id(origin: &str, source: &str, start: u64, end: u64, body: &[u8]) -> String {
    let mut h = crc32fast::Hasher::new();
    h.update(origin.as_bytes());
    h.update(&[0]);
    h.update(source.as_bytes());
    let names = h.finalize();
    let body_crc = crc32fast::hash(body);
    let short: String = origin
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(48)
        .collect();
    format!(
        "{short}:{names:08x}:{start}-{end}:{body_crc:08x}:{}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_name_the_batch_and_differ_when_anything_differs() {
        let a = message_id("host-1/bus/auth", "/var/log/auth.log", 0, 100, b"x\n");
        assert_eq!(
            a,
            message_id("host-1/bus/auth", "/var/log/auth.log", 0, 100, b"x\n")
        );
        assert!(a.starts_with("host-1busauth:"), "{a}");
        for other in [
            message_id("host-2/bus/auth", "/var/log/auth.log", 0, 100, b"x\n"),
            message_id("host-1/bus/auth", "/var/log/auth.log.1", 0, 100, b"x\n"),
            message_id("host-1/bus/auth", "/var/log/auth.log", 0, 101, b"x\n"),
            // A rotated file read from 0 again: same range, other records.
            message_id("host-1/bus/auth", "/var/log/auth.log", 0, 100, b"y\n"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[tokio::test]
    async fn a_password_in_a_url_reaches_neither_debug_nor_a_connect_error() {
        // A closed port on loopback: the connection is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = ConnectConfig::new(vec![
            format!("nats://alice:url-pass@127.0.0.1:{port}"),
            format!("nats://url-token@127.0.0.1:{port}"),
        ]);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("url-pass") && !debug.contains("url-token"),
            "{debug}"
        );
        assert!(
            debug.contains("nats://alice:<redacted>@127.0.0.1"),
            "{debug}"
        );
        let error = connect(&config)
            .await
            .expect_err("nothing listens")
            .to_string();
        assert!(
            !error.contains("url-pass") && !error.contains("url-token"),
            "{error}"
        );
        assert!(
            error.contains("connect to nats://alice:<redacted>@127.0.0.1"),
            "{error}"
        );
    }
}
