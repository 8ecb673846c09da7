//! `logferry run` and `logferry validate`: the daemon, configured by one file.

use crate::exit::Exit;
use clap::Args;
use std::path::PathBuf;

/// Run as a service: follow files through rotation and ship them, until SIGTERM or
/// SIGINT (SIGHUP reloads the configuration).
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration file (TOML; reference in docs/config.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
}

/// Check a configuration file without sending anything (exit 0, or 2 naming the file,
/// line and key at fault).
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<Exit> {
    crate::daemon::run(&args.config).await
}

pub(crate) fn validate(args: &ValidateArgs, out: &mut dyn std::io::Write) -> anyhow::Result<Exit> {
    let (config, routes) = crate::daemon::load(&args.config)?;
    writeln!(
        out,
        "{}: ok: {} sources, {} sinks, {} routes ({}); data in {}",
        config.path.display(),
        config.sources.len(),
        config.sinks.len(),
        routes.len(),
        routes
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        config.data_dir.display()
    )?;
    Ok(Exit::Success)
}
