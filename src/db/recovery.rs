//! Opening a database: lock, recover the MANIFEST, replay the WALs, clean up.
//!
//! Replay reads every WAL at or after the oldest log number any keyspace has in the
//! MANIFEST, in log order, and applies each entry to a fresh memtable of its keyspace —
//! unless the keyspace was dropped, or the WAL is older than that keyspace's own log
//! number (its tables hold the entry already) — writing full memtables to L0 tables.
//! Only then does a MANIFEST edit per keyspace record its tables and a new, empty WAL;
//! the old WALs are deleted after those edits are durable, so a crash during recovery
//! just recovers again.
//!
//! What a damaged WAL yields depends on [`WalRecovery`]: by default (point in time)
//! replay stops at the first damage and keeps the prefix before it, dropping the rest
//! of that log and every later one (counted in `Stats::wal_bytes_dropped_at_open`);
//! a log whose log-start record names a later seqno than the log before it reached
//! (a retired, unsynced log lost its tail) is such damage at its start;
//! `TolerateCorruptedTail` drops only a damaged tail and reports damage followed by good
//! records as `Error::Corruption`; `AbsoluteConsistency` reports any damage. Files the
//! MANIFEST does not reference are left-overs of a crash and are removed.
//!
//! A read-only open (`open_read_only`) replays the same way into a memtable it keeps,
//! and writes, locks and removes nothing; its protocol against a live writer is
//! described on the function.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::flush::{run_table_options, table_options, write_table};
use super::tree::{first_memtable, memtable, Tree, TreeState};
use super::{new_block_cache, new_wal_writer, num_levels, wal_path, DbInner, State, SuperVersion};
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::fs::{FileLock, RefusingFile};
use crate::key::MAX_SEQUENCE;
use crate::log::{LogReader, LogWriter, TailMode};
use crate::memtable::{MemTable, DEFAULT_ENTRY_BYTES};
use crate::options::{Options, WalRecovery};
use crate::stats::Counters;
use crate::version::{KeyspaceRecord, TableContext, VersionEdit, VersionSet, DEFAULT_KEYSPACE};

pub(crate) fn open(dir: &Path, opts: Options) -> Result<Arc<DbInner>> {
    let fs = opts.fs.0.clone();
    if !opts.create_if_missing {
        require_database(fs.as_ref(), dir)?;
    }
    create_dir_durably(fs.as_ref(), dir)?;
    let lock = fs.lock(&filename::path(dir, filename::LOCK)).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::Locked(dir.to_path_buf()),
        _ => Error::Io(e),
    })?;
    let ctx = table_context(dir, &opts);
    let mut versions = VersionSet::open(ctx.clone(), &|k| keyspace_levels(&opts, k))?;
    let stats = Counters::default();

    // Replay the live WALs into one memtable per keyspace, writing each full one to an
    // L0 table of its keyspace.
    let mut trees = recovering_trees(&versions, &opts)?;
    // One WAL in memory at a time.
    let wal_numbers = live_wals(&ctx, versions.log_number())?;
    let logs = wal_numbers.iter().map(|&n| read_wal(&ctx, n));
    let replayed = replay_wals(&opts, logs, &stats, |wal, batch| {
        apply(&trees, wal, &batch);
        for t in &mut trees {
            if t.mem.memory_usage() >= t.opts.memtable_size {
                if let Some(f) = write_table(&ctx, &t.opts, t.layout(&versions), &t.mem, versions.new_file_number())? {
                    t.edit.new_files.push(f);
                }
                let entry_bytes = t.mem.entry_bytes().unwrap_or(DEFAULT_ENTRY_BYTES);
                t.mem = Arc::new(memtable(&t.opts, None, entry_bytes));
            }
        }
        Ok(())
    })?;
    let last_seq = replayed.unwrap_or(0).max(versions.last_sequence());

    // Start the new WAL, then record each keyspace's tables and new log number. A crash
    // between two keyspaces' edits leaves the others' log numbers behind, so the next
    // open replays their writes again (and only theirs).
    let log_number = versions.new_file_number();
    // SAFETY: the directory is locked, and the number is fresh: nothing else writes
    // this file.
    let wal = new_wal_writer(unsafe { fs.create_log(&wal_path(dir, log_number))? }, &opts, last_seq + 1)?;
    // With several keyspaces, their edits below are separate records: a crash between
    // two leaves the later keyspaces to replay the WALs again, and those must still
    // hold every write the earlier ones put in tables, or a batch across keyspaces
    // would come back torn. WALs retired without a sync may hold more in the page cache
    // than on disk; so they are made durable first.
    if trees.len() > 1 {
        for &n in &wal_numbers {
            fs.sync_file(&wal_path(dir, n))?;
        }
    }
    fs.sync_dir(dir)?;
    for mut t in trees {
        if let Some(f) = write_table(&ctx, &t.opts, t.layout(&versions), &t.mem, versions.new_file_number())? {
            t.edit.new_files.push(f);
        }
        t.edit.log_numbers = vec![(t.id, log_number)];
        t.edit.last_sequence = Some(last_seq);
        versions.log_and_apply(t.edit)?;
    }
    remove_garbage(&versions, dir, log_number)?;

    let lock = Some(lock);
    let parts = Parts { dir, ctx, versions, mems: BTreeMap::new(), wal, log_number, last_seq, stats, lock };
    assemble(parts, false, opts)
}

