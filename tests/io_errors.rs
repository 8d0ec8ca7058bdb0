//! I/O errors injected at random file-system operations (WAL appends and syncs, table
//! writes during flush and compaction, MANIFEST writes, renames, directory syncs): the
//! call that meets one returns `Err`, nothing acknowledged is lost, the database either
//! keeps working or refuses writes with a clear error, and a reopen recovers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::testing::{FaultyFs, Op};
use strata::{Db, Error, WriteBatch};

mod common;
use common::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;
/// What an operation does to the model if it took effect.
type Effect = Box<dyn Fn(&mut Model)>;

/// One trial: a fault at a random operation; returns (faults injected, writes refused).
fn trial(seed: u64) -> (u64, bool) {
    let mut rng = Rng(seed | 1);
    let (tiered, sync) = (rng.below(2) == 0, rng.below(2) == 0);
    let fs = Arc::new(FaultyFs::new());
    let dir = Path::new("/db");
    let db = Db::open(dir, common::faulty_options(&fs, sync, tiered)).unwrap();
    if rng.below(4) == 0 {
        fs.set_disk_full(true);
    } else {
        fs.fail_after(1 + rng.below(300));
    }
    // `without` and `with`: the model without / with the one operation whose outcome is
    // unknown (it failed, but its WAL record may have been written).
    let mut without = Model::new();
    let mut with: Option<Model> = None;
    let mut refused = false;
    for step in 0..120u32 {
        let k = format!("key{:03}", rng.below(50)).into_bytes();
        let v = format!("v{step}-{}", "x".repeat(rng.below(200) as usize)).into_bytes();
        let (result, apply): (strata::Result<()>, Effect) = match rng.below(10) {
            0..=5 => (db.put(&k, &v), Box::new(move |m: &mut Model| drop(m.insert(k.clone(), v.clone())))),
            6 => (db.delete(&k), Box::new(move |m: &mut Model| drop(m.remove(&k)))),
            7 => {
                let mut b = WriteBatch::new();
                b.put(&k, &v);
                b.put(b"batch-twin", &v);
                (
                    db.write(b),
                    Box::new(move |m: &mut Model| {
                        m.insert(k.clone(), v.clone());
                        m.insert(b"batch-twin".to_vec(), v.clone());
                    }),
                )
            }
            8 => (db.flush(), Box::new(|_: &mut Model| {})),
            _ => (db.compact(), Box::new(|_: &mut Model| {})),
        };
        match result {
            Ok(()) => {
                apply(&mut without);
                if let Some(w) = &mut with {
                    apply(w);
                }
            }
            Err(Error::Background(_)) | Err(Error::Closed) => refused = true,
            Err(e) => {
                assert!(matches!(e, Error::Io(_) | Error::Corruption(_)), "seed {seed}: unexpected error {e:?}");
                if with.is_none() {
                    let mut w = without.clone();
                    apply(&mut w);
                    with = Some(w);
                }
            }
        }
        // Reads never fail because of a write-side fault.
        if let Ok(Some(got)) = db.get(b"key000") {
            let in_some = without.get(&b"key000"[..]) == Some(&got.to_vec())
                || with.as_ref().is_some_and(|w| w.get(&b"key000"[..]) == Some(&got.to_vec()));
            assert!(in_some, "seed {seed}: get returned a value no model holds");
        }
    }
    let faults = fs.faults_injected();
    drop(db);
    fs.heal();
    fs.fail_every(Op::Read, false);
    let db = Db::open(dir, common::faulty_options(&fs, sync, tiered))
        .unwrap_or_else(|e| panic!("seed {seed}: reopen failed: {e}"));
    let got: Model = db.range::<&[u8], _>(..).map(|r| r.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
    assert!(
        got == without || with.as_ref() == Some(&got),
        "seed {seed} (tiered {tiered}, sync {sync}): recovered state lost acknowledged writes"
    );
    db.put("after", "recovery").unwrap();
    (faults, refused)
}

#[test]
fn injected_io_errors_lose_nothing_acknowledged() {
    let trials: u64 = std::env::var("STRATA_IO_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let (mut faults, mut refused) = (0, 0);
    for t in 0..trials {
        let (f, r) = trial(t.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0xabcd);
        faults += f;
        refused += u64::from(r);
    }
    println!("{trials} trials, {faults} faults injected, {refused} trials ended refusing writes");
    assert!(faults >= trials / 2);
    assert!(refused > 0);
}

/// Linux drops the dirty pages an fsync failed to write and marks them clean, so a
/// retried fsync "succeeds" without them. A failed `sync` must therefore be sticky:
/// later syncs and writes fail until reopen, and the reopened database holds what was
/// durable before the failure.
#[test]
fn a_failed_sync_is_sticky_until_reopen() {
    let fs = Arc::new(FaultyFs::new());
    let options = || strata::Options::default().file_system(fs.clone());
    let db = Db::open("/db", options()).unwrap();
    db.put("durable", "1").unwrap();
    db.sync().unwrap();
    db.put("unsynced", "2").unwrap();
    fs.fail_every(Op::Sync, true);
    assert!(matches!(db.sync(), Err(Error::Io(_))));
    fs.heal();
    assert!(db.sync().is_err(), "a retried sync claimed durability for pages the failed one dropped");
    assert!(matches!(db.put("later", "3"), Err(Error::Background(_))));
    assert_eq!(db.get("unsynced").unwrap().as_deref(), Some(&b"2"[..]), "reads go on");
    fs.crash();
    drop(db);
    fs.restart();
    let db = Db::open("/db", options()).unwrap();
    assert_eq!(db.get("durable").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get("later").unwrap(), None);
    db.put("after", "reopen").unwrap();
    db.sync().unwrap();
}

/// A compaction that fails in the middle of writing a table removes it, with every
/// table it finished: only the tables of the current version stay in the directory.
#[test]
fn a_failed_compaction_leaves_no_table_behind() {
    let fs = Arc::new(FaultyFs::new());
    // No background compaction: the only job is the one this test makes fail.
    let mut manual = strata::LeveledOptions::default();
    manual.l0_compaction_trigger = 1000;
    let options = || {
        common::faulty_options(&fs, false, false)
            .compression(strata::Compression::None)
            .compaction(strata::Compaction::Leveled(manual.clone()))
    };
    let db = Db::open("/db", options()).unwrap();
    for round in 0..3u32 {
        for i in 0..400u32 {
            db.put(format!("key{i:04}"), format!("round {round} {}", "v".repeat(100))).unwrap();
        }
        db.flush().unwrap();
    }
    // Appends fail from the next one on: the first output table is created and then
    // cannot be written.
    fs.fail_every(Op::Append, true);
    assert!(db.compact().is_err());
    let mut live: Vec<u64> = db.tables().iter().map(|t| t.number).collect();
    // Closing joins the background threads, so nothing is still being written.
    drop(db);
    use strata::fs::FileSystem;
    let mut on_disk: Vec<u64> =
        fs.list(Path::new("/db")).unwrap().iter().filter_map(|n| n.strip_suffix(".sst")?.parse().ok()).collect();
    on_disk.sort_unstable();
    live.sort_unstable();
    assert_eq!(on_disk, live, "tables on disk that no version lists");
    fs.heal();
    let db = Db::open("/db", options()).unwrap();
    assert!(db.get("key0007").unwrap().unwrap().starts_with(b"round 2"));
}
