//! Background compaction through the public API, under both strategies.

use strata::{Compaction, Compression, Db, Error, Options};

/// Uncompressed, so that byte counts (write amplification, sizes) measure compaction
/// alone; compression is covered by the basic, model and crash tests, which use the
/// default LZ4.
fn options(strategy: Compaction) -> Options {
    Options::default().memtable_size(8 * 1024).block_size(512).compaction(strategy).compression(Compression::None)
}

mod common;

fn strategies() -> Vec<Compaction> {
    common::merging_strategies()
}

fn value(round: u32) -> String {
    format!("round{round}-{}", "v".repeat(80))
}

fn sst_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sst"))
        .count()
}

#[test]
fn background_compaction_keeps_the_tree_small_and_the_data_right() {
    for strategy in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options(strategy.clone())).unwrap();
        for round in 0..6u32 {
            for i in 0..1500u32 {
                db.put(format!("key{i:05}"), value(round)).unwrap();
            }
        }
        db.flush().unwrap();
        let stats = db.stats();
        assert!(stats.compactions > 0, "{strategy:?}: no background compaction ran");
        assert!(stats.flushes > 20);
        // Far fewer sorted runs than flushes: compaction kept up.
        assert!(stats.sorted_runs < 40, "{strategy:?}: {} runs after {} flushes", stats.sorted_runs, stats.flushes);
        assert!(stats.write_amplification() > 1.0);
        for i in (0..1500u32).step_by(7) {
            assert_eq!(db.get(format!("key{i:05}")).unwrap().as_deref(), Some(value(5).as_bytes()));
        }
        assert_eq!(db.range::<&str, _>(..).count(), 1500);
        assert!(stats.tables_read_per_get() <= stats.sorted_runs.max(1) as f64);
    }
}

#[test]
fn tombstones_vanish_after_a_full_compaction() {
    for strategy in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options(strategy.clone())).unwrap();
        for i in 0..3000u32 {
            db.put(format!("key{i:05}"), value(0)).unwrap();
        }
        db.compact().unwrap();
        let full = db.stats().live_sst_bytes();
        for i in 0..3000u32 {
            db.delete(format!("key{i:05}")).unwrap();
        }
        db.compact().unwrap();
        let stats = db.stats();
        assert_eq!(stats.live_sst_bytes(), 0, "{strategy:?}: {} bytes left of {full}", stats.live_sst_bytes());
        assert_eq!(db.range::<&str, _>(..).count(), 0);
        drop(db);
        assert_eq!(sst_files(dir.path()), 0, "{strategy:?}: obsolete tables left on disk");
    }
}

#[test]
fn a_snapshot_reads_its_values_after_compactions() {
    for strategy in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options(strategy.clone())).unwrap();
        for i in 0..1000u32 {
            db.put(format!("key{i:05}"), value(0)).unwrap();
        }
        let snap = db.snapshot();
        let it = db.range::<&str, _>(..);
        for round in 1..5u32 {
            for i in 0..1000u32 {
                if i.is_multiple_of(3) {
                    db.delete(format!("key{i:05}")).unwrap();
                } else {
                    db.put(format!("key{i:05}"), value(round)).unwrap();
                }
            }
        }
        db.compact().unwrap();
        assert!(db.stats().compactions > 1);
        for i in (0..1000u32).step_by(13) {
            assert_eq!(snap.get(format!("key{i:05}")).unwrap().as_deref(), Some(value(0).as_bytes()), "{strategy:?}");
        }
        let seen: Vec<_> = snap.range::<&str, _>(..).map(|r| r.unwrap()).collect();
        assert_eq!(seen.len(), 1000);
        assert!(seen.iter().all(|(_, v)| v.as_ref() == value(0).as_bytes()));
        // An iterator created before the compactions still reads the files it started with.
        assert_eq!(it.map(|r| r.unwrap()).filter(|(_, v)| v.as_ref() == value(0).as_bytes()).count(), 1000);
        assert_eq!(db.range::<&str, _>(..).count(), 666);
    }
}

