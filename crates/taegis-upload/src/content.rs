//! What File Upload takes: text log files. The one rule, [`TextCheck`], is used by the
//! uploader before it presigns a file and by `logferry check --backend file-upload`, so
//! the two always agree.
//!
//! From `taegis-file-upload-api.txt`: "You can use the File Upload API to send properly
//! formatted log files to Secureworks® Taegis™ XDR for ingestion and normalization";
//! "If the log files are produced by a supported Taegis integrated syslog data source,
//! the events are normalized according to the schema(s) associated with that data
//! source. Otherwise, the events are normalized according to the Generic schema." The
//! contract's only example uploads with `service=Syslog`: log lines, as text. A gzip
//! file or any other binary is stored as it is and normalized as garbage, so it is
//! refused unless the caller says it means it ([`Config::allow_binary`](crate::Config)).

use std::fmt;

/// The two bytes every gzip member starts with (RFC 1952, 2.3.1: `ID1 = 31, ID2 = 139`).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a file is not a text log file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotText {
    /// It starts with the gzip magic bytes.
    Gzip,
    /// It is not valid UTF-8: the first invalid byte is at `offset` (from 0), on `line`
    /// (from 1).
    InvalidUtf8 {
        /// The line (from 1) holding the first invalid byte.
        line: u64,
        /// The offset (from 0) of the first invalid byte in the file.
        offset: u64,
    },
}

impl fmt::Display for NotText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotText::Gzip => f.write_str(
                "gzip-compressed, not a text log file (decompress it first, or pass --allow-binary to upload it as it is)",
            ),
            NotText::InvalidUtf8 { line, offset } => write!(
                f,
                "line {line}, byte {offset}: invalid UTF-8, not a text log file (pass --allow-binary to upload it as it is)"
            ),
        }
    }
}

/// Checks, chunk by chunk, that a file is a text log file: it does not start with the
/// gzip magic bytes and it is valid UTF-8 throughout (a UTF-8 byte order mark is text).
/// Memory is constant; a character cut between two chunks is carried over.
///
/// ```
/// use logferry_taegis_upload::{NotText, TextCheck};
/// let mut check = TextCheck::new();
/// check.push(&"caf\u{e9}\n".as_bytes()[..4]).unwrap(); // `é` cut in two
/// check.push(&"caf\u{e9}\n".as_bytes()[4..]).unwrap();
/// assert_eq!(check.finish(), Ok(()));
///
/// let mut check = TextCheck::new();
/// assert_eq!(check.push(&[0x1f, 0x8b, 8, 0]), Err(NotText::Gzip));
///
/// let mut check = TextCheck::new();
/// assert_eq!(
///     check.push(b"ok\nbad \xff\n"),
///     Err(NotText::InvalidUtf8 { line: 2, offset: 7 })
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct TextCheck {
    /// Bytes seen before the current chunk (carried bytes included).
    seen: u64,
    /// Newlines seen in validated bytes.
    newlines: u64,
    /// The start of a character cut at the end of the last chunk (at most 3 bytes).
    carry: [u8; 4],
    carry_len: usize,
    /// The file's first two bytes, as far as seen (for the gzip magic).
    head: [u8; 2],
    head_len: usize,
    failed: Option<NotText>,
}

impl TextCheck {
    /// A check at the start of a file.
    pub fn new() -> TextCheck {
        TextCheck::default()
    }

    /// Checks the next chunk. After the first problem, every call returns it again.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), NotText> {
        if let Some(problem) = &self.failed {
            return Err(problem.clone());
        }
        // The gzip magic, even when the first chunks hold only one byte of it.
        if self.head_len < 2 {
            let take = (2 - self.head_len).min(chunk.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&chunk[..take]);
            self.head_len += take;
            if self.head_len == 2 && self.head == GZIP_MAGIC {
                return self.fail(NotText::Gzip);
            }
        }
        let mut rest = chunk;
        // A character cut by the end of the last chunk, completed by this one.
        if self.carry_len > 0 {
            let start = self.seen - self.carry_len as u64;
            let len = match self.carry[0] {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            let take = (len - self.carry_len).min(rest.len());
            let mut joined = [0u8; 4];
            joined[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
            joined[self.carry_len..self.carry_len + take].copy_from_slice(&rest[..take]);
            let have = self.carry_len + take;
            match std::str::from_utf8(&joined[..have]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid start: this chunk was too short to finish it.
                    self.carry[..have].copy_from_slice(&joined[..have]);
                    self.carry_len = have;
                }
                Err(_) => {
                    let line = self.newlines + 1;
                    return self.fail(NotText::InvalidUtf8 {
                        line,
                        offset: start,
                    });
                }
            }
            self.seen += take as u64;
            rest = &rest[take..];
            if self.carry_len > 0 {
                return Ok(());
            }
        }
        match std::str::from_utf8(rest) {
            Ok(text) => {
                self.newlines += count_newlines(text.as_bytes());
                self.seen += rest.len() as u64;
                Ok(())
            }
            Err(e) => {
                let valid = e.valid_up_to();
                self.newlines += count_newlines(&rest[..valid]);
                if e.error_len().is_none() {
                    // A character cut by the end of the chunk: keep its start.
                    let tail = &rest[valid..];
                    self.carry[..tail.len()].copy_from_slice(tail);
                    self.carry_len = tail.len();
                    self.seen += rest.len() as u64;
                    Ok(())
                } else {
                    let line = self.newlines + 1;
                    let offset = self.seen + valid as u64;
                    self.fail(NotText::InvalidUtf8 { line, offset })
                }
            }
        }
    }

