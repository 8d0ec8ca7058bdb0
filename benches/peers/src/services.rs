//! The phases services run, beyond db_bench's single unsynced client: synced writes
//! from many clients (group commit), reads from several threads, YCSB's mixes over
//! zipfian keys, kilobyte values, recovery of a full WAL, put latency while compaction
//! is busy, and the disk a database takes with zstd at the last level.
//!
//! Each phase reports like the others (`RESULT <phase> <value>`); a phase an engine
//! cannot run (zstd where it has none) reports nothing and shows as "-".

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::engines::{self, Engine, Settings};
use crate::workload::{dir_bytes, fresh, key, measured, read_phase, report, shuffled, Rng, Values, VALUE_LEN};

/// Synced puts per client thread in `fillsync_*`.
const SYNCED_PUTS_PER_THREAD: u64 = 2_000;

/// `fillsync_1/4/16`: random puts, each durable on return, from 1, 4 and 16 threads
/// into a fresh database; the combined rate.
pub fn fill_sync(engine: &str, dir: &Path, values: &Values, run: &dyn Fn(&str) -> bool) {
    for threads in [1u64, 4, 16] {
        let phase = format!("fillsync_{threads}");
        if !run(&phase) {
            continue;
        }
        fresh(dir);
        let db = engines::open(engine, dir);
        let db = db.as_ref();
        let secs = measured(&mut || {
            std::thread::scope(|s| {
                for t in 0..threads {
                    s.spawn(move || {
                        let mut rng = Rng(1 + t);
                        for _ in 0..SYNCED_PUTS_PER_THREAD {
                            let i = rng.below(1 << 40);
                            db.put_sync(&key(i), values.get(i));
                        }
                    });
                }
            });
        });
        report(&phase, (threads * SYNCED_PUTS_PER_THREAD) as f64 / secs);
    }
}

/// `readrandom_2/4`: `reads` gets of present keys in all, from 2 and 4 threads, on the
/// settled database of `n` keys.
pub fn read_threads(db: &dyn Engine, n: u64, reads: u64, run: &dyn Fn(&str) -> bool) {
    for threads in [2u64, 4] {
        let phase = format!("readrandom_{threads}");
        if !run(&phase) {
            continue;
        }
        let each = reads / threads;
        let secs = measured(&mut || {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || read_phase(db, n, each, 101 + t))).collect();
                for h in handles {
                    assert_eq!(h.join().expect("reader"), each, "{phase}: a key is missing");
                }
            });
        });
        report(&phase, (each * threads) as f64 / secs);
    }
}

/// YCSB's scrambled zipfian (θ = 0.99) over `0..n` (Gray et al., as YCSB draws it).
pub struct Zipfian {
    n: f64,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
}

impl Zipfian {
    pub fn new(n: u64) -> Zipfian {
        let theta = 0.99;
        let zeta = |m: u64| (1..=m).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zeta_n = zeta(n);
        let n = n as f64;
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n).powf(1.0 - theta)) / (1.0 - zeta(2) / zeta_n);
        Zipfian { n, theta, alpha, zeta_n, eta }
    }

    /// A rank: 0 the most popular.
    fn rank(&self, rng: &mut Rng) -> u64 {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        ((self.n * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64).min(self.n as u64 - 1)
    }

    /// An item, ranks scattered over the key space (YCSB's FNV scrambling) so that the
    /// popular keys are not neighbours.
    fn item(&self, rng: &mut Rng) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in self.rank(rng).to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        h % self.n as u64
    }
}

/// One YCSB operation mix.
#[derive(Clone, Copy)]
enum Mix {
    /// Reads and updates, `read` percent reads (A: 50, B: 95, C: 100).
    ReadUpdate(u64),
    /// D: 95% reads of the latest inserts, 5% inserts.
    ReadLatest,
    /// E: 95% scans of 1-100 entries, 5% inserts.
    ScanInsert,
    /// F: 50% reads, 50% read-modify-writes.
    ReadModifyWrite,
}

