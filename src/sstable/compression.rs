//! Block compression: the codecs a table may use, and the rule for when a compressed
//! block is kept.
//!
//! The codec of each block is recorded in its trailer's compression byte (see
//! [`super::format`]), so tables written with different settings (or by different
//! levels) mix freely and a reader never needs to be told what to expect.
//!
//! An LZ4 block's stored contents are:
//!
//! ```text
//! uncompressed_len: varint32
//! lz4 block:        LZ4 block format (no frame), decoding to uncompressed_len bytes
//! ```
//!
//! A block is stored compressed only if that saves at least an eighth of its size
//! (LevelDB's rule): below that, the decompression cost on every cache miss buys too
//! little disk.

use crate::coding::{get_varint32, put_varint32};

/// Compression byte of an uncompressed block.
pub const NO_COMPRESSION: u8 = 0;
/// Compression byte of an LZ4-compressed block.
pub const LZ4_COMPRESSION: u8 = 1;

/// Largest block a reader agrees to decompress (a corrupt length must not make it
/// allocate gigabytes).
const MAX_UNCOMPRESSED: usize = 256 << 20;

/// How data blocks are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Stored as is.
    None,
    /// LZ4 (block format): fast to decode, about 2:1 on typical text-like values. The
    /// default.
    #[default]
    Lz4,
}

/// Compresses `raw` with `codec` into `out` (cleared first) and returns the compression
/// byte to record; `NO_COMPRESSION` (and `out` unused) when compressing did not pay.
pub fn compress(codec: Compression, raw: &[u8], out: &mut Vec<u8>) -> u8 {
    match codec {
        Compression::None => NO_COMPRESSION,
        Compression::Lz4 => {
            out.clear();
            put_varint32(out, raw.len() as u32);
            let header = out.len();
            out.resize(header + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
            match lz4_flex::block::compress_into(raw, &mut out[header..]) {
                Ok(n) if header + n < raw.len() - raw.len() / 8 => {
                    out.truncate(header + n);
                    LZ4_COMPRESSION
                }
                _ => NO_COMPRESSION,
            }
        }
    }
}

/// Decodes the stored contents of a block whose trailer says `compression`; `Err` says
/// what is wrong with a block that does not decode.
pub fn decompress(compression: u8, stored: &[u8]) -> Result<Vec<u8>, String> {
    match compression {
        LZ4_COMPRESSION => {
            let (len, header) = get_varint32(stored).ok_or("truncated compressed block header")?;
            let len = len as usize;
            if len > MAX_UNCOMPRESSED {
                return Err(format!("compressed block claims {len} bytes uncompressed"));
            }
            super::lz4::decompress(&stored[header..], len)
                .map_err(|why| format!("compressed block does not decode: {why}"))
        }
        other => Err(format!("unknown block compression {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"the quick brown fox "[i % 20]).collect()
    }

    #[test]
    fn lz4_round_trip() {
        let raw = text(4096);
        let mut out = Vec::new();
        assert_eq!(compress(Compression::Lz4, &raw, &mut out), LZ4_COMPRESSION);
        assert!(out.len() < raw.len() / 4);
        assert_eq!(decompress(LZ4_COMPRESSION, &out).unwrap(), raw);
    }

    #[test]
    fn incompressible_blocks_stay_raw() {
        let mut x = 12345u64;
        let raw: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut out = Vec::new();
        assert_eq!(compress(Compression::Lz4, &raw, &mut out), NO_COMPRESSION);
        assert_eq!(compress(Compression::None, &text(4096), &mut out), NO_COMPRESSION);
        assert_eq!(compress(Compression::Lz4, &[], &mut out), NO_COMPRESSION);
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let raw = text(4096);
        let mut out = Vec::new();
        compress(Compression::Lz4, &raw, &mut out);
        assert!(decompress(7, &out).is_err());
        assert!(decompress(LZ4_COMPRESSION, &[]).is_err());
        // A length beyond the limit is refused before anything is allocated.
        assert!(decompress(LZ4_COMPRESSION, &[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        for cut in [1, 2, out.len() / 2, out.len() - 1] {
            assert!(decompress(LZ4_COMPRESSION, &out[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x5a;
            // Either an error or some bytes: never a panic. (The CRC in the trailer is what
            // catches damage; this only proves decoding garbage is safe.)
            let _ = decompress(LZ4_COMPRESSION, &bad);
        }
    }
}
