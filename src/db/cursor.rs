//! [`Cursor`]: a forward cursor that lends its current entry, LevelDB- and RocksDB-style.
//!
//! [`super::Iter`] hands out owned `(Bytes, Bytes)` pairs: a key copied into a shared
//! chunk and a value sharing its block, each a reference count taken and later dropped.
//! In a full scan of cached tables that bookkeeping was a quarter of the time per entry.
//! A cursor instead lends `&[u8]` views of the entry under it, valid until it moves, and
//! copies nothing but the user key it needs to skip older versions.
//!
//! A cursor takes its merge from, and leaves it in, its database's merge cache
//! ([`super::merge_cache::MergeCache`]), so a seek-and-read-one does not build and drop every
//! source's cursor.
//!
//! Promises: the entries a cursor visits are exactly those [`super::Iter`] yields for the
//! same view (the newest version of each key at or below the read seqno, tombstoned keys
//! left out), in ascending key order. It pins its view like an `Iter`: later writes,
//! flushes and compactions do not change what it sees.

use std::sync::Arc;

use super::db_iter::next_visible;
use super::tree::Tree;
use super::{DbInner, ReadSeq, SuperVersion};
use crate::cache::CacheFill;
use crate::error::{Error, Result};
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::key::{seek_key, user_key, ValueKind, MAX_SEQUENCE};
use crate::range_del::RangeDelView;

/// A forward cursor over a consistent view of the database, lending each entry as
/// `&[u8]` slices: no copies and no reference counting per entry.
///
/// It starts unpositioned: call [`Cursor::seek_to_first`] or [`Cursor::seek`], then
/// read [`Cursor::key`] and [`Cursor::value`] while [`Cursor::valid`], and step with
/// [`Cursor::next`]. When it stops being valid, [`Cursor::status`] tells the end from
/// an error. For owned entries, bounds or reverse order, use [`super::Db::range`].
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let db = strata::Db::open(dir.path(), strata::Options::default()).unwrap();
/// db.put("apple", "1").unwrap();
/// db.put("banana", "2").unwrap();
/// let mut cursor = db.cursor();
/// cursor.seek("b");
/// assert!(cursor.valid());
/// assert_eq!((cursor.key(), cursor.value()), (&b"banana"[..], &b"2"[..]));
/// cursor.next();
/// assert!(!cursor.valid());
/// cursor.status().unwrap();
/// ```
pub struct Cursor {
    db: Arc<DbInner>,
    /// The keyspace's tree it reads.
    tree: Arc<Tree>,
    sv: Arc<SuperVersion>,
    seq: u64,
    /// The view's range tombstones.
    range_dels: RangeDelView,
    /// `None` if the sources could not be opened (the error is in `err`).
    it: Option<MergingIterator>,
    /// The budget of block-cache fills its table cursors share, restarted by a seek.
    fill: CacheFill,
    /// The user key whose remaining versions are being skipped (the entry last left).
    current: Vec<u8>,
    valid: bool,
    err: Option<Error>,
}

impl Cursor {
    pub(crate) fn new(db: &Arc<DbInner>, tree: &Arc<Tree>, at: ReadSeq) -> Cursor {
        let (sv, seq) = db.read_view(tree, at);
        let sources = db.check_open().and_then(|()| Ok((sv.range_dels()?, tree.merge_cache.take_or_build(tree, &sv)?)));
        let (range_dels, it, fill, err) = match sources {
            Ok((range_dels, (it, fill))) => (range_dels, Some(it), fill, None),
            Err(e) => (RangeDelView::default(), None, CacheFill::Never, Some(e)),
        };
        Cursor {
            db: db.clone(),
            tree: tree.clone(),
            sv,
            seq,
            range_dels,
            it,
            fill,
            current: Vec::new(),
            valid: false,
            err,
        }
    }

    /// A cursor that has no entries and reports `e` (reading a dropped keyspace).
    pub(crate) fn with_error(mut self, e: Error) -> Cursor {
        self.it = None;
        self.err = Some(e);
        self
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.fill.restart();
        if let Some(it) = &mut self.it {
            it.seek_to_first();
        }
        self.settle(false);
    }

    /// Moves to the first entry whose key is at or after `key`.
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.fill.restart();
        if let Some(it) = &mut self.it {
            it.seek(&seek_key(key.as_ref(), MAX_SEQUENCE));
        }
        self.settle(false);
    }

    /// Moves to the next entry. Does nothing unless [`Cursor::valid`].
    pub fn next(&mut self) {
        if !self.valid {
            return;
        }
        if let Some(it) = &mut self.it {
            // The entry's older versions come next and are skipped by its user key,
            // copied only now so that a seek-and-read-one copies no key at all.
            self.current.clear();
            self.current.extend_from_slice(user_key(it.key()));
            it.next();
        }
        self.settle(true);
    }

    /// Whether the cursor is on an entry.
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The current entry's key (empty unless [`Cursor::valid`]).
    pub fn key(&self) -> &[u8] {
        match &self.it {
            Some(it) if self.valid => user_key(it.key()),
            _ => &[],
        }
    }

    /// The current entry's value (empty unless [`Cursor::valid`]).
    pub fn value(&self) -> &[u8] {
        match &self.it {
            Some(it) if self.valid => it.value(),
            _ => &[],
        }
    }

    /// `Ok` if the cursor only ran out of entries; the error that stopped it otherwise
    /// (a damaged table, an I/O error, a closed database).
    pub fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }

    /// Advances the merge to the newest visible version of the next live key, skipping
    /// the older versions of `current` when `skip_current`.
    fn settle(&mut self, mut skip_current: bool) {
        self.valid = false;
        let Some(it) = &mut self.it else { return };
        loop {
            match next_visible(it, self.seq, skip_current.then_some(self.current.as_slice()), &mut self.range_dels) {
                Ok(Some(ValueKind::Put)) => {
                    self.valid = true;
                    return;
                }
                Ok(Some(_)) => {
                    // A tombstone: the key is deleted, and its older versions with it.
                    self.current.clear();
                    self.current.extend_from_slice(user_key(it.key()));
                    skip_current = true;
                    it.next();
                }
                Ok(None) => return,
                Err(e) => {
                    self.err = Some(e);
                    return;
                }
            }
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        let Some(it) = self.it.take() else { return };
        self.tree.count_scan(&[&self.fill]);
        if self.err.is_none() {
            let fill = std::mem::replace(&mut self.fill, CacheFill::Never);
            self.tree.merge_cache.park(&self.db, &self.tree, &self.sv, it, fill);
        }
    }
}
