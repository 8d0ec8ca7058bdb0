//! A Jepsen-style run: clients do random get/put/delete/cas on a few keys while a nemesis
//! kills (kill -9) and restarts nodes and cuts nodes off from the others; the recorded
//! history (invoke, then ok / fail / unknown) must be linearizable per key, final reads
//! after the cluster heals included, so an acknowledged write that was lost fails it.
//!
//! `RAFT_KV_JEPSEN_SECS` (default 24) sets the length of the run and `RAFT_KV_JEPSEN_SEED`
//! the seed (printed at the start).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::Cluster;
use raft_kv::checker::{check, Answer, Command, Operation};
use raft_kv::client::{Client, Outcome};
use raft_kv::{NodeId, Request};

const KEYS: [&str; 3] = ["x", "y", "z"];
const CLIENTS: usize = 5;

/// xorshift64*: enough randomness for choosing operations, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Recorder {
    start: Instant,
    history: Mutex<Vec<Operation>>,
}

impl Recorder {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
    /// Whether some operation completed after `t`.
    fn completed_since(&self, t: u64) -> bool {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.iter().rev().any(|op| op.completed.as_ref().is_some_and(|(done, _)| *done > t))
    }
    fn record(&self, op: Operation) {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    }
}

/// One operation through `client`, recorded unless it certainly failed; its answer if known.
async fn run_op(client: &mut Client, recorder: &Recorder, id: usize, key: &str, command: Command) -> Option<Answer> {
    let patience = Duration::from_secs(1);
    let invoked = recorder.now();
    let completed = match &command {
        Command::Get => match client.read(key, patience).await {
            Outcome::Ok(value) => Some(Answer::Read(value)),
            Outcome::Failed(_) | Outcome::Unknown(_) => return None,
        },
        write => {
            let request = match write.clone() {
                Command::Put(value) => Request::Put { key: key.into(), value },
                Command::Delete => Request::Delete { key: key.into() },
                Command::Cas { expected, new } => Request::Cas { key: key.into(), expected, new },
                Command::Get => unreachable!("reads are handled above"),
            };
            match client.write(&request, patience).await {
                Outcome::Ok(r) => Some(Answer::Write { ok: r.ok, previous: r.previous }),
                Outcome::Failed(_) => return None,
                Outcome::Unknown(_) => None,
            }
        }
    };
    let completed = completed.map(|answer| (recorder.now(), answer));
    let answer = completed.as_ref().map(|(_, answer)| answer.clone());
    recorder.record(Operation { client: id, key: key.into(), command, invoked, completed });
    answer
}

