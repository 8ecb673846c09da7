//! Moving what [`verify`](crate::verify) calls corrupt out of a spool, into its
//! quarantine folder, so the next open delivers everything else.

use crate::Error;
use crate::format::ACK_LEN;
use crate::spool::{lock_dir, parse_name, private, sync_dir};
use crate::verify::{CorruptRegion, Verification, scan_dir};
use std::collections::HashSet;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The folder, inside a spool directory, that [`repair`] moves corrupt bytes into.
pub const QUARANTINE_DIR: &str = "quarantine";

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repair {
    /// What it found, before moving anything (records counted only by [`repair_with`]).
    pub found: Verification,
    /// What it moved into the quarantine folder, one file each.
    pub quarantined: Vec<Quarantined>,
}

/// Bytes [`repair`] moved out of a spool file into the quarantine folder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quarantined {
    /// The segment file or ack log they came from.
    pub from: PathBuf,
    /// Their byte offset in it (for ack records, the first record's).
    pub offset: u64,
    /// How many bytes were moved.
    pub len: u64,
    /// What they were.
    pub what: Moved,
    /// The quarantine file holding the bytes, unchanged (`0600`).
    pub file: PathBuf,
    /// The JSON file beside it saying where they came from and why.
    pub sidecar: PathBuf,
}

/// What a quarantine file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Moved {
    /// A corrupt region of a segment: lost entries (see [`CorruptRegion`]).
    Region(CorruptRegion),
    /// Ack records failing their checksum, from these byte offsets of the ack log, back
    /// to back. Their entries stay pending and are sent again.
    AckRecords(Vec<u64>),
}

/// Takes the lock of the spool in `dir`, moves every corrupt region of its segments and
/// every corrupt ack record into `dir/quarantine/`, and rewrites the files without them.
///
/// Fails with [`Error::Locked`] while a spool (a running logferry) holds the directory.
/// Each quarantine file, named `<file>-<offset>.bin` after the file and byte offset the
/// bytes came from, holds them unchanged, with a `.json` sidecar saying where they came
/// from and why; both are flushed before the file they came from is replaced. A file is
/// replaced atomically (written beside it, flushed, renamed over it, the directory
/// flushed), keeping the intact entries' bytes, ids and acknowledgements as they were
/// (and a torn tail, which the next open cuts off). Nothing is deleted that is not first
/// in the quarantine folder.
///
/// Afterwards [`verify`](crate::verify) finds the spool healthy, and
/// [`Spool::replay`](crate::Spool::replay) returns every intact pending entry. Running
/// it again changes nothing.
pub fn repair(dir: &Path) -> Result<Repair, Error> {
    repair_with(dir, |_| None)
}

/// [`repair`], counting the records of what it finds with `records`, as
/// [`verify_with`](crate::verify_with) does (for [`Repair::found`] and the regions in
/// [`Moved::Region`]).
pub fn repair_with(
    dir: &Path,
    mut records: impl FnMut(&[u8]) -> Option<u64>,
) -> Result<Repair, Error> {
    repair_inner(dir, &mut records, Durable(true))
}

/// Whether [`repair`] flushes what it writes (the fuzz harness does without: a flush
/// per run would slow the fuzzer a hundredfold).
#[derive(Clone, Copy)]
pub(crate) struct Durable(pub(crate) bool);

impl Durable {
    fn file(self, file: &fs::File, path: &Path) -> Result<(), Error> {
        if self.0 {
            file.sync_all().map_err(Error::io("sync", path))?;
        }
        Ok(())
    }

    fn dir(self, dir: &Path) -> Result<(), Error> {
        if self.0 { sync_dir(dir) } else { Ok(()) }
    }
}

