//! What a running route shows in `/metrics` and `/ready`: its counters from the
//! pipeline's events, and once a second its sink's and spool's totals, its state, and how
//! far behind each followed file it is.

use logferry::pipeline::{Event, Ledger, SinkStats};
use logferry::source::follow::Registry;
use logferry::spool::SpoolStats;
use logferry_observe::{Route, SinkSnapshot, State};
use std::collections::VecDeque;
use std::time::Instant;

/// A route's observer.
pub(crate) struct Watch {
    route: Route,
    /// The run's counts: records read, and done (delivered, refused or invalid).
    ledger: Ledger,
    /// When each batch's records were read (the cumulative count read at its end): the
    /// oldest not yet done gives the age of the oldest undelivered record.
    backlog: VecDeque<(u64, Instant)>,
    stopped: Option<String>,
    blocked_appends: u64,
}

impl Watch {
    pub(crate) fn new(route: Route) -> Watch {
        route.set_state(State::Idle);
        Watch {
            route,
            ledger: Ledger::default(),
            backlog: VecDeque::new(),
            stopped: None,
            blocked_appends: 0,
        }
    }

    /// Counts one event of the route's run.
    pub(crate) fn event(&mut self, event: &Event<'_>) {
        self.ledger.count(event);
        match event {
            Event::Batched { records, bytes } => self.route.read(*records, *bytes),
            Event::Replayed { records } | Event::Read { records } => {
                self.route.read(*records, 0);
            }
            Event::Invalid(lost) => {
                self.route.invalid(lost.records);
                self.route.dead_lettered(lost.records);
            }
            Event::Delivered { records } => self.route.delivered(*records),
            Event::Refused(lost) => {
                let n = lost.iter().map(|l| l.records).sum();
                self.route.refused(n);
                self.route.dead_lettered(n);
            }
            Event::Undelivered { lost, kept: false } => {
                self.route
                    .dead_lettered(lost.iter().map(|l| l.records).sum());
            }
            Event::Stopped(why) => self.stop(why),
            _ => {}
        }
        let read = self.ledger.read;
        if self.backlog.back().is_none_or(|(end, _)| *end < read) {
            self.backlog.push_back((read, Instant::now()));
        }
        let done = self.ledger.delivered + self.ledger.rejected + self.ledger.invalid;
        while self.backlog.front().is_some_and(|(end, _)| *end <= done) {
            self.backlog.pop_front();
        }
    }

    /// The route ended, and why.
    pub(crate) fn stop(&mut self, why: &str) {
        self.stopped = Some(why.to_owned());
        self.route.set_state(State::Stopped {
            reason: why.to_owned(),
        });
    }

    /// Takes a listening source's counts of what it dropped or refused.
    pub(crate) fn net(&mut self, c: &logferry::pipeline::net::NetCounts) {
        for (reason, total) in [
            ("oversized", c.oversized),
            ("incomplete", c.incomplete),
            ("kernel", c.kernel_drops),
            ("connection_refused", c.refused_connections),
            ("request_refused", c.requests_refused),
            ("request_busy", c.requests_busy),
        ] {
            self.route.source_dropped(reason, total);
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
