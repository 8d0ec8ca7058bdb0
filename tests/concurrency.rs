//! Several writers, readers and iterators at once while flushes and compactions run:
//! every reader's view must be consistent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata::{Compaction, Db, Options, WriteBatch};

#[test]
fn writers_readers_iterators_and_compaction_together() {
    for strategy in [Compaction::leveled(), Compaction::tiered()] {
        run(strategy);
    }
}

fn run(strategy: Compaction) {
    let dir = tempfile::tempdir().unwrap();
    let db =
        Db::open(dir.path(), Options::default().memtable_size(32 * 1024).block_size(512).compaction(strategy)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 3000;

    // Each writer owns keys "w{id}-{n}" and writes them in pairs through a batch: the
    // pair's two keys must always be seen together, and a writer's keys appear in order.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for n in (0..PER_WRITER).step_by(2) {
                    let mut b = WriteBatch::new();
                    b.put(format!("w{w}-{n:06}"), n.to_string());
                    b.put(format!("w{w}-{:06}", n + 1), (n + 1).to_string());
                    db.write(b).unwrap();
                }
            })
        })
        .collect();

    let checkers: Vec<_> = (0..2)
        .map(|c| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rounds = 0;
                while !stop.load(Ordering::Acquire) || rounds < 3 {
                    for w in 0..WRITERS {
                        let prefix = format!("w{w}-");
                        let keys: Vec<u64> = if c == 0 {
                            db.prefix(&prefix)
                                .map(|r| r.unwrap())
                                .map(|(_, v)| std::str::from_utf8(&v).unwrap().parse().unwrap())
                                .collect()
                        } else {
                            let snap = db.snapshot();
                            let mut v: Vec<u64> = snap
                                .prefix(&prefix)
                                .rev()
                                .map(|r| r.unwrap())
                                .map(|(_, v)| std::str::from_utf8(&v).unwrap().parse().unwrap())
                                .collect();
                            v.reverse();
                            // A snapshot's point reads agree with its scan.
                            if let Some(&last) = v.last() {
                                assert!(snap.get(format!("w{w}-{last:06}")).unwrap().is_some());
                                assert!(snap.get(format!("w{w}-{:06}", last + 1)).unwrap().is_none());
                            }
                            v
                        };
                        // A prefix of the writer's sequence, whole pairs only.
                        assert_eq!(keys.len() % 2, 0, "torn batch seen: {} keys", keys.len());
                        for (i, k) in keys.iter().enumerate() {
                            assert_eq!(*k, i as u64);
                        }
                    }
                    rounds += 1;
                }
            })
        })
        .collect();

    let compactor = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                db.compact().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };

    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    for c in checkers {
        c.join().unwrap();
    }
    compactor.join().unwrap();
    assert_eq!(db.range::<&str, _>(..).count() as u64, WRITERS * PER_WRITER);
    let stats = db.stats();
    assert!(stats.write_groups <= WRITERS * PER_WRITER / 2);
    assert!(stats.compaction_bytes_written > 0);
}

/// `close` on one clone while others are writing: the directory is released only once
/// no write can reach the WAL any more, so a `Db::open` right after it sees every write
/// that was acknowledged, and the writers get errors, not lost writes.
#[test]
fn close_while_clones_write_releases_the_directory_only_after_the_last_append() {
    for round in 0..20u64 {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default().memtable_size(64 * 1024)).unwrap();
        let writers: Vec<_> = (0..3u64)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let mut acked = 0u64;
                    while db.put(format!("w{w}-{acked:06}"), format!("value {acked}")).is_ok() {
                        acked += 1;
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(2 + round % 5));
        db.close().unwrap();
        let reopened = Db::open(dir.path(), Options::default()).unwrap();
        for (w, writer) in writers.into_iter().enumerate() {
            let acked = writer.join().unwrap();
            for n in 0..acked {
                assert!(
                    reopened.get(format!("w{w}-{n:06}")).unwrap().is_some(),
                    "round {round}: writer {w}'s acknowledged write {n} of {acked} is missing"
                );
            }
        }
    }
}
