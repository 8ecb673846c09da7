//! Checking a spool directory without opening it: what is intact, pending, acknowledged,
//! corrupt (and how many entries that costs) or merely torn by a crash.
//!
//! [`verify`] reads the files only: it takes no lock, creates nothing and writes
//! nothing, so it can run beside a daemon that holds the spool. What it sees is a
//! snapshot: an entry being appended at that moment shows as a torn tail (benign), a
//! segment deleted meanwhile is left out.

use crate::Error;
use crate::format::{self, ACK_LEN, HEADER_LEN, MAGIC};
use crate::spool::{ack_name, parse_name, segment_name};
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What [`verify`] found in a spool directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// The spool directory.
    pub dir: PathBuf,
    /// Every segment file, in id order.
    pub segments: Vec<SegmentReport>,
    /// The ack logs of those segments, in id order.
    pub ack_logs: Vec<AckLogReport>,
}

/// One segment file: its intact entries and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentReport {
    /// The segment file.
    pub path: PathBuf,
    /// The id its name gives (its first entry's id).
    pub first_id: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Entries whose header, id and payload checksum hold.
    pub intact: u64,
    /// Of those, entries not acknowledged: what the next run sends.
    pub pending: u64,
    /// Of those, entries the ack log acknowledges.
    pub acked: u64,
    /// Records in the pending entries, when the records callback of [`verify_with`]
    /// counted every one of them.
    pub records_pending: Option<u64>,
    /// Regions of bytes failing the format's checks: lost entries. In file order.
    pub corrupt: Vec<CorruptRegion>,
    /// A write cut short at the end of the file (benign: the next open cuts it off).
    pub torn_tail: Option<TornTail>,
}

/// Bytes of a segment that fail the format's checks (magic, header checksum, id order,
/// payload checksum) and are not a crash's partial write: the entries in them are lost
/// unless they had been delivered already.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorruptRegion {
    /// Byte offset of the region in the segment file.
    pub offset: u64,
    /// Bytes in the region.
    pub len: u64,
    /// How many entries the region held or cut, when the framing tells (the ids of the
    /// intact entries around it, or headers that still read); `None`: unknown.
    pub entries: Option<u64>,
    /// The ids of those entries, when known.
    pub ids: Option<Range<u64>>,
    /// Of those entries, how many the ack log says were delivered before the damage
    /// (nothing is lost for them).
    pub acked: u64,
    /// Records in the entries not delivered, when every one of them still has a header
    /// and a payload the records callback of [`verify_with`] could count (the payload is
    /// damaged, so this is a best effort); `None`: unknown.
    pub records: Option<u64>,
    /// The region runs to the end of the file: a damaged last entry, not a torn write.
    pub at_end: bool,
}

impl CorruptRegion {
    /// Entries lost: held by the region and not delivered, when known.
    pub fn entries_lost(&self) -> Option<u64> {
        self.entries.map(|n| n.saturating_sub(self.acked))
    }
}

/// The bytes a crash left at the end of a segment: the start of an entry whose write
/// was cut short (or zeros left by a power loss). Benign: the append never completed,
/// and the next [`Spool::open`](crate::Spool::open) truncates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// Byte offset of the tail in the segment file.
    pub offset: u64,
    /// Bytes in the tail.
    pub len: u64,
}

/// One ack log: its records, and those failing their checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckLogReport {
    /// The ack log.
    pub path: PathBuf,
    /// Records whose checksum holds.
    pub records: u64,
    /// Byte offsets of the records whose checksum fails: corruption (their entries are
    /// sent again, a duplicate rather than a loss).
    pub corrupt: Vec<u64>,
    /// Bytes of a partial last record (benign: a write cut short; the next open cuts
    /// it off).
    pub torn_bytes: u64,
}

