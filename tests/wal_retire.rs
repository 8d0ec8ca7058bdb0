//! WALs retired without a sync (the default, point-in-time recovery): a memtable switch
//! leaves the finished log to the page cache, so a power loss may take its tail while a
//! later log keeps its head. Through the fault-injecting file system: recovery must stop
//! at such a gap (a prefix of the writes, never later writes without earlier ones);
//! `Db::sync` and synced writes must make the retired logs durable too; and a batch
//! across keyspaces must survive whole when one keyspace's share is flushed.

use std::sync::Arc;
use std::time::Duration;

use strata::testing::FaultyFs;
use strata::{Db, Options, WriteBatch, WriteOptions};

fn key(i: u64) -> String {
    format!("key{i:06}")
}

fn options(fs: &Arc<FaultyFs>) -> Options {
    // 32 KiB memtables: a log per ~600 writes; room for several frozen memtables, whose
    // flushes the slow syncs below hold back, so that several retired logs are live.
    Options::default().file_system(fs.clone()).memtable_size(32 << 10).max_immutable_memtables(8)
}

/// Writes keys 0.. in order until `n`, one put each.
fn write_keys(db: &Db, n: u64) {
    for i in 0..n {
        db.put(key(i), format!("value{i}")).unwrap();
    }
}

/// How many keys 0.. are present, checking that they are a prefix: no key after a
/// missing one.
fn prefix_len(db: &Db) -> u64 {
    let present: Vec<u64> = db
        .range::<&[u8], _>(..)
        .map(|e| e.unwrap().0)
        .map(|k| std::str::from_utf8(&k[3..]).unwrap().parse().unwrap())
        .collect();
    for (n, &i) in present.iter().enumerate() {
        assert_eq!(i, n as u64, "key {n} is missing but later keys are present: not a prefix of the writes");
    }
    present.len() as u64
}

/// Powers `fs` back on with each file keeping all of what it had not synced or none of
/// it: the nth file the restart visits keeps it if bit `n % period` of `pattern` is set.
fn restart_keeping_whole_files(fs: &FaultyFs, pattern: u32, period: u32) {
    let mut file = 0;
    fs.restart_with(|unsynced| {
        file += 1;
        if pattern >> (file % period) & 1 == 1 {
            unsynced
        } else {
            0
        }
    });
}

#[test]
fn a_power_loss_that_takes_some_unsynced_logs_and_keeps_later_ones_recovers_a_prefix() {
    const N: u64 = 5_000;
    let mut gaps = 0;
    for pattern in [0b0101_0101u32, 0b1010_1010, 0b0011_0011, 0b1100_1100, 0b0110_1001, 0b1111_0000] {
        let fs = Arc::new(FaultyFs::new());
        let db = Db::open("/db", options(&fs)).unwrap();
        fs.set_sync_delay(Duration::from_millis(20));
        write_keys(&db, N);
        fs.crash();
        drop(db);
        // Whole unsynced logs lost before later ones that survived, the gap between
        // logs that write-back's order can leave (and that no damaged record reveals).
        restart_keeping_whole_files(&fs, pattern, 8);
        let db = Db::open("/db", options(&fs)).unwrap();
        let kept = prefix_len(&db);
        // Whole logs only: dropped bytes are logs after a gap.
        gaps += u64::from(db.stats().wal_bytes_dropped_at_open > 0);
        // The recovered database takes writes and keeps them.
        db.put(key(kept), "after").unwrap();
        db.close().unwrap();
        let db = Db::open("/db", options(&fs)).unwrap();
        assert_eq!(prefix_len(&db), kept + 1, "pattern {pattern:#b}");
    }
    assert!(gaps >= 3, "only {gaps} of the power losses left a gap between logs");
}

#[test]
fn a_sync_makes_every_write_in_retired_logs_durable() {
    for synced_write in [false, true] {
        let fs = Arc::new(FaultyFs::new());
        let db = Db::open("/db", options(&fs)).unwrap();
        fs.set_sync_delay(Duration::from_millis(20));
        write_keys(&db, 3_000);
        if synced_write {
            db.write_opt(
                {
                    let mut b = WriteBatch::new();
                    b.put(key(3_000), "synced");
                    b
                },
                &WriteOptions::new().sync(true),
            )
            .unwrap();
        } else {
            db.sync().unwrap();
        }
        fs.crash();
        drop(db);
        // Nothing unsynced survives.
        fs.restart();
        let db = Db::open("/db", options(&fs)).unwrap();
        assert_eq!(prefix_len(&db), 3_000 + u64::from(synced_write), "synced write: {synced_write}");
    }
}