/// A keyspace being recovered: its options, the memtable its WAL writes go to, and the
/// edit that will record the tables they fill.
struct RecoveringTree {
    id: u32,
    opts: Options,
    /// Writes in WALs numbered below this are in its tables already.
    log_number: u64,
    mem: Arc<MemTable>,
    edit: VersionEdit,
}

impl RecoveringTree {
    /// How its memtable's table is laid out (Monkey's bits, if asked for, from the
    /// tree's shape as recovered so far).
    fn layout(&self, versions: &VersionSet) -> crate::sstable::TableOptions {
        match versions.current(self.id) {
            Some(version) => run_table_options(&self.opts, 0, &version, &[], self.mem.len()),
            None => table_options(&self.opts, 0),
        }
    }
}

fn recovering_trees(versions: &VersionSet, opts: &Options) -> Result<Vec<RecoveringTree>> {
    versions
        .keyspaces()
        .iter()
        .map(|(&id, k)| {
            let opts = keyspace_options(opts, &k.record)?;
            let mem = Arc::new(first_memtable(&opts));
            let edit = VersionEdit { keyspace: id, ..VersionEdit::default() };
            Ok(RecoveringTree { id, opts, log_number: k.log_number, mem, edit })
        })
        .collect()
}

/// The options of the keyspace `record` names: the database's, with its own.
pub(super) fn keyspace_options(opts: &Options, record: &KeyspaceRecord) -> Result<Options> {
    if record.id == DEFAULT_KEYSPACE {
        return Ok(opts.clone());
    }
    opts.with_keyspace(&record.options)
        .ok_or_else(|| Error::corruption("MANIFEST", None, format!("keyspace {:?} has malformed options", record.name)))
}

/// The levels a keyspace's version starts with (malformed options are reported later,
/// by `keyspace_options`).
fn keyspace_levels(opts: &Options, record: &KeyspaceRecord) -> usize {
    keyspace_options(opts, record).map_or(1, |o| num_levels(&o))
}

