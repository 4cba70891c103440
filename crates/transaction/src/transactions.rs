//! [`Transactions`]: every transaction of one stack instance, the matching
//! of received messages to them, and their timers.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

use bytes::Bytes;
use sipjet_message::{HeaderName, Message, Method};

use crate::client::invite::ClientInvite;
use crate::client::non_invite::ClientNonInvite;
use crate::config::TimerConfig;
use crate::error::TransactionError;
use crate::event::{Event, Transmit};
use crate::held::{HeldResponses, Resend};
use crate::id::TransactionId;
use crate::key::TransactionKey;
use crate::machine::{Deadlines, Machine, Output, Report};
use crate::server::Refusal;
use crate::server::invite::ServerInvite;
use crate::server::non_invite::ServerNonInvite;
use crate::state::{Kind, State};
use crate::timer_queue::TimerQueue;

/// The transaction layer of one stack instance, without I/O.
///
/// Feed it what the transport received ([`Transactions::handle_incoming`]),
/// what the TU wants to send ([`Transactions::send_request`],
/// [`Transactions::respond`]) and the passing of time
/// ([`Transactions::handle_timeout`] at [`Transactions::poll_timeout`]);
/// take out what to send ([`Transactions::poll_transmit`]) and what the TU
/// must learn ([`Transactions::poll_event`]). `D` is the caller's notion
/// of a destination (an address, a connection handle); it is only cloned
/// and handed back.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sipjet_message::Message;
/// use sipjet_transaction::{Event, TimerConfig, Transactions};
///
/// let mut layer = Transactions::new(TimerConfig::default());
/// let t0 = Instant::now();
/// let options = Message::parse(&b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
/// Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKdoc\r\n\
/// From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
/// Call-ID: doc@192.0.2.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"[..]).unwrap();
/// let id = layer.send_request(options.clone(), "bob", false, t0).unwrap();
/// assert_eq!(layer.poll_transmit().unwrap().dest, "bob");
///
/// // No answer: Timer E retransmits after T1.
/// assert_eq!(layer.poll_timeout(), Some(t0 + Duration::from_millis(500)));
/// layer.handle_timeout(t0 + Duration::from_millis(500));
/// assert!(layer.poll_transmit().is_some());
///
/// let ok = Message::response_to(&options, 200).unwrap();
/// layer.handle_incoming(ok, "bob", false, t0 + Duration::from_millis(600));
/// assert!(matches!(layer.poll_event(), Some(Event::Response { id: i, .. }) if i == id));
/// ```
#[derive(Debug)]
pub struct Transactions<D> {
    timers: TimerConfig,
    next_id: u64,
    /// Boxed: with tens of thousands of transactions live, growing the
    /// map moves every value, and moving pointers instead of whole state
    /// machines keeps that pause short (it stalls every message behind
    /// it).
    live: HashMap<TransactionId, Box<Entry<D>>>,
    /// RFC 3261 keys of client and server transactions and RFC 2543 keys
    /// of server transactions; [`TransactionKey`] keeps them apart.
    index: HashMap<TransactionKey, TransactionId>,
    queue: TimerQueue,
    /// Completed non-INVITE server transactions over an unreliable
    /// transport, out of `live`, `index` and `queue` while Timer J runs:
    /// the most numerous transactions by far (every REGISTER answered over
    /// UDP, for 32 s), and all they still need is their response.
    held: HeldResponses<D>,
    transmits: VecDeque<Transmit<D>>,
    events: VecDeque<Event<D>>,
    /// Reused for every step, so that a step allocates no output buffers.
    scratch: Output,
    due: Vec<TransactionId>,
}

#[derive(Debug)]
struct Entry<D> {
    machine: Machine,
    /// Where the transaction's messages go: the request's destination
    /// (client) or source (server).
    peer: D,
    key: TransactionKey,
    /// The deadlines this transaction has in the timer queue.
    queued: Deadlines,
    /// A non-INVITE server transaction's request as received, over an
    /// unreliable transport (empty otherwise): what its response is
    /// packed against once it is held for Timer J.
    request: Bytes,
}

