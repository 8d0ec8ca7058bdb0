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
#![warn(missing_docs)]
pub mod batch;
pub mod coding;
pub mod compaction;
mod db;
pub mod error;
pub mod filename;
pub mod fs;
mod huge_page;
pub mod iter;
pub mod key;
pub mod large_vec;
pub mod log;
pub mod memtable;
pub mod options;
mod prefetch;

pub use bytes::Bytes;
pub use error::{Error, Result};
pub use options::{Compaction, LeveledOptions, Options, TieredOptions, WalRecovery};
pub mod sstable;
pub mod stats;
pub mod version;

pub use batch::WriteBatch;
pub use db::{Cursor, Db, Iter, Snapshot};
pub use sstable::Compression;
pub use stats::{LevelStats, Stats, TableInfo};
pub mod fuzzing;
pub mod testing;
