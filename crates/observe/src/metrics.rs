//! The metric families: their names, help texts and label sets, registered once in one
//! [`Registry`]. Every name is listed in [`FAMILIES`], which the crate docs and a test
//! check against the exposition.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// A metric family as it appears in the exposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyInfo {
    /// The exposed name (with its unit and, for counters, `_total`).
    pub name: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// Its labels.
    pub labels: &'static [&'static str],
    /// The `# HELP` text (the exposition adds a final period).
    pub help: &'static str,
}

const ROUTE: &[&str] = &["sink", "source"];

macro_rules! families {
    ($($id:ident = ($name:literal, $kind:literal, $labels:expr, $help:literal);)*) => {
        $(const $id: FamilyInfo = FamilyInfo { name: $name, kind: $kind, labels: $labels, help: $help };)*
        /// Every metric family `/metrics` exposes, in exposition order.
        pub const FAMILIES: &[FamilyInfo] = &[$($id),*];
    };
}

families! {
    BUILD_INFO = ("logferry_build_info", "gauge", &["version"],
        "The logferry version running, as a label; the value is always 1");
    START_TIME = ("logferry_start_time_seconds", "gauge", &[],
        "When the process started, in seconds since the Unix epoch");
    RECORDS_READ = ("logferry_source_records_read_total", "counter", ROUTE,
        "Records read from the source for this sink");
    READ_BYTES = ("logferry_source_read_bytes_total", "counter", ROUTE,
        "Bytes of records read from the source for this sink");
    RECORDS_INVALID = ("logferry_source_records_invalid_total", "counter", ROUTE,
        "Records that could not be framed or converted (to the dead-letter file, never sent)");
    RECORDS_DELIVERED = ("logferry_sink_records_delivered_total", "counter", ROUTE,
        "Records the endpoint accepted");
    RECORDS_REFUSED = ("logferry_sink_records_refused_total", "counter", ROUTE,
        "Records the endpoint refused for good (to the dead-letter file, never sent again)");
    RECORDS_DEAD_LETTERED = ("logferry_sink_records_dead_lettered_total", "counter", ROUTE,
        "Records written to the dead-letter file");
    DELIVERED_RAW = ("logferry_sink_delivered_raw_bytes_total", "counter", ROUTE,
        "Uncompressed bytes of records the endpoint accepted");
    DELIVERED_WIRE = ("logferry_sink_delivered_wire_bytes_total", "counter", ROUTE,
        "Request body bytes on the wire (compressed when compressed) of accepted requests");
    REQUESTS = ("logferry_sink_requests_total", "counter", &["sink", "source", "code"],
        "HTTP requests answered, by status code (first tries and retries)");
    REQUEST_FAILURES = ("logferry_sink_request_failures_total", "counter", ROUTE,
        "HTTP requests that got no answer (connection refused or reset, timeout, TLS failure)");
    RETRIES = ("logferry_sink_retries_total", "counter", ROUTE,
        "HTTP requests that were retries of an earlier attempt");
    IN_FLIGHT = ("logferry_sink_requests_in_flight", "gauge", ROUTE,
        "HTTP requests on the wire now");
    CONCURRENCY_LIMIT = ("logferry_sink_concurrency_limit", "gauge", ROUTE,
        "The current limit on requests in flight: adaptive concurrency, or SDL sessions open (one request each)");
    SPOOL_BYTES = ("logferry_spool_bytes", "gauge", ROUTE,
        "Bytes the route's spool holds on disk");
    SPOOL_ENTRIES = ("logferry_spool_entries", "gauge", ROUTE,
        "Entries (batches) in the route's spool not yet acknowledged");
    OLDEST_AGE = ("logferry_sink_oldest_undelivered_age_seconds", "gauge", ROUTE,
        "Age of the oldest record read and not yet delivered, 0 when none is pending");
    SOURCE_DROPPED = ("logferry_source_dropped_total", "counter", &["sink", "source", "reason"],
        "What a listening source dropped or refused, by reason (oversized and incomplete messages, kernel drops of UDP datagrams, connections over the limit or failing TLS, HTTP requests refused or answered busy)");
    FILE_LAG = ("logferry_file_lag_bytes", "gauge", &["sink", "source", "file"],
        "Bytes between the read position and the end of a followed file");
    ROUTE_READY = ("logferry_route_ready", "gauge", ROUTE,
        "1 while the route is delivering or idle, 0 while it is stopped, its spool is full or it is stale");
}

