//! [`TableBuilder`]: writes a sorted stream of entries as one SSTable file in the layout
//! described in [`super::format`].
//!
//! Data blocks are cut when they reach the target block size; each finished block gets an
//! index entry (a key between its last key and the next block's first → its handle). A
//! compaction may instead hand over an entry with the stored bytes of another table's
//! block that holds just it (`add_stored_block`): written as they are, after the block
//! being built is cut. The
//! filter and properties are gathered as entries stream by and written after the last
//! data block. Range tombstones, given in any order, are sorted and written as the
//! range-deletion block (a reader fragments them); they widen the table's key and seqno
//! ranges. `finish` syncs the file, so a table the caller goes on to record in the
//! MANIFEST is durable.
//!
//! A builder made with [`TableBuilder::with_compress_worker`] hands its data blocks to a
//! [`CompressWorker`] and writes them as they come back, in order; the file is the same
//! byte for byte. A block's index entry is added once both its handle (known when it is
//! written) and the next block's first key are known.

use std::collections::VecDeque;
use std::io;

use super::block_builder::{BlockBuilder, KeyFormat};
use super::compress_worker::{CompressWorker, CompressedBlock};
use super::filter::BloomBuilder;
use super::format::{block_trailer, BlockHandle, Footer, TableProperties, TableSummary, NO_COMPRESSION, TRAILER_LEN};
use crate::compression::{Compression, Compressor};
use crate::fs::WritableFile;
use crate::key::{compare_internal, index_separator, make_internal_key, range_bound_key, ParsedKey, ValueKind};
use crate::range_del::RangeTombstone;

/// Restart interval of data blocks (LevelDB's default).
pub(crate) const DATA_RESTART_INTERVAL: usize = 16;

/// Restart interval of the index block. At every entry (RocksDB's default) a lookup is a
/// pure binary search, but separators share their prefixes with no one, and a 64 MiB
/// table's index takes ~600 KB, whose deeper search steps miss the CPU cache. Every 16
/// entries the index is a quarter of that and a lookup ends in a short forward scan: on
/// a 10M-key database (`strata bench`, 12 alternated runs) gets were 4-9% and seeks 6%
/// faster, 1M-key gets with a 32 MiB cache 6% faster, and fully cached gets 1% slower.
/// (An earlier reader made cached gets a fifth slower at 16.) Readers take any interval.
pub(crate) const INDEX_RESTART_INTERVAL: usize = 16;

/// How tables are laid out.
#[derive(Clone, Debug)]
pub(crate) struct TableOptions {
    /// Target uncompressed size of a data block.
    pub block_size: usize,
    /// Bloom filter bits per key; 0 writes no filter.
    pub bloom_bits_per_key: u32,
    /// How data blocks are compressed (index, filter and properties never are: they are
    /// read once per open and kept decoded).
    pub compression: Compression,
}

/// Streams entries into a new table file.
pub(crate) struct TableBuilder {
    file: Box<dyn WritableFile>,
    opts: TableOptions,
    offset: u64,
    data: BlockBuilder,
    index: BlockBuilder,
    filter: Option<BloomBuilder>,
    props: TableProperties,
    compressor: Compressor,
    /// Reused output buffer of the compressor.
    compressed: Vec<u8>,
    /// Compresses data blocks on another thread, if this builder has one.
    worker: Option<CompressWorker>,
    /// Data blocks cut but not yet in the index, oldest first.
    unindexed: VecDeque<Unindexed>,
    /// Range tombstones to write at the end.
    range_dels: Vec<RangeTombstone>,
}

/// Data blocks that may be in flight at the worker before the builder waits for the
/// oldest: four batches, up to 256 KiB of raw and compressed buffers at 4 KiB blocks.
/// The window has to outlast the worker's wake-up, which on a virtual machine (tens of
/// microseconds to wake an idle vCPU) is longer than building a batch: with two batches
/// in flight, each thread of a peer-benchmark flush was idle half the time and the
/// flush took 1.4x as long.
const MAX_IN_FLIGHT: usize = 32;

