//! Point lookups through the memtables' point index, checked against a `BTreeMap`:
//! gets of present, deleted, overwritten and never-written keys, at the live view and
//! at snapshots taken between the writes (older than the newest version the memtable
//! holds, so the index's version is too new and the skiplist must answer), across
//! memtable switches, flushes and compactions; with entries small enough that a
//! memtable's first index fills up and goes partial, and with the index switched off.

use std::collections::BTreeMap;

use strata::{Db, Options};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn options(point_index: bool) -> Options {
    // 256 KiB memtables of ~40-byte entries: far more entries than the first memtable's
    // index is sized for, so it turns partial before its memtable fills.
    Options::default().memtable_size(256 << 10).memtable_point_index(point_index)
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// Every key `0..keys + 50` (the last 50 never written) looked up in `read`, compared
/// with `model`.
fn check(what: &str, keys: u64, model: &Model, read: impl Fn(&[u8]) -> Option<Vec<u8>>) {
    for i in 0..keys + 50 {
        let k = key(i);
        assert_eq!(read(&k), model.get(&k).cloned(), "{what}: key {i}");
    }
}

fn run(point_index: bool) {
    const KEYS: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(point_index)).unwrap();
    let mut model = Model::new();
    let mut snapshots = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for step in 0..40_000u64 {
        // A skewed key choice: a few keys are rewritten thousands of times.
        let i = if random(4) == 0 { random(20) } else { random(KEYS) };
        if random(8) == 0 {
            db.delete(key(i)).unwrap();
            model.remove(&key(i));
        } else {
            let v = format!("v{step}").into_bytes();
            db.put(key(i), &v).unwrap();
            model.insert(key(i), v);
        }
        if step % 7_000 == 6_999 {
            snapshots.push((db.snapshot(), model.clone()));
        }
        if step % 5_000 == 4_999 {
            check(&format!("live at step {step}"), KEYS, &model, |k| db.get(k).unwrap().map(|v| v.to_vec()));
        }
        if step == 20_000 {
            db.flush().unwrap();
        }
    }
    for (n, (snapshot, seen)) in snapshots.iter().enumerate() {
        check(&format!("snapshot {n}"), KEYS, seen, |k| snapshot.get(k).unwrap().map(|v| v.to_vec()));
    }
    db.compact().unwrap();
    check("after compaction", KEYS, &model, |k| db.get(k).unwrap().map(|v| v.to_vec()));
    for (n, (snapshot, seen)) in snapshots.iter().enumerate() {
        check(&format!("snapshot {n} after compaction"), KEYS, seen, |k| snapshot.get(k).unwrap().map(|v| v.to_vec()));
    }
    drop(snapshots);
    drop(db);
    let db = Db::open(dir.path(), options(point_index)).unwrap();
    check("after reopen", KEYS, &model, |k| db.get(k).unwrap().map(|v| v.to_vec()));
}

#[test]
fn gets_with_the_point_index_match_the_model() {
    run(true);
}

#[test]
fn gets_without_the_point_index_match_the_model() {
    run(false);
}

/// A snapshot reading a hot key while newer versions keep arriving in the same memtable:
/// the index holds the newest, the snapshot must get the one it saw.
#[test]
fn a_snapshot_reads_its_own_version_under_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("hot", "v0").unwrap();
    let mut snaps = Vec::new();
    for i in 1..200 {
        snaps.push((db.snapshot(), format!("v{}", i - 1)));
        db.put("hot", format!("v{i}")).unwrap();
    }
    db.delete("hot").unwrap();
    for (snapshot, want) in &snaps {
        assert_eq!(snapshot.get("hot").unwrap().as_deref(), Some(want.as_bytes()));
    }
    assert_eq!(db.get("hot").unwrap(), None);
    assert_eq!(db.get("cold").unwrap(), None);
}
