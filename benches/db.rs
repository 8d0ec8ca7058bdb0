//! End-to-end benchmarks through `Db`: put, get (hit and miss), seek and scan, with
//! 16-byte keys and 100-byte values, reads over a range holding many range tombstones,
//! transactions, and a compaction of big values. Public API only, so that the same file measures an
//! older build for before/after comparisons.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strata::{Compaction, Db, LeveledOptions, Options};

const N: u64 = 100_000;

fn key(i: u64) -> [u8; 16] {
    let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&h.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn loaded(flush: bool) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for i in 0..N {
        db.put(key(i), [7u8; 100]).expect("put");
    }
    if flush {
        db.flush().expect("flush");
    }
    (dir, db)
}

/// N keys spread over `tables` overlapping L0 tables (every `tables`-th key in each), as
/// a tree looks between compactions (3) or as a size-tiered tree with many runs does
/// (24); `cache` is the block cache size. L0 is never compacted, so the shape holds.
fn overlapping_tables(tables: u64, cache: usize) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut leveled = LeveledOptions::default();
    leveled.l0_compaction_trigger = 1000;
    let opts = Options::default().block_cache_size(cache).compaction(Compaction::Leveled(leveled));
    let db = Db::open(dir.path(), opts).expect("open");
    for part in 0..tables {
        for i in (part..N).step_by(tables as usize) {
            db.put(key(i), [7u8; 100]).expect("put");
        }
        db.flush().expect("flush");
    }
    assert_eq!(db.stats().sorted_runs, tables as usize, "the tables stay in L0");
    (dir, db)
}

/// Entries a full scan through a lending cursor visits.
fn cursor_scan(db: &Db) -> usize {
    let mut cursor = db.cursor();
    cursor.seek_to_first();
    let mut n = 0;
    while cursor.valid() {
        black_box((cursor.key(), cursor.value()));
        n += 1;
        cursor.next();
    }
    n
}

fn put(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_put");
    g.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut i = 0u64;
    g.bench_function("random_16B_key_100B_value", |b| {
        b.iter(|| {
            i += 1;
            db.put(key(i), [7u8; 100]).expect("put");
        })
    });
    // Document-sized values: the WAL's large-record path.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let value = vec![7u8; 16 * 1024];
    let mut i = 0u64;
    g.bench_function("random_16B_key_16KiB_value", |b| {
        b.iter(|| {
            i += 1;
            db.put(key(i), &value).expect("put");
        })
    });
    // Keys in ascending order (fillseq, time series, log-structured ids).
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut i = 0u64;
    g.bench_function("sequential_16B_key_100B_value", |b| {
        b.iter(|| {
            i += 1;
            db.put(i.to_be_bytes(), [7u8; 100]).expect("put");
        })
    });
    // Four client threads at once, unsynced and synced: the write queue's group commit
    // and its hand-offs between threads (with two cores, more writers than cores).
    for synced in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(dir.path(), Options::default()).expect("open");
        let name = if synced { "4_threads_synced_100B_value" } else { "4_threads_100B_value" };
        let options = strata::WriteOptions::new().sync(synced);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let each = iters.div_ceil(4);
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for t in 0..4u64 {
                        let (db, options) = (&db, &options);
                        s.spawn(move || {
                            for i in 0..each {
                                let mut batch = strata::WriteBatch::new();
                                batch.put(key((t << 40) + i), [7u8; 100]);
                                db.write_opt(batch, options).expect("put");
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn get(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_get");
    g.throughput(Throughput::Elements(1));
    for (name, flush) in [("memtable", false), ("sstable_cached", true)] {
        let (_dir, db) = loaded(flush);
        let mut i = 0u64;
        g.bench_function(format!("hit_{name}"), |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                black_box(db.get(key(i)).expect("get"));
            })
        });
        g.bench_function(format!("miss_{name}"), |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                black_box(db.get(key(i + N)).expect("get"));
            })
        });
    }
    // A cache a tenth of the data's size: most gets decode a block and evict another,
    // as random reads over a database larger than its cache do.
    let (_dir, db) = overlapping_tables(1, 1 << 20);
    let mut i = 0u64;
    g.bench_function("hit_cache_a_tenth_of_data", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(db.get(key(i)).expect("get"));
        })
    });
    // Every block read goes to the file (and is decompressed, where compressed).
    let (_dir, db) = overlapping_tables(3, 0);
    let mut i = 0u64;
    g.bench_function("hit_3_tables_uncached", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(db.get(key(i)).expect("get"));
        })
    });
    g.finish();
}

