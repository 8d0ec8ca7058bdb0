//! The internals that the crate's own criterion benches (`benches/components.rs`) and
//! command-line tool (`strata sst`, the workload generators) reach for: the block, filter
//! and LZ4 codecs, the memtable, the table reader and the log writer.
//!
//! Not part of the API: hidden from the documentation, with no semver promise, and an
//! embedder must not build on it. Only items whose safe API is sound whatever the caller
//! does are re-exported here (the memtable serializes its writers itself; the skiplist
//! under it, whose insert relies on the caller for that, stays private).

pub use crate::compression::lz4;
pub use crate::iter::InternalIterator;
pub use crate::log::LogWriter;
pub use crate::memtable::arena::ChunkPool;
pub use crate::memtable::MemTable;
pub use crate::sstable::block::Block;
pub use crate::sstable::block_builder::{BlockBuilder, KeyFormat};
pub use crate::sstable::filter::{BloomBuilder, BloomFilter};
pub use crate::sstable::TableReader;
pub use crate::util::rng::Rng;

/// Internal keys and point lookups (see the crate's `key` module).
pub mod key {
    pub use crate::key::{
        compare_internal, make_internal_key, seek_key, user_key, Lookup, LookupKey, ParsedKey, ValueKind,
    };
}
