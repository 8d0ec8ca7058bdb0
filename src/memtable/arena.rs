//! [`Arena`]: a bump allocator for skiplist nodes.
//!
//! Nodes are carved out of large zeroed chunks and never freed one by one: the whole
//! arena goes when the memtable is dropped. That makes an insert one pointer bump instead
//! of a heap allocation, keeps nodes close together in memory, and gives the memtable an
//! exact byte count to decide when it is full. Chunks never move once allocated, so a
//! pointer handed out stays valid for the arena's lifetime.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Alignment of every allocation (enough for the atomic pointers of a node tower).
pub const ALIGN: usize = 8;

struct Chunks {
    /// Owned storage; `u64` elements guarantee 8-byte alignment.
    chunks: Vec<Box<[u64]>>,
    /// Next free byte in the current chunk.
    next: *mut u8,
    /// Bytes left in the current chunk.
    left: usize,
}

/// A bump allocator whose allocations live as long as the arena.
pub struct Arena {
    inner: Mutex<Chunks>,
    chunk_size: usize,
    allocated: AtomicUsize,
}

// SAFETY: `next` points into a chunk owned by `chunks` and is only used under the mutex;
// the chunks themselves are plain memory that may be shared and sent between threads.
unsafe impl Send for Arena {}
// SAFETY: see `Send`; all mutation of the bookkeeping happens under the mutex.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena that grabs memory `chunk_size` bytes at a time.
    pub fn new(chunk_size: usize) -> Self {
        let chunk_size = chunk_size.max(4096).next_multiple_of(ALIGN);
        Arena {
            inner: Mutex::new(Chunks { chunks: Vec::new(), next: std::ptr::null_mut(), left: 0 }),
            chunk_size,
            allocated: AtomicUsize::new(0),
        }
    }

    /// Bytes handed out plus chunk overhead: what the memtable costs in memory.
    pub fn memory_usage(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Returns `size` zeroed bytes aligned to [`ALIGN`], valid until the arena drops.
    pub fn alloc(&self, size: usize) -> NonNull<u8> {
        let size = size.max(1).next_multiple_of(ALIGN);
        let mut inner = self.inner.lock();
        if size > inner.left {
            if size > self.chunk_size / 4 {
                // A large entry gets a chunk of its own so it does not waste the rest of
                // the current one.
                let ptr = Self::new_chunk(&mut inner, size);
                self.allocated.fetch_add(size, Ordering::Relaxed);
                return ptr;
            }
            let chunk_size = self.chunk_size;
            inner.next = Self::new_chunk(&mut inner, chunk_size).as_ptr();
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

    fn new_chunk(inner: &mut Chunks, size: usize) -> NonNull<u8> {
        let mut chunk = vec![0u64; size / ALIGN].into_boxed_slice();
        let ptr = chunk.as_mut_ptr().cast::<u8>();
        inner.chunks.push(chunk);
        // SAFETY: a boxed slice of non-zero length has a non-null data pointer; moving
        // the box into the vector does not move its heap allocation.
        unsafe { NonNull::new_unchecked(ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_distinct_and_counted() {
        let arena = Arena::new(4096);
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
}
