//! [`TableReader`]: opens an SSTable, answers point lookups and hands out iterators.
//!
//! Opening reads and checks the footer, the index block, the filter and the properties,
//! and keeps them in memory. Data blocks are read on demand with positioned reads,
//! checksummed, and kept in the shared [`BlockCache`]. A point lookup consults the bloom
//! filter before touching the index or any data block.
//!
//! Every check names the file and the offset of what failed, so a damaged table reports
//! `Error::Corruption("000012.sst at offset 8192: ...")` instead of panicking or returning
//! wrong data.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;

use super::block::{Block, BlockIter};
use super::buffer_pool::BufferPool;
use super::cache::BlockCache;
use super::cache_fill::CacheFill;
use super::compression::{decompress, Compressed};
use super::filter::{hash64, BloomFilter};
use super::format::{
    block_trailer, BlockHandle, Footer, KeyFormat, TableProperties, FOOTER_LEN, NO_COMPRESSION, TRAILER_LEN,
};
use crate::error::{Error, Result};
use crate::fs::RandomAccessFile;
use crate::iter::InternalIterator;
use crate::key::{compare_internal, pack_trailer, ValueKind, KIND_FOR_SEEK};
use crate::memtable::Lookup;

/// Gives every opened table a distinct block-cache namespace.
static NEXT_TABLE_ID: AtomicU64 = AtomicU64::new(1);

/// What the filter said during a lookup, for read-amplification statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterResult {
    /// The table has no filter.
    NoFilter,
    /// The filter ruled the key out: no block was read.
    Excluded,
    /// The filter let the key through and blocks were read.
    Passed,
}

/// An open SSTable.
pub struct TableReader {
    file: Arc<dyn RandomAccessFile>,
    name: Arc<str>,
    id: u64,
    index: Arc<Block>,
    filter: Option<BloomFilter>,
    props: TableProperties,
    cache: Option<Arc<BlockCache>>,
    key_format: KeyFormat,
}

impl TableReader {
    /// Opens the table in `file`, called `name` in error messages.
    pub fn open(file: Arc<dyn RandomAccessFile>, name: &str, cache: Option<Arc<BlockCache>>) -> Result<TableReader> {
        let name: Arc<str> = name.into();
        let size = file.size();
        if size < FOOTER_LEN as u64 {
            return Err(Error::corruption(&name, Some(0), format!("file of {size} bytes is too short to be a table")));
        }
        let footer_at = size - FOOTER_LEN as u64;
        let footer = Footer::decode(&file.read_at(footer_at, FOOTER_LEN)?)
            .map_err(|why| Error::corruption(&name, Some(footer_at), why))?;
        let props_raw = read_contents(file.as_ref(), &name, footer.properties, None)?;
        let props = TableProperties::decode(&props_raw)
            .ok_or_else(|| Error::corruption(&name, Some(footer.properties.offset), "malformed properties block"))?;
        let index_raw = read_contents(file.as_ref(), &name, footer.index, None)?;
        let index = Arc::new(Block::with_key_format(index_raw, footer.key_format, name.clone(), footer.index.offset)?);
        let filter = if footer.filter.size > 0 {
            // No copy: a mapped table's filter stays a slice of the map (as LevelDB
            // reads it), so it costs page cache, not the heap, and is not kept twice.
            let data = read_contents(file.as_ref(), &name, footer.filter, None)?;
            let filter = BloomFilter::new(data)
                .ok_or_else(|| Error::corruption(&name, Some(footer.filter.offset), "malformed filter block"))?;
            Some(filter)
        } else {
            None
        };
        let id = NEXT_TABLE_ID.fetch_add(1, AtomicOrdering::Relaxed);
        Ok(TableReader { file, name, id, index, filter, props, cache, key_format: footer.key_format })
    }

    /// The table's properties (key range, seqno range, counts).
    pub fn properties(&self) -> &TableProperties {
        &self.props
    }

    /// The index: for each data block, its last key and where it lies. For inspection
    /// tools.
    pub fn index_entries(&self) -> Result<Vec<(Vec<u8>, BlockHandle)>> {
        let mut out = Vec::new();
        self.for_each_index_entry(|key, handle| out.push((key.to_vec(), handle)))?;
        Ok(out)
    }

    /// Calls `f` with each index entry in order, as [`index_entries`](Self::index_entries)
    /// lists them, without collecting them.
    pub fn for_each_index_entry(&self, mut f: impl FnMut(&[u8], BlockHandle)) -> Result<()> {
        let mut it = self.index.iter(compare_internal);
        it.seek_to_first();
        while it.valid() {
            f(it.key(), self.decode_handle(it.value())?);
            it.next();
        }
        it.status()
    }

