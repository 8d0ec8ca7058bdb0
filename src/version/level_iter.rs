//! [`LevelIter`]: one cursor over a whole sorted level (L1 and deeper), LevelDB's
//! "concatenating" two-level iterator.
//!
//! A deeper level's tables are sorted and do not overlap, so the level reads as one
//! sorted run: the cursor binary-searches the file list for the one table that can hold
//! a seek target, and walks from table to table at the edges. A merge over a database
//! then has one child per level instead of one per table, which keeps every step of
//! an iterator O(levels) however many tables a level holds. Tables are opened when the
//! cursor first enters them.
//!
//! It is a [`TwoLevelIter`] whose index is the file list ([`LevelFiles`]), as a table's
//! cursor is one whose index is the block index. Errors (a table that cannot be opened,
//! a damaged block) stop the cursor and stay in `status`.

use std::cmp::Ordering;
use std::sync::Arc;

use super::FileMeta;
use crate::cache::CacheFill;
use crate::error::{Error, Result};
use crate::iter::two_level::{IndexCursor, Step, TwoLevelIter};
use crate::iter::InternalIterator;
use crate::key::compare_internal;
use crate::sstable::TableIter;
use crate::util::hash::hash64;

/// A sorted level's file list as the first level of its cursor: each table is a part,
/// opened when the cursor enters it.
pub(crate) struct LevelFiles {
    /// The level's tables, sorted by key.
    files: Vec<Arc<FileMeta>>,
    /// The table the cursor is at (`files.len()` or more: none).
    at: usize,
    /// Which blocks read enter the block cache, for every table's cursor.
    fill: CacheFill,
}

impl LevelFiles {
    /// The table whose key range holds `user_key`, if any.
    fn file_for(&self, user_key: &[u8]) -> Option<&Arc<FileMeta>> {
        let at = super::first_not_ending_before(&self.files, user_key);
        self.files.get(at).filter(|f| f.covers(user_key))
    }
}

impl IndexCursor for LevelFiles {
    type Inner = TableIter;

    fn valid(&self) -> bool {
        self.at < self.files.len()
    }

    fn seek_to_first(&mut self) {
        self.at = 0;
    }

    fn seek_to_last(&mut self) {
        self.at = self.files.len().wrapping_sub(1);
    }

    fn seek(&mut self, target: &[u8]) {
        // The first table whose largest key is at or after the target.
        self.at = self.files.partition_point(|f| compare_internal(&f.info.summary.largest, target) == Ordering::Less);
    }

    fn next(&mut self) {
        self.at = self.at.wrapping_add(1);
    }

    fn prev(&mut self) {
        self.at = self.at.wrapping_sub(1);
    }

    fn status(&self) -> Result<()> {
        Ok(())
    }

    fn open(&mut self, _step: Step, slot: &mut Option<TableIter>) -> Result<()> {
        let file =
            self.files.get(self.at).ok_or_else(|| Error::InvalidArgument("level cursor past its files".into()))?;
        *slot = Some(file.table()?.iter_filling(self.fill.clone()));
        Ok(())
    }

    fn may_contain(&self, user_key: &[u8]) -> bool {
        match self.file_for(user_key) {
            Some(f) => f.table().map_or(true, |t| t.may_contain(user_key)),
            // No table's range holds the key.
            None => false,
        }
    }

    fn prefetch_filter(&self, user_key: &[u8]) {
        if let Some(t) = self.file_for(user_key).and_then(|f| f.open_table()) {
            t.prefetch_filter(hash64(user_key));
        }
    }

    fn sole_entry_block<'a>(&'a self, inner: &'a TableIter) -> Option<&'a [u8]> {
        inner.sole_entry_block()
    }
}

/// A cursor over the tables of one sorted, non-overlapping level.
pub(crate) type LevelIter = TwoLevelIter<LevelFiles>;

impl LevelIter {
    /// A cursor over `files`, which must be sorted and must not overlap.
    #[cfg(test)]
    pub(crate) fn over(files: Vec<Arc<FileMeta>>) -> LevelIter {
        LevelIter::filling(files, CacheFill::Always)
    }

    /// A cursor for one pass over the level (a compaction) that leaves the block
    /// cache alone.
    pub(crate) fn scan(files: Vec<Arc<FileMeta>>) -> LevelIter {
        LevelIter::filling(files, CacheFill::Never)
    }

