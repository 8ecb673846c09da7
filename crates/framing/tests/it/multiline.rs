//! The multiline merger: stack traces and tracebacks, the cap, the timeout, flush, and
//! positions that tile the source.

use logferry_framing::{
    FramingConfig, LineFramer, Multiline, MultilineConfig, MultilineRule, MultilineStats, Record,
};
use proptest::prelude::*;
use regex::Regex;
use std::time::{Duration, Instant};

/// A merged record as tests compare it: text, offset, line, source_len, unterminated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Merged(String, u64, u64, u64, bool);

fn merged(r: Record<'_>) -> Merged {
    Merged(
        r.text.into_owned(),
        r.position.offset,
        r.position.line,
        r.source_len,
        r.flags.unterminated,
    )
}

fn start(pattern: &str, max_bytes: usize) -> MultilineConfig {
    MultilineConfig {
        rule: MultilineRule::Start(Regex::new(pattern).expect("test pattern")),
        max_bytes,
        timeout: Duration::from_secs(1),
        join: "\n".into(),
    }
}

fn cont(pattern: &str, max_bytes: usize) -> MultilineConfig {
    MultilineConfig {
        rule: MultilineRule::Continue(Regex::new(pattern).expect("test pattern")),
        ..start("", max_bytes)
    }
}

/// Frames `source` (cut at `cuts`), pushes every line at `now`, flushes, and checks that
/// the merged records tile the source: each starts where the previous ended, the first at
/// 0, the last at the end, each on the line its offset says.
fn merge_at(
    config: MultilineConfig,
    source: &[u8],
    cuts: &[usize],
) -> (Vec<Merged>, MultilineStats) {
    let now = Instant::now();
    let mut merger = Multiline::new(config);
    let mut framer = LineFramer::new(FramingConfig {
        skip_blank: false,
        ..FramingConfig::default()
    });
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts.iter().copied().chain([source.len()]) {
        let cut = cut.clamp(from, source.len());
        framer.push(&source[from..cut], |r| {
            merger.push(r.expect("valid test input"), now, &mut |m| {
                out.push(merged(m))
            })
        });
        from = cut;
    }
    framer.finish(|r| {
        merger.push(r.expect("valid test input"), now, &mut |m| {
            out.push(merged(m))
        })
    });
    merger.flush(&mut |m| out.push(merged(m)));
    assert_tiles(&out, source);
    (out, merger.stats())
}

fn merge(config: MultilineConfig, source: &[u8]) -> (Vec<Merged>, MultilineStats) {
    merge_at(config, source, &[])
}

fn assert_tiles(out: &[Merged], source: &[u8]) {
    let mut at = 0u64;
    for m in out {
        assert_eq!(
            m.1, at,
            "{m:?} does not start where the previous record ended"
        );
        let newlines = source[..at as usize]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        assert_eq!(m.2, newlines as u64 + 1, "{m:?}: wrong line number");
        at += m.3;
    }
    assert_eq!(
        at,
        source.len() as u64,
        "the merged records do not cover the source"
    );
}

fn rec(text: &str, offset: u64, line: u64, len: u64) -> Merged {
    Merged(text.into(), offset, line, len, false)
}

const JAVA: &str = "\
2026-12-02 10:00:00 INFO started
2026-12-02 10:00:01 ERROR request failed
java.lang.IllegalStateException: boom
\tat com.example.Foo.bar(Foo.java:10)
\tat com.example.Main.main(Main.java:5)
Caused by: java.io.IOException: disk
\tat com.example.Disk.read(Disk.java:42)
\t... 2 more
2026-12-02 10:00:02 INFO recovered
";

#[test]
fn java_stack_trace_is_one_record_at_its_first_line() {
    let (out, stats) = merge(start(r"^\d{4}-\d{2}-\d{2} ", 1_000_000), JAVA.as_bytes());
    let lines: Vec<&str> = JAVA.lines().collect();
    let trace = lines[1..8].join("\n");
    let trace_len = lines[1..8].iter().map(|l| l.len() as u64 + 1).sum();
    assert_eq!(
        out,
        [
            rec(lines[0], 0, 1, 33),
            rec(&trace, 33, 2, trace_len),
            rec(lines[8], 33 + trace_len, 9, lines[8].len() as u64 + 1),
        ]
    );
    assert_eq!(
        (stats.records_merged, stats.lines_merged, stats.records_cut),
        (1, 6, 0)
    );
}

