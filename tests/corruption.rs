//! Corruption suite: for every kind of file (WAL, SSTable data/index/filter/footer,
//! MANIFEST, CURRENT), flip bits, truncate, and zero ranges; opening and reading must give
//! the right data or `Error::Corruption` naming a file: never a panic, never a wrong
//! value. A damaged WAL tail may lose the writes in it (RocksDB's default "tolerate
//! corrupted tail records"), but only as a suffix of the write order.

use std::collections::BTreeMap;
use std::path::Path;

use strata::{Compaction, Db, Error, LeveledOptions, Options};

const TABLE_KEYS: u32 = 600;
const WAL_KEYS: u32 = 100;

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn value(i: u32) -> String {
    format!("value-{i}-{}", "z".repeat((i % 40) as usize))
}

fn options() -> Options {
    // No background compaction: the files on disk stay exactly as built.
    let mut lazy = LeveledOptions::default();
    lazy.l0_compaction_trigger = 100_000;
    Options::default().block_size(256).compaction(Compaction::Leveled(lazy))
}

/// Three tables of 200 keys, then 100 keys only in the WAL.
fn build(dir: &Path) {
    let db = Db::open(dir, options()).unwrap();
    for i in 0..TABLE_KEYS {
        db.put(key(i), value(i)).unwrap();
        if i % 200 == 199 {
            db.flush().unwrap();
        }
    }
    for i in TABLE_KEYS..TABLE_KEYS + WAL_KEYS {
        db.put(key(i), value(i)).unwrap();
    }
    db.close().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[derive(Default, Debug)]
struct Tally {
    trials: u32,
    detected: u32,
    harmless: u32,
    tail_dropped: u32,
}

fn is_file_named(msg: &str) -> bool {
    [".sst", ".log", "MANIFEST", "CURRENT"].iter().any(|n| msg.contains(n))
}

fn expect_corruption(e: &Error, what: &str) {
    match e {
        Error::Corruption(msg) => assert!(is_file_named(msg), "{what}: corruption error names no file: {msg}"),
        other => panic!("{what}: expected Error::Corruption, got {other:?}"),
    }
}

/// Opens the damaged copy and reads everything; checks the outcome.
fn check(dir: &Path, what: &str, wal_damaged: bool, tally: &mut Tally) {
    tally.trials += 1;
    let db = match Db::open(dir, options()) {
        Ok(db) => db,
        Err(e) => {
            expect_corruption(&e, what);
            tally.detected += 1;
            return;
        }
    };
    let mut errors = 0;
    let mut present = BTreeMap::new();
    for i in 0..TABLE_KEYS + WAL_KEYS {
        match db.get(key(i)) {
            Ok(Some(v)) => {
                assert_eq!(v.as_ref(), value(i).as_bytes(), "{what}: wrong value for {}", key(i));
                present.insert(i, ());
            }
            Ok(None) => {}
            Err(e) => {
                expect_corruption(&e, what);
                errors += 1;
            }
        }
    }
    for item in db.range::<&str, _>(..) {
        match item {
            Ok((k, v)) => {
                let i: u32 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
                assert_eq!(v.as_ref(), value(i).as_bytes(), "{what}: scan returned a wrong value");
            }
            Err(e) => {
                expect_corruption(&e, what);
                errors += 1;
                break;
            }
        }
    }
    let missing: Vec<u32> = (0..TABLE_KEYS + WAL_KEYS).filter(|i| !present.contains_key(i)).collect();
    if errors > 0 {
        tally.detected += 1;
    } else if missing.is_empty() {
        tally.harmless += 1;
    } else {
        // Keys may go missing without an error only from a damaged WAL tail, and then
        // only as a suffix of the order they were written in.
        assert!(wal_damaged, "{what}: {} keys silently missing", missing.len());
        let first = missing[0];
        assert!(first >= TABLE_KEYS, "{what}: flushed key {first} lost");
        assert_eq!(missing, (first..TABLE_KEYS + WAL_KEYS).collect::<Vec<_>>(), "{what}: lost keys are not a suffix");
        tally.tail_dropped += 1;
    }
}

#[test]
fn every_file_kind_survives_bit_flips_truncation_and_zeroing() {
    let golden = tempfile::tempdir().unwrap();
    build(golden.path());
    let mut names: Vec<String> =
        std::fs::read_dir(golden.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.retain(|n| n != "LOCK");
    names.sort();
    assert!(names.iter().any(|n| n.ends_with(".log")) && names.iter().filter(|n| n.ends_with(".sst")).count() == 3);

    let mut tally = Tally::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for name in &names {
        let original = std::fs::read(golden.path().join(name)).unwrap();
        let len = original.len();
        let wal = name.ends_with(".log");
        let mut damages: Vec<(String, Vec<u8>)> = Vec::new();
        // Bit flips: every byte of small files, a spread of positions (always including
        // the footer and the tail) in large ones.
        let mut positions: Vec<usize> =
            if len <= 300 { (0..len).collect() } else { (0..120).map(|_| rand(len)).collect() };
        positions.extend(len.saturating_sub(70)..len);
        for p in positions {
            let mut d = original.clone();
            d[p] ^= 1 << rand(8);
            damages.push((format!("{name}: bit flip at {p}"), d));
        }
        for cut in [0, 1, len / 3, len / 2, len.saturating_sub(64), len.saturating_sub(1)] {
            damages.push((format!("{name}: truncated to {cut}"), original[..cut.min(len)].to_vec()));
        }
        for _ in 0..10 {
            let start = rand(len.max(1));
            let end = (start + 1 + rand(200)).min(len);
            let mut d = original.clone();
            d[start..end].fill(0);
            damages.push((format!("{name}: zeroed {start}..{end}"), d));
        }
        for (what, bytes) in damages {
            let work = tempfile::tempdir().unwrap();
            copy_dir(golden.path(), work.path());
            std::fs::write(work.path().join(name), &bytes).unwrap();
            check(work.path(), &what, wal, &mut tally);
        }
    }
    println!("{tally:?}");
    assert!(tally.detected > tally.trials / 4, "{tally:?}");
}

#[test]
fn a_torn_wal_tail_is_dropped_by_default_and_refused_in_strict_mode() {
    let golden = tempfile::tempdir().unwrap();
    build(golden.path());
    let wal = std::fs::read_dir(golden.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let bytes = std::fs::read(&wal).unwrap();
    std::fs::write(&wal, &bytes[..bytes.len() - 5]).unwrap();

    let strict = options().wal_recovery(strata::WalRecovery::AbsoluteConsistency);
    match Db::open(golden.path(), strict) {
        Err(Error::Corruption(msg)) => assert!(msg.contains(".log"), "{msg}"),
        other => panic!("strict mode accepted a torn WAL: {:?}", other.err()),
    }
    let db = Db::open(golden.path(), options()).unwrap();
    assert!(db.stats().wal_bytes_dropped_at_open > 0);
    assert_eq!(
        db.get(key(TABLE_KEYS + WAL_KEYS - 2)).unwrap().as_deref(),
        Some(value(TABLE_KEYS + WAL_KEYS - 2).as_bytes())
    );
    assert_eq!(db.get(key(TABLE_KEYS + WAL_KEYS - 1)).unwrap(), None, "the torn last write is dropped");
}

/// Out-of-order write-back can lose one unsynced page of the WAL while the next one
/// persists. The default (point-in-time) recovery opens to the writes before the hole;
/// `TolerateCorruptedTail` and `AbsoluteConsistency` report it.
#[test]
fn a_lost_page_in_the_middle_of_the_wal_opens_to_the_prefix_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    for i in 0..3000 {
        db.put(key(i), value(i)).unwrap();
    }
    db.close().unwrap();
    let wal = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    assert!(bytes.len() > 3 * 4096);
    bytes[8192..12288].fill(0);
    std::fs::write(&wal, &bytes).unwrap();

    for refusing in [strata::WalRecovery::TolerateCorruptedTail, strata::WalRecovery::AbsoluteConsistency] {
        match Db::open(dir.path(), options().wal_recovery(refusing)) {
            Err(Error::Corruption(msg)) => assert!(msg.contains(".log"), "{msg}"),
            other => panic!("{refusing:?} accepted a hole in the WAL: {:?}", other.err()),
        }
    }
    let db = Db::open(dir.path(), options()).unwrap();
    assert!(db.stats().wal_bytes_dropped_at_open > 0);
    let present: Vec<u32> = (0..3000).filter(|&i| db.get(key(i)).unwrap().is_some()).collect();
    let kept = present.len() as u32;
    assert!(kept > 50, "the records before the hole are kept ({kept})");
    assert_eq!(present, (0..kept).collect::<Vec<_>>(), "what is kept is a prefix of the write order");
    for i in 0..kept {
        assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(value(i).as_bytes()));
    }
    // The database goes on from that prefix, and a reopen sees the same.
    db.put("after", "reopen").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get("after").unwrap().as_deref(), Some(&b"reopen"[..]));
    assert_eq!((0..3000).filter(|&i| db.get(key(i)).unwrap().is_some()).count() as u32, kept);
}

