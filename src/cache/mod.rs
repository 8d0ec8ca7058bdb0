//! The block cache: [`Cache`], a sharded LRU cache of decoded blocks shared by all
//! tables of a database; [`BufferPool`], the memory those blocks live in, recycled; and
//! [`CacheFill`], the policy deciding which blocks a cursor inserts.
//!
//! The cache knows nothing of the table format: it holds any [`Charge`] value (the
//! table layer's `Block`) under a (table id, block offset) key; table ids are unique per opened table, so a file
//! number reused after a crash can never alias a stale block. The cache is split into
//! shards by key hash, each behind its own mutex, so concurrent readers rarely meet on
//! a lock. Each shard is a segmented LRU (SLRU) threaded through a slab of entries,
//! charged by block size against its share of the capacity: a new block enters a
//! probation list and moves to a protected one (up to four fifths of the shard) when
//! it is hit, and eviction takes probation's least recent first. A block read once
//! therefore cannot push out one read many times: with YCSB's zipfian keys over 10M
//! keys and this cache's size, a simulation gave 52.6% hits against plain LRU's
//! 46.4%; under uniform keys the two are alike.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) mod buffer_pool;
pub(crate) mod fill;

pub(crate) use buffer_pool::BufferPool;
pub(crate) use fill::CacheFill;

const SHARDS: usize = 16;
const NIL: usize = usize::MAX;

type Key = (u64, u64);

/// Keys are two integers chosen by us, not by an adversary, so a multiply-xor hash does;
/// std's SipHash cost as much as the rest of a cache hit.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyMap = HashMap<Key, usize, BuildHasherDefault<KeyHasher>>;

/// A value the cache can hold: it says how many bytes of the capacity it takes.
pub trait Charge {
    /// Bytes charged against the cache's capacity while this value is cached.
    fn charge(&self) -> usize;
}

struct Entry<B> {
    key: Key,
    /// `None` once evicted (the slot waits on the free list).
    block: Option<Arc<B>>,
    /// `block`'s charge, kept here so that evicting it reads nothing of the (long
    /// untouched, uncached) block.
    charge: usize,
    /// Which list it is on: [`PROBATION`] or [`PROTECTED`].
    list: usize,
    prev: usize,
    next: usize,
}

/// New blocks enter this list; one hit there moves a block to [`PROTECTED`].
const PROBATION: usize = 0;
/// Blocks hit since they entered, in recency order; its least recent fall back to
/// probation once it holds more than [`PROTECTED_SHARE`] of the shard.
const PROTECTED: usize = 1;
/// Fifths of a shard's capacity the protected list may hold.
const PROTECTED_SHARE: usize = 4;

/// A doubly linked list through the slab: most recently used at `head`.
#[derive(Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
}

struct Shard<B> {
    map: KeyMap,
    slab: Vec<Entry<B>>,
    free: Vec<usize>,
    lists: [List; 2],
    used: usize,
    /// Bytes charged by the protected list.
    protected: usize,
    capacity: usize,
}

