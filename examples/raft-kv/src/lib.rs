//! A replicated key-value service: openraft for consensus, strata for everything it stores.
//!
//! One strata database per node holds three keyspaces: `raft_log` (the Raft log, keyed by
//! index), `raft_meta` (vote, committed and purged log ids, and the state machine's applied
//! log id and membership) and `kv` (the replicated data). Log appends and votes are synced
//! writes; a state machine batch carries its applied log id with the data it covers.
//!
//! - [`log_store`]: openraft's `RaftLogStorage` on strata.
//! - [`state_machine`]: `RaftStateMachine` and its snapshots.
//! - [`network`]: the Raft RPCs between nodes, over HTTP on loopback.
//! - [`api`]: the client API's wire types.
//! - [`server`]: one node: Raft RPC endpoints, the client API and admin endpoints.
//! - [`client`]: a client that finds the leader and follows it.
//! - [`checker`]: a per-key linearizability checker for recorded histories.

pub mod api;
pub mod checker;
pub mod client;
pub mod log_store;
pub mod network;
pub mod server;
pub mod state_machine;
pub mod store;
pub mod types;

pub use types::{NodeId, Raft, Request, Response, TypeConfig};
