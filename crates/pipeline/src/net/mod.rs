//! Network sources: a syslog listener over UDP, TCP and TLS ([`Syslog`]) and a
//! Splunk-HEC-compatible HTTP receiver ([`Hec`]), each a [`Source`](crate::Source).
//!
//! Both parse with `logferry-syslog` (sans-IO) and batch with the same
//! [`Batcher`](logferry_framing::Batcher) as files. What a received message becomes is the
//! route's [`Shape`]:
//!
//! - [`Shape::Text`] (HTTP Ingest): the original text, one record per message ("Taegis
//!   normalizes syslog from supported sources itself"). A line feed inside a message (an
//!   octet-counted stack trace) is written `\n` (backslash, `n`), as `multiline` joins
//!   lines, because a body is line-delimited.
//! - [`Shape::Sdl`] (SDL, JSON format): a JSON object per message: `ts` (the message's
//!   time in Unix nanoseconds, or the receipt time), `sev` (SDL's 0–6 from the syslog
//!   severity), the parsed fields as attributes, `peer` and `received`.
//!
//! **Per-record metadata.** The peer address and receipt time travel *inside* a record
//! where the record has room for them (the SDL shape), so the batch format, the spool
//! entry and the file path are unchanged and pay nothing. Every batch also names its
//! input after the listener and the peer's address (`fw tcp 10.0.0.1`), so a batch in the
//! dead-letter file says where it came from in either shape; record positions are
//! per connection (byte offset in the stream, message number as the line).
//!
//! Acknowledgements: syslog has none (a TCP sender learns nothing), so a connection simply
//! stops being read while the pipeline's queue is full (the spool full: backpressure);
//! the HEC receiver answers 200 only once every batch of the request is in the spool
//! (each batch's [`Ack`](crate::Ack)), 503 with `Retry-After` when the queue stays full.

mod hec;
mod record;
mod syslog;
mod tls;

pub use hec::{Hec, HecConfig};
pub use record::Shape;
pub use syslog::{Syslog, SyslogConfig, Transport};
pub use tls::{TlsFiles, server_config};

/// rustls' server configuration, as [`server_config`] makes it.
pub type ServerConfig = rustls::ServerConfig;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Stops a listening source the way an input ends: it accepts nothing new, sends what it
/// holds (open batches, requests being answered), and its channel ends once every
/// connection finished, so the pipeline spools the rest and completes. Without it, a
/// pipeline that stops reading drops what a syslog sender already handed over.
#[derive(Debug, Clone)]
pub struct Stop(Arc<tokio::sync::watch::Sender<bool>>);

impl Stop {
    fn new() -> Stop {
        Stop(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Asks the source to stop (idempotent).
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`stop`](Stop::stop) was called.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`stop`](Stop::stop) is called.
    pub(crate) async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

use std::sync::Arc;

/// Counters of one listening source (shared with whoever reports them).
#[derive(Debug, Default)]
pub struct NetStats {
    /// Messages (syslog) or events (HEC) made into records.
    pub messages: AtomicU64,
    /// Bytes of those messages.
    pub bytes: AtomicU64,
    /// Messages kept as text although they could not be parsed as syslog.
    pub malformed: AtomicU64,
    /// Messages dropped for being longer than `max_message_bytes` (or a HEC body over its
    /// limit: its events).
    pub oversized: AtomicU64,
    /// TCP/TLS connections accepted.
    pub connections: AtomicU64,
    /// Connections closed at once because `max_connections` were open, or whose TLS
    /// handshake failed.
    pub refused_connections: AtomicU64,
    /// Messages cut by the end of their connection (an octet count not reached).
    pub incomplete: AtomicU64,
    /// UDP datagrams the kernel dropped on this socket (its receive buffer was full), as
    /// `/proc/net/udp` reports them; 0 where not visible.
    pub kernel_drops: AtomicU64,
    /// HTTP requests refused (auth, format, size), by any status but 503.
    pub requests_refused: AtomicU64,
    /// HTTP requests answered 503 because the queue stayed full.
    pub requests_busy: AtomicU64,
}

/// A copy of [`NetStats`]' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // the same fields as NetStats
pub struct NetCounts {
    pub messages: u64,
    pub bytes: u64,
    pub malformed: u64,
    pub oversized: u64,
    pub connections: u64,
    pub refused_connections: u64,
    pub incomplete: u64,
    pub kernel_drops: u64,
    pub requests_refused: u64,
    pub requests_busy: u64,
}

impl NetStats {
    /// The counters now.
    pub fn counts(&self) -> NetCounts {
        NetCounts {
            messages: self.messages.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            oversized: self.oversized.load(Relaxed),
            connections: self.connections.load(Relaxed),
            refused_connections: self.refused_connections.load(Relaxed),
            incomplete: self.incomplete.load(Relaxed),
            kernel_drops: self.kernel_drops.load(Relaxed),
            requests_refused: self.requests_refused.load(Relaxed),
            requests_busy: self.requests_busy.load(Relaxed),
        }
    }
}

impl std::fmt::Display for NetCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages ({} bytes), {} malformed kept as text, {} oversized dropped, {} cut by a closed connection, {} kernel drops; {} connections ({} refused); {} requests refused, {} answered busy",
            self.messages,
            self.bytes,
            self.malformed,
            self.oversized,
            self.incomplete,
            self.kernel_drops,
            self.connections,
            self.refused_connections,
            self.requests_refused,
            self.requests_busy
        )
    }
}
