//! One route's metrics and readiness: the event counters the daemon bumps, the sink's
//! cumulative totals turned into counters that never go down, per-file lag, and the
//! route's [`State`].

use crate::metrics::{Families, FileLabels, ReasonLabels, RouteLabels, Seconds, StatusLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where a route stands, as `/ready` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum State {
    /// Shipping: records are going out.
    Delivering,
    /// Nothing to ship (the default for a route just started).
    #[default]
    Idle,
    /// The sink stopped by itself (a refused key, a wrong URL, an untrusted
    /// certificate) and takes nothing until a reload fixes it.
    Stopped {
        /// Why, as the sink said it (names no secret: sinks never print keys).
        reason: String,
    },
    /// The spool reached its size cap: the input is held back.
    SpoolFull,
    /// Records are pending and nothing was delivered for this long (set by the daemon,
    /// or found by [`Observe`](crate::Observe) against its maximum age).
    Stale {
        /// Seconds since the last delivery (or since records became pending).
        since_secs: u64,
    },
}

impl State {
    /// True while delivering or idle.
    pub fn is_ready(&self) -> bool {
        matches!(self, State::Delivering | State::Idle)
    }

    /// A short name: `delivering`, `idle`, `stopped`, `spool_full`, `stale`.
    pub fn name(&self) -> &'static str {
        match self {
            State::Delivering => "delivering",
            State::Idle => "idle",
            State::Stopped { .. } => "stopped",
            State::SpoolFull => "spool_full",
            State::Stale { .. } => "stale",
        }
    }

    /// What `/ready` says about it.
    pub fn reason(&self) -> String {
        match self {
            State::Delivering => "delivering".to_owned(),
            State::Idle => "idle".to_owned(),
            State::Stopped { reason } => format!("the sink stopped: {reason}"),
            State::SpoolFull => "the spool is full: the input is held back".to_owned(),
            State::Stale { since_secs } => {
                format!("records are pending and nothing was delivered for {since_secs} s")
            }
        }
    }
}

/// A sink's cumulative totals, as its `stats()` reports them, plus the route's spool:
/// what [`Route::set_sink_stats`] takes about once a second.
///
/// Totals count from the start of the sink instance behind one [`Route`] handle; the
/// handle turns them into increments, so a restarted route (a new handle from
/// [`Observe::route`](crate::Observe::route)) continues its counters. Build it with
/// `..Default::default()` so new fields do not break the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkSnapshot {
    /// Uncompressed bytes of records the endpoint accepted.
    pub bytes_raw: u64,
    /// Request body bytes on the wire of accepted requests.
    pub bytes_wire: u64,
    /// Requests answered, by HTTP status code.
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Requests that got no answer (transport failures).
    pub request_failures: u64,
    /// Retries.
    pub retries: u64,
    /// Requests on the wire now.
    pub in_flight: u64,
    /// The current adaptive concurrency limit, where the sink has one.
    pub concurrency_limit: Option<u64>,
    /// Bytes the route's spool holds.
    pub spool_bytes: u64,
    /// Entries in the route's spool not yet acknowledged.
    pub spool_entries: u64,
    /// The age of the oldest record read and not yet delivered; `None` when nothing is
    /// pending.
    pub oldest_undelivered: Option<Duration>,
}

impl SinkSnapshot {
    fn pending(&self) -> bool {
        self.oldest_undelivered.is_some() || self.spool_entries > 0 || self.in_flight > 0
    }
}

/// What [`Observe`](crate::Observe) keeps per (sink, source), across restarts of the
/// route: the series handles and the readiness inputs.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) labels: RouteLabels,
    /// Set by `Observe::remove`: series are gone and must not come back.
    pub(crate) removed: AtomicBool,
    records_read: Counter,
    read_bytes: Counter,
    records_invalid: Counter,
    records_delivered: Counter,
    records_refused: Counter,
    records_dead_lettered: Counter,
    delivered_raw: Counter,
    delivered_wire: Counter,
    request_failures: Counter,
    retries: Counter,
    in_flight: Gauge,
    spool_bytes: Gauge,
    spool_entries: Gauge,
    oldest_age: Seconds,
    pub(crate) ready: Gauge,
    pub(crate) status: Mutex<Status>,
}

