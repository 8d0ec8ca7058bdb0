//! [`FifoPicker`]: first-in, first-out (RocksDB's FIFO compaction), for logs and caches
//! whose old data may go.
//!
//! Nothing is ever merged: flushes pile up as L0 tables, and once the tables together
//! hold more than `max_table_bytes`, the oldest are dropped, whole, until they fit.
//! **This loses data by design**: a key whose only version is in a dropped table is gone,
//! and so are the deletes and range tombstones a dropped table held. Tables are dropped
//! in the order of their oldest entry; under FIFO alone (flushes only) their seqno ranges
//! do not overlap, so what stays is exactly the newest writes. Tables another strategy
//! left behind may overlap in seqnos, and dropping one of them can then uncover an older
//! version it shadowed in a table that stays.
//!
//! Writers are never stalled: a flush costs one table, and a drop is a MANIFEST edit.

use super::strategy::{CompactionStrategy, Stall};
use super::CompactionJob;
use crate::key::UserKeyRange;
use crate::options::FifoOptions;
use crate::version::Version;

/// Picks FIFO drops; see the module comment.
pub(crate) struct FifoPicker {
    opts: FifoOptions,
}

impl FifoPicker {
    pub(crate) fn new(opts: FifoOptions) -> Self {
        FifoPicker { opts }
    }

    /// A job dropping the oldest tables until the rest fit, if they do not.
    fn drop_oldest(&self, version: &Version) -> Option<CompactionJob> {
        let mut total: u64 = version.files().map(|f| f.info.size).sum();
        if total <= self.opts.max_table_bytes {
            return None;
        }
        let mut oldest_first: Vec<_> = version.files().cloned().collect();
        oldest_first.sort_by_key(|f| (f.info.summary.min_seq, f.info.summary.max_seq, f.number()));
        let mut inputs = Vec::new();
        for f in oldest_first {
            if total <= self.opts.max_table_bytes {
                break;
            }
            total -= f.info.size;
            inputs.push(f);
        }
        Some(CompactionJob::drop(inputs, "over the FIFO size limit"))
    }
}

impl CompactionStrategy for FifoPicker {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn pick(&mut self, version: &Version) -> Option<CompactionJob> {
        self.drop_oldest(version)
    }

    /// A FIFO tree merges nothing: its full compaction is the drop of what is over the
    /// limit.
    fn full(&self, version: &Version) -> Option<CompactionJob> {
        self.drop_oldest(version)
    }

    fn range(&self, _version: &Version, _range: &UserKeyRange) -> Option<CompactionJob> {
        None
    }

    fn stall(&self, _version: &Version) -> Stall {
        Stall::None
    }

    fn check(&self, version: &Version) -> Result<(), String> {
        version.check_levels()
    }
}
