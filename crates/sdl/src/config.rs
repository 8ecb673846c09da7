//! [`SdlConfig`]: every option of the `addEvents` sender, with documented defaults.

use crate::Error;
use logferry_compress::Level;
use logferry_http::{IngestUrl, Secret};
use logferry_retry::BudgetConfig;
use logferry_sdl_model::{Attrs, Dedupe, Log, MAX_BODY_BYTES, Oversize, Thread, Timestamps};
use std::time::Duration;

/// The seed's advice for one session: "We recommend you conservatively set each session to
/// 2.5 MB/sec."
pub const RECOMMENDED_SESSION_RATE: u64 = 2_500_000;

/// The seed's ceiling for one session: "Each session cannot exceed 10 MB/sec."
pub const SESSION_RATE_CEILING: u64 = 10_000_000;

/// How many sessions the sender uses.
///
/// Each session is a UUID created once, when the sender starts it, and used for every
/// request after that (seed: "You can generate a UUID at process startup [...] Do not
/// create a new session identifier for each request"). Sessions are never retired while
/// the sender runs, so a process creates at most `max` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// Exactly this many sessions, all created at start. At least 1.
    Fixed(usize),
    /// Start with `min` sessions and add one, up to `max`, whenever a full batch is ready
    /// and every session is busy (sending, retrying or waiting for its pace), at most once
    /// per [`SdlConfig::scale_interval`]. That is the seed's advice for sustained
    /// throughput: "separate your events into multiple sessions", "if you have a server
    /// that sends 20 MB/sec, we recommend 8 sessions at 2.5 MB/sec per session". Sessions
    /// are not removed when the load falls (an idle session costs nothing).
    Auto {
        /// Sessions at start. At least 1.
        min: usize,
        /// Most sessions. At least `min`.
        max: usize,
    },
}

impl Sessions {
    pub(crate) fn bounds(self) -> (usize, usize) {
        match self {
            Sessions::Fixed(n) => (n, n),
            Sessions::Auto { min, max } => (min, max),
        }
    }
}

impl Default for Sessions {
    /// `Auto { min: 1, max: 8 }`: 8 sessions at 2.5 MB/s carry the seed's 20 MB/s example.
    fn default() -> Sessions {
        Sessions::Auto { min: 1, max: 8 }
    }
}

/// How fast one session may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// A token bucket of uncompressed request bytes refilled at `bytes_per_sec`, holding
    /// one maximum body; besides, no session sends more than [`SESSION_RATE_CEILING`]
    /// bytes in any 1 s window.
    PerSession {
        /// The average pace, bytes per second. 1 to [`SESSION_RATE_CEILING`].
        bytes_per_sec: u64,
    },
    /// No pacing and no ceiling: only for benchmarks against an emulator. A real service
    /// answers a session above 10 MB/s with 429 backoff.
    Off,
}

impl Default for Pacing {
    /// [`RECOMMENDED_SESSION_RATE`] per session.
    fn default() -> Pacing {
        Pacing::PerSession {
            bytes_per_sec: RECOMMENDED_SESSION_RATE,
        }
    }
}