#[test]
fn switching_strategy_on_reopen_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = 0;
    // Every ordered pair of strategies: a database written (and, every other time,
    // fully compacted) under the first is reopened and written under the second.
    let all = common::all_strategies();
    let pairs = (0..all.len()).flat_map(|a| (0..all.len()).filter(move |&b| b != a).map(move |b| (a, b)));
    let mut round = 0u32;
    for (a, b) in pairs {
        for strategy in [&all[a], &all[b]] {
            let db = Db::open(dir.path(), options(strategy.clone())).unwrap();
            for i in 0..300u32 {
                db.put(format!("r{round:03}-{i:05}"), value(round)).unwrap();
                db.put(format!("shared{i:05}"), value(round)).unwrap();
            }
            expected += 300;
            if round.is_multiple_of(2) {
                db.compact().unwrap();
            }
            assert_eq!(db.range::<&str, _>(..).count(), expected + 300, "{strategy:?} after {:?}", all[a]);
            assert_eq!(db.get("shared00000").unwrap().as_deref(), Some(value(round).as_bytes()));
            db.close().unwrap();
            round += 1;
        }
    }
}

#[test]
fn close_during_a_compaction_stops_it_and_reopen_cleans_up() {
    for strategy in strategies() {
        let dir = tempfile::tempdir().unwrap();
        // No background compaction, so the explicit one below has plenty to do.
        let lazy = match &strategy {
            Compaction::Leveled(_) => {
                let mut l = strata::LeveledOptions::default();
                l.l0_compaction_trigger = 100_000;
                Compaction::Leveled(l)
            }
            _ => {
                let mut t = strata::TieredOptions::default();
                t.min_threshold = 100_000;
                t.max_threshold = 100_000;
                t.max_size_amplification_percent = u64::MAX / 200;
                Compaction::Tiered(t)
            }
        };
        let db = Db::open(dir.path(), options(lazy.clone()).memtable_size(256 * 1024)).unwrap();
        for i in 0..60_000u32 {
            db.put(format!("key{i:06}"), value(i % 7)).unwrap();
        }
        db.flush().unwrap();
        let compactor = db.clone();
        let job = std::thread::spawn(move || compactor.compact());
        std::thread::sleep(std::time::Duration::from_millis(5));
        db.close().unwrap();
        match job.join().unwrap() {
            Ok(()) | Err(Error::Closed) => {}
            Err(e) => panic!("{strategy:?}: unexpected error {e}"),
        }
        // Reopen without background compaction, so no new outputs appear while the
        // directory is counted.
        let db = Db::open(dir.path(), options(lazy.clone())).unwrap();
        let live: usize = db.stats().levels.iter().map(|l| l.files).sum();
        assert_eq!(sst_files(dir.path()), live, "{strategy:?}: half-written outputs left behind");
        assert_eq!(db.range::<&str, _>(..).count(), 60_000);
        assert_eq!(db.get("key012345").unwrap().as_deref(), Some(value(12345 % 7).as_bytes()));
    }
}

#[test]
fn heavy_writes_stall_but_never_fail() {
    for strategy in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db =
            Db::open(dir.path(), options(strategy.clone()).memtable_size(4096).max_immutable_memtables(1)).unwrap();
        // A quiet keyspace with room to spare, written meanwhile: its writers are never
        // the ones handed back for lack of room, and lose nothing when others are.
        let quiet = db.keyspace_with("quiet", Options::default().memtable_size(4 << 20)).unwrap();
        let mut writers: Vec<_> = (0..3u32)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..4000u32 {
                        db.put(format!("w{w}-{i:05}"), value(i)).unwrap();
                    }
                })
            })
            .collect();
        let q = quiet.clone();
        writers.push(std::thread::spawn(move || {
            for i in 0..4000u32 {
                q.put(format!("q-{i:05}"), value(i)).unwrap();
            }
        }));
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(db.range::<&str, _>(..).count(), 12_000, "{strategy:?}");
        assert_eq!(quiet.range::<&str, _>(..).count(), 4_000, "{strategy:?}");
        assert_eq!(quiet.stats().memtables_filled, 0, "{strategy:?}: the quiet keyspace filled up");
        let stats = db.stats();
        assert!(stats.compactions > 0);
        assert!(
            stats.write_stalls + stats.write_slowdowns > 0,
            "{strategy:?}: writers never waited for the background"
        );
    }
}

