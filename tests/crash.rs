//! Process-crash test: a child process writes as fast as it can and reports each
//! acknowledged write on stdout; the parent kills it with SIGKILL at a random moment,
//! reopens the database and checks that every acknowledged write is there and that what
//! is there is a prefix of the write order (nothing invented, batches whole).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::{Compaction, Db, Keyspace, Options, WriteBatch, WriteOptions};

const CHILD_ENV: &str = "STRATA_CRASH_CHILD_DIR";

fn key(i: u64) -> String {
    format!("key{i:010}")
}

fn value(i: u64) -> String {
    format!("value-{i}-{}", "x".repeat((i % 50) as usize))
}

mod common;

/// Small memtables so flushes, WAL switches and compactions happen during every round;
/// round r runs strategy r of `common::all_strategies()` (cycling), on the same
/// directory, so every strategy takes over from another.
fn options(round: usize) -> Options {
    let all = common::all_strategies();
    Options::default().memtable_size(16 * 1024).compaction(all[round % all.len()].clone())
}

const STRATEGY_ENV: &str = "STRATA_CRASH_CHILD_STRATEGY";

/// The writer. Runs only when the parent starts this binary with `CHILD_ENV` set.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let round = std::env::var(STRATEGY_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let db = Db::open(&dir, options(round)).unwrap();
    // Continue after the highest key present.
    let mut i = db
        .range::<&str, _>(..)
        .next_back()
        .map(|r| r.unwrap().0)
        .map_or(0, |k| std::str::from_utf8(&k[3..]).unwrap().parse::<u64>().unwrap() + 1);
    loop {
        if i.is_multiple_of(10) {
            // A batch of three consecutive keys: all or nothing.
            let mut b = WriteBatch::new();
            for j in i..i + 3 {
                b.put(key(j), value(j));
            }
            db.write(b).unwrap();
            i += 3;
        } else {
            db.put(key(i), value(i)).unwrap();
            i += 1;
        }
        println!("{}", i - 1);
    }
}

/// Rounds of each kill test: `STRATA_KILL_ROUNDS`, default 12.
fn rounds() -> u64 {
    std::env::var("STRATA_KILL_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(12)
}

/// The next xorshift step of `seed`.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Runs this binary's test `child` with `envs` for `run_for`, kills it with SIGKILL,
/// and returns `state` after `on_line` saw every line the child printed.
fn run_and_kill<T: Send + 'static>(
    child: &str,
    envs: [(&str, &std::ffi::OsStr); 2],
    run_for: Duration,
    mut state: T,
    on_line: fn(&mut T, &str),
) -> T {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([child, "--exact", "--nocapture", "--test-threads=1"])
        .envs(envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            on_line(&mut state, line.trim());
        }
        state
    });
    let start = Instant::now();
    while start.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn kill_9_never_loses_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut total_acked = 0;
    let mut compactions = 0;
    for round in 0..rounds() {
        let run_for = Duration::from_millis(50 + next(&mut seed) % 400);
        let strategy = round.to_string();
        let envs = [(CHILD_ENV, dir.path().as_os_str()), (STRATEGY_ENV, strategy.as_ref())];
        let acked = run_and_kill("crash_child", envs, run_for, None, |last: &mut Option<u64>, line| {
            if let Ok(n) = line.parse::<u64>() {
                *last = Some(n);
            }
        });

        let db = Db::open(dir.path(), options(round as usize)).unwrap();
        let present: Vec<u64> = db
            .range::<&str, _>(..)
            .map(|r| r.unwrap())
            .map(|(k, v)| {
                let i = std::str::from_utf8(&k[3..]).unwrap().parse::<u64>().unwrap();
                assert_eq!(&v[..], value(i).as_bytes(), "round {round}: wrong value for key {i}");
                i
            })
            .collect();
        // A prefix of the write order: keys 0..n with no gaps.
        for (pos, &i) in present.iter().enumerate() {
            assert_eq!(pos as u64, i, "round {round}: gap before key {i}");
        }
        if let Some(a) = acked {
            assert!(present.len() as u64 > a, "round {round}: acknowledged key {a} lost; {} present", present.len());
            total_acked = a;
        }
        // Batches are whole: a batch starts at a multiple of 10 and covers 3 keys.
        let n = present.len() as u64;
        assert!(!(n % 10 == 1 || n % 10 == 2), "round {round}: torn batch, {n} keys present");
        compactions += db.stats().compactions;
        db.close().unwrap();
    }
    // Compactions run in the children too; the parent's reopen sees at least some.
    println!("{total_acked} writes acknowledged in the last round, {compactions} compactions in the checking opens");
    assert!(total_acked > 100, "the child wrote too little to test anything ({total_acked})");
}

