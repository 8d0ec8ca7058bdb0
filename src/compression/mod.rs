//! Block compression: the codecs a table may use, and the rule for when a compressed
//! block is kept.
//!
//! The codec of each block is recorded in its trailer's compression byte (see
//! [`crate::sstable::format`]), so tables written with different settings (or by different
//! levels) mix freely and a reader never needs to be told what to expect.
//!
//! A compressed block's stored contents are:
//!
//! ```text
//! uncompressed_len: varint32
//! lz4 block:        LZ4 block format (no frame), decoding to uncompressed_len bytes
//!                   (compression byte 1)
//!   or zstd frame:  one Zstandard frame, decoding to uncompressed_len bytes
//!                   (compression byte 2; written at level 3, RocksDB's default)
//! ```
//!
//! LZ4 is ours (`lz4`); zstd is the reference C library through the `zstd` crate,
//! behind the `zstd` cargo feature (on by default). A build without it refuses a zstd
//! block as it refuses any unknown codec: an error, never a misread.
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
/// Compression byte of a zstd-compressed block.
pub(crate) const ZSTD_COMPRESSION: u8 = 2;

/// The zstd level blocks are written at (RocksDB's default, zstd's own).
#[cfg(feature = "zstd")]
const ZSTD_LEVEL: i32 = 3;

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
    /// Zstandard at level 3: smaller than LZ4 (most of all on large, repetitive
    /// values), slower to write and to decode; RocksDB's usual choice for the last
    /// level (`Options::compression_per_level`). Needs the `zstd` cargo feature (on by
    /// default); without it, opening a database that asks for it is `InvalidArgument`.
    Zstd,
}

/// Compresses blocks with one codec, keeping what the codec reuses from one block to
/// the next (the LZ4 encoder's hash table). One per table being written.
pub(crate) struct Compressor {
    codec: Codec,
}

/// A codec's encoder with the state it reuses from block to block.
enum Codec {
    None,
    Lz4(Lz4Encoder),
    #[cfg(feature = "zstd")]
    Zstd(Option<zstd::bulk::Compressor<'static>>),
}

impl Compressor {
    /// A compressor for `codec`.
    pub(crate) fn new(codec: Compression) -> Self {
        let codec = match codec {
            Compression::None => Codec::None,
            Compression::Lz4 => Codec::Lz4(Lz4Encoder::new()),
            // Options::validate refuses Zstd in a build without the feature.
            #[cfg(not(feature = "zstd"))]
            Compression::Zstd => Codec::None,
            // A context the library cannot create (it reports an error rather than
            // running out of memory) leaves blocks uncompressed.
            #[cfg(feature = "zstd")]
            Compression::Zstd => Codec::Zstd(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok()),
        };
        Compressor { codec }
    }

    /// The compression byte of the blocks this compressor compresses (whatever it
    /// records for those where compressing does not pay).
    pub(crate) fn codec_byte(&self) -> u8 {
        match &self.codec {
            Codec::None => NO_COMPRESSION,
            Codec::Lz4(_) => LZ4_COMPRESSION,
            #[cfg(feature = "zstd")]
            Codec::Zstd(Some(_)) => ZSTD_COMPRESSION,
            #[cfg(feature = "zstd")]
            Codec::Zstd(None) => NO_COMPRESSION,
        }
    }

