//! Values bigger than a data block, checked against a `BTreeMap`: each such value is a
//! block of its own, which compactions copy whole as it is stored when they keep the
//! entry unchanged (`Stats::compaction_blocks_copied`) and rebuild otherwise. Puts of
//! big and small values, overwrites, deletes and range deletions, with snapshots taken
//! between them, through flushes, background and full compactions and a reopen; gets
//! and forward and backward scans at the live view and at every snapshot.

use std::collections::BTreeMap;

use strata::{Db, Options};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn options() -> Options {
    // 4 KiB blocks (the default) and 256 KiB memtables: many flushes and compactions.
    Options::default().memtable_size(256 << 10)
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

/// A value of `len` bytes that names its key and step, compressible as text is.
fn value(i: u64, step: u64, len: usize) -> Vec<u8> {
    format!("{i}:{step};").bytes().cycle().take(len).collect()
}

fn check(
    what: &str,
    model: &Model,
    get: impl Fn(&[u8]) -> Option<Vec<u8>>,
    scan: impl Fn(bool) -> Vec<(Vec<u8>, Vec<u8>)>,
) {
    for i in 0..KEYS + 20 {
        assert_eq!(get(&key(i)), model.get(&key(i)).cloned(), "{what}: get key {i}");
    }
    let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(scan(true) == want, "{what}: forward scan differs");
    let mut backward = scan(false);
    backward.reverse();
    assert!(backward == want, "{what}: backward scan differs");
}

const KEYS: u64 = 400;

/// Every entry of `iter`, walked forward or backward.
fn collect(iter: strata::Iter, forward: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let entry = |e: strata::Result<(strata::Bytes, strata::Bytes)>| {
        let (k, v) = e.unwrap();
        (k.to_vec(), v.to_vec())
    };
    if forward {
        iter.map(entry).collect()
    } else {
        iter.rev().map(entry).collect()
    }
}

fn db_scan(db: &Db, forward: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    collect(db.range::<&[u8], _>(..), forward)
}

#[test]
fn big_values_copied_by_compactions_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let mut model = Model::new();
    let mut snapshots = Vec::new();
    let mut rng = strata::testing::Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut random = move |n: u64| rng.below(n);
    for step in 0..6_000u64 {
        let i = random(KEYS);
        match random(20) {
            0 => {
                db.delete(key(i)).unwrap();
                model.remove(&key(i));
            }
            1 => {
                let end = (i + 1 + random(8)).min(KEYS);
                db.delete_range(key(i), key(end)).unwrap();
                model.retain(|k, _| k < &key(i) || k >= &key(end));
            }
            roll => {
                // Mostly values of 5-20 KiB (a block each), some small ones between.
                let len = if roll < 6 { 50 } else { 5_000 + random(15_000) as usize };
                let v = value(i, step, len);
                db.put(key(i), &v).unwrap();
                model.insert(key(i), v);
            }
        }
        if step % 1_000 == 999 {
            snapshots.push((db.snapshot(), model.clone()));
        }
        if step % 2_000 == 1_999 {
            db.wait_for_compactions().unwrap();
            check(
                &format!("live at step {step}"),
                &model,
                |k| db.get(k).unwrap().map(|v| v.to_vec()),
                |f| db_scan(&db, f),
            );
        }
    }
    db.compact().unwrap();
    check("after compaction", &model, |k| db.get(k).unwrap().map(|v| v.to_vec()), |f| db_scan(&db, f));
    for (n, (snapshot, seen)) in snapshots.iter().enumerate() {
        let scan = |forward: bool| collect(snapshot.range::<&[u8], _>(..), forward);
        check(&format!("snapshot {n}"), seen, |k| snapshot.get(k).unwrap().map(|v| v.to_vec()), scan);
    }
    let copied = db.stats().compaction_blocks_copied;
    assert!(copied > 1_000, "compactions copied {copied} blocks");
    drop(snapshots);
    // Without snapshots a full compaction zeroes what it rebuilds and copies the rest.
    db.compact().unwrap();
    check("after the last compaction", &model, |k| db.get(k).unwrap().map(|v| v.to_vec()), |f| db_scan(&db, f));
    drop(db);
    let db = Db::open(dir.path(), options()).unwrap();
    check("after reopen", &model, |k| db.get(k).unwrap().map(|v| v.to_vec()), |f| db_scan(&db, f));
}
