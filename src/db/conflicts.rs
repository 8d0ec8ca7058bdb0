//! [`ConflictLog`]: the keys recent commits wrote, by seqno, so that an optimistic
//! transaction's commit can tell whether anyone wrote what it read or wrote since it
//! started, without reading the database.
//!
//! The log records only while a transaction is live: with none, a write group pays one
//! atomic load and records nothing. The
//! first transaction to begin sets `floor` to the visible seqno: every write above it
//! is recorded from then on. The log is bounded (`Options::transaction_log_bytes`): when
//! it is full the oldest records go and `floor` rises past them, and a transaction that
//! started below `floor` can no longer be checked, so its commit reports a conflict
//! (RocksDB's optimistic transactions refuse the same way when the memtable history
//! they check against is gone). A retry starts above the new floor.
//!
//! Why no write escapes both the log and a snapshot: a write group's leader stores the
//! visible seqno and then loads the count of live transactions; a transaction begins by
//! incrementing that count and then loading the visible seqno (its snapshot), all four
//! accesses sequentially consistent. So either the leader sees the transaction counted
//! (and records the group's keys, before the group ends and so before any later group
//! checks a commit), or the transaction reads a seqno that includes the group (whose
//! writes are then no conflict): Dekker's pattern. Groups commit one at a time, so the
//! records of every earlier group are in place when a commit is checked.

use std::collections::{HashMap, VecDeque};

use crate::batch::WriteBatch;
use crate::key::ValueKind;

