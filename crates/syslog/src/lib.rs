//! Sans-IO parsing for logferry's network sources: syslog messages (RFC 5424 and RFC 3164),
//! syslog over TCP (RFC 6587 framing), and Splunk HTTP Event Collector bodies.
//!
//! The pieces, each on byte slices, with no sockets, clock or runtime:
//!
//! - [`parse`] reads one syslog message into a [`Message`], telling RFC 5424 from RFC 3164
//!   per message (rules and RFC sections in [`message`]). It never fails: a malformed
//!   message keeps its bytes (`raw`), what was parsed, and a `problem`, so the source can
//!   still send it as text. To an HTTP Ingest sink a message goes as `raw`.
//! - [`to_sdl`] and [`sev_to_sdl`] turn a message into an SDL event's `ts`, `sev` and
//!   attributes; [`ParseOptions`] gives an RFC 3164 timestamp its year (from the receipt
//!   time) and zone (UTC or a fixed offset) — see [`time`].
//! - [`Framer`] splits a TCP stream into messages, octet counting or newline framing per
//!   message, with bounded memory and stream offsets (see [`framer`]).
//! - [`parse_events`] and [`raw_records`] read HEC `/services/collector/event` and `/raw`
//!   bodies; [`HecCode`] and [`HecError`] give Splunk's reply codes, texts and statuses
//!   (see [`hec`]).
//!
//! Where it sits: the syslog and HTTP sources (issue 16) read sockets, push bytes here and
//! build records from what comes back. What this crate does not do: I/O, TLS, gzip,
//! authentication, time zone databases (the caller passes the local offset), or any
//! logferry type (it depends on no other logferry crate).
//!
//! ```
//! use logferry_syslog::{Kind, ParseOptions, parse, to_sdl};
//! let m = parse(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
//!     [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] \xEF\xBB\xBFAn application event");
//! assert_eq!(m.kind, Kind::Rfc5424);
//! assert_eq!((m.facility(), m.severity()), (Some(20), Some(5)));
//! assert_eq!(m.hostname, Some("mymachine.example.com"));
//! assert_eq!(m.msg, b"An application event");
//! let sdl = to_sdl(&m, &ParseOptions::received_at(1_065_910_455));
//! assert_eq!(sdl.ts, Some(1_065_910_455_003_000_000));
//! assert_eq!(sdl.sev, 3);
//! assert_eq!(sdl.attrs["sd.exampleSDID@32473.iut"], "3");
//!
//! let bsd = parse(b"<13>Feb  5 17:32:18 web01 sshd[4242]: Accepted publickey for alice");
//! assert_eq!(bsd.kind, Kind::Rfc3164);
//! assert_eq!((bsd.app_name, bsd.proc_id), (Some("sshd"), Some("4242")));
//! ```

pub mod framer;
pub mod fuzzing;
pub mod hec;
pub mod message;
pub mod sdl;
pub mod time;

pub use framer::{Event, Frame, Framer, FramerConfig, Framing, Oversize};
pub use hec::{HecCode, HecError, HecEvent, Payload, RawRecord, parse_events, raw_records};
pub use message::{Kind, Message, Pri, SdElement, SdParam, parse};
pub use sdl::{DEFAULT_SEVERITY, SdlParts, sev_to_sdl, to_sdl};
pub use time::{ParseOptions, Timestamp, Zone};
