//! [`FluidPicker`]: the Dostoevsky design space (Dayan & Idreos, "Dostoevsky: Better
//! Space-Time Trade-Offs for LSM-Tree Based Key-Value Stores via Adaptive Removal of
//! Superfluous Merging", SIGMOD 2018): size ratio T, at most K sorted runs at each level
//! above the last, at most Z at the last.
//!
//! K = Z = 1 is leveling, K = Z = T-1 tiering, and K = T-1, Z = 1 *lazy leveling*:
//! tiering above, leveling at the last level, which keeps leveling's point-read cost and
//! space amplification (both set by the last level, which holds most of the data) at
//! close to tiering's write cost.
//!
//! The tree is the list of sorted runs of [`TieredPicker`], newest first (each L0 table a
//! run, each non-empty deeper level one run); runs merge only with their neighbours in
//! age, so newer data always shadows older. A run's *level* comes from its size: level 1
//! holds runs up to 1.5× the memtable size (a flush), and each level up to T times the
//! one above. The rule, checked from the newest runs to the oldest:
//!
//! 1. A window of adjacent runs on the same level j with more than K runs (more than Z
//!    if j is the last level, the one of the largest run) is merged into one run, which
//!    the next check usually finds a level further down. So under lazy leveling T-1
//!    flushes merge into a level-2 run, T-1 of those into a level-3 run, and a run that
//!    reaches the last level is merged straight away with the run already there.
//! 2. Past the slowdown threshold, the K+1 newest runs are merged regardless, so that
//!    stalled writers always get to go on.
//!
//! Writers slow down when the runs exceed what the shape allows (K per level above the
//! last, Z at the last) by 4(K+1), and stop at 8(K+1).

use super::strategy::{CompactionStrategy, Stall};
use super::tiered::{check_age_order, full_job, merge_runs, range_job, Run, TieredPicker};
use super::CompactionJob;
use crate::key::UserKeyRange;
use crate::options::FluidOptions;
use crate::version::Version;

/// Picks Dostoevsky-style compactions; see the module comment.
pub(crate) struct FluidPicker {
    opts: FluidOptions,
    /// The size of a flushed run: level 1's runs.
    base: u64,
    target_file_size: u64,
}

impl FluidPicker {
    /// A picker for `opts`; runs of level 1 are about `memtable_size` bytes.
    pub(crate) fn new(opts: FluidOptions, memtable_size: u64) -> Self {
        FluidPicker { opts, base: memtable_size.max(4096), target_file_size: memtable_size.max(64 * 1024) }
    }

    /// The level a run of `bytes` belongs to (1 for a flush's).
    pub(crate) fn level_of(&self, bytes: u64) -> usize {
        let mut capacity = self.base.saturating_mul(3) / 2;
        let mut level = 1;
        while bytes > capacity && level < 64 {
            capacity = capacity.saturating_mul(self.opts.size_ratio);
            level += 1;
        }
        level
    }

    /// The most runs the shape allows for a tree whose largest run is on `last`.
    fn allowed_runs(&self, last: usize) -> usize {
        self.opts.runs_per_level * last.saturating_sub(1) + self.opts.last_level_runs
    }

    fn slack(&self) -> usize {
        self.opts.runs_per_level + 1
    }

    /// The levels of `runs` (newest first) and the last level. A run is on the level its
    /// size says, or on the level of a newer run if that is deeper: an old run that
    /// shrank (deletes, a switch from another strategy) then shares the last level with
    /// the runs above it and merges with them, so the oldest run is always on the last
    /// level and merges into it are bottommost.
    fn levels(&self, runs: &[Run]) -> (Vec<usize>, usize) {
        let mut levels: Vec<usize> = runs.iter().map(|r| self.level_of(r.bytes)).collect();
        for i in 1..levels.len() {
            levels[i] = levels[i].max(levels[i - 1]);
        }
        let last = levels.last().copied().unwrap_or(1);
        (levels, last)
    }
}

impl CompactionStrategy for FluidPicker {
    fn name(&self) -> &'static str {
        "fluid"
    }

    fn pick(&mut self, version: &Version) -> Option<CompactionJob> {
        let runs = TieredPicker::runs(version);
        if runs.len() < 2 {
            return None;
        }
        let (levels, last) = self.levels(&runs);
        let mut start = 0;
        while start < runs.len() {
            let level = levels[start];
            let end = (start..runs.len()).find(|&i| levels[i] != level).unwrap_or(runs.len());
            let limit = if level == last { self.opts.last_level_runs } else { self.opts.runs_per_level };
            if end - start > limit {
                let reason = if level == last { "last level over Z runs" } else { "level over K runs" };
                return Some(merge_runs(&runs, start, end, self.target_file_size, reason));
            }
            start = end;
        }
        if runs.len() >= self.allowed_runs(last) + 4 * self.slack() {
            let end = self.slack().min(runs.len());
            return Some(merge_runs(&runs, 0, end, self.target_file_size, "run count"));
        }
        None
    }

    fn full(&self, version: &Version) -> Option<CompactionJob> {
        full_job(version, self.target_file_size)
    }

    fn range(&self, version: &Version, range: &UserKeyRange) -> Option<CompactionJob> {
        range_job(version, range, self.target_file_size)
    }

    fn stall(&self, version: &Version) -> Stall {
        let runs = TieredPicker::runs(version);
        let (_, last) = self.levels(&runs);
        let allowed = self.allowed_runs(last);
        Stall::at(runs.len(), allowed + 4 * self.slack(), allowed + 8 * self.slack())
    }

    fn check(&self, version: &Version) -> Result<(), String> {
        check_age_order(version)
    }
}
