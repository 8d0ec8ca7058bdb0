//! Criterion benches of the engine's parts, each beside a baseline where one exists:
//! the skiplist against `BTreeMap` and `crossbeam-skiplist`, block build and seek, LZ4
//! block decoding against lz4_flex's decoder, bloom build and probe, and WAL append.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strata::fs::{FileSystem, OsFileSystem};
use strata::internals::key::{compare_internal, make_internal_key, seek_key, Lookup, LookupKey, ValueKind};
use strata::internals::{
    lz4, Block, BlockBuilder, BloomBuilder, BloomFilter, ChunkPool, InternalIterator, KeyFormat, LogWriter, MemTable,
};

const N: u64 = 100_000;

fn user_key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn skiplist(c: &mut Criterion) {
    let mut g = c.benchmark_group("memtable_insert_100k");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    let value = [7u8; 100];
    g.bench_function("strata_skiplist", |b| {
        b.iter(|| {
            let m = MemTable::new(64 << 20);
            for i in 0..N {
                m.add(i + 1, ValueKind::Put, &user_key(i), &value);
            }
            m
        })
    });
    g.bench_function("btreemap", |b| {
        b.iter(|| {
            let mut m = BTreeMap::new();
            for i in 0..N {
                m.insert(make_internal_key(&user_key(i), i + 1, ValueKind::Put), value.to_vec());
            }
            m
        })
    });
    g.bench_function("crossbeam_skiplist", |b| {
        b.iter(|| {
            let m = crossbeam_skiplist::SkipMap::new();
            for i in 0..N {
                m.insert(make_internal_key(&user_key(i), i + 1, ValueKind::Put), value.to_vec());
            }
            m
        })
    });
    g.finish();

    // A whole 64 MiB memtable filled in random key order, as a flush-sized memtable is
    // under random puts: far beyond the CPU caches, so what this measures is memory
    // and TLB latency (the arena's huge pages), not comparisons.
    let mut g = c.benchmark_group("memtable_fill_64mib");
    let fill = 440_000;
    g.throughput(Throughput::Elements(fill));
    g.sample_size(10);
    g.bench_function("strata_skiplist", |b| {
        b.iter(|| {
            let m = MemTable::new(64 << 20);
            for i in 0..fill {
                m.add(i + 1, ValueKind::Put, &user_key(i), &value);
            }
            m
        })
    });
    g.bench_function("strata_no_point_index", |b| {
        b.iter(|| {
            let m = MemTable::with_pool(64 << 20, true, None, None);
            for i in 0..fill {
                m.add(i + 1, ValueKind::Put, &user_key(i), &value);
            }
            m
        })
    });
    g.finish();

    // Point lookups in such a full memtable, with its point index and without (the
    // skiplist search alone): a get's first step whenever the memtable is large.
    let mut g = c.benchmark_group("memtable_lookup_64mib");
    g.throughput(Throughput::Elements(1));
    for (name, index) in [("point_index", Some(150)), ("skiplist_only", None)] {
        let m = MemTable::with_pool(64 << 20, true, None, index);
        for i in 0..fill {
            m.add(i + 1, ValueKind::Put, &user_key(i), &value);
        }
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                // Every other probe a key the memtable does not hold.
                i = (i + 7919) % (2 * fill);
                black_box(m.get(&LookupKey::new(&user_key(i), u64::MAX >> 8)) != Lookup::Missing)
            })
        });
    }
    g.finish();

    // 64 MiB of 16 KiB values, the arena's chunks fresh (memory the kernel zeroes on
    // first touch) or recycled from the memtable before, as a keyspace's memtables are.
    let mut g = c.benchmark_group("memtable_fill_64mib_16k_values");
    let (fill, big) = (4000u64, vec![7u8; 16 << 10]);
    g.throughput(Throughput::Elements(fill));
    g.sample_size(10);
    let pool = ChunkPool::new(64 << 20);
    for (name, pool) in [("fresh_chunks", None), ("recycled_chunks", Some(pool))] {
        g.bench_function(name, |b| {
            b.iter(|| {
                // No point index: this measures the arena's chunks alone.
                let m = MemTable::with_pool(64 << 20, true, pool.clone(), None);
                for i in 0..fill {
                    m.add(i + 1, ValueKind::Put, &user_key(i), &big);
                }
                m
            })
        });
    }
    g.finish();

    // Reading that memtable in order, as a flush does: the linked walk misses the cache
    // at every node; `bulk_iter` lists the nodes several stretches at a time first.
    let mut g = c.benchmark_group("memtable_scan_64mib");
    g.throughput(Throughput::Elements(fill));
    g.sample_size(10);
    let full = Arc::new(MemTable::new(64 << 20));
    for i in 0..fill {
        full.add(i + 1, ValueKind::Put, &user_key(i), &value);
    }
    let read_all = |it: &mut dyn InternalIterator| {
        let mut bytes = 0;
        it.seek_to_first();
        while it.valid() {
            bytes += it.key()[0] as usize + it.value()[99] as usize;
            it.next();
        }
        bytes
    };
    g.bench_function("linked_walk", |b| b.iter(|| read_all(&mut full.iter())));
    g.bench_function("bulk_iter", |b| b.iter(|| read_all(&mut full.bulk_iter())));
    g.finish();

    let mut g = c.benchmark_group("memtable_lookup");
    g.throughput(Throughput::Elements(1));
    let m = MemTable::new(64 << 20);
    let mut bt = BTreeMap::new();
    let cb = crossbeam_skiplist::SkipMap::new();
    for i in 0..N {
        m.add(i + 1, ValueKind::Put, &user_key(i), &value);
        bt.insert(make_internal_key(&user_key(i), i + 1, ValueKind::Put), value.to_vec());
        cb.insert(make_internal_key(&user_key(i), i + 1, ValueKind::Put), value.to_vec());
    }
    let mut i = 0u64;
    g.bench_function("strata_skiplist", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(m.get(&LookupKey::new(&user_key(i), u64::MAX >> 8)) != Lookup::Missing)
        })
    });
    g.bench_function("btreemap", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(bt.range(seek_key(&user_key(i), u64::MAX >> 8)..).next().is_some())
        })
    });
    g.bench_function("crossbeam_skiplist", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(cb.lower_bound(std::ops::Bound::Included(&seek_key(&user_key(i), u64::MAX >> 8))).is_some())
        })
    });
    g.finish();
}

