//! The Raft type configuration and the replicated commands.
//!
//! A command is a key-value operation; its response says what it did. Keys are at most
//! [`MAX_KEY_LEN`] bytes, which gives the key space a finite upper bound
//! ([`crate::state_machine`] clears it with one `delete_range` when it installs a snapshot).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest key the service accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// A node's identity in the cluster (never reused).
pub type NodeId = u64;

/// A replicated command: what a client asks the cluster to do.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Set `key` to `value`.
    Put { key: String, value: String },
    /// Remove `key`.
    Delete { key: String },
    /// Set `key` to `new` (None: remove it) only if its value is `expected` (None: absent).
    Cas { key: String, expected: Option<String>, new: Option<String> },
}

impl Request {
    /// The key the command touches.
    pub fn key(&self) -> &str {
        match self {
            Request::Put { key, .. } | Request::Delete { key } | Request::Cas { key, .. } => key,
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// What a command did once applied.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// False only for a compare-and-set whose expectation did not hold.
    pub ok: bool,
    /// The key's value before the command.
    pub previous: Option<String>,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

openraft::declare_raft_types!(
    /// openraft's types for this service: our commands, u64 node ids, `BasicNode { addr }`
    /// (one HTTP address serves both the Raft RPCs and the client API).
    pub TypeConfig:
        D = Request,
        R = Response,
);

/// A Raft node over strata.
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachine>;
