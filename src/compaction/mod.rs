//! Compaction: merging tables into fewer, newer ones (Database Internals §"Compaction").
//!
//! [`run_job`] is the job runner every strategy will share: it merge-iterates its input
//! tables, keeps each version a live snapshot can still see, drops versions shadowed for
//! every reader, drops tombstones where nothing older can be hidden by them, and writes
//! the result as tables cut at a target size (only between user keys, so that tables of
//! one level never share a user key). The caller records the outcome with one MANIFEST
//! edit. A [`CompactionStrategy`] ([`LeveledPicker`], [`TieredPicker`]) decides what
//! the next job is.
//!
//! The dropping rule is LevelDB's. Walking versions of one user key newest first, with
//! `s` the oldest seqno any reader may read at:
//! - a version is dropped if a newer version of the same key has seqno <= `s` (every
//!   reader sees that newer one instead);
//! - a tombstone with seqno <= `s` is dropped when the job is bottommost (no table
//!   outside the job may hold an older version the tombstone still hides).
//!
//! Range tombstones (see [`crate::range_del`]) of the inputs take part too:
//! - a version that a range tombstone with seqno <= `s` covers is dropped (every reader
//!   sees that tombstone, so none sees the version), whichever input either is in;
//! - the tombstones are written out fragmented, per fragment every seqno above `s` and
//!   the newest at or below it; a bottommost job drops those at or below `s` too;
//! - each output gets the tombstones cut to the keys it is responsible for: from the
//!   first key of its key range to the first key of the next output (RocksDB's
//!   truncation), so the outputs of a level still do not overlap; a range of keys with
//!   no point entry left gets an output of its own if tombstones lie there.
//!
//! A bottommost job also writes every version it keeps with seqno <= `s` under seqno 0
//! (RocksDB does the same): every reader sees it, nothing older exists for it to
//! outrank, so 0 means the same to every read. Blocks store a key's trailer as a varint
//! that block compression cannot shrink (3-5 bytes for the seqnos of millions of
//! writes); with seqno 0 it is one byte.

pub(crate) mod fifo;
pub(crate) mod fluid;
pub(crate) mod leveled;
pub(crate) mod monkey;
pub(crate) mod split;
pub(crate) mod strategy;
pub(crate) mod tiered;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub(crate) use fifo::FifoPicker;
pub(crate) use fluid::FluidPicker;
pub(crate) use leveled::LeveledPicker;
pub(crate) use strategy::{CompactionStrategy, Stall};
pub(crate) use tiered::TieredPicker;

use crate::error::{Error, Result};
use crate::filename;
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::key::{append_internal_key, compare_internal, seek_key, ParsedKey, ValueKind, MAX_SEQUENCE};
use crate::range_del::{clipped, CompactionTombstones, RangeDelView, RangeTombstone};
use crate::sstable::{TableBuilder, TableOptions};
use crate::version::{FileMeta, LevelIter, NewFile, TableContext, VersionEdit};

/// One compaction: which tables to merge and where the result goes.
pub(crate) struct CompactionJob {
    /// The input tables, each on the level its metadata names.
    pub inputs: Vec<Arc<FileMeta>>,
    /// The level the outputs join.
    pub output_level: u32,
    /// True if no table outside the job can hold a key of the job's range, so tombstones
    /// no snapshot needs can go.
    pub bottommost: bool,
    /// Outputs are cut (between user keys) once they pass this size.
    pub target_file_size: u64,
    /// Tables of the level below the output level, sorted by key: an output is also cut
    /// when it would overlap more than `max_grandparent_overlap` bytes of them, so that a
    /// later compaction of it stays small.
    pub grandparents: Vec<Arc<FileMeta>>,
    /// See `grandparents`.
    pub max_grandparent_overlap: u64,
    /// Move the single input to the output level without rewriting it.
    pub trivial_move: bool,
    /// Remove the inputs and write nothing (FIFO's drop: their data is gone).
    pub drop_inputs: bool,
    /// Why the strategy picked this job, for statistics and logs.
    pub reason: &'static str,
}

impl CompactionJob {
    /// A job that rewrites `inputs` into `output_level` with no grandparent limit.
    pub(crate) fn merge(
        inputs: Vec<Arc<FileMeta>>,
        output_level: u32,
        bottommost: bool,
        target_file_size: u64,
        reason: &'static str,
    ) -> Self {
        CompactionJob {
            inputs,
            output_level,
            bottommost,
            target_file_size,
            grandparents: Vec::new(),
            max_grandparent_overlap: u64::MAX,
            trivial_move: false,
            drop_inputs: false,
            reason,
        }
    }

