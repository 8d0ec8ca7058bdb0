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
        let (mem, log, next_log) = {
            let mut st = db.state.lock();
            while !st.shutting_down && (st.frozen.is_empty() || st.bg_error.is_some()) {
                db.bg_cv.wait(&mut st);
            }
            if st.shutting_down {
                return;
            }
            let next_log = st.frozen.get(1).map_or(st.mem_log_number, |f| f.log_number);
            (st.frozen[0].mem.clone(), st.frozen[0].log_number, next_log)
        };
        if let Err(e) = flush_one(db, &mem, log, next_log) {
            db.set_background_error(format!("memtable flush failed: {e}"));
        }
    }
}

/// Flushes `mem`, whose WAL is `log`; `next_log` is the oldest WAL still needed after it.
fn flush_one(db: &DbInner, mem: &Arc<MemTable>, log: u64, next_log: u64) -> Result<()> {
    let number = db.file_numbers.fetch_add(1, Ordering::SeqCst);
    let table = write_table(&db.ctx, &db.opts, mem, number)?;
    let mut edit = VersionEdit { log_number: Some(next_log), ..VersionEdit::default() };
    if let Some(t) = &table {
        Counters::add(&db.stats.flush_bytes_written, t.size);
        edit.last_sequence = Some(t.summary.max_seq);
        edit.new_files.push(t.clone());
    }
    // Hold the MANIFEST lock until the version is installed, so installs happen in the
    // order the edits were logged.
    // If logging fails, the edit may still have reached the MANIFEST, so the table
    // stays; the next open removes it if no edit names it.
    let mut versions = db.versions.lock();
    let version = versions.log_and_apply(edit)?;
    // The MANIFEST no longer needs the memtable's WAL. It goes before `flush()` callers
    // are woken, so that a returned flush leaves no retired log behind on disk (the
    // memtable itself stays readable until the install below). Best effort: a leftover
    // log below the MANIFEST's log number is removed at open.
    let _ = db.fs.remove(&super::wal_path(&db.dir, log));
    let retired = {
        let mut st = db.state.lock();
        let done = st.frozen.remove(0);
        let imms = st.sv.imms.iter().filter(|m| !Arc::ptr_eq(m, &done.mem)).cloned().collect();
        let sv = SuperVersion::new(st.sv.mem.clone(), imms, version);
        let retired = db.install(&mut st, sv);
        // Counted before `flush()` callers wake, so the stats they read include it.
        Counters::add(&db.stats.flushes, 1);
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