/// The mutable part of an entry.
#[derive(Debug, Default)]
pub(crate) struct Status {
    pub(crate) state: State,
    pub(crate) last_delivery: Option<Instant>,
    /// Since when records are pending (none pending: `None`).
    pub(crate) pending_since: Option<Instant>,
    /// This route's maximum age without delivery, over the [`Observe`](crate::Observe)
    /// default.
    pub(crate) max_age: Option<Option<Duration>>,
    codes: BTreeMap<u16, Counter>,
    /// Per reason: the counter and the source's total it last saw.
    drops: BTreeMap<String, (Counter, u64)>,
    files: BTreeMap<String, Gauge>,
    has_limit: bool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Entry {
    pub(crate) fn new(f: &Families, labels: RouteLabels) -> Entry {
        let c = |family: &crate::metrics::Counters| family.get_or_create_owned(&labels);
        let g = |family: &crate::metrics::Gauges| family.get_or_create_owned(&labels);
        Entry {
            records_read: c(&f.records_read),
            read_bytes: c(&f.read_bytes),
            records_invalid: c(&f.records_invalid),
            records_delivered: c(&f.records_delivered),
            records_refused: c(&f.records_refused),
            records_dead_lettered: c(&f.records_dead_lettered),
            delivered_raw: c(&f.delivered_raw),
            delivered_wire: c(&f.delivered_wire),
            request_failures: c(&f.request_failures),
            retries: c(&f.retries),
            in_flight: g(&f.in_flight),
            spool_bytes: g(&f.spool_bytes),
            spool_entries: g(&f.spool_entries),
            oldest_age: f.oldest_age.get_or_create_owned(&labels),
            ready: g(&f.ready),
            removed: AtomicBool::new(false),
            status: Mutex::new(Status::default()),
            labels,
        }
    }

    /// The state `/ready` reports at `now`: the one set, or [`State::Stale`] when a
    /// delivering or idle route has had records pending and no delivery for longer than
    /// the maximum age.
    pub(crate) fn effective(&self, now: Instant, default_max_age: Option<Duration>) -> State {
        let status = lock(&self.status);
        if !status.state.is_ready() {
            return status.state.clone();
        }
        let max_age = status.max_age.unwrap_or(default_max_age);
        if let (Some(max_age), Some(since)) = (max_age, status.pending_since) {
            let quiet_from = status.last_delivery.map_or(since, |d| d.max(since));
            let quiet = now.saturating_duration_since(quiet_from);
            if quiet > max_age {
                return State::Stale {
                    since_secs: quiet.as_secs(),
                };
            }
        }
        status.state.clone()
    }

    /// Drops the per-code and per-file series (the route was removed).
    pub(crate) fn remove_series(&self, f: &Families) {
        let status = lock(&self.status);
        for code in status.codes.keys() {
            f.requests.remove(&StatusLabels {
                sink: self.labels.sink.clone(),
                source: self.labels.source.clone(),
                code: *code,
            });
        }
        for file in status.files.keys() {
            f.file_lag.remove(&self.file_labels(file));
        }
        for reason in status.drops.keys() {
            f.source_dropped.remove(&self.reason_labels(reason));
        }
        f.remove_route(&self.labels);
    }

    fn reason_labels(&self, reason: &str) -> ReasonLabels {
        ReasonLabels {
            sink: self.labels.sink.clone(),
            source: self.labels.source.clone(),
            reason: reason.to_owned(),
        }
    }

    fn file_labels(&self, file: &str) -> FileLabels {
        FileLabels {
            sink: self.labels.sink.clone(),
            source: self.labels.source.clone(),
            file: file.to_owned(),
        }
    }
}

/// One route's handle: what the daemon calls as records move. Cheap to clone (clones
/// share the handle's baseline for [`set_sink_stats`](Route::set_sink_stats)).
///
/// The event counters are atomics shared with the exposition, so counting costs an
/// atomic add. Get a new handle from [`Observe::route`](crate::Observe::route) each time
/// the route (re)starts with a new sink: its counters continue where they were.
#[derive(Debug, Clone)]
pub struct Route {
    inner: Arc<RouteInner>,
}

#[derive(Debug)]
struct RouteInner {
    entry: Arc<Entry>,
    families: Families,
    /// The last totals seen from this handle's sink.
    last: Mutex<SinkSnapshot>,
}

/// Adds what `now` has more than `last` (all of `now` when it went back: a new sink's
/// totals on an old handle), so a counter never goes down.
fn advance(counter: &Counter, last: u64, now: u64) {
    let delta = if now >= last { now - last } else { now };
    if delta > 0 {
        counter.inc_by(delta);
    }
}

impl Route {
    pub(crate) fn new(entry: Arc<Entry>, families: Families) -> Route {
        Route {
            inner: Arc::new(RouteInner {
                entry,
                families,
                last: Mutex::new(SinkSnapshot::default()),
            }),
        }
    }

    fn entry(&self) -> &Entry {
        &self.inner.entry
    }

    /// The sink's name.
    pub fn sink(&self) -> &str {
        &self.entry().labels.sink
    }

    /// The source's name.
    pub fn source(&self) -> &str {
        &self.entry().labels.source
    }

    /// Records and their bytes read from the source.
    pub fn read(&self, records: u64, bytes: u64) {
        self.entry().records_read.inc_by(records);
        self.entry().read_bytes.inc_by(bytes);
    }

    /// Records that could not be framed or converted.
    pub fn invalid(&self, records: u64) {
        self.entry().records_invalid.inc_by(records);
    }

    /// Records the endpoint accepted (also the moment of the last delivery, for
    /// staleness).
    pub fn delivered(&self, records: u64) {
        self.entry().records_delivered.inc_by(records);
        if records > 0 {
            lock(&self.entry().status).last_delivery = Some(Instant::now());
        }
    }

