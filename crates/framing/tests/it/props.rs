//! Property tests: chunking invariance, and the batcher's no-loss/no-reorder guarantees.

use crate::{Item, frame_cut};
use logferry_framing::{
    BatchConfig, Batcher, Format, Framer, FramingConfig, OversizePolicy, Utf8Policy,
};
use proptest::prelude::*;
use std::time::Instant;

fn config_strategy() -> impl Strategy<Value = FramingConfig> {
    (
        any::<bool>(),
        0u8..3,
        prop_oneof![Just(1usize), Just(4), Just(17), Just(500_000)],
        any::<bool>(),
    )
        .prop_map(|(replace, over, max, skip)| FramingConfig {
            utf8: if replace {
                Utf8Policy::Replace
            } else {
                Utf8Policy::Reject
            },
            oversize: [
                OversizePolicy::Split,
                OversizePolicy::Truncate,
                OversizePolicy::Reject,
            ][usize::from(over)],
            max_record_bytes: max,
            skip_blank: skip,
            max_rejected_bytes: 8,
            validate_lines: true,
            ..FramingConfig::default()
        })
}

/// Bytes biased towards the interesting ones: newlines, CR, braces, quotes, UTF-8.
fn input_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => any::<u8>(),
            3 => proptest::sample::select(b"\n\r{}[]\",: ab\\".to_vec()),
            1 => proptest::sample::select(vec![0xc3u8, 0xa9, 0xe2, 0x82, 0xac, 0xef, 0xbb, 0xbf]),
        ],
        0..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_cut_frames_like_the_whole(
        input in input_strategy(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        config in config_strategy(),
        json in any::<bool>(),
        bom in 0usize..4,
    ) {
        let format = if json { Format::Json } else { Format::Text };
        // A byte order mark at the start, whole or in part (then it is data).
        let input = [&b"\xEF\xBB\xBF"[..bom], &input].concat();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(
            frame_cut(format, &config, &input, &[]),
            frame_cut(format, &config, &input, &cuts)
        );
    }

    #[test]
    fn text_framing_loses_nothing_under_split(
        input in proptest::collection::vec(prop_oneof![any::<u8>().prop_filter("ascii", |b| b.is_ascii()), Just(b'\n')], 0..300),
        max in 1usize..20,
    ) {
        let config = FramingConfig { max_record_bytes: max, skip_blank: false, ..FramingConfig::default() };
        let items = frame_cut(Format::Text, &config, &input, &[]);
        // Reassemble: parts of a split line join; records are separated by the newlines
        // they consumed (CR before LF removed).
        let mut rebuilt = Vec::new();
        for item in &items {
            let Item::Rec(text, _, _, _, flags) = item else { panic!("unexpected error {item:?}") };
            rebuilt.extend_from_slice(text.as_bytes());
            prop_assert!(text.len() <= max);
            if !flags.contains('c') && !flags.contains('u') {
                rebuilt.push(b'\n');
            }
        }
        let expected: Vec<u8> = {
            let s = String::from_utf8(input.clone()).unwrap();
            s.replace("\r\n", "\n").into_bytes()
        };
        prop_assert_eq!(rebuilt, expected);
    }

    #[test]
    fn batcher_loses_duplicates_and_reorders_nothing(
        lines in proptest::collection::vec("[a-z0-9 ]{0,60}", 0..200),
        target in 1usize..300,
        max in 1usize..400,
        max_records in proptest::option::of(1usize..20),
    ) {
        let input: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
        let config = BatchConfig { target_bytes: target, max_bytes: max, max_records, ..BatchConfig::default() };
        let mut framer = Framer::new(Format::Text, FramingConfig { skip_blank: false, ..FramingConfig::default() });
        let mut batcher = Batcher::new(config, None);
        let now = Instant::now();
        let mut batches = Vec::new();
        framer.push(&input, |r| batcher.push(&r.unwrap(), now, |b| batches.push(b)));
        framer.finish(|r| batcher.push(&r.unwrap(), now, |b| batches.push(b)));
        batcher.flush(|b| batches.push(b));

        let mut joined = Vec::new();
        let mut last_end = 0;
        for (i, batch) in batches.iter().enumerate() {
            prop_assert_eq!(batch.seq(), i as u64);
            prop_assert!(!batch.is_empty());
            prop_assert!(batch.body().ends_with(b"\n"));
            // Only a single record bigger than the maximum may exceed it.
            prop_assert!(batch.body().len() <= max || batch.len() == 1, "batch over max");
            if let Some(limit) = max_records {
                prop_assert!(batch.len() <= limit);
            }
            let range = batch.range();
            prop_assert_eq!(range.start.offset, last_end, "ranges must be contiguous");
            last_end = range.end;
            joined.extend_from_slice(batch.body());
        }
        prop_assert_eq!(joined, input);
        prop_assert_eq!(last_end as usize, lines.iter().map(|l| l.len() + 1).sum::<usize>());
    }

    #[test]
    fn split_halves_rejoin(lines in proptest::collection::vec("[a-z]{0,30}", 2..50)) {
        let input: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
        let mut framer = Framer::new(Format::Text, FramingConfig { skip_blank: false, ..FramingConfig::default() });
        let mut batcher = Batcher::new(BatchConfig::default(), None);
        let now = Instant::now();
        framer.push(&input, |r| batcher.push(&r.unwrap(), now, |_| unreachable!()));
        let mut batches = Vec::new();
        batcher.flush(|b| batches.push(b));
        let batch = batches.remove(0);
        let n = batch.len();
        let (a, b) = batch.split_half().unwrap();
        prop_assert!(!a.is_empty() && !b.is_empty());
        prop_assert_eq!(a.len() + b.len(), n);
        prop_assert_eq!([a.body(), b.body()].concat(), input);
        prop_assert_eq!(a.range().end, b.range().start.offset);
    }
}

