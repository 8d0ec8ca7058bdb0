//! Sorted string tables: immutable files of sorted entries with a block index, a bloom
//! filter and checksums. [`format`](mod@format) lays out the file; [`TableBuilder`]
//! writes one (compressing blocks on a [`compress_worker`] thread) and [`TableReader`]
//! reads one, through the [`BlockCache`].
pub(crate) mod block;
pub(crate) mod block_builder;
pub(crate) mod builder;
pub(crate) mod compress_worker;
pub(crate) mod filter;
pub(crate) mod format;
pub(crate) mod reader;

pub(crate) use builder::{TableBuilder, TableOptions};
pub use reader::TableReader;
pub(crate) use reader::{FilterResult, TableIter};

/// The cache of decoded data blocks that every table of a database shares.
pub(crate) type BlockCache = crate::cache::Cache<block::Block>;

#[cfg(test)]
pub(crate) mod tests;
