//! Keyspaces (RocksDB's column families): [`Keyspace`] handles, and creating and
//! dropping keyspaces.
//!
//! A keyspace is a tree of its own (see [`super::tree`]) sharing the database's WAL,
//! MANIFEST and seqnos, so a batch across keyspaces is one WAL record and one instant.
//! Creating one is a MANIFEST record naming it, its id and its options (so the next
//! open uses them), with the WAL from which its writes are to be replayed; dropping one
//! is a record removing it and its tables. Both are durable when they return, and both
//! sync the WAL first, so a crash never keeps one and loses a write made before it. Ids are
//! never reused: a dropped keyspace's writes may still sit in a live WAL, and replay
//! skips entries of ids the MANIFEST no longer has.
//!
//! Both hold the MANIFEST lock (`versions`) throughout, as a flush does while it
//! records log numbers and removes WALs, so no WAL a new keyspace's record names can be
//! retired before the keyspace is among the trees a flush accounts for.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::db_iter::{owned_bounds, prefix_bounds, Bounds};
use super::tree::{Tree, TreeState};
use super::{num_levels, pending_compaction_of, tables_of, Cursor, Db, DbInner, Iter, ReadSeq, SuperVersion};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::key::UserKeyRange;
use crate::memtable::MemTable;
use crate::options::Options;
use crate::stats::{Stats, TableInfo};
use crate::version::DEFAULT_KEYSPACE_NAME;

/// Longest keyspace name accepted, in bytes.
const MAX_NAME_LEN: usize = 255;

/// A handle on one keyspace of a [`Db`]: its own ordered key space, memtables,
/// SSTables and compaction strategy. Cheap to clone and usable from any thread. After
/// [`Db::drop_keyspace`], every call on it returns `Error::InvalidArgument`; after the
/// database is closed, `Error::Closed`.
///
/// ```
/// use strata::{Compaction, Db, Options, WriteBatch};
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path(), Options::default())?;
/// let log = db.keyspace_with("raft-log", Options::default().compaction(Compaction::tiered()))?;
/// let state = db.keyspace("state")?;
/// let mut batch = WriteBatch::new(); // atomic across keyspaces, also across a crash
/// batch.put_in(&log, "00000001", "set x=1");
/// batch.put_in(&state, "x", "1");
/// db.write(batch)?;
/// assert_eq!(state.get("x")?.as_deref(), Some(&b"1"[..]));
/// assert_eq!(db.get("x")?, None); // the default keyspace is another one
/// assert_eq!(db.keyspace_names(), ["default", "raft-log", "state"]);
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone)]
pub struct Keyspace {
    db: Arc<DbInner>,
    tree: Arc<Tree>,
}

