//! The driver's injected environment: a [`Clock`] (monotonic time, wall time, sleeping)
//! and an [`Rng`] (the jitter source). Tests pass tokio's paused clock and a seeded RNG,
//! so every delay is reproducible and nothing really sleeps.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

/// Time as the retry driver sees it.
pub trait Clock: Send + Sync {
    /// Monotonic now, for elapsed time and the retry budget's window.
    fn now(&self) -> Instant;
    /// Wall-clock now, to resolve an HTTP-date `Retry-After`.
    fn wall(&self) -> SystemTime;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// tokio's timer: [`tokio::time::Instant`] and [`tokio::time::sleep`], so the driver
/// obeys `tokio::time::pause` and `advance` in tests. Wall time is the system clock.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// A source of uniformly distributed 64-bit integers, for jitter.
pub trait Rng: Send {
    /// The next uniformly distributed `u64`.
    fn next_u64(&mut self) -> u64;
}

/// The default [`Rng`]: `fastrand`'s wyrand. Not cryptographic; jitter needs none.
#[derive(Debug, Clone)]
pub struct FastRng(fastrand::Rng);

impl FastRng {
    /// Seeded from the process's entropy.
    pub fn new() -> FastRng {
        FastRng(fastrand::Rng::new())
    }

    /// A reproducible sequence, for tests.
    pub fn with_seed(seed: u64) -> FastRng {
        FastRng(fastrand::Rng::with_seed(seed))
    }
}

impl Default for FastRng {
    fn default() -> FastRng {
        FastRng::new()
    }
}

impl Rng for FastRng {
    fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }
}

/// A uniformly distributed integer in `[low, high]`, or `low` when `high <= low`.
pub(crate) fn uniform(low: u64, high: u64, rng: &mut impl Rng) -> u64 {
    if high <= low {
        return low;
    }
    let span = high - low;
    // Lemire's multiply-shift maps a u64 onto [0, span] without modulo; its bias is at
    // most span / 2^64, far below anything a statistical check could see.
    let offset = (u128::from(rng.next_u64()) * (u128::from(span) + 1)) >> 64;
    low + u64::try_from(offset).expect("(x * (span + 1)) >> 64 <= span")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u64);
    impl Rng for Fixed {
        fn next_u64(&mut self) -> u64 {
            self.0
        }
    }

    #[test]
    fn uniform_covers_both_ends() {
        assert_eq!(uniform(1_000, 3_000, &mut Fixed(0)), 1_000);
        assert_eq!(uniform(1_000, 3_000, &mut Fixed(u64::MAX)), 3_000);
        // The midpoint: (2^63 * 2001) >> 64 = 1000.
        assert_eq!(uniform(1_000, 3_000, &mut Fixed(1 << 63)), 2_000);
        assert_eq!(uniform(3_000, 1_000, &mut Fixed(7)), 3_000);
        assert_eq!(uniform(5, 5, &mut Fixed(u64::MAX)), 5);
        assert_eq!(uniform(0, u64::MAX, &mut Fixed(u64::MAX)), u64::MAX);
    }
}
