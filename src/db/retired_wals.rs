//! [`RetiredWals`]: the WALs a memtable switch retired without syncing them (under
//! point-in-time recovery; see `db::retires_wals_unsynced`), until a sync makes
//! them durable or a flush makes them obsolete.
//!
//! What it promises: when [`RetiredWals::sync`] returns `Ok`, every log retired before
//! the call began is durable, even if another thread's sync of some of them was still
//! running when the call began (it waits for that sync). And a failed sync is sticky:
//! Linux reports a write-back error to one fsync only and marks the lost pages clean, so
//! a later fsync of the same file would "succeed" without them; every later call fails.
//!
//! Why two locks: a sync of whole retired logs can take long (early write-back is off
//! for them), and a switch, which adds a log while it holds the writers' locks, must not
//! wait for it. The list's lock is only ever held briefly; syncs hold `syncing`.

use std::io;

use parking_lot::Mutex;

use crate::log::LogWriter;

/// The unsynced retired WALs, oldest first, with their numbers.
#[derive(Default)]
pub(crate) struct RetiredWals {
    list: Mutex<List>,
    /// Held for the whole of a sync, so that a sync waits for the one in progress.
    syncing: Mutex<()>,
}

#[derive(Default)]
struct List {
    logs: Vec<(u64, LogWriter)>,
    /// A sync failed: the logs' durability is unknown from then on.
    failed: bool,
}

impl RetiredWals {
    /// Adds the log numbered `number`, retired without a sync (and `retire`d).
    pub(crate) fn push(&self, number: u64, log: LogWriter) {
        self.list.lock().logs.push((number, log));
    }

    /// Syncs every log retired so far, oldest first, and forgets them.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let _one_at_a_time = self.syncing.lock();
        let mut logs = {
            let mut list = self.list.lock();
            if list.failed {
                return Err(io::Error::other("an earlier sync of a retired WAL failed"));
            }
            std::mem::take(&mut list.logs)
        };
        for (_, log) in &mut logs {
            if let Err(e) = log.sync() {
                self.list.lock().failed = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Forgets the logs numbered in `obsolete` (a flush made them so; they are about to
    /// be deleted) without syncing them. One a sync holds right now is synced anyway.
    pub(crate) fn forget(&self, obsolete: &[u64]) {
        self.list.lock().logs.retain(|(n, _)| !obsolete.contains(n));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::fs::FileSystem;
    use crate::testing::{FaultyFs, Op};

    fn log(fs: &FaultyFs, n: u64) -> LogWriter {
        // SAFETY: nothing else touches this file system.
        let mut log = LogWriter::new(unsafe { fs.create_log(Path::new(&format!("/d/{n}.log"))).unwrap() });
        log.add_record(b"record").unwrap();
        log
    }

    #[test]
    fn a_sync_makes_every_retired_log_durable_and_a_failed_one_is_sticky() {
        let fs = Arc::new(FaultyFs::new());
        fs.create_dir_all(Path::new("/d")).unwrap();
        let retired = RetiredWals::default();
        retired.push(1, log(&fs, 1));
        retired.push(2, log(&fs, 2));
        retired.push(3, log(&fs, 3));
        retired.forget(&[2]);
        retired.sync().unwrap();
        fs.sync_dir(Path::new("/d")).unwrap();
        fs.crash();
        fs.restart();
        // 1 and 3 were synced; 2 was forgotten unsynced and lost its record.
        for (n, want) in [(1, true), (2, false), (3, true)] {
            let bytes = fs.read_all(Path::new(&format!("/d/{n}.log"))).unwrap();
            assert_eq!(bytes.windows(6).any(|w| w == b"record"), want, "log {n}");
        }

        retired.push(4, log(&fs, 4));
        fs.fail_every(Op::Sync, true);
        assert!(retired.sync().is_err());
        fs.heal();
        retired.push(5, log(&fs, 5));
        assert!(retired.sync().is_err(), "the failure is sticky");
    }

    /// A sync that finds the list emptied by another one still running waits for it:
    /// when it returns, the log is durable (a power loss right after keeps it).
    #[test]
    fn a_sync_waits_for_the_one_in_progress() {
        let fs = Arc::new(FaultyFs::new());
        fs.create_dir_all(Path::new("/d")).unwrap();
        let retired = RetiredWals::default();
        retired.push(1, log(&fs, 1));
        fs.sync_dir(Path::new("/d")).unwrap();
        fs.set_sync_delay(std::time::Duration::from_millis(300));
        std::thread::scope(|s| {
            let first = s.spawn(|| retired.sync());
            // The first sync has taken the list and sleeps in its fsync.
            std::thread::sleep(std::time::Duration::from_millis(100));
            retired.sync().unwrap();
            fs.crash();
            // (The first one may see the power go off after its own fsync: either way.)
            let _ = first.join().unwrap();
        });
        fs.restart();
        let bytes = fs.read_all(Path::new("/d/1.log")).unwrap();
        assert!(bytes.windows(6).any(|w| w == b"record"), "the second sync returned before the log was durable");
    }
}
