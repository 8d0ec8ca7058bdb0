//! Power-loss crash test on the fault-injecting file system: random workloads (puts,
//! deletes, range deletions, batches, syncs, flushes, compactions, under both
//! strategies; and with several keyspaces, created and dropped around the crash) lose
//! power at a random file-system operation; the database reopened on what was durable must hold
//! exactly the acknowledged writes up to some point:
//! - with `sync_writes(true)`: every acknowledged write (plus possibly the one in flight);
//! - without: the state after some acknowledged operation at or after the last
//!   successful `sync()` or synced put (`WriteOptions::sync`), or the in-flight one,
//!   never a mix; batches whole or absent.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::testing::FaultyFs;
use strata::{Db, WriteBatch, WriteOptions};

mod common;
use common::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

enum DbOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// `Db::delete_range(start, end)`.
    DeleteRange(Vec<u8>, Vec<u8>),
    /// One batch of puts, deletes and range deletions.
    Batch(Vec<DbOp>),
    /// A put made with `WriteOptions::sync(true)`: durable on return, with everything
    /// before it, whatever the database's `sync_writes`.
    SyncedPut(Vec<u8>, Vec<u8>),
    Sync,
    Flush,
    Compact,
}

fn key(rng: &mut Rng) -> Vec<u8> {
    format!("key{:03}", rng.below(60)).into_bytes()
}

/// A range of a few keys, sometimes of a third of them.
fn delete_range(rng: &mut Rng) -> DbOp {
    let start = rng.below(60);
    let width = 1 + if rng.below(6) == 0 { rng.below(20) } else { rng.below(4) };
    DbOp::DeleteRange(format!("key{start:03}").into_bytes(), format!("key{:03}", start + width).into_bytes())
}

fn value(rng: &mut Rng) -> Vec<u8> {
    vec![b'a' + rng.below(26) as u8; 1 + rng.below(300) as usize]
}

fn random_op(rng: &mut Rng) -> DbOp {
    match rng.below(200) {
        // Near the limits: a key of the longest length accepted, a value of 256 KiB.
        0 => {
            let mut long = key(rng);
            long.resize(64 * 1024, b'~');
            DbOp::Put(long, value(rng))
        }
        1 => DbOp::Put(key(rng), vec![b'v'; 256 * 1024]),
        n => random_common_op(rng, n / 2),
    }
}

/// The everyday operations, chosen by `roll` (below 100).
fn random_common_op(rng: &mut Rng, roll: u64) -> DbOp {
    match roll {
        0..=49 => DbOp::Put(key(rng), value(rng)),
        50..=58 => DbOp::Delete(key(rng)),
        59..=64 => delete_range(rng),
        65..=79 => DbOp::Batch(
            (0..1 + rng.below(5))
                .map(|_| match rng.below(8) {
                    0 => delete_range(rng),
                    1..=2 => DbOp::Delete(key(rng)),
                    _ => DbOp::Put(key(rng), value(rng)),
                })
                .collect(),
        ),
        80..=84 => DbOp::Sync,
        85..=89 => DbOp::SyncedPut(key(rng), value(rng)),
        90..=96 => DbOp::Flush,
        _ => DbOp::Compact,
    }
}

fn apply(model: &mut Model, op: &DbOp) {
    match op {
        DbOp::Put(k, v) | DbOp::SyncedPut(k, v) => {
            model.insert(k.clone(), v.clone());
        }
        DbOp::Delete(k) => {
            model.remove(k);
        }
        DbOp::DeleteRange(start, end) => model.retain(|k, _| k < start || k >= end),
        DbOp::Batch(entries) => {
            for entry in entries {
                apply(model, entry);
            }
        }
        DbOp::Sync | DbOp::Flush | DbOp::Compact => {}
    }
}

fn run_op(db: &Db, op: &DbOp) -> strata::Result<()> {
    match op {
        DbOp::Put(k, v) => db.put(k, v),
        DbOp::Delete(k) => db.delete(k),
        DbOp::DeleteRange(start, end) => db.delete_range(start, end),
        DbOp::Batch(entries) => {
            let mut b = WriteBatch::new();
            for entry in entries {
                match entry {
                    DbOp::Put(k, v) => b.put(k, v),
                    DbOp::Delete(k) => b.delete(k),
                    DbOp::DeleteRange(start, end) => b.delete_range(start, end),
                    _ => unreachable!("batches hold writes only"),
                }
            }
            db.write(b)
        }
        DbOp::SyncedPut(k, v) => {
            let mut b = WriteBatch::new();
            b.put(k, v);
            db.write_opt(b, &WriteOptions::new().sync(true))
        }
        DbOp::Sync => db.sync(),
        DbOp::Flush => db.flush(),
        DbOp::Compact => db.compact(),
    }
}

