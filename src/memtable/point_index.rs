//! [`PointIndex`]: a hash table from a user key to the newest version of it that the
//! memtable holds, so that a point lookup costs a probe or two instead of a skiplist
//! search.
//!
//! Every get searches every memtable before any table. In a memtable of half a million
//! entries that search is about ten dependent cache misses: after YCSB A and B had
//! filled the memtable with updates, it was a third of all CPU time of YCSB C at 10M
//! keys. A probe here is one cache line of slots and, on a hit, the node itself.
//!
//! Layout: a fixed array of 8-byte slots (linear probing, in a zeroed anonymous map on
//! huge pages from 2 MiB up), the start found by multiplying the key's 64-bit hash
//! (`util::hash::hash64`, the bloom filters' hash, which a lookup carries already):
//!
//! ```text
//! bit 63          48 47                                0
//! +-----------------+-----------------------------------+
//! | tag: hash & ffff |  address of the skiplist node     |      0 = empty
//! +-----------------+-----------------------------------+
//! ```
//!
//! Promises, with one writer (the memtable's, under its lock) and any number of readers:
//! - A slot is claimed once, for one user key; after that it only ever moves to newer
//!   versions (higher trailers) of that key, each stored after its node was published.
//! - While fewer than three quarters of the slots are claimed every key is indexed and
//!   the index is *complete*: a key it does not find is not in the memtable. Past that,
//!   new keys are left out and it is *partial*: a key it finds is still answered (later
//!   versions of an indexed key replace it in place), one it does not find must be
//!   searched for in the skiplist.
//! - A node whose address does not fit in 48 bits turns the index *off* (lookups
//!   search the skiplist), rather than storing a slot that could not name it.
//!
//! Why a reader may trust what it finds: versions a read at seqno `s` may see were all
//! inserted before `s` was published, and so before the read began; the slot the
//! reader loads is therefore that key's newest version at or after them. If its seqno
//! is at most `s` it is the answer; if it is newer, the caller searches the skiplist.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use memmap2::MmapMut;

use super::skiplist::{Node, SkipList};
use crate::key::{trailer, user_key};
use crate::util::huge_page::{map_huge, HUGE_PAGE};

const COMPLETE: u8 = 0;
const PARTIAL: u8 = 1;
const OFF: u8 = 2;

const ADDRESS_BITS: u32 = 48;
const ADDRESS_MASK: u64 = (1 << ADDRESS_BITS) - 1;

/// What a lookup in the index learned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The newest version of the key inserted so far.
    Found(Node),
    /// The memtable holds no version of the key.
    Absent,
    /// The index cannot tell: search the skiplist.
    Unknown,
}

/// The hash index over one memtable's user keys; see the module comment.
pub(crate) struct PointIndex {
    /// Holds the slots' memory; `None` for an index of no slots (a failed map).
    _map: Option<MmapMut>,
    slots: *const AtomicU64,
    len: usize,
    /// Slots that may be claimed while the index stays complete.
    limit: usize,
    state: AtomicU8,
}

// SAFETY: `slots` points into `_map`, which the index owns and never moves or frees
// before it drops; every access to the slots is atomic.
unsafe impl Send for PointIndex {}
// SAFETY: as above; shared use only loads slots, and stores are confined to the single
// writer by `insert`'s contract.
unsafe impl Sync for PointIndex {}

impl PointIndex {
    /// An index sized for `entries` keys (then it turns partial), on huge pages if
    /// `huge_pages` and it spans one; off if the system refuses the memory.
    pub(crate) fn with_capacity(entries: usize, huge_pages: bool) -> Self {
        // Three quarters full keeps probes to a cache line or two; a sixteenth more
        // leaves room for the estimate to be a little short.
        let len = (entries.saturating_mul(4) / 3).saturating_add(entries / 16).max(8);
        let map = len.checked_mul(8).and_then(|bytes| {
            if huge_pages && bytes >= HUGE_PAGE {
                map_huge(bytes).map(|(map, start)| (map, start.as_ptr()))
            } else {
                let mut map = MmapMut::map_anon(bytes).ok()?;
                let start = map.as_mut_ptr();
                Some((map, start))
            }
        });
        match map {
            Some((map, start)) => PointIndex {
                _map: Some(map),
                slots: start.cast::<AtomicU64>(),
                len,
                limit: len / 4 * 3,
                state: AtomicU8::new(COMPLETE),
            },
            None => PointIndex { _map: None, slots: std::ptr::null(), len: 0, limit: 0, state: AtomicU8::new(OFF) },
        }
    }

