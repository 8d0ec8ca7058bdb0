//! The SSTable file layout: block handles, block trailers, the properties block and the
//! footer.
//!
//! ```text
//! table      := data_block* filter_block? range_del_block? properties_block index_block
//!               footer
//! any block  := contents | trailer
//! trailer    := compression: u8 (0 = none, 1 = LZ4; see crate::compression)
//!               | crc32: u32 LE over the stored contents and compression byte
//! handle     := offset: varint64 | size: varint64      (size excludes the trailer)
//! index      := a block (see block_builder) mapping the last internal key of each data
//!               block to that block's handle
//! filter     := a bloom filter over the table's user keys (see filter)
//! range_del  := a block (see block_builder) of the table's range tombstones, as
//!               written (readers fragment them, see crate::range_del): key = internal
//!               key (start, seqno, kind 2), value = end (exclusive), in internal-key
//!               order, one per (start, seqno); never compressed. Its handle is in the
//!               properties.
//! properties := see `TableProperties::encode`
//! footer     := index_off u64 | index_size u64 | filter_off u64 | filter_size u64
//!               | props_off u64 | props_size u64 | format_version u32 | crc32 u32
//!               | magic u64                          (64 bytes, all LE; the crc covers
//!                                                     the 52 bytes before it)
//! ```
//!
//! A table without a filter has `filter_size == 0`. Format version 3 is version 2 with
//! a range-deletion block; tables without range tombstones are still written as
//! version 2, byte for byte as before range deletions existed, so an older strata reads
//! them and refuses (by version) only a table it could not read correctly.

pub(crate) use super::block_builder::KeyFormat;
use crate::util::coding::{put_length_prefixed, put_varint64, Decoder};

/// Identifies a strata SSTable ("strataST" in ASCII, little-endian).
pub(crate) const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"strataST");
/// The format version written: 2 stores the keys of every block with
/// [`KeyFormat::Internal`]. Version 1 tables (whole keys, [`KeyFormat::Plain`]) are
/// still read.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// Version 2 plus a range-deletion block.
pub(crate) const FORMAT_VERSION_RANGE_DELS: u32 = 3;
/// Size of the fixed footer.
pub(crate) const FOOTER_LEN: usize = 64;
/// Size of the trailer after every block.
pub(crate) const TRAILER_LEN: usize = 5;
pub(crate) use crate::compression::NO_COMPRESSION;

/// Where a block lives in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockHandle {
    /// Offset of the block's first byte.
    pub offset: u64,
    /// Size of the contents, trailer excluded.
    pub size: u64,
}

impl BlockHandle {
    /// Appends the varint encoding.
    pub fn encode_to(&self, dst: &mut Vec<u8>) {
        put_varint64(dst, self.offset);
        put_varint64(dst, self.size);
    }

    /// Decodes a handle from an index entry value.
    pub fn decode(src: &[u8]) -> Option<BlockHandle> {
        let mut d = Decoder::new(src);
        Some(BlockHandle { offset: d.varint64()?, size: d.varint64()? })
    }
}

/// The trailer of a block with `contents` and compression byte `compression`.
pub(crate) fn block_trailer(contents: &[u8], compression: u8) -> [u8; TRAILER_LEN] {
    let mut h = crc32fast::Hasher::new();
    h.update(contents);
    h.update(&[compression]);
    let crc = h.finalize().to_le_bytes();
    [compression, crc[0], crc[1], crc[2], crc[3]]
}

/// The fixed-size tail of every table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The filter block (size 0 when the table has none).
    pub filter: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
    /// How the table's blocks store keys, from the format version.
    pub key_format: KeyFormat,
    /// The table has a range-deletion block (format version 3).
    pub range_deletions: bool,
}

