//! [`Arena`]: a bump allocator for skiplist nodes.
//!
//! Nodes are carved out of large chunks and never freed one by one: the whole arena goes
//! when the memtable is dropped. That makes an insert one pointer bump instead of a heap
//! allocation, keeps nodes close together in memory, and gives the memtable an exact byte
//! count to decide when it is full. Chunks never move once allocated, so a pointer handed
//! out stays valid for the arena's lifetime.
//!
//! An arena made with a [`ChunkPool`] leaves its huge-page chunks there when it drops,
//! and the tree's next memtable takes them instead of mapping fresh memory: fresh
//! anonymous memory is zeroed by the kernel on its first touch, a huge page at a time,
//! which with 16 KiB values was a fifth of the writer's time. So bytes handed out may
//! hold an earlier arena's data: whoever allocates writes every byte it later reads.
//!
//! Chunks of [`HUGE_PAGE`] bytes or more are anonymous memory maps advised to use
//! transparent huge pages (Linux `MADV_HUGEPAGE`). A skiplist insert or lookup touches
//! a dozen nodes scattered over the whole arena, so with 4 KiB pages nearly every one of
//! them is also a TLB miss, and on a virtual machine a TLB miss is a two-dimensional page
//! walk: measured here, a random load in a 64 MiB region took 4.1 µs with 4 KiB pages and
//! 1.0 µs with huge pages. Where huge pages are unavailable the advice is ignored and the
//! chunk is ordinary memory; an arena made with `huge_pages: false` uses the heap only
//! (for deployments where the kernel's huge-page compaction stalls are worse than TLB
//! misses).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::MmapMut;
use parking_lot::Mutex;

use crate::util::huge_page::map_huge;

/// Alignment of every allocation (enough for the atomic pointers of a node tower).
pub(crate) const ALIGN: usize = 8;

/// In an arena with huge pages, chunk sizes from half a huge page up are rounded to a
/// multiple of it, and chunks from a huge page up are memory-mapped.
pub(crate) use crate::util::huge_page::HUGE_PAGE;

/// A huge-page chunk: a map over-sized by one huge page so that a [`HUGE_PAGE`]-aligned
/// start can be chosen inside it.
struct MappedChunk {
    map: MmapMut,
    /// Offset of the aligned start in `map`.
    skip: usize,
    /// Usable bytes from the start.
    size: usize,
}

impl MappedChunk {
    fn new(size: usize) -> Option<MappedChunk> {
        let (map, start) = map_huge(size)?;
        let skip = start.as_ptr() as usize - map.as_ptr() as usize;
        Some(MappedChunk { map, skip, size })
    }

    fn start(&mut self) -> NonNull<u8> {
        // SAFETY: `skip` is inside the map (it was computed from a pointer into it), and a
        // successful map is never at address 0.
        unsafe { NonNull::new_unchecked(self.map.as_mut_ptr().add(self.skip)) }
    }
}

/// Huge-page chunks that dropped arenas left for the next ones (one per tree: its
/// memtables have one chunk size). Holds at most `limit` bytes; the rest is unmapped.
pub struct ChunkPool {
    spare: Mutex<Vec<MappedChunk>>,
    limit: usize,
}

impl ChunkPool {
    /// A pool that keeps up to `limit` bytes of chunks.
    pub fn new(limit: usize) -> Arc<ChunkPool> {
        Arc::new(ChunkPool { spare: Mutex::new(Vec::new()), limit })
    }

    fn take(&self, size: usize) -> Option<MappedChunk> {
        let mut spare = self.spare.lock();
        let i = spare.iter().position(|c| c.size == size)?;
        Some(spare.swap_remove(i))
    }

    fn give(&self, chunks: Vec<MappedChunk>) {
        let mut spare = self.spare.lock();
        let mut held: usize = spare.iter().map(|c| c.size).sum();
        for chunk in chunks {
            if held + chunk.size <= self.limit {
                held += chunk.size;
                spare.push(chunk);
            }
        }
    }

    /// Bytes of chunks waiting for an arena.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.spare.lock().iter().map(|c| c.size).sum()
    }
}

struct Chunks {
    /// Small chunks; `u64` elements guarantee 8-byte alignment.
    heap: Vec<Box<[u64]>>,
    /// Huge-page chunks.
    maps: Vec<MappedChunk>,
    /// Next free byte in the current chunk.
    next: *mut u8,
    /// Bytes left in the current chunk.
    left: usize,
}

/// A bump allocator whose allocations live as long as the arena.
pub(crate) struct Arena {
    inner: Mutex<Chunks>,
    chunk_size: usize,
    huge_pages: bool,
    allocated: AtomicUsize,
    /// Where its huge-page chunks come from first and go when it drops.
    pool: Option<Arc<ChunkPool>>,
}

