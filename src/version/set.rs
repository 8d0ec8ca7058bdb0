//! [`VersionSet`]: the MANIFEST, the `CURRENT` pointer and the current [`Version`].
//!
//! Durability protocol (a crash at any instant leaves a directory that opens):
//! 1. a new table is written and fsynced before an edit names it;
//! 2. the edit is appended to the MANIFEST and fsynced before the new version is used;
//! 3. on open, a fresh MANIFEST is written holding one edit that describes the whole
//!    recovered state, fsynced, and only then `CURRENT` is switched to it by writing
//!    `CURRENT.tmp`, fsyncing it, renaming it over `CURRENT` and fsyncing the directory.
//!    Until the rename, the old MANIFEST stays authoritative.
//!
//! A damaged last MANIFEST record is the trace of an edit whose sync never completed
//! (a power loss may leave its pages missing, zeroed or garbled) and is dropped; damage
//! followed by an intact record is `Error::Corruption` naming the MANIFEST. Dropping is
//! safe because no edit is acted upon before its sync returns: if a lost last edit had
//! been acted upon, what it allowed (removing the WAL it retired, the tables it
//! compacted away) shows as a missing file that the recovered state names, which is
//! reported as corruption instead of opening with data missing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{NewFile, TableContext, Version, VersionEdit};
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::fs::RefusingFile;
use crate::log::{LogReader, LogWriter, TailMode};

/// No strategy uses more levels than this; a MANIFEST naming a deeper one is damaged.
pub(crate) const MAX_LEVELS: usize = 16;

/// The MANIFEST writer and the current version.
pub(crate) struct VersionSet {
    ctx: Arc<TableContext>,
    manifest: LogWriter,
    manifest_number: u64,
    next_file_number: Arc<AtomicU64>,
    last_sequence: u64,
    log_number: u64,
    current: Arc<Version>,
    /// Set when a MANIFEST write failed; see `log_and_apply`.
    poisoned: Option<String>,
    /// The live MANIFEST's size past which the next edit starts a new one.
    rollover_bytes: u64,
}

/// Default for [`VersionSet`]'s MANIFEST rollover: thousands of edits.
pub(crate) const MANIFEST_ROLLOVER_BYTES: u64 = 4 << 20;

/// State read back from a MANIFEST.
struct Recovered {
    files: BTreeMap<u64, NewFile>,
    log_number: u64,
    next_file_number: u64,
    last_sequence: u64,
}

impl VersionSet {
    /// Recovers the state named by `CURRENT` (or starts empty if there is none) and
    /// makes a fresh MANIFEST describing it the live one.
    pub(crate) fn open(ctx: Arc<TableContext>, num_levels: usize) -> Result<VersionSet> {
        let current_path = filename::path(&ctx.dir, filename::CURRENT);
        let recovered = if ctx.fs.exists(&current_path) {
            Self::recover(&ctx)?
        } else {
            Recovered { files: BTreeMap::new(), log_number: 0, next_file_number: 1, last_sequence: 0 }
        };
        let mut edit = VersionEdit {
            log_number: Some(recovered.log_number),
            last_sequence: Some(recovered.last_sequence),
            new_files: recovered.files.into_values().collect(),
            ..VersionEdit::default()
        };
        let current = Arc::new(Version::new(num_levels).apply(&edit, &ctx));
        // Numbers handed out after the MANIFEST's last edit (a WAL started at a memtable
        // switch, a table whose edit was lost) are in use too: every number found in the
        // directory is marked used before a new one is handed out (LevelDB's
        // `MarkFileNumberUsed`), so no new file can take the name of one recovery needs.
        let mut next = recovered.next_file_number;
        for name in ctx.fs.list(&ctx.dir)? {
            if let Some((FileKind::Wal | FileKind::Table | FileKind::Manifest, n)) = filename::parse(&name) {
                next = next.max(n.saturating_add(1));
            }
        }
        let next_file_number = Arc::new(AtomicU64::new(next));
        let manifest_number = next_file_number.fetch_add(1, Ordering::SeqCst);
        edit.next_file_number = Some(next_file_number.load(Ordering::SeqCst));

        let manifest = Self::write_manifest(&ctx, manifest_number, &edit)?;
        Self::set_current(&ctx, &filename::manifest_name(manifest_number))?;

        Ok(VersionSet {
            ctx,
            manifest,
            manifest_number,
            next_file_number,
            last_sequence: recovered.last_sequence,
            log_number: recovered.log_number,
            current,
            poisoned: None,
            rollover_bytes: MANIFEST_ROLLOVER_BYTES,
        })
    }

