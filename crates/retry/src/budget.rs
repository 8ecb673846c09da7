//! The retry budget: retries capped as a share of a sender's recent traffic.

use crate::Error;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Number of slots the window is cut into.
const SLOTS: u64 = 10;
/// Fixed-point scale: one retry.
const ONE: i64 = 1_000;

/// Retry budget settings. The defaults are tower's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// How long a deposit or withdrawal counts. Default: 10 s. Between 1 s and 60 s.
    pub ttl: Duration,
    /// Retries always allowed per second, so a quiet sender can still retry. Default: 10
    /// (a reserve of 100 retries per 10 s window).
    pub min_retries_per_sec: u32,
    /// Retries allowed per first attempt. Default: 0.2 (retries add at most 20% to
    /// recent traffic). Between 0.0 and 1000.0, kept to 0.001.
    pub retry_ratio: f32,
}

impl Default for BudgetConfig {
    fn default() -> BudgetConfig {
        BudgetConfig {
            ttl: Duration::from_secs(10),
            min_retries_per_sec: 10,
            retry_ratio: 0.2,
        }
    }
}

/// The retry budget of one sender, after tower's `TpsBudget`; share it between the
/// sender's requests with an `Arc`. Retries
/// may add at most a fixed share to the sender's recent traffic, plus a small reserve, so
/// a fleet of senders cannot turn an outage into a retry storm.
///
/// # Accounting
///
/// Time is cut into `SLOTS` (10) slots of `ttl / 10`. Each first attempt deposits
/// `retry_ratio` of a retry into the current slot; each retry withdraws one whole retry,
/// and is allowed only if the balance covers it:
///
/// ```text
/// balance = min_retries_per_sec * ttl + Σ over live slots (retry_ratio * deposits - withdrawals)
/// ```
///
/// A slot lives for `ttl` from its start, then its deposits and withdrawals are forgotten
/// together. The live slots always span at least the last `ttl - ttl/10` and at most the
/// last `ttl`, hence the invariant (tested with proptest): **whenever a retry is allowed,
/// the retries allowed in the last `ttl - ttl/10` (this one included) are at most
/// `min_retries_per_sec * ttl + retry_ratio * (first attempts in the last ttl)`.**
///
/// Amounts are kept in thousandths of a retry, so a ratio is exact to 0.001.
///
/// An empty budget does not drop anything: the [`Retrier`](crate::Retrier) waits and asks
/// again. Balance returns as new requests deposit and as old withdrawals age out, so the
/// wait is at most about `ttl`.
#[derive(Debug)]
pub struct Budget {
    slot_nanos: u64,
    deposit_amount: i64,
    reserve: i64,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// Set by the first call; slots count from it.
    origin: Option<Instant>,
    /// `(slot number, net amount)`, indexed by `slot number % SLOTS`.
    slots: [(u64, i64); SLOTS as usize],
}

impl Budget {
    /// Checks `config`'s ranges (documented on each field).
    pub fn new(config: BudgetConfig) -> Result<Budget, Error> {
        let invalid = |field, reason| Err(Error::InvalidConfig { field, reason });
        if config.ttl < Duration::from_secs(1) || config.ttl > Duration::from_secs(60) {
            return invalid("ttl", "must be between 1 s and 60 s");
        }
        if !(0.0..=1_000.0).contains(&config.retry_ratio) {
            return invalid("retry_ratio", "must be between 0.0 and 1000.0");
        }
        let ttl_nanos = u64::try_from(config.ttl.as_nanos()).expect("ttl is at most 60 s");
        let reserve = i64::from(config.min_retries_per_sec)
            .saturating_mul(ONE)
            .saturating_mul(i64::try_from(ttl_nanos).expect("ttl is at most 60 s"))
            / 1_000_000_000;
        #[allow(clippy::cast_possible_truncation)] // at most 1e6 after the range check
        let deposit_amount = (f64::from(config.retry_ratio) * ONE as f64).round() as i64;
        Ok(Budget {
            slot_nanos: ttl_nanos / SLOTS,
            deposit_amount,
            reserve,
            window: Mutex::new(Window {
                origin: None,
                slots: [(0, 0); SLOTS as usize],
            }),
        })
    }

    /// Records a first attempt (new traffic) at `now`.
    pub fn deposit(&self, now: Instant) {
        self.with_slot(now, |net, _| *net += self.deposit_amount);
    }

    /// Takes one retry from the budget at `now`; `false` if the budget cannot cover it
    /// (then nothing is taken).
    pub fn try_withdraw(&self, now: Instant) -> bool {
        self.with_slot(now, |net, balance| {
            if balance >= ONE {
                *net -= ONE;
                true
            } else {
                false
            }
        })
    }

    /// Whole retries the budget could cover at `now`.
    pub fn available(&self, now: Instant) -> u64 {
        self.with_slot(now, |_, balance| u64::try_from(balance / ONE).unwrap_or(0))
    }

