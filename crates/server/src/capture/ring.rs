//! The capture ring: the latest messages sent and received, within a byte
//! budget.
//!
//! The ring is one block of memory, the budget's size, that messages are
//! written into one after the other; when the next one does not fit, the
//! oldest are forgotten to make room. Keeping a message is a copy of its
//! bytes and a few words beside them (no allocation, nothing looked up),
//! and forgetting one is reading where it ends: the cost falls on the
//! console, which is asked for a page now and then, not on the SIP path,
//! which captures every message. The block grows to the budget as it
//! fills, so a server with little traffic holds little.
//!
//! So the ring keeps no index of flows: what the console asks (the flows,
//! with their methods, statuses, peers and users; the messages of one
//! flow) is found by reading the messages held, oldest first, which holds
//! capture back while it runs. `cargo run --release -p sipjet --example
//! capture_cost` measures both sides.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::mem::size_of;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sipjet_core::transport::Direction;
use sipjet_core::{Message, Protocol};

use crate::modules::metrics::METHOD_LABELS;

/// Distinct methods, statuses and peer addresses a flow's summary keeps;
/// later ones are not listed (the messages themselves still are).
const SUMMARY_ITEMS: usize = 8;

/// Messages start on 8-byte boundaries.
const ALIGN: usize = 8;

/// A message's fixed part, before its Call-ID and bytes:
///
/// | bytes  | what                                        |
/// |--------|---------------------------------------------|
/// | 0..4   | the length of the whole entry               |
/// | 4..8   | the Call-ID's length                        |
/// | 8..16  | its number                                  |
/// | 16..24 | when, in nanoseconds since the Unix epoch   |
/// | 24..28 | the message's length                        |
/// | 28     | direction (0 received, 1 sent)              |
/// | 29     | transport, its place in [`Protocol::ALL`]   |
/// | 32..51 | this side's address                         |
/// | 51..70 | the peer's address                          |
const HEADER: usize = 72;
const LOCAL: usize = 32;
const REMOTE: usize = 51;
/// An address: 4 or 6, the IPv6 (or IPv4-mapped) octets, the port.
const ADDRESS: usize = 19;

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
    /// `REGISTER`, or `401 Unauthorized`.
    pub fn text(&self) -> String {
        match self {
            Label::Request { method } => method.to_string(),
            Label::Response { status, reason, .. } => format!("{status} {reason}"),
        }
    }

    /// The label of a message's bytes: its start line, and for a response
    /// the method of its CSeq. Bytes that are no SIP message (the ring
    /// holds only what the transports found valid or wrote themselves)
    /// give an empty method.
    pub fn of(wire: &[u8]) -> Label {
        match start_line(wire) {
            StartLine::Response(status, reason) => Label::Response {
                status,
                reason: reason.into(),
                method: cseq_method(wire).into(),
            },
            StartLine::Request(method) => Label::Request {
                method: method.into(),
            },
        }
    }
}

/// What a message's first line says.
enum StartLine<'a> {
    Request(&'a str),
    Response(u16, &'a str),
}

fn start_line(wire: &[u8]) -> StartLine<'_> {
    let end = wire
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(wire.len());
    let line = std::str::from_utf8(&wire[..end]).unwrap_or("");
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Ok(status) = code.parse() {
            return StartLine::Response(status, reason);
        }
    }
    StartLine::Request(line.split(' ').next().unwrap_or(""))
}

/// The method of the CSeq header (which has no compact form).
fn cseq_method(wire: &[u8]) -> &str {
    for line in wire.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line[..colon].trim_ascii().eq_ignore_ascii_case(b"cseq") {
            let value = std::str::from_utf8(&line[colon + 1..]).unwrap_or("");
            return value.split_ascii_whitespace().nth(1).unwrap_or("");
        }
    }
    ""
}

/// The user parts of a message's From and To.
fn users(wire: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(message) = Message::parse(wire.to_vec()) else {
        return (None, None);
    };
    let from = message
        .from_header()
        .ok()
        .and_then(|n| n.uri().ok())
        .and_then(|u| u.user().map(str::to_string));
    let to = message
        .to_header()
        .ok()
        .and_then(|n| n.uri().ok())
        .and_then(|u| u.user().map(str::to_string));
    (from, to)
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

/// A message to keep.
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
    /// The bytes.
    pub wire: &'a [u8],
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
    /// How many of its messages are in the ring.
    messages: usize,
}