impl<D: Clone + Eq + Hash> Transactions<D> {
    /// An empty transaction layer. Timer values above a day are cut to a
    /// day; T1 and T2 below a millisecond are raised to one.
    pub fn new(timers: TimerConfig) -> Self {
        Transactions {
            timers: timers.bounded(),
            next_id: 1,
            live: HashMap::new(),
            index: HashMap::new(),
            queue: TimerQueue::default(),
            held: HeldResponses::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Output::default(),
            due: Vec::new(),
        }
    }

    /// The timer values in use.
    pub fn timers(&self) -> &TimerConfig {
        &self.timers
    }

    /// Starts a client transaction: the request is transmitted to `dest`
    /// and, on an unreliable transport, retransmitted until a response
    /// arrives. The caller has put the top Via, with a unique branch, on
    /// the request; responses are matched by that branch and the method.
    ///
    /// Sending a CANCEL also bounds how long the INVITE client transaction
    /// with the same branch waits for its final response (§9.1).
    pub fn send_request(
        &mut self,
        request: Message,
        dest: D,
        reliable: bool,
        now: Instant,
    ) -> Result<TransactionId, TransactionError> {
        let method = request
            .method()
            .ok_or(TransactionError::NotARequest)?
            .clone();
        if method == Method::Ack {
            return Err(TransactionError::Ack);
        }
        let via = request.via().map_err(TransactionError::Unmatchable)?;
        let branch = via.branch().ok_or(TransactionError::NoBranch)?;
        let cseq = request.cseq().map_err(TransactionError::Unmatchable)?;
        if cseq.method != method.as_str() {
            return Err(TransactionError::CSeqMismatch {
                method,
                cseq: cseq.method.to_string(),
            });
        }
        let key = TransactionKey::client(branch, method.clone());
        if self.index.contains_key(&key) {
            return Err(TransactionError::Duplicate {
                branch: branch.to_string(),
                method,
            });
        }
        if method == Method::Cancel
            && let Some(&invite) = self.index.get(&key.cancelled_invite())
        {
            self.step(invite, |m, timers, _| {
                if let Machine::ClientInvite(m) = m {
                    m.on_cancel_sent(timers, now);
                }
            });
        }
        let id = self.allocate_id();
        tracing::debug!(
            %id,
            %method,
            branch = via.branch(),
            call_id = request.header(HeaderName::CallId),
            "client transaction created"
        );
        let mut out = std::mem::take(&mut self.scratch);
        let machine = if method == Method::Invite {
            Machine::ClientInvite(Box::new(ClientInvite::start(
                request,
                reliable,
                &self.timers,
                now,
                &mut out,
            )))
        } else {
            Machine::ClientNonInvite(Box::new(ClientNonInvite::start(
                request,
                reliable,
                &self.timers,
                now,
                &mut out,
            )))
        };
        self.insert(id, machine, dest, key, Bytes::new());
        self.settle(id, &mut out);
        self.scratch = out;
        Ok(id)
    }

    /// Sends a message outside any transaction: the ACK for a 2xx
    /// (§13.2.2.4), or a response a stateless element forwards. It comes
    /// out of [`Transactions::poll_transmit`] with no id.
    pub fn send_stateless(&mut self, message: Message, dest: D) {
        self.transmits.push_back(Transmit {
            id: None,
            message,
            dest,
        });
    }

    /// Everything the transport received, from `source`, on a reliable
    /// transport or not. A request creates a server transaction or is
    /// matched to one as a retransmission or an ACK; a response goes to its
    /// client transaction. Messages without a readable Via or CSeq are
    /// dropped: the transport answers malformed requests itself.
    pub fn handle_incoming(&mut self, message: Message, source: D, reliable: bool, now: Instant) {
        if message.via().is_err() || message.cseq().is_err() {
            tracing::debug!("message without a readable Via or CSeq dropped");
            return;
        }
        if message.is_request() {
            self.incoming_request(message, source, reliable, now);
        } else {
            self.incoming_response(message, source, now);
        }
    }

