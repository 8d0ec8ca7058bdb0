//! Crashes inside recovery itself, on the fault-injecting file system.
//!
//! A WAL started at a memtable switch is not named by any MANIFEST edit until a flush
//! retires the one before it, so after a crash the directory can hold WALs numbered at
//! or past the MANIFEST's next file number. Recovery replays them, writes their tables,
//! starts a new WAL and only then logs the edit naming the tables: if the new WAL took
//! the number of a replayed one (and wiped it), a crash before that edit lost the
//! replayed writes for good. These tests build that directory and lose power at every
//! operation of the reopen that follows.

use std::path::Path;
use std::sync::Arc;

use strata::fs::FileSystem;
use strata::testing::FaultyFs;
use strata::{Db, Options};

const KEYS: usize = 300;

fn key(i: usize) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes()
}

/// A database whose acknowledged, synced writes live only in a WAL numbered `ahead`
/// past every file the MANIFEST knows of (as a WAL started at an unrecorded memtable
/// switch is), beside the WAL the MANIFEST names as live, which holds nothing but its
/// log-start record (every WAL begins with one; the sync of a later write made it
/// durable).
fn directory_with_unrecorded_wal(ahead: u64) -> FaultyFs {
    let fs = FaultyFs::new();
    let dir = Path::new("/db");
    let db = Db::open(dir, Options::default().file_system(Arc::new(fs.clone())).sync_writes(true)).unwrap();
    for i in 0..KEYS {
        db.put(key(i), value(i)).unwrap();
    }
    db.close().unwrap();
    let numbered: Vec<(u64, String)> = fs
        .list(dir)
        .unwrap()
        .into_iter()
        .filter_map(|n| {
            let digits =
                n.strip_suffix(".log").or_else(|| n.strip_suffix(".sst")).or_else(|| n.strip_prefix("MANIFEST-"))?;
            Some((digits.parse().ok()?, n))
        })
        .collect();
    let (_, wal) = numbered.iter().find(|(_, n)| n.ends_with(".log")).unwrap().clone();
    let highest = numbered.iter().map(|(n, _)| *n).max().unwrap();
    let records = fs.read_all(&dir.join(&wal)).unwrap();
    assert!(!records.is_empty());
    let mut later = fs.create(&dir.join(format!("{:06}.log", highest + ahead))).unwrap();
    later.append(&records).unwrap();
    later.sync().unwrap();
    drop(later);
    fs.remove(&dir.join(&wal)).unwrap();
    // The log's first record is its start record: one FULL fragment (7-byte header,
    // type 1) of a 12-byte empty batch.
    assert_eq!((&records[4..7], &records[15..19]), (&[12u8, 0, 1][..], &[0u8; 4][..]));
    let mut empty = fs.create(&dir.join(&wal)).unwrap();
    empty.append(&records[..19]).unwrap();
    empty.sync().unwrap();
    drop(empty);
    fs.sync_dir(dir).unwrap();
    fs
}

fn check_every_write(fs: &FaultyFs, context: &str) {
    let db = Db::open("/db", Options::default().file_system(Arc::new(fs.clone())))
        .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    for i in 0..KEYS {
        assert_eq!(db.get(key(i)).unwrap().as_deref(), Some(&value(i)[..]), "{context}: key {i} lost");
    }
    db.close().unwrap();
}

#[test]
fn a_crash_at_any_step_of_recovery_keeps_writes_only_an_unrecorded_wal_holds() {
    let mut trials = 0;
    for ahead in 1..=6 {
        // How many mutating operations one undisturbed recovery performs.
        let fs = directory_with_unrecorded_wal(ahead);
        let before = fs.operations();
        check_every_write(&fs, &format!("ahead {ahead}, no crash"));
        let recovery_ops = fs.operations() - before;
        assert!(recovery_ops > 3);
        for crash_at in 1..=recovery_ops {
            let fs = directory_with_unrecorded_wal(ahead);
            fs.crash_after(crash_at);
            if let Ok(db) = Db::open("/db", Options::default().file_system(Arc::new(fs.clone()))) {
                fs.crash();
                drop(db);
            }
            fs.restart();
            check_every_write(&fs, &format!("ahead {ahead}, power lost at recovery operation {crash_at}"));
            trials += 1;
        }
    }
    println!("{trials} crashes inside recovery");
}

#[test]
fn a_file_is_never_created_over_an_existing_one() {
    let fs = FaultyFs::new();
    let dir = Path::new("/d");
    fs.create_dir_all(dir).unwrap();
    let mut f = fs.create(&dir.join("000001.log")).unwrap();
    f.append(b"precious").unwrap();
    f.sync().unwrap();
    drop(f);
    let again = fs.create(&dir.join("000001.log")).err().unwrap();
    assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(fs.read_all(&dir.join("000001.log")).unwrap(), b"precious");

    let real = tempfile::tempdir().unwrap();
    let path = real.path().join("000001.log");
    std::fs::write(&path, b"precious").unwrap();
    // SAFETY: nothing else writes the file (and the call must fail without opening it).
    let as_log = unsafe { strata::fs::OsFileSystem.create_log(&path) };
    for created in [strata::fs::OsFileSystem.create(&path), as_log] {
        assert_eq!(created.err().unwrap().kind(), std::io::ErrorKind::AlreadyExists);
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}
