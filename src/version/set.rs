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

use super::edit::{KeyspaceRecord, DEFAULT_KEYSPACE};
use super::{NewFile, TableContext, Version, VersionEdit};
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::fs::RefusingFile;
use crate::log::{LogReader, LogWriter, TailMode};

/// No strategy uses more levels than this; a MANIFEST naming a deeper one is damaged.
pub(crate) const MAX_LEVELS: usize = 16;

/// The MANIFEST writer and the current version of every keyspace.
pub(crate) struct VersionSet {
    ctx: Arc<TableContext>,
    manifest: LogWriter,
    manifest_number: u64,
    next_file_number: Arc<AtomicU64>,
    last_sequence: u64,
    keyspaces: BTreeMap<u32, KeyspaceVersion>,
    next_keyspace_id: u32,
    /// Set when a MANIFEST write failed; see `log_and_apply`.
    poisoned: Option<String>,
    /// The live MANIFEST's size past which the next edit starts a new one.
    rollover_bytes: u64,
}

/// One keyspace's state in the set.
pub(crate) struct KeyspaceVersion {
    /// Its name and options as created.
    pub record: KeyspaceRecord,
    /// Its live tables.
    pub current: Arc<Version>,
    /// WALs numbered below this hold none of its unflushed writes.
    pub log_number: u64,
}

/// Default for [`VersionSet`]'s MANIFEST rollover: thousands of edits.
pub(crate) const MANIFEST_ROLLOVER_BYTES: u64 = 4 << 20;

/// One keyspace as read back from a MANIFEST.
struct RecoveredKeyspace {
    record: KeyspaceRecord,
    files: BTreeMap<u64, NewFile>,
    log_number: Option<u64>,
}

/// State read back from a MANIFEST.
struct Recovered {
    keyspaces: BTreeMap<u32, RecoveredKeyspace>,
    next_file_number: u64,
    last_sequence: u64,
    next_keyspace_id: u32,
}

impl Recovered {
    fn empty() -> Recovered {
        let default = RecoveredKeyspace {
            record: KeyspaceRecord { id: DEFAULT_KEYSPACE, name: DEFAULT_KEYSPACE_NAME.into(), options: Vec::new() },
            files: BTreeMap::new(),
            log_number: Some(0),
        };
        Recovered {
            keyspaces: BTreeMap::from([(DEFAULT_KEYSPACE, default)]),
            next_file_number: 1,
            last_sequence: 0,
            next_keyspace_id: DEFAULT_KEYSPACE + 1,
        }
    }

    /// The oldest WAL any keyspace needs.
    fn log_number(&self) -> u64 {
        self.keyspaces.values().filter_map(|k| k.log_number).min().unwrap_or(0)
    }

    /// The set's state: every keyspace's version, levels as `num_levels` says for its
    /// options.
    fn into_keyspaces(
        self,
        ctx: &Arc<TableContext>,
        num_levels: &dyn Fn(&KeyspaceRecord) -> usize,
    ) -> BTreeMap<u32, KeyspaceVersion> {
        self.keyspaces
            .into_iter()
            .map(|(id, k)| {
                let edit =
                    VersionEdit { keyspace: id, new_files: k.files.into_values().collect(), ..Default::default() };
                let current = Arc::new(Version::new(num_levels(&k.record)).apply(&edit, ctx));
                (id, KeyspaceVersion { record: k.record, current, log_number: k.log_number.unwrap_or(0) })
            })
            .collect()
    }
}

/// The name of keyspace 0.
pub(crate) const DEFAULT_KEYSPACE_NAME: &str = "default";