#[test]
fn visible_separator_for_http_ingest_text() {
    let config = MultilineConfig {
        join: " \u{23CE} ".into(),
        ..start(r"^\S", 1_000_000)
    };
    let (out, _) = merge(config, b"boom\n  at a\n  at b\nok\n");
    assert_eq!(
        out,
        [
            rec("boom \u{23CE}   at a \u{23CE}   at b", 0, 1, 19),
            rec("ok", 19, 4, 3)
        ]
    );
    assert!(out.iter().all(|m| !m.0.contains('\n')));
}

const PYTHON: &str = "\
INFO:app:starting
ERROR:app:division failed
Traceback (most recent call last):
  File \"app.py\", line 3, in <module>
    1/0
ZeroDivisionError: division by zero
INFO:app:next
";

#[test]
fn python_traceback_with_a_continuation_rule() {
    let rule = r"^(\s|Traceback \(most recent call last\):|\w+(Error|Exception): )";
    let (out, stats) = merge(cont(rule, 1_000_000), PYTHON.as_bytes());
    let lines: Vec<&str> = PYTHON.lines().collect();
    let trace = lines[1..6].join("\n");
    assert_eq!(
        out,
        [
            rec(lines[0], 0, 1, 18),
            rec(&trace, 18, 2, trace.len() as u64 + 1),
            rec(lines[6], 18 + trace.len() as u64 + 1, 7, 14),
        ]
    );
    assert_eq!((stats.records_merged, stats.lines_merged), (1, 4));
}

#[test]
fn continuation_lines_with_nothing_held_stay_together() {
    // The documented choice: lines before the first start match (the tail of a trace
    // whose start was not read) form one record, like the lines after a cut or timeout.
    let (out, _) = merge(start(r"^\S", 1_000_000), b"  at x\n  at y\nnew\n  at z\n");
    assert_eq!(
        out,
        [
            rec("  at x\n  at y", 0, 1, 14),
            rec("new\n  at z", 14, 3, 11)
        ]
    );
    // The same with a continuation rule whose first line matches.
    let (out, _) = merge(cont(r"^\s", 1_000_000), b"  a\n  b\nc\n");
    assert_eq!(out, [rec("  a\n  b", 0, 1, 8), rec("c", 8, 3, 2)]);
}

#[test]
fn the_cap_cuts_before_the_line_that_would_pass_it() {
    // "E" + 4 frames of 5 bytes ("\n  fN" = 5 with the separator): 1 + 5 * 4 = 21.
    let source = b"E\n  f1\n  f2\n  f3\n  f4\nX\n";
    let (out, stats) = merge(start(r"^\S", 11), source);
    assert_eq!(
        out,
        [
            rec("E\n  f1\n  f2", 0, 1, 12),
            rec("  f3\n  f4", 12, 4, 10),
            rec("X", 22, 6, 2),
        ]
    );
    assert!(out.iter().all(|m| m.0.len() <= 11));
    assert_eq!(
        (stats.records_merged, stats.lines_merged, stats.records_cut),
        (2, 3, 1)
    );
    // Exactly at the cap is allowed.
    let (out, stats) = merge(start(r"^\S", 6), b"E\n  f1\n");
    assert_eq!(out, [rec("E\n  f1", 0, 1, 7)]);
    assert_eq!(stats.records_cut, 0);
    // A single line over the cap travels alone; the next continuation starts a record.
    let (out, stats) = merge(start(r"^\S", 3), b"EEEEEE\n  f\n");
    assert_eq!(out, [rec("EEEEEE", 0, 1, 7), rec("  f", 7, 2, 4)]);
    assert_eq!(stats.records_cut, 1);
}

/// One line of `text` at `offset` on `line`, terminated.
fn line(text: &str, offset: u64, line: u64) -> Record<'_> {
    let mut framer = LineFramer::resume(
        FramingConfig::default(),
        logferry_framing::Position { offset, line },
    );
    let mut out = None;
    framer.push(format!("{text}\n").as_bytes(), |r| {
        out = Some(r.expect("valid").into_owned())
    });
    out.expect("one record")
}

