//! The pipeline against the emulator over loopback: files through each sink, with and
//! without a spool, a stopping sink, and a consumer that stops the run; followed files
//! through rotation (`follow`).

#[cfg(unix)]
mod follow;
#[cfg(feature = "nats")]
mod nats;
mod net;

use logferry_emulator::{Emulator, Endpoint};
use logferry_framing::Format;
use logferry_http::{Client, ClientConfig, Secret};
use logferry_pipeline::{
    Control, Durable, Event, Files, FrontConfig, HttpIngestSink, Ledger, SdlJob, SdlSink,
};
use logferry_sdl::{SdlConfig, SdlSender};
use logferry_source::{CheckpointConfig, Checkpoints, Input, SourceConfig};
use logferry_spool::{Spool, SpoolConfig};
use logferry_taegis_ingest::{Ingest, IngestConfig};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

async fn emulator() -> Emulator {
    Emulator::builder()
        .plain_http()
        .seed(7)
        .start()
        .await
        .unwrap()
}

fn client() -> Client {
    Client::new(ClientConfig::default()).unwrap()
}

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| format!("line {i} of the pipeline test\n"))
        .collect()
}

/// The file at `path`, resumed from `checkpoints` when given.
fn files(path: &Path, checkpoints: Option<&Arc<Checkpoints>>) -> Files {
    let input = Input::File(path.to_path_buf());
    let opened =
        logferry_source::Source::open(&input, &SourceConfig::default(), checkpoints.map(|c| &**c))
            .unwrap();
    Files::new(vec![opened], checkpoints.cloned())
}

/// Small batches, so runs have many.
fn front(format: Format) -> FrontConfig {
    let mut front = FrontConfig::new(format);
    front.batching.target_bytes = 2_000;
    front.batching.max_bytes = 16_000;
    front
}

fn ingest(emu: &Emulator, key: &str) -> HttpIngestSink {
    let config = IngestConfig::new(emu.http_ingest_url().parse().unwrap(), Secret::new(key));
    HttpIngestSink::new(
        Ingest::new(client(), config).unwrap(),
        &front(Format::Text).batching,
    )
}

