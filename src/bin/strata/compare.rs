//! `strata compare`: one workload under every compaction strategy, side by side.
//!
//! A workload (see [`crate::workload`]) loads `--num` keys and runs its operation mix;
//! the default, `overwrite`, is write-heavy: `--num` random inserts, then as many random
//! overwrites with one read in ten. Then the tree settles, `--num / 4` random reads
//! measure it, and `--num / 8` reads of keys never written measure the filters. Disk
//! size and write amplification are sampled along the way for the chart; space
//! amplification is measured against the bytes of the live entries a final scan finds.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use strata::{BloomAllocation, Compaction, Compression, Db, LeveledOptions, Options, Result};

use crate::bench::{progress, Shape, ValuePool};
use crate::model::{self, Prediction};
use crate::svg::{self, Point, Series};
use crate::workload::{stored, Distribution, Generator, Op, Workload, STORED_RANGE};
use strata::fs::{FileSystem, OsFileSystem};
use strata::internals::{Rng, TableReader};

/// What one strategy did.
pub struct Outcome {
    name: String,
    /// Per sorted run of the settled tree, largest first: (filter bits per key, entries).
    filter_bits: Vec<(f64, u64)>,
    /// In a sweep: the strategy's name and the swept value.
    sweep: Option<(String, u64)>,
    /// What was swept (an axis label).
    sweep_what: &'static str,
    /// What Dostoevsky's model predicts for this configuration and tree size.
    predicted: Prediction,
    /// Key and value bytes of the live entries at the end.
    live_bytes: f64,
    write_secs: f64,
    writes: u64,
    read_secs: f64,
    reads: u64,
    write_lat: Vec<u64>,
    read_lat: Vec<u64>,
    /// (ops done, write amplification, disk MiB)
    samples: Vec<(f64, f64, f64)>,
    stats: strata::Stats,
    read_stats: strata::Stats,
    /// The lookups of keys never written, after the read phase.
    absent_stats: strata::Stats,
    peak_disk: u64,
}

