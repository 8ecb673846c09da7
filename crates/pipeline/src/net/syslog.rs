//! [`Syslog`]: a syslog listener over UDP (one message per datagram), TCP and TLS (RFC
//! 6587 octet counting or newline framing, told apart per message).
//!
//! Each TCP/TLS connection is one input with its own framer and batcher, read on its own
//! task; it is not read while the pipeline's queue is full (the spool full), so senders
//! are slowed by TCP's own flow control and nothing is dropped. Connections past
//! `max_connections` are closed at once and counted. UDP has no flow control: the socket
//! gets a large receive buffer (`SO_RCVBUF`), the kernel's drops on it are read from
//! `/proc/net/udp` every second, and datagrams are batched per peer address.

use super::record::{Input, Shape, input_name, one_line, syslog_sdl};
use super::{NetStats, Stop};
use crate::{FrontConfig, Item};
use logferry_framing::{Batch, FrameError, FrameErrorKind, Position};
use logferry_syslog::{Event, Framer, FramerConfig, Oversize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc::Sender;

/// How messages arrive.
#[derive(Clone)]
pub enum Transport {
    /// One message per datagram.
    Udp,
    /// A TCP stream.
    Tcp,
    /// A TCP stream inside TLS with this server configuration.
    Tls(Arc<rustls::ServerConfig>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Transport {
    fn name(&self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls(_) => "tls",
        }
    }
}

/// A syslog listener's settings.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    /// The source's name: inputs are named `NAME TRANSPORT PEER-IP`.
    pub name: Arc<str>,
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// Longer messages are dropped, counted and reported as framing errors (default
    /// 64 KiB; never above the route's `max_record_bytes`).
    pub max_message_bytes: usize,
    /// TCP/TLS connections served at once (default 1024).
    pub max_connections: usize,
    /// The UDP socket's receive buffer asked for (default 8 MiB; the kernel caps it at
    /// `net.core.rmem_max`).
    pub udp_receive_buffer: usize,
    /// What a message becomes.
    pub shape: Shape,
    /// How long a TLS handshake may take (default 10 s).
    pub handshake_timeout: Duration,
}

impl SyslogConfig {
    /// Defaults for source `name` over `transport`, records of the text shape.
    pub fn new(name: impl Into<Arc<str>>, transport: Transport) -> SyslogConfig {
        SyslogConfig {
            name: name.into(),
            transport,
            max_message_bytes: 64 * 1024,
            max_connections: 1024,
            udp_receive_buffer: 8 << 20,
            shape: Shape::Text,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

enum Socket {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// A bound syslog listener; [`start`](crate::Source::start) serves it.
pub struct Syslog {
    config: SyslogConfig,
    socket: Socket,
    stats: Arc<NetStats>,
    stop: Stop,
}

impl Syslog {
    /// Binds `addr` now (so a port in use fails at once, and port 0 is known).
    pub fn bind(addr: SocketAddr, config: SyslogConfig) -> io::Result<Syslog> {
        let socket = match config.transport {
            Transport::Udp => {
                use socket2::{Domain, Protocol, Type};
                let s = socket2::Socket::new(
                    Domain::for_address(addr),
                    Type::DGRAM,
                    Some(Protocol::UDP),
                )?;
                if let Err(e) = s.set_recv_buffer_size(config.udp_receive_buffer) {
                    tracing::warn!("syslog {}: cannot set SO_RCVBUF: {e}", config.name);
                }
                s.bind(&addr.into())?;
                s.set_nonblocking(true)?;
                let got = s.recv_buffer_size().unwrap_or(0);
                if got < config.udp_receive_buffer {
                    tracing::info!(
                        "syslog {}: UDP receive buffer {got} bytes (asked {}; raise net.core.rmem_max for bursts)",
                        config.name,
                        config.udp_receive_buffer
                    );
                }
                Socket::Udp(s.into())
            }
            Transport::Tcp | Transport::Tls(_) => {
                let l = std::net::TcpListener::bind(addr)?;
                l.set_nonblocking(true)?;
                Socket::Tcp(l)
            }
        };
        Ok(Syslog {
            config,
            socket,
            stats: Arc::new(NetStats::default()),
            stop: Stop::new(),
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.socket {
            Socket::Tcp(l) => l.local_addr(),
            Socket::Udp(s) => s.local_addr(),
        }
    }

    /// The listener's counters.
    pub fn stats(&self) -> Arc<NetStats> {
        self.stats.clone()
    }

    /// The handle that ends this source like an input ends (see [`Stop`]).
    pub fn stopper(&self) -> Stop {
        self.stop.clone()
    }
}

/// What every connection of a listener shares.
struct Shared {
    config: SyslogConfig,
    front: FrontConfig,
    stats: Arc<NetStats>,
    framer: FramerConfig,
    stop: Stop,
}

impl crate::Source for Syslog {
    fn start(self, front: FrontConfig) -> tokio::sync::mpsc::Receiver<Item> {
        let (tx, rx) = tokio::sync::mpsc::channel(front.queue.max(1));
        let framer = FramerConfig {
            max_message_bytes: self
                .config
                .max_message_bytes
                .min(front.framing.max_record_bytes)
                .max(1),
            oversize: Oversize::Skip,
        };
        let shared = Arc::new(Shared {
            config: self.config,
            front,
            stats: self.stats,
            framer,
            stop: self.stop,
        });
        match self.socket {
            Socket::Tcp(l) => {
                tokio::spawn(accept_loop(l, shared, tx));
            }
            Socket::Udp(s) => {
                tokio::spawn(udp_loop(s, shared, tx));
            }
        }
        rx
    }
}

async fn accept_loop(listener: std::net::TcpListener, shared: Arc<Shared>, tx: Sender<Item>) {
    let name = shared.config.name.clone();
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("syslog {name}: cannot listen: {e}");
            return;
        }
    };
    let open = Arc::new(tokio::sync::Semaphore::new(shared.config.max_connections));
    let mut stopping = false;
    loop {
        let accepted = if stopping {
            // Stopped: connections the kernel completed already are still served
            // (their senders may have written), then the port is released.
            match tokio::time::timeout(DRAIN_IDLE, listener.accept()).await {
                Ok(accepted) => accepted,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                () = tx.closed() => return,
                () = shared.stop.stopped() => {
                    stopping = true;
                    continue;
                }
                accepted = listener.accept() => accepted,
            }
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors, most likely: wait instead of spinning.
                tracing::warn!("syslog {name}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            let n = shared.stats.refused_connections.fetch_add(1, Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    "syslog {name}: closed a connection from {peer}: {} connections are open already (max_connections); {n} refused so far",
                    shared.config.max_connections
                );
            }
            drop(stream);
            continue;
        };
        shared.stats.connections.fetch_add(1, Relaxed);
        let _ = stream.set_nodelay(true);
        let (shared, tx) = (shared.clone(), tx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match shared.config.transport.clone() {
                Transport::Tls(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let timeout = shared.config.handshake_timeout;
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve(tls, peer, &shared, &tx).await,
                        Ok(Err(e)) => {
                            shared.stats.refused_connections.fetch_add(1, Relaxed);
                            tracing::warn!(
                                "syslog {}: TLS handshake with {peer} failed: {e}",
                                shared.config.name
                            );
                        }
                        Err(_) => {
                            shared.stats.refused_connections.fetch_add(1, Relaxed);
                            tracing::warn!(
                                "syslog {}: TLS handshake with {peer} took over {timeout:?}",
                                shared.config.name
                            );
                        }
                    }
                }
                _ => serve(stream, peer, &shared, &tx).await,
            }
        });
    }
}

/// How long a stopped source waits for more bytes on a connection before ending it.
const DRAIN_IDLE: Duration = Duration::from_millis(200);

/// A time far enough away to mean "never" for a disabled `select!` branch.
fn never() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

/// Reads one connection to its end (or until the pipeline hangs up).
async fn serve<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    shared: &Shared,
    tx: &Sender<Item>,
) {
    let name = input_name(&shared.config.name, shared.config.transport.name(), peer);
    let mut framer = Framer::new(shared.framer);
    let mut input = Input::new(&shared.front, name.clone());
    let mut buf = vec![0u8; 64 * 1024];
    let mut items: Vec<Item> = Vec::new();
    let mut batches: Vec<Batch> = Vec::new();
    // Once the source is stopped, what the sender already sent is still read, until
    // nothing came for `DRAIN_IDLE`; then the connection ends like an input.
    let mut draining = false;
    loop {
        let deadline = input.deadline().filter(|_| !draining);
        let idle = if draining {
            DRAIN_IDLE
        } else {
            Duration::from_secs(86_400)
        };
        let read = tokio::select! {
            biased;
            () = tx.closed() => return,
            () = shared.stop.stopped(), if !draining => {
                draining = true;
                continue;
            }
            () = tokio::time::sleep_until(deadline.map_or_else(never, Into::into)), if deadline.is_some() => None,
            read = tokio::time::timeout(idle, stream.read(&mut buf)) => Some(read.unwrap_or(Ok(0))),
        };
        let now = Instant::now();
        let ended = match read {
            None => {
                input.poll(now, &mut batches);
                false
            }
            Some(Ok(0)) => true,
            Some(Ok(n)) => {
                let mut on = |e: Event<'_>| {
                    event(
                        e,
                        shared,
                        &name,
                        peer,
                        now,
                        &mut input,
                        &mut batches,
                        &mut items,
                    )
                };
                framer.push(&buf[..n], &mut on);
                false
            }
            Some(Err(e)) => {
                tracing::debug!("syslog {name}: reading from {peer} failed: {e}");
                true
            }
        };
        if ended {
            let mut on = |e: Event<'_>| {
                event(
                    e,
                    shared,
                    &name,
                    peer,
                    now,
                    &mut input,
                    &mut batches,
                    &mut items,
                )
            };
            framer.finish(&mut on);
            input.flush(&mut batches);
        }
        if !send_all(tx, &mut items, &mut batches).await {
            return;
        }
        if ended {
            return;
        }
    }
}