    /// Records the endpoint refused for good.
    pub fn refused(&self, records: u64) {
        self.entry().records_refused.inc_by(records);
    }

    /// Records written to the dead-letter file.
    pub fn dead_lettered(&self, records: u64) {
        self.entry().records_dead_lettered.inc_by(records);
    }

    /// Where the route stands now. A route starts [`State::Idle`].
    pub fn set_state(&self, state: State) {
        lock(&self.entry().status).state = state;
    }

    /// This route's maximum age without delivery while records are pending (over
    /// [`Observe::set_ready_max_age`](crate::Observe::set_ready_max_age)); `None`:
    /// never stale.
    pub fn set_ready_max_age(&self, max_age: Option<Duration>) {
        lock(&self.entry().status).max_age = Some(max_age);
    }

    /// The sink's cumulative totals and the spool's state. Counters advance by what
    /// grew since the last call on this handle; gauges take the values as they are.
    pub fn set_sink_stats(&self, now: &SinkSnapshot) {
        let entry = self.entry();
        if entry.removed.load(Relaxed) {
            return;
        }
        let mut last = lock(&self.inner.last);
        advance(&entry.delivered_raw, last.bytes_raw, now.bytes_raw);
        advance(&entry.delivered_wire, last.bytes_wire, now.bytes_wire);
        advance(
            &entry.request_failures,
            last.request_failures,
            now.request_failures,
        );
        advance(&entry.retries, last.retries, now.retries);
        entry.in_flight.set(gauge_value(now.in_flight));
        entry.spool_bytes.set(gauge_value(now.spool_bytes));
        entry.spool_entries.set(gauge_value(now.spool_entries));
        entry
            .oldest_age
            .set(now.oldest_undelivered.map_or(0.0, |d| d.as_secs_f64()));

        let mut status = lock(&entry.status);
        for (&code, &count) in &now.requests_by_status {
            let before = last.requests_by_status.get(&code).copied().unwrap_or(0);
            let counter = status.codes.entry(code).or_insert_with(|| {
                self.inner
                    .families
                    .requests
                    .get_or_create_owned(&StatusLabels {
                        sink: entry.labels.sink.clone(),
                        source: entry.labels.source.clone(),
                        code,
                    })
            });
            advance(counter, before, count);
        }
        let limits = &self.inner.families.concurrency_limit;
        match now.concurrency_limit {
            Some(limit) => {
                limits.get_or_create(&entry.labels).set(gauge_value(limit));
                status.has_limit = true;
            }
            None if status.has_limit => {
                limits.remove(&entry.labels);
                status.has_limit = false;
            }
            None => {}
        }
        if now.bytes_raw > last.bytes_raw {
            status.last_delivery = Some(Instant::now());
        }
        match (now.pending(), status.pending_since) {
            (true, None) => status.pending_since = Some(Instant::now()),
            (false, Some(_)) => status.pending_since = None,
            _ => {}
        }
        *last = now.clone();
    }

    /// A listening source's cumulative count of what it dropped for `reason` (its own
    /// total since it started: a restarted source starting again from 0 continues the
    /// series).
    pub fn source_dropped(&self, reason: &str, total: u64) {
        let entry = self.entry();
        if entry.removed.load(Relaxed) {
            return;
        }
        let mut status = lock(&entry.status);
        if total == 0 && !status.drops.contains_key(reason) {
            return; // no series until something was dropped
        }
        let (counter, last) = status.drops.entry(reason.to_owned()).or_insert_with(|| {
            let counter = self
                .inner
                .families
                .source_dropped
                .get_or_create_owned(&entry.reason_labels(reason));
            (counter, 0)
        });
        advance(counter, *last, total);
        *last = total;
    }

    /// Bytes between the read position and the end of a followed file.
    pub fn file_lag(&self, path: impl AsRef<Path>, bytes_behind: u64) {
        let entry = self.entry();
        if entry.removed.load(Relaxed) {
            return;
        }
        let path = path.as_ref().to_string_lossy();
        let mut status = lock(&entry.status);
        if let Some(gauge) = status.files.get(path.as_ref()) {
            gauge.set(gauge_value(bytes_behind));
            return;
        }
        let gauge = self
            .inner
            .families
            .file_lag
            .get_or_create_owned(&entry.file_labels(&path));
        gauge.set(gauge_value(bytes_behind));
        status.files.insert(path.into_owned(), gauge);
    }

    /// Drops the lag of the files `keep` refuses (no longer followed).
    pub fn retain_files(&self, mut keep: impl FnMut(&Path) -> bool) {
        let entry = self.entry();
        let mut status = lock(&entry.status);
        status.files.retain(|file, _| {
            let kept = keep(Path::new(file));
            if !kept {
                self.inner
                    .families
                    .file_lag
                    .remove(&entry.file_labels(file));
            }
            kept
        });
    }

    /// Drops the lag of one file (no longer followed).
    pub fn forget_file(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        self.retain_files(|p| p != path);
    }
}
