//! Versions: which SSTables are live, level by level, at one moment.
//!
//! A [`Version`] is immutable. Every change (a flush adding an L0 table, a compaction
//! swapping files) builds a new one from the old plus a [`VersionEdit`], which the
//! [`VersionSet`] first appends to the MANIFEST. Readers hold an `Arc<Version>` for as
//! long as they read, and a version holds `Arc<FileMeta>`s, so a table stays on disk
//! while any reader may still open it: a file that left the current version is only
//! marked obsolete, and it is removed when the last `Arc` to its `FileMeta` drops.
//!
//! Level 0 holds tables flushed from memtables, whose key ranges may overlap; they are
//! kept newest first. Deeper levels (used by compaction) hold tables sorted by key.

pub(crate) mod edit;
pub(crate) mod level_iter;
pub(crate) mod set;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

pub(crate) use edit::{KeyspaceRecord, NewFile, VersionEdit, DEFAULT_KEYSPACE};
pub(crate) use level_iter::LevelIter;
pub(crate) use set::{VersionSet, DEFAULT_KEYSPACE_NAME};

use crate::error::Result;
use crate::filename;
use crate::fs::FileSystem;
use crate::key::{trailer, user_key, UserKeyRange, RANGE_BOUND_TRAILER};
use crate::range_del::FragmentedTombstones;
use crate::sstable::{BlockCache, TableReader};

/// What every table of a database shares: where files live and the block cache.
pub(crate) struct TableContext {
    /// The file system.
    pub fs: Arc<dyn FileSystem>,
    /// The database directory.
    pub dir: PathBuf,
    /// The block cache, if enabled.
    pub cache: Option<Arc<BlockCache>>,
    /// Open tables with [`FileSystem::open_mapped`] (`Options::mmap_reads`).
    pub mmap_reads: bool,
}

#[cfg(test)]
impl TableContext {
    /// Tables in `dir` on the real file system, without a cache or maps.
    pub(crate) fn on_os(dir: &std::path::Path) -> Arc<TableContext> {
        let fs = Arc::new(crate::fs::OsFileSystem);
        Arc::new(TableContext { fs, dir: dir.to_path_buf(), cache: None, mmap_reads: false })
    }
}

/// An SSTable file on disk, shared by every [`FileMeta`] that places it on a level (a
/// trivial move re-places a file without rewriting it). Removes the file when dropped
/// after being marked obsolete, i.e. once no version or reader can need it.
pub(crate) struct TableFile {
    number: u64,
    ctx: Arc<TableContext>,
    /// The open reader, once a read needed it; then read without a lock.
    table: OnceLock<Arc<TableReader>>,
    /// Serialises the first open.
    opening: Mutex<()>,
    obsolete: AtomicBool,
}

impl Drop for TableFile {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file that survives (say, a crash right here) is not in the
            // MANIFEST and is removed on the next open.
            let path = filename::path(&self.ctx.dir, &filename::table_name(self.number));
            let _ = self.ctx.fs.remove(&path);
        }
    }
}

/// One live SSTable on one level.
pub(crate) struct FileMeta {
    /// What the MANIFEST records about it.
    pub info: NewFile,
    file: Arc<TableFile>,
    /// The largest key is a range tombstone's excluded end (see [`FileMeta::ends_before`]).
    ends_at_range_bound: bool,
}

impl FileMeta {
    /// Describes the table `info` in the directory of `ctx`.
    pub(crate) fn new(info: NewFile, ctx: Arc<TableContext>) -> Arc<FileMeta> {
        let file = Arc::new(TableFile {
            number: info.number,
            ctx,
            table: OnceLock::new(),
            opening: Mutex::new(()),
            obsolete: AtomicBool::new(false),
        });
        Arc::new(FileMeta::placing(info, file))
    }

    fn placing(info: NewFile, file: Arc<TableFile>) -> FileMeta {
        let ends_at_range_bound = trailer(&info.summary.largest) == RANGE_BOUND_TRAILER;
        FileMeta { info, file, ends_at_range_bound }
    }

    /// The same file described by `info` (a new level, after a trivial move).
    fn moved(&self, info: NewFile) -> Arc<FileMeta> {
        Arc::new(FileMeta::placing(info, self.file.clone()))
    }

    /// The file number.
    pub(crate) fn number(&self) -> u64 {
        self.info.number
    }

    /// The smallest user key in the table.
    pub(crate) fn smallest_user_key(&self) -> &[u8] {
        user_key(&self.info.summary.smallest)
    }

    /// The largest user key in the table, or the end of the range tombstone that
    /// ends it (see [`FileMeta::ends_before`]).
    pub(crate) fn largest_user_key(&self) -> &[u8] {
        user_key(&self.info.summary.largest)
    }

    /// True if every key of the table sorts before `key`. A table whose last range
    /// tombstone reaches past its last point key ends just before the tombstone's
    /// (exclusive) end, which its largest key names with [`RANGE_BOUND_TRAILER`]: the
    /// next table of a level may start at that very key.
    #[inline]
    pub(crate) fn ends_before(&self, key: &[u8]) -> bool {
        self.largest_user_key() < key || self.ends_just_before(key)
    }

