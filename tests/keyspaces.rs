//! Keyspaces through the public API: isolation, batches across keyspaces, snapshots,
//! options that persist, drops that stick, stats per keyspace, and WALs that a quiet
//! keyspace does not keep alive.

use strata::{Compaction, Db, Error, Options, WriteBatch};

fn names(dir: &std::path::Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    v.sort();
    v
}

/// Keyspaces flush on their own, so the MANIFEST's edits record seqnos out of order:
/// the newest write must still be visible after a reopen.
#[test]
fn a_batch_across_keyspaces_is_whole_after_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let b = db.keyspace("b").unwrap();
    let mut batch = WriteBatch::new();
    batch.put("k1", "1");
    batch.put_in(&b, "k2", "2");
    batch.put_in(&b, "k3", "3");
    batch.put("k4", "4");
    db.write(batch).unwrap();
    assert_eq!(db.get("k2").unwrap(), None, "keyspaces are separate");
    db.flush().unwrap();
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let b = db.keyspace("b").unwrap();
    assert_eq!(db.get("k4").unwrap().as_deref(), Some(&b"4"[..]));
    assert_eq!(b.get("k3").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(db.range::<&str, _>(..).count(), 2);
    assert_eq!(b.range::<&str, _>(..).count(), 2);
}

#[test]
fn keyspaces_keep_their_options_and_refuse_bad_names_and_other_options() {
    let dir = tempfile::tempdir().unwrap();
    let tiered = || Options::default().compaction(Compaction::tiered()).memtable_size(64 * 1024);
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let log = db.keyspace_with("log", tiered()).unwrap();
        assert_eq!(log.name(), "log");
        assert_eq!(log.stats().strategy, "tiered");
        assert!(matches!(db.keyspace_with("log", Options::default()), Err(Error::InvalidArgument(_))));
        assert!(db.keyspace_with("log", tiered()).is_ok(), "the same options are fine");
        assert!(matches!(db.keyspace(""), Err(Error::InvalidArgument(_))));
        assert!(matches!(db.keyspace(&"x".repeat(256)), Err(Error::InvalidArgument(_))));
        assert!(matches!(db.keyspace_with("bad", Options::default().memtable_size(0)), Err(Error::InvalidArgument(_))));
        for i in 0..3000u32 {
            log.put(format!("{i:08}"), [1u8; 100]).unwrap();
        }
        db.close().unwrap();
    }
    // Reopened with other database options, the keyspace keeps its own.
    let db = Db::open(dir.path(), Options::default().memtable_size(1 << 20)).unwrap();
    assert_eq!(db.keyspace_names(), ["default", "log"]);
    let log = db.keyspace("log").unwrap();
    assert_eq!(log.stats().strategy, "tiered");
    assert_eq!(db.stats().strategy, "leveled");
    assert_eq!(log.range::<&str, _>(..).count(), 3000);
    assert!(log.stats().flushes > 0 || !log.tables().is_empty(), "its 64 KiB memtable filled");
}

#[test]
fn a_dropped_keyspace_is_gone_with_its_files_and_stays_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let tmp = db.keyspace("tmp").unwrap();
    let keep = db.keyspace("keep").unwrap();
    for i in 0..100u32 {
        tmp.put(format!("{i:04}"), "v").unwrap();
        keep.put(format!("{i:04}"), "v").unwrap();
    }
    tmp.flush().unwrap();
    let tables: Vec<String> = tmp.tables().iter().map(|t| format!("{:06}.sst", t.number)).collect();
    assert!(!tables.is_empty());
    let snapshot = db.snapshot();
    db.drop_keyspace("tmp").unwrap();
    for t in &tables {
        assert!(!dir.path().join(t).exists(), "{t} of the dropped keyspace is still on disk");
    }
    assert!(matches!(tmp.get("0001"), Err(Error::InvalidArgument(_))));
    assert!(matches!(tmp.put("0001", "v"), Err(Error::InvalidArgument(_))));
    assert!(tmp.range::<&str, _>(..).next().unwrap().is_err());
    assert!(snapshot.get_in(&tmp, "0001").is_err());
    let mut batch = WriteBatch::new();
    batch.put_in(&tmp, "0001", "v");
    assert!(matches!(db.write(batch), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.drop_keyspace("default"), Err(Error::InvalidArgument(_))));
    assert!(matches!(db.drop_keyspace("tmp"), Err(Error::InvalidArgument(_))));
    assert_eq!(db.keyspace_names(), ["default", "keep"]);
    drop(snapshot);
    drop(db);

    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.keyspace_names(), ["default", "keep"]);
    let again = db.keyspace("tmp").unwrap();
    assert_eq!(again.range::<&str, _>(..).count(), 0, "a keyspace created again starts empty");
    assert_eq!(db.keyspace("keep").unwrap().range::<&str, _>(..).count(), 100);
}

