//! [`BufferPool`]: the memory that decompressed data blocks live in, recycled.
//!
//! Once the block cache is full, every block read from disk evicts another, so a
//! read-heavy workload needs one block-sized buffer per cache miss. Allocating and
//! freeing it cost more than it looks: glibc serves 4 KiB from its bins rather than a
//! thread cache, and freeing merges the chunk with its (cold) neighbours, so the free
//! alone was ~10% of a `get` that missed the cache. It also spread the cache's memory
//! over every reading thread's malloc arena, each keeping its own high-water mark. Here
//! a buffer whose last reference goes (an evicted block, the block a compaction's scan
//! moved past) comes back to the pool, and the next decompression takes it, whichever
//! thread that is.
//!
//! A pool made [`with_slots`](BufferPool::with_slots) keeps blocks of about the table
//! block size (from three quarters of a slot to a whole one, which is nearly every data
//! block) in fixed-size slots carved from huge-page maps (see `util/huge_page.rs`). A
//! read that misses the cache decodes into such a slot and then searches it, and a hit
//! searches a cached one: on 4 KiB heap pages each was a TLB miss, and with the cache's
//! memory on huge pages the peer benchmark's random reads ran 5-10% faster. Slots are
//! never unmapped; there are only as many as were ever in use at once (the cache's
//! blocks plus those lent out). Other sizes use heap vectors, of which at most
//! `max_bytes` are kept idle.
//!
//! The pool promises that [`BufferPool::fill`] hands its closure exactly the requested
//! number of bytes (their contents unspecified) and that the bytes it returns are what
//! the closure wrote.

use std::ptr::NonNull;
use std::sync::Arc;

use bytes::Bytes;
use memmap2::MmapMut;
use parking_lot::Mutex;

use crate::util::huge_page::{map_huge, HUGE_PAGE};

/// Recycled block memory, shared by every reader of a block cache.
pub struct BufferPool {
    idle: Mutex<Idle>,
    max_bytes: usize,
    /// Bytes per slot; 0 for a pool without slots.
    slot_size: usize,
}

#[derive(Default)]
struct Idle {
    buffers: Vec<Vec<u8>>,
    /// Sum of the capacities of `buffers`.
    bytes: usize,
    /// Slots not lent out.
    free_slots: Vec<SlotPtr>,
    /// The huge-page maps slots are carved from, and where each starts.
    chunks: Vec<(MmapMut, SlotPtr)>,
    /// Slots of the last chunk carved so far.
    carved: usize,
    /// The system refused a map: no more slots.
    refused: bool,
}

/// The start of a slot (or of a chunk of them).
#[derive(Clone, Copy)]
struct SlotPtr(NonNull<u8>);

// SAFETY: a slot is plain memory inside a map the pool keeps alive; whoever holds its
// pointer (the free list under the pool's mutex, or one `SlotBlock`) is its only user.
unsafe impl Send for SlotPtr {}
// SAFETY: as for `Send`: a shared `SlotPtr` is never used to reach the memory.
unsafe impl Sync for SlotPtr {}

impl BufferPool {
    /// New heap buffers are sized in multiples of this many bytes.
    pub const GRANULE: usize = 256;

    /// A pool keeping at most `max_bytes` of idle heap buffers, and no slots.
    pub fn new(max_bytes: usize) -> Arc<BufferPool> {
        Arc::new(BufferPool { idle: Mutex::new(Idle::default()), max_bytes, slot_size: 0 })
    }

    /// A pool that also keeps blocks of up to `slot_size` bytes (and more than three
    /// quarters of it) in huge-page slots.
    pub fn with_slots(max_bytes: usize, slot_size: usize) -> Arc<BufferPool> {
        let slot_size = slot_size.next_multiple_of(Self::GRANULE).min(HUGE_PAGE);
        Arc::new(BufferPool { idle: Mutex::new(Idle::default()), max_bytes, slot_size })
    }

    /// Bytes `fill` wrote into `len` bytes of pooled memory, as `Bytes` that return the
    /// memory to the pool when the last clone drops; `fill`'s error if it fails.
    pub fn fill<E>(self: &Arc<Self>, len: usize, fill: impl FnOnce(&mut [u8]) -> Result<(), E>) -> Result<Bytes, E> {
        if let Some(mut block) = self.take_slot(len) {
            fill(block.bytes_mut())?;
            return Ok(Bytes::from_owner(block));
        }
        let mut buf = self.take(len);
        buf.resize(len, 0);
        fill(&mut buf)?;
        Ok(self.freeze(buf))
    }

    /// A free slot for a block of `len` bytes, if the pool has slots and `len` suits
    /// them.
    fn take_slot(self: &Arc<Self>, len: usize) -> Option<SlotBlock> {
        if len > self.slot_size || len * 4 <= self.slot_size * 3 {
            return None;
        }
        let mut idle = self.idle.lock();
        let slot = match idle.free_slots.pop() {
            Some(slot) => slot,
            None => self.carve(&mut idle)?,
        };
        drop(idle);
        Some(SlotBlock { slot, len, pool: self.clone() })
    }

    /// A new slot from the last chunk, or from a new chunk if it is used up.
    fn carve(&self, idle: &mut Idle) -> Option<SlotPtr> {
        let per_chunk = HUGE_PAGE / self.slot_size;
        if idle.chunks.is_empty() || idle.carved == per_chunk {
            if idle.refused {
                return None;
            }
            let Some((map, start)) = map_huge(HUGE_PAGE) else {
                idle.refused = true;
                return None;
            };
            idle.chunks.push((map, SlotPtr(start)));
            idle.carved = 0;
        }
        let (_, start) = idle.chunks.last()?;
        // SAFETY: `carved < per_chunk`, so the slot lies inside the chunk's
        // `HUGE_PAGE` bytes; an offset into a live map is never null.
        let slot = unsafe { NonNull::new_unchecked(start.0.as_ptr().add(idle.carved * self.slot_size)) };
        idle.carved += 1;
        Some(SlotPtr(slot))
    }

