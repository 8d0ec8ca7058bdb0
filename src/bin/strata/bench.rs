//! `strata bench`: db_bench-style workloads with latency percentiles and the engine's
//! amplification figures.
//!
//! Keys are db_bench's: the key number in decimal, zero-padded to `--key-size` bytes.
//! Values are db_bench's too: successive `--value-size` slices of a 1 MiB pool whose
//! pieces each repeat half a value of random printable bytes, so that they compress to
//! about half (db_bench's default `--compression_ratio=0.5`) and no two neighbouring
//! values are alike. Every thread runs `num / threads` operations of a write workload
//! (`reads / threads` of a read workload) over keys below `num`;
//! latencies of every operation are kept and sorted for the percentiles. `flush` and
//! `compact` are one timed operation each: flush the memtable and wait for compactions,
//! or compact everything.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use strata::internals::Rng;
use strata::{Db, Result};

/// The workloads `--benchmarks` accepts, in db_bench's names.
pub const WORKLOADS: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "seekrandom",
    "readseq",
    "readreverse",
    "readwhilewriting",
    "deleterandom",
    "flush",
    "compact",
];

/// True for the workloads made of writes, which run `num` operations (the others run
/// `reads`).
fn is_write(name: &str) -> bool {
    matches!(name, "fillseq" | "fillrandom" | "overwrite" | "deleterandom")
}

/// True for the workloads that write (and so may change how much live data there is).
pub fn changes_data(name: &str) -> bool {
    is_write(name) || name == "readwhilewriting"
}

/// Shape of the keys and values.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Keys in the key space, and operations per write workload.
    pub num: u64,
    /// Operations per read workload (db_bench's `--reads`).
    pub reads: u64,
    /// Key bytes.
    pub key_size: usize,
    /// Value bytes.
    pub value_size: usize,
    /// Client threads.
    pub threads: u64,
}

impl Shape {
    /// db_bench's key: the number, zero-padded (and cut) to the key size.
    /// Written digit by digit: through `format!` it cost as much as the get it fed.
    pub fn key(&self, mut n: u64) -> Vec<u8> {
        let mut key = vec![b'0'; self.key_size];
        for digit in key.iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        key
    }

    /// A key no fill workload writes (a trailing '.' sorts it between real keys).
    pub fn missing_key(&self, n: u64) -> Vec<u8> {
        let mut k = self.key(n);
        if let Some(last) = k.last_mut() {
            *last = b'.';
        }
        k
    }
}

/// db_bench-like values: see the module comment. The pool is made on the first value,
/// so that read workloads (and instruction counts of them) do not pay for it.
pub struct ValuePool {
    data: Vec<u8>,
    value_size: usize,
    next: usize,
    rng: Rng,
}

impl ValuePool {
    const BYTES: usize = 1 << 20;

    /// A pool for values of `value_size` bytes, drawn from `seed`.
    pub fn new(value_size: usize, seed: u64) -> ValuePool {
        ValuePool { data: Vec::new(), value_size, next: 0, rng: Rng(seed | 1) }
    }

    fn fill(&mut self) {
        let half = self.value_size.div_ceil(2).max(1);
        let len = Self::BYTES.max(self.value_size);
        self.data.reserve(len + 2 * half);
        while self.data.len() < len {
            let piece: Vec<u8> = (0..half).map(|_| b' ' + (self.rng.next_u64() % 95) as u8).collect();
            self.data.extend_from_slice(&piece);
            self.data.extend_from_slice(&piece);
        }
    }

    /// The next value (pieces wrap around the pool).
    pub fn next_value(&mut self) -> &[u8] {
        if self.data.is_empty() {
            self.fill();
        }
        if self.next + self.value_size > self.data.len() {
            self.next = 0;
        }
        let at = self.next;
        self.next += self.value_size;
        &self.data[at..at + self.value_size]
    }
}