#[test]
fn the_timeout_counts_from_the_last_line_via_poll_and_deadline() {
    let t0 = Instant::now();
    let s = Duration::from_millis;
    let mut merger = Multiline::new(start(r"^\S", 1_000_000));
    let mut out = Vec::new();
    assert_eq!(merger.deadline(), None);
    merger.push(line("boom", 0, 1), t0, &mut |m| out.push(merged(m)));
    assert_eq!(merger.deadline(), Some(t0 + s(1000)));
    merger.push(line("  at a", 5, 2), t0 + s(600), &mut |m| {
        out.push(merged(m))
    });
    // The deadline moved with the last line: polling at the first line's deadline is early.
    assert_eq!(merger.deadline(), Some(t0 + s(1600)));
    merger.poll(t0 + s(1000), &mut |m| out.push(merged(m)));
    merger.poll(t0 + s(1599), &mut |m| out.push(merged(m)));
    assert!(out.is_empty());
    merger.poll(t0 + s(1600), &mut |m| out.push(merged(m)));
    assert_eq!(out, [rec("boom\n  at a", 0, 1, 12)]);
    assert_eq!(merger.deadline(), None);
    // A continuation line after the timeout begins a record of its own.
    merger.push(line("  at b", 12, 3), t0 + s(2000), &mut |m| {
        out.push(merged(m))
    });
    merger.flush(&mut |m| out.push(merged(m)));
    assert_eq!(out[1], rec("  at b", 12, 3, 7));
}

#[test]
fn a_push_after_the_deadline_emits_as_a_poll_would_have() {
    let t0 = Instant::now();
    let mut merger = Multiline::new(start(r"^\S", 1_000_000));
    let mut out = Vec::new();
    merger.push(line("boom", 0, 1), t0, &mut |m| out.push(merged(m)));
    merger.push(
        line("  late", 5, 2),
        t0 + Duration::from_secs(1),
        &mut |m| out.push(merged(m)),
    );
    assert_eq!(out, [rec("boom", 0, 1, 5)]);
    merger.flush(&mut |m| out.push(merged(m)));
    assert_eq!(out[1], rec("  late", 5, 2, 7));
}

#[test]
fn flush_emits_what_is_held_once_and_keeps_unterminated() {
    let (out, _) = merge(start(r"^\S", 1_000_000), b"a\n  b\n  c");
    assert_eq!(out, [Merged("a\n  b\n  c".into(), 0, 1, 9, true)]);
    let mut merger = Multiline::new(start(r"^\S", 1_000_000));
    let mut count = 0;
    merger.push(line("a", 0, 1), Instant::now(), &mut |_| count += 1);
    merger.flush(&mut |_| count += 1);
    merger.flush(&mut |_| count += 1);
    assert_eq!((count, merger.deadline()), (1, None));
}

#[test]
fn skipped_blank_lines_inside_a_record_are_covered_by_it() {
    // With skip_blank (the default) the framer leaves gaps; the merged record runs from
    // its first line's start to its last line's end, so the checkpoint is exact.
    let source = b"E\n  a\n\n  b\nF\n";
    let mut framer = LineFramer::new(FramingConfig::default());
    let mut merger = Multiline::new(start(r"^\S", 1_000_000));
    let mut out = Vec::new();
    let now = Instant::now();
    framer.push(source, |r| {
        merger.push(r.expect("valid"), now, &mut |m| out.push(merged(m)))
    });
    merger.flush(&mut |m| out.push(merged(m)));
    assert_eq!(out, [rec("E\n  a\n  b", 0, 1, 11), rec("F", 11, 5, 2)]);
}

#[test]
fn a_line_before_the_held_record_ends_is_not_joined() {
    let now = Instant::now();
    let mut merger = Multiline::new(start(r"^\S", 1_000_000));
    let mut out = Vec::new();
    merger.push(line("E", 10, 3), now, &mut |m| out.push(merged(m)));
    merger.push(line("  x", 0, 1), now, &mut |m| out.push(merged(m)));
    merger.flush(&mut |m| out.push(merged(m)));
    assert_eq!(out, [rec("E", 10, 3, 2), rec("  x", 0, 1, 4)]);
}