    /// The TU answers the server transaction `id`. A 2xx may follow a 2xx
    /// of an INVITE (retransmitted by the TU, or another fork's); no other
    /// response may follow a final one.
    pub fn respond(
        &mut self,
        id: TransactionId,
        response: Message,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let status = response.status().ok_or(TransactionError::NotAResponse)?;
        if self.held.contains(id) {
            return Err(refused(Refusal::FinalResponseSent, id, status));
        }
        let result = self
            .step(id, |m, timers, out| match m {
                Machine::ServerInvite(m) => m.respond(response, timers, now, out),
                Machine::ServerNonInvite(m) => m.respond(response, timers, now, out),
                Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => Err(Refusal::NotServer),
            })
            .ok_or(TransactionError::UnknownTransaction(id))?;
        result.map_err(|refusal| refused(refusal, id, status))
    }

    /// Answers a server transaction with a final response and ends it at
    /// once, keeping no state (RFC 3261 §8.2.7): the response is not kept
    /// for retransmissions of the request, which arrive as new requests,
    /// and a non-2xx to an INVITE is sent once, without Timer G, its ACK
    /// matching nothing. For answers that are cheap to give again and
    /// should not cost memory for Timer J's 32 seconds, nor let a sender
    /// make the server retransmit to it for Timer H's: a challenge to an
    /// unauthenticated request (§26.3.2.4 warns that stateful challenges
    /// let a flood of requests pile up state), an OPTIONS to the server, a
    /// request nobody serves. A 2xx to an INVITE is sent statefully, as by
    /// [`Transactions::respond`].
    pub fn respond_stateless(
        &mut self,
        id: TransactionId,
        response: Message,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let status = response.status().ok_or(TransactionError::NotAResponse)?;
        if self.held.contains(id) {
            let refusal = if status < 200 {
                Refusal::NotFinal
            } else {
                Refusal::FinalResponseSent
            };
            return Err(refused(refusal, id, status));
        }
        let result = self
            .step(id, |m, timers, out| match m {
                Machine::ServerInvite(m) => m.respond_and_end(response, timers, now, out),
                Machine::ServerNonInvite(m) => m.respond_and_end(response, out),
                Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => Err(Refusal::NotServer),
            })
            .ok_or(TransactionError::UnknownTransaction(id))?;
        result.map_err(|refusal| refused(refusal, id, status))
    }

    /// The transport could not send for `id` (connection refused or
    /// closed, no route): the transaction ends with
    /// [`Event::TransportError`]. Unknown ids are ignored, since a failure
    /// can be reported after the transaction ended.
    pub fn transport_error(&mut self, id: TransactionId) {
        if self.held.remove(id) {
            self.events.push_back(Event::TransportError { id });
            self.terminated(id);
            return;
        }
        self.step(id, |m, _, out| m.on_transport_error(out));
    }

    /// The TU gives up on a transaction: it ends at once, with
    /// [`Event::Terminated`], and what arrives for it later is a stray.
    /// For an INVITE client transaction cancelled long ago whose final
    /// response never came (RFC 3261 §9.1: after 64×T1 the client "SHOULD
    /// destroy the client transaction"), which would otherwise wait in
    /// Proceeding for ever. Unknown ids are ignored.
    pub fn abandon(&mut self, id: TransactionId) {
        if self.held.remove(id) {
            self.terminated(id);
            return;
        }
        self.step(id, |m, _, _| m.terminate());
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(id) = self.held.pop_expired(now) {
            self.terminated(id);
        }
        // Collect first: a timer a step arms is for the next call, even
        // when it is due already.
        let mut due = std::mem::take(&mut self.due);
        while let Some((id, slot)) = self.queue.pop_due(now) {
            if let Some(entry) = self.live.get_mut(&id) {
                entry.queued[slot] = None;
            }
            due.push(id);
        }
        due.sort_unstable();
        due.dedup();
        for &id in &due {
            self.step(id, |m, timers, out| m.on_timeout(timers, now, out));
        }
        due.clear();
        self.due = due;
    }

