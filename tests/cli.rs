//! The `strata` binary end to end (built with `--features cli`).
#![cfg(feature = "cli")]

use std::process::Command;

mod common;
use common::dir_contents;

fn strata(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = strata_status(args);
    (code == Some(0), out, err)
}

/// The exit code, stdout and stderr of one run.
fn strata_status(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata")).args(args).output().expect("run strata");
    (
        out.status.code(),
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
fn compare_prints_every_strategy_and_writes_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("chart.svg");
    let svg_arg = svg.to_str().unwrap();
    let (ok, out, err) = strata(&["compare", "--num", "20000", "--memtable-size", "65536", "--svg", svg_arg, "--json"]);
    assert!(ok, "{err}");
    let v = json(&out);
    let s = v["strategies"].as_array().unwrap();
    let names: Vec<&str> = s.iter().map(|x| x["strategy"].as_str().unwrap()).collect();
    assert_eq!(names, ["leveled", "tiered", "lazy"], "the default list");
    for x in s {
        assert!(x["write_amplification"].as_f64().unwrap() > 1.0, "{x}");
        assert!(x["compactions"].as_u64().unwrap() > 0, "{x}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    // Write amplification, disk size and filter memory by run: a line per strategy each.
    assert!(chart.starts_with("<svg") && chart.matches("<polyline").count() == 9, "{chart}");
    assert_eq!(chart.matches("fill-opacity").count(), 3, "one point per strategy in the trade-off picture");
    for x in s {
        assert!(x["absent_gets"].as_u64().unwrap() == 2_500, "{x}");
        let fp = x["absent_get_false_positives"].as_u64().unwrap();
        assert!(fp < 2_500 * x["sorted_runs"].as_u64().unwrap() / 20, "10-bit filters pass under 5% per run: {x}");
    }
    // A sweep draws a curve per strategy, and the HTML report holds table and charts.
    let html = dir.path().join("report.html");
    let args = ["compare", "--num", "3000", "--memtable-size", "65536", "--strategies", "leveled,lazy"];
    let more = ["--sweep", "size-ratio=4,8", "--svg", svg_arg, "--html", html.to_str().unwrap()];
    let (ok, out, err) = strata(&[&args[..], &more[..]].concat());
    assert!(ok, "{err}");
    assert!(out.contains("lazy T=8") && out.contains("Dostoevsky's model predicts"), "{out}");
    let report = std::fs::read_to_string(&html).unwrap();
    assert!(report.contains("<table>") && report.contains("<svg") && report.contains("over the sweep"), "{report}");
    assert!(
        !report.contains("http://")
            || report.matches("http://").count() == report.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        "no network"
    );
    // Any list, points of the Dostoevsky space and FIFO included; nonsense is refused
    // before anything runs.
    let list = "fluid:T=4:K=3:Z=1,fifo:100000000,lazy+monkey";
    let (ok, out, err) = strata(&[
        "compare",
        "--num",
        "5000",
        "--memtable-size",
        "65536",
        "--strategies",
        list,
        "--svg",
        svg_arg,
        "--json",
    ]);
    assert!(ok, "{err}");
    let names: Vec<String> =
        json(&out)["strategies"].as_array().unwrap().iter().map(|x| x["strategy"].to_string()).collect();
    assert_eq!(names, ["\"fluid:T=4:K=3:Z=1\"", "\"fifo:100000000\"", "\"lazy+monkey\""]);
    // Workload presets over skewed keys: every mix runs, and a read-only one writes
    // nothing after its load.
    for (workload, distribution) in
        [("ycsb-c", "zipfian"), ("ycsb-e", "latest"), ("deletes", "uniform"), ("fill", "uniform")]
    {
        let args =
            ["compare", "--num", "3000", "--memtable-size", "65536", "--strategies", "lazy", "--workload", workload];
        let (ok, out, err) =
            strata(&[&args[..], &["--distribution", distribution, "--svg", svg_arg, "--json"]].concat());
        assert!(ok, "{workload}: {err}");
        let s = &json(&out)["strategies"][0];
        assert!(s["ops_per_sec"].as_f64().unwrap() > 0.0, "{workload}: {s}");
    }
    for bad in ["fluid:T=4:K=4", "fluid:Q=2", "spiral", "fifo:lots"] {
        let (ok, _, err) = strata(&["compare", "--num", "5000", "--strategies", bad, "--svg", svg_arg]);
        assert!(!ok && err.contains("invalid argument"), "{bad}: {err}");
    }
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
    // A missing key is not an error: "not found" and its own exit status.
    let (code, out, err) = strata_status(&["get", d, "banana"]);
    assert_eq!((code, out.as_str(), err.trim()), (Some(3), "", "strata: banana: not found"));
    let (_, out, _) = strata(&["scan", d, "--from", "a", "--to", "c"]);
    assert_eq!(out.trim(), "apple => red");
    // Each put and delete reopened the database read-write, which flushed the recovered
    // WAL into a table that inspect and sst can show.
    let (ok, out, _) = strata(&["inspect", d]);
    assert!(ok);
    // Several opens have flushed several tables, which may have been compacted already.
    assert!(out.contains("files,") && out.contains(".sst") && out.contains("pending compaction"), "{out}");
    // Look at every table.
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

#[test]
fn delete_with_to_deletes_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for k in ["apple", "banana", "cherry", "damson"] {
        assert!(strata(&["put", d, k, "x"]).0);
    }
    // [b, d) takes banana and cherry, not apple or damson; a backwards range is refused.
    assert!(strata(&["delete", d, "b", "--to", "d"]).0);
    assert_eq!(strata(&["scan", d]).1, "apple => x\ndamson => x\n");
    let (ok, _, err) = strata(&["delete", d, "d", "--to", "b"]);
    assert!(!ok && err.contains("invalid argument"), "{err}");
}

#[test]
fn the_looking_tools_work_on_a_live_database_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // This process holds the database, with records in tables and in the WAL only.
    let db = strata::Db::open(dir.path(), strata::Options::default()).unwrap();
    db.put("flushed", "1").unwrap();
    db.flush().unwrap();
    db.put("in-wal", "2").unwrap();
    let before = dir_contents(dir.path());
    let (ok, out, err) = strata(&["inspect", d]);
    assert!(ok && out.contains("L0: 1 files"), "{out}{err}");
    assert_eq!(strata(&["get", d, "in-wal"]), (true, "2\n".into(), String::new()));
    assert_eq!(strata(&["scan", d]).1, "flushed => 1\nin-wal => 2\n");
    assert_eq!(dir_contents(dir.path()), before, "a looking tool changed the database");
    // Writing tools need the lock the live database holds.
    let (ok, _, err) = strata(&["put", d, "k", "v"]);
    assert!(!ok && err.contains("locked"), "{err}");
    db.close().unwrap();
}

#[test]
fn a_mistyped_path_is_a_one_line_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("tpyo").join("db");
    let t = typo.to_str().unwrap();
    for args in [vec!["inspect", t], vec!["get", t, "k"], vec!["scan", t], vec!["delete", t, "k"]] {
        let (code, out, err) = strata_status(&args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(out.is_empty() && err.lines().count() == 1 && err.contains(t), "{args:?}: {err}");
        assert!(!dir.path().join("tpyo").exists(), "{args:?} created the path");
    }
    // Only put creates a database.
    assert!(strata(&["put", t, "k", "v"]).0);
    assert_eq!(strata(&["get", t, "k"]).1, "v\n");
}

#[test]
fn inspecting_a_damaged_database_reports_it_and_leaves_no_lock_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(strata(&["put", d, "k", "v"]).0);
    std::fs::write(dir.path().join("CURRENT"), b"garbage").unwrap();
    let _ = std::fs::remove_file(dir.path().join("LOCK"));
    let before = dir_contents(dir.path());
    let (code, _, err) = strata_status(&["inspect", d]);
    assert!(code == Some(1) && err.contains("CURRENT"), "{err}");
    assert_eq!(dir_contents(dir.path()), before, "inspect changed a damaged database (a LOCK file?)");
}

#[test]
fn checkpoint_copies_a_database_that_then_lives_on_its_own() {
    let base = tempfile::tempdir().unwrap();
    let (src, dest) = (base.path().join("db"), base.path().join("copy"));
    let (s, d) = (src.to_str().unwrap(), dest.to_str().unwrap());
    assert!(strata(&["put", s, "k", "v1"]).0);
    let (ok, _, err) = strata(&["checkpoint", s, d]);
    assert!(ok, "{err}");
    assert!(strata(&["put", s, "k", "v2"]).0);
    assert_eq!(strata(&["get", d, "k"]).1, "v1\n");
    assert_eq!(strata(&["get", s, "k"]).1, "v2\n");
    // An existing destination is refused.
    let (ok, _, err) = strata(&["checkpoint", s, d]);
    assert!(!ok && err.contains("exists"), "{err}");
    // A database another process holds is copied as of the tool's read-only open,
    // unflushed writes included, and left as it was.
    let live = strata::Db::open(&src, strata::Options::default()).unwrap();
    live.put("k", "v3").unwrap();
    let before = dir_contents(&src);
    let second = base.path().join("copy2");
    assert!(strata(&["checkpoint", s, second.to_str().unwrap()]).0);
    assert_eq!(dir_contents(&src), before);
    drop(live);
    assert_eq!(strata(&["get", second.to_str().unwrap(), "k"]).1, "v3\n");
}

#[test]
fn keyspaces_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(strata(&["put", d, "k", "in-default"]).0);
    assert!(strata(&["put", d, "k", "in-log", "--keyspace", "log"]).0);
    assert_eq!(strata(&["get", d, "k", "--keyspace", "log"]).1, "in-log\n");
    assert_eq!(strata(&["get", d, "k"]).1, "in-default\n");
    assert_eq!(strata(&["scan", d, "--keyspace", "log"]).1, "k => in-log\n");
    let (ok, _, err) = strata(&["get", d, "k", "--keyspace", "nope"]);
    assert!(!ok && err.contains("no keyspace named \"nope\""), "{err}");
    let (ok, out, _) = strata(&["inspect", d]);
    assert!(ok && out.contains("keyspace default:") && out.contains("keyspace log:"), "{out}");
    assert!(strata(&["delete", d, "k", "--keyspace", "log"]).0);
    assert_eq!(strata_status(&["get", d, "k", "--keyspace", "log"]).0, Some(3));
    assert_eq!(strata(&["get", d, "k"]).1, "in-default\n");
}
