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
//! Before writing, the leader makes room in the memtable of every keyspace the group
//! writes to: when one is full it freezes it and starts a new WAL. When one cannot take
//! more until the background threads catch up (too many of its frozen memtables await
//! flush, or its strategy says stop), the leader hands the whole group back: its writers
//! wait outside the queue for that keyspace (a write stall, never an error) and queue
//! again, so writers to other keyspaces go on meanwhile. A keyspace in slowdown delays
//! each of its writers by a millisecond before they queue. At a switch, a keyspace
//! whose memtable is empty moves its oldest needed WAL up to the new one, and one whose
//! unflushed writes sit in a WAL older than the last `MAX_LIVE_WALS` is frozen too, so a
//! quiet keyspace does not keep WALs alive for ever.
//!
//! A failed WAL append may leave a partial record, and appending after it would put
//! good data behind damage; so a WAL error makes the database refuse further writes.
//!
//! A transaction's commit is a writer with a conflict check: the leader checks it
//! against the conflict log and the members ahead of it in the group, leaves its batch
//! out if it lost, and records the group's keys in the log after publishing the group's
//! seqno, if a transaction is live (see [`super::conflicts`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::conflicts::{ConflictCheck, Pending};
use super::tree::{Frozen, Room, Tree};
use super::{new_wal_writer, retires_wals_unsynced, DbInner, State, SuperVersion};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::memtable::MemTable;
use crate::stats::Counters;
use crate::version::DEFAULT_KEYSPACE;

/// Most bytes of batches one leader commits at once; keeps a small write's latency
/// bounded when it happens to lead behind large ones.
const MAX_GROUP_BYTES: usize = 1 << 20;

pub(crate) type Queue = VecDeque<Arc<Writer>>;

/// How many WAL files may hold unflushed writes before a switch also freezes the
/// memtables whose writes sit in the older ones.
const MAX_LIVE_WALS: usize = 4;

/// Which memtables a flush request freezes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    /// Every keyspace's.
    All,
    /// Keyspace `id`'s.
    One(u32),
}

impl Switch {
    fn covers(self, id: u32) -> bool {
        self == Switch::All || self == Switch::One(id)
    }
}

/// How many times a queued writer yields its core, watching for its wake-up, before it
/// sleeps on its condition variable (see `join_queue`).
const YIELDS_BEFORE_WAITING: u32 = 50;

/// What the leader decided for one writer besides the group's result.
const FATE_NONE: u8 = 0;
/// Its conflict check failed: its batch was left out (`Error::Conflict`).
const FATE_CONFLICT: u8 = 1;
/// A keyspace it writes to was dropped after it checked its handles: its batch was left
/// out (`Error::InvalidArgument`).
const FATE_GONE: u8 = 2;
/// A keyspace it writes to (or would freeze) has no room until a flush or compaction
/// catches up: it waits outside the queue, then queues again.
const FATE_REQUEUE: u8 = 3;

/// One queued write (or, with `switch`, a request to freeze memtables).
pub(crate) struct Writer {
    batch: Mutex<Option<WriteBatch>>,
    size: usize,
    /// The writer asked for an fsync before its write returns (`WriteOptions::sync`).
    sync: bool,
    switch: Option<Switch>,
    /// The batch writes to the default keyspace, and to these others (id, handle
    /// identity): the memtables that must have room, and the keyspaces the leader
    /// checks are still there.
    default: bool,
    keyspaces: Vec<(u32, u64)>,
    /// A transaction's commit: checked before its batch may join the group.
    check: Option<ConflictCheck>,
    /// One of the `FATE_*` constants.
    fate: AtomicU8,
    result: Mutex<Option<Result<()>>>,
    cv: Condvar,
    /// Set (under the queue lock) before every notify of `cv`: a writer yielding
    /// rather than waiting sees it without the lock.
    woken: AtomicBool,
}

impl Writer {
    /// The group's result as this writer sees it.
    fn outcome(&self, group: &Result<()>) -> Result<()> {
        match self.fate.load(Ordering::Relaxed) {
            FATE_CONFLICT => Err(Error::Conflict),
            FATE_GONE => {
                Err(Error::InvalidArgument("the batch writes to a keyspace dropped before it committed".into()))
            }
            _ => match group {
                Ok(()) => Ok(()),
                Err(e) => Err(e.duplicate()),
            },
        }
    }

