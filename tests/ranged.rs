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
