//! The client and admin API's wire types (JSON), shared by [`crate::server`] and
//! [`crate::client`].

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// The answer to a client request. Which variant tells the client what it may assume:
/// only `Unknown` leaves open whether a write took effect.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// Done; the result.
    Ok(T),
    /// This node is not the leader (the write was not proposed); the leader if known.
    NotLeader { leader: Option<NodeId>, addr: Option<String> },
    /// The request was refused before it was proposed (bad key, for example).
    Invalid(String),
    /// The outcome is not known: the write may or may not take effect.
    Unknown(String),
}

/// A node's view of the cluster, from openraft's metrics.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// This node.
    pub id: NodeId,
    /// Leader, Follower, Candidate or Learner.
    pub state: String,
    /// The current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// The index of the last entry in its log.
    pub last_log: Option<u64>,
    /// The index of the last entry its state machine applied.
    pub applied: Option<u64>,
    /// The last index its current snapshot covers.
    pub snapshot: Option<u64>,
    /// The last index purged from its log.
    pub purged: Option<u64>,
}