/// A data block waiting for its index entry.
struct Unindexed {
    /// The block's last key, until the next block's first key turns it into a short
    /// separator.
    key: Vec<u8>,
    separated: bool,
    /// Where the block was written; `None` while it is being compressed.
    handle: Option<BlockHandle>,
}

impl TableBuilder {
    /// A builder writing to `file`, which must be empty.
    pub(crate) fn new(file: Box<dyn WritableFile>, opts: TableOptions) -> Self {
        let filter = (opts.bloom_bits_per_key > 0).then(|| BloomBuilder::new(opts.bloom_bits_per_key));
        let compression = opts.compression;
        TableBuilder {
            file,
            opts,
            offset: 0,
            data: BlockBuilder::with_key_format(DATA_RESTART_INTERVAL, KeyFormat::Internal),
            index: BlockBuilder::with_key_format(INDEX_RESTART_INTERVAL, KeyFormat::Internal),
            filter,
            props: TableProperties {
                summary: TableSummary { min_seq: u64::MAX, ..TableSummary::default() },
                ..TableProperties::default()
            },
            compressor: Compressor::new(compression),
            compressed: Vec::new(),
            worker: None,
            unindexed: VecDeque::new(),
            range_dels: Vec::new(),
        }
    }

    /// A builder that compresses data blocks on a helper thread (see
    /// [`CompressWorker`]), or on its own thread if none can be started. Flushes use it;
    /// its [`estimated_size`](Self::estimated_size) leaves out blocks being compressed,
    /// so writers that cut files by size (compactions) build without one.
    pub(crate) fn with_compress_worker(file: Box<dyn WritableFile>, opts: TableOptions) -> Self {
        let worker = match opts.compression {
            Compression::None => None,
            codec => CompressWorker::spawn(codec).ok(),
        };
        TableBuilder { worker, ..Self::new(file, opts) }
    }

