//! Syslog over TCP: RFC 6587 framing, sans-IO ([`Framer`]).
//!
//! Each frame is told apart by its first byte (RFC 6587 §3.4):
//!
//! - **Octet counting** (§3.4.1), `MSG-LEN SP SYSLOG-MSG`: a frame starting with a digit
//!   1–9 whose digits (at most 10) are followed by a space. `MSG-LEN` bytes follow.
//! - **Non-transparent framing** (§3.4.2): anything else (a syslog message starts with `<`),
//!   up to a trailer: LF, or NUL (both seen in the wild, §3.4.2); a CR before the LF is
//!   dropped. Digits not followed by a space (`123: ` without PRI) start a non-transparent
//!   frame too. Empty frames (a trailer right after a frame, e.g. a stray LF after an
//!   octet-counted message) are skipped.
//!
//! **Memory is bounded**: the framer holds at most `max_message_bytes` of a frame plus its
//! length prefix. A larger frame is reported ([`Event::Oversized`]) with its length (the
//! declared `MSG-LEN`, or the counted length of a non-transparent frame once its trailer
//! arrives), and by [`Oversize`] policy either skipped or delivered truncated.
//!
//! **Offsets** are byte offsets in the connection's stream, of a frame's first byte (the
//! length prefix for octet counting), for error messages.
//!
//! ```
//! use logferry_syslog::{Event, Framer, FramerConfig};
//! let mut framer = Framer::new(FramerConfig::default());
//! let mut frames = Vec::new();
//! let mut on = |e: Event<'_>| {
//!     if let Event::Frame(f) = e {
//!         frames.push((f.offset, f.bytes.to_vec()));
//!     }
//! };
//! framer.push(b"11 <13>1 - - -<13>hello\n<13>w", &mut on);
//! framer.push(b"orld\n", &mut on);
//! assert_eq!(frames, vec![(0, b"<13>1 - - -".to_vec()), (14, b"<13>hello".to_vec()),
//!                         (24, b"<13>world".to_vec())]);
//! ```

/// What the framer does with a frame longer than `max_message_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Oversize {
    /// Report it and drop its bytes (the default).
    #[default]
    Skip,
    /// Report it with its first `max_message_bytes` bytes, to be delivered truncated.
    Truncate,
}

/// Framer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    /// The longest message delivered whole (default 64 KiB, rsyslog's largest common
    /// `$MaxMessageSize`; RFC 5424 §6.1 only requires 480 bytes and recommends 2048).
    pub max_message_bytes: usize,
    /// What happens to a longer one.
    pub oversize: Oversize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            max_message_bytes: 64 * 1024,
            oversize: Oversize::Skip,
        }
    }
}

/// How a frame was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `MSG-LEN SP MSG` (RFC 6587 §3.4.1).
    OctetCounting,
    /// A message ended by LF, CRLF or NUL (RFC 6587 §3.4.2); also a last message cut by the
    /// end of the stream ([`Framer::finish`]).
    NonTransparent,
}

/// One message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Stream offset of the frame's first byte.
    pub offset: u64,
    /// How it was delimited.
    pub framing: Framing,
    /// The message, without length prefix or trailer.
    pub bytes: &'a [u8],
}

