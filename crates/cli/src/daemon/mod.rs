//! `logferry run`: many routes (a source into a sink) in one process, until SIGTERM or
//! SIGINT; SIGHUP reloads the configuration.
//!
//! Each sink gets a folder under `data_dir`, and each of its inputs a route with its own
//! spool, checkpoints and dead-letter file in `DATA_DIR/SINK/SOURCE`: a slow sink or a
//! busy input holds back nobody else beyond its own spool. Routes are futures polled by
//! the daemon's own task (the pipeline is single-task by design); compression, the
//! followers' threads and network I/O use the rest of the runtime.
//!
//! - **SIGTERM / SIGINT**: every route stops reading and finishes or spools what is in
//!   flight, within `shutdown_timeout`; then what is left is aborted (it stays in the
//!   spool for the next start). Exit 0.
//! - **SIGHUP**: the file is read again. An invalid file is refused with the reason and
//!   the running configuration kept. Routes whose sink and source are unchanged keep
//!   running untouched; removed or changed ones are closed (as on SIGTERM), added or
//!   changed ones started. A closed route's spool and checkpoints stay in its folder, so a
//!   changed route continues where the old one stopped.

pub(crate) mod bus;
mod ledger;
mod listen;
mod observer;
mod plan;
mod route;
mod systemd;
mod uploads;

use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
pub(crate) use ledger::load as load_ledger;
pub(crate) use plan::{RouteSpec, SinkArgs, plan, spool_records};
use route::Stage;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

use crate::exit::Exit;

/// A route the daemon started.
struct Running {
    from: (logferry_config::SinkConfig, logferry_config::SourceConfig),
    stage: watch::Sender<Stage>,
}

/// The routes' futures, polled by the daemon's own task; each ends with its name.
type Tasks = FuturesUnordered<LocalBoxFuture<'static, String>>;

/// Loads and checks `path` the way `run` and `validate` do.
pub(crate) fn load(path: &Path) -> anyhow::Result<(logferry_config::Config, Vec<RouteSpec>)> {
    let config = logferry_config::load(path).map_err(usage)?;
    let routes = plan(&config).map_err(usage)?;
    for route in &routes {
        route.check().map_err(|e| {
            anyhow::Error::new(crate::exit::UsageError(format!(
                "{}: sink `{}`: {e:#}",
                config.path.display(),
                route.from.0.name
            )))
        })?;
    }
    Ok((config, routes))
}

fn usage(e: logferry_config::ConfigError) -> anyhow::Error {
    anyhow::Error::new(crate::exit::UsageError(e.to_string()))
}

/// Runs the daemon until SIGTERM or SIGINT.
pub(crate) async fn run(path: &Path) -> anyhow::Result<Exit> {
    let (config, routes) = load(path)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        crate::exit::UsageError(format!(
            "cannot create data_dir {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let observe = logferry_observe::Observe::new(env!("CARGO_PKG_VERSION"));
    let _api = match &config.api {
        Some(api) => {
            observe.set_ready_max_age(api.ready_max_age);
            match logferry_observe::serve(observe.clone(), api.listen).await {
                Ok(server) => {
                    tracing::info!(
                        "serving /metrics, /health and /ready on http://{}",
                        server.local_addr()
                    );
                    Some(server)
                }
                Err(e) => crate::exit::usage!("{}", crate::exit::chain(&e)),
            }
        }
        None => None,
    };
    serve(path, config, routes, &observe).await
}

async fn serve(
    path: &Path,
    mut config: logferry_config::Config,
    routes: Vec<RouteSpec>,
    observe: &logferry_observe::Observe,
) -> anyhow::Result<Exit> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut tasks = Tasks::new();
    for spec in routes {
        start(&mut running, &mut tasks, spec, observe);
    }
    tracing::info!(
        routes = running.len(),
        config = %path.display(),
        "logferry run: started {}",
        running.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    systemd::ready();
    let mut watchdog = systemd::watchdog();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                systemd::reloading();
                match load(path) {
                    Ok((new, routes)) => {
                        reload(&mut running, &mut tasks, routes, observe).await;
                        config = new;
                        tracing::info!("configuration reloaded from {}", path.display());
                    }
                    Err(e) => tracing::error!(
                        "the new configuration is refused, the running one is kept: {e:#}"
                    ),
                }
                systemd::ready();
            }
            Some(name) = tasks.next(), if !tasks.is_empty() => {
                // A route that ended by itself (its sink stopped: a refused key, a wrong
                // URL) stays stopped until the next reload starts it again; the others
                // go on.
                running.remove(&name);
                tracing::error!("route {name} stopped; SIGHUP starts it again");
            }
            _ = tick(&mut watchdog) => systemd::alive(),
        }
    }
    systemd::stopping();
    tracing::warn!(
        "stopping: finishing what is in flight (up to {:?}); the rest stays in the spool",
        config.shutdown_timeout
    );
    let all: Vec<String> = running.keys().cloned().collect();
    stop(&mut running, &mut tasks, &all, config.shutdown_timeout).await;
    Ok(Exit::Success)
}