    /// Runs `f` on the current slot's net amount and the balance, after forgetting
    /// expired slots.
    fn with_slot<R>(&self, now: Instant, f: impl FnOnce(&mut i64, i64) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update of plain integers;
        // the numbers are still usable.
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let origin = *window.origin.get_or_insert(now);
        let elapsed =
            u64::try_from(now.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX);
        let current = elapsed / self.slot_nanos;
        for slot in &mut window.slots {
            if slot.0 + SLOTS <= current || slot.0 > current {
                *slot = (current, 0);
            }
        }
        let balance = self.reserve + window.slots.iter().map(|s| s.1).sum::<i64>();
        let index = usize::try_from(current % SLOTS).expect("SLOTS fits in usize");
        // After the sweep every slot is live; the current one may still hold an older
        // number if it was never touched since it expired.
        if window.slots[index].0 != current {
            window.slots[index] = (current, 0);
        }
        f(&mut window.slots[index].1, balance)
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(BudgetConfig::default()).expect("the default budget config is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn budget(min_per_sec: u32, ratio_milli: u16) -> Budget {
        Budget::new(BudgetConfig {
            ttl: Duration::from_secs(10),
            min_retries_per_sec: min_per_sec,
            retry_ratio: f32::from(ratio_milli) / 1000.0,
        })
        .expect("valid")
    }

    #[test]
    fn reserve_then_ratio() {
        let t0 = Instant::now();
        let b = budget(1, 500); // reserve 10, half a retry per first attempt
        assert_eq!(b.available(t0), 10);
        assert_eq!((0..20).filter(|_| b.try_withdraw(t0)).count(), 10);
        for _ in 0..4 {
            b.deposit(t0);
        }
        assert_eq!(b.available(t0), 2);
        assert!(b.try_withdraw(t0));
        assert!(b.try_withdraw(t0));
        assert!(!b.try_withdraw(t0));
    }

    #[test]
    fn withdrawals_age_out_after_ttl() {
        let t0 = Instant::now();
        let b = budget(1, 0);
        assert_eq!((0..20).filter(|_| b.try_withdraw(t0)).count(), 10);
        assert!(!b.try_withdraw(t0 + Duration::from_millis(9_999)));
        assert_eq!(b.available(t0 + Duration::from_secs(10)), 10);
    }

    #[test]
    fn default_budget_is_towers() {
        let b = Budget::default();
        let t0 = Instant::now();
        assert_eq!(b.available(t0), 100);
        for _ in 0..10 {
            b.deposit(t0);
        }
        assert_eq!(b.available(t0), 102);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = |config| Budget::new(config).unwrap_err().to_string();
        assert_eq!(
            bad(BudgetConfig {
                ttl: Duration::from_millis(500),
                ..BudgetConfig::default()
            }),
            "invalid retry config: `ttl` must be between 1 s and 60 s"
        );
        assert_eq!(
            bad(BudgetConfig {
                retry_ratio: f32::NAN,
                ..BudgetConfig::default()
            }),
            "invalid retry config: `retry_ratio` must be between 0.0 and 1000.0"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Deposit,
        Withdraw,
    }

    proptest! {
        /// The module-level invariant, against a log of every event, checked at each
        /// allowed retry.
        #[test]
        fn retries_never_exceed_their_share(
            min_per_sec in 0_u32..4,
            ratio_milli in 0_u16..1500,
            ops in proptest::collection::vec(
                (prop_oneof![Just(Op::Deposit), Just(Op::Withdraw)], 0_u64..1_500),
                1..400,
            ),
        ) {
            let b = budget(min_per_sec, ratio_milli);
            let ttl = Duration::from_secs(10);
            let slot = ttl / 10;
            let t0 = Instant::now();
            let mut now = t0;
            let mut deposits: Vec<Instant> = Vec::new();
            let mut withdrawals: Vec<Instant> = Vec::new();
            for (op, step_ms) in ops {
                now += Duration::from_millis(step_ms);
                match op {
                    Op::Deposit => {
                        b.deposit(now);
                        deposits.push(now);
                        continue;
                    }
                    Op::Withdraw if b.try_withdraw(now) => withdrawals.push(now),
                    Op::Withdraw => continue,
                }
                // A retry was just allowed: check the share it was allowed against.
                let retried = withdrawals
                    .iter()
                    .filter(|t| now.duration_since(**t) <= ttl - slot)
                    .count() as i64;
                let first = deposits
                    .iter()
                    .filter(|t| now.duration_since(**t) < ttl)
                    .count() as i64;
                let share = (i64::from(min_per_sec) * 10 * ONE + i64::from(ratio_milli) * first) / ONE;
                prop_assert!(retried <= share, "{retried} retries > share {share} ({first} first attempts)");
            }
        }
    }
}
