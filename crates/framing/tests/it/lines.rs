//! Text framing rules and policies.

use crate::{Item, frame, rec};
use logferry_framing::{Format, FramingConfig, LineFramer, OversizePolicy, Position, Utf8Policy};

fn text(input: &[u8]) -> Vec<Item> {
    frame(Format::Text, &FramingConfig::default(), input)
}

fn with(config: FramingConfig, input: &[u8]) -> Vec<Item> {
    frame(Format::Text, &config, input)
}

#[test]
fn lines_offsets_and_line_numbers() {
    assert_eq!(
        text(b"one\ntwo\n\nfour\n"),
        [
            rec("one", 0, 1, 4, ""),
            rec("two", 4, 2, 4, ""),
            rec("four", 9, 4, 5, "")
        ]
    );
}

#[test]
fn crlf_loses_its_cr_but_a_lone_cr_is_data() {
    assert_eq!(
        text(b"a\r\nb\rc\r\n\r\nend\r"),
        [
            rec("a", 0, 1, 3, ""),
            rec("b\rc", 3, 2, 5, ""),
            rec("end\r", 10, 4, 4, "u")
        ]
    );
}

#[test]
fn final_record_without_newline_is_flagged() {
    assert_eq!(
        text(b"x\ny"),
        [rec("x", 0, 1, 2, ""), rec("y", 2, 2, 1, "u")]
    );
    assert_eq!(text(b""), []);
    assert_eq!(text(b"\n\n"), []);
}

#[test]
fn blank_lines_can_be_kept() {
    let config = FramingConfig {
        skip_blank: false,
        ..FramingConfig::default()
    };
    assert_eq!(
        with(config, b"a\n\r\n\nb"),
        [
            rec("a", 0, 1, 2, ""),
            rec("", 2, 2, 2, ""),
            rec("", 4, 3, 1, ""),
            rec("b", 5, 4, 1, "u")
        ]
    );
}

#[test]
fn invalid_utf8_is_rejected_with_its_offset_and_the_stream_goes_on() {
    let config = FramingConfig::named("app.log");
    assert_eq!(
        with(config, b"ok\nbad \xff byte\nfine\n"),
        [
            rec("ok", 0, 1, 3, ""),
            Item::Err("app.log: line 2, byte 3: invalid UTF-8 at byte 7".into()),
            rec("fine", 14, 3, 5, ""),
        ]
    );
}

#[test]
fn invalid_utf8_can_be_replaced_and_is_counted() {
    let config = FramingConfig {
        utf8: Utf8Policy::Replace,
        ..FramingConfig::default()
    };
    assert_eq!(
        with(config.clone(), b"bad \xff\n"),
        [rec("bad \u{fffd}", 0, 1, 6, "r")]
    );
    let mut framer = LineFramer::new(config);
    framer.push(b"\xc3\n\xc3\xa9\n", |_| {});
    assert_eq!(framer.stats().replaced, 1);
    assert_eq!(framer.stats().records, 2);
}

#[test]
fn oversize_split_cuts_at_char_boundaries_and_loses_nothing() {
    let config = FramingConfig {
        max_record_bytes: 4,
        ..FramingConfig::default()
    };
    // "aé" is 3 bytes; a cut at 4 would split the second é.
    assert_eq!(
        with(config, "aéé€x\nok\n".as_bytes()),
        [
            rec("aé", 0, 1, 3, "sc"),
            rec("é", 3, 1, 2, "sc"),
            rec("€x", 5, 1, 5, "s"),
            rec("ok", 10, 2, 3, ""),
        ]
    );
}

#[test]
fn oversize_truncate_keeps_the_start_and_consumes_the_line() {
    let config = FramingConfig {
        max_record_bytes: 5,
        oversize: OversizePolicy::Truncate,
        ..FramingConfig::default()
    };
    assert_eq!(
        with(config, b"0123456789\nok"),
        [rec("01234", 0, 1, 11, "t"), rec("ok", 11, 2, 2, "u")]
    );
}

#[test]
fn oversize_reject_reports_length_and_keeps_bounded_raw_bytes() {
    let config = FramingConfig {
        max_record_bytes: 5,
        oversize: OversizePolicy::Reject,
        max_rejected_bytes: 3,
        ..FramingConfig::default()
    };
    let mut errors = Vec::new();
    let mut framer = LineFramer::new(config);
    for chunk in [&b"0123"[..], b"456789\r", b"\nok\n"] {
        framer.push(chunk, |r| {
            if let Err(e) = r {
                errors.push(e)
            }
        });
    }
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "line 1, byte 0: record of 10 bytes exceeds the 5-byte maximum"
    );
    assert_eq!(errors[0].raw, b"012");
    assert!(errors[0].raw_truncated);
    assert_eq!(framer.stats().errors, 1);
    assert_eq!(framer.stats().records, 1);
}

#[test]
fn a_cr_at_the_maximum_does_not_count_against_it() {
    let config = FramingConfig {
        max_record_bytes: 3,
        oversize: OversizePolicy::Reject,
        ..FramingConfig::default()
    };
    assert_eq!(with(config, b"abc\r\n"), [rec("abc", 0, 1, 5, "")]);
}