impl FlowSummary {
    /// How many of its messages are in the ring.
    pub fn messages(&self) -> usize {
        self.messages
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
    /// Every field but the user, which needs the flow's first message
    /// parsed.
    fn matches_seen(&self, f: &FlowSummary) -> bool {
        self.call_id
            .as_deref()
            .is_none_or(|part| f.call_id.contains(part))
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

    fn matches_user(&self, f: &FlowSummary) -> bool {
        self.user.as_deref().is_none_or(|u| {
            [&f.from_user, &f.to_user]
                .iter()
                .any(|x| x.as_deref().is_some_and(|x| x.contains(u)))
        })
    }
}

/// The ring: messages one after the other in a block of memory, and
/// beside it, in the order they came, a [`Slot`] for each: where it is
/// and what a search asks of it. When the next message does not fit
/// before the block's end, it goes at its start, once the oldest there
/// have been forgotten.
///
/// A search reads the slots, which lie together, and goes into the block
/// only for the flows it shows: reading each message there would be a
/// cache miss for every one of a hundred thousand.
#[derive(Debug)]
pub struct Ring {
    budget: usize,
    /// The most bytes `block` may take.
    capacity: usize,
    /// The most slots: what the budget leaves beside the block.
    most_slots: usize,
    /// Written up to its length; grown (up to `capacity`) as it fills.
    block: Vec<u8>,
    /// The messages held, oldest first.
    slots: VecDeque<Slot>,
    /// Where the newest message ends.
    head: usize,
    next_seq: u64,
    /// Keyed at random, so that a stranger cannot make Call-IDs that hash
    /// alike and so merge flows on the console.
    hasher: RandomState,
}

/// A message: where it is in the block, and what a search asks of it.
#[derive(Clone, Copy, Debug)]
struct Slot {
    offset: u32,
    /// Its status, or for a request [`REQUEST`] and the place of its
    /// method in [`METHODS`] (past the list: another method).
    kind: u16,
    /// The hash of the transport and address of the peer.
    peer_hash: u32,
    call_id_hash: u64,
    /// Nanoseconds since the Unix epoch.
    at: u64,
}

/// The share of the budget the slots may take: 1/16th, room for 131,072
/// slots in 64 MiB, more than the block holds of messages of 480 bytes
/// or more. With smaller ones the slots run out first, and the oldest
/// messages go for that.
const SLOTS_SHARE: usize = 16;

/// A request's kind: this and its method's place.
const REQUEST: u16 = 1000;

/// The methods a slot names: the metrics' labels but their last,
/// "other"; other methods are read from the message.
const METHODS: &[&str] = match METHOD_LABELS.split_last() {
    Some((_, known)) => known,
    None => &[],
};

/// A slot's kind, read off the start line's bytes: this runs for every
/// message captured, so it compares bytes and converts nothing.
fn kind_of(wire: &[u8]) -> u16 {
    if let Some(
        &[
            a @ b'1'..=b'6',
            b @ b'0'..=b'9',
            c @ b'0'..=b'9',
            b' ' | b'\r',
        ],
    ) = wire
        .strip_prefix(b"SIP/2.0 ")
        .and_then(|rest| rest.get(..4))
    {
        return [a, b, c]
            .iter()
            .fold(0, |n, d| n * 10 + u16::from(d - b'0'));
    }
    let method = wire.split(|&b| b == b' ').next().unwrap_or(&[]);
    let place = METHODS.iter().position(|m| m.as_bytes() == method);
    REQUEST + place.unwrap_or(METHODS.len()) as u16
}

/// The hash of a peer, told apart only from the other peers of a flow.
fn peer_hash(protocol: Protocol, addr: SocketAddr) -> u32 {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => u128::from(v4.to_bits()),
        IpAddr::V6(v6) => v6.to_bits(),
    };
    let mixed = (ip as u64)
        ^ ((ip >> 64) as u64).rotate_left(17)
        ^ (u64::from(addr.port()) << 40)
        ^ (protocol as u64) << 56;
    (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

fn read_u32(block: &[u8], at: usize) -> usize {
    let mut b = [0; 4];
    b.copy_from_slice(&block[at..at + 4]);
    u32::from_le_bytes(b) as usize
}

fn read_u64(block: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&block[at..at + 8]);
    u64::from_le_bytes(b)
}

fn put_address(out: &mut [u8], a: SocketAddr) {
    let (family, ip) = match a.ip() {
        IpAddr::V4(v4) => (4, v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => (6, v6),
    };
    out[0] = family;
    out[1..17].copy_from_slice(&ip.octets());
    out[17..19].copy_from_slice(&a.port().to_le_bytes());
}

fn address(b: &[u8]) -> SocketAddr {
    let mut octets = [0; 16];
    octets.copy_from_slice(&b[1..17]);
    let v6 = Ipv6Addr::from(octets);
    let ip = match (b[0], v6.to_ipv4_mapped()) {
        (4, Some(v4)) => IpAddr::V4(v4),
        _ => IpAddr::V6(v6),
    };
    SocketAddr::new(ip, u16::from_le_bytes([b[17], b[18]]))
}

/// One message in the block, read in place.
#[derive(Clone, Copy)]
struct Entry<'a>(&'a [u8]);

impl<'a> Entry<'a> {
    fn call_id(self) -> &'a [u8] {
        &self.0[HEADER..HEADER + read_u32(self.0, 4)]
    }

    fn wire(self) -> &'a [u8] {
        let from = HEADER + read_u32(self.0, 4);
        &self.0[from..from + read_u32(self.0, 24)]
    }

