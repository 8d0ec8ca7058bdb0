//! The background thread and memtable flush.
//!
//! The thread waits for frozen memtables and flushes the oldest first, so WALs retire
//! in order. A flush writes and fsyncs the table (the directory too), records it in the
//! MANIFEST together with the new oldest-live WAL number, and installs the new version
//! and drops the memtable in one step under the state lock (so a reader sees the data in
//! exactly one place). The WAL it no longer needs is deleted between the MANIFEST
//! write and the install, so a caller of `flush()` never sees it on disk.
//!
//! A failed flush removes its partial table and puts the database into the error
//! state: writes fail with `Error::Background`, reads go on, and the WAL still holds
//! everything, so a reopen recovers.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::tree::{Tree, TreeState};
use super::{DbInner, SuperVersion};
use crate::error::Result;
use crate::filename;
use crate::iter::InternalIterator;
use crate::memtable::MemTable;
use crate::range_del::RangeTombstone;
use crate::sstable::{TableBuilder, TableOptions};
use crate::stats::Counters;
use crate::version::{NewFile, TableContext, VersionEdit};

pub(crate) fn background_loop(db: &Arc<DbInner>) {
    loop {
        let (tree, mem) = {
            let mut st = db.state.lock();
            loop {
                if st.shutting_down {
                    return;
                }
                // The memtable frozen first, whatever its keyspace: WALs retire in order,
                // and no keyspace's flushes wait behind another's backlog.
                let oldest = st
                    .trees
                    .iter()
                    .filter_map(|t| t.frozen.first().map(|f| (f.order, &t.tree, &f.mem)))
                    .min_by_key(|(order, _, _)| *order);
                match oldest {
                    Some((_, tree, mem)) if st.bg_error.is_none() => break (tree.clone(), mem.clone()),
                    _ => db.bg_cv.wait(&mut st),
                }
            }
        };
        if let Err(e) = flush_one(db, &tree, &mem) {
            db.set_background_error(format!("memtable flush failed: {e}"));
        }
    }
}

/// Flushes `mem`, the oldest frozen memtable of `tree`.
fn flush_one(db: &DbInner, tree: &Tree, mem: &Arc<MemTable>) -> Result<()> {
    let number = db.file_numbers.fetch_add(1, Ordering::SeqCst);
    let table = write_table(&db.ctx, &tree.opts, mem, number)?;
    let mut edit = VersionEdit { keyspace: tree.id, ..VersionEdit::default() };
    if let Some(t) = &table {
        Counters::add(&tree.stats.flush_bytes_written, t.size);
        edit.last_sequence = Some(t.summary.max_seq);
        edit.new_files.push(t.clone());
    }
    // Hold the MANIFEST lock until the version is installed, so installs happen in the
    // order the edits were logged.
    let mut versions = db.versions.lock();
    if versions.current(tree.id).is_none() {
        // The keyspace was dropped meanwhile: its data is gone, table and all.
        if let Some(t) = &table {
            let _ = db.fs.remove(&filename::path(&db.dir, &filename::table_name(t.number)));
        }
        return Ok(());
    }
    // The oldest WAL each keyspace needs once this memtable is in a table: recorded for
    // all of them, so that one whose memtable was empty at the last switches no longer
    // names a WAL that is about to go. Read now, under `versions`, they can only be
    // older than what holds by the time the edit is durable (a log number moves only
    // forward, and only under `versions` or by a switch that nothing flushed yet).
    let retire_below = {
        let st = db.state.lock();
        let needed = |t: &TreeState| match t.frozen.first() {
            Some(f) if Arc::ptr_eq(&f.mem, mem) => t.frozen.get(1).map_or(t.mem_log_number, |next| next.log_number),
            _ => t.oldest_log_needed(),
        };
        edit.log_numbers = st.trees.iter().map(|t| (t.tree.id, needed(t))).collect();
        edit.log_numbers.iter().map(|&(_, n)| n).min().unwrap_or(st.wal_number)
    };
    // If logging fails, the edit may still have reached the MANIFEST, so the table
    // stays; the next open removes it if no edit names it.
    let version = versions.log_and_apply(edit)?;
    // The MANIFEST no longer needs the WALs below every keyspace's oldest. They go
    // before `flush()` callers are woken, so that a returned flush leaves no retired log
    // behind on disk (the memtable itself stays readable until the install below), and
    // with no `state` lock held, so writers do not wait on the unlinks. Best effort: a
    // leftover log below the MANIFEST's log numbers is removed at open.
    let retired_wals: Vec<u64> = {
        let mut st = db.state.lock();
        let (gone, live) = st.wals.iter().partition(|&&n| n < retire_below);
        st.wals = live;
        gone
    };
    for n in retired_wals {
        let _ = db.fs.remove(&super::wal_path(&db.dir, n));
    }
    let retired = {
        let mut st = db.state.lock();
        let Some(t) = st.tree_mut(tree.id) else { return Ok(()) };
        let done = t.frozen.remove(0);
        let imms = t.sv.imms.iter().filter(|m| !Arc::ptr_eq(m, &done.mem)).cloned().collect();
        let sv = SuperVersion::new(t.sv.mem.clone(), imms, version);
        let retired = DbInner::install(t, sv);
        // Counted before `flush()` callers wake, so the stats they read include it.
        Counters::add(&tree.stats.flushes, 1);
        db.flushed_cv.notify_all();
        retired
    };
    drop(versions);
    // Frees the flushed memtable unless a reader still holds it.
    drop(retired);
    db.wake_compaction();
    Ok(())
}