/// Sends the items, then the batches, collected since the last send (neither waits for
/// an acknowledgement: syslog has none); false once the receiver is gone.
async fn send_all(
    tx: &tokio::sync::mpsc::Sender<Item>,
    items: &mut Vec<Item>,
    batches: &mut Vec<Batch>,
) -> bool {
    let out = items.drain(..).chain(
        batches
            .drain(..)
            .map(|batch| Item::Batch { batch, ack: None }),
    );
    for item in out {
        if tx.send(item).await.is_err() {
            return false;
        }
    }
    true
}

/// One framer event of a connection.
#[allow(clippy::too_many_arguments)]
fn event(
    e: Event<'_>,
    shared: &Shared,
    name: &Arc<str>,
    peer: SocketAddr,
    now: Instant,
    input: &mut Input,
    batches: &mut Vec<Batch>,
    items: &mut Vec<Item>,
) {
    match e {
        Event::Frame(frame) => {
            message(frame.bytes, frame.offset, shared, peer, now, input, batches);
        }
        Event::Oversized { offset, len, .. } => {
            items.push(oversized(shared, name, offset, input.line() + 1, len));
        }
        Event::Incomplete {
            offset,
            expected,
            received,
        } => {
            shared.stats.incomplete.fetch_add(1, Relaxed);
            tracing::warn!(
                "syslog {name}: {peer} closed the connection inside a message at byte {offset} ({received} of {expected} bytes received): dropped"
            );
        }
    }
}