    fn seq(self) -> u64 {
        read_u64(self.0, 8)
    }

    fn at(self) -> SystemTime {
        time(read_u64(self.0, 16))
    }

    fn direction(self) -> Direction {
        if self.0[28] == 0 {
            Direction::Received
        } else {
            Direction::Sent
        }
    }

    fn protocol(self) -> Protocol {
        Protocol::ALL
            .get(usize::from(self.0[29]))
            .copied()
            .unwrap_or(Protocol::Udp)
    }

    fn remote(self) -> SocketAddr {
        address(&self.0[REMOTE..REMOTE + ADDRESS])
    }

    fn peer(self) -> (Protocol, SocketAddr) {
        (self.protocol(), self.remote())
    }

    fn record(self) -> Record {
        let wire = self.wire();
        Record {
            seq: self.seq(),
            at: self.at(),
            direction: self.direction(),
            protocol: self.protocol(),
            local: address(&self.0[LOCAL..LOCAL + ADDRESS]),
            remote: self.remote(),
            call_id: Arc::from(String::from_utf8_lossy(self.call_id())),
            label: Label::of(wire),
            wire: wire.into(),
        }
    }
}

/// Adds `item` unless it is there or the list is full.
fn push_bounded<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if list.len() < SUMMARY_ITEMS && !list.contains(&item) {
        list.push(item);
    }
}

/// A flow as the slots show it.
struct Gathered {
    /// Its oldest message's place.
    first: usize,
    /// Its newest message's place: the order of the search's answer.
    last: usize,
    first_at: u64,
    last_at: u64,
    messages: usize,
    /// Distinct kinds, in order of appearance.
    kinds: Vec<(u16, usize)>,
    /// Distinct peers, in order of appearance, each with a message's
    /// place.
    peers: Vec<(u32, usize)>,
}

