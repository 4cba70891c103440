//! The proxy over the transaction layer: a service calls
//! [`SipStack::proxy`] instead of answering a request, and the stack runs
//! its [`ResponseContext`] — branches as client transactions, responses
//! back through the request's server transaction, CANCELs, Timer C — on
//! the request's serializer.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sipjet_message::{BuildError, HeaderName, Message, Method, Uri, unfold};
use sipjet_transaction::TransactionId;
use sipjet_transport::{Destination, Flow, Protocol};

use super::context::{Action, BranchFailure, ContextTimers, ResponseContext};
use super::forward::{self, FlowRef, Interface, RecordRoute, Refusal, Target};
use crate::alarms::Alarm;
use crate::error::SendError;
use crate::request::{IncomingRequest, Responder, ServerTransaction};
use crate::send::ClientEvent;
use crate::stack::SipStack;
use crate::threadpool::Serializer;

/// How [`SipStack::proxy`] forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyOptions {
    /// Put this proxy in the Record-Route, so that the dialog's later
    /// requests come through it (Kamailio's `record_route()`).
    pub record_route: bool,
    /// Timer C and the wait for an answer to a CANCEL.
    pub timers: ContextTimers,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            record_route: true,
            timers: ContextTimers::default(),
        }
    }
}

/// What a service does when nobody answered a fork.
pub type OnUnanswered = Box<dyn FnOnce(Unanswered) + Send>;

/// What a service that forks a call as one step of its own (a dialplan's
/// `Dial`) wants besides [`ProxyOptions`]: a limit on the ringing, and to
/// decide itself what happens when nobody answers, instead of the best
/// final response going to the caller at once.
pub struct Fork {
    /// How long the attempt may ring in all (a `Dial` timeout); `None`
    /// leaves only Timer C per branch.
    pub ring_timeout: Option<Duration>,
    /// Called, on the request's serializer, when every branch ended
    /// without a 2xx (and the caller did not cancel: then the caller gets
    /// its 487 as usual). It owes the caller an answer: a response through
    /// [`Unanswered::request`], or another [`SipStack::proxy_fork`].
    pub on_unanswered: OnUnanswered,
}

/// A forked request nobody answered.
pub struct Unanswered {
    /// The request, still to be answered.
    pub request: ServerTransaction,
    /// The response the caller would have had (§16.7 steps 6 and 7; 480
    /// after the ring timeout).
    pub best: Message,
    /// The ring timeout ended the attempt.
    pub rang_out: bool,
}

/// A branch sent: the request, where it went (for its CANCEL), and its
/// client transaction.
struct Sent {
    /// Dropped once the context is finished: no CANCEL can follow.
    request: Option<Message>,
    destination: Destination,
    transaction: Option<TransactionId>,
}

/// One proxied request.
struct Proxied {
    ctx: ResponseContext,
    /// The request after Route preprocessing: what each branch copies.
    /// Dropped, with the targets, once the context is finished: the
    /// transactions keep the call for their wait states (Timer L/M,
    /// 32 s), and no branch can start any more.
    /// Boxed, like `on_unanswered`: the call outlives its need for them
    /// by the 32 s its transactions wait, and that is what it holds then.
    request: Option<Box<Message>>,
    targets: Vec<Target>,
    sent: Vec<Option<Sent>>,
    inbound: Interface,
    /// With Record-Route: the dialog's Call-ID, the caller's tag and flow,
    /// which each branch's route stamp is made of.
    record_route: Option<(String, String, FlowRef)>,
    loop_hash: String,
    /// The call's next timer, among the stack's alarms: cancelled as soon
    /// as the call needs no timer or an earlier one, rather than left to
    /// a deadline that no longer matters (Timer C is three minutes) and
    /// keeping the call's allocation past its end.
    timer: Option<Alarm>,
    /// Registered for the caller's CANCEL under this server transaction.
    invite: Option<TransactionId>,
    /// Who decides when nobody answers, while nobody has.
    /// With the request's transaction, which goes back to the service
    /// when nobody answers; both dropped once the attempt is over.
    on_unanswered: Option<Box<(OnUnanswered, ServerTransaction)>>,
}

/// What a proxied request shares with its branches and timer.
pub(crate) struct ProxyCall {
    stack: SipStack,
    serializer: Serializer,
    server: Responder,
    state: Mutex<Proxied>,
}