    /// True if the table's largest key is `key` as a range tombstone's excluded end.
    /// Checked after the plain comparison, and only for such tables: the common case
    /// costs a flag test, not a second key comparison.
    #[inline]
    fn ends_just_before(&self, key: &[u8]) -> bool {
        self.ends_at_range_bound && self.largest_user_key() == key
    }

    /// True if `key` falls in the table's key range, taking the largest key as
    /// included even where a range tombstone's end makes it excluded: a lookup that
    /// consults the table for that key finds nothing there, and the common case is
    /// spared a check on every lookup. [`FileMeta::ends_before`] is exact.
    #[inline]
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        self.smallest_user_key() <= key && key <= self.largest_user_key()
    }

    /// The table's range tombstones: opens it only if the MANIFEST says it holds some.
    pub(crate) fn range_tombstones(&self) -> Result<Option<Arc<FragmentedTombstones>>> {
        if self.info.summary.num_range_deletions == 0 {
            return Ok(None);
        }
        Ok(self.table()?.range_tombstones().cloned())
    }

    /// The table if it is open already; never opens it.
    pub(crate) fn open_table(&self) -> Option<&Arc<TableReader>> {
        self.file.table.get()
    }

    /// The open table, opening it on first use.
    pub(crate) fn table(&self) -> Result<&Arc<TableReader>> {
        if let Some(t) = self.file.table.get() {
            return Ok(t);
        }
        // First use: open under a lock so that concurrent readers open it once.
        let _opening = self.file.opening.lock();
        if let Some(t) = self.file.table.get() {
            return Ok(t);
        }
        let ctx = &self.file.ctx;
        let name = filename::table_name(self.info.number);
        let path = filename::path(&ctx.dir, &name);
        let file = if ctx.mmap_reads {
            // SAFETY: a table file is complete before a version names it and is never
            // written again; the directory lock keeps other strata processes out, and
            // whoever set `Options::mmap_reads` promised that nothing else modifies them.
            unsafe { ctx.fs.open_mapped(&path)? }
        } else {
            ctx.fs.open(&path)?
        };
        let table = Arc::new(TableReader::open(file, &name, ctx.cache.clone())?);
        Ok(self.file.table.get_or_init(|| table))
    }

    /// Marks the file for removal once no version or reader holds it any more.
    pub(crate) fn mark_obsolete(&self) {
        self.file.obsolete.store(true, Ordering::Release);
    }
}

/// The index of the first of `files` (sorted, disjoint: a deeper level) that does not
/// end before `user_key`. Searched by largest user key, as if every table's were
/// inclusive, then corrected for the one table that may end *at* `user_key` exclusively:
/// the search stays the plain comparison LLVM inlines into every get.
#[inline]
pub(crate) fn first_not_ending_before(files: &[Arc<FileMeta>], user_key: &[u8]) -> usize {
    let i = files.partition_point(|f| f.largest_user_key() < user_key);
    i + usize::from(files.get(i).is_some_and(|f| f.ends_just_before(user_key)))
}

/// The live tables, level by level.
#[derive(Clone, Default)]
pub(crate) struct Version {
    /// `levels[0]` newest first; deeper levels sorted by smallest key.
    pub levels: Vec<Vec<Arc<FileMeta>>>,
}

impl Version {
    /// An empty version with `num_levels` levels.
    pub(crate) fn new(num_levels: usize) -> Self {
        Version { levels: vec![Vec::new(); num_levels] }
    }

    /// Builds the version that follows this one after `edit`; new files are described
    /// with `ctx`.
    pub(crate) fn apply(&self, edit: &VersionEdit, ctx: &Arc<TableContext>) -> Version {
        let mut next = self.clone();
        let mut removed = Vec::new();
        for &(level, number) in &edit.deleted_files {
            if let Some(files) = next.levels.get_mut(level as usize) {
                if let Some(i) = files.iter().position(|f| f.number() == number) {
                    removed.push(files.remove(i));
                }
            }
        }
        for f in &edit.new_files {
            let level = f.level as usize;
            if next.levels.len() <= level {
                next.levels.resize(level + 1, Vec::new());
            }
            let meta = match removed.iter().find(|r| r.number() == f.number) {
                Some(old) => old.moved(f.clone()),
                None => FileMeta::new(f.clone(), ctx.clone()),
            };
            next.levels[level].push(meta);
        }
        for (level, files) in next.levels.iter_mut().enumerate() {
            if level == 0 {
                // Newest first: higher seqnos hold newer data.
                files.sort_by(|a, b| {
                    b.info.summary.max_seq.cmp(&a.info.summary.max_seq).then(b.number().cmp(&a.number()))
                });
            } else {
                files.sort_by(|a, b| crate::key::compare_internal(&a.info.summary.smallest, &b.info.summary.smallest));
            }
        }
        next
    }

