//! Concurrency stress: writers, point readers, scanners and snapshot readers at once for
//! a bounded time, with a tiny memtable keeping flushes and compactions busy. Every view
//! must be consistent:
//! - writer `w` writes, in one batch, `w{w}-a` = `w{w}-b` = n and a log entry
//!   `w{w}-log{n}`; every view sees `a == b` and exactly n + 1 log entries;
//! - a snapshot's reads never change while it lives;
//! - a reader's successive gets of `w{w}-a` never go backwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::{Compaction, Db, Options, Stats, WriteBatch};

const WRITERS: u32 = 2;
/// How long a run may go on waiting for flushes and a compaction before the test fails.
const MAX_DURATION: Duration = Duration::from_secs(120);

fn num(v: &[u8]) -> u64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

fn run(strategy: Compaction, duration: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let db =
        Db::open(dir.path(), Options::default().memtable_size(16 * 1024).block_size(512).compaction(strategy)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let (db, stop) = (db.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut b = WriteBatch::new();
                b.put(format!("w{w}-a"), n.to_string());
                b.put(format!("w{w}-b"), n.to_string());
                b.put(format!("w{w}-log{n:08}"), n.to_string());
                db.write(b).unwrap();
                n += 1;
            }
            n
        }));
    }
    // Point reader: monotonic, a == b is not required across two gets, but each get of a
    // never goes back.
    {
        let (db, stop) = (db.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut last = vec![0u64; WRITERS as usize];
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                for w in 0..WRITERS {
                    if let Some(v) = db.get(format!("w{w}-a")).unwrap() {
                        let n = num(&v);
                        assert!(n >= last[w as usize], "get went backwards: {n} after {}", last[w as usize]);
                        last[w as usize] = n;
                    }
                    reads += 1;
                }
            }
            reads
        }));
    }
    // Scanner: each scan is one consistent view.
    for reverse in [false, true] {
        let (db, stop) = (db.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut scans = 0;
            while !stop.load(Ordering::Relaxed) {
                for w in 0..WRITERS {
                    let prefix = format!("w{w}-");
                    let items: Vec<_> = if reverse {
                        db.prefix(&prefix).rev().map(|r| r.unwrap()).collect()
                    } else {
                        db.prefix(&prefix).map(|r| r.unwrap()).collect()
                    };
                    let get = |suffix: &str| {
                        items
                            .iter()
                            .find(|(k, _)| k.as_ref() == format!("{prefix}{suffix}").as_bytes())
                            .map(|(_, v)| num(v))
                    };
                    let (a, b) = (get("a"), get("b"));
                    assert_eq!(a, b, "scan saw a torn batch");
                    let logs =
                        items.iter().filter(|(k, _)| k.starts_with(format!("{prefix}log").as_bytes())).count() as u64;
                    assert_eq!(logs, a.map_or(0, |n| n + 1), "scan saw {logs} log entries for counter {a:?}");
                }
                scans += 1;
            }
            scans
        }));
    }
    // Snapshot reader: a snapshot's answers never change.
    {
        let (db, stop) = (db.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut checks = 0;
            while !stop.load(Ordering::Relaxed) {
                let snap = db.snapshot();
                let first: Vec<_> = (0..WRITERS).map(|w| snap.get(format!("w{w}-a")).unwrap()).collect();
                std::thread::sleep(Duration::from_millis(5));
                for w in 0..WRITERS {
                    let again = snap.get(format!("w{w}-a")).unwrap();
                    assert_eq!(again, first[w as usize], "snapshot changed");
                    assert_eq!(snap.get(format!("w{w}-b")).unwrap(), again, "snapshot saw a torn batch");
                    let logs = snap.prefix(format!("w{w}-log")).count() as u64;
                    assert_eq!(logs, again.as_deref().map_or(0, |v| num(v) + 1));
                }
                checks += 1;
            }
            checks
        }));
    }
    // Run for at least `duration`, then until the background threads have done enough
    // work for the test to mean something: on a slow or overloaded machine (fsync can
    // take a second on a shared disk) three seconds may see only a few flushes.
    let started = Instant::now();
    let busy = |s: &Stats| s.flushes > 5 && s.compactions > 0;
    while started.elapsed() < duration || (!busy(&db.stats()) && started.elapsed() < MAX_DURATION) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let writes: u64 = counts[..WRITERS as usize].iter().sum();
    let stats = db.stats();
    assert!(busy(&stats), "background threads were idle for {MAX_DURATION:?}: {stats:?}");
    for (i, c) in counts.iter().enumerate() {
        assert!(*c > 0, "thread {i} did nothing");
    }
    println!("{:?}: {writes} batches in {:.1} s", stats.strategy, started.elapsed().as_secs_f64());
}

#[test]
fn concurrent_views_stay_consistent_while_compactions_run() {
    let secs: u64 = std::env::var("STRATA_STRESS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    for strategy in [Compaction::leveled(), Compaction::tiered()] {
        run(strategy, Duration::from_secs(secs));
    }
}

/// One key overwritten as fast as possible while full compactions run back to back and
/// drop its old versions: each read of the latest data, by get and by scan, must return
/// a value at least as new as the previous read did. (A read that loaded its seqno
/// before pinning its tables could find the version that seqno sees compacted away and
/// return an older one.)
#[test]
fn latest_reads_never_go_back_while_compactions_drop_versions() {
    let secs: u64 = std::env::var("STRATA_STRESS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default().memtable_size(8 * 1024).block_size(512).compaction(Compaction::tiered());
    let db = Db::open(dir.path(), opts).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // Filler in older runs gives each compaction something to merge.
                db.put(format!("filler{:04}", n % 1000), [b'f'; 64]).unwrap();
                db.put("k", n.to_string()).unwrap();
            }
            n
        })
    };
    let compactor = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                db.compact().unwrap();
            }
        })
    };
    let started = Instant::now();
    let (mut last_get, mut last_scan, mut reads) = (0u64, 0u64, 0u64);
    while started.elapsed() < Duration::from_secs(secs) {
        if let Some(v) = db.get("k").unwrap() {
            let n = num(&v);
            assert!(n >= last_get, "get went backwards: {n} after {last_get}");
            last_get = n;
        }
        if let Some(entry) = db.range("k"..="k").next() {
            let n = num(&entry.unwrap().1);
            assert!(n >= last_scan, "scan went backwards: {n} after {last_scan}");
            last_scan = n;
        }
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    compactor.join().unwrap();
    let stats = db.stats();
    assert!(writes > 0 && reads > 0 && stats.compactions > 0, "{writes} writes, {reads} reads, {stats:?}");
    println!("{writes} writes, {reads} reads, {} compactions", stats.compactions);
}
