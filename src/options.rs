//! Options that configure a database, fixed at `Db::open`.
//!
//! Every option has a sensible default; `Options::validate` turns values that make no
//! sense (a zero memtable, a block under 256 bytes) into `Error::InvalidArgument` before
//! anything touches the disk.

use std::fmt;
use std::sync::Arc;

use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::fs::{FileSystem, OsFileSystem};
use crate::util::coding::{put_varint32, put_varint64, Decoder};

/// The smallest data block size accepted: below it the restart array and trailer
/// dominate the block.
pub(crate) const MIN_BLOCK_SIZE: usize = 256;

/// Parameters of leveled compaction (LevelDB/RocksDB style).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LeveledOptions {
    /// Number of L0 files that triggers a compaction into L1 (default 4).
    pub l0_compaction_trigger: usize,
    /// Growth factor of each level's target size over the one above (default 10).
    pub level_size_multiplier: u64,
    /// Number of levels, L0 included (default 7).
    pub num_levels: usize,
    /// Derive the levels' targets from the last level's actual size (RocksDB's
    /// `level_compaction_dynamic_level_bytes`; default off): each level aims at the
    /// last one's size divided by the multiplier once per level between them, and L0
    /// flushes into the first level whose target is at least what L0 holds when it
    /// triggers, leaving the levels above it empty. Space amplification then stays near
    /// 1 + 1/multiplier as the database grows, instead of depending on how full the
    /// last level happens to be.
    pub dynamic_level_bytes: bool,
}

impl Default for LeveledOptions {
    fn default() -> Self {
        LeveledOptions {
            l0_compaction_trigger: 4,
            level_size_multiplier: 10,
            num_levels: 7,
            dynamic_level_bytes: false,
        }
    }
}

/// Parameters of size-tiered compaction (Cassandra STCS / RocksDB universal style).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TieredOptions {
    /// Number of similar-sized runs that triggers a merge (default 4).
    pub min_threshold: usize,
    /// Most runs merged by one job (default 32).
    pub max_threshold: usize,
    /// Merge everything once extra space exceeds this percentage of live data (default 200).
    pub max_size_amplification_percent: u64,
}

impl Default for TieredOptions {
    fn default() -> Self {
        TieredOptions { min_threshold: 4, max_threshold: 32, max_size_amplification_percent: 200 }
    }
}

/// Parameters of a point in the Dostoevsky design space (Dayan & Idreos, SIGMOD 2018):
/// sorted runs whose sizes grow by `size_ratio` from level to level, at most
/// `runs_per_level` on each level above the last and `last_level_runs` on the last.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FluidOptions {
    /// T: how much larger each level is than the one above (at least 2).
    pub size_ratio: u64,
    /// K: sorted runs allowed on each level above the last (1 to T-1).
    pub runs_per_level: usize,
    /// Z: sorted runs allowed on the last level (1 to T-1).
    pub last_level_runs: usize,
}

/// Parameters of FIFO compaction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FifoOptions {
    /// Once the tables hold more bytes than this, the oldest are dropped (their data is
    /// gone) until the rest fit.
    pub max_table_bytes: u64,
    /// If set, a table written longer ago than this is dropped too (with every older
    /// one), whatever the size. The age is that of the table, written when its memtable
    /// was flushed, so its entries may be older by up to one memtable's fill time; a
    /// table written before the age was set (or by another strategy) counts as written
    /// when the database was opened. Kept in whole seconds (at least one); the
    /// compaction thread looks every tenth of the age (1 s to 60 s), so a table may
    /// outlive the age by that much.
    pub max_age: Option<std::time::Duration>,
}

/// Which compaction strategy keeps the tree in shape.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Compaction {
    /// Leveled (LevelDB/RocksDB style).
    Leveled(LeveledOptions),
    /// Size-tiered (Cassandra STCS / RocksDB universal style).
    Tiered(TieredOptions),
    /// Any point (T, K, Z) of the Dostoevsky design space, lazy leveling among them.
    Fluid(FluidOptions),
    /// First in, first out: never merges, drops the oldest tables past a size. Loses
    /// data by design; for logs and caches.
    Fifo(FifoOptions),
}

