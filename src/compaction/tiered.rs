//! [`TieredPicker`]: size-tiered compaction (Cassandra's STCS, RocksDB's universal).
//!
//! The tree is a list of *sorted runs* ordered by age, newest first: each L0 table is a
//! run, and each non-empty deeper level (left by an earlier leveled configuration, or
//! filled by a full merge) is one run. Only runs adjacent in age are merged, so that
//! newer data always shadows older: the output takes the place of its inputs, on the
//! level of the oldest input (one table when that is L0).
//!
//! What triggers a merge, checked in this order:
//! 1. **Space amplification**: if the runs other than the oldest hold more than
//!    `max_size_amplification_percent` of the oldest run's bytes, everything is merged
//!    (that is what bounds the space dead versions take).
//! 2. **Similar sizes**: the newest window of at least `min_threshold` adjacent runs
//!    whose sizes each lie within 0.5×–1.5× of the window's average is merged, up to
//!    `max_threshold` runs.
//! 3. **Too many runs**: past the slowdown threshold, the `min_threshold` newest runs are
//!    merged regardless of size, so that stalled writers always get to go on.
//!
//! Writers slow down at 5× `min_threshold` runs and stop at 8×.

use std::sync::Arc;

use super::strategy::{CompactionStrategy, Stall};
use super::CompactionJob;
use crate::key::UserKeyRange;
use crate::options::TieredOptions;
use crate::version::{FileMeta, Version};

/// One sorted run: its tables, its level and its size.
pub(crate) struct Run {
    /// The tables (one for an L0 run).
    pub files: Vec<Arc<FileMeta>>,
    /// Where it lives.
    pub level: usize,
    /// Bytes.
    pub bytes: u64,
}

/// Picks size-tiered compactions; see the module comment.
pub(crate) struct TieredPicker {
    opts: TieredOptions,
    target_file_size: u64,
}

impl TieredPicker {
    /// A picker for `opts`; outputs on levels below L0 are cut near the memtable size.
    pub(crate) fn new(opts: TieredOptions, memtable_size: u64) -> Self {
        TieredPicker { opts, target_file_size: memtable_size.max(64 * 1024) }
    }

    /// The sorted runs, newest first.
    pub(crate) fn runs(version: &Version) -> Vec<Run> {
        let mut runs: Vec<Run> = version
            .levels
            .first()
            .map(|l0| l0.iter().map(|f| Run { files: vec![f.clone()], level: 0, bytes: f.info.size }).collect())
            .unwrap_or_default();
        for (level, files) in version.levels.iter().enumerate().skip(1) {
            if !files.is_empty() {
                runs.push(Run { files: files.clone(), level, bytes: version.level_bytes(level) });
            }
        }
        runs
    }

    fn slowdown_runs(&self) -> usize {
        5 * self.opts.min_threshold
    }

    /// The newest window of similar-sized adjacent runs, as `(start, end)`.
    fn similar_window(&self, runs: &[Run]) -> Option<(usize, usize)> {
        for start in 0..runs.len() {
            let mut total = runs[start].bytes as f64;
            let mut end = start + 1;
            while end < runs.len() && end - start < self.opts.max_threshold {
                let avg = total / (end - start) as f64;
                let size = runs[end].bytes as f64;
                if size < avg * 0.5 || size > avg * 1.5 {
                    break;
                }
                total += size;
                end += 1;
            }
            if end - start >= self.opts.min_threshold {
                return Some((start, end));
            }
        }
        None
    }
}

impl CompactionStrategy for TieredPicker {
    fn name(&self) -> &'static str {
        "tiered"
    }

    fn pick(&mut self, version: &Version) -> Option<CompactionJob> {
        let runs = Self::runs(version);
        if runs.len() < 2 {
            return None;
        }
        let (oldest, newer) = runs.split_last()?;
        let newer_bytes: u64 = newer.iter().map(|r| r.bytes).sum();
        if newer_bytes.saturating_mul(100) > oldest.bytes.saturating_mul(self.opts.max_size_amplification_percent) {
            return Some(merge_runs(&runs, 0, runs.len(), self.target_file_size, "space amplification"));
        }
        if let Some((start, end)) = self.similar_window(&runs) {
            return Some(merge_runs(&runs, start, end, self.target_file_size, "similar run sizes"));
        }
        if runs.len() >= self.slowdown_runs() {
            let end = self.opts.min_threshold.min(runs.len());
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
        Stall::at(self.sorted_runs(version), self.slowdown_runs(), 8 * self.opts.min_threshold)
    }

    fn check(&self, version: &Version) -> Result<(), String> {
        check_age_order(version)
    }
}

/// A job merging the adjacent runs `runs[start..end]` into the level of the oldest (one
/// table when that is L0, else tables cut at `target_file_size`).
pub(crate) fn merge_runs(
    runs: &[Run],
    start: usize,
    end: usize,
    target_file_size: u64,
    reason: &'static str,
) -> CompactionJob {
    let picked = &runs[start..end];
    let output_level = picked.last().map_or(0, |r| r.level);
    let inputs = picked.iter().flat_map(|r| r.files.iter().cloned()).collect();
    let target = if output_level == 0 { u64::MAX } else { target_file_size };
    CompactionJob::merge(inputs, output_level as u32, end == runs.len(), target, reason)
}

/// `Db::compact` for strategies of sorted runs: every run merged into one.
pub(crate) fn full_job(version: &Version, target_file_size: u64) -> Option<CompactionJob> {
    let runs = TieredPicker::runs(version);
    if runs.is_empty() {
        return None;
    }
    Some(merge_runs(&runs, 0, runs.len(), target_file_size, "full compaction"))
}

/// `Db::compact_range` for strategies of sorted runs: runs merge only with their
/// neighbours in age (the age order `check_age_order` keeps), so every run from the
/// newest to the oldest one holding a key of the range.
pub(crate) fn range_job(version: &Version, range: &UserKeyRange, target_file_size: u64) -> Option<CompactionJob> {
    let runs = TieredPicker::runs(version);
    let holds = |r: &Run| r.files.iter().any(|f| range.overlaps(f.smallest_user_key(), f.largest_user_key()));
    let first = runs.iter().position(holds)?;
    let last = runs.iter().rposition(holds)?;
    Some(merge_runs(&runs, first, last + 1, target_file_size, "range compaction"))
}

/// The invariants of a tree of sorted runs: levels well formed, and each L0 run's
/// seqnos above those of the L0 runs older than it.
///
/// Deeper levels are ordered per key, not by seqno ranges: a leveled tree reopened
/// under one of these strategies may keep an L0 table older than the tables a leveled
/// compaction moved below it (their keys disjoint), and a merge of that table with
/// newer runs then spans seqnos on both sides of the deeper level's. Only a scan of
/// every key could check those, so among deeper levels only `check_levels` applies.
pub(crate) fn check_age_order(version: &Version) -> Result<(), String> {
    version.check_levels()?;
    let l0 = version.levels.first().map_or(&[][..], |l| &l[..]);
    for pair in l0.windows(2) {
        if pair[0].info.summary.min_seq <= pair[1].info.summary.max_seq {
            return Err(format!("L0 run {} is not newer than run {}", pair[0].number(), pair[1].number()));
        }
    }
    Ok(())
}
