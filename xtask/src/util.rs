//! Small process helpers shared by the xtask commands.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// One named step of a longer command, timed and announced.
pub(crate) struct Step {
    name: &'static str,
}

impl Step {
    pub(crate) fn new(name: &'static str) -> Self {
        Self { name }
    }

    pub(crate) fn run(self, f: impl FnOnce() -> Result<()>) -> Result<()> {
        println!("\n==> {}", self.name);
        let started = Instant::now();
        let result = f().with_context(|| format!("step `{}` failed", self.name));
        println!("<== {} ({:.1?})", self.name, started.elapsed());
        result
    }
}

/// Runs a command inheriting stdio; a non-zero exit is an error naming the command.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} exited with {status}");
    }
    Ok(())
}

/// A `cargo` command without the variables the outer `cargo run` set for this xtask
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...): inherited, they change build-script
/// fingerprints and make nested builds rebuild or skip work.
pub(crate) fn cargo_command() -> Command {
    let mut cmd = Command::new("cargo");
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

/// Runs `cargo` with the given arguments.
pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    run(cargo_command().args(args))
}

/// True when the command runs and exits successfully (output discarded).
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs a cargo subcommand with `cargo install --locked` unless `probe` already works.
pub(crate) fn ensure_cargo_tool(krate: &str, display: &str, probe: &[&str]) -> Result<()> {
    if succeeds(cargo_command().args(probe)) {
        return Ok(());
    }
    println!("{display} is missing: installing it with `cargo install --locked {krate}`");
    cargo(&["install", "--locked", krate])
}

/// The value following `--flag` in `args`, if present.
pub(crate) fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// Where an offline RustSec database snapshot lives, if there is one:
/// `$LOGFERRY_ADVISORY_DB`, else `../shared/advisory-db` beside the checkout.
pub(crate) fn advisory_db() -> Option<PathBuf> {
    let candidate = match std::env::var_os("LOGFERRY_ADVISORY_DB") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("../shared/advisory-db"),
    };
    candidate.join("crates").is_dir().then_some(candidate)
}