/// Options of an [`SdlSender`](crate::SdlSender). [`SdlConfig::new`] sets the defaults
/// documented on each field.
#[derive(Debug, Clone)]
pub struct SdlConfig {
    /// The Singularity Data Lake URL (seed: "Replace `https://yourConsole.net` with the URL
    /// for the Singularity™ Data Lake Console"). Requests go to `<url>/api/addEvents`; a
    /// URL already ending in `/api/addEvents` is used as is. No default.
    pub url: IngestUrl,
    /// A "Log Write Access" key, sent as `Authorization: Bearer {token}` (seed: "We
    /// recommend you send the key in the header"). No default. Never logged.
    pub key: Secret,
    /// `sessionInfo.serverHost`. Default: this machine's hostname ([`crate::hostname`]).
    /// The seed: "Set at least the serverHost field with the hostname, or a stable server
    /// identifier."
    pub server_host: Option<String>,
    /// More `sessionInfo` fields ("serverType", "region", ...), the same for every request
    /// of a session, as the seed requires. A `serverHost` here wins over `server_host`.
    /// Default: none.
    pub session_info: Attrs,
    /// `threads`: readable names for the thread ids events use (seed: "This lets you
    /// create a readable name for each thread"). Default: none.
    pub threads: Vec<Thread>,
    /// `logs` entries declared up front, sent with every request; events refer to them by
    /// `log`. Default: none (the automatic dedupe of [`SdlConfig::dedupe`] needs none).
    pub logs: Vec<Log>,
    /// How many sessions. Default [`Sessions::Auto`] `{ min: 1, max: 8 }`.
    pub sessions: Sessions,
    /// Per-session pace. Default [`Pacing::PerSession`] at [`RECOMMENDED_SESSION_RATE`].
    pub pacing: Pacing,
    /// The size request bodies aim for, uncompressed: a batch is cut before it would pass
    /// it. Default 1,000,000 bytes: moderate bodies keep a paced session sending every
    /// 0.4 s rather than every 2.4 s, and memory low. At most 6,000,000 (seed: "The request
    /// body must be 6MB or less"). It is not a limit on events: one event too large for it
    /// goes whole in a request of its own of up to 6,000,000 bytes, the seed's only limit;
    /// only an event larger than that is truncated or rejected ([`SdlConfig::oversize`]).
    pub max_body_bytes: usize,
    /// The longest an event waits for its batch to fill. Default 2 s (seed: "group them
    /// into batches and send a batch every few seconds").
    pub linger: Duration,
    /// Messages the intake queue holds before `send` waits (backpressure). A message is one
    /// event for [`SdlSender::send`](crate::SdlSender::send), one vector for
    /// [`SdlSender::send_many`](crate::SdlSender::send_many). Default 1024.
    pub queue_capacity: usize,
    /// gzip level of request bodies, compressed on tokio's blocking pool; `None` sends
    /// them uncompressed. Default [`Level::FAST`].
    pub compression: Option<Level>,
    /// Backoff and stop conditions. Default: [`logferry_retry::Config::default`] (1 s
    /// base, 2 minute cap, never give up).
    pub retry: logferry_retry::Config,
    /// The retry budget shared by all sessions. Default: [`BudgetConfig::default`].
    pub budget: BudgetConfig,
    /// Time allowed for one attempt (send and response). Default: the client's
    /// `request_timeout`.
    pub request_timeout: Option<Duration>,
    /// What to do with one event too large for any request (over 6,000,000 bytes alone).
    /// Default [`Oversize::Truncate`].
    pub oversize: Oversize,
    /// How event times are written. Default [`Timestamps::StrictlyIncreasing`].
    pub timestamps: Timestamps,
    /// Whether constant attributes of a source's events move into `logs`. Default
    /// [`Dedupe::PerSource`].
    pub dedupe: Dedupe,
    /// With [`Sessions::Auto`], the least time between two added sessions. Default 10 ms:
    /// a backlog reaches 8 sessions within a tenth of a second (with 250 ms, the 2-second
    /// ramp held a backlog's first second to a few sessions: measured on 208 MB of NDJSON,
    /// the dispatcher waited 550-610 ms for a free session, against 140-220 ms with
    /// 10 ms), and a process still creates at most `max` sessions, far below the seed's
    /// 50,000 per five minutes. A session is added only while every session is busy with
    /// a full batch ready, so a quiet input never gets more than it needs.
    pub scale_interval: Duration,
}

