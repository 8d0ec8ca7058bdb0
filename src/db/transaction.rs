//! [`Transaction`]: optimistic transactions (RocksDB's `OptimisticTransactionDB`).
//!
//! A transaction reads through a snapshot taken when it began, sees its own pending
//! writes first, and remembers every key it read or wrote. Nothing is locked while it
//! runs. Its commit is one write batch that the write leader lets through only if no
//! write committed after the transaction began touched one of those keys (checked
//! against the conflict log, see [`super::conflicts`]); otherwise the commit returns
//! `Error::Conflict` and writes nothing.
//!
//! Promises: point reads and writes are serializable — committed transactions act as if
//! run one at a time in commit order, because each one's `get`s are still current when
//! it commits. What [`Transaction::range`] returns is not checked at all (neither a key
//! added to the range meanwhile, a phantom, nor a change to a key it returned): a
//! transaction that must not act on stale data reads those keys with `get`. A
//! transaction that began before the oldest write the log still holds is refused rather
//! than checked.

use std::cmp::Ordering;
use std::collections::{btree_map, BTreeMap, BTreeSet};
use std::iter::Peekable;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use bytes::Bytes;

use super::conflicts::{conflict_key, ConflictCheck};
use super::tree::Tree;
use super::{DbInner, Iter, Keyspace, ReadSeq, Snapshot};
use crate::batch::WriteBatch;
use crate::error::Result;
use crate::key::UserKeyRange;
use crate::options::WriteOptions;

/// An optimistic transaction; see [`Db::transaction`](super::Db::transaction). Dropping it without committing
/// discards it.
pub struct Transaction {
    db: Arc<DbInner>,
    snapshot: Option<Snapshot>,
    /// Pending writes by [`conflict_key`] (keyspace id, then key): `None` deletes the
    /// key.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The [`conflict_key`]s of the keys read.
    reads: BTreeSet<Vec<u8>>,
    /// The keyspaces written besides the default one: (id, handle identity), checked
    /// at commit as a batch's are.
    keyspaces: Vec<(u32, u64)>,
}

impl Transaction {
    pub(crate) fn new(db: Arc<DbInner>) -> Transaction {
        let snapshot = {
            let mut log = db.conflicts.lock();
            // Counted before the snapshot's seqno is read: see `conflicts`.
            db.live_transactions.fetch_add(1, SeqCst);
            let snapshot = Snapshot::new(db.clone());
            log.begin(snapshot.sequence());
            snapshot
        };
        Transaction {
            db,
            snapshot: Some(snapshot),
            writes: BTreeMap::new(),
            reads: BTreeSet::new(),
            keyspaces: Vec::new(),
        }
    }