async fn client_loop(mut client: Client, recorder: Arc<Recorder>, id: usize, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = Rng(seed ^ ((id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let mut written = 0u64;
    let mut last_seen: Vec<Option<String>> = vec![None; KEYS.len()];
    while !stop.load(Ordering::Relaxed) {
        let k = rng.below(KEYS.len() as u64) as usize;
        let mut fresh = || {
            written += 1;
            format!("c{id}-{written}")
        };
        let command = match rng.below(100) {
            0..40 => Command::Get,
            40..70 => Command::Put(fresh()),
            70..80 => Command::Delete,
            _ => Command::Cas { expected: last_seen[k].clone(), new: Some(fresh()) },
        };
        // A compare-and-set expects what this client last saw of the key.
        match run_op(&mut client, &recorder, id, KEYS[k], command.clone()).await {
            Some(Answer::Read(value)) => last_seen[k] = value,
            Some(Answer::Write { ok: true, .. }) => {
                last_seen[k] = match command {
                    Command::Put(value) => Some(value),
                    Command::Cas { new, .. } => new,
                    _ => None,
                }
            }
            Some(Answer::Write { ok: false, previous }) => last_seen[k] = previous,
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
    }
}

async fn current_leader(cluster: &Cluster) -> Option<NodeId> {
    let client = cluster.client();
    for id in cluster.nodes.keys() {
        if let Some(status) = client.status(*id).await {
            if status.state == "Leader" {
                return Some(*id);
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_under_kills_and_partitions_are_linearizable() {
    let secs: u64 = std::env::var("RAFT_KV_JEPSEN_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(24);
    let seed: u64 = std::env::var("RAFT_KV_JEPSEN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    println!("jepsen: {secs} s, seed {seed}");
    // Snapshots and purges every few hundred entries, so restarts also go through them.
    let mut cluster = Cluster::start(3, &["--snapshot-every", "300", "--keep", "50"]);
    cluster.wait_leader(Duration::from_secs(30)).await;

    let recorder = Arc::new(Recorder { start: Instant::now(), history: Mutex::new(Vec::new()) });
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client_loop(cluster.client(), recorder.clone(), id, seed, stop.clone())))
        .collect();

    let mut rng = Rng(seed);
    let mut events = Vec::new();
    let mut round = 0;
    while recorder.start.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_millis(800 + rng.below(700))).await;
        // In turn: kill the leader, isolate the leader, kill any node, isolate any node.
        let leader = current_leader(&cluster).await;
        let target = match (round % 4 < 2, leader) {
            (true, Some(leader)) => leader,
            _ => 1 + rng.below(cluster.nodes.len() as u64),
        };
        let role = if Some(target) == leader { "leader" } else { "follower" };
        let at = recorder.start.elapsed().as_secs_f64();
        let hold = Duration::from_millis(1000 + rng.below(1500));
        if round % 2 == 0 {
            cluster.kill(target);
            events.push(format!("{at:.1}s kill -9 node {target} ({role}) for {hold:.1?}"));
            tokio::time::sleep(hold).await;
            cluster.restart(target);
        } else {
            cluster.partition(Some(target)).await;
            events.push(format!("{at:.1}s isolate node {target} ({role}) for {hold:.1?}"));
            tokio::time::sleep(hold).await;
            cluster.partition(None).await;
        }
        // A majority is whole again: operations must complete soon (a fixed window after
        // each event made this flaky: failover and client timeouts can fill it).
        let healed = recorder.now();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !recorder.completed_since(healed) {
            assert!(Instant::now() < deadline, "no operation completed within 15 s after {}", events[round]);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        round += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for task in clients {
        task.await.expect("a client task");
    }

    // Heal, then read every key: the last acknowledged writes must be there.
    cluster.partition(None).await;
    cluster.wait_leader(Duration::from_secs(30)).await;
    let mut client = cluster.client();
    for key in KEYS {
        run_op(&mut client, &recorder, CLIENTS, key, Command::Get).await;
    }

    let history = recorder.history.lock().unwrap().clone();
    let finals = history.iter().filter(|op| op.client == CLIENTS).count();
    let acknowledged = history.iter().filter(|op| op.completed.is_some()).count();
    let unknown = history.len() - acknowledged;
    let checking = Instant::now();
    let report = match check(&history) {
        Ok(report) => report,
        Err(e) => panic!("not linearizable (seed {seed}): {e}\nnemesis: {events:#?}{}", cluster.logs()),
    };
    println!(
        "jepsen: {} operations recorded ({acknowledged} acknowledged, {unknown} unknown, {} of them \
         observed and searched) on {} keys; {} search states in {:.1?}; nemesis: {events:?}",
        history.len(),
        report.unknown,
        report.keys,
        report.states,
        checking.elapsed()
    );
    assert_eq!(finals, KEYS.len(), "a final read failed after the cluster healed");
    // Snapshots and purges ran on every node, so restarts went through them.
    for id in cluster.nodes.keys() {
        let status = client.status(*id).await.expect("a node's status");
        assert!(status.snapshot.is_some() && status.purged.is_some(), "node {id} never snapshotted: {status:?}");
    }
    assert!(acknowledged >= 100, "too few operations completed to mean anything: {acknowledged}");
    assert!(events.len() >= 4, "too few nemesis events: {events:?}");
}
