//! Per-session pacing, sans-IO: a token bucket over uncompressed request bytes and a hard
//! ceiling on any 1 s window.
//!
//! The seed: "We recommend you conservatively set each session to 2.5 MB/sec" and "Each
//! session cannot exceed 10 MB/sec". The bucket refills at the session's pace and holds at
//! most one body's worth of tokens (the configured maximum body), so over any window of `T`
//! seconds a session sends at most `capacity + pace × T` bytes. Independently, the bytes
//! sent in the last second plus the next body never exceed the ceiling (10 MB): with the
//! defaults (1 MB bodies, 2.5 MB/s) the bucket alone keeps any 1 s window under 3.5 MB,
//! and the window check makes the ceiling hold for any configuration.
//!
//! Bytes are counted when an attempt starts, retries included: the server may count every
//! attempt, and pacing on the uncompressed size is the conservative reading of "MB/sec".

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One second: the seed's rate unit and the ceiling's window.
const WINDOW: Duration = Duration::from_secs(1);

/// A session's pacer. Times are passed in, so it is tested without a clock.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Bytes per second; `None`: no bucket.
    rate: Option<f64>,
    capacity: f64,
    tokens: f64,
    last: Instant,
    /// Bytes per 1 s window; `None`: no ceiling.
    ceiling: Option<u64>,
    window: VecDeque<(Instant, u64)>,
    window_sum: u64,
}

impl Pacer {
    /// A pacer starting with a full bucket. `rate` bytes per second (`None`: no bucket),
    /// bucket `capacity` bytes, `ceiling` bytes in any 1 s window (`None`: none).
    pub(crate) fn new(
        rate: Option<u64>,
        capacity: u64,
        ceiling: Option<u64>,
        now: Instant,
    ) -> Pacer {
        Pacer {
            rate: rate.map(|r| r as f64),
            capacity: capacity as f64,
            tokens: capacity as f64,
            last: now,
            ceiling,
            window: VecDeque::new(),
            window_sum: 0,
        }
    }

    /// A pacer that never waits.
    pub(crate) fn off(now: Instant) -> Pacer {
        Pacer::new(None, 0, None, now)
    }

    fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.rate {
            let dt = now.saturating_duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * rate).min(self.capacity);
        }
        self.last = self.last.max(now);
        while let Some(&(t, n)) = self.window.front() {
            if now.saturating_duration_since(t) >= WINDOW {
                self.window.pop_front();
                self.window_sum -= n;
            } else {
                break;
            }
        }
    }

    /// How long to wait before `bytes` may be sent (zero: now). A body larger than the
    /// bucket waits for a full bucket, then takes it below zero.
    pub(crate) fn delay(&mut self, bytes: u64, now: Instant) -> Duration {
        self.refill(now);
        let mut wait = Duration::ZERO;
        if let Some(rate) = self.rate {
            let need = (bytes as f64).min(self.capacity);
            if self.tokens < need {
                // Round up to whole microseconds so the wait is never a hair short.
                let secs = (need - self.tokens) / rate;
                wait = Duration::from_micros((secs * 1e6).ceil() as u64 + 1);
            }
        }
        if let Some(ceiling) = self.ceiling
            && self.window_sum + bytes > ceiling
        {
            // Wait until enough of the window's entries have aged out.
            let mut sum = self.window_sum;
            for &(t, n) in &self.window {
                sum -= n;
                if sum + bytes <= ceiling {
                    wait = wait.max((t + WINDOW).saturating_duration_since(now));
                    break;
                }
            }
        }
        wait
    }

    /// Records that `bytes` are being sent now. Call after [`Pacer::delay`] returned zero.
    pub(crate) fn take(&mut self, bytes: u64, now: Instant) {
        self.refill(now);
        if self.rate.is_some() {
            self.tokens -= bytes as f64;
        }
        if self.ceiling.is_some() {
            self.window.push_back((now, bytes));
            self.window_sum += bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `bodies` as fast as the pacer allows; returns the send times (offsets).
    fn run(pacer: &mut Pacer, start: Instant, bodies: &[u64]) -> Vec<(Duration, u64)> {
        let mut now = start;
        let mut sent = Vec::new();
        for &b in bodies {
            loop {
                let d = pacer.delay(b, now);
                if d.is_zero() {
                    break;
                }
                now += d;
            }
            pacer.take(b, now);
            sent.push((now - start, b));
        }
        sent
    }

    /// The most bytes sent in any window of `len` starting at a send.
    fn max_window(sent: &[(Duration, u64)], len: Duration) -> u64 {
        sent.iter()
            .map(|(t, _)| {
                sent.iter()
                    .filter(|(u, _)| *u >= *t && *u < *t + len)
                    .map(|(_, b)| b)
                    .sum()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn bucket_holds_the_average_pace() {
        let start = Instant::now();
        let mut p = Pacer::new(Some(2_500_000), 1_000_000, Some(10_000_000), start);
        let sent = run(&mut p, start, &[1_000_000; 26]);
        // A full bucket first, then 2.5 MB/s: 25 more MB take 10 s.
        let end = sent.last().expect("sent").0;
        assert!(end >= Duration::from_millis(9_999), "{end:?}");
        assert!(end <= Duration::from_millis(10_010), "{end:?}");
        assert!(max_window(&sent, WINDOW) <= 1_000_000 + 2_500_000);
    }

    #[test]
    fn ceiling_holds_when_the_pace_is_too_high_for_it() {
        let start = Instant::now();
        let mut p = Pacer::new(Some(9_000_000), 6_000_000, Some(10_000_000), start);
        let sent = run(
            &mut p,
            start,
            &[6_000_000, 6_000_000, 100, 5_000_000, 6_000_000],
        );
        assert!(max_window(&sent, WINDOW) <= 10_000_000, "{sent:?}");
    }

    #[test]
    fn small_bodies_and_retries_count() {
        let start = Instant::now();
        let mut p = Pacer::new(Some(100_000), 50_000, None, start);
        let sent = run(&mut p, start, &[10_000; 30]);
        // 50 kB at once, then 250 kB at 100 kB/s.
        let end = sent.last().expect("sent").0;
        assert!((Duration::from_millis(2_490)..Duration::from_millis(2_520)).contains(&end));
        for len in [1, 2, 3] {
            let len = Duration::from_secs(len);
            assert!(max_window(&sent, len) <= 50_000 + 100_000 * len.as_secs() + 10_000);
        }
    }

    #[test]
    fn off_never_waits() {
        let start = Instant::now();
        let mut p = Pacer::off(start);
        let sent = run(&mut p, start, &[6_000_000; 10]);
        assert!(sent.iter().all(|(t, _)| t.is_zero()));
    }

    #[test]
    fn oversized_body_waits_for_a_full_bucket() {
        let start = Instant::now();
        let mut p = Pacer::new(Some(1_000), 1_000, None, start);
        assert!(p.delay(5_000, start).is_zero());
        p.take(5_000, start);
        // 4,000 tokens in debt plus a full bucket: 5 s.
        let d = p.delay(5_000, start);
        assert!(
            (Duration::from_millis(4_999)..Duration::from_millis(5_001)).contains(&d),
            "{d:?}"
        );
    }
}
