//! [`Tree`]: one keyspace's LSM tree — its memtables, tables, compaction strategy and
//! counters — and [`TreeState`], the part of it that changes under the database's
//! `state` lock.
//!
//! Every keyspace (the default one included) is a tree; they share the database's WAL,
//! MANIFEST, seqnos, snapshots, block cache and background threads. What a tree
//! promises: its view (`current`) always equals its `TreeState::sv`, installed under
//! `state`; its memtables hold only its own keys; the WALs numbered from its oldest
//! frozen memtable's log number (or its active memtable's) on hold every write of it
//! that no table holds.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::compact::LevelCounters;
use super::merge_cache::MergeCache;
use super::{new_strategy, SuperVersion};
use crate::cache::CacheFill;
use crate::compaction::{CompactionStrategy, Stall};
use crate::memtable::arena::ChunkPool;
use crate::memtable::{MemTable, DEFAULT_ENTRY_BYTES};
use crate::options::Options;
use crate::stats::{Counters, LevelStats, Stats};

/// A source of identities that tell tree instances apart within the process: a
/// `Keyspace` handle carries its tree's, so one from another database, or from a
/// dropped keyspace whose name was created again, is refused rather than misapplied.
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// One keyspace's tree: the parts readers and the background threads use without the
/// `state` lock.
pub(crate) struct Tree {
    /// The id its WAL entries and MANIFEST records carry (0: "default").
    pub id: u32,
    /// Unique among the trees of this process (see `NEXT_UID`).
    pub uid: u64,
    pub name: String,
    /// The database's options with this keyspace's own (strategy, memtable size,
    /// bloom bits, compression, ...).
    pub opts: Options,
    /// A copy of `TreeState::sv`, published on every change, so that readers take a
    /// brief read lock instead of the `state` mutex that writers hold.
    current: RwLock<Arc<SuperVersion>>,
    /// The compaction strategy that picks jobs; held for the whole of a job, so one
    /// runs at a time in this tree.
    pub compactor: Mutex<Box<dyn CompactionStrategy>>,
    /// The same strategy for questions that need no picking state (stalls, shape
    /// checks, statistics), so they never wait behind a running job.
    pub policy: Box<dyn CompactionStrategy>,
    pub level_counters: Mutex<Vec<LevelCounters>>,
    /// The merge the last dropped cursor or iterator left for the next one.
    pub merge_cache: MergeCache,
    /// This tree's counters (the WAL's and write groups' are the database's).
    pub stats: Counters,
    /// Set once the keyspace is dropped: its handles refuse every call.
    pub dropped: AtomicBool,
    /// Its strategy asks writers to slow down (set whenever a view is installed), read
    /// by every writer before it queues.
    slowdown: AtomicBool,
    /// Huge-page chunks of its flushed memtables, for the next ones (at most one
    /// memtable's worth: what the next one needs).
    chunk_pool: Arc<ChunkPool>,
    /// Arena bytes per entry of its last memtable frozen at least half full: what its
    /// next memtables' point indexes are sized by.
    entry_bytes: AtomicUsize,
}

/// A memtable as `opts` configure it, its point index sized for entries of about
/// `entry_bytes` arena bytes.
pub(crate) fn memtable(opts: &Options, pool: Option<Arc<ChunkPool>>, entry_bytes: usize) -> MemTable {
    let index = opts.memtable_point_index.then_some(entry_bytes);
    MemTable::with_pool(opts.memtable_size, opts.memtable_huge_pages, pool, index)
}

/// A tree's first memtable (at open, or when its keyspace is created).
pub(crate) fn first_memtable(opts: &Options) -> MemTable {
    memtable(opts, None, DEFAULT_ENTRY_BYTES)
}

impl Tree {
    pub(crate) fn new(id: u32, name: String, opts: Options, sv: Arc<SuperVersion>) -> Tree {
        let policy = new_strategy(&opts);
        let slowdown = AtomicBool::new(policy.stall(&sv.version) == Stall::Slowdown);
        Tree {
            id,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            name,
            compactor: Mutex::new(new_strategy(&opts)),
            policy,
            chunk_pool: ChunkPool::new(opts.memtable_size),
            entry_bytes: AtomicUsize::new(DEFAULT_ENTRY_BYTES),
            opts,
            current: RwLock::new(sv),
            level_counters: Mutex::new(Vec::new()),
            merge_cache: MergeCache::default(),
            stats: Counters::default(),
            dropped: AtomicBool::new(false),
            slowdown,
        }
    }