    /// When [`Transactions::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.queue.next(), self.held.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<D>> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event<D>> {
        self.events.pop_front()
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.live.len() + self.held.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live transaction with this key (see [`TransactionKey::of_request`]
    /// and [`TransactionKey::of_response`]).
    pub fn find(&self, key: &TransactionKey) -> Option<TransactionId> {
        self.index.get(key).copied().or_else(|| self.held.find(key))
    }

    /// The kind of a live transaction.
    pub fn kind(&self, id: TransactionId) -> Option<Kind> {
        if self.held.contains(id) {
            return Some(Kind::ServerNonInvite);
        }
        self.live.get(&id).map(|e| e.machine.kind())
    }

    /// The state of a live transaction: whether an INVITE server
    /// transaction is still Proceeding tells the TU how to answer a CANCEL.
    pub fn state(&self, id: TransactionId) -> Option<State> {
        if self.held.contains(id) {
            return Some(State::Completed);
        }
        self.live.get(&id).map(|e| e.machine.state())
    }

    fn allocate_id(&mut self) -> TransactionId {
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        id
    }

    fn insert(
        &mut self,
        id: TransactionId,
        machine: Machine,
        peer: D,
        key: TransactionKey,
        request: Bytes,
    ) {
        self.index.entry(key.clone()).or_insert(id);
        self.live.insert(
            id,
            Box::new(Entry {
                machine,
                peer,
                key,
                queued: [None, None],
                request,
            }),
        );
    }

    fn incoming_response(&mut self, response: Message, source: D, now: Instant) {
        let id = TransactionKey::of_response(&response).and_then(|k| self.find(&k));
        let Some(id) = id else {
            self.events
                .push_back(Event::StrayResponse { response, source });
            return;
        };
        self.step(id, |m, timers, out| match m {
            Machine::ClientInvite(m) => m.on_response(response, timers, now, out),
            Machine::ClientNonInvite(m) => m.on_response(response, timers, now, out),
            Machine::ServerInvite(_) | Machine::ServerNonInvite(_) => {}
        });
    }

    fn incoming_request(&mut self, request: Message, source: D, reliable: bool, now: Instant) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        let Some(key) = TransactionKey::of_request(&request) else {
            tracing::debug!(%method, "request that cannot be matched dropped");
            return;
        };
        if method == Method::Ack {
            self.incoming_ack(request, source, &key, now);
            return;
        }
        if let Some(&id) = self.index.get(&key) {
            self.step(id, |m, _, out| match m {
                Machine::ServerInvite(m) => m.on_retransmission(out),
                Machine::ServerNonInvite(m) => m.on_retransmission(out),
                Machine::ClientInvite(_) | Machine::ClientNonInvite(_) => {}
            });
            return;
        }
        match self.held.resend(&key, request.received_bytes()) {
            Resend::NotHeld => {}
            Resend::Again(again) => {
                tracing::trace!(id = ?again.id, "retransmission answered with the held response");
                self.transmits.push_back(*again);
                return;
            }
            Resend::Absorbed => return,
        }
        let id = self.allocate_id();
        tracing::debug!(
            %id,
            %method,
            branch = request.via().ok().and_then(|v| v.branch()),
            call_id = request.header(HeaderName::CallId),
            rfc2543 = key.is_rfc2543(),
            "server transaction created"
        );
        let mut out = std::mem::take(&mut self.scratch);
        let machine = if method == Method::Invite {
            Machine::ServerInvite(Box::new(ServerInvite::start(
                request.clone(),
                reliable,
                &self.timers,
                now,
                &mut out,
            )))
        } else {
            Machine::ServerNonInvite(ServerNonInvite::start(reliable))
        };
        let packs_against = match method {
            Method::Invite => Bytes::new(),
            _ if reliable => Bytes::new(),
            _ => request.received_bytes().clone(),
        };
        let event = if method == Method::Cancel {
            let invite = self
                .find(&key.cancelled_invite())
                .filter(|&i| self.kind(i) == Some(Kind::ServerInvite));
            Event::Cancel {
                id,
                cancel: request,
                source: source.clone(),
                invite,
            }
        } else {
            Event::Request {
                id,
                request,
                source: source.clone(),
            }
        };
        self.events.push_back(event);
        self.insert(id, machine, source, key, packs_against);
        self.settle(id, &mut out);
        self.scratch = out;
    }

