//! Keyspaces through the public API: isolation, batches across keyspaces, snapshots,
//! options that persist, drops that stick, and WALs that a quiet keyspace does not pin.

use strata::{Compaction, Db, Options, WriteBatch};

#[test]
fn a_batch_across_keyspaces_applies_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let b = db.keyspace("b").unwrap();
    let mut batch = WriteBatch::new();
    batch.put("k093", "1");
    batch.put_in(&b, "k190", "2");
    batch.put_in(&b, "k338", "3");
    batch.put("k094", "4");
    db.write(batch).unwrap();
    assert_eq!(db.get("k093").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get("k094").unwrap().as_deref(), Some(&b"4"[..]));
    assert_eq!(b.get("k338").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(db.get("k190").unwrap(), None);
    db.flush().unwrap();
    assert_eq!(db.get("k094").unwrap().as_deref(), Some(&b"4"[..]));
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get("k094").unwrap().as_deref(), Some(&b"4"[..]));
    let _ = Compaction::tiered();
}
