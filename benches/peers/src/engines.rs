//! The four engines behind one small trait, each configured the same way: 64 MiB
//! memtables, a 32 MiB block cache, 10-bit bloom filters, WAL on and not fsynced.
//! Everything else is the engine's own default (compression included: snappy for
//! RocksDB and LevelDB, LZ4 for fjall, strata's default).

use std::path::Path;

pub const MEMTABLE: usize = 64 << 20;
pub const CACHE: usize = 32 << 20;
pub const BLOOM_BITS: u32 = 10;

/// What a phase needs from an engine. `Sync` because readwhilewriting shares one
/// handle between a writer thread and reader threads.
pub trait Engine: Send + Sync {
    fn put(&self, key: &[u8], value: &[u8]);
    /// Length of the value, if the key is present.
    fn get(&self, key: &[u8]) -> Option<usize>;
    /// Iterates every entry in order; returns how many there were.
    fn scan_all(&self) -> usize;
    /// Seeks to the first key at or after `key` and reads that entry; false at the end.
    fn seek(&self, key: &[u8]) -> bool;
    /// Flushes the memtable and waits until background compaction is idle.
    fn settle(&self);
    /// Compacts everything into as few sorted runs as the engine makes.
    fn compact_all(&self);
}

pub fn open(name: &str, dir: &Path) -> Box<dyn Engine> {
    match name {
        "strata" => Box::new(Strata::open(dir)),
        #[cfg(feature = "peers")]
        "fjall" => Box::new(crate::peers::Fjall::open(dir)),
        #[cfg(feature = "peers")]
        "rocksdb" => Box::new(crate::peers::Rocks::open(dir)),
        #[cfg(feature = "peers")]
        "leveldb" => Box::new(crate::peers::leveldb::LevelDb::open(dir)),
        other => panic!("unknown engine {other}"),
    }
}

struct Strata(strata::Db);

impl Strata {
    fn open(dir: &Path) -> Self {
        let options = strata::Options::default()
            .memtable_size(MEMTABLE)
            .block_cache_size(CACHE)
            .bloom_bits_per_key(BLOOM_BITS)
            .sync_writes(false);
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
    fn settle(&self) {
        self.0.flush().expect("strata flush");
        self.0.wait_for_compactions().expect("strata compactions");
    }
    fn compact_all(&self) {
        self.0.compact().expect("strata compact");
    }
}