impl<B: Charge> Shard<B> {
    fn new(capacity: usize) -> Self {
        let empty = List { head: NIL, tail: NIL };
        Shard {
            map: KeyMap::default(),
            slab: Vec::new(),
            free: Vec::new(),
            lists: [empty; 2],
            used: 0,
            protected: 0,
            capacity,
        }
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next, list) = (self.slab[i].prev, self.slab[i].next, self.slab[i].list);
        match prev {
            NIL => self.lists[list].head = next,
            p => self.slab[p].next = next,
        }
        match next {
            NIL => self.lists[list].tail = prev,
            n => self.slab[n].prev = prev,
        }
        if list == PROTECTED {
            self.protected -= self.slab[i].charge;
        }
    }

    fn push_front(&mut self, list: usize, i: usize) {
        let head = self.lists[list].head;
        let e = &mut self.slab[i];
        (e.prev, e.next, e.list) = (NIL, head, list);
        if head != NIL {
            self.slab[head].prev = i;
        }
        self.lists[list].head = i;
        if self.lists[list].tail == NIL {
            self.lists[list].tail = i;
        }
        if list == PROTECTED {
            self.protected += self.slab[i].charge;
        }
    }

    /// A hit: the block moves to the front of the protected list, whose least recent
    /// blocks past its share go back to the front of probation.
    fn touch(&mut self, i: usize) {
        self.unlink(i);
        self.push_front(PROTECTED, i);
        while self.protected > self.capacity / 5 * PROTECTED_SHARE {
            let last = self.lists[PROTECTED].tail;
            self.unlink(last);
            self.push_front(PROBATION, last);
        }
    }

    fn get(&mut self, key: &Key) -> Option<Arc<B>> {
        let i = *self.map.get(key)?;
        self.touch(i);
        self.slab[i].block.clone()
    }

    /// Caches `block`, evicting past capacity from the least recent end of probation
    /// (then of the protected list); returns the first block evicted, for the caller to
    /// drop after releasing the shard: the last reference to a block frees its buffer,
    /// which is no work for a lock holder.
    fn insert(&mut self, key: Key, block: Arc<B>) -> Option<Arc<B>> {
        let charge = block.charge();
        if charge > self.capacity {
            return None;
        }
        let victim = [PROBATION, PROTECTED].into_iter().map(|l| self.lists[l].tail).find(|&t| t != NIL);
        if let Some(b) = victim.and_then(|t| self.slab[t].block.as_ref()) {
            // Its reference count is dropped below: start fetching it now.
            crate::util::prefetch::prefetch(Arc::as_ptr(b));
        }
        if let Some(&i) = self.map.get(&key) {
            // The same block again (two readers missed it at once): as a hit.
            self.unlink(i);
            self.used = self.used - self.slab[i].charge + charge;
            self.slab[i].block = Some(block);
            self.slab[i].charge = charge;
            self.push_front(PROBATION, i);
            self.touch(i);
        } else {
            let entry = Entry { key, block: Some(block), charge, list: PROBATION, prev: NIL, next: NIL };
            let i = match self.free.pop() {
                Some(i) => {
                    self.slab[i] = entry;
                    i
                }
                None => {
                    self.slab.push(entry);
                    self.slab.len() - 1
                }
            };
            self.map.insert(key, i);
            self.push_front(PROBATION, i);
            self.used += charge;
        }
        let mut evicted = None;
        while self.used > self.capacity {
            let Some(victim) = [PROBATION, PROTECTED].into_iter().map(|l| self.lists[l].tail).find(|&t| t != NIL)
            else {
                break;
            };
            self.unlink(victim);
            self.map.remove(&self.slab[victim].key);
            if let Some(b) = self.slab[victim].block.take() {
                self.used -= self.slab[victim].charge;
                // Usually the only one; any further ones drop here.
                evicted.get_or_insert(b);
            }
            self.free.push(victim);
        }
        evicted
    }
}

/// A sharded, segmented LRU cache of blocks.
pub struct Cache<B> {
    shards: Vec<Mutex<Shard<B>>>,
    /// Where blocks this cache evicts leave their buffers for the next block read.
    buffers: Arc<BufferPool>,
}

impl<B: Charge> Cache<B> {
    /// A cache holding up to `capacity` bytes of blocks, for tables of any block size
    /// (its buffers are heap vectors).
    pub fn new(capacity: usize) -> Self {
        Self::with_pool(capacity, BufferPool::new)
    }

    /// A cache holding up to `capacity` bytes of blocks, whose blocks of about
    /// `block_size` bytes live in huge-page slots (see [`BufferPool::with_slots`]).
    pub fn with_block_size(capacity: usize, block_size: usize) -> Self {
        // A block ends with the entry that takes it past the target size: an eighth
        // more covers entries of up to 512 bytes at the default 4 KiB.
        Self::with_pool(capacity, |idle| BufferPool::with_slots(idle, block_size + block_size / 8))
    }