    fn incoming_ack(&mut self, ack: Message, source: D, key: &TransactionKey, now: Instant) {
        let passed = match self.match_ack(key) {
            Some(id) => self
                .step(id, |m, timers, _| match m {
                    Machine::ServerInvite(m) => m.on_ack(ack, timers, now),
                    _ => Some(ack),
                })
                .flatten(),
            None => Some(ack),
        };
        if let Some(request) = passed {
            self.events.push_back(Event::Ack { request, source });
        }
    }

    /// The INVITE server transaction an ACK belongs to. With an RFC 3261
    /// branch that is the key's; an RFC 2543 ACK must also carry the To
    /// tag of the final response the transaction sent (§17.2.3).
    fn match_ack(&self, key: &TransactionKey) -> Option<TransactionId> {
        if !key.is_rfc2543() {
            return self.find(key);
        }
        let tag = key.to_tag();
        let tagged = self.find(key);
        let untagged = key.without_to_tag().and_then(|k| self.find(&k));
        [tagged, untagged].into_iter().flatten().find(|id| {
            matches!(
                self.live.get(id).map(|e| &e.machine),
                Some(Machine::ServerInvite(m)) if m.final_to_tag() == tag
            )
        })
    }

    /// Runs one step of the machine `id`, then hands out what it produced.
    /// `None` when the transaction is not live.
    fn step<R>(
        &mut self,
        id: TransactionId,
        f: impl FnOnce(&mut Machine, &TimerConfig, &mut Output) -> R,
    ) -> Option<R> {
        let entry = self.live.get_mut(&id)?;
        let _span = tracing::debug_span!("transaction", %id).entered();
        let mut out = std::mem::take(&mut self.scratch);
        let result = f(&mut entry.machine, &self.timers, &mut out);
        self.settle(id, &mut out);
        self.scratch = out;
        Some(result)
    }

    /// Queues the transmits and events of a step, updates the timer queue
    /// and removes the transaction once it has terminated.
    fn settle(&mut self, id: TransactionId, out: &mut Output) {
        let Some(entry) = self.live.get_mut(&id) else {
            out.transmits.clear();
            out.reports.clear();
            return;
        };
        for message in out.transmits.drain(..) {
            self.transmits.push_back(Transmit {
                id: Some(id),
                message,
                dest: entry.peer.clone(),
            });
        }
        for report in out.reports.drain(..) {
            self.events.push_back(match report {
                Report::Response(response) => Event::Response { id, response },
                Report::Timeout => Event::Timeout { id },
                Report::TransportError => Event::TransportError { id },
            });
        }
        let wanted = entry.machine.deadlines();
        self.queue.sync(id, &mut entry.queued, wanted);
        if entry.machine.is_terminated() {
            self.remove(id);
        } else {
            self.hold(id);
        }
    }

    /// Moves a completed non-INVITE server transaction to the held
    /// responses, which keep only what Timer J needs. It stays as it is
    /// when it is not the one its key finds, or when the table refuses it
    /// (its key hashes like a held one's).
    fn hold(&mut self, id: TransactionId) {
        let Some(entry) = self.live.get(&id) else {
            return;
        };
        let Some((deadline, response)) = entry.machine.completed_non_invite() else {
            return;
        };
        if self.index.get(&entry.key) != Some(&id)
            || !self.held.hold(
                id,
                &entry.key,
                entry.peer.clone(),
                deadline,
                response,
                &entry.request,
            )
        {
            return;
        }
        if let Some(mut entry) = self.live.remove(&id) {
            self.queue.sync(id, &mut entry.queued, [None, None]);
            self.index.remove(&entry.key);
        }
    }

