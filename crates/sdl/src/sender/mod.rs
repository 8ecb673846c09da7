//! The `addEvents` sender: the handle and its intake queue, a sans-IO dispatcher, and
//! session I/O.
//!
//! # Structure
//!
//! ```text
//! send / send_many ──bounded queue──▶ driver ──inputs──▶ dispatcher (sans-IO)
//!  (handle.rs)                       (driver.rs) ◀─actions─ (dispatcher.rs)
//!                                        │
//!                                        └──▶ gzip on the blocking pool, one attempt
//!                                             per session at a time (session.rs)
//! ```
//!
//! - The **dispatcher** owns every session's `RequestBuilder` (the model's: exact body
//!   sizes, each request ordered by time with 1 ns tie-breaks, `logs` dedupe), its pacer
//!   and the state of its one request. It fills the builders of *idle* sessions and starts
//!   a session's request when its batch is cut; it takes records only while some session
//!   is idle, which is the backpressure. Each input ([`Record::source`](crate::Record))
//!   is an ordered stream with sessions of its own, so inputs with independent clocks
//!   never make a session move an event away from its own time (the routing rule is on
//!   `Dispatcher::route`). It decides every wait (linger, pacing, backoff, the retry budget)
//!   on the time it is given, and says what to do as actions: it never does I/O.
//! - A session has at most one request at a time (seed: "Only one request can be
//!   in-flight at a time for a session"): the request is gzipped once, each attempt is
//!   paced, retried through `logferry-retry`'s policy and budget, split on "too large",
//!   and reported. While one session waits to retry, the dispatcher keeps filling the
//!   others: a retrying session never blocks the others.
//!   An attempt that timed out may still be held by the server (a frozen server reads or
//!   answers it later): its session is never used again, and the retry goes to a new
//!   session, its body built again for it (`Dispatcher::renew`).
//! - The **driver** is the only async part: it feeds the dispatcher the intake queue, the
//!   finished I/O and a timer, and carries out its actions. **Session I/O** sends one
//!   attempt over `logferry-http` and classifies the answer.
//! - A batch ends when it is full (the next event would not fit, or the average event
//!   would not), when its first event has waited [`SdlConfig::linger`](crate::SdlConfig::linger),
//!   on [`SdlSender::flush`], or at shutdown. An event that did not fit goes back to be
//!   routed again, never left behind a busy session.

mod dispatcher;
mod driver;
mod handle;
mod session;

pub use handle::SdlSender;
pub(crate) use session::{classify_reply, no_reply};
