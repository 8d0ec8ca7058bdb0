//! `Db::open_read_only`: sees everything written (unsynced WAL records included),
//! refuses writes, takes no lock, and leaves every byte and name in the directory as it
//! was, also while a live `Db` holds the directory and flushes and compacts under it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use strata::{Db, Error, Options, WriteBatch};

mod common;
use common::dir_contents;

fn key(i: u32) -> String {
    format!("key{i:06}")
}

#[test]
fn a_read_only_open_sees_unflushed_writes_refuses_writes_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let small = Options::default().memtable_size(16 << 10).block_size(512);
    let db = Db::open(dir.path(), small).unwrap();
    for i in 0..3000 {
        db.put(key(i), format!("table {i}")).unwrap();
    }
    db.wait_for_compactions().unwrap();
    db.close().unwrap();
    // Reopened with a memtable that will not fill: what follows stays in the WAL only,
    // unsynced, and the writer has nothing to flush or compact while we look.
    let db = Db::open(dir.path(), Options::default().memtable_size(64 << 20)).unwrap();
    for i in 0..500 {
        db.put(key(i), format!("wal {i}")).unwrap();
    }
    db.delete(key(600)).unwrap();
    assert!(db.stats().levels.iter().any(|l| l.files > 0), "some data must be in tables");

    let mut writer = Some(db);
    for holder in ["a live Db", "nobody"] {
        let before = dir_contents(dir.path());
        let view = Db::open_read_only(dir.path(), Options::default()).unwrap();
        for i in (0..3000).step_by(7) {
            let want = match i {
                600 => None,
                i if i < 500 => Some(format!("wal {i}")),
                i => Some(format!("table {i}")),
            };
            assert_eq!(view.get(key(i)).unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap()), want, "{holder}");
        }
        // 2999 keys, and the one the writer adds after the first look.
        let keys = if writer.is_some() { 2999 } else { 3000 };
        assert_eq!(view.range::<&str, _>(..).count(), keys, "{holder}");
        assert_eq!(view.prefix("key0005").next_back().unwrap().unwrap().0, key(599), "{holder}");
        assert!(matches!(view.put("k", "v"), Err(Error::ReadOnly)));
        assert!(matches!(view.delete(key(1)), Err(Error::ReadOnly)));
        let mut batch = WriteBatch::new();
        batch.put("k", "v");
        assert!(matches!(view.write(batch), Err(Error::ReadOnly)));
        for refused in [view.flush(), view.compact(), view.sync(), view.wait_for_compactions()] {
            assert!(matches!(refused, Err(Error::ReadOnly)), "{refused:?}");
        }
        let snapshot = view.snapshot();
        assert_eq!(snapshot.get(key(1)).unwrap().as_deref(), Some(&b"wal 1"[..]));
        drop(snapshot);
        view.close().unwrap();
        assert_eq!(dir_contents(dir.path()), before, "a read-only open with {holder} holding the directory changed it");
        if let Some(db) = writer.take() {
            // The writer never noticed: it still writes; then it closes, unflushed
            // records and all, and the second look is at a directory nobody holds.
            db.put("after", "1").unwrap();
            db.close().unwrap();
        }
    }
}

#[test]
fn a_path_without_a_database_is_an_error_naming_it_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such").join("db");
    match Db::open_read_only(&missing, Options::default()) {
        Err(e) => assert!(e.to_string().contains(&*missing.to_string_lossy()), "{e}"),
        Ok(_) => panic!("a missing path opened"),
    }
    assert!(!dir.path().join("no").exists(), "a read-only open created directories");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(Db::open_read_only(&empty, Options::default()).is_err());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "a read-only open created files");
}

#[test]
fn read_only_views_are_consistent_while_a_writer_flushes_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default().memtable_size(8 << 10).block_size(256);
    let db = Db::open(dir.path(), opts).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU32::new(0));
    let writer = {
        let (db, stop, acked) = (db.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            // Round r rewrites the same 20 keys with the value "r" and adds its own key
            // "round r", in one batch; every few rounds a compaction retires tables, WALs
            // and MANIFEST records.
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) && round < 3000 {
                round += 1;
                let mut batch = WriteBatch::new();
                for k in 0..20 {
                    batch.put(key(k), format!("{round:08}"));
                }
                batch.put(format!("round {round:08}"), "");
                db.write(batch).unwrap();
                acked.store(round, Ordering::SeqCst);
                if round.is_multiple_of(50) {
                    db.compact().unwrap();
                }
            }
            round
        })
    };
    let mut views = 0;
    let mut last_round = String::new();
    // Views until the writer is done (3000 rounds, 60 compactions), and at least 60.
    while views < 60 || !writer.is_finished() {
        let acked_before = acked.load(Ordering::SeqCst);
        let view = match Db::open_read_only(dir.path(), Options::default()) {
            Ok(v) => v,
            Err(e) => panic!("read-only open failed while a writer runs: {e}"),
        };
        let values: Vec<String> = (0..20)
            .map(|k| view.get(key(k)).unwrap().map_or_else(String::new, |v| String::from_utf8(v.to_vec()).unwrap()))
            .collect();
        assert!(values.iter().all(|v| *v == values[0]), "a torn batch: {values:?}");
        assert!(values[0] >= last_round, "a later view went back in time: {} after {last_round}", values[0]);
        // Every round up to the one the keys show is there, and none after it: no WAL
        // or table missing from the middle.
        let round: u32 = values[0].parse().unwrap_or(0);
        assert!(round >= acked_before, "the view misses round {acked_before}, acknowledged before the open");
        let rounds: Vec<String> =
            view.prefix("round ").map(|e| String::from_utf8(e.unwrap().0.to_vec()).unwrap()).collect();
        let want: Vec<String> = (1..=round).map(|r| format!("round {r:08}")).collect();
        assert!(rounds == want, "view at round {round} holds {} round keys, not 1..={round}", rounds.len());
        last_round = values[0].clone();
        views += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    eprintln!("{views} read-only views over {rounds} rounds");
    assert!(rounds > 0);
    db.close().unwrap();
}
