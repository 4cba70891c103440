//! The distributor: the servicer of the stack. Every message the
//! transaction layer hands up is routed to a serializer, where the
//! endpoint is identified, authentication checked, and the services asked
//! in priority order; a request nobody takes is answered `501` (`481` in a
//! dialog nobody knows), never an ACK.
//!
//! Out-of-dialog requests are spread over a fixed set of serializers by a
//! hash of Call-ID and From tag, so that one caller's requests keep their
//! order and one busy caller cannot block the rest. Responses go back to
//! the serializer of the request they answer.
//!
//! Overload is judged before the transaction layer: while more tasks are
//! queued than the high-water mark, or more transactions live than
//! `max_transactions`, new out-of-dialog requests are refused
//! with a stateless `503` and Retry-After (or, on UDP, dropped if so
//! configured) without creating a transaction, while in-dialog requests,
//! ACKs, CANCELs, responses and retransmissions of requests already
//! accepted pass.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use sipjet_message::{HeaderName, Message, Method};
use sipjet_transaction::{Driver, Event, Peer, TransactionId, TransactionUser};
use sipjet_transport::{Flow, Handler, Incoming, Protocol};

use crate::auth::CheckAuthResult;
use crate::error::SendError;
use crate::request::{IncomingRequest, IncomingResponse};
use crate::send::ClientEvent;
use crate::service::{Handled, Priority};
use crate::stack::{OverloadConfig, SipStack, StackInner, UdpOverloadAction};
use crate::threadpool::{PushError, Serializer, ThreadPool};

pub(crate) struct Distributor {
    serializers: Vec<Serializer>,
    hasher: std::collections::hash_map::RandomState,
    overload: OverloadConfig,
    overloaded: AtomicBool,
    /// Requests refused for overload (for metrics).
    pub(crate) refused: AtomicU64,
}

impl Distributor {
    pub(crate) fn new(pool: &ThreadPool, count: usize, overload: OverloadConfig) -> Distributor {
        let serializers = (0..count.max(1))
            .map(|i| pool.create_work(&format!("distributor-{i}")))
            .collect();
        Distributor {
            serializers,
            hasher: std::collections::hash_map::RandomState::new(),
            overload,
            overloaded: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        }
    }

    /// The serializer of a message by its Call-ID and From tag.
    fn serializer_for(&self, message: &Message) -> &Serializer {
        let mut h = self.hasher.build_hasher();
        message
            .header(HeaderName::CallId)
            .unwrap_or("")
            .hash(&mut h);
        if let Ok(from) = message.from_header() {
            from.tag().unwrap_or("").hash(&mut h);
        }
        &self.serializers[(h.finish() % self.serializers.len() as u64) as usize]
    }

    /// Whether the pool is overloaded, with hysteresis between the
    /// high-water and low-water marks.
    fn is_overloaded(&self, pool: &ThreadPool) -> bool {
        let queued = pool.queued_tasks();
        let was = self.overloaded.load(Ordering::Relaxed);
        let now = if was {
            queued > self.overload.low_water
        } else {
            queued > self.overload.high_water
        };
        if now != was {
            self.overloaded.store(now, Ordering::Relaxed);
            if now {
                tracing::warn!(
                    queued,
                    high_water = self.overload.high_water,
                    "overloaded: refusing new requests"
                );
            } else {
                tracing::info!(
                    queued,
                    low_water = self.overload.low_water,
                    "no longer overloaded"
                );
            }
        }
        now
    }
}

/// The transports' handler: the overload gate in front of the transaction
/// layer.
pub(crate) struct StackHandler {
    pub(crate) stack: Weak<StackInner>,
    pub(crate) driver: Driver,
}

impl Handler for StackHandler {
    fn on_message(&self, incoming: Incoming) {
        let Some(inner) = self.stack.upgrade() else {
            return;
        };
        let m = &incoming.message;
        // New work: a request other than ACK and CANCEL that no dialog of
        // the stack vouches for (a To tag anyone can write does not).
        let fresh = m
            .method()
            .is_some_and(|method| !matches!(method, Method::Ack | Method::Cancel))
            && !inner.holds_dialog_of(m);
        if fresh
            && (!inner.running.load(Ordering::Acquire)
                || inner.distributor.is_overloaded(&inner.pool)
                || self.driver.len() >= inner.distributor.overload.max_transactions)
            && !self.driver.matches_transaction(m)
        {
            inner.distributor.refused.fetch_add(1, Ordering::Relaxed);
            if incoming.flow.protocol == Protocol::Udp
                && inner.distributor.overload.udp == UdpOverloadAction::Drop
            {
                return;
            }
            let stack = SipStack {
                inner: Arc::clone(&inner),
            };
            let mut busy = stack.response_to(m, 503);
            let _ = busy.add_header(
                "Retry-After",
                &inner.distributor.overload.retry_after.to_string(),
            );
            self.driver
                .send_stateless(busy, Peer::Received(incoming.flow));
            return;
        }
        self.driver.handle_incoming(incoming);
    }
}

