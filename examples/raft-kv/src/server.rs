//! One node: the strata store, the openraft instance, and the HTTP endpoints that serve
//! both the other nodes and clients on one address.
//!
//! ```text
//! POST /raft/{append|vote|snapshot}/{target}   Raft RPCs (header x-raft-from: sender id)
//! POST /api/write            Request -> Reply<Response>          through the leader
//! GET  /api/read?key=K       Reply<Option<String>>               linearizable (ReadIndex)
//! GET  /api/local?key=K      Reply<Option<String>>               this node's applied state
//! GET  /admin/status         NodeStatus
//! POST /admin/init           {id: addr}                          initialize the cluster
//! POST /admin/add-learner    [id, addr];  /admin/change-membership  [ids]
//! POST /admin/snapshot       build a snapshot now;  /admin/purge/{upto}  purge the log
//! POST /admin/partition      [ids]   drop all Raft traffic with these nodes ([] heals)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::errors::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::raft::ReadPolicy;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::{BasicNode, Config, SnapshotPolicy};
use serde::Deserialize;

use crate::api::{NodeStatus, Reply};
use crate::log_store::LogStore;
use crate::network::{decode_snapshot_message, Network, Partition, FROM_HEADER};
use crate::state_machine::StateMachine;
use crate::store::{io_err, Store};
use crate::types::MAX_KEY_LEN;
use crate::{NodeId, Raft, Request, Response, TypeConfig};

/// How to run one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id.
    pub id: NodeId,
    /// The address it listens on (host:port).
    pub addr: String,
    /// Its data directory (strata database and snapshot files).
    pub dir: PathBuf,
    /// Every member of the initial cluster, this node included; empty: do not initialize.
    pub peers: BTreeMap<NodeId, String>,
    /// Heartbeat interval, milliseconds.
    pub heartbeat_ms: u64,
    /// Election timeout: a random value in [min, 2 min), milliseconds.
    pub election_ms: u64,
    /// Build a snapshot after this many applied entries.
    pub snapshot_every: u64,
    /// Log entries kept below a snapshot.
    pub keep_below_snapshot: u64,
}

impl NodeConfig {
    /// A node with the default timing (heartbeat 100 ms, election 400-800 ms).
    pub fn new(id: NodeId, addr: impl Into<String>, dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            id,
            addr: addr.into(),
            dir: dir.into(),
            peers: BTreeMap::new(),
            heartbeat_ms: 100,
            election_ms: 400,
            snapshot_every: 5000,
            keep_below_snapshot: 1000,
        }
    }

    fn raft_config(&self) -> io::Result<Config> {
        Config {
            cluster_name: "raft-kv".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_ms,
            election_timeout_max: self.election_ms * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_below_snapshot,
            // Sending, fsyncing and installing a whole snapshot: far more than the 200 ms
            // default on a busy machine.
            install_snapshot_timeout: 10_000,
            ..Default::default()
        }
        .validate()
        .map_err(io_err)
    }
}

struct App {
    id: NodeId,
    raft: Raft,
    state_machine: StateMachine,
    partition: Partition,
}

/// Opens the node's store, starts Raft, initializes the cluster if `peers` is given and
/// this node has no state yet, and serves HTTP until the process ends.
pub async fn run_node(config: NodeConfig) -> io::Result<()> {
    let store = Store::open(&config.dir)?;
    let partition = Partition::default();
    let state_machine = StateMachine::new(store.clone());
    let raft = Raft::new(
        config.id,
        Arc::new(config.raft_config()?),
        Network::new(config.id, partition.clone()),
        LogStore::new(store),
        state_machine.clone(),
    )
    .await
    .map_err(io_err)?;
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    if !config.peers.is_empty() {
        // Every node of the initial cluster may call this with the same members; a node
        // that already has state (a restart) answers NotAllowed, which is fine.
        let members: BTreeMap<NodeId, BasicNode> =
            config.peers.iter().map(|(id, addr)| (*id, BasicNode::new(addr))).collect();
        match raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(openraft::errors::InitializeError::NotAllowed(_))) => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    let app = Arc::new(App { id: config.id, raft, state_machine, partition });
    let router = Router::new()
        // Raft messages have no size bound of axum's making: a snapshot is the whole key
        // space, an append up to `max_payload_entries` entries (the default 2 MiB limit
        // would refuse them and stall that follower for good).
        .route("/raft/{rpc}/{target}", post(raft_rpc).layer(DefaultBodyLimit::disable()))
        .route("/api/write", post(api_write))
        .route("/api/read", get(api_read))
        .route("/api/local", get(api_local))
        .route("/admin/status", get(admin_status))
        .route("/admin/init", post(admin_init))
        .route("/admin/add-learner", post(admin_add_learner))
        .route("/admin/change-membership", post(admin_change_membership))
        .route("/admin/snapshot", post(admin_snapshot))
        .route("/admin/purge/{upto}", post(admin_purge))
        .route("/admin/partition", post(admin_partition))
        .with_state(app);
    axum::serve(listener, router).await
}

