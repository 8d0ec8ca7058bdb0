//! Optimistic transactions through the public API: own writes visible, conflicts with
//! plain writes, range deletions and other transactions refused, write skew refused,
//! nothing left behind by a dropped or refused transaction, and money conserved by
//! concurrent transfers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata::{Db, Error, Options, WriteOptions};

mod common;

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().memtable_size(64 << 10)).unwrap();
    (dir, db)
}

fn number(v: Option<strata::Bytes>) -> i64 {
    v.map_or(0, |v| std::str::from_utf8(&v).unwrap().parse().unwrap())
}

#[test]
fn a_transaction_reads_its_own_writes_over_its_snapshot() {
    let (_dir, db) = open();
    db.put("a", "1").unwrap();
    let mut txn = db.transaction();
    let mut peek = db.transaction();
    db.put("b", "later").unwrap(); // after the transactions began: not in their snapshot
    assert_eq!(txn.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(peek.get("b").unwrap(), None);
    peek.put("b", "stale");
    assert!(matches!(peek.commit(), Err(Error::Conflict)), "it read b, which changed since");
    txn.put("a", "2");
    txn.delete("c");
    txn.put("d", "new");
    assert_eq!(txn.get("a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(txn.get("c").unwrap(), None);
    assert_eq!(txn.get("d").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"1"[..]), "nothing applied before commit");
    txn.commit_opt(&WriteOptions::new().sync(true)).unwrap();
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.get("d").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.get("b").unwrap().as_deref(), Some(&b"later"[..]));
}

#[test]
fn a_dropped_or_refused_transaction_leaves_no_trace() {
    let (_dir, db) = open();
    db.put("k", "0").unwrap();
    let seq_before = db.snapshot().sequence();
    {
        let mut txn = db.transaction();
        txn.put("k", "dropped");
        txn.put("other", "dropped");
    }
    let mut loser = db.transaction();
    assert_eq!(loser.get("k").unwrap().as_deref(), Some(&b"0"[..]));
    loser.put("other", "refused");
    db.put("k", "1").unwrap();
    assert!(matches!(loser.commit(), Err(Error::Conflict)));
    assert_eq!(db.get("other").unwrap(), None);
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.snapshot().sequence(), seq_before + 1, "only the plain put took a seqno");
    assert_eq!(db.range::<&str, _>(..).count(), 1);
}

#[test]
fn conflicts_are_found_on_keys_read_or_written_and_only_there() {
    let (_dir, db) = open();
    let (mut read_k, mut wrote_k, mut unrelated, mut ranged) =
        (db.transaction(), db.transaction(), db.transaction(), db.transaction());
    read_k.get("k").unwrap();
    read_k.put("x1", "1");
    wrote_k.put("k", "mine");
    unrelated.get("z").unwrap();
    unrelated.put("x2", "2");
    ranged.get("log:0005").unwrap();
    ranged.put("x3", "3");
    db.put("k", "theirs").unwrap();
    db.delete_range("log:0000", "log:0010").unwrap();
    db.flush().unwrap(); // the check does not depend on where the writes live
    assert!(matches!(read_k.commit(), Err(Error::Conflict)), "read a key written since");
    assert!(matches!(wrote_k.commit(), Err(Error::Conflict)), "wrote a key written since");
    assert!(matches!(ranged.commit(), Err(Error::Conflict)), "read a key a range deletion covered since");
    unrelated.commit().unwrap();
    assert_eq!(db.get("x2").unwrap().as_deref(), Some(&b"2"[..]));
    // A transaction that begins after a write does not conflict with it.
    let mut after = db.transaction();
    assert_eq!(after.get("k").unwrap().as_deref(), Some(&b"theirs"[..]));
    after.put("k", "ok");
    after.commit().unwrap();
    // Two transactions on the same key: the first commit wins.
    let (mut t1, mut t2) = (db.transaction(), db.transaction());
    t1.put("k", "t1");
    t2.put("k", "t2");
    t1.commit().unwrap();
    assert!(matches!(t2.commit(), Err(Error::Conflict)));
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"t1"[..]));
}

#[test]
fn write_skew_on_point_reads_is_refused() {
    // Two doctors on call; each may leave if the other stays. Under snapshot isolation
    // both would leave; serializable point reads refuse the second.
    let (_dir, db) = open();
    db.put("alice", "on").unwrap();
    db.put("bob", "on").unwrap();
    let (mut a, mut b) = (db.transaction(), db.transaction());
    for (txn, me) in [(&mut a, "alice"), (&mut b, "bob")] {
        let on = ["alice", "bob"].iter().filter(|d| txn.get(d).unwrap().as_deref() == Some(&b"on"[..])).count();
        assert_eq!(on, 2);
        txn.put(me, "off");
    }
    a.commit().unwrap();
    assert!(matches!(b.commit(), Err(Error::Conflict)));
    assert_eq!(db.get("bob").unwrap().as_deref(), Some(&b"on"[..]));
}