fn seek(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_seek");
    g.throughput(Throughput::Elements(1));
    for tables in [3, 24] {
        let (_dir, db) = overlapping_tables(tables, 32 << 20);
        let mut i = 0u64;
        g.bench_function(format!("random_{tables}_tables_one_entry"), |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                black_box(db.range(key(i)..).next().expect("an entry").expect("read"));
            })
        });
        // The same through a lending cursor: no owned key or value.
        g.bench_function(format!("random_{tables}_tables_one_entry_cursor"), |b| {
            b.iter(|| {
                i = (i + 7919) % N;
                let mut cursor = db.cursor();
                cursor.seek(key(i));
                black_box((cursor.key().len(), cursor.value().len()))
            })
        });
    }
    g.finish();
}

fn scan(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_scan");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    for (name, flush) in [("memtable", false), ("sstable", true)] {
        let (_dir, db) = loaded(flush);
        g.bench_function(format!("full_{name}"), |b| {
            b.iter_batched(|| (), |()| black_box(db.range::<&[u8], _>(..).count()), BatchSize::SmallInput)
        });
        g.bench_function(format!("full_{name}_cursor"), |b| b.iter(|| black_box(cursor_scan(&db))));
    }
    // 24 runs: each step of the merge picks among 24 positioned tables.
    for tables in [3, 24] {
        let (_dir, db) = overlapping_tables(tables, 32 << 20);
        g.bench_function(format!("full_{tables}_tables"), |b| {
            b.iter_batched(|| (), |()| black_box(db.range::<&[u8], _>(..).count()), BatchSize::SmallInput)
        });
        g.bench_function(format!("full_{tables}_tables_cursor"), |b| b.iter(|| black_box(cursor_scan(&db))));
    }
    g.finish();

    // Short scans (50 entries from a random key) over keys of which every 100th was
    // rewritten 500 times, all versions still in the memtable: YCSB E after updates of
    // zipfian keys.
    let mut g = c.benchmark_group("db_scan_hot_keys");
    g.throughput(Throughput::Elements(50));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for i in 0..N / 10 {
        db.put(seq_key(i), [7u8; 100]).expect("put");
    }
    for round in 0..500u32 {
        for i in (0..N / 10).step_by(100) {
            db.put(seq_key(i), round.to_le_bytes()).expect("put");
        }
    }
    let mut i = 0u64;
    g.bench_function("scan_50_memtable_cursor", |b| {
        b.iter(|| {
            i = (i + 7919) % (N / 10);
            let mut cursor = db.cursor();
            cursor.seek(seq_key(i));
            let mut n = 0;
            while n < 50 && cursor.valid() {
                black_box((cursor.key(), cursor.value()));
                n += 1;
                cursor.next();
            }
            n
        })
    });
    // The same keys backwards from a random key: each hot key's 500 versions arrive
    // oldest first.
    let mut i = 0u64;
    g.bench_function("scan_50_backward_memtable", |b| {
        b.iter(|| {
            i = (i + 7919) % (N / 10);
            db.range(..seq_key(i)).rev().take(50).map(|r| r.expect("read").1.len()).sum::<usize>()
        })
    });
    g.finish();
}

/// Keys of the range-deletion benchmarks: sequential, so a range holds known keys.
fn seq_key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Keys in the tombstoned range (the first `RANGE` keys of `RANGE_DB`).
const RANGE: u64 = 10_000;
const RANGE_DB: u64 = 20_000;