    /// Bytes of memory the slots take.
    pub(crate) fn memory_usage(&self) -> usize {
        self.len * 8
    }

    fn slot(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i < self.len);
        // SAFETY: `i < len` (`home` and `next` stay below it), and the map holds `len`
        // 8-aligned (page-aligned start), zero-initialised slots, a valid `AtomicU64`
        // each.
        unsafe { &*self.slots.add(i) }
    }

    /// The first slot to probe for `hash`: its high bits scaled to the table.
    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.len as u128) >> 64) as usize
    }

    /// The slot probed after slot `i`.
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.len {
            0
        } else {
            i + 1
        }
    }

    /// The tag of `hash`: bits that `home` hardly uses, so that keys probing the same
    /// slots are told apart without visiting their nodes.
    fn tag(hash: u64) -> u64 {
        hash & 0xffff
    }

    fn node(slot: u64) -> Option<Node> {
        Node::new((slot & ADDRESS_MASK) as *mut u8)
    }

    /// Starts loading the first slot `hash` probes into the CPU cache: a put issues it
    /// before its skiplist insert, so that the two overlap their cache misses.
    pub(crate) fn prefetch(&self, hash: u64) {
        if self.len > 0 {
            // `wrapping_add`: only a hint, never dereferenced (and `home < len` anyway).
            crate::util::prefetch::prefetch(self.slots.wrapping_add(self.home(hash)));
        }
    }

    /// Records `node` (a published node of the memtable's list, whose user key hashes to
    /// `hash`) as its key's newest version, unless the slot already holds a newer one.
    /// `claimed` is the writer's count of claimed slots.
    ///
    /// # Safety
    ///
    /// - No other `insert` into this index runs at the same time, and every insert
    ///   passes the same `claimed`: the slots are claimed with plain load-then-store.
    /// - `node` lives as long as the index: [`find`](Self::find) hands out what the
    ///   slots point at (the memtable drops its index before its list).
    pub(crate) unsafe fn insert(&self, hash: u64, node: Node, claimed: &mut usize) {
        let state = self.state.load(Ordering::Relaxed);
        if state == OFF {
            return;
        }
        let address = node.as_ptr() as u64;
        if address > ADDRESS_MASK {
            // Before this version is visible to any read (the write path publishes its
            // seqno after the insert), the state tells reads not to trust the index.
            self.state.store(OFF, Ordering::Release);
            return;
        }
        let key = SkipList::key(node);
        let (key_user, key_trailer) = (user_key(key), trailer(key));
        let packed = Self::tag(hash) << ADDRESS_BITS | address;
        let mut i = self.home(hash);
        loop {
            let slot = self.slot(i).load(Ordering::Relaxed);
            let Some(held) = Self::node(slot) else {
                if *claimed < self.limit {
                    *claimed += 1;
                    // Release: a reader that loads the slot sees the published node.
                    self.slot(i).store(packed, Ordering::Release);
                } else if state == COMPLETE {
                    // As for OFF: reads that could see this key learn that a miss
                    // proves nothing any more. (Stored once: readers load this line.)
                    self.state.store(PARTIAL, Ordering::Release);
                }
                return;
            };
            if slot >> ADDRESS_BITS == Self::tag(hash) {
                let held_key = SkipList::key(held);
                if user_key(held_key) == key_user {
                    if trailer(held_key) < key_trailer {
                        self.slot(i).store(packed, Ordering::Release);
                    }
                    return;
                }
            }
            // Fewer than `len` slots are ever claimed, so an empty one ends the probe.
            i = self.next(i);
        }
    }

    /// The newest indexed version of `key`, whose hash is `hash`.
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Probe {
        let state = self.state.load(Ordering::Acquire);
        if state == OFF {
            return Probe::Unknown;
        }
        let mut i = self.home(hash);
        loop {
            let slot = self.slot(i).load(Ordering::Acquire);
            let Some(held) = Self::node(slot) else {
                return if state == COMPLETE { Probe::Absent } else { Probe::Unknown };
            };
            if slot >> ADDRESS_BITS == Self::tag(hash) && user_key(SkipList::key(held)) == key {
                return Probe::Found(held);
            }
            i = self.next(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{make_internal_key, ValueKind};
    use crate::memtable::Splice;
    use crate::util::hash::hash64;

    /// A list to take nodes from, and the writer's state for inserting them.
    struct Nodes {
        list: SkipList,
        splice: Splice,
    }

    impl Nodes {
        fn new() -> Self {
            let list = SkipList::new(1 << 16, false, None);
            let splice = Splice::new(&list, 7);
            Nodes { list, splice }
        }

        fn node(&mut self, key: &[u8], seq: u64) -> Node {
            let ikey = make_internal_key(key, seq, ValueKind::Put);
            // SAFETY: one test thread inserts, with the splice made for this list.
            unsafe { self.list.insert(&ikey, b"v", &mut self.splice) }
        }
    }

    fn insert(index: &PointIndex, claimed: &mut usize, hash: u64, node: Node) {
        // SAFETY: each test inserts from one thread with one count.
        unsafe { index.insert(hash, node, claimed) }
    }

    fn seq_of(probe: Probe) -> Option<u64> {
        match probe {
            Probe::Found(node) => Some(trailer(SkipList::key(node)) >> 8),
            _ => None,
        }
    }

    #[test]
    fn keeps_the_newest_version_whatever_the_insert_order() {
        let (index, mut claimed, mut nodes) = (PointIndex::with_capacity(100, false), 0, Nodes::new());
        for seq in [5, 9, 7] {
            insert(&index, &mut claimed, hash64(b"k"), nodes.node(b"k", seq));
        }
        assert_eq!(seq_of(index.find(hash64(b"k"), b"k")), Some(9));
        assert_eq!(claimed, 1);
        assert_eq!(index.find(hash64(b"other"), b"other"), Probe::Absent);
    }

    #[test]
    fn keys_sharing_a_hash_are_told_apart_across_the_end_of_the_table() {
        let (index, mut claimed, mut nodes) = (PointIndex::with_capacity(30, false), 0, Nodes::new());
        // The hash's home is the last slot: the probes wrap to the start.
        let hash = u64::MAX;
        assert_eq!(index.home(hash), index.len - 1);
        let keys: Vec<Vec<u8>> = (0..6).map(|i| format!("key{i}").into_bytes()).collect();
        for (i, key) in keys.iter().enumerate() {
            insert(&index, &mut claimed, hash, nodes.node(key, 10 + i as u64));
            insert(&index, &mut claimed, hash, nodes.node(key, 100 + i as u64));
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(seq_of(index.find(hash, key)), Some(100 + i as u64));
        }
        assert_eq!(index.find(hash, b"key9"), Probe::Absent);
        assert_eq!(claimed, 6);
    }

    #[test]
    fn a_full_index_still_answers_for_the_keys_it_holds() {
        let (index, mut claimed, mut nodes) = (PointIndex::with_capacity(16, false), 0, Nodes::new());
        let key = |i: usize| format!("key{i:03}").into_bytes();
        let total = index.limit + 10;
        for i in 0..total {
            insert(&index, &mut claimed, hash64(&key(i)), nodes.node(&key(i), 1));
        }
        assert_eq!(claimed, index.limit);
        // A key left out is unknown, as is one never written: neither may be "absent".
        assert_eq!(index.find(hash64(&key(total - 1)), &key(total - 1)), Probe::Unknown);
        assert_eq!(index.find(hash64(b"never"), b"never"), Probe::Unknown);
        // Indexed keys keep being updated in place.
        insert(&index, &mut claimed, hash64(&key(0)), nodes.node(&key(0), 50));
        assert_eq!(seq_of(index.find(hash64(&key(0)), &key(0))), Some(50));
        assert_eq!(seq_of(index.find(hash64(&key(1)), &key(1))), Some(1));
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_node_beyond_48_bits_turns_the_index_off() {
        let (index, mut claimed, mut nodes) = (PointIndex::with_capacity(16, false), 0, Nodes::new());
        insert(&index, &mut claimed, hash64(b"a"), nodes.node(b"a", 1));
        // Never dereferenced: the address check comes first, and then the index is off.
        let high = Node::new((1u64 << 50) as usize as *mut u8).unwrap();
        insert(&index, &mut claimed, hash64(b"a"), high);
        assert_eq!(index.find(hash64(b"a"), b"a"), Probe::Unknown);
        assert_eq!(index.find(hash64(b"b"), b"b"), Probe::Unknown);
    }
}