#[test]
fn a_transaction_older_than_the_conflict_log_is_refused_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().transaction_log_bytes(4096)).unwrap();
    let mut old = db.transaction();
    old.get("a").unwrap();
    old.put("b", "1");
    for i in 0..1000 {
        db.put(format!("unrelated{i}"), "x").unwrap();
    }
    assert!(matches!(old.commit(), Err(Error::Conflict)), "its writes can no longer be checked");
    let mut retry = db.transaction();
    retry.get("a").unwrap();
    retry.put("b", "1");
    retry.commit().unwrap();
    assert_eq!(db.get("b").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn four_threads_increment_a_counter_exactly_4000_times() {
    let (_dir, db) = open();
    let conflicts = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    loop {
                        let mut txn = db.transaction();
                        let n = number(txn.get("counter").unwrap());
                        txn.put("counter", (n + 1).to_string());
                        match txn.commit() {
                            Ok(()) => break,
                            Err(Error::Conflict) => {
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(number(db.get("counter").unwrap()), 4000);
    println!("{} conflicts retried", conflicts.load(Ordering::Relaxed));
}

#[test]
fn concurrent_transfers_conserve_money_in_every_snapshot() {
    const ACCOUNTS: u64 = 10;
    const START: i64 = 100;
    let (_dir, db) = open();
    for a in 0..ACCOUNTS {
        db.put(format!("acct{a}"), START.to_string()).unwrap();
    }
    let total = |read: &dyn Fn(&str) -> Option<strata::Bytes>| -> i64 {
        (0..ACCOUNTS).map(|a| number(read(&format!("acct{a}")))).sum()
    };
    let done = AtomicBool::new(false);
    let db = Arc::new(db);
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for t in 0..4u64 {
            let db = db.clone();
            workers.push(s.spawn(move || {
                let mut rand = common::below(0x9e37_79b9_7f4a_7c15u64 ^ t);
                for _ in 0..500 {
                    let (from, to) = (rand(ACCOUNTS), rand(ACCOUNTS));
                    let amount = rand(20) as i64;
                    loop {
                        let mut txn = db.transaction();
                        let a = number(txn.get(format!("acct{from}")).unwrap());
                        let b = number(txn.get(format!("acct{to}")).unwrap());
                        if from != to {
                            txn.put(format!("acct{from}"), (a - amount).to_string());
                            txn.put(format!("acct{to}"), (b + amount).to_string());
                        }
                        match txn.commit() {
                            Ok(()) => break,
                            Err(Error::Conflict) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            }));
        }
        // Meanwhile every snapshot, and a flush now and then, sees the same total.
        let checker = s.spawn(|| {
            let mut checks = 0;
            while !done.load(Ordering::Acquire) {
                let snap = db.snapshot();
                assert_eq!(total(&|k| snap.get(k).unwrap()), ACCOUNTS as i64 * START);
                checks += 1;
                if checks % 50 == 0 {
                    db.flush().unwrap();
                }
            }
            checks
        });
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        assert!(checker.join().unwrap() > 0);
    });
    assert_eq!(total(&|k| db.get(k).unwrap()), ACCOUNTS as i64 * START);
}

#[test]
fn a_range_read_merges_pending_writes_over_the_snapshot() {
    use std::collections::BTreeMap;
    use std::ops::Bound::{self, Excluded, Included, Unbounded};
    let (_dir, db) = open();
    let mut model = BTreeMap::new();
    let mut rand = common::below(77u64);
    let key = |i: u64| format!("k{i:02}");
    for i in 0..40 {
        if rand(2) == 0 {
            db.put(key(i), format!("db{i}")).unwrap();
            model.insert(key(i), format!("db{i}"));
        }
    }
    db.flush().unwrap();
    let mut txn = db.transaction();
    db.put(key(99), "after the snapshot").unwrap(); // invisible to the transaction
    for _ in 0..30 {
        let i = rand(45);
        if rand(3) == 0 {
            txn.delete(key(i));
            model.remove(&key(i));
        } else {
            txn.put(key(i), format!("txn{i}"));
            model.insert(key(i), format!("txn{i}"));
        }
    }
    let bound = |b: u64, i: u64| -> Bound<String> {
        match b {
            0 => Unbounded,
            1 => Included(key(i)),
            _ => Excluded(key(i)),
        }
    };
    for _ in 0..200 {
        let (lo, hi) = (bound(rand(3), rand(45)), bound(rand(3), rand(45)));
        let got: Vec<(String, String)> = txn
            .range((lo.clone(), hi.clone()))
            .map(|e| e.unwrap())
            .map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap()))
            .collect();
        let valid = match (&lo, &hi) {
            (Included(a) | Excluded(a), Included(b) | Excluded(b)) => {
                a < b || (a == b && matches!((&lo, &hi), (Included(_), Included(_))))
            }
            _ => true,
        };
        let want: Vec<(String, String)> = if valid {
            model.range((lo.clone(), hi.clone())).map(|(k, v)| (k.clone(), v.clone())).collect()
        } else {
            vec![]
        };
        assert_eq!(got, want, "{lo:?}..{hi:?}");
    }
    txn.commit().unwrap(); // range reads are not validated: key 99 is no conflict
    let all: Vec<_> = db.range::<&str, _>(..).map(|e| e.unwrap().0).collect();
    assert_eq!(all.len(), model.len() + 1);
}

#[test]
fn a_live_transaction_does_not_keep_the_database_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("k", "v").unwrap();
    let mut txn = db.transaction();
    txn.put("k", "w");
    drop(db);
    let reopened = Db::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(txn.commit(), Err(Error::Closed)));
    assert_eq!(reopened.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn transactions_span_keyspaces_and_conflicts_stay_within_one() {
    let (_dir, db) = open();
    let (checking, savings) = (db.keyspace("checking").unwrap(), db.keyspace("savings").unwrap());
    // The same key in two keyspaces is two keys: no conflict between them.
    let mut txn = db.transaction();
    assert_eq!(txn.get_in(&checking, "alice").unwrap(), None);
    txn.put_in(&savings, "alice", "1");
    assert_eq!(txn.get_in(&savings, "alice").unwrap().as_deref(), Some(&b"1"[..]), "its own write");
    savings.put("bob", "x").unwrap();
    db.put("alice", "x").unwrap();
    txn.commit().unwrap();
    // A range read in a keyspace merges its pending writes there, and only there.
    let mut txn = db.transaction();
    txn.put_in(&savings, "carol", "2");
    txn.delete_in(&savings, "bob");
    txn.put("dave", "3");
    let keys = |it: strata::TransactionIter<'_>| it.map(|e| e.unwrap().0).collect::<Vec<_>>();
    assert_eq!(keys(txn.range_in::<&str, _>(&savings, ..)), ["alice", "carol"]);
    assert_eq!(keys(txn.range_in(&checking, "a".."z")), Vec::<strata::Bytes>::new());
    assert_eq!(keys(txn.range::<&str, _>(..)), ["alice", "dave"]);
    drop(txn);
    // A write to the key it read, in that keyspace, is a conflict.
    let mut txn = db.transaction();
    txn.get_in(&checking, "alice").unwrap();
    txn.put("done", "1");
    checking.put("alice", "5").unwrap();
    assert!(matches!(txn.commit(), Err(Error::Conflict)));
    assert_eq!(db.get("done").unwrap(), None);
    // A transaction writing into a dropped keyspace is refused whole.
    let scratch = db.keyspace("scratch").unwrap();
    let mut txn = db.transaction();
    txn.put_in(&scratch, "k", "v");
    txn.put("also", "v");
    db.drop_keyspace("scratch").unwrap();
    assert!(matches!(txn.commit(), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get("also").unwrap(), None);

    // Transfers from checking to savings and back, four threads: the total is constant
    // in every snapshot across both keyspaces.
    for a in 0..5 {
        checking.put(format!("acct{a}"), "100").unwrap();
        savings.put(format!("acct{a}"), "0").unwrap();
    }
    let total = |snap: &strata::Snapshot| -> i64 {
        (0..5)
            .map(|a| {
                let k = format!("acct{a}");
                number(snap.get_in(&checking, &k).unwrap()) + number(snap.get_in(&savings, &k).unwrap())
            })
            .sum()
    };
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (db, checking, savings) = (&db, &checking, &savings);
            s.spawn(move || {
                let mut rand = common::below(0x2545_f491_4f6c_dd1d ^ t);
                for i in 0..300 {
                    let (k, amount) = (format!("acct{}", rand(5)), rand(10) as i64);
                    let (from, to) = if i % 2 == 0 { (checking, savings) } else { (savings, checking) };
                    loop {
                        let mut txn = db.transaction();
                        let a = number(txn.get_in(from, &k).unwrap());
                        let b = number(txn.get_in(to, &k).unwrap());
                        txn.put_in(from, &k, (a - amount).to_string());
                        txn.put_in(to, &k, (b + amount).to_string());
                        match txn.commit() {
                            Ok(()) => break,
                            Err(Error::Conflict) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
        for _ in 0..200 {
            assert_eq!(total(&db.snapshot()), 500);
        }
    });
    assert_eq!(total(&db.snapshot()), 500);
}
