//! The public API end to end: reads and writes, reopen, errors, locking.

use strata::{Compression, Db, Error, Options, WriteBatch};

fn small() -> Options {
    Options::default().memtable_size(4096).block_size(256)
}

#[test]
fn put_get_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), small()).unwrap();
        for i in 0..2000u32 {
            db.put(format!("key{i:05}"), format!("value{i}")).unwrap();
        }
        for i in (0..2000u32).step_by(3) {
            db.delete(format!("key{i:05}")).unwrap();
        }
        assert_eq!(db.get("key00001").unwrap().as_deref(), Some(&b"value1"[..]));
        assert_eq!(db.get("key00003").unwrap(), None);
        assert!(db.stats().flushes > 1, "a tiny memtable should have been flushed many times");
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), small()).unwrap();
    for i in 0..2000u32 {
        let got = db.get(format!("key{i:05}")).unwrap();
        if i % 3 == 0 {
            assert_eq!(got, None, "key {i}");
        } else {
            assert_eq!(got.as_deref(), Some(format!("value{i}").as_bytes()), "key {i}");
        }
    }
    let all: Vec<_> = db.range::<&[u8], _>(..).map(|r| r.unwrap().0).collect();
    assert_eq!(all.len(), 2000 - 667);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let back: Vec<_> = db.range::<&[u8], _>(..).rev().map(|r| r.unwrap().0).collect();
    assert_eq!(back, all.iter().rev().cloned().collect::<Vec<_>>());
}

#[test]
fn drop_without_close_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put("a", "1").unwrap();
        let mut b = WriteBatch::new();
        b.put("b", "2");
        b.delete("a");
        db.write(b).unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get("a").unwrap(), None);
    assert_eq!(db.get("b").unwrap().as_deref(), Some(&b"2"[..]));
}

#[test]
fn bad_arguments_are_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Db::open(dir.path(), Options::default().memtable_size(0)), Err(Error::InvalidArgument(_))));
    assert!(matches!(Db::open(dir.path(), Options::default().block_size(100)), Err(Error::InvalidArgument(_))));
    let no_codecs = Options::default().compression_per_level(Vec::new());
    assert!(matches!(Db::open(dir.path(), no_codecs), Err(Error::InvalidArgument(_))));
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(db.put("", "v"), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.get(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.put(vec![1u8; 64 * 1024 + 1], "v"), Err(Error::InvalidArgument(_))));
    db.put(vec![1u8; 64 * 1024], "max key").unwrap();
    let mut b = WriteBatch::new();
    b.put("fine", "v");
    b.delete("");
    assert!(matches!(db.write(b), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get("fine").unwrap(), None, "a rejected batch writes nothing");
}

#[test]
fn large_values_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..64 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put("big", &big).unwrap();
        db.put("empty", "").unwrap();
        assert_eq!(db.get("big").unwrap().as_deref(), Some(&big[..]));
        db.flush().unwrap();
        assert_eq!(db.get("big").unwrap().as_deref(), Some(&big[..]));
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get("big").unwrap().as_deref(), Some(&big[..]));
    assert_eq!(db.get("empty").unwrap().as_deref(), Some(&b""[..]));
}

/// A value bigger than the largest block a reader decompresses (256 MiB) is stored
/// uncompressed, so it reads back after a flush and survives a compaction.
#[test]
fn a_value_over_the_compressed_block_limit_reads_back_after_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let huge: Vec<u8> = (0..260u32 << 20).map(|i| (i % 7) as u8).collect();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("a", "small").unwrap();
    db.put("huge", &huge).unwrap();
    db.flush().unwrap();
    assert!(db.get("huge").unwrap().as_deref() == Some(&huge[..]), "after flush");
    db.put("b", "small").unwrap();
    db.compact().unwrap();
    assert!(db.get("huge").unwrap().as_deref() == Some(&huge[..]), "after compaction");
    db.put("c", "writes still work").unwrap();
}

#[test]
fn second_open_is_locked_until_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(Db::open(dir.path(), Options::default()), Err(Error::Locked(_))));
    let clone = db.clone();
    db.close().unwrap();
    assert!(matches!(clone.put("k", "v"), Err(Error::Closed)));
    let db = Db::open(dir.path(), Options::default()).unwrap();
    drop(db);
    Db::open(dir.path(), Options::default()).unwrap();
}