impl Compaction {
    /// Leveled compaction with default parameters.
    pub fn leveled() -> Self {
        Compaction::Leveled(LeveledOptions::default())
    }

    /// Size-tiered compaction with default parameters.
    pub fn tiered() -> Self {
        Compaction::Tiered(TieredOptions::default())
    }

    /// Lazy leveling (Dostoevsky): tiering above the last level (K = T-1 runs per
    /// level), leveling at it (Z = 1), size ratio T = 10. Point reads and space
    /// amplification close to leveled (the last level holds most data, in one run),
    /// writes close to tiered.
    pub fn lazy_leveling() -> Self {
        Compaction::fluid(10, 9, 1)
    }

    /// The point (T, K, Z) of the Dostoevsky design space: size ratio `t`, at most `k`
    /// sorted runs per level above the last and `z` at the last. K = Z = 1 is
    /// leveling, K = Z = T-1 tiering. Out-of-range values are `InvalidArgument` at open.
    pub fn fluid(t: u64, k: usize, z: usize) -> Self {
        Compaction::Fluid(FluidOptions { size_ratio: t, runs_per_level: k, last_level_runs: z })
    }

    /// FIFO: the tables are never merged, and once they hold more than
    /// `max_table_bytes` the oldest are dropped — **their data is lost**, by design
    /// (RocksDB's FIFO compaction, for logs and caches).
    pub fn fifo(max_table_bytes: u64) -> Self {
        Compaction::Fifo(FifoOptions { max_table_bytes, max_age: None })
    }

    /// FIFO that also drops tables older than `max_age` (see [`FifoOptions::max_age`]):
    /// a time-to-live for logs and caches. **Dropped data is lost**, by design.
    pub fn fifo_with_max_age(max_table_bytes: u64, max_age: std::time::Duration) -> Self {
        Compaction::Fifo(FifoOptions { max_table_bytes, max_age: Some(max_age) })
    }
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction::leveled()
    }
}

/// How the bloom filters' memory is spread over the sorted runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BloomAllocation {
    /// `bloom_bits_per_key` for every key of every table.
    #[default]
    Uniform,
    /// Monkey (Dayan et al., SIGMOD 2017): the same total memory, spread so that each
    /// run's false-positive rate is proportional to its size — more bits per key for
    /// small runs, fewer for the largest — which minimises the runs an absent key's
    /// lookup reads. Each table gets its bits when written, from the tree's shape then.
    Monkey,
}

/// How recovery treats a damaged WAL.
///
/// What every mode keeps: a write acknowledged with `sync_writes(true)` (or followed by a
/// successful `Db::sync`) is in a WAL prefix that was fsynced, which a power loss cannot
/// damage, so every mode recovers it or reports `Error::Corruption`; none ever drops it
/// silently unless the disk changed synced bytes (media damage, which only
/// `AbsoluteConsistency` is sure to report). Unsynced writes are what a power loss may
/// take, and the modes differ in what they accept of the damage it leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WalRecovery {
    /// Replay up to the first damage of any kind and keep that prefix; everything
    /// after it, in that WAL and in later ones, is dropped (and counted in
    /// `Stats::wal_bytes_dropped_at_open`). The database always opens, to the state
    /// after some prefix of the acknowledged writes, batches whole. This is what a
    /// power loss needs: write-back reaches the disk out of order, so an unsynced page
    /// can be lost while a later one persists. The default, like RocksDB's
    /// `kPointInTimeRecovery`. Under it a memtable switch retires the full WAL without
    /// syncing it (most of it is deleted before it ever reaches the disk); a lost tail
    /// of such a log ahead of a later log that survived is a gap like any other. The
    /// other modes sync each WAL at the switch, before the next one is created, so that
    /// no gap opens between logs.
    #[default]
    PointInTime,
    /// Drop a torn or corrupt tail after the last good record (a crash mid-write leaves
    /// one); damage followed by good records is `Error::Corruption`, so a lost page in
    /// the middle of unsynced data refuses to open. Like RocksDB's
    /// `kTolerateCorruptedTailRecords`.
    TolerateCorruptedTail,
    /// Any damage at all, even a torn tail, is `Error::Corruption`.
    AbsoluteConsistency,
}

