//! Iteration over keys rewritten hundreds of times: a scan steps over a few old versions
//! and seeks past the rest, and what it returns must be what a scan that steps over
//! every version returns (checked against a `BTreeMap`), for the live view, for
//! snapshots taken between the rewrites, through iterators in both directions and
//! through cursors, with the versions in the memtable alone and split between it and
//! a table.

use std::collections::BTreeMap;

use strata::{Db, Options};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Keys `k000`..`k039`; `k010` is rewritten 600 times, `k011` 300 times and then
/// deleted, `k012` 40 times, `k013` 17 times, and every other key once. A snapshot and
/// a model of what it must see are taken after each of the rounds `snap_at`.
fn write_hot(db: &Db, snap_at: &[usize]) -> (Model, Vec<(strata::Snapshot, Model)>) {
    let mut model = Model::new();
    let mut snaps = Vec::new();
    let rewrites = [(10, 600), (11, 300), (12, 40), (13, 17)];
    for round in 0..600 {
        for (i, n) in rewrites {
            if round < n {
                let (k, v) = (format!("k{i:03}").into_bytes(), format!("v{i}-{round}").into_bytes());
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
        if round == 0 {
            for i in (0..40).filter(|i| !(10..14).contains(i)) {
                let (k, v) = (format!("k{i:03}").into_bytes(), format!("v{i}").into_bytes());
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
        if round == 300 {
            db.delete("k011").unwrap();
            model.remove(b"k011".as_slice());
        }
        if snap_at.contains(&round) {
            snaps.push((db.snapshot(), model.clone()));
        }
    }
    (model, snaps)
}

fn pairs(model: &Model) -> Vec<(Vec<u8>, Vec<u8>)> {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn check_iter(it: strata::Iter, model: &Model, what: &str) {
    let got: Vec<(Vec<u8>, Vec<u8>)> = it.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect();
    assert_eq!(got, pairs(model), "{what}");
}

fn check_cursor(mut cursor: strata::Cursor, model: &Model, what: &str) {
    // From the start, and from every key (a seek that lands on a hot key).
    for from in std::iter::once(None).chain(model.keys().map(Some)) {
        match from {
            None => cursor.seek_to_first(),
            Some(k) => cursor.seek(k),
        }
        let mut got = Vec::new();
        while cursor.valid() {
            got.push((cursor.key().to_vec(), cursor.value().to_vec()));
            cursor.next();
        }
        cursor.status().unwrap();
        let want: Vec<_> = match from {
            None => pairs(model),
            Some(k) => model.range(k.clone()..).map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        assert_eq!(got, want, "{what}, cursor from {from:?}");
    }
}

fn check_backward(it: strata::Iter, model: &Model, what: &str) {
    let mut back: Vec<(Vec<u8>, Vec<u8>)> =
        it.rev().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect();
    back.reverse();
    assert_eq!(back, pairs(model), "{what}: backward");
}

fn check_all(db: &Db, model: &Model, snaps: &[(strata::Snapshot, Model)], what: &str) {
    check_iter(db.range::<&[u8], _>(..), model, &format!("{what}: forward"));
    check_backward(db.range::<&[u8], _>(..), model, what);
    // Backward into a hot key from a bound just above it, and meeting the front.
    let upto: Model = model.range(..b"k011".to_vec()).map(|(k, v)| (k.clone(), v.clone())).collect();
    check_backward(db.range(..b"k011".as_slice()), &upto, &format!("{what}: below k011"));
    // From both ends at once, over everything and over a range whose back end crosses
    // the hot keys before the cursors meet.
    for (range, upto) in [(db.range::<&[u8], _>(..), None), (db.range(..=b"k013".as_slice()), Some(b"k013".to_vec()))] {
        let mut both = range;
        let mut met = Vec::new();
        while let Some(front) = both.next() {
            met.push(front.unwrap().0.to_vec());
            match both.next_back() {
                Some(back) => met.push(back.unwrap().0.to_vec()),
                None => break,
            }
        }
        met.sort();
        let want: Vec<Vec<u8>> = model.keys().filter(|k| upto.as_ref().is_none_or(|u| *k <= u)).cloned().collect();
        assert_eq!(met, want, "{what}: from both ends up to {upto:?}");
    }
    // A range that starts on a hot key and one that ends on it.
    let from: Model = model.range(b"k010".to_vec()..).map(|(k, v)| (k.clone(), v.clone())).collect();
    check_iter(db.range(b"k010".as_slice()..), &from, &format!("{what}: from k010"));
    let upto: Model = model.range(..=b"k012".to_vec()).map(|(k, v)| (k.clone(), v.clone())).collect();
    check_iter(db.range(..=b"k012".as_slice()), &upto, &format!("{what}: up to k012"));
    check_cursor(db.cursor(), model, what);
    for (i, (snap, snap_model)) in snaps.iter().enumerate() {
        check_iter(snap.range::<&[u8], _>(..), snap_model, &format!("{what}: snapshot {i}"));
        check_backward(snap.range::<&[u8], _>(..), snap_model, &format!("{what}: snapshot {i}"));
        check_cursor(snap.cursor(), snap_model, &format!("{what}: snapshot {i}"));
    }
}

#[test]
fn scans_over_hot_keys_in_the_memtable() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let (model, snaps) = write_hot(&db, &[0, 5, 16, 17, 100, 299, 300, 450]);
    check_all(&db, &model, &snaps, "memtable");
}

#[test]
fn scans_over_hot_keys_split_between_a_table_and_the_memtable() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let (mut model, mut snaps) = write_hot(&db, &[3, 200, 310]);
    db.flush().unwrap();
    // The snapshots keep some old versions in the table; more versions on top.
    for round in 0..200 {
        let (k, v) = (b"k010".to_vec(), format!("again-{round}").into_bytes());
        db.put(&k, &v).unwrap();
        model.insert(k, v);
        if round == 50 {
            snaps.push((db.snapshot(), model.clone()));
        }
    }
    check_all(&db, &model, &snaps, "table and memtable");
    drop(snaps);
    db.compact().unwrap();
    check_all(&db, &model, &[], "compacted");
}

#[test]
fn scans_with_range_deletions_and_one_newer_version_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut model = Model::new();
    for i in 0..200 {
        let (k, v) = (format!("k{i:03}").into_bytes(), format!("v{i}").into_bytes());
        db.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    // Every key then gets one version the first snapshot does not see: runs of
    // invisible versions of different keys, none of them long.
    let old = (db.snapshot(), model.clone());
    for i in 0..200 {
        let (k, v) = (format!("k{i:03}").into_bytes(), format!("w{i}").into_bytes());
        db.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    // Hot keys under a range deletion, rewritten after it: 100 versions of k050 hidden
    // by the tombstone, then 30 visible rewrites of k051.
    for round in 0..100 {
        db.put("k050", format!("x{round}")).unwrap();
        db.put("k051", format!("x{round}")).unwrap();
    }
    db.delete_range("k040", "k060").unwrap();
    model.retain(|k, _| !(b"k040".as_slice()..b"k060".as_slice()).contains(&k.as_slice()));
    let hidden = (db.snapshot(), model.clone());
    for round in 0..30 {
        let v = format!("y{round}").into_bytes();
        db.put("k051", &v).unwrap();
        model.insert(b"k051".to_vec(), v);
    }
    let snaps = [old, hidden];
    check_all(&db, &model, &snaps, "range deletions, memtable");
    db.flush().unwrap();
    check_all(&db, &model, &snaps, "range deletions, table");
}

/// One key's versions, kept by snapshots, spanning hundreds of 256-byte data blocks of
/// one table, so that many consecutive index entries (restarting every 16) separate
/// blocks of the same user key: a get at every snapshot must land on its own version,
/// and scans in both directions must see the key once, between its neighbours.
#[test]
fn one_key_spanning_hundreds_of_blocks_is_found_at_every_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().block_size(256)).unwrap();
    db.put("a", "before").unwrap();
    db.put("z", "after").unwrap();
    let mut snaps = Vec::new();
    for i in 0..1500 {
        db.put("hot", format!("{i:0>120}")).unwrap();
        if i % 7 == 0 {
            snaps.push((db.snapshot(), format!("{i:0>120}")));
        }
    }
    db.flush().unwrap();
    db.compact().unwrap();
    for (snapshot, want) in &snaps {
        assert_eq!(snapshot.get("hot").unwrap().as_deref(), Some(want.as_bytes()));
        let forward: Vec<_> = snapshot.range::<&str, _>(..).map(|e| e.unwrap().0.to_vec()).collect();
        assert_eq!(forward, [b"a".to_vec(), b"hot".to_vec(), b"z".to_vec()]);
        let backward: Vec<_> = snapshot.range::<&str, _>(..).rev().map(|e| e.unwrap().0.to_vec()).collect();
        assert_eq!(backward, [b"z".to_vec(), b"hot".to_vec(), b"a".to_vec()]);
    }
    assert_eq!(db.get("hot").unwrap().as_deref(), Some(format!("{:0>120}", 1499).as_bytes()));
    assert_eq!(db.get("ho").unwrap(), None);
    assert_eq!(db.get("hotter").unwrap(), None);
    let back: Vec<_> = db.range("b".."y").rev().map(|e| e.unwrap().0.to_vec()).collect();
    assert_eq!(back, [b"hot".to_vec()]);
}