impl Verification {
    /// True when no segment has a corrupt region and no ack log a corrupt record (torn
    /// tails are benign).
    pub fn is_healthy(&self) -> bool {
        self.segments.iter().all(|s| s.corrupt.is_empty())
            && self.ack_logs.iter().all(|a| a.corrupt.is_empty())
    }

    /// Every corrupt region with the segment it is in.
    pub fn corrupt_regions(&self) -> impl Iterator<Item = (&SegmentReport, &CorruptRegion)> {
        self.segments
            .iter()
            .flat_map(|s| s.corrupt.iter().map(move |r| (s, r)))
    }

    /// Intact entries not acknowledged, in every segment.
    pub fn entries_pending(&self) -> u64 {
        self.segments.iter().map(|s| s.pending).sum()
    }

    /// Records in those entries, when every one was counted.
    pub fn records_pending(&self) -> Option<u64> {
        self.segments
            .iter()
            .try_fold(0u64, |sum, s| Some(sum + s.records_pending?))
    }

    /// Entries lost to corruption (held by corrupt regions and not delivered), when every
    /// region tells.
    pub fn entries_lost(&self) -> Option<u64> {
        self.corrupt_regions()
            .try_fold(0u64, |sum, (_, r)| Some(sum + r.entries_lost()?))
    }

    /// Records lost to corruption, when every region tells.
    pub fn records_lost(&self) -> Option<u64> {
        self.corrupt_regions()
            .try_fold(0u64, |sum, (_, r)| Some(sum + r.records?))
    }
}

/// Reads the spool in `dir` and reports, per segment file, what is intact, pending,
/// acknowledged, corrupt or torn, and per ack log which records are corrupt.
///
/// Read-only: takes no lock and changes nothing, so it works on a stopped spool and on
/// one a running process holds. Fails only when a file cannot be read ([`Error::Io`],
/// naming it; `op` is `list` when `dir` itself is missing); files deleted while it runs
/// are left out. Records are not counted (see [`verify_with`]).
pub fn verify(dir: &Path) -> Result<Verification, Error> {
    verify_with(dir, |_| None)
}

/// [`verify`], counting records: `records` is given the payload of every intact pending
/// entry, and of every damaged entry whose header still reads, and returns how many
/// records it holds (`None` when it cannot tell), typically with the sink's
/// [`Entry::decode`](crate::Entry::decode). Acknowledged entries are not passed.
pub fn verify_with(
    dir: &Path,
    mut records: impl FnMut(&[u8]) -> Option<u64>,
) -> Result<Verification, Error> {
    scan_dir(dir, &mut records, &mut |_, _| Ok(())).map(|found| found.verification)
}

/// A segment's analysis with what a repair needs: the byte ranges to keep.
pub(crate) struct SegmentAnalysis {
    pub(crate) report: SegmentReport,
    /// The intact entries, in file order.
    pub(crate) keep: Vec<Range<usize>>,
}

/// An ack log's analysis with its bytes.
pub(crate) struct AckAnalysis {
    pub(crate) report: AckLogReport,
    pub(crate) data: Vec<u8>,
}

/// What [`scan_dir`] keeps: the findings and the ack logs' bytes (12 bytes per
/// acknowledged entry; segments are handed to the caller one at a time instead).
pub(crate) struct Found {
    pub(crate) verification: Verification,
    pub(crate) ack_logs: Vec<AckAnalysis>,
}

/// Lists `dir`: the first ids of its segments and of its ack logs.
fn list(dir: &Path) -> Result<(BTreeSet<u64>, BTreeSet<u64>), Error> {
    let mut segs = BTreeSet::new();
    let mut acks = BTreeSet::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = parse_name(name, ".seg") {
            segs.insert(first);
        } else if let Some(first) = parse_name(name, ".ack") {
            acks.insert(first);
        }
    }
    Ok((segs, acks))
}

/// Reads `path`, `None` if it is gone.
fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// What [`scan_dir`] does with each segment's analysis and bytes.
pub(crate) type EachSegment<'a> = dyn FnMut(&SegmentAnalysis, &[u8]) -> Result<(), Error> + 'a;

