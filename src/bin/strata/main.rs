//! The `strata` command-line tool: benchmarks, the compaction-strategy comparison, and
//! inspection. Build with `cargo build --release --features cli`.

mod bench;
mod compare;
mod inspect;
mod model;
mod svg;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use strata::{BloomAllocation, Compaction, Db, Options};

#[derive(Parser)]
#[command(name = "strata", version, about = "Benchmark, compare and inspect strata databases")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Strategy {
    Leveled,
    Tiered,
    /// Lazy leveling (Dostoevsky's T = 10, K = 9, Z = 1).
    Lazy,
}

impl Strategy {
    fn compaction(self) -> Compaction {
        match self {
            Strategy::Leveled => Compaction::leveled(),
            Strategy::Tiered => Compaction::tiered(),
            Strategy::Lazy => Compaction::lazy_leveling(),
        }
    }
}

/// `--bloom-allocation`.
#[derive(Clone, Copy, ValueEnum)]
enum Allocation {
    Uniform,
    /// Monkey: more bits per key for small runs, at the same memory.
    Monkey,
}

impl Allocation {
    fn allocation(self) -> BloomAllocation {
        match self {
            Allocation::Uniform => BloomAllocation::Uniform,
            Allocation::Monkey => BloomAllocation::Monkey,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run db_bench-style workloads.
    Bench {
        /// Comma-separated workloads, run in order (db_bench names).
        #[arg(long, default_value = "fillseq,fillrandom,readrandom")]
        benchmarks: String,
        /// Keys, and operations per write workload.
        #[arg(long, default_value_t = 1_000_000)]
        num: u64,
        /// Operations per read workload (default: --num).
        #[arg(long)]
        reads: Option<u64>,
        #[arg(long, default_value_t = 16)]
        key_size: usize,
        #[arg(long, default_value_t = 100)]
        value_size: usize,
        /// Client threads (each runs num / threads operations).
        #[arg(long, default_value_t = 1)]
        threads: u64,
        #[arg(long, value_enum, default_value = "leveled")]
        compaction: Strategy,
        /// How filter memory is spread over the sorted runs.
        #[arg(long, value_enum, default_value = "uniform")]
        bloom_allocation: Allocation,
        /// fsync the WAL on every write.
        #[arg(long)]
        sync: bool,
        /// Database directory (default: a fresh temporary one, removed afterwards). As in
        /// db_bench, fillseq and fillrandom empty it first.
        #[arg(long)]
        db: Option<PathBuf>,
        /// Memtable size in bytes.
        #[arg(long, default_value_t = 64 << 20)]
        memtable_size: usize,
        /// Block cache size in bytes.
        #[arg(long, default_value_t = 32 << 20)]
        cache_size: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run one workload under every compaction strategy and compare them side by side.
    Compare {
        /// Distinct keys (the workload writes about twice this many times).
        #[arg(long, default_value_t = 500_000)]
        num: u64,
        #[arg(long, default_value_t = 16)]
        key_size: usize,
        #[arg(long, default_value_t = 100)]
        value_size: usize,
        /// Memtable size in bytes.
        #[arg(long, default_value_t = 4 << 20)]
        memtable_size: usize,
        /// The strategies to compare, comma-separated: leveled, dynamic (leveled with
        /// dynamic level sizing), tiered, lazy (lazy leveling), fluid:T=8:K=3:Z=1 (any
        /// point of the Dostoevsky space), fifo:BYTES.
        #[arg(long, default_value = "leveled,tiered,lazy")]
        strategies: String,
        /// How filter memory is spread over the sorted runs.
        #[arg(long, value_enum, default_value = "uniform")]
        bloom_allocation: Allocation,
        /// Run every strategy at each value of a parameter: size-ratio=2,4,8,10,16 or
        /// bloom-bits=4,8,12.
        #[arg(long)]
        sweep: Option<String>,
        /// The operation mix after loading the keys.
        #[arg(long, value_enum, default_value = "overwrite")]
        workload: workload::Workload,
        /// How the keys operations touch are chosen.
        #[arg(long, value_enum, default_value = "uniform")]
        distribution: workload::Distribution,
        /// Where to write the SVG chart.
        #[arg(long, default_value = "strata-compare.svg")]
        svg: PathBuf,
        /// Also write a self-contained HTML report (table and charts) here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show each keyspace's strategy, levels, tables, key ranges, sizes, seqnos and
    /// pending compaction.
    Inspect { dir: PathBuf },
    /// Show an SSTable's properties, index and filter.
    Sst {
        file: PathBuf,
        /// Also print every entry.
        #[arg(long)]
        scan: bool,
    },
    /// Print the value of a key (read-only: the database may be in use).
    #[command(
        after_help = "Exit status: 0 if the key was found, 3 if it was not (\"not found\" on stderr), 1 on an error."
    )]
    Get {
        dir: PathBuf,
        key: String,
        /// The keyspace to read (default: "default").
        #[arg(long)]
        keyspace: Option<String>,
    },
    /// Set a key, creating the database (and the keyspace) if it does not exist.
    Put {
        dir: PathBuf,
        key: String,
        value: String,
        /// The keyspace to write (default: "default").
        #[arg(long)]
        keyspace: Option<String>,
    },
    /// Delete a key from an existing database; with --to, every key in [KEY, TO), with
    /// one range tombstone.
    Delete {
        dir: PathBuf,
        key: String,
        #[arg(long)]
        to: Option<String>,
        /// The keyspace to delete from (default: "default").
        #[arg(long)]
        keyspace: Option<String>,
    },
    /// Copy the database in DIR, as of now, into DEST (which must not exist). Tables are
    /// hard-linked; DIR is opened read-only, so it may be in use by another process.
    Checkpoint { dir: PathBuf, dest: PathBuf },
    /// Print the entries in [from, to) (or all), at most --limit (read-only).
    Scan {
        dir: PathBuf,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// The keyspace to scan (default: "default").
        #[arg(long)]
        keyspace: Option<String>,
    },
}

/// `strata get`'s exit status for a key that is not there.
const EXIT_NOT_FOUND: u8 = 3;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens `dir` read-only, for the tools that only look: they take no lock, change
/// nothing, work while another process uses the database, and create nothing when the
/// path is mistyped.
fn open_to_look(dir: &std::path::Path) -> strata::Result<Db> {
    Db::open_read_only(dir, Options::default())
}

/// The keyspace `name` of `db` ("default" if `None`); an error naming it if there is
/// none (only `put` creates one).
fn existing_keyspace(db: &Db, name: Option<String>) -> strata::Result<strata::Keyspace> {
    let name = name.unwrap_or_else(|| "default".into());
    if !db.keyspace_names().contains(&name) {
        return Err(strata::Error::InvalidArgument(format!("there is no keyspace named {name:?}")));
    }
    db.keyspace(&name)
}

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "strata-{what}-{}-{}",
        std::process::id(),
        std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos())
    ))
}