/// How tables written to `level` are laid out.
pub(crate) fn table_options(opts: &crate::options::Options, level: u32) -> TableOptions {
    TableOptions {
        block_size: opts.block_size,
        bloom_bits_per_key: opts.bloom_bits_per_key,
        compression: opts.compression_for_level(level),
    }
}

/// Writes every entry of `mem` to table `number` at level 0, laid out as `opts` says
/// for that level, fsyncs it and its directory, and describes it; `None` (and no file)
/// if the memtable is empty.
pub(crate) fn write_table(
    ctx: &TableContext,
    opts: &crate::options::Options,
    mem: &Arc<MemTable>,
    number: u64,
) -> Result<Option<NewFile>> {
    if mem.is_empty() {
        return Ok(None);
    }
    let range_dels = mem.range_tombstones().map_or_else(Vec::new, |r| r.tombstones().to_vec());
    write_table_from(ctx, opts, &mut mem.bulk_iter(), |_| true, range_dels, number)
}

/// [`write_table`] for the entries of `it` whose internal key `keep` accepts (a
/// checkpoint keeps those a read view sees) and the range tombstones `range_dels`;
/// `None` (and no file) if there are none of either.
pub(crate) fn write_table_from<I: InternalIterator + ?Sized>(
    ctx: &TableContext,
    opts: &crate::options::Options,
    it: &mut I,
    keep: impl Fn(&[u8]) -> bool,
    range_dels: Vec<RangeTombstone>,
    number: u64,
) -> Result<Option<NewFile>> {
    it.seek_to_first();
    while it.valid() && !keep(it.key()) {
        it.next();
    }
    if !it.valid() && range_dels.is_empty() {
        it.status()?;
        return Ok(None);
    }
    let path = filename::path(&ctx.dir, &filename::table_name(number));
    let result = (|| -> Result<NewFile> {
        let file = ctx.fs.create(&path)?;
        let layout = table_options(opts, 0);
        let mut builder = if opts.parallel_flush_compression {
            TableBuilder::with_compress_worker(file, layout)
        } else {
            TableBuilder::new(file, layout)
        };
        while it.valid() {
            if keep(it.key()) {
                builder.add(it.key(), it.value())?;
            }
            it.next();
        }
        it.status()?;
        builder.add_range_tombstones(range_dels);
        let (size, props) = builder.finish()?;
        ctx.fs.sync_dir(&ctx.dir)?;
        Ok(NewFile::from_properties(0, number, size, props))
    })();
    if result.is_err() {
        let _ = ctx.fs.remove(&path);
    }
    result.map(Some)
}