    /// True if its batch writes to keyspace `id`, or its switch request covers it.
    fn needs_room_in(&self, id: u32) -> bool {
        let writes = if id == DEFAULT_KEYSPACE { self.default } else { self.keyspaces.iter().any(|&(k, _)| k == id) };
        writes || self.switch.is_some_and(|s| s.covers(id))
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
        self.admit(&batch)?;
        self.enqueue(Some(batch), sync, None, None)
    }

    /// Checks, before `batch` joins the queue, that every keyspace it names is a live
    /// one of this database (`InvalidArgument` for a handle of another database or of a
    /// dropped keyspace), and gives compaction a millisecond if one of them is in
    /// slowdown (RocksDB's delayed write): outside the queue, so that writers to other
    /// keyspaces are not held up.
    fn admit(&self, batch: &WriteBatch) -> Result<()> {
        let mut slow = batch.has_default() && self.default.slowed_down();
        if !batch.keyspaces().is_empty() {
            let st = self.state.lock();
            for &(id, uid) in batch.keyspaces() {
                match st.tree(id) {
                    Some(t) if t.tree.uid == uid => slow |= t.tree.slowed_down(),
                    _ => {
                        return Err(Error::InvalidArgument(format!(
                            "the batch writes to keyspace {id}, which is dropped or belongs to another database"
                        )))
                    }
                }
            }
        }
        if slow {
            Counters::add(&self.stats.write_slowdowns, 1);
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Commits a transaction's `batch` unless `check` finds a conflict
    /// (`Error::Conflict`, nothing written).
    pub(crate) fn commit_checked(&self, batch: WriteBatch, sync: bool, check: ConflictCheck) -> Result<()> {
        if let Some(why) = batch.invalid() {
            return Err(Error::InvalidArgument(why.to_string()));
        }
        self.check_writable()?;
        self.admit(&batch)?;
        self.enqueue(Some(batch), sync, None, Some(check))
    }

    /// Queues a writer and waits until its write is done, leading a group if it reaches
    /// the front of the queue first; a writer handed back for lack of room waits for it
    /// outside the queue and queues again.
    fn enqueue(
        &self,
        batch: Option<WriteBatch>,
        sync: bool,
        switch: Option<Switch>,
        check: Option<ConflictCheck>,
    ) -> Result<()> {
        let size = batch.as_ref().map_or(0, |b| b.encoded().len());
        let default = batch.as_ref().is_some_and(WriteBatch::has_default);
        let keyspaces = match &batch {
            Some(b) if !b.keyspaces().is_empty() => b.keyspaces().iter().copied().filter(|&(id, _)| id != 0).collect(),
            _ => Vec::new(),
        };
        let me = Arc::new(Writer {
            batch: Mutex::new(batch),
            size,
            sync,
            switch,
            default,
            keyspaces,
            check,
            fate: AtomicU8::new(FATE_NONE),
            result: Mutex::new(None),
            cv: Condvar::new(),
            woken: AtomicBool::new(false),
        });
        loop {
            let result = self.join_queue(&me);
            if me.fate.load(Ordering::Relaxed) != FATE_REQUEUE {
                return result;
            }
            me.fate.store(FATE_NONE, Ordering::Relaxed);
            self.wait_for_room(&me)?;
        }
    }

    /// One pass through the queue: waits for a leader to commit `me`, or leads a group.
    fn join_queue(&self, me: &Arc<Writer>) -> Result<()> {
        let mut queue = self.queue.lock();
        queue.push_back(me.clone());
        loop {
            if let Some(result) = me.result.lock().take() {
                return result;
            }
            if queue.front().is_some_and(|f| Arc::ptr_eq(f, me)) {
                break;
            }
            // A group commits in a few microseconds unless it syncs; sleeping on the
            // condition variable and being woken costs more than that (two futex calls
            // and a context switch each way), and with more writers than cores the
            // leader needs the core a waiting writer would hold. So a writer first
            // yields its core a few times, looking for its wake-up without the lock
            // (RocksDB's adaptive yield), and only then sleeps.
            MutexGuard::unlocked(&mut queue, || {
                for _ in 0..YIELDS_BEFORE_WAITING {
                    if me.woken.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::yield_now();
                }
            });
            if me.woken.swap(false, Ordering::AcqRel) {
                continue;
            }
            me.cv.wait(&mut queue);
            me.woken.store(false, Ordering::Release);
        }
        // Leader: gather the group. A memtable switch request goes alone.
        let mut group = vec![me.clone()];
        let mut bytes = me.size;
        if me.switch.is_none() {
            for w in queue.iter().skip(1) {
                if w.switch.is_some() || bytes + w.size > MAX_GROUP_BYTES {
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
            if !Arc::ptr_eq(w, me) {
                *w.result.lock() = Some(w.outcome(&result));
                w.woken.store(true, Ordering::Release);
                w.cv.notify_one();
            }
        }
        if let Some(next) = queue.front() {
            next.woken.store(true, Ordering::Release);
            next.cv.notify_one();
        }
        me.outcome(&result)
    }

    /// Waits, outside the queue, until every keyspace `me` needs room in has it or can
    /// make it (a frozen memtable flushed, compaction past its stop condition).
    fn wait_for_room(&self, me: &Writer) -> Result<()> {
        let mut st = self.state.lock();
        let mut counted = false;
        loop {
            if let Some(why) = &st.bg_error {
                return Err(Error::Background(why.clone()));
            }
            if st.shutting_down {
                return Err(Error::Closed);
            }
            let blocked = st.trees.iter().any(|t| {
                me.needs_room_in(t.tree.id) && t.room(me.switch.is_some_and(|s| s.covers(t.tree.id))) == Room::Blocked
            });
            if !blocked {
                return Ok(());
            }
            if !counted {
                Counters::add(&self.stats.write_stalls, 1);
                counted = true;
            }
            self.flushed_cv.wait(&mut st);
        }
    }

    fn commit_group(&self, group: &[Arc<Writer>]) -> Result<()> {
        let switch = group.first().and_then(|w| w.switch);
        let default = group.iter().any(|w| w.default);
        // Keyspaces other than the default one: none (and no allocation) for most groups.
        let mut others: Vec<u32> = Vec::new();
        for &(id, _) in group.iter().flat_map(|w| &w.keyspaces) {
            if !others.contains(&id) {
                others.push(id);
            }
        }
        // The memtables the group writes to, found under the state lock; only a leader
        // switches them, so they stay the active ones while this one leads.
        let mut gone = false;
        let (default_mem, mut other_mems) = {
            let mut st = self.state.lock();
            if !self.make_room(&mut st, default, &others, switch)? {
                // No room in a keyspace the group needs: everyone waits outside the
                // queue, so that writers to other keyspaces go on meanwhile.
                for w in group {
                    w.fate.store(FATE_REQUEUE, Ordering::Relaxed);
                }
                return Ok(());
            }
            // A keyspace dropped since a writer checked its handles fails that writer
            // whole. (One dropped after this point gets the entries in its discarded
            // memtable: the write came first, the drop after.)
            for w in group.iter().filter(|w| !w.keyspaces.is_empty()) {
                if w.keyspaces.iter().any(|&(id, uid)| st.tree(id).is_none_or(|t| t.tree.uid != uid)) {
                    w.fate.store(FATE_GONE, Ordering::Relaxed);
                    gone = true;
                }
            }
            let default_mem = default.then(|| st.trees[0].sv.mem.clone());
            let mut other_mems: Vec<(Arc<MemTable>, Arc<Tree>, u64)> = Vec::new();
            for t in others.iter().filter_map(|&id| st.tree(id)) {
                other_mems.push((t.sv.mem.clone(), t.tree.clone(), 0));
            }
            (default_mem, other_mems)
        };
        if switch.is_some() {
            return Ok(());
        }
        let batch = if gone || group.iter().any(|w| w.check.is_some()) {
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
            let appended = wal.add_record(batch.encoded()).and_then(|()| {
                if sync {
                    self.retired_wals.sync().and_then(|()| wal.sync())
                } else {
                    wal.flush()
                }
            });
            Counters::add(&self.stats.wal_bytes_written, wal.bytes_written() - before);
            appended
        };
        if let Err(e) = appended {
            self.set_background_error(format!("WAL write failed: {e}"));
            return Err(Error::Io(e));
        }

        let mut default_bytes = 0;
        let mut seq = first_seq;
        for entry in batch.iter().flatten() {
            let bytes = (entry.key.len() + entry.value.len()) as u64;
            if entry.keyspace == DEFAULT_KEYSPACE {
                if let Some(mem) = &default_mem {
                    mem.add(seq, entry.kind, entry.key, entry.value);
                    default_bytes += bytes;
                }
            } else if let Some((mem, _, n)) = other_mems.iter_mut().find(|(_, t, _)| t.id == entry.keyspace) {
                mem.add(seq, entry.kind, entry.key, entry.value);
                *n += bytes;
            }
            // (Entries of a keyspace dropped meanwhile have no memtable: skipped.)
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
        Counters::add(&self.default.stats.user_bytes_written, default_bytes);
        for (_, tree, bytes) in &other_mems {
            Counters::add(&tree.stats.user_bytes_written, *bytes);
        }
        Counters::add(&self.stats.write_groups, 1);
        Ok(())
    }

    /// The batches of `group` that may commit: all but those of writers refused for a
    /// dropped keyspace and of transactions that conflict with a recorded write or with
    /// a member ahead of them in the group.
    fn checked_batches(&self, group: &[Arc<Writer>]) -> Vec<WriteBatch> {
        let log = self.conflicts.lock();
        let mut pending = Pending::default();
        let mut batches = Vec::with_capacity(group.len());
        for w in group {
            let Some(batch) = w.batch.lock().take() else { continue };
            if w.fate.load(Ordering::Relaxed) == FATE_GONE {
                continue;
            }
            if let Some(check) = &w.check {
                if log.conflicts(check, &pending) {
                    w.fate.store(FATE_CONFLICT, Ordering::Relaxed);
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

    /// Makes room in the active memtable of every keyspace the group writes to (the
    /// default one if `default`, and `others`), freezing one when full (or, for
    /// `switch`, every one it covers that is not empty). `false` if one of them has no
    /// room until a flush or compaction catches up: the caller hands the group back.
    fn make_room(
        &self,
        st: &mut MutexGuard<'_, State>,
        default: bool,
        others: &[u32],
        switch: Option<Switch>,
    ) -> Result<bool> {
        if let Some(why) = &st.bg_error {
            return Err(Error::Background(why.clone()));
        }
        if st.shutting_down {
            return Err(Error::Closed);
        }
        let mut freeze = Vec::new();
        for t in &st.trees {
            let id = t.tree.id;
            let switched = switch.is_some_and(|s| s.covers(id));
            let written = if id == DEFAULT_KEYSPACE { default } else { others.contains(&id) };
            if !written && !switched {
                continue;
            }
            match t.room(switched) {
                Room::Enough => {}
                Room::Blocked => return Ok(false),
                Room::Freeze { full } => freeze.push((id, full)),
            }
        }
        if !freeze.is_empty() {
            for (id, _) in freeze.iter().filter(|(_, full)| *full) {
                if let Some(t) = st.tree(*id) {
                    Counters::add(&t.tree.stats.memtables_filled, 1);
                }
            }
            let ids: Vec<u32> = freeze.iter().map(|&(id, _)| id).collect();
            self.switch_memtables(st, &ids)?;
        }
        Ok(true)
    }

    /// Starts a new WAL and freezes the active memtables of the keyspaces in `ids`
    /// (and of those whose writes sit in a WAL past the last `MAX_LIVE_WALS`), giving
    /// each a new one.
    fn switch_memtables(&self, st: &mut MutexGuard<'_, State>, ids: &[u32]) -> Result<()> {
        {
            let mut wal = self.wal.lock();
            let unsynced = retires_wals_unsynced(&self.opts);
            // A retired log is either synced now or kept for the next sync to cover, so
            // that a sync of the live log makes every write before it durable. Synced
            // before the next log exists: its start record must not reach the disk ahead
            // of the end of this one, which a strict recovery would call a gap.
            if let Err(e) = if unsynced { wal.flush() } else { wal.sync() } {
                self.set_background_error_locked(st, format!("WAL sync failed: {e}"));
                return Err(Error::Io(e));
            }
            let number = self.file_numbers.fetch_add(1, Ordering::SeqCst);
            let path = super::wal_path(&self.dir, number);
            // Only a group's leader switches, between groups: every write so far is in
            // the retired log, and the next one gets `next_seq`.
            let next_seq = self.last_seq.load(Ordering::Relaxed) + 1;
            // SAFETY: the directory is locked, and the number is fresh: nothing else
            // writes this file.
            let file = unsafe { self.fs.create_log(&path) }?;
            // The new log's directory entry must be durable before synced writes in it
            // can count as durable.
            let new_wal = self.fs.sync_dir(&self.dir).and_then(|()| new_wal_writer(file, &self.opts, next_seq));
            let new_wal = match new_wal {
                Ok(w) => w,
                Err(e) => {
                    // Writes go on in this log; the new one may hold a start record that
                    // recovery would read after them. It must be gone for good, or
                    // nothing more may be written.
                    if let Err(why) = self.fs.remove(&path).and_then(|()| self.fs.sync_dir(&self.dir)) {
                        let name = path.display();
                        self.set_background_error_locked(st, format!("could not remove the unused WAL {name}: {why}"));
                    }
                    return Err(Error::Io(e));
                }
            };
            let mut retired = std::mem::replace(&mut *wal, new_wal);
            if unsynced {
                retired.retire();
                self.retired_wals.push(st.wal_number, retired);
            }
            st.wal_number = number;
        }
        let number = st.wal_number;
        st.wals.push(number);
        // Writes in WALs older than this one pin them: their memtables go too.
        let too_old = st.wals.len().checked_sub(MAX_LIVE_WALS + 1).map(|i| st.wals[i]);
        let mut order = st.next_freeze;
        for t in &mut st.trees {
            let mem = &t.sv.mem;
            if mem.is_empty() {
                // Nothing of it is in any WAL from here on but what comes next.
                t.mem_log_number = number;
                continue;
            }
            let stale =
                too_old.is_some_and(|n| t.mem_log_number <= n) && t.frozen.len() < t.tree.opts.max_immutable_memtables;
            if !ids.contains(&t.tree.id) && !stale {
                continue;
            }
            let old_log = std::mem::replace(&mut t.mem_log_number, number);
            let fresh = Arc::new(t.tree.new_memtable(mem));
            let mut imms = vec![mem.clone()];
            imms.extend(t.sv.imms.iter().cloned());
            t.frozen.push(Frozen { mem: mem.clone(), log_number: old_log, order });
            order += 1;
            let version = t.sv.version.clone();
            // The old view's memtable lives on in `imms`: dropping the view frees nothing.
            drop(DbInner::install(t, SuperVersion::new(fresh, imms, version)));
        }
        st.next_freeze = order;
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Freezes the memtables `switch` covers (those holding anything) and waits until
    /// every one of them frozen so far is in an SSTable.
    pub(crate) fn flush_trees(&self, switch: Switch) -> Result<()> {
        self.check_writable()?;
        self.enqueue(None, false, Some(switch), None)?;
        let mut st = self.state.lock();
        let target = st.next_freeze;
        loop {
            if let Some(why) = &st.bg_error {
                return Err(Error::Background(why.clone()));
            }
            if st.shutting_down {
                return Err(Error::Closed);
            }
            let waiting = st
                .trees
                .iter()
                .filter(|t| switch.covers(t.tree.id))
                .any(|t| t.frozen.first().is_some_and(|f| f.order < target));
            if !waiting {
                return Ok(());
            }
            self.flushed_cv.wait(&mut st);
        }
    }

    /// `Db::flush` (every keyspace, `None`) or a keyspace's (`Some(id)`).
    pub(crate) fn flush(&self, id: Option<u32>) -> Result<()> {
        self.flush_trees(id.map_or(Switch::All, Switch::One))
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