/// `Db::open_read_only`: the state as of now, MANIFEST plus every WAL record (synced
/// or not), read without creating, changing, renaming or removing anything and without
/// the lock. A live writer in another process may retire a MANIFEST, WAL or table
/// between our reading its name and opening it; each attempt therefore checks that the
/// MANIFEST still says what it said when the attempt began, and starts over if not.
pub(crate) fn open_read_only(dir: &Path, opts: Options) -> Result<Arc<DbInner>> {
    require_database(opts.fs.0.as_ref(), dir)?;
    let ctx = table_context(dir, &opts);
    let mut attempts = 0;
    let (versions, mems, last_seq, stats) = loop {
        if attempts > 0 {
            // A writer is changing the files right now: give it a moment.
            std::thread::sleep(std::time::Duration::from_millis(attempts));
        }
        attempts += 1;
        match read_only_attempt(&ctx, &opts) {
            Ok(Some(state)) => break state,
            // The MANIFEST moved on under us: what we read may miss a retired WAL.
            Ok(None) if attempts < READ_ONLY_ATTEMPTS => continue,
            Ok(None) => {
                return Err(Error::Io(std::io::Error::other(format!(
                    "{}: the database changed under every one of {attempts} attempts to read it",
                    dir.display()
                ))))
            }
            // A file named by CURRENT or the MANIFEST vanished: a writer retired it.
            Err(_) if attempts < READ_ONLY_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    };
    let wal = LogWriter::new(Box::new(RefusingFile));
    let log_number = versions.log_number();
    assemble(Parts { dir, ctx, versions, mems, wal, log_number, last_seq, stats, lock: None }, true, opts)
}

/// An error naming `dir` unless it holds a database (a `CURRENT` file).
fn require_database(fs: &dyn crate::fs::FileSystem, dir: &Path) -> Result<()> {
    if fs.exists(&filename::path(dir, filename::CURRENT)) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!("no database at {}: it has no CURRENT file", dir.display())))
}

/// How many times `open_read_only` starts over when a writer changes the database
/// under it before it gives up.
const READ_ONLY_ATTEMPTS: u64 = 12;

/// What a read-only open builds its database from: the version set, the replayed
/// WALs' memtables by keyspace, the last seqno, and the replay's counters.
type ReadOnlyState = (VersionSet, BTreeMap<u32, Arc<MemTable>>, u64, Counters);

/// One read of a database for `open_read_only`: `None` if the MANIFEST changed while
/// the WALs were read (the caller starts over).
fn read_only_attempt(ctx: &Arc<TableContext>, opts: &Options) -> Result<Option<ReadOnlyState>> {
    let versions = VersionSet::open_read_only(ctx.clone(), &|k| keyspace_levels(opts, k))?;
    let logs =
        live_wals(ctx, versions.log_number())?.into_iter().map(|n| read_wal(ctx, n)).collect::<Result<Vec<_>>>()?;
    // A writer records a flush in the MANIFEST (advancing its log number) before it
    // deletes the flushed WAL; so if a WAL we needed was gone when we listed the
    // directory, the log number has moved on. Only the bytes are read inside this
    // window, to keep it short under a busy writer.
    if VersionSet::read_log_number(ctx)? != versions.log_number() {
        return Ok(None);
    }
    // Opened now, every table stays readable for as long as the view holds it, even if
    // a writer deletes its name; one already deleted fails here, and the caller retries.
    for file in versions.keyspaces().values().flat_map(|k| k.current.files()) {
        file.table()?;
    }
    let stats = Counters::default();
    let trees = recovering_trees(&versions, opts)?;
    let replayed = replay_wals(opts, logs.into_iter().map(Ok), &stats, |wal, batch| {
        apply(&trees, wal, &batch);
        Ok(())
    })?;
    let last_seq = replayed.unwrap_or(0).max(versions.last_sequence());
    let mems = trees.into_iter().map(|t| (t.id, t.mem)).collect();
    Ok(Some((versions, mems, last_seq, stats)))
}

/// The numbers of the live WALs (numbered `log_number` or later), oldest first.
fn live_wals(ctx: &TableContext, log_number: u64) -> Result<Vec<u64>> {
    let mut logs: Vec<u64> = ctx
        .fs
        .list(&ctx.dir)?
        .iter()
        .filter_map(|n| filename::parse(n))
        .filter(|&(kind, n)| kind == FileKind::Wal && n >= log_number)
        .map(|(_, n)| n)
        .collect();
    logs.sort_unstable();
    Ok(logs)
}

/// WAL `number`'s number, name and bytes.
fn read_wal(ctx: &TableContext, number: u64) -> Result<WalData> {
    Ok((number, filename::wal_name(number), ctx.fs.read_all(&wal_path(&ctx.dir, number))?))
}

