//! Typed spool entries: the byte forms the backends store, with one reader discipline
//! and one error type.
//!
//! The spool itself stores opaque payloads. What a payload holds is the caller's: an
//! HTTP Ingest body (`LFB1`), a framed batch (`LFR1`), an SDL batch with its read time
//! (`LFE1`, which nests an `LFR1`). Each such kind implements [`Entry`]: four tag bytes
//! ([`Entry::KIND`]), then a body only the kind knows. Decoding goes through
//! [`EntryReader`], which checks every length against what is left, so stored bytes
//! (possibly corrupt, possibly from another version) never make a reader panic or
//! allocate past the input, and every error names the kind, the byte offset and what
//! was wrong ([`EntryError`]).
//!
//! ```
//! use logferry_spool::{Entry, EntryError, EntryReader};
//!
//! #[derive(Debug, PartialEq)]
//! struct Note { id: u64, text: String }
//!
//! impl Entry for Note {
//!     const KIND: [u8; 4] = *b"NOTE";
//!     fn write_body(&self, out: &mut Vec<u8>) {
//!         out.extend_from_slice(&self.id.to_le_bytes());
//!         out.extend_from_slice(&(self.text.len() as u32).to_le_bytes());
//!         out.extend_from_slice(self.text.as_bytes());
//!     }
//!     fn read_body(body: &[u8]) -> Result<Self, EntryError> {
//!         let mut r = EntryReader::new(Self::KIND, body);
//!         let id = r.u64()?;
//!         let text = r.str_u32()?.to_owned();
//!         r.finish()?;
//!         Ok(Note { id, text })
//!     }
//! }
//!
//! let note = Note { id: 7, text: "hello".into() };
//! let bytes = note.encode();
//! assert_eq!(&bytes[..4], b"NOTE");
//! assert_eq!(Note::decode(&bytes).unwrap(), note);
//! let err = Note::decode(&bytes[..bytes.len() - 1]).unwrap_err();
//! assert_eq!(err.to_string(), "stored NOTE entry, byte 16: truncated (5 bytes needed, 4 left)");
//! ```

use std::borrow::Cow;
use std::fmt;

/// Length of the kind tag every entry starts with.
pub const KIND_LEN: usize = 4;

/// A kind of spool entry: a value with a tagged, self-checking byte form.
///
/// Implementors write [`write_body`](Entry::write_body) and
/// [`read_body`](Entry::read_body); [`encode`](Entry::encode) and
/// [`decode`](Entry::decode) add and check the tag. `read_body` must never panic on any
/// input, and whatever it accepts must [`encode`](Entry::encode) back to the same bytes
/// (the `spool_entry` fuzz target checks both).
pub trait Entry: Sized {
    /// The four bytes every stored entry of this kind starts with.
    const KIND: [u8; KIND_LEN];

    /// Appends everything after the kind tag.
    fn write_body(&self, out: &mut Vec<u8>);

    /// Reads back what [`write_body`](Entry::write_body) wrote. Error offsets count from
    /// the start of the entry, tag included, as [`EntryReader`] does.
    fn read_body(body: &[u8]) -> Result<Self, EntryError>;

    /// The kind tag and the body, appended to `out` (for an entry nested in another).
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&Self::KIND);
        self.write_body(out);
    }

    /// The kind tag and the body: the bytes to store.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Checks the kind tag, then reads the body.
    fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        match bytes.split_first_chunk::<KIND_LEN>() {
            Some((kind, body)) if *kind == Self::KIND => Self::read_body(body),
            Some(_) => Err(EntryError::new(Self::KIND, 0, "wrong kind tag")),
            None => Err(EntryError::new(Self::KIND, 0, "shorter than its kind tag")),
        }
    }
}

/// Why stored bytes are not an entry: which kind, at which byte offset, what was wrong.
///
/// For an entry nested in another (an `LFR1` batch inside an `LFE1` one), the kind is
/// the innermost whose rules were broken, and the offset counts from the start of the
/// outermost entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryError {
    kind: [u8; KIND_LEN],
    offset: usize,
    reason: Cow<'static, str>,
}

