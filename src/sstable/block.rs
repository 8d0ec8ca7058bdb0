//! [`Block`] and [`BlockIter`]: reading the blocks laid out by
//! [`super::block_builder::BlockBuilder`].
//!
//! Every length and offset read from a block is checked against the block's bounds: a
//! damaged block makes the iterator invalid with `Error::Corruption` naming the file and
//! the block's offset, never a panic or an out-of-bounds read.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::coding::{get_varint32, read_u32};
use crate::error::{Error, Result};
use crate::iter::InternalIterator;

/// Compares two keys of a block. Data and index blocks hold internal keys; the
/// comparison is a plain function so blocks stay independent of what they store.
pub type KeyCmp = fn(&[u8], &[u8]) -> Ordering;

/// A decoded block: its bytes, where its restart array starts, and where it came from.
pub struct Block {
    data: Bytes,
    restarts_offset: usize,
    num_restarts: usize,
    /// The file and offset, for error messages.
    origin: Arc<str>,
    offset: u64,
}

impl Block {
    /// Checks the restart array of `data` and wraps it. `origin` names the file and
    /// `offset` is the block's position in it (both only for error messages).
    pub fn new(data: Bytes, origin: Arc<str>, offset: u64) -> Result<Block> {
        let corrupt = |what: &str| Error::corruption(&origin, Some(offset), format!("block {what}"));
        let len = data.len();
        let num_restarts = read_u32(&data, len.wrapping_sub(4)).ok_or_else(|| corrupt("too short"))? as usize;
        let restarts_len = num_restarts.checked_mul(4).and_then(|n| n.checked_add(4));
        let restarts_offset = match restarts_len {
            Some(n) if n <= len && num_restarts > 0 => len - n,
            _ => return Err(corrupt("restart count out of range")),
        };
        Ok(Block { data, restarts_offset, num_restarts, origin, offset })
    }

    /// Bytes of the block, for cache accounting.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    fn restart(&self, i: usize) -> usize {
        read_u32(&self.data, self.restarts_offset + i * 4).unwrap_or(u32::MAX) as usize
    }

    /// A cursor over the block's entries.
    pub fn iter(self: &Arc<Self>, cmp: KeyCmp) -> BlockIter {
        BlockIter {
            block: self.clone(),
            cmp,
            current: self.restarts_offset,
            next_offset: self.restarts_offset,
            restart_index: 0,
            key: Vec::new(),
            value: (0, 0),
            err: None,
        }
    }
}

/// An [`InternalIterator`] over one block.
pub struct BlockIter {
    block: Arc<Block>,
    cmp: KeyCmp,
    /// Offset of the current entry; `restarts_offset` when not valid.
    current: usize,
    /// Offset of the entry after the current one.
    next_offset: usize,
    /// The restart point at or before `current`.
    restart_index: usize,
    key: Vec<u8>,
    value: (usize, usize),
    err: Option<Error>,
}

impl BlockIter {
    fn limit(&self) -> usize {
        self.block.restarts_offset
    }

    fn corrupt(&mut self, what: &str) {
        if self.err.is_none() {
            let b = &self.block;
            self.err = Some(Error::corruption(&b.origin, Some(b.offset), format!("bad block entry: {what}")));
        }
        self.current = self.limit();
        self.next_offset = self.limit();
        self.key.clear();
    }

    /// Decodes the entry at `next_offset` into key/value; false at the end or on damage.
    fn parse_next(&mut self) -> bool {
        self.current = self.next_offset;
        if self.current >= self.limit() {
            self.current = self.limit();
            return false;
        }
        let data = &self.block.data[..self.limit()];
        let mut p = self.current;
        let mut field = || -> Option<usize> {
            let (v, n) = get_varint32(data.get(p..)?)?;
            p += n;
            Some(v as usize)
        };
        let (Some(shared), Some(non_shared), Some(value_len)) = (field(), field(), field()) else {
            self.corrupt("truncated header");
            return false;
        };
        let end = p.checked_add(non_shared).and_then(|e| e.checked_add(value_len));
        if shared > self.key.len() || end.is_none_or(|e| e > data.len()) {
            self.corrupt("lengths out of range");
            return false;
        }
        self.key.truncate(shared);
        self.key.extend_from_slice(&data[p..p + non_shared]);
        self.value = (p + non_shared, p + non_shared + value_len);
        self.next_offset = self.value.1;
        while self.restart_index + 1 < self.block.num_restarts
            && self.block.restart(self.restart_index + 1) <= self.current
        {
            self.restart_index += 1;
        }
        true
    }

    fn seek_to_restart(&mut self, index: usize) {
        self.key.clear();
        self.restart_index = index;
        let offset = self.block.restart(index);
        if offset > self.limit() {
            self.corrupt("restart offset out of range");
            return;
        }
        self.next_offset = offset;
    }

    /// The full key stored at restart point `index` (which must not share a prefix).
    fn restart_key(&self, index: usize) -> Option<&[u8]> {
        let data = &self.block.data[..self.limit()];
        let mut p = self.block.restart(index);
        let mut field = || -> Option<usize> {
            let (v, n) = get_varint32(data.get(p..)?)?;
            p += n;
            Some(v as usize)
        };
        let (shared, non_shared, _) = (field()?, field()?, field()?);
        if shared != 0 {
            return None;
        }
        data.get(p..p.checked_add(non_shared)?)
    }
}

impl BlockIter {
    /// The current value as a zero-copy slice of the block.
    pub fn value_bytes(&self) -> Bytes {
        if self.valid() {
            self.block.data.slice(self.value.0..self.value.1)
        } else {
            Bytes::new()
        }
    }
}