    /// An empty heap buffer with capacity for at least `len` bytes: an idle one if the
    /// most recently returned is large enough, otherwise a new allocation rounded up to a
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

    /// Bytes of idle heap buffers held.
    pub fn idle_bytes(&self) -> usize {
        self.idle.lock().bytes
    }

    /// Bytes of huge-page memory carved into slots so far.
    pub fn slot_bytes(&self) -> usize {
        let idle = self.idle.lock();
        (idle.chunks.len().saturating_sub(1) * (HUGE_PAGE / self.slot_size.max(1)) + idle.carved) * self.slot_size
    }
}

/// A block in a slot, lent out as `Bytes`; the slot returns to its pool on drop.
struct SlotBlock {
    slot: SlotPtr,
    len: usize,
    /// Keeps the chunk the slot lies in mapped.
    pool: Arc<BufferPool>,
}

impl SlotBlock {
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the slot holds `slot_size >= len` bytes of a map that `pool` keeps
        // alive, initialized (zeroed by the kernel, or an earlier block's), and this
        // block is its only user until it drops; `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.slot.0.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for SlotBlock {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: as in `bytes_mut`; once lent out as `Bytes` the block is only read.
        unsafe { std::slice::from_raw_parts(self.slot.0.as_ptr(), self.len) }
    }
}

impl Drop for SlotBlock {
    fn drop(&mut self) {
        self.pool.idle.lock().free_slots.push(self.slot);
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

    fn filled(pool: &Arc<BufferPool>, len: usize, byte: u8) -> Bytes {
        pool.fill(len, |dst: &mut [u8]| {
            dst.fill(byte);
            Ok::<(), ()>(())
        })
        .unwrap()
    }

    #[test]
    fn blocks_of_about_the_slot_size_live_in_recycled_huge_page_slots() {
        let pool = BufferPool::with_slots(1 << 20, 4608);
        let a = filled(&pool, 4200, 1);
        let b = filled(&pool, 4608, 2);
        assert_eq!(pool.slot_bytes(), 2 * 4608);
        assert_eq!(pool.idle_bytes(), 0, "no heap buffer was involved");
        // The first slot starts a huge-page-aligned chunk; the second follows it.
        assert_eq!(a.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + 4608);
        assert!(a.iter().all(|&x| x == 1) && a.len() == 4200);
        assert!(b.iter().all(|&x| x == 2) && b.len() == 4608);
        let a_addr = a.as_ptr();
        let slice = a.slice(100..200);
        drop(a);
        let c = filled(&pool, 4000, 3);
        assert_ne!(c.as_ptr(), a_addr, "a live slice keeps its slot lent out");
        drop(slice);
        let d = filled(&pool, 3500, 4);
        assert_eq!(d.as_ptr(), a_addr, "a returned slot is handed out again");
        assert!(d.iter().all(|&x| x == 4) && d.len() == 3500);
        assert!(b.iter().all(|&x| x == 2), "neighbouring slots are untouched");
        assert_eq!(pool.slot_bytes(), 3 * 4608, "slots are only carved when none is free");
        drop((b, c, d));
    }

    #[test]
    fn other_sizes_and_slotless_pools_use_the_heap() {
        let pool = BufferPool::with_slots(1 << 20, 4608);
        // Three quarters of a slot or less, or more than a slot: heap.
        for len in [0, 100, 3456, 4609, 100_000] {
            let block = filled(&pool, len, 9);
            assert!(block.len() == len && block.iter().all(|&x| x == 9));
        }
        assert_eq!(pool.slot_bytes(), 0);
        assert!(pool.idle_bytes() > 0, "the heap buffers came back");
        let plain = BufferPool::new(1 << 20);
        drop(filled(&plain, 4096, 1));
        assert_eq!(plain.slot_bytes(), 0);
    }

    #[test]
    fn a_failed_fill_gives_its_slot_back() {
        let pool = BufferPool::with_slots(1 << 20, 4608);
        assert_eq!(pool.fill(4500, |_| Err("damaged")), Err("damaged"));
        let block = filled(&pool, 4500, 5);
        assert_eq!(pool.slot_bytes(), 4608, "the failed fill's slot was reused");
        assert!(block.iter().all(|&x| x == 5));
    }

    #[test]
    fn slots_fill_chunk_after_chunk() {
        let pool = BufferPool::with_slots(1 << 20, 64 << 10);
        let per_chunk = HUGE_PAGE / (64 << 10);
        let blocks: Vec<Bytes> = (0..per_chunk + 3).map(|i| filled(&pool, 60 << 10, i as u8)).collect();
        assert_eq!(pool.slot_bytes(), (per_chunk + 3) * (64 << 10));
        assert_eq!(blocks[per_chunk].as_ptr() as usize % HUGE_PAGE, 0, "a new chunk starts aligned");
        for (i, b) in blocks.iter().enumerate() {
            assert!(b.iter().all(|&x| x == i as u8), "slot {i} was overwritten");
        }
    }

    #[test]
    fn blocks_outliving_their_pool_owner_stay_readable() {
        let pool = BufferPool::new(1 << 20);
        let block = pool.freeze(b"still here".to_vec());
        drop(pool);
        assert_eq!(&block[..], b"still here");
        let pool = BufferPool::with_slots(1 << 20, 4096);
        let block = filled(&pool, 4000, 7);
        drop(pool);
        assert!(block.iter().all(|&x| x == 7), "the slot's chunk stays mapped");
    }
}
