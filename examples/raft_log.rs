//! A Raft-style log store on strata: the storage half of a consensus node.
//!
//! A Raft node keeps an append-only log of entries (index, term, command), its vote
//! (which it must never forget once it has told a candidate), and the point below which
//! a snapshot replaced the log. Its storage must:
//!
//! - append entries durably before acknowledging them: one `WriteBatch` per append,
//!   written with `WriteOptions::new().sync(true)` (group-committed with concurrent
//!   appends, durable on return even though the database syncs nothing by default);
//! - persist the vote durably, in the same way;
//! - read ranges of entries in index order (to send them to followers);
//! - truncate the log's *suffix* when a new leader's entries conflict with it, and its
//!   *prefix* once a snapshot covers it: each is one `delete_range`, whatever number of
//!   entries it removes, atomic with the metadata written beside it;
//! - come back exactly so after a restart.
//!
//! Keys: `log/` + the index as 8 big-endian bytes (so key order is index order), and
//! `meta/vote`, `meta/purged`. `cargo run --example raft_log [DIR]` runs a scenario
//! and checks every step; `cargo test` runs it too (this example is built as a test).

use std::ops::Range;
use std::path::Path;

use strata::{Db, Options, WriteBatch, WriteOptions};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    index: u64,
    term: u64,
    command: Vec<u8>,
}

/// The vote a node cast in a term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Vote {
    term: u64,
    voted_for: u64,
}

const VOTE: &[u8] = b"meta/vote";
const PURGED: &[u8] = b"meta/purged";

fn log_key(index: u64) -> Vec<u8> {
    let mut key = b"log/".to_vec();
    key.extend_from_slice(&index.to_be_bytes());
    key
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64> {
    let field = bytes.get(at..at + 8).ok_or("stored record too short")?;
    Ok(u64::from_le_bytes(field.try_into()?))
}

/// A Raft log and vote store over one strata database.
struct LogStore {
    db: Db,
}

impl LogStore {
    fn open(path: &Path) -> Result<LogStore> {
        Ok(LogStore { db: Db::open(path, Options::default())? })
    }

    fn synced() -> WriteOptions {
        WriteOptions::new().sync(true)
    }

    /// Appends `entries` (consecutive indexes) durably, all or none.
    fn append(&self, entries: &[Entry]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for e in entries {
            let mut value = e.term.to_le_bytes().to_vec();
            value.extend_from_slice(&e.command);
            batch.put(log_key(e.index), value);
        }
        Ok(self.db.write_opt(batch, &Self::synced())?)
    }

    fn save_vote(&self, vote: Vote) -> Result<()> {
        let mut value = vote.term.to_le_bytes().to_vec();
        value.extend_from_slice(&vote.voted_for.to_le_bytes());
        let mut batch = WriteBatch::new();
        batch.put(VOTE, value);
        Ok(self.db.write_opt(batch, &Self::synced())?)
    }

    fn vote(&self) -> Result<Option<Vote>> {
        let Some(v) = self.db.get(VOTE)? else { return Ok(None) };
        Ok(Some(Vote { term: u64_at(&v, 0)?, voted_for: u64_at(&v, 8)? }))
    }

    /// The entries with indexes in `range`, in order.
    fn entries(&self, range: Range<u64>) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.db.range(log_key(range.start)..log_key(range.end)) {
            let (key, value) = item?;
            let index = u64::from_be_bytes(key.get(4..12).ok_or("bad log key")?.try_into()?);
            out.push(Entry { index, term: u64_at(&value, 0)?, command: value[8..].to_vec() });
        }
        Ok(out)
    }

    /// The first and last index held, if the log holds any entry.
    fn bounds(&self) -> Result<Option<(u64, u64)>> {
        let mut all = self.db.prefix("log/");
        let index = |item: Option<strata::Result<(strata::Bytes, strata::Bytes)>>| -> Result<Option<u64>> {
            match item {
                Some(entry) => Ok(Some(u64::from_be_bytes(entry?.0.get(4..12).ok_or("bad log key")?.try_into()?))),
                None => Ok(None),
            }
        };
        let first = index(all.next())?;
        let last = index(all.next_back())?.or(first);
        Ok(first.zip(last))
    }

    /// Removes every entry from `index` on (a conflicting suffix), durably.
    fn truncate_from(&self, index: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_range(log_key(index), log_key(u64::MAX));
        Ok(self.db.write_opt(batch, &Self::synced())?)
    }

    /// Removes every entry up to and including `index`, which a snapshot now covers,
    /// and records that, in one durable batch.
    fn purge_through(&self, index: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_range(log_key(0), log_key(index + 1));
        batch.put(PURGED, index.to_le_bytes());
        Ok(self.db.write_opt(batch, &Self::synced())?)
    }

    fn purged(&self) -> Result<Option<u64>> {
        self.db.get(PURGED)?.map(|v| u64_at(&v, 0)).transpose()
    }

    fn close(self) -> Result<()> {
        Ok(self.db.close()?)
    }
}

