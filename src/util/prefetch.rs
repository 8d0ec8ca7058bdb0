//! CPU cache prefetch hints.
//!
//! A prefetch asks the CPU to start loading a cache line and returns at once, so that
//! independent cache misses overlap instead of following one another: the nodes of a
//! skiplist walk, or the filter lines of every table a lookup may consult.
//!
//! Promises: a hint only. It never faults (any address, even null or dangling, is
//! allowed), reads nothing a program can observe, and changes no result; on targets
//! without a prefetch instruction it does nothing.

/// Starts loading the cache line holding `p` into every cache level.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 does not dereference its operand architecturally and
        // cannot fault, whatever the address (see the module comment and the test).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_is_allowed_and_memory_is_unchanged() {
        let data = vec![7u8; 4096];
        for at in (0..data.len()).step_by(64) {
            prefetch(data.as_ptr().wrapping_add(at));
        }
        // Addresses that must not be touched: null, unmapped, past the allocation.
        prefetch(std::ptr::null::<u8>());
        prefetch(usize::MAX as *const u8);
        prefetch(data.as_ptr().wrapping_add(1 << 40));
        assert!(data.iter().all(|&b| b == 7));
    }
}
