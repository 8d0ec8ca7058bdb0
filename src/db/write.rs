//! The write path: a queue of writers with group commit (LevelDB's design).
//!
//! Every writer joins the queue. The writer at the front is the *leader*: it takes the
//! batches of all writers queued behind it (up to a byte limit), assigns them
//! consecutive seqnos, appends them to the WAL as one record (one `write`, and one
//! `fsync` when `sync_writes` is on or any writer of the group asked for one with
//! `WriteOptions::sync`), inserts them into the memtable, publishes the new
//! visible seqno, and wakes the others with the shared result. Then the next writer at
//! the front leads. Under load one fsync thus covers many writes.
//!
//! Before writing, the leader makes room: when the active memtable is full it freezes it
//! and starts a new WAL, and when too many frozen memtables await flush it waits (a
//! write stall, never an error) until the background thread catches up.
//!
//! A failed WAL append may leave a partial record, and appending after it would put
//! good data behind damage; so a WAL error makes the database refuse further writes.
//!
//! A transaction's commit is a writer with a conflict check: the leader checks it
//! against the conflict log and the members ahead of it in the group, leaves its batch
//! out if it lost, and records the group's keys in the log after publishing the group's
//! seqno, if a transaction is live (see [`super::conflicts`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::conflicts::{ConflictCheck, Pending};
use super::{DbInner, Frozen, State, SuperVersion};
use crate::batch::WriteBatch;
use crate::compaction::Stall;
use crate::error::{Error, Result};
use crate::log::LogWriter;
use crate::memtable::MemTable;
use crate::stats::Counters;

/// Most bytes of batches one leader commits at once; keeps a small write's latency
/// bounded when it happens to lead behind large ones.
const MAX_GROUP_BYTES: usize = 1 << 20;

pub(crate) type Queue = VecDeque<Arc<Writer>>;

/// One queued write (or, with `force_switch`, a request to freeze the memtable).
pub(crate) struct Writer {
    batch: Mutex<Option<WriteBatch>>,
    size: usize,
    /// The writer asked for an fsync before its write returns (`WriteOptions::sync`).
    sync: bool,
    force_switch: bool,
    /// A transaction's commit: checked before its batch may join the group.
    check: Option<ConflictCheck>,
    /// The check failed: the batch was left out and the result is `Error::Conflict`.
    conflicted: AtomicBool,
    result: Mutex<Option<Result<()>>>,
    cv: Condvar,
}

impl Writer {
    /// The group's result as this writer sees it.
    fn outcome(&self, group: &Result<()>) -> Result<()> {
        if self.conflicted.load(Ordering::Relaxed) {
            return Err(Error::Conflict);
        }
        match group {
            Ok(()) => Ok(()),
            Err(e) => Err(e.duplicate()),
        }
    }
}

