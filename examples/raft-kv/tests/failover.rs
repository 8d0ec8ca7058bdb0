//! Three node processes: 1,000 acknowledged writes, kill -9 of the leader, a new leader,
//! every acknowledged write readable, and the killed node back from its own directory and
//! caught up.

mod common;

use std::time::{Duration, Instant};

use common::{must_put, Cluster};
use raft_kv::client::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_acknowledged_write_and_the_node_catches_up() {
    let mut cluster = Cluster::start(3, &[]);
    let first_leader = cluster.wait_leader(Duration::from_secs(30)).await;

    // 1,000 writes from 8 concurrent clients, each acknowledged before the kill.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..8 {
        let mut client = cluster.client();
        tasks.push(tokio::spawn(async move {
            for i in (c..1000).step_by(8) {
                must_put(&mut client, &format!("key-{i:04}"), &format!("value-{i}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer");
    }
    let writes_per_sec = 1000.0 / started.elapsed().as_secs_f64();

    cluster.kill(first_leader);
    let killed_at = Instant::now();
    let mut client = cluster.client();
    // Failover: until a write through the new leader is acknowledged.
    must_put(&mut client, "after-failover", "1").await;
    let failover = killed_at.elapsed();
    let second_leader = cluster.wait_leader(Duration::from_secs(30)).await;
    assert_ne!(second_leader, first_leader);
    println!(
        "1000 writes through node {first_leader}: {writes_per_sec:.0} writes/s (8 clients, debug build); \
         killed it; node {second_leader} took writes {failover:?} later"
    );

    for i in 0..1000 {
        let key = format!("key-{i:04}");
        match client.read(&key, Duration::from_secs(20)).await {
            Outcome::Ok(value) => assert_eq!(value, Some(format!("value-{i}")), "{key} after failover"),
            other => panic!("read {key}: {other:?}"),
        }
    }

    // More writes while the old leader is down, then it restarts from its directory.
    for i in 0..100 {
        must_put(&mut client, &format!("while-down-{i:03}"), "x").await;
    }
    cluster.restart(first_leader);
    let target = cluster.client().status(second_leader).await.and_then(|s| s.applied).expect("leader status");
    cluster.wait_applied(first_leader, target, Duration::from_secs(30)).await;
    for key in ["key-0000", "key-0999", "after-failover", "while-down-000", "while-down-099"] {
        match client.read_local(first_leader, key).await {
            Outcome::Ok(Some(_)) => {}
            other => panic!("restarted node {first_leader} lacks {key}: {other:?}"),
        }
    }
    for i in 0..1000 {
        let key = format!("key-{i:04}");
        let local = client.read_local(first_leader, &key).await;
        assert_eq!(local, Outcome::Ok(Some(format!("value-{i}"))), "{key} on the restarted node");
    }
}
