//! [`BufferPool`]: recycles the buffers that decompressed data blocks live in.
//!
//! Once the block cache is full, every block read from disk evicts another, so a
//! read-heavy workload allocates and frees one block-sized buffer per cache miss. That
//! cost more than it looks: glibc serves 4 KiB from its bins rather than a thread cache,
//! and freeing merges the chunk with its (cold) neighbours, so the free alone was ~10%
//! of a `get` that missed the cache. It also spread the cache's memory over every
//! reading thread's malloc arena, each keeping its own high-water mark. Here a buffer
//! whose last reference goes (an evicted block, the block a compaction's scan moved
//! past) returns to a small free list, and the next decompression takes it from there,
//! whichever thread that is.
//!
//! The pool promises only that [`BufferPool::take`] hands out an empty vector with room
//! for the requested length, and that it never holds more than `max_bytes` of idle
//! buffers: anything beyond is freed as usual.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

/// A bounded free list of byte buffers, shared by every reader of a block cache.
pub struct BufferPool {
    idle: Mutex<Idle>,
    max_bytes: usize,
}

#[derive(Default)]
struct Idle {
    buffers: Vec<Vec<u8>>,
    /// Sum of the capacities of `buffers`.
    bytes: usize,
}

impl BufferPool {
    /// New buffers are sized in multiples of this many bytes.
    pub const GRANULE: usize = 256;

    /// A pool keeping at most `max_bytes` of idle buffers.
    pub fn new(max_bytes: usize) -> Arc<BufferPool> {
        Arc::new(BufferPool { idle: Mutex::new(Idle::default()), max_bytes })
    }

    /// An empty buffer with capacity for at least `len` bytes: an idle one if the most
    /// recently returned is large enough, otherwise a new allocation rounded up to a
    /// multiple of [`Self::GRANULE`], so that blocks of a table's usual size (a little
    /// over the target, each a different little) all fit each other's buffers.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut idle = self.idle.lock();
        if idle.buffers.last().is_some_and(|b| b.capacity() >= len) {
            if let Some(b) = idle.buffers.pop() {
                idle.bytes -= b.capacity();
                return b;
            }
        }
        drop(idle);
        Vec::with_capacity(len.next_multiple_of(Self::GRANULE))
    }

    /// Wraps `buf` in `Bytes` that hand it back to the pool when the last clone drops.
    pub fn freeze(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool: self.clone() })
    }

    /// Keeps `buf` for a later [`take`](Self::take) if there is room; frees it otherwise.
    fn give_back(&self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap == 0 || cap > self.max_bytes {
            return;
        }
        buf.clear();
        let mut idle = self.idle.lock();
        if idle.bytes + cap <= self.max_bytes {
            idle.bytes += cap;
            idle.buffers.push(buf);
        }
    }

    /// Bytes of idle buffers held.
    pub fn idle_bytes(&self) -> usize {
        self.idle.lock().bytes
    }
}

/// A buffer lent out as `Bytes`; returns to its pool on drop.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_block_buffer_is_reused_by_the_next_take() {
        let pool = BufferPool::new(1 << 20);
        let mut buf = pool.take(4096);
        buf.extend_from_slice(&[7u8; 4096]);
        let addr = buf.as_ptr();
        let block = pool.freeze(buf);
        let slice = block.slice(10..20);
        drop(block);
        assert_eq!(pool.idle_bytes(), 0, "a live slice keeps the buffer lent out");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert!(pool.idle_bytes() >= 4096);
        let again = pool.take(4000);
        assert_eq!(again.as_ptr(), addr, "the returned buffer is handed out again");
        assert!(again.is_empty(), "a reused buffer comes back empty");
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn a_buffer_too_small_is_not_handed_out() {
        let pool = BufferPool::new(1 << 20);
        drop(pool.freeze(Vec::with_capacity(100)));
        let big = pool.take(4096);
        assert!(big.capacity() >= 4096);
        assert!(pool.idle_bytes() >= 100, "the small buffer stays for a later, smaller take");
    }

    #[test]
    fn idle_buffers_never_exceed_the_bound() {
        let pool = BufferPool::new(10_000);
        let blocks: Vec<Bytes> = (0..10).map(|_| pool.freeze(Vec::with_capacity(4096))).collect();
        drop(blocks);
        assert!(pool.idle_bytes() <= 10_000);
        assert!(pool.idle_bytes() >= 4096, "it keeps what fits");
        // Larger than the whole pool: freed, never kept.
        drop(pool.freeze(Vec::with_capacity(20_000)));
        assert!(pool.idle_bytes() <= 10_000);
    }

    #[test]
    fn blocks_outliving_their_pool_owner_stay_readable() {
        let pool = BufferPool::new(1 << 20);
        let block = pool.freeze(b"still here".to_vec());
        drop(pool);
        assert_eq!(&block[..], b"still here");
    }
}