impl ProxyCall {
    fn lock(&self) -> std::sync::MutexGuard<'_, Proxied> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Does what the context said.
    fn apply(self: &Arc<Self>, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Respond(response) => {
                    let handover = {
                        let mut s = self.lock();
                        let last_word =
                            response.status().is_some_and(|c| c >= 300) && !s.ctx.was_cancelled();
                        last_word
                            .then(|| s.on_unanswered.take().map(|f| (*f, s.ctx.rang_out())))
                            .flatten()
                    };
                    if let Some(((then, transaction), rang_out)) = handover {
                        then(Unanswered {
                            request: transaction,
                            best: response,
                            rang_out,
                        });
                        continue;
                    }
                    if let Err(e) = self.server.respond(response) {
                        tracing::debug!(error = %e, "a proxied response could not be sent");
                    }
                }
                Action::Start(n) => self.start(n),
                Action::Cancel(n) => self.cancel(n),
                Action::Abandon(n) => {
                    let id = self.lock().sent[n].as_ref().and_then(|s| s.transaction);
                    if let Some(id) = id {
                        self.stack.abandon(id);
                    }
                }
            }
        }
        self.after_step();
    }

    /// Arms the timer, or lets the caller's CANCEL go once answered.
    fn after_step(self: &Arc<Self>) {
        let (next, finished, invite) = {
            let s = self.lock();
            (s.ctx.poll_timeout(), s.ctx.is_finished(), s.invite)
        };
        if finished {
            if let Some(id) = invite {
                self.stack.forget_proxy(id, self);
            }
            self.release();
        }
        let mut s = self.lock();
        let alarms = &self.stack.inner.alarms;
        if let (Some(at), Some(alarm)) = (next, s.timer)
            && alarm.at() <= at
        {
            return;
        }
        if let Some(alarm) = s.timer.take() {
            alarms.cancel(alarm);
        }
        let Some(at) = next else { return };
        let me = Arc::downgrade(self);
        let alarm = alarms.set(at, move || {
            let Some(call) = me.upgrade() else { return };
            let serializer = call.serializer.clone();
            let _ = serializer.push(move || {
                let actions = {
                    let mut s = call.lock();
                    if s.timer.is_none_or(|alarm| alarm.at() != at) {
                        return;
                    }
                    s.timer = None;
                    s.ctx.handle_timeout(Instant::now())
                };
                call.apply(actions);
            });
        });
        s.timer = Some(alarm);
    }

    /// Drops what only a branch still to start or to cancel needs.
    fn release(&self) {
        let mut s = self.lock();
        s.request = None;
        s.targets = Vec::new();
        for sent in s.sent.iter_mut().flatten() {
            sent.request = None;
        }
        s.ctx.release();
        s.on_unanswered = None;
    }

    fn on_event(self: &Arc<Self>, n: usize, event: ClientEvent) {
        let now = Instant::now();
        let actions = {
            let mut s = self.lock();
            match event {
                ClientEvent::Response(r) => s.ctx.on_response(n, r, now),
                ClientEvent::Failed(SendError::Timeout) => {
                    s.ctx.on_failure(n, BranchFailure::Timeout, now)
                }
                ClientEvent::Failed(_) => s.ctx.on_failure(n, BranchFailure::Transport, now),
            }
        };
        self.apply(actions);
    }

    /// Starts branch `n`: builds its request and sends it.
    fn start(self: &Arc<Self>, n: usize) {
        let (target, request) = {
            let s = self.lock();
            match (s.targets.get(n), &s.request) {
                (Some(target), Some(request)) => (target.clone(), request.clone()),
                _ => return,
            }
        };
        let dest = target
            .destination
            .clone()
            .or_else(|| next_hop_destination(&target));
        match dest {
            Some(dest) => self.send_branch(n, &request, &target, dest),
            None => {
                // A name: resolved (RFC 3263) off the serializer.
                let me = Arc::clone(self);
                let hop = first_hop(&target);
                self.stack.driver().runtime().spawn(async move {
                    let resolved = match Uri::parse(&hop) {
                        Ok(Uri::Sip(sip)) => me.stack.inner.resolver.resolve(&sip).await.ok(),
                        _ => None,
                    };
                    let serializer = me.serializer.clone();
                    let _ = serializer.push(move || {
                        match resolved.and_then(|d| d.into_iter().next()) {
                            Some(dest) => me.send_branch(n, &request, &target, dest),
                            None => me.on_event(n, ClientEvent::Failed(SendError::TransportFailed)),
                        }
                    });
                });
            }
        }
    }

    fn send_branch(
        self: &Arc<Self>,
        n: usize,
        request: &Message,
        target: &Target,
        dest: Destination,
    ) {
        let built = {
            let s = self.lock();
            let Some(outbound) = self.stack.interface_to(dest.protocol, dest.addr.ip()) else {
                drop(s);
                return self.on_event(n, ClientEvent::Failed(SendError::TransportFailed));
            };
            let stamp = s.record_route.as_ref().map(|(call_id, tag, caller)| {
                let callee = FlowRef {
                    protocol: dest.protocol,
                    addr: dest.addr,
                };
                self.stack
                    .inner
                    .route_tokens
                    .stamp(call_id, tag, *caller, callee)
            });
            let record_route = stamp.as_ref().map(|stamp| RecordRoute {
                inbound: s.inbound,
                stamp,
            });
            forward::forward_request(
                request,
                target,
                outbound,
                record_route,
                &forward::branch(&s.loop_hash),
            )
        };
        let forwarded = match built {
            Ok(f) => f.message,
            Err(e) => {
                tracing::info!(error = %e, target = %target.uri, "a branch could not be built");
                return self.on_event(n, ClientEvent::Failed(SendError::Build(e.to_string())));
            }
        };
        self.lock().sent[n] = Some(Sent {
            request: Some(forwarded.clone()),
            destination: dest.clone(),
            transaction: None,
        });
        // The branch's transaction keeps the call alive while it lives.
        let me = Arc::clone(self);
        let id = self.stack.send_tracked_inline(
            forwarded,
            dest,
            self.serializer.clone(),
            move |event| me.on_event(n, event),
        );
        if let Some(sent) = self.lock().sent[n].as_mut() {
            sent.transaction = id;
        }
    }

    /// Sends the CANCEL of branch `n` (RFC 3261 §9.1); its answer is
    /// not awaited: the branch's INVITE answers 487, or the context gives
    /// up on it.
    fn cancel(&self, n: usize) {
        let cancel = {
            let s = self.lock();
            s.sent[n].as_ref().and_then(|sent| {
                Some((cancel_for(sent.request.as_ref()?), sent.destination.clone()))
            })
        };
        match cancel {
            Some((Ok(cancel), dest)) => self.stack.send_message(cancel, dest, None, |_| ()),
            Some((Err(e), _)) => tracing::warn!(error = %e, "a CANCEL could not be built"),
            None => {}
        }
    }
}