/// What [`Framer::push`] and [`Framer::finish`] report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message.
    Frame(Frame<'a>),
    /// A message over `max_message_bytes`.
    Oversized {
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// How it was delimited.
        framing: Framing,
        /// Its full length (without prefix or trailer); for a non-transparent frame cut by
        /// the end of the stream, the bytes seen.
        len: u64,
        /// Its first `max_message_bytes` bytes under [`Oversize::Truncate`], else `None`.
        truncated: Option<&'a [u8]>,
    },
    /// The stream ended inside an octet-counted frame.
    Incomplete {
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// The declared `MSG-LEN`.
        expected: u64,
        /// The bytes received of it.
        received: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames.
    Start,
    /// Reading `MSG-LEN` digits (kept in `buf` in case they turn out to be text).
    Length { value: u64, digits: u8 },
    /// Reading an octet-counted body.
    Octets { len: u64, seen: u64 },
    /// Reading a non-transparent frame.
    Line { seen: u64 },
}

/// The sans-IO RFC 6587 framer (see the module docs).
#[derive(Debug)]
pub struct Framer {
    config: FramerConfig,
    state: State,
    /// Stream offset of the next byte pushed.
    pos: u64,
    /// Stream offset of the current frame's first byte.
    start: u64,
    /// The kept bytes of the current frame (at most `max_message_bytes`, or the digits).
    buf: Vec<u8>,
    /// The last byte seen of the current non-transparent frame (to drop a CR before LF).
    last: u8,
}

const MAX_LEN_DIGITS: u8 = 10;

impl Framer {
    /// A framer at stream offset 0.
    pub fn new(config: FramerConfig) -> Self {
        Framer {
            config,
            state: State::Start,
            pos: 0,
            start: 0,
            buf: Vec::new(),
            last: 0,
        }
    }

    /// Stream offset of the next byte to push.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Bytes held for an unfinished frame (never more than `max_message_bytes` + 10).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Frames `data`, the next bytes of the stream, reporting each complete frame to `on`.
    pub fn push(&mut self, data: &[u8], on: &mut impl FnMut(Event<'_>)) {
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::Start => {
                    self.start = self.pos + i as u64;
                    let b = data[i];
                    if (b'1'..=b'9').contains(&b) {
                        self.buf.clear();
                        self.buf.push(b);
                        self.state = State::Length {
                            value: u64::from(b - b'0'),
                            digits: 1,
                        };
                        i += 1;
                    } else if b == b'\n' || b == 0 {
                        // An empty frame.
                        i += 1;
                    } else {
                        self.buf.clear();
                        self.last = 0;
                        self.state = State::Line { seen: 0 };
                    }
                }
                State::Length { value, digits } => {
                    let b = data[i];
                    if b.is_ascii_digit() && digits < MAX_LEN_DIGITS {
                        self.buf.push(b);
                        self.state = State::Length {
                            value: value * 10 + u64::from(b - b'0'),
                            digits: digits + 1,
                        };
                        i += 1;
                    } else if b == b' ' {
                        self.buf.clear();
                        self.state = State::Octets {
                            len: value,
                            seen: 0,
                        };
                        i += 1;
                    } else {
                        // Not a length: the digits begin a non-transparent frame.
                        self.last = b'0';
                        self.state = State::Line {
                            seen: u64::from(digits),
                        };
                        if self.buf.len() > self.config.max_message_bytes {
                            self.buf.truncate(self.config.max_message_bytes);
                        }
                    }
                }
                State::Octets { len, seen } => {
                    let want = len - seen;
                    let avail = (data.len() - i) as u64;
                    let take = want.min(avail) as usize;
                    let chunk = &data[i..i + take];
                    let max = self.config.max_message_bytes;
                    if seen == 0 && take as u64 == len && len as usize <= max {
                        // Whole frame in this chunk: no copy.
                        on(Event::Frame(Frame {
                            offset: self.start,
                            framing: Framing::OctetCounting,
                            bytes: chunk,
                        }));
                        self.state = State::Start;
                    } else {
                        let room = max.saturating_sub(self.buf.len());
                        self.buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
                        let seen = seen + take as u64;
                        if seen == len {
                            self.emit(Framing::OctetCounting, len, on);
                            self.state = State::Start;
                        } else {
                            self.state = State::Octets { len, seen };
                        }
                    }
                    i += take;
                }
                State::Line { seen } => {
                    let rest = &data[i..];
                    let max = self.config.max_message_bytes;
                    match memchr::memchr2(b'\n', 0, rest) {
                        Some(end) => {
                            let line = &rest[..end];
                            if self.buf.is_empty() && seen == 0 {
                                let line = line.strip_suffix(b"\r").unwrap_or(line);
                                if line.len() <= max {
                                    if !line.is_empty() {
                                        on(Event::Frame(Frame {
                                            offset: self.start,
                                            framing: Framing::NonTransparent,
                                            bytes: line,
                                        }));
                                    }
                                } else {
                                    on(Event::Oversized {
                                        offset: self.start,
                                        framing: Framing::NonTransparent,
                                        len: line.len() as u64,
                                        truncated: (self.config.oversize == Oversize::Truncate)
                                            .then(|| &line[..max]),
                                    });
                                }
                            } else {
                                self.keep_line(line);
                                let total = seen + line.len() as u64;
                                self.finish_line(total, on);
                            }
                            self.state = State::Start;
                            i += end + 1;
                        }
                        None => {
                            self.keep_line(rest);
                            self.state = State::Line {
                                seen: seen + rest.len() as u64,
                            };
                            i = data.len();
                        }
                    }
                }
            }
        }
        self.pos += data.len() as u64;
    }

    /// Ends the stream: a non-transparent frame without its trailer is delivered (a sender
    /// closing after its last message); an unfinished octet-counted frame is reported
    /// [`Event::Incomplete`]; lone length digits are delivered as text. The framer is then
    /// ready for a new stream continuing at the same offset.
    pub fn finish(&mut self, on: &mut impl FnMut(Event<'_>)) {
        match self.state {
            State::Start => {}
            State::Length { digits, .. } => {
                self.last = b'0';
                self.finish_line(u64::from(digits), on);
            }
            State::Line { seen } => {
                self.finish_line(seen, on);
            }
            State::Octets { len, seen } => on(Event::Incomplete {
                offset: self.start,
                expected: len,
                received: seen,
            }),
        }
        self.state = State::Start;
        self.buf.clear();
    }

    /// Appends line bytes to `buf` up to the maximum, plus one byte to tell a trailing CR.
    fn keep_line(&mut self, bytes: &[u8]) {
        let room = (self.config.max_message_bytes + 1).saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..room.min(bytes.len())]);
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
    }

    /// Reports the line in `buf`, `total` bytes long before any trailing CR.
    fn finish_line(&mut self, total: u64, on: &mut impl FnMut(Event<'_>)) {
        let max = self.config.max_message_bytes;
        let cr = total > 0 && self.last == b'\r';
        let total = total - u64::from(cr);
        if cr && self.buf.len() as u64 > total {
            self.buf.pop();
        }
        if total == 0 {
            return;
        }
        self.buf.truncate(max);
        self.emit(Framing::NonTransparent, total, on);
    }

    fn emit(&mut self, framing: Framing, len: u64, on: &mut impl FnMut(Event<'_>)) {
        let max = self.config.max_message_bytes;
        if len as usize <= max && len == self.buf.len() as u64 {
            on(Event::Frame(Frame {
                offset: self.start,
                framing,
                bytes: &self.buf,
            }));
        } else {
            on(Event::Oversized {
                offset: self.start,
                framing,
                len,
                truncated: (self.config.oversize == Oversize::Truncate).then_some(&self.buf[..]),
            });
        }
        self.buf.clear();
    }
}