/// The labels of everything per route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) sink: String,
    pub(crate) source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabels {
    pub(crate) sink: String,
    pub(crate) source: String,
    pub(crate) code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FileLabels {
    pub(crate) sink: String,
    pub(crate) source: String,
    pub(crate) file: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) sink: String,
    pub(crate) source: String,
    pub(crate) reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

pub(crate) type Counters = Family<RouteLabels, Counter>;
pub(crate) type Gauges = Family<RouteLabels, Gauge>;
pub(crate) type Seconds = Gauge<f64, AtomicU64>;

/// Every family, cheap to clone (each is reference-counted).
#[derive(Clone, Debug, Default)]
pub(crate) struct Families {
    pub(crate) records_read: Counters,
    pub(crate) read_bytes: Counters,
    pub(crate) records_invalid: Counters,
    pub(crate) records_delivered: Counters,
    pub(crate) records_refused: Counters,
    pub(crate) records_dead_lettered: Counters,
    pub(crate) delivered_raw: Counters,
    pub(crate) delivered_wire: Counters,
    pub(crate) requests: Family<StatusLabels, Counter>,
    pub(crate) request_failures: Counters,
    pub(crate) retries: Counters,
    pub(crate) in_flight: Gauges,
    pub(crate) concurrency_limit: Gauges,
    pub(crate) spool_bytes: Gauges,
    pub(crate) spool_entries: Gauges,
    pub(crate) oldest_age: Family<RouteLabels, Seconds>,
    pub(crate) source_dropped: Family<ReasonLabels, Counter>,
    pub(crate) file_lag: Family<FileLabels, Gauge>,
    pub(crate) ready: Gauges,
}

/// The name and help to register: the exposed name without what the encoder adds (the
/// unit and `_total`).
fn register(
    registry: &mut Registry,
    info: FamilyInfo,
    metric: impl prometheus_client::registry::Metric,
) {
    let mut name = info.name;
    if info.kind == "counter" {
        name = name
            .strip_suffix("_total")
            .expect("counter names end with _total");
    }
    if let Some(base) = name.strip_suffix("_bytes") {
        registry.register_with_unit(base, info.help, Unit::Bytes, metric);
    } else if let Some(base) = name.strip_suffix("_seconds") {
        registry.register_with_unit(base, info.help, Unit::Seconds, metric);
    } else {
        registry.register(name, info.help, metric);
    }
}

impl Families {
    /// Registers every family, with the build info and start time set.
    pub(crate) fn registered(version: &str, start_time: f64) -> (Families, Registry) {
        let f = Families::default();
        let mut r = Registry::default();
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: version.to_owned(),
            })
            .set(1);
        register(&mut r, BUILD_INFO, build_info);
        let start = Seconds::default();
        start.set(start_time);
        register(&mut r, START_TIME, start);
        register(&mut r, RECORDS_READ, f.records_read.clone());
        register(&mut r, READ_BYTES, f.read_bytes.clone());
        register(&mut r, RECORDS_INVALID, f.records_invalid.clone());
        register(&mut r, RECORDS_DELIVERED, f.records_delivered.clone());
        register(&mut r, RECORDS_REFUSED, f.records_refused.clone());
        register(
            &mut r,
            RECORDS_DEAD_LETTERED,
            f.records_dead_lettered.clone(),
        );
        register(&mut r, DELIVERED_RAW, f.delivered_raw.clone());
        register(&mut r, DELIVERED_WIRE, f.delivered_wire.clone());
        register(&mut r, REQUESTS, f.requests.clone());
        register(&mut r, REQUEST_FAILURES, f.request_failures.clone());
        register(&mut r, RETRIES, f.retries.clone());
        register(&mut r, IN_FLIGHT, f.in_flight.clone());
        register(&mut r, CONCURRENCY_LIMIT, f.concurrency_limit.clone());
        register(&mut r, SPOOL_BYTES, f.spool_bytes.clone());
        register(&mut r, SPOOL_ENTRIES, f.spool_entries.clone());
        register(&mut r, OLDEST_AGE, f.oldest_age.clone());
        register(&mut r, SOURCE_DROPPED, f.source_dropped.clone());
        register(&mut r, FILE_LAG, f.file_lag.clone());
        register(&mut r, ROUTE_READY, f.ready.clone());
        (f, r)
    }

    /// Drops every series of a route.
    pub(crate) fn remove_route(&self, labels: &RouteLabels) {
        for family in [
            &self.records_read,
            &self.read_bytes,
            &self.records_invalid,
            &self.records_delivered,
            &self.records_refused,
            &self.records_dead_lettered,
            &self.delivered_raw,
            &self.delivered_wire,
            &self.request_failures,
            &self.retries,
        ] {
            family.remove(labels);
        }
        for family in [
            &self.in_flight,
            &self.concurrency_limit,
            &self.spool_bytes,
            &self.spool_entries,
            &self.ready,
        ] {
            family.remove(labels);
        }
        self.oldest_age.remove(labels);
    }
}
