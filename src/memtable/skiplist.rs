//! [`SkipList`]: an arena-backed skiplist of (internal key, value) entries with one
//! writer and any number of concurrent readers (Database Internals §"Skiplist"; the
//! LevelDB design).
//!
//! Node layout in the arena (all little-endian, 8-byte aligned):
//!
//! ```text
//! +-------------+---------------+------------+------------------------+-----+-------+
//! | key_len u32 | value_len u32 | height u32 | pad u32 | next[height]: *Node | key | value |
//! +-------------+---------------+------------+---------+---------------------+-----+-------+
//! ```
//!
//! Why it is safe for readers to run beside the writer: a node is fully written before
//! it is published, and it is published level by level with a `Release` store of the
//! predecessor's `next` pointer, which readers load with `Acquire`. Readers therefore see
//! either the old list or a list containing a complete node. Nodes are never unlinked or
//! freed while the list lives (the arena frees them all at once), so a reader never
//! follows a dangling pointer. Inserts are serialised by the caller (`&mut` access is not
//! required, but [`SkipList::insert`] must not run on two threads at once; the memtable
//! guards it with a mutex).

use std::cmp::Ordering as CmpOrdering;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use super::arena::{Arena, ChunkPool};
use crate::key::compare_internal;
use crate::util::cache_line::OwnLines;
use crate::util::large_vec::LargeVec;

/// Tallest tower a node can have; with branching 4 this serves billions of entries.
pub(crate) const MAX_HEIGHT: usize = 12;
const BRANCHING: u32 = 4;
const HEADER: usize = 16;
/// Stretches of the list [`SkipList::nodes_in_order`] walks at once: about the cache
/// misses a core keeps in flight. (16 scanned a 64 MiB memtable faster in
/// `memtable_scan_64mib/bulk_iter`, 20-22 ms against 26-31, but flushed no faster and
/// leaned fillrandom 4% slower in the peer benchmark's A/B, so 8 stays.)
const WALK_LANES: usize = 8;

/// Pointer to a node in the arena.
pub(crate) type Node = NonNull<u8>;

/// The skiplist; see the module comment for its layout and concurrency rules.
pub(crate) struct SkipList {
    /// On lines of its own: the writer moves its bump pointer on every insert, and
    /// readers load `head` and `max_height` on every search.
    arena: OwnLines<Arena>,
    head: Node,
    max_height: AtomicUsize,
}

// SAFETY: nodes live in the arena, which the list owns; shared access follows the
// publication protocol in the module comment.
unsafe impl Send for SkipList {}
// SAFETY: as above: readers only follow `Acquire`-loaded pointers to complete nodes.
unsafe impl Sync for SkipList {}

impl SkipList {
    /// An empty list whose arena grows `chunk_size` bytes at a time, in huge pages if
    /// `huge_pages`, recycling them through `pool` (see [`Arena::new`]).
    pub(crate) fn new(chunk_size: usize, huge_pages: bool, pool: Option<Arc<ChunkPool>>) -> Self {
        let arena = Arena::new(chunk_size, huge_pages, pool);
        let head = Self::alloc_node(&arena, &[], &[], MAX_HEIGHT);
        SkipList { arena: OwnLines(arena), head, max_height: AtomicUsize::new(1) }
    }

    /// Bytes of memory the list uses.
    pub(crate) fn memory_usage(&self) -> usize {
        self.arena.memory_usage()
    }

    fn alloc_node(arena: &Arena, key: &[u8], value: &[u8], height: usize) -> Node {
        let size = HEADER + height * 8 + key.len() + value.len();
        let node = arena.alloc(size);
        let p = node.as_ptr();
        // SAFETY: `p` is the start of `size` bytes, 8-aligned, that may hold an earlier
        // arena's data; we write the header, null the tower, then copy key and value into
        // the space reserved for them (the header's pad is never read).
        unsafe {
            p.cast::<u32>().write(key.len() as u32);
            p.add(4).cast::<u32>().write(value.len() as u32);
            p.add(8).cast::<u32>().write(height as u32);
            ptr::write_bytes(p.add(HEADER), 0, height * 8);
            let data = p.add(HEADER + height * 8);
            ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
            ptr::copy_nonoverlapping(value.as_ptr(), data.add(key.len()), value.len());
        }
        node
    }

