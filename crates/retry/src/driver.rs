//! The async driver: runs one request under a [`Policy`] and a shared [`Budget`], sleeping
//! on an injected [`Clock`], and reports every attempt and the end.

use crate::{Budget, Clock, Decision, Finish, GaveUp, Policy, Rng, Verdict};
#[cfg(feature = "tokio")]
use crate::{BudgetConfig, Config, Error};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What one attempt of the operation produced: its classification and whatever the caller
/// wants back (a response, a parsed body, an error, `()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<T> {
    /// The classification, from [`classify`](crate::classify).
    pub verdict: Verdict,
    /// The caller's value; the last one is returned in the [`Report`].
    pub value: T,
}

impl<T> Outcome<T> {
    /// Pairs a verdict with a value.
    pub fn new(verdict: Verdict, value: T) -> Outcome<T> {
        Outcome { verdict, value }
    }
}

/// One finished attempt, as shown to the `on_attempt` callback (for metrics and progress).
#[derive(Debug, Clone, Copy)]
pub struct AttemptInfo<'a> {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// How the attempt was classified.
    pub verdict: &'a Verdict,
    /// Time since the first attempt began, when this one ended.
    pub elapsed: Duration,
    /// The backoff before the next attempt, or `None` if the run ends here. A wait for the
    /// retry budget may follow the backoff.
    pub next_delay: Option<Duration>,
}

/// How a run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<T> {
    /// How it ended. [`Finish::Split`] and [`Finish::Reauthenticate`] are the caller's to
    /// act on: split the body, or refresh the credential, and run again.
    pub finish: Finish,
    /// Attempts made.
    pub attempts: u32,
    /// Time from the start of the first attempt to the end of the run.
    pub elapsed: Duration,
    /// Part of `elapsed` spent waiting for the retry budget.
    pub budget_wait: Duration,
    /// The last attempt's verdict.
    pub last_verdict: Verdict,
    /// The last attempt's value.
    pub value: T,
}

impl<T> Report<T> {
    /// True if the request was delivered.
    pub fn is_delivered(&self) -> bool {
        self.finish == Finish::Delivered
    }
}

/// Runs operations under a policy, sharing one retry budget.
///
/// One `Retrier` per sender (or per backend); [`run`](Retrier::run) takes `&self`, so
/// concurrent requests share it. The RNG sits behind a mutex held only to draw a delay.
#[derive(Debug)]
pub struct Retrier<C, R> {
    policy: Policy,
    budget: Arc<Budget>,
    clock: C,
    rng: Mutex<R>,
}

#[cfg(feature = "tokio")]
impl Retrier<crate::TokioClock, crate::FastRng> {
    /// A retrier on tokio's timer with an entropy-seeded RNG.
    pub fn standard(policy: Policy, budget: Arc<Budget>) -> Self {
        Retrier::new(policy, budget, crate::TokioClock, crate::FastRng::new())
    }

    /// The retrier a backend builds from its settings: a [`Policy`] from `config`, a new
    /// [`Budget`] from `budget` for this retrier's requests alone, tokio's timer and an
    /// entropy-seeded RNG.
    ///
    /// Fails when either config is out of range; a budget field is then named
    /// `budget.<field>` (`budget.ttl`, `budget.retry_ratio`), so one message tells which
    /// of the two configs to fix.
    ///
    /// ```
    /// use logferry_retry::{BudgetConfig, Config, Retrier};
    /// let retrier = Retrier::from_config(&Config::default(), BudgetConfig::default())?;
    /// assert_eq!(retrier.policy().config(), &Config::default());
    /// # Ok::<(), logferry_retry::Error>(())
    /// ```
    pub fn from_config(config: &Config, budget: BudgetConfig) -> Result<Self, Error> {
        let policy = Policy::new(config.clone())?;
        let budget = Budget::new(budget).map_err(|e| match e {
            Error::InvalidConfig { field, reason } => Error::InvalidConfig {
                field: budget_field(field),
                reason,
            },
            other => other,
        })?;
        Ok(Retrier::standard(policy, Arc::new(budget)))
    }
}

/// A [`BudgetConfig`] field's name as [`Retrier::from_config`] reports it.
#[cfg(feature = "tokio")]
fn budget_field(field: &'static str) -> &'static str {
    match field {
        "ttl" => "budget.ttl",
        "min_retries_per_sec" => "budget.min_retries_per_sec",
        "retry_ratio" => "budget.retry_ratio",
        other => other,
    }
}

impl<C: Clock, R: Rng> Retrier<C, R> {
    /// A retrier with an explicit clock and RNG (tests pass a paused clock and a seed).
    pub fn new(policy: Policy, budget: Arc<Budget>, clock: C, rng: R) -> Self {
        Retrier {
            policy,
            budget,
            clock,
            rng: Mutex::new(rng),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The shared budget.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// Runs `op` until a verdict other than [`Verdict::Retry`], or a stop condition.
    ///
    /// `op(n)` performs attempt `n` (1-based) and classifies it. After a retry verdict the
    /// driver sleeps the policy's delay, then takes a retry from the budget; if the budget
    /// is empty it waits [`Config::budget_recheck`](crate::Config::budget_recheck) and asks
    /// again (an exhausted budget delays, it never drops), giving up only if that would
    /// pass [`Stop::max_elapsed`](crate::Stop::max_elapsed). The run itself deposits one
    /// first attempt in the budget.
    ///
    /// `on_attempt` sees every attempt as it ends. Split and re-authenticate verdicts end
    /// the run and come back in the report: the caller acts and runs again. A
    /// [`Verdict::Stop`] ends it as [`GaveUp::Stopped`], with the attempt's value.
    pub async fn run<T, F, Fut>(
        &self,
        mut op: F,
        mut on_attempt: impl FnMut(&AttemptInfo<'_>),
    ) -> Report<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        let start = self.clock.now();
        self.budget.deposit(start);
        let recheck = self.policy.config().budget_recheck;
        let max_elapsed = self.policy.config().stop.max_elapsed;
        let mut budget_wait = Duration::ZERO;
        let mut attempt = 0_u32;
        loop {
            attempt = attempt.saturating_add(1);
            let Outcome { verdict, value } = op(attempt).await;
            let elapsed = self.clock.now().saturating_duration_since(start);
            let decision = {
                let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                self.policy
                    .decide(attempt, elapsed, &verdict, self.clock.wall(), &mut *rng)
            };
            let next_delay = match &decision {
                Decision::Retry(delay) => Some(*delay),
                Decision::Finish(_) => None,
            };
            on_attempt(&AttemptInfo {
                attempt,
                verdict: &verdict,
                elapsed,
                next_delay,
            });
            let report = |finish, elapsed, budget_wait, last_verdict, value| Report {
                finish,
                attempts: attempt,
                elapsed,
                budget_wait,
                last_verdict,
                value,
            };
            let delay = match decision {
                Decision::Finish(finish) => {
                    return report(finish, elapsed, budget_wait, verdict, value);
                }
                Decision::Retry(delay) => delay,
            };
            self.clock.sleep(delay).await;
            loop {
                let now = self.clock.now();
                if self.budget.try_withdraw(now) {
                    break;
                }
                let elapsed = now.saturating_duration_since(start);
                if let Some(max) = max_elapsed
                    && elapsed.saturating_add(recheck) > max
                {
                    let finish = Finish::GaveUp(GaveUp::MaxElapsed(max));
                    return report(finish, elapsed, budget_wait, verdict, value);
                }
                self.clock.sleep(recheck).await;
                budget_wait += recheck;
            }
        }
    }
}