const WRITERS_ENV: &str = "STRATA_CRASH_WRITERS_DIR";
const SYNC_ENV: &str = "STRATA_CRASH_WRITERS_SYNC";
const WRITERS: u64 = 4;

fn writer_key(w: u64, n: u64) -> String {
    format!("w{w}-{n:010}")
}

/// Several writer threads, each with its own keys; runs only when the parent starts this
/// binary with `WRITERS_ENV` set. Prints "writer n" once writer's write n returned.
#[test]
fn crash_writers_child() {
    let Ok(dir) = std::env::var(WRITERS_ENV) else { return };
    let sync = std::env::var(SYNC_ENV).is_ok_and(|v| v == "1");
    let db = Db::open(&dir, options(0).max_immutable_memtables(2).sync_writes(sync)).unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                // Continue after this writer's highest key present.
                let prefix = format!("w{w}-");
                let mut n = db
                    .prefix(&prefix)
                    .next_back()
                    .map(|r| r.unwrap().0)
                    .map_or(0, |k| std::str::from_utf8(&k[prefix.len()..]).unwrap().parse::<u64>().unwrap() + 1);
                loop {
                    if n.is_multiple_of(7) {
                        // Two consecutive keys in one batch: all or nothing.
                        let mut b = WriteBatch::new();
                        b.put(writer_key(w, n), value(n));
                        b.put(writer_key(w, n + 1), value(n + 1));
                        db.write(b).unwrap();
                        n += 2;
                    } else {
                        db.put(writer_key(w, n), value(n)).unwrap();
                        n += 1;
                    }
                    println!("{w} {}", n - 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// `kill -9` while several threads write, with `sync_writes` on and off: each writer's
/// acknowledged writes are all there, what is there is a prefix of each writer's order,
/// and batches are whole.
#[test]
fn kill_9_with_concurrent_writers_never_loses_acknowledged_writes() {
    let rounds = rounds();
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut acked_total = 0u64;
    for round in 0..rounds {
        let run_for = Duration::from_millis(50 + next(&mut seed) % 300);
        let sync = if round % 2 == 1 { "1" } else { "0" };
        let envs = [(WRITERS_ENV, dir.path().as_os_str()), (SYNC_ENV, sync.as_ref())];
        let last = [None::<u64>; WRITERS as usize];
        let acked = run_and_kill("crash_writers_child", envs, run_for, last, |last, line| {
            let mut parts = line.split_whitespace();
            if let (Some(Ok(w)), Some(Ok(n))) = (parts.next().map(str::parse::<usize>), parts.next().map(str::parse)) {
                if let Some(slot) = last.get_mut(w) {
                    *slot = Some(n);
                }
            }
        });

        let db = Db::open(dir.path(), options(0)).unwrap();
        for w in 0..WRITERS {
            let prefix = format!("w{w}-");
            let present: Vec<u64> = db
                .prefix(&prefix)
                .map(|r| r.unwrap())
                .map(|(k, v)| {
                    let n = std::str::from_utf8(&k[prefix.len()..]).unwrap().parse::<u64>().unwrap();
                    assert_eq!(&v[..], value(n).as_bytes(), "round {round}: wrong value for writer {w} key {n}");
                    n
                })
                .collect();
            for (pos, &n) in present.iter().enumerate() {
                assert_eq!(pos as u64, n, "round {round}: writer {w} has a gap before {n}");
            }
            let count = present.len() as u64;
            if let Some(a) = acked[w as usize] {
                assert!(count > a, "round {round}: writer {w}'s acknowledged write {a} lost; {count} present");
                acked_total += a;
            }
            // A batch starts at a multiple of 7 and covers two keys.
            assert!(
                count == 0 || !(count - 1).is_multiple_of(7),
                "round {round}: writer {w} has a torn batch ({count} keys)"
            );
        }
        db.close().unwrap();
    }
    println!("{rounds} kill -9 rounds with {WRITERS} writers, {acked_total} writes acknowledged");
    assert!(acked_total > 100, "the children wrote too little to test anything ({acked_total})");
}

const KEYSPACES_ENV: &str = "STRATA_CRASH_KEYSPACES_DIR";

/// The keyspaces the cross-keyspace child writes: a size-tiered "log" with a tiny
/// memtable and a lazily leveled "state" with a larger one (the default keyspace is
/// leveled), so that their flushes, and with them the WALs each still needs, drift
/// apart.
fn log_and_state(db: &Db) -> (Keyspace, Keyspace) {
    let small = Options::default().memtable_size(8 * 1024).compaction(Compaction::tiered());
    let log = db.keyspace_with("log", small).unwrap();
    let lazy = Options::default().memtable_size(48 * 1024).compaction(Compaction::fluid(3, 2, 1));
    let state = db.keyspace_with("state", lazy).unwrap();
    (log, state)
}

/// Raft-style writes: each batch appends entry i to "log", records i as applied in
/// "state" with the entry's effect, every fifth one marks the default keyspace too,
/// every third is synced, and now and then the log's prefix is truncated together with
/// a note in "state". Prints i once batch i returned.
#[test]
fn crash_keyspaces_child() {
    let Ok(dir) = std::env::var(KEYSPACES_ENV) else { return };
    let db = Db::open(&dir, options(0)).unwrap();
    let (log, state) = log_and_state(&db);
    let applied = state.get("applied").unwrap();
    let mut i = applied.map_or(0, |v| std::str::from_utf8(&v).unwrap().parse::<u64>().unwrap() + 1);
    loop {
        let mut b = WriteBatch::new();
        b.put_in(&log, key(i), value(i));
        b.put_in(&state, "applied", i.to_string());
        b.put_in(&state, key(i % 50), value(i));
        if i.is_multiple_of(5) {
            b.put("mark", i.to_string());
        }
        if i % 97 == 96 {
            b.delete_range_in(&log, "", key(i - 50));
            b.put_in(&state, "truncated", (i - 50).to_string());
        }
        db.write_opt(b, &WriteOptions::new().sync(i.is_multiple_of(3))).unwrap();
        println!("{i}");
        i += 1;
    }
}

/// `kill -9` while batches span three keyspaces with different strategies and
/// memtable sizes: after every round each keyspace holds exactly the effect of the
/// batches up to the last one that reached the database — never part of a batch —
/// and every acknowledged batch is there.
#[test]
fn kill_9_keeps_batches_across_keyspaces_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x51_7cc1_b727_220a_u64;
    let mut last_applied = 0;
    for round in 0..rounds() {
        let run_for = Duration::from_millis(50 + next(&mut seed) % 400);
        let envs = [(KEYSPACES_ENV, dir.path().as_os_str()), ("STRATA_UNUSED", "".as_ref())];
        let acked = run_and_kill("crash_keyspaces_child", envs, run_for, None, |last: &mut Option<u64>, line| {
            if let Ok(n) = line.parse::<u64>() {
                *last = Some(n);
            }
        });
        let db = Db::open(dir.path(), options(0)).unwrap();
        assert_eq!(db.keyspace_names(), ["default", "log", "state"]);
        let (log, state) = (db.keyspace("log").unwrap(), db.keyspace("state").unwrap());
        assert_eq!(log.stats().strategy, "tiered", "the log keeps its own strategy");
        let number = |v: Option<strata::Bytes>| v.map(|v| std::str::from_utf8(&v).unwrap().parse::<u64>().unwrap());
        let Some(n) = number(state.get("applied").unwrap()) else {
            assert!(acked.is_none(), "round {round}: acknowledged batch {acked:?} lost");
            continue;
        };
        if let Some(a) = acked {
            assert!(n >= a, "round {round}: acknowledged batch {a} lost, {n} applied");
        }
        // The log holds entries truncated+1.. = the applied prefix, each with its value.
        let truncated = number(state.get("truncated").unwrap());
        let first = truncated.unwrap_or(0);
        let entries: Vec<u64> = log
            .range::<&str, _>(..)
            .map(|r| r.unwrap())
            .map(|(k, v)| {
                let i = std::str::from_utf8(&k[3..]).unwrap().parse::<u64>().unwrap();
                assert_eq!(&v[..], value(i).as_bytes(), "round {round}: wrong log entry {i}");
                i
            })
            .collect();
        assert_eq!(entries, (first..=n).collect::<Vec<_>>(), "round {round}: log and state disagree at {n}");
        for m in 0..50.min(n + 1) {
            let newest = n - (n - m) % 50;
            let got = state.get(key(m)).unwrap();
            assert_eq!(got.as_deref(), Some(value(newest).as_bytes()), "round {round}: state of key {m}");
        }
        assert_eq!(number(db.get("mark").unwrap()), Some(n - n % 5), "round {round}: default keyspace");
        last_applied = n;
        db.close().unwrap();
    }
    println!("{} kill -9 rounds across keyspaces, {last_applied} batches applied", rounds());
    assert!(last_applied > 100, "the child wrote too little to test anything ({last_applied})");
}
