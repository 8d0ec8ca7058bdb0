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

use super::conflicts::ConflictCheck;
use super::{DbInner, Iter, Snapshot};
use crate::batch::WriteBatch;
use crate::error::Result;
use crate::key::UserKeyRange;
use crate::options::WriteOptions;

/// An optimistic transaction; see [`Db::transaction`](super::Db::transaction). Dropping it without committing
/// discards it.
pub struct Transaction {
    db: Arc<DbInner>,
    snapshot: Option<Snapshot>,
    /// Pending writes: `None` deletes the key.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    reads: BTreeSet<Vec<u8>>,
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
        Transaction { db, snapshot: Some(snapshot), writes: BTreeMap::new(), reads: BTreeSet::new() }
    }

    /// The value of `key`: the transaction's own pending write if it made one, else the
    /// database's as of the transaction's start. The key joins the conflict check.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = key.as_ref();
        if let Some(pending) = self.writes.get(key) {
            return Ok(pending.as_ref().map(|v| Bytes::copy_from_slice(v)));
        }
        let value = match &self.snapshot {
            Some(snapshot) => snapshot.get(key)?,
            None => None,
        };
        self.reads.insert(key.to_vec());
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
        fn bytes<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<&[u8]> {
            b.map(|k| k.as_ref())
        }
        // BTreeMap::range panics on a backwards range; an empty one has no pending writes.
        let pending = if UserKeyRange::new(&range).is_empty() {
            None
        } else {
            let bounds = (bytes(range.start_bound()), bytes(range.end_bound()));
            Some(self.writes.range::<[u8], _>(bounds).peekable())
        };
        let base = self.snapshot.as_ref().map(|s| s.range(range).peekable());
        TransactionIter { base, pending }
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.writes.insert(key.as_ref().to_vec(), Some(value.as_ref().to_vec()));
    }

    /// Removes `key` when the transaction commits.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.writes.insert(key.as_ref().to_vec(), None);
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
        for (key, value) in &self.writes {
            match value {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
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
                    (Some(Ok((base, _))), Some((pending, _))) => base.as_ref().cmp(pending.as_slice()),
                };
            if order == Ordering::Less {
                return self.base.as_mut().and_then(Iterator::next);
            }
            if order == Ordering::Equal {
                self.base.as_mut().and_then(Iterator::next);
            }
            let (key, value) = self.pending.as_mut().and_then(Iterator::next)?;
            if let Some(value) = value {
                return Some(Ok((Bytes::copy_from_slice(key), Bytes::copy_from_slice(value))));
            }
        }
    }
}
