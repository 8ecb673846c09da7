//! When to retry: the backoff schedule and the stop conditions.

use crate::env::{Rng, uniform};
use crate::{Error, FatalReason, Verdict};
use std::time::{Duration, SystemTime};

/// Retry policy settings. Build a [`Policy`] from it with [`Policy::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The first retry's jitter bound; each later retry doubles it. Default: 1 s ("starting
    /// at a short initial interval (for example, one second)"). At least 1 ms.
    pub base: Duration,
    /// The largest jitter bound. Default: 2 minutes ("capping at a few minutes"). At least
    /// `base`.
    pub cap: Duration,
    /// The longest delay of all, even when a `Retry-After` asks for more. Default: 10
    /// minutes. At least `cap`, at most 24 hours.
    pub retry_after_ceiling: Duration,
    /// When to give up on a request that keeps asking for retries. Default:
    /// [`Stop::never`], for senders whose data waits in a durable spool.
    pub stop: Stop,
    /// How long the driver waits before asking an exhausted [`Budget`](crate::Budget) again.
    /// Default: 1 s (the default budget's slot width). Must be above zero.
    pub budget_recheck: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(120),
            retry_after_ceiling: Duration::from_secs(600),
            stop: Stop::never(),
            budget_recheck: Duration::from_secs(1),
        }
    }
}

/// When to stop retrying. The first limit reached ends the run; with neither set the
/// sender retries until the request is delivered or meets a non-retry verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stop {
    /// Give up after this many attempts in total (first attempt included). At least 1.
    pub max_attempts: Option<u32>,
    /// Give up when the next attempt would start later than this after the first one
    /// began.
    pub max_elapsed: Option<Duration>,
}

impl Stop {
    /// Retry until delivered: for a sender whose data is held in a durable spool.
    pub const fn never() -> Stop {
        Stop {
            max_attempts: None,
            max_elapsed: None,
        }
    }

    /// At most `attempts` attempts in total.
    pub const fn after_attempts(attempts: u32) -> Stop {
        Stop {
            max_attempts: Some(attempts),
            max_elapsed: None,
        }
    }

    /// No attempt starts later than `elapsed` after the first.
    pub const fn after_elapsed(elapsed: Duration) -> Stop {
        Stop {
            max_attempts: None,
            max_elapsed: Some(elapsed),
        }
    }
}

/// A validated [`Config`]: full-jitter exponential backoff with a `Retry-After` floor, and
/// the stop conditions. It computes delays ([`Policy::delay`]) and decides what follows
/// each attempt ([`Policy::decide`]).
///
/// # The schedule
///
/// After attempt `n` (1-based) asks for a retry, the next attempt waits
///
/// ```text
/// bound = min(cap, base * 2^(n-1))
/// floor = min(Retry-After, ceiling), or 0 without one
/// delay = uniform(floor, bound)      if floor < bound
///       = floor                      otherwise
/// ```
///
/// Without a `Retry-After` this is AWS's "full jitter", `uniform(0, min(cap, base * 2^n))`,
/// which the HTTP Ingest contract asks for: "Clients SHOULD implement an
/// exponential-backoff-with-jitter retry policy for retryable responses (408, 429, 5xx),
/// starting at a short initial interval (for example, one second) and capping at a few
/// minutes." Full jitter spreads a fleet's retries over the whole window, so senders that
/// failed together do not come back together.
///
/// A `Retry-After` is a floor: no delay is shorter, and a floor above the cap is honoured
/// (the server knows its load) up to the `retry_after_ceiling`, which bounds every delay.
/// Below the jitter bound the delay is still drawn at random above the floor, so the fleet
/// stays spread.
///
/// Delays are whole milliseconds, the resolution of tokio's timer: durations in the
/// [`Config`] are cut to whole milliseconds, and a floor is rounded up to one, so the
/// driver sleeps exactly the delay it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    config: Config,
}

/// The longest `retry_after_ceiling` accepted.
const MAX_CEILING: Duration = Duration::from_secs(24 * 60 * 60);

