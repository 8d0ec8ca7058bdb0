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

pub mod leveled;
pub mod strategy;
pub mod tiered;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use leveled::LeveledPicker;
pub use strategy::{CompactionStrategy, Stall};
pub use tiered::TieredPicker;

use crate::error::{Error, Result};
use crate::filename;
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::key::{ParsedKey, ValueKind};
use crate::sstable::{TableBuilder, TableOptions};
use crate::version::{FileMeta, NewFile, TableContext, VersionEdit};

/// One compaction: which tables to merge and where the result goes.
pub struct CompactionJob {
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
    /// Why the strategy picked this job, for statistics and logs.
    pub reason: &'static str,
}

impl CompactionJob {
    /// A job that rewrites `inputs` into `output_level` with no grandparent limit.
    pub fn merge(
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
            reason,
        }
    }

    /// Bytes of input tables.
    pub fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|f| f.info.size).sum()
    }

    /// The MANIFEST edit that installs the job's result: inputs out, outputs in (for a
    /// trivial move, the same file on its new level).
    pub fn edit(&self, outputs: Vec<NewFile>) -> VersionEdit {
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
pub struct CompactionOutput {
    /// The new tables.
    pub files: Vec<NewFile>,
    /// Bytes of input tables read.
    pub bytes_read: u64,
    /// Bytes of output tables written.
    pub bytes_written: u64,
}

/// What a running job needs from the database.
pub struct JobEnv<'a> {
    /// Where tables live.
    pub ctx: &'a TableContext,
    /// How to lay out output tables.
    pub table_options: &'a TableOptions,
    /// The oldest seqno any reader (snapshot or the present) may read at.
    pub oldest_snapshot: u64,
    /// Set when the database closes: the job stops early and removes its outputs.
    pub cancel: &'a AtomicBool,
}

/// Runs `job`, naming outputs with numbers from `next_number`. On error (or
/// cancellation) every output written so far is removed. A trivial move writes nothing.
pub fn run_job(
    env: &JobEnv<'_>,
    job: &CompactionJob,
    mut next_number: impl FnMut() -> u64,
) -> Result<CompactionOutput> {
    if job.trivial_move {
        return Ok(CompactionOutput { files: Vec::new(), bytes_read: 0, bytes_written: 0 });
    }
    let ctx = env.ctx;
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    for f in &job.inputs {
        children.push(Box::new(f.table()?.iter()));
    }
    let mut it = MergingIterator::new(children);
    let mut out = CompactionOutput {
        files: Vec::new(),
        bytes_read: job.inputs.iter().map(|f| f.info.size).sum(),
        bytes_written: 0,
    };
    let result = merge_into(env, job, &mut it, &mut next_number, &mut out);
    if let Err(e) = result {
        for f in &out.files {
            let _ = ctx.fs.remove(&filename::path(&ctx.dir, &filename::table_name(f.number)));
        }
        return Err(e);
    }
    Ok(out)
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

fn merge_into(
    env: &JobEnv<'_>,
    job: &CompactionJob,
    it: &mut MergingIterator,
    next_number: &mut impl FnMut() -> u64,
    out: &mut CompactionOutput,
) -> Result<()> {
    let ctx = env.ctx;
    let mut builder: Option<(TableBuilder, u64)> = None;
    let mut current_key: Option<Vec<u8>> = None;
    let mut newer_seq_for_key = u64::MAX;
    let mut cut = GrandparentCut { files: &job.grandparents, index: 0, overlap: 0, seen_key: false };
    let mut steps = 0u32;
    it.seek_to_first();
    while it.valid() {
        steps = steps.wrapping_add(1);
        if steps.is_multiple_of(1024) && env.cancel.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let p =
            ParsedKey::parse(it.key()).ok_or_else(|| Error::Corruption("malformed key in compaction input".into()))?;
        if current_key.as_deref() != Some(p.user_key) {
            // Only here may an output end: a user key never spans two outputs.
            let gp_cut = cut.should_cut_before(p.user_key, job.max_grandparent_overlap);
            if let Some((b, _)) = &builder {
                if gp_cut || b.estimated_size() >= job.target_file_size {
                    finish(ctx, builder.take(), job.output_level, out)?;
                }
            }
            current_key = Some(p.user_key.to_vec());
            newer_seq_for_key = u64::MAX;
        }
        let shadowed = newer_seq_for_key <= env.oldest_snapshot;
        let dead_tombstone = p.kind == ValueKind::Delete && p.seq <= env.oldest_snapshot && job.bottommost;
        newer_seq_for_key = p.seq;
        if !shadowed && !dead_tombstone {
            if builder.is_none() {
                let number = next_number();
                let file = ctx.fs.create(&filename::path(&ctx.dir, &filename::table_name(number)))?;
                builder = Some((TableBuilder::new(file, env.table_options.clone()), number));
            }
            if let Some((b, _)) = &mut builder {
                b.add(it.key(), it.value())?;
            }
        }
        it.next();
    }
    it.status()?;
    finish(ctx, builder, job.output_level, out)?;
    ctx.fs.sync_dir(&ctx.dir)?;
    Ok(())
}

/// The user-key range `[smallest, largest]` covered by `files`.
pub fn key_range(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let smallest = files.iter().map(|f| f.smallest_user_key()).min()?;
    let largest = files.iter().map(|f| f.largest_user_key()).max()?;
    Some((smallest.to_vec(), largest.to_vec()))
}

fn finish(
    ctx: &TableContext,
    builder: Option<(TableBuilder, u64)>,
    level: u32,
    out: &mut CompactionOutput,
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
    out.bytes_written += size;
    out.files.push(NewFile::from_properties(level, number, size, props));
    Ok(())
}

#[cfg(test)]
mod tests;
