//! `Db::checkpoint`: a consistent, openable copy of the database as of one instant,
//! made while writes go on, every keyspace as of the same instant.
//!
//! The instant is a read view, as every read takes one (`DbInner::read_view`): a pinned
//! super version and the visible seqno loaded after it. Every write that returned
//! before the call has a seqno at or below it, and a write group becomes visible whole,
//! so the view holds no torn batch.
//!
//! The copy: the view's tables are linked into the new directory (hard links where the
//! file system allows, copies otherwise); they never change, and the pinned view keeps
//! a compaction from deleting them meanwhile. The view's memtables are not copied as
//! WALs, which are still being appended to: their entries up to the seqno are written
//! as one new L0 table instead. A MANIFEST holding one edit that names every table, and
//! `CURRENT` naming it, complete the copy. `CURRENT` comes last and everything before
//! it is synced, so a crash mid-checkpoint leaves a directory without `CURRENT`
//! (`open_read_only` refuses it; delete it and checkpoint again), never a wrong one.
//!
//! A database opened read-only can be checkpointed too (it writes only into the new
//! directory): `strata checkpoint` copies a database another process holds that way.
//! If that process deletes one of the view's tables before it is linked, the link
//! fails and so does the checkpoint; it is never a copy of something else.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::flush::{table_options, write_table_from};
use super::recovery::create_dir_durably;
use super::tree::Tree;
use super::DbInner;
use crate::error::{Error, Result};
use crate::filename;
use crate::iter::merge::MergingIterator;
use crate::iter::InternalIterator;
use crate::key::trailer;
use crate::version::{KeyspaceRecord, TableContext, VersionEdit, VersionSet, DEFAULT_KEYSPACE};

impl DbInner {
    pub(crate) fn checkpoint(&self, dir: &Path) -> Result<()> {
        self.check_open()?;
        if self.fs.exists(dir) {
            return Err(Error::InvalidArgument(format!("checkpoint directory {} already exists", dir.display())));
        }
        // One instant across keyspaces: every view and the seqno taken under one hold
        // of `state`, which every memtable switch, keyspace creation and drop needs, so
        // no batch can be in one view and not in another. (The seqno is still loaded
        // after the views, as `read_view` explains.)
        let (trees, views, seq) = {
            let st = self.state.lock();
            let trees: Vec<Arc<Tree>> = st.trees.iter().map(|t| t.tree.clone()).collect();
            let views: Vec<_> = st.trees.iter().map(|t| t.sv.clone()).collect();
            (trees, views, self.visible_seq.load(std::sync::atomic::Ordering::Acquire))
        };
        create_dir_durably(self.fs.as_ref(), dir)?;
        let ctx = TableContext { fs: self.fs.clone(), dir: dir.to_path_buf(), cache: None, mmap_reads: false };

        let mut edits = Vec::new();
        for (tree, sv) in trees.iter().zip(&views) {
            let mut edit = VersionEdit { keyspace: tree.id, log_numbers: vec![(tree.id, 0)], ..VersionEdit::default() };
            if tree.id != DEFAULT_KEYSPACE {
                let options = tree.opts.encode_keyspace();
                edit.new_keyspaces.push(KeyspaceRecord { id: tree.id, name: tree.name.clone(), options });
            }
            for file in sv.version.files() {
                let name = filename::table_name(file.number());
                self.fs.link(&filename::path(&self.dir, &name), &filename::path(dir, &name))?;
                edit.new_files.push(file.info.clone());
            }
            // The memtables' entries and range tombstones the view sees, merged in key
            // order straight into one table (no copy of the memtables).
            let sources = || std::iter::once(&sv.mem).chain(&sv.imms);
            let mut merged =
                MergingIterator::new(sources().map(|m| Box::new(m.iter()) as Box<dyn InternalIterator>).collect());
            let visible = |ikey: &[u8]| trailer(ikey) >> 8 <= seq;
            let range_dels = sources()
                .filter_map(|m| m.range_tombstones())
                .flat_map(|r| r.tombstones().iter().filter(|t| t.seq <= seq).cloned().collect::<Vec<_>>())
                .collect();
            let number = self.file_numbers.fetch_add(1, Ordering::SeqCst);
            if let Some(table) = write_table_from(
                &ctx,
                &tree.opts,
                table_options(&tree.opts, 0),
                &mut merged,
                visible,
                range_dels,
                number,
            )? {
                edit.new_files.push(table);
            }
            edits.push(edit);
        }
        self.fs.sync_dir(dir)?;
        // No WAL: everything is in tables. Numbers continue past every file named here.
        let manifest_number = self.file_numbers.fetch_add(1, Ordering::SeqCst);
        let first = &mut edits[0];
        first.last_sequence = Some(seq);
        first.next_file_number = Some(manifest_number + 1);
        // Written only where keyspaces were made, as `snapshot_edits` does: a copy of a
        // database without any stays readable by a strata from before keyspaces.
        first.next_keyspace_id = trees.iter().map(|t| t.id.saturating_add(1)).max().filter(|&n| n > 1);
        VersionSet::create_in(&ctx, manifest_number, &edits)
    }
}
