//! Cursors made one after another: a dropped cursor leaves its merge for the next
//! cursor over the same view. What the next cursor sees must not depend on that: later
//! writes and other read points show, a merge that met an error is not handed on, and
//! no merge left behind keeps compacted tables alive.

use std::path::Path;
use std::sync::Arc;

use strata::testing::{FaultyFs, Op};
use strata::{Db, Options};

mod common;

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
    fs.heal();
    let mut cursor = db.cursor();
    cursor.seek(key(150));
    assert!(cursor.valid(), "{:?}", cursor.status());
    assert_eq!(cursor.key(), key(150).as_bytes());
    cursor.status().unwrap();
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
