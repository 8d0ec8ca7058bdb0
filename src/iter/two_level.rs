//! [`TwoLevelIter`]: one cursor over entries split into sorted, non-overlapping parts
//! by an index, LevelDB's `TwoLevelIterator`.
//!
//! Two cursors of the engine have this shape: a table's (its index block picks data
//! blocks) and a sorted level's (its file list picks tables). The index side is an
//! [`IndexCursor`]; each of its positions opens an inner cursor over one part, and this
//! type walks the parts as one sorted run, moving to the next or previous part when one
//! is exhausted and skipping empty ones.
//!
//! Promises: the entries come out in the parts' order, each part's in its own order;
//! the first error (from the index, opening a part, or a part's cursor) stops the cursor
//! and stays in `status`, as for every [`InternalIterator`].

use bytes::Bytes;

use super::InternalIterator;
use crate::error::{Error, Result};

/// How the cursor came to the part it opens, which an index may use to decide how to
/// read it (a table reads ahead for parts stepped into going forward).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A seek, or a move to either end, landed in it.
    Seek,
    /// The cursor walked into it from the part before.
    Forward,
    /// The cursor walked into it from the part after.
    Back,
}

/// The first level: a cursor over parts in key order, each of which it can open.
pub trait IndexCursor: Send {
    /// The cursor over one part.
    type Inner: InternalIterator;

    /// True if positioned at a part.
    fn valid(&self) -> bool;
    /// Positions at the first part.
    fn seek_to_first(&mut self);
    /// Positions at the last part.
    fn seek_to_last(&mut self);
    /// Positions at the first part that may hold an entry >= the internal key `target`.
    fn seek(&mut self, target: &[u8]);
    /// Moves to the next part (past the last: invalid).
    fn next(&mut self);
    /// Moves to the previous part (before the first: invalid).
    fn prev(&mut self);
    /// The index's own first error, if any.
    fn status(&self) -> Result<()>;
    /// Opens a cursor over the part at the current position, reached by `step`, into
    /// `slot` (which is empty). It is written in place rather than returned: a table's
    /// cursor is a few hundred bytes, and moving it through a `Result` and into the slot
    /// cost a level's seek 2% more instructions.
    fn open(&mut self, step: Step, slot: &mut Option<Self::Inner>) -> Result<()>;
    /// False only if no part surely holds `user_key` (see
    /// [`InternalIterator::may_contain`]).
    fn may_contain(&self, _user_key: &[u8]) -> bool {
        true
    }
    /// See [`InternalIterator::prefetch_filter`].
    fn prefetch_filter(&self, _user_key: &[u8]) {}
    /// See [`InternalIterator::sole_entry_block`]; `inner` is the open part's cursor,
    /// positioned at an entry.
    fn sole_entry_block<'a>(&'a self, _inner: &'a Self::Inner) -> Option<&'a [u8]> {
        None
    }
}

/// A cursor over every entry of the parts an [`IndexCursor`] lists; see the module
/// comment.
pub struct TwoLevelIter<I: IndexCursor> {
    index: I,
    inner: Option<I::Inner>,
    err: Option<Error>,
}

impl<I: IndexCursor> TwoLevelIter<I> {
    /// A cursor over `index`'s parts, not yet positioned.
    pub(crate) fn new(index: I) -> Self {
        TwoLevelIter { index, inner: None, err: None }
    }

    /// The first-level cursor.
    #[cfg(test)]
    fn index(&self) -> &I {
        &self.index
    }

    fn inner_valid(&self) -> bool {
        self.inner.as_ref().is_some_and(|c| c.valid())
    }

    /// Opens the part the index points at, reached by `step`, and positions in it with
    /// `position`; records an error instead if there is one.
    fn enter(&mut self, step: Step, position: impl FnOnce(&mut I::Inner)) {
        self.inner = None;
        if !self.index.valid() {
            if let Err(e) = self.index.status() {
                self.err.get_or_insert(e);
            }
            return;
        }
        match self.index.open(step, &mut self.inner) {
            Ok(()) => {
                debug_assert!(self.inner.is_some(), "IndexCursor::open returned Ok without a cursor");
                if let Some(inner) = &mut self.inner {
                    position(inner);
                }
            }
            Err(e) => {
                self.inner = None;
                self.err.get_or_insert(e);
            }
        }
    }

