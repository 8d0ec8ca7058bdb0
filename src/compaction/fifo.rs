//! [`FifoPicker`]: first-in, first-out (RocksDB's FIFO compaction), for logs and caches
//! whose old data may go.
//!
//! Nothing is ever merged: flushes pile up as L0 tables, and once the tables together
//! hold more than `max_table_bytes`, the oldest are dropped, whole, until they fit. With
//! a `max_age`, a table written longer ago than that is dropped too, with every table
//! older than it (its time is in the MANIFEST, field 12; a table without one counts as
//! written when the picker was made, at open); the compaction thread looks again
//! periodically (`recheck_period`), since time, not writes, makes tables expire.
//! **This loses data by design**: a key whose only version is in a dropped table is gone,
//! and so are the deletes and range tombstones a dropped table held. Tables go oldest
//! sorted run first — tables another strategy left on deeper levels (the deepest first),
//! then L0's from the oldest — and a table of the oldest run shadows no other, so a drop
//! never uncovers an older version: what stays is the newest writes.
//!
//! Writers are never stalled: a flush costs one table, and a drop is a MANIFEST edit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::strategy::{CompactionStrategy, Stall};
use super::CompactionJob;
use crate::key::UserKeyRange;
use crate::options::FifoOptions;
use crate::version::Version;

/// Picks FIFO drops; see the module comment.
pub(crate) struct FifoPicker {
    opts: FifoOptions,
    /// The time given to tables without one, in seconds since the epoch.
    opened_at: u64,
}

/// Seconds since the Unix epoch (0 for a clock set before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl FifoPicker {
    pub(crate) fn new(opts: FifoOptions) -> Self {
        FifoPicker { opts, opened_at: unix_now() }
    }

    /// How often the compaction thread should look for expired tables of a tree under
    /// `opts` when nothing else wakes it: a tenth of the maximum age, from a second to a
    /// minute. `None` without a maximum age.
    pub(crate) fn recheck_period(opts: &FifoOptions) -> Option<Duration> {
        opts.max_age.map(|age| (age / 10).clamp(Duration::from_secs(1), Duration::from_secs(60)))
    }

    /// A job dropping the oldest tables until the rest fit and none is older than the
    /// maximum age, if that drops any.
    fn drop_oldest(&self, version: &Version) -> Option<CompactionJob> {
        self.drop_oldest_at(version, unix_now())
    }

    /// `drop_oldest` at `now` (seconds since the epoch).
    pub(super) fn drop_oldest_at(&self, version: &Version, now: u64) -> Option<CompactionJob> {
        let expired = |written_at: u64| {
            let written = if written_at == 0 { self.opened_at } else { written_at };
            self.opts.max_age.is_some_and(|age| now.saturating_sub(written) > age.as_secs())
        };
        // Saturating: sizes come from the MANIFEST.
        let mut total = version.files().fold(0u64, |sum, f| sum.saturating_add(f.info.size));
        // Oldest run first: the deepest level (each deeper level holds older data than
        // the ones above it), up to L1, then L0's tables from the oldest. A table of the
        // oldest run shadows no other table, so dropping it uncovers nothing.
        let deeper = version.levels.iter().skip(1).rev().flatten();
        let l0_oldest_first = version.levels.first().into_iter().flat_map(|l0| l0.iter().rev());
        let mut inputs = Vec::new();
        let mut reason = "over the FIFO size limit";
        for f in deeper.chain(l0_oldest_first).cloned() {
            if total <= self.opts.max_table_bytes {
                if !expired(f.info.written_at) {
                    break;
                }
                reason = "past the FIFO maximum age";
            }
            total = total.saturating_sub(f.info.size);
            inputs.push(f);
        }
        (!inputs.is_empty()).then(|| CompactionJob::drop_tables(inputs, reason))
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
    /// limit or past the maximum age.
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
