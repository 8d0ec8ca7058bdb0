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

pub mod edit;
pub mod set;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use edit::{NewFile, VersionEdit};
pub use set::VersionSet;

use crate::error::Result;
use crate::filename;
use crate::fs::FileSystem;
use crate::key::user_key;
use crate::sstable::{BlockCache, TableReader};

/// What every table of a database shares: where files live and the block cache.
pub struct TableContext {
    /// The file system.
    pub fs: Arc<dyn FileSystem>,
    /// The database directory.
    pub dir: PathBuf,
    /// The block cache, if enabled.
    pub cache: Option<Arc<BlockCache>>,
}

/// One live SSTable.
pub struct FileMeta {
    /// What the MANIFEST records about it.
    pub info: NewFile,
    ctx: Arc<TableContext>,
    table: Mutex<Option<Arc<TableReader>>>,
    obsolete: AtomicBool,
}

impl FileMeta {
    /// Describes the table `info` in the directory of `ctx`.
    pub fn new(info: NewFile, ctx: Arc<TableContext>) -> Arc<FileMeta> {
        Arc::new(FileMeta { info, ctx, table: Mutex::new(None), obsolete: AtomicBool::new(false) })
    }

    /// The file number.
    pub fn number(&self) -> u64 {
        self.info.number
    }

    /// The smallest user key in the table.
    pub fn smallest_user_key(&self) -> &[u8] {
        user_key(&self.info.smallest)
    }

    /// The largest user key in the table.
    pub fn largest_user_key(&self) -> &[u8] {
        user_key(&self.info.largest)
    }

    /// True if `key` falls in the table's key range.
    pub fn covers(&self, key: &[u8]) -> bool {
        self.smallest_user_key() <= key && key <= self.largest_user_key()
    }

    /// The open table, opening it on first use.
    pub fn table(&self) -> Result<Arc<TableReader>> {
        let mut slot = self.table.lock();
        if let Some(t) = &*slot {
            return Ok(t.clone());
        }
        let name = filename::table_name(self.info.number);
        let file = self.ctx.fs.open(&filename::path(&self.ctx.dir, &name))?;
        let table = Arc::new(TableReader::open(file, &name, self.ctx.cache.clone())?);
        *slot = Some(table.clone());
        Ok(table)
    }

    /// Marks the file for removal once no version or reader holds it any more.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }
}

impl Drop for FileMeta {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file that survives (say, a crash right here) is not in the
            // MANIFEST and is removed on the next open.
            let path = filename::path(&self.ctx.dir, &filename::table_name(self.info.number));
            let _ = self.ctx.fs.remove(&path);
        }
    }
}

/// The live tables, level by level.
#[derive(Clone, Default)]
pub struct Version {
    /// `levels[0]` newest first; deeper levels sorted by smallest key.
    pub levels: Vec<Vec<Arc<FileMeta>>>,
}

impl Version {
    /// An empty version with `num_levels` levels.
    pub fn new(num_levels: usize) -> Self {
        Version { levels: vec![Vec::new(); num_levels] }
    }

    /// Builds the version that follows this one after `edit`; new files are described
    /// with `ctx`.
    pub fn apply(&self, edit: &VersionEdit, ctx: &Arc<TableContext>) -> Version {
        let mut next = self.clone();
        for &(level, number) in &edit.deleted_files {
            if let Some(files) = next.levels.get_mut(level as usize) {
                files.retain(|f| f.number() != number);
            }
        }
        for f in &edit.new_files {
            let level = f.level as usize;
            if next.levels.len() <= level {
                next.levels.resize(level + 1, Vec::new());
            }
            next.levels[level].push(FileMeta::new(f.clone(), ctx.clone()));
        }
        for (level, files) in next.levels.iter_mut().enumerate() {
            if level == 0 {
                // Newest first: higher seqnos hold newer data.
                files.sort_by(|a, b| b.info.max_seq.cmp(&a.info.max_seq).then(b.number().cmp(&a.number())));
            } else {
                files.sort_by(|a, b| crate::key::compare_internal(&a.info.smallest, &b.info.smallest));
            }
        }
        next
    }

    /// Every live file.
    pub fn files(&self) -> impl Iterator<Item = &Arc<FileMeta>> {
        self.levels.iter().flatten()
    }

    /// The tables that may hold `user_key`, in the order a lookup must consult them
    /// (newest data first).
    pub fn tables_for_key<'a>(&'a self, user_key: &'a [u8]) -> impl Iterator<Item = &'a Arc<FileMeta>> + 'a {
        self.levels.iter().enumerate().flat_map(move |(level, files)| {
            let candidates: Box<dyn Iterator<Item = &'a Arc<FileMeta>>> = if level == 0 {
                Box::new(files.iter().filter(move |f| f.covers(user_key)))
            } else {
                // Sorted, non-overlapping: binary search for the one file that may hold it.
                let i = files.partition_point(|f| f.largest_user_key() < user_key);
                Box::new(files.get(i).filter(|f| f.covers(user_key)).into_iter())
            };
            candidates
        })
    }
}