fn run(cli: Cli) -> strata::Result<ExitCode> {
    match cli.command {
        Command::Bench {
            benchmarks,
            num,
            reads,
            key_size,
            value_size,
            threads,
            compaction,
            bloom_allocation,
            sync,
            db,
            memtable_size,
            cache_size,
            json,
        } => {
            if key_size == 0 || threads == 0 || num == 0 || reads == Some(0) {
                return Err(strata::Error::InvalidArgument(
                    "--num, --reads, --key-size and --threads must be positive".into(),
                ));
            }
            let names: Vec<&str> = benchmarks.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            if let Some(bad) = names.iter().find(|n| !bench::WORKLOADS.contains(n)) {
                return Err(strata::Error::InvalidArgument(format!(
                    "unknown benchmark {bad}; known: {}",
                    bench::WORKLOADS.join(",")
                )));
            }
            let (dir, temporary) = match db {
                Some(d) => (d, false),
                None => (temp_dir("bench"), true),
            };
            let options = Options::default()
                .memtable_size(memtable_size)
                .block_cache_size(cache_size)
                .sync_writes(sync)
                .compaction(compaction.compaction())
                .bloom_allocation(bloom_allocation.allocation());
            let reads = reads.unwrap_or(num);
            let shape = bench::Shape { num, reads, key_size, value_size, threads };
            let mut database = Db::open(&dir, options.clone())?;
            let mut reports = Vec::new();
            if !json {
                println!(
                    "strata bench: {num} ops, {key_size} B keys, {value_size} B values, {threads} thread(s), db {}",
                    dir.display()
                );
            }
            // Live data (for space amplification) takes a full scan to count: done only
            // when a workload may have changed it.
            let mut live_bytes = None;
            for (i, name) in names.iter().enumerate() {
                if matches!(*name, "fillseq" | "fillrandom") && i > 0 {
                    // As in db_bench, the fill workloads start from an empty database.
                    database.close()?;
                    std::fs::remove_dir_all(&dir)?;
                    database = Db::open(&dir, options.clone())?;
                }
                let mut report = bench::run(&database, name, shape, 0x9e37_79b9_7f4a_7c15 ^ i as u64)?;
                if bench::changes_data(name) || live_bytes.is_none() {
                    live_bytes = Some(database.range::<&[u8], _>(..).count() as u64 * (key_size + value_size) as u64);
                }
                report.live_bytes = live_bytes.unwrap_or(0);
                if !json {
                    println!("{}", report.line());
                }
                reports.push(report);
            }
            database.close()?;
            if temporary {
                let _ = std::fs::remove_dir_all(&dir);
            }
            if json {
                let all: Vec<_> = reports.iter().map(bench::Report::json).collect();
                println!(
                    "{}",
                    serde_json::json!({ "num": num, "key_size": key_size, "value_size": value_size, "threads": threads, "benchmarks": all })
                );
            }
        }
        Command::Compare {
            num,
            key_size,
            value_size,
            memtable_size,
            strategies,
            bloom_allocation,
            sweep,
            workload,
            distribution,
            svg,
            html,
            json,
        } => {
            if key_size == 0 || num == 0 {
                return Err(strata::Error::InvalidArgument("--num and --key-size must be positive".into()));
            }
            let mut configs = compare::parse_strategies(&strategies)?;
            if configs.is_empty() {
                return Err(strata::Error::InvalidArgument("--strategies names none".into()));
            }
            if let Some(spec) = &sweep {
                configs = compare::sweep(configs, spec)?;
            }
            let shape = bench::Shape { num, reads: num, key_size, value_size, threads: 1 };
            let work = temp_dir("compare");
            let mix = (workload, distribution);
            let outcomes = compare::run(shape, mix, memtable_size, bloom_allocation.allocation(), &configs, &work);
            let _ = std::fs::remove_dir_all(&work);
            let outcomes = outcomes?;
            std::fs::write(&svg, compare::chart(&outcomes))?;
            let title = format!(
                "workload {workload:?} ({distribution:?} keys): {num} inserts, then {} operations, then {} reads; {key_size} B keys, {value_size} B values, {memtable_size} B memtables",
                if workload == workload::Workload::Fill { 0 } else { num },
                num / 4
            );
            if let Some(path) = &html {
                std::fs::write(path, compare::html(&outcomes, &title))?;
            }
            if json {
                println!("{}", compare::json(&outcomes, shape));
            } else {
                println!("strata compare: {title}");
                print!("{}", compare::table(&outcomes));
                println!("chart: {}", svg.display());
            }
        }
        Command::Inspect { dir } => {
            let db = open_to_look(&dir)?;
            print!("{}", inspect::inspect(&db)?);
            db.close()?;
        }
        Command::Sst { file, scan } => print!("{}", inspect::sst(&file, scan)?),
        Command::Get { dir, key, keyspace } => {
            let db = open_to_look(&dir)?;
            let value = existing_keyspace(&db, keyspace)?.get(&key)?;
            db.close()?;
            match value {
                Some(v) => println!("{}", inspect::show(&v)),
                None => {
                    eprintln!("strata: {key}: not found");
                    return Ok(ExitCode::from(EXIT_NOT_FOUND));
                }
            }
        }
        Command::Put { dir, key, value, keyspace } => {
            let db = Db::open(&dir, Options::default())?;
            db.keyspace(keyspace.as_deref().unwrap_or("default"))?.put(&key, &value)?;
            db.close()?;
        }
        Command::Checkpoint { dir, dest } => {
            let db = open_to_look(&dir)?;
            db.checkpoint(&dest)?;
            db.close()?;
        }
        Command::Delete { dir, key, to, keyspace } => {
            // Only `put` creates a database: a mistyped path is an error, not a new one.
            let db = Db::open(&dir, Options::default().create_if_missing(false))?;
            let keyspace = existing_keyspace(&db, keyspace)?;
            match to {
                Some(end) => keyspace.delete_range(&key, &end)?,
                None => keyspace.delete(&key)?,
            }
            db.close()?;
        }
        Command::Scan { dir, from, to, limit, keyspace } => {
            let db = open_to_look(&dir)?;
            let lo = from.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Included);
            let hi = to.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
            for item in existing_keyspace(&db, keyspace)?.range((lo, hi)).take(limit) {
                let (k, v) = item?;
                println!("{} => {}", inspect::show(&k), inspect::show(&v));
            }
            db.close()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