#[test]
fn snapshots_see_one_instant_across_keyspaces_and_handles_stay_with_their_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("one"), Options::default()).unwrap();
    let other = Db::open(dir.path().join("two"), Options::default()).unwrap();
    let (a, b) = (db.keyspace("a").unwrap(), db.keyspace("b").unwrap());
    let foreign = other.keyspace("a").unwrap();
    a.put("x", "1").unwrap();
    let before = db.snapshot();
    let mut batch = WriteBatch::new();
    batch.put_in(&a, "x", "2");
    batch.put_in(&b, "y", "2");
    db.write(batch).unwrap();
    db.flush().unwrap();
    assert_eq!(before.get_in(&a, "x").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(before.get_in(&b, "y").unwrap(), None);
    assert_eq!(before.range_in::<&str, _>(&b, ..).count(), 0);
    let now = db.snapshot();
    assert_eq!(now.range_in(&a, "a".."z").map(|r| r.unwrap().1).collect::<Vec<_>>(), ["2"]);
    assert!(matches!(before.get_in(&foreign, "x"), Err(Error::InvalidArgument(_))));
    assert!(now.range_in::<&str, _>(&foreign, ..).next().unwrap().is_err());
    let mut batch = WriteBatch::new();
    batch.put_in(&foreign, "x", "3");
    assert!(matches!(db.write(batch), Err(Error::InvalidArgument(_))), "a handle of another database");
    assert_eq!(a.get("x").unwrap().as_deref(), Some(&b"2"[..]));
}

#[test]
fn stats_are_per_keyspace_and_the_database_totals_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let a = db.keyspace("a").unwrap();
    for i in 0..1000u32 {
        a.put(i.to_be_bytes(), [0u8; 100]).unwrap();
    }
    db.put("d", "v").unwrap();
    db.flush().unwrap();
    let (sa, sd) = (a.stats(), db.keyspace("default").unwrap().stats());
    let total = db.stats();
    assert_eq!((sa.levels[0].files, sd.levels[0].files, total.levels[0].files), (1, 1, 2));
    assert_eq!(total.user_bytes_written, sa.user_bytes_written + sd.user_bytes_written);
    assert!(sa.user_bytes_written >= 104_000 && sd.user_bytes_written == 2);
    assert_eq!(total.flushes, 2);
    assert_eq!(sa.wal_bytes_written, total.wal_bytes_written, "the WAL is shared");
    assert_eq!(a.tables().len(), 1);
    assert_eq!(db.tables().len(), 1);
}

/// A keyspace written once must not keep every later WAL alive while another one is
/// written all the time.
#[test]
fn a_quiet_keyspace_does_not_pin_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().memtable_size(16 * 1024)).unwrap();
    let quiet = db.keyspace("quiet").unwrap();
    quiet.put("once", "v").unwrap();
    let mut most = 0;
    for i in 0..20_000u32 {
        db.put(i.to_be_bytes(), [7u8; 64]).unwrap();
        if i % 500 == 0 {
            most = most.max(names(dir.path(), ".log").len());
        }
    }
    assert!(most <= 8, "{most} WAL files alive at once");
    assert!(!quiet.tables().is_empty(), "the quiet keyspace was flushed to let its WAL go");
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.keyspace("quiet").unwrap().get("once").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn read_only_views_and_checkpoints_hold_every_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), Options::default()).unwrap();
    let log = db.keyspace_with("log", Options::default().compaction(Compaction::tiered())).unwrap();
    log.put("1", "entry").unwrap();
    log.flush().unwrap();
    log.put("2", "entry").unwrap(); // in the WAL only
    db.put("k", "v").unwrap();
    let view = Db::open_read_only(dir.path().join("db"), Options::default()).unwrap();
    assert_eq!(view.keyspace("log").unwrap().range::<&str, _>(..).count(), 2);
    assert!(matches!(view.keyspace("new"), Err(Error::ReadOnly)));
    assert!(matches!(view.drop_keyspace("log"), Err(Error::ReadOnly)));
    db.checkpoint(dir.path().join("copy")).unwrap();
    let copy = Db::open(dir.path().join("copy"), Options::default()).unwrap();
    let copied = copy.keyspace("log").unwrap();
    assert_eq!(copied.range::<&str, _>(..).count(), 2);
    assert_eq!(copied.stats().strategy, "tiered");
    assert_eq!(copy.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}