    /// Moves past exhausted parts, forwards or backwards, until an entry, the end, or
    /// an error.
    fn skip_empty(&mut self, forward: bool) {
        while self.err.is_none() && !self.inner_valid() {
            // No part open: the index ran out, or opening failed (recorded).
            let Some(inner) = &self.inner else { return };
            if let Err(e) = inner.status() {
                self.err = Some(e);
                self.inner = None;
                return;
            }
            if forward {
                self.index.next();
                self.enter(Step::Forward, |c| c.seek_to_first());
            } else {
                self.index.prev();
                self.enter(Step::Back, |c| c.seek_to_last());
            }
        }
    }

    /// The inner cursor, if the cursor is at an entry.
    fn current(&self) -> Option<&I::Inner> {
        self.inner.as_ref().filter(|_| self.err.is_none())
    }
}

impl<I: IndexCursor> InternalIterator for TwoLevelIter<I> {
    fn valid(&self) -> bool {
        self.err.is_none() && self.inner_valid()
    }

    fn seek_to_first(&mut self) {
        self.index.seek_to_first();
        self.enter(Step::Seek, |c| c.seek_to_first());
        self.skip_empty(true);
    }

    fn seek_to_last(&mut self) {
        self.index.seek_to_last();
        self.enter(Step::Seek, |c| c.seek_to_last());
        self.skip_empty(false);
    }

    fn seek(&mut self, target: &[u8]) {
        self.index.seek(target);
        self.enter(Step::Seek, |c| c.seek(target));
        self.skip_empty(true);
    }

    fn next(&mut self) {
        if let Some(c) = &mut self.inner {
            c.next();
        }
        self.skip_empty(true);
    }

