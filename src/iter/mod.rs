//! Iteration over internal keys, shared by every layer that stores entries.
//!
//! [`InternalIterator`] is the cursor interface of memtables, blocks, tables and their
//! merge (LevelDB's `Iterator`). It walks internal keys (see [`crate::key`]) in order,
//! both ways. Errors do not interrupt the interface: a cursor that meets one becomes
//! invalid and reports the error from [`InternalIterator::status`], so a caller checks
//! `status` whenever `valid` turns false.

pub(crate) mod merge;
pub(crate) mod two_level;

use bytes::Bytes;

use crate::error::Result;
use crate::key::compare_internal;

/// A bidirectional cursor over entries ordered by internal key.
///
/// `key`, `value`, `next` and `prev` may only be called while `valid()` is true;
/// implementations return empty slices and do nothing otherwise rather than panic.
pub trait InternalIterator: Send {
    /// True if the cursor is positioned at an entry.
    fn valid(&self) -> bool;
    /// Positions at the first entry.
    fn seek_to_first(&mut self);
    /// Positions at the last entry.
    fn seek_to_last(&mut self);
    /// Positions at the first entry with key >= `target`.
    fn seek(&mut self, target: &[u8]);
    /// Moves to the next entry.
    fn next(&mut self);
    /// Moves to the previous entry.
    fn prev(&mut self);
    /// The current entry's internal key.
    fn key(&self) -> &[u8];
    /// The current entry's value.
    fn value(&self) -> &[u8];
    /// The first error met, if any.
    fn status(&self) -> Result<()>;

    /// The current value as `Bytes`. Cursors over cached blocks hand out a zero-copy
    /// slice of the block; the default copies.
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.value())
    }

    /// False only if this source surely holds no entry at all for `user_key` (a bloom
    /// filter ruled it out). A merge seeking to that key can then leave this source
    /// unpositioned until the cursor moves past the key; see `merge`. The default
    /// claims nothing.
    fn may_contain(&self, _user_key: &[u8]) -> bool {
        true
    }

    /// A hint that [`InternalIterator::may_contain`] will soon be asked about
    /// `user_key`: a source with a filter starts loading the part it will read, so
    /// that a merge asking all its sources overlaps their cache misses. The default
    /// does nothing.
    fn prefetch_filter(&self, _user_key: &[u8]) {}

    /// The stored bytes (contents, then trailer) of the table data block that holds
    /// the current entry, if the entry is that block's only one and the bytes are at
    /// hand (in a read-ahead window or a mapped file). A compaction that keeps the entry
    /// as it is may copy them instead of building and compressing the block again: a
    /// value bigger than a block has a block of its own. The default has none.
    fn sole_entry_block(&self) -> Option<&[u8]> {
        None
    }

    /// Positions at the last entry with key <= `target`.
    ///
    /// A source written while it is read (the active memtable) may gain entries after
    /// the target between the seek and the step back, or before `seek_to_last`: the
    /// cursor steps back over those too, so it never stops past the target.
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if !self.valid() {
            if self.status().is_err() {
                return;
            }
            self.seek_to_last();
        }
        while self.valid() && compare_internal(self.key(), target).is_gt() {
            self.prev();
        }
    }
}