/// A WAL's number, name and bytes.
type WalData = (u64, String, Vec<u8>);

fn table_context(dir: &Path, opts: &Options) -> Arc<TableContext> {
    Arc::new(TableContext {
        fs: opts.fs.0.clone(),
        dir: dir.to_path_buf(),
        cache: Some(new_block_cache(opts)),
        mmap_reads: opts.mmap_reads,
    })
}

/// Adds every entry of `batch`, read from WAL `wal`, to its keyspace's memtable under
/// the batch's seqnos, unless the keyspace is gone or has the entry in a table already.
fn apply(trees: &[RecoveringTree], wal: u64, batch: &WriteBatch) {
    for (seq, entry) in (batch.seq()..).zip(batch.iter().flatten()) {
        if let Some(t) = trees.iter().find(|t| t.id == entry.keyspace && wal >= t.log_number) {
            t.mem.add(seq, entry.kind, entry.key, entry.value);
        }
    }
}

/// Replays `logs` (each WAL's name and bytes, oldest first) in order, handing each
/// batch to `apply`; returns the highest seqno replayed, if any. Damage is handled as
/// `Options::wal_recovery` says (see the module comment).
fn replay_wals(
    opts: &Options,
    logs: impl IntoIterator<Item = Result<WalData>>,
    stats: &Counters,
    mut apply: impl FnMut(u64, WriteBatch) -> Result<()>,
) -> Result<Option<u64>> {
    let mode = match opts.wal_recovery {
        WalRecovery::PointInTime => TailMode::PointInTime,
        WalRecovery::TolerateCorruptedTail => TailMode::Tolerate,
        WalRecovery::AbsoluteConsistency => TailMode::Strict,
    };
    // Point-in-time recovery keeps a prefix of the acknowledged order: once one log
    // stopped at damage, the records of later logs come after a gap and are dropped too.
    let mut gap = false;
    let mut last_seq = None;
    // The seqno the next log's first write must have if nothing is missing before it:
    // where the last log that yielded a record ended. `None` before the first log
    // (what came before it is in tables); `Some(None)` if the first log yielded no
    // record at all, not even its start record, so that it may have lost writes.
    let mut expected: Option<Option<u64>> = None;
    let mut first = true;
    for log in logs {
        let (number, name, data) = log?;
        if gap {
            Counters::add(&stats.wal_bytes_dropped_at_open, data.len() as u64);
            continue;
        }
        let size = data.len() as u64;
        let mut reader = LogReader::new(data, name.clone(), mode);
        let mut next: Option<u64> = None;
        // Where the log before this one ended, if this one's start record says writes
        // are missing in between: it matters once this log holds a write.
        let mut missing: Option<Option<u64>> = None;
        while let Some(record) = reader.next_record()? {
            let batch = WriteBatch::decode(record)
                .ok_or_else(|| Error::corruption(&name, None, "WAL record is not a well-formed batch"))?;
            if next.is_none() && missing.is_none() && batch.is_empty() {
                // The log-start record. A log before this one that ended short of its
                // seqno (or the first log, with nothing at all: it lost its own start
                // record) lost its last writes to a power loss.
                missing = expected.filter(|e| e.is_none_or(|e| e < batch.seq()));
                // One below where the log before ended is no gap, and must not move the
                // expectation back: a log abandoned by a failed switch, after which
                // writes went on in the log before.
                let behind = expected.is_some_and(|e| e.is_some_and(|e| batch.seq() < e));
                if missing.is_some() || behind {
                    continue;
                }
            }
            if let Some(before) = missing.filter(|_| !batch.is_empty()) {
                // ... while this one kept a later write: a gap.
                if mode != TailMode::PointInTime {
                    return Err(Error::corruption(
                        &name,
                        None,
                        format!(
                            "writes are missing between the log before this one (ending at seqno {}) and this one",
                            before.map_or_else(|| "(none)".to_string(), |e| e.to_string()),
                        ),
                    ));
                }
                gap = true;
                Counters::add(&stats.wal_bytes_dropped_at_open, size);
                break;
            }
            // Seqnos are 56 bits and the largest is reserved: a record claiming it or
            // more (possible only in a file that was written by something else with a
            // valid checksum) is not ours.
            let last = batch.seq().checked_add(batch.len() as u64).map(|end| end.saturating_sub(1));
            let Some(last) = last.filter(|&l| l < MAX_SEQUENCE) else {
                return Err(Error::corruption(&name, None, "WAL record's sequence numbers are out of range"));
            };
            last_seq = Some(last_seq.unwrap_or(0).max(last));
            next = Some(last + 1);
            apply(number, batch)?;
        }
        if gap {
            continue;
        }
        Counters::add(&stats.wal_bytes_dropped_at_open, reader.dropped_bytes());
        gap = mode == TailMode::PointInTime && reader.stopped_at_damage();
        // A later log that yielded nothing (or only a start record past a gap, which it
        // does not close) leaves the expectation as it was: the next start record tells.
        if next.is_some() || first {
            expected = Some(next);
        }
        first = false;
    }
    Ok(last_seq)
}