/// What one workload measured.
pub struct Report {
    /// Workload name.
    pub name: String,
    /// Operations done.
    pub ops: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Bytes of keys and values moved.
    pub bytes: u64,
    /// Sorted per-operation latencies in nanoseconds.
    pub latencies: Vec<u64>,
    /// Entries found (reads) — shows e.g. how many readrandom hits there were.
    pub found: u64,
    /// Engine statistics at the end.
    pub stats: strata::Stats,
    /// Live data bytes estimated for space amplification.
    pub live_bytes: u64,
}

impl Report {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0..=1) in microseconds.
    pub fn percentile_us(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i] as f64 / 1000.0
    }

    /// Disk bytes over live data bytes.
    pub fn space_amplification(&self) -> f64 {
        if self.live_bytes == 0 {
            return 0.0;
        }
        self.stats.live_sst_bytes() as f64 / self.live_bytes as f64
    }

    /// One line in db_bench's style plus percentiles and amplification.
    pub fn line(&self) -> String {
        let mb_s = self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6;
        format!(
            "{:<18}: {:>9.3} µs/op {:>11.0} ops/s {:>8.1} MB/s  p50 {:.2} p99 {:.2} p99.9 {:.2} µs  W-amp {:.2} R-amp {:.2} S-amp {:.2}{}",
            self.name,
            1e6 / self.ops_per_sec(),
            self.ops_per_sec(),
            mb_s,
            self.percentile_us(0.5),
            self.percentile_us(0.99),
            self.percentile_us(0.999),
            self.stats.write_amplification(),
            self.stats.tables_read_per_get(),
            self.space_amplification(),
            if self.found > 0 { format!("  ({} found)", self.found) } else { String::new() },
        )
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "ops": self.ops,
            "seconds": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(),
            "mb_per_sec": self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6,
            "us_per_op": 1e6 / self.ops_per_sec(),
            "p50_us": self.percentile_us(0.5),
            "p99_us": self.percentile_us(0.99),
            "p999_us": self.percentile_us(0.999),
            "found": self.found,
            "write_amplification": self.stats.write_amplification(),
            "read_amplification": self.stats.tables_read_per_get(),
            "space_amplification": self.space_amplification(),
            "live_sst_bytes": self.stats.live_sst_bytes(),
            "compactions": self.stats.compactions,
            "sorted_runs": self.stats.sorted_runs,
        })
    }
}

/// A progress bar on stderr (hidden when it is not a terminal).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Runs one workload and reports it.
pub fn run(db: &Db, name: &str, shape: Shape, seed: u64) -> Result<Report> {
    let before = db.stats();
    let start = Instant::now();
    // flush and compact are one operation, done once.
    let threads = if matches!(name, "flush" | "compact") { 1 } else { shape.threads.max(1) };
    let ops = if is_write(name) { shape.num } else { shape.reads };
    let per_thread = (ops / threads).max(1);
    let bar = progress(per_thread * threads, name);
    let stop_writer = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<(Vec<u64>, u64, u64)>> = std::thread::scope(|s| {
        // readwhilewriting: one extra thread overwrites random keys until the readers are
        // done; as in db_bench, only the reads are reported.
        let writer = (name == "readwhilewriting").then(|| {
            s.spawn(|| -> Result<()> {
                let mut rng = Rng(seed ^ 0xdead_beef);
                let mut values = ValuePool::new(shape.value_size, rng.0 ^ 0x5eed);
                while !stop_writer.load(std::sync::atomic::Ordering::Relaxed) {
                    db.put(shape.key(rng.next_u64() % shape.num), values.next_value())?;
                }
                Ok(())
            })
        });
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let bar = bar.clone();
                s.spawn(move || {
                    worker(db, name, shape, per_thread, Rng(seed ^ (t + 1).wrapping_mul(0x9e37_79b9)), t, &bar)
                })
            })
            .collect();
        let panicked = || strata::Error::Background("bench thread panicked".into());
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(panicked()))).collect();
        stop_writer.store(true, std::sync::atomic::Ordering::Relaxed);
        match writer.map(|w| w.join().unwrap_or_else(|_| Err(panicked()))) {
            Some(Err(e)) => vec![Err(e)],
            _ => results,
        }
    });
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let mut latencies = Vec::new();
    let (mut bytes, mut found) = (0, 0);
    for r in results {
        let (l, b, f) = r?;
        latencies.extend(l);
        bytes += b;
        found += f;
    }
    latencies.sort_unstable();
    let mut stats = db.stats();
    stats.gets -= before.gets.min(stats.gets);
    stats.get_tables_read -= before.get_tables_read.min(stats.get_tables_read);
    Ok(Report {
        name: name.to_string(),
        ops: latencies.len() as u64,
        elapsed,
        bytes,
        latencies,
        found,
        live_bytes: 0,
        stats,
    })
}

