//! Compaction on the database: the compaction thread, `Db::compact`, and installing a
//! job's result.
//!
//! One compaction runs at a time per keyspace: its strategy sits behind
//! `Tree::compactor`, and the compaction thread and `Db::compact` both hold that lock
//! for a whole job. The thread takes the keyspaces in turn, one job each per round. Flushes run
//! on their own thread, so a long merge never holds up a flush ("flushes first").
//! A job's inputs are chosen from the current version; while it runs, flushes may only
//! add newer L0 tables, which no job's inputs or placement depend on. The MANIFEST lock
//! is held just to log and install the result. The thread sleeps until a flush or a
//! call wakes it, or, while a keyspace uses FIFO with a maximum age, until that
//! strategy's recheck period has passed (tables expire with time, not writes).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::flush::{run_table_options, table_options};
use super::tree::Tree;
use super::{DbInner, SuperVersion};
use crate::compaction::fifo::FifoPicker;
use crate::compaction::{self, CompactionJob, JobEnv};
use crate::error::{Error, Result};
use crate::key::UserKeyRange;
use crate::options::{Compaction, Options};
use crate::stats::Counters;

/// How often the compaction thread looks at a tree under `opts` unasked.
fn fifo_recheck_period(opts: &Options) -> Option<std::time::Duration> {
    match &opts.compaction {
        Compaction::Fifo(f) => FifoPicker::recheck_period(f),
        _ => None,
    }
}

/// Per-level compaction counters, indexed by output level.
#[derive(Clone, Copy, Default)]
pub(crate) struct LevelCounters {
    pub compactions: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

pub(crate) fn compaction_loop(db: &Arc<DbInner>) {
    loop {
        let trees = {
            let mut st = db.state.lock();
            while !st.shutting_down && (!st.compaction_wanted || st.bg_error.is_some()) {
                // Tables of a FIFO tree with a maximum age expire with time, not writes.
                let period = st.trees.iter().filter_map(|t| fifo_recheck_period(&t.tree.opts)).min();
                match period {
                    Some(p) if db.compaction_cv.wait_for(&mut st, p).timed_out() => st.compaction_wanted = true,
                    Some(_) => {}
                    None => db.compaction_cv.wait(&mut st),
                }
            }
            if st.shutting_down {
                return;
            }
            st.compaction_wanted = false;
            st.trees.iter().map(|t| t.tree.clone()).collect::<Vec<_>>()
        };
        // One job per keyspace per round, until every strategy is satisfied: a keyspace
        // with a backlog never holds up another's next job for more than one job.
        let mut busy = trees;
        while !busy.is_empty() && !db.closed.load(Ordering::Acquire) {
            let mut still_busy = Vec::new();
            for tree in busy {
                if tree.dropped.load(Ordering::Acquire) {
                    continue;
                }
                // A keyspace busy with a `compact` call is skipped, not waited for: the
                // call wakes this thread again when it is done.
                let Some(mut strategy) = tree.compactor.try_lock() else { continue };
                let version = tree.super_version().version.clone();
                let Some(job) = strategy.pick(&version) else { continue };
                let result = db.run_compaction(&tree, &job);
                // The job's inputs and the version it was picked from go before the
                // compactor is released: whoever takes it next (`wait_for_compactions`)
                // finds the replaced tables deleted, not on disk until this thread
                // comes round (a settled 10M-key database once measured half as big
                // again).
                drop(job);
                drop(version);
                match result {
                    Ok(()) => {}
                    Err(Error::Closed) => return,
                    Err(e) => {
                        db.set_background_error(format!("compaction failed: {e}"));
                        return;
                    }
                }
                drop(strategy);
                still_busy.push(tree);
            }
            busy = still_busy;
        }
    }
}

impl DbInner {
    /// Wakes the compaction thread to check whether the trees need work.
    pub(crate) fn wake_compaction(&self) {
        let mut st = self.state.lock();
        st.compaction_wanted = true;
        self.compaction_cv.notify_all();
    }