#[test]
fn snapshots_see_the_past() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    db.put("k", "old").unwrap();
    db.put("gone", "here").unwrap();
    let snap = db.snapshot();
    db.put("k", "new").unwrap();
    db.delete("gone").unwrap();
    db.put("added", "x").unwrap();
    db.flush().unwrap();
    assert_eq!(snap.get("k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(snap.get("gone").unwrap().as_deref(), Some(&b"here"[..]));
    assert_eq!(snap.get("added").unwrap(), None);
    let keys: Vec<_> = snap.range::<&str, _>(..).map(|r| r.unwrap().0).collect();
    assert_eq!(keys, vec!["gone", "k"]);
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"new"[..]));
    let keys: Vec<_> = db.prefix("a").map(|r| r.unwrap().0).collect();
    assert_eq!(keys, vec!["added"]);
}

#[test]
fn iterator_is_a_view_as_of_creation() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    for i in 0..100u32 {
        db.put(format!("{i:03}"), "v").unwrap();
    }
    let mut it = db.range("010".."020");
    db.delete("015").unwrap();
    db.put("0105", "new").unwrap();
    db.flush().unwrap();
    let first = it.next().unwrap().unwrap();
    assert_eq!(&first.0[..], b"010");
    let rest: Vec<_> = it.map(|r| r.unwrap().0).collect();
    assert_eq!(rest.len(), 9);
    assert!(rest.iter().any(|k| &k[..] == b"015"));
    // Meeting in the middle.
    let mut it = db.range("010"..="013");
    assert_eq!(&it.next().unwrap().unwrap().0[..], b"010");
    assert_eq!(&it.next_back().unwrap().unwrap().0[..], b"013");
    assert_eq!(&it.next_back().unwrap().unwrap().0[..], b"012");
    assert_eq!(&it.next().unwrap().unwrap().0[..], b"0105");
    assert_eq!(&it.next().unwrap().unwrap().0[..], b"011");
    assert!(it.next().is_none());
    assert!(it.next_back().is_none());
}

#[test]
fn full_compaction_drops_garbage_but_keeps_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    // No background compaction: only the explicit one below runs.
    let mut lazy = strata::LeveledOptions::default();
    lazy.l0_compaction_trigger = 100_000;
    let small = || small().compaction(strata::Compaction::Leveled(lazy.clone()));
    let db = Db::open(dir.path(), small()).unwrap();
    for round in 0..5u32 {
        for i in 0..500u32 {
            db.put(format!("key{i:04}"), format!("round{round}-{}", "v".repeat(50))).unwrap();
        }
    }
    let snap = db.snapshot();
    for i in 0..500u32 {
        if i % 2 == 0 {
            db.delete(format!("key{i:04}")).unwrap();
        }
    }
    db.flush().unwrap();
    let before = db.stats();
    db.compact().unwrap();
    let after = db.stats();
    assert!(
        after.live_sst_bytes() < before.live_sst_bytes() / 2,
        "{} -> {}",
        before.live_sst_bytes(),
        after.live_sst_bytes()
    );
    assert_eq!(after.levels[0].files, 0, "everything left L0");
    assert!(after.compaction_bytes_written > 0 && after.compaction_bytes_read >= before.live_sst_bytes());
    // The snapshot still sees the deleted keys.
    assert_eq!(snap.get("key0000").unwrap().as_deref(), Some(format!("round4-{}", "v".repeat(50)).as_bytes()));
    assert_eq!(snap.range::<&str, _>(..).count(), 500);
    assert_eq!(db.get("key0000").unwrap(), None);
    assert_eq!(db.range::<&str, _>(..).count(), 250);
    // Without the snapshot a second compaction drops the tombstones and old versions too.
    drop(snap);
    db.compact().unwrap();
    let last = db.stats();
    assert!(last.live_sst_bytes() < after.live_sst_bytes(), "{} -> {}", after.live_sst_bytes(), last.live_sst_bytes());
    drop(db);
    let db = Db::open(dir.path(), small()).unwrap();
    assert_eq!(db.range::<&str, _>(..).count(), 250);
    assert_eq!(db.get("key0001").unwrap().as_deref(), Some(format!("round4-{}", "v".repeat(50)).as_bytes()));
    // Only live files remain in the directory.
    let tables = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sst"))
        .count();
    assert_eq!(tables, db.stats().levels.iter().map(|l| l.files).sum::<usize>());
}