    /// The state the MANIFEST named by `CURRENT` records, read without writing anything
    /// (`Db::open_read_only`). The set refuses edits: its MANIFEST writer is a
    /// [`RefusingFile`]. Numbers it would hand out are not reserved anywhere, so it must
    /// not create files.
    pub(crate) fn open_read_only(ctx: Arc<TableContext>, num_levels: usize) -> Result<VersionSet> {
        let recovered = Self::recover(&ctx)?;
        let edit = VersionEdit { new_files: recovered.files.into_values().collect(), ..VersionEdit::default() };
        let current = Arc::new(Version::new(num_levels).apply(&edit, &ctx));
        Ok(VersionSet {
            ctx,
            manifest: LogWriter::new(Box::new(RefusingFile)),
            manifest_number: 0,
            next_file_number: Arc::new(AtomicU64::new(recovered.next_file_number)),
            last_sequence: recovered.last_sequence,
            log_number: recovered.log_number,
            current,
            poisoned: Some("the database is open read-only".into()),
            rollover_bytes: u64::MAX,
        })
    }

    /// The oldest live WAL number the MANIFEST named by `CURRENT` records, read without
    /// building a version (a read-only open checks it did not move).
    pub(crate) fn read_log_number(ctx: &TableContext) -> Result<u64> {
        Ok(Self::recover(ctx)?.log_number)
    }

    /// Makes the directory of `ctx` a database whose state is `edit` alone: MANIFEST
    /// `number` holding it, then `CURRENT` naming that (`Db::checkpoint`).
    pub(crate) fn create_in(ctx: &TableContext, number: u64, edit: &VersionEdit) -> Result<()> {
        Self::write_manifest(ctx, number, edit)?;
        Self::set_current(ctx, &filename::manifest_name(number))
    }

    /// Writes MANIFEST `number` holding `edit` alone, synced; it is not live until
    /// `CURRENT` names it. On error the partial file is removed.
    fn write_manifest(ctx: &TableContext, number: u64, edit: &VersionEdit) -> Result<LogWriter> {
        let path = filename::path(&ctx.dir, &filename::manifest_name(number));
        let written = ctx.fs.create(&path).and_then(|file| {
            let mut manifest = LogWriter::new(file);
            manifest.add_record(&edit.encode())?;
            manifest.sync()?;
            Ok(manifest)
        });
        if written.is_err() {
            let _ = ctx.fs.remove(&path);
        }
        Ok(written?)
    }

    /// The edit that recreates the current state from nothing.
    fn snapshot_edit(&self) -> VersionEdit {
        VersionEdit {
            log_number: Some(self.log_number),
            last_sequence: Some(self.last_sequence),
            next_file_number: Some(self.next_file_number.load(Ordering::SeqCst)),
            new_files: self.current.files().map(|f| f.info.clone()).collect(),
            ..VersionEdit::default()
        }
    }

