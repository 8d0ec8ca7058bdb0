//! [`KeyBuf`]: a growable byte string that keeps short keys in place.
//!
//! A cursor made for one seek (the common "seek and read one entry") builds a handful
//! of keys: the internal seek target, the key each block cursor puts together, the
//! target a merge keeps for its deferred sources, the user key whose older versions the
//! cursor skips. As `Vec`s those were five of the fourteen allocations of such a seek,
//! and allocating and freeing were a fifth of its instructions. Keys of up to
//! [`KeyBuf::INLINE`] bytes (an internal key of a 56-byte user key) now live inside the
//! cursor; a longer one moves the buffer to the heap for good, as a `Vec` would grow.
//!
//! Promises: it behaves as a `Vec<u8>` restricted to `clear`, `truncate` and
//! `extend_from_slice`, and reads as the same bytes.

use std::ops::Deref;

/// A byte string stored inline up to [`KeyBuf::INLINE`] bytes, on the heap beyond.
#[derive(Clone)]
pub struct KeyBuf {
    /// Bytes in use of `inline`, while `heap` is `None`.
    len: usize,
    inline: [u8; KeyBuf::INLINE],
    /// The contents once they outgrew `inline`; from then on every byte lives here.
    heap: Option<Vec<u8>>,
}

impl KeyBuf {
    /// Bytes kept without allocating.
    pub const INLINE: usize = 64;

    /// An empty buffer.
    pub const fn new() -> KeyBuf {
        KeyBuf { len: 0, inline: [0; KeyBuf::INLINE], heap: None }
    }

    /// A buffer holding `bytes`.
    pub fn from_slice(bytes: &[u8]) -> KeyBuf {
        let mut buf = KeyBuf::new();
        buf.extend_from_slice(bytes);
        buf
    }

    /// Drops every byte (a heap buffer keeps its capacity).
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Keeps the first `len` bytes (all of them if there are fewer).
    pub fn truncate(&mut self, len: usize) {
        match &mut self.heap {
            Some(v) => v.truncate(len),
            None => self.len = self.len.min(len),
        }
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if let Some(v) = &mut self.heap {
            v.extend_from_slice(bytes);
            return;
        }
        let end = self.len + bytes.len();
        if let Some(room) = self.inline.get_mut(self.len..end) {
            room.copy_from_slice(bytes);
            self.len = end;
            return;
        }
        let mut v = Vec::with_capacity(end.max(2 * KeyBuf::INLINE));
        v.extend_from_slice(&self.inline[..self.len]);
        v.extend_from_slice(bytes);
        self.heap = Some(v);
    }
}

impl Default for KeyBuf {
    fn default() -> KeyBuf {
        KeyBuf::new()
    }
}

impl Deref for KeyBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.heap {
            Some(v) => v,
            None => &self.inline[..self.len],
        }
    }
}

impl std::fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    #[test]
    fn behaves_as_a_vec_across_the_inline_limit() {
        let mut rng = Rng::new(11);
        for _ in 0..200 {
            let (mut buf, mut model) = (KeyBuf::new(), Vec::new());
            for _ in 0..40 {
                match rng.next_u64() % 4 {
                    0 => {
                        let n = (rng.next_u64() % 40) as usize;
                        let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                        buf.extend_from_slice(&bytes);
                        model.extend_from_slice(&bytes);
                    }
                    1 => {
                        let n = (rng.next_u64() % 100) as usize;
                        buf.truncate(n);
                        model.truncate(n);
                    }
                    2 if rng.next_u64() % 4 == 0 => {
                        buf.clear();
                        model.clear();
                    }
                    _ => {}
                }
                assert_eq!(&buf[..], &model[..]);
            }
        }
    }

    #[test]
    fn short_keys_stay_inline_and_long_ones_move_to_the_heap_once() {
        let mut buf = KeyBuf::from_slice(&[1; KeyBuf::INLINE]);
        assert!(buf.heap.is_none(), "exactly INLINE bytes fit");
        buf.extend_from_slice(&[2]);
        assert!(buf.heap.is_some());
        assert_eq!(buf.len(), KeyBuf::INLINE + 1);
        assert_eq!(buf[KeyBuf::INLINE], 2);
        buf.clear();
        buf.extend_from_slice(b"short");
        assert!(buf.heap.is_some(), "it keeps the heap buffer, as a Vec keeps its capacity");
        assert_eq!(&buf[..], b"short");
    }
}
