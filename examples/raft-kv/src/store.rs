//! One node's strata database: the keyspaces the log store and the state machine share.
//!
//! ```text
//! raft_log   key: log index, 8 bytes big-endian (key order is index order)   value: JSON entry
//! raft_meta  vote | committed | purged | applied | membership                value: JSON
//! kv         client key (<= MAX_KEY_LEN bytes)                               value: client value
//! ```
//! Snapshot files live beside the database, in `snapshots/` (see [`crate::state_machine`]).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use strata::{Db, Keyspace, Options, WriteOptions};

/// The open database and its keyspaces; cheap to clone (handles).
#[derive(Clone)]
pub struct Store {
    /// The database.
    pub db: Db,
    /// Log entries by index.
    pub log: Keyspace,
    /// Raft and state machine metadata.
    pub meta: Keyspace,
    /// The replicated key-value data.
    pub kv: Keyspace,
    /// Where snapshot files go.
    pub snapshot_dir: PathBuf,
    /// Held while snapshot files are written or removed: a snapshot being built and one
    /// being installed must not remove each other's files.
    pub snapshot_files: Arc<Mutex<()>>,
}

impl Store {
    /// Opens (or creates) the node's database under `dir`.
    pub fn open(dir: &Path) -> io::Result<Store> {
        let db = Db::open(dir.join("db"), Options::default()).map_err(io_err)?;
        let snapshot_dir = dir.join("snapshots");
        std::fs::create_dir_all(&snapshot_dir)?;
        Ok(Store {
            log: db.keyspace("raft_log").map_err(io_err)?,
            meta: db.keyspace("raft_meta").map_err(io_err)?,
            kv: db.keyspace("kv").map_err(io_err)?,
            db,
            snapshot_dir,
            snapshot_files: Arc::new(Mutex::new(())),
        })
    }

    /// Reads a JSON value from `raft_meta`.
    pub fn get_meta<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        match self.meta.get(key).map_err(io_err)? {
            None => Ok(None),
            Some(bytes) => from_json(&bytes).map(Some),
        }
    }
}

/// A synced write: durable when the call returns.
pub fn synced() -> WriteOptions {
    WriteOptions::new().sync(true)
}

/// Converts any error into the `io::Error` openraft's storage traits return.
pub fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Encodes a value as JSON.
pub fn to_json<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(io_err)
}

/// Decodes a JSON value; a bad one is `InvalidData`.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
