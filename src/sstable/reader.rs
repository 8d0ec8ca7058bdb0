//! [`TableReader`]: opens an SSTable, answers point lookups and hands out iterators.
//!
//! Opening reads and checks the footer, the index block, the filter, the properties and
//! the range tombstones (fragmented again, not trusted to be), and keeps them in memory. Data blocks are read on demand with positioned reads,
//! checksummed, and kept in the shared [`BlockCache`]; a cursor walking forward reads
//! ahead in growing windows ([`Readahead`]). A point lookup consults the bloom filter
//! before touching the index or any data block.
//!
//! No block, and no value handed out, shares memory with the file or with a read
//! buffer: each decoded block has a buffer of its own (recycled through the cache's
//! [`BufferPool`]). So a value a caller keeps pins a few kilobytes, never a table that
//! compaction deleted, and the cache holds exactly the bytes it charges for.
//!
//! Every check names the file and the offset of what failed, so a damaged table reports
//! `Error::Corruption("000012.sst at offset 8192: ...")` instead of panicking or returning
//! wrong data.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;

use super::block::{Block, BlockIter};
use super::filter::BloomFilter;
use super::format::{
    block_trailer, BlockHandle, Footer, KeyFormat, TableProperties, FOOTER_LEN, NO_COMPRESSION, TRAILER_LEN,
};
use super::BlockCache;
use crate::cache::{BufferPool, CacheFill};
use crate::compression::{decompress, Compressed};
use crate::error::{Error, Result};
use crate::fs::RandomAccessFile;
use crate::iter::two_level::{IndexCursor, Step, TwoLevelIter};
use crate::iter::InternalIterator;
use crate::key::{
    compare_internal, pack_trailer, trailer, user_key, Lookup, LookupKey, UserKeyRange, ValueKind, KIND_FOR_SEEK,
    TRAILER_LEN as KEY_TRAILER_LEN,
};
use crate::range_del::{FragmentedTombstones, RangeTombstone};
use crate::util::hash::hash64;
use crate::util::large_vec::LargeVec;

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
    range_dels: Option<Arc<FragmentedTombstones>>,
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
        let mut footer = [0; FOOTER_LEN];
        read_stored(file.as_ref(), &name, footer_at, &mut footer)?;
        let footer = Footer::decode(&footer).map_err(|why| Error::corruption(&name, Some(footer_at), why))?;
        let props_raw = read_contents(file.as_ref(), &name, footer.properties, None)?;
        let props = TableProperties::decode(&props_raw)
            .ok_or_else(|| Error::corruption(&name, Some(footer.properties.offset), "malformed properties block"))?;
        let index_raw = read_contents(file.as_ref(), &name, footer.index, None)?;
        let index = Arc::new(Block::with_key_format(index_raw, footer.key_format, name.clone(), footer.index.offset)?);
        let filter = if footer.filter.size > 0 {
            let data = read_contents(file.as_ref(), &name, footer.filter, None)?;
            let filter = BloomFilter::new(data)
                .ok_or_else(|| Error::corruption(&name, Some(footer.filter.offset), "malformed filter block"))?;
            Some(filter)
        } else {
            None
        };
        let range_dels = read_range_dels(file.as_ref(), &name, &footer, &props)?;
        let id = NEXT_TABLE_ID.fetch_add(1, AtomicOrdering::Relaxed);
        Ok(TableReader { file, name, id, index, filter, props, cache, key_format: footer.key_format, range_dels })
    }

    /// The table's range tombstones, if it has any.
    pub(crate) fn range_tombstones(&self) -> Option<&Arc<FragmentedTombstones>> {
        self.range_dels.as_ref()
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

    /// Bytes of the data blocks that may hold keys of `range`, from the index block
    /// alone (no data block is read): a block counts whole if its key span, bounded by
    /// the index separators around it, meets the range.
    pub(crate) fn approximate_bytes(&self, range: &UserKeyRange) -> Result<u64> {
        let mut total = 0;
        let mut previous: Option<Vec<u8>> = None;
        self.for_each_index_entry(|separator, handle| {
            let last = user_key(separator);
            let first = previous.as_deref().unwrap_or(&[]);
            if range.overlaps(first, last) {
                total += handle.size + TRAILER_LEN as u64;
            }
            previous = Some(last.to_vec());
        })?;
        Ok(total)
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
    /// file enters the cache only if `fill_cache`. A cursor walking forward passes its
    /// `readahead`, which reads the file in larger pieces.
    fn data_block(
        &self,
        handle: BlockHandle,
        fill_cache: bool,
        readahead: Option<&mut Readahead>,
    ) -> Result<Arc<Block>> {
        if let Some(cache) = &self.cache {
            if let Some(block) = cache.get(self.id, handle.offset) {
                return Ok(block);
            }
        }
        let buffers = self.cache.as_ref().map(|c| c.buffers());
        let contents = match readahead {
            Some(ra) if self.file.mapped().is_none() => {
                let raw = ra.read(self.file.as_ref(), &self.name, handle)?;
                decode_block(raw, &self.name, handle, buffers)?
            }
            _ => read_contents(self.file.as_ref(), &self.name, handle, buffers)?,
        };
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

    /// Starts loading the filter line that a lookup of a user key whose filter hash
    /// ([`LookupKey::hash`]) is `hash` will read into the CPU cache, without waiting
    /// for it.
    pub fn prefetch_filter(&self, hash: u64) {
        if let Some(f) = &self.filter {
            f.prefetch(hash);
        }
    }

    /// The newest version of the key with seqno <= the key's seqno in this table.
    pub fn get(&self, key: &LookupKey) -> Result<(Lookup<Bytes>, FilterResult)> {
        let filter = match &self.filter {
            None => FilterResult::NoFilter,
            Some(f) if !f.may_contain_hash(key.hash()) => return Ok((Lookup::Missing, FilterResult::Excluded)),
            Some(_) => FilterResult::Passed,
        };
        let user_key = key.user_key();
        let trailer = pack_trailer(key.seq(), KIND_FOR_SEEK);
        let Some(index_entry) = self.index.seek_entry(user_key, trailer)? else {
            return Ok((Lookup::Missing, filter));
        };
        let block = self.data_block(self.decode_handle(&index_entry.value)?, true, None)?;
        // `None` when the target lies between the block's last key and the index's
        // separator, which may be past it.
        let Some(found) = block.seek_entry(user_key, trailer)? else { return Ok((Lookup::Missing, filter)) };
        let Some(trailer) = found.same_key_trailer else { return Ok((Lookup::Missing, filter)) };
        let lookup = match ValueKind::from_u8(trailer as u8) {
            Some(ValueKind::Put) => Lookup::Found(found.value, trailer >> 8),
            Some(ValueKind::Delete) => Lookup::Deleted,
            Some(ValueKind::RangeDelete) | None => {
                return Err(Error::corruption(&self.name, None, "malformed internal key"));
            }
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
        TwoLevelIter::new(BlockIndex {
            table: self.clone(),
            index: self.index.iter(compare_internal),
            fill,
            readahead: Readahead::default(),
            opened: None,
        })
    }
}

/// Reads the range-deletion block the properties point to, if the table has one, and
/// fragments its tombstones.
fn read_range_dels(
    file: &dyn RandomAccessFile,
    name: &Arc<str>,
    footer: &Footer,
    props: &TableProperties,
) -> Result<Option<Arc<FragmentedTombstones>>> {
    let handle = props.range_del_block;
    let corrupt = |what: &str| Error::corruption(name, Some(handle.offset), what);
    let expected = props.summary.num_range_deletions;
    if footer.range_deletions != (expected > 0) {
        return Err(corrupt("the format version and the properties disagree about range deletions"));
    }
    if expected == 0 {
        return Ok(None);
    }
    let raw = read_contents(file, name, handle, None)?;
    let block = Arc::new(Block::with_key_format(raw, footer.key_format, name.clone(), handle.offset)?);
    let mut it = block.iter(compare_internal);
    it.seek_to_first();
    let mut tombstones = Vec::new();
    while it.valid() {
        let (start, packed) = (user_key(it.key()), trailer(it.key()));
        let well_formed = it.key().len() >= KEY_TRAILER_LEN && packed & 0xff == ValueKind::RangeDelete as u64;
        if !well_formed || start >= it.value() {
            return Err(corrupt("malformed range tombstone"));
        }
        tombstones.push(RangeTombstone { start: start.to_vec(), end: it.value().to_vec(), seq: packed >> 8 });
        it.next();
    }
    it.status()?;
    if tombstones.len() as u64 != expected {
        return Err(corrupt("range-deletion block holds a different number of tombstones than recorded"));
    }
    Ok(Some(Arc::new(FragmentedTombstones::new(tombstones))))
}

/// Blocks up to this size are read into a per-thread buffer that is kept; bigger ones
/// (a huge value's) into a buffer of their own.
const SCRATCH_LIMIT: usize = 1 << 20;

thread_local! {
    /// Where blocks read from a file land before they are checked and decoded.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The stored bytes (contents and trailer) of the block at `handle`, or why not.
fn stored_len(file: &dyn RandomAccessFile, name: &str, handle: BlockHandle) -> Result<usize> {
    let corrupt = |what: &str| Error::corruption(name, Some(handle.offset), what);
    let total = handle.size.checked_add(TRAILER_LEN as u64).ok_or_else(|| corrupt("block size overflows"))?;
    let end = handle.offset.checked_add(total).ok_or_else(|| corrupt("block offset overflows"))?;
    if end > file.size() {
        return Err(corrupt("block handle points past the end of the file"));
    }
    usize::try_from(total).map_err(|_| corrupt("block too big for this machine"))
}

/// Reads a block's stored bytes; a file that ends before them (truncated under us) is
/// corruption, other read errors are I/O errors.
fn read_stored(file: &dyn RandomAccessFile, name: &str, offset: u64, buf: &mut [u8]) -> Result<()> {
    file.read_exact_at(offset, buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            Error::corruption(name, Some(offset), "the file ends before the block does (truncated?)")
        }
        _ => Error::Io(e),
    })
}

/// Reads and checks the contents of the block at `handle` of the file called `name`,
/// decoded into a buffer from `buffers` if given.
fn read_contents(
    file: &dyn RandomAccessFile,
    name: &str,
    handle: BlockHandle,
    buffers: Option<&Arc<BufferPool>>,
) -> Result<Bytes> {
    let total = stored_len(file, name, handle)?;
    if let Some(map) = file.mapped() {
        let at = handle.offset as usize; // `stored_len` checked it lies inside the file
        return decode_block(&map[at..at + total], name, handle, buffers);
    }
    if total > SCRATCH_LIMIT {
        let mut raw = vec![0; total];
        read_stored(file, name, handle.offset, &mut raw)?;
        return decode_block(&raw, name, handle, buffers);
    }
    SCRATCH.with(|scratch| {
        let mut raw = scratch.borrow_mut();
        raw.resize(total, 0);
        read_stored(file, name, handle.offset, &mut raw)?;
        decode_block(&raw, name, handle, buffers)
    })
}

/// Checks `raw`, the stored bytes of the block at `handle` (contents, then trailer),
/// and decodes its contents into a buffer of their own: from `buffers` if given, else
/// the heap. Never a slice of `raw`, so a cached block holds just its own bytes.
fn decode_block(raw: &[u8], name: &str, handle: BlockHandle, buffers: Option<&Arc<BufferPool>>) -> Result<Bytes> {
    let corrupt = |what: &str| Error::corruption(name, Some(handle.offset), what);
    let n = handle.size as usize;
    if raw.len() != n + TRAILER_LEN {
        return Err(corrupt("short read of block"));
    }
    let compression = raw[n];
    if block_trailer(&raw[..n], compression)[..] != raw[n..] {
        return Err(corrupt("block checksum mismatch"));
    }
    let contents = &raw[..n];
    if compression == NO_COMPRESSION {
        let Some(pool) = buffers else { return Ok(Bytes::copy_from_slice(contents)) };
        let Ok(copy) = pool.fill(n, |dst| {
            dst.copy_from_slice(contents);
            Ok::<(), std::convert::Infallible>(())
        });
        return Ok(copy);
    }
    match buffers {
        Some(pool) => Compressed::parse(compression, contents).and_then(|c| pool.fill(c.len(), |dst| c.decode_to(dst))),
        None => decompress(compression, contents).map(Bytes::from),
    }
    .map_err(|why| corrupt(&why))
}

/// A window of a table file read ahead of a cursor walking forward, so that a scan
/// reads the file in pieces of up to [`Readahead::MAX`] bytes instead of one system
/// call per block (RocksDB's iterator auto-readahead). The window starts small and
/// doubles with each read, so a short range read that steps into a second block reads
/// little more than it needs.
#[derive(Default)]
pub(crate) struct Readahead {
    buf: LargeVec<u8>,
    /// File offset of `buf[0]`.
    start: u64,
    /// Valid bytes in `buf`.
    len: usize,
    /// Size of the next window.
    next: usize,
}

impl Readahead {
    /// The first window's size.
    pub(crate) const FIRST: usize = 16 << 10;
    /// The largest window.
    pub(crate) const MAX: usize = 256 << 10;

    /// Starts over with a small window (the cursor seeked elsewhere).
    fn reset(&mut self) {
        self.next = Self::FIRST;
        self.len = 0;
    }

    /// The stored bytes of the block at `handle`, from the window, reading a new window
    /// that starts at the block if it lies outside.
    fn read(&mut self, file: &dyn RandomAccessFile, name: &str, handle: BlockHandle) -> Result<&[u8]> {
        let total = stored_len(file, name, handle)?;
        let inside = handle.offset >= self.start && handle.offset + total as u64 <= self.start + self.len as u64;
        if !inside {
            let left = usize::try_from(file.size() - handle.offset).unwrap_or(usize::MAX);
            let size = self.next.max(Self::FIRST).max(total).min(left);
            if self.buf.len() < size {
                self.buf = LargeVec::zeroed(size);
            }
            self.len = 0;
            read_stored(file, name, handle.offset, &mut self.buf[..size])?;
            self.start = handle.offset;
            self.len = size;
            self.next = (self.next * 2).clamp(Self::FIRST, Self::MAX);
        }
        let at = (handle.offset - self.start) as usize;
        Ok(&self.buf[at..at + total])
    }

    /// The stored bytes of the block at `handle` if the window holds all of them.
    fn holding(&self, handle: BlockHandle) -> Option<&[u8]> {
        let at = usize::try_from(handle.offset.checked_sub(self.start)?).ok()?;
        let total = usize::try_from(handle.size).ok()?.checked_add(TRAILER_LEN)?;
        self.buf[..self.len].get(at..at.checked_add(total)?)
    }
}

/// A table's index block as the first level of its cursor: each entry's value is the
/// handle of a data block, which it reads (through the cache, or its read-ahead window
/// when the cursor walks forward) and opens.
pub struct BlockIndex {
    table: Arc<TableReader>,
    index: BlockIter,
    fill: CacheFill,
    /// Reads ahead for blocks stepped into going forward.
    readahead: Readahead,
    /// The block the inner cursor was last opened on.
    opened: Option<BlockHandle>,
}

impl IndexCursor for BlockIndex {
    type Inner = BlockIter;

    fn valid(&self) -> bool {
        self.index.valid()
    }

    fn seek_to_first(&mut self) {
        self.index.seek_to_first();
    }

    fn seek_to_last(&mut self) {
        self.index.seek_to_last();
    }

    fn seek(&mut self, target: &[u8]) {
        self.index.seek(target);
    }

    fn next(&mut self) {
        self.index.next();
    }

    fn prev(&mut self) {
        self.index.prev();
    }

    fn status(&self) -> Result<()> {
        self.index.status()
    }

    fn open(&mut self, step: Step, slot: &mut Option<BlockIter>) -> Result<()> {
        let h = self.table.decode_handle(self.index.value())?;
        let block = match step {
            Step::Seek => {
                self.readahead.reset();
                self.table.data_block(h, self.fill.on_seek(), None)
            }
            Step::Back => self.table.data_block(h, self.fill.on_step(h.size), None),
            Step::Forward => self.table.data_block(h, self.fill.on_step(h.size), Some(&mut self.readahead)),
        }?;
        self.opened = Some(h);
        *slot = Some(block.iter(compare_internal));
        Ok(())
    }

    // The bytes come from the read-ahead window or the mapping as the file holds them;
    // the block may have come from the cache, so they were not necessarily checked:
    // whoever copies them checks them first (`TableBuilder::add_stored_block`).
    fn sole_entry_block<'a>(&'a self, inner: &'a BlockIter) -> Option<&'a [u8]> {
        let handle = self.opened.filter(|_| inner.at_sole_entry())?;
        match self.table.file.mapped() {
            Some(map) => {
                let at = usize::try_from(handle.offset).ok()?;
                map.get(at..at.checked_add(usize::try_from(handle.size).ok()?.checked_add(TRAILER_LEN)?)?)
            }
            None => self.readahead.holding(handle),
        }
    }

    fn may_contain(&self, user_key: &[u8]) -> bool {
        self.table.may_contain(user_key)
    }

    fn prefetch_filter(&self, user_key: &[u8]) {
        self.table.prefetch_filter(hash64(user_key));
    }
}

/// A cursor over a table: its index block picks data blocks, a block cursor walks each.
pub(crate) type TableIter = TwoLevelIter<BlockIndex>;
