//! [`Observe`]: the registry, the routes it knows, readiness, and the exposition.

use crate::metrics::{Families, RouteLabels};
use crate::route::{Entry, Route, State, lock};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The content type of [`Observe::encode`]'s text: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Everything `/metrics` and `/ready` show: one per process, shared by the daemon's
/// routes and the HTTP server.
pub struct Observe {
    registry: Registry,
    families: Families,
    routes: Mutex<BTreeMap<RouteLabels, Arc<Entry>>>,
    ready_max_age: Mutex<Option<Duration>>,
    /// The scrape buffer, kept between scrapes.
    buffer: Mutex<String>,
}

impl std::fmt::Debug for Observe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observe")
            .field("routes", &lock(&self.routes).len())
            .field("ready_max_age", &*lock(&self.ready_max_age))
            .finish_non_exhaustive()
    }
}

impl Observe {
    /// A registry with `logferry_build_info{version}` and
    /// `logferry_start_time_seconds` (now), and no routes.
    pub fn new(version: &str) -> Arc<Observe> {
        let start = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let (families, registry) = Families::registered(version, start);
        Arc::new(Observe {
            registry,
            families,
            routes: Mutex::new(BTreeMap::new()),
            ready_max_age: Mutex::new(None),
            buffer: Mutex::new(String::new()),
        })
    }

    /// The handle of the route from `source` into `sink`, for a route that starts or
    /// restarts: its counters continue from where they were (the same series), its
    /// state is [`State::Idle`], and [`Route::set_sink_stats`] counts from this new
    /// sink's totals.
    pub fn route(&self, sink: &str, source: &str) -> Route {
        let labels = RouteLabels {
            sink: sink.to_owned(),
            source: source.to_owned(),
        };
        let entry = lock(&self.routes)
            .entry(labels.clone())
            .or_insert_with(|| Arc::new(Entry::new(&self.families, labels)))
            .clone();
        {
            let mut status = lock(&entry.status);
            status.state = State::Idle;
            status.pending_since = None;
        }
        Route::new(entry, self.families.clone())
    }

    /// Forgets a route removed on reload: its series disappear from `/metrics` and it
    /// no longer counts for `/ready`. Handles still held change nothing any more.
    /// False when no such route was known.
    pub fn remove(&self, sink: &str, source: &str) -> bool {
        let labels = RouteLabels {
            sink: sink.to_owned(),
            source: source.to_owned(),
        };
        let Some(entry) = lock(&self.routes).remove(&labels) else {
            return false;
        };
        entry.removed.store(true, Relaxed);
        entry.remove_series(&self.families);
        true
    }

    /// How long a route may have records pending without delivering any before it is
    /// [`State::Stale`] (not ready); `None` (the default): never. Pending is what the
    /// last [`Route::set_sink_stats`] said (spool entries, requests in flight, or an
    /// oldest undelivered record); a delivery is [`Route::delivered`] or delivered bytes
    /// growing. The quiet time counts from the later of the last delivery and the moment
    /// records became pending, so a route idle for hours is not stale the instant a
    /// record arrives.
    pub fn set_ready_max_age(&self, max_age: Option<Duration>) {
        *lock(&self.ready_max_age) = max_age;
    }

    /// Every route's state now, by (sink, source).
    pub fn states(&self) -> Vec<(String, String, State)> {
        self.states_at(Instant::now())
    }

    /// Every route's state as it will be at `now` if nothing changes (for tests and
    /// status tools; [`Observe::states`] is this at the current instant).
    pub fn states_at(&self, now: Instant) -> Vec<(String, String, State)> {
        let max_age = *lock(&self.ready_max_age);
        lock(&self.routes)
            .iter()
            .map(|(l, e)| (l.sink.clone(), l.source.clone(), e.effective(now, max_age)))
            .collect()
    }

    /// Whether every route is delivering or idle, and the body `/ready` answers:
    /// `{"status":"ready"}`, or `{"status":"not ready","routes":[{"sink":..,"source":..,
    /// "state":..,"reason":..}]}` naming each route that is not (by sink, then source).
    pub fn ready(&self) -> (bool, Value) {
        self.ready_at(Instant::now())
    }

    /// [`Observe::ready`] as it will be at `now` if nothing changes.
    pub fn ready_at(&self, now: Instant) -> (bool, Value) {
        let not_ready: Vec<Value> = self
            .states_at(now)
            .into_iter()
            .filter(|(_, _, state)| !state.is_ready())
            .map(|(sink, source, state)| {
                json!({
                    "sink": sink,
                    "source": source,
                    "state": state.name(),
                    "reason": state.reason(),
                })
            })
            .collect();
        if not_ready.is_empty() {
            (true, json!({ "status": "ready" }))
        } else {
            (false, json!({ "status": "not ready", "routes": not_ready }))
        }
    }

    /// Appends the exposition (Prometheus text format 0.0.4, [`CONTENT_TYPE`]) to `out`.
    pub fn encode(&self, out: &mut String) {
        let now = Instant::now();
        let max_age = *lock(&self.ready_max_age);
        for entry in lock(&self.routes).values() {
            entry
                .ready
                .set(i64::from(entry.effective(now, max_age).is_ready()));
        }
        prometheus_client::encoding::prometheus_text::encode(out, &self.registry)
            .expect("writing to a String does not fail");
    }

    /// The exposition as bytes, encoded into a buffer kept between scrapes.
    pub fn scrape(&self) -> bytes::Bytes {
        let mut buffer = lock(&self.buffer);
        buffer.clear();
        self.encode(&mut buffer);
        bytes::Bytes::copy_from_slice(buffer.as_bytes())
    }
}
