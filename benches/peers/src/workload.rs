//! The workload, phase by phase, as one child process runs it against one engine.
//!
//! Keys are 16 decimal digits; stored keys are the even numbers `2i` (so fillseq writes
//! in key order) and `readmissing` asks for the odd numbers between them, which fall
//! inside every table's key range: only a filter can answer those without a block read.
//! Values are 100-byte windows of a buffer made of 50 random printable bytes repeated
//! twice per 100, as db_bench's generator does (about 2:1 compressible).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::engines::{self, Engine};
use crate::services;

pub const KEY_LEN: usize = 16;
pub const VALUE_LEN: usize = 100;

/// Every phase a child reports, in the order it runs them.
pub const PHASES: &[&str] = &[
    "fillseq",
    "fillrandom",
    "settle_secs",
    "readrandom",
    "readmissing",
    "scan",
    "seekrandom",
    "readwhilewriting_1",
    "readwhilewriting_2",
    "compact_secs",
    "readrandom_compacted",
    "seekrandom_compacted",
    "scan_compacted",
    "readrandom_2",
    "readrandom_4",
    "ycsb_a_1",
    "ycsb_a_4",
    "ycsb_b_1",
    "ycsb_b_4",
    "ycsb_c_1",
    "ycsb_c_4",
    "ycsb_d_1",
    "ycsb_d_4",
    "ycsb_e_1",
    "ycsb_e_4",
    "ycsb_f_1",
    "ycsb_f_4",
    "put_p50_us",
    "put_p99_us",
    "put_p999_us",
    "fillsync_1",
    "fillsync_4",
    "fillsync_16",
    "fill_1k",
    "readrandom_1k",
    "fill_16k",
    "recovery_secs",
    "disk_bytes",
    "disk_bytes_zstd",
    "peak_rss_mib",
    "peak_anon_mib",
];

#[derive(Clone, Debug)]
pub struct Config {
    pub keys: u64,
    pub reads: u64,
    pub dir: PathBuf,
    /// Phases not to run (for profiling one phase); fillrandom always runs.
    pub skip: Vec<String>,
}

impl Config {
    pub fn parse(args: &[String]) -> Config {
        let get = |name: &str| flag(args, name);
        let keys = get("--keys").map_or(1_000_000, |v| v.parse().expect("--keys"));
        let reads = get("--reads").map_or(keys, |v| v.parse().expect("--reads"));
        let dir = get("--dir").map_or_else(|| std::env::temp_dir().join("strata-peers"), PathBuf::from);
        let skip = get("--skip").map_or_else(Vec::new, |v| v.split(',').map(str::to_string).collect());
        Config { keys, reads, dir, skip }
    }

    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--keys".into(),
            self.keys.to_string(),
            "--reads".into(),
            self.reads.to_string(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--skip".into(),
            self.skip.join(","),
        ]
    }
}

/// The value after `--name` in `args`, if given.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// xorshift64*: cheap and the same sequence for every engine.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(crate) fn key(n: u64) -> [u8; KEY_LEN] {
    let mut k = [b'0'; KEY_LEN];
    let mut n = n;
    for b in k.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

pub(crate) struct Values(Vec<u8>);

impl Values {
    pub(crate) fn new() -> Values {
        let mut rng = Rng(0x5eed);
        let mut data = Vec::with_capacity(1 << 20);
        while data.len() < 1 << 20 {
            let piece: Vec<u8> = (0..VALUE_LEN / 2).map(|_| b' ' + rng.below(95) as u8).collect();
            data.extend_from_slice(&piece);
            data.extend_from_slice(&piece);
        }
        Values(data)
    }
    pub(crate) fn get(&self, i: u64) -> &[u8] {
        let at = (i as usize % (self.0.len() / VALUE_LEN)) * VALUE_LEN;
        &self.0[at..at + VALUE_LEN]
    }
    /// A `len`-byte value (up to 512 KiB), as compressible as the 100-byte ones.
    pub(crate) fn sized(&self, i: u64, len: usize) -> &[u8] {
        let at = (i as usize * VALUE_LEN) % (self.0.len() - len);
        &self.0[at..at + len]
    }
}

