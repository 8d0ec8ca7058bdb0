//! The model test: random operations against strata and a `BTreeMap`, compared after
//! every read, across flushes, reopens and snapshots, with a memtable so small that
//! hundreds of SSTables exist. Range deletions, alone and in batches, overlap one
//! another and the snapshots held.

use std::collections::BTreeMap;
use std::ops::Bound;

use strata::{BloomAllocation, Compaction, Db, Keyspace, LeveledOptions, Options, TieredOptions, WriteBatch};

mod common;
use common::Rng;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(rng: &mut Rng) -> Vec<u8> {
    // A small key space so keys are overwritten and deleted often; some prefixes nest.
    let n = rng.below(400);
    let mut k = format!("k{:03}", n).into_bytes();
    if n.is_multiple_of(7) {
        k.push(b'x');
    }
    k
}

/// A range to delete: mostly a few keys wide, sometimes a third of the key space.
fn range_to_delete(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let start = rng.below(400);
    let width = if rng.below(8) == 0 { 1 + rng.below(150) } else { 1 + rng.below(12) };
    (format!("k{start:03}").into_bytes(), format!("k{:03}", start + width).into_bytes())
}

fn delete_range(model: &mut Model, (start, end): &(Vec<u8>, Vec<u8>)) {
    model.retain(|k, _| k < start || k >= end);
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1 => 200 + rng.below(2000) as usize,
        _ => rng.below(40) as usize,
    };
    (0..len).map(|_| rng.below(256) as u8).collect()
}

fn bound(rng: &mut Rng) -> Bound<Vec<u8>> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng)),
        _ => Bound::Excluded(key(rng)),
    }
}

