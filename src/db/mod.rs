//! [`Db`]: the database handle, and the shared state behind it.
//!
//! Every keyspace is a [`Tree`] (see [`tree`] and [`keyspace`]); the default one is
//! what the `Db` methods use. They share what is here: the write queue and WAL, the
//! MANIFEST, seqnos, snapshots, the conflict log and the background threads.
//!
//! Threads and locks (lock order, outermost first: a tree's `compactor` → `queue` →
//! `versions` → `state` → `wal`; no lock is held across a wait on another thread except
//! through a condvar):
//!
//! - writers queue in `queue`; the one at the front is the *leader* and commits the
//!   batches of everyone behind it as one WAL record (group commit, see [`write`](mod@write));
//! - `state` holds each tree's [`SuperVersion`] (active memtable, frozen memtables,
//!   current version), which readers get from the tree's `current` copy: they clone its
//!   `Arc` and then read without any lock;
//! - one background thread flushes frozen memtables to L0 tables, the oldest of any
//!   keyspace first (see [`flush`]), and another runs compactions, taking the keyspaces
//!   in turn (see [`compact`]);
//! - `versions` owns the MANIFEST; the background threads, `compact`, keyspace
//!   creation and drop, and `open` edit it, and each installs the version it logged
//!   before letting go of the lock.
//!
//! Visibility: a write is visible once `visible_seq` covers its seqno, which the leader
//! advances only after the whole group is in the memtable, so a batch is seen whole or
//! not at all.

mod checkpoint;
mod compact;
mod conflicts;
mod cursor;
mod db_iter;
mod flush;
mod keyspace;
mod merge_cache;
mod recovery;
mod retired_wals;
mod snapshot;
mod transaction;
mod tree;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

pub use cursor::Cursor;
pub use db_iter::Iter;
pub use keyspace::Keyspace;
pub use snapshot::Snapshot;
pub use transaction::{Transaction, TransactionIter};

use crate::batch::WriteBatch;
use crate::compaction::{strategy, CompactionStrategy};
use crate::error::{Error, Result};
use crate::filename;
use crate::fs::{FileLock, FileSystem};
use crate::key::{Lookup, LookupKey, UserKeyRange, MAX_KEY_LEN};
use crate::log::LogWriter;
use crate::memtable::MemTable;
use crate::options::{Compaction, Options, WriteOptions};
use crate::range_del::{FragmentedTombstones, RangeDelView};
use crate::sstable::{BlockCache, FilterResult};
use crate::stats::{Counters, LookupCounts, Stats, TableInfo};
use crate::version::{TableContext, Version, VersionSet};
use retired_wals::RetiredWals;
use tree::{Tree, TreeState};

/// What a read needs, captured atomically: the memtables and the version.
pub(crate) struct SuperVersion {
    /// The memtable taking writes.
    pub mem: Arc<MemTable>,
    /// Frozen memtables waiting for flush, newest first.
    pub imms: Vec<Arc<MemTable>>,
    /// The live tables.
    pub version: Arc<Version>,
    /// The range tombstones of `imms` and the version's tables, fragmented together
    /// on first need (they never change for this view).
    frozen_range_dels: OnceLock<Option<Arc<FragmentedTombstones>>>,
}

impl SuperVersion {
    pub(crate) fn new(mem: Arc<MemTable>, imms: Vec<Arc<MemTable>>, version: Arc<Version>) -> Self {
        SuperVersion { mem, imms, version, frozen_range_dels: OnceLock::new() }
    }

    /// Every range tombstone of the view: the active memtable's as of now (later ones
    /// are newer than any read of the view) and the frozen ones. Opens the tables that
    /// the MANIFEST says hold some; a view without any costs two loads.
    #[inline]
    pub(crate) fn range_dels(&self) -> Result<RangeDelView> {
        let frozen = self.frozen_range_dels()?;
        let active = self.mem.range_tombstones();
        if frozen.is_none() && active.is_none() {
            return Ok(RangeDelView::default());
        }
        Ok(RangeDelView::new(active.into_iter().chain(frozen.cloned())))
    }

    /// The seqno of the newest range tombstone over `key` that a read at `seq` sees
    /// (0 if none): [`SuperVersion::range_dels`] for one key, without building a view.
    #[inline]
    pub(crate) fn covering_range_del(&self, key: &[u8], seq: u64) -> Result<u64> {
        let frozen = self.frozen_range_dels()?.map_or(0, |f| f.covering_seq(key, seq));
        let active = self.mem.range_tombstones().map_or(0, |m| m.covering_seq(key, seq));
        Ok(frozen.max(active))
    }