#[test]
fn compression_settings_mix_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    // Text-like values (about 2:1 compressible), as most real values are.
    let value = |i: u32| format!("{i:08}").repeat(12);
    let load = |db: &Db, from: u32| {
        for i in from..from + 3000 {
            db.put(format!("key{i:06}"), value(i)).unwrap();
        }
        db.compact().unwrap();
    };
    let plain = tempfile::tempdir().unwrap();
    let db = Db::open(plain.path(), Options::default().compression(Compression::None)).unwrap();
    load(&db, 0);
    let uncompressed = db.stats().live_sst_bytes();
    db.close().unwrap();

    // L0 stays raw, deeper levels use LZ4; then the tables are reread, and added to,
    // with compression off: each block says how it was stored.
    let db =
        Db::open(dir.path(), Options::default().compression_per_level([Compression::None, Compression::Lz4])).unwrap();
    load(&db, 0);
    let compressed = db.stats().live_sst_bytes();
    assert!(compressed * 10 < uncompressed * 7, "lz4 {compressed} bytes vs {uncompressed} raw");
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default().compression(Compression::None)).unwrap();
    load(&db, 3000);
    for i in 0..6000 {
        assert_eq!(db.get(format!("key{i:06}")).unwrap().as_deref(), Some(value(i).as_bytes()), "key {i}");
    }
    assert_eq!(db.range::<&[u8], _>(..).count(), 6000);
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_at_the_last_level_is_smaller_than_lz4_and_reads_back() {
    // Values like documents: kilobytes, repetitive across entries.
    let value = |i: u32| format!("{{\"id\": {i}, \"name\": \"user{}\", \"tags\": [\"a\", \"b\"]}}", i % 97).repeat(8);
    let load = |codecs: Vec<Compression>| {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default().memtable_size(256 * 1024).compression_per_level(codecs.clone());
        let db = Db::open(dir.path(), options.clone()).unwrap();
        for i in 0..4000 {
            db.put(format!("key{i:06}"), value(i)).unwrap();
        }
        db.compact().unwrap();
        let bytes = db.stats().live_sst_bytes();
        db.close().unwrap();
        // Reopened (under the same codecs and under none): every block says its codec.
        for options in [options, Options::default().compression(Compression::None)] {
            let db = Db::open(dir.path(), options).unwrap();
            for i in (0..4000).step_by(7) {
                assert_eq!(db.get(format!("key{i:06}")).unwrap().as_deref(), Some(value(i).as_bytes()), "{codecs:?}");
            }
            assert_eq!(db.range::<&[u8], _>(..).count(), 4000);
        }
        bytes
    };
    let lz4 = load(vec![Compression::Lz4]);
    let zstd_last = load(vec![Compression::Lz4, Compression::Lz4, Compression::Zstd]);
    let zstd = load(vec![Compression::Zstd]);
    assert!(zstd_last * 10 < lz4 * 9, "zstd at the last level: {zstd_last} bytes, LZ4: {lz4}");
    assert!(zstd <= zstd_last + zstd_last / 20, "zstd everywhere {zstd}, at the last level {zstd_last}");
}

#[test]
fn a_returned_flush_leaves_only_the_live_wal_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let logs = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".log"))
            .count()
    };
    for round in 0..20u32 {
        for i in 0..200u32 {
            db.put(format!("key{round:02}{i:04}"), [b'v'; 100]).unwrap();
        }
        db.flush().unwrap();
        // Disk usage read right after a flush (as benchmarks do) must not count a WAL
        // whose memtable is already in a table.
        assert_eq!(logs(), 1, "round {round}: a retired WAL outlived flush()");
    }
    assert_eq!(db.get("key190199").unwrap().as_deref(), Some(&[b'v'; 100][..]));
}

#[test]
fn memtables_filled_counts_only_switches_that_writes_caused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    db.put("a", "1").unwrap();
    db.flush().unwrap();
    let stats = db.stats();
    assert_eq!((stats.memtables_filled, stats.flushes), (0, 1), "an explicit flush is not a full memtable");
    for i in 0..200u32 {
        db.put(format!("key{i:05}"), [b'v'; 100]).unwrap();
    }
    // ~23 KB of writes into 4 KiB memtables.
    assert!(db.stats().memtables_filled >= 4, "{}", db.stats().memtables_filled);
}