/// Starts `spec` among the daemon's tasks.
fn start(
    running: &mut BTreeMap<String, Running>,
    tasks: &mut Tasks,
    spec: RouteSpec,
    observe: &logferry_observe::Observe,
) {
    let (stage, watcher) = watch::channel(Stage::Running);
    let name = spec.name.clone();
    let from = spec.from.clone();
    let metrics = observe.route(&from.0.name, &from.1.name);
    tasks.push(
        async move {
            match route::run(&spec, watcher, metrics.clone()).await {
                Ok(summary) => tracing::info!("route {}: {}", spec.name, summary.render()),
                Err(e) => {
                    tracing::error!("route {} failed: {e:#}", spec.name);
                    metrics.set_state(logferry_observe::State::Stopped {
                        reason: format!("{e:#}"),
                    });
                }
            }
            spec.name
        }
        .boxed_local(),
    );
    running.insert(name, Running { from, stage });
}

/// Keeps unchanged routes, closes removed or changed ones, starts the new ones.
async fn reload(
    running: &mut BTreeMap<String, Running>,
    tasks: &mut Tasks,
    routes: Vec<RouteSpec>,
    observe: &logferry_observe::Observe,
) {
    let wanted: BTreeMap<&str, &RouteSpec> = routes.iter().map(|r| (r.name.as_str(), r)).collect();
    let closing: Vec<String> = running
        .iter()
        .filter(|(name, r)| {
            wanted
                .get(name.as_str())
                .is_none_or(|spec| spec.from != r.from)
        })
        .map(|(name, _)| name.clone())
        .collect();
    for name in &closing {
        tracing::info!("route {name}: removed or changed, closing it");
    }
    // A changed route reopens the old one's folder: the old one must be gone first.
    let gone: Vec<(String, String)> = closing
        .iter()
        .filter(|name| !wanted.contains_key(name.as_str()))
        .filter_map(|name| running.get(name))
        .map(|r| (r.from.0.name.clone(), r.from.1.name.clone()))
        .collect();
    stop(running, tasks, &closing, Duration::from_secs(30)).await;
    for (sink, source) in gone {
        observe.remove(&sink, &source);
    }
    for spec in routes {
        if !running.contains_key(&spec.name) {
            tracing::info!("route {}: starting", spec.name);
            start(running, tasks, spec, observe);
        }
    }
}

/// Closes the routes `names`, aborting them after `deadline`, and waits until they
/// ended; the other routes keep running meanwhile.
async fn stop(
    running: &mut BTreeMap<String, Running>,
    tasks: &mut Tasks,
    names: &[String],
    deadline: Duration,
) {
    let mut left: BTreeMap<String, Running> = names
        .iter()
        .filter_map(|n| running.remove(n).map(|r| (n.clone(), r)))
        .collect();
    for r in left.values() {
        let _ = r.stage.send(Stage::Closing);
    }
    let timer = tokio::time::sleep(deadline);
    tokio::pin!(timer);
    let mut aborted = false;
    while !left.is_empty() {
        tokio::select! {
            Some(name) = tasks.next(), if !tasks.is_empty() => {
                left.remove(&name);
            }
            () = &mut timer, if !aborted => {
                aborted = true;
                tracing::warn!("shutdown_timeout reached: abandoning what is in flight (it stays in the spool)");
                for r in left.values() {
                    let _ = r.stage.send(Stage::Aborting);
                }
            }
            else => break,
        }
    }
}

/// Ticks at the watchdog's interval, or never.
async fn tick(watchdog: &mut Option<tokio::time::Interval>) {
    match watchdog {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// What merged lines are joined with by default: the two characters `\` and `n`.
pub(crate) const MULTILINE_JOIN: &str = "\\n";

/// The multiline stage a source asks for, if any.
pub(crate) fn multiline(
    source: &logferry_config::FileSource,
) -> anyhow::Result<Option<logferry::framing::MultilineConfig>> {
    let Some(m) = &source.multiline else {
        return Ok(None);
    };
    #[allow(unreachable_patterns)]
    let rule = match &m.rule {
        logferry_config::MultilineRule::Start(p) => {
            logferry::framing::MultilineRule::Start(regex::Regex::new(p)?)
        }
        logferry_config::MultilineRule::Continue(p) => {
            logferry::framing::MultilineRule::Continue(regex::Regex::new(p)?)
        }
        _ => anyhow::bail!("unsupported multiline rule"),
    };
    // Batches are line-delimited, as HTTP Ingest text is ("Line-delimited log records,
    // one log record per newline-terminated line"): merged lines are joined with a
    // visible `\n` unless `join` says otherwise (`plan` refuses a line feed in it).
    let join = m.join.clone().unwrap_or_else(|| MULTILINE_JOIN.to_owned());
    Ok(Some(logferry::framing::MultilineConfig {
        rule,
        max_bytes: m.max_bytes,
        timeout: m.timeout,
        join,
    }))
}
