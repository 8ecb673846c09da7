//! The thin async loop around the [`Dispatcher`]: feeds it the intake queue, the
//! finished I/O and a timer, and carries out its [`Action`]s (spawning compression and
//! attempts, sending reports, answering flushes).

use super::dispatcher::{Action, Dispatcher, FlushId, Ticket};
use super::handle::{Msg, Shared};
use super::session::{Answer, Exchange};
use crate::Error;
use crate::report::{Report, ShutdownReport};
use bytes::Bytes;
use logferry_compress::gzip_blocking;
use logferry_retry::Outcome;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::Instrument;

/// Finished I/O, on its way back to the dispatcher.
enum Done {
    Compressed {
        ticket: Ticket,
        wire: Bytes,
    },
    Answered {
        ticket: Ticket,
        outcome: Outcome<Answer>,
        wall: SystemTime,
    },
}

/// The driver's state; [`Driver::run`] consumes it.
pub(super) struct Driver {
    pub(super) machine: Dispatcher,
    pub(super) exchange: Arc<Exchange>,
    pub(super) shared: Arc<Shared>,
    pub(super) rx: mpsc::Receiver<Msg>,
    /// The shutdown deadline, once [`SdlSender::shutdown`](super::SdlSender::shutdown)
    /// sets it.
    pub(super) deadline: watch::Receiver<Option<Instant>>,
    /// Dropped when the dispatcher finishes, which ends the [`Reports`](crate::Reports)
    /// stream.
    pub(super) reports: Option<mpsc::UnboundedSender<Report>>,
}

/// What the loop keeps beside the dispatcher.
struct Io {
    done_tx: mpsc::UnboundedSender<Done>,
    flushes: HashMap<FlushId, oneshot::Sender<Result<(), Error>>>,
    next_flush: FlushId,
    /// Per session, the task of its compression or attempt under way.
    tasks: Vec<Option<AbortHandle>>,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Resolves with the deadline once one is set (never, if its sender is gone first).
async fn deadline_set(rx: &mut watch::Receiver<Option<Instant>>) -> Instant {
    let deadline = rx.wait_for(Option::is_some).await.ok().and_then(|d| *d);
    match deadline {
        Some(deadline) => deadline,
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Runs until the dispatcher finishes, then hands its report to `report`.
    pub(super) async fn run(mut self, report: oneshot::Sender<ShutdownReport>) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut io = Io {
            done_tx,
            flushes: HashMap::new(),
            next_flush: 0,
            tasks: Vec::new(),
        };
        let mut deadline_seen = false;
        loop {
            if let Some(finished) = self.act(&mut io) {
                // Ends the reports stream: every report was sent.
                self.reports.take();
                let _ = report.send(finished);
                return;
            }
            let wake = self.machine.wake_at().map(Instant::from_std);
            let can_read = self.machine.wants_records();
            tokio::select! {
                biased;
                deadline = deadline_set(&mut self.deadline), if !deadline_seen => {
                    deadline_seen = true;
                    self.machine.shutdown(deadline.into_std(), now());
                }
                Some(done) = done_rx.recv() => match done {
                    Done::Compressed { ticket, wire } => self.machine.compressed(ticket, wire, now()),
                    Done::Answered { ticket, outcome, wall } => {
                        self.machine.answered(ticket, outcome, now(), wall);
                    }
                },
                () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    self.machine.tick(now());
                }
                msg = self.rx.recv(), if can_read => self.on_msg(msg, &mut io),
            }
        }
    }

    fn on_msg(&mut self, msg: Option<Msg>, io: &mut Io) {
        match msg {
            Some(Msg::One(record)) => self.machine.records(std::iter::once(record), now()),
            Some(Msg::Many(records)) => self.machine.records(records.into_iter(), now()),
            Some(Msg::Flush(tx)) => {
                let flush = io.next_flush;
                io.next_flush += 1;
                io.flushes.insert(flush, tx);
                self.machine.flush(flush, now());
            }
            // Messages already queued are still read; new sends fail.
            Some(Msg::Close) => self.rx.close(),
            None => self.machine.close(now()),
        }
    }

    /// Carries out the dispatcher's actions; the shutdown report once it finished.
    fn act(&mut self, io: &mut Io) -> Option<ShutdownReport> {
        while let Some(action) = self.machine.poll_action() {
            match action {
                Action::Compress {
                    session,
                    ticket,
                    body,
                    level,
                } => {
                    let done = io.done_tx.clone();
                    self.spawn(io, session, async move {
                        let (_, gz) = gzip_blocking(body, level).await;
                        let wire = Bytes::from(gz);
                        let _ = done.send(Done::Compressed { ticket, wire });
                    });
                }
                Action::Send {
                    session,
                    ticket,
                    attempt,
                    body,
                    gzip,
                } => {
                    let done = io.done_tx.clone();
                    let exchange = self.exchange.clone();
                    self.spawn(io, session, async move {
                        tracing::trace!(attempt, bytes = body.len(), "sdl attempt");
                        let outcome = exchange.attempt(body, gzip).await;
                        let wall = SystemTime::now();
                        let _ = done.send(Done::Answered {
                            ticket,
                            outcome,
                            wall,
                        });
                    });
                }
                Action::Cancel { session } => {
                    if let Some(task) = io.tasks.get_mut(session).and_then(Option::take) {
                        task.abort();
                    }
                }
                Action::Report(report) => {
                    if let Some(tx) = &self.reports {
                        // A dropped receiver only means nobody reads reports.
                        let _ = tx.send(report);
                    }
                }
                Action::FlushDone { flush, result } => {
                    if let Some(tx) = io.flushes.remove(&flush) {
                        // The caller may have stopped waiting.
                        let _ = tx.send(result);
                    }
                }
                Action::CloseIntake => {
                    self.rx.close();
                    while let Ok(msg) = self.rx.try_recv() {
                        self.on_msg(Some(msg), io);
                    }
                    self.machine.close(now());
                }
                Action::Stopped(error) => {
                    let _ = self.shared.stopped.set(error);
                }
                Action::Finished(report) => return Some(report),
            }
        }
        None
    }

    /// Spawns `session`'s next piece of I/O in its tracing span.
    fn spawn(&self, io: &mut Io, session: usize, task: impl Future<Output = ()> + Send + 'static) {
        let span = tracing::info_span!(
            "sdl_session",
            index = session,
            session = %self.machine.session_id(session)
        );
        let handle = tokio::spawn(task.instrument(span)).abort_handle();
        if io.tasks.len() <= session {
            io.tasks.resize_with(session + 1, || None);
        }
        io.tasks[session] = Some(handle);
    }
}