    fn next_ptr(node: Node, level: usize) -> &'static AtomicPtr<u8> {
        // SAFETY: every caller passes a level below the node's height (the head has
        // MAX_HEIGHT); the tower slot is 8-aligned and lives as long as the arena, which
        // outlives every reference handed out (they never escape a `&self` borrow of the
        // list or an iterator that owns an `Arc` to it).
        unsafe { &*node.as_ptr().add(HEADER + level * 8).cast::<AtomicPtr<u8>>() }
    }

    fn next(node: Node, level: usize) -> Option<Node> {
        NonNull::new(Self::next_ptr(node, level).load(Ordering::Acquire))
    }

    /// The key stored in `node`.
    pub(crate) fn key<'a>(node: Node) -> &'a [u8] {
        let p = node.as_ptr();
        // SAFETY: the header was written before the node was published and is never
        // changed; the key bytes follow the tower.
        unsafe {
            let key_len = p.cast::<u32>().read() as usize;
            let height = p.add(8).cast::<u32>().read() as usize;
            std::slice::from_raw_parts(p.add(HEADER + height * 8), key_len)
        }
    }

    /// The value stored in `node`.
    pub(crate) fn value<'a>(node: Node) -> &'a [u8] {
        let p = node.as_ptr();
        // SAFETY: as for `key`; the value follows the key.
        unsafe {
            let key_len = p.cast::<u32>().read() as usize;
            let value_len = p.add(4).cast::<u32>().read() as usize;
            let height = p.add(8).cast::<u32>().read() as usize;
            std::slice::from_raw_parts(p.add(HEADER + height * 8 + key_len), value_len)
        }
    }

    /// Inserts an entry whose key is not already present and returns its node. Readers
    /// may run concurrently.
    ///
    /// # Safety
    ///
    /// - No other `insert` into this list runs at the same time: the links of the new
    ///   node's predecessors are written with plain stores, which a second writer would
    ///   race with (the memtable calls this under its writer lock).
    /// - `splice` was made by [`Splice::new`] for this list and has been used with no
    ///   other: its remembered nodes are followed as nodes of this list.
    pub(crate) unsafe fn insert(&self, key: &[u8], value: &[u8], splice: &mut Splice) -> Node {
        let max_height = self.max_height.load(Ordering::Relaxed);
        // Appending: the last insert is still the list's last node and `key` goes after
        // it. Then every remembered predecessor is the last node of its level, so each
        // level's search resumes there (and moves nowhere) instead of descending from the
        // head: keys written in order (fillseq, time series) insert in O(1) comparisons.
        // Only a true append qualifies: resuming from an inner node could walk far.
        let appending = splice.last.is_some_and(|last| {
            Self::next(last, 0).is_none() && compare_internal(Self::key(last), key) == CmpOrdering::Less
        });
        if appending {
            for level in 0..max_height {
                let mut x = splice.prev[level];
                while let Some(next) = Self::next(x, level) {
                    if compare_internal(Self::key(next), key) != CmpOrdering::Less {
                        break;
                    }
                    x = next;
                }
                splice.prev[level] = x;
            }
        } else {
            let mut x = self.head;
            for level in (0..max_height).rev() {
                while let Some(next) = Self::next(x, level) {
                    if compare_internal(Self::key(next), key) == CmpOrdering::Less {
                        x = next;
                    } else {
                        break;
                    }
                }
                splice.prev[level] = x;
            }
        }
        let prev = &mut splice.prev;
        let height = random_height(&mut splice.rng);
        if height > max_height {
            // Readers that see the new height before the node find null pointers from the
            // head at the new levels, which is fine.
            self.max_height.store(height, Ordering::Relaxed);
        }
        let node = Self::alloc_node(&self.arena, key, value, height);
        for (level, p) in prev.iter_mut().enumerate().take(height) {
            let succ = Self::next_ptr(*p, level).load(Ordering::Relaxed);
            Self::next_ptr(node, level).store(succ, Ordering::Relaxed);
            Self::next_ptr(*p, level).store(node.as_ptr(), Ordering::Release);
            // The new node is the predecessor of anything inserted after it.
            *p = node;
        }
        splice.last = Some(node);
        node
    }

    /// The first node with key >= `target`.
    pub(crate) fn find_greater_or_equal(&self, target: &[u8]) -> Option<Node> {
        self.find_first_not_before(|key| compare_internal(key, target) == CmpOrdering::Less)
    }

    /// The first node whose key `before` says is not before the target. `before` must be
    /// monotone over the list's order (true for a prefix of it, then false): callers use
    /// it to search without building a target key.
    pub(crate) fn find_first_not_before(&self, before: impl Fn(&[u8]) -> bool) -> Option<Node> {
        let mut x = self.head;
        let mut level = self.max_height.load(Ordering::Relaxed) - 1;
        loop {
            let next = Self::next(x, level);
            match next {
                Some(n) if before(Self::key(n)) => x = n,
                _ => {
                    if level == 0 {
                        return next;
                    }
                    level -= 1;
                }
            }
        }
    }

    /// The last node with key < `target` (`None` if there is none).
    pub(crate) fn find_less_than(&self, target: &[u8]) -> Option<Node> {
        let mut x = self.head;
        let mut level = self.max_height.load(Ordering::Relaxed) - 1;
        loop {
            match Self::next(x, level) {
                Some(n) if compare_internal(Self::key(n), target) == CmpOrdering::Less => x = n,
                _ => {
                    if level == 0 {
                        return (x != self.head).then_some(x);
                    }
                    level -= 1;
                }
            }
        }
    }

    /// The last node (`None` if the list is empty).
    pub(crate) fn find_last(&self) -> Option<Node> {
        let mut x = self.head;
        let mut level = self.max_height.load(Ordering::Relaxed) - 1;
        loop {
            match Self::next(x, level) {
                Some(n) => x = n,
                None => {
                    if level == 0 {
                        return (x != self.head).then_some(x);
                    }
                    level -= 1;
                }
            }
        }
    }

    /// The first node (`None` if the list is empty).
    pub(crate) fn first(&self) -> Option<Node> {
        Self::next(self.head, 0)
    }

    /// The node after `node`.
    pub(crate) fn successor(node: Node) -> Option<Node> {
        Self::next(node, 0)
    }

    /// Every node, in order. Following level-0 links alone costs a cache miss per node,
    /// one after the other (a randomly filled list scatters its nodes over the arena).
    /// Instead the list is cut at the nodes of an upper level into stretches, and
    /// [`WALK_LANES`] stretches are walked in turn, so that their misses overlap. Each
    /// node appears once, in order; nodes inserted meanwhile may or may not be listed.
    /// The stretches are gathered apart and then joined, so for a moment this holds
    /// 16 bytes per node.
    pub(crate) fn nodes_in_order(&self) -> LargeVec<Node> {
        // The stretches start at the nodes of the highest level that has enough of them
        // to keep every lane busy; a small list is walked as one stretch.
        let mut starts = Vec::new();
        for level in (1..self.max_height.load(Ordering::Relaxed)).rev() {
            let mut at_level = Vec::new();
            let mut x = Self::next(self.head, level);
            while let Some(n) = x {
                at_level.push(n);
                x = Self::next(n, level);
            }
            if at_level.len() >= 8 * WALK_LANES {
                starts = at_level;
                break;
            }
        }
        // Read after the upper level, so that a concurrent insert can only put the first
        // node before the starts, never after one of them.
        let Some(first) = self.first() else { return LargeVec::new() };
        if starts.first() != Some(&first) {
            starts.insert(0, first);
        }
        // Stretch i runs from starts[i] up to starts[i + 1].
        let mut stretches: Vec<LargeVec<Node>> = starts.iter().map(|_| LargeVec::new()).collect();
        let mut lanes: Vec<(usize, Option<Node>)> = Vec::with_capacity(WALK_LANES);
        let mut next_stretch = 0;
        loop {
            while lanes.len() < WALK_LANES && next_stretch < starts.len() {
                lanes.push((next_stretch, Some(starts[next_stretch])));
                next_stretch += 1;
            }
            if lanes.is_empty() {
                break;
            }
            for (stretch, at) in &mut lanes {
                let Some(node) = *at else { continue };
                stretches[*stretch].push(node);
                let end = starts.get(*stretch + 1).copied();
                *at = Self::next(node, 0).filter(|n| Some(*n) != end);
                if let Some(n) = *at {
                    Self::prefetch_lines(n, 1);
                }
            }
            lanes.retain(|(_, at)| at.is_some());
        }
        let mut nodes = LargeVec::with_capacity(stretches.iter().map(|s| s.len()).sum());
        for s in &stretches {
            nodes.extend_from_slice(s);
        }
        nodes
    }

    /// Starts loading `node` into the CPU cache without waiting for it. Nodes of a
    /// randomly filled list lie scattered over the arena, so a scan that follows
    /// `next` pointers misses the cache at every node; fetching the next node while
    /// the caller works on this one overlaps the two. Only a hint: it never faults and
    /// changes no result.
    pub(crate) fn prefetch(node: Node) {
        // A node of a 16-byte key and a 100-byte value spans three cache lines.
        Self::prefetch_lines(node, 3);
    }

    /// [`prefetch`](Self::prefetch) of the first `lines` cache lines of `node`.
    fn prefetch_lines(node: Node, lines: usize) {
        let p = node.as_ptr().cast_const().cast::<u8>();
        for line in 0..lines {
            // `wrapping_add`: the address is only a hint and need not lie in the node.
            crate::util::prefetch::prefetch(p.wrapping_add(line * 64));
        }
    }
}

