//! [`FifoPicker`]: first-in, first-out (RocksDB's FIFO compaction), for logs and caches
//! whose old data may go.
//!
//! Nothing is ever merged: flushes pile up as L0 tables, and once the tables together
//! hold more than `max_table_bytes`, the oldest are dropped, whole, until they fit.
//! **This loses data by design**: a key whose only version is in a dropped table is gone,
//! and so are the deletes and range tombstones a dropped table held. Tables go oldest
//! sorted run first — tables another strategy left on deeper levels (the deepest first),
//! then L0's from the oldest — and a table of the oldest run shadows no other, so a drop
//! never uncovers an older version: what stays is the newest writes.
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
        // Saturating: sizes come from the MANIFEST.
        let mut total = version.files().fold(0u64, |sum, f| sum.saturating_add(f.info.size));
        if total <= self.opts.max_table_bytes {
            return None;
        }
        // Oldest run first: the deepest level (each deeper level holds older data than
        // the ones above it), up to L1, then L0's tables from the oldest. A table of the
        // oldest run shadows no other table, so dropping it uncovers nothing.
        let deeper = version.levels.iter().skip(1).rev().flatten();
        let l0_oldest_first = version.levels.first().into_iter().flat_map(|l0| l0.iter().rev());
        let mut inputs = Vec::new();
        for f in deeper.chain(l0_oldest_first).cloned() {
            if total <= self.opts.max_table_bytes {
                break;
            }
            total = total.saturating_sub(f.info.size);
            inputs.push(f);
        }
        Some(CompactionJob::drop_tables(inputs, "over the FIFO size limit"))
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
