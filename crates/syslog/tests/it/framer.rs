//! The RFC 6587 framer: both framings in one stream, trailers, limits, offsets.

use logferry_syslog::fuzzing::{Owned, frame_all};
use logferry_syslog::{Event, Framer, FramerConfig, Framing, Oversize};

fn config(max: usize, oversize: Oversize) -> FramerConfig {
    FramerConfig {
        max_message_bytes: max,
        oversize,
    }
}

fn frame(offset: u64, bytes: &[u8]) -> Owned {
    Owned::Frame(offset, bytes.to_vec())
}

#[test]
fn octet_counting_and_newlines_mixed() {
    let stream: &[u8] = b"5 <13>a<13>b\n<13>c\r\n\n3 <1>\0<13>d\0<13>e";
    let got = frame_all(FramerConfig::default(), [stream]);
    assert_eq!(
        got,
        vec![
            frame(0, b"<13>a"),
            frame(7, b"<13>b"),
            frame(13, b"<13>c"),
            frame(21, b"<1>"),
            frame(27, b"<13>d"),
            frame(33, b"<13>e"),
        ]
    );
}

#[test]
fn framing_is_reported() {
    let mut framer = Framer::new(FramerConfig::default());
    let mut kinds = Vec::new();
    framer.push(b"4 abcdxyz\n", &mut |e| {
        if let Event::Frame(f) = e {
            kinds.push((f.framing, f.bytes.to_vec()));
        }
    });
    assert_eq!(
        kinds,
        vec![
            (Framing::OctetCounting, b"abcd".to_vec()),
            (Framing::NonTransparent, b"xyz".to_vec())
        ]
    );
}

#[test]
fn digits_without_a_space_are_text() {
    // Cisco without PRI, a number-only line, too many digits.
    let got = frame_all(
        FramerConfig::default(),
        [&b"123: *Mar  1 x\n42\n12345678901 y\n"[..]],
    );
    assert_eq!(
        got,
        vec![
            frame(0, b"123: *Mar  1 x"),
            frame(15, b"42"),
            frame(18, b"12345678901 y")
        ]
    );
    // The last line without trailer is delivered at the end of the stream.
    assert_eq!(
        frame_all(FramerConfig::default(), [&b"7"[..]]),
        vec![frame(0, b"7")]
    );
}

#[test]
fn oversized_frames_are_skipped_or_truncated() {
    let stream: &[u8] = b"10 0123456789<13>toolong\nok\n";
    assert_eq!(
        frame_all(config(4, Oversize::Skip), [stream]),
        vec![
            Owned::Oversized(0, 10, None),
            Owned::Oversized(13, 11, None),
            frame(25, b"ok")
        ]
    );
    assert_eq!(
        frame_all(config(4, Oversize::Truncate), [stream]),
        vec![
            Owned::Oversized(0, 10, Some(b"0123".to_vec())),
            Owned::Oversized(13, 11, Some(b"<13>".to_vec())),
            frame(25, b"ok")
        ]
    );
}

#[test]
fn memory_stays_bounded_for_a_huge_frame() {
    let mut framer = Framer::new(config(100, Oversize::Skip));
    let mut events = 0;
    framer.push(b"99999999 ", &mut |_| events += 1);
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..100 {
        framer.push(&chunk, &mut |_| events += 1);
        assert!(framer.buffered() <= 100);
    }
    let mut line = Framer::new(config(100, Oversize::Skip));
    for _ in 0..100 {
        line.push(&chunk, &mut |_| events += 1);
        assert!(line.buffered() <= 101);
    }
    assert_eq!(events, 0);
    let mut last = None;
    line.push(b"\n", &mut |e| {
        if let Event::Oversized { len, .. } = e {
            last = Some(len);
        }
    });
    assert_eq!(last, Some(6_553_600));
    assert_eq!(line.position(), 6_553_601);
}

#[test]
fn a_stream_cut_inside_a_counted_frame_is_incomplete() {
    assert_eq!(
        frame_all(FramerConfig::default(), [&b"<13>a\n20 <13>short"[..]]),
        vec![frame(0, b"<13>a"), Owned::Incomplete(6, 20, 9)]
    );
}

#[test]
fn crlf_split_across_pushes() {
    let got = frame_all(
        FramerConfig::default(),
        [&b"<13>a\r"[..], b"\n<13>b\r", b"\n"],
    );
    assert_eq!(got, vec![frame(0, b"<13>a"), frame(7, b"<13>b")]);
    // A CR inside a message stays.
    let got = frame_all(FramerConfig::default(), [&b"a\rb\n"[..]]);
    assert_eq!(got, vec![frame(0, b"a\rb")]);
}