/// Reference model: the merge rule on whole lines, all arriving at once.
fn model(source: &str, max_bytes: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut held: Option<String> = None;
    for l in source.split_inclusive('\n') {
        let l = l.strip_suffix('\n').unwrap_or(l);
        let l = l.strip_suffix('\r').unwrap_or(l);
        match &mut held {
            Some(h)
                if !l.starts_with(|c: char| !c.is_whitespace())
                    && h.len() + 1 + l.len() <= max_bytes =>
            {
                h.push('\n');
                h.push_str(l);
            }
            _ => out.extend(held.replace(l.to_owned())),
        }
    }
    out.extend(held);
    out
}

fn source_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => "[a-z]{1,6}",
            4 => " [a-z]{0,8}",
            1 => Just(String::new()),
        ],
        0..30,
    )
    .prop_flat_map(|lines| {
        let joined = lines.join("\n");
        (Just(joined), any::<bool>())
    })
    .prop_map(|(s, terminated)| {
        if terminated && !s.is_empty() {
            s + "\n"
        } else {
            s
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any chunking of the source gives the same merged records, which match the model
    /// and tile the source.
    #[test]
    fn any_chunking_merges_the_same(
        source in source_strategy(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max_bytes in prop_oneof![Just(4usize), Just(12), Just(1_000_000)],
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (source.len() + 1)).collect();
        cuts.sort_unstable();
        let (whole, _) = merge(start(r"^\S", max_bytes), source.as_bytes());
        let (chunked, stats) = merge_at(start(r"^\S", max_bytes), source.as_bytes(), &cuts);
        prop_assert_eq!(&whole, &chunked);
        let texts: Vec<String> = whole.iter().map(|m| m.0.clone()).collect();
        prop_assert_eq!(texts, model(&source, max_bytes));
        let lines = source.split_inclusive('\n').count() as u64;
        prop_assert_eq!(lines, whole.len() as u64 + stats.lines_merged);
    }

    /// Lines arriving at given instants merge the same whether the caller polls often,
    /// at random instants, or never.
    #[test]
    fn polling_never_changes_the_output(
        source in source_strategy(),
        gaps_ms in proptest::collection::vec(0u64..2500, 30),
        polls in proptest::collection::vec((any::<bool>(), 0u64..2500), 30),
    ) {
        let t0 = Instant::now();
        let records: Vec<Record<'static>> = {
            let mut framer = LineFramer::new(FramingConfig { skip_blank: false, ..FramingConfig::default() });
            let mut v = Vec::new();
            framer.push(source.as_bytes(), |r| v.push(r.expect("valid").into_owned()));
            framer.finish(|r| v.push(r.expect("valid").into_owned()));
            v
        };
        let mut at = t0;
        let times: Vec<Instant> = gaps_ms.iter().map(|g| { at += Duration::from_millis(*g); at }).collect();
        let run = |poll: bool| -> Result<Vec<Merged>, TestCaseError> {
            let mut merger = Multiline::new(start(r"^\S", 1_000_000));
            let mut out = Vec::new();
            for (i, r) in records.iter().enumerate() {
                let (on, extra) = polls[i];
                if poll && on && i > 0 {
                    // Any instant between the previous line and this one.
                    let span = times[i].duration_since(times[i - 1]);
                    let when = times[i - 1] + span.min(Duration::from_millis(extra));
                    merger.poll(when, &mut |m| out.push(merged(m)));
                    if let Some(d) = merger.deadline() {
                        prop_assert!(d > when, "poll left a record past its deadline");
                    }
                }
                merger.push(r.clone(), times[i], &mut |m| out.push(merged(m)));
            }
            merger.flush(&mut |m| out.push(merged(m)));
            Ok(out)
        };
        let quiet = run(false)?;
        prop_assert_eq!(&quiet, &run(true)?);
        assert_tiles(&quiet, source.as_bytes());
        // No record holds two lines that arrived a timeout or more apart.
        let mut line = 0;
        for m in &quiet {
            let n = m.0.matches('\n').count();
            for k in line..line + n {
                prop_assert!(times[k + 1].duration_since(times[k]) < Duration::from_secs(1));
            }
            line += n + 1;
        }
    }
}
