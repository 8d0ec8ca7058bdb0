//! Sorted string tables: immutable files of sorted entries with a block index, a bloom
//! filter and checksums. [`format`](mod@format) lays out the file; [`TableBuilder`]
//! writes one (compressing blocks on a [`compress_worker`] thread) and [`TableReader`]
//! reads one, through the [`BlockCache`].
pub mod block;
pub mod block_builder;
pub mod builder;
pub mod compress_worker;
pub mod filter;
pub mod format;
pub mod reader;

pub use builder::{TableBuilder, TableOptions};
pub use reader::{FilterResult, TableIter, TableReader};

/// The cache of decoded data blocks that every table of a database shares.
pub type BlockCache = crate::cache::Cache<block::Block>;

#[cfg(test)]
mod tests;
