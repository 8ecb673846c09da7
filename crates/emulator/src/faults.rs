//! Fault injection: the failures real services produce, on demand and reproducibly.
//!
//! A [`Faults`] value says, for every endpoint or per endpoint, which requests fail and how:
//!
//! - **fail first N**: the first `fail_first` requests (after the resets below) are answered
//!   with `fail_first_status`;
//! - **fail a fraction**: each later request fails with probability `fail_rate`, with a
//!   status drawn from `fail_statuses`; the draw uses a generator seeded with
//!   [`Config::seed`](crate::Config::seed), so a run is reproducible when requests arrive in
//!   the same order;
//! - **reset**: the first `reset_first` requests, then a `reset_rate` fraction, get no reply
//!   at all: the emulator reads the body, then closes the connection with a TCP reset;
//! - **latency**: `latency_ms` is added before the reply (for SDL, while the session is held
//!   busy, so a sender that overlaps requests on a session is caught);
//! - **slow bodies**: bodies are read at no more than `slow_body_bytes_per_sec`;
//! - **Retry-After**: `retry_after_secs` adds that header to injected 429 and 503 replies.
//!
//! Besides, [`LimitOverrides`] lowers (or raises) the 413 and 6 MB thresholds and the SDL
//! per-session rate ceiling at run time, and keys are revoked through
//! [`Emulator::revoke_key`](crate::Emulator::revoke_key).
//!
//! **A faulted request stores nothing.** Faults apply after the body has been read (so the
//! client has finished sending), before any validation. Injected statuses are answered in
//! each endpoint's own error format: SDL errors carry the matching `status` string
//! (`error/server/backoff` for 429, `error/server` for 5xx, ...), and
//! [`FaultStatus::SdlBackoffIn200`] answers an SDL request with HTTP 200 carrying
//! `{"status":"error/server/backoff"}`, which a correct SDL client must retry.
//!
//! Counters and the random generator restart whenever the faults are replaced.
//!
//! The structs are plain data with public fields and `Default`, meant to be written as
//! `FaultSet { fail_first: 2, ..FaultSet::default() }`.
//!
//! The same structure is the JSON body of the binary's `POST /_emulator/faults`:
//!
//! ```
//! use logferry_emulator::{Endpoint, FaultSet, FaultStatus, Faults};
//! let faults: Faults = serde_json::from_str(
//!     r#"{"all": {"fail_rate": 0.1, "fail_statuses": [503, 429], "retry_after_secs": 1},
//!         "endpoints": {"sdl_add_events": {"fail_first": 2, "fail_first_status": "sdl_backoff_in_200"}}}"#,
//! ).unwrap();
//! assert_eq!(faults.endpoints[&Endpoint::SdlAddEvents].fail_first_status, FaultStatus::SdlBackoffIn200);
//! assert_eq!(faults.all.fail_statuses, vec![FaultStatus::Code(503), FaultStatus::Code(429)]);
//! faults.validate().unwrap();
//! ```

use crate::{Endpoint, Error};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// The faults in force. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Faults for every endpoint that has no entry in `endpoints`; its counters are shared
    /// by those endpoints ("the first N requests" counts requests to any of them).
    pub all: FaultSet,
    /// Per-endpoint fault sets. An entry replaces `all` for that endpoint.
    pub endpoints: BTreeMap<Endpoint, FaultSet>,
    /// Limits changed at run time.
    pub limits: LimitOverrides,
}

impl Faults {
    /// No faults at all (the default).
    pub fn none() -> Faults {
        Faults::default()
    }

    /// The same fault set for every endpoint.
    pub fn all(set: FaultSet) -> Faults {
        Faults {
            all: set,
            ..Faults::default()
        }
    }

    /// Adds (or replaces) the fault set of one endpoint.
    pub fn with_endpoint(mut self, endpoint: Endpoint, set: FaultSet) -> Faults {
        self.endpoints.insert(endpoint, set);
        self
    }

    /// Adds limit overrides.
    pub fn with_limits(mut self, limits: LimitOverrides) -> Faults {
        self.limits = limits;
        self
    }