impl InternalIterator for BlockIter {
    fn valid(&self) -> bool {
        self.current < self.limit() && self.err.is_none()
    }

    fn seek_to_first(&mut self) {
        self.seek_to_restart(0);
        self.parse_next();
    }

    fn seek_to_last(&mut self) {
        self.seek_to_restart(self.block.num_restarts - 1);
        while self.parse_next() && self.next_offset < self.limit() {}
    }

    fn seek(&mut self, target: &[u8]) {
        // Binary search for the last restart point whose key is < target.
        let (mut lo, mut hi) = (0usize, self.block.num_restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            match self.restart_key(mid) {
                Some(k) if (self.cmp)(k, target) == Ordering::Less => lo = mid,
                Some(_) => hi = mid - 1,
                None => {
                    self.corrupt("bad restart entry");
                    return;
                }
            }
        }
        self.seek_to_restart(lo);
        while self.parse_next() {
            if (self.cmp)(&self.key, target) != Ordering::Less {
                return;
            }
        }
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if !self.valid() {
            if self.err.is_none() {
                self.seek_to_last();
            }
        } else if (self.cmp)(&self.key, target) == Ordering::Greater {
            self.prev();
        }
    }

    fn next(&mut self) {
        if self.valid() {
            self.parse_next();
        }
    }

    fn prev(&mut self) {
        if !self.valid() {
            return;
        }
        let original = self.current;
        // Back up to a restart point strictly before the current entry.
        let mut index = self.restart_index;
        while self.block.restart(index) >= original {
            if index == 0 {
                // Already at the first entry.
                self.current = self.limit();
                self.next_offset = self.limit();
                return;
            }
            index -= 1;
        }
        self.seek_to_restart(index);
        while self.parse_next() && self.next_offset < original {}
    }

    fn key(&self) -> &[u8] {
        if self.valid() {
            &self.key
        } else {
            &[]
        }
    }

    fn value(&self) -> &[u8] {
        if self.valid() {
            &self.block.data[self.value.0..self.value.1]
        } else {
            &[]
        }
    }

    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::block_builder::BlockBuilder;
    use super::*;

    fn build(keys: &[String], interval: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(interval);
        for k in keys {
            b.add(k.as_bytes(), format!("v-{k}").as_bytes());
        }
        Arc::new(Block::new(Bytes::from(b.finish()), "test.sst".into(), 0).unwrap())
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("key{:05}", i * 2)).collect()
    }

    #[test]
    fn round_trip_for_every_restart_interval() {
        for interval in [1, 2, 3, 16, 1000] {
            for n in [1, 2, 15, 16, 17, 100] {
                let ks = keys(n);
                let block = build(&ks, interval);
                let mut it = block.iter(<[u8]>::cmp);
                it.seek_to_first();
                for k in &ks {
                    assert!(it.valid());
                    assert_eq!(it.key(), k.as_bytes());
                    assert_eq!(it.value(), format!("v-{k}").as_bytes());
                    it.next();
                }
                assert!(!it.valid());
                it.status().unwrap();
                // Backwards.
                it.seek_to_last();
                for k in ks.iter().rev() {
                    assert_eq!(it.key(), k.as_bytes(), "interval {interval} n {n}");
                    it.prev();
                }
                assert!(!it.valid());
                // Seeks to every key and between keys.
                for (i, k) in ks.iter().enumerate() {
                    it.seek(k.as_bytes());
                    assert_eq!(it.key(), k.as_bytes());
                    let between = format!("key{:05}", i * 2 + 1);
                    it.seek(between.as_bytes());
                    match ks.get(i + 1) {
                        Some(next) => assert_eq!(it.key(), next.as_bytes()),
                        None => assert!(!it.valid()),
                    }
                    it.seek_for_prev(between.as_bytes());
                    assert_eq!(it.key(), k.as_bytes());
                }
                it.seek(b"a");
                assert_eq!(it.key(), ks[0].as_bytes());
                it.seek_for_prev(b"a");
                assert!(!it.valid());
            }
        }
    }

    #[test]
    fn empty_block_has_no_entries() {
        let block = build(&[], 16);
        let mut it = block.iter(<[u8]>::cmp);
        it.seek_to_first();
        assert!(!it.valid());
        it.seek_to_last();
        assert!(!it.valid());
        it.seek(b"x");
        assert!(!it.valid());
        it.status().unwrap();
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        assert!(Block::new(Bytes::from_static(&[1, 2]), "f".into(), 0).is_err());
        assert!(Block::new(Bytes::from_static(&[255, 255, 255, 255]), "f".into(), 0).is_err());
        assert!(Block::new(Bytes::from_static(&[0, 0, 0, 0]), "f".into(), 0).is_err());
        let good = {
            let mut b = BlockBuilder::new(4);
            for k in keys(40) {
                b.add(k.as_bytes(), b"value");
            }
            b.finish()
        };
        // Flip every byte in turn: iterating must either succeed or report corruption.
        for i in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                let Ok(block) = Block::new(Bytes::from(bad), "x.sst".into(), 7) else { continue };
                let block = Arc::new(block);
                let mut it = block.iter(<[u8]>::cmp);
                let mut steps = 0;
                it.seek_to_first();
                while it.valid() && steps < 1000 {
                    it.next();
                    steps += 1;
                }
                it.seek_to_last();
                while it.valid() && steps < 2000 {
                    it.prev();
                    steps += 1;
                }
                it.seek(b"key00040");
                assert!(steps < 2000, "no infinite loop");
                if let Err(e) = it.status() {
                    assert!(e.to_string().contains("x.sst at offset 7"), "{e}");
                }
            }
        }
    }
}
