//! The nodes of one sipjet service: several nodes sharing a PostgreSQL
//! location store, each holding the flows (connections, NAT bindings) of
//! the contacts that registered through it.
//!
//! - [`Cluster`]: this node's name and address, and what it last heard of
//!   the others (their heartbeats), from which it judges them alive or
//!   dead;
//! - [`heartbeat`]: the task that says, on a timer, that this node is
//!   alive, and reads what the others said;
//! - [`hop`]: the Route one node sends another to reach a flow that the
//!   other holds, and the token that proves it comes from a node;
//! - [`relay`]: the service that sends such a request on over the flow.

pub mod hop;
pub mod relay;

use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use crate::location::{LocationStore, NodeBeat, NodeRecord};

/// A node not heard of for this many heartbeat intervals is taken for
/// dead: one lost or late heartbeat is not enough.
pub const MISSED_BEATS: u32 = 3;

/// This node and the others, as last heard of.
pub struct Cluster {
    /// This node's `node_id`.
    pub node_id: Arc<str>,
    /// Where the others reach this node (see [`NodeBeat::address`]): set
    /// once its transports listen.
    address: OnceLock<String>,
    /// How often this node beats.
    pub interval: Duration,
    /// The key of the hop tokens (`cluster_secret`); without it this node
    /// neither relays nor asks others to.
    pub hop_key: Option<hop::HopKey>,
    started: SystemTime,
    view: RwLock<View>,
}

/// What the last heartbeat read.
struct View {
    /// When it was read (this node's clock); `None` before the first.
    read_at: Option<SystemTime>,
    nodes: Vec<NodeRecord>,
}

/// A node as `sipjet show nodes` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// What was last heard of it.
    pub record: NodeRecord,
    /// Whether it is taken for alive.
    pub alive: bool,
    /// Whether it is this node.
    pub this_node: bool,
}

impl Cluster {
    /// This node, knowing of no other yet.
    pub fn new(node_id: Arc<str>, interval: Duration, secret: Option<&str>) -> Cluster {
        Cluster {
            node_id,
            address: OnceLock::new(),
            interval,
            hop_key: secret.map(hop::HopKey::new),
            started: SystemTime::now(),
            view: RwLock::new(View {
                read_at: None,
                nodes: Vec::new(),
            }),
        }
    }

    /// Sets where the others reach this node (once: later calls are
    /// ignored).
    pub fn set_address(&self, address: String) {
        let _ = self.address.set(address);
    }

    /// Where the others reach this node.
    pub fn address(&self) -> Option<&str> {
        self.address.get().map(String::as_str)
    }

    /// What this node says of itself at `now`.
    pub fn beat(&self, now: SystemTime) -> NodeBeat {
        NodeBeat {
            id: self.node_id.to_string(),
            address: self.address.get().cloned(),
            started: self.started,
            now,
        }
    }

    /// Takes in what a heartbeat read at `now`.
    pub fn heard(&self, nodes: Vec<NodeRecord>, now: SystemTime) {
        let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
        view.read_at = Some(now);
        view.nodes = nodes;
    }

    /// How long a node may stay silent before it is taken for dead.
    pub fn dead_after(&self) -> Duration {
        self.interval * MISSED_BEATS
    }

    /// Whether node `id` is alive at `now`, and where it is reached: its
    /// last heartbeat is recent. Recent is judged against `now` while this
    /// node's own view is fresh, and against the time of the last read
    /// while it is not (the database is away): a node cannot tell others
    /// dead for not hearing of them, and keeps serving their flows as it
    /// last knew them.
    pub fn alive(&self, id: &str, now: SystemTime) -> Option<Option<String>> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let node = view.nodes.iter().find(|n| n.id == id)?;
        self.is_alive(&view, node, now)
            .then(|| node.address.clone())
    }

    fn is_alive(&self, view: &View, node: &NodeRecord, now: SystemTime) -> bool {
        if node.id == *self.node_id {
            return true;
        }
        let Some(read_at) = view.read_at else {
            return false;
        };
        let fresh = now.duration_since(read_at).unwrap_or_default() <= self.dead_after();
        let reference = if fresh { now } else { read_at };
        reference.duration_since(node.heartbeat).unwrap_or_default() <= self.dead_after()
    }

    /// Every node last heard of (this one first, even before its first
    /// heartbeat), judged at `now`.
    pub fn nodes(&self, now: SystemTime) -> Vec<NodeState> {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<NodeState> = view
            .nodes
            .iter()
            .map(|n| NodeState {
                record: n.clone(),
                alive: self.is_alive(&view, n, now),
                this_node: n.id == *self.node_id,
            })
            .collect();
        if !out.iter().any(|n| n.this_node) {
            out.push(NodeState {
                record: NodeRecord::from(&self.beat(now)),
                alive: true,
                this_node: true,
            });
        }
        out.sort_by(|a, b| (!a.this_node, &a.record.id).cmp(&(!b.this_node, &b.record.id)));
        out
    }
}

/// Beats now and then every interval, off the async threads (the store
/// may block), for as long as the cluster lives.
pub fn heartbeat(cluster: &Arc<Cluster>, store: Arc<dyn LocationStore>) {
    let weak = Arc::downgrade(cluster);
    let every = cluster.interval;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            let Some(cluster) = weak.upgrade() else {
                return;
            };
            let store = Arc::clone(&store);
            let beaten = tokio::task::spawn_blocking(move || {
                let now = SystemTime::now();
                let heard = store.heartbeat(&cluster.beat(now));
                if let Ok(nodes) = &heard {
                    cluster.heard(nodes.clone(), now);
                }
                heard.map(|_| ())
            })
            .await;
            match beaten {
                Ok(Ok(())) => failing = false,
                Ok(Err(e)) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot record this node's heartbeat");
                }
                _ => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, heartbeat: SystemTime) -> NodeRecord {
        NodeRecord {
            id: id.into(),
            address: Some(format!("sip:127.0.0.1:5060;n={id}")),
            started: heartbeat,
            heartbeat,
        }
    }

    #[test]
    fn a_node_silent_for_three_intervals_is_dead() {
        let cluster = Cluster::new("a".into(), Duration::from_secs(5), None);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(cluster.alive("b", t0), None, "unknown before any heartbeat");
        cluster.heard(vec![record("a", t0), record("b", t0)], t0);
        assert!(cluster.alive("b", t0 + Duration::from_secs(15)).is_some());
        let later = t0 + Duration::from_secs(10);
        cluster.heard(vec![record("a", later), record("b", t0)], later);
        assert!(cluster.alive("b", later + Duration::from_secs(5)).is_some());
        assert_eq!(cluster.alive("b", later + Duration::from_secs(6)), None);
        // This node is always alive to itself.
        assert!(
            cluster
                .alive("a", later + Duration::from_secs(600))
                .is_some()
        );
    }

    #[test]
    fn without_news_the_others_stay_as_last_heard() {
        let cluster = Cluster::new("a".into(), Duration::from_secs(5), None);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        cluster.heard(vec![record("b", t0)], t0);
        // The database is away for an hour: b was alive when last heard of.
        let hour = t0 + Duration::from_secs(3_600);
        assert!(cluster.alive("b", hour).is_some());
        let nodes = cluster.nodes(hour);
        assert_eq!(nodes.len(), 2);
        assert!(nodes[0].this_node && nodes[0].record.id == "a");
        assert!(nodes[1].alive && !nodes[1].this_node);
    }
}