/// The flow a request came on, as a Record-Route stamp names it.
fn flow_of(request: &IncomingRequest) -> FlowRef {
    FlowRef {
        protocol: request.flow.protocol,
        addr: request.flow.remote,
    }
}

/// Where a target's next hop is, when its URI needs no DNS.
fn next_hop_destination(target: &Target) -> Option<Destination> {
    crate::send::literal_destination(&first_hop(target))
}

/// The URI of a target's first hop: its Path's first entry, else itself.
fn first_hop(target: &Target) -> String {
    target.path.first().map_or_else(
        || target.uri.clone(),
        |p| {
            sipjet_message::NameAddr::parse(p)
                .map(|a| a.uri_str().to_string())
                .unwrap_or_else(|_| p.clone())
        },
    )
}

/// The CANCEL of a request sent (RFC 3261 §9.1): its Request-URI,
/// Call-ID, From, To, CSeq number, top Via and Route.
fn cancel_for(request: &Message) -> Result<Message, BuildError> {
    let uri = request.request_uri().unwrap_or_default();
    let mut cancel = Message::new_request(Method::Cancel, uri)?;
    if let Ok(via) = request.via() {
        cancel.add_header("Via", &unfold(via.as_str()))?;
    }
    for route in request.headers(HeaderName::Route) {
        cancel.add_header("Route", &unfold(route))?;
    }
    cancel.add_header("Max-Forwards", "70")?;
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        if let Some(v) = request.header(name) {
            cancel.add_header(name.as_str(), &unfold(v))?;
        }
    }
    let seq = request.cseq().map(|c| c.seq).unwrap_or(1);
    cancel.add_header("CSeq", &format!("{seq} CANCEL"))?;
    Ok(cancel)
}

