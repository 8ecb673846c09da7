//! Fuzzing with cargo-fuzz: `cargo xtask fuzz [TARGET] [--secs N]` and the CI smoke run.
//!
//! With a nightly toolchain installed the targets run under AddressSanitizer
//! (`cargo +nightly fuzz run`). Without one they run on stable with `-s none`, which
//! cargo-fuzz supports (no sanitizer, more executions per second). Either way the
//! committed seed corpus in `fuzz/corpus/<target>/` is the starting point.

use crate::util::{Step, ensure_cargo_tool, flag_value, run, succeeds};
use anyhow::{Context, Result, bail};
use std::process::Command;

/// `cargo xtask fuzz [TARGET] [--secs N]`.
pub(crate) fn command(args: &[String]) -> Result<()> {
    let secs: u64 = flag_value(args, "--secs")
        .map(|s| s.parse().context("--secs takes a number of seconds"))
        .transpose()?
        .unwrap_or(60);
    let target = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--secs"))
        .map(|(_, a)| a.clone());
    let targets = match target {
        Some(t) => vec![t],
        None => list_targets()?,
    };
    run_targets(&targets, secs)
}

/// Builds every target and runs each for `secs` seconds.
pub(crate) fn smoke(secs: u64) -> Result<()> {
    let targets = list_targets()?;
    run_targets(&targets, secs)
}

fn run_targets(targets: &[String], secs: u64) -> Result<()> {
    ensure_cargo_tool("cargo-fuzz", "cargo-fuzz", &["fuzz", "--version"])?;
    let toolchain = Toolchain::detect();
    println!(
        "fuzzing with {toolchain:?}: {} target(s), {secs} s each",
        targets.len()
    );
    for target in targets {
        let corpus = format!("fuzz/corpus/{target}");
        std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {corpus}"))?;
        Step::new("fuzz target").run(|| {
            println!("target {target}");
            let mut cmd = toolchain.command();
            cmd.arg(target)
                .arg(&corpus)
                .arg("--")
                .arg(format!("-max_total_time={secs}"))
                .arg("-rss_limit_mb=4096")
                .arg("-print_final_stats=1");
            run(&mut cmd)
        })?;
    }
    Ok(())
}

fn list_targets() -> Result<Vec<String>> {
    let dir = std::path::Path::new("fuzz/fuzz_targets");
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            targets.push(stem.to_owned());
        }
    }
    targets.sort();
    if targets.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(targets)
}

#[derive(Debug, Clone, Copy)]
enum Toolchain {
    /// `cargo +nightly fuzz run` with AddressSanitizer.
    NightlyAsan,
    /// `cargo fuzz run -s none` on the default (stable) toolchain.
    StableNoSanitizer,
}

impl Toolchain {
    fn detect() -> Self {
        if succeeds(crate::util::cargo_command().args(["+nightly", "--version"])) {
            Toolchain::NightlyAsan
        } else {
            // A failed probe is cached by cargo; drop the cache so stable is re-probed.
            let _ = std::fs::remove_file("fuzz/target/.rustc_info.json");
            Toolchain::StableNoSanitizer
        }
    }

    fn command(self) -> Command {
        let mut cmd = crate::util::cargo_command();
        match self {
            Toolchain::NightlyAsan => {
                cmd.args(["+nightly", "fuzz", "run"]);
            }
            Toolchain::StableNoSanitizer => {
                cmd.args(["fuzz", "run", "-s", "none"]);
            }
        }
        cmd
    }
}