fn received(emu: &Emulator, endpoint: Endpoint) -> Vec<String> {
    let mut got: Vec<String> = emu
        .records()
        .into_iter()
        .filter(|r| r.endpoint == endpoint)
        .map(|r| r.text)
        .collect();
    got.sort();
    got
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn assert_balanced(ledger: &Ledger) {
    assert_eq!(
        ledger.read,
        ledger.delivered + ledger.rejected + ledger.invalid + ledger.undelivered(),
        "{ledger:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_ingest_delivers_every_valid_record_and_names_the_invalid_one() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut bytes = lines(3000).into_bytes();
    bytes.extend_from_slice(b"bad \xff byte\n");
    std::fs::write(&path, &bytes).unwrap();
    let sink = ingest(&emu, emu.http_ingest_key());
    let mut invalid = Vec::new();
    let ledger =
        logferry_pipeline::run(files(&path, None), &sink, front(Format::Text), None, |e| {
            if let Event::Invalid(lost) = e {
                invalid.push((lost.position.unwrap().line, lost.body.to_vec()));
            }
            ControlFlow::Continue(())
        })
        .await;
    assert_eq!(invalid, [(3001, b"bad \xff byte".to_vec())]);
    assert_eq!(
        (ledger.read, ledger.delivered, ledger.invalid),
        (3001, 3000, 1)
    );
    assert_eq!(ledger.undelivered(), 0);
    assert_balanced(&ledger);
    assert_eq!(
        received(&emu, Endpoint::HttpIngest),
        sorted_lines(&lines(3000))
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_stops_with_everything_spooled_and_a_rerun_delivers_exactly_once() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, lines(2000)).unwrap();
    let spool = Arc::new(Spool::open(dir.path().join("spool"), SpoolConfig::default()).unwrap());
    let checkpoints = Arc::new(Checkpoints::open(dir.path(), CheckpointConfig::default()).unwrap());
    let durable = Durable::new(spool.clone());

    let sink = ingest(&emu, "not-the-key-7f3a");
    let mut stopped = Vec::new();
    let ledger = logferry_pipeline::run(
        files(&path, Some(&checkpoints)),
        &sink,
        front(Format::Text),
        Some(&durable),
        |e| {
            if let Event::Stopped(why) = e {
                stopped.push(why.to_owned());
            }
            ControlFlow::Continue(())
        },
    )
    .await;
    assert_eq!(stopped.len(), 1, "the stop is reported once: {stopped:?}");
    assert!(stopped[0].contains("401"), "{stopped:?}");
    assert_eq!(ledger.delivered, 0);
    assert!(ledger.undelivered() > 0);
    assert_balanced(&ledger);
    assert!(spool.stats().entries > 0, "what was read is kept");
    assert!(received(&emu, Endpoint::HttpIngest).is_empty());
    // Requests by status, for `/metrics`: what the emulator answered.
    let by_status = |emu: &Emulator| {
        emu.stats().endpoints[&Endpoint::HttpIngest]
            .by_status
            .clone()
    };
    let stats = sink.stats();
    // The stop abandons a request still in flight: the emulator may have answered it
    // while the sender no longer read the answer. Every answer read is one it sent.
    let answered = by_status(&emu);
    for (code, n) in &stats.requests_by_status {
        assert!(
            answered.get(code).is_some_and(|a| n <= a),
            "{stats:?} vs {answered:?}"
        );
    }
    assert!(stats.requests_by_status.contains_key(&401), "{stats:?}");
    assert_eq!(stats.in_flight, 0);
    assert!(stats.concurrency_limit.is_some_and(|l| l >= 1));
    drop(sink);

    // The right key: the spool is replayed, the file resumes after what was spooled.
    let sink = ingest(&emu, emu.http_ingest_key());
    let ledger = logferry_pipeline::run(
        files(&path, Some(&checkpoints)),
        &sink,
        front(Format::Text),
        Some(&durable),
        |_| ControlFlow::Continue(()),
    )
    .await;
    assert!(ledger.replayed_entries > 0);
    assert_eq!(ledger.undelivered(), 0, "{ledger:?}");
    assert_eq!(ledger.read, 2000, "nothing read twice: {ledger:?}");
    assert_eq!(spool.stats().entries, 0, "every entry acknowledged");
    assert_eq!(
        received(&emu, Endpoint::HttpIngest),
        sorted_lines(&lines(2000))
    );
    // A new sink counts from zero: its 200s are all the emulator's 200s.
    let stats = sink.stats();
    assert_eq!(
        stats.requests_by_status.keys().collect::<Vec<_>>(),
        [&200],
        "{stats:?}"
    );
    assert_eq!(stats.requests_by_status[&200], by_status(&emu)[&200]);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sdl_events_are_delivered_and_a_record_that_is_no_event_is_reported() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let mut text: String = (0..500)
        .map(|i| {
            format!(
                "{{\"message\":\"event {i}\",\"ts\":\"2026-12-01T10:00:{:02}Z\"}}\n",
                i % 60
            )
        })
        .collect();
    text.push_str("{\"message\":\"bad\",\"ts\":\"yesterday-ish\"}\n");
    std::fs::write(&path, text).unwrap();
    let spool = Arc::new(Spool::open(dir.path().join("spool"), SpoolConfig::default()).unwrap());
    let durable = Durable::new(spool.clone());
    let mut config = SdlConfig::new(
        emu.sdl_url().parse().unwrap(),
        Secret::new(emu.sdl_api_key()),
    );
    config.pacing = logferry_sdl::Pacing::Off;
    let (sender, reports) = SdlSender::start_with_reports(client(), config).unwrap();
    // Strict: a time no parser understands makes the record no event (the default,
    // lenient, sends it with the read time instead).
    let job = SdlJob {
        format: Format::Json,
        parser: None,
        from_json: logferry_sdl_model::FromJsonConfig {
            lenient: false,
            ..Default::default()
        },
        shutdown_deadline: Duration::from_secs(10),
    };
    let sink = SdlSink::new(sender, reports, job);
    let mut invalid = Vec::new();
    let ledger = logferry_pipeline::run(
        files(&path, None),
        &sink,
        front(Format::Json),
        Some(&durable),
        |e| {
            if let Event::Invalid(lost) = e {
                invalid.push(lost.position.unwrap().line);
            }
            ControlFlow::Continue(())
        },
    )
    .await;
    assert_eq!(invalid, [501]);
    assert_eq!(
        (ledger.read, ledger.delivered, ledger.invalid),
        (501, 500, 1)
    );
    assert_balanced(&ledger);
    assert_eq!(
        spool.stats().entries,
        0,
        "entries are done once every event settled"
    );
    let expected: Vec<String> = {
        let mut v: Vec<String> = (0..500).map(|i| format!("event {i}")).collect();
        v.sort();
        v
    };
    assert_eq!(received(&emu, Endpoint::SdlAddEvents), expected);
    assert_eq!(emu.stats().max_concurrent_per_session(), 1);
    let stats = sink.stats();
    assert_eq!(
        stats.requests_by_status,
        emu.stats().endpoints[&Endpoint::SdlAddEvents].by_status
    );
    assert!(stats.requests_by_status[&200] > 0, "{stats:?}");
    // One request per session at a time: the limit is the sessions the server saw.
    assert_eq!(
        stats.concurrency_limit,
        Some(emu.stats().sdl_sessions.len() as u64)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_that_says_stop_ends_the_run_with_every_record_accounted_for() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let total = 200_000;
    std::fs::write(&path, lines(total)).unwrap();
    let sink = ingest(&emu, emu.http_ingest_key());
    let mut events_after_stop = 0;
    let mut stopping = false;
    let (mut handed_back, mut interrupted) = (0, None);
    let ledger =
        logferry_pipeline::run(files(&path, None), &sink, front(Format::Text), None, |e| {
            if stopping {
                events_after_stop += 1;
            }
            match &e {
                Event::Undelivered { lost, kept: false } => {
                    handed_back += lost.iter().map(|l| l.records).sum::<u64>();
                }
                Event::Interrupted { name, position } => {
                    interrupted = Some((name.to_string(), *position));
                }
                _ => {}
            }
            if let Event::Delivered { .. } = e {
                stopping = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .await;
    assert!(ledger.delivered > 0);
    assert!(
        ledger.read < total as u64,
        "reading stopped early: read {} of {total}",
        ledger.read
    );
    assert_balanced(&ledger);
    // Without a spool, every record read and not delivered is handed back (for the
    // dead-letter file), and the input says where reading stopped.
    assert_eq!(handed_back, ledger.undelivered(), "{ledger:?}");
    let (name, position) = interrupted.expect("the input was interrupted");
    assert!(name.ends_with("big.log"), "{name}");
    assert_eq!(
        position.line,
        ledger.read + 1,
        "every line before it was read"
    );
    // Requests abandoned on the wire may still have arrived (at least once): they are
    // counted undelivered, never lost; nothing arrives that the ledger does not hold.
    let arrived = received(&emu, Endpoint::HttpIngest).len() as u64;
    assert!(
        (ledger.delivered..=ledger.delivered + ledger.undelivered()).contains(&arrived),
        "{arrived} arrived, {ledger:?}"
    );
    // What was in flight is reported once, then the run ends.
    assert!(events_after_stop < 1_000, "{events_after_stop}");
    emu.shutdown().await;
}

/// [`Control`] for a test sink that has nothing to close or abort and never stops.
macro_rules! no_controls {
    ($sink:ty) => {
        impl Control for $sink {
            fn close(&self) {}
            fn abort(&self) {}
            fn stopped(&self) -> Option<String> {
                None
            }
            fn stats(&self) -> logferry_pipeline::SinkStats {
                logferry_pipeline::SinkStats::default()
            }
        }
    };
}

/// The `Sink` items of a test sink whose entries are the framed batches themselves.
macro_rules! batch_entries {
    ($name:literal) => {
        type Entry = logferry_framing::Batch;

        fn name(&self) -> &'static str {
            $name
        }

        fn records(&self, entry: &logferry_framing::Batch) -> u64 {
            entry.len() as u64
        }

        fn unsent<'e>(&self, _: &'e logferry_framing::Batch) -> Vec<logferry_pipeline::Lost<'e>> {
            Vec::new()
        }
    };
}

/// A sink whose first batch takes as long as the test says: its encoding waits until
/// `while_held` later batches have started encoding. Entries are the batches
/// themselves; shipping records their order.
struct HeldHead {
    while_held: usize,
    started: tokio::sync::watch::Sender<usize>,
    head: std::sync::Mutex<Option<u64>>,
    shipped: std::sync::Mutex<Vec<u64>>,
}

no_controls!(HeldHead);

impl logferry_pipeline::Sink for HeldHead {
    batch_entries!("held-head");

    async fn encode(&self, batch: logferry_framing::Batch) -> logferry_framing::Batch {
        let first = {
            let mut head = self.head.lock().unwrap();
            head.is_none().then(|| *head.insert(batch.seq())).is_some()
        };
        if first {
            let mut started = self.started.subscribe();
            started
                .wait_for(|n| *n >= self.while_held)
                .await
                .expect("the sink outlives its encodings");
        } else {
            self.started.send_modify(|n| *n += 1);
        }
        batch
    }

    async fn ship<'a>(
        &'a self,
        mut entries: futures_util::stream::LocalBoxStream<'a, (u64, logferry_framing::Batch)>,
        report: &'a mut dyn FnMut(logferry_pipeline::Report<'_>),
    ) {
        use futures_util::StreamExt;
        while let Some((id, batch)) = entries.next().await {
            self.shipped.lock().unwrap().push(batch.seq());
            report(logferry_pipeline::Report::Delivered {
                records: batch.len() as u64,
            });
            report(logferry_pipeline::Report::Done(id));
        }
    }
}

/// A batch whose compression is slow holds back only itself: the batches after it keep
/// starting and finishing on the other cores while it runs (issue 18: with the window
/// of finished batches the same size as the compressions running, a finished batch
/// held its place until the oldest was done, and the cores sat idle meanwhile). Order
/// is kept all the same: the slow batch is shipped first.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_batch_does_not_stop_the_batches_after_it_from_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.log");
    let total = 5_000;
    std::fs::write(&path, lines(total)).unwrap();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let sink = HeldHead {
        // More than the compressions running at once (two per core), fewer than the
        // window of finished batches waiting for the oldest (eight per core).
        while_held: cores * 4,
        started: tokio::sync::watch::channel(0).0,
        head: std::sync::Mutex::new(None),
        shipped: std::sync::Mutex::new(Vec::new()),
    };
    let run = logferry_pipeline::run(files(&path, None), &sink, front(Format::Text), None, |_| {
        ControlFlow::Continue(())
    });
    let ledger = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the first batch is still held: only {} batches after it started encoding",
                *sink.started.borrow()
            )
        });
    assert_eq!(ledger.delivered, total as u64, "{ledger:?}");
    assert_balanced(&ledger);
    let shipped = sink.shipped.lock().unwrap();
    assert!(shipped.len() > cores * 4, "{} batches", shipped.len());
    assert_eq!(shipped.first().copied(), *sink.head.lock().unwrap());
    assert!(
        shipped.windows(2).all(|w| w[0] < w[1]),
        "shipped out of order: {shipped:?}"
    );
}