impl SipStack {
    /// Forwards `request` as a stateful proxy (RFC 3261 §16) to `targets`,
    /// in parallel within a `q` value and in turn from the highest `q`
    /// down, instead of answering it: provisional responses and every 2xx
    /// go back as they come, the best final once every branch has ended;
    /// the caller's CANCEL, a 2xx or a 6xx cancel the rest; Timer C ends
    /// a branch that rings too long. With `record_route`, this proxy stays
    /// on the path of the dialog the request creates.
    ///
    /// A request that may not be forwarded (Max-Forwards 0, a loop, a
    /// scheme that is not SIP) is answered here (483, 482, 416) and the
    /// reason returned; so is one with no target (480).
    pub fn proxy(
        &self,
        request: &IncomingRequest,
        targets: Vec<Target>,
        options: &ProxyOptions,
    ) -> Result<(), Refusal> {
        self.proxy_message(request, request.message.clone(), targets, options)
    }

    /// [`SipStack::proxy`], forwarding `message` (the request as the
    /// service changed it: headers removed or added) instead of the
    /// request as it arrived. A service that authenticated the request
    /// removes the credentials meant for it this way: they are not for the
    /// next hop (RFC 3261 §22.3).
    pub fn proxy_message(
        &self,
        request: &IncomingRequest,
        message: Message,
        targets: Vec<Target>,
        options: &ProxyOptions,
    ) -> Result<(), Refusal> {
        self.proxy_held(
            request.server_transaction(),
            message,
            targets,
            options,
            None,
        )
    }

    /// [`SipStack::proxy_message`] as one step of a service's own logic
    /// (a dialplan's `Dial`): the request may have been taken from its
    /// handler already (a [`ServerTransaction`], or the
    /// [`Unanswered::request`] of the step before), the ringing may be
    /// limited, and when nobody answers the service decides what follows
    /// ([`Fork`]). A refusal or an empty target list is answered here, as
    /// by [`SipStack::proxy`].
    pub fn proxy_fork(
        &self,
        request: ServerTransaction,
        message: Message,
        targets: Vec<Target>,
        options: &ProxyOptions,
        fork: Fork,
    ) -> Result<(), Refusal> {
        self.proxy_held(request, message, targets, options, Some(fork))
    }