    fn prev(&mut self) {
        if let Some(c) = &mut self.inner {
            c.prev();
        }
        self.skip_empty(false);
    }

    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.current().map_or(&[], |c| c.value())
    }

    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }

    fn value_bytes(&self) -> Bytes {
        self.current().map_or_else(Bytes::new, |c| c.value_bytes())
    }

    fn may_contain(&self, user_key: &[u8]) -> bool {
        self.index.may_contain(user_key)
    }

    fn prefetch_filter(&self, user_key: &[u8]) {
        self.index.prefetch_filter(user_key)
    }

    fn sole_entry_block(&self) -> Option<&[u8]> {
        self.current().filter(|c| c.valid()).and_then(|c| self.index.sole_entry_block(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{compare_internal, make_internal_key, user_key, ValueKind};

    fn ikey(k: &str) -> Vec<u8> {
        make_internal_key(k.as_bytes(), 1, ValueKind::Put)
    }

    /// A part: sorted internal keys, the value of each being its user key.
    struct Part {
        keys: Vec<Vec<u8>>,
        at: usize,
    }

    impl InternalIterator for Part {
        fn valid(&self) -> bool {
            self.at < self.keys.len()
        }
        fn seek_to_first(&mut self) {
            self.at = 0;
        }
        fn seek_to_last(&mut self) {
            self.at = self.keys.len().wrapping_sub(1);
        }
        fn seek(&mut self, target: &[u8]) {
            self.at = self.keys.partition_point(|k| compare_internal(k, target).is_lt());
        }
        fn next(&mut self) {
            self.at += 1;
        }
        fn prev(&mut self) {
            self.at = self.at.wrapping_sub(1);
        }
        fn key(&self) -> &[u8] {
            &self.keys[self.at]
        }
        fn value(&self) -> &[u8] {
            user_key(&self.keys[self.at])
        }
        fn status(&self) -> Result<()> {
            Ok(())
        }
    }

    /// Parts by position; `None` is a part that fails to open. Records every open.
    struct Parts {
        parts: Vec<Option<Vec<&'static str>>>,
        at: usize,
        opened: Vec<(usize, Step)>,
    }

    impl IndexCursor for Parts {
        type Inner = Part;
        fn valid(&self) -> bool {
            self.at < self.parts.len()
        }
        fn seek_to_first(&mut self) {
            self.at = 0;
        }
        fn seek_to_last(&mut self) {
            self.at = self.parts.len().wrapping_sub(1);
        }
        fn seek(&mut self, target: &[u8]) {
            // The first part whose last key is at or after the target; empty parts and
            // failing ones count as holding nothing past what came before.
            let last = |p: &Option<Vec<&str>>| p.as_ref().and_then(|keys| keys.last().map(|k| ikey(k)));
            self.at = self.parts.partition_point(|p| last(p).is_none_or(|k| compare_internal(&k, target).is_lt()));
        }
        fn next(&mut self) {
            self.at = self.at.wrapping_add(1);
        }
        fn prev(&mut self) {
            self.at = self.at.wrapping_sub(1);
        }
        fn status(&self) -> Result<()> {
            Ok(())
        }
        fn open(&mut self, step: Step, slot: &mut Option<Part>) -> Result<()> {
            self.opened.push((self.at, step));
            match &self.parts[self.at] {
                Some(keys) => *slot = Some(Part { keys: keys.iter().map(|k| ikey(k)).collect(), at: 0 }),
                None => return Err(Error::Corruption(format!("part {} is damaged", self.at))),
            }
            Ok(())
        }
    }

    fn cursor(parts: Vec<Option<Vec<&'static str>>>) -> TwoLevelIter<Parts> {
        TwoLevelIter::new(Parts { parts, at: 0, opened: Vec::new() })
    }

    fn values(it: &mut TwoLevelIter<Parts>, forward: bool) -> Vec<String> {
        let mut out = Vec::new();
        while it.valid() {
            out.push(String::from_utf8(it.value().to_vec()).unwrap());
            if forward {
                it.next()
            } else {
                it.prev()
            }
        }
        out
    }

    #[test]
    fn walks_the_parts_as_one_run_both_ways_skipping_empty_ones() {
        let parts = vec![Some(vec!["a", "b"]), Some(vec![]), Some(vec!["c"]), Some(vec![]), Some(vec!["d", "e"])];
        let mut it = cursor(parts);
        it.seek_to_first();
        assert_eq!(values(&mut it, true), ["a", "b", "c", "d", "e"]);
        it.seek_to_last();
        assert_eq!(values(&mut it, false), ["e", "d", "c", "b", "a"]);
        it.seek(&ikey("bb"));
        assert_eq!(values(&mut it, true), ["c", "d", "e"]);
        it.seek(&ikey("z"));
        assert!(!it.valid());
        assert!(it.status().is_ok());
        // The seek to "bb" opened part 2, and the walk stepped forward into 3 and 4; the
        // seek past the end opened nothing.
        let opened = &it.index().opened;
        assert_eq!(opened[opened.len() - 3..], [(2, Step::Seek), (3, Step::Forward), (4, Step::Forward)]);
    }

    #[test]
    fn a_part_that_fails_to_open_stops_the_cursor_with_its_error() {
        let mut it = cursor(vec![Some(vec!["a"]), None, Some(vec!["c"])]);
        it.seek_to_first();
        assert_eq!(it.key(), &ikey("a")[..]);
        it.next();
        assert!(!it.valid());
        assert!(matches!(it.status(), Err(Error::Corruption(m)) if m.contains("part 1")));
        assert!(it.key().is_empty() && it.value().is_empty());
        // Backwards from the end meets it too.
        let mut it = cursor(vec![Some(vec!["a"]), None, Some(vec!["c"])]);
        it.seek_to_last();
        it.prev();
        assert!(!it.valid() && it.status().is_err());
    }
}