    #[inline]
    fn frozen_range_dels(&self) -> Result<Option<&Arc<FragmentedTombstones>>> {
        match self.frozen_range_dels.get() {
            Some(frozen) => Ok(frozen.as_ref()),
            None => self.gather_frozen_range_dels(),
        }
    }

    /// Gathers the frozen tombstones, once per view (a racing reader's copy is dropped).
    #[cold]
    fn gather_frozen_range_dels(&self) -> Result<Option<&Arc<FragmentedTombstones>>> {
        let mut lists: Vec<Arc<FragmentedTombstones>> = self.imms.iter().filter_map(|m| m.range_tombstones()).collect();
        for file in self.version.files() {
            lists.extend(file.range_tombstones()?);
        }
        let gathered = match lists.len() {
            0 | 1 => lists.pop(),
            _ => Some(Arc::new(FragmentedTombstones::merge(lists.iter().map(|l| &**l)))),
        };
        Ok(self.frozen_range_dels.get_or_init(|| gathered).as_ref())
    }
}

pub(crate) struct State {
    /// Every keyspace's tree, the default one first.
    trees: Vec<TreeState>,
    /// The WAL being written.
    wal_number: u64,
    /// The WAL files not yet removed, oldest first (the last is `wal_number`).
    wals: Vec<u64>,
    /// The order the next frozen memtable takes.
    next_freeze: u64,
    /// Set when a background flush failed: writes are refused until reopen.
    bg_error: Option<String>,
    shutting_down: bool,
    /// Set when a flush or open may have given the compaction thread work.
    compaction_wanted: bool,
}

impl State {
    /// The tree of keyspace `id`, unless it was dropped.
    fn tree(&self, id: u32) -> Option<&TreeState> {
        self.trees.iter().find(|t| t.tree.id == id)
    }

    fn tree_mut(&mut self, id: u32) -> Option<&mut TreeState> {
        self.trees.iter_mut().find(|t| t.tree.id == id)
    }
}

pub(crate) struct DbInner {
    dir: PathBuf,
    /// The options the database was opened with (the default keyspace's too).
    opts: Options,
    fs: Arc<dyn FileSystem>,
    ctx: Arc<TableContext>,
    /// The default keyspace's tree (also in `state`), which the `Db` methods use.
    default: Arc<Tree>,
    state: Mutex<State>,
    /// Wakes the background thread.
    bg_cv: Condvar,
    /// Signals that a flush or compaction finished (or failed), for stalled writers and
    /// `flush()`.
    flushed_cv: Condvar,
    /// Wakes the compaction thread.
    compaction_cv: Condvar,
    queue: Mutex<write::Queue>,
    wal: Mutex<LogWriter>,
    /// WALs a memtable switch retired without syncing them (see
    /// [`retires_wals_unsynced`]): synced before any sync that promises every
    /// earlier write durable.
    retired_wals: RetiredWals,
    versions: Mutex<VersionSet>,
    file_numbers: Arc<AtomicU64>,
    /// Highest seqno handed out to a write (leader only).
    last_seq: AtomicU64,
    /// Highest seqno readers may see.
    visible_seq: AtomicU64,
    /// Live snapshots: seqno → count.
    snapshots: Mutex<BTreeMap<u64, usize>>,
    /// The keys recent commits wrote, for transactions' conflict checks.
    conflicts: Mutex<conflicts::ConflictLog>,
    /// Live transactions, read by every write group after it publishes its seqno (see
    /// [`conflicts`] for why that order needs no lock).
    live_transactions: AtomicUsize,
    /// The database's own counters (WAL, write groups, stalls); each tree counts the
    /// rest.
    stats: Counters,
    lock: Mutex<Option<Box<dyn FileLock>>>,
    bg_threads: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
    /// Opened with `Db::open_read_only`: no lock, no background threads, and every
    /// write, flush, compaction and sync is `Error::ReadOnly`.
    read_only: bool,
}

/// The seqno a read runs at: the latest visible one (loaded once the read has pinned
/// its super version, see [`DbInner::read_view`]) or a snapshot's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ReadSeq {
    Latest,
    At(u64),
}

/// Shuts the database down when the last `Db` clone goes away.
struct Handle {
    inner: Arc<DbInner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.inner.shutdown();
    }
}