fn blocks(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> =
        (0..40u64).map(|i| make_internal_key(format!("key{i:012}").as_bytes(), i, ValueKind::Put)).collect();
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("build_4k", |b| {
        b.iter(|| {
            let mut bb = BlockBuilder::new(16);
            for k in &keys {
                bb.add(k, &[1u8; 80]);
            }
            bb.finish()
        })
    });
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    // `seek_internal_format` seeks a block as tables store their data and index
    // blocks: trailers apart from user keys.
    for (name, format) in [("seek", KeyFormat::Plain), ("seek_internal_format", KeyFormat::Internal)] {
        let mut bb = BlockBuilder::with_key_format(16, format);
        for k in &keys {
            bb.add(k, &[1u8; 80]);
        }
        let block = Arc::new(
            Block::with_key_format(Bytes::from(bb.finish().into_vec()), format, "bench".into(), 0).expect("block"),
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7) % keys.len();
                let mut it = block.iter(compare_internal);
                it.seek(&keys[i]);
                black_box(it.valid())
            })
        });
    }
    // A seek into one of 16 384 db_bench-like blocks (64 MiB, more than the CPU caches
    // hold), as a lookup that finds its block in the block cache makes: the block itself
    // is cold in the CPU cache.
    let blocks: Vec<Arc<Block>> = (0..16_384u64)
        .map(|seed| {
            let mut bb = BlockBuilder::with_key_format(16, KeyFormat::Internal);
            for (key, value) in db_bench_entries(seed + 1) {
                bb.add(&key, &value);
            }
            Arc::new(
                Block::with_key_format(Bytes::from(bb.finish().into_vec()), KeyFormat::Internal, "bench".into(), 0)
                    .expect("block"),
            )
        })
        .collect();
    // A seek into one of 8 index blocks of 16 384 entries each (as a table of 64 MiB
    // has; 4 MiB in all with a restart at every entry, more than L2 holds): a binary
    // search whose deeper steps miss the cache. With restarts every 16 entries the
    // keys share prefixes and the blocks shrink, and the search ends in a short scan.
    let index_blocks = |restart_interval: usize| -> Vec<Arc<Block>> {
        (0..8u64)
            .map(|b| {
                let mut bb = BlockBuilder::with_key_format(restart_interval, KeyFormat::Internal);
                for i in 0..16_384u64 {
                    let key = make_internal_key(format!("{:016}", 64 * i + b).as_bytes(), i, ValueKind::Put);
                    bb.add(&key, &(i * 4096).to_le_bytes());
                }
                let block = Bytes::from(bb.finish().into_vec());
                Arc::new(Block::with_key_format(block, KeyFormat::Internal, "bench".into(), 0).expect("block"))
            })
            .collect()
    };
    let mut x = 1u64;
    for (name, restart_interval) in [("seek_index_16k", 1), ("seek_index_16k_restart_16", 16)] {
        let index_blocks = index_blocks(restart_interval);
        g.bench_function(name, |b| {
            b.iter(|| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let (block, key) = ((x >> 61) as usize, (x >> 20) % (64 * 16_384));
                let mut it = index_blocks[block].iter(compare_internal);
                it.seek(&make_internal_key(format!("{key:016}").as_bytes(), u64::MAX >> 8, ValueKind::Put));
                black_box(it.valid())
            })
        });
    }
    g.bench_function("seek_cold_block", |b| {
        b.iter(|| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let (block, entry) = ((x >> 33) as usize % blocks.len(), (x >> 20) % 32);
            let mut it = blocks[block].iter(compare_internal);
            it.seek(&make_internal_key(format!("{:016}", 2 * entry).as_bytes(), entry, ValueKind::Put));
            black_box(it.valid())
        })
    });
    g.finish();
}