pub(crate) fn report(phase: &str, value: f64) {
    println!("RESULT {phase} {value}");
    // Which phase holds the memory: with STRATA_PEERS_ANON_TRACE set, the peak anonymous
    // memory the sampler saw since the previous report goes to stderr.
    if std::env::var_os("STRATA_PEERS_ANON_TRACE").is_some() {
        let kib = PHASE_ANON_PEAK_KIB.swap(0, Ordering::Relaxed);
        eprintln!("anon_peak_mib {phase} {:.0}", kib as f64 / 1024.0);
    }
}

/// Peak anonymous memory (KiB) the sampler saw since the last `report`.
static PHASE_ANON_PEAK_KIB: AtomicU64 = AtomicU64::new(0);

/// Runs one timed phase and returns its wall-clock seconds. Every timed region goes
/// through this one function, never inlined, so that `callgrind.sh` can cut the
/// instruction count into phases (`--dump-before`/`--dump-after` on its symbol).
#[inline(never)]
pub(crate) fn measured(f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

pub(crate) fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench dir");
}

pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() { dir_bytes(&entry.path()) } else { meta.len() };
    }
    total
}

/// A field of /proc/self/status, in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Samples anonymous resident memory (heap, memtables, caches; not file pages, which
/// an engine reading through mmap would otherwise be charged for) every 10 ms until
/// `stop`, returning the peak. The kernel keeps a peak only for the total (VmHWM).
fn sample_anon(stop: &AtomicBool) -> f64 {
    let mut peak: f64 = 0.0;
    while !stop.load(Ordering::Relaxed) {
        let now = status_mib("RssAnon:");
        PHASE_ANON_PEAK_KIB.fetch_max((now * 1024.0) as u64, Ordering::Relaxed);
        peak = peak.max(now);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    peak.max(status_mib("RssAnon:"))
}

/// A permutation of 0..n (Fisher-Yates), so fillrandom writes each key exactly once.
pub(crate) fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut rng = Rng(seed);
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
    v
}

pub(crate) fn read_phase(db: &dyn Engine, n: u64, reads: u64, seed: u64) -> u64 {
    let mut rng = Rng(seed);
    let mut found = 0;
    for _ in 0..reads {
        if let Some(len) = db.get(&key(2 * rng.below(n))) {
            assert_eq!(len, VALUE_LEN, "wrong value length");
            found += 1;
        }
    }
    found
}

pub fn run_child(engine: &str, config: &Config) {
    // callgrind.sh turns the sampler off: its work depends on wall-clock time, which
    // would make instruction counts vary from run to run.
    if std::env::var_os("STRATA_PEERS_NO_SAMPLER").is_some() {
        run_phases(engine, config);
        return;
    }
    /// Stops the sampler however the phases end: a panicking phase must fail the
    /// child, not leave it waiting for the sampler forever.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = AtomicBool::new(false);
    let peak_anon = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample_anon(&stop));
        let stopping = Stop(&stop);
        run_phases(engine, config);
        drop(stopping);
        sampler.join().expect("sampler")
    });
    report("peak_rss_mib", status_mib("VmHWM:"));
    report("peak_anon_mib", peak_anon);
}