impl SdlConfig {
    /// The defaults, for `url` and `key`.
    pub fn new(url: IngestUrl, key: Secret) -> SdlConfig {
        SdlConfig {
            url,
            key,
            server_host: None,
            session_info: Attrs::new(),
            threads: Vec::new(),
            logs: Vec::new(),
            sessions: Sessions::default(),
            pacing: Pacing::default(),
            max_body_bytes: 1_000_000,
            linger: Duration::from_secs(2),
            queue_capacity: 1024,
            compression: Some(Level::FAST),
            retry: logferry_retry::Config::default(),
            budget: BudgetConfig::default(),
            request_timeout: None,
            oversize: Oversize::default(),
            timestamps: Timestamps::default(),
            dedupe: Dedupe::default(),
            scale_interval: Duration::from_millis(10),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::Config { reason });
        let (min, max) = self.sessions.bounds();
        if min == 0 || max < min {
            return bad(format!(
                "sessions: need 1 <= min <= max, got min {min}, max {max}"
            ));
        }
        if let Pacing::PerSession { bytes_per_sec } = self.pacing
            && !(1..=SESSION_RATE_CEILING).contains(&bytes_per_sec)
        {
            return bad(format!(
                "pacing: {bytes_per_sec} bytes/s is outside 1..={SESSION_RATE_CEILING} (\"Each session cannot exceed 10 MB/sec\")"
            ));
        }
        if !(1_000..=MAX_BODY_BYTES).contains(&self.max_body_bytes) {
            return bad(format!(
                "max_body_bytes: {} is outside 1000..={MAX_BODY_BYTES} (\"The request body must be 6MB or less\")",
                self.max_body_bytes
            ));
        }
        if self.queue_capacity == 0 {
            return bad("queue_capacity must be at least 1".to_owned());
        }
        if self.key.is_empty() {
            return bad("key is empty".to_owned());
        }
        Ok(())
    }
}

/// The endpoint below a console URL: `path` appended unless the URL already ends with it.
pub(crate) fn endpoint(url: &IngestUrl, path: &str) -> Result<IngestUrl, Error> {
    if url.uri().path().trim_end_matches('/').ends_with(path) {
        return Ok(url.clone());
    }
    url.join(path).map_err(|e| Error::Config {
        reason: format!("url: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SdlConfig {
        SdlConfig::new(
            "https://xdr.us1.sentinelone.net".parse().expect("valid"),
            Secret::new("k"),
        )
    }

    #[test]
    fn defaults_are_valid_and_follow_the_seed() {
        let c = config();
        c.validate().expect("defaults are valid");
        assert_eq!(
            c.pacing,
            Pacing::PerSession {
                bytes_per_sec: 2_500_000
            }
        );
        assert_eq!(c.linger, Duration::from_secs(2));
    }

    #[test]
    fn invalid_settings_name_the_field() {
        type Change = fn(&mut SdlConfig);
        let cases: [(Change, &str); 5] = [
            (|c| c.sessions = Sessions::Fixed(0), "sessions"),
            (
                |c| c.sessions = Sessions::Auto { min: 3, max: 2 },
                "sessions",
            ),
            (
                |c| {
                    c.pacing = Pacing::PerSession {
                        bytes_per_sec: 20_000_000,
                    }
                },
                "pacing",
            ),
            (|c| c.max_body_bytes = 7_000_000, "max_body_bytes"),
            (|c| c.key = Secret::new(""), "key"),
        ];
        for (change, field) in cases {
            let mut c = config();
            change(&mut c);
            let err = c.validate().expect_err(field).to_string();
            assert!(
                err.starts_with(&format!("invalid sdl configuration: {field}")),
                "{err}"
            );
        }
    }

    #[test]
    fn endpoint_is_appended_once() {
        let base: IngestUrl = "https://xdr.us1.sentinelone.net".parse().expect("valid");
        let add = endpoint(&base, "/api/addEvents").expect("joins");
        assert_eq!(
            add.to_string(),
            "https://xdr.us1.sentinelone.net/api/addEvents"
        );
        assert_eq!(
            endpoint(&add, "/api/addEvents").expect("kept").to_string(),
            add.to_string()
        );
    }
}