/// Reads and analyses every segment and ack log in `dir` (no writes, no lock), one
/// segment in memory at a time, handing each with its bytes to `each_segment`.
pub(crate) fn scan_dir(
    dir: &Path,
    records: &mut dyn FnMut(&[u8]) -> Option<u64>,
    each_segment: &mut EachSegment<'_>,
) -> Result<Found, Error> {
    let (segs, acks) = list(dir)?;
    let firsts: Vec<u64> = segs.into_iter().collect();
    let mut found = Found {
        verification: Verification {
            dir: dir.to_path_buf(),
            segments: Vec::new(),
            ack_logs: Vec::new(),
        },
        ack_logs: Vec::new(),
    };
    for (i, &first) in firsts.iter().enumerate() {
        let upper = firsts.get(i + 1).copied();
        // The ack log first: an ack written after it was read only makes an entry look
        // pending, never an undelivered one look delivered.
        let mut acked = HashSet::new();
        if acks.contains(&first) {
            let path = dir.join(ack_name(first));
            if let Some(data) = read_if_exists(&path)? {
                let (report, ids) = analyze_acks(path, &data);
                acked = ids;
                found.ack_logs.push(AckAnalysis { report, data });
            }
        }
        let path = dir.join(segment_name(first));
        let Some(data) = read_if_exists(&path)? else {
            // Deleted meanwhile (all delivered): its ack log does not matter either.
            found
                .ack_logs
                .retain(|a| a.report.path != dir.join(ack_name(first)));
            continue;
        };
        let analysis = analyze_segment(path, &data, first, upper, &acked, records);
        each_segment(&analysis, &data)?;
        found.verification.segments.push(analysis.report);
    }
    found.verification.ack_logs = found.ack_logs.iter().map(|a| a.report.clone()).collect();
    Ok(found)
}

/// Decodes an ack log: its report and the ids of its valid records.
fn analyze_acks(path: PathBuf, data: &[u8]) -> (AckLogReport, HashSet<u64>) {
    let mut ids = HashSet::new();
    let mut report = AckLogReport {
        path,
        records: 0,
        corrupt: Vec::new(),
        torn_bytes: (data.len() % ACK_LEN) as u64,
    };
    for (i, record) in data.chunks_exact(ACK_LEN).enumerate() {
        match format::decode_acks(record).ids.first() {
            Some(&id) => {
                ids.insert(id);
                report.records += 1;
            }
            None => report.corrupt.push((i * ACK_LEN) as u64),
        }
    }
    (report, ids)
}

/// An entry whose header still reads inside a damaged region.
struct Framed {
    id: u64,
    payload: Range<usize>,
}

/// How the framing reads a damaged range: entries whose header reads (complete within
/// the range), bytes that frame as nothing, and where a torn write starts (for a tail).
struct Framing {
    framed: Vec<Framed>,
    unframed: u64,
    torn_from: usize,
}

/// True when `rest` is what an interrupted append leaves: zeros (a power loss), a
/// header prefix, or a valid header with its payload cut short.
fn is_torn(rest: &[u8]) -> bool {
    if rest.iter().all(|&b| b == 0) {
        return true;
    }
    if rest.len() < HEADER_LEN {
        let n = rest.len().min(MAGIC.len());
        return rest[..n] == MAGIC[..n];
    }
    format::decode_header(rest)
        .is_some_and(|h| (HEADER_LEN as u64 + u64::from(h.len)) > rest.len() as u64)
}

/// Where the torn write at the end of a segment's invalid tail `tail` starts: the
/// bytes before it are a damaged entry (or several), as [`verify`] reports them.
pub(crate) fn torn_from(data: &[u8], tail: Range<u64>) -> u64 {
    let span = usize::try_from(tail.start).expect("offsets lie inside the data")
        ..usize::try_from(tail.end).expect("offsets lie inside the data");
    frame(data, span, true).torn_from as u64
}