    /// Starts a new MANIFEST holding one edit that describes the current state, once the
    /// live one has grown past `rollover_bytes` (RocksDB's `max_manifest_file_size`):
    /// otherwise a database that stays open appends an edit per flush and compaction
    /// forever, and the next open replays them all.
    ///
    /// Until `CURRENT` is switched the old MANIFEST stays live and complete, so a failure
    /// before that just keeps using it. A failure after the switch leaves it unknown
    /// which one a crash would bring back: the set is poisoned, like after a failed edit.
    fn roll_over_if_big(&mut self) -> Result<()> {
        if self.manifest.bytes_written() < self.rollover_bytes {
            return Ok(());
        }
        let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
        let manifest = Self::write_manifest(&self.ctx, number, &self.snapshot_edit())?;
        let name = filename::manifest_name(number);
        if let Err(e) = Self::set_current(&self.ctx, &name) {
            self.poisoned = Some(format!("switching CURRENT to {name} failed: {e}"));
            return Err(e);
        }
        let old = std::mem::replace(&mut self.manifest_number, number);
        self.manifest = manifest;
        // Best effort: an old MANIFEST left behind is removed at the next open.
        let _ = self.ctx.fs.remove(&filename::path(&self.ctx.dir, &filename::manifest_name(old)));
        Ok(())
    }

    fn set_current(ctx: &TableContext, manifest_name: &str) -> Result<()> {
        let tmp = filename::path(&ctx.dir, "CURRENT.tmp");
        // Left by a crash between its create and its rename; files are never created
        // over an existing one.
        match ctx.fs.remove(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let mut f = ctx.fs.create(&tmp)?;
        f.append(format!("{manifest_name}\n").as_bytes())?;
        f.sync()?;
        drop(f);
        ctx.fs.rename(&tmp, &filename::path(&ctx.dir, filename::CURRENT))?;
        ctx.fs.sync_dir(&ctx.dir)?;
        Ok(())
    }

    fn recover(ctx: &TableContext) -> Result<Recovered> {
        let current = ctx.fs.read_all(&filename::path(&ctx.dir, filename::CURRENT))?;
        let name = std::str::from_utf8(&current)
            .ok()
            .and_then(|s| s.strip_suffix('\n'))
            .filter(|s| matches!(filename::parse(s), Some((FileKind::Manifest, _))))
            .ok_or_else(|| Error::corruption(filename::CURRENT, Some(0), "does not name a MANIFEST"))?;
        let manifest_path = filename::path(&ctx.dir, name);
        let data = ctx.fs.read_all(&manifest_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::corruption(name, None, "named by CURRENT but missing"),
            _ => Error::Io(e),
        })?;
        let mut reader = LogReader::new(data, name, TailMode::Tolerate);
        let mut files = BTreeMap::new();
        let (mut log_number, mut next_file, mut last_seq) = (None, None, None);
        while let Some(record) = reader.next_record()? {
            let edit = VersionEdit::decode(&record).map_err(|why| Error::corruption(name, None, why))?;
            log_number = edit.log_number.or(log_number);
            next_file = edit.next_file_number.or(next_file);
            last_seq = edit.last_sequence.or(last_seq);
            for (_, number) in &edit.deleted_files {
                files.remove(number);
            }
            for f in edit.new_files {
                files.insert(f.number, f);
            }
        }
        let (Some(log_number), Some(next_file_number), Some(last_sequence)) = (log_number, next_file, last_seq) else {
            return Err(Error::corruption(name, None, "no complete initial record"));
        };
        // The WAL the MANIFEST names as the oldest live one always exists (it is created,
        // and its directory synced, before any edit names it). If it is gone, a later
        // edit that retired it was lost: the MANIFEST is damaged, and opening would lose
        // the data that edit recorded.
        let wal = filename::wal_name(log_number);
        if log_number > 0 && !ctx.fs.exists(&filename::path(&ctx.dir, &wal)) {
            return Err(Error::corruption(
                name,
                None,
                format!("names {wal} as live, but it is gone: edits are missing"),
            ));
        }
        for f in files.values() {
            let table = filename::table_name(f.number);
            if f.level as usize >= MAX_LEVELS {
                return Err(Error::corruption(name, None, format!("{table} is on level {}", f.level)));
            }
            if !ctx.fs.exists(&filename::path(&ctx.dir, &table)) {
                return Err(Error::corruption(&table, None, format!("listed in {name} but missing")));
            }
            if f.number >= next_file_number {
                return Err(Error::corruption(
                    name,
                    None,
                    format!("file {} at or past the next file number", f.number),
                ));
            }
        }
        Ok(Recovered { files, log_number, next_file_number, last_sequence })
    }