#[test]
fn fifo_keeps_the_newest_writes_within_its_limit_and_never_merges() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 256 * 1024;
    let db = Db::open(dir.path(), options(Compaction::fifo(limit)).memtable_size(16 * 1024)).unwrap();
    for i in 0..20_000u32 {
        db.put(format!("key{i:06}"), value(i % 7)).unwrap();
    }
    db.wait_for_compactions().unwrap();
    let stats = db.stats();
    assert_eq!(stats.strategy, "fifo");
    assert!(stats.live_sst_bytes() <= limit, "{} bytes live over a limit of {limit}", stats.live_sst_bytes());
    assert_eq!(stats.compaction_bytes_written, 0, "FIFO rewrote data");
    // What is left is the newest writes, with no gap: whole tables went, oldest first.
    let present: Vec<u32> =
        db.range::<&str, _>(..).map(|r| std::str::from_utf8(&r.unwrap().0[3..]).unwrap().parse().unwrap()).collect();
    let first = present[0];
    assert!(first > 0, "nothing was dropped");
    assert_eq!(present, (first..20_000).collect::<Vec<_>>());
    drop(db);
    assert_eq!(sst_files(dir.path()), stats.levels[0].files, "dropped tables left on disk");
}

#[test]
fn dynamic_level_sizing_keeps_space_amplification_near_one() {
    let settled = |dynamic: bool, keys: u32| {
        let dir = tempfile::tempdir().unwrap();
        let mut leveled = strata::LeveledOptions::default();
        leveled.dynamic_level_bytes = dynamic;
        leveled.level_size_multiplier = 4;
        let options = options(Compaction::Leveled(leveled)).memtable_size(32 * 1024).compression(Compression::None);
        let db = Db::open(dir.path(), options).unwrap();
        // Overwrites of a fixed key set: one copy of each key is live.
        for round in 0..4u32 {
            for i in 0..keys {
                db.put(format!("key{:06}", (i * 7919) % keys), value(round)).unwrap();
            }
        }
        db.wait_for_compactions().unwrap();
        assert_eq!(db.range::<&str, _>(..).count(), keys as usize);
        let live: u64 = db.range::<&str, _>(..).map(|r| r.unwrap()).map(|(k, v)| (k.len() + v.len()) as u64).sum();
        db.stats().live_sst_bytes() as f64 / live as f64
    };
    for keys in [6_000, 20_000] {
        let (fixed, dynamic) = (settled(false, keys), settled(true, keys));
        println!("{keys} keys: space amplification {fixed:.2} with fixed targets, {dynamic:.2} dynamic");
        assert!(dynamic < 1.45, "{keys} keys: {dynamic:.2}");
        assert!(dynamic <= fixed + 0.05, "{keys} keys: dynamic {dynamic:.2}, fixed {fixed:.2}");
    }
}