/// An open database. Cheap to clone: clones share one database, and any number of
/// threads may use them at once.
#[derive(Clone)]
pub struct Db {
    handle: Arc<Handle>,
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArgument("keys must not be empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidArgument(format!("key of {} bytes is over the limit of {MAX_KEY_LEN}", key.len())));
    }
    Ok(())
}

impl Db {
    /// Opens the database in `path`, creating the directory if missing and recovering
    /// whatever a crash left behind.
    ///
    /// A second open of a directory that a live `Db` holds, in this process or
    /// another, is `Err(Error::Locked(..))`.
    ///
    /// ```
    /// use strata::{Compaction, Db, Error, Options};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path(), Options::default().compaction(Compaction::tiered()))?;
    /// db.put("k", "v")?;
    /// assert!(matches!(Db::open(dir.path(), Options::default()), Err(Error::Locked(_))));
    /// db.close()?;
    /// let db = Db::open(dir.path(), Options::default())?; // the strategy may change
    /// assert_eq!(db.get("k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        options.validate()?;
        let inner = recovery::open(path.as_ref(), options)?;
        Db::start(inner)
    }

    /// Opens the database in `path` for reading only: no lock is taken and nothing in
    /// the directory is created, changed, renamed or removed. The view is the database
    /// as of the open, WAL records not yet synced or flushed included, and it works on a
    /// directory that a live `Db` (in this process or another) holds. Every write,
    /// flush, compaction and sync returns `Err(Error::ReadOnly)`. A path that holds no
    /// database is an error naming the path, and nothing is created.
    ///
    /// ```
    /// use strata::{Db, Error, Options};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path(), Options::default())?;
    /// db.put("k", "v")?; // in the WAL only
    /// let view = Db::open_read_only(dir.path(), Options::default())?; // while `db` is open
    /// assert_eq!(view.get("k")?.as_deref(), Some(&b"v"[..]));
    /// assert!(matches!(view.put("k", "w"), Err(Error::ReadOnly)));
    /// assert!(Db::open_read_only(dir.path().join("typo"), Options::default()).is_err());
    /// assert!(!dir.path().join("typo").exists());
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        options.validate()?;
        let inner = recovery::open_read_only(path.as_ref(), options)?;
        Ok(Db { handle: Arc::new(Handle { inner }) })
    }

    /// Wraps a freshly opened read-write database and starts its background threads.
    fn start(inner: Arc<DbInner>) -> Result<Db> {
        let db = Db { handle: Arc::new(Handle { inner: inner.clone() }) };
        let flusher = inner.clone();
        let flush_thread =
            std::thread::Builder::new().name("strata-flush".into()).spawn(move || flush::background_loop(&flusher))?;
        inner.bg_threads.lock().push(flush_thread);
        let compactor = inner.clone();
        let compaction_thread = std::thread::Builder::new()
            .name("strata-compact".into())
            .spawn(move || compact::compaction_loop(&compactor))?;
        inner.bg_threads.lock().push(compaction_thread);
        inner.wake_compaction();
        Ok(db)
    }

    fn inner(&self) -> &Arc<DbInner> {
        &self.handle.inner
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let mut batch = WriteBatch::for_one(key.len(), value.len());
        batch.put(key, value);
        self.write(batch)
    }

    /// Removes `key` (a no-op if it is absent).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let mut batch = WriteBatch::for_one(key.len(), 0);
        batch.delete(key);
        self.write(batch)
    }

    /// Removes every key `k` with `start <= k < end` (half-open, as RocksDB's
    /// `DeleteRange`), atomically, with one range tombstone: the cost does not grow with
    /// the number of keys covered. Snapshots, iterators and cursors made before it still
    /// see the keys; compaction reclaims their space. `start` may be empty (every key
    /// below `end`); `start >= end` is `Error::InvalidArgument`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..1000u32 {
    ///     db.put(format!("log:{i:04}"), "entry")?;
    /// }
    /// let before = db.snapshot();
    /// db.delete_range("log:0000", "log:0900")?; // truncate the log's prefix
    /// assert_eq!(db.prefix("log:").count(), 100);
    /// assert_eq!(db.get("log:0899")?, None);
    /// assert!(db.get("log:0900")?.is_some());
    /// assert_eq!(before.prefix("log:").count(), 1000);
    /// assert!(db.delete_range("b", "a").is_err());
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn delete_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        let (start, end) = (start.as_ref(), end.as_ref());
        let mut batch = WriteBatch::for_one(start.len(), end.len());
        batch.delete_range(start, end);
        self.write(batch)
    }

    /// Applies every operation of `batch`, all or nothing, also across a crash.
    ///
    /// Concurrent writes commit in groups: the writer at the head of the queue appends
    /// everyone's batches as one WAL record (and syncs once, if any of them asked).
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.inner().write(batch, false)
    }

    /// [`Db::write`] with per-write options: with `WriteOptions::new().sync(true)` the
    /// write is durable (it survives a power loss) when this returns, even when
    /// `Options::sync_writes` is off.
    pub fn write_opt(&self, batch: WriteBatch, options: &WriteOptions) -> Result<()> {
        self.inner().write(batch, options.sync)
    }

    /// The current value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let inner = self.inner();
        inner.get_at(&inner.default, key.as_ref(), ReadSeq::Latest)
    }

    /// A consistent read view of the database as of now, kept until dropped.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put("balance", "10")?;
    /// let before = db.snapshot();
    /// db.put("balance", "20")?;
    /// db.flush()?; // snapshots survive flushes and compactions
    /// assert_eq!(before.get("balance")?.as_deref(), Some(&b"10"[..]));
    /// assert_eq!(db.get("balance")?.as_deref(), Some(&b"20"[..]));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.inner().clone())
    }

    /// The entries with keys in `range`, in ascending order (`.rev()` for descending).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for k in ["a", "b", "c", "d"] {
    ///     db.put(k, k.to_uppercase())?;
    /// }
    /// fn keys(it: impl Iterator<Item = strata::Result<(strata::Bytes, strata::Bytes)>>) -> strata::Result<Vec<strata::Bytes>> {
    ///     it.map(|entry| entry.map(|(key, _)| key)).collect()
    /// }
    /// assert_eq!(keys(db.range("b".."d"))?, ["b", "c"]);
    /// assert_eq!(keys(db.range::<&str, _>(..).rev())?, ["d", "c", "b", "a"]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Iter {
        let inner = self.inner();
        Iter::new(inner.clone(), inner.default.clone(), ReadSeq::Latest, db_iter::owned_bounds(&range))
    }

    /// The entries whose keys start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let inner = self.inner();
        Iter::new(inner.clone(), inner.default.clone(), ReadSeq::Latest, db_iter::prefix_bounds(prefix.as_ref()))
    }

    /// A forward [`Cursor`] over the data as of now that lends its entries as slices:
    /// the fastest way to scan or seek when the caller does not keep the entries.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(self.inner(), &self.inner().default, ReadSeq::Latest)
    }

    /// An optimistic transaction: it reads the database as of now plus its own writes,
    /// and its commit applies every write atomically, or returns `Error::Conflict` if a
    /// write committed after it began touched a key it read or wrote.
    ///
    /// ```
    /// use strata::Error;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put("counter", "1")?;
    /// let increment = |db: &strata::Db| -> strata::Result<()> {
    ///     loop {
    ///         let mut txn = db.transaction();
    ///         let n: u64 = match txn.get("counter")? {
    ///             Some(v) => std::str::from_utf8(&v).unwrap().parse().unwrap(),
    ///             None => 0,
    ///         };
    ///         txn.put("counter", (n + 1).to_string());
    ///         match txn.commit() {
    ///             Err(Error::Conflict) => continue, // someone else got there first
    ///             other => return other,
    ///         }
    ///     }
    /// };
    /// increment(&db)?;
    /// assert_eq!(db.get("counter")?.as_deref(), Some(&b"2"[..]));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn transaction(&self) -> Transaction {
        Transaction::new(self.inner().clone())
    }

    /// Writes the memtables of every keyspace to SSTables; returns once they are on
    /// disk (and the WALs they retire are removed).
    pub fn flush(&self) -> Result<()> {
        self.inner().flush(None)
    }

    /// Flushes the memtables, then merges every table into as few sorted runs as the
    /// strategy allows (one run of non-overlapping tables on the last level for leveled,
    /// one table for tiered), keeping what live snapshots can see and dropping shadowed
    /// versions and tombstones; returns when it is done. Reads and writes go on
    /// meanwhile; background compactions wait for it.
    pub fn compact(&self) -> Result<()> {
        let inner = self.inner();
        inner.compact(&inner.default)
    }

    /// Flushes, then compacts just the tables holding keys in `range`: under leveled,
    /// those tables and every table overlapping what they span, merged into the last
    /// level (dropping shadowed versions and, where no snapshot needs them, tombstones);
    /// under tiered, the runs from the newest to the oldest one holding a key of the
    /// range (runs merge only with their neighbours in age). Returns when done. An
    /// empty range compacts nothing. L0 tables usually span most keys, so under leveled
    /// a range that L0 holds pulls in L0 and what it overlaps: the narrower the range,
    /// the more it pays to let background compaction drain L0 first.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..1000u32 {
    ///     db.put(format!("log:{i:04}"), "entry")?;
    /// }
    /// for i in 0..500u32 {
    ///     db.delete(format!("log:{i:04}"))?;
    /// }
    /// db.compact_range("log:0000".."log:0500")?; // reclaims the deleted entries' space
    /// assert_eq!(db.prefix("log:").count(), 500);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn compact_range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Result<()> {
        let inner = self.inner();
        inner.compact_range(&inner.default, &UserKeyRange::new(&range))
    }

    /// Flushes the memtables and then performs every compaction the strategies still
    /// want, returning once every keyspace's tree has the shape its strategy aims for.
    /// Benchmarks use it to settle a database before measuring reads.
    pub fn wait_for_compactions(&self) -> Result<()> {
        self.inner().wait_for_compactions()
    }

    /// Makes every write that returned before this call durable on disk.
    ///
    /// A failed fsync is sticky: the kernel may have dropped the dirty pages it could not
    /// write, so a retry that "succeeds" would claim durability for lost writes. The
    /// database refuses writes (and further syncs) from then until it is reopened, and
    /// recovery finds what really reached the disk.
    pub fn sync(&self) -> Result<()> {
        self.inner().sync_wal()
    }

    /// The engine's counters and the shape of the tree, totalled over every keyspace
    /// (levels added level by level); [`Keyspace::stats`] has one keyspace's.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..1000u32 {
    ///     db.put(i.to_be_bytes(), [0u8; 100])?;
    /// }
    /// db.flush()?;
    /// let stats = db.stats();
    /// assert_eq!(stats.levels[0].files, 1);
    /// assert!(stats.write_amplification() > 0.0);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.inner().stats()
    }

    /// Bytes on disk that hold keys in `range`, estimated from the tables' key ranges
    /// and index blocks (no data block is read): a table inside the range counts whole,
    /// one that straddles an end counts the data blocks that may hold keys of the
    /// range. Within a block of the truth at each end of the range, so within 2x for
    /// any range spanning a few blocks; data still in memtables is not on disk and does
    /// not count.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..10_000u32 {
    ///     db.put(format!("user:{i:05}"), [7u8; 100])?;
    /// }
    /// db.flush()?;
    /// let all = db.approximate_size::<&str, _>(..);
    /// let half = db.approximate_size("user:00000".."user:05000");
    /// assert!(half > all / 4 && half < all * 3 / 4);
    /// assert_eq!(db.approximate_size("zebra".."zoo"), 0);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn approximate_size<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> u64 {
        self.inner().default.super_version().version.approximate_size(&UserKeyRange::new(&range))
    }

    /// Writes a consistent, openable copy of the whole database as of one instant into
    /// `dir`, which must not exist yet. Tables are hard-linked where the file system
    /// allows (copied otherwise) and what is still in memtables is written as a new
    /// table, so the copy needs no WAL. Every write that returned before the call is in
    /// it, no batch is torn, and writes go on meanwhile. `Db::open(dir, ..)` opens it
    /// like any database; the copy is durable when this returns.
    ///
    /// ```
    /// use strata::{Db, Options};
    /// # let base = tempfile::tempdir().unwrap();
    /// # let (path, backup) = (base.path().join("db"), base.path().join("backup"));
    /// let db = Db::open(&path, Options::default())?;
    /// db.put("k", "before")?;
    /// db.checkpoint(&backup)?;
    /// db.put("k", "after")?;
    /// let copy = Db::open(&backup, Options::default())?;
    /// assert_eq!(copy.get("k")?.as_deref(), Some(&b"before"[..]));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.inner().checkpoint(dir.as_ref())
    }

    /// Every live SSTable of the default keyspace, level by level (L0 newest first).
    pub fn tables(&self) -> Vec<TableInfo> {
        tables_of(&self.inner().default)
    }

    /// What the default keyspace's compaction strategy would do next, described in
    /// words (`None` when the tree is in shape).
    pub fn pending_compaction(&self) -> Option<String> {
        pending_compaction_of(&self.inner().default)
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.inner().dir
    }

    /// Stops background work and releases the directory. Every acknowledged write is
    /// in the WAL or an SSTable and is found again by the next `open`. Other clones of
    /// this `Db` get `Error::Closed` afterwards.
    pub fn close(self) -> Result<()> {
        self.inner().shutdown()
    }
}

