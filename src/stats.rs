//! Statistics: what the engine did, counted as it happens, so that write, read and space
//! amplification can be compared honestly between configurations.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::version::set::MAX_LEVELS;

/// Files and bytes on one level (or, for tiered compaction, one tier).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LevelStats {
    /// SSTables on the level.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Compactions that wrote into this level since open.
    pub compactions: u64,
    /// Bytes those compactions read.
    pub compaction_bytes_read: u64,
    /// Bytes those compactions wrote.
    pub compaction_bytes_written: u64,
    /// Lookups' bloom filter probes of this level's tables since open.
    pub bloom_probes: u64,
    /// Probes where the filter ruled the key out.
    pub bloom_negatives: u64,
    /// Probes where the filter let an absent key through.
    pub bloom_false_positives: u64,
    /// Tables of this level whose data block a lookup read (filter passed or absent).
    pub get_tables_read: u64,
}

impl LevelStats {
    /// The share of probes for keys a table does not hold that its filter let through:
    /// false positives / (negatives + false positives); 0 before any such probe.
    pub fn bloom_false_positive_rate(&self) -> f64 {
        let absent = self.bloom_negatives + self.bloom_false_positives;
        if absent == 0 {
            return 0.0;
        }
        self.bloom_false_positives as f64 / absent as f64
    }
}

/// One live SSTable, as `Db::tables` describes it.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TableInfo {
    /// Level (for tiered: 0 for the runs of L0, deeper levels are one run each).
    pub level: usize,
    /// File number (`NNNNNN.sst`).
    pub number: u64,
    /// Bytes on disk.
    pub size: u64,
    /// Smallest user key.
    pub smallest_key: Vec<u8>,
    /// Largest user key, or the (excluded) end of the range tombstone that reaches
    /// furthest, if that lies beyond every key.
    pub largest_key: Vec<u8>,
    /// Smallest seqno.
    pub min_seq: u64,
    /// Largest seqno.
    pub max_seq: u64,
    /// Entries (versions).
    pub entries: u64,
    /// Tombstones among them.
    pub deletions: u64,
    /// Range tombstones (fragments), which `entries` does not count.
    pub range_deletions: u64,
}

/// A snapshot of the engine's counters; see `Db::stats`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Key + value bytes accepted by put/delete/write since open.
    pub user_bytes_written: u64,
    /// Bytes appended to write-ahead logs since open (framing included).
    pub wal_bytes_written: u64,
    /// SSTable bytes written by memtable flushes since open.
    pub flush_bytes_written: u64,
    /// SSTable bytes read by compactions since open.
    pub compaction_bytes_read: u64,
    /// SSTable bytes written by compactions since open.
    pub compaction_bytes_written: u64,
    /// Index 0 = L0 (the newest).
    pub levels: Vec<LevelStats>,
    /// Memtable flushes completed since open.
    pub flushes: u64,
    /// Memtables frozen because writes filled them to `memtable_size` (explicit flushes
    /// and close are not counted).
    pub memtables_filled: u64,
    /// Point lookups served since open.
    pub gets: u64,
    /// SSTables whose data block a lookup read (filter passed or absent): a lookup reads
    /// one data block per table, so this is also the data blocks lookups read. The sum
    /// of `levels[*].get_tables_read`.
    pub get_tables_read: u64,
    /// Bloom filter probes made by lookups (the sum over `levels`).
    pub bloom_probes: u64,
    /// Probes where the filter ruled the key out (the sum over `levels`).
    pub bloom_negatives: u64,
    /// Probes where the filter let an absent key through (the sum over `levels`).
    pub bloom_false_positives: u64,
    /// Cursors and range/prefix iterators finished (dropped) since open.
    pub scans: u64,
    /// SSTable data blocks those scans opened (from the cache or the file).
    pub scan_blocks_read: u64,
    /// Write groups committed (each one WAL write).
    pub write_groups: u64,
    /// Writes that waited for a flush because too many memtables were full.
    pub write_stalls: u64,
    /// Bytes of torn WAL tail dropped during recovery at open.
    pub wal_bytes_dropped_at_open: u64,
    /// Compaction jobs completed since open (trivial moves included).
    pub compactions: u64,
    /// Compactions that moved a table to the next level without rewriting it.
    pub trivial_moves: u64,
    /// Data blocks compactions copied whole from an input table instead of building
    /// and compressing them again: blocks holding a single entry (a value bigger than
    /// a block) that the compaction kept as it was.
    pub compaction_blocks_copied: u64,
    /// Write groups slowed down (about 1 ms each) because compaction fell behind.
    pub write_slowdowns: u64,
    /// The compaction strategy's name ("leveled" or "tiered").
    pub strategy: String,
    /// Sorted runs a read may consult: each L0 table plus each non-empty deeper level.
    pub sorted_runs: usize,
    /// Bytes of decoded blocks in the block cache now (0 without a cache).
    pub block_cache_bytes: u64,
}

