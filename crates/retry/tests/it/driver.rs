//! The `Retrier` under `#[tokio::test(start_paused = true)]`: exact sleeps from a seeded
//! RNG, Retry-After floors, stop conditions, fatal/split/reauth endings, budget waits.

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, StatusCode};
use logferry_retry::{
    AttemptInfo, Budget, BudgetConfig, Clock, Config, FastRng, Finish, GaveUp, Outcome, Policy,
    Report, Retrier, Stop, TokioClock, Verdict, classify,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::time::Instant as TokioInstant;

const SEED: u64 = 0x10f_e22e;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn policy(stop: Stop) -> Policy {
    Policy::new(Config {
        stop,
        ..Config::default()
    })
    .expect("valid policy")
}

fn retrier(policy: Policy, budget: Budget) -> Retrier<TokioClock, FastRng> {
    Retrier::new(
        policy,
        Arc::new(budget),
        TokioClock,
        FastRng::with_seed(SEED),
    )
}

/// A scripted HTTP Ingest server: reply `n` is `(status, Retry-After)`; the last repeats.
/// Returns the report, the paused-clock instant each attempt began (relative to the
/// start), and each attempt's `next_delay` as the callback saw it.
struct Run {
    report: Report<StatusCode>,
    starts: Vec<Duration>,
    delays: Vec<Option<Duration>>,
}

async fn run_http_ingest(
    retrier: &Retrier<TokioClock, FastRng>,
    script: &[(u16, Option<&'static str>)],
) -> Run {
    let t0 = TokioInstant::now();
    let starts = Mutex::new(Vec::new());
    let mut delays = Vec::new();
    let report = retrier
        .run(
            |attempt| {
                starts.lock().expect("not poisoned").push(t0.elapsed());
                let (code, retry_after) = script[(attempt as usize - 1).min(script.len() - 1)];
                async move {
                    let status = StatusCode::from_u16(code).expect("valid status");
                    let mut headers = HeaderMap::new();
                    if let Some(value) = retry_after {
                        headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
                    }
                    Outcome::new(classify::http_ingest(status, &headers), status)
                }
            },
            |info: &AttemptInfo<'_>| delays.push(info.next_delay),
        )
        .await;
    Run {
        report,
        starts: starts.into_inner().expect("not poisoned"),
        delays,
    }
}

#[tokio::test(start_paused = true)]
async fn sleeps_are_exactly_the_seeded_full_jitter_delays() {
    let policy = policy(Stop::never());
    let r = retrier(policy.clone(), Budget::default());
    let run = run_http_ingest(
        &r,
        &[
            (503, None),
            (500, None),
            (429, None),
            (408, None),
            (200, None),
        ],
    )
    .await;

    // The same seed through the same policy gives the delays the driver must have slept.
    let mut twin = FastRng::with_seed(SEED);
    let expected: Vec<Duration> = (1..=4).map(|a| policy.delay(a, None, &mut twin)).collect();
    let slept: Vec<Duration> = run.starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(slept, expected);
    assert_eq!(
        run.delays,
        expected
            .iter()
            .copied()
            .map(Some)
            .chain([None])
            .collect::<Vec<_>>()
    );
    // Full jitter: each delay within min(cap, 1 s * 2^(n-1)).
    for (n, delay) in expected.iter().enumerate() {
        assert!(*delay <= secs(1 << n), "retry {n}: {delay:?}");
    }
    assert_eq!(run.report.finish, Finish::Delivered);
    assert_eq!(run.report.attempts, 5);
    assert_eq!(run.report.elapsed, expected.iter().sum::<Duration>());
    assert_eq!(run.report.budget_wait, Duration::ZERO);
    assert_eq!(run.report.value, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_a_floor_even_above_the_cap() {
    let r = retrier(policy(Stop::never()), Budget::default());
    // 30 s is above attempt 1's 1 s bound; 300 s is above the 120 s cap.
    let run = run_http_ingest(&r, &[(429, Some("30")), (503, Some("300")), (200, None)]).await;
    assert_eq!(run.starts, [secs(0), secs(30), secs(330)]);
    assert_eq!(run.report.finish, Finish::Delivered);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_cut_at_the_ceiling() {
    let r = retrier(policy(Stop::never()), Budget::default());
    let run = run_http_ingest(&r, &[(503, Some("86400")), (200, None)]).await;
    assert_eq!(run.starts, [secs(0), secs(600)]);
}

/// tokio's timer for sleeping, a pinned wall clock for HTTP-dates.
struct PinnedWall {
    wall_at_start: SystemTime,
    start: TokioInstant,
}

impl Clock for PinnedWall {
    fn now(&self) -> Instant {
        TokioClock.now()
    }
    fn wall(&self) -> SystemTime {
        self.wall_at_start + self.start.elapsed()
    }
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        TokioClock.sleep(duration)
    }
}

#[tokio::test(start_paused = true)]
async fn http_date_retry_after_waits_until_that_date() {
    // 1994-11-06 08:49:37 UTC, 45 s before the date the server names.
    let wall_at_start = SystemTime::UNIX_EPOCH + secs(784_111_777 - 45);
    let clock = PinnedWall {
        wall_at_start,
        start: TokioInstant::now(),
    };
    let r = Retrier::new(
        policy(Stop::never()),
        Arc::new(Budget::default()),
        clock,
        FastRng::with_seed(SEED),
    );
    let t0 = TokioInstant::now();
    let report = r
        .run(
            |attempt| async move {
                let mut headers = HeaderMap::new();
                headers.insert(
                    RETRY_AFTER,
                    HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
                );
                let status = if attempt == 1 { 503 } else { 200 };
                let status = StatusCode::from_u16(status).expect("valid");
                Outcome::new(classify::http_ingest(status, &headers), ())
            },
            |_| {},
        )
        .await;
    assert_eq!(report.finish, Finish::Delivered);
    assert_eq!(t0.elapsed(), secs(45));
}

#[tokio::test(start_paused = true)]
async fn max_attempts_ends_the_run_with_a_report() {
    let r = retrier(policy(Stop::after_attempts(3)), Budget::default());
    let run = run_http_ingest(&r, &[(503, None)]).await;
    assert_eq!(run.report.finish, Finish::GaveUp(GaveUp::MaxAttempts(3)));
    assert_eq!(run.report.attempts, 3);
    assert!(run.report.last_verdict.is_retry());
    assert_eq!(run.delays.last(), Some(&None));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_ends_the_run_before_a_pointless_sleep() {
    let r = retrier(policy(Stop::after_elapsed(secs(100))), Budget::default());
    // 40 s + 40 s fit in 100 s; a third 40 s wait would not.
    let run = run_http_ingest(&r, &[(503, Some("40"))]).await;
    assert_eq!(
        run.report.finish,
        Finish::GaveUp(GaveUp::MaxElapsed(secs(100)))
    );
    assert_eq!(run.starts, [secs(0), secs(40), secs(80)]);
    assert_eq!(run.report.elapsed, secs(80));
}

#[tokio::test(start_paused = true)]
async fn fatal_ends_after_one_attempt_without_sleeping() {
    let r = retrier(policy(Stop::never()), Budget::default());
    let t0 = TokioInstant::now();
    let run = run_http_ingest(&r, &[(401, Some("5")), (200, None)]).await;
    assert_eq!(run.report.attempts, 1);
    assert_eq!(t0.elapsed(), Duration::ZERO);
    let Finish::GaveUp(GaveUp::Fatal(reason)) = &run.report.finish else {
        panic!("expected a fatal ending, got {:?}", run.report.finish);
    };
    assert_eq!(reason.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(reason.action(), "verify the integration key and URL pair");
    assert!(matches!(run.report.last_verdict, Verdict::Fatal { .. }));
}

#[tokio::test(start_paused = true)]
async fn split_and_reauthenticate_come_back_to_the_caller() {
    let r = retrier(policy(Stop::never()), Budget::default());
    let run = run_http_ingest(&r, &[(503, None), (413, None)]).await;
    assert_eq!(run.report.finish, Finish::Split);
    assert_eq!(run.report.attempts, 2);

    let report = r
        .run(
            |_| async {
                let verdict = classify::s3_put(
                    StatusCode::FORBIDDEN,
                    &HeaderMap::new(),
                    Some("AccessDenied"),
                );
                Outcome::new(verdict, ())
            },
            |_| {},
        )
        .await;
    assert_eq!(report.finish, Finish::Reauthenticate);
    assert_eq!(report.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn sdl_backoff_inside_a_200_is_retried() {
    let r = retrier(policy(Stop::never()), Budget::default());
    let report = r
        .run(
            |attempt| async move {
                let body_status = if attempt < 3 {
                    "error/server/backoff"
                } else {
                    "success"
                };
                let verdict =
                    classify::sdl(StatusCode::OK, &HeaderMap::new(), Some(body_status), None);
                Outcome::new(verdict, body_status)
            },
            |_| {},
        )
        .await;
    assert_eq!(report.finish, Finish::Delivered);
    assert_eq!(report.attempts, 3);
    assert_eq!(report.value, "success");
}

fn tight_budget() -> Budget {
    // A reserve of 10 retries per 10 s, nothing earned by traffic.
    Budget::new(BudgetConfig {
        ttl: secs(10),
        min_retries_per_sec: 1,
        retry_ratio: 0.0,
    })
    .expect("valid budget")
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_delays_the_retry_and_loses_nothing() {
    let r = retrier(policy(Stop::never()), tight_budget());
    let now = TokioClock.now();
    while r.budget().try_withdraw(now) {}
    let run = run_http_ingest(&r, &[(503, None), (200, None)]).await;

    assert_eq!(run.report.finish, Finish::Delivered);
    assert_eq!(run.report.attempts, 2);
    // The drained retries age out 10 s later; the driver rechecks every second.
    let backoff = run.delays[0].expect("first attempt retried");
    let retried_at = run.starts[1];
    assert!(
        retried_at >= secs(10) && retried_at < secs(11),
        "{retried_at:?}"
    );
    assert_eq!(run.report.budget_wait, retried_at - backoff);
    assert_eq!(run.report.budget_wait.subsec_nanos(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_respects_max_elapsed() {
    let r = retrier(policy(Stop::after_elapsed(secs(5))), tight_budget());
    let now = TokioClock.now();
    while r.budget().try_withdraw(now) {}
    let run = run_http_ingest(&r, &[(503, None)]).await;
    assert_eq!(
        run.report.finish,
        Finish::GaveUp(GaveUp::MaxElapsed(secs(5)))
    );
    assert_eq!(run.report.attempts, 1);
    assert!(run.report.elapsed <= secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_shared_budget_caps_a_fleet_of_failing_requests() {
    let r = Arc::new(retrier(
        policy(Stop::after_elapsed(secs(5))),
        tight_budget(),
    ));
    let attempts = Arc::new(Mutex::new(0_u32));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (r, attempts) = (Arc::clone(&r), Arc::clone(&attempts));
        tasks.spawn(async move {
            r.run(
                |_| {
                    *attempts.lock().expect("not poisoned") += 1;
                    async {
                        let status = StatusCode::SERVICE_UNAVAILABLE;
                        Outcome::new(classify::http_ingest(status, &HeaderMap::new()), ())
                    }
                },
                |_| {},
            )
            .await
        });
    }
    while let Some(report) = tasks.join_next().await {
        let report = report.expect("task finished");
        assert_eq!(report.finish, Finish::GaveUp(GaveUp::MaxElapsed(secs(5))));
    }
    // 20 first attempts, and retries limited to the 10-retry reserve within 5 s.
    let total = *attempts.lock().expect("not poisoned");
    assert!(total > 20, "some retries happen: {total}");
    assert!(total <= 30, "the budget allowed {} retries", total - 20);
}

#[test]
fn from_config_checks_both_configs_and_names_the_budget_fields() {
    let built = Retrier::from_config(
        &policy(Stop::after_attempts(3)).config().clone(),
        BudgetConfig::default(),
    )
    .expect("valid configs");
    assert_eq!(built.policy().config().stop, Stop::after_attempts(3));
    let bad_policy = Retrier::from_config(
        &Config {
            base: Duration::ZERO,
            ..Config::default()
        },
        BudgetConfig::default(),
    )
    .unwrap_err();
    assert_eq!(
        bad_policy.to_string(),
        "invalid retry config: `base` must be at least 1 ms"
    );
    let bad_budget = Retrier::from_config(
        &Config::default(),
        BudgetConfig {
            ttl: Duration::ZERO,
            ..BudgetConfig::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        bad_budget.to_string(),
        "invalid retry config: `budget.ttl` must be between 1 s and 60 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_run_with_the_attempts_value() {
    let r = retrier(policy(Stop::never()), Budget::default());
    let report = r
        .run(
            |attempt| async move {
                if attempt == 1 {
                    let status = StatusCode::SERVICE_UNAVAILABLE;
                    Outcome::new(classify::http_ingest(status, &HeaderMap::new()), "busy")
                } else {
                    Outcome::new(Verdict::Stop, "the file changed")
                }
            },
            |_| {},
        )
        .await;
    assert_eq!(report.finish, Finish::GaveUp(GaveUp::Stopped));
    assert_eq!(report.attempts, 2);
    assert_eq!(report.last_verdict, Verdict::Stop);
    assert_eq!(report.value, "the file changed");
}
