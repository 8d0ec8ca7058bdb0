//! [`Block`] and [`BlockIter`]: reading the blocks laid out by
//! [`super::block_builder::BlockBuilder`].
//!
//! Every length and offset read from a block is checked against the block's bounds: a
//! damaged block makes the iterator invalid with `Error::Corruption` naming the file and
//! the block's offset, never a panic or an out-of-bounds read.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::block_builder::KeyFormat;
use crate::cache::Charge;
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::key::{self, compare_internal, compare_user_keys};
use crate::util::coding::{common_prefix_len, get_varint32, get_varint64, read_u32, varint_len};
use crate::util::prefetch::prefetch;

/// Compares two keys of a block. Data and index blocks hold internal keys; the
/// comparison is a plain function so blocks stay independent of what they store.
pub(crate) type KeyCmp = fn(&[u8], &[u8]) -> Ordering;

/// A decoded block: its bytes, where its restart array starts, and where it came from.
pub struct Block {
    data: Bytes,
    restarts_offset: usize,
    num_restarts: usize,
    /// The file and offset, for error messages.
    origin: Arc<str>,
    offset: u64,
    format: KeyFormat,
}

impl Charge for Block {
    fn charge(&self) -> usize {
        self.size()
    }
}

impl Block {
    /// Checks the restart array of `data`, a [`KeyFormat::Plain`] block, and wraps it.
    /// `origin` names the file and `offset` is the block's position in it (both only
    /// for error messages).
    pub fn new(data: Bytes, origin: Arc<str>, offset: u64) -> Result<Block> {
        Self::with_key_format(data, KeyFormat::Plain, origin, offset)
    }

    /// Like [`Block::new`], for a block whose keys are stored as `format` says.
    pub fn with_key_format(data: Bytes, format: KeyFormat, origin: Arc<str>, offset: u64) -> Result<Block> {
        let corrupt = |what: &str| Error::corruption(&origin, Some(offset), format!("block {what}"));
        let len = data.len();
        let num_restarts = read_u32(&data, len.wrapping_sub(4)).ok_or_else(|| corrupt("too short"))? as usize;
        let restarts_len = num_restarts.checked_mul(4).and_then(|n| n.checked_add(4));
        let restarts_offset = match restarts_len {
            Some(n) if n <= len && num_restarts > 0 => len - n,
            _ => return Err(corrupt("restart count out of range")),
        };
        Ok(Block { data, restarts_offset, num_restarts, origin, offset, format })
    }