/// The file system a database runs on, with a `Debug` that does not need the trait to
/// implement it.
#[derive(Clone)]
pub(crate) struct FsHandle(pub(crate) Arc<dyn FileSystem>);

impl fmt::Debug for FsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileSystem")
    }
}

/// Options of one write (`Db::write_opt`).
///
/// ```
/// use strata::{WriteBatch, WriteOptions};
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
/// let mut vote = WriteBatch::new();
/// vote.put("raft/vote", "term 7: node 2");
/// // Durable on return, though the database does not sync every write.
/// db.write_opt(vote, &WriteOptions::new().sync(true))?;
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub(crate) sync: bool,
}

impl WriteOptions {
    /// The defaults: the database's `Options::sync_writes` decides.
    pub fn new() -> Self {
        Self::default()
    }

    /// With `true`, the WAL is fsynced before the write returns, whatever
    /// `Options::sync_writes` says, so the write survives a power loss once it returns.
    /// Writes committed in the same group (see `Db::write`) are synced with it.
    pub fn sync(mut self, yes: bool) -> Self {
        self.sync = yes;
        self
    }
}

/// Database options; build with the chained setters, starting from `Options::default()`.
///
/// ```
/// use strata::{Compaction, Compression, LeveledOptions, Options};
///
/// // LeveledOptions is non-exhaustive: start from its defaults and change fields.
/// let mut leveled = LeveledOptions::default();
/// leveled.l0_compaction_trigger = 8;
/// let options = Options::default()
///     .memtable_size(32 << 20)
///     .block_cache_size(256 << 20)
///     .bloom_bits_per_key(12)
///     .compaction(Compaction::Leveled(leveled))
///     // No compression on the two hot levels, LZ4 below them.
///     .compression_per_level([Compression::None, Compression::None, Compression::Lz4])
///     .sync_writes(true);
/// # let dir = tempfile::tempdir().unwrap();
/// let db = strata::Db::open(dir.path(), options)?;
/// # Ok::<(), strata::Error>(())
/// ```
///
/// Values that make no sense (a zero memtable, a block under 256 bytes) are
/// `Error::InvalidArgument` at `Db::open`, before anything touches the disk.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) memtable_size: usize,
    pub(crate) memtable_huge_pages: bool,
    pub(crate) memtable_point_index: bool,
    pub(crate) block_size: usize,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) bloom_allocation: BloomAllocation,
    pub(crate) block_cache_size: usize,
    /// `None`: an eighth of the block cache.
    pub(crate) scan_fill_limit: Option<usize>,
    pub(crate) compaction: Compaction,
    pub(crate) sync_writes: bool,
    pub(crate) create_if_missing: bool,
    pub(crate) max_immutable_memtables: usize,
    pub(crate) max_subcompactions: usize,
    pub(crate) transaction_log_bytes: usize,
    pub(crate) parallel_flush_compression: bool,
    pub(crate) wal_recovery: WalRecovery,
    pub(crate) mmap_reads: bool,
    /// Codec of data blocks per level; the last entry covers every deeper level.
    pub(crate) compression: Vec<Compression>,
    pub(crate) fs: FsHandle,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memtable_size: 16 << 20,
            memtable_huge_pages: true,
            memtable_point_index: true,
            block_size: 4096,
            bloom_bits_per_key: 10,
            bloom_allocation: BloomAllocation::Uniform,
            block_cache_size: 32 << 20,
            scan_fill_limit: None,
            compaction: Compaction::default(),
            sync_writes: false,
            create_if_missing: true,
            max_immutable_memtables: 1,
            max_subcompactions: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            transaction_log_bytes: 16 << 20,
            parallel_flush_compression: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            wal_recovery: WalRecovery::default(),
            mmap_reads: false,
            compression: vec![Compression::default()],
            fs: FsHandle(Arc::new(OsFileSystem)),
        }
    }
}

