//! [`BulkIter`]: a cursor over a whole frozen memtable for readers that visit every
//! entry in order, as a flush does.
//!
//! It first lists every node (8 bytes each) with [`SkipList::nodes_in_order`], whose
//! walk overlaps the cache misses of several stretches of the list, and then prefetches
//! [`PREFETCH_AHEAD`] entries ahead of the cursor, which a linked walk cannot do. On the
//! peer benchmark's randomly filled memtables the walk was two fifths of a flush
//! thread's time.
//!
//! Promises: the same entries in the same order as [`super::MemTableIter`] for a
//! memtable that no longer changes (a frozen one). On a memtable still being written it
//! lists every entry present when it is made, each once and in order, and may or may
//! not list entries added while it is being made; none added later.

use std::cmp::Ordering as CmpOrdering;
use std::ptr::NonNull;
use std::sync::Arc;

use super::{MemTable, SkipList};
use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::compare_internal;
use crate::util::large_vec::LargeVec;

/// Entries between the one being read and the one being prefetched.
const PREFETCH_AHEAD: usize = 8;

/// An [`InternalIterator`] over a listed memtable; see the module comment.
pub struct BulkIter {
    /// Keeps the arena the nodes live in.
    _mem: Arc<MemTable>,
    /// Megabytes for a full memtable: off the heap (see [`LargeVec`]).
    nodes: LargeVec<NonNull<u8>>,
    /// Position in `nodes`; `nodes.len()` when not valid.
    pos: usize,
}

// SAFETY: the nodes point into the arena of `_mem`, which this iterator keeps alive
// through the `Arc`; nodes are immutable once published, so reading them from another
// thread is as safe as reading them from this one.
unsafe impl Send for BulkIter {}

impl BulkIter {
    pub(super) fn new(mem: Arc<MemTable>) -> Self {
        let nodes = mem.list.nodes_in_order();
        let pos = nodes.len();
        BulkIter { _mem: mem, nodes, pos }
    }

    fn land(&mut self, pos: usize) {
        self.pos = pos.min(self.nodes.len());
        for n in self.nodes.iter().skip(self.pos).take(PREFETCH_AHEAD + 1) {
            SkipList::prefetch(*n);
        }
    }
}

impl InternalIterator for BulkIter {
    fn valid(&self) -> bool {
        self.pos < self.nodes.len()
    }
    fn seek_to_first(&mut self) {
        self.land(0);
    }
    fn seek_to_last(&mut self) {
        self.land(self.nodes.len().saturating_sub(1));
    }
    fn seek(&mut self, target: &[u8]) {
        let pos = self.nodes.partition_point(|n| compare_internal(SkipList::key(*n), target) == CmpOrdering::Less);
        self.land(pos);
    }
    fn next(&mut self) {
        if self.valid() {
            self.pos += 1;
            if let Some(n) = self.nodes.get(self.pos + PREFETCH_AHEAD) {
                SkipList::prefetch(*n);
            }
        }
    }
    fn prev(&mut self) {
        // Stepping back from the first entry, or from nowhere, leaves it invalid.
        self.pos = match self.pos {
            0 => self.nodes.len(),
            p if p < self.nodes.len() => p - 1,
            p => p,
        };
    }
    fn key(&self) -> &[u8] {
        self.nodes.get(self.pos).map_or(&[], |n| SkipList::key(*n))
    }
    fn value(&self) -> &[u8] {
        self.nodes.get(self.pos).map_or(&[], |n| SkipList::value(*n))
    }
    fn status(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{seek_key, ValueKind};
    use crate::util::rng::Rng;

    fn entries(it: &mut impl InternalIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        it.seek_to_first();
        while it.valid() {
            out.push((it.key().to_vec(), it.value().to_vec()));
            it.next();
        }
        out
    }

    #[test]
    fn lists_what_the_linked_walk_does_at_every_size() {
        let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
        // Sizes from empty to lists tall enough to be cut into many stretches.
        for n in [0usize, 1, 2, 7, 100, 1000, 30_000] {
            let mem = Arc::new(MemTable::new(1 << 20));
            for seq in 1..=n as u64 {
                let key = format!("k{:05}", rng.below(n as u64 * 2 + 1));
                mem.add(seq, ValueKind::Put, key.as_bytes(), &seq.to_le_bytes());
            }
            let bulk = entries(&mut mem.bulk_iter());
            assert_eq!(bulk.len(), n);
            assert_eq!(bulk, entries(&mut mem.iter()), "{n} entries");
        }
    }

    #[test]
    fn lists_each_entry_once_in_order_while_a_writer_adds_more() {
        let mem = Arc::new(MemTable::new(1 << 20));
        let writer = {
            let mem = mem.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
                for seq in 1..=60_000u64 {
                    mem.add(seq, ValueKind::Put, format!("k{:012}", rng.below(1_000_000_000)).as_bytes(), b"v");
                }
            })
        };
        let mut rounds = 0;
        while !writer.is_finished() || rounds == 0 {
            let present = mem.len() as usize;
            let listed = entries(&mut mem.bulk_iter());
            assert!(listed.len() >= present, "{} listed, {present} present before", listed.len());
            assert!(listed.windows(2).all(|w| compare_internal(&w[0].0, &w[1].0) == CmpOrdering::Less));
            rounds += 1;
        }
        writer.join().unwrap();
        assert_eq!(entries(&mut mem.bulk_iter()), entries(&mut mem.iter()));
    }

    #[test]
    fn seeks_and_steps_back() {
        let mem = Arc::new(MemTable::new(1 << 20));
        for (i, k) in ["b", "d", "f"].iter().enumerate() {
            mem.add(i as u64 + 1, ValueKind::Put, k.as_bytes(), k.as_bytes());
        }
        let mut it = mem.bulk_iter();
        it.seek(&seek_key(b"c", 100));
        assert_eq!(it.value(), b"d");
        it.prev();
        assert_eq!(it.value(), b"b");
        it.prev();
        assert!(!it.valid());
        it.prev();
        assert!(!it.valid());
        it.seek(&seek_key(b"g", 100));
        assert!(!it.valid());
        it.seek_to_last();
        assert_eq!(it.value(), b"f");
        it.next();
        assert!(!it.valid());
        assert!(it.key().is_empty());
    }
}