    /// A cursor whose tables' blocks enter the block cache as `fill` says.
    pub(crate) fn filling(files: Vec<Arc<FileMeta>>, fill: CacheFill) -> LevelIter {
        TwoLevelIter::new(LevelFiles { files, at: 0, fill })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::Compression;
    use crate::filename;
    use crate::iter::InternalIterator;
    use crate::key::{make_internal_key, seek_key, user_key, ValueKind, MAX_SEQUENCE};
    use crate::sstable::format::TableSummary;
    use crate::sstable::{TableBuilder, TableOptions};
    use crate::version::{NewFile, TableContext};

    fn key(n: u32) -> Vec<u8> {
        format!("k{n:03}").into_bytes()
    }

    /// Four tables holding the even keys 0..20, 40..60, 60..80 and 100..120: gaps
    /// between the first two and before the last.
    fn level(dir: &std::path::Path) -> (Vec<Arc<FileMeta>>, Vec<Vec<u8>>) {
        let ctx = TableContext::on_os(dir);
        let mut files = Vec::new();
        let mut all = Vec::new();
        for (number, start) in [(1u64, 0u32), (2, 40), (3, 60), (4, 100)] {
            let path = filename::path(dir, &filename::table_name(number));
            let opts = TableOptions { block_size: 64, bloom_bits_per_key: 10, compression: Compression::None };
            let mut builder = TableBuilder::new(ctx.fs.create(&path).unwrap(), opts);
            let keys: Vec<Vec<u8>> = (start..start + 20).step_by(2).map(key).collect();
            for k in &keys {
                builder.add(&make_internal_key(k, 1, ValueKind::Put), k).unwrap();
            }
            let (size, _) = builder.finish().unwrap();
            let info = NewFile {
                level: 1,
                number,
                size,
                summary: TableSummary {
                    smallest: make_internal_key(&keys[0], 1, ValueKind::Put),
                    largest: make_internal_key(&keys[keys.len() - 1], 1, ValueKind::Put),
                    min_seq: 1,
                    max_seq: 1,
                    num_entries: keys.len() as u64,
                    num_deletions: 0,
                    num_range_deletions: 0,
                },
                written_at: 0,
            };
            files.push(FileMeta::new(info, ctx.clone()));
            all.extend(keys);
        }
        (files, all)
    }

    fn user_keys_forward(it: &mut LevelIter) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while it.valid() {
            out.push(user_key(it.key()).to_vec());
            it.next();
        }
        out
    }

    #[test]
    fn walks_the_level_as_one_run_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let (files, all) = level(dir.path());
        let mut it = LevelIter::over(files);
        it.seek_to_first();
        assert_eq!(user_keys_forward(&mut it), all);
        it.status().unwrap();

        it.seek_to_last();
        let mut back = Vec::new();
        while it.valid() {
            back.push(user_key(it.key()).to_vec());
            it.prev();
        }
        back.reverse();
        assert_eq!(back, all);
    }

    #[test]
    fn seeks_land_on_the_first_key_at_or_after_the_target_across_tables() {
        let dir = tempfile::tempdir().unwrap();
        let (files, all) = level(dir.path());
        let mut it = LevelIter::over(files);
        for n in 0..130 {
            let target = key(n);
            it.seek(&seek_key(&target, MAX_SEQUENCE));
            let want = all.iter().find(|k| **k >= target);
            assert_eq!(it.valid().then(|| user_key(it.key()).to_vec()).as_ref(), want, "seek to {n}");
            it.status().unwrap();
        }
        // And backwards from a gap between tables.
        it.seek_for_prev(&make_internal_key(&key(30), 0, ValueKind::Delete));
        assert_eq!(user_key(it.key()), key(18));
    }

    #[test]
    fn may_contain_rules_out_keys_no_table_covers() {
        let dir = tempfile::tempdir().unwrap();
        let (files, all) = level(dir.path());
        let it = LevelIter::over(files);
        for k in &all {
            it.prefetch_filter(k);
            assert!(it.may_contain(k), "a stored key is never ruled out");
        }
        for n in [30, 90, 130] {
            it.prefetch_filter(&key(n));
            assert!(!it.may_contain(&key(n)), "{n} lies in a gap between tables");
        }
    }

    #[test]
    fn a_table_that_cannot_be_opened_stops_the_cursor_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = level(dir.path());
        std::fs::remove_file(filename::path(dir.path(), &filename::table_name(2))).unwrap();
        let mut it = LevelIter::over(files);
        it.seek_to_first();
        let seen = user_keys_forward(&mut it);
        assert_eq!(seen.len(), 10, "the first table reads fine");
        assert!(it.status().is_err(), "the missing second table is an error, not the end");
    }
}
