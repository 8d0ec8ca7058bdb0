//! Maintenance over part of the key space: `Db::approximate_size` against the true size
//! of a range.

use std::sync::Arc;

use strata::testing::{FaultyFs, Op};
use strata::{Db, Options};

const KEYS: u32 = 100_000;

fn key(i: u32) -> String {
    format!("key{i:08}")
}

/// 100 bytes that LZ4 cannot shrink, so that bytes on disk are proportional to keys.
fn value(i: u32) -> Vec<u8> {
    let mut x = u64::from(i) | 1;
    (0..100)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn approximate_size_is_within_2x_of_the_truth_and_reads_no_data_block() {
    let fs = Arc::new(FaultyFs::new());
    let opts = Options::default().memtable_size(1 << 20).file_system(fs.clone());
    let db = Db::open("/db", opts).unwrap();
    for i in 0..KEYS {
        db.put(key(i), value(i)).unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    let total = db.stats().live_sst_bytes();
    assert!(db.tables().len() > 3, "the data must span several tables");
    // Every table lies inside an unbounded range: the sum of their sizes, exactly.
    assert_eq!(db.approximate_size::<&str, _>(..), total);
    let ranges =
        [(0, 1000), (0, KEYS / 2), (KEYS / 3, KEYS / 3 + KEYS / 10), (KEYS / 2, KEYS), (12_345, 12_346 + 2000)];
    let estimates: Vec<u64> = ranges.iter().map(|&(a, b)| db.approximate_size(key(a)..key(b))).collect();
    for (&(a, b), &estimate) in ranges.iter().zip(&estimates) {
        let truth = total * u64::from(b - a) / u64::from(KEYS);
        assert!(estimate >= truth / 2 && estimate <= truth * 2, "{a}..{b}: estimate {estimate}, truth {truth}");
    }
    // The other kinds of bounds: inclusive ends, an exclusive start.
    let third = db.approximate_size(key(0)..=key(KEYS / 3));
    let rest = db.approximate_size((std::ops::Bound::Excluded(key(KEYS / 3)), std::ops::Bound::Unbounded));
    for (estimate, truth) in [(third, total / 3), (rest, total * 2 / 3)] {
        assert!(estimate >= truth / 2 && estimate <= truth * 2, "estimate {estimate}, truth {truth}");
    }
    // Nothing outside the keys, nothing for an empty range.
    assert_eq!(db.approximate_size("a".."b"), 0);
    assert_eq!(db.approximate_size("zzz"..), 0);
    assert_eq!(db.approximate_size(key(5)..key(5)), 0);
    // With every read failing, the estimates stay the same: they come from index
    // blocks already in memory, not from reading data blocks.
    fs.fail_every(Op::Read, true);
    let again: Vec<u64> = ranges.iter().map(|&(a, b)| db.approximate_size(key(a)..key(b))).collect();
    assert_eq!(again, estimates);
}

#[test]
fn data_in_memtables_is_not_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..1000 {
        db.put(key(i), value(i)).unwrap();
    }
    assert_eq!(db.approximate_size::<&str, _>(..), 0);
    db.flush().unwrap();
    assert_eq!(db.approximate_size::<&str, _>(..), db.stats().live_sst_bytes());
    assert!(db.stats().live_sst_bytes() > 0);
}

/// A random workload with ranged compactions under `options`, checked against a model
/// (and a snapshot taken midway against its copy of the model).
fn compact_range_matches_a_model(options: Options, seed: u64) {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options).unwrap();
    let mut model = BTreeMap::new();
    let mut x = seed | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut held = None;
    for step in 0..4000u32 {
        let k = format!("k{:04}", next(2000));
        if next(4) == 0 {
            db.delete(&k).unwrap();
            model.remove(&k);
        } else {
            let v = format!("{step}");
            db.put(&k, &v).unwrap();
            model.insert(k, v);
        }
        if step % 500 == 499 {
            let (a, b) = (next(2000), next(2000));
            let (lo, hi) = (format!("k{:04}", a.min(b)), format!("k{:04}", a.max(b)));
            db.compact_range(lo.as_str()..hi.as_str()).unwrap();
        }
        if step == 2000 {
            held = Some((db.snapshot(), model.clone()));
        }
    }
    let strings = |it: strata::Iter| -> Vec<(String, String)> {
        it.map(|e| {
            let (k, v) = e.unwrap();
            (String::from_utf8(k.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap())
        })
        .collect()
    };
    let want: Vec<_> = model.into_iter().collect();
    assert_eq!(strings(db.range::<&str, _>(..)), want, "seed {seed}");
    let (snapshot, then) = held.unwrap();
    assert_eq!(strings(snapshot.range::<&str, _>(..)), then.into_iter().collect::<Vec<_>>(), "seed {seed} snapshot");
}

#[test]
fn compact_range_keeps_every_key_under_both_strategies() {
    for seed in 1..=3 {
        let small = Options::default().memtable_size(16 << 10).block_size(512);
        compact_range_matches_a_model(small.clone().compaction(strata::Compaction::leveled()), seed);
        compact_range_matches_a_model(small.compaction(strata::Compaction::tiered()), seed);
    }
}

#[test]
fn compact_range_rewrites_only_the_tables_of_the_range_and_reclaims_deleted_space() {
    let dir = tempfile::tempdir().unwrap();
    // No background compaction: the tables stay where the test puts them.
    let mut lazy = strata::LeveledOptions::default();
    lazy.l0_compaction_trigger = 1000;
    let db = Db::open(dir.path(), Options::default().compaction(strata::Compaction::Leveled(lazy))).unwrap();
    // Three disjoint tables: a*, m*, z*.
    for prefix in ["a", "m", "z"] {
        for i in 0..2000u32 {
            db.put(format!("{prefix}{i:05}"), value(i)).unwrap();
        }
        db.flush().unwrap();
    }
    for i in 0..2000u32 {
        db.delete(format!("m{i:05}")).unwrap();
    }
    db.flush().unwrap();
    let before = db.tables();
    assert_eq!(before.len(), 4);
    // Empty ranges (reversed, or with nothing between the bounds) compact nothing.
    db.compact_range("n".."m").unwrap();
    db.compact_range("m00005".."m00005").unwrap();
    db.compact_range::<&str, _>((std::ops::Bound::Excluded("m00005"), std::ops::Bound::Excluded("m00005\0"))).unwrap();
    assert_eq!(
        db.tables().iter().map(|t| t.number).collect::<Vec<_>>(),
        before.iter().map(|t| t.number).collect::<Vec<_>>()
    );
    let m_bytes = db.approximate_size("m".."n");
    db.compact_range("m".."n").unwrap();
    let after = db.tables();
    // The a* and z* tables are untouched; the m* table and its tombstones are gone.
    let numbers = |t: &[strata::TableInfo]| t.iter().map(|t| t.number).collect::<std::collections::BTreeSet<_>>();
    let kept: Vec<u64> = before.iter().filter(|t| t.smallest_key[0] != b'm').map(|t| t.number).collect();
    assert!(kept.iter().all(|n| numbers(&after).contains(n)), "{before:?} -> {after:?}");
    assert_eq!(db.prefix("m").count(), 0);
    assert_eq!(db.approximate_size("m".."n"), 0, "{m_bytes} bytes of deleted keys not reclaimed");
    assert_eq!(db.prefix("a").count() + db.prefix("z").count(), 4000);
}