/// One thread's share: (latencies, bytes, found).
fn worker(
    db: &Db,
    name: &str,
    shape: Shape,
    ops: u64,
    mut rng: Rng,
    thread: u64,
    bar: &ProgressBar,
) -> Result<(Vec<u64>, u64, u64)> {
    let mut lat = Vec::with_capacity(ops as usize);
    let (mut bytes, mut found) = (0u64, 0u64);
    let entry_bytes = (shape.key_size + shape.value_size) as u64;
    let mut values = ValuePool::new(shape.value_size, rng.0 ^ 0x5eed);
    let timed = |lat: &mut Vec<u64>, f: &mut dyn FnMut() -> Result<u64>| -> Result<u64> {
        let t = Instant::now();
        let r = f()?;
        lat.push(t.elapsed().as_nanos() as u64);
        Ok(r)
    };
    match name {
        "flush" | "compact" => {
            let t = Instant::now();
            if name == "flush" {
                db.flush()?;
                db.wait_for_compactions()?;
            } else {
                db.compact()?;
            }
            lat.push(t.elapsed().as_nanos() as u64);
            bar.inc(ops);
        }
        "readseq" | "readreverse" => {
            let t = Instant::now();
            let mut last = Instant::now();
            let items: Box<dyn Iterator<Item = Result<(strata::Bytes, strata::Bytes)>>> = if name == "readseq" {
                Box::new(db.range::<&[u8], _>(..))
            } else {
                Box::new(db.range::<&[u8], _>(..).rev())
            };
            for item in items.take(ops as usize) {
                let (k, v) = item?;
                bytes += (k.len() + v.len()) as u64;
                let now = Instant::now();
                lat.push((now - last).as_nanos() as u64);
                last = now;
            }
            if lat.is_empty() {
                lat.push(t.elapsed().as_nanos() as u64);
            }
            bar.inc(ops);
        }
        _ => {
            for i in 0..ops {
                let n = match name {
                    "fillseq" => thread * ops + i,
                    _ => rng.next_u64() % shape.num,
                };
                let got = timed(&mut lat, &mut || match name {
                    "fillseq" | "fillrandom" | "overwrite" => db.put(shape.key(n), values.next_value()).map(|()| 0),
                    "deleterandom" => db.delete(shape.key(n)).map(|()| 0),
                    "readrandom" | "readwhilewriting" => db.get(shape.key(n)).map(|v| u64::from(v.is_some())),
                    "readmissing" => db.get(shape.missing_key(n)).map(|v| u64::from(v.is_some())),
                    "seekrandom" => {
                        let key = shape.key(n);
                        Ok(db.range(key.as_slice()..).next().transpose()?.map_or(0, |_| 1))
                    }
                    other => Err(strata::Error::InvalidArgument(format!("unknown benchmark {other}"))),
                })?;
                found += got;
                bytes += entry_bytes;
                if i % 1024 == 0 {
                    bar.inc(1024.min(ops - i));
                }
            }
        }
    }
    Ok((lat, bytes, found))
}

#[cfg(test)]
mod tests {
    use super::Shape;

    #[test]
    fn keys_are_the_number_zero_padded_and_cut_to_the_key_size() {
        for key_size in [1, 4, 16, 24] {
            let shape = Shape { num: 10, reads: 10, key_size, value_size: 10, threads: 1 };
            for n in [0, 7, 12_345, 9_999_999_999_999_999, u64::MAX] {
                let digits = format!("{n:0key_size$}");
                assert_eq!(shape.key(n), &digits.as_bytes()[digits.len() - key_size..], "{n} in {key_size}");
            }
        }
    }
}