impl Keyspace {
    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.tree.name
    }

    /// Sets `key` to `value` in this keyspace.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let mut batch = WriteBatch::for_one(key.len() + 5, value.len());
        batch.put_in(self, key, value);
        self.write(batch)
    }

    /// The current value of `key` in this keyspace.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.check()?;
        self.db.get_at(&self.tree, key.as_ref(), ReadSeq::Latest)
    }

    /// Removes `key` from this keyspace.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let mut batch = WriteBatch::for_one(key.len() + 5, 0);
        batch.delete_in(self, key);
        self.write(batch)
    }

    /// Removes every key `k` with `start <= k < end` from this keyspace, as
    /// [`Db::delete_range`] does in the default one.
    pub fn delete_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        let (start, end) = (start.as_ref(), end.as_ref());
        let mut batch = WriteBatch::for_one(start.len() + 5, end.len());
        batch.delete_range_in(self, start, end);
        self.write(batch)
    }

    /// The entries of this keyspace with keys in `range`, in ascending order (`.rev()`
    /// for descending).
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Iter {
        self.iter(ReadSeq::Latest, owned_bounds(&range))
    }

    /// The entries of this keyspace whose keys start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        self.iter(ReadSeq::Latest, prefix_bounds(prefix.as_ref()))
    }

    /// A forward [`Cursor`] over this keyspace as of now.
    pub fn cursor(&self) -> Cursor {
        let cursor = Cursor::new(&self.db, &self.tree, ReadSeq::Latest);
        match self.check() {
            Ok(()) => cursor,
            Err(e) => cursor.with_error(e),
        }
    }

    /// This keyspace's counters and the shape of its tree; the WAL and write-group
    /// figures are the database's, which all keyspaces share.
    pub fn stats(&self) -> Stats {
        self.db.tree_stats(&self.tree)
    }

    /// Writes this keyspace's memtables to SSTables; returns once they are on disk.
    pub fn flush(&self) -> Result<()> {
        self.check()?;
        self.db.flush(Some(self.tree.id))
    }

    /// [`Db::compact`] for this keyspace.
    pub fn compact(&self) -> Result<()> {
        self.check()?;
        self.db.compact(&self.tree)
    }

    /// [`Db::compact_range`] for this keyspace.
    pub fn compact_range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Result<()> {
        self.check()?;
        self.db.compact_range(&self.tree, &UserKeyRange::new(&range))
    }

    /// [`Db::approximate_size`] for this keyspace.
    pub fn approximate_size<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> u64 {
        self.tree.super_version().version.approximate_size(&UserKeyRange::new(&range))
    }

    /// Every live SSTable of this keyspace, level by level (L0 newest first).
    pub fn tables(&self) -> Vec<TableInfo> {
        tables_of(&self.tree)
    }

    /// What this keyspace's compaction strategy would do next, in words.
    pub fn pending_compaction(&self) -> Option<String> {
        pending_compaction_of(&self.tree)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        self.check()?;
        self.db.write(batch, false)
    }

    pub(crate) fn iter(&self, at: ReadSeq, bounds: Bounds) -> Iter {
        let it = Iter::new(self.db.clone(), self.tree.clone(), at, bounds);
        match self.check() {
            Ok(()) => it,
            Err(e) => it.with_error(e),
        }
    }

    /// `InvalidArgument` once the keyspace is dropped.
    fn check(&self) -> Result<()> {
        if self.tree.dropped.load(Ordering::Acquire) {
            return Err(Error::InvalidArgument(format!("keyspace {:?} was dropped", self.tree.name)));
        }
        Ok(())
    }

    /// This handle's tree, checked to be a live keyspace of `db`.
    pub(crate) fn tree_in(&self, db: &Arc<DbInner>) -> Result<&Arc<Tree>> {
        if !Arc::ptr_eq(&self.db, db) {
            return Err(Error::InvalidArgument(format!("keyspace {:?} belongs to another database", self.tree.name)));
        }
        self.check()?;
        Ok(&self.tree)
    }

    pub(crate) fn id(&self) -> u32 {
        self.tree.id
    }

    /// The (id, identity) a batch notes for a write through this handle.
    pub(crate) fn handle(&self) -> (u32, u64) {
        (self.tree.id, self.tree.uid)
    }
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace").field("name", &self.tree.name).field("id", &self.tree.id).finish()
    }
}

impl WriteBatch {
    /// Adds a put of `key` → `value` in `keyspace`.
    pub fn put_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (id, handle) = keyspace.handle();
        self.note_keyspace(id, handle);
        self.put_to(id, key.as_ref(), value.as_ref());
    }

    /// Adds a delete of `key` in `keyspace`.
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) {
        let (id, handle) = keyspace.handle();
        self.note_keyspace(id, handle);
        self.delete_to(id, key.as_ref());
    }

    /// Adds a deletion of every key `k` with `start <= k < end` in `keyspace`.
    pub fn delete_range_in(&mut self, keyspace: &Keyspace, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) {
        let (id, handle) = keyspace.handle();
        self.note_keyspace(id, handle);
        self.delete_range_to(id, start.as_ref(), end.as_ref());
    }
}

impl Db {
    /// The keyspace named `name`, created (durably, with this database's options) if
    /// missing. `"default"` is the one the `Db` methods use.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        self.inner().open_keyspace(name, None)
    }

    /// The keyspace named `name`, created with `options` if missing: its compaction
    /// strategy, memtable size, bloom bits, block size, compression and memtable limits
    /// are recorded in the MANIFEST and used at every open from then on (the rest —
    /// file system, cache, WAL and sync settings — is the database's). Asking for an
    /// existing keyspace with other such options is `Error::InvalidArgument`.
    pub fn keyspace_with(&self, name: &str, options: Options) -> Result<Keyspace> {
        options.validate()?;
        self.inner().open_keyspace(name, Some(options))
    }

    /// The names of every keyspace, `"default"` first, the others in creation order.
    pub fn keyspace_names(&self) -> Vec<String> {
        self.inner().state.lock().trees.iter().map(|t| t.tree.name.clone()).collect()
    }

    /// Drops keyspace `name`: its data is gone, also after a crash, and its tables are
    /// removed (once no iterator or snapshot read still uses them). Handles on it
    /// return `Error::InvalidArgument` from then on. The default keyspace cannot be
    /// dropped, and a name that is no keyspace is `Error::InvalidArgument`.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        self.inner().drop_keyspace(name)
    }
}