#[test]
fn large_memtables_with_and_without_huge_pages_hold_the_same_data() {
    // 16 MiB memtables have arena chunks big enough for huge pages; ~21 MB of writes in
    // scattered order fill one past its size, so it is flushed and a second one is
    // written, then both sides are read back before and after a reopen.
    let key = |i: u32| format!("{:08x}", i.wrapping_mul(0x9e37_79b9));
    let value = |i: u32| format!("{i:0>120}");
    for huge in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let opts = || Options::default().memtable_size(16 << 20).memtable_huge_pages(huge);
        let db = Db::open(dir.path(), opts()).unwrap();
        for i in 0..150_000u32 {
            db.put(key(i), value(i)).unwrap();
        }
        // The first memtable filled up and was frozen; then everything is flushed to
        // tables and read back from them.
        assert!(db.stats().memtables_filled >= 1, "huge_pages={huge}");
        db.wait_for_compactions().unwrap();
        assert!(db.stats().flushes >= 1, "huge_pages={huge}");
        for i in (0..150_000u32).step_by(7) {
            assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(value(i).as_bytes()), "huge_pages={huge} key {i}");
        }
        db.close().unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        let mut seen = 0;
        for entry in db.range::<&[u8], _>(..) {
            let (k, v) = entry.unwrap();
            let i = u32::from_str_radix(std::str::from_utf8(&k).unwrap(), 16).unwrap().wrapping_mul(0x144c_bc89);
            assert_eq!(&v[..], value(i).as_bytes(), "huge_pages={huge}");
            seen += 1;
        }
        assert_eq!(seen, 150_000, "huge_pages={huge}");
    }
}

#[test]
fn cursor_lends_the_view_it_was_created_with() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    for i in 0..300u32 {
        db.put(format!("key{i:04}"), format!("old{i}")).unwrap();
    }
    db.flush().unwrap();
    for i in (0..300u32).step_by(2) {
        db.put(format!("key{i:04}"), format!("new{i}")).unwrap();
    }
    db.delete("key0003").unwrap();
    let mut cursor = db.cursor();
    // Written after the cursor was made, then flushed and compacted away: invisible.
    db.put("key0001", "later").unwrap();
    db.put("key0000a", "inserted").unwrap();
    db.compact().unwrap();
    cursor.seek_to_first();
    let mut seen = Vec::new();
    while cursor.valid() {
        seen.push((
            String::from_utf8(cursor.key().to_vec()).unwrap(),
            String::from_utf8(cursor.value().to_vec()).unwrap(),
        ));
        cursor.next();
    }
    cursor.status().unwrap();
    let want: Vec<(String, String)> = (0..300u32)
        .filter(|&i| i != 3)
        .map(|i| (format!("key{i:04}"), if i % 2 == 0 { format!("new{i}") } else { format!("old{i}") }))
        .collect();
    assert_eq!(seen, want);
    // Seeks land on the first key at or after the target; past the end is not valid,
    // and stepping there does nothing.
    cursor.seek("key0002x");
    assert_eq!((cursor.key(), cursor.value()), (&b"key0004"[..], &b"new4"[..]));
    cursor.seek("zzz");
    assert!(!cursor.valid() && cursor.key().is_empty());
    cursor.next();
    assert!(!cursor.valid());
    cursor.status().unwrap();
    // A fresh cursor sees the later writes.
    let mut fresh = db.cursor();
    fresh.seek("key0000");
    fresh.next();
    assert_eq!((fresh.key(), fresh.value()), (&b"key0000a"[..], &b"inserted"[..]));
    let handle = db.clone();
    db.close().unwrap();
    let closed = handle.cursor();
    assert!(!closed.valid());
    assert!(matches!(closed.status(), Err(Error::Closed)), "{:?}", closed.status());
}

#[test]
fn flushes_write_the_same_tables_with_or_without_a_compression_thread() {
    // Flushed tables only (no compaction), from the same writes: byte-identical files.
    let load = |parallel: bool| {
        let dir = tempfile::tempdir().unwrap();
        // A strategy that never merges, so that every table is a flush's.
        let mut never = strata::TieredOptions::default();
        (never.min_threshold, never.max_threshold, never.max_size_amplification_percent) = (1000, 1000, u64::MAX);
        let opts = Options::default().memtable_size(256 << 10).parallel_flush_compression(parallel);
        let db = Db::open(dir.path(), opts.compaction(strata::Compaction::Tiered(never))).unwrap();
        for i in 0..20_000u32 {
            let value =
                if i % 3 == 0 { format!("{i:08}").repeat(12) } else { format!("{}", i.wrapping_mul(2_654_435_761)) };
            db.put(format!("key{:06}", (i * 7919) % 20_000), value).unwrap();
        }
        db.flush().unwrap();
        let mut tables = db.tables();
        tables.sort_by_key(|t| t.number);
        let files: Vec<Vec<u8>> =
            tables.iter().map(|t| std::fs::read(dir.path().join(format!("{:06}.sst", t.number))).unwrap()).collect();
        assert_eq!(db.range::<&[u8], _>(..).count(), 20_000);
        db.close().unwrap();
        files
    };
    let (serial, parallel) = (load(false), load(true));
    assert!(serial.len() > 3, "{} tables", serial.len());
    assert!(serial == parallel, "the flushed tables differ");
}