    /// Hands out a new, never used file number.
    pub(crate) fn new_file_number(&self) -> u64 {
        self.next_file_number.fetch_add(1, Ordering::SeqCst)
    }

    /// The shared file-number counter, for allocating numbers without this set's lock.
    pub(crate) fn file_number_counter(&self) -> Arc<AtomicU64> {
        self.next_file_number.clone()
    }

    /// The current version.
    pub(crate) fn current(&self) -> Arc<Version> {
        self.current.clone()
    }

    /// The oldest WAL still needed.
    pub(crate) fn log_number(&self) -> u64 {
        self.log_number
    }

    /// The highest seqno recorded as being in a table.
    pub(crate) fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// Where the tables live.
    pub(crate) fn context(&self) -> &Arc<TableContext> {
        &self.ctx
    }

    /// The number of the live MANIFEST.
    pub(crate) fn manifest_number(&self) -> u64 {
        self.manifest_number
    }

    /// Records `edit` durably in the MANIFEST and makes the resulting version current.
    /// Files removed by the edit are marked obsolete and deleted once unreferenced.
    ///
    /// After a failed MANIFEST write every later edit is refused: the failed record may
    /// be partly written, and appending behind it would turn a torn tail (dropped at the
    /// next open) into damage in the middle (which refuses to open).
    pub(crate) fn log_and_apply(&mut self, mut edit: VersionEdit) -> Result<Arc<Version>> {
        if let Some(why) = &self.poisoned {
            return Err(Error::Background(format!("MANIFEST unusable after an earlier write failed: {why}")));
        }
        edit.next_file_number = Some(self.next_file_number.load(Ordering::SeqCst));
        let written = self.manifest.add_record(&edit.encode()).and_then(|()| self.manifest.sync());
        if let Err(e) = written {
            self.poisoned = Some(e.to_string());
            return Err(Error::Io(e));
        }
        if let Some(n) = edit.log_number {
            self.log_number = n;
        }
        if let Some(s) = edit.last_sequence {
            self.last_sequence = self.last_sequence.max(s);
        }
        let next = Arc::new(self.current.apply(&edit, &self.ctx));
        for &(level, number) in &edit.deleted_files {
            if edit.new_files.iter().any(|n| n.number == number) {
                continue; // moved to another level, not gone
            }
            if let Some(f) =
                self.current.levels.get(level as usize).and_then(|l| l.iter().find(|f| f.number() == number))
            {
                f.mark_obsolete();
            }
        }
        self.current = next.clone();
        // The edit is durable and applied; a failed rollover only means the old
        // MANIFEST stays live (or, past the CURRENT switch, the set is poisoned and the
        // next edit reports it).
        let _ = self.roll_over_if_big();
        Ok(next)
    }