    /// A job that removes `inputs` and writes nothing.
    pub(crate) fn drop_tables(inputs: Vec<Arc<FileMeta>>, reason: &'static str) -> Self {
        CompactionJob { drop_inputs: true, ..CompactionJob::merge(inputs, 0, false, u64::MAX, reason) }
    }

    /// Bytes of input tables.
    pub(crate) fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|f| f.info.size).sum()
    }

    /// The MANIFEST edit that installs the job's result: inputs out, outputs in (for a
    /// trivial move, the same file on its new level).
    pub(crate) fn edit(&self, outputs: Vec<NewFile>) -> VersionEdit {
        let new_files = if self.trivial_move {
            self.inputs.iter().map(|f| NewFile { level: self.output_level, ..f.info.clone() }).collect()
        } else {
            outputs
        };
        VersionEdit {
            deleted_files: self.inputs.iter().map(|f| (f.info.level, f.number())).collect(),
            new_files,
            ..VersionEdit::default()
        }
    }
}

/// What a job wrote.
pub(crate) struct CompactionOutput {
    /// The new tables.
    pub files: Vec<NewFile>,
    /// Bytes of input tables read.
    pub bytes_read: u64,
    /// Bytes of output tables written.
    pub bytes_written: u64,
    /// Data blocks copied from the inputs as they were stored (see
    /// [`TableBuilder::add_stored_block`]).
    pub blocks_copied: u64,
}

/// What a running job needs from the database.
pub(crate) struct JobEnv<'a> {
    /// Where tables live.
    pub ctx: &'a TableContext,
    /// How to lay out output tables.
    pub table_options: &'a TableOptions,
    /// The oldest seqno any reader (snapshot or the present) may read at.
    pub oldest_snapshot: u64,
    /// Set when the database closes: the job stops early and removes its outputs.
    pub cancel: &'a AtomicBool,
    /// Most key ranges one job may merge in parallel (see [`split`]).
    pub max_subcompactions: usize,
}

