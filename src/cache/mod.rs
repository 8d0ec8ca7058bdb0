//! The block cache: [`Cache`], a sharded LRU cache of decoded blocks shared by all
//! tables of a database; [`BufferPool`], the memory those blocks live in, recycled; and
//! [`CacheFill`], the policy deciding which blocks a cursor inserts.
//!
//! The cache knows nothing of the table format: it holds any [`Charge`] value (the
//! table layer's `Block`) under a (table id, block offset) key; table ids are unique per opened table, so a file
//! number reused after a crash can never alias a stale block. The cache is split into
//! shards by key hash, each behind its own mutex, so concurrent readers rarely meet on
//! a lock. Each shard is an LRU list threaded through a slab of entries, charged by block
//! size against its share of the capacity.

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
    prev: usize,
    next: usize,
}

struct Shard<B> {
    map: KeyMap,
    slab: Vec<Entry<B>>,
    free: Vec<usize>,
    /// Most recently used.
    head: usize,
    /// Least recently used.
    tail: usize,
    used: usize,
    capacity: usize,
}

impl<B: Charge> Shard<B> {
    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.slab[i].prev, self.slab[i].next);
        match prev {
            NIL => self.head = next,
            p => self.slab[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slab[n].prev = prev,
        }
    }

    fn push_front(&mut self, i: usize) {
        self.slab[i].prev = NIL;
        self.slab[i].next = self.head;
        if self.head != NIL {
            self.slab[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn get(&mut self, key: &Key) -> Option<Arc<B>> {
        let i = *self.map.get(key)?;
        self.unlink(i);
        self.push_front(i);
        self.slab[i].block.clone()
    }

    /// Caches `block`, evicting from the least recently used end past capacity; returns
    /// the first block evicted, for the caller to drop after releasing the shard: the
    /// last reference to a block frees its buffer, which is no work for a lock holder.
    fn insert(&mut self, key: Key, block: Arc<B>) -> Option<Arc<B>> {
        let charge = block.charge();
        if charge > self.capacity {
            return None;
        }
        if let Some(victim) = self.slab.get(self.tail).and_then(|e| e.block.as_ref()) {
            // Its reference count is dropped below: start fetching it now (the counts
            // sit in the 16 bytes before the value `as_ptr` points at).
            crate::util::prefetch::prefetch(Arc::as_ptr(victim).cast::<u8>().wrapping_sub(16));
        }
        if let Some(&i) = self.map.get(&key) {
            self.used = self.used - self.slab[i].charge + charge;
            self.slab[i].block = Some(block);
            self.slab[i].charge = charge;
            self.unlink(i);
            self.push_front(i);
        } else {
            let entry = Entry { key, block: Some(block), charge, prev: NIL, next: NIL };
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
            self.push_front(i);
            self.used += charge;
        }
        let mut evicted = None;
        while self.used > self.capacity && self.tail != NIL {
            let victim = self.tail;
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

/// A sharded LRU cache of blocks.
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
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: KeyMap::default(),
                    slab: Vec::new(),
                    free: Vec::new(),
                    head: NIL,
                    tail: NIL,
                    used: 0,
                    capacity: per_shard,
                })
            })
            .collect();
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