    fn with_pool(capacity: usize, pool: impl FnOnce(usize) -> Arc<BufferPool>) -> Self {
        let per_shard = capacity / SHARDS;
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::new(per_shard))).collect();
        // Idle buffers: a few hundred blocks' worth, which absorbs the churn of a few
        // readers and a compaction: a thirty-second of the cache, within [256 KiB, 4 MiB]
        // (a database without a cache still recycles its compactions' blocks).
        let buffers = pool((capacity / 32).clamp(256 << 10, 4 << 20));
        Cache { shards, buffers }
    }

    /// The pool that block buffers of tables using this cache come from and return to.
    pub fn buffers(&self) -> &Arc<BufferPool> {
        &self.buffers
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard<B>> {
        let h = (key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1).wrapping_mul(0xff51_afd7_ed55_8ccd);
        &self.shards[(h >> 60) as usize % SHARDS]
    }

    /// The cached block of table `table_id` at `offset`, marking it recently used.
    pub fn get(&self, table_id: u64, offset: u64) -> Option<Arc<B>> {
        let key = (table_id, offset);
        self.shard(&key).lock().get(&key)
    }

    /// Caches a block, evicting the least recently used ones past capacity.
    pub fn insert(&self, table_id: u64, offset: u64, block: Arc<B>) {
        let key = (table_id, offset);
        let evicted = self.shard(&key).lock().insert(key, block);
        // Dropped with the shard released.
        drop(evicted);
    }

    /// Bytes of blocks currently cached.
    pub fn usage(&self) -> usize {
        self.shards.iter().map(|s| s.lock().used).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in block of a given charge.
    struct Sized(usize);

    impl Charge for Sized {
        fn charge(&self) -> usize {
            self.0
        }
    }

    type BlockCache = Cache<Sized>;

    fn block(bytes: usize) -> Arc<Sized> {
        Arc::new(Sized(bytes))
    }

    #[test]
    fn hits_misses_and_eviction_by_size() {
        let cache = BlockCache::new(16 * 10_000);
        // All keys with table id 1 may land in different shards; use one shard's worth.
        for off in 0..100u64 {
            cache.insert(1, off, block(1000));
        }
        assert!(cache.usage() <= 16 * 10_000);
        // The most recent insert of each shard is still there.
        assert!(cache.get(1, 99).is_some());
        assert!(cache.get(2, 99).is_none());
        // Blocks larger than a shard are not cached at all.
        cache.insert(3, 0, block(20_000));
        assert!(cache.get(3, 0).is_none());
    }

    /// `n` offsets of table 7 that fall in one shard.
    fn same_shard(cache: &BlockCache, n: usize) -> Vec<u64> {
        let target = cache.shard(&(7, 0)) as *const _;
        (0..100_000u64).filter(|&o| std::ptr::eq(cache.shard(&(7, o)), target)).take(n).collect()
    }

    #[test]
    fn a_block_hit_once_outlives_a_stream_of_blocks_read_once() {
        // Ten blocks per shard.
        let cache = BlockCache::new(SHARDS * 10_000);
        let offsets = same_shard(&cache, 60);
        cache.insert(7, offsets[0], block(1000));
        assert!(cache.get(7, offsets[0]).is_some());
        // Fifty blocks nobody reads again: plain LRU would have evicted the first.
        for &o in &offsets[1..51] {
            cache.insert(7, o, block(1000));
        }
        assert!(cache.get(7, offsets[0]).is_some());
        assert!(cache.get(7, offsets[1]).is_none());
        assert!(cache.get(7, offsets[50]).is_some());
    }

    #[test]
    fn the_protected_list_keeps_to_its_share_and_its_least_recent_leave() {
        let cache = BlockCache::new(SHARDS * 10_000);
        let offsets = same_shard(&cache, 30);
        // Ten blocks, each hit once: all would be protected, but only eight fit.
        for &o in &offsets[..10] {
            cache.insert(7, o, block(1000));
            assert!(cache.get(7, o).is_some());
        }
        // New blocks still get in, evicting the two demoted ones (the least recent).
        cache.insert(7, offsets[10], block(1000));
        cache.insert(7, offsets[11], block(1000));
        assert!(cache.get(7, offsets[0]).is_none());
        assert!(cache.get(7, offsets[1]).is_none());
        for &o in &offsets[2..12] {
            assert!(cache.get(7, o).is_some(), "offset {o}");
        }
        assert!(cache.usage() <= SHARDS * 10_000);
    }

    #[test]
    fn lru_order_is_respected_within_a_shard() {
        let cache = BlockCache::new(SHARDS * 3_100);
        // Find three offsets in the same shard.
        let target = cache.shard(&(7, 0)) as *const _;
        let same: Vec<u64> = (0..10_000u64).filter(|&o| std::ptr::eq(cache.shard(&(7, o)), target)).take(4).collect();
        cache.insert(7, same[0], block(1000));
        cache.insert(7, same[1], block(1000));
        cache.insert(7, same[2], block(1000));
        assert!(cache.get(7, same[0]).is_some()); // now most recent; same[1] is LRU
        cache.insert(7, same[3], block(1000));
        assert!(cache.get(7, same[1]).is_none());
        assert!(cache.get(7, same[0]).is_some());
        assert!(cache.get(7, same[2]).is_some());
        assert!(cache.get(7, same[3]).is_some());
    }
}