impl VersionSet {
    /// Recovers the state named by `CURRENT` (or starts empty if there is none) and
    /// makes a fresh MANIFEST describing it the live one. `num_levels` gives the levels
    /// a keyspace's version starts with.
    pub(crate) fn open(ctx: Arc<TableContext>, num_levels: &dyn Fn(&KeyspaceRecord) -> usize) -> Result<VersionSet> {
        let current_path = filename::path(&ctx.dir, filename::CURRENT);
        let recovered = if ctx.fs.exists(&current_path) { Self::recover(&ctx)? } else { Recovered::empty() };
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
        let mut set = VersionSet {
            manifest: LogWriter::new(Box::new(RefusingFile)),
            manifest_number,
            next_file_number,
            last_sequence: recovered.last_sequence,
            next_keyspace_id: recovered.next_keyspace_id,
            keyspaces: recovered.into_keyspaces(&ctx, num_levels),
            ctx,
            poisoned: None,
            rollover_bytes: MANIFEST_ROLLOVER_BYTES,
        };
        set.manifest = Self::write_manifest(&set.ctx, manifest_number, &set.snapshot_edits())?;
        Self::set_current(&set.ctx, &filename::manifest_name(manifest_number))?;
        Ok(set)
    }

    /// The state the MANIFEST named by `CURRENT` records, read without writing anything
    /// (`Db::open_read_only`). The set refuses edits: its MANIFEST writer is a
    /// [`RefusingFile`]. Numbers it would hand out are not reserved anywhere, so it must
    /// not create files.
    pub(crate) fn open_read_only(
        ctx: Arc<TableContext>,
        num_levels: &dyn Fn(&KeyspaceRecord) -> usize,
    ) -> Result<VersionSet> {
        let recovered = Self::recover(&ctx)?;
        Ok(VersionSet {
            manifest: LogWriter::new(Box::new(RefusingFile)),
            manifest_number: 0,
            next_file_number: Arc::new(AtomicU64::new(recovered.next_file_number)),
            last_sequence: recovered.last_sequence,
            next_keyspace_id: recovered.next_keyspace_id,
            keyspaces: recovered.into_keyspaces(&ctx, num_levels),
            ctx,
            poisoned: Some("the database is open read-only".into()),
            rollover_bytes: u64::MAX,
        })
    }

    /// The oldest live WAL number the MANIFEST named by `CURRENT` records, read without
    /// building a version (a read-only open checks it did not move).
    pub(crate) fn read_log_number(ctx: &TableContext) -> Result<u64> {
        Ok(Self::recover(ctx)?.log_number())
    }

    /// Makes the directory of `ctx` a database whose state is `edits` alone: MANIFEST
    /// `number` holding them, then `CURRENT` naming that (`Db::checkpoint`).
    pub(crate) fn create_in(ctx: &TableContext, number: u64, edits: &[VersionEdit]) -> Result<()> {
        Self::write_manifest(ctx, number, edits)?;
        Self::set_current(ctx, &filename::manifest_name(number))
    }

    /// Writes MANIFEST `number` holding `edits` alone, synced; it is not live until
    /// `CURRENT` names it. On error the partial file is removed.
    fn write_manifest(ctx: &TableContext, number: u64, edits: &[VersionEdit]) -> Result<LogWriter> {
        let path = filename::path(&ctx.dir, &filename::manifest_name(number));
        let written = ctx.fs.create(&path).and_then(|file| {
            let mut manifest = LogWriter::new(file);
            for edit in edits {
                manifest.add_record(&edit.encode())?;
            }
            manifest.sync()?;
            Ok(manifest)
        });
        if written.is_err() {
            let _ = ctx.fs.remove(&path);
        }
        Ok(written?)
    }

