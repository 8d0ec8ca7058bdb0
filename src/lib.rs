//! strata: an embeddable LSM-tree key-value storage engine.
//!
//! Writes go through a write-ahead log into a skiplist memtable; full memtables are
//! flushed in the background to immutable SSTables (prefix-compressed blocks, a block
//! index, a bloom filter, checksums), which a background thread compacts under the
//! leveled or the size-tiered strategy. See `docs/` in the repository for the formats,
//! the architecture and how the strategies decide.
//!
//! ```
//! use strata::{Compaction, Db, Options, WriteBatch};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default().compaction(Compaction::tiered()))?;
//! db.put("user:1", "ada")?;
//! let mut batch = WriteBatch::new();
//! batch.put("user:2", "grace");
//! batch.delete("user:1");
//! db.write(batch)?;
//! let snapshot = db.snapshot();
//! db.put("user:3", "barbara")?;
//! assert_eq!(snapshot.prefix("user:").count(), 1);
//! assert_eq!(db.prefix("user:").rev().next().transpose()?.map(|(k, _)| k), Some("user:3".into()));
//! db.close()?;
//! # Ok::<(), strata::Error>(())
//! ```
//!
//! # What is public
//!
//! The crate's front door is the embedding API above: [`Db`] and its handles
//! ([`Snapshot`], [`Iter`], [`Cursor`], [`WriteBatch`]), [`Options`] with the strategy
//! options, [`Stats`], [`Error`], and the [`fs`] module for embedders who bring their
//! own file system. Two cargo features add test and fuzz support:
//!
//! - `fault-injection`: the `testing` module, with `FaultyFs`, an in-memory file system
//!   that fails chosen operations and loses power on command, for embedders' own crash
//!   tests (RocksDB ships its fault-injection file system the same way);
//! - `fuzzing`: the `fuzzing` module, the entry points the targets under `fuzz/` call.
//!
//! Everything else (the table format, the memtable, the compaction machinery) is private
//! to the crate; `docs/architecture.md` in the repository maps it.
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod cache;
mod compaction;
mod compression;
mod db;
mod error;
mod filename;
pub mod fs;
mod iter;
mod key;
mod log;
mod memtable;
mod options;
mod range_del;
mod sstable;
mod stats;
mod util;
mod version;

#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzzing")))]
pub mod fuzzing;
#[doc(hidden)]
pub mod internals;
#[cfg(any(test, feature = "fault-injection"))]
#[cfg_attr(docsrs, doc(cfg(feature = "fault-injection")))]
pub mod testing;

pub use batch::WriteBatch;
pub use bytes::Bytes;
pub use compression::Compression;
pub use db::{Cursor, Db, Iter, Keyspace, Snapshot, Transaction, TransactionIter};
pub use error::{Error, Result};
pub use key::{MAX_KEY_LEN, MAX_VALUE_LEN};
pub use options::{
    BloomAllocation, Compaction, FifoOptions, FluidOptions, LeveledOptions, Options, TieredOptions, WalRecovery,
    WriteOptions,
};
pub use stats::{LevelStats, Stats, TableInfo};
