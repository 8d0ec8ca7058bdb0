//! [`MergingIterator`]: one ordered cursor over many sorted sources (Database Internals
//! §"Merge-Iteration").
//!
//! The sources are memtables and SSTables, passed newest first. At every step the
//! cursor points at the child with the smallest key (largest when moving backwards);
//! ties, which well-formed inputs never produce because seqnos are unique, go to the
//! earlier (newer) child. Changing direction re-positions every other child around the
//! current key, as LevelDB does. Children are scanned linearly: an LSM read touches
//! a dozen or so sources, where a heap buys little.

use std::cmp::Ordering;

use super::InternalIterator;
use crate::error::Result;
use crate::key::compare_internal;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// Merges sorted children into one sorted cursor.
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    direction: Direction,
    /// Set once any child reports an error; from then on the merge is invalid (a child
    /// dropping out silently would make the merge skip its keys).
    failed: bool,
}

impl MergingIterator {
    /// Merges `children`, newest first.
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator { children, current: None, direction: Direction::Forward, failed: false }
    }

    fn pick(&mut self, want: Ordering) {
        let mut best: Option<usize> = None;
        for (i, child) in self.children.iter().enumerate() {
            if !child.valid() {
                // Exhausted, or failed: only the latter stops the merge.
                self.failed = self.failed || child.status().is_err();
                continue;
            }
            best = match best {
                Some(b) if compare_internal(child.key(), self.children[b].key()) != want => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn find_smallest(&mut self) {
        self.pick(Ordering::Less);
    }

    fn find_largest(&mut self) {
        self.pick(Ordering::Greater);
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some() && !self.failed
    }

    fn seek_to_first(&mut self) {
        self.children.iter_mut().for_each(|c| c.seek_to_first());
        self.direction = Direction::Forward;
        self.find_smallest();
    }

    fn seek_to_last(&mut self) {
        self.children.iter_mut().for_each(|c| c.seek_to_last());
        self.direction = Direction::Reverse;
        self.find_largest();
    }

    fn seek(&mut self, target: &[u8]) {
        self.children.iter_mut().for_each(|c| c.seek(target));
        self.direction = Direction::Forward;
        self.find_smallest();
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.children.iter_mut().for_each(|c| c.seek_for_prev(target));
        self.direction = Direction::Reverse;
        self.find_largest();
    }

    fn next(&mut self) {
        let Some(cur) = self.current else { return };
        if self.direction != Direction::Forward {
            // Every other child sits before the current key; move each to the first
            // entry after it.
            let key = self.children[cur].key().to_vec();
            for (i, child) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                child.seek(&key);
                if child.valid() && compare_internal(child.key(), &key) == Ordering::Equal {
                    child.next();
                }
            }
            self.direction = Direction::Forward;
        }
        self.children[cur].next();
        self.find_smallest();
    }

    fn prev(&mut self) {
        let Some(cur) = self.current else { return };
        if self.direction != Direction::Reverse {
            // Every other child sits after the current key; move each to the last entry
            // before it.
            let key = self.children[cur].key().to_vec();
            for (i, child) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                child.seek(&key);
                if child.valid() {
                    child.prev();
                } else if child.status().is_ok() {
                    child.seek_to_last();
                }
            }
            self.direction = Direction::Reverse;
        }
        self.children[cur].prev();
        self.find_largest();
    }

    fn key(&self) -> &[u8] {
        self.current.map_or(&[], |c| self.children[c].key())
    }

    fn value(&self) -> &[u8] {
        self.current.map_or(&[], |c| self.children[c].value())
    }

    fn status(&self) -> Result<()> {
        self.children.iter().try_for_each(|c| c.status())
    }

    fn value_bytes(&self) -> bytes::Bytes {
        self.current.map_or_else(bytes::Bytes::new, |c| self.children[c].value_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{make_internal_key, user_key, ValueKind};
    use crate::memtable::MemTable;
    use std::sync::Arc;

    fn mem(keys: &[(&str, u64)]) -> Box<dyn InternalIterator> {
        let m = Arc::new(MemTable::new(4096));
        for (k, seq) in keys {
            m.add(*seq, ValueKind::Put, k.as_bytes(), format!("{k}{seq}").as_bytes());
        }
        Box::new(m.iter())
    }

    fn collect_fwd(it: &mut MergingIterator) -> Vec<String> {
        let mut out = Vec::new();
        while it.valid() {
            out.push(String::from_utf8(it.value().to_vec()).unwrap());
            it.next();
        }
        out
    }

    #[test]
    fn merges_in_order_and_switches_direction() {
        let mut it = MergingIterator::new(vec![
            mem(&[("b", 5), ("d", 6)]),
            mem(&[("a", 1), ("b", 2), ("e", 3)]),
            mem(&[]),
            mem(&[("c", 4)]),
        ]);
        it.seek_to_first();
        assert_eq!(collect_fwd(&mut it), ["a1", "b5", "b2", "c4", "d6", "e3"]);

        it.seek_to_last();
        let mut back = Vec::new();
        while it.valid() {
            back.push(String::from_utf8(it.value().to_vec()).unwrap());
            it.prev();
        }
        assert_eq!(back, ["e3", "d6", "c4", "b2", "b5", "a1"]);

        // Forward to c, back twice, forward again.
        it.seek(&make_internal_key(b"c", 100, ValueKind::Put));
        assert_eq!(it.value(), b"c4");
        it.prev();
        assert_eq!(it.value(), b"b2");
        it.prev();
        assert_eq!(it.value(), b"b5");
        it.next();
        assert_eq!(it.value(), b"b2");
        it.next();
        assert_eq!(user_key(it.key()), b"c");

        it.seek_for_prev(&make_internal_key(b"bz", 0, ValueKind::Put));
        assert_eq!(it.value(), b"b2");
        it.next();
        assert_eq!(it.value(), b"c4");
    }
}
