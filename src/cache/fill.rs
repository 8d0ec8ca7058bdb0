//! [`CacheFill`]: which of the data blocks a table cursor reads enter the block cache.
//!
//! A long scan floods an LRU cache: every block it reads evicts one that point reads
//! were using, and a scan longer than the cache finds none of its own blocks left when
//! it comes round again. The scan pays for the flood too: in a full scan of a database
//! twice the cache's size, inserting each block and evicting another (whose memory had
//! gone cold) took a third of the time per entry. So a cursor that walks from block to
//! block stops filling the cache once it has stepped through a budget of bytes since
//! its last seek, as PostgreSQL gives large sequential scans a small ring of buffers
//! (RocksDB leaves it to `fill_cache = false`, set by hand). The block a seek lands in
//! always enters: it is what a short range read, or the next seek nearby, wants again.
//! Blocks already cached are used under every policy.
//!
//! A budget also counts the blocks its cursors open, cached or not: the data blocks a
//! scan read, for statistics.
//!
//! Promises: a policy decides only whether a block read from the file is inserted;
//! what a cursor returns is the same under each.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Which blocks a table cursor inserts into the block cache.
#[derive(Clone, Debug, Default)]
pub enum CacheFill {
    /// Every block it reads (the default for one table's cursor).
    #[default]
    Always,
    /// None: a single pass whose blocks nobody reads again (a compaction's input).
    Never,
    /// Blocks a seek lands in, and blocks stepped into while the shared budget lasts.
    Budget(Arc<ScanBudget>),
}

impl CacheFill {
    /// A budget of `limit` stepped-through bytes, to be shared by every table cursor
    /// of one merged cursor.
    pub fn budget(limit: usize) -> CacheFill {
        CacheFill::Budget(Arc::new(ScanBudget { stepped: AtomicUsize::new(0), limit, opened: AtomicU64::new(0) }))
    }

    /// Whether a block a seek (or a move to either end) landed in enters the cache.
    pub fn on_seek(&self) -> bool {
        match self {
            CacheFill::Always => true,
            CacheFill::Never => false,
            CacheFill::Budget(b) => {
                b.count_opened();
                true
            }
        }
    }

    /// Whether a block of `bytes` that a cursor stepped into from its neighbour enters
    /// the cache; charges the budget, if any.
    pub fn on_step(&self, bytes: u64) -> bool {
        match self {
            CacheFill::Always => true,
            CacheFill::Never => false,
            CacheFill::Budget(b) => {
                b.count_opened();
                b.charge(bytes)
            }
        }
    }

    /// The blocks opened under this budget since the last call (0 for other
    /// policies), and starts that count afresh.
    pub fn take_blocks_opened(&self) -> u64 {
        match self {
            CacheFill::Budget(b) => b.opened.swap(0, Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Starts the budget afresh (the cursor owning it seeked); other policies ignore it.
    pub fn restart(&self) {
        if let CacheFill::Budget(b) = self {
            b.stepped.store(0, Ordering::Relaxed);
        }
    }
}

/// Bytes of blocks stepped into since the owning cursor's last seek, against a limit.
///
/// Shared by the table cursors of one merge, which run on one thread at a time; the
/// counter is atomic only so that the cursors stay `Send`.
#[derive(Debug)]
pub struct ScanBudget {
    stepped: AtomicUsize,
    limit: usize,
    /// Blocks opened (every `on_seek` and `on_step`) since `take_blocks_opened`.
    opened: AtomicU64,
}

impl ScanBudget {
    fn count_opened(&self) {
        // One thread at a time: a load and a store, not a locked add.
        self.opened.store(self.opened.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    fn charge(&self, bytes: u64) -> bool {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        let stepped = self.stepped.load(Ordering::Relaxed).saturating_add(bytes);
        self.stepped.store(stepped, Ordering::Relaxed);
        stepped <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_admits_stepped_blocks_until_spent_and_seeks_always() {
        let fill = CacheFill::budget(10_000);
        let shared = fill.clone();
        assert!(fill.on_step(4_000));
        assert!(shared.on_step(4_000), "the clones charge one budget");
        assert!(!fill.on_step(4_000), "12,000 bytes stepped: over the limit");
        assert!(!shared.on_step(1));
        assert!(fill.on_seek(), "a seek's block enters even with the budget spent");
        shared.restart();
        assert!(fill.on_step(9_000), "a seek starts the count afresh");
        assert!(!fill.on_step(u64::MAX), "huge charges saturate instead of wrapping");
        assert_eq!(fill.take_blocks_opened(), 7, "every block opened is counted, filled or not");
        assert_eq!(shared.take_blocks_opened(), 0, "taking the count starts it afresh");
    }

    #[test]
    fn always_and_never_ignore_sizes() {
        assert!(CacheFill::Always.on_step(u64::MAX) && CacheFill::Always.on_seek());
        assert!(!CacheFill::Never.on_step(0) && !CacheFill::Never.on_seek());
        assert_eq!(CacheFill::Always.take_blocks_opened(), 0);
    }
}