/// The transaction user: everything the transaction layer hands up.
pub(crate) struct StackUser(pub(crate) Weak<StackInner>);

impl TransactionUser for StackUser {
    fn on_event(&self, _driver: &Driver, event: Event<Peer>) {
        let Some(inner) = self.0.upgrade() else {
            return;
        };
        let stack = SipStack { inner };
        match event {
            Event::Request {
                id,
                request,
                source,
            } => stack.dispatch_request(request, flow_of(&source), Some(id)),
            Event::Ack { request, source } => {
                stack.dispatch_request(request, flow_of(&source), None)
            }
            Event::Cancel {
                id,
                cancel,
                source,
                invite,
            } => stack.dispatch_cancel(id, cancel, flow_of(&source), invite),
            Event::Response { id, response } => stack.dispatch_response(id, response),
            Event::StrayResponse { response, source } => {
                let flow = source.flow().copied();
                stack.dispatch_stray_response(response, flow);
            }
            Event::Timeout { id } => stack.fail_client(id, SendError::Timeout),
            Event::TransportError { id } => stack.fail_client(id, SendError::TransportFailed),
            Event::Terminated { id } => {
                stack.forget_tracker(id);
                stack.complete_pending(id, Err(SendError::Timeout))
            }
        }
    }
}

/// Hands `task` to `serializer`: run on this thread when `inline` and
/// the serializer is idle ([`Serializer::run_or_push`]), else queued.
fn hand_over(
    serializer: &Serializer,
    inline: bool,
    task: impl FnOnce() + Send + 'static,
) -> Result<(), PushError> {
    if inline {
        serializer.run_or_push(task).map(|_| ())
    } else {
        serializer.push(task)
    }
}

fn flow_of(peer: &Peer) -> Flow {
    match peer {
        Peer::Received(f) => *f,
        // A request only arrives from the network, on a flow.
        Peer::Sent(d) => Flow {
            protocol: d.protocol,
            local: d.addr,
            remote: d.addr,
            connection: d.connection,
        },
    }
}

impl SipStack {
    /// The distributor serializer of a message: the same for every
    /// message of one Call-ID and From tag.
    pub(crate) fn serializer_of(&self, message: &Message) -> Serializer {
        self.inner.distributor.serializer_for(message).clone()
    }

    /// A client transaction failed: its tracker or its waiting callback
    /// hears of it.
    fn fail_client(&self, id: TransactionId, error: SendError) {
        match self.tracker(id) {
            Some(tracker) => tracker.report(ClientEvent::Failed(error)),
            None => self.complete_pending(id, Err(error)),
        }
    }