    /// Adds an entry. Internal keys must arrive in strictly increasing order.
    pub(crate) fn add(&mut self, ikey: &[u8], value: &[u8]) -> io::Result<()> {
        self.count_entry(ikey, value);
        self.data.add(ikey, value);
        if self.data.estimated_size() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Adds the entry (`ikey`, `value`) as a data block of its own by copying
    /// `stored`, the bytes (contents, then trailer) of a block of another table that
    /// holds just this entry, instead of building and compressing the block again.
    /// Only if the block's checksum holds and its compression is the one this table
    /// uses (its LZ4 or zstd level aside); otherwise returns false and adds nothing,
    /// and the caller adds the entry with [`add`](Self::add). A builder with a
    /// compression worker never copies (its blocks are written in turn as they come
    /// back).
    pub(crate) fn add_stored_block(&mut self, ikey: &[u8], value: &[u8], stored: &[u8]) -> io::Result<bool> {
        let Some(n) = stored.len().checked_sub(TRAILER_LEN) else { return Ok(false) };
        let (contents, trailer) = stored.split_at(n);
        let codec = trailer[0];
        if self.worker.is_some()
            || codec != self.compressor.codec_byte()
            || block_trailer(contents, codec)[..] != *trailer
        {
            return Ok(false);
        }
        self.flush_data_block()?;
        self.count_entry(ikey, value);
        self.props.summary.largest = ikey.to_vec();
        self.props.num_data_blocks += 1;
        self.unindexed.push_back(Unindexed { key: ikey.to_vec(), separated: false, handle: None });
        let handle = self.write_stored(contents, trailer)?;
        if let Some(b) = self.unindexed.back_mut() {
            b.handle = Some(handle);
        }
        self.add_ready_index_entries();
        Ok(true)
    }

    /// Takes an entry into the filter and the properties, and, if it starts a data
    /// block, gives the block before its index separator.
    fn count_entry(&mut self, ikey: &[u8], value: &[u8]) {
        if let Some(p) = ParsedKey::parse(ikey) {
            if let Some(f) = &mut self.filter {
                f.add_key(p.user_key);
            }
            self.props.summary.min_seq = self.props.summary.min_seq.min(p.seq);
            self.props.summary.max_seq = self.props.summary.max_seq.max(p.seq);
            self.props.raw_key_bytes += p.user_key.len() as u64;
            if p.kind == ValueKind::Delete {
                self.props.summary.num_deletions += 1;
            }
        }
        if self.props.summary.num_entries == 0 {
            self.props.summary.smallest = ikey.to_vec();
        }
        if self.data.is_empty() {
            self.separate_last_block(Some(ikey));
        }
        self.props.summary.num_entries += 1;
        self.props.raw_value_bytes += value.len() as u64;
    }

    /// Adds range tombstones; they may come in any order and overlap, before, between
    /// or after the entries.
    pub(crate) fn add_range_tombstones(&mut self, tombstones: impl IntoIterator<Item = RangeTombstone>) {
        self.range_dels.extend(tombstones);
    }

    /// Writes the range-deletion block, if there are range tombstones, and widens the
    /// summary's key and seqno ranges to take them in.
    fn write_range_dels(&mut self) -> io::Result<BlockHandle> {
        let mut range_dels = std::mem::take(&mut self.range_dels);
        range_dels.retain(|t| t.start < t.end);
        // Internal-key order of the starts; one tombstone per (start, seqno): pieces of
        // one write that meet here are the same deletion, so the longest stands for all.
        range_dels.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.seq.cmp(&a.seq)).then(b.end.cmp(&a.end)));
        range_dels.dedup_by(|later, first| later.start == first.start && later.seq == first.seq);
        let (Some(first), Some(last)) = (range_dels.first().map(|t| &t.start), range_dels.iter().map(|t| &t.end).max())
        else {
            return Ok(BlockHandle::default());
        };
        let (smallest, largest) = (range_bound_key(first), range_bound_key(last));
        let mut block = BlockBuilder::with_key_format(DATA_RESTART_INTERVAL, KeyFormat::Internal);
        for t in &range_dels {
            block.add(&make_internal_key(&t.start, t.seq, ValueKind::RangeDelete), &t.end);
        }
        let handle = self.write_block(&block.finish(), NO_COMPRESSION)?;
        let s = &mut self.props.summary;
        let points = s.num_entries > 0;
        if !points || compare_internal(&smallest, &s.smallest).is_lt() {
            s.smallest = smallest;
        }
        if !points || compare_internal(&largest, &s.largest).is_gt() {
            s.largest = largest;
        }
        let (min_seq, max_seq) = range_dels.iter().fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t.seq), hi.max(t.seq)));
        s.min_seq = if points { s.min_seq.min(min_seq) } else { min_seq };
        s.max_seq = s.max_seq.max(max_seq);
        s.num_range_deletions = range_dels.len() as u64;
        Ok(handle)
    }

    /// Bytes the file would have if finished now (roughly; without blocks still being
    /// compressed).
    pub(crate) fn estimated_size(&self) -> u64 {
        self.offset + self.data.estimated_size() as u64
    }

    fn flush_data_block(&mut self) -> io::Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let last_key = self.data.last_key().to_vec();
        let contents = self.data.finish().into_vec();
        self.props.summary.largest.clone_from(&last_key);
        self.props.num_data_blocks += 1;
        self.unindexed.push_back(Unindexed { key: last_key, separated: false, handle: None });
        let Some(worker) = &mut self.worker else {
            let block = CompressedBlock::new(&mut self.compressor, contents, std::mem::take(&mut self.compressed));
            self.compressed = self.write_data_block(block)?;
            return Ok(());
        };
        worker.submit(contents)?;
        let full = worker.in_flight() >= MAX_IN_FLIGHT;
        if full {
            self.write_compressed(true)?;
        }
        while self.write_compressed(false)? {}
        Ok(())
    }

    /// Writes the oldest block back from the worker, waiting for it if `wait`; false if
    /// there was none to write.
    fn write_compressed(&mut self, wait: bool) -> io::Result<bool> {
        let Some(worker) = &mut self.worker else { return Ok(false) };
        let Some(block) = (if wait { worker.take()? } else { worker.try_take()? }) else {
            return Ok(false);
        };
        let buffer = self.write_data_block(block)?;
        if let Some(worker) = &mut self.worker {
            worker.recycle(buffer);
        }
        Ok(true)
    }

    /// Writes the oldest data block not yet written, records its handle, and returns
    /// its compression buffer for reuse.
    fn write_data_block(&mut self, block: CompressedBlock) -> io::Result<Vec<u8>> {
        let handle = self.write_stored(block.contents(), block.trailer())?;
        match self.unindexed.iter_mut().find(|b| b.handle.is_none()) {
            Some(b) => b.handle = Some(handle),
            None => {
                debug_assert!(false, "a data block was written twice");
                return Err(io::Error::other("a data block was written twice"));
            }
        }
        self.add_ready_index_entries();
        Ok(block.into_buffer())
    }

    /// Turns the last cut block's key into a short key between it and `next`, the first
    /// key of the following block (none at the end).
    fn separate_last_block(&mut self, next: Option<&[u8]>) {
        if let Some(last) = self.unindexed.back_mut().filter(|b| !b.separated) {
            last.key = index_separator(&last.key, next);
            last.separated = true;
            self.add_ready_index_entries();
        }
    }

    /// Adds the index entries of the oldest blocks whose separator and handle are both
    /// known; entries go in in block order.
    fn add_ready_index_entries(&mut self) {
        while let Some(Unindexed { key, separated: true, handle: Some(handle) }) = self.unindexed.front() {
            let mut encoded = Vec::with_capacity(16);
            handle.encode_to(&mut encoded);
            self.index.add(key, &encoded);
            self.unindexed.pop_front();
        }
    }

    fn write_block(&mut self, contents: &[u8], compression: u8) -> io::Result<BlockHandle> {
        self.write_stored(contents, &block_trailer(contents, compression))
    }

    fn write_stored(&mut self, contents: &[u8], trailer: &[u8]) -> io::Result<BlockHandle> {
        let handle = BlockHandle { offset: self.offset, size: contents.len() as u64 };
        self.file.append(contents)?;
        self.file.append(trailer)?;
        self.offset += (contents.len() + super::format::TRAILER_LEN) as u64;
        Ok(handle)
    }

    /// Writes filter, properties, index and footer, syncs the file, and returns the
    /// file size and the table's properties.
    pub(crate) fn finish(mut self) -> io::Result<(u64, TableProperties)> {
        self.flush_data_block()?;
        while self.write_compressed(true)? {}
        self.separate_last_block(None);
        if !self.unindexed.is_empty() {
            debug_assert!(false, "data blocks left without an index entry");
            return Err(io::Error::other("data blocks left without an index entry"));
        }
        if self.props.summary.num_entries == 0 {
            self.props.summary.min_seq = 0;
        }
        let filter = match self.filter.take() {
            Some(f) => self.write_block(&f.finish(), NO_COMPRESSION)?,
            None => BlockHandle::default(),
        };
        self.props.range_del_block = self.write_range_dels()?;
        let properties = self.write_block(&self.props.encode(), NO_COMPRESSION)?;
        let index_contents = self.index.finish();
        let index = self.write_block(&index_contents, NO_COMPRESSION)?;
        let range_deletions = self.props.summary.num_range_deletions > 0;
        let footer = Footer { index, filter, properties, key_format: KeyFormat::Internal, range_deletions }.encode();
        self.file.append(&footer)?;
        self.offset += footer.len() as u64;
        self.file.sync()?;
        Ok((self.offset, self.props))
    }
}