/// What `assemble` builds a database from.
struct Parts<'a> {
    dir: &'a Path,
    ctx: Arc<TableContext>,
    versions: VersionSet,
    /// Replayed memtables by keyspace (a read-only open's); the others start empty.
    mems: BTreeMap<u32, Arc<MemTable>>,
    wal: LogWriter,
    /// The WAL being written.
    log_number: u64,
    last_seq: u64,
    stats: Counters,
    lock: Option<Box<dyn FileLock>>,
}

fn assemble(mut p: Parts<'_>, read_only: bool, opts: Options) -> Result<Arc<DbInner>> {
    let mut trees = Vec::new();
    for (&id, k) in p.versions.keyspaces() {
        let tree_opts = keyspace_options(&opts, &k.record)?;
        let mem = p.mems.remove(&id).unwrap_or_else(|| Arc::new(first_memtable(&tree_opts)));
        let sv = Arc::new(SuperVersion::new(mem, Vec::new(), k.current.clone()));
        let tree = Arc::new(Tree::new(id, k.record.name.clone(), tree_opts, sv.clone()));
        trees.push(TreeState { tree, sv, mem_log_number: p.log_number, frozen: Vec::new() });
    }
    let default = trees[0].tree.clone();
    let file_numbers = p.versions.file_number_counter();
    Ok(Arc::new(DbInner {
        dir: p.dir.to_path_buf(),
        fs: p.ctx.fs.clone(),
        ctx: p.ctx,
        default,
        state: Mutex::new(State {
            trees,
            wal_number: p.log_number,
            wals: vec![p.log_number],
            next_freeze: 0,
            bg_error: None,
            shutting_down: false,
            compaction_wanted: true,
        }),
        bg_cv: Condvar::new(),
        flushed_cv: Condvar::new(),
        compaction_cv: Condvar::new(),
        queue: Mutex::new(Default::default()),
        wal: Mutex::new(p.wal),
        retired_wals: Default::default(),
        versions: Mutex::new(p.versions),
        file_numbers,
        last_seq: AtomicU64::new(p.last_seq),
        visible_seq: AtomicU64::new(p.last_seq),
        snapshots: Mutex::new(BTreeMap::new()),
        conflicts: Mutex::default(),
        live_transactions: Default::default(),
        stats: p.stats,
        lock: Mutex::new(p.lock),
        bg_threads: Mutex::new(Vec::new()),
        closed: AtomicBool::new(false),
        read_only,
        opts,
    }))
}