    fn forget_tracker(&self, id: TransactionId) {
        self.inner
            .trackers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    fn dispatch_request(&self, request: Message, flow: Flow, transaction: Option<TransactionId>) {
        // RFC 3261 §10.2: a REGISTER never belongs to a dialog, whatever
        // its To header says.
        let dialog = (request.method() != Some(&Method::Register))
            .then(|| crate::dialog::id_of_request(&request))
            .flatten()
            .and_then(|id| self.dialog_serializer(&id).map(|s| (id, s)));
        let (dialog, serializer) = match dialog {
            Some((id, serializer)) => (Some(id), serializer),
            None => (None, self.serializer_of(&request)),
        };
        let routed = dialog.is_none() && self.inner.routed_dialog_of(&request);
        let stack = self.clone();
        let task = move || {
            stack.process_request(IncomingRequest::new(
                request,
                flow,
                transaction,
                dialog,
                routed,
                stack.clone(),
            ))
        };
        if hand_over(&serializer, self.dispatch_inline(), task).is_err() {
            tracing::warn!("a request arrived while the pool shuts down; it is dropped");
        }
    }

    /// On the request's serializer: identify, authenticate, offer to the
    /// services, answer what nobody took.
    fn process_request(&self, mut request: IncomingRequest) {
        let is_ack = request.method() == &Method::Ack;
        let services = self.inner.services.snapshot();
        // Services before the distributor see the request as it arrived.
        let before = services
            .iter()
            .take_while(|s| s.priority() < Priority::DISTRIBUTOR)
            .count();
        let (early, late) = services.split_at(before);
        if early
            .iter()
            .any(|s| s.on_rx_request(&request) == Handled::Yes)
        {
            return;
        }
        let endpoint = self.identify_endpoint(&request);
        // Only a dialog the stack holds vouches for a request; any other
        // request (whatever tags it carries) is checked here, in this
        // request, before a service sees it.
        let checked = !is_ack && !request.is_in_dialog() && request.is_challengeable();
        if checked && self.has_authenticator() {
            let who = endpoint.unwrap_or_else(|| self.artificial_endpoint());
            request.endpoint = Some(Arc::clone(&who));
            match self.check_authentication(&who, &request) {
                CheckAuthResult::ChallengeSent | CheckAuthResult::Failed => return,
                result => request.set_authentication(result),
            }
        } else {
            request.endpoint = endpoint;
            if checked {
                // The seed: with no authenticator, every request counts
                // as authenticated.
                request.set_authentication(CheckAuthResult::NotRequired);
            }
        }
        for service in late {
            if service.on_rx_request(&request) == Handled::Yes {
                return;
            }
        }
        if is_ack || request.is_answered() {
            return;
        }
        // RFC 3261 §12.2.2: a request in a dialog nobody knows gets 481.
        // Nobody serves it, so no transaction state is kept for the answer
        // (§8.2.7): a retransmission is simply answered again.
        let code = if request.has_to_tag() { 481 } else { 501 };
        let _ = request.respond_stateless(request.response(code));
    }

    fn dispatch_cancel(
        &self,
        id: TransactionId,
        cancel: Message,
        flow: Flow,
        invite: Option<TransactionId>,
    ) {
        // RFC 3261 §9.2: 481 when no transaction matches; otherwise 200 to
        // the CANCEL, and the services (or the core) end the INVITE.
        if invite.is_none() {
            // Nothing to cancel: no state is kept for the answer, or
            // CANCELs with made-up branches would each hold a transaction
            // for Timer J.
            let _ = self
                .driver()
                .respond_stateless(id, self.response_to(&cancel, 481));
            return;
        }
        let _ = self.driver().respond(id, self.response_to(&cancel, 200));
        // An INVITE this stack proxies: its branches are cancelled.
        if invite.is_some_and(|invite| self.cancel_proxied(invite)) {
            return;
        }
        self.dispatch_request(cancel, flow, Some(id));
    }

    /// A response to a request this side sent: the services see it, then,
    /// for a final one, the sender's callback gets it. The callback is
    /// taken here, on the receiving thread, so that the transaction's end
    /// (which may follow at once) cannot beat it with a failure.
    fn dispatch_response(&self, id: TransactionId, response: Message) {
        if let Some(tracker) = self.tracker(id) {
            let stack = self.clone();
            let observer = tracker.observer;
            let task = move || {
                let incoming = IncomingResponse {
                    message: response,
                    transaction: Some(id),
                    flow: None,
                };
                let _ = stack
                    .inner
                    .services
                    .snapshot()
                    .iter()
                    .any(|s| s.on_rx_response(&incoming) == Handled::Yes);
                observer(ClientEvent::Response(incoming.message));
            };
            // A proxy's branch answered: when nothing the response meets
            // waits, it is handled here rather than handed to a pool
            // thread (a wake-up and a context switch per response).
            let inline = tracker.inline && self.dispatch_inline();
            let _ = hand_over(&tracker.serializer, inline, task);
            return;
        }
        let is_final = response.status().is_some_and(|s| s >= 200);
        let pending = if is_final {
            self.take_pending(id)
        } else {
            None
        };
        let serializer = pending
            .as_ref()
            .and_then(|p| p.serializer().cloned())
            .or_else(|| self.pending_serializer(id))
            .unwrap_or_else(|| self.inner.distributor.serializer_for(&response).clone());
        let stack = self.clone();
        let _ = serializer.push(move || {
            let incoming = IncomingResponse {
                message: response,
                transaction: Some(id),
                flow: None,
            };
            let _ = stack
                .inner
                .services
                .snapshot()
                .iter()
                .any(|s| s.on_rx_response(&incoming) == Handled::Yes);
            if let Some(p) = pending {
                p.finish(Ok(incoming.message));
            }
        });
    }

    fn dispatch_stray_response(&self, response: Message, flow: Option<Flow>) {
        let serializer = self.inner.distributor.serializer_for(&response).clone();
        let stack = self.clone();
        let _ = serializer.push(move || {
            let incoming = IncomingResponse {
                message: response,
                transaction: None,
                flow,
            };
            let _ = stack
                .inner
                .services
                .snapshot()
                .iter()
                .any(|s| s.on_rx_response(&incoming) == Handled::Yes);
        });
    }
}