    /// Checks rates are within 0..=1 and statuses are error statuses.
    pub fn validate(&self) -> Result<(), Error> {
        self.all.validate("all")?;
        for (endpoint, set) in &self.endpoints {
            set.validate(endpoint.as_str())?;
        }
        for (name, value) in [
            ("http_ingest_max_body", self.limits.http_ingest_max_body),
            ("sdl_max_body", self.limits.sdl_max_body),
            ("sdl_session_rate", self.limits.sdl_session_rate),
        ] {
            if value == Some(0) {
                return Err(Error::InvalidFaults(format!(
                    "limits.{name} must be positive"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn set_for(&self, endpoint: Endpoint) -> (Option<Endpoint>, &FaultSet) {
        match self.endpoints.get(&endpoint) {
            Some(set) => (Some(endpoint), set),
            None => (None, &self.all),
        }
    }
}

/// The faults of one endpoint (or of all). All off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSet {
    /// Fail this many requests (after the `reset_first` resets). Default 0.
    pub fail_first: u64,
    /// The status of those failures. Default 503.
    pub fail_first_status: FaultStatus,
    /// Fail this fraction (0 to 1) of the other requests, at random (seeded). Default 0.
    pub fail_rate: f64,
    /// Statuses to draw from for `fail_rate` failures. Default (empty): 503.
    pub fail_statuses: Vec<FaultStatus>,
    /// Reset the connection, without a reply, on this many first requests. Default 0.
    pub reset_first: u64,
    /// Reset this fraction (0 to 1) of the requests, at random. Default 0.
    pub reset_rate: f64,
    /// Milliseconds added before every reply. Default 0.
    pub latency_ms: u64,
    /// Read request bodies at most this fast (bytes per second). Default: full speed.
    pub slow_body_bytes_per_sec: Option<u64>,
    /// Send `Retry-After: N` with injected 429 and 503 replies. Default: none.
    pub retry_after_secs: Option<u64>,
}

impl Default for FaultSet {
    fn default() -> Self {
        FaultSet {
            fail_first: 0,
            fail_first_status: FaultStatus::Code(503),
            fail_rate: 0.0,
            fail_statuses: Vec::new(),
            reset_first: 0,
            reset_rate: 0.0,
            latency_ms: 0,
            slow_body_bytes_per_sec: None,
            retry_after_secs: None,
        }
    }
}

impl FaultSet {
    /// Fail the first `n` requests with `status`.
    pub fn fail_first(n: u64, status: FaultStatus) -> FaultSet {
        FaultSet {
            fail_first: n,
            fail_first_status: status,
            ..FaultSet::default()
        }
    }

    /// Fail a `rate` fraction of requests with statuses drawn from `statuses`.
    pub fn fail_rate(rate: f64, statuses: impl Into<Vec<FaultStatus>>) -> FaultSet {
        FaultSet {
            fail_rate: rate,
            fail_statuses: statuses.into(),
            ..FaultSet::default()
        }
    }

    /// Reset the connection on the first `n` requests.
    pub fn reset_first(n: u64) -> FaultSet {
        FaultSet {
            reset_first: n,
            ..FaultSet::default()
        }
    }

    /// Reset the connection on a `rate` fraction of requests.
    pub fn reset_rate(rate: f64) -> FaultSet {
        FaultSet {
            reset_rate: rate,
            ..FaultSet::default()
        }
    }

    /// Delay every reply by `latency`.
    pub fn latency(latency: Duration) -> FaultSet {
        FaultSet {
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            ..FaultSet::default()
        }
    }

    /// Read bodies at most `bytes_per_sec` fast.
    pub fn slow_body(bytes_per_sec: u64) -> FaultSet {
        FaultSet {
            slow_body_bytes_per_sec: Some(bytes_per_sec),
            ..FaultSet::default()
        }
    }

    /// Adds `Retry-After: secs` to injected 429 and 503 replies.
    pub fn with_retry_after(mut self, secs: u64) -> FaultSet {
        self.retry_after_secs = Some(secs);
        self
    }

    /// True when this set changes nothing.
    pub fn is_off(&self) -> bool {
        self.fail_first == 0
            && self.fail_rate == 0.0
            && self.reset_first == 0
            && self.reset_rate == 0.0
            && self.latency_ms == 0
            && self.slow_body_bytes_per_sec.is_none()
    }

    fn validate(&self, name: &str) -> Result<(), Error> {
        let bad = |what: String| Err(Error::InvalidFaults(format!("{name}: {what}")));
        for (field, rate) in [
            ("fail_rate", self.fail_rate),
            ("reset_rate", self.reset_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return bad(format!("{field} {rate} is outside 0..=1"));
            }
        }
        if self.fail_rate + self.reset_rate > 1.0 {
            return bad("fail_rate + reset_rate exceeds 1".to_owned());
        }
        for status in self.fail_statuses.iter().chain([&self.fail_first_status]) {
            if let FaultStatus::Code(code) = status
                && !(400..=599).contains(code)
            {
                return bad(format!("status {code} is not an error status (400..=599)"));
            }
        }
        if self.slow_body_bytes_per_sec == Some(0) {
            return bad("slow_body_bytes_per_sec must be positive".to_owned());
        }
        Ok(())
    }
}

/// The status of an injected failure.
///
/// In JSON: a number (`503`) or the string `"sdl_backoff_in_200"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultStatus {
    /// This HTTP status, in the endpoint's own error format.
    Code(u16),
    /// HTTP 200 carrying `{"status":"error/server/backoff"}` on SDL endpoints (503 on others).
    SdlBackoffIn200,
}

impl FaultStatus {
    const BACKOFF_IN_200: &'static str = "sdl_backoff_in_200";

    /// The HTTP status code sent on endpoints that are not SDL.
    pub fn http_code(self) -> u16 {
        match self {
            FaultStatus::Code(code) => code,
            FaultStatus::SdlBackoffIn200 => 503,
        }
    }
}

impl std::str::FromStr for FaultStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == FaultStatus::BACKOFF_IN_200 {
            return Ok(FaultStatus::SdlBackoffIn200);
        }
        s.parse::<u16>().map(FaultStatus::Code).map_err(|_| {
            format!(
                "`{s}` is neither an HTTP status nor `{}`",
                FaultStatus::BACKOFF_IN_200
            )
        })
    }
}

impl Serialize for FaultStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FaultStatus::Code(code) => s.serialize_u16(*code),
            FaultStatus::SdlBackoffIn200 => s.serialize_str(FaultStatus::BACKOFF_IN_200),
        }
    }
}

