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
    let mut rng = strata::testing::Rng::new(0x2545_f491_4f6c_dd1d);
    let mut random = move |n: u64| rng.below(n);
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

/// Writers (group commit) count up per key, in the default keyspace and another one,
/// through 64 KiB memtables that switch, flush and fill their indexes; readers at the
/// live view must never see a key's count go back or vanish, and a snapshot must keep
/// answering what it answered first.
#[test]
fn concurrent_writers_and_readers_never_see_a_count_go_back() {
    const WRITERS: u64 = 3;
    const KEYS: u64 = 200;
    const ROUNDS: u64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().memtable_size(64 << 10)).unwrap();
    let other = db.keyspace("other").unwrap();
    let name = |w: u64, k: u64| format!("w{w}-k{k:04}");
    let count = |v: Option<strata::Bytes>| v.map(|v| String::from_utf8(v.to_vec()).unwrap().parse::<u64>().unwrap());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let (db, other, done) = (&db, &other, &done);
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || {
                    for round in 1..=ROUNDS {
                        for k in 0..KEYS {
                            let mut batch = strata::WriteBatch::new();
                            batch.put(name(w, k), round.to_string());
                            batch.put_in(other, name(w, k), round.to_string());
                            db.write(batch).unwrap();
                        }
                    }
                })
            })
            .collect();
        for r in 0..2u64 {
            s.spawn(move || {
                let mut seen = std::collections::HashMap::new();
                let mut snapshot = None;
                let mut i = r;
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    let (w, k) = (i % WRITERS, (i * 7) % KEYS);
                    let key = name(w, k);
                    for (space, got) in [(0, count(db.get(&key).unwrap())), (1, count(other.get(&key).unwrap()))] {
                        let last = seen.entry((space, key.clone())).or_insert(0u64);
                        let got = got.unwrap_or(0);
                        assert!(got >= *last, "{key} in keyspace {space}: {got} after {last}");
                        *last = got;
                    }
                    if i % 5_000 == 0 {
                        let snap = db.snapshot();
                        let answers: Vec<_> = (0..KEYS).map(|k| count(snap.get(name(w, k)).unwrap())).collect();
                        snapshot = Some((snap, w, answers));
                    }
                    if let Some((snap, sw, answers)) = &snapshot {
                        let k = i % KEYS;
                        assert_eq!(&count(snap.get(name(*sw, k)).unwrap()), &answers[k as usize], "snapshot, key {k}");
                    }
                    i += 1;
                }
            });
        }
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
    });
    for w in 0..WRITERS {
        for k in 0..KEYS {
            assert_eq!(count(db.get(name(w, k)).unwrap()), Some(ROUNDS));
            assert_eq!(count(other.get(name(w, k)).unwrap()), Some(ROUNDS));
        }
    }
}

/// A reopen whose WAL fills several memtables: the replayed ones are flushed, the last
/// becomes the live memtable, and gets through its index find every key.
#[test]
fn gets_after_a_replay_that_filled_several_memtables() {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options::default().memtable_size(256 << 10);
    let mut model = Model::new();
    {
        let db = Db::open(dir.path(), Options::default().memtable_size(64 << 20)).unwrap();
        for i in 0..20_000u64 {
            let v = format!("value-{i}").into_bytes();
            db.put(key(i % 7_000), &v).unwrap();
            model.insert(key(i % 7_000), v);
        }
        // Dropped with everything in the WAL: the reopen below, with small memtables,
        // replays it into several.
    }
    let db = Db::open(dir.path(), options()).unwrap();
    check("after replay", 7_000, &model, |k| db.get(k).unwrap().map(|v| v.to_vec()));
    for i in 0..3_000u64 {
        let v = format!("again-{i}").into_bytes();
        db.put(key(i), &v).unwrap();
        model.insert(key(i), v);
    }
    check("after more writes", 7_000, &model, |k| db.get(k).unwrap().map(|v| v.to_vec()));
}