/// Every live SSTable of `tree`, level by level (L0 newest first).
fn tables_of(tree: &Tree) -> Vec<TableInfo> {
    let version = tree.super_version().version.clone();
    version
        .files()
        .map(|f| TableInfo {
            level: f.info.level as usize,
            number: f.number(),
            size: f.info.size,
            smallest_key: f.smallest_user_key().to_vec(),
            largest_key: f.largest_user_key().to_vec(),
            min_seq: f.info.summary.min_seq,
            max_seq: f.info.summary.max_seq,
            entries: f.info.summary.num_entries,
            deletions: f.info.summary.num_deletions,
            range_deletions: f.info.summary.num_range_deletions,
        })
        .collect()
}

/// What `tree`'s compaction strategy would do next, in words.
fn pending_compaction_of(tree: &Tree) -> Option<String> {
    let version = tree.super_version().version.clone();
    let job = strategy::from_options(&tree.opts).pick(&version)?;
    let inputs: Vec<String> = job.inputs.iter().map(|f| format!("L{}:{:06}", f.info.level, f.number())).collect();
    let kind = if job.drop_inputs {
        "drop"
    } else if job.trivial_move {
        "move"
    } else {
        "merge"
    };
    Some(format!(
        "{kind} {} ({}) into L{}, because of {}",
        inputs.join(" "),
        job.input_bytes(),
        job.output_level,
        job.reason
    ))
}

