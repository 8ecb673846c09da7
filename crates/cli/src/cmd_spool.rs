//! `logferry spool verify|repair --config FILE`: check every route's spool under
//! `data_dir` for corruption, and move corrupt entries into quarantine.

use crate::daemon::{RouteSpec, SinkArgs};
use crate::exit::Exit;
use clap::{Args, Subcommand};
use logferry::spool::Entry;
use std::io::Write;
use std::path::PathBuf;

/// Inspect or repair the spools of a `logferry run` configuration.
#[derive(Debug, Args)]
pub(crate) struct SpoolArgs {
    #[command(subcommand)]
    pub(crate) action: SpoolAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SpoolAction {
    /// Read every spool (safe while the daemon runs; changes nothing): exit 0 when all
    /// are healthy, 1 naming each corrupt file, offset, and the entries and records
    /// affected.
    Verify {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Move corrupt entries into `quarantine/` beside each spool (never deleted), so the
    /// next run delivers everything else. The daemon must be stopped.
    Repair {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

pub(crate) fn run(args: &SpoolArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let (repair, config) = match &args.action {
        SpoolAction::Verify { config } => (false, config),
        SpoolAction::Repair { config } => (true, config),
    };
    let (_, routes) = crate::daemon::load(config)?;
    let mut healthy = true;
    for route in &routes {
        let Some(records) = counter(route) else {
            continue; // whole-file uploads keep no spool entries
        };
        if !route.dir.join("spool.lock").exists() {
            writeln!(
                out,
                "{}: no spool yet ({} has never run)",
                route.name, route.name
            )?;
            continue;
        }
        if repair {
            match logferry::spool::repair_with(&route.dir, records) {
                Ok(r) => writeln!(out, "{}: {r}", route.name)?,
                Err(logferry::spool::Error::Locked { .. }) => {
                    crate::exit::usage!(
                        "{}: the spool in {} is in use: stop `logferry run` first",
                        route.name,
                        route.dir.display()
                    )
                }
                Err(e) => anyhow::bail!("{}: {}", route.name, crate::exit::chain(&e)),
            }
        } else {
            let v = logferry::spool::verify_with(&route.dir, records)
                .map_err(|e| anyhow::anyhow!("{}: {}", route.name, crate::exit::chain(&e)))?;
            healthy &= v.is_healthy();
            writeln!(out, "{}: {v}", route.name)?;
        }
    }
    Ok(if healthy {
        Exit::Success
    } else {
        Exit::Undelivered
    })
}

/// Counts the records of one spool entry, if it can be read.
type Counter = fn(&[u8]) -> Option<u64>;

/// How to count the records of one of `route`'s spool entries, if it keeps any.
fn counter(route: &RouteSpec) -> Option<Counter> {
    match route.sink {
        SinkArgs::HttpIngest(_) => Some(|payload| {
            logferry::taegis_ingest::EncodedBatch::decode(payload)
                .ok()
                .map(|e| u64::from(e.records()))
        }),
        SinkArgs::Sdl(_) => Some(|payload| {
            logferry::sdl_transport::StoredBatch::decode(payload)
                .ok()
                .map(|e| e.batch.len() as u64)
        }),
        SinkArgs::Nats(_) => Some(|payload| {
            logferry::framing::Batch::decode(payload)
                .ok()
                .map(|b| b.len() as u64)
        }),
        SinkArgs::FileUpload(_) => None,
    }
}

/// Print the delivery ledger, spool depth and lag of every route of a `logferry run`
/// configuration, from `data_dir` (while the daemon runs or after it stopped).
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
}

pub(crate) fn status(args: &StatusArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let (_, routes) = crate::daemon::load(&args.config)?;
    for route in &routes {
        writeln!(out, "{}  ({})", route.name, route.dir.display())?;
        match crate::daemon::load_ledger(&route.dir.join("ledger.json")) {
            Some(c) => writeln!(
                out,
                "  ledger: read {} = delivered {} + rejected {} + invalid {} + pending {}",
                c.read,
                c.delivered,
                c.rejected,
                c.invalid,
                c.pending()
            )?,
            None => writeln!(out, "  ledger: none yet (the route has not run)")?,
        }
        if let Some(records) = counter(route)
            && route.dir.join("spool.lock").exists()
        {
            match logferry::spool::verify_with(&route.dir, records) {
                Ok(v) => writeln!(
                    out,
                    "  spool: {} entries pending ({} records){}",
                    v.entries_pending(),
                    v.records_pending().map_or("?".into(), |n| n.to_string()),
                    if v.is_healthy() {
                        ""
                    } else {
                        ", CORRUPT: run `logferry spool verify`"
                    }
                )?,
                Err(e) => writeln!(out, "  spool: cannot read: {}", crate::exit::chain(&e))?,
            }
        }
        let registry = route.dir.join("files.json");
        if registry.exists() {
            let files = logferry::source::follow::Registry::open(&registry)
                .map(|r| r.entries())
                .unwrap_or_default();
            for f in files {
                let lag = f.size.map_or("gone".into(), |size| {
                    format!("{} bytes behind", size.saturating_sub(f.position.offset))
                });
                writeln!(
                    out,
                    "  file {}: line {}, byte {}, {lag}",
                    f.path.display(),
                    f.position.line,
                    f.position.offset
                )?;
            }
        }
    }
    Ok(Exit::Success)
}