fn run_phases(engine: &str, config: &Config) {
    let n = config.keys;
    let reads = config.reads;
    let values = Values::new();
    let dir = config.dir.join(engine);

    // A skipped name also skips the phases it prefixes (`ycsb` skips `ycsb_a_1` ...).
    let run = |phase: &str| !config.skip.iter().any(|s| phase == s || phase.starts_with(&format!("{s}_")));
    fresh(&dir);
    if run("fillseq") {
        let db = engines::open(engine, &dir);
        let secs = measured(&mut || {
            for i in 0..n {
                db.put(&key(2 * i), values.get(i));
            }
        });
        report("fillseq", n as f64 / secs);
    }

    fresh(&dir);
    let db = engines::open(engine, &dir);
    let order = shuffled(n, 42);
    let secs = measured(&mut || {
        for &i in &order {
            db.put(&key(2 * i), values.get(i));
        }
    });
    report("fillrandom", n as f64 / secs);
    drop(order);

    report("settle_secs", measured(&mut || db.settle()));
    let disk = dir_bytes(&dir);
    if std::env::var_os("STRATA_PEERS_LIST").is_some() {
        let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
            .expect("read dir")
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map_or(0, |m| m.len())))
            .collect();
        files.sort();
        eprintln!("after settle: {files:?}");
    }

    if run("readrandom") {
        let mut found = 0;
        let secs = measured(&mut || found = read_phase(db.as_ref(), n, reads, 7));
        report("readrandom", reads as f64 / secs);
        assert_eq!(found, reads, "readrandom: every key was written");
    }

    services::read_threads(db.as_ref(), n, reads, &run);

    if run("readmissing") {
        let secs = measured(&mut || {
            let mut rng = Rng(11);
            for _ in 0..reads {
                assert!(db.get(&key(2 * rng.below(n) + 1)).is_none(), "readmissing found a key");
            }
        });
        report("readmissing", reads as f64 / secs);
    }

    if run("scan") {
        let mut entries = 0;
        let secs = measured(&mut || entries = db.scan_all());
        report("scan", entries as f64 / secs);
        assert_eq!(entries as u64, n, "scan: wrong entry count");
    }

    if run("seekrandom") {
        report("seekrandom", reads as f64 / measured(&mut || seek_phase(db.as_ref(), n, reads, 13)));
    }

    for readers in [1u64, 2] {
        if !run(&format!("readwhilewriting_{readers}")) {
            continue;
        }
        report(&format!("readwhilewriting_{readers}"), read_while_writing(db.as_ref(), n, reads, readers, &values));
    }

    // The same reads on the same shape for every engine: everything fully compacted.
    if run("compacted") {
        report("compact_secs", measured(&mut || db.compact_all()));
        let mut found = 0;
        let secs = measured(&mut || found = read_phase(db.as_ref(), n, reads, 29));
        assert_eq!(found, reads, "readrandom after compaction");
        report("readrandom_compacted", reads as f64 / secs);
        report("seekrandom_compacted", reads as f64 / measured(&mut || seek_phase(db.as_ref(), n, reads, 31)));
        let mut entries = 0;
        let secs = measured(&mut || entries = db.scan_all());
        assert_eq!(entries as u64, n, "scan after compaction: wrong entry count");
        report("scan_compacted", entries as f64 / secs);
    }

    // The service phases that run on the loaded database change it (updates, inserts
    // above the loaded keys), so they come after every phase that checks it.
    services::ycsb(db.as_ref(), n, (reads / 10).max(1000), &values, &run);
    services::put_latency(db.as_ref(), n, reads, &values, &run);
    report("disk_bytes", disk as f64);
    drop(db);
    if std::env::var_os("STRATA_PEERS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Each of these on a fresh database of its own.
    let other = config.dir.join(format!("{engine}-services"));
    services::fill_sync(engine, &other, &values, &run);
    services::big_values(engine, &other, n, &values, &run);
    services::recovery(engine, &other, &run);
    services::disk_with_zstd(engine, &other, n, &values, &run);
    let _ = std::fs::remove_dir_all(&other);
}

/// `reads` seeks to random stored keys; each must land on an entry.
fn seek_phase(db: &dyn Engine, n: u64, reads: u64, seed: u64) {
    let mut rng = Rng(seed);
    for _ in 0..reads {
        assert!(db.seek(&key(2 * rng.below(n))), "seek past the end");
    }
}

/// One writer overwrites random keys flat out while `readers` threads each do `reads`
/// random gets; returns the readers' combined rate.
fn read_while_writing(db: &dyn Engine, n: u64, reads: u64, readers: u64, values: &Values) -> f64 {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng(17 + readers);
            while !done.load(Ordering::Relaxed) {
                let i = rng.below(n);
                db.put(&key(2 * i), values.get(i + 1));
            }
        });
        let secs = measured(&mut || {
            let handles: Vec<_> =
                (0..readers).map(|r| s.spawn(move || read_phase(db, n, reads / readers, 23 + r))).collect();
            for h in handles {
                assert_eq!(h.join().expect("reader"), reads / readers, "readwhilewriting: missing key");
            }
        });
        done.store(true, Ordering::Relaxed);
        (reads / readers * readers) as f64 / secs
    })
}
