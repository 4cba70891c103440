//! The sipjet nodes that share a location store: each says, on a timer,
//! that it is alive and where the others reach it (its heartbeat), and
//! reads what the others said. A store that only one node uses (SQLite,
//! memory) knows of that node alone.

use std::time::SystemTime;

/// What a node says of itself in a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBeat {
    /// Its `node_id`.
    pub id: String,
    /// The SIP URI other nodes send to it on (`sip:IP:PORT`, perhaps with
    /// a `transport` parameter), to reach the flows it holds.
    pub address: Option<String>,
    /// When it started.
    pub started: SystemTime,
    /// Now, by its clock.
    pub now: SystemTime,
}

/// A node as the store last heard of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its `node_id`.
    pub id: String,
    /// Where other nodes reach it (see [`NodeBeat::address`]).
    pub address: Option<String>,
    /// When it started.
    pub started: SystemTime,
    /// Its last heartbeat, by its clock.
    pub heartbeat: SystemTime,
}

impl From<&NodeBeat> for NodeRecord {
    fn from(beat: &NodeBeat) -> NodeRecord {
        NodeRecord {
            id: beat.id.clone(),
            address: beat.address.clone(),
            started: beat.started,
            heartbeat: beat.now,
        }
    }
}