    /// The edits that recreate the current state from nothing: one per keyspace, the
    /// first (the default keyspace's) with the set's counters.
    fn snapshot_edits(&self) -> Vec<VersionEdit> {
        let mut edits: Vec<VersionEdit> = self
            .keyspaces
            .iter()
            .map(|(&id, k)| VersionEdit {
                keyspace: id,
                new_keyspaces: if id == DEFAULT_KEYSPACE { Vec::new() } else { vec![k.record.clone()] },
                log_numbers: vec![(id, k.log_number)],
                new_files: k.current.files().map(|f| f.info.clone()).collect(),
                ..VersionEdit::default()
            })
            .collect();
        let first = &mut edits[0];
        first.last_sequence = Some(self.last_sequence);
        first.next_file_number = Some(self.next_file_number.load(Ordering::SeqCst));
        if self.next_keyspace_id > DEFAULT_KEYSPACE + 1 {
            first.next_keyspace_id = Some(self.next_keyspace_id);
        }
        edits
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
        let manifest = Self::write_manifest(&self.ctx, number, &self.snapshot_edits())?;
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
        let mut state = Recovered::empty();
        if let Some(default) = state.keyspaces.get_mut(&DEFAULT_KEYSPACE) {
            default.log_number = None;
        }
        let (mut next_file, mut last_seq) = (None, None);
        let damaged = |why: String| Error::corruption(name, None, why);
        while let Some(record) = reader.next_record()? {
            let edit = VersionEdit::decode(&record).map_err(damaged)?;
            next_file = edit.next_file_number.or(next_file);
            // Keyspaces flush independently: a later edit may record an older seqno.
            last_seq = last_seq.max(edit.last_sequence);
            if let Some(id) = edit.next_keyspace_id {
                state.next_keyspace_id = state.next_keyspace_id.max(id);
            }
            for k in edit.new_keyspaces {
                if k.id == DEFAULT_KEYSPACE || state.keyspaces.contains_key(&k.id) {
                    return Err(damaged(format!("keyspace {} created twice", k.id)));
                }
                let Some(next) = k.id.checked_add(1) else {
                    return Err(damaged(format!("keyspace id {} is out of range", k.id)));
                };
                state.next_keyspace_id = state.next_keyspace_id.max(next);
                let files = BTreeMap::new();
                state.keyspaces.insert(k.id, RecoveredKeyspace { record: k, files, log_number: None });
            }
            for (id, number) in edit.log_numbers {
                if let Some(k) = state.keyspaces.get_mut(&id) {
                    k.log_number = Some(number);
                }
            }
            let has_files = !edit.deleted_files.is_empty() || !edit.new_files.is_empty();
            match state.keyspaces.get_mut(&edit.keyspace) {
                Some(k) => {
                    for (_, number) in &edit.deleted_files {
                        k.files.remove(number);
                    }
                    for f in edit.new_files {
                        k.files.insert(f.number, f);
                    }
                }
                None if has_files => return Err(damaged(format!("names files of unknown keyspace {}", edit.keyspace))),
                None => {}
            }
            for id in edit.dropped_keyspaces {
                if id == DEFAULT_KEYSPACE {
                    return Err(damaged("drops the default keyspace".into()));
                }
                state.keyspaces.remove(&id);
            }
        }
        let (Some(next_file_number), Some(last_sequence)) = (next_file, last_seq) else {
            return Err(damaged("no complete initial record".into()));
        };
        state.next_file_number = next_file_number;
        state.last_sequence = last_sequence;
        let mut table_names = std::collections::HashSet::new();
        for k in state.keyspaces.values() {
            let Some(log_number) = k.log_number else {
                return Err(damaged(format!("keyspace {:?} has no log number", k.record.name)));
            };
            // The WAL the MANIFEST names as a keyspace's oldest live one always exists (it
            // is created, and its directory synced, before any edit names it, and no WAL
            // at or past the oldest named one is removed). If it is gone, a later edit
            // that retired it was lost: the MANIFEST is damaged, and opening would lose
            // the data that edit recorded.
            let wal = filename::wal_name(log_number);
            if log_number > 0 && !ctx.fs.exists(&filename::path(&ctx.dir, &wal)) {
                return Err(damaged(format!("names {wal} as live, but it is gone: edits are missing")));
            }
            for f in k.files.values() {
                let table = filename::table_name(f.number);
                if f.level as usize >= MAX_LEVELS {
                    return Err(damaged(format!("{table} is on level {}", f.level)));
                }
                if !table_names.insert(f.number) {
                    return Err(damaged(format!("{table} is in two keyspaces")));
                }
                if !ctx.fs.exists(&filename::path(&ctx.dir, &table)) {
                    return Err(Error::corruption(&table, None, format!("listed in {name} but missing")));
                }
                if f.number >= next_file_number {
                    return Err(damaged(format!("file {} at or past the next file number", f.number)));
                }
            }
        }
        Ok(state)
    }

