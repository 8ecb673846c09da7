//! The fuzz harnesses (`fuzz/fuzz_targets/syslog_*.rs`), here so tests can run them too.

use crate::{Event, Framer, FramerConfig, Kind, Oversize, parse};

/// [`parse`] never panics, keeps the input whole in `raw`, and its `msg` lies
/// inside the input; the SDL view builds for any message.
pub fn syslog_parse(data: &[u8]) {
    let m = parse(data);
    assert_eq!(m.raw, data);
    let range = data.as_ptr_range();
    if !m.msg.is_empty() {
        let r = m.msg.as_ptr_range();
        assert!(
            range.start <= r.start && r.end <= range.end,
            "msg outside the input"
        );
    }
    if m.kind == Kind::Unparsed {
        assert!(m.problem.is_some(), "an unparsed message says why");
    }
    if let Some(p) = m.pri {
        assert!(p.facility <= 23 && p.severity <= 7);
    }
    let opts = crate::ParseOptions::received_at(1_700_000_000);
    let parts = crate::to_sdl(&m, &opts);
    assert!((2..=6).contains(&parts.sev));
}

/// A framed event, owned, to compare runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    /// [`Event::Frame`]: offset and bytes.
    Frame(u64, Vec<u8>),
    /// [`Event::Oversized`]: offset, length and the truncated bytes.
    Oversized(u64, u64, Option<Vec<u8>>),
    /// [`Event::Incomplete`]: offset, expected, received.
    Incomplete(u64, u64, u64),
}

/// Frames `chunks` in order, then finishes the stream.
pub fn frame_all<'a>(
    config: FramerConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Owned> {
    let mut framer = Framer::new(config);
    let mut out = Vec::new();
    let mut on = |e: Event<'_>| {
        out.push(match e {
            Event::Frame(f) => Owned::Frame(f.offset, f.bytes.to_vec()),
            Event::Oversized {
                offset,
                len,
                truncated,
                ..
            } => Owned::Oversized(offset, len, truncated.map(<[u8]>::to_vec)),
            Event::Incomplete {
                offset,
                expected,
                received,
            } => Owned::Incomplete(offset, expected, received),
        })
    };
    let max = config.max_message_bytes;
    for chunk in chunks {
        framer.push(chunk, &mut on);
        assert!(
            framer.buffered() <= max + 11,
            "framer holds {} bytes",
            framer.buffered()
        );
    }
    framer.finish(&mut on);
    out
}

/// The TCP framer: any cut of the input frames like the whole, frames stay within the
/// maximum, offsets lie inside the stream and increase. The first byte picks the maximum
/// (1–64) and the policy.
pub fn syslog_framer(data: &[u8]) {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let config = FramerConfig {
        max_message_bytes: usize::from(first % 64) + 1,
        oversize: if first & 0x80 != 0 {
            Oversize::Truncate
        } else {
            Oversize::Skip
        },
    };
    let whole = frame_all(config, [data]);
    let cut = usize::from(first) % (data.len() + 1);
    let (a, b) = data.split_at(cut);
    assert_eq!(frame_all(config, [a, b]), whole, "cut at {cut}");
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(frame_all(config, bytes), whole, "byte by byte");
    let mut last = None;
    for event in &whole {
        let offset = match event {
            Owned::Frame(o, bytes) => {
                assert!(bytes.len() <= config.max_message_bytes && !bytes.is_empty());
                *o
            }
            Owned::Oversized(o, len, t) => {
                assert!(*len as usize > config.max_message_bytes);
                assert!(
                    t.as_ref()
                        .is_none_or(|t| t.len() == config.max_message_bytes)
                );
                *o
            }
            Owned::Incomplete(o, expected, received) => {
                assert!(received < expected);
                *o
            }
        };
        assert!((offset as usize) < data.len());
        assert!(last.is_none_or(|l| l < offset));
        last = Some(offset);
    }
}

/// The HEC body parser never panics; an error's offset lies inside the body and its reply
/// is JSON with the right code; events' offsets increase.
pub fn hec_body(data: &[u8]) {
    match crate::parse_events(data) {
        Ok(events) => {
            assert!(!events.is_empty());
            for pair in events.windows(2) {
                assert!(pair[0].offset < pair[1].offset);
            }
        }
        Err(e) => {
            assert!(e.offset <= data.len(), "{e}");
            assert_eq!(e.http_status(), 400);
            let body: serde_json::Value =
                serde_json::from_str(&e.body()).expect("reply bodies are JSON");
            assert_eq!(body["code"], u64::from(e.code.code()));
        }
    }
    let mut last = None;
    for r in crate::raw_records(data) {
        assert!(!r.bytes.is_empty() && r.offset < data.len());
        assert!(last.is_none_or(|l| l < r.offset));
        last = Some(r.offset);
    }
}