/// One 4 KiB data block of db_bench-like entries: 16-byte keys, 100-byte values made
/// of 50 random printable bytes twice.
fn db_bench_block() -> Vec<u8> {
    db_bench_block_seeded(0x5eed)
}

/// [`db_bench_block`] with other random values for each `seed`.
fn db_bench_block_seeded(seed: u64) -> Vec<u8> {
    let mut bb = BlockBuilder::new(16);
    for (key, value) in db_bench_entries(seed) {
        bb.add(&key, &value);
    }
    bb.finish().into_vec()
}

/// The 32 entries (internal key, value) of [`db_bench_block_seeded`].
fn db_bench_entries(seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut x = seed;
    let mut entries = Vec::new();
    for i in 0..32u64 {
        let half: Vec<u8> = (0..50)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b' ' + (x % 95) as u8
            })
            .collect();
        let key = make_internal_key(format!("{:016}", 2 * i).as_bytes(), i, ValueKind::Put);
        entries.push((key, [half.as_slice(), half.as_slice()].concat()));
    }
    entries
}

/// Encoding that block: our encoder (its table reused from block to block, as a table
/// builder uses it) beside lz4_flex's, which starts from a fresh table every time.
fn lz4_encode(c: &mut Criterion) {
    let raw = db_bench_block();
    let mut g = c.benchmark_group("lz4_encode_4k_block");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    let mut encoder = lz4::Lz4Encoder::new();
    let mut out = Vec::with_capacity(raw.len() * 2);
    g.bench_function("strata", |b| {
        b.iter(|| {
            out.clear();
            encoder.compress(black_box(&raw), &mut out);
            out.len()
        })
    });
    g.bench_function("lz4_flex", |b| b.iter(|| lz4_flex::block::compress(black_box(&raw)).len()));
    // Encoding one block over and over lets the branch predictor learn it; a flush
    // encodes a different block every time, which these variants do (256 of them, 1 MiB).
    // They are the figures to go by.
    let blocks: Vec<Vec<u8>> = (0..256).map(|s| db_bench_block_seeded(0x5eed + s)).collect();
    let mut next = 0;
    g.bench_function("strata_distinct_blocks", |b| {
        b.iter(|| {
            next = (next + 1) % blocks.len();
            out.clear();
            encoder.compress(black_box(&blocks[next]), &mut out);
            out.len()
        })
    });
    g.bench_function("lz4_flex_distinct_blocks", |b| {
        b.iter(|| {
            next = (next + 1) % blocks.len();
            lz4_flex::block::compress(black_box(&blocks[next])).len()
        })
    });
    g.finish();
}