#[test]
fn a_batch_across_keyspaces_stays_whole_when_one_keyspace_is_flushed() {
    let fs = Arc::new(FaultyFs::new());
    let db = Db::open("/db", options(&fs)).unwrap();
    let (a, b) = (db.keyspace("a").unwrap(), db.keyspace("b").unwrap());
    for i in 0..200 {
        let mut batch = WriteBatch::new();
        batch.put_in(&a, key(i), "in a");
        batch.put_in(&b, key(i), "in b");
        db.write(batch).unwrap();
    }
    // `a`'s share goes to a table (durable); `b`'s stays in its memtable and in the
    // retired log, which must be synced before `a`'s table counts.
    a.flush().unwrap();
    fs.crash();
    drop((a, b, db));
    fs.restart();
    let db = Db::open("/db", options(&fs)).unwrap();
    let (a, b) = (db.keyspace("a").unwrap(), db.keyspace("b").unwrap());
    for i in 0..200 {
        assert_eq!(a.get(key(i)).unwrap().as_deref(), Some(&b"in a"[..]), "key {i} in a");
        assert_eq!(b.get(key(i)).unwrap().as_deref(), Some(&b"in b"[..]), "key {i} in b: the batch was torn");
    }
}

/// A directory whose last writes, batches across two keyspaces, sit in WALs no sync
/// reached (the retired ones and the live one), left by a clean close.
fn directory_with_unsynced_batches(fs: &Arc<FaultyFs>, batches: u64) {
    let db = Db::open("/db", options(fs)).unwrap();
    let (a, b) = (db.keyspace("a").unwrap(), db.keyspace("b").unwrap());
    for i in 0..batches {
        let mut batch = WriteBatch::new();
        batch.put_in(&a, key(i), format!("a{i}"));
        batch.put_in(&b, key(i), format!("b{i}"));
        db.write(batch).unwrap();
    }
    drop((a, b));
    db.close().unwrap();
}

/// Recovery writes each keyspace's replayed writes to tables and records them in one
/// MANIFEST edit per keyspace: a power loss between two edits must not leave one
/// keyspace with a batch's share in a table and the other without it.
#[test]
fn a_power_loss_inside_recovery_keeps_batches_across_keyspaces_whole() {
    const BATCHES: u64 = 1_500;
    let fs = Arc::new(FaultyFs::new());
    directory_with_unsynced_batches(&fs, BATCHES);
    let before = fs.operations();
    Db::open("/db", options(&fs)).unwrap().close().unwrap();
    let recovery_ops = fs.operations() - before;
    for crash_at in 1..=recovery_ops + 2 {
        let fs = Arc::new(FaultyFs::new());
        directory_with_unsynced_batches(&fs, BATCHES);
        fs.crash_after(crash_at);
        if let Ok(db) = Db::open("/db", options(&fs)) {
            fs.crash();
            drop(db);
        }
        fs.restart();
        let db = Db::open("/db", options(&fs)).unwrap();
        let (a, b) = (db.keyspace("a").unwrap(), db.keyspace("b").unwrap());
        let mut present = 0;
        for i in 0..BATCHES {
            let (in_a, in_b) = (a.get(key(i)).unwrap(), b.get(key(i)).unwrap());
            assert_eq!(in_a.is_some(), in_b.is_some(), "crash at op {crash_at}: batch {i} is torn");
            if in_a.is_some() {
                assert_eq!(present, i, "crash at op {crash_at}: batch {i} present after a missing one");
                present += 1;
            }
        }
    }
}

/// Under `TolerateCorruptedTail` a power loss at any point of a run of switches,
/// whatever each file keeps of its unsynced bytes, opens to a prefix: the switch syncs
/// the retired WAL before the next one exists, and a log holding only a start record
/// past missing writes is no gap (either alone keeps this test passing; reverting both
/// fails it).
#[test]
fn strict_recovery_opens_after_a_power_loss_at_any_switch() {
    use strata::WalRecovery;
    const N: u64 = 400;
    let opts = |fs: &Arc<FaultyFs>| {
        Options::default()
            .file_system(fs.clone())
            .memtable_size(8 << 10)
            .wal_recovery(WalRecovery::TolerateCorruptedTail)
    };
    for crash_at in 1..=N + 100 {
        for pattern in [0b0101u32, 0b1010, 0b0011, 0b1100] {
            let fs = Arc::new(FaultyFs::new());
            let db = Db::open("/db", opts(&fs)).unwrap();
            fs.crash_after(crash_at);
            for i in 0..N {
                if db.put(key(i), format!("value{i}")).is_err() {
                    break;
                }
            }
            fs.crash();
            drop(db);
            restart_keeping_whole_files(&fs, pattern, 4);
            let db = Db::open("/db", opts(&fs)).unwrap_or_else(|e| panic!("crash at op {crash_at}: {e}"));
            prefix_len(&db);
        }
    }
}
