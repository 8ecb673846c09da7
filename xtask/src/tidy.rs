//! Tidy rules enforced as ordinary tests, so `cargo test` keeps the tree in shape:
//! every Rust file opens with a `//!` line, and crate dependencies follow the
//! directions in ARCHITECTURE.md.

use crate::util::workspace_root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Model and policy crates: no transports, no tokio networking.
const LEAVES: &[&str] = &[
    "logferry-framing",
    "logferry-compress",
    "logferry-retry",
    "logferry-sdl-model",
    "logferry-spool",
    "logferry-source",
    "logferry-config",
    "logferry-syslog",
];

/// Transports: never depend on each other.
const TRANSPORTS: &[&str] = &[
    "logferry-taegis-ingest",
    "logferry-taegis-upload",
    "logferry-sdl",
    "logferry-nats",
];

/// The one pipeline: it joins leaves and transports behind the `Source` and `Sink`
/// traits, and nothing but the assemblers may depend on it.
const PIPELINE: &str = "logferry-pipeline";

/// Crates that may know every other crate.
const ASSEMBLERS: &[&str] = &["logferry", "logferry-cli"];

/// Crates beside the pipeline that know no other logferry crate (the daemon converts
/// into their types), and that only the assemblers use.
const INDEPENDENT: &[&str] = &["logferry-observe"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "corpus" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "benches", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        !files.is_empty(),
        "no Rust files found under {}",
        root.display()
    );
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text
                .lines()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.starts_with("//!") || l.starts_with("#![doc"))
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` line saying what they are: {missing:#?}"
    );
}

/// Package name → (internal `logferry*` dependencies, tokio features) of every crate
/// under `crates/`, read from its manifest's `[dependencies]` table.
fn crate_graph() -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut graph = BTreeMap::new();
    let dir = workspace_root().join("crates");
    for entry in std::fs::read_dir(&dir).expect("crates/ exists").flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut name = None;
        let mut section = String::new();
        let mut deps = Vec::new();
        let mut tokio_features = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']).to_owned();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            // `dep = ...`, `dep.workspace = true` and `dep = { workspace = true }` alike.
            let key = key.trim().split('.').next().unwrap_or_default();
            if section == "package" && key == "name" {
                name = Some(value.trim().trim_matches('"').to_owned());
            }
            if section == "dependencies" {
                if key.starts_with("logferry") {
                    deps.push(key.to_owned());
                } else if value.contains("path") {
                    // A path dependency under any other name still ships.
                    deps.push(key.to_owned());
                }
                if key == "tokio"
                    && let Some((_, feats)) = value.split_once("features")
                {
                    tokio_features.extend(feats.split('"').skip(1).step_by(2).map(str::to_owned));
                }
            }
        }
        if let Some(name) = name {
            graph.insert(name, (deps, tokio_features));
        }
    }
    graph
}

#[test]
fn crate_dependencies_follow_the_architecture() {
    let graph = crate_graph();
    let mut violations = Vec::new();
    for (krate, (deps, tokio)) in &graph {
        let krate = krate.as_str();
        for dep in deps {
            let dep = dep.as_str();
            if dep == "logferry-cli" || (dep == "logferry" && krate != "logferry-cli") {
                violations.push(format!("{krate} depends on the assembler {dep}"));
            }
            if LEAVES.contains(&krate) && !LEAVES.contains(&dep) {
                violations.push(format!("leaf {krate} depends on non-leaf {dep}"));
            }
            if TRANSPORTS.contains(&krate) && TRANSPORTS.contains(&dep) {
                violations.push(format!("transport {krate} depends on transport {dep}"));
            }
            if dep == PIPELINE && !ASSEMBLERS.contains(&krate) {
                violations.push(format!("{krate} depends on the pipeline {dep}"));
            }
            if krate == PIPELINE && ASSEMBLERS.contains(&dep) {
                violations.push(format!("the pipeline depends on the assembler {dep}"));
            }
            if !graph.contains_key(dep) {
                violations.push(format!(
                    "{krate} depends on {dep}, which is not a crate under crates/ \
                     (benches, xtask and fuzz code never ship)"
                ));
            }
            if INDEPENDENT.contains(&krate) {
                violations.push(format!(
                    "{krate} depends on {dep}: it stays independent (the daemon converts)"
                ));
            }
            if INDEPENDENT.contains(&dep) && !ASSEMBLERS.contains(&krate) {
                violations.push(format!(
                    "{krate} depends on {dep}, which only assemblers use"
                ));
            }
            if dep == "logferry-emulator" && !ASSEMBLERS.contains(&krate) {
                violations.push(format!(
                    "{krate} depends on the emulator outside dev-dependencies"
                ));
            }
        }
        if LEAVES.contains(&krate) && tokio.iter().any(|f| f == "net" || f == "full") {
            violations.push(format!("leaf {krate} enables tokio networking ({tokio:?})"));
        }
    }
    assert!(
        violations.is_empty(),
        "dependency rules broken: {violations:#?}"
    );
}

#[test]
fn every_fuzz_target_file_has_a_manifest_entry_and_a_seed() {
    let root = workspace_root().join("fuzz");
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml exists");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(root.join("fuzz_targets"))
        .expect("fuzz targets exist")
        .flatten()
    {
        let name = entry
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !manifest.contains(&format!("name = \"{name}\"")) {
            problems.push(format!("{name}: no [[bin]] in fuzz/Cargo.toml"));
        }
        let seeds = std::fs::read_dir(root.join("corpus").join(&name))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
                    .count()
            })
            .unwrap_or(0);
        if seeds == 0 {
            problems.push(format!(
                "{name}: no committed seed in fuzz/corpus/{name}/seed-*"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