fn json<T: serde::Serialize>(value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn raft_rpc(
    State(app): State<Arc<App>>,
    Path((rpc, target)): Path<(String, NodeId)>,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResponse {
    if target != app.id {
        return (StatusCode::CONFLICT, format!("this is node {}, not {target}", app.id)).into_response();
    }
    let from = headers.get(FROM_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    match from {
        None => return (StatusCode::BAD_REQUEST, "no sender").into_response(),
        Some(from) if app.partition.blocks(from) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "partitioned").into_response()
        }
        Some(_) => {}
    }
    let bad = |e: serde_json::Error| (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    match rpc.as_str() {
        "append" => match serde_json::from_slice(&body) {
            Ok(req) => json(&app.raft.append_entries(req).await),
            Err(e) => bad(e),
        },
        "vote" => match serde_json::from_slice(&body) {
            Ok(req) => json(&app.raft.vote(req).await),
            Err(e) => bad(e),
        },
        "snapshot" => match decode_snapshot_message(&body) {
            Some((vote, snapshot)) => {
                json(&app.raft.install_full_snapshot(vote, snapshot).await.map_err(RaftError::<TypeConfig>::Fatal))
            }
            None => (StatusCode::BAD_REQUEST, "malformed snapshot message").into_response(),
        },
        _ => (StatusCode::NOT_FOUND, "no such RPC").into_response(),
    }
}

async fn api_write(State(app): State<Arc<App>>, Json(request): Json<Request>) -> Json<Reply<Response>> {
    if let Some(why) = bad_key(request.key()) {
        return Json(Reply::Invalid(why));
    }
    Json(match app.raft.client_write(request).await {
        Ok(written) => Reply::Ok(written.data),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Reply::NotLeader { leader: f.leader_id, addr: f.leader_node.map(|n| n.addr) }
        }
        // Discarded on a leader change, or the node stopped: it may still commit.
        Err(e) => Reply::Unknown(e.to_string()),
    })
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}

/// Why `key` cannot be a key of the service, if it cannot.
fn bad_key(key: &str) -> Option<String> {
    (key.is_empty() || key.len() > MAX_KEY_LEN).then(|| format!("keys are 1 to {MAX_KEY_LEN} bytes"))
}

async fn api_read(State(app): State<Arc<App>>, Query(query): Query<KeyQuery>) -> Json<Reply<Option<String>>> {
    if let Some(why) = bad_key(&query.key) {
        return Json(Reply::Invalid(why));
    }
    Json(match app.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
        Ok(_) => match app.state_machine.read(&query.key) {
            Ok(value) => Reply::Ok(value),
            Err(e) => Reply::Unknown(e.to_string()),
        },
        Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
            Reply::NotLeader { leader: f.leader_id, addr: f.leader_node.map(|n| n.addr) }
        }
        Err(e) => Reply::Unknown(e.to_string()),
    })
}

async fn api_local(State(app): State<Arc<App>>, Query(query): Query<KeyQuery>) -> Json<Reply<Option<String>>> {
    if let Some(why) = bad_key(&query.key) {
        return Json(Reply::Invalid(why));
    }
    Json(match app.state_machine.read(&query.key) {
        Ok(value) => Reply::Ok(value),
        Err(e) => Reply::Unknown(e.to_string()),
    })
}

async fn admin_status(State(app): State<Arc<App>>) -> Json<NodeStatus> {
    let m = app.raft.metrics().borrow_watched().clone();
    Json(NodeStatus {
        id: m.id,
        state: format!("{:?}", m.state),
        term: m.current_term,
        leader: m.current_leader,
        last_log: m.last_log_index,
        applied: m.last_applied.map(|l| l.index),
        snapshot: m.snapshot.map(|l| l.index),
        purged: m.purged.map(|l| l.index),
    })
}

fn admin_result<E: std::fmt::Display>(result: Result<impl Sized, E>) -> HttpResponse {
    match result {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn admin_init(State(app): State<Arc<App>>, Json(peers): Json<BTreeMap<NodeId, String>>) -> HttpResponse {
    let members: BTreeMap<NodeId, BasicNode> = peers.into_iter().map(|(id, a)| (id, BasicNode::new(a))).collect();
    admin_result(app.raft.initialize(members).await)
}

async fn admin_add_learner(State(app): State<Arc<App>>, Json((id, addr)): Json<(NodeId, String)>) -> HttpResponse {
    admin_result(app.raft.add_learner(id, BasicNode::new(addr), true).await)
}

async fn admin_change_membership(State(app): State<Arc<App>>, Json(ids): Json<BTreeSet<NodeId>>) -> HttpResponse {
    admin_result(app.raft.change_membership(ids, false).await)
}

async fn admin_snapshot(State(app): State<Arc<App>>) -> HttpResponse {
    admin_result(app.raft.trigger().snapshot().await)
}

async fn admin_purge(State(app): State<Arc<App>>, Path(upto): Path<u64>) -> HttpResponse {
    admin_result(app.raft.trigger().purge_log(upto).await)
}

async fn admin_partition(State(app): State<Arc<App>>, Json(ids): Json<BTreeSet<NodeId>>) -> HttpResponse {
    app.partition.set(ids);
    StatusCode::OK.into_response()
}
