//! Property harnesses for the fuzz targets in `fuzz/` (public so the fuzz crate can call
//! them; not part of the stable API).
//!
//! Each harness frames its input whole and cut into chunks at positions taken from the
//! input itself, and asserts the framing invariants: identical results for any cut, every
//! record and error inside the input's bounds, offsets increasing, no record over the
//! maximum (text) and every JSON record a single line.

use crate::{
    BatchConfig, Batcher, Format, Framed as Piece, Framer, FramingConfig, OversizePolicy,
    Utf8Policy,
};
use std::time::Instant;

/// Outcome of framing, comparable between cuts.
type Framed = Vec<Result<(String, u64, u64, u64), (u64, u64)>>;

fn frame(format: Format, config: &FramingConfig, input: &[u8], cuts: &[usize]) -> Framed {
    let mut framer = Framer::new(format, config.clone());
    let mut out = Framed::new();
    let mut sink = |r: Result<crate::Record<'_>, crate::FrameError>| {
        out.push(match r {
            Ok(r) => Ok((
                r.text.into_owned(),
                r.position.offset,
                r.position.line,
                r.source_len,
            )),
            Err(e) => Err((e.position.offset, e.position.line)),
        })
    };
    let mut from = 0;
    for &cut in cuts {
        let cut = cut.clamp(from, input.len());
        framer.push(&input[from..cut], &mut sink);
        from = cut;
    }
    framer.push(&input[from..], &mut sink);
    framer.finish(&mut sink);
    out
}

/// Splits fuzz data into a configuration byte, cut points and the input.
fn parse(data: &[u8]) -> Option<(FramingConfig, Vec<usize>, &[u8])> {
    let (&knobs, rest) = data.split_first()?;
    let (&ncuts, rest) = rest.split_first()?;
    let ncuts = usize::from(ncuts % 8);
    if rest.len() < ncuts * 2 {
        return None;
    }
    let (cut_bytes, input) = rest.split_at(ncuts * 2);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (input.len() + 1))
        .collect();
    cuts.sort_unstable();
    let config = FramingConfig {
        utf8: if knobs & 1 == 0 {
            Utf8Policy::Reject
        } else {
            Utf8Policy::Replace
        },
        oversize: match (knobs >> 1) % 3 {
            0 => OversizePolicy::Split,
            1 => OversizePolicy::Truncate,
            _ => OversizePolicy::Reject,
        },
        max_record_bytes: [1, 3, 16, 64, 500_000][usize::from(knobs >> 3) % 5],
        skip_blank: knobs & 0x80 == 0,
        max_rejected_bytes: 32,
        validate_lines: true,
        ..FramingConfig::default()
    };
    Some((config, cuts, input))
}

fn check(format: Format, data: &[u8]) {
    let Some((config, cuts, input)) = parse(data) else {
        return;
    };
    let whole = frame(format, &config, input, &[]);
    let chunked = frame(format, &config, input, &cuts);
    assert_eq!(whole, chunked, "framing depends on how the input was cut");
    let mut last = 0u64;
    for item in &whole {
        let (offset, line) = match item {
            Ok((text, offset, line, len)) => {
                assert!(
                    offset + len <= input.len() as u64,
                    "record ends past the input"
                );
                assert!(!text.contains('\n'), "a record contains a newline");
                if format == Format::Text && config.oversize != OversizePolicy::Reject {
                    assert!(
                        text.len() <= config.max_record_bytes.max(4),
                        "record over the maximum"
                    );
                }
                (*offset, *line)
            }
            Err((offset, line)) => (*offset, *line),
        };
        assert!(offset <= input.len() as u64, "position past the input");
        assert!(
            offset >= last || format == Format::Json,
            "positions go backwards"
        );
        let newlines = input[..offset as usize]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        assert_eq!(line, newlines + 1, "line number disagrees with the offset");
        last = offset;
    }
}

/// Line framer: same records for any cut, positions exact, sizes bounded.
pub fn line_framer(data: &[u8]) {
    check(Format::Text, data);
}

/// JSON framer: same records for any cut, positions exact, records single-line.
pub fn json_framer(data: &[u8]) {
    check(Format::Json, data);
}

/// Frames and batches `input` cut at `cuts`: with `runs`, plain lines go through
/// `push_runs` and `Batcher::push_run`, otherwise record by record. Each batch is
/// described, then its body handed back to the shelf ([`crate::recycle`]) so the next
/// batches reuse it. Returns the batches and errors in order.
fn batch(
    config: &FramingConfig,
    batching: BatchConfig,
    input: &[u8],
    cuts: &[usize],
    runs: bool,
) -> Vec<String> {
    let mut framer = Framer::new(Format::Text, config.clone());
    let mut batcher = Batcher::new(batching, Some("in".into()));
    let now = Instant::now();
    let mut out = Vec::new();
    let emit = |out: &mut Vec<String>, b: crate::Batch| {
        out.push(format!("{b:?}"));
        crate::recycle(b.into_body());
    };
    let record = |r: Result<crate::Record<'_>, crate::FrameError>,
                  batcher: &mut Batcher,
                  out: &mut Vec<String>| match r {
        Ok(r) => batcher.push(&r, now, |b| emit(out, b)),
        Err(e) => out.push(e.to_string()),
    };
    let mut from = 0;
    for cut in cuts.iter().copied().chain([input.len()]) {
        let cut = cut.clamp(from, input.len());
        let chunk = &input[from..cut];
        from = cut;
        if runs {
            framer.push_runs(chunk, |piece| match piece {
                Piece::Run(run) => batcher.push_run(&run, now, |b| emit(&mut out, b)),
                Piece::Record(r) => record(r, &mut batcher, &mut out),
            });
        } else {
            framer.push(chunk, |r| record(r, &mut batcher, &mut out));
        }
    }
    framer.finish(|r| record(r, &mut batcher, &mut out));
    batcher.flush(|b| emit(&mut out, b));
    out
}

/// Line framer into batches: plain lines batched in runs (`push_runs`, `push_run`) give
/// exactly the batches that framing and batching record by record gives, for any cut of
/// the input and any batch limits, with batch bodies recycled between batches.
pub fn line_batcher(data: &[u8]) {
    let Some((config, cuts, input)) = parse(data) else {
        return;
    };
    let knobs = data.get(1).copied().unwrap_or(0);
    let batching = BatchConfig {
        target_bytes: [1, 7, 64, 4096][usize::from(knobs & 3)],
        max_bytes: [1, 16, 100, 1 << 20][usize::from((knobs >> 2) & 3)],
        max_records: [None, Some(1), Some(3), None][usize::from((knobs >> 4) & 3)],
        ..BatchConfig::default()
    };
    let by_record = batch(&config, batching, input, &[], false);
    let by_run = batch(&config, batching, input, &cuts, true);
    assert_eq!(
        by_record, by_run,
        "batching runs differs from batching records"
    );
}