    /// Bytes of the block.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    fn restart(&self, i: usize) -> usize {
        read_u32(&self.data, self.restarts_offset + i * 4).unwrap_or(u32::MAX) as usize
    }

    /// Starts loading the cache lines of restart interval `i` (from `start`, its first
    /// entry). A block found in the block cache is usually cold in the CPU cache, and a
    /// scan that parses entry after entry would take its misses one at a time.
    fn prefetch_interval(&self, i: usize, start: usize) {
        let end = if i + 1 < self.num_restarts { self.restart(i + 1) } else { self.restarts_offset };
        let end = end.min(self.restarts_offset);
        let base = self.data.as_ptr();
        for at in (start..end).step_by(64) {
            prefetch(base.wrapping_add(at));
        }
        if end > start {
            prefetch(base.wrapping_add(end - 1));
        }
    }

    /// A cursor over the block's entries, which are in `cmp` order. A
    /// [`KeyFormat::Internal`] block holds internal keys, so `cmp` must be
    /// [`crate::key::compare_internal`]; its restart points are compared in place with
    /// that order.
    pub fn iter(self: &Arc<Self>, cmp: KeyCmp) -> BlockIter {
        BlockIter {
            block: self.clone(),
            cmp,
            current: self.restarts_offset,
            next_offset: self.restarts_offset,
            // Allocated on first use (`reserve_key`): a merge seeking to one key leaves
            // most sources' index cursors unused.
            key: Vec::new(),
            user_len: 0,
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
    key: Vec<u8>,
    /// Bytes of `key` that the next entry may share: all of it in a
    /// [`KeyFormat::Plain`] block, the user key in a [`KeyFormat::Internal`] one.
    user_len: usize,
    value: (usize, usize),
    err: Option<Error>,
}

/// An entry's header and key parts, as laid out at some offset of a block.
struct RawEntry {
    shared: usize,
    /// The stored key bytes after the shared prefix.
    delta: (usize, usize),
    /// Where the internal-key trailer's varint starts, in [`KeyFormat::Internal`]
    /// blocks. It is decoded only when needed: a seek steps over most entries on the
    /// strength of their user keys alone, and the 3- to 10-byte varints were a tenth
    /// of a cached get.
    trailer_at: Option<usize>,
    value: (usize, usize),
}

impl Block {
    /// Decodes the entry at `p` (bounds-checked against the restart array).
    // Inlined into its two callers: as a call, saving registers and passing the entry
    // back through memory cost a third of its instructions (a cached get -4.6%).
    #[inline(always)]
    fn entry_at(&self, mut p: usize) -> Option<RawEntry> {
        let data = &self.data[..self.restarts_offset];
        let (shared, non_shared, value_len) = match data.get(p..p + 3) {
            // Nearly every header is three one-byte varints (LevelDB's fast path too).
            Some(&[a, b, c]) if (a | b | c) < 0x80 => {
                p += 3;
                (usize::from(a), usize::from(b), usize::from(c))
            }
            _ => {
                let mut field = || -> Option<usize> {
                    let (v, n) = get_varint32(data.get(p..)?)?;
                    p += n;
                    Some(v as usize)
                };
                (field()?, field()?, field()?)
            }
        };
        let delta = (p, p.checked_add(non_shared)?);
        p = delta.1;
        let trailer_at = match self.format {
            KeyFormat::Plain => None,
            KeyFormat::Internal => {
                let at = p;
                p += varint_len(data.get(p..)?)?;
                Some(at)
            }
        };
        let value = (p, p.checked_add(value_len)?);
        (value.1 <= data.len()).then_some(RawEntry { shared, delta, trailer_at, value })
    }

    /// Decodes the trailer varint at `at` (an offset [`Block::entry_at`] found).
    fn trailer_at(&self, at: usize) -> Option<u64> {
        get_varint64(self.data.get(at..self.restarts_offset)?).map(|(t, _)| t)
    }

    fn corruption(&self, what: &str) -> Error {
        Error::corruption(&self.origin, Some(self.offset), format!("bad block entry: {what}"))
    }

    /// The trailer of entry `e` of a [`KeyFormat::Internal`] block.
    fn entry_trailer(&self, e: &RawEntry) -> Result<u64> {
        e.trailer_at.and_then(|t| self.trailer_at(t)).ok_or_else(|| self.corruption("bad key trailer"))
    }

    /// Binary search for the last restart point whose key `cmp` orders below the
    /// target (the first if none is); `None` if `cmp` finds a restart entry damaged.
    ///
    /// Each step first starts loading the keys of both steps that may follow, so that
    /// in a big block (a table's index) the next step's cache miss overlaps this one's
    /// comparison instead of following it.
    fn last_restart_before(&self, mut cmp: impl FnMut(usize) -> Option<Ordering>) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.num_restarts - 1);
        let base = self.data.as_ptr();
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if hi - lo > 2 {
                prefetch(base.wrapping_add(self.restart((lo + mid - 1).div_ceil(2))));
                prefetch(base.wrapping_add(self.restart((mid + hi).div_ceil(2))));
            }
            match cmp(mid)? {
                Ordering::Less => lo = mid,
                _ => hi = mid - 1,
            }
        }
        Some(lo)
    }

    /// Orders the key at restart point `index` (which must not share a prefix) against
    /// the internal key (`user_key`, `trailer`), in a [`KeyFormat::Internal`] block.
    fn compare_restart(&self, index: usize, user_key: &[u8], trailer: u64) -> Option<Ordering> {
        let e = self.entry_at(self.restart(index))?;
        if e.shared != 0 {
            return None;
        }
        Some(match compare_user_keys(&self.data[e.delta.0..e.delta.1], user_key) {
            // User keys ascending, then trailers descending.
            Ordering::Equal => trailer.cmp(&self.trailer_at(e.trailer_at?)?),
            ord => ord,
        })
    }

    /// Finds the first entry at or after the internal key (`user_key`, `trailer`) in a
    /// [`KeyFormat::Internal`] block; `None` if every entry is before it.
    ///
    /// No key is put together on the way. After a binary search over the restart
    /// points, the scan keeps `matched`, how many leading bytes of the previous user
    /// key equal the target's; that key was below the target, so unless it ended there
    /// its next byte was smaller. An entry sharing more than `matched` bytes with it has
    /// that same smaller byte and is skipped on its header alone; any other entry's user
    /// key is the target's first `shared` bytes followed by its stored suffix, which is
    /// compared with the rest of the target. The trailer is decoded only on a tie.
    fn seek_internal(&self, user_key: &[u8], trailer: u64) -> Result<Option<SeekHit>> {
        let lo = self
            .last_restart_before(|i| self.compare_restart(i, user_key, trailer))
            .ok_or_else(|| self.corruption("bad restart entry"))?;
        let mut at = self.restart(lo);
        if at > self.restarts_offset {
            return Err(self.corruption("restart offset out of range"));
        }
        self.prefetch_interval(lo, at);
        let (mut matched, mut prev_len) = (0, 0);
        while at < self.restarts_offset {
            let e = self.entry_at(at).ok_or_else(|| self.corruption("truncated entry"))?;
            if e.shared > prev_len {
                return Err(self.corruption("shared prefix longer than the previous key"));
            }
            let suffix = &self.data[e.delta.0..e.delta.1];
            prev_len = e.shared + suffix.len();
            if e.shared <= matched {
                let rest = &user_key[e.shared..];
                let common = common_prefix_len(suffix, rest);
                let (ord, same_user_key) = match (suffix.get(common), rest.get(common)) {
                    (Some(a), Some(b)) => (a.cmp(b), false),
                    (Some(_), None) => (Ordering::Greater, false),
                    (None, Some(_)) => (Ordering::Less, false),
                    (None, None) => (trailer.cmp(&self.entry_trailer(&e)?), true),
                };
                if ord != Ordering::Less {
                    return Ok(Some(SeekHit { at, entry: e, same_user_key }));
                }
                matched = e.shared + common;
            }
            at = e.value.1;
        }
        Ok(None)
    }

    /// The first entry at or after the internal key (`user_key`, `trailer`) in a block
    /// of internal keys (either format), or `None` if every entry is before it: a
    /// point lookup's search, without a cursor or a copy of any key.
    pub(crate) fn seek_entry(self: &Arc<Self>, user_key: &[u8], trailer: u64) -> Result<Option<FoundEntry>> {
        if self.format == KeyFormat::Plain {
            // Tables of format version 1 store whole internal keys: through a cursor.
            let mut target = user_key.to_vec();
            target.extend_from_slice(&trailer.to_le_bytes());
            let mut it = self.iter(compare_internal);
            it.seek(&target);
            it.status()?;
            return Ok(it.valid().then(|| FoundEntry {
                same_key_trailer: (key::user_key(&it.key) == user_key).then(|| key::trailer(&it.key)),
                value: it.value_bytes(),
            }));
        }
        let Some(hit) = self.seek_internal(user_key, trailer)? else { return Ok(None) };
        let same_key_trailer = if hit.same_user_key { Some(self.entry_trailer(&hit.entry)?) } else { None };
        Ok(Some(FoundEntry { same_key_trailer, value: self.data.slice(hit.entry.value.0..hit.entry.value.1) }))
    }
}

