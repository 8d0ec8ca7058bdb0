//! The three peers strata is measured against, configured as `engines.rs` says.
//! Behind the `peers` feature so that strata can also be built alone: fjall turns on
//! lz4_flex's default features (`safe-encode`, `safe-decode`), and cargo's feature
//! unification would otherwise hand strata the slower safe encoder too, which no
//! embedder of strata alone would get. (Strata decodes blocks with its own decoder.)

use std::path::Path;
use std::time::Duration;

use crate::engines::{Engine, Settings, BLOOM_BITS, CACHE, MEMTABLE};

pub struct Fjall {
    db: fjall::Database,
    tree: fjall::Keyspace,
}

impl Fjall {
    /// `None` for zstd: fjall 3 has LZ4 only.
    pub fn open(dir: &Path, settings: Settings) -> Option<Self> {
        if settings.zstd_last {
            return None;
        }
        use fjall::config::{BloomConstructionPolicy, FilterPolicy, FilterPolicyEntry};
        let db = fjall::Database::builder(dir).cache_size(CACHE as u64).open().expect("open fjall");
        let tree = db
            .keyspace("bench", || {
                fjall::KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE as u64).filter_policy(
                    FilterPolicy::all(FilterPolicyEntry::Bloom(BloomConstructionPolicy::BitsPerKey(BLOOM_BITS as f32))),
                )
            })
            .expect("fjall keyspace");
        Some(Fjall { db, tree })
    }
}

impl Engine for Fjall {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.tree.insert(key, value).expect("fjall insert");
    }
    // fjall's way to durability: write, then persist the journal (fdatasync).
    fn put_sync(&self, key: &[u8], value: &[u8]) {
        self.tree.insert(key, value).expect("fjall insert");
        self.db.persist(fjall::PersistMode::SyncData).expect("fjall persist");
    }
    fn flush_wal(&self) {
        self.db.persist(fjall::PersistMode::Buffer).expect("fjall persist");
    }
    fn scan_from(&self, key: &[u8], n: usize) -> usize {
        let mut got = 0;
        for guard in self.tree.range(key..).take(n) {
            std::hint::black_box(guard.into_inner().expect("fjall scan"));
            got += 1;
        }
        got
    }
    fn get(&self, key: &[u8]) -> Option<usize> {
        self.tree.get(key).expect("fjall get").map(|v| v.len())
    }
    fn scan_all(&self) -> usize {
        let mut n = 0;
        for guard in self.tree.iter() {
            std::hint::black_box(guard.into_inner().expect("fjall scan"));
            n += 1;
        }
        n
    }
    fn seek(&self, key: &[u8]) -> bool {
        match self.tree.range(key..).next() {
            Some(guard) => {
                std::hint::black_box(guard.into_inner().expect("fjall seek"));
                true
            }
            None => false,
        }
    }
    fn settle(&self) {
        self.tree.rotate_memtable_and_wait().expect("fjall flush");
        // fjall has no "wait for compactions": poll until its workers stay idle.
        let mut quiet = 0;
        while quiet < 5 {
            std::thread::sleep(Duration::from_millis(20));
            if self.db.active_compactions() == 0 && self.db.outstanding_flushes() == 0 {
                quiet += 1;
            } else {
                quiet = 0;
            }
        }
    }
    fn compact_all(&self) {
        self.tree.rotate_memtable_and_wait().expect("fjall flush");
        self.tree.major_compact().expect("fjall major compaction");
    }
}

pub struct Rocks(rocksdb::DB, rocksdb::WriteOptions, rocksdb::WriteOptions);

impl Rocks {
    pub fn open(dir: &Path, settings: Settings) -> Self {
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        options.set_write_buffer_size(MEMTABLE);
        if settings.zstd_last {
            options.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
        }
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(CACHE).expect("rocksdb cache"));
        table.set_bloom_filter(BLOOM_BITS as f64, false);
        options.set_block_based_table_factory(&table);
        let mut write = rocksdb::WriteOptions::default();
        write.set_sync(false);
        let mut synced = rocksdb::WriteOptions::default();
        synced.set_sync(true);
        Rocks(rocksdb::DB::open(&options, dir).expect("open rocksdb"), write, synced)
    }

    fn busy(&self) -> bool {
        ["rocksdb.compaction-pending", "rocksdb.num-running-compactions", "rocksdb.num-running-flushes"]
            .iter()
            .any(|p| self.0.property_int_value(*p).expect("rocksdb property").unwrap_or(0) > 0)
    }
}