#[test]
fn a_leveled_range_compaction_leaves_a_tree_the_run_strategies_accept() {
    // Leveled `compact_range` moves the tables holding the range to the last level and
    // leaves older L0 tables of other keys where they are: L0 then holds a table older
    // than a deeper level. The strategies of sorted runs must take that tree as it is.
    for next in [Compaction::tiered(), Compaction::lazy_leveling(), Compaction::fluid(4, 2, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let mut leveled = strata::LeveledOptions::default();
        leveled.l0_compaction_trigger = 100;
        let db = Db::open(dir.path(), options(Compaction::Leveled(leveled))).unwrap();
        for prefix in ["a", "b", "c"] {
            for i in 0..50u32 {
                db.put(format!("{prefix}{i:04}"), value(0)).unwrap();
            }
            db.flush().unwrap();
        }
        // Writes after a snapshot keep their seqnos at the last level, above those of
        // the L0 tables left; enough of them that the next strategy's first job merges
        // the two small L0 tables rather than everything.
        let snapshot = db.snapshot();
        for i in 0..2000u32 {
            db.put(format!("c{i:04}"), value(0)).unwrap();
        }
        db.compact_range("c0000".."c9999").unwrap();
        drop(snapshot);
        assert!(db.tables().iter().any(|t| t.level == 0), "no L0 table was left");
        db.close().unwrap();
        let db = Db::open(dir.path(), options(next.clone())).unwrap();
        for round in 1..6u32 {
            for prefix in ["a", "b", "c"] {
                for i in 0..50u32 {
                    db.put(format!("{prefix}{i:04}"), value(round)).unwrap();
                }
            }
            db.flush().unwrap();
            db.compact_range("b0000".."b9999").unwrap();
        }
        db.wait_for_compactions().unwrap();
        db.compact().unwrap();
        assert_eq!(db.range::<&str, _>(..).count(), 2100, "{next:?}");
        for key in ["a0001", "b0049", "c0000"] {
            assert_eq!(db.get(key).unwrap().as_deref(), Some(value(5).as_bytes()), "{next:?} {key}");
        }
        assert_eq!(db.get("c1999").unwrap().as_deref(), Some(value(0).as_bytes()), "{next:?}");
        db.close().unwrap();
    }
}

#[test]
fn fifo_with_a_maximum_age_drops_old_tables_across_reopen_without_writes() {
    let dir = tempfile::tempdir().unwrap();
    // Whole seconds: a table written at second s expires once the clock reads s + 3, two
    // to three seconds after it was written.
    let strategy = Compaction::fifo_with_max_age(1 << 40, std::time::Duration::from_secs(2));
    let count = |db: &Db, prefix: &str| db.prefix(prefix).count();
    let db = Db::open(dir.path(), options(strategy.clone())).unwrap();
    for i in 0..100u32 {
        db.put(format!("old{i:03}"), value(0)).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let db = Db::open(dir.path(), options(strategy)).unwrap();
    for i in 0..100u32 {
        db.put(format!("new{i:03}"), value(1)).unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    // The tables' times are in the MANIFEST: after the reopen the old ones are three
    // seconds old and go at once (counted from the open, they would have two left).
    assert_eq!(count(&db, "old"), 0, "tables past the maximum age are still there");
    assert_eq!(count(&db, "new"), 100, "a table younger than its age went too");
    let stats = db.stats();
    assert_eq!(stats.compaction_bytes_written, 0, "FIFO rewrote data");
    // No write wakes the compaction thread from here: it looks by itself, once a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count(&db, "new") > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(count(&db, "new"), 0, "tables expired while the database was idle are still there");
    db.close().unwrap();
    assert_eq!(sst_files(dir.path()), 0, "dropped tables left on disk");
}

/// When `wait_for_compactions` returns, the tables the compactions replaced are gone
/// from the directory: every `.sst` file left is one the tree holds. It is called while
/// the background thread is in the middle of jobs, which used to release the tree's
/// compactor while still holding the job's inputs (a settled database then measured
/// the replaced tables too).
#[test]
fn wait_for_compactions_leaves_no_replaced_table_on_disk() {
    for strategy in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), options(strategy.clone())).unwrap();
        for round in 0..12u32 {
            for i in 0..1500u32 {
                db.put(format!("key{:05}", (i * 7 + round * 13) % 1500), value(round)).unwrap();
            }
            db.wait_for_compactions().unwrap();
            assert_eq!(sst_files(dir.path()), db.tables().len(), "{strategy:?}, round {round}");
        }
    }
}