impl<T: InternalIterator + ?Sized> InternalIterator for Box<T> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) {
        (**self).seek_to_last()
    }
    fn seek(&mut self, target: &[u8]) {
        (**self).seek(target)
    }
    fn next(&mut self) {
        (**self).next()
    }
    fn prev(&mut self) {
        (**self).prev()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn may_contain(&self, user_key: &[u8]) -> bool {
        (**self).may_contain(user_key)
    }
    fn prefetch_filter(&self, user_key: &[u8]) {
        (**self).prefetch_filter(user_key)
    }
    fn sole_entry_block(&self) -> Option<&[u8]> {
        (**self).sole_entry_block()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
    fn status(&self) -> Result<()> {
        (**self).status()
    }
    fn value_bytes(&self) -> Bytes {
        (**self).value_bytes()
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        (**self).seek_for_prev(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry whose value is a static slice, so a copy is visible as a new address.
    struct Static;

    static VALUE: &[u8] = b"a value that must not be copied";

    impl InternalIterator for Static {
        fn valid(&self) -> bool {
            true
        }
        fn seek_to_first(&mut self) {}
        fn seek_to_last(&mut self) {}
        fn seek(&mut self, _: &[u8]) {}
        fn next(&mut self) {}
        fn prev(&mut self) {}
        fn key(&self) -> &[u8] {
            b"key\0\0\0\0\0\0\0\0"
        }
        fn value(&self) -> &[u8] {
            VALUE
        }
        fn status(&self) -> Result<()> {
            Ok(())
        }
        fn value_bytes(&self) -> Bytes {
            Bytes::from_static(VALUE)
        }
        fn may_contain(&self, _: &[u8]) -> bool {
            false
        }
    }

    /// A memtable cursor that has more entries written into its memtable right after
    /// each seek, as writers do while a scan reads the active memtable.
    struct Raced {
        inner: crate::memtable::MemTableIter,
        mem: std::sync::Arc<crate::memtable::MemTable>,
        after_seek: Vec<(&'static str, u64)>,
    }

    impl InternalIterator for Raced {
        fn valid(&self) -> bool {
            self.inner.valid()
        }
        fn seek_to_first(&mut self) {
            self.inner.seek_to_first()
        }
        fn seek_to_last(&mut self) {
            self.inner.seek_to_last()
        }
        fn seek(&mut self, target: &[u8]) {
            self.inner.seek(target);
            for (k, seq) in self.after_seek.drain(..) {
                self.mem.add(seq, crate::key::ValueKind::Put, k.as_bytes(), b"new");
            }
        }
        fn next(&mut self) {
            self.inner.next()
        }
        fn prev(&mut self) {
            self.inner.prev()
        }
        fn key(&self) -> &[u8] {
            self.inner.key()
        }
        fn value(&self) -> &[u8] {
            self.inner.value()
        }
        fn status(&self) -> Result<()> {
            self.inner.status()
        }
    }

    #[test]
    fn seek_for_prev_never_stops_past_the_target_of_a_memtable_written_meanwhile() {
        use crate::key::{seek_key, user_key, MAX_SEQUENCE};
        // Target's user key, entries written between the seek and the step back, where
        // the cursor must end up.
        type Case = (&'static str, Vec<(&'static str, u64)>, &'static str);
        let cases: [Case; 2] = [
            // Nothing at or after c when the seek ran; z and a newer c arrive before
            // the cursor falls back to the last entry.
            ("c", vec![("z", 10), ("c", 11)], "b"),
            // The seek lands on b's only version; a newer b arrives between the target
            // (the first internal key of b) and it before the step back.
            ("b", vec![("b", 20)], "a"),
        ];
        for (target, after_seek, want) in cases {
            let mem = std::sync::Arc::new(crate::memtable::MemTable::new(4096));
            mem.add(1, crate::key::ValueKind::Put, b"a", b"old");
            mem.add(2, crate::key::ValueKind::Put, b"b", b"old");
            let mut it = Raced { inner: mem.iter(), mem: mem.clone(), after_seek };
            it.seek_for_prev(&seek_key(target.as_bytes(), MAX_SEQUENCE));
            assert!(it.valid());
            assert_eq!(user_key(it.key()), want.as_bytes(), "seek_for_prev before {target}");
        }
    }

    #[test]
    fn a_box_forwards_the_zero_copy_value_and_the_filter() {
        let boxed: Box<dyn InternalIterator> = Box::new(Static);
        assert_eq!(boxed.value_bytes().as_ptr(), VALUE.as_ptr(), "boxing must not turn the value into a copy");
        assert!(!boxed.may_contain(b"key"));
    }
}
