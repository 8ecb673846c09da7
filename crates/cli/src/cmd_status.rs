//! `logferry status --config FILE`: the delivery ledger, spool depth and lag of every
//! route, read from `data_dir` while the daemon runs or after it stopped.

use crate::exit::Exit;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

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
        if let Some(records) = crate::daemon::spool_records(route)
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
