//! openraft's log storage on strata.
//!
//! Promises openraft's contract: an append, a vote and a committed log id are durable when
//! the call returns (synced writes, group-committed by strata with concurrent writers); a
//! purge records the purged log id in the same batch that range-deletes the entries, so no
//! crash leaves a hole below the recorded point; `truncate_after` removes the suffix with
//! one range deletion, synced so a restart never resurrects a conflicting entry. All writes
//! go through one database in call order, so a vote is never overtaken by an entry of its
//! term.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::alias::{LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use strata::WriteBatch;

use crate::store::{from_json, io_err, synced, to_json, Store};
use crate::TypeConfig;

type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;

/// A key after every 8-byte index key.
const LOG_END: [u8; 9] = [0xFF; 9];

/// The Raft log of one node.
#[derive(Clone)]
pub struct LogStore {
    store: Store,
}

impl LogStore {
    /// The log store over a node's database.
    pub fn new(store: Store) -> LogStore {
        LogStore { store }
    }

    fn put_meta_synced<T: serde::Serialize>(&self, key: &str, value: &T) -> io::Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_in(&self.store.meta, key, to_json(value)?);
        self.store.db.write_opt(batch, &synced()).map_err(io_err)
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// `range` as half-open index bounds `[start, end)`; `end` None means unbounded.
fn index_bounds(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.checked_add(1),
        Bound::Excluded(&i) => Some(i),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let (start, end) = index_bounds(&range);
        let iter = match end {
            Some(end) => self.store.log.range(index_key(start)..index_key(end)),
            None => self.store.log.range(index_key(start).to_vec()..LOG_END.to_vec()),
        };
        iter.map(|item| from_json(&item.map_err(io_err)?.1)).collect()
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<TypeConfig>>> {
        self.store.get_meta("vote")
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let purged: Option<LogIdOf<TypeConfig>> = self.store.get_meta("purged")?;
        let last = match self.store.log.range::<&[u8], _>(..).next_back() {
            None => None,
            Some(item) => Some(from_json::<Entry>(&item.map_err(io_err)?.1)?.log_id()),
        };
        Ok(LogState { last_log_id: last.or(purged), last_purged_log_id: purged })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> io::Result<()> {
        self.put_meta_synced("vote", vote)
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> io::Result<()> {
        // Not synced: a lost committed id only means a restart re-applies less before it
        // learns the commit point again from the leader.
        let mut batch = WriteBatch::new();
        batch.put_in(&self.store.meta, "committed", to_json(&committed)?);
        self.store.db.write(batch).map_err(io_err)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<TypeConfig>>> {
        Ok(self.store.get_meta::<Option<LogIdOf<TypeConfig>>>("committed")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        for entry in entries {
            batch.put_in(&self.store.log, index_key(entry.index()), to_json(&entry)?);
        }
        // Synced: readable and durable on return, so the callback may fire at once.
        let result = self.store.db.write_opt(batch, &synced()).map_err(io_err);
        callback.io_completed(match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        });
        result
    }

    async fn truncate_after(&mut self, last: Option<LogIdOf<TypeConfig>>) -> io::Result<()> {
        let from = last.map_or(0, |l| l.index() + 1);
        let mut batch = WriteBatch::new();
        batch.delete_range_in(&self.store.log, index_key(from), LOG_END);
        self.store.db.write_opt(batch, &synced()).map_err(io_err)
    }

    async fn purge(&mut self, upto: LogIdOf<TypeConfig>) -> io::Result<()> {
        // The marker and the deletion in one batch: no crash separates them. Unsynced: a
        // purge lost to a power cut leaves entries a snapshot already covers.
        let mut batch = WriteBatch::new();
        batch.put_in(&self.store.meta, "purged", to_json(&upto)?);
        batch.delete_range_in(&self.store.log, index_key(0), index_key(upto.index() + 1));
        self.store.db.write(batch).map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_bounds_cover_every_range_form() {
        assert_eq!(index_bounds(&(3..7)), (3, Some(7)));
        assert_eq!(index_bounds(&(3..=7)), (3, Some(8)));
        assert_eq!(index_bounds(&(3..)), (3, None));
        assert_eq!(index_bounds(&(..)), (0, None));
        assert_eq!(index_bounds(&(..=u64::MAX)), (0, None));
    }
}
