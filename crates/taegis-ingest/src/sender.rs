//! The sender: one integration, many batches, bounded concurrency.

use crate::report::IngestStats;
use crate::{
    Delivery, DeliveryStatus, EncodedBatch, Error, IngestConfig, NotDelivered, Rejected, StopReason,
};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, Stream, StreamExt};
use http::Response;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use logferry_compress::Encoding;
use logferry_http::error_chain as chain;
use logferry_http::{Client, RequestCounts, authorization, full};
use logferry_retry::{
    FastRng, Finish, GaveUp, Outcome, Retrier, RetryCause, TokioClock, TransportFailure, Verdict,
    classify,
};
use std::sync::Arc;
use std::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// An HTTP Ingest sender for one integration. Cheap to clone; clones share the retry
/// budget, the stop signal and the statistics.
///
/// Several integrations (the contract advises "one integration per logical data source")
/// are several `Ingest`s, which can share one [`Client`] and its connection pool.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: IngestConfig,
    auth: HeaderValue,
    retrier: Retrier<TokioClock, FastRng>,
    stop: watch::Sender<Option<StopReason>>,
    /// Set by [`Ingest::close`]: no new attempt, requests on the wire finish.
    closing: watch::Sender<bool>,
    counters: Counters,
    limit: Limit,
    pacer: Option<Pacer>,
}

/// The adaptive limit on requests in flight (AIMD, as TCP congestion control): halved on
/// a sign of overload, one more after as many deliveries in a row as the limit (about
/// one more per round trip of the whole window). It bounds both the batches
/// [`Ingest::ship`] takes and the attempts on the wire (retries of batches taken before
/// a cut wait for a place). Atomics on the hot path; a [`Notify`] only when a request
/// waits for a place.
struct Limit {
    current: AtomicUsize,
    max: usize,
    adaptive: bool,
    /// Deliveries since the last change.
    successes: AtomicUsize,
    /// Attempts on the wire (adaptive only).
    active: AtomicUsize,
    /// Attempts waiting for a place.
    waiting: AtomicUsize,
    wake: Notify,
}

/// A place among the attempts on the wire; freed on drop.
struct Place<'a>(Option<&'a Limit>);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Some(limit) = self.0 {
            limit.active.fetch_sub(1, SeqCst);
            limit.wake_waiters();
        }
    }
}

impl Limit {
    fn new(max: usize, adaptive: bool) -> Limit {
        Limit {
            current: AtomicUsize::new(max),
            max,
            adaptive,
            successes: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            wake: Notify::new(),
        }
    }

    fn get(&self) -> usize {
        self.current.load(Relaxed)
    }

    fn wake_waiters(&self) {
        if self.waiting.load(SeqCst) > 0 {
            self.wake.notify_waiters();
        }
    }

    /// Waits for a place on the wire under the current limit.
    async fn place(&self) -> Place<'_> {
        if !self.adaptive {
            // `ship` takes at most `concurrency` batches, each with one attempt at a time.
            return Place(None);
        }
        loop {
            let active = self.active.load(SeqCst);
            if active < self.get() {
                if self
                    .active
                    .compare_exchange(active, active + 1, SeqCst, SeqCst)
                    .is_ok()
                {
                    return Place(Some(self));
                }
                continue;
            }
            let notified = self.wake.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            self.waiting.fetch_add(1, SeqCst);
            if self.active.load(SeqCst) >= self.get() {
                notified.await;
            }
            self.waiting.fetch_sub(1, SeqCst);
        }
    }

    fn delivered(&self) {
        if !self.adaptive {
            return;
        }
        let current = self.get();
        if current >= self.max {
            return;
        }
        if self.successes.fetch_add(1, Relaxed) + 1 >= current {
            self.successes.store(0, Relaxed);
            let _ = self
                .current
                .fetch_update(Relaxed, Relaxed, |l| (l < self.max).then_some(l + 1));
            self.wake_waiters();
        }
    }

    fn overloaded(&self) {
        if !self.adaptive {
            return;
        }
        self.successes.store(0, Relaxed);
        let _ = self
            .current
            .fetch_update(Relaxed, Relaxed, |l| (l > 1).then_some(l / 2));
    }
}

/// Paces requests to a byte rate: each reserves its body's time on a shared schedule
/// (the generic cell rate algorithm, no burst allowance) and waits for its turn.
struct Pacer {
    origin: Instant,
    /// Nanoseconds since `origin` at which the schedule is free.
    free_at: AtomicU64,
    bytes_per_sec: u64,
}