    /// The value of `key`: the transaction's own pending write if it made one, else the
    /// database's as of the transaction's start. The key joins the conflict check.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let tree = self.db.default.clone();
        self.read(&tree, key.as_ref())
    }

    /// [`Transaction::get`] in `keyspace`.
    pub fn get_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let tree = keyspace.tree_in(&self.db)?.clone();
        self.read(&tree, key.as_ref())
    }

    fn read(&mut self, tree: &Tree, key: &[u8]) -> Result<Option<Bytes>> {
        let conflict_key = conflict_key(tree.id, key);
        if let Some(pending) = self.writes.get(&conflict_key) {
            return Ok(pending.as_ref().map(|v| Bytes::copy_from_slice(v)));
        }
        let value = match &self.snapshot {
            Some(snapshot) => self.db.get_at(tree, key, ReadSeq::At(snapshot.sequence()))?,
            None => None,
        };
        self.reads.insert(conflict_key);
        Ok(value)
    }

    /// The entries with keys in `range`, ascending: the transaction's pending writes
    /// over the database as of its start (a pending delete hides the key). Unlike
    /// [`Transaction::get`], nothing a range read returns is validated at commit: a key
    /// another commit adds to the range meanwhile (a phantom), changes or deletes does not
    /// make the commit fail. Read with `get` what the transaction's writes depend on.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put("todo:1", "write")?;
    /// db.put("todo:2", "test")?;
    /// let mut txn = db.transaction();
    /// txn.delete("todo:1");
    /// txn.put("todo:3", "ship");
    /// let keys: Vec<_> = txn.range("todo:".."todo;").map(|e| e.map(|(k, _)| k)).collect::<strata::Result<_>>()?;
    /// assert_eq!(keys, ["todo:2", "todo:3"]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> TransactionIter<'_> {
        let base = self.snapshot.as_ref().map(|s| s.range::<K, _>((range.start_bound(), range.end_bound())));
        self.merged(self.db.default.id, &range, base)
    }

    /// [`Transaction::range`] in `keyspace` (an iterator that yields one error if the
    /// keyspace is dropped or of another database).
    pub fn range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, keyspace: &Keyspace, range: R) -> TransactionIter<'_> {
        let base =
            self.snapshot.as_ref().map(|s| s.range_in::<K, _>(keyspace, (range.start_bound(), range.end_bound())));
        self.merged(keyspace.id(), &range, base)
    }

    /// The pending writes of keyspace `id` in `range` merged over `base`.
    fn merged<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, id: u32, range: &R, base: Option<Iter>) -> TransactionIter<'_> {
        // BTreeMap::range panics on a backwards range; an empty one has no pending writes.
        let pending = (!UserKeyRange::new(range).is_empty()).then(|| {
            let start = match range.start_bound() {
                Bound::Included(k) => Bound::Included(conflict_key(id, k.as_ref())),
                Bound::Excluded(k) => Bound::Excluded(conflict_key(id, k.as_ref())),
                Bound::Unbounded => Bound::Included(conflict_key(id, b"")),
            };
            let end = match range.end_bound() {
                Bound::Included(k) => Bound::Included(conflict_key(id, k.as_ref())),
                Bound::Excluded(k) => Bound::Excluded(conflict_key(id, k.as_ref())),
                // The first key of the next keyspace (or, for the last id, past all).
                Bound::Unbounded => match id.checked_add(1) {
                    Some(next) => Bound::Excluded(conflict_key(next, b"")),
                    None => Bound::Unbounded,
                },
            };
            self.writes.range((start, end)).peekable()
        });
        TransactionIter { base: base.map(Iterator::peekable), pending }
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.writes.insert(conflict_key(self.db.default.id, key.as_ref()), Some(value.as_ref().to_vec()));
    }

    /// Sets `key` to `value` in `keyspace` when the transaction commits (a keyspace
    /// dropped meanwhile, or of another database, makes the commit fail with
    /// `Error::InvalidArgument`).
    pub fn put_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.note(keyspace);
        self.writes.insert(conflict_key(keyspace.id(), key.as_ref()), Some(value.as_ref().to_vec()));
    }

    /// Removes `key` when the transaction commits.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.writes.insert(conflict_key(self.db.default.id, key.as_ref()), None);
    }

    /// Removes `key` from `keyspace` when the transaction commits.
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) {
        self.note(keyspace);
        self.writes.insert(conflict_key(keyspace.id(), key.as_ref()), None);
    }

    fn note(&mut self, keyspace: &Keyspace) {
        let handle = keyspace.handle();
        if !self.keyspaces.contains(&handle) {
            self.keyspaces.push(handle);
        }
    }

    /// Applies every write of the transaction atomically, or none of them:
    /// `Err(Error::Conflict)` when a write committed by anyone after the transaction
    /// began touched a key it read or wrote. A transaction that only read commits
    /// trivially (with `sync(true)`, after syncing the WAL as an empty synced write
    /// does).
    pub fn commit(self) -> Result<()> {
        self.commit_opt(&WriteOptions::new())
    }

    /// [`Transaction::commit`] with write options: `sync(true)` makes the commit
    /// durable before it returns.
    pub fn commit_opt(mut self, options: &WriteOptions) -> Result<()> {
        if self.writes.is_empty() {
            return self.db.write(WriteBatch::new(), options.sync);
        }
        let start = self.snapshot.as_ref().map_or(0, Snapshot::sequence);
        let mut batch = WriteBatch::new();
        for &(id, handle) in &self.keyspaces {
            batch.note_keyspace(id, handle);
        }
        for (conflict_key, value) in &self.writes {
            let (id, key) = split_conflict_key(conflict_key);
            match value {
                Some(v) => batch.put_to(id, key, v),
                None => batch.delete_to(id, key),
            }
        }
        let mut keys: Vec<Vec<u8>> = std::mem::take(&mut self.reads).into_iter().collect();
        keys.extend(std::mem::take(&mut self.writes).into_keys());
        self.db.commit_checked(batch, options.sync, ConflictCheck { start, keys })
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Released before the log forgets the transaction, so compaction may drop what
        // only it needed.
        self.snapshot.take();
        let mut log = self.db.conflicts.lock();
        log.end();
        self.db.live_transactions.fetch_sub(1, SeqCst);
    }
}

/// A transaction's pending writes in a range, in key order (`None`: a delete).
/// The keyspace id and key of a [`conflict_key`].
fn split_conflict_key(key: &[u8]) -> (u32, &[u8]) {
    let (id, key) = key.split_at(4);
    (u32::from_be_bytes([id[0], id[1], id[2], id[3]]), key)
}

type PendingWrites<'t> = Peekable<btree_map::Range<'t, Vec<u8>, Option<Vec<u8>>>>;

/// The iterator of [`Transaction::range`].
pub struct TransactionIter<'t> {
    base: Option<Peekable<Iter>>,
    pending: Option<PendingWrites<'t>>,
}

impl Iterator for TransactionIter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Which source holds the next key: the pending write wins a tie.
            let order =
                match (self.base.as_mut().and_then(Peekable::peek), self.pending.as_mut().and_then(Peekable::peek)) {
                    (None, None) => return None,
                    (Some(Err(_)), _) | (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(Ok((base, _))), Some((pending, _))) => base.as_ref().cmp(split_conflict_key(pending).1),
                };
            if order == Ordering::Less {
                return self.base.as_mut().and_then(Iterator::next);
            }
            if order == Ordering::Equal {
                self.base.as_mut().and_then(Iterator::next);
            }
            let (key, value) = self.pending.as_mut().and_then(Iterator::next)?;
            if let Some(value) = value {
                return Some(Ok((Bytes::copy_from_slice(split_conflict_key(key).1), Bytes::copy_from_slice(value))));
            }
        }
    }
}