/// How one database is configured; reopens may change it, as operators do.
#[derive(Clone, Copy, Debug)]
struct Setup {
    sync: bool,
    /// Index into `common::all_strategies()`.
    strategy: usize,
    monkey: bool,
    max_immutable: usize,
    memtable: usize,
    /// 0 none, 1 LZ4, 2 zstd below L0.
    compress: u8,
}

impl Setup {
    fn random(rng: &mut Rng, sync: bool) -> Setup {
        Setup {
            sync,
            strategy: rng.below(common::all_strategies().len() as u64) as usize,
            monkey: rng.below(2) == 0,
            max_immutable: 1 + rng.below(3) as usize,
            memtable: [2048, 4096, 16384][rng.below(3) as usize],
            compress: rng.below(3) as u8,
        }
    }

    fn options(&self, fs: &Arc<FaultyFs>) -> strata::Options {
        use strata::Compression::{Lz4, Zstd};
        let codecs = match self.compress {
            0 => vec![strata::Compression::None],
            1 => vec![Lz4],
            _ => vec![Lz4, Zstd],
        };
        let bloom = if self.monkey { strata::BloomAllocation::Monkey } else { strata::BloomAllocation::Uniform };
        common::faulty_options(fs, self.sync, false)
            .compaction(common::all_strategies()[self.strategy].clone())
            .bloom_allocation(bloom)
            .memtable_size(self.memtable)
            .max_immutable_memtables(self.max_immutable)
            .compression_per_level(codecs)
    }
}

/// How the disk comes back after the power loss.
#[derive(Clone, Copy, Debug)]
enum Restart {
    /// Every unsynced byte lost.
    Clean,
    /// Half of each file's unsynced bytes written, in order.
    Torn,
    /// Each unsynced page written, lost or garbled on its own (out-of-order write-back).
    Scrambled(u64),
}

fn restart(fs: &FaultyFs, how: Restart) {
    match how {
        Restart::Clean => fs.restart(),
        Restart::Torn => fs.restart_with(|unsynced| unsynced / 2),
        Restart::Scrambled(seed) => fs.restart_scrambled(seed),
    }
}

fn random_restart(rng: &mut Rng) -> Restart {
    match rng.below(3) {
        0 => Restart::Clean,
        1 => Restart::Torn,
        _ => Restart::Scrambled(rng.next_u64()),
    }
}

/// What one trial exercised.
#[derive(Default, Debug)]
struct Tally {
    trials: u64,
    crashed_mid_workload: u64,
    scrambled: u64,
    crashed_in_recovery: u64,
    options_changed: u64,
    concurrent_maintenance: u64,
    /// FIFO trials whose recovered database had lost writes to drops.
    fifo_dropped: u64,
}

/// What a workload left before the power went: the state after each acknowledged
/// operation (`states[0]` the initial one), the first that recovery may return (after
/// the last durable operation), and the state the failed operation would have made.
struct Acknowledged<S> {
    states: Vec<S>,
    durable_from: usize,
    in_flight: Option<S>,
}

impl<S> Acknowledged<S> {
    /// The states recovery may return: from the last durable one on, and the one the
    /// failed operation would have made.
    fn candidates(&self) -> Vec<&S> {
        self.states[self.durable_from..].iter().chain(self.in_flight.as_ref()).collect()
    }
}

