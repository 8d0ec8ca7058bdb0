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
use crate::compaction::fifo::unix_now;
use crate::compaction::monkey;
use crate::error::Result;
use crate::filename;
use crate::iter::InternalIterator;
use crate::memtable::MemTable;
use crate::options::{BloomAllocation, Compaction};
use crate::range_del::RangeTombstone;
use crate::sstable::{TableBuilder, TableOptions};
use crate::stats::Counters;
use crate::version::{FileMeta, NewFile, TableContext, Version, VersionEdit};

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
    let layout = run_table_options(&tree.opts, 0, &tree.super_version().version, &[], mem.len());
    let table = write_table(&db.ctx, &tree.opts, layout, mem, number)?;
    let mut edit = VersionEdit { keyspace: tree.id, ..VersionEdit::default() };
    if let Some(t) = &table {
        Counters::add(&tree.stats.flush_bytes_written, t.size);
        edit.last_sequence = Some(t.summary.max_seq);
        edit.new_files.push(t.clone());
    }
    // A batch may write to several keyspaces: before one keyspace's share is in a table
    // for good, the retired WALs (this memtable's among them) that hold the others'
    // shares, and every earlier write, must be durable, or a power loss could keep the
    // one and lose the rest (RocksDB syncs closed WALs before a flush for the same
    // reason when it has several column families). With one keyspace, a WAL lost past
    // a flushed memtable held nothing that is not in the table.
    if db.state.lock().trees.len() > 1 {
        if let Err(e) = db.retired_wals.sync() {
            let _ = db.fs.remove(&filename::path(&db.dir, &filename::table_name(number)));
            return Err(e.into());
        }
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
    db.retired_wals.forget(&retired_wals);
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

/// [`table_options`] for the tables of a run about to join a tree shaped as `version`
/// (`inputs` leaving it, `entries` written to `level`): with `BloomAllocation::Monkey`,
/// the bits per key Monkey gives that run at the tree's total filter memory.
pub(crate) fn run_table_options(
    opts: &crate::options::Options,
    level: u32,
    version: &Version,
    inputs: &[Arc<FileMeta>],
    entries: u64,
) -> TableOptions {
    let mut layout = table_options(opts, level);
    if opts.bloom_allocation == BloomAllocation::Monkey && layout.bloom_bits_per_key > 0 {
        let (others, run) = monkey::runs_after(version, inputs, level as usize, entries);
        layout.bloom_bits_per_key = monkey::bits_for_new_run(&others, run, opts.bloom_bits_per_key);
    }
    layout
}

/// Writes every entry of `mem` to table `number` at level 0, laid out as `opts` says
/// for that level, fsyncs it and its directory, and describes it; `None` (and no file)
/// if the memtable is empty.
pub(crate) fn write_table(
    ctx: &TableContext,
    opts: &crate::options::Options,
    layout: TableOptions,
    mem: &Arc<MemTable>,
    number: u64,
) -> Result<Option<NewFile>> {
    if mem.is_empty() {
        return Ok(None);
    }
    let range_dels = mem.range_tombstones().map_or_else(Vec::new, |r| r.tombstones().to_vec());
    write_table_from(ctx, opts, layout, &mut mem.bulk_iter(), |_| true, range_dels, number)
}

/// [`write_table`] for the entries of `it` whose internal key `keep` accepts (a
/// checkpoint keeps those a read view sees) and the range tombstones `range_dels`;
/// `None` (and no file) if there are none of either.
pub(crate) fn write_table_from<I: InternalIterator + ?Sized>(
    ctx: &TableContext,
    opts: &crate::options::Options,
    layout: TableOptions,
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
        let mut table = NewFile::from_properties(0, number, size, props);
        // Only a FIFO tree that drops by age needs the time (MANIFEST field 12).
        if matches!(&opts.compaction, Compaction::Fifo(f) if f.max_age.is_some()) {
            table.written_at = unix_now().max(1);
        }
        Ok(table)
    })();
    if result.is_err() {
        let _ = ctx.fs.remove(&path);
    }
    result.map(Some)
}

#[cfg(test)]
mod tests {
    use crate::{BloomAllocation, Compaction, Db, Options};

    /// Filter bits per key of each table, newest first.
    fn filter_bits(db: &Db) -> Vec<f64> {
        let version = db.inner().default.super_version().version.clone();
        version
            .files()
            .map(|f| {
                let bytes = f.table().unwrap().filter_size().unwrap_or(0);
                bytes as f64 * 8.0 / f.info.summary.num_entries as f64
            })
            .collect()
    }

    #[test]
    fn monkey_gives_a_small_run_more_bits_per_key_than_a_large_one() {
        for allocation in [BloomAllocation::Uniform, BloomAllocation::Monkey] {
            let dir = tempfile::tempdir().unwrap();
            let options = Options::default()
                .memtable_size(16 << 20)
                .compaction(Compaction::fifo(1 << 40))
                .bloom_allocation(allocation);
            let db = Db::open(dir.path(), options).unwrap();
            for i in 0..50_000u32 {
                db.put(i.to_be_bytes(), "v").unwrap();
            }
            db.flush().unwrap();
            for i in 0..200u32 {
                db.put((1_000_000 + i).to_be_bytes(), "v").unwrap();
            }
            db.flush().unwrap();
            let bits = filter_bits(&db); // [small run, large run]
            assert_eq!(bits.len(), 2);
            match allocation {
                BloomAllocation::Uniform => assert!(bits.iter().all(|&b| (9.0..11.5).contains(&b)), "{bits:?}"),
                _ => assert!(bits[0] > bits[1] + 4.0, "{bits:?}"),
            }
        }
    }
}
