//! strata: an embeddable LSM-tree key-value storage engine.
pub mod batch;
pub mod coding;
pub mod compaction;
mod db;
pub mod error;
pub mod filename;
pub mod fs;
pub mod iter;
pub mod key;
pub mod log;
pub mod memtable;
pub mod options;

pub use bytes::Bytes;
pub use error::{Error, Result};
pub use options::{Compaction, LeveledOptions, Options, TieredOptions, WalRecovery};
pub mod sstable;
pub mod stats;
pub mod version;

pub use batch::WriteBatch;
pub use db::{Db, Iter, Snapshot};
pub use stats::{LevelStats, Stats};
pub mod fuzzing;
pub mod testing;