impl EntryError {
    /// An entry of kind `kind` is wrong at byte `offset` (from the start of the entry,
    /// tag included) for `reason` (lowercase, no trailing period).
    pub fn new(kind: [u8; KIND_LEN], offset: usize, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            offset,
            reason: reason.into(),
        }
    }

    /// The kind whose rules the bytes broke.
    pub fn kind(&self) -> [u8; KIND_LEN] {
        self.kind
    }

    /// Where in the stored bytes.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What was wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same error for an entry that starts `by` bytes into another.
    fn shifted(mut self, by: usize) -> Self {
        self.offset = self.offset.saturating_add(by);
        self
    }
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stored ")?;
        for b in self.kind {
            if b.is_ascii_graphic() {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        write!(f, " entry, byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for EntryError {}

/// A bounds-checked cursor over an entry's body: every read fails with an
/// [`EntryError`] naming the kind and the offset instead of panicking, and lengths read
/// from the input are checked against what is left before anything is allocated.
///
/// Offsets count from the start of the entry: the reader starts at [`KIND_LEN`].
#[derive(Debug, Clone)]
pub struct EntryReader<'a> {
    kind: [u8; KIND_LEN],
    rest: &'a [u8],
    offset: usize,
}

impl<'a> EntryReader<'a> {
    /// A reader over `body`, the bytes after the tag of an entry of kind `kind`.
    pub fn new(kind: [u8; KIND_LEN], body: &'a [u8]) -> Self {
        Self {
            kind,
            rest: body,
            offset: KIND_LEN,
        }
    }

    /// The offset of the next byte, from the start of the entry.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// An error at the current offset.
    pub fn error(&self, reason: impl Into<Cow<'static, str>>) -> EntryError {
        EntryError::new(self.kind, self.offset, reason)
    }

    /// An error at `offset` (from the start of the entry).
    pub fn error_at(&self, offset: usize, reason: impl Into<Cow<'static, str>>) -> EntryError {
        EntryError::new(self.kind, offset, reason)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], EntryError> {
        if self.rest.len() < n {
            return Err(self.error(format!(
                "truncated ({n} bytes needed, {} left)",
                self.rest.len()
            )));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        self.offset += n;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], EntryError> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, EntryError> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, EntryError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, EntryError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64` that must fit in `usize` (a length or an offset in memory).
    pub fn usize_u64(&mut self) -> Result<usize, EntryError> {
        let at = self.offset;
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| self.error_at(at, format!("{v} does not fit in memory")))
    }

    /// Bytes preceded by their length as a little-endian `u32`.
    pub fn bytes_u32(&mut self) -> Result<&'a [u8], EntryError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// Bytes preceded by their length as a little-endian `u64`.
    pub fn bytes_u64(&mut self) -> Result<&'a [u8], EntryError> {
        let len = self.usize_u64()?;
        self.take(len)
    }

    /// UTF-8 text preceded by its length as a little-endian `u32`.
    pub fn str_u32(&mut self) -> Result<&'a str, EntryError> {
        let at = self.offset + 4;
        let bytes = self.bytes_u32()?;
        std::str::from_utf8(bytes)
            .map_err(|e| self.error_at(at + e.valid_up_to(), "text is not UTF-8"))
    }

    /// `count` items (a count read from the input), at least `item_len` bytes each:
    /// a capacity for a `Vec` that the rest of the input can fill, so a corrupt count
    /// allocates nothing.
    pub fn capacity_for(&self, count: usize, item_len: usize) -> usize {
        count.min(self.rest.len() / item_len.max(1))
    }

    /// Decodes everything left as an entry of kind `T` (an entry nested as the last part
    /// of another), its errors' offsets counted from the start of this entry.
    pub fn nested<T: Entry>(&mut self) -> Result<T, EntryError> {
        let at = self.offset;
        let rest = std::mem::take(&mut self.rest);
        self.offset += rest.len();
        T::decode(rest).map_err(|e| e.shifted(at))
    }

    /// Checks that nothing is left.
    pub fn finish(self) -> Result<(), EntryError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.error(format!("{} trailing bytes", self.rest.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Inner(Vec<u8>);

    impl Entry for Inner {
        const KIND: [u8; 4] = *b"INNR";
        fn write_body(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&(self.0.len() as u64).to_le_bytes());
            out.extend_from_slice(&self.0);
        }
        fn read_body(body: &[u8]) -> Result<Self, EntryError> {
            let mut r = EntryReader::new(Self::KIND, body);
            let bytes = r.bytes_u64()?.to_vec();
            r.finish()?;
            Ok(Inner(bytes))
        }
    }

    #[derive(Debug, PartialEq)]
    struct Outer(u8, Inner);

    impl Entry for Outer {
        const KIND: [u8; 4] = *b"OUTR";
        fn write_body(&self, out: &mut Vec<u8>) {
            out.push(self.0);
            self.1.encode_into(out);
        }
        fn read_body(body: &[u8]) -> Result<Self, EntryError> {
            let mut r = EntryReader::new(Self::KIND, body);
            let tag = r.u8()?;
            let inner = r.nested()?;
            r.finish()?;
            Ok(Outer(tag, inner))
        }
    }

    fn err(bytes: &[u8]) -> String {
        Outer::decode(bytes).unwrap_err().to_string()
    }

    #[test]
    fn nested_entries_round_trip_and_errors_name_kind_and_offset() {
        let outer = Outer(9, Inner(b"abc".to_vec()));
        let bytes = outer.encode();
        assert_eq!(bytes, b"OUTR\x09INNR\x03\0\0\0\0\0\0\0abc");
        assert_eq!(Outer::decode(&bytes).unwrap(), outer);

        assert_eq!(
            err(b"OUT"),
            "stored OUTR entry, byte 0: shorter than its kind tag"
        );
        assert_eq!(
            err(b"LFB1\x09"),
            "stored OUTR entry, byte 0: wrong kind tag"
        );
        assert_eq!(
            err(b"OUTR"),
            "stored OUTR entry, byte 4: truncated (1 bytes needed, 0 left)"
        );
        // The inner entry starts at byte 5; its length field at 9, its bytes at 17.
        assert_eq!(
            err(b"OUTR\x09INNx"),
            "stored INNR entry, byte 5: wrong kind tag"
        );
        assert_eq!(
            err(&bytes[..bytes.len() - 1]),
            "stored INNR entry, byte 17: truncated (3 bytes needed, 2 left)"
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(err(&long), "stored INNR entry, byte 20: 1 trailing bytes");
        let e = Outer::decode(&long).unwrap_err();
        assert_eq!(
            (e.kind(), e.offset(), e.reason()),
            (*b"INNR", 20, "1 trailing bytes")
        );
    }

    #[test]
    fn lengths_past_the_input_fail_without_allocating() {
        let mut bytes = b"INNR".to_vec();
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        let e = Inner::decode(&bytes).unwrap_err().to_string();
        if usize::BITS == 64 {
            assert_eq!(
                e,
                "stored INNR entry, byte 12: truncated (18446744073709551615 bytes needed, 0 left)"
            );
        } else {
            assert_eq!(
                e,
                "stored INNR entry, byte 4: 18446744073709551615 does not fit in memory"
            );
        }
        let r = EntryReader::new(*b"INNR", &[0; 64]);
        assert_eq!(r.capacity_for(usize::MAX, 32), 2);
        assert_eq!(r.capacity_for(1, 32), 1);
    }

    #[test]
    fn text_must_be_utf8_and_kinds_print_escaped() {
        let mut r = EntryReader::new(*b"\xfeAB1", b"\x02\0\0\0a\xff");
        let e = r.str_u32().unwrap_err();
        assert_eq!(
            e.to_string(),
            "stored \\xfeAB1 entry, byte 9: text is not UTF-8"
        );
    }
}