    /// Hands out a new, never used file number.
    pub(crate) fn new_file_number(&self) -> u64 {
        self.next_file_number.fetch_add(1, Ordering::SeqCst)
    }

    /// The shared file-number counter, for allocating numbers without this set's lock.
    pub(crate) fn file_number_counter(&self) -> Arc<AtomicU64> {
        self.next_file_number.clone()
    }

    /// The current version of keyspace `id`, if it exists.
    pub(crate) fn current(&self, id: u32) -> Option<Arc<Version>> {
        self.keyspaces.get(&id).map(|k| k.current.clone())
    }

    /// Every keyspace, by id.
    pub(crate) fn keyspaces(&self) -> &BTreeMap<u32, KeyspaceVersion> {
        &self.keyspaces
    }

    /// The oldest WAL any keyspace still needs.
    pub(crate) fn log_number(&self) -> u64 {
        self.keyspaces.values().map(|k| k.log_number).min().unwrap_or(0)
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

    /// Creates keyspace `name` with `options` (encoded), its writes to be found in WALs
    /// from `log_number` on, durably; returns its id and (empty) version.
    pub(crate) fn create_keyspace(
        &mut self,
        name: &str,
        options: Vec<u8>,
        log_number: u64,
        num_levels: usize,
    ) -> Result<(u32, Arc<Version>)> {
        let id = self.next_keyspace_id;
        let Some(next_id) = id.checked_add(1) else {
            return Err(Error::InvalidArgument("every keyspace id has been used".into()));
        };
        let record = KeyspaceRecord { id, name: name.to_string(), options };
        let mut edit = VersionEdit {
            keyspace: id,
            new_keyspaces: vec![record.clone()],
            log_numbers: vec![(id, log_number)],
            next_keyspace_id: Some(next_id),
            ..VersionEdit::default()
        };
        self.write_edit(&mut edit)?;
        self.next_keyspace_id = next_id;
        let current = Arc::new(Version::new(num_levels));
        self.keyspaces.insert(id, KeyspaceVersion { record, current: current.clone(), log_number });
        let _ = self.roll_over_if_big();
        Ok((id, current))
    }

    /// Drops keyspace `id` durably; its tables are marked obsolete (deleted once no
    /// reader holds them).
    pub(crate) fn drop_keyspace(&mut self, id: u32) -> Result<()> {
        let Some(k) = self.keyspaces.get(&id) else { return Ok(()) };
        let mut edit = VersionEdit {
            keyspace: id,
            deleted_files: k.current.files().map(|f| (f.info.level, f.number())).collect(),
            dropped_keyspaces: vec![id],
            ..VersionEdit::default()
        };
        self.write_edit(&mut edit)?;
        if let Some(k) = self.keyspaces.remove(&id) {
            k.current.files().for_each(|f| f.mark_obsolete());
        }
        let _ = self.roll_over_if_big();
        Ok(())
    }

    /// Appends `edit` to the MANIFEST and syncs it (with the file-number counter), or
    /// poisons the set.
    fn write_edit(&mut self, edit: &mut VersionEdit) -> Result<()> {
        if let Some(why) = &self.poisoned {
            return Err(Error::Background(format!("MANIFEST unusable after an earlier write failed: {why}")));
        }
        edit.next_file_number = Some(self.next_file_number.load(Ordering::SeqCst));
        let written = self.manifest.add_record(&edit.encode()).and_then(|()| self.manifest.sync());
        if let Err(e) = written {
            self.poisoned = Some(e.to_string());
            return Err(Error::Io(e));
        }
        Ok(())
    }

    /// Records `edit` durably in the MANIFEST and makes the resulting version of its
    /// keyspace current. Files removed by the edit are marked obsolete and deleted once
    /// unreferenced.
    ///
    /// After a failed MANIFEST write every later edit is refused: the failed record may
    /// be partly written, and appending behind it would turn a torn tail (dropped at the
    /// next open) into damage in the middle (which refuses to open).
    pub(crate) fn log_and_apply(&mut self, mut edit: VersionEdit) -> Result<Arc<Version>> {
        if !self.keyspaces.contains_key(&edit.keyspace) {
            return Err(Error::InvalidArgument(format!("keyspace {} was dropped", edit.keyspace)));
        }
        self.write_edit(&mut edit)?;
        for &(id, n) in &edit.log_numbers {
            if let Some(k) = self.keyspaces.get_mut(&id) {
                k.log_number = n;
            }
        }
        if let Some(s) = edit.last_sequence {
            self.last_sequence = self.last_sequence.max(s);
        }
        let Some(k) = self.keyspaces.get_mut(&edit.keyspace) else {
            return Err(Error::InvalidArgument(format!("keyspace {} was dropped", edit.keyspace)));
        };
        let next = Arc::new(k.current.apply(&edit, &self.ctx));
        for &(level, number) in &edit.deleted_files {
            if edit.new_files.iter().any(|n| n.number == number) {
                continue; // moved to another level, not gone
            }
            if let Some(f) = k.current.levels.get(level as usize).and_then(|l| l.iter().find(|f| f.number() == number))
            {
                f.mark_obsolete();
            }
        }
        k.current = next.clone();
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
            written_at: 0,
        }
    }