pub(crate) fn repair_inner(
    dir: &Path,
    records: &mut dyn FnMut(&[u8]) -> Option<u64>,
    durable: Durable,
) -> Result<Repair, Error> {
    let _lock = lock_dir(dir)?;
    remove_leftovers(dir)?;
    let mut quarantined = Vec::new();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let found = scan_dir(dir, records, &mut |analysis, data| {
        let report = &analysis.report;
        if report.corrupt.is_empty() {
            return Ok(());
        }
        for region in &report.corrupt {
            let bytes = &data[to_usize(region.offset)..to_usize(region.offset + region.len)];
            let why = if region.at_end {
                "a damaged last entry: bytes at the end of the segment that fail the spool's \
                 checks and are not a write cut short by a crash"
            } else {
                "bytes between intact entries that fail the spool's checks (magic, header \
                 checksum, entry id order or payload checksum)"
            };
            let mut json = Json::new();
            json.str("from", &report.path.display().to_string())
                .num("offset", region.offset)
                .num("bytes", region.len)
                .str("reason", why)
                .opt("entries", region.entries)
                .opt("first_id", region.ids.as_ref().map(|r| r.start))
                .opt("end_id", region.ids.as_ref().map(|r| r.end))
                .num("acked", region.acked)
                .num("repaired_at_unix", stamp);
            let (file, sidecar) =
                quarantine(dir, &report.path, region.offset, bytes, json, durable)?;
            quarantined.push(Quarantined {
                from: report.path.clone(),
                offset: region.offset,
                len: region.len,
                what: Moved::Region(region.clone()),
                file,
                sidecar,
            });
        }
        let mut kept = Vec::with_capacity(data.len());
        for range in &analysis.keep {
            kept.extend_from_slice(&data[range.clone()]);
        }
        if let Some(torn) = &report.torn_tail {
            kept.extend_from_slice(&data[to_usize(torn.offset)..]);
        }
        replace(dir, &report.path, &kept, durable)
    })?;
    for ack in &found.ack_logs {
        let report = &ack.report;
        let Some(&first_bad) = report.corrupt.first() else {
            continue;
        };
        let corrupt: HashSet<u64> = report.corrupt.iter().copied().collect();
        let mut bad = Vec::new();
        let mut kept = Vec::with_capacity(ack.data.len());
        for (i, record) in ack.data.chunks(ACK_LEN).enumerate() {
            if corrupt.contains(&((i * ACK_LEN) as u64)) {
                bad.extend_from_slice(record);
            } else {
                kept.extend_from_slice(record);
            }
        }
        let mut json = Json::new();
        json.str("from", &report.path.display().to_string())
            .list("offsets", &report.corrupt)
            .num("record_bytes", ACK_LEN as u64)
            .str(
                "reason",
                "ack records failing their checksum; their entries stay pending and are \
                 sent again",
            )
            .num("repaired_at_unix", stamp);
        let (file, sidecar) = quarantine(dir, &report.path, first_bad, &bad, json, durable)?;
        quarantined.push(Quarantined {
            from: report.path.clone(),
            offset: first_bad,
            len: bad.len() as u64,
            what: Moved::AckRecords(report.corrupt.clone()),
            file,
            sidecar,
        });
        replace(dir, &report.path, &kept, durable)?;
    }
    Ok(Repair {
        found: found.verification,
        quarantined,
    })
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).expect("offsets come from data held in memory")
}

/// Writes `bytes` and their sidecar into the quarantine folder of `dir`, flushed, under
/// the name of `from` and `offset`. A file of that name holding the same bytes (left by
/// a repair interrupted before it rewrote `from`) is reused; another gets a new name.
fn quarantine(
    dir: &Path,
    from: &Path,
    offset: u64,
    bytes: &[u8],
    json: Json,
    durable: Durable,
) -> Result<(PathBuf, PathBuf), Error> {
    let qdir = dir.join(QUARANTINE_DIR);
    if !qdir.is_dir() {
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .recursive(true)
            .create(&qdir)
            .map_err(Error::io("create", &qdir))?;
        durable.dir(dir)?;
    }
    let name = from
        .file_name()
        .map_or_else(|| "spool".into(), |n| n.to_string_lossy().into_owned());
    let mut n = 0u32;
    let (bin, sidecar) = loop {
        let stem = match n {
            0 => format!("{name}-{offset}"),
            n => format!("{name}-{offset}-{n}"),
        };
        let bin = qdir.join(format!("{stem}.bin"));
        let sidecar = qdir.join(format!("{stem}.json"));
        match fs::read(&bin) {
            Ok(old) if old == bytes => break (bin, sidecar),
            Ok(_) => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break (bin, sidecar),
            Err(e) => return Err(Error::io("read", &bin)(e)),
        }
    };
    write_synced(&bin, bytes, durable)?;
    write_synced(&sidecar, json.finish().as_bytes(), durable)?;
    durable.dir(&qdir)?;
    Ok((bin, sidecar))
}

