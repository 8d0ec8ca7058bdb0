//! Power-loss crash test on the fault-injecting file system: random workloads (puts,
//! deletes, batches, syncs, flushes, compactions, under both strategies) lose power at a
//! random file-system operation; the database reopened on what was durable must hold
//! exactly the acknowledged writes up to some point:
//! - with `sync_writes(true)`: every acknowledged write (plus possibly the one in flight);
//! - without: the state after some acknowledged operation at or after the last
//!   successful `sync()` (or the in-flight one), never a mix; batches whole or absent.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::testing::FaultyFs;
use strata::{Db, WriteBatch};

mod common;
use common::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

enum DbOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Sync,
    Flush,
    Compact,
}

fn random_op(rng: &mut Rng) -> DbOp {
    let key = |rng: &mut Rng| format!("key{:03}", rng.below(60)).into_bytes();
    let value = |rng: &mut Rng| vec![b'a' + rng.below(26) as u8; 1 + rng.below(300) as usize];
    match rng.below(100) {
        0..=49 => DbOp::Put(key(rng), value(rng)),
        50..=64 => DbOp::Delete(key(rng)),
        65..=79 => DbOp::Batch(
            (0..1 + rng.below(5))
                .map(|_| (key(rng), if rng.below(3) == 0 { None } else { Some(value(rng)) }))
                .collect(),
        ),
        80..=89 => DbOp::Sync,
        90..=96 => DbOp::Flush,
        _ => DbOp::Compact,
    }
}

fn apply(model: &mut Model, op: &DbOp) {
    match op {
        DbOp::Put(k, v) => {
            model.insert(k.clone(), v.clone());
        }
        DbOp::Delete(k) => {
            model.remove(k);
        }
        DbOp::Batch(entries) => {
            for (k, v) in entries {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
        }
        DbOp::Sync | DbOp::Flush | DbOp::Compact => {}
    }
}

fn run_op(db: &Db, op: &DbOp) -> strata::Result<()> {
    match op {
        DbOp::Put(k, v) => db.put(k, v),
        DbOp::Delete(k) => db.delete(k),
        DbOp::Batch(entries) => {
            let mut b = WriteBatch::new();
            for (k, v) in entries {
                match v {
                    Some(v) => b.put(k, v),
                    None => b.delete(k),
                }
            }
            db.write(b)
        }
        DbOp::Sync => db.sync(),
        DbOp::Flush => db.flush(),
        DbOp::Compact => db.compact(),
    }
}

/// One (seed, crash point) trial; returns whether power was lost mid-workload.
fn trial(seed: u64) -> bool {
    let mut rng = Rng(seed | 1);
    let (sync, tiered) = (rng.below(2) == 0, rng.below(2) == 0);
    let fs = Arc::new(FaultyFs::new());
    let dir = Path::new("/db");
    let db = Db::open(dir, common::faulty_options(&fs, sync, tiered)).unwrap();
    // Acknowledged states: states[i] is the model after i acknowledged operations.
    let mut states = vec![Model::new()];
    let mut durable_from = 0; // index of the oldest state recovery may return
    let mut in_flight: Option<Model> = None;
    fs.crash_after(1 + rng.below(400));
    for _ in 0..80 {
        let op = random_op(&mut rng);
        let mut next = states.last().unwrap().clone();
        apply(&mut next, &op);
        match run_op(&db, &op) {
            Ok(()) => {
                states.push(next);
                if sync || matches!(op, DbOp::Sync) {
                    durable_from = states.len() - 1;
                }
            }
            Err(_) => {
                in_flight = Some(next);
                break;
            }
        }
    }
    let crashed_mid_workload = fs.is_crashed();
    fs.crash();
    drop(db);
    let tear = rng.below(2) == 0;
    fs.restart_with(|unsynced| if tear { unsynced / 2 } else { 0 });

    let db = Db::open(dir, common::faulty_options(&fs, sync, tiered))
        .unwrap_or_else(|e| panic!("seed {seed}: reopen failed: {e}"));
    let got: Model = db.range::<&[u8], _>(..).map(|r| r.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
    for (k, v) in &got {
        assert_eq!(db.get(k).unwrap().as_deref(), Some(&v[..]), "seed {seed}: get and scan disagree");
    }
    let candidates: Vec<&Model> = states[durable_from..].iter().chain(in_flight.as_ref()).collect();
    assert!(
        candidates.iter().any(|m| **m == got),
        "seed {seed} (sync {sync}, tiered {tiered}): recovered state matches no acknowledged prefix from op {durable_from} of {}; got {} keys",
        states.len() - 1,
        got.len()
    );
    // The recovered database works.
    db.put("after", "crash").unwrap();
    db.flush().unwrap();
    crashed_mid_workload
}

#[test]
fn power_loss_at_random_points_recovers_an_acknowledged_prefix() {
    let trials: u64 = std::env::var("STRATA_CRASH_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    let mut crashed = 0;
    for t in 0..trials {
        if trial(t.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555) {
            crashed += 1;
        }
    }
    println!("{trials} trials, {crashed} lost power mid-workload");
    assert!(crashed > trials / 2, "too few trials crashed mid-workload: {crashed}");
}