/// What framing and batching `input` (cut at `cuts`) gives: batches (body, spans,
/// sequence number), errors in order among them, and the framer's counters. With
/// `runs`, plain lines go through `push_runs` and `Batcher::push_run`.
fn batch_cut(
    config: &FramingConfig,
    batching: BatchConfig,
    input: &[u8],
    cuts: &[usize],
    runs: bool,
) -> (Vec<String>, String) {
    use logferry_framing::Framed;
    let mut framer = Framer::new(Format::Text, config.clone());
    let mut batcher = Batcher::new(batching, Some("in".into()));
    let now = Instant::now();
    let mut out: Vec<String> = Vec::new();
    let mut from = 0;
    let cuts = cuts.iter().copied().chain([input.len()]);
    for cut in cuts {
        let cut = cut.clamp(from, input.len());
        let chunk = &input[from..cut];
        from = cut;
        let record = |r: Result<logferry_framing::Record<'_>, logferry_framing::FrameError>,
                      batcher: &mut Batcher,
                      out: &mut Vec<String>| match r {
            Ok(r) => batcher.push(&r, now, |b| out.push(format!("{b:?}"))),
            Err(e) => out.push(e.to_string()),
        };
        if runs {
            framer.push_runs(chunk, |f| match f {
                Framed::Run(run) => batcher.push_run(&run, now, |b| out.push(format!("{b:?}"))),
                Framed::Record(r) => record(r, &mut batcher, &mut out),
            });
        } else {
            framer.push(chunk, |r| record(r, &mut batcher, &mut out));
        }
    }
    framer.finish(|r| match r {
        Ok(r) => batcher.push(&r, now, |b| out.push(format!("{b:?}"))),
        Err(e) => out.push(e.to_string()),
    });
    batcher.flush(|b| out.push(format!("{b:?}")));
    (out, format!("{:?} {:?}", framer.stats(), framer.position()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn runs_of_plain_lines_batch_like_records_one_by_one(
        input in input_strategy(),
        lines in proptest::collection::vec("[a-z ]{0,12}\r?\n?", 0..40),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        config in config_strategy(),
        target in 1usize..60,
        max in 1usize..120,
        max_records in proptest::option::of(1usize..6),
        bom in 0usize..4,
    ) {
        // Mostly plain lines (long runs), with the biased bytes in the middle.
        let plain = lines.concat();
        let half = plain.len() / 2;
        let input = [&b"\xEF\xBB\xBF"[..bom], &plain.as_bytes()[..half], &input, &plain.as_bytes()[half..]].concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let batching = BatchConfig {
            target_bytes: target,
            max_bytes: max.max(target),
            max_records,
            ..BatchConfig::default()
        };
        prop_assert_eq!(
            batch_cut(&config, batching, &input, &cuts, true),
            batch_cut(&config, batching, &input, &cuts, false)
        );
    }
}