#[test]
fn long_scans_fill_the_block_cache_only_up_to_the_scan_fill_limit() {
    const CACHE: usize = 4 << 20;
    let options = || Options::default().block_size(1024).block_cache_size(CACHE).compression(Compression::None);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    for i in 0..20_000u32 {
        db.put(format!("key{i:08}"), [i as u8; 100]).unwrap();
    }
    db.compact().unwrap();
    let table_bytes: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
    assert!(table_bytes > 2 << 20 && table_bytes < CACHE as u64, "{table_bytes}");
    let scan = |db: &Db| {
        let mut cursor = db.cursor();
        cursor.seek_to_first();
        let mut n = 0;
        while cursor.valid() {
            assert_eq!(cursor.value(), [n as u8; 100]);
            n += 1;
            cursor.next();
        }
        cursor.status().unwrap();
        assert_eq!(n, 20_000);
    };

    // The default limit, an eighth of the cache: the rest of the scan is read and dropped.
    scan(&db);
    let cached = db.stats().block_cache_bytes;
    assert!(cached > 0 && cached <= (CACHE / 8 + 4096) as u64, "a cursor's scan cached {cached} bytes");
    assert_eq!(db.range::<&[u8], _>(..).count(), 20_000);
    let cached = db.stats().block_cache_bytes;
    assert!(cached <= (CACHE / 4 + 8192) as u64, "an iterator's scan cached up to {cached} bytes");
    // A seek's block enters whatever the budget.
    let mut cursor = db.cursor();
    cursor.seek("key00019990");
    assert_eq!(cursor.key(), b"key00019990");
    assert!(db.stats().block_cache_bytes > cached, "the block a seek lands in enters the cache");
    drop(cursor);
    db.close().unwrap();

    // No limit: a scan caches every block, as LevelDB and RocksDB do by default.
    let db = Db::open(dir.path(), options().scan_fill_limit(usize::MAX)).unwrap();
    scan(&db);
    let cached = db.stats().block_cache_bytes;
    assert!(cached >= table_bytes * 9 / 10, "{cached} of {table_bytes} table bytes cached");
}

#[test]
fn gets_find_the_newest_version_among_more_overlapping_tables_than_are_gathered_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let mut leveled = strata::LeveledOptions::default();
    leveled.l0_compaction_trigger = 1000;
    let db = Db::open(dir.path(), Options::default().compaction(strata::Compaction::Leveled(leveled))).unwrap();
    // 40 L0 tables, newest last; key "k{t}" was last written to table t, "shared" in
    // every table, "oldest" only in the first and "gone" deleted in the 30th.
    for t in 0..40u32 {
        if t == 0 {
            db.put("oldest", "first").unwrap();
        }
        if t == 29 {
            db.delete("gone").unwrap();
        } else if t < 29 {
            db.put("gone", format!("g{t}")).unwrap();
        }
        db.put(format!("k{t:02}"), format!("v{t}")).unwrap();
        db.put("shared", format!("s{t}")).unwrap();
        db.flush().unwrap();
    }
    assert_eq!(db.stats().levels[0].files, 40);
    assert_eq!(db.get("oldest").unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(db.get("shared").unwrap().as_deref(), Some(&b"s39"[..]));
    assert_eq!(db.get("gone").unwrap(), None);
    for t in 0..40u32 {
        assert_eq!(db.get(format!("k{t:02}")).unwrap(), Some(format!("v{t}").into()), "table {t}");
    }
    assert_eq!(db.get("k40").unwrap(), None);
}

#[test]
fn without_create_if_missing_a_path_without_a_database_is_an_error_and_stays_absent() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("db");
    let refused = Db::open(&missing, Options::default().create_if_missing(false));
    assert!(matches!(&refused, Err(Error::InvalidArgument(why)) if why.contains(&*missing.to_string_lossy())));
    assert!(!dir.path().join("no").exists());
    Db::open(&missing, Options::default()).unwrap().close().unwrap();
    let db = Db::open(&missing, Options::default().create_if_missing(false)).unwrap();
    db.put("k", "v").unwrap();
}