fn time(nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

impl Ring {
    /// An empty ring that takes at most `budget` bytes of memory.
    pub fn new(budget: usize) -> Ring {
        let most_slots = budget / SLOTS_SHARE / size_of::<Slot>();
        // A budget too small for one slot keeps nothing.
        let capacity = if most_slots == 0 {
            0
        } else {
            (budget - budget / SLOTS_SHARE).min(u32::MAX as usize)
        };
        Ring {
            budget,
            capacity: capacity / ALIGN * ALIGN,
            most_slots,
            block: Vec::new(),
            slots: VecDeque::new(),
            head: 0,
            next_seq: 0,
            hasher: RandomState::new(),
        }
    }

    /// The memory it takes: its block and slots, as large as they have
    /// grown.
    pub fn used(&self) -> usize {
        self.block.capacity() + self.slots.capacity() * size_of::<Slot>()
    }

    /// Its budget.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Flows held: the distinct Call-IDs of the messages held.
    pub fn flow_count(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.call_id_hash)
            .collect::<HashSet<_>>()
            .len()
    }

    /// Messages captured since start, forgotten ones included.
    pub fn captured(&self) -> u64 {
        self.next_seq
    }

    /// Keeps a message, forgetting the oldest ones it does not fit
    /// beside; one that alone would take more than the budget is not kept.
    pub fn push(&mut self, new: NewRecord<'_>) {
        let size = (HEADER + new.call_id.len() + new.wire.len()).next_multiple_of(ALIGN);
        if size > self.capacity {
            return;
        }
        let at = self.place(size);
        if at + size > self.block.len() {
            self.grow(at + size);
        }
        if self.slots.len() >= self.most_slots {
            self.forget_oldest();
        }
        if self.slots.len() == self.slots.capacity() {
            // Doubling, up to the slots' share of the budget.
            let want = (self.slots.capacity() * 2).max(64).min(self.most_slots);
            self.slots
                .reserve_exact(want.saturating_sub(self.slots.len()));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let nanos = new
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let entry = &mut self.block[at..at + size];
        // Each length fits in 32 bits, as the block's capacity does.
        entry[0..4].copy_from_slice(&(size as u32).to_le_bytes());
        entry[4..8].copy_from_slice(&(new.call_id.len() as u32).to_le_bytes());
        entry[8..16].copy_from_slice(&seq.to_le_bytes());
        entry[16..24].copy_from_slice(&nanos.to_le_bytes());
        entry[24..28].copy_from_slice(&(new.wire.len() as u32).to_le_bytes());
        entry[28] = u8::from(new.direction == Direction::Sent);
        entry[29] = Protocol::ALL
            .iter()
            .position(|p| *p == new.protocol)
            .map_or(0, |i| i as u8);
        put_address(&mut entry[LOCAL..LOCAL + ADDRESS], new.local);
        put_address(&mut entry[REMOTE..REMOTE + ADDRESS], new.remote);
        let wire_at = HEADER + new.call_id.len();
        entry[HEADER..wire_at].copy_from_slice(new.call_id.as_bytes());
        entry[wire_at..wire_at + new.wire.len()].copy_from_slice(new.wire);
        self.slots.push_back(Slot {
            offset: at as u32,
            kind: kind_of(new.wire),
            peer_hash: peer_hash(new.protocol, new.remote),
            call_id_hash: self.hasher.hash_one(new.call_id.as_bytes()),
            at: nanos,
        });
        self.head = at + size;
    }

    /// Where a message of `size` bytes goes, once the oldest messages in
    /// its way are forgotten.
    fn place(&mut self, size: usize) -> usize {
        loop {
            let Some(oldest) = self.slots.front() else {
                return 0;
            };
            let tail = oldest.offset as usize;
            if self.head > tail {
                // From the oldest to the newest in one piece: room after
                // it, or before the oldest.
                if self.capacity - self.head >= size {
                    return self.head;
                }
                if tail >= size {
                    return 0;
                }
            } else if tail - self.head >= size {
                // Gone round: room between the newest and the oldest.
                return self.head;
            }
            self.forget_oldest();
        }
    }

    /// Grows the block to `len` bytes, its allocation by doubling up to
    /// the capacity.
    fn grow(&mut self, len: usize) {
        if len > self.block.capacity() {
            let want = (self.block.capacity() * 2)
                .max(64 << 10)
                .clamp(len, self.capacity);
            self.block.reserve_exact(want - self.block.len());
        }
        self.block.resize(len, 0);
    }

    fn forget_oldest(&mut self) {
        self.slots.pop_front();
    }

    fn entry(&self, slot: Slot) -> Entry<'_> {
        let at = slot.offset as usize;
        Entry(&self.block[at..at + read_u32(&self.block, at)])
    }

    /// The messages held, oldest first.
    #[cfg(test)]
    fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.slots.iter().map(|&slot| self.entry(slot))
    }

    /// The flows `query` matches, the latest active first, at most
    /// `limit`.
    pub fn search(&self, query: &FlowQuery, limit: usize) -> Vec<FlowSummary> {
        let mut flows: HashMap<u64, Gathered> = HashMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let f = flows.entry(slot.call_id_hash).or_insert_with(|| Gathered {
                first: i,
                last: i,
                first_at: slot.at,
                last_at: slot.at,
                messages: 0,
                kinds: Vec::new(),
                peers: Vec::new(),
            });
            f.last = i;
            f.last_at = slot.at;
            f.messages += 1;
            if f.kinds.len() < 2 * SUMMARY_ITEMS && !f.kinds.iter().any(|k| k.0 == slot.kind) {
                f.kinds.push((slot.kind, i));
            }
            if f.peers.len() < SUMMARY_ITEMS && !f.peers.iter().any(|p| p.0 == slot.peer_hash) {
                f.peers.push((slot.peer_hash, i));
            }
        }
        let mut found: Vec<Gathered> = flows.into_values().collect();
        found.sort_unstable_by_key(|f| std::cmp::Reverse(f.last));
        // Into the block only now, for the flows looked at, the latest
        // first, until enough have matched.
        found
            .into_iter()
            .map(|f| (f.first, self.summary(f)))
            .filter(|(_, f)| query.matches_seen(f))
            .filter_map(|(first, mut f)| {
                (f.from_user, f.to_user) = users(self.entry(self.slots[first]).wire());
                query.matches_user(&f).then_some(f)
            })
            .take(limit)
            .collect()
    }

    /// A flow's summary: what the slots gathered, with its Call-ID,
    /// methods and peers read from its messages.
    fn summary(&self, f: Gathered) -> FlowSummary {
        let at = |i: usize| self.entry(self.slots[i]);
        let mut summary = FlowSummary {
            call_id: Arc::from(String::from_utf8_lossy(at(f.last).call_id())),
            first_at: time(f.first_at),
            last_at: time(f.last_at),
            method: None,
            from_user: None,
            to_user: None,
            methods: Vec::new(),
            statuses: Vec::new(),
            peers: f.peers.iter().map(|&(_, i)| at(i).peer()).collect(),
            messages: f.messages,
        };
        for (kind, i) in f.kinds {
            if kind < REQUEST {
                push_bounded(&mut summary.statuses, kind);
                continue;
            }
            let method: Box<str> = match METHODS.get(usize::from(kind - REQUEST)) {
                Some(m) => (*m).into(),
                None => match start_line(at(i).wire()) {
                    StartLine::Request(m) => m.into(),
                    StartLine::Response(..) => continue,
                },
            };
            if summary.method.is_none() {
                summary.method = Some(method.clone());
            }
            push_bounded(&mut summary.methods, method);
        }
        summary
    }

    /// The messages of the flow `call_id`, oldest first.
    fn flow_entries<'a>(&'a self, call_id: &'a str) -> impl Iterator<Item = Entry<'a>> + 'a {
        let hash = self.hasher.hash_one(call_id.as_bytes());
        self.slots
            .iter()
            .filter(move |slot| slot.call_id_hash == hash)
            .map(|&slot| self.entry(slot))
            .filter(move |e| e.call_id() == call_id.as_bytes())
    }

    /// The messages of the flow `call_id`, oldest first, at most `limit`
    /// (the first ones); `None` when it has none in the ring.
    pub fn flow(&self, call_id: &str, limit: usize) -> Option<Vec<Arc<Record>>> {
        let records: Vec<Arc<Record>> = self
            .flow_entries(call_id)
            .take(limit)
            .map(|e| Arc::new(e.record()))
            .collect();
        (!records.is_empty()).then_some(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of about `size` bytes: `start` its first line, From
    /// alice, To bob.
    fn wire(call_id: &str, start: &str, size: usize) -> Vec<u8> {
        let method = match start_line(start.as_bytes()) {
            StartLine::Request(m) => m.to_string(),
            StartLine::Response(..) => "REGISTER".to_string(),
        };
        let mut w = format!(
            "{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\n\
             From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
             Call-ID: {call_id}\r\ncSeq : 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes();
        w.resize(size.max(w.len()), b' ');
        w
    }

    fn push(ring: &mut Ring, call_id: &str, start: &str, remote: &str, size: usize) {
        let wire = wire(call_id, start, size);
        ring.push(NewRecord {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(ring.captured()),
            direction: Direction::Received,
            protocol: Protocol::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: remote.parse().unwrap(),
            call_id,
            wire: &wire,
        });
    }

    /// An OPTIONS of `size` bytes from the same peer.
    fn push_options(ring: &mut Ring, call_id: &str, size: usize) {
        push(ring, call_id, "OPTIONS sip:x SIP/2.0", "127.0.0.1:9", size);
    }

    fn response(status: u16, method: &str) -> Label {
        Label::Response {
            status,
            reason: "R".into(),
            method: method.into(),
        }
    }

    #[test]
    fn the_budget_bounds_messages() {
        let budget = 64 << 10;
        let mut ring = Ring::new(budget);
        for i in 0..1000 {
            push_options(&mut ring, &format!("c{i}"), 300);
            assert!(ring.used() <= budget, "{} after {i}", ring.used());
        }
        // The oldest went, the latest are kept, a flow for each.
        assert!(ring.len() > 100 && ring.len() < 1000, "{}", ring.len());
        assert_eq!(ring.flow_count(), ring.len());
        assert_eq!(ring.captured(), 1000);
        assert!(ring.flow("c0", 10).is_none());
        assert_eq!(ring.flow("c999", 10).unwrap()[0].seq, 999);
        // A message larger than the budget is not kept, and costs nothing.
        let (len, used) = (ring.len(), ring.used());
        push(
            &mut ring,
            "huge",
            "MESSAGE sip:x SIP/2.0",
            "127.0.0.1:9",
            budget,
        );
        assert_eq!((ring.len(), ring.used()), (len, used));
        assert!(ring.flow("huge", 10).is_none());
    }

    #[test]
    fn messages_come_back_as_they_went_in_across_the_wrap() {
        let mut ring = Ring::new(16 << 10);
        // Sizes that do not divide the block, so that each round leaves
        // room unused at its end.
        for i in 0..2000u64 {
            let size = 100 + (i as usize * 37) % 900;
            let remote = if i % 2 == 0 {
                "192.0.2.7:5070"
            } else {
                "[2001:db8::7]:5071"
            };
            push(
                &mut ring,
                &format!("c{i}"),
                "INFO sip:x SIP/2.0",
                remote,
                size,
            );
            let all: Vec<u64> = ring
                .entries()
                .map(|e| {
                    assert_eq!(e.call_id(), format!("c{}", e.seq()).as_bytes());
                    e.seq()
                })
                .collect();
            // The latest ones, in order, ending with this one.
            assert_eq!(all.len(), ring.len());
            assert_eq!(all.last(), Some(&i));
            assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "{all:?}");
        }
        let r = &ring.flow("c1999", 1).unwrap()[0];
        assert_eq!(r.remote, "[2001:db8::7]:5071".parse().unwrap());
        assert_eq!(r.local, "127.0.0.1:5060".parse().unwrap());
        assert_eq!(r.at, SystemTime::UNIX_EPOCH + Duration::from_secs(1999));
        assert_eq!(&*r.call_id, "c1999");
        assert!(r.wire.starts_with(b"INFO sip:x SIP/2.0\r\n"));
        assert_eq!(r.wire.len(), 100 + (1999 * 37) % 900);
        assert_eq!(
            ring.flow("c1998", 1).unwrap()[0].remote,
            "192.0.2.7:5070".parse().unwrap()
        );
        // Forgetting everything leaves it empty, and it fills again.
        while !ring.is_empty() {
            ring.forget_oldest();
        }
        assert_eq!(ring.entries().count(), 0);
        push_options(&mut ring, "again", 100);
        assert_eq!(ring.flow("again", 5).unwrap().len(), 1);
    }

    #[test]
    fn the_block_grows_with_what_it_holds() {
        let mut ring = Ring::new(64 << 20);
        assert_eq!(ring.used(), 0);
        push_options(&mut ring, "a", 500);
        assert!(ring.used() <= 1 << 20, "{}", ring.used());
        for i in 0..200_000 {
            push_options(&mut ring, &format!("c{i}"), 500);
        }
        assert!(ring.used() <= 64 << 20);
        assert!(ring.captured() > ring.len() as u64);
    }

    #[test]
    fn a_flow_leaves_with_its_last_message() {
        let mut ring = Ring::new(64 << 10);
        for x in 0..1000 {
            push_options(&mut ring, &format!("x{x}"), 10);
        }
        push(&mut ring, "a", "REGISTER sip:x SIP/2.0", "127.0.0.1:9", 10);
        push(&mut ring, "a", "SIP/2.0 401 R", "127.0.0.1:9", 10);
        let mut c = 0;
        while ring.flow("a", 10).unwrap().len() == 2 {
            push_options(&mut ring, &format!("c{c}"), 10);
            c += 1;
        }
        let a = ring.flow("a", 10).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].label, response(401, "REGISTER"));
        while ring.flow("a", 10).is_some() {
            push_options(&mut ring, &format!("c{c}"), 10);
            c += 1;
        }
        assert!(ring.flow(&format!("c{}", c - 1), 10).is_some());
    }

    #[test]
    fn small_messages_run_out_of_slots_first() {
        let budget = 64 << 10;
        let mut ring = Ring::new(budget);
        for i in 0..10_000 {
            push_options(&mut ring, &format!("c{i}"), 0);
            assert!(ring.used() <= budget);
            assert!(ring.len() <= ring.most_slots);
        }
        assert_eq!(ring.len(), ring.most_slots);
        assert_eq!(ring.flow("c9999", 1).unwrap()[0].seq, 9999);
    }

    #[test]
    fn a_method_without_a_slot_kind_is_read_from_the_message() {
        let mut ring = Ring::new(1 << 20);
        push(&mut ring, "f", "FOO sip:x SIP/2.0", "127.0.0.1:9", 10);
        push(&mut ring, "f", "SIP/2.0 501 R", "127.0.0.1:9", 10);
        push(&mut ring, "f", "MESSAGE sip:x SIP/2.0", "[::1]:9", 10);
        let f = &ring.search(&FlowQuery::default(), 1)[0];
        assert_eq!(f.method.as_deref(), Some("FOO"));
        assert_eq!(f.methods, [Box::from("FOO"), Box::from("MESSAGE")]);
        assert_eq!(f.statuses, [501]);
        assert_eq!(f.peer_names(), ["udp:127.0.0.1:9", "udp:[::1]:9"]);
        assert_eq!(f.messages(), 3);
        assert_eq!(kind_of(b"SIP/2.0 180 Ringing\r\n"), 180);
        assert_eq!(kind_of(b"SIP/2.0 18"), REQUEST + METHODS.len() as u16);
        assert_eq!(kind_of(b"INVITE sip:x SIP/2.0"), REQUEST);
    }

    #[test]
    fn labels_are_read_from_the_bytes() {
        assert_eq!(
            Label::of(b"SIP/2.0 180 Ringing\r\nCSeq: 7 INVITE\r\n\r\n"),
            Label::Response {
                status: 180,
                reason: "Ringing".into(),
                method: "INVITE".into()
            }
        );
        assert_eq!(
            Label::of(b"FOO sip:x SIP/2.0\r\n\r\n"),
            Label::Request {
                method: "FOO".into()
            }
        );
        // Bytes that are no message: no panic, nothing invented.
        assert_eq!(
            Label::of(b"SIP/2.0 abc\r\n\r\nCSeq: 1 BYE"),
            Label::Request {
                method: "SIP/2.0".into()
            }
        );
        assert_eq!(
            Label::of(&[0xff, b' ', b'\n']),
            Label::Request { method: "".into() }
        );
        assert_eq!(Label::of(b"").text(), "");
    }

    #[test]
    fn search_by_each_field() {
        let mut ring = Ring::new(1 << 20);
        push(
            &mut ring,
            "reg-1",
            "REGISTER sip:x SIP/2.0",
            "127.0.0.1:5062",
            10,
        );
        push(&mut ring, "reg-1", "SIP/2.0 401 R", "127.0.0.1:5062", 10);
        push(
            &mut ring,
            "msg-2",
            "MESSAGE sip:x SIP/2.0",
            "192.0.2.7:5070",
            10,
        );
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
        assert_eq!(reg.methods, [Box::from("REGISTER")]);
        assert_eq!(reg.statuses, [401]);
        assert_eq!(reg.from_user.as_deref(), Some("alice"));
        assert_eq!(reg.to_user.as_deref(), Some("bob"));
        assert_eq!(reg.first_at, SystemTime::UNIX_EPOCH);
        assert_eq!(reg.last_at, SystemTime::UNIX_EPOCH + Duration::from_secs(1));
        assert_eq!(reg.peer_names(), ["udp:127.0.0.1:5062"]);
        assert_eq!(ring.search(&FlowQuery::default(), 1).len(), 1);
    }
}
