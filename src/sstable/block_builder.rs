//! [`BlockBuilder`]: builds the sorted, prefix-compressed blocks that hold an SSTable's
//! entries (data blocks) and its block index (index block).
//!
//! Keys share prefixes with their predecessors, so each entry stores only what differs.
//! Every `restart_interval` entries the sharing restarts (a *restart point*: the full
//! key is stored), which lets a reader binary-search the restart points and then scan
//! at most `restart_interval` entries.
//!
//! ```text
//! block    := entry* restart* num_restarts
//! entry    := shared: varint32 | non_shared: varint32 | value_len: varint32
//!             | key_delta: [u8; non_shared] | key_trailer? | value: [u8; value_len]
//! restart  := u32 LE, offset of an entry whose `shared` is 0
//! num_restarts := u32 LE (at least 1)
//! ```
//!
//! Blocks of [`KeyFormat::Internal`] (every block of a table since format version 2)
//! hold internal keys and store them in two parts: prefix sharing covers the user key
//! only, and the 8-byte trailer (seqno << 8 | kind) follows the key delta as
//! `key_trailer: varint64`. Seqnos are small numbers, so the trailer takes 3–5 bytes
//! instead of 8; being nearly random within a block, it is the one part of an entry
//! that block compression cannot shrink. [`KeyFormat::Plain`] blocks (format version
//! 1) store the whole key and have no `key_trailer`.
//!
//! On disk every block is followed by a 5-byte trailer (see [`super::format`]).

use crate::key::{user_key, TRAILER_LEN};
use crate::util::coding::{common_prefix_len, encode_varint64};
use crate::util::large_vec::{LargeVec, MAP_THRESHOLD};

/// How a block stores its keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyFormat {
    /// Keys are opaque bytes, prefix-shared whole.
    Plain,
    /// Keys are internal keys: the user key is prefix-shared, the trailer a varint.
    /// What tables write.
    #[default]
    Internal,
}

impl KeyFormat {
    /// Bytes of a key that prefix sharing may cover.
    fn shareable(self, key: &[u8]) -> &[u8] {
        match self {
            KeyFormat::Plain => key,
            KeyFormat::Internal => user_key(key),
        }
    }
}

/// Builds one block; `finish` returns its bytes.
pub struct BlockBuilder {
    /// A data block is a few KiB, but a large table's index block runs to megabytes:
    /// see [`LargeVec`] for why those stay off the heap.
    buf: LargeVec<u8>,
    restarts: LargeVec<u32>,
    restart_interval: usize,
    counter: usize,
    last_key: Vec<u8>,
    entries: usize,
    format: KeyFormat,
}

impl BlockBuilder {
    /// A builder of [`KeyFormat::Plain`] blocks that restarts prefix sharing every
    /// `restart_interval` entries.
    pub fn new(restart_interval: usize) -> Self {
        Self::with_key_format(restart_interval, KeyFormat::Plain)
    }

    /// A builder of blocks that store keys as `format` says.
    pub fn with_key_format(restart_interval: usize, format: KeyFormat) -> Self {
        BlockBuilder {
            format,
            buf: LargeVec::new(),
            restarts: first_restart(),
            restart_interval: restart_interval.max(1),
            counter: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Adds an entry; keys must be added in increasing order, and be internal keys
    /// (at least 8 bytes) in an [`KeyFormat::Internal`] block.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let stored = self.format.shareable(key);
        let shared = if self.counter < self.restart_interval {
            common_prefix_len(stored, self.format.shareable(&self.last_key))
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let mut head = [0u8; 15];
        let mut n = encode_varint64(&mut head, shared as u64);
        n += encode_varint64(&mut head[n..], (stored.len() - shared) as u64);
        n += encode_varint64(&mut head[n..], value.len() as u64);
        self.buf.extend_from_slice(&head[..n]);
        self.buf.extend_from_slice(&stored[shared..]);
        if self.format == KeyFormat::Internal {
            let trailer = &key[stored.len()..];
            let mut t = [0u8; TRAILER_LEN];
            t[..trailer.len()].copy_from_slice(trailer);
            let mut varint = [0u8; 10];
            let n = encode_varint64(&mut varint, u64::from_le_bytes(t));
            self.buf.extend_from_slice(&varint[..n]);
        }
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
        self.entries += 1;
    }

    /// Size the block would have if finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + self.restarts.len() * 4 + 4
    }

    /// True if no entry was added since the last `finish`.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key added.
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends the restart array, returns the block, and resets the builder.
    pub fn finish(&mut self) -> LargeVec<u8> {
        // The next block starts with room for as much as this one took: growing from
        // empty would reallocate (and copy) about a dozen times per block. Not past the
        // heap's range, though: after one huge entry every later block would be a map.
        let room = self.buf.capacity().min(MAP_THRESHOLD / 2);
        let mut out = std::mem::replace(&mut self.buf, LargeVec::with_capacity(room));
        out.reserve(self.restarts.len() * 4 + 4);
        for r in self.restarts.iter() {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
        out
    }
}

/// The restart array of an empty block: its first entry is a restart point.
fn first_restart() -> LargeVec<u32> {
    let mut r = LargeVec::new();
    r.push(0);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_blocks_are_mapped_and_do_not_make_later_blocks_so() {
        let mut b = BlockBuilder::new(16);
        b.add(b"big", &vec![7u8; 1 << 20]);
        let big = b.finish();
        assert!(big.is_mapped(), "a megabyte block stays off the heap");
        assert!(!b.buf.is_mapped(), "the next block starts on the heap");
        b.add(b"small", b"v");
        assert!(!b.finish().is_mapped());
        // Restart array and count come after the entries, as for a small block.
        let n = big.len();
        assert_eq!(&big[n - 8..], &[0, 0, 0, 0, 1, 0, 0, 0]);
    }
}
