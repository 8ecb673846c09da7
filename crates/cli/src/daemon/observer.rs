//! What a running route shows in `/metrics` and `/ready`: its counters from the
//! pipeline's events, and once a second its sink's and spool's totals, its state, and how
//! far behind each followed file it is.

use logferry::pipeline::{Event, SinkStats};
use logferry::source::follow::Registry;
use logferry::spool::SpoolStats;
use logferry_observe::{Route, SinkSnapshot, State};
use std::collections::VecDeque;
use std::time::Instant;

/// A route's observer.
pub(crate) struct Watch {
    route: Route,
    /// Records read so far, and when each batch's records were read (cumulative count
    /// at its end): the oldest not yet done gives the age of the oldest undelivered one.
    read: u64,
    backlog: VecDeque<(u64, Instant)>,
    /// Records done: delivered, refused or invalid.
    done: u64,
    stopped: Option<String>,
    blocked_appends: u64,
}

impl Watch {
    pub(crate) fn new(route: Route) -> Watch {
        route.set_state(State::Idle);
        Watch {
            route,
            read: 0,
            backlog: VecDeque::new(),
            done: 0,
            stopped: None,
            blocked_appends: 0,
        }
    }

    /// Counts one event of the route's run.
    pub(crate) fn event(&mut self, event: &Event<'_>) {
        let now = Instant::now();
        match event {
            Event::Batched { records, bytes } => {
                self.route.read(*records, *bytes);
                self.pending(*records, now);
            }
            Event::Replayed { records } | Event::Read { records } => {
                self.route.read(*records, 0);
                self.pending(*records, now);
            }
            Event::Invalid(lost) => {
                self.route.invalid(lost.records);
                self.route.dead_lettered(lost.records);
                self.done(lost.records);
            }
            Event::Delivered { records } => {
                self.route.delivered(*records);
                self.done(*records);
            }
            Event::Refused(lost) => {
                let n = lost.iter().map(|l| l.records).sum();
                self.route.refused(n);
                self.route.dead_lettered(n);
                self.done(n);
            }
            Event::Undelivered { lost, kept: false } => {
                self.route
                    .dead_lettered(lost.iter().map(|l| l.records).sum());
            }
            Event::Stopped(why) => self.stop(why),
            _ => {}
        }
    }

    /// The route ended, and why.
    pub(crate) fn stop(&mut self, why: &str) {
        self.stopped = Some(why.to_owned());
        self.route.set_state(State::Stopped {
            reason: why.to_owned(),
        });
    }

    fn pending(&mut self, records: u64, now: Instant) {
        self.read += records;
        self.backlog.push_back((self.read, now));
    }

    fn done(&mut self, records: u64) {
        self.done += records;
        while self
            .backlog
            .front()
            .is_some_and(|(end, _)| *end <= self.done)
        {
            self.backlog.pop_front();
        }
    }

    /// Takes the sink's and the spool's totals, and the followed files' positions.
    pub(crate) fn tick(&mut self, sink: &SinkStats, spool: &SpoolStats, files: Option<&Registry>) {
        let now = Instant::now();
        self.route.set_sink_stats(&SinkSnapshot {
            bytes_raw: sink.bytes_raw,
            bytes_wire: sink.bytes_wire,
            requests_by_status: sink.requests_by_status.clone(),
            request_failures: sink.request_failures,
            retries: sink.retries,
            in_flight: sink.in_flight,
            concurrency_limit: sink.concurrency_limit,
            spool_bytes: spool.bytes,
            spool_entries: spool.entries,
            oldest_undelivered: self.backlog.front().map(|(_, t)| now.duration_since(*t)),
        });
        let blocked = spool.blocked_appends > self.blocked_appends;
        self.blocked_appends = spool.blocked_appends;
        let state = match &self.stopped {
            Some(reason) => State::Stopped {
                reason: reason.clone(),
            },
            None if blocked => State::SpoolFull,
            None if self.backlog.is_empty() => State::Idle,
            None => State::Delivering,
        };
        self.route.set_state(state);
        if let Some(registry) = files {
            let entries = registry.entries();
            for f in &entries {
                if let Some(size) = f.size {
                    self.route
                        .file_lag(&f.path, size.saturating_sub(f.position.offset));
                }
            }
            self.route
                .retain_files(|p| entries.iter().any(|f| f.path == p && f.size.is_some()));
        }
    }
}