fn expected(model: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let valid = match (lo, hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a < b || (a == b && matches!((lo, hi), (Bound::Included(_), Bound::Included(_))))
        }
        _ => true,
    };
    if !valid {
        return Vec::new();
    }
    model.range((lo.clone(), hi.clone())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn collect(it: impl Iterator<Item = strata::Result<(strata::Bytes, strata::Bytes)>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| r.unwrap()).map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

/// What a cursor visits from `lo` (seeking it) while keys stay within `hi`.
fn cursor_range(mut c: strata::Cursor, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    match lo {
        Bound::Included(k) => c.seek(k),
        Bound::Excluded(k) => {
            c.seek(k);
            if c.valid() && c.key() == k.as_slice() {
                c.next();
            }
        }
        Bound::Unbounded => c.seek_to_first(),
    }
    let mut out = Vec::new();
    while c.valid() {
        let inside = match hi {
            Bound::Included(h) => c.key() <= h.as_slice(),
            Bound::Excluded(h) => c.key() < h.as_slice(),
            Bound::Unbounded => true,
        };
        if !inside {
            break;
        }
        out.push((c.key().to_vec(), c.value().to_vec()));
        c.next();
    }
    c.status().unwrap();
    out
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// No background compaction: hundreds of tables pile up in L0.
    NoCompaction,
    Leveled,
    Tiered,
    /// Lazy leveling (Dostoevsky's K = T-1, Z = 1), with a small size ratio so that the
    /// model's few megabytes span several levels.
    Lazy,
    /// FIFO with a limit the model never reaches (it merges nothing and drops nothing).
    Fifo,
    /// Reopens cycle through every strategy.
    Switching,
}

fn options(mode: Mode, reopens: usize) -> Options {
    // Every third open reads its tables through memory maps, so the model checks that
    // read path too.
    let base = Options::default().memtable_size(2048).block_size(256).block_cache_size(64 * 1024);
    // SAFETY: nothing but the database touches its temporary directory.
    let base = unsafe { base.mmap_reads(reopens % 3 == 1) };
    // Every other open compresses below L0 with zstd (tables of both codecs mix).
    let base = if reopens % 2 == 1 {
        base.compression_per_level([strata::Compression::Lz4, strata::Compression::Zstd])
    } else {
        base
    };
    let mut lazy = LeveledOptions::default();
    lazy.l0_compaction_trigger = 100_000;
    let mut small_tiers = TieredOptions::default();
    small_tiers.min_threshold = 3;
    match mode {
        Mode::NoCompaction => base.compaction(Compaction::Leveled(lazy)),
        Mode::Leveled => base.compaction(Compaction::leveled()),
        Mode::Tiered => base.compaction(Compaction::Tiered(small_tiers)),
        // With Monkey's filters: reads must not care how many bits a table got.
        Mode::Lazy => base.compaction(Compaction::fluid(3, 2, 1)).bloom_allocation(BloomAllocation::Monkey),
        Mode::Fifo => base.compaction(Compaction::fifo(1 << 40)),
        Mode::Switching => {
            let all = common::all_strategies();
            base.compaction(all[reopens % all.len()].clone())
        }
    }
}

/// Runs `ops` random operations. `compact` adds explicit full compactions; the run must
/// at some point hold more than `min_tables` tables at once, and (unless `mode` is
/// `NoCompaction`) background compaction must have run.
fn run(seed: u64, ops: usize, mode: Mode, compact: bool, min_tables: usize) {
    let mut max_tables = 0;
    let mut reopens = 0;
    let mut compactions = 0;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut db = Db::open(dir.path(), options(mode, 0)).unwrap();
    let mut model = Model::new();
    // Snapshots held across operations: (strata snapshot, model copy).
    let mut snaps: Vec<(strata::Snapshot, Model)> = Vec::new();
    for step in 0..ops {
        match rng.below(100) {
            0..=37 => {
                let (k, v) = (key(&mut rng), value(&mut rng));
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            38..=39 => {
                let range = range_to_delete(&mut rng);
                db.delete_range(&range.0, &range.1).unwrap();
                delete_range(&mut model, &range);
            }
            40..=49 => {
                let k = key(&mut rng);
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            50..=56 => {
                let mut batch = WriteBatch::new();
                for _ in 0..rng.below(8) {
                    let k = key(&mut rng);
                    if rng.below(10) == 0 {
                        let range = range_to_delete(&mut rng);
                        batch.delete_range(&range.0, &range.1);
                        delete_range(&mut model, &range);
                    } else if rng.below(3) == 0 {
                        batch.delete(&k);
                        model.remove(&k);
                    } else {
                        let v = value(&mut rng);
                        batch.put(&k, &v);
                        model.insert(k, v);
                    }
                }
                db.write(batch).unwrap();
            }
            57..=74 => {
                let k = key(&mut rng);
                assert_eq!(db.get(&k).unwrap().map(|v| v.to_vec()), model.get(&k).cloned(), "seed {seed} step {step}");
            }
            75..=82 => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                let want = expected(&model, &lo, &hi);
                let got = collect(db.range((lo.clone(), hi.clone())));
                assert_eq!(got, want, "seed {seed} step {step} range {lo:?}..{hi:?}");
                assert_eq!(cursor_range(db.cursor(), &lo, &hi), want, "seed {seed} step {step} cursor");
                let mut rev = collect(db.range((lo, hi)).rev());
                rev.reverse();
                assert_eq!(rev, want, "seed {seed} step {step} reversed");
            }
            83..=85 => {
                let p = format!("k{}", rng.below(40)).into_bytes();
                let want: Vec<_> =
                    model.iter().filter(|(k, _)| k.starts_with(&p)).map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(collect(db.prefix(&p)), want, "seed {seed} step {step} prefix");
            }
            86..=88 => {
                if snaps.len() < 4 {
                    snaps.push((db.snapshot(), model.clone()));
                } else {
                    snaps.remove(rng.below(4) as usize);
                }
            }
            92 => {
                // A transaction: reads a key, writes another; a plain write to the read
                // key before its commit (half the time) must make the commit fail.
                let (read, wrote, v) = (key(&mut rng), key(&mut rng), value(&mut rng));
                let mut txn = db.transaction();
                assert_eq!(
                    txn.get(&read).unwrap().map(|v| v.to_vec()),
                    model.get(&read).cloned(),
                    "seed {seed} step {step} txn"
                );
                txn.put(&wrote, &v);
                assert_eq!(txn.get(&wrote).unwrap().as_deref(), Some(&v[..]), "seed {seed} step {step} own write");
                let interfere = rng.below(2) == 0;
                if interfere {
                    db.delete(&read).unwrap();
                    model.remove(&read);
                }
                match txn.commit() {
                    Ok(()) => {
                        assert!(!interfere, "seed {seed} step {step}: a commit over a changed read");
                        model.insert(wrote, v);
                    }
                    Err(strata::Error::Conflict) => assert!(interfere, "seed {seed} step {step}: a spurious conflict"),
                    Err(e) => panic!("seed {seed} step {step}: {e}"),
                }
            }
            89..=91 => {
                for (snap, m) in &snaps {
                    let k = key(&mut rng);
                    assert_eq!(
                        snap.get(&k).unwrap().map(|v| v.to_vec()),
                        m.get(&k).cloned(),
                        "seed {seed} step {step} snapshot"
                    );
                    let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                    let want = expected(m, &lo, &hi);
                    assert_eq!(collect(snap.range((lo.clone(), hi.clone()))), want, "seed {seed} step {step}");
                    assert_eq!(cursor_range(snap.cursor(), &lo, &hi), want, "seed {seed} step {step} snapshot cursor");
                }
            }
            93..=94 => {
                db.flush().unwrap();
                let tables = db.stats().levels.iter().map(|l| l.files).sum::<usize>();
                max_tables = max_tables.max(tables);
            }
            95 if compact && rng.below(2) == 0 => db.compact().unwrap(),
            95 if compact => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                db.compact_range((lo, hi)).unwrap();
            }
            95 => db.flush().unwrap(),
            96 => {
                // Mixed-direction iteration that meets in the middle.
                let all: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let mut it = db.range::<&[u8], _>(..);
                let (mut front, mut back) = (Vec::new(), Vec::new());
                loop {
                    let item = if rng.below(2) == 0 {
                        it.next().map(|r| (true, r))
                    } else {
                        it.next_back().map(|r| (false, r))
                    };
                    match item {
                        Some((true, r)) => front.push(r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()),
                        Some((false, r)) => back.push(r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()),
                        None => break,
                    }
                }
                back.reverse();
                front.extend(back);
                assert_eq!(front, all, "seed {seed} step {step} two-ended");
            }
            _ => {
                // Before the reopen, a read-only view of the live database and a
                // checkpoint of it must each hold exactly the model.
                let all = expected(&model, &Bound::Unbounded, &Bound::Unbounded);
                let view = Db::open_read_only(dir.path(), options(mode, reopens)).unwrap();
                assert_eq!(collect(view.range::<&[u8], _>(..)), all, "seed {seed} step {step} read-only view");
                drop(view);
                if rng.below(3) == 0 {
                    let copy = dir.path().join(format!("checkpoint-{step}"));
                    db.checkpoint(&copy).unwrap();
                    let c = Db::open_read_only(&copy, options(mode, reopens)).unwrap();
                    assert_eq!(collect(c.range::<&[u8], _>(..)), all, "seed {seed} step {step} checkpoint");
                    drop(c);
                    std::fs::remove_dir_all(&copy).unwrap();
                }
                // Reopen: snapshots do not survive it.
                snaps.clear();
                compactions += db.stats().compactions;
                if rng.below(2) == 0 {
                    db.close().unwrap();
                } else {
                    drop(db);
                }
                reopens += 1;
                db = Db::open(dir.path(), options(mode, reopens)).unwrap();
            }
        }
    }
    assert!(max_tables > min_tables, "expected over {min_tables} tables at once, saw at most {max_tables}");
    compactions += db.stats().compactions;
    if !matches!(mode, Mode::NoCompaction | Mode::Fifo) {
        assert!(compactions > 0, "{mode:?}: no compaction ran");
    }
    assert_eq!(collect(db.range::<&[u8], _>(..)), expected(&model, &Bound::Unbounded, &Bound::Unbounded));
}

/// Without compaction, so hundreds of tables pile up in L0.
#[test]
fn model_many_tables() {
    run(0x9e3779b97f4a7c15, 6000, Mode::NoCompaction, false, 200);
}

#[test]
fn model_with_full_compactions() {
    run(0x1234_5678_9abc_def1, 6000, Mode::NoCompaction, true, 20);
}

#[test]
fn model_leveled() {
    run(0x0bad_cafe_f00d_1234, 8000, Mode::Leveled, true, 4);
}

#[test]
fn model_tiered() {
    run(0x5eed_5eed_1234_9876, 8000, Mode::Tiered, true, 4);
}

#[test]
fn model_lazy_leveling() {
    run(0x2468_ace0_1357_9bdf, 8000, Mode::Lazy, true, 4);
}

#[test]
fn model_fifo() {
    run(0x0f1f_0f1f_2e3e_4d5d, 4000, Mode::Fifo, true, 50);
}

#[test]
fn model_switching_strategies() {
    run(0x7777_aaaa_3333_cccc, 6000, Mode::Switching, true, 4);
}

#[test]
fn model_many_short_seeds() {
    for (i, seed) in (1..=24u64).enumerate() {
        let mode = [Mode::Leveled, Mode::Tiered, Mode::Lazy, Mode::Switching][i % 4];
        run(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1, 800, mode, true, 2);
    }
}

/// The named keyspaces the keyspace model creates and drops, with their own options:
/// a small tiered one, a leveled one with a larger memtable, one on the database's.
fn keyspace_options(name: &str) -> Option<Options> {
    let mut small_tiers = TieredOptions::default();
    small_tiers.min_threshold = 3;
    match name {
        "a" => Some(Options::default().memtable_size(1024).block_size(256).compaction(Compaction::Tiered(small_tiers))),
        "b" => Some(Options::default().memtable_size(4096).bloom_bits_per_key(4).compaction(Compaction::leveled())),
        _ => None,
    }
}

fn open_keyspace(db: &Db, name: &str) -> Keyspace {
    match keyspace_options(name) {
        Some(o) => db.keyspace_with(name, o).unwrap(),
        None => db.keyspace(name).unwrap(),
    }
}

/// Several keyspaces against one model each: writes and batches across them,
/// snapshots of all at once, flushes and compactions of one or all, transactions that
/// read in one keyspace and write in another, drops and re-creations, reopens (with
/// a read-only view and a checkpoint checked first).
fn run_keyspaces(seed: u64, ops: usize) {
    const NAMES: [&str; 4] = ["default", "a", "b", "c"];
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut db = Db::open(dir.path(), options(Mode::Leveled, 0)).unwrap();
    let mut models: BTreeMap<&str, Model> = BTreeMap::from([("default", Model::new())]);
    let mut handles: BTreeMap<&str, Keyspace> = BTreeMap::from([("default", db.keyspace("default").unwrap())]);
    let mut snaps: Vec<(strata::Snapshot, BTreeMap<&str, Model>)> = Vec::new();
    let (mut reopens, mut drops, mut cross_batches) = (0, 0, 0);
    for step in 0..ops {
        let name = NAMES[rng.below(4) as usize];
        let ctx = format!("seed {seed} step {step} keyspace {name}");
        match rng.below(100) {
            0..=29 if handles.contains_key(name) => {
                let (k, v) = (key(&mut rng), value(&mut rng));
                handles[name].put(&k, &v).unwrap();
                models.get_mut(name).unwrap().insert(k, v);
            }
            30..=34 if handles.contains_key(name) => {
                let k = key(&mut rng);
                handles[name].delete(&k).unwrap();
                models.get_mut(name).unwrap().remove(&k);
            }
            35..=36 if handles.contains_key(name) => {
                let range = range_to_delete(&mut rng);
                handles[name].delete_range(&range.0, &range.1).unwrap();
                delete_range(models.get_mut(name).unwrap(), &range);
            }
            37..=46 => {
                // A batch across the live keyspaces.
                let mut batch = WriteBatch::new();
                let live: Vec<&str> = handles.keys().copied().collect();
                for _ in 0..1 + rng.below(8) {
                    let ks = live[rng.below(live.len() as u64) as usize];
                    let (handle, model) = (&handles[ks], models.get_mut(ks).unwrap());
                    let k = key(&mut rng);
                    match rng.below(10) {
                        0 => {
                            let range = range_to_delete(&mut rng);
                            batch.delete_range_in(handle, &range.0, &range.1);
                            delete_range(model, &range);
                        }
                        1..=3 => {
                            batch.delete_in(handle, &k);
                            model.remove(&k);
                        }
                        _ => {
                            let v = value(&mut rng);
                            batch.put_in(handle, &k, &v);
                            model.insert(k, v);
                        }
                    }
                }
                db.write(batch).unwrap();
                cross_batches += 1;
            }
            47..=62 if handles.contains_key(name) => {
                let k = key(&mut rng);
                assert_eq!(handles[name].get(&k).unwrap().map(|v| v.to_vec()), models[name].get(&k).cloned(), "{ctx}");
            }
            63..=70 if handles.contains_key(name) => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                let want = expected(&models[name], &lo, &hi);
                assert_eq!(collect(handles[name].range((lo.clone(), hi.clone()))), want, "{ctx} range");
                let mut rev = collect(handles[name].range((lo, hi)).rev());
                rev.reverse();
                assert_eq!(rev, want, "{ctx} reversed");
            }
            71..=73 => {
                if snaps.len() < 3 {
                    snaps.push((db.snapshot(), models.clone()));
                } else {
                    snaps.remove(rng.below(3) as usize);
                }
            }
            74..=77 => {
                // Every snapshot sees each live keyspace as it was then: empty if it
                // was created (or re-created) since.
                for (snap, m) in &snaps {
                    for (ks, handle) in &handles {
                        let empty = Model::new();
                        let model = m.get(ks).unwrap_or(&empty);
                        let k = key(&mut rng);
                        let got = snap.get_in(handle, &k).unwrap().map(|v| v.to_vec());
                        assert_eq!(got, model.get(&k).cloned(), "{ctx} snapshot of {ks}");
                        let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                        let want = expected(model, &lo, &hi);
                        assert_eq!(collect(snap.range_in(handle, (lo, hi))), want, "{ctx} snapshot range of {ks}");
                    }
                }
            }
            78..=80 => {
                // A transaction reading in one keyspace and writing in another; a plain
                // write to what it read before its commit must make it fail.
                let live: Vec<&str> = handles.keys().copied().collect();
                let (from, to) =
                    (live[rng.below(live.len() as u64) as usize], live[rng.below(live.len() as u64) as usize]);
                let (read, wrote, v) = (key(&mut rng), key(&mut rng), value(&mut rng));
                let mut txn = db.transaction();
                let seen = txn.get_in(&handles[from], &read).unwrap().map(|v| v.to_vec());
                assert_eq!(seen, models[from].get(&read).cloned(), "{ctx} txn read");
                txn.put_in(&handles[to], &wrote, &v);
                let interfere = rng.below(2) == 0;
                if interfere {
                    handles[from].delete(&read).unwrap();
                    models.get_mut(from).unwrap().remove(&read);
                }
                match txn.commit() {
                    Ok(()) => {
                        assert!(!interfere, "{ctx}: a commit over a changed read");
                        models.get_mut(to).unwrap().insert(wrote, v);
                    }
                    Err(strata::Error::Conflict) => assert!(interfere, "{ctx}: a spurious conflict"),
                    Err(e) => panic!("{ctx}: {e}"),
                }
            }
            81..=84 => match handles.get(name) {
                Some(h) if rng.below(2) == 0 => h.flush().unwrap(),
                _ => db.flush().unwrap(),
            },
            85..=86 => match handles.get(name) {
                Some(h) if rng.below(2) == 0 => h.compact().unwrap(),
                Some(h) => h.compact_range((bound(&mut rng), bound(&mut rng))).unwrap(),
                None => db.wait_for_compactions().unwrap(),
            },
            87..=89 if name != "default" => {
                if let Some(old) = handles.remove(name) {
                    db.drop_keyspace(name).unwrap();
                    models.remove(name);
                    // A keyspace created again under the name is another one, which the
                    // snapshots taken before saw empty.
                    for (_, m) in &mut snaps {
                        m.remove(name);
                    }
                    assert!(old.get("k001").is_err() && old.put("k001", "v").is_err(), "{ctx}: a dropped handle works");
                    let mut batch = WriteBatch::new();
                    batch.put_in(&old, "k001", "v");
                    assert!(db.write(batch).is_err(), "{ctx}: a batch into a dropped keyspace");
                    drops += 1;
                } else {
                    handles.insert(name, open_keyspace(&db, name));
                    models.insert(name, Model::new());
                }
            }
            90..=91 => {
                let mut names = vec!["default"];
                names.extend(handles.keys().copied().filter(|&n| n != "default"));
                let mut got = db.keyspace_names();
                got[1..].sort();
                assert_eq!(got, names, "{ctx} names");
            }
            92 => {
                // Before the reopen, a read-only view and (sometimes) a checkpoint hold
                // every keyspace exactly as the models do.
                let check = |view: &Db, what: &str| {
                    for (ks, model) in &models {
                        let handle = view.keyspace(ks).unwrap();
                        let all = expected(model, &Bound::Unbounded, &Bound::Unbounded);
                        let got = collect(handle.range::<&[u8], _>(..));
                        // Keys only: the values make a failure unreadable.
                        let keys = |v: &[(Vec<u8>, Vec<u8>)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
                        assert_eq!(keys(&got), keys(&all), "{ctx} {what} of {ks}: keys");
                        assert!(got == all, "{ctx} {what} of {ks}: values");
                    }
                };
                check(&Db::open_read_only(dir.path(), options(Mode::Leveled, reopens)).unwrap(), "read-only view");
                if rng.below(2) == 0 {
                    let copy = dir.path().join(format!("checkpoint-{step}"));
                    db.checkpoint(&copy).unwrap();
                    check(&Db::open(&copy, options(Mode::Leveled, reopens)).unwrap(), "checkpoint");
                    std::fs::remove_dir_all(&copy).unwrap();
                }
                snaps.clear();
                handles.clear();
                if rng.below(2) == 0 {
                    db.close().unwrap();
                } else {
                    drop(db);
                }
                reopens += 1;
                db = Db::open(dir.path(), options(Mode::Leveled, reopens)).unwrap();
                for ks in models.keys() {
                    let handle = if rng.below(2) == 0 { db.keyspace(ks).unwrap() } else { open_keyspace(&db, ks) };
                    if *ks == "a" {
                        assert_eq!(handle.stats().strategy, "tiered", "{ctx}: {ks} lost its options");
                    }
                    handles.insert(ks, handle);
                }
            }
            _ => {}
        }
    }
    for (ks, model) in &models {
        assert_eq!(collect(handles[ks].range::<&[u8], _>(..)), expected(model, &Bound::Unbounded, &Bound::Unbounded));
    }
    assert!(reopens > 0 && drops > 0 && cross_batches > 0, "{reopens} reopens, {drops} drops, {cross_batches} batches");
}

#[test]
fn model_keyspaces() {
    run_keyspaces(0x3c6e_f372_fe94_f82b, 8000);
}

#[test]
fn model_keyspaces_short_seeds() {
    for seed in 1..=12u64 {
        run_keyspaces(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, 1000);
    }
}