/// Walks `range` of `data` entry by entry as far as the headers allow. For a tail,
/// stops where the rest is a torn write.
fn frame(data: &[u8], range: Range<usize>, tail: bool) -> Framing {
    let mut out = Framing {
        framed: Vec::new(),
        unframed: 0,
        torn_from: range.end,
    };
    let mut pos = range.start;
    while pos < range.end {
        let rest = &data[pos..range.end];
        if tail && is_torn(rest) {
            out.torn_from = pos;
            break;
        }
        if let Some(h) = format::decode_header(rest) {
            let start = pos + HEADER_LEN;
            let end = usize::try_from(h.len)
                .ok()
                .and_then(|len| start.checked_add(len))
                .filter(|&end| end <= range.end);
            if let Some(end) = end {
                out.framed.push(Framed {
                    id: h.id,
                    payload: start..end,
                });
                pos = end;
                continue;
            }
        }
        let next = format::next_magic(&data[..range.end], pos + 1).unwrap_or(range.end);
        out.unframed += (next - pos) as u64;
        pos = next;
    }
    out
}

/// Analyses the bytes of segment `first` (ids below `upper`, if another segment
/// follows) given the ids its ack log acknowledges.
pub(crate) fn analyze_segment(
    path: PathBuf,
    data: &[u8],
    first: u64,
    upper: Option<u64>,
    acked: &HashSet<u64>,
    records: &mut dyn FnMut(&[u8]) -> Option<u64>,
) -> SegmentAnalysis {
    let scan = format::scan_segment(data, first..upper.unwrap_or(u64::MAX));
    let mut report = SegmentReport {
        path,
        first_id: first,
        bytes: data.len() as u64,
        intact: scan.entries.len() as u64,
        pending: 0,
        acked: 0,
        records_pending: Some(0),
        corrupt: Vec::new(),
        torn_tail: None,
    };
    let span = |start: u64, end: u64| {
        usize::try_from(start).expect("offsets lie inside the data")
            ..usize::try_from(end).expect("offsets lie inside the data")
    };
    let mut keep = Vec::with_capacity(scan.entries.len());
    for e in &scan.entries {
        keep.push(span(e.offset, e.end()));
        if acked.contains(&e.id) {
            report.acked += 1;
        } else {
            report.pending += 1;
            let payload = &data[span(e.offset + HEADER_LEN as u64, e.end())];
            report.records_pending = report
                .records_pending
                .and_then(|sum| Some(sum + records(payload)?));
        }
    }
    // The writer numbers a segment's entries consecutively from its first id, so the
    // ids of the intact entries around a region say which entries it held (a segment
    // repaired before has gaps: then they are a bound).
    let next_after = |offset: u64| {
        let i = scan.entries.partition_point(|e| e.offset < offset);
        match i {
            0 => first,
            i => scan.entries[i - 1].id + 1,
        }
    };
    for region in &scan.corrupt {
        let from = next_after(region.start);
        let to = scan
            .entries
            .iter()
            .find(|e| e.offset == region.end)
            .map_or(from, |e| e.id);
        let framing = frame(data, span(region.start, region.end), false);
        // More ids missing than entries fit in its bytes: the segment was repaired
        // before, and the count is unknown.
        let fits = ((region.end - region.start) / HEADER_LEN as u64).max(1);
        let gap = Some(from..to.max(from)).filter(|gap| gap.end - gap.start <= fits);
        report.corrupt.push(region_report(
            region.clone(),
            gap,
            from,
            &framing,
            (data, acked, &mut *records),
            false,
        ));
    }
    if let Some(tail) = &scan.tail {
        let framing = frame(data, span(tail.start, tail.end), true);
        let torn_from = framing.torn_from as u64;
        if torn_from > tail.start {
            let from = next_after(tail.start);
            // Its first entry is `from`; whether others follow is known only when no more
            // than one fits: in its bytes (an entry is at least a header), or before the
            // next segment's first id (when no torn write follows).
            let fits = ((torn_from - tail.start) / HEADER_LEN as u64).max(1);
            let before_next = upper
                .filter(|_| torn_from == tail.end)
                .map_or(u64::MAX, |upper| upper.saturating_sub(from));
            let gap = (fits.min(before_next) == 1).then_some(from..from + 1);
            report.corrupt.push(region_report(
                tail.start..torn_from,
                gap,
                from,
                &framing,
                (data, acked, &mut *records),
                torn_from == tail.end,
            ));
        }
        if torn_from < tail.end {
            report.torn_tail = Some(TornTail {
                offset: torn_from,
                len: tail.end - torn_from,
            });
        }
    }
    SegmentAnalysis { report, keep }
}