impl Footer {
    /// The 64-byte encoding.
    pub(crate) fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let fields = [
            self.index.offset,
            self.index.size,
            self.filter.offset,
            self.filter.size,
            self.properties.offset,
            self.properties.size,
        ];
        for (i, f) in fields.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&f.to_le_bytes());
        }
        let version = match (self.key_format, self.range_deletions) {
            (KeyFormat::Plain, _) => 1,
            (KeyFormat::Internal, false) => FORMAT_VERSION,
            (KeyFormat::Internal, true) => FORMAT_VERSION_RANGE_DELS,
        };
        out[48..52].copy_from_slice(&u32::to_le_bytes(version));
        let crc = crc32fast::hash(&out[..52]);
        out[52..56].copy_from_slice(&crc.to_le_bytes());
        out[56..64].copy_from_slice(&TABLE_MAGIC.to_le_bytes());
        out
    }

    /// Decodes and checks a footer; the error says which check failed.
    pub(crate) fn decode(src: &[u8]) -> Result<Footer, &'static str> {
        let mut d = Decoder::new(src);
        let mut f = [0u64; 6];
        for v in f.iter_mut() {
            *v = d.u64().ok_or("footer too short")?;
        }
        let version = d.u32().ok_or("footer too short")?;
        let crc = d.u32().ok_or("footer too short")?;
        let magic = d.u64().ok_or("footer too short")?;
        if magic != TABLE_MAGIC {
            return Err("bad magic number (not a strata table)");
        }
        if crc != crc32fast::hash(&src[..52]) {
            return Err("footer checksum mismatch");
        }
        let (key_format, range_deletions) = match version {
            1 => (KeyFormat::Plain, false),
            FORMAT_VERSION => (KeyFormat::Internal, false),
            FORMAT_VERSION_RANGE_DELS => (KeyFormat::Internal, true),
            _ => return Err("unsupported table format version"),
        };
        Ok(Footer {
            index: BlockHandle { offset: f[0], size: f[1] },
            filter: BlockHandle { offset: f[2], size: f[3] },
            properties: BlockHandle { offset: f[4], size: f[5] },
            key_format,
            range_deletions,
        })
    }
}

/// What both a table's properties block and the MANIFEST record about a table: its key
/// and seqno ranges and how many entries and tombstones it holds. The ranges include
/// the table's range tombstones: a tombstone's start bounds it below as
/// `key::range_bound_key(start)`, its end above as `key::range_bound_key(end)`, which
/// sorts before every version of `end` (the table ends before it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSummary {
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Smallest seqno of any entry.
    pub min_seq: u64,
    /// Largest seqno of any entry.
    pub max_seq: u64,
    /// Entries (versions) in the table.
    pub num_entries: u64,
    /// Tombstones among them.
    pub num_deletions: u64,
    /// Range tombstones in the range-deletion block, which `num_entries`
    /// leaves out. Not part of the summary's encoding: each place that records a
    /// summary stores it beside it when it is not 0.
    pub num_range_deletions: u64,
}

impl TableSummary {
    /// ```text
    /// summary := smallest: len-prefixed | largest: len-prefixed | min_seq | max_seq
    ///            | num_entries | num_deletions              (the numbers are varint64)
    /// ```
    pub(crate) fn encode_to(&self, out: &mut Vec<u8>) {
        put_length_prefixed(out, &self.smallest);
        put_length_prefixed(out, &self.largest);
        for v in [self.min_seq, self.max_seq, self.num_entries, self.num_deletions] {
            put_varint64(out, v);
        }
    }

    /// Decodes a summary from the front of `d`; `None` if malformed.
    pub(crate) fn decode_from(d: &mut Decoder) -> Option<TableSummary> {
        Some(TableSummary {
            smallest: d.length_prefixed()?.to_vec(),
            largest: d.length_prefixed()?.to_vec(),
            min_seq: d.varint64()?,
            max_seq: d.varint64()?,
            num_entries: d.varint64()?,
            num_deletions: d.varint64()?,
            num_range_deletions: 0,
        })
    }
}

/// What a table knows about its contents, stored in its properties block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableProperties {
    /// Key and seqno ranges and counts, as the MANIFEST also records them.
    pub summary: TableSummary,
    /// Data blocks.
    pub num_data_blocks: u64,
    /// Sum of user key lengths.
    pub raw_key_bytes: u64,
    /// Sum of value lengths.
    pub raw_value_bytes: u64,
    /// The range-deletion block, if `summary.num_range_deletions > 0`.
    pub range_del_block: BlockHandle,
}