/// The single writer's state between inserts: its random source and where the last
/// insert went (its predecessor, or itself, at every level), so that ascending inserts
/// resume the search there.
pub(crate) struct Splice {
    rng: u64,
    prev: [Node; MAX_HEIGHT],
    last: Option<Node>,
}

// SAFETY: the nodes point into the arena of the list this splice is used with (the
// memtable keeps both together); they are only followed by the writer, under the
// memtable's writer lock, and nodes are never freed while the list lives.
unsafe impl Send for Splice {}

impl Splice {
    /// A splice for `list`, seeded with `seed` for tower heights.
    pub(crate) fn new(list: &SkipList, seed: u64) -> Self {
        Splice { rng: seed, prev: [list.head; MAX_HEIGHT], last: None }
    }
}

fn random_height(rng: &mut u64) -> usize {
    let mut height = 1;
    while height < MAX_HEIGHT {
        // xorshift64*: cheap and good enough for tower heights.
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        let r = (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32;
        if !r.is_multiple_of(BRANCHING) {
            break;
        }
        height += 1;
    }
    height
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts from the test's single writer thread.
    fn insert(list: &SkipList, splice: &mut Splice, key: &[u8], value: &[u8]) {
        // SAFETY: each test inserts from one thread only, with a splice made for `list`.
        unsafe { list.insert(key, value, splice) };
    }
    use crate::key::{make_internal_key, ValueKind};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn ik(n: u64) -> Vec<u8> {
        make_internal_key(format!("key{n:08}").as_bytes(), 1, ValueKind::Put)
    }

    /// Every level, walked from the head, is strictly ascending and holds only nodes
    /// of at least that height; level 0 holds exactly `expected`.
    fn check_levels(list: &SkipList, expected: &[Vec<u8>]) {
        for level in 0..MAX_HEIGHT {
            let mut x = SkipList::next(list.head, level);
            let mut last: Option<&[u8]> = None;
            let mut count = 0;
            while let Some(n) = x {
                let k = SkipList::key(n);
                if let Some(l) = last {
                    assert!(compare_internal(l, k).is_lt(), "level {level} out of order");
                }
                last = Some(k);
                count += 1;
                x = SkipList::next(n, level);
            }
            if level == 0 {
                assert_eq!(count, expected.len());
            }
        }
        let mut n = list.first();
        for k in expected {
            assert_eq!(SkipList::key(n.unwrap()), &k[..]);
            n = SkipList::successor(n.unwrap());
        }
    }

    #[test]
    fn ascending_runs_and_random_inserts_mix() {
        let list = SkipList::new(4096, true, None);
        let mut splice = Splice::new(&list, 3);
        let mut all = Vec::new();
        let mut add = |n: u64, list: &SkipList| {
            insert(list, &mut splice, &ik(n), b"v");
            all.push(ik(n));
        };
        // An ascending run (the splice path), keys between them (the search path), then
        // another ascending run that starts below the last key inserted.
        for i in 0..3000 {
            add(i * 4, &list);
        }
        for i in (0..3000).rev().step_by(7) {
            add(i * 4 + 1, &list);
        }
        for i in 0..500 {
            add(i * 4 + 2, &list);
        }
        for i in 3000..4000 {
            add(i * 4, &list);
        }
        // Ascending, but inside the list rather than at its end.
        for i in 0..500 {
            add(i * 4 + 3, &list);
        }
        all.sort_by(|a, b| compare_internal(a, b));
        check_levels(&list, &all);
        for k in &all {
            assert_eq!(list.find_greater_or_equal(k).map(SkipList::key), Some(&k[..]));
        }
    }

    #[test]
    fn insert_and_find() {
        let list = SkipList::new(4096, true, None);
        let mut rng = Splice::new(&list, 7);
        assert!(list.first().is_none());
        assert!(list.find_last().is_none());
        let mut order: Vec<u64> = (0..2000).map(|i| (i * 7919) % 2000).collect();
        for &i in &order {
            insert(&list, &mut rng, &ik(i * 2), format!("v{i}").as_bytes());
        }
        order.sort();
        // Full forward walk sees every key in order.
        let mut n = list.first();
        for &i in &order {
            let node = n.unwrap();
            assert_eq!(SkipList::key(node), &ik(i * 2)[..]);
            assert_eq!(SkipList::value(node), format!("v{i}").as_bytes());
            n = SkipList::successor(node);
        }
        assert!(n.is_none());
        // Seeks between keys.
        let ge = list.find_greater_or_equal(&ik(101)).unwrap();
        assert_eq!(SkipList::key(ge), &ik(102)[..]);
        let lt = list.find_less_than(&ik(101)).unwrap();
        assert_eq!(SkipList::key(lt), &ik(100)[..]);
        assert!(list.find_less_than(&ik(0)).is_none());
        assert!(list.find_greater_or_equal(&ik(4000)).is_none());
        assert_eq!(SkipList::key(list.find_last().unwrap()), &ik(3998)[..]);
    }

    #[test]
    fn large_values_and_empty_values() {
        let list = SkipList::new(4096, true, None);
        let mut rng = Splice::new(&list, 1);
        let big = vec![5u8; 100_000];
        insert(&list, &mut rng, &ik(1), &big);
        insert(&list, &mut rng, &ik(2), b"");
        let n = list.first().unwrap();
        assert_eq!(SkipList::value(n), &big[..]);
        assert_eq!(SkipList::value(SkipList::successor(n).unwrap()), b"");
        assert!(list.memory_usage() >= 100_000);
    }

    #[test]
    fn concurrent_readers_see_sorted_complete_entries() {
        let list = Arc::new(SkipList::new(64 * 1024, true, None));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (list, done) = (list.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut scans = 0;
                    while !done.load(Ordering::Acquire) || scans < 3 {
                        let mut prev: Option<Vec<u8>> = None;
                        let mut n = list.first();
                        while let Some(node) = n {
                            let k = SkipList::key(node).to_vec();
                            // Value always matches its key: no torn entries.
                            assert_eq!(SkipList::value(node), &k[..k.len() - 8]);
                            if let Some(p) = &prev {
                                assert_eq!(compare_internal(p, &k), CmpOrdering::Less);
                            }
                            prev = Some(k);
                            n = SkipList::successor(node);
                        }
                        let probe = ik(777);
                        if let Some(node) = list.find_greater_or_equal(&probe) {
                            assert_ne!(compare_internal(SkipList::key(node), &probe), CmpOrdering::Less);
                        }
                        scans += 1;
                    }
                })
            })
            .collect();
        let mut rng = Splice::new(&list, 99);
        for i in 0..20_000u64 {
            let k = ik((i * 7919) % 20_000);
            insert(&list, &mut rng, &k, &k[..k.len() - 8]);
        }
        done.store(true, Ordering::Release);
        for r in readers {
            r.join().unwrap();
        }
        let mut count = 0;
        let mut n = list.first();
        while let Some(node) = n {
            count += 1;
            n = SkipList::successor(node);
        }
        assert_eq!(count, 20_000);
    }
}
