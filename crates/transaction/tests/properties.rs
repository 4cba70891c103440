//! Property: whatever arrives, in whatever order, with whatever gaps in
//! time, the layer does not panic, reports each transaction's end exactly
//! once and never mentions a transaction after it; and once the TU has
//! done its part (answered its server transactions, cancelled the INVITEs
//! still ringing, §9.1) and time runs long enough, every transaction has
//! terminated and no timer is left.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sipjet_message::Message;
use sipjet_transaction::{Event, Kind, State, TimerConfig, TransactionId, Transactions};

const METHODS: [&str; 5] = ["INVITE", "OPTIONS", "CANCEL", "ACK", "BYE"];
const CODES: [u16; 10] = [100, 180, 183, 200, 202, 302, 486, 487, 503, 603];

/// Few branches, so that messages often meet a transaction: 0 and 1 are
/// RFC 3261 ones, 2 an RFC 2543 one, 3 none.
fn branch_param(b: u8) -> String {
    match b % 4 {
        3 => String::new(),
        2 => ";branch=legacy".into(),
        n => format!(";branch=z9hG4bKp{n}"),
    }
}

fn request_text(
    method: &str,
    branch: u8,
    sent_by: u8,
    to_tag: Option<u8>,
    reliable: bool,
) -> String {
    let transport = if reliable { "TCP" } else { "UDP" };
    let to_tag = to_tag
        .map(|t| format!(";tag=t{}", t % 3))
        .unwrap_or_default();
    format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/{transport} 192.0.2.{}:5060{}\r\n\
From: <sip:alice@example.com>;tag=f\r\n\
To: <sip:bob@example.com>{to_tag}\r\n\
Call-ID: prop@example.com\r\n\
CSeq: 5 {method}\r\n\
Content-Length: 0\r\n\r\n",
        sent_by % 2,
        branch_param(branch)
    )
}

fn request(method: &str, branch: u8, sent_by: u8, to_tag: Option<u8>, reliable: bool) -> Message {
    Message::parse(request_text(method, branch, sent_by, to_tag, reliable).into_bytes())
        .expect("generated request parses")
}

fn response(method: &str, branch: u8, code: u16, tag: u8) -> Message {
    let req = request(method, branch, 0, None, false);
    let tag = format!("r{}", tag % 3);
    Message::response_to_with(&req, code, None, Some(&tag)).expect("response builds")
}

/// The TU's response; a bare status line when the request lacks what
/// `response_to` copies (a mangled request can lack From or To).
fn answer(request: &Message, code: u16, tag: &str) -> Message {
    Message::response_to_with(request, code, None, Some(tag))
        .or_else(|_| Message::new_response(code, None))
        .expect("status line builds")
}

#[derive(Clone, Debug)]
enum Op {
    Send {
        method: usize,
        branch: u8,
        reliable: bool,
    },
    Response {
        method: usize,
        branch: u8,
        code: usize,
        tag: u8,
    },
    Reply {
        pick: usize,
        code: usize,
        tag: u8,
    },
    Request {
        method: usize,
        branch: u8,
        sent_by: u8,
        to_tag: Option<u8>,
        reliable: bool,
    },
    Respond {
        pick: usize,
        code: usize,
        tag: u8,
    },
    TransportError {
        pick: usize,
    },
    Advance {
        ms: u32,
    },
    Mangled {
        method: usize,
        edits: Vec<(usize, u8)>,
        is_response: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let m = 0..METHODS.len();
    let c = 0..CODES.len();
    prop_oneof![
        3 => (m.clone(), any::<u8>(), any::<bool>())
            .prop_map(|(method, branch, reliable)| Op::Send { method, branch, reliable }),
        2 => (m.clone(), any::<u8>(), c.clone(), any::<u8>())
            .prop_map(|(method, branch, code, tag)| Op::Response { method, branch, code, tag }),
        4 => (any::<usize>(), c.clone(), any::<u8>())
            .prop_map(|(pick, code, tag)| Op::Reply { pick, code, tag }),
        4 => (m.clone(), any::<u8>(), any::<u8>(), any::<Option<u8>>(), any::<bool>()).prop_map(
            |(method, branch, sent_by, to_tag, reliable)| Op::Request {
                method,
                branch,
                sent_by,
                to_tag,
                reliable
            }
        ),
        4 => (any::<usize>(), c, any::<u8>()).prop_map(|(pick, code, tag)| Op::Respond { pick, code, tag }),
        1 => any::<usize>().prop_map(|pick| Op::TransportError { pick }),
        3 => prop_oneof![0u32..1_000, 0u32..40_000].prop_map(|ms| Op::Advance { ms }),
        1 => (m, proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), any::<bool>())
            .prop_map(|(method, edits, is_response)| Op::Mangled { method, edits, is_response }),
    ]
}

/// Drives the layer and checks what comes out of it.
struct World {
    layer: Transactions<u8>,
    now: Instant,
    created: HashSet<TransactionId>,
    terminated: HashSet<TransactionId>,
    /// Server transactions and the request each was created by.
    servers: HashMap<TransactionId, Message>,
    /// Client transactions and the request each sent.
    clients: HashMap<TransactionId, Message>,
    /// Client INVITE transactions and their branch number.
    invites: HashMap<TransactionId, u8>,
}

impl World {
    fn new() -> World {
        World {
            layer: Transactions::new(TimerConfig::default()),
            now: Instant::now(),
            created: HashSet::new(),
            terminated: HashSet::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            invites: HashMap::new(),
        }
    }

    fn live(&self, id: TransactionId) {
        assert!(
            self.created.contains(&id),
            "{id} reported but never created"
        );
        assert!(
            !self.terminated.contains(&id),
            "{id} reported after it terminated"
        );
    }