impl Stats {
    /// (flush + compaction bytes written) / user bytes written; 0 before any write.
    pub fn write_amplification(&self) -> f64 {
        if self.user_bytes_written == 0 {
            return 0.0;
        }
        (self.flush_bytes_written + self.compaction_bytes_written) as f64 / self.user_bytes_written as f64
    }

    /// Sum of `levels[*].bytes`.
    pub fn live_sst_bytes(&self) -> u64 {
        self.levels.iter().map(|l| l.bytes).sum()
    }

    /// SSTables read per lookup on average (read amplification on disk).
    pub fn tables_read_per_get(&self) -> f64 {
        if self.gets == 0 {
            return 0.0;
        }
        self.get_tables_read as f64 / self.gets as f64
    }

    /// SSTable data blocks opened per finished scan; 0 before any.
    pub fn blocks_read_per_scan(&self) -> f64 {
        if self.scans == 0 {
            return 0.0;
        }
        self.scan_blocks_read as f64 / self.scans as f64
    }
}

impl Stats {
    /// Adds `other`'s counts to these (levels level by level, sorted runs too); the
    /// strategy and block cache figures stay.
    pub(crate) fn absorb(&mut self, other: &Stats) {
        for (mine, theirs) in [
            (&mut self.user_bytes_written, other.user_bytes_written),
            (&mut self.wal_bytes_written, other.wal_bytes_written),
            (&mut self.flush_bytes_written, other.flush_bytes_written),
            (&mut self.compaction_bytes_read, other.compaction_bytes_read),
            (&mut self.compaction_bytes_written, other.compaction_bytes_written),
            (&mut self.flushes, other.flushes),
            (&mut self.memtables_filled, other.memtables_filled),
            (&mut self.gets, other.gets),
            (&mut self.get_tables_read, other.get_tables_read),
            (&mut self.bloom_probes, other.bloom_probes),
            (&mut self.bloom_negatives, other.bloom_negatives),
            (&mut self.bloom_false_positives, other.bloom_false_positives),
            (&mut self.scans, other.scans),
            (&mut self.scan_blocks_read, other.scan_blocks_read),
            (&mut self.write_groups, other.write_groups),
            (&mut self.write_stalls, other.write_stalls),
            (&mut self.wal_bytes_dropped_at_open, other.wal_bytes_dropped_at_open),
            (&mut self.compactions, other.compactions),
            (&mut self.trivial_moves, other.trivial_moves),
            (&mut self.compaction_blocks_copied, other.compaction_blocks_copied),
            (&mut self.write_slowdowns, other.write_slowdowns),
        ] {
            *mine += theirs;
        }
        if self.levels.len() < other.levels.len() {
            self.levels.resize(other.levels.len(), LevelStats::default());
        }
        for (mine, theirs) in self.levels.iter_mut().zip(&other.levels) {
            mine.files += theirs.files;
            mine.bytes += theirs.bytes;
            mine.compactions += theirs.compactions;
            mine.compaction_bytes_read += theirs.compaction_bytes_read;
            mine.compaction_bytes_written += theirs.compaction_bytes_written;
            mine.bloom_probes += theirs.bloom_probes;
            mine.bloom_negatives += theirs.bloom_negatives;
            mine.bloom_false_positives += theirs.bloom_false_positives;
            mine.get_tables_read += theirs.get_tables_read;
        }
        self.sorted_runs += other.sorted_runs;
    }
}

/// What lookups did on one level.
#[derive(Default)]
pub(crate) struct LevelReadCounters {
    pub get_tables_read: AtomicU64,
    pub bloom_negatives: AtomicU64,
    /// Probes the filter passed (a table read, the key there or not).
    pub bloom_passes: AtomicU64,
    pub bloom_false_positives: AtomicU64,
}

