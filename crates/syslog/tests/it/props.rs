//! Properties: `parse` and the HEC parser take any bytes; any chunking frames alike.

use logferry_syslog::fuzzing::{self, Owned, frame_all};
use logferry_syslog::{FramerConfig, Oversize};
use proptest::prelude::*;

/// One frame of a generated stream, written in either framing.
fn frame_strategy() -> impl Strategy<Value = Vec<u8>> {
    let body = prop::collection::vec(
        prop_oneof![Just(b'<'), Just(b'1'), Just(b' '), Just(b'\r'), any::<u8>()],
        0..40,
    );
    (body, 0..4u8).prop_map(|(body, how)| match how {
        0 => {
            let mut v = format!("{} ", body.len().max(1)).into_bytes();
            let mut body = body;
            if body.is_empty() {
                body.push(b'x');
            }
            v.extend_from_slice(&body);
            v
        }
        1 => {
            let mut v: Vec<u8> = body
                .into_iter()
                .filter(|b| *b != b'\n' && *b != 0)
                .collect();
            v.push(b'\n');
            v
        }
        2 => {
            let mut v: Vec<u8> = body
                .into_iter()
                .filter(|b| *b != b'\n' && *b != 0)
                .collect();
            v.extend_from_slice(b"\r\n");
            v
        }
        _ => {
            let mut v: Vec<u8> = body
                .into_iter()
                .filter(|b| *b != b'\n' && *b != 0)
                .collect();
            v.push(0);
            v
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzzing::syslog_parse(&data);
    }

    #[test]
    fn parse_never_panics_on_syslog_like_text(
        data in "<[0-9]{1,3}>(1 )?[-0-9TZ:.+ ]{0,30}[ a-z\\[\\]=\"\\\\@-]{0,60}"
    ) {
        fuzzing::syslog_parse(data.as_bytes());
    }

    #[test]
    fn any_chunking_gives_the_same_frames(
        frames in prop::collection::vec(frame_strategy(), 0..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        max in 1..48usize,
        truncate in any::<bool>(),
    ) {
        let stream: Vec<u8> = frames.concat();
        let config = FramerConfig {
            max_message_bytes: max,
            oversize: if truncate { Oversize::Truncate } else { Oversize::Skip },
        };
        let whole = frame_all(config, [&stream[..]]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for p in points {
            chunks.push(&stream[from..p]);
            from = p;
        }
        chunks.push(&stream[from..]);
        prop_assert_eq!(frame_all(config, chunks), whole.clone());
        prop_assert_eq!(frame_all(config, stream.chunks(1)), whole);
    }

    #[test]
    fn framer_harness_holds(data in prop::collection::vec(any::<u8>(), 0..200)) {
        fuzzing::syslog_framer(&data);
    }

    #[test]
    fn hec_never_panics(data in prop::collection::vec(any::<u8>(), 0..200)) {
        fuzzing::hec_body(&data);
    }

    #[test]
    fn hec_json_like(data in "[{}\\[\\]\":,a-z0-9 \n.]{0,80}") {
        fuzzing::hec_body(data.as_bytes());
    }
}

#[test]
fn every_byte_boundary_of_a_mixed_stream() {
    let stream: &[u8] = b"11 <13>1 - - -<13>Mar  1 12:00:00 h a: x\r\n<13>b\x005 <1>ab\n\n<14>c";
    let config = FramerConfig {
        max_message_bytes: 10,
        oversize: Oversize::Truncate,
    };
    let whole = frame_all(config, [stream]);
    assert_eq!(
        whole,
        vec![
            Owned::Oversized(0, 11, Some(b"<13>1 - - ".to_vec())),
            Owned::Oversized(14, 26, Some(b"<13>Mar  1".to_vec())),
            Owned::Frame(42, b"<13>b".to_vec()),
            Owned::Frame(48, b"<1>ab".to_vec()),
            Owned::Frame(57, b"<14>c".to_vec()),
        ]
    );
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(frame_all(config, [a, b]), whole, "cut at {cut}");
    }
}
