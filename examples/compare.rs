//! Runs one write-heavy workload under leveled and size-tiered compaction and prints
//! write, space and read amplification side by side.
//!
//! ```text
//! cargo run --release --example compare -- [KEYS] [OVERWRITES]
//! ```
//!
//! Defaults: 1,000,000 distinct 16-byte keys, 2,000,000 random overwrites with 100-byte
//! values, 4 MiB memtables.

use std::time::Instant;

use strata::{Compaction, Db, Options, Stats};

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Outcome {
    name: &'static str,
    write_secs: f64,
    settle_secs: f64,
    read_secs: f64,
    reads: u64,
    writes: u64,
    peak_disk: u64,
    stats: Stats,
    read_stats: Stats,
}

fn run(name: &'static str, strategy: Compaction, keys: u64, overwrites: u64) -> strata::Result<Outcome> {
    let dir = std::env::temp_dir().join(format!("strata-compare-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::open(&dir, Options::default().memtable_size(4 << 20).compaction(strategy))?;
    let value = [b'v'; 100];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut peak_disk = 0;
    let t = Instant::now();
    for i in 0..overwrites {
        db.put(key(rng.next() % keys), value)?;
        if i % 50_000 == 0 {
            peak_disk = peak_disk.max(db.stats().live_sst_bytes());
        }
    }
    let write_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    db.wait_for_compactions()?;
    let settle_secs = t.elapsed().as_secs_f64();
    let stats = db.stats();
    peak_disk = peak_disk.max(stats.live_sst_bytes());
    let reads = 200_000;
    let t = Instant::now();
    for _ in 0..reads {
        db.get(key(rng.next() % keys))?;
    }
    let read_secs = t.elapsed().as_secs_f64();
    let after = db.stats();
    let mut read_stats = after.clone();
    read_stats.gets -= stats.gets;
    read_stats.get_tables_read -= stats.get_tables_read;
    read_stats.bloom_probes -= stats.bloom_probes;
    read_stats.bloom_false_positives -= stats.bloom_false_positives;
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome { name, write_secs, settle_secs, read_secs, reads, writes: overwrites, peak_disk, stats, read_stats })
}

fn main() -> strata::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().ok());
    let keys = args.next().flatten().unwrap_or(1_000_000);
    let overwrites = args.next().flatten().unwrap_or(2 * keys);
    let outcomes = [
        run("leveled", Compaction::leveled(), keys, overwrites)?,
        run("tiered", Compaction::tiered(), keys, overwrites)?,
    ];
    // Live data: the distinct keys actually written, with their values.
    let distinct = keys as f64 * (1.0 - (-(overwrites as f64) / keys as f64).exp());
    let live = distinct * 116.0;
    println!("workload: {overwrites} random overwrites of {keys} keys (16 B keys, 100 B values), 4 MiB memtables");
    println!("{:<34}{:>14}{:>14}", "", outcomes[0].name, outcomes[1].name);
    let row = |label: &str, f: &dyn Fn(&Outcome) -> String| {
        println!("{label:<34}{:>14}{:>14}", f(&outcomes[0]), f(&outcomes[1]));
    };
    row("write throughput (ops/s)", &|o| format!("{:.0}", o.writes as f64 / o.write_secs));
    row("settle (flush + compactions) s", &|o| format!("{:.2}", o.settle_secs));
    row("write amplification", &|o| format!("{:.2}", o.stats.write_amplification()));
    row("compactions (trivial moves)", &|o| format!("{} ({})", o.stats.compactions, o.stats.trivial_moves));
    row("space amp, settled (disk/live)", &|o| format!("{:.2}", o.stats.live_sst_bytes() as f64 / live));
    row("space amp, peak during writes", &|o| format!("{:.2}", o.peak_disk as f64 / live));
    row("sorted runs at the end", &|o| o.stats.sorted_runs.to_string());
    row("SSTables read per get", &|o| format!("{:.2}", o.read_stats.tables_read_per_get()));
    row("bloom false positives / probes", &|o| {
        format!("{}/{}", o.read_stats.bloom_false_positives, o.read_stats.bloom_probes)
    });
    row("read throughput (ops/s)", &|o| format!("{:.0}", o.reads as f64 / o.read_secs));
    for o in &outcomes {
        let shape: Vec<String> = o
            .stats
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.files > 0)
            .map(|(i, l)| format!("L{i}: {} files {:.1} MiB", l.files, l.bytes as f64 / (1 << 20) as f64))
            .collect();
        println!("{} tree: {}", o.name, shape.join(", "));
    }
    Ok(())
}
