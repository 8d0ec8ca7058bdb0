//! [`LeveledPicker`]: leveled compaction (LevelDB, RocksDB's default).
//!
//! L0 takes flushed tables, which may overlap. Every deeper level is one sorted run of
//! non-overlapping tables, and level `i` aims to hold `base × multiplier^(i-1)` bytes,
//! where `base = memtable_size × l0_compaction_trigger` (what L0 holds when it triggers).
//!
//! Scores decide which level to compact: L0's is its file count over the trigger, a
//! deeper level's is its size over its target; the highest score of at least 1 wins.
//! - L0 → L1 takes every L0 table and the L1 tables they overlap.
//! - Li → Li+1 takes one table of Li, chosen round-robin by key (each level remembers
//!   where its last compaction ended), and the Li+1 tables it overlaps. If there are
//!   none and it overlaps little of Li+2, the table is *moved*: one MANIFEST edit, no
//!   rewrite.
//!
//! With `dynamic_level_bytes` the targets come from the last level's actual size instead
//! (see [`LeveledPicker::targets`]): L0 compacts into the first level big enough, and the
//! levels above it stay empty.
//!
//! Outputs are cut at the target file size (the memtable size) and wherever they would
//! overlap more than ten target files of the level below the output, so later
//! compactions stay small. Writers slow down at 2× the L0 trigger and stop at 3×.

use std::sync::Arc;

use super::strategy::{CompactionStrategy, Stall};
use super::{key_range, CompactionJob};
use crate::key::{compare_internal, UserKeyRange};
use crate::options::LeveledOptions;
use crate::version::{FileMeta, Version};

/// Picks leveled compactions; see the module comment.
pub(crate) struct LeveledPicker {
    opts: LeveledOptions,
    base_bytes: u64,
    target_file_size: u64,
    /// Per level: the largest internal key of the last table compacted out of it.
    compact_pointer: Vec<Vec<u8>>,
}

impl LeveledPicker {
    /// A picker for `opts`, sized from the memtable size.
    pub(crate) fn new(opts: LeveledOptions, memtable_size: u64) -> Self {
        let target_file_size = memtable_size.max(64 * 1024);
        let base_bytes = memtable_size.max(64 * 1024) * opts.l0_compaction_trigger as u64;
        LeveledPicker { compact_pointer: vec![Vec::new(); opts.num_levels], opts, base_bytes, target_file_size }
    }

    /// The size level `level` (1 or deeper) aims for, without dynamic level sizing.
    pub(crate) fn target_bytes(&self, level: usize) -> u64 {
        let mut t = self.base_bytes;
        for _ in 1..level {
            t = t.saturating_mul(self.opts.level_size_multiplier);
        }
        t
    }

    /// Every level's target size (index = level; 0 for L0 and for levels that should be
    /// empty) and the level L0 compacts into. With `dynamic_level_bytes` the last
    /// level's actual size sets the others': each aims at the one below over the
    /// multiplier, down to the first that would aim below `base_bytes`, which is where
    /// L0 goes (RocksDB's base level); the levels above it aim to be empty.
    pub(crate) fn targets(&self, version: &Version) -> (Vec<u64>, usize) {
        let levels = version.levels.len().min(self.opts.num_levels).max(2);
        if !self.opts.dynamic_level_bytes {
            return ((0..levels).map(|l| if l == 0 { 0 } else { self.target_bytes(l) }).collect(), 1);
        }
        let last = levels - 1;
        let mut targets = vec![0; levels];
        targets[last] = version.level_bytes(last).max(self.base_bytes);
        let mut base = last;
        let mut t = targets[last];
        for level in (1..last).rev() {
            t /= self.opts.level_size_multiplier.max(1);
            if t < self.base_bytes {
                break;
            }
            targets[level] = t;
            base = level;
        }
        (targets, base)
    }

    /// The level with the highest score and that score, given the levels' `targets`.
    pub(crate) fn best_score(&self, version: &Version, targets: &[u64]) -> (usize, f64) {
        let mut best =
            (0, version.levels.first().map_or(0, |l| l.len()) as f64 / self.opts.l0_compaction_trigger as f64);
        let last = version.levels.len().min(self.opts.num_levels).saturating_sub(1);
        for level in 1..last {
            let bytes = version.level_bytes(level);
            let score = match targets.get(level).copied().unwrap_or(0) {
                // A level that should be empty (above the base level) goes down first.
                0 if bytes > 0 => f64::MAX,
                0 => 0.0,
                target => bytes as f64 / target as f64,
            };
            if score > best.1 {
                best = (level, score);
            }
        }
        best
    }