/// A sink whose endpoint is down: it never takes an entry.
struct Down;

no_controls!(Down);

impl logferry_pipeline::Sink for Down {
    batch_entries!("down");

    async fn encode(&self, batch: logferry_framing::Batch) -> logferry_framing::Batch {
        batch
    }

    async fn ship<'a>(
        &'a self,
        entries: futures_util::stream::LocalBoxStream<'a, (u64, logferry_framing::Batch)>,
        _: &'a mut dyn FnMut(logferry_pipeline::Report<'_>),
    ) {
        let _held = entries;
        std::future::pending::<()>().await;
    }
}

/// A spool at `dir` that drops its oldest entries when full, holding `n` entries of one
/// record each, left by an earlier run.
fn spool_with(dir: &Path, n: u64) -> (Arc<Spool>, Durable) {
    use logferry_framing::{BatchConfig, Batcher, Position, Record};
    let config = SpoolConfig {
        when_full: logferry_spool::WhenFull::DropOldest,
        ..SpoolConfig::default()
    };
    let spool = Arc::new(Spool::open(dir, config).unwrap());
    let config = BatchConfig {
        target_bytes: 1,
        ..BatchConfig::default()
    };
    let mut batcher = Batcher::new(config, Some("left.log".into()));
    let mut batches = Vec::new();
    for i in 0..n {
        let record = Record {
            text: format!("left over {i:04}").into(),
            position: Position {
                offset: i * 15,
                line: i + 1,
            },
            source_len: 15,
            flags: Default::default(),
        };
        batcher.push(&record, std::time::Instant::now(), |b| batches.push(b));
    }
    batcher.flush(|b| batches.push(b));
    assert_eq!(batches.len() as u64, n);
    for batch in &batches {
        spool.append(&logferry_spool::Entry::encode(batch)).unwrap();
    }
    (spool.clone(), Durable::new(spool))
}

