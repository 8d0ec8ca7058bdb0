//! Compaction on the database: the compaction thread, `Db::compact`, and installing a
//! job's result.
//!
//! One compaction runs at a time: the strategy sits behind `DbInner::compactor`, and the
//! compaction thread and `Db::compact` both hold that lock for a whole job. Flushes run
//! on their own thread, so a long merge never holds up a flush ("flushes first").
//! A job's inputs are chosen from the current version; while it runs, flushes may only
//! add newer L0 tables, which no job's inputs or placement depend on. The MANIFEST lock
//! is held just to log and install the result.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::flush::table_options;
use super::{DbInner, SuperVersion};
use crate::compaction::{self, CompactionJob, JobEnv};
use crate::error::{Error, Result};
use crate::key::UserKeyRange;
use crate::stats::Counters;

/// Per-level compaction counters, indexed by output level.
#[derive(Clone, Copy, Default)]
pub(crate) struct LevelCounters {
    pub compactions: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

pub(crate) fn compaction_loop(db: &Arc<DbInner>) {
    loop {
        {
            let mut st = db.state.lock();
            while !st.shutting_down && (!st.compaction_wanted || st.bg_error.is_some()) {
                db.compaction_cv.wait(&mut st);
            }
            if st.shutting_down {
                return;
            }
            st.compaction_wanted = false;
        }
        // Run jobs until the strategy is satisfied.
        while !db.closed.load(Ordering::Acquire) {
            let mut strategy = db.compactor.lock();
            let version = db.super_version().version.clone();
            let Some(job) = strategy.pick(&version) else { break };
            match db.run_compaction(&job) {
                Ok(()) => {}
                Err(Error::Closed) => return,
                Err(e) => {
                    db.set_background_error(format!("compaction failed: {e}"));
                    return;
                }
            }
        }
    }
}

impl DbInner {
    /// Wakes the compaction thread to check whether the tree needs work.
    pub(crate) fn wake_compaction(&self) {
        let mut st = self.state.lock();
        st.compaction_wanted = true;
        self.compaction_cv.notify_all();
    }

    /// Runs `job` and installs its result. The caller holds `compactor`.
    fn run_compaction(&self, job: &CompactionJob) -> Result<()> {
        let env = JobEnv {
            ctx: &self.ctx,
            table_options: &table_options(&self.opts, job.output_level),
            oldest_snapshot: self.oldest_snapshot(),
            cancel: &self.closed,
            max_subcompactions: self.opts.max_subcompactions,
        };
        let out = compaction::run_job(&env, job, &|| self.file_numbers.fetch_add(1, Ordering::SeqCst))?;
        let edit = job.edit(out.files);
        // If logging fails, the edit may still have reached the MANIFEST, so the outputs
        // stay; the next open removes whichever tables no edit names.
        let mut versions = self.versions.lock();
        let version = versions.log_and_apply(edit).inspect_err(|e| {
            // A MANIFEST that failed to sync may have lost what it was given: no later
            // edit, and no write whose flush would need one, can be trusted to it.
            self.set_background_error(format!("MANIFEST write failed: {e}"));
        })?;
        if cfg!(debug_assertions) {
            if let Err(why) = self.policy.check(&version) {
                return Err(Error::Corruption(format!("compaction broke the tree's shape: {why}")));
            }
        }
        let retired = {
            let mut st = self.state.lock();
            let sv = SuperVersion::new(st.sv.mem.clone(), st.sv.imms.clone(), version);
            let retired = self.install(&mut st, sv);
            self.flushed_cv.notify_all();
            retired
        };
        drop(versions);
        // Unlinks the job's inputs unless a reader still holds them.
        drop(retired);
        Counters::add(&self.stats.compaction_bytes_read, out.bytes_read);
        Counters::add(&self.stats.compaction_bytes_written, out.bytes_written);
        Counters::add(&self.stats.compactions, 1);
        if job.trivial_move {
            Counters::add(&self.stats.trivial_moves, 1);
        }
        let mut levels = self.level_counters.lock();
        let level = job.output_level as usize;
        if levels.len() <= level {
            levels.resize(level + 1, LevelCounters::default());
        }
        levels[level].compactions += 1;
        levels[level].bytes_read += out.bytes_read;
        levels[level].bytes_written += out.bytes_written;
        Ok(())
    }

    /// Flushes, then runs in this thread every job the strategy still wants, until the
    /// tree is in the shape it aims for.
    pub(crate) fn wait_for_compactions(&self) -> Result<()> {
        self.flush()?;
        let mut strategy = self.compactor.lock();
        loop {
            let version = self.super_version().version.clone();
            let Some(job) = strategy.pick(&version) else { return Ok(()) };
            self.run_compaction(&job)?;
        }
    }

    /// Flushes, then merges the tables holding keys of `range` as the strategy allows.
    pub(crate) fn compact_range(&self, range: &UserKeyRange) -> Result<()> {
        self.flush()?;
        if range.is_empty() {
            return Ok(());
        }
        let strategy = self.compactor.lock();
        let version = self.super_version().version.clone();
        if let Some(job) = strategy.range(&version, range) {
            self.run_compaction(&job)?;
        }
        Ok(())
    }

    /// Flushes, then merges everything into as few runs as the strategy allows.
    pub(crate) fn compact(&self) -> Result<()> {
        self.flush()?;
        let strategy = self.compactor.lock();
        let version = self.super_version().version.clone();
        if let Some(job) = strategy.full(&version) {
            self.run_compaction(&job)?;
        }
        Ok(())
    }
}