fn pct(v: &[u64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

fn run_one(
    config: &Config,
    shape: Shape,
    mix: (Workload, Distribution),
    memtable: usize,
    bloom: BloomAllocation,
    dir: &Path,
) -> Result<Outcome> {
    let name = config.name.as_str();
    // Uncompressed, so that bytes written and stored measure what the strategy does, not
    // how well the benchmark's values compress.
    let options = Options::default()
        .memtable_size(memtable)
        .compaction(config.compaction.clone())
        .compression(Compression::None)
        .bloom_bits_per_key(config.bloom_bits)
        .bloom_allocation(if config.monkey { BloomAllocation::Monkey } else { bloom });
    let db = Db::open(dir, options)?;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut values = ValuePool::new(shape.value_size, rng.0 ^ 0x5eed);
    let ops = Generator::new(mix.0, mix.1, shape.num, rng.0 ^ 0xface);
    let total = ops.len();
    let key = |n: u64| shape.key(stored(n));
    let bar = progress(total, name);
    let (mut write_lat, mut read_lat) = (Vec::with_capacity(total as usize), Vec::new());
    let mut samples = Vec::new();
    let mut peak_disk = 0;
    let start = Instant::now();
    for (i, op) in ops.enumerate() {
        let i = i as u64;
        let t = Instant::now();
        match op {
            Op::Read(n) => {
                db.get(key(n))?;
            }
            Op::Update(n) | Op::Insert(n) => db.put(key(n), values.next_value())?,
            Op::ReadModifyWrite(n) => {
                db.get(key(n))?;
                db.put(key(n), values.next_value())?;
            }
            Op::Scan(n, len) => {
                for entry in db.range(key(n)..).take(len) {
                    entry?;
                }
            }
            Op::Delete(n) => db.delete(key(n))?,
            Op::DeleteRange(n, width) => {
                let from = stored(n);
                db.delete_range(shape.key(from), shape.key(from.saturating_add(width).min(STORED_RANGE)))?;
            }
        }
        let elapsed = t.elapsed().as_nanos() as u64;
        if op.writes() {
            write_lat.push(elapsed);
        } else {
            read_lat.push(elapsed);
        }
        if i.is_multiple_of((total / 100).max(1)) {
            let s = db.stats();
            peak_disk = peak_disk.max(s.live_sst_bytes());
            samples.push((i as f64, s.write_amplification(), s.live_sst_bytes() as f64 / (1 << 20) as f64));
            bar.set_position(i);
        }
    }
    db.wait_for_compactions()?;
    let write_secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let stats = db.stats();
    peak_disk = peak_disk.max(stats.live_sst_bytes());
    samples.push((total as f64, stats.write_amplification(), stats.live_sst_bytes() as f64 / (1 << 20) as f64));
    let reads = shape.num / 4;
    let t0 = Instant::now();
    let mut lat = Vec::with_capacity(reads as usize);
    for _ in 0..reads {
        let t = Instant::now();
        db.get(key(rng.next_u64() % shape.num))?;
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let read_secs = t0.elapsed().as_secs_f64();
    read_lat.extend(lat);
    write_lat.sort_unstable();
    read_lat.sort_unstable();
    let after_reads = db.stats();
    let read_stats = lookups_between(&after_reads, &stats);
    // Zero-result lookups: keys never inserted, scrambled over the same key space, so
    // every table whose range holds them is probed and every pass is a false positive.
    for i in 0..(shape.num / 8).max(1) {
        db.get(key(u64::MAX - i))?;
    }
    let absent_stats = lookups_between(&db.stats(), &after_reads);
    let filter_bits = filter_bits_per_run(dir, &db.tables())?;
    let mut live_bytes = 0;
    for entry in db.range::<&[u8], _>(..) {
        let (k, v) = entry?;
        live_bytes += k.len() + v.len();
    }
    db.close()?;
    let live_bytes = (live_bytes as f64).max(1.0);
    Ok(Outcome {
        filter_bits,
        name: name.to_string(),
        sweep: config.sweep.as_ref().map(|(base, _, v)| (base.clone(), *v)),
        sweep_what: config.sweep.as_ref().map_or("", |(_, what, _)| what),
        predicted: model::predict(&config.compaction, live_bytes, memtable as f64, config.bloom_bits),
        live_bytes,
        write_secs,
        writes: total,
        read_secs,
        reads,
        write_lat,
        read_lat,
        samples,
        stats,
        read_stats,
        absent_stats,
        peak_disk,
    })
}

/// The lookups' counters of `after` less those of `before`, totals and per level: what
/// the lookups between the two did.
fn lookups_between(after: &strata::Stats, before: &strata::Stats) -> strata::Stats {
    let mut read = after.clone();
    read.gets -= before.gets;
    read.get_tables_read -= before.get_tables_read;
    read.bloom_probes -= before.bloom_probes;
    read.bloom_negatives -= before.bloom_negatives;
    read.bloom_false_positives -= before.bloom_false_positives;
    for (level, earlier) in read.levels.iter_mut().zip(&before.levels) {
        level.get_tables_read -= earlier.get_tables_read;
        level.bloom_probes -= earlier.bloom_probes;
        level.bloom_negatives -= earlier.bloom_negatives;
        level.bloom_false_positives -= earlier.bloom_false_positives;
    }
    read
}

/// What a sweep varies, as its charts' axes name it.
const SIZE_RATIO: &str = "size ratio";
const BLOOM_BITS: &str = "bloom bits per key";

/// One configuration the lab runs: a strategy, the filter bits per key it gets, and the
/// name it is shown under.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub compaction: Compaction,
    pub bloom_bits: u32,
    /// `name+monkey`: Monkey's filter allocation whatever `--bloom-allocation` says.
    pub monkey: bool,
    /// In a sweep: the configuration swept, what (`size-ratio`, `bloom-bits`) and the
    /// value this one has.
    pub sweep: Option<(String, &'static str, u64)>,
}

/// Filter bits per key and entries of each sorted run of the tables in `dir` (each L0
/// table one run, each deeper level one), largest first, read from the tables
/// themselves (the engine keeps no such statistic).
fn filter_bits_per_run(dir: &Path, tables: &[strata::TableInfo]) -> Result<Vec<(f64, u64)>> {
    let mut runs: Vec<(u64, u64)> = Vec::new(); // (filter bytes, entries)
    let mut deeper: std::collections::BTreeMap<usize, (u64, u64)> = std::collections::BTreeMap::new();
    for t in tables {
        let name = format!("{:06}.sst", t.number);
        let file = OsFileSystem.open(&dir.join(&name))?;
        let filter = TableReader::open(file, &name, None)?.filter_size().unwrap_or(0) as u64;
        if t.level == 0 {
            runs.push((filter, t.entries));
        } else {
            let run = deeper.entry(t.level).or_default();
            run.0 += filter;
            run.1 += t.entries;
        }
    }
    runs.extend(deeper.into_values());
    runs.sort_by_key(|&(_, entries)| std::cmp::Reverse(entries));
    Ok(runs.into_iter().map(|(bytes, entries)| (bytes as f64 * 8.0 / entries.max(1) as f64, entries)).collect())
}

/// Runs the comparison of `configs` in temporary directories under `work`; returns the
/// outcomes.
pub fn run(
    shape: Shape,
    mix: (Workload, Distribution),
    memtable: usize,
    bloom: BloomAllocation,
    configs: &[Config],
    work: &Path,
) -> Result<Vec<Outcome>> {
    // Out-of-range parameters fail now, not after the configurations before them ran:
    // an open checks its options before it touches the disk.
    for (i, config) in configs.iter().enumerate() {
        let dir = work.join(format!("check-{i}"));
        Db::open(&dir, Options::default().compaction(config.compaction.clone()))?.close()?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut out = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let dir = work.join(i.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        out.push(run_one(config, shape, mix, memtable, bloom, &dir)?);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

/// Expands `configs` by `--sweep`: `size-ratio=2,4,8` runs each strategy at each size
/// ratio (a leveled multiplier, a fluid T — keeping K = T-1 or Z = T-1 where they were,
/// the tiered picker's run count; FIFO has none and runs once), `bloom-bits=4,8,12` at
/// each number of filter bits per key.
pub fn sweep(configs: Vec<Config>, spec: &str) -> Result<Vec<Config>> {
    let bad = |why: String| strata::Error::InvalidArgument(format!("--sweep {spec}: {why}"));
    let (what, values) = spec.split_once('=').ok_or_else(|| bad("expected NAME=V1,V2,...".into()))?;
    let values: Vec<u64> = values
        .split(',')
        .map(|v| v.trim().parse::<u64>().map_err(|e| bad(format!("{v}: {e}"))))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for config in configs {
        for &v in &values {
            let mut c = config.clone();
            match what {
                "size-ratio" => {
                    c.compaction = match &config.compaction {
                        Compaction::Leveled(l) => {
                            let mut l = l.clone();
                            l.level_size_multiplier = v;
                            Compaction::Leveled(l)
                        }
                        Compaction::Fluid(f) => {
                            let tiered_above = f.runs_per_level + 1 == f.size_ratio as usize;
                            let tiered_last = f.last_level_runs + 1 == f.size_ratio as usize;
                            let bound = |n: usize| n.min(v.saturating_sub(1).max(1) as usize);
                            let t = v.saturating_sub(1).max(1) as usize;
                            let k = if tiered_above { t } else { bound(f.runs_per_level) };
                            let z = if tiered_last { t } else { bound(f.last_level_runs) };
                            Compaction::fluid(v, k, z)
                        }
                        Compaction::Tiered(t) => {
                            let mut t = t.clone();
                            t.min_threshold = v as usize;
                            t.max_threshold = t.max_threshold.max(t.min_threshold);
                            Compaction::Tiered(t)
                        }
                        other => {
                            if out.iter().any(|o: &Config| o.name == config.name) {
                                continue;
                            }
                            other.clone()
                        }
                    };
                    if !matches!(config.compaction, Compaction::Fifo(_)) {
                        c.name = format!("{} T={v}", config.name);
                        c.sweep = Some((config.name.clone(), SIZE_RATIO, v));
                    }
                }
                "bloom-bits" => {
                    c.bloom_bits = u32::try_from(v).map_err(|e| bad(e.to_string()))?;
                    c.name = format!("{} bits={v}", config.name);
                    c.sweep = Some((config.name.clone(), BLOOM_BITS, v));
                }
                _ => return Err(bad(format!("unknown parameter {what} (size-ratio, bloom-bits)"))),
            }
            out.push(c);
        }
    }
    Ok(out)
}

/// Parses `--strategies`: a comma-separated list, each item optionally suffixed
/// `+monkey` (Monkey's filter allocation for it), of `leveled`, `dynamic` (leveled with
/// dynamic level sizing), `tiered`, `lazy` (lazy
/// leveling, T = 10), `fluid:T=8:K=3:Z=1` (any point of the Dostoevsky space; T
/// defaults to 10, K and Z to 1) and `fifo:BYTES` (FIFO dropping past BYTES; by default
/// 1 GiB). Each comes back with the name it is shown under.
pub fn parse_strategies(list: &str) -> Result<Vec<Config>> {
    let bad = |why: String| strata::Error::InvalidArgument(why);
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (spec, monkey) = match item.strip_suffix("+monkey") {
                Some(spec) => (spec, true),
                None => (item, false),
            };
            let mut parts = spec.split(':');
            let kind = parts.next().unwrap_or_default();
            let strategy = match kind {
                "leveled" => Compaction::leveled(),
                "dynamic" => {
                    let mut leveled = LeveledOptions::default();
                    leveled.dynamic_level_bytes = true;
                    Compaction::Leveled(leveled)
                }
                "tiered" => Compaction::tiered(),
                "lazy" => Compaction::lazy_leveling(),
                "fifo" => {
                    let bytes =
                        parts.next().map_or(Ok(1 << 30), str::parse).map_err(|e| bad(format!("{item}: {e}")))?;
                    Compaction::fifo(bytes)
                }
                "fluid" => {
                    let (mut t, mut k, mut z) = (10u64, 1usize, 1usize);
                    for param in parts.by_ref() {
                        let (name, value) =
                            param.split_once('=').ok_or_else(|| bad(format!("{item}: {param} is not NAME=VALUE")))?;
                        let value: u64 = value.parse().map_err(|e| bad(format!("{item}: {param}: {e}")))?;
                        match name {
                            "T" => t = value,
                            "K" => k = usize::try_from(value).map_err(|e| bad(format!("{item}: {param}: {e}")))?,
                            "Z" => z = usize::try_from(value).map_err(|e| bad(format!("{item}: {param}: {e}")))?,
                            _ => return Err(bad(format!("{item}: unknown parameter {name} (T, K or Z)"))),
                        }
                    }
                    Compaction::fluid(t, k, z)
                }
                _ => {
                    return Err(bad(format!(
                        "unknown strategy {kind:?} (leveled, dynamic, tiered, lazy, fluid:T=..:K=..:Z=.., fifo:BYTES)"
                    )))
                }
            };
            if parts.next().is_some() {
                return Err(bad(format!("{item}: too many parameters")));
            }
            Ok(Config { name: item.to_string(), compaction: strategy, bloom_bits: 10, monkey, sweep: None })
        })
        .collect()
}

/// How one cell of the table is computed from an outcome.
type Cell = Box<dyn Fn(&Outcome) -> String>;

/// The side-by-side table.
/// The comparison's rows: a label and one cell per outcome.
fn rows(outcomes: &[Outcome]) -> Vec<(&'static str, Vec<String>)> {
    let rows: Vec<(&'static str, Cell)> = vec![
        ("ops/s (load + run, until settled)", Box::new(|o| format!("{:.0}", o.writes as f64 / o.write_secs))),
        ("reads/s (settled tree)", Box::new(|o| format!("{:.0}", o.reads as f64 / o.read_secs))),
        ("write amplification", Box::new(|o| format!("{:.2}", o.stats.write_amplification()))),
        ("  Dostoevsky's model predicts", Box::new(|o| format!("{:.2}", o.predicted.write_amplification))),
        (
            "space amplification (settled)",
            Box::new(|o| format!("{:.2}", o.stats.live_sst_bytes() as f64 / o.live_bytes)),
        ),
        ("space amplification (peak)", Box::new(|o| format!("{:.2}", o.peak_disk as f64 / o.live_bytes))),
        ("  the model (estimate), all updates", Box::new(|o| format!("{:.2}", o.predicted.space_amplification))),
        ("sorted runs", Box::new(|o| o.stats.sorted_runs.to_string())),
        (
            "  at most, the model says (levels)",
            Box::new(|o| format!("{:.0} ({})", o.predicted.runs, o.predicted.levels)),
        ),
        (
            "bloom probes per get",
            Box::new(|o| format!("{:.2}", o.read_stats.bloom_probes as f64 / o.read_stats.gets.max(1) as f64)),
        ),
        ("SSTables (data blocks) read per get", Box::new(|o| format!("{:.2}", o.read_stats.tables_read_per_get()))),
        ("bloom false positives", Box::new(|o| format!("{}", o.read_stats.bloom_false_positives))),
        (
            "false positives per absent get",
            Box::new(|o| {
                format!("{:.4}", o.absent_stats.bloom_false_positives as f64 / o.absent_stats.gets.max(1) as f64)
            }),
        ),
        ("  the model, uniform filters", Box::new(|o| format!("{:.4}", o.predicted.false_positives))),
        ("  the model, Monkey's", Box::new(|o| format!("{:.4}", o.predicted.monkey_false_positives))),
        (
            "absent gets: FP rate % by level",
            Box::new(|o| {
                let levels = o.absent_stats.levels.iter().enumerate();
                let rates: Vec<String> = levels
                    .filter(|(_, l)| l.bloom_negatives + l.bloom_false_positives > 0)
                    .map(|(i, l)| format!("L{i} {:.1}", l.bloom_false_positive_rate() * 100.0))
                    .collect();
                rates.join(" ")
            }),
        ),
        (
            "data blocks read per scan",
            Box::new(|o| match o.stats.scans {
                0 => "-".to_string(),
                _ => format!("{:.1}", o.stats.blocks_read_per_scan()),
            }),
        ),
        (
            "filter memory (KiB)",
            Box::new(|o| {
                let bits: f64 = o.filter_bits.iter().map(|&(b, entries)| b * entries as f64).sum();
                format!("{:.0}", bits / 8.0 / 1024.0)
            }),
        ),
        (
            "filter bits/key by run, largest 4",
            Box::new(|o| {
                let runs: Vec<String> = o.filter_bits.iter().take(4).map(|(bits, _)| format!("{bits:.1}")).collect();
                runs.join(" ")
            }),
        ),
        ("compactions (moves)", Box::new(|o| format!("{} ({})", o.stats.compactions, o.stats.trivial_moves))),
        ("blocks copied by compactions", Box::new(|o| o.stats.compaction_blocks_copied.to_string())),
        (
            "write p50/p99/p99.9 µs",
            Box::new(|o| {
                format!("{:.1}/{:.0}/{:.0}", pct(&o.write_lat, 0.5), pct(&o.write_lat, 0.99), pct(&o.write_lat, 0.999))
            }),
        ),
        (
            "read p50/p99/p99.9 µs",
            Box::new(|o| {
                format!("{:.1}/{:.0}/{:.0}", pct(&o.read_lat, 0.5), pct(&o.read_lat, 0.99), pct(&o.read_lat, 0.999))
            }),
        ),
        ("write stalls (slowdowns)", Box::new(|o| format!("{} ({})", o.stats.write_stalls, o.stats.write_slowdowns))),
    ];
    rows.into_iter().map(|(label, f)| (label, outcomes.iter().map(&f).collect())).collect()
}

/// The tree each outcome ended with, level by level.
fn tree(o: &Outcome) -> String {
    let levels: Vec<String> = o
        .stats
        .levels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.files > 0)
        .map(|(i, l)| format!("L{i} {} files {:.1} MiB", l.files, l.bytes as f64 / (1 << 20) as f64))
        .collect();
    levels.join(", ")
}

/// The comparison as a text table, then each tree's shape.
pub fn table(outcomes: &[Outcome]) -> String {
    // Columns as wide as the longest name (`fluid:T=8:K=3:Z=1` and the like) or cell.
    let rows = rows(outcomes);
    let widest_cell = rows.iter().flat_map(|(_, cells)| cells.iter().map(|c| c.chars().count())).max();
    let widest_name = outcomes.iter().map(|o| o.name.len()).max();
    let width = widest_cell.max(widest_name).unwrap_or(0).max(14) + 2;
    let mut s = format!("{:<34}", "");
    for o in outcomes {
        s += &format!("{:>width$}", o.name);
    }
    s.push('\n');
    for (label, cells) in rows {
        s += &format!("{label:<34}");
        for cell in cells {
            s += &format!("{cell:>width$}");
        }
        s.push('\n');
    }
    for o in outcomes {
        s += &format!("tree, {:<8} {}\n", o.name, tree(o));
    }
    s
}

/// A self-contained HTML report: `title`, the table, the trees and the charts (inline
/// SVG, no network).
pub fn html(outcomes: &[Outcome], title: &str) -> String {
    let escape = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut h = String::from("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>strata compare</title>\n");
    h += "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>\n";
    h += &format!("<h1>strata compare</h1>\n<p>{}</p>\n<table>\n<tr><th></th>", escape(title));
    for o in outcomes {
        h += &format!("<th>{}</th>", escape(&o.name));
    }
    h += "</tr>\n";
    for (label, cells) in rows(outcomes) {
        h += &format!("<tr><td>{}</td>", escape(label.trim()));
        for cell in cells {
            h += &format!("<td>{}</td>", escape(&cell));
        }
        h += "</tr>\n";
    }
    h += "</table>\n<h2>Trees</h2>\n<ul>\n";
    for o in outcomes {
        h += &format!("<li>{}: {}</li>\n", escape(&o.name), escape(&tree(o)));
    }
    h += "</ul>\n<h2>Charts</h2>\n";
    h += &chart(outcomes);
    h += "</body></html>\n";
    h
}

/// The outcomes as JSON.
pub fn json(outcomes: &[Outcome], shape: Shape) -> serde_json::Value {
    let per: Vec<_> = outcomes
        .iter()
        .map(|o| {
            json!({
                "strategy": o.name,
                "ops_per_sec": o.writes as f64 / o.write_secs,
                "reads_per_sec": o.reads as f64 / o.read_secs,
                "write_amplification": o.stats.write_amplification(),
                "model": {
                    "levels": o.predicted.levels,
                    "write_amplification": o.predicted.write_amplification,
                    "runs": o.predicted.runs,
                    "false_positives_per_absent_get": o.predicted.false_positives,
                    "monkey_false_positives_per_absent_get": o.predicted.monkey_false_positives,
                    "space_amplification": o.predicted.space_amplification,
                },
                "space_amplification": o.stats.live_sst_bytes() as f64 / o.live_bytes,
                "peak_space_amplification": o.peak_disk as f64 / o.live_bytes,
                "sorted_runs": o.stats.sorted_runs,
                "sstables_read_per_get": o.read_stats.tables_read_per_get(),
                "bloom_probes": o.read_stats.bloom_probes,
                "bloom_false_positives": o.read_stats.bloom_false_positives,
                "absent_gets": o.absent_stats.gets,
                "absent_get_false_positives": o.absent_stats.bloom_false_positives,
                "scans": o.stats.scans,
                "data_blocks_read_per_scan": o.stats.blocks_read_per_scan(),
                "runs_largest_first": o.filter_bits.iter().map(|(bits, entries)| json!({"entries": entries, "filter_bits_per_key": bits})).collect::<Vec<_>>(),
                "compactions": o.stats.compactions,
                "write_p99_us": pct(&o.write_lat, 0.99),
                "read_p99_us": pct(&o.read_lat, 0.99),
                "levels": o.stats.levels.iter().zip(&o.absent_stats.levels).map(|(l, a)| json!({
                    "files": l.files,
                    "bytes": l.bytes,
                    "absent_get_bloom_probes": a.bloom_probes,
                    "absent_get_bloom_false_positive_rate": a.bloom_false_positive_rate(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "num": shape.num, "key_size": shape.key_size, "value_size": shape.value_size, "strategies": per })
}

/// The chart: write amplification and disk size over operations, one line per strategy.
pub fn chart(outcomes: &[Outcome]) -> String {
    let series = |f: fn(&(f64, f64, f64)) -> f64| -> Vec<Series> {
        outcomes
            .iter()
            .map(|o| Series { name: o.name.to_string(), points: o.samples.iter().map(|p| (p.0, f(p))).collect() })
            .collect()
    };
    let mut body = String::new();
    svg::chart(&mut body, (0.0, 0.0, 520.0, 340.0), "Write amplification", "operations", &series(|p| p.1));
    svg::chart(&mut body, (520.0, 0.0, 520.0, 340.0), "Disk size (MiB)", "operations", &series(|p| p.2));
    // The RUM picture: each configuration where its writes and reads put it, the
    // circle's area its space amplification.
    let points: Vec<Point> = outcomes
        .iter()
        .map(|o| Point {
            name: o.name.clone(),
            x: o.stats.write_amplification(),
            y: o.read_stats.bloom_probes as f64 / o.read_stats.gets.max(1) as f64,
            size: o.stats.live_sst_bytes() as f64 / o.live_bytes,
        })
        .collect();
    let labels = ("write amplification", "runs probed per get");
    svg::scatter(&mut body, (0.0, 340.0, 520.0, 340.0), "Trade-off (circle: space amplification)", labels, &points);
    // Filter memory by run, largest first: uniform gives each run memory in proportion
    // to its entries, Monkey shifts it towards the small runs.
    let filters: Vec<Series> = outcomes
        .iter()
        .map(|o| Series {
            name: o.name.clone(),
            points: o
                .filter_bits
                .iter()
                .enumerate()
                .map(|(i, &(bits, entries))| ((i + 1) as f64, bits * entries as f64 / 8.0 / 1024.0))
                .collect(),
        })
        .collect();
    let run_axis = "sorted run, largest first";
    svg::chart(&mut body, (520.0, 340.0, 520.0, 340.0), "Filter memory by run (KiB)", run_axis, &filters);
    // A sweep: each strategy's curve over the swept value.
    let swept = outcomes.iter().find_map(|o| o.sweep.as_ref().map(|_| o.sweep_what));
    // Filter bits change reads, not writes: that sweep shows the false positives.
    let by_bits = swept == Some(BLOOM_BITS);
    let mut curves: Vec<Series> = Vec::new();
    for o in outcomes {
        let Some((base, value)) = &o.sweep else { continue };
        let y = if by_bits {
            o.absent_stats.bloom_false_positives as f64 / o.absent_stats.gets.max(1) as f64
        } else {
            o.stats.write_amplification()
        };
        let point = (*value as f64, y);
        match curves.iter_mut().find(|c| &c.name == base) {
            Some(c) => c.points.push(point),
            None => curves.push(Series { name: base.clone(), points: vec![point] }),
        }
    }
    let Some(what) = swept else { return svg::document(1040.0, 680.0, &body) };
    let title =
        if by_bits { "False positives per absent get over the sweep" } else { "Write amplification over the sweep" };
    svg::chart(&mut body, (0.0, 680.0, 520.0, 340.0), title, what, &curves);
    svg::document(1040.0, 1020.0, &body)
}
