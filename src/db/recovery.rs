//! Opening a database: lock, recover the MANIFEST, replay the WALs, clean up.
//!
//! Replay applies every batch of every WAL at or after the MANIFEST's log number, in
//! log order, to fresh memtables, and writes them to L0 tables. Only then does one
//! MANIFEST edit record the tables and a new, empty WAL; the old WALs are deleted after
//! that edit is durable, so a crash during recovery just recovers again.
//!
//! What a damaged WAL yields depends on [`WalRecovery`]: by default (point in time)
//! replay stops at the first damage and keeps the prefix before it, dropping the rest
//! of that log and every later one (counted in `Stats::wal_bytes_dropped_at_open`);
//! `TolerateCorruptedTail` drops only a damaged tail and reports damage followed by good
//! records as `Error::Corruption`; `AbsoluteConsistency` reports any damage. Files the
//! MANIFEST does not reference are left-overs of a crash and are removed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use super::flush::write_table;
use super::{new_block_cache, new_strategy, num_levels, wal_path, DbInner, State, SuperVersion};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::log::{LogReader, LogWriter, TailMode};
use crate::memtable::MemTable;
use crate::options::{Options, WalRecovery};
use crate::stats::Counters;
use crate::version::{TableContext, VersionEdit, VersionSet};

pub(crate) fn open(dir: &Path, opts: Options) -> Result<Arc<DbInner>> {
    let fs = opts.fs.0.clone();
    create_dir_durably(fs.as_ref(), dir)?;
    let lock = fs.lock(&filename::path(dir, filename::LOCK)).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked(dir.to_path_buf()),
        _ => Error::Io(e),
    })?;
    let ctx = Arc::new(TableContext {
        fs: fs.clone(),
        dir: dir.to_path_buf(),
        cache: Some(new_block_cache(&opts)),
        mmap_reads: opts.mmap_reads,
    });
    let mut versions = VersionSet::open(ctx.clone(), num_levels(&opts))?;
    let stats = Counters::default();

    // Replay the live WALs, oldest first.
    let mut logs: Vec<u64> = fs
        .list(dir)?
        .iter()
        .filter_map(|n| filename::parse(n))
        .filter(|&(kind, n)| kind == FileKind::Wal && n >= versions.log_number())
        .map(|(_, n)| n)
        .collect();
    logs.sort_unstable();
    let mode = match opts.wal_recovery {
        WalRecovery::PointInTime => TailMode::PointInTime,
        WalRecovery::TolerateCorruptedTail => TailMode::Tolerate,
        WalRecovery::AbsoluteConsistency => TailMode::Strict,
    };
    // Point-in-time recovery keeps a prefix of the acknowledged order: once one log
    // stopped at damage, the records of later logs come after a gap and are dropped too.
    let mut gap = false;
    let mut last_seq = versions.last_sequence();
    let mut mem = Arc::new(MemTable::with_huge_pages(opts.memtable_size, opts.memtable_huge_pages));
    let mut edit = VersionEdit::default();
    for &log in &logs {
        let name = filename::wal_name(log);
        let data = fs.read_all(&wal_path(dir, log))?;
        if gap {
            Counters::add(&stats.wal_bytes_dropped_at_open, data.len() as u64);
            continue;
        }
        let mut reader = LogReader::new(data, name.clone(), mode);
        while let Some(record) = reader.next_record()? {
            let batch = WriteBatch::decode(record)
                .ok_or_else(|| Error::corruption(&name, None, "WAL record is not a well-formed batch"))?;
            let mut seq = batch.seq();
            for entry in batch.iter().flatten() {
                mem.add(seq, entry.kind, entry.key, entry.value);
                seq += 1;
            }
            last_seq = last_seq.max(seq.saturating_sub(1));
            if mem.memory_usage() >= opts.memtable_size {
                if let Some(f) = write_table(&ctx, &opts, &mem, versions.new_file_number())? {
                    edit.new_files.push(f);
                }
                mem = Arc::new(MemTable::with_huge_pages(opts.memtable_size, opts.memtable_huge_pages));
            }
        }
        Counters::add(&stats.wal_bytes_dropped_at_open, reader.dropped_bytes());
        gap = mode == TailMode::PointInTime && reader.stopped_at_damage();
    }
    if let Some(f) = write_table(&ctx, &opts, &mem, versions.new_file_number())? {
        edit.new_files.push(f);
    }

    // Start the new WAL and record everything in one edit.
    let log_number = versions.new_file_number();
    // SAFETY: the directory is locked, and the number is fresh: nothing else writes
    // this file.
    let wal = LogWriter::new(unsafe { fs.create_log(&wal_path(dir, log_number))? });
    fs.sync_dir(dir)?;
    edit.log_number = Some(log_number);
    edit.last_sequence = Some(last_seq);
    let version = versions.log_and_apply(edit)?;
    remove_garbage(&versions, dir, log_number)?;

    let sv = Arc::new(SuperVersion {
        mem: Arc::new(MemTable::with_huge_pages(opts.memtable_size, opts.memtable_huge_pages)),
        imms: Vec::new(),
        version,
    });
    let file_numbers = versions.file_number_counter();
    Ok(Arc::new(DbInner {
        dir: dir.to_path_buf(),
        fs,
        ctx,
        current: RwLock::new(sv.clone()),
        state: Mutex::new(State {
            sv,
            mem_log_number: log_number,
            frozen: Vec::new(),
            bg_error: None,
            shutting_down: false,
            compaction_wanted: true,
        }),
        bg_cv: Condvar::new(),
        flushed_cv: Condvar::new(),
        compaction_cv: Condvar::new(),
        compactor: Mutex::new(new_strategy(&opts)),
        policy: new_strategy(&opts),
        level_counters: Mutex::new(Vec::new()),
        queue: Mutex::new(Default::default()),
        wal: Mutex::new(wal),
        versions: Mutex::new(versions),
        file_numbers,
        last_seq: AtomicU64::new(last_seq),
        visible_seq: AtomicU64::new(last_seq),
        snapshots: Mutex::new(BTreeMap::new()),
        stats,
        lock: Mutex::new(Some(lock)),
        bg_threads: Mutex::new(Vec::new()),
        closed: AtomicBool::new(false),
        merge_cache: Default::default(),
        opts,
    }))
}

/// Creates `dir` and any missing parents, and makes each new directory's entry durable
/// by syncing the directory that holds it: otherwise a power loss could take the whole
/// database directory, synced files and all, with it.
fn create_dir_durably(fs: &dyn crate::fs::FileSystem, dir: &Path) -> Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !fs.exists(d)).collect();
    fs.create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Removes files the live state does not reference: old WALs and MANIFESTs, tables no
/// version lists (outputs of an interrupted flush or compaction), temporary files.
fn remove_garbage(versions: &VersionSet, dir: &Path, log_number: u64) -> Result<()> {
    let fs = &versions_fs(versions);
    let live: std::collections::HashSet<u64> = versions.current().files().map(|f| f.number()).collect();
    for name in fs.list(dir)? {
        let keep = match filename::parse(&name) {
            Some((FileKind::Wal, n)) => n >= log_number,
            Some((FileKind::Table, n)) => live.contains(&n),
            Some((FileKind::Manifest, n)) => n == versions.manifest_number(),
            Some((FileKind::Temp, _)) => false,
            Some((FileKind::Current | FileKind::Lock, _)) | None => true,
        };
        if !keep {
            fs.remove(&filename::path(dir, &name))?;
        }
    }
    Ok(())
}

fn versions_fs(versions: &VersionSet) -> Arc<dyn crate::fs::FileSystem> {
    versions.context().fs.clone()
}
