//! [`CompactionStrategy`]: the interface between the database and a policy that keeps
//! the tree in shape.
//!
//! A strategy looks at the current version and says which job to run next (or none),
//! what a full compaction is, how far behind compaction may fall before writers slow
//! down or stop, and what shape its levels must keep. It never does I/O itself: the
//! shared job runner (`run_job`) does, on the background thread.

use super::{CompactionJob, FifoPicker, FluidPicker, LeveledPicker, TieredPicker};
use crate::key::UserKeyRange;
use crate::options::{Compaction, Options};
use crate::version::Version;

/// How hard writers must brake for compaction to keep up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stall {
    /// Write at full speed.
    None,
    /// Sleep about a millisecond per write group (RocksDB's "slowdown").
    Slowdown,
    /// Wait until compaction catches up (RocksDB's "stop").
    Stop,
}

impl Stall {
    /// The brake for `count` (L0 files, sorted runs) given the count that slows writers
    /// down and the one that stops them.
    pub(crate) fn at(count: usize, slowdown: usize, stop: usize) -> Stall {
        if count >= stop {
            Stall::Stop
        } else if count >= slowdown {
            Stall::Slowdown
        } else {
            Stall::None
        }
    }
}

/// A compaction policy.
pub(crate) trait CompactionStrategy: Send + Sync {
    /// A short name for statistics and tools ("leveled", "tiered", "fluid", "fifo").
    fn name(&self) -> &'static str;

    /// The next job worth running, or `None` while the tree is in shape.
    fn pick(&mut self, version: &Version) -> Option<CompactionJob>;

    /// A job that merges every table into as few sorted runs as the strategy allows,
    /// or `None` if there is nothing to merge.
    fn full(&self, version: &Version) -> Option<CompactionJob>;

    /// A job that merges the tables holding keys of `range` as the strategy allows
    /// (`Db::compact_range`), or `None` if no table does.
    fn range(&self, version: &Version, range: &UserKeyRange) -> Option<CompactionJob>;

    /// How writers must brake given the current shape.
    fn stall(&self, version: &Version) -> Stall;

    /// Checks the strategy's invariants on `version`; describes the first violation.
    fn check(&self, version: &Version) -> Result<(), String>;

    /// Sorted runs a read may have to consult, for statistics.
    fn sorted_runs(&self, version: &Version) -> usize {
        version.levels.first().map_or(0, |l| l.len()) + version.levels.iter().skip(1).filter(|l| !l.is_empty()).count()
    }
}

/// The strategy `options` ask for.
pub(crate) fn from_options(options: &Options) -> Box<dyn CompactionStrategy> {
    match &options.compaction {
        Compaction::Leveled(l) => Box::new(LeveledPicker::new(l.clone(), options.memtable_size as u64)),
        Compaction::Tiered(t) => Box::new(TieredPicker::new(t.clone(), options.memtable_size as u64)),
        Compaction::Fluid(f) => Box::new(FluidPicker::new(f.clone(), options.memtable_size as u64)),
        Compaction::Fifo(f) => Box::new(FifoPicker::new(f.clone())),
    }
}
