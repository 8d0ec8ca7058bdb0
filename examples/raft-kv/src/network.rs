//! The Raft RPCs between nodes: JSON over HTTP on loopback (the sending side; the
//! receiving side is in [`crate::server`]).
//!
//! Every request names the node it is for (`/raft/{rpc}/{target}`) and the node it comes
//! from (the `x-raft-from` header): a restarted process on a reused address refuses
//! messages meant for another node, and a simulated partition ([`Partition`]) drops
//! traffic in both directions at both ends. A refused connection is `Unreachable`, so
//! openraft backs off; every request carries openraft's soft deadline as its timeout.
//!
//! A snapshot travels as one binary body: `header length u32 LE | JSON (vote, meta) | data`.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Cursor;
use std::sync::{Arc, RwLock};

use openraft::alias::{SnapshotOf, VoteOf};
use openraft::errors::{NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::{BasicNode, OptionalSend};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::state_machine::parse_pairs;
use crate::{NodeId, TypeConfig};

/// The header that names the sending node.
pub const FROM_HEADER: &str = "x-raft-from";

/// The peers this node pretends it cannot reach (a nemesis sets it through the admin API).
#[derive(Clone, Default)]
pub struct Partition(Arc<RwLock<BTreeSet<NodeId>>>);

impl Partition {
    /// Cuts this node off from `peers` (and heals every other link).
    pub fn set(&self, peers: BTreeSet<NodeId>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = peers;
    }

    /// Whether traffic with `peer` is dropped.
    pub fn blocks(&self, peer: NodeId) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).contains(&peer)
    }
}

/// Makes one [`PeerClient`] per target node.
pub struct Network {
    id: NodeId,
    http: reqwest::Client,
    partition: Partition,
}

impl Network {
    /// The network of node `id`.
    pub fn new(id: NodeId, partition: Partition) -> Network {
        // No proxy: a proxy in the environment must never see loopback Raft traffic.
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_else(|_| reqwest::Client::new());
        Network { id, http, partition }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            from: self.id,
            target,
            addr: node.addr.clone(),
            http: self.http.clone(),
            partition: self.partition.clone(),
        }
    }
}

/// Sends Raft RPCs to one node.
pub struct PeerClient {
    from: NodeId,
    target: NodeId,
    addr: String,
    http: reqwest::Client,
    partition: Partition,
}

impl PeerClient {
    async fn post<Resp>(&self, rpc: &str, body: Vec<u8>, option: &RPCOption) -> Result<Resp, RPCError<TypeConfig>>
    where
        Result<Resp, RaftError<TypeConfig>>: DeserializeOwned,
    {
        if self.partition.blocks(self.target) {
            return Err(RPCError::Unreachable(Unreachable::from_string(format!("partitioned from {}", self.target))));
        }
        let url = format!("http://{}/raft/{rpc}/{}", self.addr, self.target);
        let response = self
            .http
            .post(&url)
            .header(FROM_HEADER, self.from.to_string())
            .body(body)
            .timeout(option.soft_ttl())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        let status = response.status();
        if status == StatusCode::CONFLICT || status == StatusCode::SERVICE_UNAVAILABLE {
            // A wrong node or a partition at the other end: back off as from a dead node.
            return Err(RPCError::Unreachable(Unreachable::from_string(format!("HTTP {status} from {url}"))));
        }
        if !status.is_success() {
            let why = response.text().await.unwrap_or_default();
            return Err(RPCError::Network(NetworkError::from_string(format!("HTTP {status} from {url}: {why}"))));
        }
        let bytes = response.bytes().await.map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let result: Result<Resp, RaftError<TypeConfig>> =
            serde_json::from_slice(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn post_json<Req: serde::Serialize, Resp>(
        &self,
        rpc: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Result<Resp, RaftError<TypeConfig>>: DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.post(rpc, body, option).await
    }
}

/// A snapshot as it travels: the sender's vote and the snapshot.
pub type SnapshotMessage = (VoteOf<TypeConfig>, SnapshotOf<TypeConfig, Cursor<Vec<u8>>>);

/// Encodes a snapshot message: header length, JSON (vote, meta), then the raw data.
pub fn encode_snapshot_message(
    vote: &VoteOf<TypeConfig>,
    snapshot: SnapshotOf<TypeConfig, Cursor<Vec<u8>>>,
) -> serde_json::Result<Vec<u8>> {
    let header = serde_json::to_vec(&(vote, &snapshot.meta))?;
    let data = snapshot.snapshot.into_inner();
    let mut body = Vec::with_capacity(4 + header.len() + data.len());
    body.extend_from_slice(&(header.len() as u32).to_le_bytes());
    body.extend_from_slice(&header);
    body.extend_from_slice(&data);
    Ok(body)
}

/// Decodes what [`encode_snapshot_message`] wrote; None if it is malformed (its data
/// included: a snapshot that cannot be installed must not reach the state machine, whose
/// errors stop the node).
pub fn decode_snapshot_message(body: &[u8]) -> Option<SnapshotMessage> {
    let len = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let header = body.get(4..4usize.checked_add(len)?)?;
    let (vote, meta) = serde_json::from_slice(header).ok()?;
    let data = body[4 + len..].to_vec();
    parse_pairs(&data).ok()?;
    Some((vote, openraft::storage::Snapshot { meta, snapshot: Cursor::new(data) }))
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json("append", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post_json("vote", &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, Cursor<Vec<u8>>>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let body = encode_snapshot_message(&vote, snapshot)
            .map_err(|e| StreamingError::from(RPCError::<TypeConfig>::Network(NetworkError::new(&e))))?;
        tokio::pin!(cancel);
        tokio::select! {
            closed = &mut cancel => Err(StreamingError::Closed(closed)),
            result = self.post("snapshot", body, &option) => Ok(result?),
        }
    }
}