/// `ycsb_a_1` .. `ycsb_f_4`: each mix over zipfian keys of the loaded database (`n`
/// keys `2i`), `ops` operations from 1 and then 4 threads. Inserts take new keys above
/// the loaded ones (odd numbers beyond `2n`, so later phases' keys are untouched).
pub fn ycsb(db: &dyn Engine, n: u64, ops: u64, values: &Values, run: &dyn Fn(&str) -> bool) {
    let zipf = Zipfian::new(n);
    let inserted = AtomicU64::new(0);
    let mixes = [
        ("a", Mix::ReadUpdate(50)),
        ("b", Mix::ReadUpdate(95)),
        ("c", Mix::ReadUpdate(100)),
        ("d", Mix::ReadLatest),
        ("e", Mix::ScanInsert),
        ("f", Mix::ReadModifyWrite),
    ];
    for (name, mix) in mixes {
        for threads in [1u64, 4] {
            let phase = format!("ycsb_{name}_{threads}");
            if !run(&phase) {
                continue;
            }
            let (zipf, inserted) = (&zipf, &inserted);
            let secs = measured(&mut || {
                std::thread::scope(|s| {
                    for t in 0..threads {
                        s.spawn(move || ycsb_client(db, n, ops / threads, mix, zipf, inserted, values, 1000 + t));
                    }
                });
            });
            report(&phase, (ops / threads * threads) as f64 / secs);
        }
    }
}

/// The key of the `i`-th insert of the YCSB phases.
fn inserted_key(n: u64, i: u64) -> [u8; crate::workload::KEY_LEN] {
    key(2 * n + 2 * i + 1)
}

#[allow(clippy::too_many_arguments)]
fn ycsb_client(
    db: &dyn Engine,
    n: u64,
    ops: u64,
    mix: Mix,
    zipf: &Zipfian,
    inserted: &AtomicU64,
    values: &Values,
    seed: u64,
) {
    let mut rng = Rng(seed);
    let read = |rng: &mut Rng| {
        let len = db.get(&key(2 * zipf.item(rng)));
        assert_eq!(len, Some(VALUE_LEN), "ycsb: a loaded key is missing");
    };
    let insert = |rng: &mut Rng| {
        let i = inserted.fetch_add(1, Ordering::Relaxed);
        db.put(&inserted_key(n, i), values.get(rng.next()));
    };
    for _ in 0..ops {
        let roll = rng.below(100);
        match mix {
            Mix::ReadUpdate(reads) if roll < reads => read(&mut rng),
            Mix::ReadUpdate(_) => {
                let i = zipf.item(&mut rng);
                db.put(&key(2 * i), values.get(i + roll));
            }
            Mix::ReadLatest if roll < 95 => {
                // The latest inserts are the most popular; before any, the loaded keys.
                let done = inserted.load(Ordering::Relaxed);
                match done.checked_sub(1 + zipf.rank(&mut rng)) {
                    Some(i) => std::hint::black_box(db.get(&inserted_key(n, i))),
                    None => std::hint::black_box(db.get(&key(2 * zipf.item(&mut rng)))),
                };
            }
            Mix::ScanInsert if roll < 95 => {
                let len = 1 + rng.below(100) as usize;
                std::hint::black_box(db.scan_from(&key(2 * zipf.item(&mut rng)), len));
            }
            Mix::ReadLatest | Mix::ScanInsert => insert(&mut rng),
            Mix::ReadModifyWrite if roll < 50 => read(&mut rng),
            Mix::ReadModifyWrite => {
                let i = zipf.item(&mut rng);
                assert!(db.get(&key(2 * i)).is_some(), "ycsb f: a loaded key is missing");
                db.put(&key(2 * i), values.get(i + roll));
            }
        }
    }
}

/// `fill_1k`, `readrandom_1k`, `fill_16k`: random puts of 1 KiB values (`n / 10` of
/// them) with random reads of them, and of 16 KiB values (`n / 100`), each into a fresh
/// database.
pub fn big_values(engine: &str, dir: &Path, n: u64, values: &Values, run: &dyn Fn(&str) -> bool) {
    for (len, count, fill, read) in [(1024, n / 10, "fill_1k", "readrandom_1k"), (16384, n / 100, "fill_16k", "")] {
        if !run(fill) {
            continue;
        }
        fresh(dir);
        let db = engines::open(engine, dir);
        let order = shuffled(count, 43);
        let secs = measured(&mut || {
            for &i in &order {
                db.put(&key(2 * i), values.sized(i, len));
            }
        });
        report(fill, count as f64 / secs);
        if !read.is_empty() && run(read) {
            db.settle();
            let secs = measured(&mut || {
                let mut rng = Rng(47);
                for _ in 0..count {
                    assert_eq!(db.get(&key(2 * rng.below(count))), Some(len), "{read}: wrong value");
                }
            });
            report(read, count as f64 / secs);
        }
    }
}

