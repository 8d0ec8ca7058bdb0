//! Block compression: the codecs a table may use, and the rule for when a compressed
//! block is kept.
//!
//! The codec of each block is recorded in its trailer's compression byte (see
//! [`crate::sstable::format`]), so tables written with different settings (or by different
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

pub mod lz4;

use crate::util::coding::{get_varint32, put_varint32};
use lz4::Lz4Encoder;

/// Compression byte of an uncompressed block.
pub(crate) const NO_COMPRESSION: u8 = 0;
/// Compression byte of an LZ4-compressed block.
pub(crate) const LZ4_COMPRESSION: u8 = 1;

/// Largest block a reader agrees to decompress (a corrupt length must not make it
/// allocate gigabytes). The writer stores bigger blocks (one huge value) uncompressed,
/// so that everything it writes reads back.
pub(crate) const MAX_UNCOMPRESSED: usize = 256 << 20;

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

/// Compresses blocks with one codec, keeping what the codec reuses from one block to
/// the next (the LZ4 encoder's hash table). One per table being written.
pub(crate) struct Compressor {
    /// The LZ4 encoder, if that is the codec.
    lz4: Option<Lz4Encoder>,
}

impl Compressor {
    /// A compressor for `codec`.
    pub(crate) fn new(codec: Compression) -> Self {
        Compressor { lz4: (codec == Compression::Lz4).then(Lz4Encoder::new) }
    }

    /// Compresses `raw` into `out` (cleared first) and returns the compression byte to
    /// record; `NO_COMPRESSION` (and `out` unused) when compressing did not pay.
    pub(crate) fn compress(&mut self, raw: &[u8], out: &mut Vec<u8>) -> u8 {
        let Some(lz4) = self.lz4.as_mut().filter(|_| raw.len() <= MAX_UNCOMPRESSED) else {
            return NO_COMPRESSION;
        };
        out.clear();
        put_varint32(out, raw.len() as u32);
        let header = out.len();
        lz4.compress(raw, out);
        if out.len() - header < raw.len() - raw.len() / 8 {
            LZ4_COMPRESSION
        } else {
            NO_COMPRESSION
        }
    }
}

/// Decodes the stored contents of a block whose trailer says `compression`; `Err` says
/// what is wrong with a block that does not decode.
pub(crate) fn decompress(compression: u8, stored: &[u8]) -> Result<Vec<u8>, String> {
    let block = Compressed::parse(compression, stored)?;
    let mut out = vec![0; block.len()];
    block.decode_to(&mut out)?;
    Ok(out)
}

/// The stored contents of a compressed block, its header read: how many bytes it
/// decodes to, known before decoding so that a reader can pick the buffer (see
/// [`crate::cache::buffer_pool`]).
pub(crate) struct Compressed<'a> {
    payload: &'a [u8],
    len: usize,
}

impl<'a> Compressed<'a> {
    /// Reads the header of `stored`, whose trailer says `compression`.
    pub(crate) fn parse(compression: u8, stored: &'a [u8]) -> Result<Self, String> {
        match compression {
            LZ4_COMPRESSION => {
                let (len, header) = get_varint32(stored).ok_or("truncated compressed block header")?;
                let len = len as usize;
                if len > MAX_UNCOMPRESSED {
                    return Err(format!("compressed block claims {len} bytes uncompressed"));
                }
                Ok(Compressed { payload: &stored[header..], len })
            }
            other => Err(format!("unknown block compression {other}")),
        }
    }

    /// Bytes the block decodes to.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Decodes the block into `dst`, which must be [`len`](Self::len) bytes long.
    pub(crate) fn decode_to(&self, dst: &mut [u8]) -> Result<(), String> {
        if dst.len() != self.len {
            return Err(format!("{} bytes of room for a block of {}", dst.len(), self.len));
        }
        lz4::decompress_to(self.payload, dst).map_err(|why| format!("compressed block does not decode: {why}"))
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
        assert_eq!(Compressor::new(Compression::Lz4).compress(&raw, &mut out), LZ4_COMPRESSION);
        assert!(out.len() < raw.len() / 4);
        assert_eq!(decompress(LZ4_COMPRESSION, &out).unwrap(), raw);
    }

    #[test]
    fn incompressible_blocks_stay_raw() {
        let mut rng = crate::compression::lz4::decode::tests::xorshift(12345);
        let raw: Vec<u8> = (0..4096).map(|_| rng() as u8).collect();
        let mut out = Vec::new();
        let mut lz4 = Compressor::new(Compression::Lz4);
        assert_eq!(lz4.compress(&raw, &mut out), NO_COMPRESSION);
        assert_eq!(Compressor::new(Compression::None).compress(&text(4096), &mut out), NO_COMPRESSION);
        assert_eq!(lz4.compress(&[], &mut out), NO_COMPRESSION);
    }

    #[test]
    fn the_writer_compresses_only_what_the_reader_accepts() {
        let mut lz4 = Compressor::new(Compression::Lz4);
        let mut out = Vec::new();
        let at_limit = vec![0u8; MAX_UNCOMPRESSED];
        assert_eq!(lz4.compress(&at_limit, &mut out), LZ4_COMPRESSION);
        assert_eq!(decompress(LZ4_COMPRESSION, &out).unwrap().len(), MAX_UNCOMPRESSED);
        let over = vec![0u8; MAX_UNCOMPRESSED + 1];
        assert_eq!(lz4.compress(&over, &mut out), NO_COMPRESSION);
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let raw = text(4096);
        let mut out = Vec::new();
        Compressor::new(Compression::Lz4).compress(&raw, &mut out);
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
