//! The four engines behind one small trait, each configured the same way: 64 MiB
//! memtables, a 32 MiB block cache, 10-bit bloom filters, WAL on and not fsynced.
//! Everything else is the engine's own default (compression included: snappy for
//! RocksDB and LevelDB, LZ4 for fjall, strata's default).

use std::path::Path;

pub const MEMTABLE: usize = 64 << 20;
pub const CACHE: usize = 32 << 20;
pub const BLOOM_BITS: u32 = 10;

/// How a database is opened besides the shared settings above.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    /// zstd for the last level's tables, the engine's default codec above.
    pub zstd_last: bool,
}

/// What a phase needs from an engine. `Sync` because readwhilewriting shares one
/// handle between a writer thread and reader threads.
pub trait Engine: Send + Sync {
    fn put(&self, key: &[u8], value: &[u8]);
    /// A put that is durable (fsynced) when it returns; concurrent callers may share
    /// one sync (group commit) if the engine does that.
    fn put_sync(&self, key: &[u8], value: &[u8]);
    /// Hands what the WAL holds to the operating system (no fsync), so that the
    /// process can exit without closing and the next open recovers it.
    fn flush_wal(&self);
    /// Length of the value, if the key is present.
    fn get(&self, key: &[u8]) -> Option<usize>;
    /// Iterates every entry in order; returns how many there were.
    fn scan_all(&self) -> usize;
    /// Seeks to the first key at or after `key` and reads that entry; false at the end.
    fn seek(&self, key: &[u8]) -> bool;
    /// Reads up to `n` entries from the first key at or after `key`; how many there were.
    fn scan_from(&self, key: &[u8], n: usize) -> usize;
    /// Flushes the memtable and waits until background compaction is idle.
    fn settle(&self);
    /// Compacts everything into as few sorted runs as the engine makes.
    fn compact_all(&self);
}

pub fn open(name: &str, dir: &Path) -> Box<dyn Engine> {
    open_with(name, dir, Settings::default()).expect("every engine opens with the default settings")
}

/// The engine opened with `settings`, or `None` if it cannot honour them (zstd).
pub fn open_with(name: &str, dir: &Path, settings: Settings) -> Option<Box<dyn Engine>> {
    Some(match name {
        "strata" => Box::new(Strata::open(dir, settings)),
        #[cfg(feature = "peers")]
        "fjall" => Box::new(crate::peers::Fjall::open(dir, settings)?),
        #[cfg(feature = "peers")]
        "rocksdb" => Box::new(crate::peers::Rocks::open(dir, settings)),
        #[cfg(feature = "peers")]
        "leveldb" => Box::new(crate::peers::leveldb::LevelDb::open(dir, settings)?),
        other => panic!("unknown engine {other}"),
    })
}

struct Strata(strata::Db);

impl Strata {
    fn open(dir: &Path, settings: Settings) -> Self {
        let mut options = strata::Options::default()
            .memtable_size(MEMTABLE)
            .block_cache_size(CACHE)
            .bloom_bits_per_key(BLOOM_BITS)
            .sync_writes(false);
        if settings.zstd_last {
            // zstd below L0: at 1M keys L1 is the last level (as for RocksDB, whose
            // bottommost_compression applies to the deepest level holding data); at 10M
            // L1 holds a tenth of the data and is zstd too.
            use strata::Compression::{Lz4, Zstd};
            options = options.compression_per_level([Lz4, Zstd]);
        }
        // The default reads tables with pread; STRATA_PEERS_MMAP_READS=1 measures the
        // opt-in mapped reads (see `Options::mmap_reads` for their risk).
        // SAFETY: nothing but the benchmark's database touches its directory.
        let options = unsafe { options.mmap_reads(std::env::var("STRATA_PEERS_MMAP_READS").is_ok_and(|v| v == "1")) };
        Strata(strata::Db::open(dir, options).expect("open strata"))
    }
}

impl Engine for Strata {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).expect("strata put");
    }
    fn put_sync(&self, key: &[u8], value: &[u8]) {
        let mut batch = strata::WriteBatch::new();
        batch.put(key, value);
        self.0.write_opt(batch, &strata::WriteOptions::new().sync(true)).expect("strata synced put");
    }
    fn flush_wal(&self) {
        // The WAL is a shared mapping: its bytes are in the page cache already.
    }
    fn get(&self, key: &[u8]) -> Option<usize> {
        self.0.get(key).expect("strata get").map(|v| v.len())
    }
    // Scans and seeks go through strata's lending cursor, as RocksDB's and LevelDB's go
    // through their raw iterators: views of the entry, no owned copies.
    fn scan_all(&self) -> usize {
        let mut n = 0;
        let mut cursor = self.0.cursor();
        cursor.seek_to_first();
        while cursor.valid() {
            std::hint::black_box((cursor.key(), cursor.value()));
            n += 1;
            cursor.next();
        }
        cursor.status().expect("strata scan");
        n
    }
    fn seek(&self, key: &[u8]) -> bool {
        let mut cursor = self.0.cursor();
        cursor.seek(key);
        std::hint::black_box((cursor.key(), cursor.value()));
        cursor.status().expect("strata seek");
        cursor.valid()
    }
    fn scan_from(&self, key: &[u8], n: usize) -> usize {
        let mut cursor = self.0.cursor();
        cursor.seek(key);
        let mut got = 0;
        while got < n && cursor.valid() {
            std::hint::black_box((cursor.key(), cursor.value()));
            got += 1;
            cursor.next();
        }
        cursor.status().expect("strata scan");
        got
    }
    fn settle(&self) {
        self.0.flush().expect("strata flush");
        self.0.wait_for_compactions().expect("strata compactions");
    }
    fn compact_all(&self) {
        self.0.compact().expect("strata compact");
    }
}