/// Every entry of `db`'s default keyspace.
fn read_all(db: &Db) -> Model {
    db.range::<&[u8], _>(..).map(|r| r.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

/// Runs STRATA_CRASH_TRIALS (8,000 by default) divided by `share` trials of `trial`,
/// trial `t` with seed `t * mul ^ xor`; prints what they exercised under `name` and
/// asserts that most crashed mid-workload. Returns the count and the tally.
fn run_trials(name: &str, share: u64, (mul, xor): (u64, u64), trial: fn(u64, &mut Tally)) -> (u64, Tally) {
    let trials: u64 = std::env::var("STRATA_CRASH_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(8000) / share;
    let mut tally = Tally::default();
    for t in 0..trials {
        trial(t.wrapping_mul(mul) ^ xor, &mut tally);
    }
    println!("{name}: {tally:?}");
    assert!(tally.crashed_mid_workload > trials / 2, "too few trials crashed mid-workload: {tally:?}");
    (trials, tally)
}

/// Runs up to 80 operations made by `next_op` from `initial`, until one fails (the
/// power went): `apply` gives an operation's effect on the model, `run` performs it,
/// and `durable` says whether, once acknowledged, it survives a power loss with all
/// before it (with `sync_writes`, every operation does).
fn run_until_power_loss<S: Clone, O>(
    rng: &mut Rng,
    initial: S,
    sync: bool,
    mut next_op: impl FnMut(&mut Rng, &S) -> O,
    apply: impl Fn(&mut S, &O),
    mut run: impl FnMut(&O) -> strata::Result<()>,
    durable: impl Fn(&O) -> bool,
) -> Acknowledged<S> {
    let mut ack = Acknowledged { states: vec![initial], durable_from: 0, in_flight: None };
    for _ in 0..80 {
        let last = ack.states.last().expect("the initial state");
        let op = next_op(rng, last);
        let mut next = last.clone();
        apply(&mut next, &op);
        match run(&op) {
            Ok(()) => {
                ack.states.push(next);
                if sync || durable(&op) {
                    ack.durable_from = ack.states.len() - 1;
                }
            }
            Err(_) => {
                ack.in_flight = Some(next);
                break;
            }
        }
    }
    ack
}

/// Brings the disk back after the power loss as a random [`Restart`] does, and now
/// and then loses power again during a recovery (`open`) before the one that counts.
fn restore_power(fs: &FaultyFs, rng: &mut Rng, tally: &mut Tally, open: impl Fn() -> strata::Result<Db>) -> Restart {
    let how = random_restart(rng);
    tally.scrambled += u64::from(matches!(how, Restart::Scrambled(_)));
    restart(fs, how);
    if rng.below(3) == 0 {
        fs.crash_after(1 + rng.below(30));
        if let Ok(db) = open() {
            fs.crash();
            drop(db);
        }
        tally.crashed_in_recovery += 1;
        restart(fs, random_restart(rng));
    }
    how
}

/// One (seed, crash point) trial.
fn trial(seed: u64, tally: &mut Tally) {
    let mut rng = Rng(seed | 1);
    let sync = rng.below(2) == 0;
    let setup = Setup::random(&mut rng, sync);
    let fs = Arc::new(FaultyFs::new());
    let dir = Path::new("/db");
    let db = Db::open(dir, setup.options(&fs)).unwrap();
    // Another thread flushing and compacting while the workload runs (its calls change
    // no data, so the model is the workload's alone).
    let maintenance = (rng.below(4) == 0).then(|| {
        tally.concurrent_maintenance += 1;
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..200u32 {
                let done = if i % 3 == 0 { db.compact() } else { db.flush() };
                if done.is_err() {
                    return;
                }
            }
        })
    });
    fs.crash_after(1 + rng.below(400));
    let ack = run_until_power_loss(
        &mut rng,
        Model::new(),
        sync,
        |rng, _| random_op(rng),
        apply,
        |op| run_op(&db, op),
        |op| matches!(op, DbOp::Sync | DbOp::SyncedPut(..)),
    );
    tally.trials += 1;
    tally.crashed_mid_workload += u64::from(fs.is_crashed());
    fs.crash();
    if let Some(m) = maintenance {
        m.join().unwrap();
    }
    drop(db);

    // Reopen, perhaps with other options, and perhaps losing power again during
    // recovery itself.
    let setup = if rng.below(3) == 0 {
        tally.options_changed += 1;
        Setup::random(&mut rng, sync)
    } else {
        setup
    };
    let how = restore_power(&fs, &mut rng, tally, || Db::open(dir, setup.options(&fs)));
    let db = Db::open(dir, setup.options(&fs))
        .unwrap_or_else(|e| panic!("seed {seed} ({setup:?}, {how:?}): reopen failed: {e}"));
    let got = read_all(&db);
    for (k, v) in &got {
        assert_eq!(db.get(k).unwrap().as_deref(), Some(&v[..]), "seed {seed}: get and scan disagree");
    }
    let candidates = ack.candidates();
    assert!(
        candidates.iter().any(|m| **m == got),
        "seed {seed} ({setup:?}, {how:?}): recovered state matches no acknowledged prefix from op {} of {}; got {} keys",
        ack.durable_from,
        ack.states.len() - 1,
        got.len()
    );
    // The recovered database works.
    db.put("after", "crash").unwrap();
    db.flush().unwrap();
}

#[test]
fn power_loss_at_random_points_recovers_an_acknowledged_prefix() {
    let (trials, tally) = run_trials("power loss", 1, (0x9e37_79b9_7f4a_7c15, 0x5555), trial);
    assert!(tally.scrambled > trials / 4 && tally.crashed_in_recovery > trials / 5, "{tally:?}");
}

/// Every keyspace's model, by name; a keyspace that does not exist has none.
type Spaces = BTreeMap<String, Model>;

/// The keyspaces a keyspace trial creates and drops (besides "default"), with their
/// own strategy and memtable size.
const SPACES: [&str; 2] = ["log", "index"];

fn space_options(fs: &Arc<FaultyFs>, setup: &Setup, name: &str) -> strata::Options {
    // Each keyspace on a strategy of its own, other than the default keyspace's.
    let all = common::all_strategies();
    let strategy = all[(setup.strategy + if name == "log" { 1 } else { 2 }) % all.len()].clone();
    common::faulty_options(fs, setup.sync, false).compaction(strategy).memtable_size(if name == "log" {
        1024
    } else {
        8192
    })
}

/// One operation of a keyspace trial.
enum SpaceOp {
    /// A write (put, delete, range deletion) in one keyspace.
    Write(String, DbOp),
    /// A batch of writes across keyspaces.
    Batch(Vec<(String, DbOp)>),
    SyncedPut(String, Vec<u8>, Vec<u8>),
    Sync,
    /// Flush every keyspace (`None`) or one.
    Flush(Option<String>),
    Compact(String),
    Create(String),
    Drop(String),
}

fn random_space_op(rng: &mut Rng, spaces: &Spaces) -> SpaceOp {
    let live: Vec<&String> = spaces.keys().collect();
    let pick = |rng: &mut Rng| live[rng.below(live.len() as u64) as usize].clone();
    let write = |rng: &mut Rng| match rng.below(8) {
        0 => delete_range(rng),
        1..=2 => DbOp::Delete(key(rng)),
        _ => DbOp::Put(key(rng), value(rng)),
    };
    match rng.below(100) {
        0..=44 => {
            let space = pick(rng);
            SpaceOp::Write(space, write(rng))
        }
        45..=64 => SpaceOp::Batch((0..1 + rng.below(5)).map(|_| (pick(rng), write(rng))).collect()),
        65..=69 => SpaceOp::SyncedPut(pick(rng), key(rng), value(rng)),
        70..=73 => SpaceOp::Sync,
        74..=80 => SpaceOp::Flush((rng.below(2) == 0).then(|| pick(rng))),
        81..=85 => SpaceOp::Compact(pick(rng)),
        _ => {
            let name = SPACES[rng.below(2) as usize].to_string();
            if spaces.contains_key(&name) {
                SpaceOp::Drop(name)
            } else {
                SpaceOp::Create(name)
            }
        }
    }
}

fn apply_space_op(spaces: &mut Spaces, op: &SpaceOp) {
    match op {
        SpaceOp::Write(name, w) => {
            if let Some(m) = spaces.get_mut(name) {
                apply(m, w);
            }
        }
        SpaceOp::Batch(writes) => {
            for (name, w) in writes {
                if let Some(m) = spaces.get_mut(name) {
                    apply(m, w);
                }
            }
        }
        SpaceOp::SyncedPut(name, k, v) => {
            if let Some(m) = spaces.get_mut(name) {
                m.insert(k.clone(), v.clone());
            }
        }
        SpaceOp::Create(name) => {
            spaces.insert(name.clone(), Model::new());
        }
        SpaceOp::Drop(name) => {
            spaces.remove(name);
        }
        SpaceOp::Sync | SpaceOp::Flush(_) | SpaceOp::Compact(_) => {}
    }
}

fn run_space_op(
    db: &Db,
    handles: &mut BTreeMap<String, strata::Keyspace>,
    fs: &Arc<FaultyFs>,
    setup: &Setup,
    op: &SpaceOp,
) -> strata::Result<()> {
    let add = |b: &mut WriteBatch, h: &strata::Keyspace, w: &DbOp| match w {
        DbOp::Put(k, v) => b.put_in(h, k, v),
        DbOp::Delete(k) => b.delete_in(h, k),
        DbOp::DeleteRange(s, e) => b.delete_range_in(h, s, e),
        _ => unreachable!("batches hold writes only"),
    };
    match op {
        SpaceOp::Write(name, w) => {
            let mut b = WriteBatch::new();
            add(&mut b, &handles[name], w);
            db.write(b)
        }
        SpaceOp::Batch(writes) => {
            let mut b = WriteBatch::new();
            for (name, w) in writes {
                add(&mut b, &handles[name], w);
            }
            db.write(b)
        }
        SpaceOp::SyncedPut(name, k, v) => {
            let mut b = WriteBatch::new();
            b.put_in(&handles[name], k, v);
            db.write_opt(b, &WriteOptions::new().sync(true))
        }
        SpaceOp::Sync => db.sync(),
        SpaceOp::Flush(None) => db.flush(),
        SpaceOp::Flush(Some(name)) => handles[name].flush(),
        SpaceOp::Compact(name) => handles[name].compact(),
        SpaceOp::Create(name) => {
            let handle = db.keyspace_with(name, space_options(fs, setup, name))?;
            handles.insert(name.clone(), handle);
            Ok(())
        }
        SpaceOp::Drop(name) => {
            db.drop_keyspace(name)?;
            handles.remove(name);
            Ok(())
        }
    }
}

/// Every keyspace of `db` with its contents.
fn read_spaces(db: &Db) -> Spaces {
    db.keyspace_names()
        .into_iter()
        .map(|name| {
            let ks = db.keyspace(&name).unwrap();
            let m = ks.range::<&[u8], _>(..).map(|r| r.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            (name, m)
        })
        .collect()
}

/// A trial with several keyspaces of different strategies: writes and batches across
/// them, keyspaces created and dropped, power lost at a random point (also during
/// recovery). The recovered keyspaces, their names and contents, must be one state
/// after an acknowledged operation from the last durable one on (creating and dropping
/// a keyspace are durable, and sync the WAL first), or the one in flight.
fn keyspace_trial(seed: u64, tally: &mut Tally) {
    let mut rng = Rng(seed | 1);
    let sync = rng.below(2) == 0;
    let setup = Setup::random(&mut rng, sync);
    let fs = Arc::new(FaultyFs::new());
    let dir = Path::new("/db");
    let db = Db::open(dir, setup.options(&fs)).unwrap();
    let mut handles = BTreeMap::from([("default".to_string(), db.keyspace("default").unwrap())]);
    let mut initial = Spaces::from([("default".to_string(), Model::new())]);
    // A keyspace or two to start with, made before power can fail.
    for name in SPACES.iter().filter(|_| rng.below(2) == 0) {
        let op = SpaceOp::Create(name.to_string());
        run_space_op(&db, &mut handles, &fs, &setup, &op).unwrap();
        apply_space_op(&mut initial, &op);
    }
    fs.crash_after(1 + rng.below(400));
    let ack = run_until_power_loss(
        &mut rng,
        initial,
        sync,
        random_space_op,
        apply_space_op,
        |op| run_space_op(&db, &mut handles, &fs, &setup, op),
        // Creating and dropping a keyspace sync the WAL and the MANIFEST.
        |op| matches!(op, SpaceOp::Sync | SpaceOp::SyncedPut(..) | SpaceOp::Create(_) | SpaceOp::Drop(_)),
    );
    tally.trials += 1;
    tally.crashed_mid_workload += u64::from(fs.is_crashed());
    fs.crash();
    drop(handles);
    drop(db);
    let how = restore_power(&fs, &mut rng, tally, || Db::open(dir, setup.options(&fs)));
    let db = Db::open(dir, setup.options(&fs))
        .unwrap_or_else(|e| panic!("seed {seed} ({setup:?}, {how:?}): reopen failed: {e}"));
    let got = read_spaces(&db);
    let candidates = ack.candidates();
    assert!(
        candidates.iter().any(|s| **s == got),
        "seed {seed} ({setup:?}, {how:?}): recovered keyspaces match no acknowledged state from op {} of {}; got {:?}",
        ack.durable_from,
        ack.states.len() - 1,
        got.iter().map(|(n, m)| (n, m.len())).collect::<Vec<_>>()
    );
    // The recovered database works, keyspaces included.
    for name in got.keys() {
        db.keyspace(name).unwrap().put("after", "crash").unwrap();
    }
    db.flush().unwrap();
}

#[test]
fn power_loss_with_keyspaces_recovers_an_acknowledged_prefix_of_every_keyspace() {
    run_trials("power loss with keyspaces", 4, (0xbf58_476d_1ce4_e5b9, 0x7777), keyspace_trial);
}

/// One trial of FIFO dropping tables around the power loss: puts and deletes whose
/// values name the operation that wrote them, flushes and syncs, under a limit that a
/// few memtables exceed. FIFO loses data by design, so the recovered state must be an
/// acknowledged state with its oldest writes gone: every key present holds that state's
/// value, and every key missing was last written before every key present.
fn fifo_trial(seed: u64, tally: &mut Tally) {
    let mut rng = Rng(seed | 1);
    let sync = rng.below(2) == 0;
    let fs = Arc::new(FaultyFs::new());
    let dir = Path::new("/db");
    let limit = [2 * 1024, 4 * 1024, 8 * 1024][rng.below(3) as usize];
    // Half the trials with a maximum age no table reaches: the tables' write times
    // (MANIFEST field 12) go through the torn and scrambled MANIFEST writes too.
    let fifo = if rng.below(2) == 0 {
        strata::Compaction::fifo(limit)
    } else {
        strata::Compaction::fifo_with_max_age(limit, std::time::Duration::from_secs(3600))
    };
    let options = || {
        common::faulty_options(&fs, sync, false)
            .memtable_size(2048)
            .compression(strata::Compression::None)
            .compaction(fifo.clone())
    };
    let db = Db::open(dir, options()).unwrap();
    fs.crash_after(1 + rng.below(300));
    let mut n = 0u32;
    let ack = run_until_power_loss(
        &mut rng,
        Model::new(),
        sync,
        |rng, _| {
            n += 1;
            match rng.below(20) {
                0 => DbOp::Flush,
                1 => DbOp::Sync,
                2..=4 => DbOp::Delete(key(rng)),
                _ => DbOp::Put(key(rng), format!("{n:06}-{}", "v".repeat(rng.below(1200) as usize)).into_bytes()),
            }
        },
        apply,
        |op| run_op(&db, op),
        |op| matches!(op, DbOp::Sync),
    );
    tally.trials += 1;
    tally.crashed_mid_workload += u64::from(fs.is_crashed());
    fs.crash();
    drop(db);
    let how = restore_power(&fs, &mut rng, tally, || Db::open(dir, options()));
    let db = Db::open(dir, options()).unwrap_or_else(|e| panic!("seed {seed} ({how:?}): reopen failed: {e}"));
    let got = read_all(&db);
    let written = |v: &[u8]| -> u32 { std::str::from_utf8(&v[..6]).unwrap().parse().unwrap() };
    let oldest_present = got.values().map(|v| written(v)).min().unwrap_or(u32::MAX);
    let fits = |m: &Model| {
        got.iter().all(|(k, v)| m.get(k) == Some(v))
            && m.iter().filter(|(k, _)| !got.contains_key(*k)).all(|(_, v)| written(v) < oldest_present)
    };
    let candidates = ack.candidates();
    tally.fifo_dropped += u64::from(candidates.iter().all(|m| m.len() > got.len()));
    assert!(
        candidates.into_iter().any(fits),
        "seed {seed} (limit {limit}, sync {sync}, {how:?}): no acknowledged state, less its oldest writes, \
         matches the {} keys recovered",
        got.len()
    );
    db.put("after", "crash").unwrap();
    db.flush().unwrap();
}

#[test]
fn power_loss_under_fifo_drops_only_the_oldest_writes() {
    let (trials, tally) = run_trials("power loss under FIFO", 8, (0x94d0_49bb_1331_11eb, 0x3333), fifo_trial);
    assert!(tally.fifo_dropped > trials / 4, "too few trials dropped tables: {tally:?}");
}