    #[test]
    fn edits_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut vs = VersionSet::open(ctx(dir.path()), &|_| 7).unwrap();
            let (a, b) = (vs.new_file_number(), vs.new_file_number());
            touch_table(dir.path(), a);
            touch_table(dir.path(), b);
            vs.log_and_apply(VersionEdit {
                new_files: vec![file(0, a), file(0, b)],
                log_numbers: vec![(0, 5)],
                last_sequence: Some(42),
                ..Default::default()
            })
            .unwrap();
            let v = vs.log_and_apply(VersionEdit { deleted_files: vec![(0, a)], ..Default::default() }).unwrap();
            assert_eq!(v.levels[0].len(), 1);
        }
        // The live WAL the MANIFEST names must exist.
        assert!(
            matches!(VersionSet::open(ctx(dir.path()), &|_| 7), Err(Error::Corruption(m)) if m.contains("000005.log"))
        );
        std::fs::write(dir.path().join(filename::wal_name(5)), b"").unwrap();
        let vs = VersionSet::open(ctx(dir.path()), &|_| 7).unwrap();
        let files: Vec<u64> = vs.current(0).unwrap().files().map(|f| f.number()).collect();
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
            let mut vs = VersionSet::open(ctx(dir.path()), &|_| 7).unwrap();
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
        let vs = VersionSet::open(ctx(dir.path()), &|_| 7).unwrap();
        let mut got: Vec<(u32, u64)> = vs.current(0).unwrap().files().map(|f| (f.info.level, f.number())).collect();
        got.sort_unstable();
        live.sort_unstable();
        assert_eq!(got, live);
        assert_eq!(vs.last_sequence(), 1990);
    }

    #[test]
    fn damaged_current_and_missing_files_are_corruption() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut vs = VersionSet::open(ctx(dir.path()), &|_| 7).unwrap();
            let n = vs.new_file_number();
            touch_table(dir.path(), n);
            vs.log_and_apply(VersionEdit { new_files: vec![file(0, n)], ..Default::default() }).unwrap();
            std::fs::remove_file(dir.path().join(filename::table_name(n))).unwrap();
        }
        match VersionSet::open(ctx(dir.path()), &|_| 7) {
            Err(Error::Corruption(msg)) => assert!(msg.contains(".sst"), "{msg}"),
            other => panic!("expected corruption, got {:?}", other.err()),
        }
        std::fs::write(dir.path().join("CURRENT"), b"garbage").unwrap();
        match VersionSet::open(ctx(dir.path()), &|_| 7) {
            Err(Error::Corruption(msg)) => assert!(msg.contains("CURRENT"), "{msg}"),
            other => panic!("expected corruption, got {:?}", other.err()),
        }
    }
}
