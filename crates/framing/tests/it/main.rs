//! Integration tests for logferry-framing: framing rules, policies, batching, and the
//! chunking invariants, all through the public API.

mod batching;
mod json;
mod lines;
mod multiline;
mod props;

use logferry_framing::{Format, Framer, FramingConfig};

/// One framed item in a form tests can compare and snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// text, offset, line, source_len, flags summary
    Rec(String, u64, u64, u64, String),
    /// Display of the error
    Err(String),
}

/// Frames `input` cut at `cuts` (byte positions) and returns everything the framer said.
pub fn frame_cut(
    format: Format,
    config: &FramingConfig,
    input: &[u8],
    cuts: &[usize],
) -> Vec<Item> {
    let mut framer = Framer::new(format, config.clone());
    let mut out = Vec::new();
    let mut sink = |r: Result<logferry_framing::Record<'_>, logferry_framing::FrameError>| {
        out.push(match r {
            Ok(r) => {
                let f = r.flags;
                let mut flags = String::new();
                for (on, c) in [
                    (f.unterminated, 'u'),
                    (f.replaced, 'r'),
                    (f.truncated, 't'),
                    (f.split, 's'),
                    (f.continues, 'c'),
                    (f.compacted, 'j'),
                ] {
                    if on {
                        flags.push(c);
                    }
                }
                Item::Rec(
                    r.text.into_owned(),
                    r.position.offset,
                    r.position.line,
                    r.source_len,
                    flags,
                )
            }
            Err(e) => Item::Err(e.to_string()),
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

/// Frames `input` whole, and also one byte at a time, asserting both agree.
pub fn frame(format: Format, config: &FramingConfig, input: &[u8]) -> Vec<Item> {
    let whole = frame_cut(format, config, input, &[]);
    let every_byte: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        whole,
        frame_cut(format, config, input, &every_byte),
        "byte-at-a-time differs"
    );
    whole
}

/// Shorthand for a record item.
pub fn rec(text: &str, offset: u64, line: u64, len: u64, flags: &str) -> Item {
    Item::Rec(text.to_owned(), offset, line, len, flags.to_owned())
}