    fn remove(&mut self, id: TransactionId) {
        let Some(mut entry) = self.live.remove(&id) else {
            return;
        };
        self.queue.sync(id, &mut entry.queued, [None, None]);
        if self.index.get(&entry.key) == Some(&id) {
            self.index.remove(&entry.key);
        }
        self.terminated(id);
    }

    fn terminated(&mut self, id: TransactionId) {
        tracing::debug!(%id, "transaction terminated");
        self.events.push_back(Event::Terminated { id });
    }
}

fn refused(refusal: Refusal, id: TransactionId, status: u16) -> TransactionError {
    match refusal {
        Refusal::NotAResponse => TransactionError::NotAResponse,
        Refusal::NotServer => TransactionError::NotServer(id),
        Refusal::NotFinal => TransactionError::NotFinal(status),
        Refusal::FinalResponseSent => TransactionError::FinalResponseSent { id, status },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ms, reply, request};

    #[test]
    fn timer_queue_holds_only_live_deadlines() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        let invite = request(Method::Invite, "z9hG4bKq1");
        let id = layer.send_request(invite.clone(), 1, false, t0).unwrap();
        // Timer A and Timer B.
        assert_eq!(layer.queue.len(), 2);
        layer.handle_incoming(reply(&invite, 180), 1, false, t0 + ms(100));
        assert_eq!(layer.queue.len(), 0);
        layer.handle_incoming(reply(&invite, 486), 1, false, t0 + ms(200));
        // Timer D.
        assert_eq!(layer.queue.len(), 1);
        layer.transport_error(id);
        assert_eq!(layer.queue.len(), 0);
        assert!(layer.is_empty() && layer.index.is_empty());
    }

    #[test]
    fn a_stateless_answer_ends_the_transaction_at_once() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        let options = request(Method::Options, "z9hG4bKs1");
        layer.handle_incoming(options.clone(), 7, false, t0);
        let Some(Event::Request { id, .. }) = layer.poll_event() else {
            panic!("a request event");
        };
        assert_eq!(
            layer.respond_stateless(id, reply(&options, 100), t0),
            Err(TransactionError::NotFinal(100))
        );
        layer
            .respond_stateless(id, reply(&options, 401), t0)
            .unwrap();
        let sent = layer.poll_transmit().expect("the 401 goes out");
        assert_eq!((sent.message.status(), sent.dest), (Some(401), 7));
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id: t }) if t == id));
        // Nothing kept: no Timer J, no key, no response to resend.
        assert!(layer.is_empty() && layer.index.is_empty() && layer.queue.len() == 0);
        // A retransmission is a new request for the TU.
        layer.handle_incoming(options.clone(), 7, false, t0 + ms(500));
        assert!(layer.poll_transmit().is_none());
        let Some(Event::Request { id: again, .. }) = layer.poll_event() else {
            panic!("the retransmission arrives as a new request");
        };
        assert_ne!(again, id);
        // A stateful answer, by contrast, is kept for Timer J.
        layer
            .respond(again, reply(&options, 200), t0 + ms(500))
            .unwrap();
        assert_eq!(layer.len(), 1);
        // A non-2xx to an INVITE ends it too (no Timer G, no Timer H)...
        let invite = request(Method::Invite, "z9hG4bKs2");
        layer.handle_incoming(invite.clone(), 7, false, t0);
        let Some(Event::Request { id: inv, .. }) = layer.poll_event() else {
            panic!("an INVITE event");
        };
        layer
            .respond_stateless(inv, reply(&invite, 401), t0)
            .unwrap();
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id: t }) if t == inv));
        assert_eq!(layer.len(), 1);
        assert_eq!(layer.held.len(), 1, "only the OPTIONS, held for Timer J");
        assert_eq!(layer.queue.len(), 0);
        // ...while a 2xx to an INVITE is answered statefully even when
        // asked otherwise.
        let invite = request(Method::Invite, "z9hG4bKs3");
        layer.handle_incoming(invite.clone(), 7, false, t0);
        let Some(Event::Request { id: inv, .. }) = layer.poll_event() else {
            panic!("an INVITE event");
        };
        layer
            .respond_stateless(inv, reply(&invite, 200), t0)
            .unwrap();
        assert_eq!(layer.len(), 2);
    }

    /// A REGISTER over UDP answered with a 200: its id and the 200 sent.
    fn completed_register(
        layer: &mut Transactions<u8>,
        branch: &str,
        peer: u8,
        now: Instant,
    ) -> (TransactionId, Transmit<u8>) {
        layer.handle_incoming(request(Method::Register, branch), peer, false, now);
        let Some(Event::Request { id, request, .. }) = layer.poll_event() else {
            panic!("a request event");
        };
        layer.respond(id, reply(&request, 200), now).unwrap();
        (id, layer.poll_transmit().expect("the 200 goes out"))
    }

    #[test]
    fn a_completed_non_invite_server_transaction_is_held_compactly() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        let (id, sent) = completed_register(&mut layer, "z9hG4bKh1", 3, t0);
        // Out of the general tables, still counted, found and described.
        assert_eq!((layer.held.len(), layer.live.len()), (1, 0));
        assert!(layer.index.is_empty() && layer.queue.len() == 0);
        assert_eq!(layer.len(), 1);
        let key = TransactionKey::of_request(&request(Method::Register, "z9hG4bKh1")).unwrap();
        assert_eq!(layer.find(&key), Some(id));
        assert_eq!(layer.kind(id), Some(Kind::ServerNonInvite));
        assert_eq!(layer.state(id), Some(State::Completed));
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_000)));
        // A retransmission gets the same bytes, to the same peer, and the
        // TU hears nothing.
        for _ in 0..2 {
            let again = request(Method::Register, "z9hG4bKh1");
            layer.handle_incoming(again, 3, false, t0 + ms(500));
            let resent = layer.poll_transmit().expect("the 200 again");
            assert_eq!((resent.id, resent.dest), (Some(id), 3));
            assert_eq!(resent.message.to_bytes(), sent.message.to_bytes());
            assert!(layer.poll_event().is_none());
        }
        // The TU cannot answer again.
        let register = request(Method::Register, "z9hG4bKh1");
        assert_eq!(
            layer.respond(id, reply(&register, 200), t0),
            Err(TransactionError::FinalResponseSent { id, status: 200 })
        );
        assert_eq!(
            layer.respond_stateless(id, reply(&register, 100), t0),
            Err(TransactionError::NotFinal(100))
        );
        assert_eq!(
            layer.respond_stateless(id, reply(&register, 200), t0),
            Err(TransactionError::FinalResponseSent { id, status: 200 })
        );
        // Timer J ends it, once.
        layer.handle_timeout(t0 + ms(31_999));
        assert!(layer.poll_event().is_none());
        layer.handle_timeout(t0 + ms(32_000));
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id: t }) if t == id));
        assert!(layer.is_empty() && layer.poll_timeout().is_none());
        assert_eq!((layer.find(&key), layer.state(id)), (None, None));
        // What arrives after is a new request.
        layer.handle_incoming(
            request(Method::Register, "z9hG4bKh1"),
            3,
            false,
            t0 + ms(32_001),
        );
        assert!(layer.poll_transmit().is_none());
        assert!(matches!(layer.poll_event(), Some(Event::Request { id: new, .. }) if new != id));
    }

    #[test]
    fn a_held_transaction_can_be_abandoned_or_fail() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        let (a, _) = completed_register(&mut layer, "z9hG4bKa1", 1, t0);
        let (b, _) = completed_register(&mut layer, "z9hG4bKa2", 1, t0 + ms(1));
        layer.abandon(a);
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id }) if id == a));
        layer.transport_error(b);
        assert!(matches!(layer.poll_event(), Some(Event::TransportError { id }) if id == b));
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id }) if id == b));
        assert!(layer.is_empty() && layer.poll_timeout().is_none());
        // Unknown now: nothing more.
        layer.abandon(a);
        layer.transport_error(b);
        layer.handle_timeout(t0 + ms(40_000));
        assert!(layer.poll_event().is_none());
    }

    #[test]
    fn a_key_that_hashes_like_a_held_one_gets_its_own_answer() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        layer.held = HeldResponses::colliding();
        let (a, sent_a) = completed_register(&mut layer, "z9hG4bKc1", 1, t0);
        // Another request whose key hashes alike is a new transaction...
        let (b, sent_b) = completed_register(&mut layer, "z9hG4bKc2", 2, t0);
        assert_ne!(a, b);
        // ...kept in the general tables, since the held one has its hash.
        assert_eq!((layer.held.len(), layer.live.len(), layer.len()), (1, 1, 2));
        for (branch, id, peer, sent) in [("z9hG4bKc1", a, 1, &sent_a), ("z9hG4bKc2", b, 2, &sent_b)]
        {
            layer.handle_incoming(request(Method::Register, branch), peer, false, t0 + ms(500));
            let resent = layer.poll_transmit().expect("its own 200 again");
            assert_eq!((resent.id, resent.dest), (Some(id), peer));
            assert_eq!(resent.message.to_bytes(), sent.message.to_bytes());
        }
        layer.handle_timeout(t0 + ms(32_000));
        let mut ended = Vec::new();
        while let Some(Event::Terminated { id }) = layer.poll_event() {
            ended.push(id);
        }
        ended.sort_unstable();
        assert_eq!(ended, [a, b]);
        assert!(layer.is_empty());
    }

    #[test]
    fn a_clock_that_steps_back_ends_no_held_transaction_early() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        let (a, _) = completed_register(&mut layer, "z9hG4bKb1", 1, t0 + ms(10_000));
        // The caller's clock stepped back ten seconds.
        let (b, sent_b) = completed_register(&mut layer, "z9hG4bKb2", 2, t0);
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(42_000)));
        // At b's Timer J, b waits behind a: later than its deadline, never
        // earlier, and still answering its retransmissions.
        layer.handle_timeout(t0 + ms(32_000));
        assert!(layer.poll_event().is_none());
        layer.handle_incoming(
            request(Method::Register, "z9hG4bKb2"),
            2,
            false,
            t0 + ms(32_000),
        );
        let resent = layer.poll_transmit().expect("b's 200 again");
        assert_eq!(resent.message.to_bytes(), sent_b.message.to_bytes());
        layer.handle_timeout(t0 + ms(41_999));
        assert!(layer.poll_event().is_none());
        layer.handle_timeout(t0 + ms(42_000));
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id }) if id == a));
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id }) if id == b));
        assert!(layer.is_empty() && layer.poll_timeout().is_none());
        // A clock further back still finds nothing to end twice.
        layer.handle_timeout(t0);
        assert!(layer.poll_event().is_none());
    }

    #[test]
    fn over_a_reliable_transport_nothing_is_held() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        let register = request(Method::Register, "z9hG4bKt1");
        layer.handle_incoming(register.clone(), 1, true, t0);
        let Some(Event::Request { id, .. }) = layer.poll_event() else {
            panic!("a request event");
        };
        layer.respond(id, reply(&register, 200), t0).unwrap();
        assert!(matches!(layer.poll_event(), Some(Event::Terminated { id: t }) if t == id));
        assert!(layer.is_empty() && layer.held.len() == 0);
    }

    #[test]
    fn ids_are_not_reused() {
        let t0 = Instant::now();
        let mut layer: Transactions<u8> = Transactions::new(TimerConfig::default());
        let a = layer
            .send_request(request(Method::Options, "z9hG4bKi1"), 1, true, t0)
            .unwrap();
        layer.transport_error(a);
        let b = layer
            .send_request(request(Method::Options, "z9hG4bKi1"), 1, true, t0)
            .unwrap();
        assert_ne!(a, b);
        assert!(b.get() > a.get());
    }
}
