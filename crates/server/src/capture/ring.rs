//! The capture ring: the latest messages sent and received, within a byte
//! budget, and the index of the flows (Call-IDs) they belong to.
//!
//! The budget is the memory the ring takes, counted as the allocator
//! hands it out: each record's blocks (itself, its bytes, its label), each
//! flow's (its summary, its Call-ID, its lists), and the two tables that
//! hold them. A flow lives only while one of its messages is in the ring,
//! and each flow keeps a bounded summary. The oldest messages go first
//! when the ring is over its budget.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use sipjet_core::Protocol;
use sipjet_core::transport::Direction;

/// What the allocator takes for a block of `n` bytes: a header word, then
/// rounded up to 16 bytes, 32 at least (as glibc's malloc does; others
/// are within a word of it).
fn block(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        ((n + 8 + 15) & !15).max(32)
    }
}

/// The bytes of a hash table of `capacity` entries of `T`: a power of two
/// of slots (capacity is 7/8 of them, all but one of them below eight), a
/// control byte each and a group's more.
fn table_bytes<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let slots = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8).div_ceil(7).next_power_of_two()
    };
    slots * (size_of::<T>() + 1) + 16
}

/// An `Arc`'s block: its two counts and the value.
fn arc_block(value: usize) -> usize {
    block(2 * size_of::<usize>() + value)
}
/// Distinct methods, statuses and peer addresses a flow's summary keeps;
/// later ones are not listed (the messages themselves still are).
const SUMMARY_ITEMS: usize = 8;

/// Method or status of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Label {
    /// A request.
    Request {
        /// Its method.
        method: Box<str>,
    },
    /// A response.
    Response {
        /// Its status code.
        status: u16,
        /// Its reason phrase.
        reason: Box<str>,
        /// The method of its CSeq.
        method: Box<str>,
    },
}

impl Label {
    /// The blocks its text takes.
    fn heap(&self) -> usize {
        match self {
            Label::Request { method } => block(method.len()),
            Label::Response { reason, method, .. } => block(reason.len()) + block(method.len()),
        }
    }

    /// `REGISTER`, or `401 Unauthorized`.
    pub fn text(&self) -> String {
        match self {
            Label::Request { method } => method.to_string(),
            Label::Response { status, reason, .. } => format!("{status} {reason}"),
        }
    }
}

/// One captured message.
#[derive(Debug)]
pub struct Record {
    /// Its number: records are numbered in the order they were captured.
    pub seq: u64,
    /// When it was captured.
    pub at: SystemTime,
    /// Received or sent.
    pub direction: Direction,
    /// The transport.
    pub protocol: Protocol,
    /// This side's address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The Call-ID ("" when it has none).
    pub call_id: Arc<str>,
    /// Method or status.
    pub label: Label,
    /// The message as it was on the wire.
    pub wire: Box<[u8]>,
}

/// A record's blocks: itself (in an `Arc`), its bytes, its label. Its
/// place in the ring's table is counted with the table.
fn record_cost(wire: usize, label: &Label) -> usize {
    arc_block(size_of::<Record>()) + block(wire) + label.heap()
}

impl Record {
    fn cost(&self) -> usize {
        record_cost(self.wire.len(), &self.label)
    }
}

/// What is known of a record before it is numbered.
pub struct NewRecord<'a> {
    /// When it was captured.
    pub at: SystemTime,
    /// Received or sent.
    pub direction: Direction,
    /// The transport.
    pub protocol: Protocol,
    /// This side's address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The Call-ID.
    pub call_id: &'a str,
    /// Method or status.
    pub label: Label,
    /// The bytes.
    pub wire: &'a [u8],
    /// The user parts of From and To, read only for a flow's first
    /// message.
    pub users: &'a dyn Fn() -> (Option<String>, Option<String>),
}

/// A flow: the messages of one Call-ID.
#[derive(Clone, Debug)]
pub struct FlowSummary {
    /// Its Call-ID.
    pub call_id: Arc<str>,
    /// When its first message in the ring was captured.
    pub first_at: SystemTime,
    /// When its latest was.
    pub last_at: SystemTime,
    /// The method of its first request.
    pub method: Option<Box<str>>,
    /// The user of the From header of its first message.
    pub from_user: Option<String>,
    /// The user of its To header.
    pub to_user: Option<String>,
    /// The methods seen, in order of appearance.
    pub methods: Vec<Box<str>>,
    /// The statuses seen, in order of appearance.
    pub statuses: Vec<u16>,
    /// The peers' transports and addresses, in order of appearance.
    pub peers: Vec<(Protocol, SocketAddr)>,
    /// The numbers of its records still in the ring, oldest first.
    seqs: VecDeque<u64>,
}