/// The key the log records for `key` of keyspace `keyspace`: its id (4 bytes, big
/// endian) and the key, so that keys of different keyspaces never meet and a range of
/// one keyspace covers only keys of it.
pub(crate) fn conflict_key(keyspace: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    k.extend_from_slice(&keyspace.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// What a transaction's commit is checked on: its snapshot and every key it read or
/// wrote.
pub(crate) struct ConflictCheck {
    /// The seqno the transaction read at.
    pub start: u64,
    /// The keys it read or wrote (as [`conflict_key`]s).
    pub keys: Vec<Vec<u8>>,
}

/// One recorded write, oldest first, for eviction.
enum Record {
    Key(u64, Vec<u8>),
    Range(u64, Vec<u8>, Vec<u8>),
}

/// See the module comment.
#[derive(Default)]
pub(crate) struct ConflictLog {
    /// Live transactions.
    active: usize,
    /// Every write with a higher seqno is recorded (while `active > 0`).
    floor: u64,
    /// The newest recorded seqno of each key.
    newest: HashMap<Vec<u8>, u64>,
    /// Recorded range deletions: (seqno, start, end), oldest first.
    ranges: VecDeque<(u64, Vec<u8>, Vec<u8>)>,
    order: VecDeque<Record>,
    bytes: usize,
}

/// Bytes charged per record beyond its keys (the maps' and queue's entries).
const RECORD_OVERHEAD: usize = 64;

impl ConflictLog {
    /// A transaction begins at `visible` (the caller holds the lock and reads the
    /// visible seqno under it).
    pub(crate) fn begin(&mut self, visible: u64) {
        if self.active == 0 {
            self.floor = visible;
        }
        self.active += 1;
    }

    /// A transaction ended (committed or dropped). The last one clears the log.
    pub(crate) fn end(&mut self) {
        debug_assert!(self.active > 0, "a transaction ended twice");
        self.active = self.active.saturating_sub(1);
        if self.active == 0 {
            *self = ConflictLog::default();
        }
    }

    /// True while a transaction is live, so commits must record their keys.
    pub(crate) fn tracking(&self) -> bool {
        self.active > 0
    }

    /// True if a write recorded after `check.start`, or one of `pending` (writes of the
    /// same group, committing after it), touched a key of `check`; also when the log no
    /// longer reaches back to `check.start`.
    pub(crate) fn conflicts(&self, check: &ConflictCheck, pending: &Pending) -> bool {
        if check.start < self.floor {
            return true;
        }
        check.keys.iter().any(|k| {
            self.newest.get(k).is_some_and(|&seq| seq > check.start)
                || self.ranges.iter().any(|(seq, s, e)| *seq > check.start && s <= k && k < e)
                || pending.touches(k)
        })
    }

    /// Records the writes of `batch`, whose first entry has seqno `seq`, evicting the
    /// oldest records beyond `limit` bytes.
    pub(crate) fn record(&mut self, batch: &WriteBatch, limit: usize) {
        for (seq, entry) in (batch.seq()..).zip(batch.iter().flatten()) {
            let record = match entry.kind {
                ValueKind::RangeDelete => {
                    let (start, end) =
                        (conflict_key(entry.keyspace, entry.key), conflict_key(entry.keyspace, entry.value));
                    self.bytes += start.len() + end.len() + RECORD_OVERHEAD;
                    self.ranges.push_back((seq, start.clone(), end.clone()));
                    Record::Range(seq, start, end)
                }
                ValueKind::Put | ValueKind::Delete => {
                    let key = conflict_key(entry.keyspace, entry.key);
                    self.bytes += 2 * key.len() + RECORD_OVERHEAD;
                    self.newest.insert(key.clone(), seq);
                    Record::Key(seq, key)
                }
            };
            self.order.push_back(record);
        }
        while self.bytes > limit {
            let Some(oldest) = self.order.pop_front() else { break };
            match oldest {
                Record::Key(seq, key) => {
                    self.bytes = self.bytes.saturating_sub(2 * key.len() + RECORD_OVERHEAD);
                    if self.newest.get(&key) == Some(&seq) {
                        self.newest.remove(&key);
                    }
                    self.floor = self.floor.max(seq);
                }
                Record::Range(seq, start, end) => {
                    self.bytes = self.bytes.saturating_sub(start.len() + end.len() + RECORD_OVERHEAD);
                    // Ranges are recorded and evicted in seqno order: it is the oldest.
                    if self.ranges.front().is_some_and(|(s, _, _)| *s == seq) {
                        self.ranges.pop_front();
                    }
                    self.floor = self.floor.max(seq);
                }
            }
        }
    }
}

/// The writes of a group's members ahead of the one being checked: they commit after
/// every transaction of the group began.
#[derive(Default)]
pub(crate) struct Pending {
    keys: std::collections::HashSet<Vec<u8>>,
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Pending {
    /// Adds the writes of `batch`.
    pub(crate) fn add(&mut self, batch: &WriteBatch) {
        for entry in batch.iter().flatten() {
            match entry.kind {
                ValueKind::RangeDelete => self
                    .ranges
                    .push((conflict_key(entry.keyspace, entry.key), conflict_key(entry.keyspace, entry.value))),
                ValueKind::Put | ValueKind::Delete => {
                    self.keys.insert(conflict_key(entry.keyspace, entry.key));
                }
            }
        }
    }

    fn touches(&self, key: &[u8]) -> bool {
        self.keys.contains(key) || self.ranges.iter().any(|(s, e)| s.as_slice() <= key && key < e.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: u64, keys: &[&str]) -> WriteBatch {
        let mut b = WriteBatch::new();
        for k in keys {
            b.put(k, "v");
        }
        b.set_seq(seq);
        b
    }

    fn check(start: u64, keys: &[&str]) -> ConflictCheck {
        ConflictCheck { start, keys: keys.iter().map(|k| conflict_key(0, k.as_bytes())).collect() }
    }

    #[test]
    fn writes_after_the_start_conflict_and_eviction_raises_the_floor() {
        let mut log = ConflictLog::default();
        log.begin(10);
        assert!(log.tracking());
        log.record(&batch(11, &["a", "b"]), 1 << 20); // a at 11, b at 12
        let none = Pending::default();
        assert!(log.conflicts(&check(10, &["b"]), &none) && log.conflicts(&check(11, &["b"]), &none));
        assert!(!log.conflicts(&check(12, &["b"]), &none), "a transaction that began after saw it");
        assert!(!log.conflicts(&check(10, &["c"]), &none));
        let mut range = WriteBatch::new();
        range.delete_range("m", "p");
        range.set_seq(13);
        log.record(&range, 1 << 20);
        assert!(log.conflicts(&check(12, &["n"]), &none) && !log.conflicts(&check(12, &["p"]), &none));
        assert!(!log.conflicts(&check(13, &["n"]), &none));
        let mut pending = Pending::default();
        pending.add(&batch(0, &["z"]));
        assert!(log.conflicts(&check(13, &["z"]), &pending), "an earlier member of the group wrote it");
        // A tiny limit evicts everything: the floor passes the old transactions.
        log.record(&batch(14, &["q"]), 0);
        assert!(log.conflicts(&check(12, &["unrelated"]), &none), "below the floor: cannot be checked");
        assert!(!log.conflicts(&check(14, &["unrelated"]), &none));
        log.end();
        assert!(!log.tracking());
        assert_eq!((log.newest.len(), log.order.len(), log.bytes), (0, 0, 0));
    }

    #[test]
    fn keyspaces_do_not_meet() {
        let mut log = ConflictLog::default();
        log.begin(10);
        let mut b = WriteBatch::new();
        b.put_to(1, b"k", b"v");
        b.delete_range_to(2, b"a", b"z");
        b.set_seq(11);
        log.record(&b, 1 << 20);
        let none = Pending::default();
        let at = |keyspace, key: &str| ConflictCheck { start: 10, keys: vec![conflict_key(keyspace, key.as_bytes())] };
        assert!(log.conflicts(&at(1, "k"), &none));
        assert!(!log.conflicts(&at(0, "k"), &none), "the same key in another keyspace");
        assert!(log.conflicts(&at(2, "m"), &none));
        assert!(!log.conflicts(&at(1, "m"), &none) && !log.conflicts(&at(3, "m"), &none));
    }
}
