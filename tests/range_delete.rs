//! Range deletions through the public API: every read path honours them, snapshots
//! made before still see the keys, they survive reopen, flush and compaction under
//! both strategies and a switch between them, and compaction reclaims what they cover.

use std::collections::BTreeMap;

use strata::{Compaction, Compression, Db, Error, Options, WriteBatch};

mod common;

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn small(compaction: Compaction) -> Options {
    Options::default().memtable_size(64 << 10).block_size(1024).compaction(compaction).compression(Compression::None)
}

fn strategies() -> Vec<Compaction> {
    common::merging_strategies()
}

fn fill(db: &Db, range: std::ops::Range<u32>, tag: &str) {
    for i in range {
        db.put(key(i), format!("{tag}{i}")).unwrap();
    }
}

/// Every key in the database, in order, by the forward iterator.
fn forward(db: &Db) -> Vec<String> {
    db.range::<&[u8], _>(..).map(|e| String::from_utf8(e.unwrap().0.to_vec()).unwrap()).collect()
}

/// The same by the reverse iterator, the cursor, and point lookups of every key that
/// was ever written, all of which must agree.
fn check_all_paths_agree(db: &Db, written: u32) -> Vec<String> {
    let fwd = forward(db);
    let mut back: Vec<String> =
        db.range::<&[u8], _>(..).rev().map(|e| String::from_utf8(e.unwrap().0.to_vec()).unwrap()).collect();
    back.reverse();
    assert_eq!(back, fwd, "reverse iteration");
    let mut cursor = db.cursor();
    cursor.seek_to_first();
    let mut by_cursor = Vec::new();
    while cursor.valid() {
        by_cursor.push(String::from_utf8(cursor.key().to_vec()).unwrap());
        cursor.next();
    }
    cursor.status().unwrap();
    assert_eq!(by_cursor, fwd, "cursor");
    let by_get: Vec<String> = (0..written).map(key).filter(|k| db.get(k).unwrap().is_some()).collect();
    assert_eq!(by_get, fwd, "get");
    fwd
}

#[test]
fn a_range_deletion_hides_exactly_its_half_open_range_on_every_read_path() {
    for compaction in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), small(compaction)).unwrap();
        fill(&db, 0..2000, "v");
        db.flush().unwrap();
        fill(&db, 1000..1500, "w"); // half in the memtable, half in a table
        db.delete_range(key(500), key(1200)).unwrap();
        let want: Vec<String> = (0..500).chain(1200..2000).map(key).collect();
        assert_eq!(check_all_paths_agree(&db, 2000), want);
        assert!(db.get(key(1199)).unwrap().is_none() && db.get(key(1200)).unwrap().is_some());
        assert_eq!(db.prefix("key01").count(), 800, "prefix key01*: 1000..1999 less 1000..1199");
        // Bounded ranges that start, end or lie inside the deleted range.
        assert_eq!(db.range(key(400)..key(600)).count(), 100);
        assert_eq!(db.range(key(600)..key(1100)).count(), 0);
        assert_eq!(db.range(key(1100)..=key(1300)).rev().count(), 101);
        // A put after the deletion is visible again; one before stays deleted.
        db.put(key(700), "again").unwrap();
        assert_eq!(db.get(key(700)).unwrap().as_deref(), Some(&b"again"[..]));
        assert_eq!(check_all_paths_agree(&db, 2000).len(), want.len() + 1);
        for step in ["flush", "compact", "reopen"] {
            match step {
                "flush" => db.flush().unwrap(),
                "compact" => db.compact().unwrap(),
                _ => {}
            }
            assert_eq!(check_all_paths_agree(&db, 2000).len(), want.len() + 1, "after {step}");
        }
        db.close().unwrap();
        let db = Db::open(dir.path(), small(Compaction::leveled())).unwrap();
        assert_eq!(check_all_paths_agree(&db, 2000).len(), want.len() + 1, "after reopen");
    }
}

#[test]
fn snapshots_and_iterators_made_before_still_see_the_keys() {
    for compaction in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), small(compaction)).unwrap();
        fill(&db, 0..1000, "v");
        let before = db.snapshot();
        let mut iter = db.range::<&[u8], _>(..);
        let mut cursor = db.cursor();
        db.delete_range(key(0), key(900)).unwrap();
        let after = db.snapshot();
        db.flush().unwrap();
        db.compact().unwrap();
        assert_eq!(before.range::<&[u8], _>(..).count(), 1000);
        assert_eq!(before.get(key(5)).unwrap().as_deref(), Some(&b"v5"[..]));
        assert_eq!(after.range::<&[u8], _>(..).count(), 100);
        assert!(after.get(key(5)).unwrap().is_none());
        assert_eq!(iter.by_ref().count(), 1000);
        cursor.seek_to_first();
        let mut n = 0;
        while cursor.valid() {
            n += 1;
            cursor.next();
        }
        assert_eq!(n, 1000);
        assert_eq!(db.range::<&[u8], _>(..).count(), 100);
        drop((before, after));
        db.compact().unwrap();
        assert_eq!(db.range::<&[u8], _>(..).count(), 100);
    }
}