    /// Bytes of the bloom filter held in memory, if the table has one.
    pub fn filter_size(&self) -> Option<usize> {
        self.filter.as_ref().map(|f| f.size())
    }

    /// The file name used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The data block at `handle`, from the cache if possible; a block read from the
    /// file enters the cache only if `fill_cache`.
    fn data_block(&self, handle: BlockHandle, fill_cache: bool) -> Result<Arc<Block>> {
        if let Some(cache) = &self.cache {
            if let Some(block) = cache.get(self.id, handle.offset) {
                return Ok(block);
            }
        }
        let buffers = self.cache.as_ref().map(|c| c.buffers());
        let contents = read_contents(self.file.as_ref(), &self.name, handle, buffers)?;
        let block = Arc::new(Block::with_key_format(contents, self.key_format, self.name.clone(), handle.offset)?);
        if let (Some(cache), true) = (&self.cache, fill_cache) {
            cache.insert(self.id, handle.offset, block.clone());
        }
        Ok(block)
    }

    fn decode_handle(&self, index_value: &[u8]) -> Result<BlockHandle> {
        BlockHandle::decode(index_value).ok_or_else(|| Error::corruption(&self.name, None, "bad block handle in index"))
    }

    /// True unless the filter rules `user_key` out.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain(user_key))
    }

    /// Starts loading the filter line that a lookup of a user key whose
    /// [`hash64`] is `hash` will read into the CPU cache, without waiting for it.
    pub fn prefetch_filter(&self, hash: u64) {
        if let Some(f) = &self.filter {
            f.prefetch(hash);
        }
    }

    /// The newest version of `user_key` with seqno <= `seq` in this table.
    pub fn get(&self, user_key: &[u8], seq: u64) -> Result<(Lookup<Bytes>, FilterResult)> {
        self.get_hashed(user_key, hash64(user_key), seq)
    }

    /// [`TableReader::get`] with the key's [`hash64`] computed by the caller, once for
    /// all the tables it asks.
    pub fn get_hashed(&self, user_key: &[u8], hash: u64, seq: u64) -> Result<(Lookup<Bytes>, FilterResult)> {
        let filter = match &self.filter {
            None => FilterResult::NoFilter,
            Some(f) if !f.may_contain_hash(hash) => return Ok((Lookup::Missing, FilterResult::Excluded)),
            Some(_) => FilterResult::Passed,
        };
        let trailer = pack_trailer(seq, KIND_FOR_SEEK);
        let Some(index_entry) = self.index.seek_entry(user_key, trailer)? else {
            return Ok((Lookup::Missing, filter));
        };
        let block = self.data_block(self.decode_handle(&index_entry.value)?, true)?;
        // `None` when the target lies between the block's last key and the index's
        // separator, which may be past it.
        let Some(found) = block.seek_entry(user_key, trailer)? else { return Ok((Lookup::Missing, filter)) };
        let lookup = match found.same_key_trailer.map(|t| ValueKind::from_u8(t as u8)) {
            None => Lookup::Missing,
            Some(Some(ValueKind::Put)) => Lookup::Found(found.value),
            Some(Some(ValueKind::Delete)) => Lookup::Deleted,
            Some(None) => return Err(Error::corruption(&self.name, None, "malformed internal key")),
        };
        Ok((lookup, filter))
    }

    /// A cursor over every entry of the table; every block it reads enters the cache.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        self.iter_filling(CacheFill::Always)
    }

    /// A cursor for one pass over the table (a compaction) whose blocks do not enter
    /// the block cache: they would only evict the blocks readers need (LevelDB's
    /// `fill_cache = false`).
    pub fn scan_iter(self: &Arc<Self>) -> TableIter {
        self.iter_filling(CacheFill::Never)
    }

    /// A cursor whose reads enter the block cache as `fill` says.
    pub fn iter_filling(self: &Arc<Self>, fill: CacheFill) -> TableIter {
        TableIter { table: self.clone(), index: self.index.iter(compare_internal), data: None, err: None, fill }
    }
}