/// An entry found by [`Block::seek_entry`].
pub(crate) struct FoundEntry {
    /// The entry's trailer if its user key is the one sought.
    pub(crate) same_key_trailer: Option<u64>,
    /// The entry's value, a slice of the block.
    pub(crate) value: Bytes,
}

/// Where [`Block::seek_internal`] stopped.
struct SeekHit {
    /// Offset of the entry.
    at: usize,
    entry: RawEntry,
    /// Whether the entry's user key is the target's.
    same_user_key: bool,
}

impl BlockIter {
    fn limit(&self) -> usize {
        self.block.restarts_offset
    }

    /// True if the cursor is at the block's one and only entry, of an internal-key
    /// block: a block a compaction may copy whole (see
    /// [`InternalIterator::sole_entry_block`]).
    pub(crate) fn at_sole_entry(&self) -> bool {
        self.block.format == KeyFormat::Internal
            && self.err.is_none()
            && self.current == 0
            && self.next_offset == self.limit()
    }

    /// Gives `key` room for a typical key and its trailer the first time it is
    /// written: growing it from empty cost two allocations per cursor.
    #[inline]
    fn reserve_key(&mut self) {
        if self.key.capacity() == 0 {
            self.key.reserve(64);
        }
    }

    fn corrupt(&mut self, what: &str) {
        if self.err.is_none() {
            self.err = Some(self.block.corruption(what));
        }
        self.current = self.limit();
        self.next_offset = self.limit();
        self.key.clear();
        self.user_len = 0;
    }

