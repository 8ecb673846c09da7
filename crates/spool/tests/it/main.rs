//! Integration tests for logferry-spool, through the public API and the documented
//! on-disk layout: a model-based property test, recovery from torn and corrupt files,
//! the full policies, and concurrent use.

mod api;
mod full;
mod model;
mod recovery;
mod verify;

use logferry_spool::{EntryId, FsyncPolicy, Spool, SpoolConfig};
use std::path::{Path, PathBuf};

/// Bytes of an entry header (crate docs, "On-disk layout").
pub const HEADER: u64 = 24;

/// A config with fsync off (tests that are not about durability run faster).
pub fn fast() -> SpoolConfig {
    SpoolConfig {
        fsync: FsyncPolicy::Never,
        ..SpoolConfig::default()
    }
}

/// Every remaining entry, in order, panicking on a read error.
pub fn replay(spool: &Spool) -> Vec<(EntryId, Vec<u8>)> {
    spool
        .replay()
        .collect::<Result<_, _>>()
        .expect("replay reads back")
}

/// Just the payloads of [`replay`].
pub fn payloads(spool: &Spool) -> Vec<Vec<u8>> {
    replay(spool).into_iter().map(|(_, p)| p).collect()
}

/// The segment files in `dir` with their first ids, in id order.
pub fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    files(dir, ".seg")
}

/// The ack logs in `dir` with their segments' first ids, in id order.
pub fn ack_logs(dir: &Path) -> Vec<(u64, PathBuf)> {
    files(dir, ".ack")
}

fn files(dir: &Path, ext: &str) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("spool dir lists")
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let first = name
                .strip_prefix("spool-")?
                .strip_suffix(ext)?
                .parse()
                .ok()?;
            Some((first, p))
        })
        .collect();
    out.sort();
    out
}

/// Parses a clean segment file per the documented layout: `(id, offset, end)` of each
/// entry.
pub fn entries_in(segment: &[u8]) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + HEADER as usize <= segment.len() {
        let len = u32::from_le_bytes(segment[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let id = u64::from_le_bytes(segment[pos + 8..pos + 16].try_into().unwrap());
        let end = pos + HEADER as usize + len;
        out.push((id, pos as u64, end as u64));
        pos = end;
    }
    out
}
