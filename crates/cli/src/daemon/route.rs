//! One running route: a followed-files source into one sink, always through a spool in
//! the route's directory, stopped gracefully (close) or at once (abort) on request.

use super::ledger::RouteLedger;
use super::observer::Watch;
use super::plan::{RouteSource, RouteSpec, SinkArgs};
use crate::driver::Recorder;
use crate::progress::Progress;
use crate::summary::Summary;
use logferry::pipeline::{Control, Durable, Files, Follow, FrontConfig, Item, Sink};
use logferry::source::follow::{FollowConfig, Registry, StartAt};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What the daemon asks of a running route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Running,
    /// Read nothing new; finish or spool what is in flight.
    Closing,
    /// Stop now: what is in flight stays in the spool.
    Aborting,
}

/// Runs `spec` until the sink ends or `stage` says stop; returns its summary.
pub(crate) async fn run(
    spec: &RouteSpec,
    stage: watch::Receiver<Stage>,
    metrics: logferry_observe::Route,
) -> anyhow::Result<Summary> {
    let watch = RefCell::new(Watch::new(metrics));
    std::fs::create_dir_all(&spec.dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", spec.dir.display()))?;
    restrict(&spec.dir);
    if let RouteSource::Nats(source) = &spec.source {
        return super::bus::worker(spec, source, stage, &watch).await;
    }
    match &spec.sink {
        SinkArgs::HttpIngest(args) => {
            let built = crate::cmd_http_ingest::build(args)?;
            records(spec, &args.sender, built.sink, built.front, stage, &watch).await
        }
        SinkArgs::Sdl(args) => {
            let built = crate::cmd_sdl::build(args)?;
            records(spec, &args.sender, built.sink, built.front, stage, &watch).await
        }
        SinkArgs::FileUpload(args) => super::uploads::run(spec, args, stage, &watch).await,
        SinkArgs::Nats(args) => {
            let built = super::bus::build_sink(spec, args)?;
            records(spec, &args.sender, built.sink, built.front, stage, &watch).await
        }
    }
}

/// Follows the source's files into `sink` through the route's spool.
async fn records<S: Sink>(
    spec: &RouteSpec,
    sender: &crate::args::SenderArgs,
    sink: S,
    mut front: FrontConfig,
    stage: watch::Receiver<Stage>,
    observer: &RefCell<Watch>,
) -> anyhow::Result<Summary> {
    let opened = sender.open_spool_at(spec.dir.clone())?;
    let (primary, registry, net): (super::listen::Start, _, _) = match &spec.source {
        RouteSource::File(file) => {
            let registry_path = spec.dir.join("files.json");
            let registry = Registry::open(&registry_path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot open {}: {}",
                    registry_path.display(),
                    crate::exit::chain(&e)
                )
            })?;
            let registry = Arc::new(registry);
            let follow = Follow::new(follow_config(file), registry.clone());
            front.multiline = super::multiline(file)?;
            (
                Box::new(move |f| logferry::pipeline::Source::start(follow, f)),
                Some(registry),
                None,
            )
        }
        RouteSource::Listen(listener) => {
            let sdl = matches!(spec.sink, SinkArgs::Sdl(_));
            let (start, stats, stop) = super::listen::bind(spec, listener, sdl).await?;
            (start, None, Some((stats, stop)))
        }
        RouteSource::Nats(_) => anyhow::bail!("a nats route is a bus worker (`run` hands it over)"),
    };
    let source = Merged(
        primary,
        spec.heartbeat
            .map(|every| heartbeat(spec, front.format, every)),
    );
    let dead_letter = sender
        .dead_letter
        .clone()
        .unwrap_or_else(|| spec.dir.join("dead-letter.jsonl"));
    let mut progress = Progress::new(false);
    let mut recorder = Recorder::new(&sink, dead_letter, &mut progress);
    let durable = Durable::new(opened.spool.clone());
    let book = RefCell::new(RouteLedger::open(&spec.dir));
    let run = logferry::pipeline::run(source, &sink, front, Some(&durable), |e| {
        observer.borrow_mut().event(&e);
        book.borrow_mut().event(&e);
        recorder.event(e)
    });
    let tick = || {
        let stats = sink.stats();
        observer
            .borrow_mut()
            .tick(&stats, &opened.spool.stats(), registry.as_deref());
        if let Some((net, _)) = &net {
            observer.borrow_mut().net(&net.counts());
        }
        // Also while idle: the last events of a burst reach the file within a second.
        book.borrow_mut().write();
    };
    let run = ticking(run, &tick);
    // A listening source is stopped like an input that ends, and the sink is closed only
    // by the run itself once everything is spooled: what a syslog sender handed over is
    // never dropped on the way out.
    let ledger = until_stopped(&sink, stage, run, net.as_ref().map(|(_, stop)| stop)).await;
    tick();
    book.borrow_mut().write();
    log_ledger(spec, &book.borrow());
    if let Some((net, _)) = &net {
        tracing::info!("route {}: {}", spec.name, net.counts());
    }
    recorder.finish(sink.name(), ledger, Some(&opened))
}