/// Creates `dir` and any missing parents, and makes each new directory's entry durable
/// by syncing the directory that holds it: otherwise a power loss could take the whole
/// database directory, synced files and all, with it.
pub(super) fn create_dir_durably(fs: &dyn crate::fs::FileSystem, dir: &Path) -> Result<()> {
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
    let live: std::collections::HashSet<u64> =
        versions.keyspaces().values().flat_map(|k| k.current.files()).map(|f| f.number()).collect();
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::batch::WriteBatch;
    use crate::error::Error;
    use crate::fs::FileSystem;
    use crate::key::MAX_SEQUENCE;
    use crate::log::LogWriter;
    use crate::testing::FaultyFs;
    use crate::{Db, Options};

    #[test]
    fn a_wal_record_with_out_of_range_seqnos_is_corruption_not_a_panic() {
        // The batch's second entry gets `seq + 1`: MAX_SEQUENCE - 1 puts the last on the
        // reserved seqno.
        for seq in [MAX_SEQUENCE - 1, MAX_SEQUENCE, u64::MAX - 1] {
            let fs = Arc::new(FaultyFs::new());
            let options = || Options::default().file_system(fs.clone());
            Db::open("/db", options()).unwrap().close().unwrap();
            // A well-formed record (valid checksum) of a two-entry batch whose last
            // seqno lies past 56 bits, in a WAL numbered after every other file.
            let mut batch = WriteBatch::new();
            batch.put("a", "1");
            batch.put("b", "2");
            batch.set_seq(seq);
            // SAFETY: nothing else touches this file system.
            let mut log = LogWriter::new(unsafe { fs.create_log(Path::new("/db/999999.log")).unwrap() });
            log.add_record(batch.encoded()).unwrap();
            log.sync().unwrap();
            drop(log);
            for open in [Db::open("/db", options()), Db::open_read_only("/db", options())] {
                match open {
                    Err(Error::Corruption(why)) => assert!(why.contains("999999.log"), "{why}"),
                    other => panic!("seq {seq}: {:?}", other.map(|_| ())),
                }
            }
        }
    }

    /// A WAL's bytes holding `records` (each a batch: `(seqno, keys)`; no keys is a
    /// log-start record), written by the production log writer.
    fn wal_bytes(fs: &FaultyFs, number: u64, records: &[(u64, &[&str])]) -> super::WalData {
        let path = format!("/db/{number:06}.log");
        // SAFETY: nothing else touches this file system.
        let mut log = LogWriter::new(unsafe { fs.create_log(Path::new(&path)).unwrap() });
        for &(seq, keys) in records {
            let mut batch = WriteBatch::new();
            for k in keys {
                batch.put(k, "v");
            }
            batch.set_seq(seq);
            log.add_record(batch.encoded()).unwrap();
        }
        log.sync().unwrap();
        drop(log);
        (number, crate::filename::wal_name(number), fs.read_all(Path::new(&path)).unwrap())
    }

    /// Replays `logs` under `mode`: the keys applied (in order) and the bytes dropped.
    fn replay(
        mode: crate::options::WalRecovery,
        logs: Vec<super::WalData>,
    ) -> crate::Result<(Vec<String>, u64, Option<u64>)> {
        let stats = crate::stats::Counters::default();
        let mut keys = Vec::new();
        let opts = Options::default().wal_recovery(mode);
        let last = super::replay_wals(&opts, logs.into_iter().map(Ok), &stats, |_, batch| {
            for e in batch.iter().flatten() {
                keys.push(String::from_utf8(e.key.to_vec()).unwrap());
            }
            Ok(())
        })?;
        Ok((keys, stats.wal_bytes_dropped_at_open.load(std::sync::atomic::Ordering::Relaxed), last))
    }

    #[test]
    fn a_log_that_starts_past_where_the_log_before_ended_comes_after_a_gap() {
        use crate::options::WalRecovery::{AbsoluteConsistency, PointInTime, TolerateCorruptedTail};
        let fs = FaultyFs::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        // Log 1 ends at seqno 2 and log 2 starts at 3: nothing missing.
        let a = wal_bytes(&fs, 1, &[(1, &[]), (1, &["a", "b"])]);
        let b = wal_bytes(&fs, 2, &[(3, &[]), (3, &["c"])]);
        let (keys, dropped, last) = replay(PointInTime, vec![a.clone(), b.clone()]).unwrap();
        assert_eq!((keys, dropped, last), (vec!["a".into(), "b".into(), "c".into()], 0, Some(3)));

        // Log 2 starts at 4: the write with seqno 3 was lost from the end of log 1, so
        // log 2 and every later log are dropped, whatever they hold.
        let b = wal_bytes(&fs, 3, &[(4, &[]), (4, &["d"])]);
        let c = wal_bytes(&fs, 4, &[(5, &[]), (5, &["e"])]);
        let sizes = (b.2.len() + c.2.len()) as u64;
        let (keys, dropped, last) = replay(PointInTime, vec![a.clone(), b.clone(), c.clone()]).unwrap();
        assert_eq!((keys, dropped, last), (vec!["a".into(), "b".into()], sizes, Some(2)));
        // The stricter modes call it what it is there: corruption, naming the log.
        for mode in [TolerateCorruptedTail, AbsoluteConsistency] {
            match replay(mode, vec![a.clone(), b.clone()]) {
                Err(Error::Corruption(why)) => assert!(why.contains("000003.log"), "{why}"),
                other => panic!("{mode:?}: {:?}", other.map(|_| ())),
            }
        }

        // A log that kept no record at all (not even its start): the next start record
        // tells whether it had writes, against where the log before ended.
        let empty = wal_bytes(&fs, 5, &[]);
        let (keys, dropped, _) = replay(PointInTime, vec![a.clone(), empty.clone(), b.clone()]).unwrap();
        assert_eq!((keys, dropped), (vec!["a".into(), "b".into()], b.2.len() as u64));
        let after_a = wal_bytes(&fs, 8, &[(3, &[]), (3, &["c"])]);
        let (keys, dropped, _) = replay(PointInTime, vec![a.clone(), empty.clone(), after_a.clone()]).unwrap();
        assert_eq!((keys, dropped), (vec!["a".into(), "b".into(), "c".into()], 0));
        // As the first log, nothing tells: it may have held writes.
        let (keys, dropped, _) = replay(PointInTime, vec![empty.clone(), after_a.clone()]).unwrap();
        assert_eq!((keys, dropped), (vec![], after_a.2.len() as u64));
        // A log holding only a start record past a gap drops nothing and is no error in
        // any mode (no write came after the missing ones), but it does not close the
        // gap: the log after it is checked against where log 1 ended.
        let start_only = wal_bytes(&fs, 9, &[(4, &[])]);
        for mode in [PointInTime, TolerateCorruptedTail, AbsoluteConsistency] {
            let (keys, dropped, _) = replay(mode, vec![a.clone(), start_only.clone()]).unwrap();
            assert_eq!((keys, dropped), (vec!["a".into(), "b".into()], 0), "{mode:?}");
        }
        let (keys, dropped, _) = replay(PointInTime, vec![a.clone(), start_only, c.clone()]).unwrap();
        assert_eq!((keys, dropped), (vec!["a".into(), "b".into()], c.2.len() as u64));

        // A log abandoned by a failed switch (its start record written, then writes went
        // on in the log before) starts below where that log ended: no gap, and the log
        // after it is checked against the real end.
        let longer = wal_bytes(&fs, 10, &[(1, &[]), (1, &["a", "b"]), (3, &["c"])]);
        let abandoned = wal_bytes(&fs, 11, &[(3, &[])]);
        let after = wal_bytes(&fs, 12, &[(4, &[]), (4, &["d"])]);
        let (keys, dropped, _) = replay(AbsoluteConsistency, vec![longer, abandoned, after]).unwrap();
        assert_eq!((keys, dropped), (vec!["a".into(), "b".into(), "c".into(), "d".into()], 0));

        // The first log's start is not checked (what came before it is in tables), and
        // logs without a start record (written before there were any) are not either.
        let (keys, dropped, _) = replay(PointInTime, vec![b.clone()]).unwrap();
        assert_eq!((keys, dropped), (vec!["d".into()], 0));
        let old1 = wal_bytes(&fs, 6, &[(1, &["a"])]);
        let old2 = wal_bytes(&fs, 7, &[(9, &["z"])]);
        let (keys, dropped, _) = replay(PointInTime, vec![old1, old2]).unwrap();
        assert_eq!((keys, dropped), (vec!["a".into(), "z".into()], 0));
    }
}