fn entries(indexes: Range<u64>, term: u64) -> Vec<Entry> {
    indexes.map(|index| Entry { index, term, command: format!("set x={index}").into_bytes() }).collect()
}

fn ensure(ok: bool, what: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}").into())
    }
}

/// The scenario: a follower's log through an election, a conflict, a snapshot and a
/// restart. Every step is checked; the first failed check is the error.
fn run(dir: &Path) -> Result<()> {
    let store = LogStore::open(dir)?;
    store.save_vote(Vote { term: 1, voted_for: 1 })?;
    for chunk in (1..=1000u64).step_by(100) {
        store.append(&entries(chunk..chunk + 100, 1))?;
    }
    ensure(store.bounds()? == Some((1, 1000)), "1000 entries appended")?;
    ensure(store.entries(10..20)? == entries(10..20, 1), "a range of entries reads back in order")?;

    // A new leader of term 2 (voted for here) has a different entry 901: everything from
    // 901 goes, then its entries are appended.
    store.save_vote(Vote { term: 2, voted_for: 3 })?;
    store.truncate_from(901)?;
    ensure(store.bounds()? == Some((1, 900)), "the conflicting suffix is gone")?;
    store.append(&entries(901..1201, 2))?;

    // A snapshot covers everything up to 500: the prefix goes in one write.
    store.purge_through(500)?;
    let check = |store: &LogStore, when: &str| -> Result<()> {
        ensure(store.bounds()? == Some((501, 1200)), &format!("{when}: log holds 501..=1200"))?;
        ensure(store.purged()? == Some(500), &format!("{when}: purged through 500"))?;
        ensure(store.entries(0..501)?.is_empty(), &format!("{when}: nothing below the snapshot"))?;
        let tail = store.entries(895..905)?;
        ensure(tail == [entries(895..901, 1), entries(901..905, 2)].concat(), &format!("{when}: terms across 900"))?;
        ensure(store.vote()? == Some(Vote { term: 2, voted_for: 3 }), &format!("{when}: the vote"))?;
        Ok(())
    };
    check(&store, "before restart")?;
    let stats = store.db.stats();
    println!(
        "{} synced writes (11 appends of 1300 entries, 2 votes, a truncation, a purge); log {:?}",
        stats.write_groups,
        store.bounds()?
    );
    store.close()?;

    let store = LogStore::open(dir)?;
    check(&store, "after restart")?;
    // Compaction reclaims what the range deletions covered, and nothing else.
    store.db.compact()?;
    check(&store, "after compaction")?;
    let entries_on_disk: u64 = store.db.tables().iter().map(|t| t.entries).sum();
    ensure(entries_on_disk == 700 + 2, "only live entries and the two meta keys stay on disk")?;
    println!("after restart and compaction: {entries_on_disk} entries on disk, as expected");
    store.close()
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<()> {
    let dir = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("strata-raft-log-{}", std::process::id())),
    };
    if dir.exists() {
        return Err(format!("{} exists; give a path for a new database", dir.display()).into());
    }
    let result = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!("raft log example: every check passed");
    Ok(())
}

#[test]
fn the_raft_log_scenario_passes() {
    let dir = tempfile::tempdir().unwrap();
    run(&dir.path().join("log")).unwrap();
}