impl FlowSummary {
    /// Its blocks beyond its place in the index: its Call-ID (shared with
    /// its records and the index's key), its users and lists.
    fn heap(&self) -> usize {
        let string = |s: &Option<String>| s.as_ref().map_or(0, |s| block(s.capacity()));
        block(size_of::<FlowSummary>())
            + arc_block(self.call_id.len())
            + string(&self.from_user)
            + string(&self.to_user)
            + self.method.as_ref().map_or(0, |m| block(m.len()))
            + block(self.methods.capacity() * size_of::<Box<str>>())
            + self.methods.iter().map(|m| block(m.len())).sum::<usize>()
            + block(self.statuses.capacity() * size_of::<u16>())
            + block(self.peers.capacity() * size_of::<(Protocol, SocketAddr)>())
            + block(self.seqs.capacity() * size_of::<u64>())
    }

    /// How many of its messages are in the ring.
    pub fn messages(&self) -> usize {
        self.seqs.len()
    }

    /// The peers as `udp:127.0.0.1:5062`.
    pub fn peer_names(&self) -> Vec<String> {
        self.peers
            .iter()
            .map(|(p, a)| format!("{}:{a}", p.via_name().to_ascii_lowercase()))
            .collect()
    }
}

/// Which flows a search wants; every field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowQuery {
    /// Part of the Call-ID.
    pub call_id: Option<String>,
    /// Part of the From or To user.
    pub user: Option<String>,
    /// Part of a peer's address (`127.0.0.1:5062`, `tcp:`).
    pub address: Option<String>,
    /// A method seen (case-insensitive).
    pub method: Option<String>,
    /// A status seen.
    pub status: Option<u16>,
}

impl FlowQuery {
    fn matches(&self, f: &FlowSummary) -> bool {
        let has = |field: &Option<String>, text: &str| {
            field.as_deref().is_none_or(|part| text.contains(part))
        };
        has(&self.call_id, &f.call_id)
            && self.user.as_deref().is_none_or(|u| {
                [&f.from_user, &f.to_user]
                    .iter()
                    .any(|x| x.as_deref().is_some_and(|x| x.contains(u)))
            })
            && self
                .address
                .as_deref()
                .is_none_or(|a| f.peer_names().iter().any(|p| p.contains(a)))
            && self
                .method
                .as_deref()
                .is_none_or(|m| f.methods.iter().any(|x| x.eq_ignore_ascii_case(m)))
            && self.status.is_none_or(|s| f.statuses.contains(&s))
    }
}

/// The ring and its flow index.
#[derive(Debug)]
pub struct Ring {
    budget: usize,
    /// The records' and flows' blocks; the tables are counted apart, by
    /// their capacity ([`Ring::used`]).
    used: usize,
    /// The most entries the flow index has had room for: its slots, which
    /// it keeps once grown (what it reports as its capacity later can be
    /// less, its removed entries' slots not counted).
    flow_capacity: usize,
    next_seq: u64,
    records: VecDeque<Arc<Record>>,
    /// Boxed, so that the index's slots (which outnumber its flows) are
    /// small.
    flows: HashMap<Arc<str>, Box<FlowSummary>>,
}

/// Adds `item` unless it is there or the list is full; copies it only
/// then, since most messages repeat what their flow has seen.
fn push_bounded<T: PartialEq + Clone>(list: &mut Vec<T>, item: &T) {
    if list.len() < SUMMARY_ITEMS && !list.contains(item) {
        // Most flows see one method and one peer: room for one first,
        // not the four a first push reserves.
        if list.capacity() == 0 {
            list.reserve_exact(1);
        }
        list.push(item.clone());
    }
}

impl Ring {
    /// An empty ring that takes at most `budget` bytes of memory.
    pub fn new(budget: usize) -> Ring {
        Ring {
            budget,
            used: 0,
            next_seq: 0,
            records: VecDeque::new(),
            flow_capacity: 0,
            flows: HashMap::new(),
        }
    }

    /// The memory it takes: its records and flows, and the tables that
    /// hold them, whose capacity only grows.
    pub fn used(&self) -> usize {
        self.used
            + block(self.records.capacity() * size_of::<Arc<Record>>())
            + block(table_bytes::<(Arc<str>, Box<FlowSummary>)>(
                self.flow_capacity,
            ))
    }

    /// Its budget.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Flows held.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Messages captured since start, evicted ones included.
    pub fn captured(&self) -> u64 {
        self.next_seq
    }

