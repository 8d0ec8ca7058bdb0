//! A follower that was down while the leader snapshotted and purged the log it missed
//! catches up through a snapshot (openraft's full-snapshot transfer, installed into its
//! strata database in one batch), and keeps what it had no more of. The values are 8 KiB,
//! so the snapshot (4 MiB) and the appends (up to 300 entries) are bigger than an HTTP
//! server's default body limit.

mod common;

use std::time::{Duration, Instant};

use common::{must_put, Cluster};
use raft_kv::client::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_a_purged_log_catches_up_through_a_snapshot() {
    // Keep no log below a snapshot; snapshots only when asked.
    let mut cluster = Cluster::start(3, &["--keep", "0", "--snapshot-every", "1000000"]);
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let follower = *cluster.nodes.keys().find(|id| **id != leader).expect("a follower");
    let mut client = cluster.client();
    for i in 0..200 {
        must_put(&mut client, &format!("early-{i:03}"), "1").await;
    }
    // Keys the follower holds and the snapshot will delete: it must not keep them.
    must_put(&mut client, "deleted-later", "x").await;
    let before = client.status(leader).await.and_then(|s| s.applied).expect("leader status");
    cluster.wait_applied(follower, before, Duration::from_secs(30)).await;
    cluster.kill(follower);

    let value = |i: usize| format!("{i}-{}", "x".repeat(8192));
    let mut writers = Vec::new();
    for w in 0..8 {
        let mut client = cluster.client();
        writers.push(tokio::spawn(async move {
            for i in (w..500).step_by(8) {
                must_put(&mut client, &format!("late-{i:03}"), &value(i)).await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("a writer");
    }
    let delete = raft_kv::Request::Delete { key: "deleted-later".into() };
    assert!(matches!(client.write(&delete, Duration::from_secs(20)).await, Outcome::Ok(_)));
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let applied = client.status(leader).await.and_then(|s| s.applied).expect("leader status");
    client.admin(leader, "snapshot", &()).await.expect("snapshot trigger");
    // The log the follower misses must be gone from the leader before it returns.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.status(leader).await.expect("leader status");
        if status.purged.is_some_and(|p| p >= applied) {
            assert!(status.snapshot.is_some_and(|s| s >= applied));
            break;
        }
        assert!(Instant::now() < deadline, "leader did not purge up to {applied}: {status:?}");
        let _ = client.admin(leader, &format!("purge/{applied}"), &()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    cluster.restart(follower);
    cluster.wait_applied(follower, applied, Duration::from_secs(30)).await;
    let status = client.status(follower).await.expect("follower status");
    assert!(
        status.snapshot.is_some_and(|s| s >= applied),
        "the follower caught up without a snapshot of index {applied}: {status:?}"
    );
    // The follower holds exactly the leader's data, the key deleted while it was down
    // included.
    let keys = (0..200).map(|i| format!("early-{i:03}")).chain((0..500).map(|i| format!("late-{i:03}")));
    for key in keys.chain(["deleted-later".to_string()]) {
        let on_leader = client.read_local(leader, &key).await;
        assert!(matches!(on_leader, Outcome::Ok(_)), "{key} on the leader: {on_leader:?}");
        assert_eq!(client.read_local(follower, &key).await, on_leader, "{key}");
    }
    assert_eq!(client.read_local(follower, "late-007").await, Outcome::Ok(Some(value(7))));
    assert_eq!(client.read_local(follower, "deleted-later").await, Outcome::Ok(None));

    // And it serves as a member afterwards: it follows new writes.
    must_put(&mut client, "after-catch-up", "y").await;
    let applied = client.status(leader).await.and_then(|s| s.applied).expect("leader status");
    cluster.wait_applied(follower, applied, Duration::from_secs(30)).await;
    assert_eq!(client.read_local(follower, "after-catch-up").await, Outcome::Ok(Some("y".into())));
}
