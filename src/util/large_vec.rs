//! [`LargeVec`]: a growable array for the large, short-lived buffers of a flush or a
//! compaction (a table's key hashes and filter, its index block, a memtable's node
//! list), whose memory goes back to the operating system as soon as it is dropped.
//!
//! Why not a `Vec`: glibc serves an allocation of 128 KiB or more with a memory map of
//! its own, but freeing one raises that threshold to the freed size (up to 32 MiB). From
//! then on every buffer below the new threshold comes from the heap arena of the thread
//! that asked for it, and an arena keeps its high-water mark for as long as anything
//! lives above the freed space. Measured on the 10M-key peer benchmark: after the first
//! compaction freed a 16 MiB hash vector, about 70 MiB of freed memory stayed resident
//! for the rest of the run. A `LargeVec` of [`MAP_THRESHOLD`] bytes or more maps its
//! own memory and unmaps it when it grows or drops, so neither happens; below that it
//! is an ordinary `Vec`.
//!
//! Promises: the behaviour of a `Vec<T>` restricted to what is implemented here, for
//! `T: Copy` (nothing to drop); elements past `len` are never read. If the system
//! refuses a map, the buffer stays on (or returns to) the heap instead of failing.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use memmap2::MmapMut;

/// Buffers of at least this many bytes are memory maps rather than heap allocations
/// (glibc's initial mmap threshold).
pub(crate) const MAP_THRESHOLD: usize = 128 << 10;

/// A `Vec`-like array of `Copy` values; see the module comment.
pub struct LargeVec<T: Copy> {
    /// Storage while small, or if a map was refused; empty while `map` is in use.
    heap: Vec<T>,
    map: Option<Mapped<T>>,
}

struct Mapped<T> {
    map: MmapMut,
    len: usize,
    _values: PhantomData<T>,
}

impl<T> Mapped<T> {
    /// A map with room for `cap` values; `None` if the system refuses it.
    fn with_capacity(cap: usize) -> Option<Self> {
        let bytes = cap.checked_mul(size_of::<T>())?;
        let map = MmapMut::map_anon(bytes).ok()?;
        Some(Mapped { map, len: 0, _values: PhantomData })
    }

    fn capacity(&self) -> usize {
        self.map.len() / size_of::<T>()
    }

    fn ptr(&self) -> *const T {
        self.map.as_ptr().cast::<T>()
    }

    fn ptr_mut(&mut self) -> *mut T {
        self.map.as_mut_ptr().cast::<T>()
    }
}

impl<T: Copy> LargeVec<T> {
    /// Values must fit the page alignment of a map, and take space.
    const FITS_A_MAP: () = assert!(size_of::<T>() > 0 && align_of::<T>() <= 4096);

    /// An empty array; allocates nothing.
    pub fn new() -> Self {
        let () = Self::FITS_A_MAP;
        LargeVec { heap: Vec::new(), map: None }
    }

    /// An empty array with room for `cap` values.
    pub fn with_capacity(cap: usize) -> Self {
        let mut v = Self::new();
        v.reserve(cap);
        v
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(self.heap.len(), |m| m.len)
    }

    /// True if there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values the array holds before it has to grow.
    pub fn capacity(&self) -> usize {
        self.map.as_ref().map_or(self.heap.capacity(), Mapped::capacity)
    }

    /// True if the values live in a map of their own rather than on the heap.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Makes room for at least `extra` more values.
    pub fn reserve(&mut self, extra: usize) {
        let len = self.len();
        let Some(needed) = len.checked_add(extra) else {
            // What `Vec` does with an impossible size: report it and stop.
            self.heap.reserve(extra);
            return;
        };
        if needed <= self.capacity() {
            return;
        }
        let cap = needed.max(self.capacity().saturating_mul(2));
        if cap.saturating_mul(size_of::<T>()) >= MAP_THRESHOLD {
            if let Some(mut new) = Mapped::with_capacity(cap) {
                // SAFETY: the new map holds `cap >= len` values and does not overlap
                // the old storage, whose first `len` values are initialized.
                unsafe { std::ptr::copy_nonoverlapping(self.as_ptr(), new.ptr_mut(), len) };
                new.len = len;
                self.map = Some(new);
                self.heap = Vec::new();
                return;
            }
        }
        if let Some(old) = self.map.take() {
            let mut heap = Vec::with_capacity(cap);
            // SAFETY: as above, into a heap buffer of `cap >= len` values.
            unsafe {
                std::ptr::copy_nonoverlapping(old.ptr(), heap.as_mut_ptr(), len);
                heap.set_len(len);
            }
            self.heap = heap;
        } else {
            self.heap.reserve(cap - len);
        }
    }

    /// Appends `value`.
    #[inline]
    pub fn push(&mut self, value: T) {
        self.extend_from_slice(std::slice::from_ref(&value));
    }