    /// Ends the check: a character left incomplete at the end of the file is invalid.
    pub fn finish(&self) -> Result<(), NotText> {
        if let Some(problem) = &self.failed {
            return Err(problem.clone());
        }
        if self.carry_len > 0 {
            return Err(NotText::InvalidUtf8 {
                line: self.newlines + 1,
                offset: self.seen - self.carry_len as u64,
            });
        }
        Ok(())
    }

    /// Bytes checked so far.
    pub fn bytes(&self) -> u64 {
        self.seen
    }

    fn fail(&mut self, problem: NotText) -> Result<(), NotText> {
        self.failed = Some(problem.clone());
        Err(problem)
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whole(bytes: &[u8]) -> Result<(), NotText> {
        let mut check = TextCheck::new();
        check.push(bytes)?;
        check.finish()
    }

    fn expected(bytes: &[u8]) -> Result<(), NotText> {
        if bytes.starts_with(&GZIP_MAGIC) {
            return Err(NotText::Gzip);
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) => {
                let offset = e.valid_up_to();
                let line = 1 + count_newlines(&bytes[..offset]);
                Err(NotText::InvalidUtf8 {
                    line,
                    offset: offset as u64,
                })
            }
        }
    }

    #[test]
    fn text_passes_and_binary_does_not() {
        assert_eq!(whole(b"<13>Jan  1 00:00:00 fw1 accept\n"), Ok(()));
        assert_eq!(whole("\u{feff}with a BOM\n".as_bytes()), Ok(()));
        assert_eq!(whole(b""), Ok(()));
        assert_eq!(whole(&[0x1f, 0x8b, 0x08, 0x00, 0, 0]), Err(NotText::Gzip));
        assert_eq!(
            whole(b"a\nb\nc\xe2\x82"),
            Err(NotText::InvalidUtf8 { line: 3, offset: 5 }),
            "a character cut by the end of the file"
        );
        assert_eq!(
            whole(b"\x28\x00\xb5\x2f\xfd"),
            Err(NotText::InvalidUtf8 { line: 1, offset: 2 })
        );
    }

    #[test]
    fn a_gzip_magic_cut_in_two_is_still_gzip() {
        let mut check = TextCheck::new();
        check.push(&[0x1f]).unwrap();
        assert_eq!(check.push(&[0x8b, 8]), Err(NotText::Gzip));
        assert_eq!(check.finish(), Err(NotText::Gzip));
    }

    proptest! {
        /// Any cut of any input gives the verdict of the whole input at once.
        #[test]
        fn chunking_does_not_change_the_verdict(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(b"\n".to_vec()),
                    Just("é€𝄞".as_bytes().to_vec()),
                    Just(b"ascii ".to_vec()),
                    Just(vec![0xff]),
                    Just(vec![0xe2, 0x82]),
                    Just(vec![0x1f, 0x8b]),
                ],
                0..12,
            ),
            cuts in proptest::collection::vec(0usize..64, 0..6),
        ) {
            let bytes: Vec<u8> = parts.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut check = TextCheck::new();
            let mut from = 0;
            let mut verdict = Ok(());
            for cut in cuts.into_iter().chain([bytes.len()]) {
                verdict = verdict.and_then(|()| check.push(&bytes[from..cut]));
                from = cut;
            }
            let verdict = verdict.and_then(|()| check.finish());
            prop_assert_eq!(verdict, expected(&bytes));
        }
    }
}