// SAFETY: `next` points into a chunk owned by `heap` or `maps` and is only used under the mutex;
// the chunks themselves are plain memory that may be shared and sent between threads.
unsafe impl Send for Arena {}
// SAFETY: see `Send`; all mutation of the bookkeeping happens under the mutex.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena that grabs memory `chunk_size` bytes at a time. With `huge_pages`,
    /// chunk sizes from half a huge page up are rounded to a multiple of [`HUGE_PAGE`]
    /// and backed by huge pages where the system has them; those chunks come from and
    /// go back to `pool` if one is given.
    pub(crate) fn new(chunk_size: usize, huge_pages: bool, pool: Option<Arc<ChunkPool>>) -> Self {
        let chunk_size = if huge_pages && chunk_size >= HUGE_PAGE / 2 {
            chunk_size.next_multiple_of(HUGE_PAGE)
        } else {
            chunk_size.max(4096).next_multiple_of(ALIGN)
        };
        Arena {
            inner: Mutex::new(Chunks { heap: Vec::new(), maps: Vec::new(), next: std::ptr::null_mut(), left: 0 }),
            chunk_size,
            huge_pages,
            allocated: AtomicUsize::new(0),
            pool,
        }
    }

    /// Bytes handed out: what the memtable's entries cost. Resident memory can exceed it
    /// by the unused rest of the current chunk (up to one huge page, with huge pages)
    /// and the tails that large entries' chunks left behind.
    pub(crate) fn memory_usage(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Returns `size` bytes aligned to [`ALIGN`], valid until the arena drops. They may
    /// hold an earlier arena's data (see the module comment).
    pub(crate) fn alloc(&self, size: usize) -> NonNull<u8> {
        let size = size.max(1).next_multiple_of(ALIGN);
        let mut inner = self.inner.lock();
        if size > inner.left {
            if size > self.chunk_size / 4 {
                // A large entry gets a chunk of its own so it does not waste the rest of
                // the current one.
                let ptr = self.new_chunk(&mut inner, size);
                self.allocated.fetch_add(size, Ordering::Relaxed);
                return ptr;
            }
            let chunk_size = self.chunk_size;
            inner.next = self.new_chunk(&mut inner, chunk_size).as_ptr();
            inner.left = chunk_size;
        }
        let ptr = inner.next;
        // SAFETY: `size <= left`, so the result stays inside the current chunk.
        inner.next = unsafe { ptr.add(size) };
        inner.left -= size;
        self.allocated.fetch_add(size, Ordering::Relaxed);
        // SAFETY: `ptr` points into a live chunk and is therefore non-null.
        unsafe { NonNull::new_unchecked(ptr) }
    }

    /// Adds a chunk of at least `size` bytes and returns its start.
    fn new_chunk(&self, inner: &mut Chunks, size: usize) -> NonNull<u8> {
        if self.huge_pages && size >= HUGE_PAGE {
            let recycled = self.pool.as_ref().and_then(|pool| pool.take(size));
            if let Some(mut chunk) = recycled.or_else(|| MappedChunk::new(size)) {
                let start = chunk.start();
                inner.maps.push(chunk);
                return start;
            }
        }
        inner.heap.push(vec![0u64; size.div_ceil(ALIGN)].into_boxed_slice());
        // The pointer is taken from the box where it now lives: one taken before moving
        // the box would be derived from a unique borrow that the move ends.
        let last = inner.heap.len() - 1;
        NonNull::from(&mut *inner.heap[last]).cast::<u8>()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            // Every pointer into these chunks died with the arena's owner (the skiplist,
            // which outlives every reader of its nodes).
            pool.give(std::mem::take(&mut self.inner.get_mut().maps));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_distinct_and_counted() {
        let arena = Arena::new(4096, true, None);
        let mut ptrs = Vec::new();
        for size in [1usize, 7, 8, 100, 1000, 3000, 5000, 20] {
            let p = arena.alloc(size);
            assert_eq!(p.as_ptr() as usize % ALIGN, 0);
            // SAFETY: the arena returned `size` writable bytes at `p`.
            unsafe { std::ptr::write_bytes(p.as_ptr(), 0xab, size) };
            ptrs.push((p.as_ptr() as usize, size));
        }
        ptrs.sort();
        for w in ptrs.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlapping allocations");
        }
        assert!(arena.memory_usage() >= 1 + 7 + 8 + 100 + 1000 + 3000 + 5000 + 20);
    }

    #[test]
    fn huge_chunks_are_aligned_zeroed_and_writable() {
        let arena = Arena::new(HUGE_PAGE, true, None);
        let first = arena.alloc(64);
        // The first chunk starts on a huge-page boundary (it is a map, not the heap).
        assert_eq!(first.as_ptr() as usize % HUGE_PAGE, 0);
        // Fill the chunk and spill into the next one; every byte handed out is zero
        // before it is written, and writing it does not disturb the others.
        let mut blocks = vec![(first, 64)];
        for i in 0..(HUGE_PAGE / 4096 + 10) {
            let size = 4096 - 8 * (i % 3);
            blocks.push((arena.alloc(size), size));
        }
        for (n, &(p, size)) in blocks.iter().enumerate() {
            // SAFETY: the arena returned `size` writable bytes at `p`, valid while it lives.
            let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), size) };
            assert!(bytes.iter().all(|&b| b == 0));
            bytes.fill(n as u8);
        }
        for (n, &(p, size)) in blocks.iter().enumerate() {
            // SAFETY: as above.
            let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
            assert!(bytes.iter().all(|&b| b == n as u8));
        }
        // An entry larger than a quarter chunk gets a huge chunk of its own.
        let big = arena.alloc(HUGE_PAGE + 1);
        assert_eq!(big.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(arena.memory_usage() >= HUGE_PAGE * 2);
        // Two shared chunks (the fill spilled into a second) and the big entry's own.
        assert_eq!(arena.inner.lock().maps.len(), 3);
        assert!(arena.inner.lock().heap.is_empty());
    }

    #[test]
    fn a_dropped_arenas_chunks_go_to_the_next_through_the_pool_up_to_its_limit() {
        let pool = ChunkPool::new(2 * HUGE_PAGE);
        let arena = Arena::new(HUGE_PAGE, true, Some(pool.clone()));
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let p = arena.alloc(HUGE_PAGE);
            // SAFETY: the arena returned HUGE_PAGE writable bytes at `p`.
            unsafe { std::ptr::write_bytes(p.as_ptr(), 0x5a, HUGE_PAGE) };
            firsts.push(p.as_ptr() as usize);
        }
        assert_eq!(pool.held(), 0);
        drop(arena);
        assert_eq!(pool.held(), 2 * HUGE_PAGE, "two of the three chunks fit the limit");
        let next = Arena::new(HUGE_PAGE, true, Some(pool.clone()));
        let a = next.alloc(HUGE_PAGE).as_ptr() as usize;
        let b = next.alloc(HUGE_PAGE).as_ptr() as usize;
        assert!(firsts.contains(&a) && firsts.contains(&b) && a != b, "the chunks were reused");
        assert_eq!(pool.held(), 0);
        // The pool is empty now: the next chunk is fresh memory (the third chunk was
        // unmapped, not kept: its bytes are gone, even if the kernel reuses its address).
        let c = next.alloc(HUGE_PAGE);
        // SAFETY: the arena returned HUGE_PAGE readable bytes at `c`.
        assert!(unsafe { std::slice::from_raw_parts(c.as_ptr(), HUGE_PAGE) }.iter().all(|&b| b == 0));
    }

    #[test]
    fn without_huge_pages_every_chunk_is_heap() {
        let arena = Arena::new(HUGE_PAGE, false, None);
        // The first three fit in one chunk; the last does not fit what is left, and
        // being over a quarter chunk it gets a chunk of its own.
        for size in [4096, 4096, HUGE_PAGE / 2, 3 * HUGE_PAGE] {
            let p = arena.alloc(size);
            assert_eq!(p.as_ptr() as usize % ALIGN, 0);
            // SAFETY: the arena returned `size` writable bytes at `p`.
            unsafe { std::ptr::write_bytes(p.as_ptr(), 1, size) };
        }
        assert!(arena.inner.lock().maps.is_empty());
        assert_eq!(arena.inner.lock().heap.len(), 2);
    }

    /// The advice reached the kernel: the chunk's mapping carries the `hg` flag in
    /// `/proc/self/smaps` (skipped on kernels built without transparent huge pages).
    #[cfg(target_os = "linux")]
    #[test]
    fn huge_chunks_are_advised_to_the_kernel() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            return;
        }
        let arena = Arena::new(HUGE_PAGE, true, None);
        let p = arena.alloc(64).as_ptr() as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            // Mapping headers start with "start-end " in hex; attribute lines follow.
            let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
            if let Some((Ok(start), Ok(end))) =
                range.map(|(a, b)| (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)))
            {
                inside = start <= p && p < end;
            } else if inside && line.starts_with("VmFlags:") {
                assert!(line.split_whitespace().any(|f| f == "hg"), "chunk not advised: {line}");
                return;
            }
        }
        panic!("no mapping holds the chunk at {p:#x}");
    }
}