    /// The files of `level` whose user-key range meets `[smallest, largest]`.
    pub(crate) fn overlapping(&self, level: usize, smallest: &[u8], largest: &[u8]) -> Vec<Arc<FileMeta>> {
        self.levels
            .get(level)
            .map(|files| {
                files.iter().filter(|f| f.smallest_user_key() <= largest && !f.ends_before(smallest)).cloned().collect()
            })
            .unwrap_or_default()
    }

    /// Bytes of tables on `level`.
    pub(crate) fn level_bytes(&self, level: usize) -> u64 {
        self.levels.get(level).map_or(0, |files| files.iter().map(|f| f.info.size).sum())
    }

    /// Checks the shape every strategy relies on: levels 1 and deeper hold tables sorted
    /// by key that share no user key, and L0 is ordered newest first. Describes the first
    /// violation.
    pub(crate) fn check_levels(&self) -> Result<(), String> {
        for w in self.levels.first().map_or(&[][..], |l| &l[..]).windows(2) {
            if w[0].info.summary.max_seq < w[1].info.summary.max_seq {
                return Err(format!("L0 out of age order: {} before {}", w[0].number(), w[1].number()));
            }
        }
        for (level, files) in self.levels.iter().enumerate().skip(1) {
            for w in files.windows(2) {
                if !w[0].ends_before(w[1].smallest_user_key()) {
                    return Err(format!("L{level} tables {} and {} overlap", w[0].number(), w[1].number()));
                }
            }
        }
        Ok(())
    }

    /// `Db::approximate_size`: bytes of the tables holding keys of `range`, whole for
    /// a table inside it, from the index block for one across an end.
    pub(crate) fn approximate_size(&self, range: &UserKeyRange) -> u64 {
        if range.is_empty() {
            return 0;
        }
        let mut total = 0;
        for file in self.files() {
            let (first, last) = (file.smallest_user_key(), file.largest_user_key());
            if !range.overlaps(first, last) {
                continue;
            }
            total += if range.contains_all(first, last) {
                file.info.size
            } else {
                // A table that cannot be read is estimated at its whole size.
                file.table().and_then(|t| t.approximate_bytes(range)).unwrap_or(file.info.size)
            };
        }
        total
    }

    /// Every live file.
    pub(crate) fn files(&self) -> impl Iterator<Item = &Arc<FileMeta>> {
        self.levels.iter().flatten()
    }

    /// The tables that may hold `user_key`, in the order a lookup must consult them
    /// (newest data first).
    pub(crate) fn tables_for_key<'a>(
        &'a self,
        user_key: &'a [u8],
    ) -> impl Iterator<Item = (usize, &'a Arc<FileMeta>)> + 'a {
        self.levels.iter().enumerate().flat_map(move |(level, files)| {
            // L0 files overlap: every one is a candidate. Deeper levels are sorted and
            // non-overlapping: binary search for the one file that may hold the key.
            let range = if level == 0 || files.is_empty() {
                0..files.len()
            } else {
                let i = first_not_ending_before(files, user_key);
                i..(i + 1).min(files.len())
            };
            files[range].iter().filter(move |f| f.covers(user_key)).map(move |f| (level, f))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{make_internal_key, range_bound_key, ValueKind};
    use crate::sstable::format::TableSummary;

    fn file(number: u64, smallest: Vec<u8>, largest: Vec<u8>) -> NewFile {
        let summary = TableSummary { smallest, largest, max_seq: 1, ..TableSummary::default() };
        NewFile { level: 1, number, size: 1, summary, written_at: 0 }
    }

    #[test]
    fn a_table_that_a_range_tombstone_ends_stops_before_the_tombstones_end() {
        let point = |k: &str| make_internal_key(k.as_bytes(), 1, ValueKind::Put);
        let ctx = TableContext::on_os(&std::env::temp_dir());
        // Table 1 ends with a tombstone up to "m" (excluded); table 2 starts at "m".
        let files = vec![file(1, point("a"), range_bound_key(b"m")), file(2, point("m"), point("z"))];
        let v = Version::new(2).apply(&VersionEdit { new_files: files, ..VersionEdit::default() }, &ctx);
        v.check_levels().unwrap();
        let at = |k: &str| v.tables_for_key(k.as_bytes()).map(|(_, f)| f.number()).collect::<Vec<_>>();
        assert_eq!((at("l"), at("m"), at("a"), at("z")), (vec![1], vec![2], vec![1], vec![2]));
        assert_eq!(v.overlapping(1, b"m", b"n").len(), 1);
        assert_eq!(v.overlapping(1, b"b", b"m").len(), 2);
        let f1 = &v.levels[1][0];
        assert!(f1.ends_before(b"m") && !f1.ends_before(b"l") && f1.covers(b"lzz"));
        // Had table 1 held the key "m" itself, the two would overlap.
        let files = vec![file(1, point("a"), point("m")), file(2, point("m"), point("z"))];
        let v = Version::new(2).apply(&VersionEdit { new_files: files, ..VersionEdit::default() }, &ctx);
        assert!(v.check_levels().is_err());
    }
}