impl DbInner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// `check_open`, and refuses a read-only database.
    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        Ok(())
    }

    /// The super version a read uses and the seqno it reads at.
    ///
    /// For the latest data the seqno is loaded *after* the super version is pinned.
    /// Compaction drops a version once a newer one is visible to every reader
    /// (`oldest_snapshot`), so a seqno loaded first could predate a compaction installed
    /// in between: the pinned tables would lack the version that seqno sees, and the
    /// read would return an older one. Loaded after, the seqno is at least the one the
    /// installed compactions kept versions for (RocksDB's `GetImpl` orders it the same
    /// way). A snapshot's seqno is safe either way: compaction keeps what registered
    /// snapshots see.
    pub(crate) fn read_view(&self, tree: &Tree, at: ReadSeq) -> (Arc<SuperVersion>, u64) {
        let sv = tree.super_version();
        let seq = match at {
            ReadSeq::Latest => self.visible_seq.load(Ordering::Acquire),
            ReadSeq::At(seq) => seq,
        };
        (sv, seq)
    }

    /// Installs `sv` as the current view of `tree`'s memtables and tables. Called with
    /// `state` held, so installs are ordered. Returns the view it replaced, for the caller to
    /// drop once it has let go of `state`: the last reference to a view may free a
    /// memtable or unlink obsolete tables, which must block neither readers (waiting for
    /// `current`) nor writers (waiting for `state`).
    #[must_use = "drop the old view after releasing the state lock"]
    pub(crate) fn install(tree: &mut TreeState, sv: SuperVersion) -> Arc<SuperVersion> {
        let sv = Arc::new(sv);
        tree.sv = sv.clone();
        tree.tree.publish(sv)
    }

    /// Puts the database into the refuse-writes state until it is reopened (the first
    /// reason wins) and wakes everyone waiting on background work.
    pub(crate) fn set_background_error(&self, why: String) {
        self.set_background_error_locked(&mut self.state.lock(), why);
    }

    /// [`DbInner::set_background_error`] with `state` already held. Waking the waiters
    /// is what matters: a `flush()` waiting for a memtable that the flush thread, seeing
    /// the error, will never write must wake to return the error.
    pub(crate) fn set_background_error_locked(&self, st: &mut State, why: String) {
        st.bg_error.get_or_insert(why);
        self.flushed_cv.notify_all();
    }

    /// The refuse-writes state as an error, if the database is in it.
    fn background_error(&self) -> Result<()> {
        match &self.state.lock().bg_error {
            Some(why) => Err(Error::Background(why.clone())),
            None => Ok(()),
        }
    }

    /// `Db::sync`: fsyncs the WALs retired unsynced, then the live one.
    pub(crate) fn sync_wal(&self) -> Result<()> {
        self.check_writable()?;
        self.background_error()?;
        // The retired logs first without the `wal` lock, so that writers go on meanwhile;
        // then, holding it so that no switch retires the live log between the steps, any
        // retired since, and the live one.
        let synced = self.retired_wals.sync().and_then(|()| {
            let mut wal = self.wal.lock();
            self.retired_wals.sync().and_then(|()| wal.sync())
        });
        if let Err(e) = synced {
            self.set_background_error(format!("WAL sync failed: {e}"));
            return Err(Error::Io(e));
        }
        Ok(())
    }

    pub(crate) fn get_at(&self, tree: &Tree, key: &[u8], at: ReadSeq) -> Result<Option<Bytes>> {
        check_key(key)?;
        self.check_open()?;
        Counters::add(&tree.stats.gets, 1);
        let (sv, seq) = self.read_view(tree, at);
        // L0's tables overlap, so a get may consult every one: their filter lines are
        // fetched while the memtables are searched and overlap one another's cache
        // misses. (A deeper level offers one table, found by a binary search that this
        // would do twice: a cached miss on one level got a third slower.)
        let lkey = LookupKey::new(key, seq);
        if let Some(l0) = sv.version.levels.first().filter(|l0| l0.len() > 1) {
            for table in l0.iter().filter(|f| f.covers(key)).filter_map(|f| f.open_table()) {
                table.prefetch_filter(lkey.hash());
            }
        }
        // The newest range tombstone over the key that this read sees: a version older
        // than it is deleted, and a table holding only older versions need not be read.
        let deleted_below = sv.covering_range_del(key, seq)?;
        for mem in std::iter::once(&sv.mem).chain(&sv.imms) {
            match mem.get(&lkey) {
                Lookup::Found(v, at) => return Ok((deleted_below <= at).then(|| Bytes::copy_from_slice(v))),
                Lookup::Deleted => return Ok(None),
                Lookup::Missing => {}
            }
        }
        let mut counts = LookupCounts::default();
        let mut found = Ok(None);
        for (level, file) in sv.version.tables_for_key(key) {
            if file.info.summary.max_seq < deleted_below {
                continue;
            }
            let (lookup, filter) = match file.table().and_then(|t| t.get(&lkey)) {
                Ok(r) => r,
                Err(e) => {
                    found = Err(e);
                    break;
                }
            };
            counts.at_level(level, &tree.stats);
            match filter {
                FilterResult::Excluded => counts.negatives += 1,
                FilterResult::Passed => {
                    counts.passes += 1;
                    counts.tables_read += 1;
                    counts.false_positives += u32::from(lookup == Lookup::Missing);
                }
                FilterResult::NoFilter => counts.tables_read += 1,
            }
            match lookup {
                Lookup::Found(v, at) => {
                    found = Ok((deleted_below <= at).then_some(v));
                    break;
                }
                Lookup::Deleted => break,
                Lookup::Missing => {}
            }
        }
        counts.add_to(&tree.stats);
        found
    }

    pub(crate) fn register_snapshot(&self) -> u64 {
        let mut snaps = self.snapshots.lock();
        // SeqCst, as the leader's publishing store: a transaction's snapshot pairs with
        // it (see `conflicts`). A plain load on x86 either way.
        let seq = self.visible_seq.load(Ordering::SeqCst);
        *snaps.entry(seq).or_insert(0) += 1;
        seq
    }

    pub(crate) fn release_snapshot(&self, seq: u64) {
        let mut snaps = self.snapshots.lock();
        if let Some(n) = snaps.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&seq);
            }
        }
    }

    /// The oldest seqno a live snapshot reads at; compaction keeps what it can see.
    pub(crate) fn oldest_snapshot(&self) -> u64 {
        let snaps = self.snapshots.lock();
        snaps.keys().next().copied().unwrap_or_else(|| self.visible_seq.load(Ordering::Acquire))
    }

    /// Totals over every keyspace, with the database's own counters.
    fn stats(&self) -> Stats {
        let trees: Vec<Arc<Tree>> = self.state.lock().trees.iter().map(|t| t.tree.clone()).collect();
        let mut total = self.stats.snapshot();
        for tree in &trees {
            total.absorb(&tree.stats());
        }
        total.strategy = self.default.policy.name().to_string();
        total.block_cache_bytes = self.block_cache_bytes();
        total
    }

    /// [`Tree::stats`] with the database's own counters (WAL, write groups, stalls).
    fn tree_stats(&self, tree: &Tree) -> Stats {
        let mut stats = self.stats.snapshot();
        stats.absorb(&tree.stats());
        stats.strategy = tree.policy.name().to_string();
        stats.block_cache_bytes = self.block_cache_bytes();
        stats
    }

    fn block_cache_bytes(&self) -> u64 {
        self.ctx.cache.as_ref().map_or(0, |c| c.usage() as u64)
    }

    fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        {
            let mut st = self.state.lock();
            for t in &st.trees {
                t.tree.merge_cache.clear();
            }
            st.shutting_down = true;
            self.bg_cv.notify_all();
            self.flushed_cv.notify_all();
            self.compaction_cv.notify_all();
        }
        // A running compaction sees `closed` and stops early, removing its outputs; a
        // flush finishes first. A panic in either thread is a bug, reported as a
        // background error rather than propagated.
        let threads = std::mem::take(&mut *self.bg_threads.lock());
        let mut panicked = false;
        for t in threads {
            panicked |= t.join().is_err();
        }
        if panicked {
            return Err(Error::Background("background thread panicked".into()));
        }
        // A leader of another clone may be appending right now: taking the WAL lock waits
        // for it, and leaders that get the lock later see `closed` and append nothing.
        // Only then may the directory lock go, or a new `Db::open` could replay and
        // delete a WAL that is still being written.
        // Writers flush the WAL after every group, so nothing is left in user space;
        // flushing again costs nothing and keeps that promise local.
        let flushed = self.wal.lock().flush();
        self.lock.lock().take();
        flushed?;
        Ok(())
    }
}

