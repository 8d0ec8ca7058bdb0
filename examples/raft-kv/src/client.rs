//! A client of the service: it finds the leader, follows `NotLeader` hints, and says what
//! it knows about each write's outcome.
//!
//! A write is retried only while it is certain that no attempt took effect (the node
//! refused the connection, or answered that it is not the leader): retrying after a
//! timeout could apply it twice. A write whose outcome is open comes back as
//! [`Outcome::Unknown`], which a history checker must treat as "maybe happened".

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::api::{NodeStatus, Reply};
use crate::{NodeId, Request, Response};

/// What a client learned from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// It took effect (a write) or was served linearizably (a read).
    Ok(T),
    /// It certainly did not take effect.
    Failed(String),
    /// It may or may not have taken effect.
    Unknown(String),
}

/// A client of a cluster.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    nodes: BTreeMap<NodeId, String>,
    leader: Option<NodeId>,
    timeout: Duration,
}

enum Attempt<T> {
    Done(Outcome<T>),
    Redirect(Option<NodeId>),
    Refused(String),
}

impl Client {
    /// A client of the nodes `{id: addr}`, with a per-request timeout.
    pub fn new(nodes: BTreeMap<NodeId, String>, timeout: Duration) -> Client {
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_else(|_| reqwest::Client::new());
        Client { http, nodes, leader: None, timeout }
    }

    /// Applies `request` through the leader, retrying for up to `patience` while no
    /// attempt can have taken effect.
    pub async fn write(&mut self, request: &Request, patience: Duration) -> Outcome<Response> {
        let body = match serde_json::to_vec(request) {
            Ok(body) => body,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        self.with_leader(patience, |http, addr| {
            let req = http.post(format!("http://{addr}/api/write")).body(body.clone());
            req.header(reqwest::header::CONTENT_TYPE, "application/json")
        })
        .await
    }

    /// A linearizable read of `key` through the leader (retried for up to `patience`:
    /// a read has no effect to duplicate).
    pub async fn read(&mut self, key: &str, patience: Duration) -> Outcome<Option<String>> {
        let deadline = Instant::now() + patience;
        loop {
            let outcome = self
                .with_leader(patience, |http, addr| http.get(format!("http://{addr}/api/read")).query(&[("key", key)]))
                .await;
            match outcome {
                Outcome::Unknown(_) if Instant::now() < deadline => {
                    self.leader = None;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// What node `id` has applied for `key` (no consensus involved).
    pub async fn read_local(&self, id: NodeId, key: &str) -> Outcome<Option<String>> {
        let addr = self.nodes.get(&id).cloned().unwrap_or_default();
        match self.send(self.http.get(format!("http://{addr}/api/local")).query(&[("key", key)])).await {
            Attempt::Done(outcome) => outcome,
            Attempt::Redirect(_) => Outcome::Failed("redirected".into()),
            Attempt::Refused(e) => Outcome::Failed(e),
        }
    }

    /// Node `id`'s status, or None if it does not answer.
    pub async fn status(&self, id: NodeId) -> Option<NodeStatus> {
        let addr = self.nodes.get(&id)?;
        let response = self.http.get(format!("http://{addr}/admin/status")).timeout(self.timeout).send().await.ok()?;
        response.json().await.ok()
    }

    /// Posts a JSON body to an admin endpoint of node `id`; Err with the reason if it failed.
    pub async fn admin(&self, id: NodeId, path: &str, body: &impl serde::Serialize) -> Result<(), String> {
        let addr = self.nodes.get(&id).ok_or("no such node")?;
        let response = self
            .http
            .post(format!("http://{addr}/admin/{path}"))
            .json(body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(response.text().await.unwrap_or_default())
        }
    }

    /// The leader this client last heard of.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Attempt<T> {
        let response = match request.timeout(self.timeout).send().await {
            Ok(response) => response,
            // Nothing reached the node.
            Err(e) if e.is_connect() => return Attempt::Refused(e.to_string()),
            Err(e) => return Attempt::Done(Outcome::Unknown(e.to_string())),
        };
        match response.json::<Reply<T>>().await {
            Ok(Reply::Ok(value)) => Attempt::Done(Outcome::Ok(value)),
            Ok(Reply::NotLeader { leader, .. }) => Attempt::Redirect(leader),
            Ok(Reply::Invalid(e)) => Attempt::Done(Outcome::Failed(e)),
            Ok(Reply::Unknown(e)) => Attempt::Done(Outcome::Unknown(e)),
            Err(e) => Attempt::Done(Outcome::Unknown(e.to_string())),
        }
    }

    /// Sends the request `build` makes for a node's address to the leader (or, not knowing
    /// it, to each node in turn) until it is done or `patience` runs out.
    async fn with_leader<T, F>(&mut self, patience: Duration, build: F) -> Outcome<T>
    where
        T: DeserializeOwned,
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        let deadline = Instant::now() + patience;
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        if ids.is_empty() {
            return Outcome::Failed("the client knows no node".into());
        }
        let mut next = 0;
        loop {
            let target = match self.leader {
                Some(id) if self.nodes.contains_key(&id) => id,
                _ => {
                    next += 1;
                    ids[next % ids.len()]
                }
            };
            let last_error;
            match self.send(build(&self.http, &self.nodes[&target])).await {
                Attempt::Done(outcome) => {
                    // A node that left an outcome open may have lost its leadership: ask
                    // around next time.
                    self.leader = (!matches!(outcome, Outcome::Unknown(_))).then_some(target);
                    return outcome;
                }
                Attempt::Redirect(leader) => {
                    last_error = format!("node {target} is not the leader");
                    self.leader = leader.filter(|l| *l != target);
                }
                Attempt::Refused(e) => {
                    last_error = e;
                    self.leader = None;
                }
            }
            if Instant::now() >= deadline {
                return Outcome::Failed(last_error);
            }
            if self.leader.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Parses `1=127.0.0.1:21001,2=...` into `{id: addr}` (at least one).
pub fn parse_nodes(text: &str) -> Result<BTreeMap<NodeId, String>, String> {
    let nodes: BTreeMap<NodeId, String> = text
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (id, addr) = part.split_once('=').ok_or_else(|| format!("expected ID=ADDR, got {part:?}"))?;
            let id = id.parse().map_err(|_| format!("bad node id {id:?}"))?;
            Ok((id, addr.to_string()))
        })
        .collect::<Result<_, String>>()?;
    if nodes.is_empty() {
        return Err("no nodes given".into());
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists_parse_and_bad_ones_are_refused() {
        let nodes = parse_nodes("1=127.0.0.1:1,2=127.0.0.1:2").unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[&2], "127.0.0.1:2");
        assert!(parse_nodes("1:127.0.0.1").is_err());
        assert!(parse_nodes("x=127.0.0.1:1").is_err());
        assert!(parse_nodes("").is_err() && parse_nodes(",").is_err());
    }
}
