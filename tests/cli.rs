//! The `strata` binary end to end (built with `--features cli`).
#![cfg(feature = "cli")]

use std::process::Command;

fn strata(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("run strata");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn bench_runs_every_workload_and_reports_json() {
    // Reads right after fillseq, which writes every key; fillrandom then starts afresh.
    let all = "fillseq,readrandom,readmissing,seekrandom,readseq,readreverse,readwhilewriting,fillrandom,overwrite,deleterandom";
    let (ok, out, err) = strata(&["bench", "--num", "3000", "--benchmarks", all, "--memtable-size", "65536", "--json"]);
    assert!(ok, "{err}");
    let v = json(&out);
    let benches = v["benchmarks"].as_array().unwrap();
    assert_eq!(benches.len(), 10);
    for b in benches {
        assert!(b["ops_per_sec"].as_f64().unwrap() > 0.0, "{b}");
        assert!(b["p99_us"].as_f64().unwrap() >= b["p50_us"].as_f64().unwrap());
    }
    let by_name = |n: &str| benches.iter().find(|b| b["name"] == n).unwrap().clone();
    assert_eq!(by_name("readrandom")["found"], 3000, "fillseq wrote every key readrandom looks for");
    assert_eq!(by_name("readmissing")["found"], 0);
    assert_eq!(by_name("readseq")["ops"], 3000);
    assert!(by_name("overwrite")["write_amplification"].as_f64().unwrap() > 0.0, "small memtables flush");
}

#[test]
fn bench_text_output_and_bad_arguments() {
    let (ok, out, _) = strata(&[
        "bench",
        "--num",
        "2000",
        "--benchmarks",
        "fillrandom,readrandom",
        "--threads",
        "2",
        "--compaction",
        "tiered",
    ]);
    assert!(ok);
    assert!(out.contains("fillrandom") && out.contains("ops/s") && out.contains("p99.9"), "{out}");
    let (ok, _, err) = strata(&["bench", "--benchmarks", "fillsequential"]);
    assert!(!ok);
    assert!(err.contains("unknown benchmark fillsequential"), "{err}");
}

#[test]
fn compare_prints_both_strategies_and_writes_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let svg_arg = svg.to_str().unwrap();
    let (ok, out, err) = strata(&["compare", "--num", "20000", "--memtable-size", "65536", "--svg", svg_arg, "--json"]);
    assert!(ok, "{err}");
    let v = json(&out);
    let s = v["strategies"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["strategy"], "leveled");
    assert_eq!(s[1]["strategy"], "tiered");
    for x in s {
        assert!(x["write_amplification"].as_f64().unwrap() > 1.0, "{x}");
        assert!(x["compactions"].as_u64().unwrap() > 0, "{x}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.matches("<polyline").count() == 4, "{chart}");
    let (ok, out, _) = strata(&["compare", "--num", "5000", "--memtable-size", "65536", "--svg", svg_arg]);
    assert!(ok);
    assert!(out.contains("write amplification") && out.contains("tiered") && out.contains("chart:"), "{out}");
}

#[test]
fn put_get_scan_delete_inspect_and_sst() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (k, v) in [("apple", "red"), ("banana", "yellow"), ("cherry", "dark")] {
        assert!(strata(&["put", d, k, v]).0);
    }
    let (ok, out, _) = strata(&["get", d, "banana"]);
    assert!(ok);
    assert_eq!(out.trim(), "yellow");
    assert!(strata(&["delete", d, "banana"]).0);
    let (ok, _, err) = strata(&["get", d, "banana"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let (_, out, _) = strata(&["scan", d, "--from", "a", "--to", "c"]);
    assert_eq!(out.trim(), "apple => red");
    // Reopening flushes the recovered WAL into a table, which inspect and sst can show.
    let (ok, out, _) = strata(&["inspect", d]);
    assert!(ok);
    // Several opens have flushed several tables, which may have been compacted already.
    assert!(out.contains("files,") && out.contains(".sst") && out.contains("pending compaction"), "{out}");
    // Each command opened the database, and each open flushed the recovered WAL into a
    // table: look at all of them.
    let tables: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    let mut all = String::new();
    for t in &tables {
        let (ok, out, err) = strata(&["sst", t.to_str().unwrap(), "--scan"]);
        assert!(ok, "{err}");
        assert!(out.contains("bloom filter") && out.contains("index"), "{out}");
        all += &out;
    }
    assert!(all.contains("apple @") && all.contains("cherry @"), "{all}");
    let table = &tables[0];
    // A damaged table is reported, not trusted.
    let mut bytes = std::fs::read(table).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(table, bytes).unwrap();
    let (ok, _, err) = strata(&["sst", table.to_str().unwrap()]);
    assert!(!ok && err.contains("corruption"), "{err}");
}