pub(crate) fn num_levels(opts: &Options) -> usize {
    match &opts.compaction {
        Compaction::Leveled(l) => l.num_levels,
        // Runs start in L0; deeper levels appear only if an earlier leveled
        // configuration left tables there.
        Compaction::Tiered(_) | Compaction::Fluid(_) | Compaction::Fifo(_) => 1,
    }
}

pub(crate) fn new_strategy(opts: &Options) -> Box<dyn CompactionStrategy> {
    strategy::from_options(opts)
}

/// The block cache; one of size 0 caches nothing but still recycles block buffers.
fn new_block_cache(opts: &Options) -> Arc<BlockCache> {
    Arc::new(BlockCache::with_block_size(opts.block_cache_size, opts.block_size))
}

/// Whether a memtable switch retires the WAL without syncing it. Under point-in-time
/// recovery it does: a WAL that fills a memtable and is deleted once the memtable is
/// flushed then mostly never reaches the disk (LevelDB's and RocksDB's way), where a
/// sync wrote every byte of it (with 16 KiB values that write-back kept the disk too
/// busy for flushes to keep up). What a power loss takes from an unsynced retired WAL
/// while a later one survives is a gap between the logs, which recovery detects from
/// the log-start record each WAL begins with, and stops before (see `recovery`). The
/// stricter recovery modes would report such a gap as corruption, so under them a
/// switch syncs as before.
fn retires_wals_unsynced(opts: &Options) -> bool {
    opts.wal_recovery == crate::options::WalRecovery::PointInTime
}