#[test]
fn memory_stays_bounded_for_an_endless_line() {
    let config = FramingConfig {
        max_record_bytes: 1000,
        oversize: OversizePolicy::Truncate,
        ..FramingConfig::default()
    };
    let mut framer = LineFramer::new(config);
    let chunk = vec![b'x'; 64 * 1024];
    let mut seen = 0;
    for _ in 0..200 {
        framer.push(&chunk, |_| seen += 1);
    }
    assert_eq!(seen, 0);
    let mut out = Vec::new();
    framer.finish(|r| out.push(r.unwrap().into_owned()));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].text.len(), 1000);
    assert_eq!(out[0].source_len, 200 * 64 * 1024);
    assert!(out[0].flags.truncated && out[0].flags.unterminated);
}

#[test]
fn resume_continues_offsets_and_lines() {
    let mut framer = LineFramer::resume(
        FramingConfig::default(),
        Position {
            offset: 100,
            line: 7,
        },
    );
    let mut out = Vec::new();
    framer.push(b"next\nmore", |r| out.push(r.unwrap().into_owned()));
    assert_eq!(
        out[0].position,
        Position {
            offset: 100,
            line: 7
        }
    );
    assert_eq!(
        framer.position(),
        Position {
            offset: 105,
            line: 8
        }
    );
}

#[test]
fn stats_count_everything() {
    let mut framer = LineFramer::new(FramingConfig::default());
    framer.push(b"a\n\nb\xff\nc", |_| {});
    framer.finish(|_| {});
    let s = framer.stats();
    assert_eq!(
        (s.bytes, s.records, s.blank, s.errors, s.unterminated),
        (7, 2, 1, 1, 1)
    );
}

#[test]
fn replacement_never_pushes_a_record_over_the_maximum() {
    // Each 0xff becomes the 3-byte U+FFFD: 10 raw bytes become 30.
    let config = FramingConfig {
        max_record_bytes: 8,
        utf8: Utf8Policy::Replace,
        ..FramingConfig::default()
    };
    let out = with(
        config.clone(),
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\nab\xffcd\n",
    );
    let mut offset = 0;
    for item in &out[..out.len() - 1] {
        let Item::Rec(text, at, _, len, _) = item else {
            panic!("{item:?}")
        };
        assert!(text.len() <= 8, "{text:?} is over the maximum");
        assert_eq!(*at, offset, "parts must be contiguous in the source");
        offset += len;
    }
    assert_eq!(offset, 11);
    assert_eq!(out.last(), Some(&rec("ab\u{fffd}cd", 11, 2, 6, "r")));
    let truncate = FramingConfig {
        oversize: OversizePolicy::Truncate,
        ..config
    };
    assert_eq!(
        with(truncate, b"a\xff\xff\xff\n"),
        [rec("a\u{fffd}\u{fffd}", 0, 1, 5, "rt")]
    );
}

/// Inputs the fuzzer found; each once broke an invariant.
#[test]
fn fuzz_regressions() {
    for data in [
        // Replacement characters grew a split part past the maximum.
        &b"\xbb\x01\x01`a\nb\xff\necond \xa9\xacd`\n\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0\0\0\0\0\0\0\0b^a\xff\n"[..],
        // Document positions were computed in replaced text, past the raw input.
        &b"\x27\x02\x07\x00\x14\x00\x5b\xfd\xdf\x00\x00\x00\x07\x9b\x9b\x9b\x9b\x9b\x9b\x9b\x9b\x9b\x00\x10\x31\x2c\x20\x22\x73\x0a\x2c\x5b\x2c\x7b\x22\x63\x22\x22\x61"[..],
        // A cut was decided before a 4-byte character finished arriving in the next chunk.
        &b"\x01\xff\xff\xff\xff\x01\x05\x01\x63\x61\x66\xc3\xa9\xac\x0a\x63\xe1\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\xb9\xff\x7c\x00\x00\x05\x00\x00\x00\x81\x81\x81\x81\x81\x81\x81\x81\x81\x81\x2b\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\x81\x81\x81\x81\x81\x81\x81\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x64\x20\xff\x0a"[..],
    ] {
        logferry_framing::fuzzing::line_framer(data);
        logferry_framing::fuzzing::json_framer(data);
    }
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped_and_positions_stay_exact() {
    assert_eq!(
        text(b"\xEF\xBB\xBFfirst\r\nsecond"),
        [rec("first", 3, 1, 7, ""), rec("second", 10, 2, 6, "u")]
    );
    assert_eq!(text(b"\xEF\xBB\xBF"), []);
    assert_eq!(text(b"\xEF\xBB\xBF\n"), []);
    // Part of a mark, or a mark later on, is data.
    let replace = FramingConfig {
        utf8: Utf8Policy::Replace,
        ..FramingConfig::default()
    };
    assert_eq!(
        with(replace.clone(), b"\xEF\xBBx\n"),
        [rec("\u{FFFD}x", 0, 1, 4, "r")]
    );
    assert_eq!(with(replace, b"\xEF\xBB"), [rec("\u{FFFD}", 0, 1, 2, "ur")]);
    assert_eq!(
        text(b"a\n\xEF\xBB\xBFb\n"),
        [rec("a", 0, 1, 2, ""), rec("\u{FEFF}b", 2, 2, 5, "")]
    );
    // A framer resumed inside a source does not look for one.
    let mut framer = LineFramer::resume(
        FramingConfig::default(),
        Position {
            offset: 10,
            line: 2,
        },
    );
    let mut out = Vec::new();
    framer.push(b"\xEF\xBB\xBFx\n", |r| {
        out.push(r.unwrap().text.into_owned());
    });
    assert_eq!(out, ["\u{FEFF}x"]);
}