/// A message too long: counted, and reported as a framing error (dead-letter file).
fn oversized(shared: &Shared, name: &Arc<str>, offset: u64, line: u64, len: u64) -> Item {
    shared.stats.oversized.fetch_add(1, Relaxed);
    Item::FrameError(FrameError {
        source_name: Some(name.clone()),
        position: Position { offset, line },
        kind: FrameErrorKind::TooLarge {
            len,
            max: shared.framer.max_message_bytes as u64,
        },
        raw: Vec::new(),
        raw_truncated: true,
        continues: false,
    })
}

/// One message into its input's batcher, in the route's shape.
fn message(
    bytes: &[u8],
    offset: u64,
    shared: &Shared,
    peer: SocketAddr,
    now: Instant,
    input: &mut Input,
    batches: &mut Vec<Batch>,
) {
    let stats = &shared.stats;
    stats.messages.fetch_add(1, Relaxed);
    stats.bytes.fetch_add(bytes.len() as u64, Relaxed);
    let text: Cow<'_, str> = match shared.config.shape {
        Shape::Text => one_line(bytes),
        Shape::Sdl => {
            let parsed = logferry_syslog::parse(bytes);
            if parsed.problem.is_some() {
                stats.malformed.fetch_add(1, Relaxed);
            }
            Cow::Owned(syslog_sdl(&parsed, peer, SystemTime::now()))
        }
    };
    input.push(&text, offset, bytes.len() as u64, now, batches);
}

/// A UDP peer's input and how many bytes it sent.
struct Peer {
    input: Input,
    offset: u64,
}

/// The most UDP peers batched apart; past it, idle peers are forgotten.
const MAX_UDP_PEERS: usize = 4096;