/// Copies a segment's damaged last entry (invalid bytes at `offset` of `from` that are
/// not a torn write), found when the spool opens, into the quarantine folder with a
/// sidecar saying why; the caller then cuts them from the segment.
pub(crate) fn quarantine_damaged_tail(
    dir: &Path,
    from: &Path,
    offset: u64,
    bytes: &[u8],
    durable: Durable,
) -> Result<PathBuf, Error> {
    let mut json = Json::new();
    json.str("from", &from.display().to_string())
        .num("offset", offset)
        .num("bytes", bytes.len() as u64)
        .str(
            "reason",
            "the last entry of the segment was damaged (not a torn write) when the spool opened; \
             its entries are lost unless they were acknowledged before",
        );
    quarantine(dir, from, offset, bytes, json, durable).map(|(bin, _)| bin)
}

/// Deletes the temporary files of a repair interrupted before its rename (copies of
/// intact data: the file they were to replace is still whole).
fn remove_leftovers(dir: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(TMP_SUFFIX)) else {
            continue;
        };
        if parse_name(stem, ".seg").is_some() || parse_name(stem, ".ack").is_some() {
            let path = entry.path();
            fs::remove_file(&path).map_err(Error::io("delete", &path))?;
        }
    }
    Ok(())
}

/// What [`replace`] appends to a file's name for its temporary copy.
const TMP_SUFFIX: &str = ".repair";

/// Creates or truncates `path` (`0600`), writes `bytes` and flushes them.
fn write_synced(path: &Path, bytes: &[u8], durable: Durable) -> Result<(), Error> {
    let mut file = private(OpenOptions::new().write(true).create(true).truncate(true))
        .open(path)
        .map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))?;
    durable.file(&file, path)
}

/// Replaces `path` by `bytes` atomically: a flushed temporary file renamed over it, then
/// the directory flushed.
fn replace(dir: &Path, path: &Path, bytes: &[u8], durable: Durable) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    write_synced(&tmp, bytes, durable)?;
    fs::rename(&tmp, path).map_err(Error::io("replace", path))?;
    durable.dir(dir)
}

/// A flat JSON object, written by hand (the sidecars need nothing more).
struct Json(String);

impl Json {
    fn new() -> Self {
        Self(String::from("{"))
    }

    fn key(&mut self, key: &str) -> &mut Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str("\n  ");
        escape(&mut self.0, key);
        self.0.push_str(": ");
        self
    }

    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        escape(&mut self.0, value);
        self
    }

    fn num(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.0.push_str(&value.to_string());
        self
    }

    fn opt(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.num(key, v),
            None => {
                self.key(key);
                self.0.push_str("null");
                self
            }
        }
    }

    fn list(&mut self, key: &str, values: &[u64]) -> &mut Self {
        self.key(key);
        let items: Vec<String> = values.iter().map(u64::to_string).collect();
        self.0.push('[');
        self.0.push_str(&items.join(", "));
        self.0.push(']');
        self
    }

    fn finish(mut self) -> String {
        self.0.push_str("\n}\n");
        self.0
    }
}

/// Appends `s` as a JSON string.
fn escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quarantined.is_empty() {
            return write!(
                f,
                "spool {}: nothing to repair ({})",
                self.found.dir.display(),
                if self.found.is_healthy() {
                    "healthy"
                } else {
                    "corrupt"
                }
            );
        }
        write!(
            f,
            "spool {}: moved {} into {}",
            self.found.dir.display(),
            match self.quarantined.len() {
                1 => "1 corrupt part".to_owned(),
                n => format!("{n} corrupt parts"),
            },
            self.found.dir.join(QUARANTINE_DIR).display()
        )?;
        for q in &self.quarantined {
            write!(f, "\n  {}: ", q.from.display())?;
            match &q.what {
                Moved::Region(r) => write!(f, "{r}")?,
                Moved::AckRecords(at) if at.len() == 1 => write!(
                    f,
                    "1 corrupt ack record at byte {} (its entry will be sent again)",
                    at[0]
                )?,
                Moved::AckRecords(at) => write!(
                    f,
                    "{} corrupt ack records (their entries will be sent again)",
                    at.len()
                )?,
            }
            write!(f, "; moved to {}", q.file.display())?;
        }
        Ok(())
    }
}