impl DbInner {
    fn open_keyspace(self: &Arc<Self>, name: &str, options: Option<Options>) -> Result<Keyspace> {
        self.check_open()?;
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(Error::InvalidArgument(format!(
                "a keyspace name takes 1 to {MAX_NAME_LEN} bytes, not {}",
                name.len()
            )));
        }
        if let Some(found) = self.find_keyspace(name, options.as_ref()) {
            return found;
        }
        self.check_writable()?;
        let mut versions = self.versions.lock();
        // Created meanwhile by another thread?
        if let Some(found) = self.find_keyspace(name, options.as_ref()) {
            return found;
        }
        // Every write before the creation is made durable first, so no crash can keep
        // the keyspace and lose a write that came before it.
        self.sync_wal()?;
        let encoded = options.as_ref().unwrap_or(&self.opts).encode_keyspace();
        // What the next open will make of the record.
        let opts = self.opts.with_keyspace(&encoded).ok_or_else(|| Error::InvalidArgument("bad options".into()))?;
        let log_number = self.state.lock().wal_number;
        let (id, version) = versions.create_keyspace(name, encoded, log_number, num_levels(&opts))?;
        let mem = Arc::new(super::tree::first_memtable(&opts));
        let sv = Arc::new(SuperVersion::new(mem, Vec::new(), version));
        let tree = Arc::new(Tree::new(id, name.into(), opts, sv.clone()));
        let mut st = self.state.lock();
        st.trees.push(TreeState { tree: tree.clone(), sv, mem_log_number: log_number, frozen: Vec::new() });
        Ok(Keyspace { db: self.clone(), tree })
    }

    /// A handle on the live keyspace `name`, if there is one: `InvalidArgument` if
    /// `options` are given and differ from the ones it keeps.
    fn find_keyspace(self: &Arc<Self>, name: &str, options: Option<&Options>) -> Option<Result<Keyspace>> {
        let st = self.state.lock();
        let tree = &st.trees.iter().find(|t| t.tree.name == name)?.tree;
        if options.is_some_and(|o| o.encode_keyspace() != tree.opts.encode_keyspace()) {
            return Some(Err(Error::InvalidArgument(format!("keyspace {name:?} exists with other options"))));
        }
        Some(Ok(Keyspace { db: self.clone(), tree: tree.clone() }))
    }

    fn drop_keyspace(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        if name == DEFAULT_KEYSPACE_NAME {
            return Err(Error::InvalidArgument("the default keyspace cannot be dropped".into()));
        }
        let mut versions = self.versions.lock();
        let found = self.state.lock().trees.iter().find(|t| t.tree.name == name).map(|t| t.tree.clone());
        let Some(tree) = found else {
            return Err(Error::InvalidArgument(format!("there is no keyspace named {name:?}")));
        };
        // As for a creation: what came before the drop is durable before it is.
        self.sync_wal()?;
        // A drop that did not reach the MANIFEST changes nothing; one that may have
        // leaves the set poisoned, which the next edit reports.
        versions.drop_keyspace(tree.id)?;
        tree.dropped.store(true, Ordering::Release);
        let removed = {
            let mut st = self.state.lock();
            let removed = st.trees.iter().position(|t| t.tree.id == tree.id).map(|i| st.trees.remove(i));
            // Writers stalled on its frozen memtables recheck, and find it gone.
            self.flushed_cv.notify_all();
            removed
        };
        drop(versions);
        // Its memtables and view go here (tables once no reader holds them).
        drop(removed);
        drop(tree.publish(Arc::new(SuperVersion::new(
            Arc::new(MemTable::new(1)),
            Vec::new(),
            Arc::new(crate::version::Version::new(1)),
        ))));
        Ok(())
    }
}