    /// Decodes the entry at `next_offset` into key/value; false at the end or on damage.
    fn parse_next(&mut self) -> bool {
        match self.parse_user_key() {
            Some(e) => self.append_trailer(&e),
            None => false,
        }
    }

    /// Steps to the entry at `next_offset` and puts together its user key (for a
    /// [`KeyFormat::Plain`] block, its key) in `key`; `None` at the end or on damage.
    /// Until [`BlockIter::append_trailer`], a [`KeyFormat::Internal`] key lacks its
    /// trailer.
    fn parse_user_key(&mut self) -> Option<RawEntry> {
        self.current = self.next_offset;
        if self.current >= self.limit() {
            self.current = self.limit();
            return None;
        }
        let Some(e) = self.block.entry_at(self.current) else {
            self.corrupt("truncated entry");
            return None;
        };
        if e.shared > self.user_len {
            self.corrupt("shared prefix longer than the previous key");
            return None;
        }
        self.reserve_key();
        self.key.truncate(e.shared);
        self.key.extend_from_slice(&self.block.data[e.delta.0..e.delta.1]);
        self.user_len = self.key.len();
        self.value = e.value;
        self.next_offset = e.value.1;
        Some(e)
    }

    /// Completes the internal key [`BlockIter::parse_user_key`] left in `key`; false
    /// if the trailer is damaged.
    fn append_trailer(&mut self, e: &RawEntry) -> bool {
        let Some(at) = e.trailer_at else { return true };
        match self.block.trailer_at(at) {
            Some(t) => {
                self.key.extend_from_slice(&t.to_le_bytes());
                true
            }
            None => {
                self.corrupt("bad key trailer");
                false
            }
        }
    }

    fn seek_to_restart(&mut self, index: usize) {
        self.key.clear();
        self.user_len = 0;
        let offset = self.block.restart(index);
        if offset > self.limit() {
            self.corrupt("restart offset out of range");
            return;
        }
        self.next_offset = offset;
    }

    /// Compares the key at restart point `index` of a [`KeyFormat::Plain`] block (which
    /// must not share a prefix) with `target`; `None` if the entry is damaged.
    fn compare_restart(&self, index: usize, target: &[u8]) -> Option<Ordering> {
        let e = self.block.entry_at(self.block.restart(index))?;
        (e.shared == 0).then(|| (self.cmp)(&self.block.data[e.delta.0..e.delta.1], target))
    }

    /// Positions a cursor over a [`KeyFormat::Internal`] block with
    /// [`Block::seek_internal`]: the key found is the target's first `shared` bytes and
    /// the entry's stored suffix, so it is put together once, where the scan stopped.
    fn seek_internal(&mut self, target: &[u8]) {
        self.key.clear();
        self.user_len = 0;
        let user_key = key::user_key(target);
        let hit = self.block.seek_internal(user_key, key::trailer(target)).unwrap_or_else(|e| {
            self.err.get_or_insert(e);
            None
        });
        let Some(hit) = hit else {
            self.current = self.limit();
            self.next_offset = self.limit();
            return;
        };
        self.reserve_key();
        self.key.extend_from_slice(&user_key[..hit.entry.shared]);
        self.key.extend_from_slice(&self.block.data[hit.entry.delta.0..hit.entry.delta.1]);
        self.user_len = self.key.len();
        self.current = hit.at;
        self.next_offset = hit.entry.value.1;
        self.value = hit.entry.value;
        self.append_trailer(&hit.entry);
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
        if self.block.format == KeyFormat::Internal {
            self.seek_internal(target);
            return;
        }
        let Some(lo) = self.block.last_restart_before(|i| self.compare_restart(i, target)) else {
            self.corrupt("bad restart entry");
            return;
        };
        self.seek_to_restart(lo);
        while self.parse_next() && (self.cmp)(&self.key, target) == Ordering::Less {}
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
        // Back up to the last restart point strictly before the current entry. It is
        // searched for here rather than tracked on every step forward, which would
        // cost each entry of a scan a look at the restart array.
        let before = {
            let (mut lo, mut hi) = (0, self.block.num_restarts);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.block.restart(mid) < original {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let Some(index) = before.checked_sub(1) else {
            // Already at the first entry.
            self.current = self.limit();
            self.next_offset = self.limit();
            return;
        };
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
mod tests;