impl Options {
    /// A memtable is frozen and flushed once it holds more than this many bytes
    /// (default 16 MiB).
    pub fn memtable_size(mut self, bytes: usize) -> Self {
        self.memtable_size = bytes;
        self
    }

    /// Whether memtables of 16 MiB and more may use transparent huge pages (default
    /// true; Linux, where `MADV_HUGEPAGE` is honoured). A random insert or lookup visits
    /// a dozen skiplist nodes spread over the whole memtable, and huge pages spare most
    /// of those visits a TLB miss. Turn it off where the kernel's synchronous huge-page
    /// compaction (THP `defrag` = `madvise`) costs more latency than it saves.
    pub fn memtable_huge_pages(mut self, enabled: bool) -> Self {
        self.memtable_huge_pages = enabled;
        self
    }

    /// Whether each memtable keeps a hash index from user key to its newest version
    /// (default true). A point lookup then probes a slot or two instead of searching the
    /// skiplist, whose search costs about ten cache misses in a memtable of half a
    /// million entries; puts pay a probe each, and the index takes about 12 bytes per
    /// entry out of the memtable's size. Scans do not use it. Like
    /// [`memtable_huge_pages`](Self::memtable_huge_pages), the database's setting
    /// applies to every keyspace (it is not part of a keyspace's own options).
    pub fn memtable_point_index(mut self, enabled: bool) -> Self {
        self.memtable_point_index = enabled;
        self
    }

