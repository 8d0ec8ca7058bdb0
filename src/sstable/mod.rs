//! Sorted string tables: immutable files of sorted entries with a block index, a bloom
//! filter and checksums. [`format`](mod@format) lays out the file; [`TableBuilder`] writes one and
//! [`TableReader`] reads one.
pub mod block;
pub mod block_builder;
pub mod buffer_pool;
pub mod builder;
pub mod cache;
pub mod cache_fill;
pub mod compress_worker;
pub mod compression;
pub mod filter;
pub mod format;
pub mod lz4;
pub mod lz4_encode;
pub mod reader;

pub use builder::{TableBuilder, TableOptions};
pub use cache::BlockCache;
pub use cache_fill::CacheFill;
pub use compression::Compression;
pub use reader::{FilterResult, TableIter, TableReader};

#[cfg(test)]
mod tests;