    fn proxy_held(
        &self,
        server: ServerTransaction,
        mut message: Message,
        targets: Vec<Target>,
        options: &ProxyOptions,
        fork: Option<Fork>,
    ) -> Result<(), Refusal> {
        let flow = server.flow();
        let ours = self.interfaces(&flow);
        let prepared = forward::preprocess_routes(&mut message, &ours)
            .map_err(|e| Refusal::Malformed(e.to_string()))
            .and_then(|_| forward::check(&message, &ours));
        if let Err(refusal) = prepared {
            let _ =
                server.respond(server.response_with_reason(refusal.status(), &refusal.to_string()));
            return Err(refusal);
        }
        if targets.is_empty() {
            let _ = server.respond(server.response(480));
            return Ok(());
        }
        // The caller names this proxy as it reaches it: beyond a NAT, by
        // the external address.
        let inbound = self
            .interface_to(flow.protocol, flow.remote.ip())
            .unwrap_or(Interface {
                protocol: flow.protocol,
                addr: flow.local,
            });
        let record_route = options.record_route.then(|| {
            let call_id = message.call_id().unwrap_or_default().to_string();
            let tag = message
                .from_header()
                .ok()
                .and_then(|f| f.tag().map(str::to_string))
                .unwrap_or_default();
            (
                call_id,
                tag,
                FlowRef {
                    protocol: flow.protocol,
                    addr: flow.remote,
                },
            )
        });
        let qs: Vec<Option<u16>> = targets.iter().map(|t| t.q).collect();
        let now = Instant::now();
        let (mut ctx, actions) =
            ResponseContext::new(server.request().clone(), &qs, options.timers, now);
        let invite = (server.request().method() == Some(&Method::Invite))
            .then_some(server.id())
            .flatten();
        let (ring_timeout, on_unanswered) = match fork {
            Some(f) => (
                f.ring_timeout,
                Some(Box::new((f.on_unanswered, server.clone()))),
            ),
            None => (None, None),
        };
        if let Some(t) = ring_timeout {
            ctx.ring_until(now + t);
        }
        let call = Arc::new(ProxyCall {
            stack: self.clone(),
            serializer: self.serializer_of(server.request()),
            server: server.into_responder(),
            state: Mutex::new(Proxied {
                ctx,
                loop_hash: forward::loop_hash(&message),
                request: Some(Box::new(message)),
                sent: targets.iter().map(|_| None).collect(),
                targets,
                inbound,
                record_route,
                timer: None,
                invite,
                on_unanswered,
            }),
        });
        if let Some(id) = invite {
            self.inner
                .proxies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, Arc::downgrade(&call));
        }
        call.apply(actions);
        Ok(())
    }

    /// Forwards a request of a dialog this proxy is on the path of (its
    /// Route names this proxy, see [`IncomingRequest::is_in_dialog`]) to
    /// its next hop: statefully, as [`SipStack::proxy`] with one target
    /// and no new Record-Route, or, for an ACK, statelessly.
    pub fn proxy_in_dialog(
        &self,
        request: &IncomingRequest,
        timers: ContextTimers,
    ) -> Result<(), Refusal> {
        self.proxy_in_dialog_message(request, request.message.clone(), timers)
    }

    /// [`SipStack::proxy_in_dialog`], forwarding `forwarded` (the request
    /// as the service changed it: headers removed or added) instead of the
    /// request as it arrived.
    pub fn proxy_in_dialog_message(
        &self,
        request: &IncomingRequest,
        forwarded: Message,
        timers: ContextTimers,
    ) -> Result<(), Refusal> {
        let mut message = forwarded.clone();
        let ours = self.interfaces(&request.flow);
        let popped = forward::preprocess_routes(&mut message, &ours)
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        // The other party's flow, as the dialog's Record-Route recorded
        // it: its connection or NAT binding, whatever its Contact says.
        let flow = self
            .inner
            .route_tokens
            .stamp_of(&request.message, &popped)
            .and_then(|stamp| stamp.other_party(flow_of(request)))
            .map(|f| Destination::new(f.protocol, f.addr));
        let target = Target {
            uri: message.request_uri().unwrap_or_default().to_string(),
            destination: flow,
            ..Target::default()
        };
        if request.method() != &Method::Ack {
            return self.proxy_message(
                request,
                forwarded,
                vec![target],
                &ProxyOptions {
                    record_route: false,
                    timers,
                },
            );
        }
        forward::check(&message, &ours)?;
        let dest = target
            .destination
            .clone()
            .or_else(|| {
                let first_route = message.routes().next().and_then(Result::ok);
                let hop =
                    first_route.map_or_else(|| target.uri.clone(), |r| r.uri_str().to_string());
                crate::send::literal_destination(&hop)
            })
            .ok_or_else(|| Refusal::Malformed("the ACK's next hop is not an address".into()))?;
        let outbound = self
            .interface_to(dest.protocol, dest.addr.ip())
            .ok_or_else(|| Refusal::Malformed(format!("no {} transport", dest.protocol)))?;
        let forwarded = forward::forward_request(
            &message,
            &target,
            outbound,
            None,
            &forward::branch(&forward::loop_hash(&message)),
        )?;
        self.send_stateless(forwarded.message, dest);
        Ok(())
    }

    /// The caller cancelled an INVITE this stack proxies: true when one
    /// was found (its branches are then cancelled).
    pub(crate) fn cancel_proxied(&self, invite: TransactionId) -> bool {
        let call = self
            .inner
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&invite)
            .and_then(Weak::upgrade);
        let Some(call) = call else { return false };
        let serializer = call.serializer.clone();
        let _ = serializer.push(move || {
            let actions = call.lock().ctx.on_cancel(Instant::now());
            call.apply(actions);
        });
        true
    }

    /// Forgets `call` as the proxy of `invite`, unless another attempt
    /// (the next step of a dialplan) took its place.
    fn forget_proxy(&self, invite: TransactionId, call: &Arc<ProxyCall>) {
        let mut proxies = self.inner.proxies.lock().unwrap_or_else(|e| e.into_inner());
        if proxies
            .get(&invite)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(call)))
        {
            proxies.remove(&invite);
        }
    }

    /// The address this stack is reached at over `protocol` by `peer`, as
    /// a Record-Route or Via names it.
    pub(crate) fn interface_to(&self, protocol: Protocol, peer: IpAddr) -> Option<Interface> {
        let addr = self.advertised(protocol, peer)?;
        Some(Interface { protocol, addr })
    }

    /// Every address this stack answers at, and the one `request` came
    /// to: what a Route or Via naming this proxy names.
    fn interfaces(&self, flow: &Flow) -> Vec<Interface> {
        let mut ours: Vec<Interface> = self
            .own_addrs()
            .into_iter()
            .map(|(protocol, addr)| Interface { protocol, addr })
            .collect();
        ours.push(Interface {
            protocol: flow.protocol,
            addr: flow.local,
        });
        ours
    }
}
