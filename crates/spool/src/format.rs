//! The on-disk encoding of entries and acknowledgements, and the sans-IO scanners that
//! recover them from whatever bytes a crash left behind (layout in the crate docs).

use std::ops::Range;

/// Marks the start of every entry header: `0xFE` never occurs in UTF-8 text, and the
/// last byte is the format version.
pub(crate) const MAGIC: [u8; 4] = [0xFE, b'L', b'F', b'1'];
/// Bytes of an entry header.
pub(crate) const HEADER_LEN: usize = 24;
/// Bytes of one acknowledgement record.
pub(crate) const ACK_LEN: usize = 12;

/// Encodes the header of entry `id` carrying `payload` (whose length fits in a `u32`).
#[cfg(test)]
pub(crate) fn encode_header(id: u64, payload: &[u8]) -> [u8; HEADER_LEN] {
    let len = u32::try_from(payload.len()).expect("append checks the payload fits in u32");
    encode_header_with_crc(id, len, crc32fast::hash(payload))
}

/// [`encode_header`] for a payload whose length and checksum are already known (an
/// append checksums its payload before it takes the spool's lock).
pub(crate) fn encode_header_with_crc(id: u64, len: u32, payload_crc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&id.to_le_bytes());
    h[16..20].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&h[0..20]);
    h[20..24].copy_from_slice(&header_crc.to_le_bytes());
    h
}

/// A header whose own checksum holds: the id, payload length and payload checksum it
/// promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) id: u64,
    pub(crate) len: u32,
    pub(crate) payload_crc: u32,
}

/// Decodes the header at the start of `bytes`, if it is complete, starts with the magic
/// and its checksum holds.
pub(crate) fn decode_header(bytes: &[u8]) -> Option<Header> {
    let h = bytes.get(..HEADER_LEN)?;
    if h[0..4] != MAGIC {
        return None;
    }
    let stored = u32::from_le_bytes(h[20..24].try_into().expect("4-byte slice"));
    if crc32fast::hash(&h[0..20]) != stored {
        return None;
    }
    Some(Header {
        len: u32::from_le_bytes(h[4..8].try_into().expect("4-byte slice")),
        id: u64::from_le_bytes(h[8..16].try_into().expect("8-byte slice")),
        payload_crc: u32::from_le_bytes(h[16..20].try_into().expect("4-byte slice")),
    })
}

/// One valid entry found by [`scan_segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) id: u64,
    /// Offset of the entry's header in the segment.
    pub(crate) offset: u64,
    /// Payload length.
    pub(crate) len: u32,
}

impl Found {
    /// Offset just past the entry.
    pub(crate) fn end(&self) -> u64 {
        self.offset + HEADER_LEN as u64 + u64::from(self.len)
    }
}

/// What [`scan_segment`] made of a segment's bytes. Every byte of the input is in
/// exactly one valid entry, one corrupt region or the tail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Valid entries, in file order, ids strictly increasing.
    pub(crate) entries: Vec<Found>,
    /// Invalid byte ranges followed by a valid entry: skipped.
    pub(crate) corrupt: Vec<Range<u64>>,
    /// Invalid bytes after the last valid entry (a torn write): `valid_end..len`.
    pub(crate) tail: Option<Range<u64>>,
    /// Offset just past the last valid entry (0 if none).
    pub(crate) valid_end: u64,
}

/// Checks for a complete valid entry at `pos` with an id in `ids` greater than `after`.
fn entry_at(data: &[u8], pos: usize, ids: &Range<u64>, after: Option<u64>) -> Option<Found> {
    let header = decode_header(&data[pos..])?;
    if !ids.contains(&header.id) || after.is_some_and(|last| header.id <= last) {
        return None;
    }
    let start = pos + HEADER_LEN;
    let end = start.checked_add(usize::try_from(header.len).ok()?)?;
    let payload = data.get(start..end)?;
    if crc32fast::hash(payload) != header.payload_crc {
        return None;
    }
    Some(Found {
        id: header.id,
        offset: pos as u64,
        len: header.len,
    })
}

/// Finds the next occurrence of [`MAGIC`] at or after `from`.
pub(crate) fn next_magic(data: &[u8], from: usize) -> Option<usize> {
    let rest = data.get(from..)?;
    rest.windows(MAGIC.len())
        .position(|w| w == MAGIC)
        .map(|p| from + p)
}

/// Recovers the valid entries of a segment whose ids must lie in `ids`.
///
/// Reads entries back to back from offset 0. Where an entry is invalid (bad magic,
/// header checksum, payload checksum, an id out of range or not increasing, or a payload
/// running past the end), scanning resumes at the next magic marker after it; the
/// skipped bytes form a corrupt region if a valid entry follows, else the torn tail.
pub(crate) fn scan_segment(data: &[u8], ids: Range<u64>) -> Scan {
    let mut scan = Scan::default();
    let mut pos = 0usize;
    let mut bad_from: Option<usize> = None;
    let mut last_id = None;
    while pos < data.len() {
        if let Some(found) = entry_at(data, pos, &ids, last_id) {
            if let Some(from) = bad_from.take() {
                scan.corrupt.push(from as u64..pos as u64);
            }
            last_id = Some(found.id);
            scan.valid_end = found.end();
            pos = usize::try_from(found.end()).expect("entry end lies inside the data");
            scan.entries.push(found);
        } else {
            bad_from.get_or_insert(pos);
            pos = next_magic(data, pos + 1).unwrap_or(data.len());
        }
    }
    if let Some(from) = bad_from {
        scan.tail = Some(from as u64..data.len() as u64);
    }
    scan
}