/// Decoding that block: our decoder beside lz4_flex's with its `checked-decode` bounds
/// checks (as any decoder of bytes read from disk must have).
fn lz4_decode(c: &mut Criterion) {
    let raw = db_bench_block();
    let compressed = lz4_flex::block::compress(&raw);
    let mut g = c.benchmark_group("lz4_decode_4k_block");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("strata", |b| b.iter(|| lz4::decompress(black_box(&compressed), raw.len()).expect("decode")));
    // As the engine decodes: into a recycled buffer (see cache::buffer_pool).
    let mut buf = vec![0; raw.len()];
    g.bench_function("strata_recycled_buffer", |b| {
        b.iter(|| {
            lz4::decompress_to(black_box(&compressed), &mut buf).expect("decode");
            buf.len()
        })
    });
    g.bench_function("lz4_flex", |b| {
        b.iter(|| lz4_flex::block::decompress(black_box(&compressed), raw.len()).expect("decode"))
    });
    // A read decodes a different block each time (see lz4_encode); 256 of them.
    let blocks: Vec<Vec<u8>> =
        (0..256).map(|s| lz4_flex::block::compress(&db_bench_block_seeded(0x5eed + s))).collect();
    let mut next = 0;
    g.bench_function("strata_recycled_buffer_distinct_blocks", |b| {
        b.iter(|| {
            next = (next + 1) % blocks.len();
            lz4::decompress_to(black_box(&blocks[next]), &mut buf).expect("decode");
            buf.len()
        })
    });
    g.bench_function("lz4_flex_distinct_blocks", |b| {
        b.iter(|| {
            next = (next + 1) % blocks.len();
            lz4_flex::block::decompress(black_box(&blocks[next]), raw.len()).expect("decode").len()
        })
    });
    g.finish();
}

fn bloom(c: &mut Criterion) {
    let mut g = c.benchmark_group("bloom_10_bits");
    g.throughput(Throughput::Elements(N));
    g.bench_function("build_100k", |b| {
        b.iter(|| {
            let mut bb = BloomBuilder::new(10);
            for i in 0..N {
                bb.add_key(&user_key(i));
            }
            bb.finish()
        })
    });
    // A filter of a 64 MiB table's million keys is larger than the CPU cache, so
    // setting its bits misses the cache at every key.
    let mut big = BloomBuilder::new(10);
    for i in 0..10 * N {
        big.add_key(&user_key(i));
    }
    g.throughput(Throughput::Elements(10 * N));
    g.bench_function("finish_1m", |b| b.iter(|| big.finish()));
    let mut bb = BloomBuilder::new(10);
    for i in 0..N {
        bb.add_key(&user_key(i));
    }
    let filter = BloomFilter::new(strata::Bytes::copy_from_slice(&bb.finish())).expect("filter");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("probe", |b| {
        b.iter(|| {
            i += 1;
            black_box(filter.may_contain(&user_key(i)))
        })
    });
    g.finish();
}

fn wal(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = std::sync::atomic::AtomicU64::new(0);
    let mut g = c.benchmark_group("wal_append");
    let record = vec![3u8; 128];
    g.throughput(Throughput::Bytes(100 * record.len() as u64));
    g.bench_function("128B_record_flushed", |b| {
        b.iter_batched_ref(
            // The WAL's own file kind: memory-mapped appends on the OS file system. Logs
            // are created with O_EXCL, as the engine creates them, so each batch gets a
            // new name and removes the last one.
            || {
                let n = logs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = std::fs::remove_file(dir.path().join(format!("{}.log", n.wrapping_sub(1))));
                let path = dir.path().join(format!("{n}.log"));
                // SAFETY: nothing else writes the bench's log files.
                LogWriter::new(unsafe { OsFileSystem.create_log(&path) }.expect("create"))
            },
            |w| {
                for _ in 0..100 {
                    w.add_record(&record).expect("append");
                    w.flush().expect("flush");
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, skiplist, blocks, lz4_decode, lz4_encode, bloom, wal);
criterion_main!(benches);
