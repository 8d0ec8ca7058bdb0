//! A cluster of `raft-kv` node processes on 127.0.0.1 for the failure tests: start, kill -9,
//! restart from the same directory, partition, and wait for a leader or for catch-up.

#![allow(dead_code)] // each test file uses part of it

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use raft_kv::client::{Client, Outcome};
use raft_kv::NodeId;
use tempfile::TempDir;

/// Processes of one cluster; killed when dropped.
pub struct Cluster {
    dir: TempDir,
    pub nodes: BTreeMap<NodeId, String>,
    children: BTreeMap<NodeId, Child>,
    extra_args: Vec<String>,
}

/// A free port below Linux's ephemeral range (32768 up), so that no client connection
/// of this or another test holds it when a node (re)binds it.
fn free_port() -> u16 {
    let seed =
        std::process::id() as u64 ^ SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    for i in 0..1000u64 {
        let port = 20_000 + (seed.wrapping_mul(2_654_435_761).wrapping_add(i * 7919) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n) that initialize one cluster; `extra_args` go to each.
    pub fn start(n: u64, extra_args: &[&str]) -> Cluster {
        let nodes: BTreeMap<NodeId, String> = (1..=n).map(|id| (id, format!("127.0.0.1:{}", free_port()))).collect();
        let mut cluster = Cluster {
            dir: TempDir::new().expect("a temporary directory"),
            nodes,
            children: BTreeMap::new(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        for id in 1..=n {
            cluster.restart(id);
        }
        cluster
    }

    /// A client of every node.
    pub fn client(&self) -> Client {
        Client::new(self.nodes.clone(), Duration::from_secs(2))
    }

    /// Starts node `id` (again) from its directory and waits until it listens; panics,
    /// with its log, if it exits instead (a port taken, a store it cannot open).
    pub fn restart(&mut self, id: NodeId) {
        let peers: Vec<String> = self.nodes.iter().map(|(id, addr)| format!("{id}={addr}")).collect();
        let dir = self.dir.path().join(format!("n{id}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("n{id}.log")))
            .expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_raft-kv"))
            .args(["node", "--id", &id.to_string(), "--addr", &self.nodes[&id]])
            .arg("--dir")
            .arg(&dir)
            .args(["--peers", &peers.join(",")])
            .args(["--heartbeat-ms", "100", "--election-ms", "500"])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the raft-kv binary starts");
        self.children.insert(id, child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&self.nodes[&id]).is_err() {
            let exited = self.children.get_mut(&id).and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "node {id} exited ({exited:?}) instead of serving: {}", self.logs());
            assert!(Instant::now() < deadline, "node {id} does not listen: {}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills node `id` with SIGKILL and reaps it.
    pub fn kill(&mut self, id: NodeId) {
        if let Some(mut child) = self.children.remove(&id) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether node `id` is running (as far as this harness knows).
    pub fn is_running(&self, id: NodeId) -> bool {
        self.children.contains_key(&id)
    }

    /// Waits until a running node is leader and a majority of the nodes name it; returns it.
    pub async fn wait_leader(&self, timeout: Duration) -> NodeId {
        let client = self.client();
        let deadline = Instant::now() + timeout;
        loop {
            let mut votes: BTreeMap<NodeId, usize> = BTreeMap::new();
            let mut leaders = BTreeSet::new();
            for id in self.nodes.keys() {
                if let Some(status) = client.status(*id).await {
                    if let Some(leader) = status.leader {
                        *votes.entry(leader).or_default() += 1;
                    }
                    if status.state == "Leader" {
                        leaders.insert(status.id);
                    }
                }
            }
            let majority = self.nodes.len() / 2 + 1;
            if let Some(leader) = leaders.iter().find(|l| votes.get(l).copied().unwrap_or(0) >= majority) {
                return *leader;
            }
            assert!(Instant::now() < deadline, "no leader within {timeout:?}: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_applied(&self, id: NodeId, index: u64, timeout: Duration) {
        let client = self.client();
        let deadline = Instant::now() + timeout;
        loop {
            if client.status(id).await.and_then(|s| s.applied).is_some_and(|a| a >= index) {
                return;
            }
            assert!(Instant::now() < deadline, "node {id} did not apply {index} within {timeout:?}: {}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Cuts node `isolated` off from every other node (both directions), or heals all
    /// links; panics if a running node refuses.
    pub async fn partition(&self, isolated: Option<NodeId>) {
        let client = self.client();
        for id in self.nodes.keys() {
            let blocked: BTreeSet<NodeId> = match isolated {
                None => BTreeSet::new(),
                Some(i) if i == *id => self.nodes.keys().copied().filter(|n| *n != i).collect(),
                Some(i) => [i].into(),
            };
            let result = client.admin(*id, "partition", &blocked).await;
            // A dead node has no links to cut; it starts healed.
            assert!(result.is_ok() || !self.is_running(*id), "node {id} refused the partition: {result:?}");
        }
    }

    /// Every node's log (stderr), for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for id in self.nodes.keys() {
            let path = self.dir.path().join(format!("n{id}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            out += &format!("\n--- node {id} log (last lines) ---\n");
            for line in tail.into_iter().rev() {
                out += line;
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids: Vec<NodeId> = self.children.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
    }
}

/// Writes `key = value` through the leader until it is acknowledged. After an unknown
/// outcome it reads the key back first: a put whose value is there took effect, and
/// putting it again would only repeat it (the tests write each value once).
pub async fn must_put(client: &mut Client, key: &str, value: &str) {
    let request = raft_kv::Request::Put { key: key.into(), value: value.into() };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.write(&request, Duration::from_secs(20)).await {
            Outcome::Ok(response) => return assert!(response.ok),
            Outcome::Unknown(_) if Instant::now() < deadline => {
                if client.read(key, Duration::from_secs(20)).await == Outcome::Ok(Some(value.to_string())) {
                    return;
                }
            }
            other => panic!("put {key} = {value}: {other:?}"),
        }
    }
}
