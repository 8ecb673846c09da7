//! `logferry spool verify|repair --config FILE`: check every route's spool under
//! `data_dir` for corruption, and move corrupt entries into quarantine.

use crate::exit::Exit;
use clap::{Args, Subcommand};
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
        let Some(records) = crate::daemon::spool_records(route) else {
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