impl Policy {
    /// Checks `config`'s ranges (documented on each field).
    pub fn new(config: Config) -> Result<Policy, Error> {
        let invalid = |field, reason| Err(Error::InvalidConfig { field, reason });
        let mut config = config;
        config.base = whole_millis(config.base);
        config.cap = whole_millis(config.cap);
        config.retry_after_ceiling = whole_millis(config.retry_after_ceiling);
        if config.base.is_zero() {
            return invalid("base", "must be at least 1 ms");
        }
        if config.cap < config.base {
            return invalid("cap", "must be at least `base`");
        }
        if config.retry_after_ceiling < config.cap {
            return invalid("retry_after_ceiling", "must be at least `cap`");
        }
        if config.retry_after_ceiling > MAX_CEILING {
            return invalid("retry_after_ceiling", "must be at most 24 hours");
        }
        if config.stop.max_attempts == Some(0) {
            return invalid("stop.max_attempts", "must be at least 1");
        }
        if config.budget_recheck.is_zero() {
            return invalid("budget_recheck", "must be above zero");
        }
        Ok(Policy { config })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The jitter bound after attempt `attempt` (1-based): `min(cap, base * 2^(attempt-1))`.
    pub fn bound(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1);
        if doublings >= 32 {
            return self.config.cap;
        }
        self.config
            .base
            .saturating_mul(1_u32 << doublings)
            .min(self.config.cap)
    }

    /// The wait before the attempt after `attempt` (1-based), given the server's
    /// `Retry-After` as a `floor` (see the module docs for the formula).
    pub fn delay(&self, attempt: u32, floor: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = millis(self.config.retry_after_ceiling);
        let floor = floor.map_or(0, |f| {
            // Round up, so that no delay falls below the floor.
            let ms = millis(f);
            if f > Duration::from_millis(ms) {
                ms + 1
            } else {
                ms
            }
        });
        let delay = uniform(floor.min(ceiling), millis(self.bound(attempt)), rng);
        Duration::from_millis(delay)
    }

    /// What follows attempt `attempt` (1-based), which ended with `verdict` `elapsed`
    /// after the first attempt began; `wall_now` resolves an HTTP-date `Retry-After`.
    ///
    /// This is the driver's decision, exposed for backends with their own loop.
    pub fn decide(
        &self,
        attempt: u32,
        elapsed: Duration,
        verdict: &Verdict,
        wall_now: SystemTime,
        rng: &mut impl Rng,
    ) -> Decision {
        let not_before = match verdict {
            Verdict::Delivered => return Decision::Finish(Finish::Delivered),
            Verdict::Split => return Decision::Finish(Finish::Split),
            Verdict::Reauthenticate => return Decision::Finish(Finish::Reauthenticate),
            Verdict::Stop => return Decision::Finish(Finish::GaveUp(GaveUp::Stopped)),
            Verdict::Fatal { reason } => {
                return Decision::Finish(Finish::GaveUp(GaveUp::Fatal(reason.clone())));
            }
            Verdict::Retry { not_before, .. } => not_before,
        };
        let stop = self.config.stop;
        if let Some(max) = stop.max_attempts
            && attempt >= max
        {
            return Decision::Finish(Finish::GaveUp(GaveUp::MaxAttempts(max)));
        }
        let floor = not_before.map(|after| after.delay_from(wall_now));
        let delay = self.delay(attempt, floor, rng);
        if let Some(max) = stop.max_elapsed
            && elapsed.saturating_add(delay) > max
        {
            return Decision::Finish(Finish::GaveUp(GaveUp::MaxElapsed(max)));
        }
        Decision::Retry(delay)
    }
}

/// Whole milliseconds in `d`, saturating (every config duration is at most 24 hours).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn whole_millis(d: Duration) -> Duration {
    Duration::from_millis(millis(d))
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::new(Config::default()).expect("the default config is valid")
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then send the request again.
    Retry(Duration),
    /// Stop: the run is over.
    Finish(Finish),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The request was delivered.
    Delivered,
    /// The body is too large: the caller splits it and runs each part.
    Split,
    /// The credential expired: the caller refreshes it (token, presigned URL) and runs
    /// again, a bounded number of times.
    Reauthenticate,
    /// The request was not delivered and this run will not try again.
    GaveUp(GaveUp),
}