impl Engine for Rocks {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.0.put_opt(key, value, &self.1).expect("rocksdb put");
    }
    fn put_sync(&self, key: &[u8], value: &[u8]) {
        self.0.put_opt(key, value, &self.2).expect("rocksdb synced put");
    }
    fn flush_wal(&self) {
        self.0.flush_wal(false).expect("rocksdb flush_wal");
    }
    fn scan_from(&self, key: &[u8], n: usize) -> usize {
        let mut it = self.0.raw_iterator();
        it.seek(key);
        let mut got = 0;
        while got < n && it.valid() {
            std::hint::black_box((it.key(), it.value()));
            got += 1;
            it.next();
        }
        it.status().expect("rocksdb scan");
        got
    }
    fn get(&self, key: &[u8]) -> Option<usize> {
        self.0.get_pinned(key).expect("rocksdb get").map(|v| v.len())
    }
    fn scan_all(&self) -> usize {
        let mut it = self.0.raw_iterator();
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            std::hint::black_box((it.key(), it.value()));
            n += 1;
            it.next();
        }
        it.status().expect("rocksdb scan");
        n
    }
    fn seek(&self, key: &[u8]) -> bool {
        let mut it = self.0.raw_iterator();
        it.seek(key);
        std::hint::black_box((it.key(), it.value()));
        it.valid()
    }
    fn settle(&self) {
        self.0.flush().expect("rocksdb flush");
        while self.busy() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fn compact_all(&self) {
        self.0.flush().expect("rocksdb flush");
        self.0.compact_range::<&[u8], &[u8]>(None, None);
        while self.busy() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// LevelDB through its C API (Debian's libleveldb), declared by hand: the handful of
/// functions a benchmark needs do not justify bindgen.
pub mod leveldb {
    use std::ffi::{c_char, c_int, c_void, CString};
    use std::path::Path;

    use crate::engines::{Engine, Settings, BLOOM_BITS, CACHE, MEMTABLE};

    #[repr(C)]
    struct Opaque {
        _private: [u8; 0],
    }

    #[link(name = "leveldb")]
    extern "C" {
        fn leveldb_options_create() -> *mut Opaque;
        fn leveldb_options_set_create_if_missing(o: *mut Opaque, v: u8);
        fn leveldb_options_set_write_buffer_size(o: *mut Opaque, v: usize);
        fn leveldb_options_set_cache(o: *mut Opaque, c: *mut Opaque);
        fn leveldb_options_set_filter_policy(o: *mut Opaque, p: *mut Opaque);
        fn leveldb_cache_create_lru(capacity: usize) -> *mut Opaque;
        fn leveldb_filterpolicy_create_bloom(bits: c_int) -> *mut Opaque;
        fn leveldb_open(o: *const Opaque, name: *const c_char, err: *mut *mut c_char) -> *mut Opaque;
        fn leveldb_close(db: *mut Opaque);
        fn leveldb_writeoptions_create() -> *mut Opaque;
        fn leveldb_writeoptions_set_sync(o: *mut Opaque, v: u8);
        fn leveldb_readoptions_create() -> *mut Opaque;
        fn leveldb_put(
            db: *mut Opaque,
            o: *const Opaque,
            k: *const c_char,
            klen: usize,
            v: *const c_char,
            vlen: usize,
            err: *mut *mut c_char,
        );
        fn leveldb_get(
            db: *mut Opaque,
            o: *const Opaque,
            k: *const c_char,
            klen: usize,
            vlen: *mut usize,
            err: *mut *mut c_char,
        ) -> *mut c_char;
        fn leveldb_free(p: *mut c_void);
        fn leveldb_compact_range(db: *mut Opaque, s: *const c_char, slen: usize, l: *const c_char, llen: usize);
        fn leveldb_create_iterator(db: *mut Opaque, o: *const Opaque) -> *mut Opaque;
        fn leveldb_iter_destroy(it: *mut Opaque);
        fn leveldb_iter_valid(it: *const Opaque) -> u8;
        fn leveldb_iter_seek_to_first(it: *mut Opaque);
        fn leveldb_iter_seek(it: *mut Opaque, k: *const c_char, klen: usize);
        fn leveldb_iter_next(it: *mut Opaque);
        fn leveldb_iter_key(it: *const Opaque, klen: *mut usize) -> *const c_char;
        fn leveldb_iter_value(it: *const Opaque, vlen: *mut usize) -> *const c_char;
    }

    pub struct LevelDb {
        db: *mut Opaque,
        write: *mut Opaque,
        synced: *mut Opaque,
        read: *mut Opaque,
    }

    // LevelDB's DB is thread-safe; the option objects are only read after creation.
    unsafe impl Send for LevelDb {}
    unsafe impl Sync for LevelDb {}

    fn check(err: *mut c_char) {
        if !err.is_null() {
            // SAFETY: LevelDB returns a malloc'd NUL-terminated message.
            let msg = unsafe { std::ffi::CStr::from_ptr(err) }.to_string_lossy().into_owned();
            panic!("leveldb: {msg}");
        }
    }

    impl LevelDb {
        /// `None` for zstd at the last level: LevelDB has one codec for every level.
        pub fn open(dir: &Path, settings: Settings) -> Option<Self> {
            if settings.zstd_last {
                return None;
            }
            let name = CString::new(dir.to_str().expect("utf-8 path")).expect("path");
            // SAFETY: plain calls into the C API with valid pointers.
            unsafe {
                let o = leveldb_options_create();
                leveldb_options_set_create_if_missing(o, 1);
                leveldb_options_set_write_buffer_size(o, MEMTABLE);
                leveldb_options_set_cache(o, leveldb_cache_create_lru(CACHE));
                leveldb_options_set_filter_policy(o, leveldb_filterpolicy_create_bloom(BLOOM_BITS as c_int));
                let mut err = std::ptr::null_mut();
                let db = leveldb_open(o, name.as_ptr(), &mut err);
                check(err);
                let synced = leveldb_writeoptions_create();
                leveldb_writeoptions_set_sync(synced, 1);
                Some(LevelDb { db, write: leveldb_writeoptions_create(), synced, read: leveldb_readoptions_create() })
            }
        }
    }

    impl Drop for LevelDb {
        fn drop(&mut self) {
            // SAFETY: the handle is live and no iterator outlives a method call.
            unsafe { leveldb_close(self.db) }
        }
    }

    impl LevelDb {
        fn put_with(&self, options: *const Opaque, key: &[u8], value: &[u8]) {
            let mut err = std::ptr::null_mut();
            // SAFETY: pointers and lengths come from live slices.
            unsafe {
                leveldb_put(
                    self.db,
                    options,
                    key.as_ptr().cast(),
                    key.len(),
                    value.as_ptr().cast(),
                    value.len(),
                    &mut err,
                )
            };
            check(err);
        }
    }

    impl Engine for LevelDb {
        fn put(&self, key: &[u8], value: &[u8]) {
            self.put_with(self.write, key, value);
        }
        fn put_sync(&self, key: &[u8], value: &[u8]) {
            self.put_with(self.synced, key, value);
        }
        fn flush_wal(&self) {
            // LevelDB writes each log record to the file as it is added.
        }
        fn scan_from(&self, key: &[u8], n: usize) -> usize {
            let mut got = 0;
            // SAFETY: the iterator is destroyed before returning.
            unsafe {
                let it = leveldb_create_iterator(self.db, self.read);
                leveldb_iter_seek(it, key.as_ptr().cast(), key.len());
                while got < n && leveldb_iter_valid(it) != 0 {
                    let (mut kl, mut vl) = (0, 0);
                    std::hint::black_box((leveldb_iter_key(it, &mut kl), leveldb_iter_value(it, &mut vl)));
                    got += 1;
                    leveldb_iter_next(it);
                }
                leveldb_iter_destroy(it);
            }
            got
        }
        fn get(&self, key: &[u8]) -> Option<usize> {
            let mut err = std::ptr::null_mut();
            let mut len = 0;
            // SAFETY: as above; the returned buffer is freed with leveldb_free.
            let v = unsafe { leveldb_get(self.db, self.read, key.as_ptr().cast(), key.len(), &mut len, &mut err) };
            check(err);
            if v.is_null() {
                return None;
            }
            unsafe { leveldb_free(v.cast()) };
            Some(len)
        }
        fn scan_all(&self) -> usize {
            let mut n = 0;
            // SAFETY: the iterator is destroyed before returning.
            unsafe {
                let it = leveldb_create_iterator(self.db, self.read);
                leveldb_iter_seek_to_first(it);
                while leveldb_iter_valid(it) != 0 {
                    let (mut kl, mut vl) = (0, 0);
                    std::hint::black_box((leveldb_iter_key(it, &mut kl), leveldb_iter_value(it, &mut vl)));
                    n += 1;
                    leveldb_iter_next(it);
                }
                leveldb_iter_destroy(it);
            }
            n
        }
        fn seek(&self, key: &[u8]) -> bool {
            // SAFETY: as in scan_all.
            unsafe {
                let it = leveldb_create_iterator(self.db, self.read);
                leveldb_iter_seek(it, key.as_ptr().cast(), key.len());
                let valid = leveldb_iter_valid(it) != 0;
                if valid {
                    let (mut kl, mut vl) = (0, 0);
                    std::hint::black_box((leveldb_iter_key(it, &mut kl), leveldb_iter_value(it, &mut vl)));
                }
                leveldb_iter_destroy(it);
                valid
            }
        }
        fn settle(&self) {
            // LevelDB has neither a flush nor a "wait for compactions" call; a full
            // compact_range is the only way to get the memtable on disk.
            // SAFETY: null bounds mean the whole key space.
            unsafe { leveldb_compact_range(self.db, std::ptr::null(), 0, std::ptr::null(), 0) }
        }
        fn compact_all(&self) {
            self.settle();
        }
    }
}
