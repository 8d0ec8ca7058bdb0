//! Per-write durability: a write made with `WriteOptions::new().sync(true)` survives a
//! power loss once it returns, on a database that does not sync every write; writes
//! committed before it (in its group or earlier) survive with it, and a database that
//! never synced loses what it was not asked to keep.

use std::path::Path;
use std::sync::{Arc, Mutex};

use strata::testing::FaultyFs;
use strata::{Db, WriteBatch, WriteOptions};

mod common;
use common::Rng;

fn synced() -> WriteOptions {
    WriteOptions::new().sync(true)
}

fn one(key: &str, value: &str) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(key, value);
    b
}

/// Loses power (every unsynced byte dropped) and reopens.
fn power_loss(fs: &Arc<FaultyFs>, db: Db) -> Db {
    fs.crash();
    drop(db);
    fs.restart();
    Db::open("/db", common::faulty_options(fs, false, false)).unwrap()
}

#[test]
fn a_synced_write_and_everything_before_it_survive_power_loss() {
    for seed in 1..=20u64 {
        let mut rng = Rng::new(seed);
        let fs = Arc::new(FaultyFs::new());
        // Small memtables: the writes span several WALs and flushes.
        let mut db = Db::open("/db", common::faulty_options(&fs, false, seed % 2 == 0)).unwrap();
        let n = 50 + rng.below(400) as u32;
        let mut last_synced = None;
        for i in 0..n {
            let (k, v) = (format!("k{i:05}"), format!("v{i}-{}", "x".repeat(rng.below(64) as usize)));
            if rng.below(10) == 0 {
                db.write_opt(one(&k, &v), &synced()).unwrap();
                last_synced = Some(i);
            } else {
                db.write(one(&k, &v)).unwrap();
            }
        }
        db = power_loss(&fs, db);
        if let Some(last) = last_synced {
            for i in 0..=last {
                let k = format!("k{i:05}");
                assert!(db.get(&k).unwrap().is_some(), "seed {seed}: {k} lost; the sync at k{last:05} covers it");
            }
        }
        // Nothing after the prefix that survived: recovery keeps an acknowledged prefix.
        let present: Vec<bool> = (0..n).map(|i| db.get(format!("k{i:05}")).unwrap().is_some()).collect();
        let survived = present.iter().take_while(|&&p| p).count();
        assert!(present[survived..].iter().all(|&p| !p), "seed {seed}: a hole in the surviving writes");
        db.close().unwrap();
    }
}

#[test]
fn without_a_sync_the_same_writes_are_lost() {
    // The control for the test above: on this file system a power loss really drops
    // what was not synced, so a passing sync test is not an accident of the model.
    let fs = Arc::new(FaultyFs::new());
    let db = Db::open("/db", common::faulty_options(&fs, false, false).memtable_size(1 << 20)).unwrap();
    db.write_opt(one("synced", "1"), &synced()).unwrap();
    db.write_opt(one("plain", "2"), &WriteOptions::new()).unwrap();
    let db = power_loss(&fs, db);
    assert_eq!(db.get("synced").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get("plain").unwrap(), None);
}

#[test]
fn concurrent_synced_writers_in_groups_with_unsynced_ones_keep_every_synced_write() {
    for seed in 1..=5u64 {
        let fs = Arc::new(FaultyFs::new());
        let db = Db::open(Path::new("/db"), common::faulty_options(&fs, false, false)).unwrap();
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let (db, acked) = (db.clone(), acked.clone());
                std::thread::spawn(move || {
                    let mut rng = Rng::new(seed * 10 + t);
                    for i in 0..200 {
                        let k = format!("t{t}-{i:04}");
                        // Threads 0 and 1 sync every write; 2 and 3 never do, so most
                        // groups mix both kinds.
                        let result = if t < 2 {
                            db.write_opt(one(&k, "v"), &synced())
                        } else {
                            db.write(one(&k, &"y".repeat(rng.below(100) as usize)))
                        };
                        match result {
                            Ok(()) if t < 2 => acked.lock().unwrap().push(k),
                            Ok(()) => {}
                            // The power went out under this writer.
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        // Lose power while they write.
        std::thread::sleep(std::time::Duration::from_millis(5 + seed * 3));
        fs.crash();
        for w in writers {
            w.join().unwrap();
        }
        let db = power_loss(&fs, db);
        let acked = acked.lock().unwrap();
        for k in acked.iter() {
            assert!(db.get(k).unwrap().is_some(), "seed {seed}: synced write {k} lost");
        }
    }
}

#[test]
fn an_empty_synced_write_makes_the_writes_before_it_durable() {
    let fs = Arc::new(FaultyFs::new());
    let db = Db::open("/db", common::faulty_options(&fs, false, false).memtable_size(1 << 20)).unwrap();
    db.put("a", "1").unwrap();
    db.write_opt(WriteBatch::new(), &synced()).unwrap();
    let db = power_loss(&fs, db);
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn a_group_led_by_an_unsynced_write_syncs_for_a_member_that_asked() {
    let fs = Arc::new(FaultyFs::new());
    let db = Db::open("/db", common::faulty_options(&fs, false, false).memtable_size(1 << 20)).unwrap();
    fs.set_sync_delay(std::time::Duration::from_millis(150));
    let pause = || std::thread::sleep(std::time::Duration::from_millis(40));
    // A leads alone and sits in its slow sync; B (unsynced) and then C (synced) queue
    // behind it, and commit as one group that B leads.
    let spawn = |key: &'static str, options: WriteOptions| {
        let db = db.clone();
        std::thread::spawn(move || db.write_opt(one(key, "v"), &options).unwrap())
    };
    let a = spawn("a", synced());
    pause();
    let b = spawn("b", WriteOptions::new());
    pause();
    let c = spawn("c", synced());
    for w in [a, b, c] {
        w.join().unwrap();
    }
    assert!(db.stats().write_groups <= 2, "B and C must have committed as one group");
    fs.set_sync_delay(std::time::Duration::ZERO);
    let db = power_loss(&fs, db);
    for k in ["a", "b", "c"] {
        assert!(db.get(k).unwrap().is_some(), "{k} lost: its group was not synced");
    }
}