#[test]
fn range_deletions_are_atomic_with_their_batch_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    fill(&db, 0..100, "v");
    let mut batch = WriteBatch::new();
    batch.delete_range(key(10), key(20));
    batch.put(key(15), "inside"); // later in the batch: newer than the tombstone
    batch.delete_range("", key(5)); // an empty start is everything below the end
    db.write(batch).unwrap();
    let got = forward(&db);
    assert_eq!(got.len(), 100 - 10 + 1 - 5);
    assert_eq!(db.get(key(15)).unwrap().as_deref(), Some(&b"inside"[..]));
    assert!(db.get(key(4)).unwrap().is_none() && db.get(key(5)).unwrap().is_some());
    for (start, end) in [(key(3), key(3)), (key(4), key(3))] {
        assert!(matches!(db.delete_range(&start, &end), Err(Error::InvalidArgument(_))), "{start}..{end}");
    }
    let mut bad = WriteBatch::new();
    bad.put(key(50), "x");
    bad.delete_range("b", "a");
    assert!(matches!(db.write(bad), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get(key(50)).unwrap().as_deref(), Some(&b"v50"[..]), "a refused batch writes nothing");
}

#[test]
fn overlapping_tombstones_across_flushes_and_levels_agree_with_a_model() {
    for compaction in strategies() {
        let tiered = matches!(compaction, Compaction::Tiered(_));
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), small(compaction)).unwrap();
        let mut model = BTreeMap::new();
        let mut rand = common::below(12345u64);
        for round in 0..40u32 {
            for _ in 0..400 {
                // Incompressible values, enough of them that compactions cut their
                // output into several tables: tombstones are cut at table boundaries.
                let i = rand(3000) as u32;
                let v: String = (0..8).map(|_| format!("{:016x}", rand(u64::MAX))).collect();
                db.put(key(i), &v).unwrap();
                model.insert(key(i), v);
            }
            let a = rand(3000) as u32;
            let b = a + 1 + rand(400) as u32;
            db.delete_range(key(a), key(b)).unwrap();
            model.retain(|k, _| !(k >= &key(a) && k < &key(b)));
            match round % 8 {
                1 => db.flush().unwrap(),
                7 => db.compact().unwrap(),
                _ => {}
            }
        }
        let check = |db: &Db| {
            let got: Vec<(String, String)> = db
                .range::<&[u8], _>(..)
                .map(|e| e.unwrap())
                .map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap()))
                .collect();
            let want: Vec<(String, String)> = model.clone().into_iter().collect();
            assert_eq!(got, want);
            for i in (0..3500).step_by(7) {
                assert_eq!(
                    db.get(key(i)).unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap()),
                    model.get(&key(i)).cloned()
                );
            }
        };
        check(&db);
        db.wait_for_compactions().unwrap();
        check(&db);
        db.close().unwrap();
        // The other strategy takes over the same tables.
        let other = if tiered { Compaction::leveled() } else { Compaction::tiered() };
        let db = Db::open(dir.path(), small(other)).unwrap();
        check(&db);
        db.compact().unwrap();
        check(&db);
    }
}

#[test]
fn compaction_reclaims_the_space_of_deleted_keys_and_then_drops_the_tombstone() {
    for compaction in strategies() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), small(compaction)).unwrap();
        for i in 0..20_000 {
            db.put(key(i), [b'x'; 100]).unwrap();
        }
        db.compact().unwrap();
        let full: u64 = db.tables().iter().map(|t| t.size).sum();
        db.delete_range(key(0), key(10_000)).unwrap();
        db.compact().unwrap();
        let tables = db.tables();
        let half: u64 = tables.iter().map(|t| t.size).sum();
        assert!(half < full * 6 / 10, "{half} of {full} bytes left after deleting half");
        assert_eq!(tables.iter().map(|t| t.entries).sum::<u64>(), 10_000);
        assert_eq!(db.range::<&[u8], _>(..).count(), 10_000);
        assert_eq!(db.get(key(9_999)).unwrap(), None);
    }
}
