//! Cursors and iterators made one after another: a dropped one leaves its merge for
//! the next one over the same view. What the next one sees must not depend on that:
//! later writes and other read points show, a merge that met an error is not handed
//! on, and no merge left behind keeps compacted tables alive.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::testing::{FaultyFs, Op};
use strata::{Db, Options};

mod common;
use common::Rng;

fn key(i: u32) -> String {
    format!("key{i:04}")
}

/// The entries a fresh cursor finds from `from`, at most `n`.
fn seek_some(cursor: &mut strata::Cursor, from: &str, n: usize) -> Vec<(String, String)> {
    cursor.seek(from);
    let mut out = Vec::new();
    while cursor.valid() && out.len() < n {
        out.push((
            String::from_utf8(cursor.key().to_vec()).unwrap(),
            String::from_utf8(cursor.value().to_vec()).unwrap(),
        ));
        cursor.next();
    }
    cursor.status().unwrap();
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_next_cursor_sees_writes_made_since_the_last_one_and_its_own_read_point() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..100 {
        db.put(key(i), format!("v{i}")).unwrap();
    }
    db.flush().unwrap();
    assert_eq!(seek_some(&mut db.cursor(), "key0010", 2), pairs(&[("key0010", "v10"), ("key0011", "v11")]));
    // Same memtable and tables (the same view) as the cursor just dropped.
    let before = db.snapshot();
    db.put("key0010x", "new").unwrap();
    db.delete(key(11)).unwrap();
    db.put(key(12), "v12b").unwrap();
    let want = pairs(&[("key0010", "v10"), ("key0010x", "new"), ("key0012", "v12b")]);
    assert_eq!(seek_some(&mut db.cursor(), "key0010", 3), want);
    // An older read point over the same view, right after a cursor at the latest one.
    let old = pairs(&[("key0010", "v10"), ("key0011", "v11"), ("key0012", "v12")]);
    assert_eq!(seek_some(&mut before.cursor(), "key0010", 3), old);
    assert_eq!(seek_some(&mut db.cursor(), "key0010", 3), want);
    // Seeking from the first entry after a seek-and-read-one.
    let mut cursor = db.cursor();
    cursor.seek_to_first();
    assert_eq!(cursor.key(), b"key0000");
    let mut n = 0;
    while cursor.valid() {
        n += 1;
        cursor.next();
    }
    cursor.status().unwrap();
    assert_eq!(n, 100, "one added, one deleted");
}

#[test]
fn a_read_error_stays_with_the_cursor_that_met_it() {
    let fs = Arc::new(FaultyFs::new());
    let db = Db::open(Path::new("/db"), common::faulty_options(&fs, false, false).memtable_size(1 << 20)).unwrap();
    for i in 0..200 {
        db.put(key(i), "x".repeat(100)).unwrap();
    }
    db.flush().unwrap();
    // Opens the table and caches the first block only.
    assert!(db.get(key(0)).unwrap().is_some());
    fs.fail_every(Op::Read, true);
    let mut cursor = db.cursor();
    cursor.seek(key(150));
    assert!(!cursor.valid());
    assert!(cursor.status().is_err(), "the block read must have failed");
    drop(cursor);
    // The same through an iterator.
    assert!(db.range(key(150)..).next().unwrap().is_err());
    fs.heal();
    let mut cursor = db.cursor();
    cursor.seek(key(150));
    assert!(cursor.valid(), "{:?}", cursor.status());
    assert_eq!(cursor.key(), key(150).as_bytes());
    cursor.status().unwrap();
    drop(cursor);
    fs.fail_every(Op::Read, true);
    let mut it = db.range(key(170)..);
    assert!(it.next().unwrap().is_err(), "the block read must have failed");
    drop(it);
    fs.heal();
    assert_eq!(db.range(key(170)..).next().unwrap().unwrap().0, key(170).as_bytes());
}

#[test]
fn a_dropped_cursor_keeps_no_compacted_table_on_disk() {
    let tables = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sst"))
            .collect();
        names.sort();
        names
    };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for round in 0..2 {
        for i in 0..500 {
            db.put(key(i), format!("r{round}")).unwrap();
        }
        db.flush().unwrap();
    }
    let flushed = tables(dir.path());
    assert_eq!(flushed.len(), 2);
    let mut cursor = db.cursor();
    cursor.seek(key(7));
    assert_eq!(cursor.value(), b"r1");
    drop(cursor);
    db.compact().unwrap();
    let compacted = tables(dir.path());
    assert!(flushed.iter().all(|t| !compacted.contains(t)), "flushed {flushed:?}, now {compacted:?}");
    assert_eq!(seek_some(&mut db.cursor(), &key(7), 1), pairs(&[("key0007", "r1")]));
}

#[test]
fn iterators_and_cursors_in_both_directions_take_over_each_others_merges() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut model = BTreeMap::new();
    let mut rng = Rng::new(0x5eed_0fc0_ffee);
    let kv = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
    for step in 0..600u32 {
        let k = key(rng.below(120) as u32);
        match rng.below(10) {
            0..=2 => {
                let v = format!("v{step}");
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            3 => {
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            4 => {
                let want: Vec<_> = model.range(k.clone()..).take(3).map(|(k, v)| kv(k, v)).collect();
                let got: Vec<_> =
                    db.range(k.as_str()..).take(3).map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect();
                assert_eq!(got, want, "step {step}: range from {k}");
            }
            5 => {
                let want: Vec<_> = model.range(..k.clone()).rev().take(3).map(|(k, v)| kv(k, v)).collect();
                let got: Vec<_> = db
                    .range(..k.as_str())
                    .rev()
                    .take(3)
                    .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                    .collect();
                assert_eq!(got, want, "step {step}: range before {k}, backwards");
            }
            6 | 7 => {
                let want: Vec<_> =
                    model.range(k.clone()..).take(2).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
                assert_eq!(seek_some(&mut db.cursor(), &k, 2), want, "step {step}: cursor from {k}");
            }
            8 => {
                // Both directions of one iterator, then dropped mid-way.
                let mut it = db.range::<&str, _>(..);
                let first = it.next().map(|e| e.unwrap().0.to_vec());
                let last = it.next_back().map(|e| e.unwrap().0.to_vec());
                assert_eq!(first.as_deref(), model.keys().next().map(|k| k.as_bytes()), "step {step}");
                if model.len() > 1 {
                    assert_eq!(last.as_deref(), model.keys().next_back().map(|k| k.as_bytes()), "step {step}");
                }
            }
            _ => db.flush().unwrap(),
        }
    }
}