    /// Target uncompressed size of an SSTable data block (default 4 KiB, at least 256).
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes;
        self
    }

    /// Bloom filter bits per key; 0 writes no filter (default 10, about 1% false positives).
    pub fn bloom_bits_per_key(mut self, bits: u32) -> Self {
        self.bloom_bits_per_key = bits;
        self
    }

    /// How the bloom filters' memory (`bloom_bits_per_key` × keys) is spread over the
    /// sorted runs (default `Uniform`); see [`BloomAllocation::Monkey`].
    pub fn bloom_allocation(mut self, allocation: BloomAllocation) -> Self {
        self.bloom_allocation = allocation;
        self
    }

    /// Bytes of decoded blocks kept in memory; 0 disables the cache (default 32 MiB).
    /// Besides it, up to a thirty-second of it (at least 256 KiB, at most 4 MiB) of idle
    /// block buffers are kept for reuse (`cache::buffer_pool`).
    pub fn block_cache_size(mut self, bytes: usize) -> Self {
        self.block_cache_size = bytes;
        self
    }

    /// Bytes of data blocks a cursor or iterator may add to the block cache by walking
    /// from one block to the next after its last seek (default: an eighth of the block
    /// cache). Past that, a long scan uses the blocks it reads and drops them, so that
    /// it neither evicts what point reads and short scans keep in the cache nor pays
    /// for inserting blocks it will not read again before they are evicted (see
    /// `cache::fill`). The block a seek lands in always enters the cache.
    /// `usize::MAX` lets every block in, as LevelDB and RocksDB do by default.
    pub fn scan_fill_limit(mut self, bytes: usize) -> Self {
        self.scan_fill_limit = Some(bytes);
        self
    }

    /// The scan fill limit in force: the one set, or an eighth of the block cache.
    pub(crate) fn scan_fill_bytes(&self) -> usize {
        self.scan_fill_limit.unwrap_or(self.block_cache_size / 8)
    }

    /// The compaction strategy (default `Compaction::leveled()`).
    pub fn compaction(mut self, strategy: Compaction) -> Self {
        self.compaction = strategy;
        self
    }

    /// fsync the WAL before a write returns (default false: a write survives a process
    /// crash at once and a power loss after the next `Db::sync`).
    pub fn sync_writes(mut self, yes: bool) -> Self {
        self.sync_writes = yes;
        self
    }

    /// Whether `Db::open` creates a database where there is none (default true, as the
    /// API promises). With `false`, a path without a database is an error naming it,
    /// and nothing is created (RocksDB's `create_if_missing`).
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }

    /// Frozen memtables allowed to wait for flush before writers wait too (default 1,
    /// like LevelDB and RocksDB: memory stays near twice the memtable size).
    pub fn max_immutable_memtables(mut self, n: usize) -> Self {
        self.max_immutable_memtables = n;
        self
    }

    /// Memory for the keys recent commits wrote, which optimistic transactions are
    /// checked against (default 16 MiB; kept only while a transaction is live). A
    /// transaction that outlives the writes this holds (it started before the oldest
    /// one kept) gets `Error::Conflict` at commit and should be retried.
    pub fn transaction_log_bytes(mut self, bytes: usize) -> Self {
        self.transaction_log_bytes = bytes;
        self
    }

    /// Most key ranges one compaction may merge on parallel threads (RocksDB's
    /// subcompactions; default: the machine's cores, at most 4; 1 merges every job on
    /// the compaction thread alone). Only jobs writing below L0 are split, and only
    /// into ranges of a few blocks at least.
    pub fn max_subcompactions(mut self, n: usize) -> Self {
        self.max_subcompactions = n;
        self
    }

    /// Whether a memtable flush compresses its data blocks on a helper thread while the
    /// flush thread walks the memtable and builds the next blocks (default: on if the
    /// machine has more than one core). The table is the same byte for byte either way;
    /// a flush takes about half the time (see `benches/peers/README.md`), which is what
    /// writers waiting on a full memtable and `Db::flush` wait for. Compactions always
    /// compress on their own threads (they split their work with
    /// [`max_subcompactions`](Self::max_subcompactions) instead).
    pub fn parallel_flush_compression(mut self, yes: bool) -> Self {
        self.parallel_flush_compression = yes;
        self
    }

    /// How recovery treats a damaged WAL (default: [`WalRecovery::PointInTime`]).
    pub fn wal_recovery(mut self, mode: WalRecovery) -> Self {
        self.wal_recovery = mode;
        self
    }

    /// Reads tables through memory maps instead of `pread` (default false; RocksDB's
    /// `allow_mmap_reads`).
    ///
    /// The gain: a block read that misses the block cache costs no system call.
    /// Measured with the peer benchmark (1M keys, `benches/peers/README.md`), random
    /// gets and seeks were about 30% faster when most reads missed the cache.
    ///
    /// **The risk, which is why it is off:** a mapped page that cannot be read kills the
    /// process with SIGBUS instead of returning an error. That happens if another
    /// process (a bad restore, a file-system repair, an operator) truncates a live
    /// table, or if the disk reports an I/O error for a page that is not in memory.
    /// Without this option both are `Error::Corruption` or `Error::Io`. Values and
    /// cached blocks never share memory with the map either way, so a deleted table's
    /// space is freed as soon as no reader is in it.
    ///
    /// # Safety
    ///
    /// With `yes`, while the database is open nothing outside it may modify its table
    /// files (`*.sst`) in place: the engine reads them as `&[u8]` over the map, and
    /// bytes changing under it are undefined behaviour, not just wrong answers. strata
    /// never writes a table once it is complete, and its directory lock keeps other
    /// strata processes out; other programs are the caller's to keep away. Passing
    /// `false` has no requirement.
    pub unsafe fn mmap_reads(mut self, yes: bool) -> Self {
        self.mmap_reads = yes;
        self
    }

    /// Compresses the data blocks of every level with `codec` (default
    /// `Compression::Lz4`).
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = vec![codec];
        self
    }

    /// Compresses level `i`'s data blocks with `codecs[i]`, and levels beyond the list with
    /// its last entry: e.g. `[None, None, Lz4]` keeps the hot, short-lived L0 and L1
    /// tables uncompressed. Under size-tiered compaction, "level" is where a run lives.
    /// An empty list is `InvalidArgument` at open.
    ///
    /// The trade, measured with the peer benchmark (`benches/peers/README.md`, 1M keys
    /// all in L0 after the final flush): `[None, Lz4]` made random gets 46% faster, seeks
    /// 40% and scans 28%, and flushes about twice as fast, for 1.7× the disk until
    /// compaction rewrites L0.
    pub fn compression_per_level(mut self, codecs: impl Into<Vec<Compression>>) -> Self {
        self.compression = codecs.into();
        self
    }

    /// The codec for tables written to `level`.
    pub(crate) fn compression_for_level(&self, level: u32) -> Compression {
        let i = (level as usize).min(self.compression.len().saturating_sub(1));
        self.compression.get(i).copied().unwrap_or_default()
    }

    /// Runs the database on another file system, such as the fault-injecting one in
    /// `strata::testing` (cargo feature `fault-injection`) (default: the operating system's).
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = FsHandle(fs);
        self
    }

    /// The options a keyspace keeps for itself, as its MANIFEST creation record stores
    /// them (`keyspace_with`):
    ///
    /// ```text
    /// options := 1: u8 (format) | memtable_size varint64 | block_size varint64
    ///            | bloom_bits_per_key varint32 | max_immutable_memtables varint64
    ///            | max_subcompactions varint64
    ///            | compaction: 0 u8 | l0_compaction_trigger | level_size_multiplier
    ///                                | num_levels                   (varint64 each)
    ///                                  (4 instead of 0: with dynamic_level_bytes)
    ///                        | 1 u8 | min_threshold | max_threshold
    ///                                | max_size_amplification_percent (varint64 each)
    ///                        | 2 u8 | size_ratio | runs_per_level | last_level_runs
    ///                        | 3 u8 | max_table_bytes | max_age_secs | 0 (FIFO)
    ///            | n varint32 | codec u8 * n  (0 none, 1 LZ4, 2 zstd; per level as
    ///                                          compression_per_level)
    ///            | bloom_allocation u8         (0 uniform, 1 Monkey; absent: uniform)
    /// ```
    ///
    /// The rest (file system, cache, WAL and sync settings, huge pages, scan fill limit,
    /// transaction log) is the database's, from the options it is opened with.
    pub(crate) fn encode_keyspace(&self) -> Vec<u8> {
        let mut out = vec![1];
        for v in [self.memtable_size as u64, self.block_size as u64] {
            put_varint64(&mut out, v);
        }
        put_varint32(&mut out, self.bloom_bits_per_key);
        for v in [self.max_immutable_memtables as u64, self.max_subcompactions as u64] {
            put_varint64(&mut out, v);
        }
        let (kind, params) = match &self.compaction {
            Compaction::Leveled(l) => {
                let kind = if l.dynamic_level_bytes { 4 } else { 0 };
                (kind, [l.l0_compaction_trigger as u64, l.level_size_multiplier, l.num_levels as u64])
            }
            Compaction::Tiered(t) => {
                (1, [t.min_threshold as u64, t.max_threshold as u64, t.max_size_amplification_percent])
            }
            Compaction::Fluid(f) => (2, [f.size_ratio, f.runs_per_level as u64, f.last_level_runs as u64]),
            // The age in whole seconds; 0 for none.
            Compaction::Fifo(f) => (3, [f.max_table_bytes, f.max_age.map_or(0, |a| a.as_secs()), 0]),
        };
        out.push(kind);
        for v in params {
            put_varint64(&mut out, v);
        }
        put_varint32(&mut out, self.compression.len() as u32);
        out.extend(self.compression.iter().map(|c| match c {
            Compression::None => 0,
            Compression::Lz4 => 1,
            Compression::Zstd => 2,
        }));
        out.push(match self.bloom_allocation {
            BloomAllocation::Uniform => 0,
            BloomAllocation::Monkey => 1,
        });
        out
    }

    /// These options with a keyspace's own, as [`Options::encode_keyspace`] wrote them;
    /// `None` if `encoded` is malformed or out of range.
    pub(crate) fn with_keyspace(&self, encoded: &[u8]) -> Option<Options> {
        let mut d = Decoder::new(encoded);
        if d.u8()? != 1 {
            return None;
        }
        let usize_of = |v: u64| usize::try_from(v).ok();
        let mut o = self.clone();
        o.memtable_size = usize_of(d.varint64()?)?;
        o.block_size = usize_of(d.varint64()?)?;
        o.bloom_bits_per_key = d.varint32()?;
        o.max_immutable_memtables = usize_of(d.varint64()?)?;
        o.max_subcompactions = usize_of(d.varint64()?)?;
        let kind = d.u8()?;
        let (a, b, c) = (d.varint64()?, d.varint64()?, d.varint64()?);
        o.compaction = match kind {
            0 | 4 => Compaction::Leveled(LeveledOptions {
                l0_compaction_trigger: usize_of(a)?,
                level_size_multiplier: b,
                num_levels: usize_of(c)?,
                dynamic_level_bytes: kind == 4,
            }),
            1 => Compaction::Tiered(TieredOptions {
                min_threshold: usize_of(a)?,
                max_threshold: usize_of(b)?,
                max_size_amplification_percent: c,
            }),
            2 => Compaction::fluid(a, usize_of(b)?, usize_of(c)?),
            3 if b == 0 => Compaction::fifo(a),
            3 => Compaction::fifo_with_max_age(a, std::time::Duration::from_secs(b)),
            _ => return None,
        };
        let n = d.varint32()?;
        o.compression = (0..n)
            .map(|_| match d.u8()? {
                0 => Some(Compression::None),
                1 => Some(Compression::Lz4),
                2 => Some(Compression::Zstd),
                _ => None,
            })
            .collect::<Option<_>>()?;
        // Absent in records written before Monkey existed: uniform.
        o.bloom_allocation = match d.is_empty().then_some(0).or_else(|| d.u8()) {
            Some(0) => BloomAllocation::Uniform,
            Some(1) => BloomAllocation::Monkey,
            _ => return None,
        };
        (d.is_empty() && o.validate().is_ok()).then_some(o)
    }

    /// Checks that the options make sense together.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |s: String| Err(Error::InvalidArgument(s));
        if self.memtable_size == 0 {
            return invalid("memtable_size must be greater than zero".into());
        }
        if cfg!(not(feature = "zstd")) && self.compression.contains(&Compression::Zstd) {
            return invalid("Compression::Zstd needs strata's `zstd` cargo feature".into());
        }
        if self.block_size < MIN_BLOCK_SIZE {
            return invalid(format!("block_size {} is under the minimum of {MIN_BLOCK_SIZE} bytes", self.block_size));
        }
        if self.block_size > (1 << 30) {
            return invalid(format!("block_size {} is over the maximum of 1 GiB", self.block_size));
        }
        if self.bloom_bits_per_key > 64 {
            return invalid(format!("bloom_bits_per_key {} is over the maximum of 64", self.bloom_bits_per_key));
        }
        if self.compression.is_empty() {
            return invalid("compression_per_level needs at least one codec".into());
        }
        if self.max_immutable_memtables == 0 {
            return invalid("max_immutable_memtables must be at least 1".into());
        }
        if self.max_subcompactions == 0 {
            return invalid("max_subcompactions must be at least 1".into());
        }
        match &self.compaction {
            Compaction::Leveled(l) => {
                let levels_ok = (2..=crate::version::set::MAX_LEVELS).contains(&l.num_levels);
                if l.l0_compaction_trigger == 0 || l.level_size_multiplier < 2 || !levels_ok {
                    return invalid(format!("leveled options out of range: {l:?}"));
                }
            }
            Compaction::Tiered(t) => {
                if t.min_threshold < 2 || t.max_threshold < t.min_threshold {
                    return invalid(format!("tiered options out of range: {t:?}"));
                }
            }
            Compaction::Fluid(f) => {
                let runs = 1..f.size_ratio.clamp(2, 1000) as usize;
                let ok = (2..=1000).contains(&f.size_ratio)
                    && runs.contains(&f.runs_per_level)
                    && runs.contains(&f.last_level_runs);
                if !ok {
                    return invalid(format!("fluid options out of range (T 2..=1000, K and Z 1..T): {f:?}"));
                }
            }
            Compaction::Fifo(f) => {
                if f.max_table_bytes == 0 {
                    return invalid("fifo max_table_bytes must be greater than zero".into());
                }
                // Ages are kept in whole seconds.
                if f.max_age.is_some_and(|a| a.as_secs() == 0) {
                    return invalid("fifo max_age must be at least one second".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Options::default().validate().unwrap();
    }

    #[test]
    fn nonsense_is_rejected() {
        for o in [
            Options::default().memtable_size(0),
            Options::default().block_size(255),
            Options::default().bloom_bits_per_key(100),
            Options::default().max_immutable_memtables(0),
            Options::default().max_subcompactions(0),
            Options::default()
                .compaction(Compaction::Leveled(LeveledOptions { num_levels: 17, ..LeveledOptions::default() })),
            Options::default()
                .compaction(Compaction::Tiered(TieredOptions { min_threshold: 1, ..TieredOptions::default() })),
            Options::default().compaction(Compaction::fluid(1, 1, 1)),
            Options::default().compaction(Compaction::fluid(4, 4, 1)),
            Options::default().compaction(Compaction::fluid(4, 3, 0)),
            Options::default().compaction(Compaction::fifo(0)),
            Options::default().compaction(Compaction::fifo_with_max_age(1, std::time::Duration::from_millis(500))),
        ] {
            assert!(matches!(o.validate(), Err(Error::InvalidArgument(_))), "{o:?}");
        }
        Options::default().block_size(256).validate().unwrap();
    }

    #[test]
    fn keyspace_options_round_trip_and_reject_damage() {
        let own = Options::default()
            .memtable_size(1 << 20)
            .block_size(8192)
            .bloom_bits_per_key(14)
            .bloom_allocation(BloomAllocation::Monkey)
            .compaction(Compaction::tiered())
            .compression_per_level([Compression::None, Compression::Lz4]);
        let encoded = own.encode_keyspace();
        let db = Options::default().sync_writes(true);
        let ttl = Compaction::fifo_with_max_age(1 << 30, std::time::Duration::from_secs(3600));
        for strategy in [Compaction::lazy_leveling(), Compaction::fluid(4, 2, 3), Compaction::fifo(1 << 30), ttl] {
            let o = Options::default().compaction(strategy);
            assert_eq!(db.with_keyspace(&o.encode_keyspace()).unwrap().encode_keyspace(), o.encode_keyspace());
        }
        let got = db.with_keyspace(&encoded).unwrap();
        assert_eq!(got.encode_keyspace(), encoded);
        assert!(got.sync_writes, "the database's own settings stay");
        assert!(matches!(got.compaction, Compaction::Tiered(_)));
        assert_eq!(got.compression_for_level(3), Compression::Lz4);
        for cut in 0..encoded.len() - 1 {
            assert!(db.with_keyspace(&encoded[..cut]).is_none(), "cut at {cut}");
        }
        // Without its last byte (the bloom allocation, added later) it is still read, as
        // uniform.
        let older = db.with_keyspace(&encoded[..encoded.len() - 1]).unwrap();
        assert_eq!(older.bloom_allocation, BloomAllocation::Uniform);
        let mut zero_memtable = Options::default().encode_keyspace();
        zero_memtable[1] = 0;
        assert!(db.with_keyspace(&zero_memtable).is_none());
    }
}