/// User keys `[start, end)`, unbounded where `None`.
type KeyRange<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Runs `job`, naming outputs with numbers from `next_number`. On error (or
/// cancellation) every output written so far is removed. A trivial move writes nothing.
///
/// A big job is split into key ranges merged on parallel threads (see [`split`]); the
/// outputs come back in key order. An L0 output is never split: there each table is a
/// sorted run of its own.
pub(crate) fn run_job(
    env: &JobEnv<'_>,
    job: &CompactionJob,
    next_number: &(dyn Fn() -> u64 + Sync),
) -> Result<CompactionOutput> {
    let mut out =
        CompactionOutput { files: Vec::new(), bytes_read: job.input_bytes(), bytes_written: 0, blocks_copied: 0 };
    if job.trivial_move || job.drop_inputs {
        out.bytes_read = 0;
        return Ok(out);
    }
    let range_dels = JobRangeDels::gather(&job.inputs, env.oldest_snapshot, job.bottommost)?;
    let parts = if job.output_level == 0 { 1 } else { env.max_subcompactions };
    let cuts = split::split_points(&job.inputs, parts)?;
    // Range i covers user keys in [cuts[i-1], cuts[i]).
    let ranges: Vec<KeyRange<'_>> = (0..=cuts.len())
        .map(|i| (i.checked_sub(1).map(|j| cuts[j].as_slice()), cuts.get(i).map(Vec::as_slice)))
        .collect();
    let results: Vec<(RangeOutput, Result<()>)> = std::thread::scope(|s| {
        let merge_range = |range: KeyRange<'_>| {
            let mut out = RangeOutput::default();
            let result = input_iter(&job.inputs).and_then(|mut it| {
                let mut range_dels = range_dels.clone();
                merge_into(env, job, &mut it, range, &mut range_dels, next_number, &mut out)
            });
            (out, result)
        };
        // This thread merges the first range while helpers merge the others.
        let helpers: Vec<_> = ranges.iter().skip(1).map(|&range| s.spawn(move || merge_range(range))).collect();
        let mut results: Vec<_> = ranges.first().map(|&range| merge_range(range)).into_iter().collect();
        for h in helpers {
            // A helper's panic is this job's panic, as if it had merged alone.
            results.push(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        results
    });
    let mut failure = None;
    for (range, result) in results {
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
        out.files.extend(range.files);
        out.blocks_copied += range.blocks_copied;
    }
    if failure.is_none() {
        if let Err(e) = env.ctx.fs.sync_dir(&env.ctx.dir) {
            failure = Some(e.into());
        }
    }
    if let Some(e) = failure {
        for f in &out.files {
            let _ = env.ctx.fs.remove(&filename::path(&env.ctx.dir, &filename::table_name(f.number)));
        }
        return Err(e);
    }
    out.bytes_written = out.files.iter().map(|f| f.size).sum();
    Ok(out)
}

/// One cursor over a job's inputs: a child per L0 table (they overlap) and one per
/// deeper level (a sorted run), none of them filling the block cache.
fn input_iter(inputs: &[Arc<FileMeta>]) -> Result<MergingIterator> {
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    let mut deeper: BTreeMap<u32, Vec<Arc<FileMeta>>> = BTreeMap::new();
    for f in inputs {
        if f.info.level == 0 {
            children.push(Box::new(f.table()?.scan_iter()));
        } else {
            deeper.entry(f.info.level).or_default().push(f.clone());
        }
    }
    for mut files in deeper.into_values() {
        files.sort_by(|a, b| compare_internal(&a.info.summary.smallest, &b.info.summary.smallest));
        children.push(Box::new(LevelIter::scan(files)));
    }
    Ok(MergingIterator::new(children))
}

/// The range tombstones of a job's inputs: those every reader sees, to drop the
/// versions they cover, and what the outputs keep (see [`CompactionTombstones`]).
#[derive(Clone)]
struct JobRangeDels {
    settled: RangeDelView,
    kept: Arc<Vec<RangeTombstone>>,
}

impl JobRangeDels {
    fn gather(inputs: &[Arc<FileMeta>], oldest_snapshot: u64, bottommost: bool) -> Result<JobRangeDels> {
        let mut all = Vec::new();
        for f in inputs {
            if let Some(list) = f.range_tombstones()? {
                all.extend_from_slice(list.tombstones());
            }
        }
        let job = CompactionTombstones::new(all, oldest_snapshot, bottommost);
        Ok(JobRangeDels { settled: RangeDelView::new([job.settled]), kept: Arc::new(job.kept) })
    }

    /// True if a tombstone every reader sees covers version `seq` of `key`.
    fn covers(&mut self, key: &[u8], seq: u64) -> bool {
        self.settled.covers(key, seq, u64::MAX)
    }

    /// The kept tombstones cut to `[lo, hi)`: an output's share.
    fn share(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> Vec<RangeTombstone> {
        clipped(&self.kept, lo, hi)
    }
}

/// Decides where outputs end because of the grandparent level (LevelDB's
/// `ShouldStopBefore`).
struct GrandparentCut<'a> {
    files: &'a [Arc<FileMeta>],
    index: usize,
    overlap: u64,
    seen_key: bool,
}

impl GrandparentCut<'_> {
    /// Called with each new user key of the output; true if the current output should
    /// end before it.
    fn should_cut_before(&mut self, key: &[u8], limit: u64) -> bool {
        while self.index < self.files.len() && key > self.files[self.index].largest_user_key() {
            if self.seen_key {
                self.overlap += self.files[self.index].info.size;
            }
            self.index += 1;
        }
        self.seen_key = true;
        if self.overlap > limit {
            self.overlap = 0;
            return true;
        }
        false
    }
}

/// What one key range of a job wrote.
#[derive(Default)]
struct RangeOutput {
    /// The finished tables.
    files: Vec<NewFile>,
    /// See [`CompactionOutput::blocks_copied`].
    blocks_copied: u64,
}

/// Merges the user keys of `range` (`[start, end)`, unbounded where `None`) from `it`
/// into new tables, appending finished ones to `out`, also when it fails. The
/// table being written when it fails (or is cancelled) is removed here: it is in no
/// list a caller could clean up from.
fn merge_into(
    env: &JobEnv<'_>,
    job: &CompactionJob,
    it: &mut MergingIterator,
    range: KeyRange<'_>,
    range_dels: &mut JobRangeDels,
    next_number: &(dyn Fn() -> u64 + Sync),
    out: &mut RangeOutput,
) -> Result<()> {
    let mut builder = None;
    let result = merge_entries(env, job, it, range, range_dels, next_number, out, &mut builder);
    if let Some((unfinished, number)) = builder {
        drop(unfinished);
        let _ = env.ctx.fs.remove(&filename::path(&env.ctx.dir, &filename::table_name(number)));
    }
    result
}

/// A new output table.
fn new_output(env: &JobEnv<'_>, next_number: &(dyn Fn() -> u64 + Sync)) -> Result<(TableBuilder, u64)> {
    let number = next_number();
    let file = env.ctx.fs.create(&filename::path(&env.ctx.dir, &filename::table_name(number)))?;
    Ok((TableBuilder::new(file, env.table_options.clone()), number))
}

/// [`merge_into`]'s loop; `builder` is the table being written, if any.
#[allow(clippy::too_many_arguments)]
fn merge_entries(
    env: &JobEnv<'_>,
    job: &CompactionJob,
    it: &mut MergingIterator,
    (start, end): KeyRange<'_>,
    range_dels: &mut JobRangeDels,
    next_number: &(dyn Fn() -> u64 + Sync),
    out: &mut RangeOutput,
    builder: &mut Option<(TableBuilder, u64)>,
) -> Result<()> {
    let ctx = env.ctx;
    // Where the current output's share of the range tombstones begins.
    let mut output_start: Option<Vec<u8>> = start.map(<[u8]>::to_vec);
    let mut current_key: Option<Vec<u8>> = None;
    let mut newer_seq_for_key = u64::MAX;
    let mut zeroed_key = Vec::new();
    let mut cut = GrandparentCut { files: &job.grandparents, index: 0, overlap: 0, seen_key: false };
    let mut steps = 0u32;
    match start {
        Some(key) => it.seek(&seek_key(key, MAX_SEQUENCE)),
        None => it.seek_to_first(),
    }
    while it.valid() {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(1024) && env.cancel.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let p =
            ParsedKey::parse(it.key()).ok_or_else(|| Error::Corruption("malformed key in compaction input".into()))?;
        if current_key.as_deref() != Some(p.user_key) {
            if end.is_some_and(|end| p.user_key >= end) {
                break;
            }
            // Only here may an output end: a user key never spans two outputs.
            let gp_cut = cut.should_cut_before(p.user_key, job.max_grandparent_overlap);
            if let Some((b, _)) = builder.as_mut() {
                if gp_cut || b.estimated_size() >= job.target_file_size {
                    b.add_range_tombstones(range_dels.share(output_start.as_deref(), Some(p.user_key)));
                    output_start = Some(p.user_key.to_vec());
                    finish(ctx, builder.take(), job.output_level, &mut out.files)?;
                }
            }
            let key = current_key.get_or_insert_with(Vec::new);
            key.clear();
            key.extend_from_slice(p.user_key);
            newer_seq_for_key = u64::MAX;
        }
        let shadowed = newer_seq_for_key <= env.oldest_snapshot;
        let dead_tombstone = p.kind == ValueKind::Delete && p.seq <= env.oldest_snapshot && job.bottommost;
        let range_deleted = range_dels.covers(p.user_key, p.seq);
        newer_seq_for_key = p.seq;
        if !shadowed && !dead_tombstone && !range_deleted {
            if builder.is_none() {
                *builder = Some(new_output(env, next_number)?);
            }
            if let Some((b, _)) = builder.as_mut() {
                // A block holding just this entry is copied as it is stored, its
                // seqno included (zeroing it would mean decoding, re-encoding and
                // compressing the block again, the work copying saves). A value of
                // half a block or more makes a block of its own; smaller ones rarely
                // have one (a table's last entry, one before an output cut), so they
                // skip the question, a chain of calls down the merge to the block cursor.
                let big = it.value().len() >= env.table_options.block_size / 2;
                if let Some(stored) = if big { it.sole_entry_block() } else { None } {
                    if b.add_stored_block(it.key(), it.value(), stored)? {
                        out.blocks_copied += 1;
                        it.next();
                        continue;
                    }
                }
                if job.bottommost && p.seq <= env.oldest_snapshot {
                    zeroed_key.clear();
                    append_internal_key(&mut zeroed_key, p.user_key, 0, p.kind);
                    b.add(&zeroed_key, it.value())?;
                } else {
                    b.add(it.key(), it.value())?;
                }
            }
        }
        it.next();
    }
    it.status()?;
    let tail = range_dels.share(output_start.as_deref(), end);
    if builder.is_none() && !tail.is_empty() {
        *builder = Some(new_output(env, next_number)?);
    }
    if let Some((b, _)) = builder.as_mut() {
        b.add_range_tombstones(tail);
    }
    finish(ctx, builder.take(), job.output_level, &mut out.files)
}

/// The user-key range `[smallest, largest]` covered by `files`.
pub(crate) fn key_range(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let smallest = files.iter().map(|f| f.smallest_user_key()).min()?;
    let largest = files.iter().map(|f| f.largest_user_key()).max()?;
    Some((smallest.to_vec(), largest.to_vec()))
}

fn finish(
    ctx: &TableContext,
    builder: Option<(TableBuilder, u64)>,
    level: u32,
    outputs: &mut Vec<NewFile>,
) -> Result<()> {
    let Some((b, number)) = builder else { return Ok(()) };
    let result = b.finish();
    let (size, props) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = ctx.fs.remove(&filename::path(&ctx.dir, &filename::table_name(number)));
            return Err(e.into());
        }
    };
    outputs.push(NewFile::from_properties(level, number, size, props));
    Ok(())
}

#[cfg(test)]
mod tests;