/// A lookup's counts on the level it is at, kept on its stack and added to the shared
/// counters when it moves to a deeper level or ends: readers on several threads would
/// otherwise contend for the counters' cache lines once per table. (An array of every
/// level's counts, zeroed per lookup, cost a lookup of an absent key 12% more
/// instructions.)
#[derive(Default)]
pub(crate) struct LookupCounts {
    level: usize,
    pub tables_read: u32,
    pub negatives: u32,
    pub passes: u32,
    pub false_positives: u32,
}

impl LookupCounts {
    /// Moves to `level` (levels come in increasing order), adding what was counted on
    /// the one before to `counters`.
    #[inline]
    pub(crate) fn at_level(&mut self, level: usize, counters: &Counters) {
        if level != self.level {
            self.add_to(counters);
            *self = LookupCounts { level, ..LookupCounts::default() };
        }
    }

    /// Adds the counts to `counters`, skipping zeros.
    pub(crate) fn add_to(&self, counters: &Counters) {
        let shared = &counters.level_reads[self.level.min(MAX_LEVELS - 1)];
        for (n, counter) in [
            (self.tables_read, &shared.get_tables_read),
            (self.negatives, &shared.bloom_negatives),
            (self.passes, &shared.bloom_passes),
            (self.false_positives, &shared.bloom_false_positives),
        ] {
            if n > 0 {
                Counters::add(counter, u64::from(n));
            }
        }
    }
}

/// The live counters behind [`Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub user_bytes_written: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub flush_bytes_written: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub flushes: AtomicU64,
    pub memtables_filled: AtomicU64,
    pub gets: AtomicU64,
    /// Lookups' table reads and filter probes, per level.
    pub level_reads: [LevelReadCounters; MAX_LEVELS],
    pub scans: AtomicU64,
    pub scan_blocks_read: AtomicU64,
    pub write_groups: AtomicU64,
    pub write_stalls: AtomicU64,
    pub wal_bytes_dropped_at_open: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub compaction_blocks_copied: AtomicU64,
    pub write_slowdowns: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Copies the counters into a [`Stats`] (levels, the lookups' totals over them, the
    /// strategy, sorted runs and the cache usage are filled in by `fill_levels` and the
    /// caller).
    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            user_bytes_written: get(&self.user_bytes_written),
            wal_bytes_written: get(&self.wal_bytes_written),
            flush_bytes_written: get(&self.flush_bytes_written),
            compaction_bytes_read: get(&self.compaction_bytes_read),
            compaction_bytes_written: get(&self.compaction_bytes_written),
            levels: Vec::new(),
            flushes: get(&self.flushes),
            memtables_filled: get(&self.memtables_filled),
            gets: get(&self.gets),
            get_tables_read: 0,
            bloom_probes: 0,
            bloom_negatives: 0,
            bloom_false_positives: 0,
            scans: get(&self.scans),
            scan_blocks_read: get(&self.scan_blocks_read),
            write_groups: get(&self.write_groups),
            write_stalls: get(&self.write_stalls),
            wal_bytes_dropped_at_open: get(&self.wal_bytes_dropped_at_open),
            compactions: get(&self.compactions),
            trivial_moves: get(&self.trivial_moves),
            compaction_blocks_copied: get(&self.compaction_blocks_copied),
            write_slowdowns: get(&self.write_slowdowns),
            strategy: String::new(),
            sorted_runs: 0,
            block_cache_bytes: 0,
        }
    }

    /// Adds the per-level lookup counters to `stats.levels` (which must have one entry
    /// per level of the version, or more) and their totals to `stats`.
    pub(crate) fn fill_levels(&self, stats: &mut Stats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // A level that has gone empty since its lookups still shows them.
        let touched = self.level_reads.iter().rposition(|c| get(&c.bloom_negatives) + get(&c.get_tables_read) > 0);
        if let Some(deepest) = touched.filter(|&l| l >= stats.levels.len()) {
            stats.levels.resize(deepest + 1, LevelStats::default());
        }
        for (level, c) in stats.levels.iter_mut().zip(&self.level_reads) {
            level.get_tables_read = get(&c.get_tables_read);
            level.bloom_negatives = get(&c.bloom_negatives);
            level.bloom_false_positives = get(&c.bloom_false_positives);
            level.bloom_probes = level.bloom_negatives + get(&c.bloom_passes);
        }
        for level in &stats.levels {
            stats.get_tables_read += level.get_tables_read;
            stats.bloom_probes += level.bloom_probes;
            stats.bloom_negatives += level.bloom_negatives;
            stats.bloom_false_positives += level.bloom_false_positives;
        }
    }
}
