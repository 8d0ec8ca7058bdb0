//! [`Snapshot`]: a read view pinned at one seqno, the same instant in every keyspace.
//!
//! A snapshot is only a registered seqno: reads through it go to the current memtables
//! and tables and skip every version newer than the seqno. The registration is what
//! tells compaction which old versions must survive.

use std::sync::Arc;

use bytes::Bytes;

use super::db_iter::{owned_bounds, prefix_bounds, Iter};
use super::{Cursor, DbInner, Keyspace, ReadSeq};
use crate::error::Result;

/// A consistent read view of the database as of its creation, kept until dropped.
pub struct Snapshot {
    inner: Arc<DbInner>,
    seq: u64,
}

impl Snapshot {
    pub(crate) fn new(inner: Arc<DbInner>) -> Snapshot {
        let seq = inner.register_snapshot();
        Snapshot { inner, seq }
    }

    /// The value `key` had when the snapshot was taken.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get_at(&self.inner.default, key.as_ref(), ReadSeq::At(self.seq))
    }

    /// The value `key` had in `keyspace` when the snapshot was taken.
    pub fn get_in(&self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get_at(keyspace.tree_in(&self.inner)?, key.as_ref(), ReadSeq::At(self.seq))
    }

    /// The entries with keys in `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, range: R) -> Iter {
        Iter::new(self.inner.clone(), self.inner.default.clone(), ReadSeq::At(self.seq), owned_bounds(&range))
    }

    /// The entries of `keyspace` with keys in `range` as of the snapshot (an iterator
    /// that yields one error if the keyspace is dropped or of another database).
    pub fn range_in<K: AsRef<[u8]>, R: std::ops::RangeBounds<K>>(&self, keyspace: &Keyspace, range: R) -> Iter {
        let it = keyspace.iter(ReadSeq::At(self.seq), owned_bounds(&range));
        match keyspace.tree_in(&self.inner) {
            Ok(_) => it,
            Err(e) => it.with_error(e),
        }
    }

    /// A forward [`Cursor`] over the data as of the snapshot.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(&self.inner, &self.inner.default, ReadSeq::At(self.seq))
    }

    /// The entries whose keys start with `prefix` as of the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        Iter::new(self.inner.clone(), self.inner.default.clone(), ReadSeq::At(self.seq), prefix_bounds(prefix.as_ref()))
    }

    /// The seqno the snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.inner.release_snapshot(self.seq);
    }
}