/// Routes replaying their spools into sinks that are down hold no thread of the blocking
/// pool while they wait: another route's compression still runs there. (A replay used
/// to wait for room on a blocking thread. A spool that blocks when full stops waiting
/// after a second and reads on into itself, but one that drops its oldest entries never
/// reads ahead of its sink: two such routes took a pool of two for good, and the route
/// into a working sink never compressed a batch.)
#[test]
fn routes_replaying_into_sinks_that_are_down_leave_the_blocking_pool_to_the_others() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let emu = emulator().await;
        let dir = tempfile::tempdir().unwrap();
        // More entries than a replay reads ahead, for each of the pool's threads.
        let stuck: Vec<(Arc<Spool>, Durable)> = (0..2)
            .map(|i| spool_with(&dir.path().join(format!("stuck-{i}")), 40))
            .collect();
        let stuck_runs = futures_util::future::join_all(stuck.iter().map(|(_, durable)| {
            logferry_pipeline::run(
                Files::new(Vec::new(), None),
                &Down,
                front(Format::Text),
                Some(durable),
                |_| ControlFlow::Continue(()),
            )
        }));
        let path = dir.path().join("app.log");
        std::fs::write(&path, lines(3000)).unwrap();
        let sink = ingest(&emu, emu.http_ingest_key());
        let fresh =
            logferry_pipeline::run(files(&path, None), &sink, front(Format::Text), None, |_| {
                ControlFlow::Continue(())
            });
        tokio::select! {
            _ = stuck_runs => panic!("a route into a sink that is down ended"),
            ledger = tokio::time::timeout(Duration::from_secs(30), fresh) => {
                let ledger = ledger.expect("the working route did not finish within 30 s");
                assert_eq!(ledger.delivered, 3000, "{ledger:?}");
                assert_balanced(&ledger);
            }
        }
        for (spool, _) in &stuck {
            assert_eq!(
                spool.stats().entries,
                40,
                "nothing acknowledged by a sink that is down"
            );
        }
        assert_eq!(
            received(&emu, Endpoint::HttpIngest),
            sorted_lines(&lines(3000))
        );
        emu.shutdown().await;
    });
}