    /// Appends `values`.
    #[inline]
    pub fn extend_from_slice(&mut self, values: &[T]) {
        if self.capacity() - self.len() < values.len() {
            self.reserve(values.len());
        }
        match &mut self.map {
            None => self.heap.extend_from_slice(values),
            Some(m) => {
                // SAFETY: `reserve` left room for `values` after the `len` initialized
                // values, and `values` cannot alias a map this array owns exclusively.
                unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), m.ptr_mut().add(m.len), values.len()) };
                m.len += values.len();
            }
        }
    }

    /// Removes every value, keeping the storage.
    pub fn clear(&mut self) {
        self.heap.clear();
        if let Some(m) = &mut self.map {
            m.len = 0;
        }
    }

    /// Shortens the array to `len` values (no effect if it is not longer).
    pub fn truncate(&mut self, len: usize) {
        self.heap.truncate(len);
        if let Some(m) = &mut self.map {
            m.len = m.len.min(len);
        }
    }

    /// The values as a `Vec`: free for a heap array, a copy for a mapped one.
    pub fn into_vec(self) -> Vec<T> {
        match &self.map {
            None => self.heap,
            Some(_) => self.to_vec(),
        }
    }
}

impl LargeVec<u8> {
    /// `len` zero bytes. A mapped array gets them from the kernel's zeroed pages, with
    /// no write until a byte is set.
    pub fn zeroed(len: usize) -> Self {
        if len >= MAP_THRESHOLD {
            if let Some(mut m) = Mapped::with_capacity(len) {
                // Anonymous maps are zero-filled, and zero is a valid `u8`.
                m.len = len;
                return LargeVec { heap: Vec::new(), map: Some(m) };
            }
        }
        LargeVec { heap: vec![0; len], map: None }
    }
}

impl<T: Copy> Default for LargeVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> Deref for LargeVec<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.map {
            None => &self.heap,
            // SAFETY: the map is page-aligned (enough for `T`, see `FITS_A_MAP`), holds
            // `capacity >= len` values, and its first `len` values were written.
            Some(m) => unsafe { std::slice::from_raw_parts(m.ptr(), m.len) },
        }
    }
}

impl<T: Copy> DerefMut for LargeVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.map {
            None => &mut self.heap,
            // SAFETY: as in `deref`, and `&mut self` makes the borrow exclusive.
            Some(m) => unsafe { std::slice::from_raw_parts_mut(m.ptr_mut(), m.len) },
        }
    }
}

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for LargeVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_heap_into_a_map_keeping_every_value() {
        let mut v = LargeVec::new();
        let mut model = Vec::new();
        for i in 0..100_000u64 {
            v.push(i * 7);
            model.push(i * 7);
            if i == 1000 {
                assert!(!v.is_mapped(), "8 KB stays on the heap");
            }
        }
        assert!(v.is_mapped(), "800 KB is mapped");
        assert_eq!(&v[..], &model[..]);
        v.extend_from_slice(&[1, 2, 3]);
        model.extend_from_slice(&[1, 2, 3]);
        assert_eq!(&v[..], &model[..]);
        v[5] = 99;
        model[5] = 99;
        assert_eq!(v.into_vec(), model);
    }

    #[test]
    fn truncate_clear_and_reserve_behave_like_vec() {
        let mut v: LargeVec<u32> = LargeVec::with_capacity(MAP_THRESHOLD / 4);
        assert!(v.is_mapped() && v.is_empty() && v.capacity() >= MAP_THRESHOLD / 4);
        v.extend_from_slice(&[1, 2, 3, 4]);
        v.truncate(10);
        assert_eq!(&v[..], &[1, 2, 3, 4]);
        v.truncate(2);
        assert_eq!(&v[..], &[1, 2]);
        v.clear();
        assert!(v.is_empty());
        let mut small: LargeVec<u32> = LargeVec::with_capacity(10);
        assert!(!small.is_mapped());
        small.push(5);
        small.truncate(0);
        assert!(small.is_empty());
        assert_eq!(format!("{:?}", LargeVec::<u8>::zeroed(3)), "[0, 0, 0]");
    }

    #[test]
    fn zeroed_bytes_are_zero_and_writable_on_heap_and_in_a_map() {
        for len in [0, 10, MAP_THRESHOLD - 1, MAP_THRESHOLD, 3 * MAP_THRESHOLD + 5] {
            let mut v = LargeVec::zeroed(len);
            assert_eq!(v.len(), len);
            assert_eq!(v.is_mapped(), len >= MAP_THRESHOLD);
            assert!(v.iter().all(|&b| b == 0));
            v.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
            v.push(7);
            assert!(v.iter().take(len).enumerate().all(|(i, &b)| b == i as u8));
            assert_eq!(v.last(), Some(&7));
        }
    }
}