/// A table truncated under a running database (another process, a bad restore, a
/// file-system repair): reads of the lost part are `Error::Corruption` naming the
/// table, never a fault that kills the process (tables used to be read through a
/// memory map, where this was SIGBUS).
#[test]
fn a_table_truncated_under_a_live_database_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let options = options().block_cache_size(0).compression(strata::Compression::None);
    let db = Db::open(dir.path(), options).unwrap();
    for i in 0..2000 {
        db.put(key(i), value(i)).unwrap();
    }
    db.flush().unwrap();
    assert_eq!(db.get(key(5)).unwrap().as_deref(), Some(value(5).as_bytes()), "the table is open");
    let table = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&table).unwrap();
    file.set_len(file.metadata().unwrap().len() / 3).unwrap();
    drop(file);
    let mut errors = 0;
    for i in 0..2000 {
        match db.get(key(i)) {
            Ok(Some(v)) => assert_eq!(v.as_ref(), value(i).as_bytes()),
            Ok(None) => panic!("key {i} silently missing"),
            Err(e) => {
                expect_corruption(&e, "truncated table");
                errors += 1;
            }
        }
    }
    assert!(errors > 1000, "reads past the cut must fail ({errors} did)");
    let scanned = db.range::<&str, _>(..).find_map(Result::err);
    expect_corruption(&scanned.expect("a scan over the cut fails"), "scan of a truncated table");
}

