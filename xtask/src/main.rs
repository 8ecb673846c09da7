//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `ci`: everything CI checks, in the order that fails fastest: formatting, clippy,
//!   the whole test suite (doc tests and a criterion smoke pass included), rustdoc with
//!   warnings denied, a short fuzz run of every target, and the dependency audit (run
//!   early: offline against `../shared/advisory-db` when it is there, else cargo-audit
//!   fetches the database; without either it fails at once saying how to proceed).
//! - `audit`: the dependency audit alone.
//!   Tools it needs (`cargo-fuzz`, `cargo-audit`) are installed when missing.
//! - `fuzz [TARGET] [--secs N]`: run one or every fuzz target for N seconds each.
//! - `chaos [--records N] [--kills N]`: the kill -9 crash test at a larger size than CI
//!   runs (default 1,000,000 records and 10 kills).
//! - `bench [--size-mb N] [--runs N]`: end-to-end throughput against the physical limits
//!   (see `bench.rs`); `bench --limit [--corpus NAME]` only logferry against the machine's
//!   limit per corpus (see `bench_limit.rs`); `bench --criterion [FILTER]` runs the
//!   criterion benches.
//!
//! The xtask moves to the workspace root first, so it works from any directory.

mod bench;
mod bench_daemon;
mod bench_limit;
mod bench_nats;
mod bench_net;
mod fuzz;
#[cfg(test)]
mod tidy;
mod util;

use anyhow::{Context, Result, bail};
use std::time::Instant;
use util::{Step, cargo, run};

fn main() -> Result<()> {
    let root = util::workspace_root();
    std::env::set_current_dir(&root)
        .with_context(|| format!("cannot enter workspace root {}", root.display()))?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    match command {
        "ci" => ci(rest),
        "fuzz" => fuzz::command(rest),
        "bench" => bench::command(rest),
        "chaos" => chaos(rest),
        "audit" => audit(),
        "help" | "--help" | "-h" => {
            println!(
                "usage: cargo xtask <ci | audit | fuzz [TARGET] [--secs N] | bench [--size-mb N] [--runs N] [--limit [--corpus NAME]] | bench --criterion [FILTER]>"
            );
            Ok(())
        }
        other => bail!("unknown xtask command `{other}` (try `cargo xtask help`)"),
    }
}

/// The one test command: what `.ci/run` executes on a clean clone.
fn ci(args: &[String]) -> Result<()> {
    let fuzz_secs: u64 = util::flag_value(args, "--fuzz-secs")
        .map(|s| s.parse().context("--fuzz-secs takes a number of seconds"))
        .transpose()?
        .unwrap_or(10);
    let started = Instant::now();

    Step::new("rustfmt").run(|| cargo(&["fmt", "--all", "--", "--check"]))?;
    // Early, so a machine that cannot audit learns it in minutes, not after the tests.
    Step::new("dependency audit").run(audit)?;
    Step::new("clippy").run(|| {
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    // `--all-targets` runs unit and integration tests and every criterion bench once in
    // test mode (a smoke pass); doc tests need their own invocation.
    Step::new("tests").run(|| cargo(&["test", "--workspace", "--all-targets", "--locked"]))?;
    Step::new("doc tests").run(|| cargo(&["test", "--workspace", "--doc", "--locked"]))?;
    Step::new("rustdoc").run(|| {
        run(util::cargo_command()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"))
    })?;
    Step::new("fuzz smoke").run(|| fuzz::smoke(fuzz_secs))?;

    println!("\nxtask ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The RustSec audit: offline against the advisory database snapshot next to the
/// checkout (or `LOGFERRY_ADVISORY_DB`), else against the database cargo-audit fetches.
fn audit() -> Result<()> {
    util::ensure_cargo_tool("cargo-audit", "cargo-audit", &["audit", "--version"])?;
    let Some(db) = util::advisory_db() else {
        // No snapshot beside the checkout: let cargo-audit fetch the database as it
        // normally does (into ~/.cargo/advisory-db).
        println!("no advisory database snapshot in ../shared/advisory-db: fetching it");
        return run(util::cargo_command().args(["audit", "--deny", "warnings"])).map_err(|e| {
            e.context(
                "cargo audit could not fetch the RustSec advisory database; either give \
                 it network access, or point LOGFERRY_ADVISORY_DB at a checkout of \
                 https://github.com/rustsec/advisory-db (`git clone` it anywhere) and run \
                 `cargo xtask ci` again",
            )
        });
    };
    run(util::cargo_command().args([
        "audit",
        "--no-fetch",
        "--deny",
        "warnings",
        "--db",
        &db.to_string_lossy(),
    ]))
}

/// The crash test of the CLI at a larger size (the CI run uses the test's defaults).
fn chaos(args: &[String]) -> Result<()> {
    let records = util::flag_value(args, "--records").unwrap_or("1000000");
    let kills = util::flag_value(args, "--kills").unwrap_or("10");
    run(util::cargo_command()
        .args([
            "test",
            "--release",
            "--locked",
            "-p",
            "logferry-cli",
            "--test",
            "it",
            "chaos",
            "--",
            "--nocapture",
        ])
        .env("LOGFERRY_CHAOS_RECORDS", records)
        .env("LOGFERRY_CHAOS_KILLS", kills))
}