    fn bottommost(version: &Version, output_level: usize, smallest: &[u8], largest: &[u8]) -> bool {
        (output_level + 1..version.levels.len()).all(|l| version.overlapping(l, smallest, largest).is_empty())
    }

    /// The job compacting `level` into the next (L0 into `base`).
    fn job_for(&mut self, version: &Version, level: usize, base: usize) -> Option<CompactionJob> {
        let mut inputs: Vec<Arc<FileMeta>>;
        if level == 0 {
            inputs = version.levels[0].clone();
        } else {
            let files = &version.levels[level];
            let pointer = &self.compact_pointer[level];
            let pick = files
                .iter()
                .find(|f| pointer.is_empty() || compare_internal(&f.info.summary.smallest, pointer).is_gt())
                .or(files.first())?;
            // The internal key, not the user key: a table that a range tombstone ends
            // stops *before* its largest user key, where the next table may start.
            self.compact_pointer[level] = pick.info.summary.largest.clone();
            inputs = vec![pick.clone()];
        }
        let (smallest, largest) = key_range(&inputs)?;
        let output_level = if level == 0 { base } else { level + 1 };
        let next = version.overlapping(output_level, &smallest, &largest);
        let moving = level > 0 && next.is_empty();
        inputs.extend(next);
        let (smallest, largest) = key_range(&inputs)?;
        let grandparents = version.overlapping(output_level + 1, &smallest, &largest);
        let max_grandparent_overlap = 10 * self.target_file_size;
        let grandparent_bytes: u64 = grandparents.iter().map(|f| f.info.size).sum();
        Some(CompactionJob {
            bottommost: Self::bottommost(version, output_level, &smallest, &largest),
            inputs,
            output_level: output_level as u32,
            target_file_size: self.target_file_size,
            trivial_move: moving && grandparent_bytes <= max_grandparent_overlap,
            drop_inputs: false,
            grandparents,
            max_grandparent_overlap,
            reason: if level == 0 { "L0 file count" } else { "level size" },
        })
    }
}

impl CompactionStrategy for LeveledPicker {
    fn name(&self) -> &'static str {
        "leveled"
    }

    fn pick(&mut self, version: &Version) -> Option<CompactionJob> {
        let (targets, base) = self.targets(version);
        let (level, score) = self.best_score(version, &targets);
        if score < 1.0 || level + 1 >= version.levels.len() {
            return None;
        }
        self.job_for(version, level, base)
    }

    fn full(&self, version: &Version) -> Option<CompactionJob> {
        let inputs: Vec<_> = version.files().cloned().collect();
        if inputs.is_empty() {
            return None;
        }
        let last = version.levels.len().max(self.opts.num_levels) - 1;
        Some(CompactionJob::merge(inputs, last as u32, true, self.target_file_size, "full compaction"))
    }

    fn range(&self, version: &Version, range: &UserKeyRange) -> Option<CompactionJob> {
        // Every table holding a key of the range, then every table overlapping what
        // those span, until nothing more joins: then no table left out shares a user key
        // with the job, and its outputs can go to the last level.
        let mut inputs: Vec<Arc<FileMeta>> =
            version.files().filter(|f| range.overlaps(f.smallest_user_key(), f.largest_user_key())).cloned().collect();
        loop {
            let lo = inputs.iter().map(|f| f.smallest_user_key()).min()?.to_vec();
            let hi = inputs.iter().map(|f| f.largest_user_key()).max()?.to_vec();
            // The inputs overlap their own span, so the same count is the same set.
            let spanned: Vec<_> = (0..version.levels.len()).flat_map(|l| version.overlapping(l, &lo, &hi)).collect();
            if spanned.len() == inputs.len() {
                break;
            }
            inputs = spanned;
        }
        let last = version.levels.len().max(self.opts.num_levels) - 1;
        Some(CompactionJob::merge(inputs, last as u32, true, self.target_file_size, "range compaction"))
    }

    fn stall(&self, version: &Version) -> Stall {
        let l0 = version.levels.first().map_or(0, |l| l.len());
        let trigger = self.opts.l0_compaction_trigger;
        Stall::at(l0, 2 * trigger, 3 * trigger)
    }

    fn check(&self, version: &Version) -> Result<(), String> {
        version.check_levels()
    }
}