/// The child that `recovery` runs first: fills about one memtable (64 MiB) with random
/// puts, hands its WAL to the system and exits without closing, as a killed process
/// would (`strata-peers recovery-prep ENGINE DIR`).
pub fn recovery_prep(engine: &str, dir: &Path) {
    let values = Values::new();
    let db = engines::open(engine, dir);
    let entries = (engines::MEMTABLE as u64) * 9 / 10 / (VALUE_LEN as u64 + 16 + 16);
    let mut rng = Rng(53);
    for _ in 0..entries {
        let i = rng.below(1 << 40);
        db.put(&key(i), values.get(i));
    }
    db.flush_wal();
    println!("PREPARED {entries}");
    std::process::exit(0);
}

/// `recovery_secs`: the time to open a database whose WAL holds about a memtable of
/// writes no table has, written by a child that exited without closing, and read one
/// key of it.
pub fn recovery(engine: &str, dir: &Path, run: &dyn Fn(&str) -> bool) {
    if !run("recovery_secs") {
        return;
    }
    fresh(dir);
    let exe = std::env::current_exe().expect("current exe");
    let out = std::process::Command::new(exe)
        .args(["recovery-prep", engine, &dir.display().to_string()])
        .output()
        .expect("spawn recovery-prep");
    assert!(out.status.success(), "recovery-prep failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut rng = Rng(53);
    let first = rng.below(1 << 40);
    let mut opened = None;
    let secs = measured(&mut || {
        let db = engines::open(engine, dir);
        assert!(db.get(&key(first)).is_some(), "recovery lost the first write");
        opened = Some(db);
    });
    // Closing is not timed: some engines flush what they recovered.
    drop(opened);
    report("recovery_secs", secs);
}

/// `put_p50_us`, `put_p99_us`, `put_p999_us`: the latency of each of `ops` random
/// overwrites made flat out into the loaded database, long enough to fill memtables
/// and keep compaction busy (stalls show in the tail).
pub fn put_latency(db: &dyn Engine, n: u64, ops: u64, values: &Values, run: &dyn Fn(&str) -> bool) {
    if !run("put_latency") {
        return;
    }
    let mut rng = Rng(59);
    let mut lat = Vec::with_capacity(ops as usize);
    measured(&mut || {
        for _ in 0..ops {
            let i = rng.below(n);
            let t = Instant::now();
            db.put(&key(2 * i), values.get(i + 3));
            lat.push(t.elapsed().as_nanos() as u64);
        }
    });
    lat.sort_unstable();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    report("put_p50_us", at(0.5));
    report("put_p99_us", at(0.99));
    report("put_p999_us", at(0.999));
}

/// `disk_bytes_zstd`: the bytes on disk after a random fill of `n` keys with zstd at the
/// last level, settled and fully compacted, so that the last level holds everything
/// (at 1M keys a settled tree is often L0 alone, where no engine uses zstd). Engines
/// without zstd report nothing.
pub fn disk_with_zstd(engine: &str, dir: &Path, n: u64, values: &Values, run: &dyn Fn(&str) -> bool) {
    if !run("disk_bytes_zstd") {
        return;
    }
    fresh(dir);
    let Some(db) = engines::open_with(engine, dir, Settings { zstd_last: true }) else { return };
    for i in shuffled(n, 42) {
        db.put(&key(2 * i), values.get(i));
    }
    db.settle();
    db.compact_all();
    report("disk_bytes_zstd", dir_bytes(dir) as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipfian_ranks_are_skewed_and_in_range() {
        let z = Zipfian::new(1000);
        let mut rng = Rng(7);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[z.rank(&mut rng) as usize] += 1;
        }
        // θ = 0.99 over 1,000 items: the top rank takes about 13%, the top ten ~38%.
        assert!((10_000..16_000).contains(&counts[0]), "{}", counts[0]);
        let top10: u32 = counts[..10].iter().sum();
        assert!((33_000..44_000).contains(&top10), "{top10}");
        assert!(counts[999] < 100);
    }
}
