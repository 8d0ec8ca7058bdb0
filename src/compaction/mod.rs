//! Compaction: merging tables into fewer, newer ones (Database Internals §"Compaction").
//!
//! [`run_job`] is the job runner every strategy will share: it merge-iterates its input
//! tables, keeps each version a live snapshot can still see, drops versions shadowed for
//! every reader, drops tombstones where nothing older can be hidden by them, and writes
//! the result as tables cut at a target size (only between user keys, so that tables of
//! one level never share a user key). The caller records the outcome with one MANIFEST
//! edit. Picking strategies (leveled, size-tiered) build on it; today it serves the full
//! compaction of `Db::compact`.
//!
//! The dropping rule is LevelDB's. Walking versions of one user key newest first, with
//! `s` the oldest seqno any reader may read at:
//! - a version is dropped if a newer version of the same key has seqno <= `s` (every
//!   reader sees that newer one instead);
//! - a tombstone with seqno <= `s` is dropped when the job is bottommost (no table
//!   outside the job may hold an older version the tombstone still hides).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::filename;
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::key::{ParsedKey, ValueKind};
use crate::sstable::{TableBuilder, TableOptions};
use crate::version::{FileMeta, NewFile, TableContext};

/// One compaction: which tables to merge and where the result goes.
pub struct CompactionJob {
    /// The input tables, in any order.
    pub inputs: Vec<Arc<FileMeta>>,
    /// The level the outputs join.
    pub output_level: u32,
    /// The oldest seqno any reader (snapshot or the present) may read at.
    pub oldest_snapshot: u64,
    /// True if no table outside the job can hold a key of the job's range.
    pub bottommost: bool,
    /// Outputs are cut once they pass this size.
    pub target_file_size: u64,
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

/// Runs `job`, naming outputs with numbers from `next_number`. On error every output
/// written so far is removed.
pub fn run_job(
    ctx: &TableContext,
    opts: &TableOptions,
    job: &CompactionJob,
    mut next_number: impl FnMut() -> u64,
) -> Result<CompactionOutput> {
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
    let result = merge_into(ctx, opts, job, &mut it, &mut next_number, &mut out);
    if let Err(e) = result {
        for f in &out.files {
            let _ = ctx.fs.remove(&filename::path(&ctx.dir, &filename::table_name(f.number)));
        }
        return Err(e);
    }
    Ok(out)
}

fn merge_into(
    ctx: &TableContext,
    opts: &TableOptions,
    job: &CompactionJob,
    it: &mut MergingIterator,
    next_number: &mut impl FnMut() -> u64,
    out: &mut CompactionOutput,
) -> Result<()> {
    let mut builder: Option<(TableBuilder, u64)> = None;
    let mut current_key: Option<Vec<u8>> = None;
    let mut newer_seq_for_key = u64::MAX;
    it.seek_to_first();
    while it.valid() {
        let p =
            ParsedKey::parse(it.key()).ok_or_else(|| Error::Corruption("malformed key in compaction input".into()))?;
        let new_key = current_key.as_deref() != Some(p.user_key);
        if new_key {
            // Only here may an output end: a user key never spans two outputs.
            if let Some((b, _)) = &builder {
                if b.estimated_size() >= job.target_file_size {
                    finish(ctx, builder.take(), job.output_level, out)?;
                }
            }
            current_key = Some(p.user_key.to_vec());
            newer_seq_for_key = u64::MAX;
        }
        let shadowed = newer_seq_for_key <= job.oldest_snapshot;
        let dead_tombstone = p.kind == ValueKind::Delete && p.seq <= job.oldest_snapshot && job.bottommost;
        newer_seq_for_key = p.seq;
        if !shadowed && !dead_tombstone {
            if builder.is_none() {
                let number = next_number();
                let file = ctx.fs.create(&filename::path(&ctx.dir, &filename::table_name(number)))?;
                builder = Some((TableBuilder::new(file, opts.clone()), number));
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