    /// Runs `job` on `tree` and installs its result. The caller holds the tree's
    /// `compactor`. A keyspace dropped meanwhile loses the job's outputs with the rest.
    fn run_compaction(&self, tree: &Tree, job: &CompactionJob) -> Result<()> {
        // Moves and drops write no table: no layout (and no Monkey sizing) needed.
        let layout = if job.trivial_move || job.drop_inputs {
            table_options(&tree.opts, job.output_level)
        } else {
            let entries = job.inputs.iter().fold(0u64, |sum, f| sum.saturating_add(f.info.summary.num_entries));
            run_table_options(&tree.opts, job.output_level, &tree.super_version().version, &job.inputs, entries)
        };
        let env = JobEnv {
            ctx: &self.ctx,
            table_options: &layout,
            oldest_snapshot: self.oldest_snapshot(),
            cancel: &self.closed,
            max_subcompactions: tree.opts.max_subcompactions,
        };
        let out = compaction::run_job(&env, job, &|| self.file_numbers.fetch_add(1, Ordering::SeqCst))?;
        let mut edit = job.edit(out.files);
        edit.keyspace = tree.id;
        // If logging fails, the edit may still have reached the MANIFEST, so the outputs
        // stay; the next open removes whichever tables no edit names.
        let mut versions = self.versions.lock();
        if versions.current(tree.id).is_none() {
            // A move's outputs are its inputs, which the drop made obsolete.
            for f in edit.new_files.iter().filter(|_| !job.trivial_move) {
                let _ = self.fs.remove(&crate::filename::path(&self.dir, &crate::filename::table_name(f.number)));
            }
            return Ok(());
        }
        let version = versions.log_and_apply(edit).inspect_err(|e| {
            // A MANIFEST that failed to sync may have lost what it was given: no later
            // edit, and no write whose flush would need one, can be trusted to it.
            self.set_background_error(format!("MANIFEST write failed: {e}"));
        })?;
        if cfg!(debug_assertions) {
            if let Err(why) = tree.policy.check(&version) {
                return Err(Error::Corruption(format!("compaction broke the tree's shape: {why}")));
            }
        }
        let retired = {
            let mut st = self.state.lock();
            let Some(t) = st.tree_mut(tree.id) else { return Ok(()) };
            let sv = SuperVersion::new(t.sv.mem.clone(), t.sv.imms.clone(), version);
            let retired = DbInner::install(t, sv);
            self.flushed_cv.notify_all();
            retired
        };
        drop(versions);
        // Unlinks the job's inputs unless a reader still holds them.
        drop(retired);
        let stats = &tree.stats;
        Counters::add(&stats.compaction_bytes_read, out.bytes_read);
        Counters::add(&stats.compaction_bytes_written, out.bytes_written);
        Counters::add(&stats.compactions, 1);
        Counters::add(&stats.compaction_blocks_copied, out.blocks_copied);
        if job.trivial_move {
            Counters::add(&stats.trivial_moves, 1);
        }
        let mut levels = tree.level_counters.lock();
        let level = job.output_level as usize;
        if levels.len() <= level {
            levels.resize(level + 1, LevelCounters::default());
        }
        levels[level].compactions += 1;
        levels[level].bytes_read += out.bytes_read;
        levels[level].bytes_written += out.bytes_written;
        Ok(())
    }

    /// Flushes every keyspace, then runs in this thread every job the strategies
    /// still want, until every tree is in the shape its strategy aims for.
    pub(crate) fn wait_for_compactions(&self) -> Result<()> {
        self.flush(None)?;
        let trees: Vec<Arc<Tree>> = self.state.lock().trees.iter().map(|t| t.tree.clone()).collect();
        for tree in trees {
            let mut strategy = tree.compactor.lock();
            loop {
                let version = tree.super_version().version.clone();
                let Some(job) = strategy.pick(&version) else { break };
                self.run_compaction(&tree, &job)?;
            }
        }
        self.wake_compaction();
        Ok(())
    }

    /// Flushes `tree`, then merges its tables holding keys of `range` as its strategy
    /// allows.
    pub(crate) fn compact_range(&self, tree: &Tree, range: &UserKeyRange) -> Result<()> {
        self.flush(Some(tree.id))?;
        if range.is_empty() {
            return Ok(());
        }
        let strategy = tree.compactor.lock();
        let version = tree.super_version().version.clone();
        if let Some(job) = strategy.range(&version, range) {
            self.run_compaction(tree, &job)?;
        }
        drop(strategy);
        // The compaction thread skipped this keyspace meanwhile.
        self.wake_compaction();
        Ok(())
    }

    /// Flushes `tree`, then merges everything in it into as few runs as its strategy
    /// allows.
    pub(crate) fn compact(&self, tree: &Tree) -> Result<()> {
        self.flush(Some(tree.id))?;
        let strategy = tree.compactor.lock();
        let version = tree.super_version().version.clone();
        if let Some(job) = strategy.full(&version) {
            self.run_compaction(tree, &job)?;
        }
        drop(strategy);
        self.wake_compaction();
        Ok(())
    }
}