    /// Compresses `raw` into `out` (cleared first) and returns the compression byte to
    /// record; `NO_COMPRESSION` (and `out` unused) when compressing did not pay.
    pub(crate) fn compress(&mut self, raw: &[u8], out: &mut Vec<u8>) -> u8 {
        if raw.len() > MAX_UNCOMPRESSED || matches!(self.codec, Codec::None) {
            return NO_COMPRESSION;
        }
        out.clear();
        put_varint32(out, raw.len() as u32);
        let header = out.len();
        let byte = match &mut self.codec {
            Codec::None => return NO_COMPRESSION,
            Codec::Lz4(lz4) => {
                lz4.compress(raw, out);
                LZ4_COMPRESSION
            }
            #[cfg(feature = "zstd")]
            Codec::Zstd(zstd) => {
                let Some(zstd) = zstd else { return NO_COMPRESSION };
                // Room for the worst case after the header, so the frame is written in
                // one call (into a slice: given the Vec, it would write from its start).
                out.resize(header + zstd::zstd_safe::compress_bound(raw.len()), 0);
                match zstd.compress_to_buffer(raw, &mut out[header..]) {
                    Ok(n) => out.truncate(header + n),
                    Err(_) => return NO_COMPRESSION,
                }
                ZSTD_COMPRESSION
            }
        };
        if out.len() - header < raw.len() - raw.len() / 8 {
            byte
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
    /// A zstd frame (else an LZ4 block).
    zstd: bool,
    payload: &'a [u8],
    len: usize,
}

impl<'a> Compressed<'a> {
    /// Reads the header of `stored`, whose trailer says `compression`.
    pub(crate) fn parse(compression: u8, stored: &'a [u8]) -> Result<Self, String> {
        match compression {
            LZ4_COMPRESSION | ZSTD_COMPRESSION => {
                #[cfg(not(feature = "zstd"))]
                if compression == ZSTD_COMPRESSION {
                    return Err("zstd block in a build without the zstd feature".into());
                }
                let (len, header) = get_varint32(stored).ok_or("truncated compressed block header")?;
                let len = len as usize;
                if len > MAX_UNCOMPRESSED {
                    return Err(format!("compressed block claims {len} bytes uncompressed"));
                }
                Ok(Compressed { zstd: compression == ZSTD_COMPRESSION, payload: &stored[header..], len })
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
        let bad = |why: String| format!("compressed block does not decode: {why}");
        if !self.zstd {
            return lz4::decompress_to(self.payload, dst).map_err(bad);
        }
        #[cfg(feature = "zstd")]
        {
            // The bulk API decodes into `dst` and stops at its end: a frame claiming
            // more, or a damaged one, is an error, not an overrun. One decoding context
            // per thread, reused: creating one per block would cost more than small
            // blocks take to decode.
            thread_local! {
                static DECODER: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                    const { std::cell::RefCell::new(None) };
            }
            let n = DECODER
                .with(|cell| {
                    let mut slot = cell.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(zstd::bulk::Decompressor::new()?);
                    }
                    match slot.as_mut() {
                        Some(decoder) => decoder.decompress_to_buffer(self.payload, dst),
                        None => Err(std::io::Error::other("no zstd decoder")),
                    }
                })
                .map_err(|e| bad(e.to_string()))?;
            if n != dst.len() {
                return Err(bad(format!("{n} bytes where the header says {}", dst.len())));
            }
            Ok(())
        }
        #[cfg(not(feature = "zstd"))]
        Err(bad("zstd support is not compiled in".into()))
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

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_round_trip_and_damage() {
        let raw = text(8192);
        let mut out = Vec::new();
        let mut zstd = Compressor::new(Compression::Zstd);
        assert_eq!(zstd.compress(&raw, &mut out), ZSTD_COMPRESSION);
        assert!(out.len() < raw.len() / 20, "{} bytes", out.len());
        assert_eq!(decompress(ZSTD_COMPRESSION, &out).unwrap(), raw);
        // The encoder is reused from block to block.
        let second = text(3000);
        assert_eq!(zstd.compress(&second, &mut out), ZSTD_COMPRESSION);
        assert_eq!(decompress(ZSTD_COMPRESSION, &out).unwrap(), second);
        let mut rng = crate::compression::lz4::decode::tests::xorshift(99);
        let noise: Vec<u8> = (0..4096).map(|_| rng() as u8).collect();
        assert_eq!(zstd.compress(&noise, &mut out), NO_COMPRESSION);
        // A header claiming more or fewer bytes than the frame holds, cuts, flips.
        zstd.compress(&raw, &mut out);
        let (_, header) = get_varint32(&out).unwrap();
        for claimed in [raw.len() - 1, raw.len() + 1] {
            let mut bad = Vec::new();
            put_varint32(&mut bad, claimed as u32);
            bad.extend_from_slice(&out[header..]);
            assert!(decompress(ZSTD_COMPRESSION, &bad).is_err(), "claimed {claimed}");
        }
        for cut in [1, header, out.len() / 2, out.len() - 1] {
            assert!(decompress(ZSTD_COMPRESSION, &out[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x5a;
            let _ = decompress(ZSTD_COMPRESSION, &bad);
        }
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
