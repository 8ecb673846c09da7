//! Whole-body decoding with an output limit.
//!
//! Every decoder here stops as soon as the decoded output would pass `limit` bytes, so
//! a small compressed body cannot expand into gigabytes of memory (a decompression
//! bomb). The emulator relies on this to enforce the contracts' size limits on the
//! decoded body.

use crate::{Encoding, Error};
use std::io::Read;

/// Decodes `input` declared as `encoding`, refusing output larger than `limit` bytes.
///
/// - `Gzip` accepts one or more concatenated gzip members (RFC 1952 §2.2 allows a
///   file to be several members); trailing bytes that are not a member are corrupt.
/// - `Deflate` is the zlib format (RFC 1950), which is what `Content-Encoding: deflate`
///   means in HTTP (RFC 9110 §8.4.1.2); a raw deflate stream (RFC 1951), which some
///   clients send by mistake, is accepted too when the zlib header is absent.
/// - `Identity` returns the input unchanged, still subject to `limit`.
///
/// ```
/// use logferry_compress::{decode, gzip, Encoding, Level};
/// let body = gzip(b"hello\n", Level::FAST);
/// assert_eq!(decode(Encoding::Gzip, &body, 1024).unwrap(), b"hello\n");
/// assert!(decode(Encoding::Gzip, &body, 3).is_err());
/// ```
pub fn decode(encoding: Encoding, input: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    match encoding {
        Encoding::Identity => {
            if input.len() > limit {
                return Err(Error::TooLarge { limit });
            }
            Ok(input.to_vec())
        }
        Encoding::Gzip => read_limited(flate2::read::MultiGzDecoder::new(input), encoding, limit),
        Encoding::Deflate => {
            if looks_like_zlib(input) {
                read_limited(flate2::read::ZlibDecoder::new(input), encoding, limit)
            } else {
                read_limited(flate2::read::DeflateDecoder::new(input), encoding, limit)
            }
        }
    }
}