/// Encodes the acknowledgement of entry `id`.
pub(crate) fn encode_ack(id: u64) -> [u8; ACK_LEN] {
    let mut r = [0u8; ACK_LEN];
    r[0..8].copy_from_slice(&id.to_le_bytes());
    let crc = crc32fast::hash(&r[0..8]);
    r[8..12].copy_from_slice(&crc.to_le_bytes());
    r
}

/// What [`decode_acks`] made of an ack log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AckScan {
    /// Ids of the records whose checksum holds, in file order.
    pub(crate) ids: Vec<u64>,
    /// Records whose checksum failed (ignored: their entries stay unacknowledged).
    pub(crate) bad: usize,
    /// Length of the whole records (the rest is a torn partial record).
    pub(crate) whole_len: u64,
}

/// Decodes an ack log: fixed-size records, a partial last record ignored.
pub(crate) fn decode_acks(data: &[u8]) -> AckScan {
    let mut scan = AckScan::default();
    let chunks = data.chunks_exact(ACK_LEN);
    scan.whole_len = (data.len() - chunks.remainder().len()) as u64;
    for record in chunks {
        let stored = u32::from_le_bytes(record[8..12].try_into().expect("4-byte slice"));
        if crc32fast::hash(&record[0..8]) == stored {
            scan.ids.push(u64::from_le_bytes(
                record[0..8].try_into().expect("8-byte slice"),
            ));
        } else {
            scan.bad += 1;
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = encode_header(id, payload).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn header_layout_is_as_documented() {
        let h = encode_header(0x0102_0304_0506_0708, b"abc");
        assert_eq!(&h[0..4], b"\xFELF1");
        assert_eq!(&h[4..8], &3u32.to_le_bytes());
        assert_eq!(&h[8..16], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&h[16..20], &crc32fast::hash(b"abc").to_le_bytes());
        assert_eq!(&h[20..24], &crc32fast::hash(&h[0..20]).to_le_bytes());
        assert_eq!(
            decode_header(&h),
            Some(Header {
                id: 0x0102_0304_0506_0708,
                len: 3,
                payload_crc: crc32fast::hash(b"abc")
            })
        );
    }

    #[test]
    fn clean_segment_scans_whole() {
        let mut data = entry(5, b"hello");
        data.extend(entry(6, b""));
        data.extend(entry(9, b"world"));
        let scan = scan_segment(&data, 5..u64::MAX);
        assert_eq!(
            scan.entries.iter().map(|f| f.id).collect::<Vec<_>>(),
            [5, 6, 9]
        );
        assert_eq!(scan.corrupt, []);
        assert_eq!(scan.tail, None);
        assert_eq!(scan.valid_end, data.len() as u64);
    }

    #[test]
    fn torn_tail_is_the_bytes_after_the_last_valid_entry() {
        let mut data = entry(0, b"one");
        let first = data.len() as u64;
        data.extend(entry(1, b"two two"));
        for cut in first as usize + 1..data.len() {
            let scan = scan_segment(&data[..cut], 0..u64::MAX);
            assert_eq!(scan.entries.len(), 1, "cut {cut}");
            assert_eq!(scan.tail, Some(first..cut as u64));
            assert_eq!(scan.valid_end, first);
        }
    }

    #[test]
    fn corrupt_middle_entry_is_skipped_and_scanning_resyncs() {
        let a = entry(0, b"aaaa");
        let b = entry(1, b"bbbb");
        let c = entry(2, b"cccc");
        for flip in 0..b.len() {
            let mut data = a.clone();
            let mut bad = b.clone();
            bad[flip] ^= 0x40;
            data.extend(&bad);
            data.extend(&c);
            let scan = scan_segment(&data, 0..u64::MAX);
            let ids: Vec<_> = scan.entries.iter().map(|f| f.id).collect();
            assert_eq!(ids, [0, 2], "flip at {flip}");
            assert_eq!(
                scan.corrupt,
                vec![a.len() as u64..(a.len() + b.len()) as u64],
                "flip at {flip}"
            );
            assert_eq!(scan.tail, None);
        }
    }

    #[test]
    fn ids_out_of_range_or_not_increasing_are_corrupt() {
        let mut data = entry(3, b"x");
        data.extend(entry(3, b"dup"));
        data.extend(entry(100, b"beyond"));
        data.extend(entry(4, b"y"));
        let scan = scan_segment(&data, 3..50);
        let ids: Vec<_> = scan.entries.iter().map(|f| f.id).collect();
        assert_eq!(ids, [3, 4]);
        assert_eq!(scan.corrupt.len(), 1);
    }

    #[test]
    fn a_huge_bogus_length_does_not_swallow_what_follows() {
        let mut bogus = encode_header(0, b"").to_vec();
        bogus[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut data = bogus;
        data.extend(entry(1, b"ok"));
        let scan = scan_segment(&data, 0..u64::MAX);
        assert_eq!(scan.entries.len(), 1);
        assert_eq!(scan.corrupt, vec![0..HEADER_LEN as u64]);
    }

    #[test]
    fn acks_decode_and_ignore_bad_and_partial_records() {
        let mut data = encode_ack(7).to_vec();
        let mut bad = encode_ack(8);
        bad[0] ^= 1;
        data.extend(bad);
        data.extend(encode_ack(9));
        data.extend(&encode_ack(10)[..5]);
        let scan = decode_acks(&data);
        assert_eq!(scan.ids, [7, 9]);
        assert_eq!(scan.bad, 1);
        assert_eq!(scan.whole_len, 3 * ACK_LEN as u64);
        assert_eq!(decode_acks(&[0; ACK_LEN * 2]).ids, [] as [u64; 0]);
    }
}