/// Why a run gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp {
    /// A fatal verdict: an operator must act.
    Fatal(FatalReason),
    /// [`Stop::max_attempts`] attempts were made.
    MaxAttempts(u32),
    /// The next attempt would have started after [`Stop::max_elapsed`].
    MaxElapsed(Duration),
    /// A [`Verdict::Stop`]: the caller ended the run; its value says why.
    Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FastRng, RetryAfter, RetryCause};
    use http::StatusCode;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn policy(base: u64, cap: u64, ceiling: u64) -> Policy {
        Policy::new(Config {
            base: Duration::from_millis(base),
            cap: Duration::from_millis(cap),
            retry_after_ceiling: Duration::from_millis(ceiling),
            ..Config::default()
        })
        .expect("test configs are valid")
    }

    #[test]
    fn bounds_double_then_cap() {
        let p = Policy::default();
        let bounds: Vec<u64> = (1..=10).map(|a| p.bound(a).as_secs()).collect();
        assert_eq!(bounds, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(p.bound(0), secs(1));
        assert_eq!(p.bound(u32::MAX), secs(120));
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = |config: Config| Policy::new(config).unwrap_err().to_string();
        assert_eq!(
            bad(Config {
                base: Duration::ZERO,
                ..Config::default()
            }),
            "invalid retry config: `base` must be at least 1 ms"
        );
        assert_eq!(
            bad(Config {
                cap: Duration::from_millis(10),
                ..Config::default()
            }),
            "invalid retry config: `cap` must be at least `base`"
        );
        assert_eq!(
            bad(Config {
                retry_after_ceiling: secs(60),
                ..Config::default()
            }),
            "invalid retry config: `retry_after_ceiling` must be at least `cap`"
        );
        assert_eq!(
            bad(Config {
                retry_after_ceiling: secs(100_000),
                ..Config::default()
            }),
            "invalid retry config: `retry_after_ceiling` must be at most 24 hours"
        );
        assert_eq!(
            bad(Config {
                stop: Stop::after_attempts(0),
                ..Config::default()
            }),
            "invalid retry config: `stop.max_attempts` must be at least 1"
        );
        assert_eq!(
            bad(Config {
                budget_recheck: Duration::ZERO,
                ..Config::default()
            }),
            "invalid retry config: `budget_recheck` must be above zero"
        );
    }

    #[test]
    fn decide_stops_on_limits_and_non_retry_verdicts() {
        let retry = Verdict::Retry {
            not_before: None,
            cause: RetryCause::Status(StatusCode::SERVICE_UNAVAILABLE),
        };
        let mut rng = FastRng::with_seed(1);
        let now = SystemTime::UNIX_EPOCH;
        let p = Policy::new(Config {
            stop: Stop {
                max_attempts: Some(3),
                max_elapsed: Some(secs(30)),
            },
            ..Config::default()
        })
        .expect("valid");
        assert!(matches!(
            p.decide(2, secs(0), &retry, now, &mut rng),
            Decision::Retry(d) if d <= secs(2)
        ));
        assert_eq!(
            p.decide(3, secs(0), &retry, now, &mut rng),
            Decision::Finish(Finish::GaveUp(GaveUp::MaxAttempts(3)))
        );
        // A Retry-After that would land past max_elapsed ends the run now.
        let later = Verdict::Retry {
            not_before: Some(RetryAfter::Delay(secs(40))),
            cause: RetryCause::Status(StatusCode::TOO_MANY_REQUESTS),
        };
        assert_eq!(
            p.decide(1, secs(0), &later, now, &mut rng),
            Decision::Finish(Finish::GaveUp(GaveUp::MaxElapsed(secs(30))))
        );
        assert_eq!(
            p.decide(1, secs(0), &Verdict::Split, now, &mut rng),
            Decision::Finish(Finish::Split)
        );
        assert_eq!(
            p.decide(1, secs(0), &Verdict::Reauthenticate, now, &mut rng),
            Decision::Finish(Finish::Reauthenticate)
        );
        assert_eq!(
            p.decide(1, secs(0), &Verdict::Delivered, now, &mut rng),
            Decision::Finish(Finish::Delivered)
        );
        // A stop ends the run even where a retry would still be allowed.
        assert_eq!(
            p.decide(1, secs(0), &Verdict::Stop, now, &mut rng),
            Decision::Finish(Finish::GaveUp(GaveUp::Stopped))
        );
    }

    #[test]
    fn http_date_retry_after_resolves_against_wall_now() {
        let p = Policy::default();
        let now = SystemTime::UNIX_EPOCH + secs(1_000_000);
        let verdict = Verdict::Retry {
            not_before: Some(RetryAfter::At(now + secs(300))),
            cause: RetryCause::Status(StatusCode::SERVICE_UNAVAILABLE),
        };
        // Attempt 1's bound is 1 s, so the 300 s floor decides.
        assert_eq!(
            p.decide(1, secs(0), &verdict, now, &mut FastRng::with_seed(9)),
            Decision::Retry(secs(300))
        );
    }

    #[test]
    fn floor_below_the_bound_is_still_jittered() {
        let p = Policy::default();
        let mut rng = FastRng::with_seed(3);
        // Attempt 8: bound 120 s, floor 10 s: delays spread over [10, 120].
        let delays: Vec<Duration> = (0..200)
            .map(|_| p.delay(8, Some(secs(10)), &mut rng))
            .collect();
        assert!(delays.iter().all(|d| (secs(10)..=secs(120)).contains(d)));
        assert!(delays.iter().any(|d| *d < secs(40)));
        assert!(delays.iter().any(|d| *d > secs(90)));
    }

    #[test]
    fn full_jitter_is_uniform() {
        // A coarse chi-squared check with a fixed seed: 10 equal buckets over [0, cap].
        let p = policy(1_000, 8_000, 600_000);
        let mut rng = FastRng::with_seed(0x5eed);
        let samples = 20_000;
        let mut buckets = [0_u32; 10];
        for _ in 0..samples {
            let d = p.delay(20, None, &mut rng);
            let i = (d.as_nanos() * 10 / (secs(8).as_nanos() + 1)) as usize;
            buckets[i] += 1;
        }
        let expected = f64::from(samples) / 10.0;
        let chi2: f64 = buckets
            .iter()
            .map(|&n| (f64::from(n) - expected).powi(2) / expected)
            .sum();
        // 9 degrees of freedom: p = 0.001 at 27.9.
        assert!(chi2 < 27.9, "chi2 {chi2}, buckets {buckets:?}");
    }

    proptest! {
        #[test]
        fn delays_respect_cap_floor_and_ceiling(
            base in 1_u64..5_000,
            cap_extra in 0_u64..300_000,
            ceiling_extra in 0_u64..900_000,
            attempt in 1_u32..80,
            floor_ns in proptest::option::of(0_u64..2_000_000_000_000),
            seed in any::<u64>(),
        ) {
            let cap = base + cap_extra;
            let ceiling = cap + ceiling_extra;
            let p = policy(base, cap, ceiling);
            let mut rng = FastRng::with_seed(seed);
            let floor = floor_ns.map(Duration::from_nanos);
            let d = p.delay(attempt, floor, &mut rng);
            let cap = Duration::from_millis(cap);
            let ceiling = Duration::from_millis(ceiling);
            prop_assert!(d <= ceiling, "{d:?} above the ceiling {ceiling:?}");
            match floor {
                Some(f) => {
                    prop_assert!(d >= f.min(ceiling), "{d:?} below the floor {f:?}");
                    prop_assert!(d <= cap || d < f + Duration::from_millis(1),
                        "{d:?} above the cap {cap:?} though the floor was only {f:?}");
                }
                None => prop_assert!(d <= p.bound(attempt) && p.bound(attempt) <= cap),
            }
        }
    }
}
