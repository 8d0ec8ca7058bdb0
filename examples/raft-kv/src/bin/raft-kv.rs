//! `raft-kv node ...` runs one node; `raft-kv client ...` talks to a cluster.
//!
//! ```text
//! raft-kv node --id 1 --addr 127.0.0.1:21001 --dir /tmp/n1 --peers 1=127.0.0.1:21001,2=...,3=...
//!              [--heartbeat-ms 100] [--election-ms 400] [--snapshot-every 5000] [--keep 1000]
//! raft-kv client --nodes 1=127.0.0.1:21001,2=... put KEY VALUE | get KEY | delete KEY
//!              | cas KEY EXPECTED|- NEW|- | status | bench WRITES CLIENTS
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use raft_kv::client::{parse_nodes, Client, Outcome};
use raft_kv::server::{run_node, NodeConfig};
use raft_kv::Request;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("node") => node(&args[1..]),
        Some("client") => client(&args[1..]),
        _ => Err("usage: raft-kv node --id N --addr HOST:PORT --dir DIR [--peers ID=ADDR,...] | raft-kv client --nodes ID=ADDR,... COMMAND".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raft-kv: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A runtime with more workers than this machine's 2 cores: storage calls block their
/// worker for an fsync, and heartbeats must not wait behind them.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().map_err(|e| e.to_string())
}

/// The value after `--name`, if given.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn number(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    flag(args, name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name}: not a number: {v}")))
}

fn node(args: &[String]) -> Result<(), String> {
    let id = number(args, "--id", 0)?;
    let addr = flag(args, "--addr").ok_or("--addr is required")?;
    let dir = flag(args, "--dir").ok_or("--dir is required")?;
    if id == 0 {
        return Err("--id is required (a positive number)".into());
    }
    let mut config = NodeConfig::new(id, addr, dir);
    if let Some(peers) = flag(args, "--peers") {
        config.peers = parse_nodes(peers)?;
    }
    config.heartbeat_ms = number(args, "--heartbeat-ms", config.heartbeat_ms)?;
    config.election_ms = number(args, "--election-ms", config.election_ms)?;
    config.snapshot_every = number(args, "--snapshot-every", config.snapshot_every)?;
    config.keep_below_snapshot = number(args, "--keep", config.keep_below_snapshot)?;
    runtime()?.block_on(run_node(config)).map_err(|e| e.to_string())
}

fn optional(text: &str) -> Option<String> {
    (text != "-").then(|| text.to_string())
}

fn client(args: &[String]) -> Result<(), String> {
    let nodes = parse_nodes(flag(args, "--nodes").ok_or("--nodes is required")?)?;
    let command: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    let patience = Duration::from_secs(10);
    let mut client = Client::new(nodes.clone(), Duration::from_secs(5));
    runtime()?.block_on(async move {
        let writer = client.clone();
        let write = |request| async move {
            match writer.clone().write(&request, patience).await {
                Outcome::Ok(response) => {
                    println!("{}", serde_json::to_string(&response).unwrap_or_default());
                    Ok(())
                }
                Outcome::Failed(e) => Err(format!("failed: {e}")),
                Outcome::Unknown(e) => Err(format!("outcome unknown: {e}")),
            }
        };
        match command.as_slice() {
            ["put", key, value] => write(Request::Put { key: key.to_string(), value: value.to_string() }).await,
            ["delete", key] => write(Request::Delete { key: key.to_string() }).await,
            ["cas", key, expected, new] => {
                write(Request::Cas { key: key.to_string(), expected: optional(expected), new: optional(new) }).await
            }
            ["get", key] => match client.read(key, patience).await {
                Outcome::Ok(value) => {
                    println!("{}", value.unwrap_or_else(|| "(absent)".into()));
                    Ok(())
                }
                Outcome::Failed(e) | Outcome::Unknown(e) => Err(e),
            },
            ["status"] => {
                for id in nodes.keys() {
                    match client.status(*id).await {
                        Some(status) => println!("{}", serde_json::to_string(&status).unwrap_or_default()),
                        None => println!("node {id}: no answer"),
                    }
                }
                Ok(())
            }
            ["bench", writes, clients] => {
                let writes: usize = writes.parse().map_err(|_| "WRITES: not a number")?;
                let clients: usize = clients.parse().map_err(|_| "CLIENTS: not a number")?;
                bench(&mut client, writes, clients.max(1)).await
            }
            _ => Err(format!("unknown client command {command:?}")),
        }
    })
}

/// `writes` puts from `clients` concurrent clients through the leader; prints writes/s.
async fn bench(client: &mut Client, writes: usize, clients: usize) -> Result<(), String> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in (c..writes).step_by(clients) {
                let request = Request::Put { key: format!("bench-{i:08}"), value: format!("value-{i}") };
                if let Outcome::Failed(e) | Outcome::Unknown(e) = client.write(&request, Duration::from_secs(10)).await
                {
                    return Err(format!("write {i}: {e}"));
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{writes} writes from {clients} clients in {secs:.2} s: {:.0} writes/s", writes as f64 / secs);
    Ok(())
}
