//! [`MergeCache`]: the merge the last dropped cursor or iterator left, for the next one
//! over the same view.
//!
//! Building a merge (a cursor per memtable and table, each with its key buffers, the
//! heap, the fill budget) and dropping it cost a seek-and-read-one as much as the seek
//! did. So a dropped [`super::Cursor`] or [`super::Iter`] parks its merge here, and the
//! next one over the same view (the same [`SuperVersion`]) takes it instead of building
//! one: a seek repositions every source, so nothing of the last use shows through.
//!
//! Promises: a merge whose sources met an error is never parked; a parked merge never
//! outlives its view's turn as the current one, nor the database's closing, so it pins
//! no memtable or table that is no longer current; readers never wait for the slot.

use std::sync::Arc;

use parking_lot::Mutex;

use super::db_iter::merge_sources;
use super::tree::Tree;
use super::{DbInner, SuperVersion};
use crate::cache::CacheFill;
use crate::error::Result;
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;

/// A merge a dropped cursor or iterator left, with the view it merges and its fill
/// budget.
struct Parked {
    sv: Arc<SuperVersion>,
    it: MergingIterator,
    fill: CacheFill,
}

/// Holds at most one [`Parked`] merge for the next cursor or iterator over the same
/// view (see the module comment). Readers on several threads never wait for it: one
/// that finds it busy builds or drops its own merge.
#[derive(Default)]
pub(crate) struct MergeCache(Mutex<Option<Parked>>);

impl MergeCache {
    /// The parked merge over `sv` with its fill budget restarted, or else a new merge
    /// of `sv`'s sources with a fresh budget.
    pub(super) fn take_or_build(&self, tree: &Tree, sv: &Arc<SuperVersion>) -> Result<(MergingIterator, CacheFill)> {
        let parked = self.0.try_lock().and_then(|mut slot| slot.take());
        match parked {
            Some(p) if Arc::ptr_eq(&p.sv, sv) => {
                p.fill.restart();
                Ok((p.it, p.fill))
            }
            // A merge over another view is dropped here, outside the lock.
            _ => {
                let fill = CacheFill::budget(tree.opts.scan_fill_bytes());
                Ok((merge_sources(sv, &fill)?, fill))
            }
        }
    }

    /// Parks `it`, a merge of `sv`'s sources sharing `fill`, if none of its sources
    /// met an error, `sv` is still `tree`'s current view and `db` is open; drops it
    /// otherwise.
    pub(super) fn park(&self, db: &DbInner, tree: &Tree, sv: &Arc<SuperVersion>, it: MergingIterator, fill: CacheFill) {
        // A source that met an error keeps it: such a merge is never handed on.
        if it.status().is_err() {
            return;
        }
        let Some(mut slot) = self.0.try_lock() else { return };
        // Checked under the slot's lock: `clear`, which follows every change of view
        // and the closing, takes the same lock, so a merge parked here is either
        // current or cleared.
        if db.check_open().is_ok() && tree.is_current(sv) {
            let displaced = slot.replace(Parked { sv: sv.clone(), it, fill });
            drop(slot);
            drop(displaced);
        }
    }

    /// Drops the parked merge; called once a new view is current, and at closing.
    pub(crate) fn clear(&self) {
        let parked = self.0.lock().take();
        drop(parked);
    }
}

#[cfg(test)]
mod tests {
    use crate::{Db, Options};

    fn parked(db: &Db) -> bool {
        db.inner().default.merge_cache.0.lock().is_some()
    }

    #[test]
    fn a_dropped_cursor_parks_its_merge_for_the_next_cursor_over_the_same_view() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put("a", "1").unwrap();
        assert!(!parked(&db));
        let mut cursor = db.cursor();
        cursor.seek("a");
        drop(cursor);
        assert!(parked(&db), "a healthy cursor leaves its merge");
        let cursor = db.cursor();
        assert!(!parked(&db), "the next cursor takes it");
        // A flush installs a new view: the merge over the old one is not kept.
        db.flush().unwrap();
        drop(cursor);
        assert!(!parked(&db), "a merge over a view no longer current is dropped");
        drop(db.cursor());
        assert!(parked(&db));
        db.put("b", "2").unwrap();
        db.flush().unwrap();
        assert!(!parked(&db), "installing a view drops the parked merge");
        let taken = db.cursor();
        assert!(!parked(&db));
        let mut it = db.range::<&str, _>(..);
        assert!(it.next().is_some());
        drop(it);
        assert!(parked(&db), "an iterator leaves its merge too");
        drop(taken);
        let handle = db.clone();
        db.close().unwrap();
        assert!(!parked(&handle), "closing drops it");
        drop(handle.cursor());
        assert!(!parked(&handle), "nothing is parked once closed");
    }
}
