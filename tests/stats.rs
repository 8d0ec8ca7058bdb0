//! The read counters `Db::stats` reports, through the public API: bloom probes and
//! false positives per level adding up to the totals, and the data blocks scans read.

use strata::{Compaction, Compression, Db, Options};

fn key(i: u32) -> String {
    format!("key{i:08}")
}

/// 4,000 even keys, compacted onto the deeper levels, then a few more flushed to L0.
fn filled(dir: &std::path::Path) -> Db {
    let options = Options::default()
        .memtable_size(16 * 1024)
        .block_size(512)
        .compression(Compression::None)
        .compaction(Compaction::leveled());
    let db = Db::open(dir, options).unwrap();
    for i in (0..8_000).step_by(2) {
        db.put(key(i), "v".repeat(100)).unwrap();
    }
    db.compact().unwrap();
    for i in (0..8_000).step_by(400) {
        db.put(key(i), "newer").unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    db
}

#[test]
fn lookups_count_probes_and_false_positives_per_level_and_in_total() {
    let dir = tempfile::tempdir().unwrap();
    let db = filled(dir.path());
    let before = db.stats();
    assert_eq!(before.gets, 0);
    // Absent keys: every probe that passes is a false positive.
    for i in (1..8_000).step_by(2) {
        assert_eq!(db.get(key(i)).unwrap(), None);
    }
    let stats = db.stats();
    assert_eq!(stats.gets, 4_000);
    let levels = &stats.levels;
    let sum = |f: fn(&strata::LevelStats) -> u64| levels.iter().map(f).sum::<u64>();
    assert_eq!(stats.bloom_probes, sum(|l| l.bloom_probes));
    assert_eq!(stats.bloom_negatives, sum(|l| l.bloom_negatives));
    assert_eq!(stats.bloom_false_positives, sum(|l| l.bloom_false_positives));
    assert_eq!(stats.get_tables_read, sum(|l| l.get_tables_read));
    for (i, level) in levels.iter().enumerate() {
        assert_eq!(level.bloom_probes, level.bloom_negatives + level.bloom_false_positives, "L{i}: all keys absent");
        assert_eq!(level.get_tables_read, level.bloom_false_positives, "L{i}: a table is read only past its filter");
    }
    // The L0 table (the newer writes) spans nearly every absent key; the deeper levels
    // hold the rest. 10 bits per key: about 1% false positives, far below 5%.
    assert!(levels[0].bloom_probes >= 3_700, "L0 probes {}", levels[0].bloom_probes);
    assert!(levels.iter().skip(1).map(|l| l.bloom_probes).sum::<u64>() >= 3_900);
    for level in levels.iter().filter(|l| l.bloom_probes > 0) {
        assert!(level.bloom_false_positive_rate() < 0.05, "{level:?}");
    }
    // Present keys: one table (one data block) read each, past its filter.
    for i in (0..8_000).step_by(2) {
        assert!(db.get(key(i)).unwrap().is_some());
    }
    let after = db.stats();
    let reads = after.get_tables_read - stats.get_tables_read;
    assert!((4_000..4_400).contains(&reads), "{reads} tables read for 4,000 present keys");
}

#[test]
fn scans_count_the_data_blocks_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = filled(dir.path());
    assert_eq!(db.stats().scans, 0);
    // 1,000 entries of about 115 bytes in 512-byte blocks: over 200 blocks.
    let n = db.range(key(0)..key(2_000)).count();
    assert_eq!(n, 1_000);
    let one = db.stats();
    assert_eq!(one.scans, 1);
    assert!((200..400).contains(&one.scan_blocks_read), "{} blocks for 1,000 entries", one.scan_blocks_read);
    // A short one reads a block per run it seeks in, and a cursor counts as a scan.
    let first = db.range(key(4_000)..).next().unwrap().unwrap();
    assert_eq!(first.0, key(4_000).as_bytes());
    let mut cursor = db.cursor();
    cursor.seek(key(10).as_bytes());
    assert!(cursor.valid());
    drop(cursor);
    let three = db.stats();
    assert_eq!(three.scans, 3);
    let short = three.scan_blocks_read - one.scan_blocks_read;
    assert!((2..=8).contains(&short), "{short} blocks for two one-entry reads");
    assert!((three.blocks_read_per_scan() - three.scan_blocks_read as f64 / 3.0).abs() < 1e-9);
}