impl DbInner {
    /// Commits `batch`; with `sync`, the WAL is fsynced before this returns.
    pub(crate) fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        if let Some(why) = batch.invalid() {
            return Err(Error::InvalidArgument(why.to_string()));
        }
        self.check_writable()?;
        if batch.is_empty() {
            // Nothing to log, but a synced empty write still makes every earlier write
            // durable, as in LevelDB and RocksDB.
            return if sync { self.sync_wal() } else { Ok(()) };
        }
        self.enqueue(Some(batch), sync, false, None)
    }

    /// Commits a transaction's `batch` unless `check` finds a conflict
    /// (`Error::Conflict`, nothing written).
    pub(crate) fn commit_checked(&self, batch: WriteBatch, sync: bool, check: ConflictCheck) -> Result<()> {
        if let Some(why) = batch.invalid() {
            return Err(Error::InvalidArgument(why.to_string()));
        }
        self.check_writable()?;
        self.enqueue(Some(batch), sync, false, Some(check))
    }

    /// Queues a writer and waits until its write is done, leading a group if it reaches
    /// the front of the queue first.
    fn enqueue(
        &self,
        batch: Option<WriteBatch>,
        sync: bool,
        force_switch: bool,
        check: Option<ConflictCheck>,
    ) -> Result<()> {
        let size = batch.as_ref().map_or(0, |b| b.encoded().len());
        let me = Arc::new(Writer {
            batch: Mutex::new(batch),
            size,
            sync,
            force_switch,
            check,
            conflicted: AtomicBool::new(false),
            result: Mutex::new(None),
            cv: Condvar::new(),
        });
        let mut queue = self.queue.lock();
        queue.push_back(me.clone());
        loop {
            if let Some(result) = me.result.lock().take() {
                return result;
            }
            if queue.front().is_some_and(|f| Arc::ptr_eq(f, &me)) {
                break;
            }
            me.cv.wait(&mut queue);
        }
        // Leader: gather the group. A memtable switch request goes alone.
        let mut group = vec![me.clone()];
        let mut bytes = me.size;
        if !force_switch {
            for w in queue.iter().skip(1) {
                if w.force_switch || bytes + w.size > MAX_GROUP_BYTES {
                    break;
                }
                bytes += w.size;
                group.push(w.clone());
            }
        }
        drop(queue);

        let result = self.commit_group(&group);

        let mut queue = self.queue.lock();
        for w in &group {
            queue.pop_front();
            if !Arc::ptr_eq(w, &me) {
                *w.result.lock() = Some(w.outcome(&result));
                w.cv.notify_one();
            }
        }
        if let Some(next) = queue.front() {
            next.cv.notify_one();
        }
        me.outcome(&result)
    }

    fn commit_group(&self, group: &[Arc<Writer>]) -> Result<()> {
        let force = group.first().is_some_and(|w| w.force_switch);
        let mem = {
            let mut st = self.state.lock();
            self.make_room(&mut st, force)?;
            st.sv.mem.clone()
        };
        if force {
            return Ok(());
        }
        let batch = if group.iter().any(|w| w.check.is_some()) {
            concatenate(self.checked_batches(group))
        } else {
            concatenate(group.iter().filter_map(|w| w.batch.lock().take()))
        };
        let Some(mut batch) = batch else { return Ok(()) };
        let first_seq = self.last_seq.load(Ordering::Relaxed) + 1;
        batch.set_seq(first_seq);
        // One record for the group, so one sync covers every member that asked for it.
        let sync = self.opts.sync_writes || group.iter().any(|w| w.sync);

        let appended = {
            let mut wal = self.wal.lock();
            // `shutdown` sets `closed` and then waits for this lock before releasing the
            // directory: nothing may reach the WAL after that.
            self.check_open()?;
            let before = wal.bytes_written();
            let appended = wal.add_record(batch.encoded()).and_then(|()| if sync { wal.sync() } else { wal.flush() });
            Counters::add(&self.stats.wal_bytes_written, wal.bytes_written() - before);
            appended
        };
        if let Err(e) = appended {
            self.set_background_error(format!("WAL write failed: {e}"));
            return Err(Error::Io(e));
        }

        let mut seq = first_seq;
        for entry in batch.iter().flatten() {
            mem.add(seq, entry.kind, entry.key, entry.value);
            seq += 1;
        }
        let last = seq - 1;
        self.last_seq.store(last, Ordering::Relaxed);
        // Published first, then recorded if a transaction is live (see `conflicts`):
        // SeqCst, so that a transaction beginning meanwhile either is counted here or
        // reads this seqno.
        self.visible_seq.store(last, Ordering::SeqCst);
        if self.live_transactions.load(Ordering::SeqCst) > 0 {
            let mut log = self.conflicts.lock();
            if log.tracking() {
                log.record(&batch, self.opts.transaction_log_bytes);
            }
        }
        Counters::add(&self.stats.user_bytes_written, batch.user_bytes());
        Counters::add(&self.stats.write_groups, 1);
        Ok(())
    }

    /// The batches of `group` that may commit: all but those of transactions that
    /// conflict with a recorded write or with a member ahead of them in the group.
    fn checked_batches(&self, group: &[Arc<Writer>]) -> Vec<WriteBatch> {
        let log = self.conflicts.lock();
        let mut pending = Pending::default();
        let mut batches = Vec::with_capacity(group.len());
        for w in group {
            let Some(batch) = w.batch.lock().take() else { continue };
            if let Some(check) = &w.check {
                if log.conflicts(check, &pending) {
                    w.conflicted.store(true, Ordering::Relaxed);
                    continue;
                }
            }
            // A live transaction (there is one if the log tracks) may be checked later
            // in this group against what commits ahead of it.
            if log.tracking() {
                pending.add(&batch);
            }
            batches.push(batch);
        }
        batches
    }

    /// Ensures the active memtable has room, freezing it when full (or when `force` and
    /// it is not empty) and stalling while too many frozen memtables wait for flush.
    fn make_room(&self, st: &mut MutexGuard<'_, State>, force: bool) -> Result<()> {
        let mut stalled = false;
        let mut may_slow_down = !force;
        loop {
            if let Some(why) = &st.bg_error {
                return Err(Error::Background(why.clone()));
            }
            if st.shutting_down {
                return Err(Error::Closed);
            }
            let stall = self.policy.stall(&st.sv.version);
            if may_slow_down && stall == Stall::Slowdown {
                // Compaction is falling behind: give it a millisecond per write group
                // rather than stopping writers outright later.
                Counters::add(&self.stats.write_slowdowns, 1);
                MutexGuard::unlocked(st, || std::thread::sleep(Duration::from_millis(1)));
                may_slow_down = false;
                continue;
            }
            let full = st.sv.mem.memory_usage() >= self.opts.memtable_size;
            if !full && (!force || st.sv.mem.is_empty()) {
                return Ok(());
            }
            if st.frozen.len() >= self.opts.max_immutable_memtables || stall == Stall::Stop {
                if !stalled {
                    Counters::add(&self.stats.write_stalls, 1);
                    stalled = true;
                }
                self.flushed_cv.wait(st);
                continue;
            }
            if full {
                Counters::add(&self.stats.memtables_filled, 1);
            }
            self.switch_memtable(st)?;
            if force {
                return Ok(());
            }
        }
    }

    /// Freezes the active memtable and starts a new one with a new WAL.
    fn switch_memtable(&self, st: &mut MutexGuard<'_, State>) -> Result<()> {
        let number = self.file_numbers.fetch_add(1, Ordering::SeqCst);
        let path = super::wal_path(&self.dir, number);
        // SAFETY: the directory is locked, and the number is fresh: nothing else writes
        // this file.
        let new_wal = unsafe { self.fs.create_log(&path) }.and_then(|f| {
            // The new log's directory entry must be durable before synced writes in it
            // can count as durable.
            self.fs.sync_dir(&self.dir)?;
            Ok(f)
        });
        let new_wal = match new_wal {
            Ok(f) => LogWriter::new(f),
            Err(e) => {
                let _ = self.fs.remove(&path);
                return Err(Error::Io(e));
            }
        };
        {
            let mut wal = self.wal.lock();
            // Sync the finished log so that `Db::sync` (which syncs only the live log)
            // covers every write that precedes it.
            if let Err(e) = wal.sync() {
                self.set_background_error_locked(st, format!("WAL sync failed: {e}"));
                return Err(Error::Io(e));
            }
            *wal = new_wal;
        }
        let old = std::mem::replace(&mut st.mem_log_number, number);
        let mem = Arc::new(MemTable::with_huge_pages(self.opts.memtable_size, self.opts.memtable_huge_pages));
        let mut imms = vec![st.sv.mem.clone()];
        imms.extend(st.sv.imms.iter().cloned());
        let frozen = Frozen { mem: st.sv.mem.clone(), log_number: old };
        st.frozen.push(frozen);
        let version = st.sv.version.clone();
        // The old view's memtable lives on in `imms`: dropping the view frees nothing.
        drop(self.install(st, SuperVersion::new(mem, imms, version)));
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Freezes the memtable (if it holds anything) and waits until every memtable frozen
    /// so far is in an SSTable.
    pub(crate) fn flush(&self) -> Result<()> {
        self.check_writable()?;
        self.enqueue(None, false, true, None)?;
        let mut st = self.state.lock();
        let target = st.frozen.last().map(|f| f.log_number);
        while let Some(t) = target {
            if let Some(why) = &st.bg_error {
                return Err(Error::Background(why.clone()));
            }
            if st.shutting_down {
                return Err(Error::Closed);
            }
            if st.frozen.first().is_none_or(|f| f.log_number > t) {
                break;
            }
            self.flushed_cv.wait(&mut st);
        }
        Ok(())
    }
}

/// One batch of the entries of `batches`, in order; `None` if there are none. Inlined:
/// out of line, moving the batch through its `Option` cost a single put 2% more
/// instructions.
#[inline(always)]
fn concatenate(batches: impl IntoIterator<Item = WriteBatch>) -> Option<WriteBatch> {
    let mut batches = batches.into_iter();
    let mut first = batches.next()?;
    for b in batches {
        first.append(&b);
    }
    Some(first)
}