    /// Keeps a message, forgetting the oldest ones it does not fit
    /// beside; one that alone would take more than the budget is not kept.
    pub fn push(&mut self, new: NewRecord<'_>) {
        let alone = record_cost(new.wire.len(), &new.label) + arc_block(new.call_id.len());
        if alone > self.budget {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let flow = match self.flows.get_mut(new.call_id) {
            Some(flow) => {
                self.used -= flow.heap();
                flow
            }
            None => {
                let call_id: Arc<str> = Arc::from(new.call_id);
                let (from_user, to_user) = (new.users)();
                self.flows
                    .entry(Arc::clone(&call_id))
                    .or_insert(Box::new(FlowSummary {
                        call_id,
                        first_at: new.at,
                        last_at: new.at,
                        method: None,
                        from_user,
                        to_user,
                        methods: Vec::new(),
                        statuses: Vec::new(),
                        peers: Vec::new(),
                        // A transaction's request and its answer.
                        seqs: VecDeque::with_capacity(2),
                    }))
            }
        };
        flow.last_at = new.at;
        flow.seqs.push_back(seq);
        match &new.label {
            Label::Request { method } => {
                if flow.method.is_none() {
                    flow.method = Some(method.clone());
                }
                push_bounded(&mut flow.methods, method);
            }
            Label::Response { status, .. } => push_bounded(&mut flow.statuses, status),
        }
        push_bounded(&mut flow.peers, &(new.protocol, new.remote));
        self.used += flow.heap();
        let call_id = Arc::clone(&flow.call_id);
        // Only an insertion grows the index.
        self.flow_capacity = self.flow_capacity.max(self.flows.capacity());
        let record = Record {
            seq,
            at: new.at,
            direction: new.direction,
            protocol: new.protocol,
            local: new.local,
            remote: new.remote,
            call_id,
            label: new.label,
            wire: new.wire.into(),
        };
        self.used += record.cost();
        self.records.push_back(Arc::new(record));
        while self.used() > self.budget && self.records.len() > 1 {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        let Some(old) = self.records.pop_front() else {
            return;
        };
        self.used -= old.cost();
        if let Some(flow) = self.flows.get_mut(&old.call_id) {
            // Records leave in the order they came, so a flow's oldest is
            // the one leaving.
            // Its lists keep their room, so a flow that stays costs what
            // it did.
            flow.seqs.pop_front();
            if flow.seqs.is_empty() {
                self.used -= flow.heap();
                self.flows.remove(&old.call_id);
            }
        }
    }

    /// The flows `query` matches, the latest active first, at most
    /// `limit`.
    pub fn search(&self, query: &FlowQuery, limit: usize) -> Vec<FlowSummary> {
        let mut found: Vec<&FlowSummary> = self
            .flows
            .values()
            .map(|f| &**f)
            .filter(|f| query.matches(f))
            .collect();
        found.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(a.call_id.cmp(&b.call_id)));
        found.into_iter().take(limit).cloned().collect()
    }

    /// The messages of the flow `call_id`, oldest first, at most `limit`
    /// (the first ones).
    pub fn flow(&self, call_id: &str, limit: usize) -> Option<Vec<Arc<Record>>> {
        let flow = self.flows.get(call_id)?;
        let first = self.records.front().map_or(0, |r| r.seq);
        Some(
            flow.seqs
                .iter()
                .take(limit)
                .filter_map(|seq| {
                    let at = usize::try_from(seq.checked_sub(first)?).ok()?;
                    self.records.get(at).cloned()
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn push(ring: &mut Ring, call_id: &str, label: Label, remote: &str, size: usize) {
        let wire = vec![b'x'; size];
        ring.push(NewRecord {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(ring.captured()),
            direction: Direction::Received,
            protocol: Protocol::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: remote.parse().unwrap(),
            call_id,
            label,
            wire: &wire,
            users: &|| (Some("alice".into()), Some("bob".into())),
        });
    }

    /// An OPTIONS of `size` bytes from the same peer.
    fn push_options(ring: &mut Ring, call_id: &str, size: usize) {
        push(ring, call_id, request("OPTIONS"), "127.0.0.1:9", size);
    }

    fn request(method: &str) -> Label {
        Label::Request {
            method: method.into(),
        }
    }

    fn response(status: u16, method: &str) -> Label {
        Label::Response {
            status,
            reason: "R".into(),
            method: method.into(),
        }
    }

    #[test]
    fn the_budget_bounds_messages_and_flows() {
        let budget = 64 << 10;
        let mut ring = Ring::new(budget);
        for i in 0..1000 {
            push_options(&mut ring, &format!("c{i}"), 100);
            assert!(ring.used() <= budget, "{} after {i}", ring.used());
        }
        // The oldest went, the latest are kept, a flow for each.
        assert!(ring.len() > 20 && ring.len() < 1000, "{}", ring.len());
        assert_eq!(ring.flow_count(), ring.len());
        assert_eq!(ring.captured(), 1000);
        assert!(ring.flow("c0", 10).is_none());
        assert_eq!(ring.flow("c999", 10).unwrap()[0].seq, 999);
        // A message larger than the budget is not kept, and costs nothing.
        let (len, used) = (ring.len(), ring.used());
        push(&mut ring, "huge", request("MESSAGE"), "127.0.0.1:9", budget);
        assert_eq!((ring.len(), ring.used()), (len, used));
        assert!(ring.flow("huge", 10).is_none());
    }

    #[test]
    fn what_it_counts_is_what_it_holds() {
        // Emptied, it counts its tables alone.
        let mut ring = Ring::new(16 << 10);
        for i in 0..100 {
            push_options(&mut ring, &format!("c{i}"), 300);
        }
        let tables = ring.used() - ring.used;
        assert!(tables > 0);
        while !ring.is_empty() {
            ring.evict_oldest();
        }
        assert_eq!(ring.used, 0);
        assert_eq!(ring.flow_count(), 0);
    }

    #[test]
    fn a_flow_leaves_with_its_last_message() {
        let mut ring = Ring::new(64 << 10);
        // Full, and its tables at the size they keep.
        for x in 0..1000 {
            push_options(&mut ring, &format!("x{x}"), 10);
        }
        push(&mut ring, "a", request("REGISTER"), "127.0.0.1:9", 10);
        push(&mut ring, "b", request("OPTIONS"), "127.0.0.1:9", 10);
        push(&mut ring, "a", response(401, "REGISTER"), "127.0.0.1:9", 10);
        push(&mut ring, "b", response(200, "OPTIONS"), "127.0.0.1:9", 10);
        // Others come until the first "a" is gone: "a" stays with its 401,
        // and "b" with its 200 at least (a record that leaves without its
        // flow frees less than a new flow takes, so the next one may go
        // with it).
        let mut c = 0;
        while ring.flow("a", 10).unwrap().len() == 2 {
            push_options(&mut ring, &format!("c{c}"), 10);
            c += 1;
        }
        let a = ring.flow("a", 10).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].label, response(401, "REGISTER"));
        assert!(ring.flow("b", 10).is_some());
        while ring.flow("a", 10).is_some() {
            push_options(&mut ring, &format!("c{c}"), 10);
            c += 1;
        }
        // "b"'s OPTIONS left before "a"'s 401, its 200 not before.
        if let Some(b) = ring.flow("b", 10) {
            assert_eq!(b.len(), 1);
            assert_eq!(b[0].label, response(200, "OPTIONS"));
        }
        assert!(ring.flow(&format!("c{}", c - 1), 10).is_some());
    }

    #[test]
    fn search_by_each_field() {
        let mut ring = Ring::new(1 << 20);
        push(
            &mut ring,
            "reg-1",
            request("REGISTER"),
            "127.0.0.1:5062",
            10,
        );
        push(
            &mut ring,
            "reg-1",
            response(401, "REGISTER"),
            "127.0.0.1:5062",
            10,
        );
        push(&mut ring, "msg-2", request("MESSAGE"), "192.0.2.7:5070", 10);
        let ids = |q: FlowQuery| -> Vec<String> {
            ring.search(&q, 10)
                .iter()
                .map(|f| f.call_id.to_string())
                .collect()
        };
        assert_eq!(ids(FlowQuery::default()), ["msg-2", "reg-1"]);
        let q = |f: fn(&mut FlowQuery)| {
            let mut q = FlowQuery::default();
            f(&mut q);
            q
        };
        assert_eq!(ids(q(|q| q.call_id = Some("reg".into()))), ["reg-1"]);
        assert_eq!(ids(q(|q| q.method = Some("message".into()))), ["msg-2"]);
        assert_eq!(ids(q(|q| q.status = Some(401))), ["reg-1"]);
        assert_eq!(ids(q(|q| q.address = Some("192.0.2.7".into()))), ["msg-2"]);
        assert_eq!(ids(q(|q| q.user = Some("ali".into()))).len(), 2);
        assert!(ids(q(|q| q.user = Some("carol".into()))).is_empty());
        let reg = &ring.search(&q(|q| q.call_id = Some("reg-1".into())), 1)[0];
        assert_eq!(reg.messages(), 2);
        assert_eq!(reg.method.as_deref(), Some("REGISTER"));
        assert_eq!(reg.peer_names(), ["udp:127.0.0.1:5062"]);
        assert_eq!(ring.search(&FlowQuery::default(), 1).len(), 1);
    }
}