/// A writer for the new WAL `file`, begun with its log-start record (`next_seq` is the
/// seqno its first write will get). A WAL that will be retired unsynced is left out of
/// early write-back: most of it is deleted before anything asks for it on disk.
fn new_wal_writer(file: Box<dyn crate::fs::WritableFile>, opts: &Options, next_seq: u64) -> std::io::Result<LogWriter> {
    let mut wal = LogWriter::new(file);
    wal.set_early_write_back(!retires_wals_unsynced(opts));
    wal.add_record(&log_start_record(next_seq))?;
    wal.flush()?;
    Ok(wal)
}

/// The record every WAL begins with: an empty batch carrying the seqno its first write
/// will get (see `docs/format.md`). Recovery compares it with where the log before
/// ended, to find writes a power loss took from the end of an unsynced retired log.
pub(crate) fn log_start_record(next_seq: u64) -> Vec<u8> {
    let mut batch = WriteBatch::new();
    batch.set_seq(next_seq);
    batch.encoded().to_vec()
}

fn wal_path(dir: &Path, number: u64) -> PathBuf {
    filename::path(dir, &filename::wal_name(number))
}

/// The contract promises these auto traits; this fails to compile if one is lost.
#[allow(dead_code)]
fn assert_thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Db>();
    send_sync::<Snapshot>();
    send::<Iter>();
    send::<Transaction>();
}
