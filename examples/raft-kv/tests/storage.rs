//! The log store and state machine against openraft's own storage conformance suite, and
//! what the suite cannot check: commands applied, snapshots moved between nodes, and both
//! across a reopen of the strata database.

use std::io::Cursor;

use futures::stream;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;
use openraft::RaftSnapshotBuilder;
use openraft::StorageError;
use raft_kv::log_store::LogStore;
use raft_kv::state_machine::StateMachine;
use raft_kv::store::Store;
use raft_kv::{Request, TypeConfig};
use tempfile::TempDir;

type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let err = |e: std::io::Error| StorageError::read(TypeConfig::err_from_error(&e));
        let dir = TempDir::new().map_err(err)?;
        let store = Store::open(dir.path()).map_err(err)?;
        Ok((dir, LogStore::new(store.clone()), StateMachine::new(store)))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    TypeConfig::run(async { Suite::test_all(Builder).await.unwrap() });
}

fn normal(index: u64, request: Request) -> Entry {
    Entry::new_normal(log_id::<TypeConfig>(1, 1, index), request)
}

fn put(key: &str, value: &str) -> Request {
    Request::Put { key: key.into(), value: value.into() }
}

async fn apply(sm: &mut StateMachine, entries: Vec<Entry>) {
    sm.apply(stream::iter(entries.into_iter().map(|e| Ok((e, None))))).await.unwrap();
}

#[test]
fn commands_apply_in_order_within_a_batch_and_survive_reopen() {
    TypeConfig::run(async {
        let dir = TempDir::new().unwrap();
        {
            let mut sm = StateMachine::new(Store::open(dir.path()).unwrap());
            let cas = |expected: Option<&str>, new: Option<&str>| Request::Cas {
                key: "a".into(),
                expected: expected.map(String::from),
                new: new.map(String::from),
            };
            apply(
                &mut sm,
                vec![
                    normal(1, put("a", "1")),
                    // Sees the put of the same batch: swaps.
                    normal(2, cas(Some("1"), Some("2"))),
                    // Sees the swap: does not apply.
                    normal(3, cas(Some("1"), Some("3"))),
                    normal(4, put("b", "x")),
                    normal(5, Request::Delete { key: "b".into() }),
                ],
            )
            .await;
            assert_eq!(sm.read("a").unwrap().as_deref(), Some("2"));
            assert_eq!(sm.read("b").unwrap(), None);
        }
        let mut sm = StateMachine::new(Store::open(dir.path()).unwrap());
        assert_eq!(sm.read("a").unwrap().as_deref(), Some("2"));
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied.map(|l| l.index), Some(5));
    });
}

#[test]
fn a_snapshot_replaces_another_nodes_data_and_is_kept_across_reopen() {
    TypeConfig::run(async {
        let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        let mut a = StateMachine::new(Store::open(dir_a.path()).unwrap());
        apply(&mut a, (1..=50).map(|i| normal(i, put(&format!("k{i:03}"), &format!("a{i}")))).collect()).await;
        let mut builder = a.get_snapshot_builder().await;
        // Applied after the builder was made: not in the snapshot.
        apply(&mut a, vec![normal(51, put("late", "x"))]).await;
        let snapshot = builder.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id.as_ref().map(|l| l.index), Some(50));

        {
            let mut b = StateMachine::new(Store::open(dir_b.path()).unwrap());
            apply(&mut b, vec![normal(1, put("only-on-b", "y")), normal(2, put(&"\u{ff}".repeat(512), "z"))]).await;
            let data = snapshot.snapshot.clone().into_inner();
            b.install_snapshot(&snapshot.meta, Cursor::new(data)).await.unwrap();
            assert_eq!(b.read("only-on-b").unwrap(), None);
            assert_eq!(b.read(&"\u{ff}".repeat(512)).unwrap(), None);
            assert_eq!(b.read("late").unwrap(), None);
            assert_eq!(b.read("k007").unwrap().as_deref(), Some("a7"));
        }
        let mut b = StateMachine::new(Store::open(dir_b.path()).unwrap());
        let (applied, _) = b.applied_state().await.unwrap();
        assert_eq!(applied.map(|l| l.index), Some(50));
        let current = b.get_current_snapshot().await.unwrap().expect("the installed snapshot is kept");
        assert_eq!(current.meta, snapshot.meta);
        assert_eq!(current.snapshot.into_inner(), snapshot.snapshot.into_inner());
        for i in 1..=50 {
            assert_eq!(b.read(&format!("k{i:03}")).unwrap(), Some(format!("a{i}")));
        }
    });
}

#[test]
fn truncation_and_purge_leave_no_holes_across_reopen() {
    TypeConfig::run(async {
        let dir = TempDir::new().unwrap();
        {
            let mut log = LogStore::new(Store::open(dir.path()).unwrap());
            let entries: Vec<Entry> = (1..=10).map(|i| normal(i, put("k", &i.to_string()))).collect();
            log.append(entries, IOFlushed::noop()).await.unwrap();
            log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 6))).await.unwrap();
            log.purge(log_id::<TypeConfig>(1, 1, 3)).await.unwrap();
        }
        let mut log = LogStore::new(Store::open(dir.path()).unwrap());
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(3));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(6));
        let indexes: Vec<u64> = log.try_get_log_entries(0..).await.unwrap().iter().map(|e| e.index()).collect();
        assert_eq!(indexes, vec![4, 5, 6]);
        // Purging past the last entry (after a snapshot install) leaves an empty log whose
        // last id is the purged one.
        log.purge(log_id::<TypeConfig>(2, 1, 20)).await.unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id.map(|l| l.index), Some(20));
        assert!(log.try_get_log_entries(0..).await.unwrap().is_empty());
    });
}