/// `RANGE_DB` keys in a table, then 1,000 range deletions over the first `RANGE`: with
/// `overlap` each is 100 keys wide and starts 10 after the last (every key under 10
/// of them), else each deletes 5 keys of every 10 (half the range). The tombstones
/// stay in the memtable or are flushed to a table of their own.
fn tombstoned(tombstones: u64, overlap: bool, flush: bool) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for i in 0..RANGE_DB {
        db.put(seq_key(i), [7u8; 100]).expect("put");
    }
    db.flush().expect("flush");
    let width = if overlap { 100 } else { 5 };
    for t in 0..tombstones {
        let start = t * RANGE / tombstones.max(1);
        db.delete_range(seq_key(start), seq_key((start + width).min(RANGE))).expect("delete_range");
    }
    if flush {
        db.flush().expect("flush");
    }
    (dir, db)
}

fn range_deletions(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_range_tombstones");
    g.sample_size(20);
    for (name, tombstones, overlap, flush) in [
        ("none", 0, false, true),
        ("1000_memtable", 1000, false, false),
        ("1000_sstable", 1000, false, true),
        ("1000_overlapping_sstable", 1000, true, true),
    ] {
        let (_dir, db) = tombstoned(tombstones, overlap, flush);
        g.throughput(Throughput::Elements(RANGE));
        g.bench_function(format!("scan_range_{name}"), |b| {
            b.iter(|| black_box(db.range(seq_key(0)..seq_key(RANGE)).count()))
        });
        g.throughput(Throughput::Elements(1));
        let mut i = 0u64;
        g.bench_function(format!("get_in_range_{name}"), |b| {
            b.iter(|| {
                i = (i + 7919) % RANGE;
                black_box(db.get(seq_key(i)).expect("get"))
            })
        });
    }
    g.finish();
}

/// A read-modify-write of 4 keys (16-byte keys, 100-byte values) as an optimistic
/// transaction (4 gets through its snapshot, 4 puts, a checked commit) against the same
/// 4 gets and a plain batch of the 4 puts.
fn transactions(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_transaction");
    g.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for i in 0..N {
        db.put(key(i), [7u8; 100]).expect("put");
    }
    let mut i = 0u64;
    let mut next = move || {
        i = (i + 4) % N;
        i
    };
    g.bench_function("rmw_4_keys_batch", |b| {
        b.iter(|| {
            let first = next();
            let mut batch = strata::WriteBatch::new();
            for k in first..first + 4 {
                black_box(db.get(key(k)).expect("get"));
                batch.put(key(k), [8u8; 100]);
            }
            db.write(batch).expect("write");
        })
    });
    g.bench_function("rmw_4_keys_transaction", |b| {
        b.iter(|| {
            let first = next();
            let mut txn = db.transaction();
            for k in first..first + 4 {
                black_box(txn.get(key(k)).expect("get"));
                txn.put(key(k), [8u8; 100]);
            }
            txn.commit().expect("commit");
        })
    });
    g.finish();
}

/// A full compaction of four overlapping L0 tables of 16 KiB values (2,000 keys, 32 MB,
/// text-like values that LZ4 halves): each value is a data block of its own, which a
/// compaction can copy as stored instead of rebuilding and compressing it.
fn compaction(c: &mut Criterion) {
    let mut g = c.benchmark_group("db_compact");
    g.sample_size(10);
    let value = |i: u64| -> Vec<u8> { format!("value {i} of a document, ").bytes().cycle().take(16 * 1024).collect() };
    g.bench_function("4_l0_tables_16KiB_values", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut leveled = LeveledOptions::default();
                leveled.l0_compaction_trigger = 1000;
                let opts = Options::default().compaction(Compaction::Leveled(leveled));
                let db = Db::open(dir.path(), opts).expect("open");
                for part in 0..4u64 {
                    for i in (part..2_000).step_by(4) {
                        db.put(key(i), value(i)).expect("put");
                    }
                    db.flush().expect("flush");
                }
                (dir, db)
            },
            |(dir, db)| {
                db.compact().expect("compact");
                (dir, db)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, put, get, seek, scan, range_deletions, transactions, compaction);
criterion_main!(benches);
