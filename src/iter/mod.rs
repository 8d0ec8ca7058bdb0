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

    /// Positions at the last entry with key <= `target`.
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if !self.valid() {
            if self.status().is_ok() {
                self.seek_to_last();
            }
        } else if compare_internal(self.key(), target).is_gt() {
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

    #[test]
    fn a_box_forwards_the_zero_copy_value_and_the_filter() {
        let boxed: Box<dyn InternalIterator> = Box::new(Static);
        assert_eq!(boxed.value_bytes().as_ptr(), VALUE.as_ptr(), "boxing must not turn the value into a copy");
        assert!(!boxed.may_contain(b"key"));
    }
}