/// A zlib stream starts with CMF/FLG where CM = 8, and CMF*256+FLG is a multiple of 31.
fn looks_like_zlib(input: &[u8]) -> bool {
    match input {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

fn read_limited(reader: impl Read, encoding: Encoding, limit: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    // Read at most one byte past the limit: that byte proves the limit was exceeded.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|source| Error::Corrupt { encoding, source })?;
    if out.len() > limit {
        return Err(Error::TooLarge { limit });
    }
    Ok(out)
}

thread_local! {
    /// One libdeflate decompressor per thread for [`gunzip_member`] (a worker inflates
    /// two members per NATS message; making one allocates its tables every time). It
    /// keeps no state between calls: each `gzip_decompress` starts afresh.
    static DECOMPRESSOR: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// Decodes one gzip member (RFC 1952) as logferry's own encoder writes it, refusing
/// output larger than `limit` bytes: with libdeflate, about twice as fast as [`decode`].
/// For bodies logferry compressed itself (the members of a NATS message); use [`decode`]
/// for any gzip body a client sent.
///
/// The input must be exactly one member: the size and CRC-32 in its last 8 bytes must be
/// those of what it decodes to, so a member followed by anything else (another member,
/// garbage) is refused, as is a damaged one (libdeflate checks the member's own trailer).
///
/// ```
/// use logferry_compress::{gunzip_member, gzip, Level};
/// let body = gzip(b"hello\n", Level::FAST);
/// assert_eq!(gunzip_member(&body, 1024).unwrap(), b"hello\n");
/// assert!(gunzip_member(&body, 3).is_err());
/// let mut two = body.clone();
/// two.extend_from_slice(&gzip(b"world\n", Level::FAST));
/// assert!(gunzip_member(&two, 1024).is_err());
/// ```
pub fn gunzip_member(input: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let corrupt = |why: String| Error::Corrupt {
        encoding: Encoding::Gzip,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
    };
    let Some(trailer) = input.last_chunk::<8>() else {
        return Err(corrupt("shorter than a gzip trailer".into()));
    };
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]) as usize;
    if size > limit {
        return Err(Error::TooLarge { limit });
    }
    let mut out = vec![0u8; size];
    let n = DECOMPRESSOR
        .with_borrow_mut(|d| d.gzip_decompress(input, &mut out))
        .map_err(|e| corrupt(format!("{e:?}")))?;
    // libdeflate checked the first member against its own trailer; the input's last 8
    // bytes must be that trailer, or something follows the member.
    if n != size || libdeflater::crc32(&out) != crc {
        return Err(corrupt("not exactly one gzip member".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Level, gzip};

    #[test]
    fn one_member_decodes_and_anything_else_is_refused() {
        let body = gzip(&[b'x'; 10_000], Level::FAST);
        assert_eq!(gunzip_member(&body, 10_000).unwrap(), vec![b'x'; 10_000]);
        assert!(matches!(
            gunzip_member(&body, 9_999),
            Err(Error::TooLarge { .. })
        ));
        // Cut short: its "trailer" is now any eight bytes.
        assert!(gunzip_member(&body[..body.len() - 5], 1 << 20).is_err());
        let mut damaged = body.clone();
        damaged[20] ^= 0xff;
        assert!(gunzip_member(&damaged, 1 << 20).is_err());
        // Followed by another member of the same size: the first decodes, but the last
        // trailer is not its own.
        let mut two = gzip(b"a\n", Level::FAST);
        two.extend(gzip(b"b\n", Level::FAST));
        assert!(gunzip_member(&two, 100).is_err(), "two members are not one");
        let mut tailed = body.clone();
        tailed.extend_from_slice(b"garbage!");
        assert!(gunzip_member(&tailed, 1 << 20).is_err());
        assert!(gunzip_member(b"", 100).is_err());
        // The thread's decompressor is reused: a refused input leaves it fit for the next.
        assert_eq!(gunzip_member(&body, 10_000).unwrap(), vec![b'x'; 10_000]);
    }
    use std::io::Write;

    #[test]
    fn multi_member_gzip_is_one_body() {
        let mut body = gzip(b"a\n", Level::FAST);
        body.extend(gzip(b"b\n", Level::FAST));
        assert_eq!(decode(Encoding::Gzip, &body, 100).unwrap(), b"a\nb\n");
    }

    #[test]
    fn trailing_garbage_after_gzip_is_corrupt() {
        let mut body = gzip(b"a\n", Level::FAST);
        body.extend_from_slice(b"garbage");
        let err = decode(Encoding::Gzip, &body, 100).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn truncated_gzip_is_corrupt() {
        let body = gzip(&[b'x'; 10_000], Level::FAST);
        let err = decode(Encoding::Gzip, &body[..body.len() - 4], 1 << 20).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn bomb_is_stopped_at_the_limit() {
        // 64 MiB of zeros compress to ~64 KiB; the decoder must stop at 1 MiB.
        let zeros = vec![0u8; 64 << 20];
        let bomb = gzip(&zeros, Level::new(9).unwrap());
        assert!(bomb.len() < 200_000);
        let err = decode(Encoding::Gzip, &bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit } if limit == 1 << 20));
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let body = gzip(b"12345", Level::FAST);
        assert_eq!(decode(Encoding::Gzip, &body, 5).unwrap(), b"12345");
        assert!(decode(Encoding::Identity, b"12345", 5).is_ok());
        assert!(decode(Encoding::Identity, b"123456", 5).is_err());
    }

    #[test]
    fn deflate_accepts_zlib_and_raw() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(b"zlib body").unwrap();
        let zlib = z.finish().unwrap();
        assert_eq!(decode(Encoding::Deflate, &zlib, 100).unwrap(), b"zlib body");

        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        d.write_all(b"raw body").unwrap();
        let raw = d.finish().unwrap();
        assert_eq!(decode(Encoding::Deflate, &raw, 100).unwrap(), b"raw body");
    }

    #[test]
    fn not_gzip_at_all_is_corrupt() {
        let err = decode(Encoding::Gzip, b"plain text, not gzip", 100).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }));
        assert_eq!(err.to_string(), "corrupt gzip data");
    }
}