impl<'de> Deserialize<'de> for FaultStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Code(u16),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Code(code) => Ok(FaultStatus::Code(code)),
            Repr::Name(name) => name.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Limits changed at run time; `None` keeps the configured value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    /// HTTP Ingest body limit, on the wire and decoded (the 413 threshold).
    pub http_ingest_max_body: Option<u64>,
    /// SDL decoded body limit (the 6 MB threshold).
    pub sdl_max_body: Option<u64>,
    /// SDL per-session rate ceiling, decoded bytes per second.
    pub sdl_session_rate: Option<u64>,
}

/// What the fault machinery decided for one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub(crate) action: Option<Action>,
    pub(crate) latency: Duration,
    pub(crate) slow_body: Option<u64>,
    pub(crate) retry_after: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Reset,
    Fail(FaultStatus),
}

/// Faults plus their counters and generator.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    seed: u64,
    rng: fastrand::Rng,
    /// Requests judged so far, per fault set (`None` = the shared `all` set).
    seen: BTreeMap<Option<Endpoint>, u64>,
}

impl FaultState {
    pub(crate) fn new(faults: Faults, seed: u64) -> FaultState {
        FaultState {
            faults,
            seed,
            rng: fastrand::Rng::with_seed(seed),
            seen: BTreeMap::new(),
        }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the faults and restarts counters and generator.
    pub(crate) fn replace(&mut self, faults: Faults) {
        *self = FaultState::new(faults, self.seed);
    }

    pub(crate) fn plan(&mut self, endpoint: Endpoint) -> Plan {
        let (key, set) = self.faults.set_for(endpoint);
        if set.is_off() {
            return Plan::default();
        }
        let seen = self.seen.entry(key).or_insert(0);
        let index = *seen;
        *seen += 1;
        let action = if index < set.reset_first {
            Some(Action::Reset)
        } else if index < set.reset_first.saturating_add(set.fail_first) {
            Some(Action::Fail(set.fail_first_status))
        } else if set.reset_rate > 0.0 || set.fail_rate > 0.0 {
            let draw = self.rng.f64();
            if draw < set.reset_rate {
                Some(Action::Reset)
            } else if draw < set.reset_rate + set.fail_rate {
                let status = if set.fail_statuses.is_empty() {
                    FaultStatus::Code(503)
                } else {
                    set.fail_statuses[self.rng.usize(..set.fail_statuses.len())]
                };
                Some(Action::Fail(status))
            } else {
                None
            }
        } else {
            None
        };
        Plan {
            action,
            latency: Duration::from_millis(set.latency_ms),
            slow_body: set.slow_body_bytes_per_sec,
            retry_after: set.retry_after_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_resets_then_first_failures_then_nothing() {
        let set = FaultSet {
            reset_first: 1,
            fail_first: 2,
            fail_first_status: FaultStatus::Code(429),
            ..FaultSet::default()
        };
        let mut state = FaultState::new(Faults::all(set), 1);
        let actions: Vec<_> = (0..4)
            .map(|_| state.plan(Endpoint::HttpIngest).action)
            .collect();
        assert_eq!(
            actions,
            vec![
                Some(Action::Reset),
                Some(Action::Fail(FaultStatus::Code(429))),
                Some(Action::Fail(FaultStatus::Code(429))),
                None
            ]
        );
    }

    #[test]
    fn per_endpoint_sets_replace_all_and_count_separately() {
        let faults = Faults::all(FaultSet::fail_first(1, FaultStatus::Code(500)))
            .with_endpoint(Endpoint::SdlAddEvents, FaultSet::default());
        let mut state = FaultState::new(faults, 1);
        assert_eq!(state.plan(Endpoint::SdlAddEvents).action, None);
        assert!(state.plan(Endpoint::HttpIngest).action.is_some());
        // The shared `all` counter is spent: the upload endpoint is not failed.
        assert_eq!(state.plan(Endpoint::UploadPut).action, None);
    }

    #[test]
    fn random_failures_are_seeded_and_near_the_rate() {
        let set = FaultSet::fail_rate(0.3, [FaultStatus::Code(503), FaultStatus::Code(429)]);
        let run = |seed| {
            let mut state = FaultState::new(Faults::all(set.clone()), seed);
            (0..10_000)
                .map(|_| state.plan(Endpoint::HttpIngest).action)
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        let failed = a.iter().filter(|x| x.is_some()).count();
        assert!((2_700..3_300).contains(&failed), "{failed}");
        assert!(a.contains(&Some(Action::Fail(FaultStatus::Code(429)))));
    }

    #[test]
    fn validation_names_the_problem() {
        let faults = Faults::all(FaultSet::fail_rate(1.5, []));
        assert_eq!(
            faults.validate().unwrap_err().to_string(),
            "invalid fault settings: all: fail_rate 1.5 is outside 0..=1"
        );
        let faults = Faults::none().with_endpoint(
            Endpoint::UploadPut,
            FaultSet::fail_first(1, FaultStatus::Code(200)),
        );
        assert_eq!(
            faults.validate().unwrap_err().to_string(),
            "invalid fault settings: upload_put: status 200 is not an error status (400..=599)"
        );
    }

    #[test]
    fn replace_restarts_counters() {
        let mut state = FaultState::new(Faults::all(FaultSet::reset_first(1)), 1);
        assert_eq!(state.plan(Endpoint::HttpIngest).action, Some(Action::Reset));
        assert_eq!(state.plan(Endpoint::HttpIngest).action, None);
        state.replace(Faults::all(FaultSet::reset_first(1)));
        assert_eq!(state.plan(Endpoint::HttpIngest).action, Some(Action::Reset));
    }
}