/// A value a caller holds, or a block the cache holds, must not keep a table that
/// compaction deleted allocated on disk (values used to be slices of the table's map).
#[cfg(target_os = "linux")]
#[test]
fn held_values_do_not_pin_deleted_tables() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options().compression(strata::Compression::None)).unwrap();
    for i in 0..5000 {
        db.put(key(i), value(i)).unwrap();
    }
    db.flush().unwrap();
    let held = db.get(key(7)).unwrap().unwrap();
    let scanned: Vec<_> = db.range::<&str, _>(..).take(100).map(Result::unwrap).collect();
    for i in 0..5000 {
        db.put(key(i), value(i + 1)).unwrap();
    }
    db.compact().unwrap();
    let pinned = |dir: &Path| -> Vec<String> {
        let mut found = Vec::new();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        found
            .extend(maps.lines().filter(|l| l.contains(dir.to_str().unwrap()) && l.contains(".sst")).map(String::from));
        for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy().into_owned();
                if t.starts_with(dir.to_str().unwrap()) && t.contains(".sst") && t.ends_with("(deleted)") {
                    found.push(t);
                }
            }
        }
        found
    };
    // Removed files are closed on a helper thread: give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !pinned(dir.path()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(pinned(dir.path()), Vec::<String>::new(), "deleted tables still mapped or open");
    assert_eq!(held.as_ref(), value(7).as_bytes());
    assert_eq!(scanned.len(), 100);
}
