//! The Taegis HTTP Ingest sink: batches gzipped on the blocking pool, shipped by
//! [`Ingest`] with its concurrency, retries and 413 splits.

use crate::sink::{Control, Lost, Report, Sink, SinkStats};
use crate::source::FrontConfig;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use logferry_framing::{Batch, BatchConfig, Format, WireTarget};
use logferry_taegis_ingest::{DeliveryStatus, EncodedBatch, Ingest};
use std::borrow::Cow;
use std::sync::Arc;

/// Taegis HTTP Ingest as a [`Sink`].
///
/// With compression on, the batching target is the size of a request body *as sent*:
/// the HTTP Ingest contract recommends "request body size ≈ 100 KB", and a gzipped body
/// is several times smaller than its records, so raw batches follow the compression
/// ratio seen so far ([`WireTarget`]).
#[derive(Debug)]
pub struct HttpIngestSink {
    ingest: Ingest,
    wire_target: Option<Arc<WireTarget>>,
}

impl HttpIngestSink {
    /// The largest record by default: the contract's "Recommended maximum individual log
    /// record size: ≈ 500 KB".
    pub const MAX_RECORD_BYTES: usize = 500_000;

    /// How `format` input is cut for this sink: records of at most
    /// [`MAX_RECORD_BYTES`](Self::MAX_RECORD_BYTES); batches aimed at `wire_bytes` per
    /// request body as sent, with room for the raw batch behind a compressed body of that
    /// size (logs compress 3-6x at level 1), and never below 1 MB raw.
    pub fn front(format: Format, wire_bytes: usize) -> FrontConfig {
        let mut front = FrontConfig::new(format);
        front.framing.max_record_bytes = Self::MAX_RECORD_BYTES;
        front.batching.target_bytes = wire_bytes.max(1);
        front.batching.max_bytes = wire_bytes.max(1).saturating_mul(8).max(1_000_000);
        front
    }

    /// Ships through `ingest`; with compression on, raw batches aim at compressed bodies
    /// of `batching.target_bytes`, at most `batching.max_bytes` raw.
    pub fn new(ingest: Ingest, batching: &BatchConfig) -> HttpIngestSink {
        let wire_target = ingest
            .config()
            .compression
            .is_some()
            .then(|| Arc::new(WireTarget::new(batching.target_bytes, batching.max_bytes)));
        HttpIngestSink {
            ingest,
            wire_target,
        }
    }

    /// The sender.
    pub fn ingest(&self) -> &Ingest {
        &self.ingest
    }
}

impl Sink for HttpIngestSink {
    type Entry = EncodedBatch;

    fn name(&self) -> &'static str {
        "http-ingest"
    }

    fn wire_target(&self) -> Option<Arc<WireTarget>> {
        self.wire_target.clone()
    }

    async fn encode(&self, batch: Batch) -> EncodedBatch {
        let encoded = self.ingest.encode(batch).await;
        if let Some(target) = &self.wire_target {
            target.observe(encoded.raw_len(), encoded.body().len());
        }
        encoded
    }

    fn records(&self, entry: &EncodedBatch) -> u64 {
        u64::from(entry.records())
    }

    fn unsent<'e>(&self, entry: &'e EncodedBatch) -> Vec<Lost<'e>> {
        let range = entry.range();
        let (body, why) = match entry.raw() {
            Ok(body) => (body, String::new()),
            Err(e) => (
                Vec::new(),
                format!(" (and the batch cannot be decoded: {e})"),
            ),
        };
        vec![Lost {
            source: range.source_name.as_deref().map(Cow::Borrowed),
            position: Some(range.start),
            reason: Cow::Owned(format!("{range}: not sent before the sender stopped{why}")),
            records: u64::from(entry.records()),
            body: Cow::Owned(body),
            truncated: false,
        }]
    }

    async fn ship<'a>(
        &'a self,
        entries: LocalBoxStream<'a, (u64, EncodedBatch)>,
        report: &'a mut dyn FnMut(Report<'_>),
    ) {
        let batches = entries.map(|(id, batch)| batch.with_entry(id));
        self.ingest
            .ship(batches, |d| {
                let source = d.range.source_name.as_deref().map(Cow::Borrowed);
                match &d.status {
                    DeliveryStatus::Delivered => {
                        report(Report::Delivered {
                            records: u64::from(d.records),
                        });
                    }
                    DeliveryStatus::PartlyRejected(parts) => {
                        let rejected: u32 = parts.iter().map(|p| p.records).sum();
                        report(Report::Delivered {
                            records: u64::from(d.records.saturating_sub(rejected)),
                        });
                        let lost: Vec<Lost<'_>> = parts
                            .iter()
                            .map(|part| Lost {
                                source: source.clone(),
                                position: None,
                                reason: Cow::Owned(format!("{}: {}", part.label, part.reason)),
                                records: u64::from(part.records),
                                body: Cow::Borrowed(&part.body),
                                truncated: false,
                            })
                            .collect();
                        report(Report::Refused(&lost));
                    }
                    DeliveryStatus::NotDelivered(why) => {
                        let (body, reason) = match d.undelivered.as_ref().map(|b| b.raw()) {
                            Some(Ok(body)) => (body, format!("{}: {why}", d.range)),
                            Some(Err(e)) => (
                                Vec::new(),
                                format!(
                                    "{}: {why} (and the batch cannot be decoded: {e})",
                                    d.range
                                ),
                            ),
                            None => (Vec::new(), format!("{}: {why}", d.range)),
                        };
                        report(Report::Undelivered(&[Lost {
                            source,
                            position: Some(d.range.start),
                            reason: Cow::Owned(reason),
                            records: u64::from(d.records),
                            body: Cow::Owned(body),
                            truncated: false,
                        }]));
                        if let Some(wait) = d.retry_after {
                            report(Report::HoldOff(wait));
                        }
                        report(Report::Failed(d.entry));
                        return;
                    }
                    _ => return,
                }
                report(Report::Done(d.entry));
            })
            .await;
    }
}

impl Control for HttpIngestSink {
    fn close(&self) {
        self.ingest.close();
    }

    fn abort(&self) {
        self.ingest.abort();
    }

    fn stopped(&self) -> Option<String> {
        self.ingest.stopped().map(|r| r.to_string())
    }

    fn stats(&self) -> SinkStats {
        let s = self.ingest.stats();
        SinkStats {
            records_delivered: s.records_delivered,
            bytes_raw: s.raw_bytes,
            bytes_wire: s.wire_bytes,
            requests: s.requests,
            retries: s.retries,
            requests_by_status: s.requests_by_status,
            request_failures: s.request_failures,
            in_flight: s.in_flight,
            concurrency_limit: Some(s.concurrency_limit),
            ..SinkStats::default()
        }
    }
}