    /// A fresh memtable for this tree, its arena recycling the tree's chunks, its point
    /// index sized by the entries of `last` (the memtable it replaces) if that one was
    /// at least half full, else by the last such memtable's: one frozen early (a
    /// `flush()`, an old WAL) may hold a few unrepresentative entries.
    pub(crate) fn new_memtable(&self, last: &MemTable) -> MemTable {
        if last.memory_usage() >= self.opts.memtable_size / 2 {
            if let Some(bytes) = last.entry_bytes() {
                self.entry_bytes.store(bytes, Ordering::Relaxed);
            }
        }
        memtable(&self.opts, Some(self.chunk_pool.clone()), self.entry_bytes.load(Ordering::Relaxed))
    }

    /// True while its strategy asks writers to slow down.
    pub(crate) fn slowed_down(&self) -> bool {
        self.slowdown.load(Ordering::Relaxed)
    }

    /// The current view of the tree's memtables and tables.
    pub(crate) fn super_version(&self) -> Arc<SuperVersion> {
        self.current.read().clone()
    }

    /// True if `sv` is the current view.
    pub(crate) fn is_current(&self, sv: &Arc<SuperVersion>) -> bool {
        Arc::ptr_eq(sv, &self.current.read())
    }

    /// Makes `sv` the view readers get; returns the one it replaced.
    pub(super) fn publish(&self, sv: Arc<SuperVersion>) -> Arc<SuperVersion> {
        self.slowdown.store(self.policy.stall(&sv.version) == Stall::Slowdown, Ordering::Relaxed);
        let old = std::mem::replace(&mut *self.current.write(), sv);
        self.merge_cache.clear();
        old
    }

    /// Counts a finished scan and the data blocks its merges' table cursors opened
    /// (`fills`: their shared budgets).
    pub(crate) fn count_scan(&self, fills: &[&CacheFill]) {
        Counters::add(&self.stats.scans, 1);
        let blocks: u64 = fills.iter().map(|f| f.take_blocks_opened()).sum();
        if blocks > 0 {
            Counters::add(&self.stats.scan_blocks_read, blocks);
        }
    }

    /// The tree's counters and shape.
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.stats.snapshot();
        let version = self.super_version().version.clone();
        let counters = self.level_counters.lock().clone();
        stats.levels = version
            .levels
            .iter()
            .enumerate()
            .map(|(level, files)| {
                let c = counters.get(level).copied().unwrap_or_default();
                LevelStats {
                    files: files.len(),
                    bytes: files.iter().map(|f| f.info.size).sum(),
                    compactions: c.compactions,
                    compaction_bytes_read: c.bytes_read,
                    compaction_bytes_written: c.bytes_written,
                    ..LevelStats::default()
                }
            })
            .collect();
        self.stats.fill_levels(&mut stats);
        stats.strategy = self.policy.name().to_string();
        stats.sorted_runs = self.policy.sorted_runs(&version);
        stats
    }
}

/// A frozen memtable and the oldest WAL that may hold its writes.
pub(crate) struct Frozen {
    pub mem: Arc<MemTable>,
    pub log_number: u64,
    /// When it was frozen, in the database's freeze order: the flush thread takes the
    /// oldest of any tree first, and `flush()` waits for the ones before its request.
    pub order: u64,
}

/// The part of a tree that changes under the database's `state` lock.
pub(crate) struct TreeState {
    pub tree: Arc<Tree>,
    pub sv: Arc<SuperVersion>,
    /// The oldest WAL that may hold a write of the active memtable (moved up to the new
    /// WAL at a switch while the memtable is empty).
    pub mem_log_number: u64,
    /// Frozen memtables, oldest first (the flush order).
    pub frozen: Vec<Frozen>,
}

/// Whether a keyspace's active memtable can take a write group.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Room {
    /// It has room.
    Enough,
    /// It must be frozen first (`full`: because it filled, not on request).
    Freeze { full: bool },
    /// It must be frozen and cannot be until a flush or compaction catches up.
    Blocked,
}

impl TreeState {
    /// Whether the active memtable can take a write group; `switch` if a flush request
    /// asks for it to be frozen (when it holds anything).
    pub(crate) fn room(&self, switch: bool) -> Room {
        let full = self.sv.mem.memory_usage() >= self.tree.opts.memtable_size;
        if !full && (!switch || self.sv.mem.is_empty()) {
            return Room::Enough;
        }
        let backlog = self.frozen.len() >= self.tree.opts.max_immutable_memtables;
        if backlog || self.tree.policy.stall(&self.sv.version) == Stall::Stop {
            return Room::Blocked;
        }
        Room::Freeze { full }
    }

    /// The oldest WAL holding a write of this tree that no table holds yet.
    pub(crate) fn oldest_log_needed(&self) -> u64 {
        self.frozen.first().map_or(self.mem_log_number, |f| f.log_number)
    }
}