    /// Sets the size past which the MANIFEST is rewritten (tests use a small one).
    #[cfg(test)]
    fn set_rollover_bytes(&mut self, bytes: u64) {
        self.rollover_bytes = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::format::TableSummary;

    fn ctx(dir: &std::path::Path) -> Arc<TableContext> {
        TableContext::on_os(dir)
    }

    fn touch_table(dir: &std::path::Path, n: u64) {
        std::fs::write(dir.join(filename::table_name(n)), b"x").unwrap();
    }

    fn file(level: u32, number: u64) -> NewFile {
        NewFile {
            level,
            number,
            size: 1,
            summary: TableSummary {
                smallest: vec![b'a'; 9],
                largest: vec![b'z'; 9],
                max_seq: number,
                ..TableSummary::default()
            },
        }
    }

    #[test]
    fn edits_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut vs = VersionSet::open(ctx(dir.path()), 7).unwrap();
            let (a, b) = (vs.new_file_number(), vs.new_file_number());
            touch_table(dir.path(), a);
            touch_table(dir.path(), b);
            vs.log_and_apply(VersionEdit {
                new_files: vec![file(0, a), file(0, b)],
                log_number: Some(5),
                last_sequence: Some(42),
                ..Default::default()
            })
            .unwrap();
            let v = vs.log_and_apply(VersionEdit { deleted_files: vec![(0, a)], ..Default::default() }).unwrap();
            assert_eq!(v.levels[0].len(), 1);
        }
        // The live WAL the MANIFEST names must exist.
        assert!(matches!(VersionSet::open(ctx(dir.path()), 7), Err(Error::Corruption(m)) if m.contains("000005.log")));
        std::fs::write(dir.path().join(filename::wal_name(5)), b"").unwrap();
        let vs = VersionSet::open(ctx(dir.path()), 7).unwrap();
        let files: Vec<u64> = vs.current().files().map(|f| f.number()).collect();
        assert_eq!(files.len(), 1);
        assert_eq!(vs.log_number(), 5);
        assert_eq!(vs.last_sequence(), 42);
        assert!(vs.new_file_number() > files[0]);
    }

    #[test]
    fn a_long_lived_manifest_rolls_over_and_reopens_to_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let manifests = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.unwrap().file_name().into_string().ok())
                .filter(|n| n.starts_with("MANIFEST-"))
                .collect::<Vec<_>>()
        };
        let mut live = Vec::new();
        let first;
        {
            let mut vs = VersionSet::open(ctx(dir.path()), 7).unwrap();
            vs.set_rollover_bytes(2048);
            first = vs.manifest_number();
            for round in 0..200u64 {
                let n = vs.new_file_number();
                touch_table(dir.path(), n);
                let mut edit = VersionEdit { new_files: vec![file(0, n)], ..Default::default() };
                edit.last_sequence = Some(round * 10);
                if round % 4 == 3 {
                    let gone = live.remove(0);
                    edit.deleted_files.push(gone);
                }
                live.push((0, n));
                vs.log_and_apply(edit).unwrap();
                assert_eq!(manifests().len(), 1, "the old MANIFEST is removed at rollover");
            }
            assert!(vs.manifest_number() > first, "the MANIFEST rolled over");
            assert!(vs.manifest.bytes_written() < 2048 + 4096);
        }
        let vs = VersionSet::open(ctx(dir.path()), 7).unwrap();
        let mut got: Vec<(u32, u64)> = vs.current().files().map(|f| (f.info.level, f.number())).collect();
        got.sort_unstable();
        live.sort_unstable();
        assert_eq!(got, live);
        assert_eq!(vs.last_sequence(), 1990);
    }

    #[test]
    fn damaged_current_and_missing_files_are_corruption() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut vs = VersionSet::open(ctx(dir.path()), 7).unwrap();
            let n = vs.new_file_number();
            touch_table(dir.path(), n);
            vs.log_and_apply(VersionEdit { new_files: vec![file(0, n)], ..Default::default() }).unwrap();
            std::fs::remove_file(dir.path().join(filename::table_name(n))).unwrap();
        }
        match VersionSet::open(ctx(dir.path()), 7) {
            Err(Error::Corruption(msg)) => assert!(msg.contains(".sst"), "{msg}"),
            other => panic!("expected corruption, got {:?}", other.err()),
        }
        std::fs::write(dir.path().join("CURRENT"), b"garbage").unwrap();
        match VersionSet::open(ctx(dir.path()), 7) {
            Err(Error::Corruption(msg)) => assert!(msg.contains("CURRENT"), "{msg}"),
            other => panic!("expected corruption, got {:?}", other.err()),
        }
    }
}
