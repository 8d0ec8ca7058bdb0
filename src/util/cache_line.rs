//! [`OwnLines`]: a value on cache lines of its own.
//!
//! A field that one thread writes on every operation (a writer's lock, a bump pointer)
//! and a field that readers load on every operation (a list's head, an index's
//! geometry) that happen to share a cache line make every write cost every reader a
//! cache miss, the line moving between cores for nothing (false sharing). Wrapping the
//! written fields keeps them apart: 128 bytes, because x86 cores fetch lines in
//! adjacent pairs.

use std::ops::Deref;

/// `T` aligned to, and padded to a multiple of, 128 bytes: no other value shares its
/// cache lines.
#[repr(align(128))]
pub(crate) struct OwnLines<T>(pub T);

impl<T> Deref for OwnLines<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::OwnLines;

    #[test]
    fn values_around_it_stay_off_its_lines() {
        struct Beside {
            _before: u8,
            written: OwnLines<std::sync::atomic::AtomicU64>,
            _after: u8,
        }
        assert_eq!(std::mem::align_of::<OwnLines<u8>>(), 128);
        assert_eq!(std::mem::size_of::<OwnLines<u8>>(), 128);
        let b = Beside { _before: 1, written: OwnLines(0.into()), _after: 2 };
        assert_eq!(&b.written as *const _ as usize % 128, 0);
        assert!(std::mem::size_of::<Beside>() >= 256);
    }
}