    fn drain(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            if let Some(id) = t.id {
                self.live(id);
            }
            // What goes out must be readable by the peer.
            Message::parse(t.message.to_bytes()).expect("transmitted message parses");
        }
        while let Some(e) = self.layer.poll_event() {
            match e {
                Event::Request { id, request, .. }
                | Event::Cancel {
                    id,
                    cancel: request,
                    ..
                } => {
                    assert!(self.created.insert(id), "{id} created twice");
                    self.servers.insert(id, request);
                }
                Event::Response { id, .. }
                | Event::Timeout { id }
                | Event::TransportError { id } => self.live(id),
                Event::Terminated { id } => {
                    self.live(id);
                    self.terminated.insert(id);
                    self.servers.remove(&id);
                    self.clients.remove(&id);
                    self.invites.remove(&id);
                }
                Event::Ack { .. } | Event::StrayResponse { .. } => {}
            }
        }
        assert_eq!(self.layer.len(), self.created.len() - self.terminated.len());
    }

    fn send(&mut self, method: &str, branch: u8, reliable: bool) {
        let req = request(method, branch, 0, None, reliable);
        if let Ok(id) = self.layer.send_request(req.clone(), 1, reliable, self.now) {
            assert!(self.created.insert(id));
            self.clients.insert(id, req);
            if method == "INVITE" {
                self.invites.insert(id, branch);
            }
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Send {
                method,
                branch,
                reliable,
            } => self.send(METHODS[method], branch, reliable),
            Op::Response {
                method,
                branch,
                code,
                tag,
            } => {
                let r = response(METHODS[method], branch, CODES[code], tag);
                self.layer.handle_incoming(r, 1, false, self.now);
            }
            Op::Reply { pick, code, tag } => {
                let mut ids: Vec<_> = self.clients.keys().copied().collect();
                ids.sort();
                if !ids.is_empty() {
                    let req = &self.clients[&ids[pick % ids.len()]];
                    let resp = answer(req, CODES[code], &format!("r{}", tag % 3));
                    self.layer.handle_incoming(resp, 1, false, self.now);
                }
            }
            Op::Request {
                method,
                branch,
                sent_by,
                to_tag,
                reliable,
            } => {
                let r = request(METHODS[method], branch, sent_by, to_tag, reliable);
                self.layer.handle_incoming(r, 2, reliable, self.now);
            }
            Op::Respond { pick, code, tag } => {
                let mut ids: Vec<_> = self.servers.keys().copied().collect();
                ids.sort();
                if !ids.is_empty() {
                    let id = ids[pick % ids.len()];
                    let req = &self.servers[&id];
                    let tag = format!("s{}", tag % 2);
                    let resp = answer(req, CODES[code], &tag);
                    let _ = self.layer.respond(id, resp, self.now);
                }
            }
            Op::TransportError { pick } => {
                let mut ids: Vec<_> = self.created.difference(&self.terminated).copied().collect();
                ids.sort();
                if !ids.is_empty() {
                    self.layer.transport_error(ids[pick % ids.len()]);
                }
            }
            Op::Advance { ms } => {
                self.now += Duration::from_millis(u64::from(ms));
                self.layer.handle_timeout(self.now);
            }
            Op::Mangled {
                method,
                edits,
                is_response,
            } => {
                let mut bytes = if is_response {
                    response(METHODS[method], 0, 200, 0).to_bytes().to_vec()
                } else {
                    request_text(METHODS[method], 0, 0, None, false).into_bytes()
                };
                for (at, byte) in edits {
                    let len = bytes.len();
                    bytes[at % len] = byte;
                }
                if let Ok(m) = Message::parse(bytes) {
                    self.layer.handle_incoming(m, 3, false, self.now);
                }
            }
        }
        self.drain();
    }

    /// Lets time pass until nothing is due within `span`.
    fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        let mut steps = 0;
        while let Some(at) = self.layer.poll_timeout().filter(|&at| at <= end) {
            self.now = self.now.max(at);
            self.layer.handle_timeout(self.now);
            self.drain();
            steps += 1;
            assert!(steps < 100_000, "timers never settle");
        }
        self.now = end;
    }

    /// Does what a TU owes: a final answer to every server transaction
    /// still waiting for one, and a CANCEL for every INVITE still ringing.
    fn finish(&mut self) {
        let mut waiting: Vec<_> = self.servers.keys().copied().collect();
        waiting.sort();
        for id in waiting {
            let resp = answer(&self.servers[&id], 500, "end");
            let _ = self.layer.respond(id, resp, self.now);
        }
        self.drain();
        self.run_for(Duration::from_secs(3600));
        let mut ringing: Vec<_> = self.invites.iter().map(|(&id, &b)| (id, b)).collect();
        ringing.sort();
        for (id, branch) in ringing {
            assert_eq!(self.layer.kind(id), Some(Kind::ClientInvite));
            assert_eq!(self.layer.state(id), Some(State::Proceeding));
            let cancel = request("CANCEL", branch, 0, None, false);
            let cancel_id = self
                .layer
                .send_request(cancel, 1, false, self.now)
                .expect("no other CANCEL is live any more");
            self.created.insert(cancel_id);
        }
        self.drain();
        self.run_for(Duration::from_secs(3600));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_is_safe_and_everything_ends(ops in proptest::collection::vec(op(), 0..60)) {
        let mut world = World::new();
        for op in ops {
            world.apply(op);
        }
        world.finish();
        prop_assert!(world.layer.is_empty(), "{} transactions left", world.layer.len());
        prop_assert_eq!(world.layer.poll_timeout(), None);
        prop_assert_eq!(&world.created, &world.terminated);
    }
}