impl TableProperties {
    /// ```text
    /// properties := summary (see TableSummary) | num_data_blocks | raw_key_bytes
    ///               | raw_value_bytes
    ///               | [num_range_deletions | range_del_block: handle]
    ///                   (only when num_range_deletions > 0; the numbers are varint64)
    /// ```
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.summary.encode_to(&mut out);
        for v in [self.num_data_blocks, self.raw_key_bytes, self.raw_value_bytes] {
            put_varint64(&mut out, v);
        }
        if self.summary.num_range_deletions > 0 {
            put_varint64(&mut out, self.summary.num_range_deletions);
            self.range_del_block.encode_to(&mut out);
        }
        out
    }

    /// Decodes a properties block; `None` if malformed.
    pub(crate) fn decode(src: &[u8]) -> Option<TableProperties> {
        let mut d = Decoder::new(src);
        let mut p = TableProperties {
            summary: TableSummary::decode_from(&mut d)?,
            num_data_blocks: d.varint64()?,
            raw_key_bytes: d.varint64()?,
            raw_value_bytes: d.varint64()?,
            range_del_block: BlockHandle::default(),
        };
        if !d.is_empty() {
            p.summary.num_range_deletions = d.varint64().filter(|&n| n > 0)?;
            p.range_del_block = BlockHandle { offset: d.varint64()?, size: d.varint64()? };
        }
        d.is_empty().then_some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trip_and_checks() {
        let f = Footer {
            index: BlockHandle { offset: 1, size: 2 },
            filter: BlockHandle { offset: 3, size: 4 },
            properties: BlockHandle { offset: 5, size: u64::MAX },
            key_format: KeyFormat::Internal,
            range_deletions: false,
        };
        let enc = f.encode();
        assert_eq!(Footer::decode(&enc), Ok(f));
        // Version 1 tables still open, with whole keys.
        let v1 = Footer { key_format: KeyFormat::Plain, ..f };
        assert_eq!(Footer::decode(&v1.encode()), Ok(v1));
        assert_eq!(u32::from_le_bytes(v1.encode()[48..52].try_into().unwrap()), 1);
        // Range deletions are version 3; without them a table stays version 2.
        let v3 = Footer { range_deletions: true, ..f };
        assert_eq!(Footer::decode(&v3.encode()), Ok(v3));
        assert_eq!(u32::from_le_bytes(v3.encode()[48..52].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(enc[48..52].try_into().unwrap()), 2);
        // An unknown version is refused (crc recomputed so that only the version is wrong).
        let mut future = enc;
        future[48..52].copy_from_slice(&4u32.to_le_bytes());
        let crc = crc32fast::hash(&future[..52]);
        future[52..56].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Footer::decode(&future), Err("unsupported table format version"));
        let mut bad = enc;
        bad[3] ^= 1;
        assert_eq!(Footer::decode(&bad), Err("footer checksum mismatch"));
        let mut bad = enc;
        bad[60] ^= 1;
        assert!(Footer::decode(&bad).unwrap_err().contains("magic"));
        assert!(Footer::decode(&enc[..10]).is_err());
    }

    #[test]
    fn properties_round_trip() {
        let p = TableProperties {
            summary: TableSummary {
                smallest: b"a".to_vec(),
                largest: b"zz".to_vec(),
                min_seq: 1,
                max_seq: 99,
                num_entries: 10,
                num_deletions: 2,
                num_range_deletions: 0,
            },
            num_data_blocks: 3,
            raw_key_bytes: 30,
            raw_value_bytes: 1000,
            range_del_block: BlockHandle::default(),
        };
        assert_eq!(TableProperties::decode(&p.encode()), Some(p.clone()));
        let enc = p.encode();
        assert!(TableProperties::decode(&enc[..enc.len() - 1]).is_none());
        let mut with_range_dels = p.clone();
        with_range_dels.summary.num_range_deletions = 4;
        with_range_dels.range_del_block = BlockHandle { offset: 77, size: 12 };
        let enc = with_range_dels.encode();
        assert_eq!(TableProperties::decode(&enc), Some(with_range_dels));
        assert!(enc.len() > p.encode().len() && enc.starts_with(&p.encode()));
        for cut in p.encode().len() + 1..enc.len() {
            assert!(TableProperties::decode(&enc[..cut]).is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn handle_round_trip() {
        let h = BlockHandle { offset: 1 << 40, size: 4096 };
        let mut buf = Vec::new();
        h.encode_to(&mut buf);
        assert_eq!(BlockHandle::decode(&buf), Some(h));
        assert_eq!(BlockHandle::decode(&buf[..2]), None);
    }
}
