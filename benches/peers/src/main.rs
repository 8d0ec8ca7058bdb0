//! Side-by-side benchmark of strata against fjall, RocksDB and LevelDB.
//!
//! `strata-peers [--keys N] [--reads N] [--rounds R] [--engines a,b,..] [--markdown]`
//! runs every engine in its own child process (`strata-peers child ENGINE ...`),
//! alternating the order of engines from round to round, and prints per-phase medians
//! and strata/peer ratios. A child runs all phases on a fresh directory and reports
//! `RESULT <phase> <value>` lines on stdout.

mod engines;
#[cfg(feature = "peers")]
mod peers;
mod services;
mod workload;

use std::collections::BTreeMap;
use std::process::Command;

use workload::{flag, Config, PHASES};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        let engine = args.get(1).expect("child ENGINE").clone();
        let config = Config::parse(&args[2..]);
        workload::run_child(&engine, &config);
        return;
    }
    if args.first().map(String::as_str) == Some("recovery-prep") {
        let (engine, dir) = (args.get(1).expect("ENGINE"), args.get(2).expect("DIR"));
        services::recovery_prep(engine, std::path::Path::new(dir));
    }
    // --quick: one round of every phase with a quarter of the reads, unless told otherwise.
    let quick = args.iter().any(|a| a == "--quick");
    let mut config = Config::parse(&args);
    if quick && flag(&args, "--reads").is_none() {
        config.reads = config.keys / 4;
    }
    let engines: Vec<String> =
        flag(&args, "--engines").unwrap_or("strata,fjall,rocksdb,leveldb").split(',').map(str::to_string).collect();
    let rounds: usize = flag(&args, "--rounds").map_or(if quick { 1 } else { 3 }, |v| v.parse().expect("--rounds"));
    let markdown = args.iter().any(|a| a == "--markdown");

    // results[engine][phase] = one value per round
    let mut results: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let exe = std::env::current_exe().expect("current exe");
    for round in 0..rounds {
        for i in 0..engines.len() {
            let engine = &engines[(i + round) % engines.len()];
            eprintln!("round {}/{rounds}: {engine}", round + 1);
            // strata runs from its own build when run.sh made one (see src/peers.rs).
            let child_exe = match std::env::var_os("STRATA_PEERS_SOLO_EXE") {
                Some(solo) if engine == "strata" => solo.into(),
                _ => exe.clone(),
            };
            let out =
                Command::new(&child_exe).arg("child").arg(engine).args(config.to_args()).output().expect("spawn child");
            if !out.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
                panic!("{engine} child failed: {}", out.status);
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let mut parts = line.split_whitespace();
                if parts.next() != Some("RESULT") {
                    continue;
                }
                let (Some(phase), Some(value)) = (parts.next(), parts.next()) else { continue };
                let value: f64 = value.parse().expect("result value");
                eprintln!("  {phase:<20} {}", fmt(phase, value));
                results.entry(engine.clone()).or_default().entry(phase.to_string()).or_default().push(value);
            }
        }
    }
    print_table(&config, rounds, &engines, &results, markdown);
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Phases where a smaller value is better (time, bytes) rather than ops/s.
fn lower_is_better(phase: &str) -> bool {
    phase.ends_with("_secs")
        || phase.ends_with("_bytes")
        || phase.ends_with("_mib")
        || phase.ends_with("_us")
        || phase.contains("_bytes_")
}

fn fmt(phase: &str, v: f64) -> String {
    if phase.ends_with("_secs") {
        format!("{v:.2} s")
    } else if phase.ends_with("_bytes") || phase.contains("_bytes_") {
        format!("{:.1} MiB", v / (1 << 20) as f64)
    } else if phase.ends_with("_us") {
        format!("{v:.1} µs")
    } else if phase.ends_with("_mib") {
        format!("{v:.0} MiB")
    } else if v >= 1e6 {
        format!("{:.2}M/s", v / 1e6)
    } else {
        format!("{:.0}K/s", v / 1e3)
    }
}

fn print_table(
    config: &Config,
    rounds: usize,
    engines: &[String],
    results: &BTreeMap<String, BTreeMap<String, Vec<f64>>>,
    markdown: bool,
) {
    let peers: Vec<&String> = engines.iter().filter(|e| *e != "strata").collect();
    println!(
        "\n{} keys, {} reads per read phase, {}-byte keys, {}-byte values; medians of {rounds} rounds",
        config.keys,
        config.reads,
        workload::KEY_LEN,
        workload::VALUE_LEN
    );
    println!("ratio = strata vs best peer, as a speed-up (>1 means strata is better)\n");
    let mut header = vec!["phase".to_string()];
    header.extend(engines.iter().cloned());
    header.push("best peer".into());
    header.push("ratio".into());
    let mut rows = vec![header];
    for phase in PHASES {
        let medians: Vec<Option<f64>> =
            engines.iter().map(|e| results.get(e).and_then(|r| r.get(*phase)).map(|v| median(v))).collect();
        let mut row = vec![phase.to_string()];
        row.extend(medians.iter().map(|m| m.map_or("-".into(), |v| fmt(phase, v))));
        let strata = engines.iter().position(|e| e == "strata").and_then(|i| medians[i]);
        let lower = lower_is_better(phase);
        let best = peers
            .iter()
            .filter_map(|p| {
                let i = engines.iter().position(|e| e == *p)?;
                Some(((*p).clone(), medians[i]?))
            })
            .min_by(|a, b| if lower { a.1.total_cmp(&b.1) } else { b.1.total_cmp(&a.1) });
        match (strata, best) {
            (Some(s), Some((name, b))) => {
                let ratio = if lower { b / s } else { s / b };
                row.push(name);
                row.push(format!("{ratio:.2}x"));
            }
            _ => row.extend(["-".to_string(), "-".to_string()]),
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| if c == 0 { format!("{s:<w$}", w = widths[c]) } else { format!("{s:>w$}", w = widths[c]) })
            .collect();
        if markdown {
            println!("| {} |", cells.join(" | "));
            if i == 0 {
                let seps: Vec<String> = widths
                    .iter()
                    .enumerate()
                    .map(|(c, w)| if c == 0 { "-".repeat(*w) } else { format!("{}:", "-".repeat(w - 1)) })
                    .collect();
                println!("| {} |", seps.join(" | "));
            }
        } else {
            println!("{}", cells.join("  "));
        }
    }
}