/// Reads and checks the contents of the block at `handle` of the file called `name`; a
/// compressed block is decoded into a buffer from `buffers` if given.
fn read_contents(
    file: &dyn RandomAccessFile,
    name: &str,
    handle: BlockHandle,
    buffers: Option<&Arc<BufferPool>>,
) -> Result<Bytes> {
    let corrupt = |what: &str| Error::corruption(name, Some(handle.offset), what);
    let total = handle.size.checked_add(TRAILER_LEN as u64).ok_or_else(|| corrupt("block size overflows"))?;
    let end = handle.offset.checked_add(total).ok_or_else(|| corrupt("block offset overflows"))?;
    if end > file.size() {
        return Err(corrupt("block handle points past the end of the file"));
    }
    let buf = file.read_at(handle.offset, total as usize)?;
    let n = handle.size as usize;
    if buf.len() != n + TRAILER_LEN {
        return Err(corrupt("short read of block"));
    }
    let compression = buf[n];
    if block_trailer(&buf[..n], compression)[..] != buf[n..] {
        return Err(corrupt("block checksum mismatch"));
    }
    if compression == NO_COMPRESSION {
        return Ok(buf.slice(..n));
    }
    match buffers {
        Some(pool) => {
            Compressed::parse(compression, &buf[..n]).and_then(|c| pool.fill(c.len(), |dst| c.decode_to(dst)))
        }
        None => decompress(compression, &buf[..n]).map(Bytes::from),
    }
    .map_err(|why| corrupt(&why))
}

/// A two-level [`InternalIterator`]: the index block picks data blocks, a block
/// iterator walks each.
pub struct TableIter {
    table: Arc<TableReader>,
    index: BlockIter,
    data: Option<BlockIter>,
    err: Option<Error>,
    fill: CacheFill,
}

impl TableIter {
    /// Loads the data block the index cursor points at, which the cursor `stepped`
    /// into from its neighbour or else landed in by a seek.
    fn load_block(&mut self, stepped: bool) -> bool {
        self.data = None;
        if !self.index.valid() {
            if let Err(e) = self.index.status() {
                self.err.get_or_insert(e);
            }
            return false;
        }
        let block = self.table.decode_handle(self.index.value()).and_then(|h| {
            let fill = if stepped { self.fill.on_step(h.size) } else { self.fill.on_seek() };
            self.table.data_block(h, fill)
        });
        match block {
            Ok(b) => {
                self.data = Some(b.iter(compare_internal));
                true
            }
            Err(e) => {
                self.err.get_or_insert(e);
                false
            }
        }
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    /// Records a damaged data block; true if there was one.
    fn data_failed(&mut self) -> bool {
        if let Some(Err(e)) = self.data.as_ref().map(|d| d.status()) {
            self.err.get_or_insert(e);
            self.data = None;
            return true;
        }
        false
    }

    /// Loads the block the index points at (see [`TableIter::load_block`]) and
    /// positions in it with `position`.
    fn enter_block(&mut self, stepped: bool, position: impl FnOnce(&mut BlockIter)) {
        if self.load_block(stepped) {
            if let Some(d) = &mut self.data {
                position(d);
            }
        }
    }

    /// Moves past exhausted blocks, forwards or backwards, until an entry, the end, or
    /// an error.
    fn skip_empty(&mut self, forward: bool) {
        while !self.data_valid() && self.err.is_none() {
            if self.data_failed() || self.data.is_none() && !self.index.valid() {
                return;
            }
            if forward {
                self.index.next();
                self.enter_block(true, |d| d.seek_to_first());
            } else {
                self.index.prev();
                self.enter_block(true, |d| d.seek_to_last());
            }
            if self.data.is_none() {
                return;
            }
        }
    }
}

impl InternalIterator for TableIter {
    fn valid(&self) -> bool {
        self.err.is_none() && self.data_valid()
    }

    fn seek_to_first(&mut self) {
        self.index.seek_to_first();
        self.enter_block(false, |d| d.seek_to_first());
        self.skip_empty(true);
    }

    fn seek_to_last(&mut self) {
        self.index.seek_to_last();
        self.enter_block(false, |d| d.seek_to_last());
        self.skip_empty(false);
    }

    fn seek(&mut self, target: &[u8]) {
        self.index.seek(target);
        self.enter_block(false, |d| d.seek(target));
        self.skip_empty(true);
    }

    fn next(&mut self) {
        if let Some(d) = &mut self.data {
            d.next();
        }
        self.skip_empty(true);
    }

    fn prev(&mut self) {
        if let Some(d) = &mut self.data {
            d.prev();
        }
        self.skip_empty(false);
    }

    fn key(&self) -> &[u8] {
        match &self.data {
            Some(d) if self.err.is_none() => d.key(),
            _ => &[],
        }
    }

    fn value(&self) -> &[u8] {
        match &self.data {
            Some(d) if self.err.is_none() => d.value(),
            _ => &[],
        }
    }

    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }

    fn value_bytes(&self) -> Bytes {
        match &self.data {
            Some(d) if self.err.is_none() => d.value_bytes(),
            _ => Bytes::new(),
        }
    }

    fn may_contain(&self, user_key: &[u8]) -> bool {
        self.table.may_contain(user_key)
    }

    fn prefetch_filter(&self, user_key: &[u8]) {
        self.table.prefetch_filter(hash64(user_key));
    }
}