impl Pacer {
    /// How long a request of `bytes` waits before it may go on the wire.
    fn reserve(&self, bytes: usize) -> Duration {
        let now = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let cost = u64::try_from(
            u128::from(bytes as u64) * 1_000_000_000 / u128::from(self.bytes_per_sec),
        )
        .unwrap_or(u64::MAX);
        let previous = self
            .free_at
            .fetch_update(Relaxed, Relaxed, |free| {
                Some(free.max(now).saturating_add(cost))
            })
            .unwrap_or(now);
        Duration::from_nanos(previous.max(now) - now)
    }
}

/// Whether a verdict says the endpoint is overloaded: 429 ("SHOULD be retried with
/// backoff and reduced concurrency or batch size"), 503, or a timeout.
fn overload(verdict: &Verdict) -> bool {
    match verdict {
        Verdict::Retry { cause, .. } => match cause {
            RetryCause::Status(s) | RetryCause::Reported { status: s, .. } => {
                matches!(s.as_u16(), 429 | 503)
            }
            RetryCause::Transport(TransportFailure::Timeout) => true,
            _ => false,
        },
        _ => false,
    }
}

#[derive(Default)]
struct Counters {
    batches_delivered: AtomicU64,
    records_delivered: AtomicU64,
    records_rejected: AtomicU64,
    batches_failed: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    splits: AtomicU64,
    raw_bytes: AtomicU64,
    wire_bytes: AtomicU64,
    throttled: AtomicU64,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// How one request (one part of a batch) ended.
enum PartEnd {
    Delivered,
    Split,
    Rejected(String),
    Stopped(StopReason),
    /// Why, and the last answer's `Retry-After`.
    GaveUp(String, Option<std::time::Duration>),
}

impl Ingest {
    /// A sender for the integration in `config`, sending through `client`.
    pub fn new(client: Client, config: IngestConfig) -> Result<Ingest, Error> {
        if config.concurrency == 0 {
            return Err(Error::Config("concurrency must be at least 1".into()));
        }
        if config.key.is_empty() {
            return Err(Error::Config("the integration key is empty".into()));
        }
        let auth = authorization(config.auth.as_str(), &config.key)?;
        let retrier = Retrier::from_config(&config.retry, config.budget)
            .map_err(|e| Error::Config(format!("retry: {e}")))?;
        let limit = Limit::new(config.concurrency, config.adaptive_concurrency);
        let client = client.counted(Arc::new(RequestCounts::default()));
        let pacer = config.rate.map(|rate| Pacer {
            origin: Instant::now(),
            free_at: AtomicU64::new(0),
            bytes_per_sec: rate.get(),
        });
        Ok(Ingest {
            inner: Arc::new(Inner {
                limit,
                pacer,
                client,
                config,
                auth,
                retrier,
                stop: watch::Sender::new(None),
                closing: watch::Sender::new(false),
                counters: Counters::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &IngestConfig {
        &self.inner.config
    }

    /// Closes the sender gently: no new request is made, while requests already on the
    /// wire get their answer (within the request timeout), so a batch the endpoint is
    /// accepting is not sent again later. Batches not delivered come back
    /// [`NotDelivered`] with [`StopReason::Requested`]. [`Ingest::abort`] after this
    /// abandons what is still in flight.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Stops the sender: requests in flight are abandoned (their batches come back
    /// [`NotDelivered`]) and no new request is made.
    pub fn abort(&self) {
        self.stop_with(StopReason::Requested);
    }

    /// Records why the sender stops, unless it already stopped (the first reason stays).
    fn stop_with(&self, reason: StopReason) {
        self.inner.stop.send_if_modified(|r| {
            let first = r.is_none();
            if first {
                *r = Some(reason);
            }
            first
        });
    }

    /// Why the sender stopped, if it did (a 401/403, a 404/410, or [`Ingest::abort`]).
    pub fn stopped(&self) -> Option<StopReason> {
        self.inner.stop.borrow().clone()
    }

    /// Totals so far.
    pub fn stats(&self) -> IngestStats {
        let c = &self.inner.counters;
        let http = self.inner.client.counts();
        IngestStats {
            batches_delivered: c.batches_delivered.load(Relaxed),
            records_delivered: c.records_delivered.load(Relaxed),
            records_rejected: c.records_rejected.load(Relaxed),
            batches_failed: c.batches_failed.load(Relaxed),
            requests: c.requests.load(Relaxed),
            retries: c.retries.load(Relaxed),
            splits: c.splits.load(Relaxed),
            raw_bytes: c.raw_bytes.load(Relaxed),
            wire_bytes: c.wire_bytes.load(Relaxed),
            throttled: c.throttled.load(Relaxed),
            concurrency_limit: self.inner.limit.get() as u64,
            requests_by_status: http.map(|h| h.by_status()).unwrap_or_default(),
            request_failures: http.map_or(0, |h| h.failures()),
            in_flight: http.map_or(0, |h| h.in_flight()),
        }
    }

    /// Encodes a framed batch with this sender's compression setting.
    pub async fn encode(&self, batch: logferry_framing::Batch) -> EncodedBatch {
        EncodedBatch::encode(batch, self.inner.config.compression).await
    }

    /// Sends one batch to the end: retried under the policy, split in halves on 413
    /// until every part is accepted or is a single record the endpoint refuses, parts
    /// refused with 400 handed back for the dead-letter file.
    pub async fn deliver(&self, batch: EncodedBatch) -> Delivery {
        let mut delivery = Delivery {
            seq: batch.seq(),
            range: batch.range().clone(),
            records: batch.records(),
            status: DeliveryStatus::Delivered,
            requests: 0,
            retries: 0,
            entry: batch.entry(),
            undelivered: None,
            retry_after: None,
        };
        // Cheap: the body is reference-counted.
        let original = batch.clone();
        let counters = &self.inner.counters;
        let mut rejected = Vec::new();
        // Whether some part was delivered or refused: then what is left is not the
        // original batch but `part` and `parts`.
        let mut progressed = false;
        // Parts still to send, last first.
        let mut parts = vec![batch];
        while let Some(part) = parts.pop() {
            let (end, attempts) = self.send_part(&part).await;
            delivery.requests += attempts;
            delivery.retries += attempts.saturating_sub(1);
            match end {
                PartEnd::Delivered => {
                    progressed = true;
                    counters
                        .records_delivered
                        .fetch_add(u64::from(part.records()), Relaxed);
                    counters.raw_bytes.fetch_add(part.raw_len() as u64, Relaxed);
                    counters
                        .wire_bytes
                        .fetch_add(part.body().len() as u64, Relaxed);
                }
                PartEnd::Split => {
                    counters.splits.fetch_add(1, Relaxed);
                    let raw_len = part.raw_len();
                    let label = part.label();
                    match part.split(self.inner.config.compression).await {
                        Ok(Ok((left, right))) => {
                            tracing::info!(batch = %label, "413 payload too large: sending the batch in two halves");
                            parts.push(right);
                            parts.push(left);
                        }
                        Ok(Err(single)) => {
                            let reason = format!(
                                "the endpoint answered 413 Payload Too Large for a single record of {raw_len} bytes; \
                                 it cannot be split further (lower the maximum record size)"
                            );
                            tracing::error!(record = %label, "{reason}");
                            progressed = true;
                            rejected.push(self.reject(&single, reason));
                        }
                        Err(e) => {
                            let reason = format!("cannot split the batch after a 413: {e}");
                            return self.failed(delivery, original, NotDelivered::Broken(reason));
                        }
                    }
                }
                PartEnd::Rejected(reason) => {
                    tracing::error!(batch = %part.label(), "{reason}");
                    progressed = true;
                    rejected.push(self.reject(&part, reason));
                }
                PartEnd::Stopped(reason) => {
                    let left = self.left(original, progressed, part, parts).await;
                    return self.failed(delivery, left, NotDelivered::Stopped(reason));
                }
                PartEnd::GaveUp(why, retry_after) => {
                    let left = self.left(original, progressed, part, parts).await;
                    delivery.retry_after = retry_after;
                    return self.failed(delivery, left, NotDelivered::GaveUp(why));
                }
            }
        }
        if rejected.is_empty() {
            counters.batches_delivered.fetch_add(1, Relaxed);
        } else {
            delivery.status = DeliveryStatus::PartlyRejected(rejected);
        }
        delivery
    }

    /// What a batch that cannot be finished still owes: the original when nothing of it
    /// was delivered or refused yet, else the parts not sent, made one batch again (so
    /// records already delivered or dead-lettered as refused are not handed back twice).
    async fn left(
        &self,
        original: EncodedBatch,
        progressed: bool,
        part: EncodedBatch,
        mut parts: Vec<EncodedBatch>,
    ) -> EncodedBatch {
        if !progressed {
            return original;
        }
        parts.push(part);
        parts.reverse();
        match EncodedBatch::rejoin(parts, self.inner.config.compression).await {
            Ok(left) => left,
            Err(e) => {
                tracing::warn!(
                    "cannot rejoin the parts left of a batch ({e}); handing back all of it"
                );
                original
            }
        }
    }

    fn failed(
        &self,
        mut delivery: Delivery,
        original: EncodedBatch,
        why: NotDelivered,
    ) -> Delivery {
        self.inner.counters.batches_failed.fetch_add(1, Relaxed);
        delivery.status = DeliveryStatus::NotDelivered(why);
        delivery.undelivered = Some(original);
        delivery
    }

    fn reject(&self, part: &EncodedBatch, reason: String) -> Rejected {
        self.inner
            .counters
            .records_rejected
            .fetch_add(u64::from(part.records()), Relaxed);
        Rejected {
            label: part.label(),
            reason,
            records: part.records(),
            body: part
                .raw()
                .unwrap_or_else(|e| format!("<stored body unreadable: {e}>\n").into_bytes()),
        }
    }

    /// One part under the retry policy, abandoned if the sender stops.
    async fn send_part(&self, part: &EncodedBatch) -> (PartEnd, u32) {
        let inner = &*self.inner;
        let mut stop = inner.stop.subscribe();
        if let Some(reason) = stop.borrow_and_update().clone() {
            return (PartEnd::Stopped(reason), 0);
        }
        if *inner.closing.borrow() {
            return (PartEnd::Stopped(StopReason::Requested), 0);
        }
        let attempts = AtomicU64::new(0);
        // Whether a request is on the wire (not between attempts).
        let (in_flight, mut flight) = watch::channel(false);
        let run = inner.retrier.run(
            |_| {
                attempts.fetch_add(1, Relaxed);
                inner.counters.requests.fetch_add(1, Relaxed);
                let in_flight = &in_flight;
                async move {
                    let _place = inner.limit.place().await;
                    if let Some(pacer) = &inner.pacer {
                        let wait = pacer.reserve(part.body().len());
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    in_flight.send_replace(true);
                    let outcome = self.attempt(part).await;
                    in_flight.send_replace(false);
                    outcome
                }
            },
            |info| {
                if info.attempt > 1 {
                    inner.counters.retries.fetch_add(1, Relaxed);
                }
                if *info.verdict == Verdict::Delivered {
                    inner.limit.delivered();
                } else if overload(info.verdict) {
                    inner.counters.throttled.fetch_add(1, Relaxed);
                    inner.limit.overloaded();
                }
                if let Some(delay) = info.next_delay {
                    tracing::info!(batch = %part.label(), attempt = info.attempt, verdict = %info.verdict, ?delay, "HTTP Ingest request will be retried");
                }
            },
        );
        let mut run = std::pin::pin!(run);
        let mut closing = inner.closing.subscribe();
        let stopped = |reason: Option<StopReason>| {
            let reason = reason.unwrap_or(StopReason::Requested);
            (PartEnd::Stopped(reason), attempts.load(Relaxed) as u32)
        };
        let report = tokio::select! {
            report = &mut run => report,
            _ = stop.wait_for(Option::is_some) => return stopped(self.stopped()),
            _ = closing.wait_for(|c| *c) => {
                // A request on the wire gets its answer: the endpoint may be accepting
                // it, and abandoning it would send its records again. No new attempt.
                let mut stop = inner.stop.subscribe();
                tokio::select! {
                    biased;
                    report = &mut run => report,
                    _ = stop.wait_for(Option::is_some) => return stopped(self.stopped()),
                    _ = flight.wait_for(|on_the_wire| !*on_the_wire) => return stopped(None),
                }
            }
        };
        let attempts = report.attempts;
        let end = match report.finish {
            Finish::Delivered => PartEnd::Delivered,
            Finish::Split => PartEnd::Split,
            Finish::GaveUp(GaveUp::Fatal(reason)) => {
                let mut message = reason.to_string();
                if let Some(body) = report.value.as_ref().ok().and_then(|r| excerpt(r.body())) {
                    message.push_str(&format!(" (server said: {body})"));
                }
                let reason = if classify::credentials_refused(&reason) {
                    StopReason::Unauthorized { message }
                } else if classify::url_refused(&reason) {
                    let url = inner.config.url.to_string();
                    let message = format!(
                        "{message}; check the integration URL {url}: the path may be mistyped, or the integration deleted"
                    );
                    StopReason::WrongUrl { url, message }
                } else {
                    return (PartEnd::Rejected(message), attempts);
                };
                tracing::error!(
                    "stopping the HTTP Ingest sender for {}: {reason}",
                    inner.config.url
                );
                self.stop_with(reason.clone());
                PartEnd::Stopped(reason)
            }
            // The HTTP Ingest table has no re-authentication row; a key is either valid
            // or refused.
            Finish::Reauthenticate => {
                PartEnd::GaveUp("unexpected re-authentication verdict".into(), None)
            }
            Finish::GaveUp(GaveUp::Stopped) => match report.value {
                Err(e) if e.is_certificate() => {
                    let reason = StopReason::UntrustedCertificate {
                        message: e.to_string(),
                    };
                    tracing::error!("stopping the HTTP Ingest sender: {reason}");
                    self.stop_with(reason.clone());
                    PartEnd::Stopped(reason)
                }
                Err(e) => PartEnd::GaveUp(format!("the request could not be made: {e}"), None),
                Ok(_) => PartEnd::GaveUp(format!("stopped; last: {}", report.last_verdict), None),
            },
            Finish::GaveUp(other) => {
                let retry_after = report
                    .last_verdict
                    .retry_after(std::time::SystemTime::now());
                PartEnd::GaveUp(
                    format!(
                        "{other:?} after {attempts} attempts; last: {}",
                        report.last_verdict
                    ),
                    retry_after,
                )
            }
        };
        (end, attempts)
    }

    /// One HTTP request, classified.
    ///
    /// A transport failure that will be retried (connection refused or reset, a timeout)
    /// is a warning with its cause, so an unreachable endpoint is visible at the default
    /// verbosity while the sender keeps trying.
    async fn attempt(
        &self,
        part: &EncodedBatch,
    ) -> Outcome<Result<Response<Bytes>, logferry_http::Error>> {
        let inner = &*self.inner;
        let mut request = inner
            .client
            .request(http::Method::POST, &inner.config.url)
            .header(AUTHORIZATION, inner.auth.clone())
            .header(CONTENT_TYPE, inner.config.content_type.as_str());
        if part.encoding() == Encoding::Gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let classify = |response: Response<Bytes>| {
            let verdict = classify::http_ingest(response.status(), response.headers());
            Outcome::new(verdict, Ok(response))
        };
        let failed = |e: logferry_http::Error| {
            if e.is_retryable() {
                tracing::warn!(
                    batch = %part.label(),
                    "HTTP Ingest request failed, will retry: {}",
                    chain(&e)
                );
            }
            Err(e)
        };
        inner
            .client
            .exchange(request, full(part.body().clone()), None, classify, failed)
            .await
    }

    /// Sends batches from `batches` with up to `concurrency` in flight (fewer while the
    /// adaptive limit is cut, see [`IngestConfig::adaptive_concurrency`]), calling
    /// `on_delivery` as each one ends (in completion order: track acknowledgements with
    /// [`logferry_framing::AckTracker`]). Returns when the stream ends and every batch is
    /// reported, or once the sender stops or is closed and what it took is reported (the
    /// remaining batches are not taken), even while the stream is waiting for input.
    pub async fn ship<S>(&self, batches: S, mut on_delivery: impl FnMut(Delivery))
    where
        S: Stream<Item = EncodedBatch>,
    {
        let mut batches = std::pin::pin!(batches);
        let mut in_flight = FuturesUnordered::new();
        let mut exhausted = false;
        let mut stop = self.inner.stop.subscribe();
        let mut closing = self.inner.closing.subscribe();
        loop {
            let ending = self.inner.stop.borrow().is_some() || *self.inner.closing.borrow();
            let can_take = !exhausted && !ending && in_flight.len() < self.inner.limit.get();
            if !can_take && in_flight.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                Some(delivery) = in_flight.next(), if !in_flight.is_empty() => on_delivery(delivery),
                next = batches.next(), if can_take => match next {
                    Some(batch) => in_flight.push(self.deliver(batch)),
                    None => exhausted = true,
                },
                // Wake to re-check when the sender stops or closes while input is idle.
                _ = stop.changed(), if can_take => {}
                _ = closing.changed(), if can_take => {}
            }
        }
    }
}

/// A short, printable excerpt of an error response body.
fn excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