/// What a region's entries are checked against: the segment's bytes, the acknowledged
/// ids and the records callback.
type Context<'a, 'b> = (
    &'a [u8],
    &'a HashSet<u64>,
    &'b mut dyn FnMut(&[u8]) -> Option<u64>,
);

/// The report of one corrupt region. `gap`: the ids the intact entries around it leave
/// out, when known; `from`: the id its first entry should have.
fn region_report(
    region: Range<u64>,
    gap: Option<Range<u64>>,
    from: u64,
    framing: &Framing,
    (data, acked, records): Context<'_, '_>,
    at_end: bool,
) -> CorruptRegion {
    let in_gap = |id: u64| gap.as_ref().is_none_or(|r| r.contains(&id));
    let mut seen = HashSet::new();
    let framed: Vec<&Framed> = framing
        .framed
        .iter()
        .filter(|f| seen.insert(f.id))
        .collect();
    let mut sum_framed = || {
        let mut counted = 0u64;
        let mut sum = Some(0u64);
        for f in framed
            .iter()
            .filter(|f| in_gap(f.id) && !acked.contains(&f.id))
        {
            counted += 1;
            sum = sum.and_then(|s| Some(s + records(&data[f.payload.clone()])?));
        }
        (counted, sum)
    };
    let framed_acked = framed.iter().filter(|f| acked.contains(&f.id)).count() as u64;
    let (entries, ids, acked_n, records) =
        if framing.unframed == 0 && framed.iter().all(|f| in_gap(f.id)) {
            // Every byte belongs to an entry whose header reads: they are the lost ones.
            let n = framed.len() as u64;
            let consecutive = framed
                .iter()
                .enumerate()
                .all(|(i, f)| f.id == from + i as u64);
            let ids = gap.clone().or(consecutive.then_some(from..from + n));
            (Some(n), ids, framed_acked, sum_framed().1)
        } else if let Some(gap) = gap.clone() {
            // Never iterate an id range: a damaged file can claim any ids.
            let n = gap.end - gap.start;
            let acked_n = acked.iter().filter(|id| gap.contains(id)).count() as u64;
            let (counted, sum) = sum_framed();
            let records = sum.filter(|_| counted + acked_n == n);
            (Some(n), Some(gap), acked_n, records)
        } else {
            (None, None, framed_acked, None)
        };
    CorruptRegion {
        offset: region.start,
        len: region.end - region.start,
        entries,
        ids,
        acked: acked_n,
        records,
        at_end,
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for CorruptRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt at byte {} ({})",
            self.offset,
            plural(self.len, "byte", "bytes")
        )?;
        if self.at_end {
            f.write_str(", a damaged last entry (not a torn write)")?;
        }
        match (self.entries, &self.ids) {
            (None, _) => f.write_str(": entries affected unknown")?,
            (Some(n), ids) => {
                write!(f, ": {} affected", plural(n, "entry", "entries"))?;
                match ids {
                    Some(r) if r.end - r.start != n => {}
                    Some(r) if n == 1 => write!(f, " (id {})", r.start)?,
                    Some(r) if n > 1 => write!(f, " (ids {} to {})", r.start, r.end - 1)?,
                    _ => {}
                }
                if self.acked > 0 {
                    write!(f, ", {} delivered before the damage", self.acked)?;
                }
                write!(f, ", {} lost", n.saturating_sub(self.acked))?;
            }
        }
        match self.records {
            Some(r) => write!(f, ", {} lost", plural(r, "record", "records")),
            None => f.write_str(", records lost unknown"),
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions = self.corrupt_regions().count() as u64;
        let bad_acks: u64 = self.ack_logs.iter().map(|a| a.corrupt.len() as u64).sum();
        write!(f, "spool {}: ", self.dir.display())?;
        if self.is_healthy() {
            f.write_str("healthy")?;
        } else {
            let files = self
                .segments
                .iter()
                .filter(|s| !s.corrupt.is_empty())
                .count()
                + self
                    .ack_logs
                    .iter()
                    .filter(|a| !a.corrupt.is_empty())
                    .count();
            write!(f, "CORRUPT: ")?;
            if regions > 0 {
                write!(
                    f,
                    "{}",
                    plural(regions, "corrupt region", "corrupt regions")
                )?;
                match self.entries_lost() {
                    Some(n) => write!(f, " ({} lost", plural(n, "entry", "entries"))?,
                    None => f.write_str(" (entries lost unknown")?,
                }
                match self.records_lost() {
                    Some(n) => write!(f, ", {} lost)", plural(n, "record", "records"))?,
                    None => f.write_str(", records lost unknown)")?,
                }
                if bad_acks > 0 {
                    f.write_str(" and ")?;
                }
            }
            if bad_acks > 0 {
                write!(
                    f,
                    "{}",
                    plural(bad_acks, "corrupt ack record", "corrupt ack records")
                )?;
            }
            write!(f, " in {}", plural(files as u64, "file", "files"))?;
        }
        write!(
            f,
            "; {} in {}, {} pending",
            plural(
                self.segments.iter().map(|s| s.intact).sum(),
                "intact entry",
                "intact entries"
            ),
            plural(self.segments.len() as u64, "segment file", "segment files"),
            self.entries_pending()
        )?;
        if let Some(r) = self.records_pending() {
            write!(f, " ({})", plural(r, "record", "records"))?;
        }
        for s in &self.segments {
            write!(
                f,
                "\n  {}: {} intact ({} pending, {} acknowledged)",
                s.path.display(),
                plural(s.intact, "entry", "entries"),
                s.pending,
                s.acked
            )?;
            for r in &s.corrupt {
                write!(f, "\n  {}: {r}", s.path.display())?;
            }
            if let Some(t) = &s.torn_tail {
                write!(
                    f,
                    "\n  {}: torn tail at byte {} ({}): a write cut short by a crash; \
                     harmless, the next open cuts it off",
                    s.path.display(),
                    t.offset,
                    plural(t.len, "byte", "bytes")
                )?;
            }
        }
        for a in &self.ack_logs {
            if !a.corrupt.is_empty() {
                let at: Vec<String> = a.corrupt.iter().map(u64::to_string).collect();
                write!(
                    f,
                    "\n  {}: {} at {} {}: {} sent again (a duplicate, not a loss)",
                    a.path.display(),
                    plural(
                        a.corrupt.len() as u64,
                        "corrupt ack record",
                        "corrupt ack records"
                    ),
                    if at.len() == 1 { "byte" } else { "bytes" },
                    at.join(", "),
                    if at.len() == 1 {
                        "its entry will be"
                    } else {
                        "their entries will be"
                    }
                )?;
            }
            if a.torn_bytes > 0 {
                write!(
                    f,
                    "\n  {}: partial last ack record ({}): harmless, the next open cuts it off",
                    a.path.display(),
                    plural(a.torn_bytes, "byte", "bytes")
                )?;
            }
        }
        Ok(())
    }
}