/// The route's ledger, at its end: the numbers must add up.
pub(crate) fn log_ledger(spec: &RouteSpec, book: &RouteLedger) {
    let c = book.counts();
    tracing::info!(
        "route {}: ledger since its first run: read {} = delivered {} + rejected {} + invalid {} + pending {} (in the spool)",
        spec.name,
        c.read,
        c.delivered,
        c.rejected,
        c.invalid,
        c.pending()
    );
}

/// A route's source (followed files, a listener), with its sink's heartbeat when it has one.
struct Merged(super::listen::Start, Option<Files>);

impl logferry::pipeline::Source for Merged {
    fn start(self, front: FrontConfig) -> tokio::sync::mpsc::Receiver<Item> {
        let Merged(primary, Some(beat)) = self else {
            return (self.0)(front);
        };
        let (mut a, mut b) = (primary(front.clone()), beat.start(front.clone()));
        let (tx, rx) = tokio::sync::mpsc::channel(front.queue.max(1));
        tokio::spawn(async move {
            let (mut a_open, mut b_open) = (true, true);
            while a_open || b_open {
                let item = tokio::select! {
                    () = tx.closed() => return,
                    item = a.recv(), if a_open => item.or_else(|| { a_open = false; None }),
                    item = b.recv(), if b_open => item.or_else(|| { b_open = false; None }),
                };
                if let Some(item) = item
                    && tx.send(item).await.is_err()
                {
                    return;
                }
            }
        });
        rx
    }
}

/// A source of one heartbeat record every `every` (the first at once), for the SIEM to
/// alert on a host gone silent: a line of text, or a JSON object for JSON routes.
fn heartbeat(spec: &RouteSpec, format: logferry::framing::Format, every: Duration) -> Files {
    let host = logferry::sdl_transport::hostname();
    let sink = spec.from.0.name.clone();
    let line = move || match format {
        logferry::framing::Format::Json => serde_json::json!({
            "message": "logferry heartbeat",
            "host": host,
            "sink": sink,
            "interval_secs": every.as_secs(),
            "version": env!("CARGO_PKG_VERSION"),
        })
        .to_string(),
        _ => format!(
            "logferry heartbeat host={host} sink={sink} interval={}s version={}",
            every.as_secs(),
            env!("CARGO_PKG_VERSION")
        ),
    };
    let reader = Beats {
        every,
        next: std::time::Instant::now(),
        line: Box::new(line),
        pending: Vec::new(),
    };
    let name = format!("heartbeat of sink {}", spec.from.0.name);
    let source = logferry::source::Source::from_reader(
        name,
        reader,
        &logferry::source::SourceConfig::default(),
    );
    Files::new(vec![source], None)
}

/// A reader that yields one heartbeat line per period, blocking in between.
struct Beats {
    every: Duration,
    next: std::time::Instant,
    line: Box<dyn Fn() -> String + Send>,
    pending: Vec<u8>,
}

impl std::io::Read for Beats {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            std::thread::sleep(
                self.next
                    .saturating_duration_since(std::time::Instant::now()),
            );
            self.next += self.every;
            self.pending = format!("{}\n", (self.line)()).into_bytes();
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// Runs `work`, calling `tick` every second while it runs (metrics, ledger and status
/// files stay current even while the route is idle).
pub(crate) async fn ticking<T>(work: impl Future<Output = T>, tick: impl Fn()) -> T {
    let ticks = async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tick();
        }
    };
    tokio::select! {
        done = work => done,
        () = ticks => unreachable!("the ticker never ends"),
    }
}

/// Runs `work`, closing or aborting `control` as `stage` asks; with a listening
/// `source`, closing stops the source instead (the run ends when it has spooled all).
pub(crate) async fn until_stopped<T>(
    control: &dyn Control,
    mut stage: watch::Receiver<Stage>,
    work: impl Future<Output = T>,
    source: Option<&logferry::pipeline::net::Stop>,
) -> T {
    let follow = async {
        let mut closed = false;
        loop {
            match *stage.borrow_and_update() {
                Stage::Running => {}
                Stage::Closing if !closed => {
                    closed = true;
                    match source {
                        Some(source) => source.stop(),
                        None => control.close(),
                    }
                }
                Stage::Closing => {}
                Stage::Aborting => control.abort(),
            }
            if stage.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        biased;
        done = work => done,
        () = follow => unreachable!("the stage watcher never ends"),
    }
}

fn follow_config(source: &logferry_config::FileSource) -> FollowConfig {
    let mut config = FollowConfig {
        include: source.include.clone(),
        exclude: source.exclude.clone(),
        start_at: match source.start_at {
            logferry_config::StartAt::End => StartAt::End,
            _ => StartAt::Beginning,
        },
        ..FollowConfig::default()
    };
    if let Some(n) = source.max_open_files {
        config.max_open_files = n;
    }
    config
}

/// Owner-only permissions on a directory that holds records.
pub(crate) fn restrict(dir: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}