async fn udp_loop(socket: std::net::UdpSocket, shared: Arc<Shared>, tx: Sender<Item>) {
    let name = shared.config.name.clone();
    let inode = socket_inode(&socket);
    let socket = match tokio::net::UdpSocket::from_std(socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("syslog {name}: cannot listen: {e}");
            return;
        }
    };
    let mut peers: HashMap<IpAddr, Peer> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut items: Vec<Item> = Vec::new();
    let mut batches: Vec<Batch> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut drops_at_start = None;
    loop {
        let deadline = peers.values().filter_map(|p| p.input.deadline()).min();
        let mut stopping = false;
        tokio::select! {
            biased;
            () = tx.closed() => return,
            () = shared.stop.stopped() => {
                for p in peers.values_mut() {
                    p.input.flush(&mut batches);
                }
                stopping = true;
            }
            () = tokio::time::sleep_until(deadline.map_or_else(never, Into::into)), if deadline.is_some() => {
                let now = Instant::now();
                for p in peers.values_mut() {
                    p.input.poll(now, &mut batches);
                }
            }
            _ = tick.tick() => {
                if let Some(drops) = inode.and_then(kernel_drops) {
                    let start = *drops_at_start.get_or_insert(drops);
                    let total = drops.saturating_sub(start);
                    let before = shared.stats.kernel_drops.swap(total, Relaxed);
                    if total > before {
                        tracing::warn!(
                            "syslog {name}: the kernel dropped {} datagrams in the last second (receive buffer full; raise net.core.rmem_max); {total} in all",
                            total - before
                        );
                    }
                }
                if peers.len() > MAX_UDP_PEERS {
                    peers.retain(|_, p| p.input.deadline().is_some());
                }
            }
            received = socket.recv_from(&mut buf) => {
                let now = Instant::now();
                let mut next = received;
                // Everything already queued, without going back to the select.
                for _ in 0..1024 {
                    match next {
                        Ok((n, peer)) => {
                            datagram(&buf[..n], peer, &shared, now, &mut peers, &mut batches, &mut items);
                        }
                        Err(e) => {
                            tracing::debug!("syslog {name}: recv failed: {e}");
                            break;
                        }
                    }
                    next = socket.try_recv_from(&mut buf);
                    if matches!(&next, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                        break;
                    }
                }
            }
        }
        if !send_all(&tx, &mut items, &mut batches).await {
            return;
        }
        if stopping {
            return;
        }
    }
}

fn datagram(
    bytes: &[u8],
    peer: SocketAddr,
    shared: &Shared,
    now: Instant,
    peers: &mut HashMap<IpAddr, Peer>,
    batches: &mut Vec<Batch>,
    items: &mut Vec<Item>,
) {
    let p = peers.entry(peer.ip()).or_insert_with(|| Peer {
        input: Input::new(&shared.front, input_name(&shared.config.name, "udp", peer)),
        offset: 0,
    });
    let offset = p.offset;
    p.offset += bytes.len() as u64;
    // A trailing line end is framing some senders add, not part of the message.
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    let bytes = &bytes[..end];
    if bytes.is_empty() {
        return;
    }
    if bytes.len() > shared.framer.max_message_bytes {
        let name = input_name(&shared.config.name, "udp", peer);
        items.push(oversized(
            shared,
            &name,
            offset,
            p.input.line() + 1,
            bytes.len() as u64,
        ));
        return;
    }
    message(bytes, offset, shared, peer, now, &mut p.input, batches);
}

/// The socket's inode (`socket:[N]` behind `/proc/self/fd/FD`), to find it in
/// `/proc/net/udp`.
fn socket_inode(socket: &std::net::UdpSocket) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        let link = link.to_str()?;
        link.strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    }
    #[cfg(not(unix))]
    {
        let _ = socket;
        None
    }
}

/// The kernel's drop count of the UDP socket `inode` (`/proc/net/udp` and `udp6`, last
/// column).
fn kernel_drops(inode: u64) -> Option<u64> {
    let wanted = inode.to_string();
    ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|path| {
        let table = std::fs::read_to_string(path).ok()?;
        table.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(9) == Some(&wanted.as_str()))
                .then(|| fields.last()?.parse().ok())
                .flatten()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_drop_counter_of_a_bound_socket_is_found() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let Some(inode) = socket_inode(&socket) else {
            return; // no /proc here
        };
        assert_eq!(kernel_drops(inode), Some(0));
    }
}
