//! Calls through a trunk, bridged (a back-to-back user agent): the
//! caller's INVITE is answered by a session of sipjet's own (UAS), and a
//! new session (UAC) goes to the provider with the identity the trunk
//! endpoint gives (`from_user`, `from_domain`, `callerid`), the caller's
//! SDP carried across as it is. The provider's challenge is answered with
//! the endpoint's `outbound_auth`.
//!
//! Between the legs: ringing and early media go to the caller, the answer
//! too; a BYE on either side ends the other; the caller's CANCEL cancels
//! the provider's INVITE; a re-INVITE or UPDATE on one side is sent on
//! the other and its answer brought back; the provider's failure is the
//! caller's, mapped where the caller could not act on it (a refused
//! challenge is the server's problem, 503, not a request for the
//! caller's credentials).
//!
//! The stack's session supplements see every message of both legs, as
//! Asterisk's see a channel's.
//!
//! Every call runs on one serializer: both dialogs are registered with the
//! stack on it, and every response the provider sends is handled on it.
//! The dialplan hands calls over ([`TrunkDialer`]): only the calls of
//! identified endpoints whose context sends them to a trunk are bridged,
//! and what they could make the server keep is bounded, at most
//! [`MAX_BRIDGES`] calls. A leg that is not answered hands the caller
//! back to the dialplan, which goes on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use sipjet_core::dialog::DialogId;
use sipjet_core::message::generate;
use sipjet_core::session::{
    Body, SessionTimer, UacEvent, UacInvite, UasInvite, UasTimeout, body_of,
};
use sipjet_core::{
    ClientEvent, Destination, DigestClient, Flow, Handled, HeaderName, IncomingRequest, Message,
    Method, OutgoingRequest, Priority, Protocol, SendError, Serializer, ServerTransaction, Service,
    SipStack,
};
use std::net::IpAddr;

use super::credentials;
use super::dial::{TrunkCall, TrunkDialer};
use crate::dialplan::{DialStatus, DialTarget};
use crate::model::Model;

/// Calls kept at most.
pub const MAX_BRIDGES: usize = 4096;

/// Why a call could not be placed through a trunk; the caller has not
/// been answered.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// No endpoint of that name.
    #[error("no endpoint {0}")]
    UnknownTrunk(String),
    /// The endpoint names no AOR with a static contact to send to.
    #[error("endpoint {0} has no AOR with a contact to send calls to")]
    NoContact(String),
    /// The number is not a SIP user part.
    #[error("{0:?} is not a number that can be dialled")]
    BadNumber(String),
    /// Too many calls are bridged already.
    #[error("too many calls through trunks")]
    Busy,
    /// The request is not a new INVITE.
    #[error("only a new INVITE can be dialled out")]
    NotAnInvite,
    /// The `Dial` names no trunk target.
    #[error("the Dial names no trunk")]
    NoTrunkTarget,
    /// The INVITE requires extensions the bridge does not implement
    /// (reliable provisional responses, session timers...).
    #[error("the call requires {0:?}, which sipjet does not implement")]
    BadExtension(Vec<String>),
}

impl DialError {
    /// What the caller is answered.
    pub fn status(&self) -> u16 {
        match self {
            DialError::BadNumber(_) => 484,
            DialError::NotAnInvite => 400,
            DialError::BadExtension(_) => 420,
            _ => 503,
        }
    }

    /// The `${DIALSTATUS}` the dialplan goes on with: the trunk could not
    /// be used at all (CHANUNAVAIL), or the server is full (CONGESTION).
    pub fn dial_status(&self) -> DialStatus {
        match self {
            DialError::Busy => DialStatus::Congestion,
            _ => DialStatus::ChanUnavail,
        }
    }

    /// Answers the caller: [`DialError::status`], with the `Unsupported`
    /// header a 420 owes (RFC 3261 §8.2.2.3).
    pub fn answer(&self, request: &ServerTransaction) {
        let mut r = request.response(self.status());
        if let DialError::BadExtension(tags) = self {
            // Option tags are tokens: no line breaks reach the header.
            let _ = r.add_header("Unsupported", &tags.join(", "));
        }
        let _ = request.respond(r);
    }
}

/// The extensions a bridged call may require. Session timers (`timer`)
/// are carried across: the caller's offer of them goes to the provider,
/// the provider's answer back, refreshes cross like any re-INVITE or
/// UPDATE, and the bridge ends a call nobody refreshed in time. Reliable
/// provisional responses (`100rel`) are acknowledged on the provider's
/// leg only: the bridge does not send them reliably to the caller, so a
/// caller that requires them is refused.
const SUPPORTED: &[&str] = &["timer"];

/// The session-timer headers of `from` (RFC 4028): `Session-Expires`,
/// `Min-SE`, and the `timer` option tag of `Supported` and `Require`.
/// Nothing else of one leg reaches the other.
fn session_timer_headers(from: &Message) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in ["Session-Expires", "Min-SE"] {
        if let Some(v) = from.headers_named(name).next() {
            out.push((name.to_string(), v.to_string()));
        }
    }
    for name in [HeaderName::Supported, HeaderName::Require] {
        if from.tokens(name).any(|t| t.eq_ignore_ascii_case("timer")) {
            out.push((name.as_str().to_string(), "timer".to_string()));
        }
    }
    out
}

/// Copies [`session_timer_headers`] of `from` to `to`.
fn copy_session_timer(from: &Message, to: &mut Message) {
    for (name, value) in session_timer_headers(from) {
        // A value that was received is one that may be written back.
        let _ = to.add_header(&name, &value);
    }
}

/// One bridged call.
struct Bridge {
    /// The caller's leg.
    a: UasInvite,
    a_tx: ServerTransaction,
    a_dest: Destination,
    /// The provider's leg.
    b: UacInvite,
    b_dest: Destination,
    /// The provider dialog's next hop when it is a name (a Record-Route
    /// or Contact by name), and where it resolved to.
    b_hop: Option<(String, Destination)>,
    digest: Arc<Mutex<DigestClient>>,
    serializer: Serializer,
    /// The keys it is filed under.
    keys: Vec<Key>,
    ended: bool,
    /// A re-INVITE or UPDATE being relayed, and whether the caller sent
    /// it: another meanwhile is refused (RFC 3261 §14.2, RFC 3311 §5.2).
    relaying: Option<bool>,
    /// The session timer the provider's answer set up, if any.
    timer: Option<SessionTimer>,
    /// How long the provider may ring.
    ring_timeout: Option<Duration>,
    /// The dialplan's call, until the caller is answered: nobody answering
    /// hands the caller back to it ([`TrunkCall::not_answered`]).
    dialplan: Option<TrunkCall>,
    /// The call's timer tasks, stopped when it is forgotten: a ring
    /// timeout or a session's expiry can be long after the call ended.
    timers: Vec<AbortHandle>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Dialog(DialogId),
    /// The caller's INVITE (Call-ID, branch), for its CANCEL.
    Invite(String, String),
}

type Shared = Arc<Mutex<Bridge>>;

/// The B2BUA of calls through trunks: the server's [`TrunkDialer`], and a
/// service for the requests of the dialogs it bridges.
pub struct TrunkBridge {
    model: Arc<Model>,
    stack: SipStack,
    runtime: tokio::runtime::Handle,
    calls: Mutex<HashMap<Key, Shared>>,
    digests: Mutex<HashMap<String, Arc<Mutex<DigestClient>>>>,
    me: Weak<TrunkBridge>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `callerid = "Name" <number>` (or `Name <number>`, or `number`).
pub fn parse_callerid(v: &str) -> (Option<String>, Option<String>) {
    let v = v.trim();
    match (v.find('<'), v.rfind('>')) {
        (Some(lt), Some(gt)) if lt < gt => {
            let name = v[..lt].trim().trim_matches('"').trim();
            let number = v[lt + 1..gt].trim();
            (
                (!name.is_empty()).then(|| name.to_string()),
                (!number.is_empty()).then(|| number.to_string()),
            )
        }
        _ if v.is_empty() => (None, None),
        _ => (None, Some(v.trim_matches('"').to_string())),
    }
}

fn is_user_part(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+-_.!~*'()&=$,;?/".contains(&c))
}

fn quoted(name: &str) -> String {
    sipjet_core::message::quote(name)
}

/// The host (and port) part of a SIP URI, as written.
fn host_of(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = rest.split([';', '?', '>']).next()?.trim();
    (!host.is_empty()).then(|| host.to_string())
}

/// The URI a request built by a dialog goes to: its first Route, else
/// its Request-URI (RFC 3261 §12.2.1.1).
fn next_hop(request: &Message) -> Option<String> {
    let uri = match request.headers(HeaderName::Route).next() {
        Some(route) => route
            .split(',')
            .next()?
            .trim()
            .trim_start_matches('<')
            .split('>')
            .next()?
            .to_string(),
        None => request.request_uri()?.to_string(),
    };
    Some(uri)
}

/// What the provider's INVITE is built from, kept until the first hop
/// is resolved (its transport decides the Via and the Contact).
struct Leg {
    req: OutgoingRequest,
    from_user: String,
    /// The caller's INVITE, whose session-timer headers go along.
    caller: Message,
}

/// The transport a SIP URI asks for (RFC 3263 §4.1 without DNS): TLS for
/// `sips:`, its `transport` parameter, else UDP.
fn uri_protocol(uri: &str) -> Protocol {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("sips:") {
        return Protocol::Tls;
    }
    if lower.contains(";transport=tcp") {
        Protocol::Tcp
    } else if lower.contains(";transport=tls") {
        Protocol::Tls
    } else {
        Protocol::Udp
    }
}

/// The `${DIALSTATUS}` of a trunk leg that failed with `status` (or rang
/// out), as Asterisk's Dial sets it from the hangup cause chan_pjsip
/// gives the SIP status: busy (486, 600), congestion (503), no answer
/// (the ring timeout, 480, 483), and for every other refusal, and a
/// provider that cannot be reached, the channel unavailable.
fn dial_status(status: u16, timed_out: bool) -> DialStatus {
    match status {
        _ if timed_out => DialStatus::NoAnswer,
        486 | 600 => DialStatus::Busy,
        503 => DialStatus::Congestion,
        480 | 483 => DialStatus::NoAnswer,
        _ => DialStatus::ChanUnavail,
    }
}

/// The B leg's failure as the caller hears it.
fn caller_status(status: u16, timed_out: bool) -> (u16, Option<&'static str>) {
    match status {
        _ if timed_out => (480, Some("No Answer")),
        401 | 407 => (503, Some("Trunk Authentication Failed")),
        300..=399 => (480, None),
        408 => (480, Some("No Answer")),
        s @ 400..=699 => (s, None),
        _ => (500, None),
    }
}

impl TrunkBridge {
    /// A bridge over the model's endpoints.
    pub fn new(
        model: Arc<Model>,
        stack: SipStack,
        runtime: tokio::runtime::Handle,
    ) -> Arc<TrunkBridge> {
        Arc::new_cyclic(|me| TrunkBridge {
            model,
            stack,
            runtime,
            calls: Mutex::new(HashMap::new()),
            digests: Mutex::new(HashMap::new()),
            me: me.clone(),
        })
    }

    /// Calls bridged now.
    pub fn active(&self) -> usize {
        let calls = lock(&self.calls);
        let mut seen: Vec<*const Mutex<Bridge>> = calls.values().map(Arc::as_ptr).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }

    /// The digest client of a trunk endpoint: one per endpoint, so that
    /// nonce counts follow on from call to call.
    fn digest(&self, trunk: &str) -> Arc<Mutex<DigestClient>> {
        let mut d = lock(&self.digests);
        Arc::clone(d.entry(trunk.to_string()).or_insert_with(|| {
            let names = self
                .model
                .config
                .endpoint(trunk)
                .map(|e| e.outbound_auth.clone())
                .unwrap_or_default();
            Arc::new(Mutex::new(DigestClient::new(credentials(
                &self.model.config,
                &names,
            ))))
        }))
    }

    fn find(&self, key: &Key) -> Option<Shared> {
        lock(&self.calls).get(key).cloned()
    }

    /// This stack's Contact for a leg over `protocol` to `peer`: the
    /// address the peer reaches it at (the external one beyond a NAT).
    fn contact(&self, user: &str, protocol: Protocol, peer: IpAddr) -> String {
        let me = self
            .stack
            .advertised(protocol, peer)
            .map_or_else(|| "127.0.0.1".to_string(), |a| a.to_string());
        let transport = match protocol {
            Protocol::Udp => String::new(),
            p => format!(";transport={}", p.via_name().to_ascii_lowercase()),
        };
        format!("<sip:{user}@{me}{transport}>")
    }

    /// Ends a call: its keys and dialogs are forgotten.
    fn forget(&self, call: &mut Bridge) {
        call.ended = true;
        let mut calls = lock(&self.calls);
        for task in call.timers.drain(..) {
            task.abort();
        }
        for k in call.keys.drain(..) {
            if let Key::Dialog(id) = &k {
                self.stack.unregister_dialog(id);
            }
            calls.remove(&k);
        }
    }

    /// Sends `request` (without a Via) to `dest`, its answer ignored.
    fn send_along(&self, mut request: Message, dest: Destination) {
        self.stack
            .session_supplements()
            .outgoing_request(&mut request);
        if self.stack.add_via_to(&mut request, &dest).is_ok() {
            self.stack.send_message(request, dest, None, |_| {});
        }
    }

    fn send_ack(&self, mut ack: Message, dest: Destination) {
        self.stack.session_supplements().outgoing_request(&mut ack);
        if self.stack.add_via_to(&mut ack, &dest).is_ok() {
            self.stack.send_stateless(ack, dest);
        }
    }

    /// Where the requests of the provider's dialog go (RFC 3261
    /// §12.2.1.1): its next hop when that is an address, else where the
    /// name was resolved to ([`TrunkBridge::send_resolving`]).
    fn b_destination(&self, c: &Bridge) -> Option<Destination> {
        let hop = c.b.dialog()?.next_hop();
        sipjet_core::literal_destination(&hop).or_else(|| {
            c.b_hop
                .as_ref()
                .filter(|(name, _)| *name == hop)
                .map(|(_, dest)| dest.clone())
        })
    }

    /// Sends a request of the provider's dialog (an ACK statelessly, any
    /// other in a transaction) to `hop`, a name, once it is resolved
    /// (RFC 3263), which must not block the call's serializer. Where it
    /// went is kept in `call`, for the requests that cannot wait (a
    /// relayed re-INVITE).
    fn send_resolving(&self, request: Message, hop: String, call: Weak<Mutex<Bridge>>) {
        let me = self.me.clone();
        let stack = self.stack.clone();
        self.runtime.spawn(async move {
            let dest = match stack.resolve_destination(&hop).await {
                Ok(dest) => dest,
                Err(e) => {
                    tracing::warn!(%hop, error = %e, method = %request.method().map_or("?", |m| m.as_str()),
                        "the provider's dialog names a next hop that does not resolve; the request is not sent");
                    return;
                }
            };
            let Some(bridge) = me.upgrade() else {
                return;
            };
            if let Some(call) = call.upgrade() {
                lock(&call).b_hop = Some((hop, dest.clone()));
            }
            bridge.send_in_b(request, dest);
        });
    }

    /// Sends a request of the provider's dialog to `dest`: an ACK
    /// statelessly, any other in a transaction.
    fn send_in_b(&self, request: Message, dest: Destination) {
        if request.method() == Some(&Method::Ack) {
            self.send_ack(request, dest);
        } else {
            self.send_along(request, dest);
        }
    }

    /// Sends a request of the provider's dialog where it goes: at once to
    /// an address, else once its name is resolved.
    fn send_on_b(&self, shared: &Shared, c: &Bridge, request: Message) {
        match self.b_destination(c) {
            Some(dest) => self.send_in_b(request, dest),
            None => match c.b.dialog().map(|d| d.next_hop()) {
                Some(hop) => self.send_resolving(request, hop, Arc::downgrade(shared)),
                None => tracing::warn!("no dialog with the provider to send a request in"),
            },
        }
    }

    /// Sends a CANCEL (it carries the INVITE's Via already).
    fn send_cancel(&self, mut cancel: Message, dest: Destination) {
        self.stack
            .session_supplements()
            .outgoing_request(&mut cancel);
        self.stack.send_message(cancel, dest, None, |_| {});
    }

    /// Answers a request of a session, the supplements run first.
    fn respond(&self, tx: &ServerTransaction, mut response: Message) {
        self.stack
            .session_supplements()
            .outgoing_response(&mut response);
        let _ = tx.respond(response);
    }

    fn reply(&self, request: &IncomingRequest, code: u16) {
        self.respond(&request.server_transaction(), request.response(code));
    }

    /// The provider's INVITE to `dest`: the identity and body of `leg`,
    /// this stack's Via and Contact as `dest` reaches it, the caller's
    /// session-timer headers, 100rel offered, the supplements run.
    fn build_b_invite(&self, leg: &Leg, dest: &Destination) -> Option<Message> {
        let protocol = dest.protocol;
        let peer = dest.addr.ip();
        let mut invite = self
            .stack
            .build_request_to(&leg.req, protocol, Some(peer))
            .ok()?;
        let _ = invite.set_header("Contact", &self.contact(&leg.from_user, protocol, peer));
        copy_session_timer(&leg.caller, &mut invite);
        // The provider may send its provisional responses reliably: the
        // bridge PRACKs them (RFC 3262) on its own leg.
        let _ = invite.add_header("Supported", "100rel");
        self.stack
            .session_supplements()
            .outgoing_request(&mut invite);
        Some(invite)
    }

    /// Resolves the first hop `uri` (RFC 3263), then, on the call's
    /// serializer, sends the provider's INVITE there, built again for the
    /// address found. A call the caller cancelled meanwhile is not placed;
    /// a name that resolves nowhere fails the dial (CHANUNAVAIL, 503).
    fn resolve_then_send(&self, shared: Shared, leg: Leg, uri: String) {
        let me = self.me.clone();
        let stack = self.stack.clone();
        self.runtime.spawn(async move {
            let resolved = stack.resolve_destination(&uri).await;
            let Some(bridge) = me.upgrade() else {
                return;
            };
            let serializer = lock(&shared).serializer.clone();
            let _ = serializer.push(move || {
                let mut c = lock(&shared);
                if c.ended {
                    bridge.forget(&mut c);
                    return;
                }
                let dest = match resolved {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(%uri, error = %e, "the trunk's address does not resolve");
                        bridge.fail_a(&shared, &mut c, DialStatus::ChanUnavail, 503, None);
                        return;
                    }
                };
                let Some(invite) = bridge.build_b_invite(&leg, &dest) else {
                    bridge.fail_a(&shared, &mut c, DialStatus::ChanUnavail, 500, None);
                    return;
                };
                c.b = UacInvite::new(invite.clone(), Instant::now(), c.ring_timeout);
                c.b_dest = dest;
                drop(c);
                bridge.send_b_invite(&shared, invite);
                bridge.arm_ring_timeout(&shared);
            });
        });
    }

    /// Sends the provider's INVITE (the first, or one answering a
    /// challenge) and handles what comes back on the call's serializer.
    fn send_b_invite(&self, shared: &Shared, invite: Message) {
        let (dest, serializer) = {
            let c = lock(shared);
            (c.b_dest.clone(), c.serializer.clone())
        };
        let me = self.me.clone();
        let call = Arc::downgrade(shared);
        // A failure to send comes back to the observer like any other.
        let _ = self
            .stack
            .send_tracked(invite, dest, serializer, move |event| {
                if let (Some(me), Some(call)) = (me.upgrade(), call.upgrade()) {
                    me.on_b_event(&call, event);
                }
            });
    }

    fn on_b_event(&self, shared: &Shared, event: ClientEvent) {
        let response = match event {
            ClientEvent::Response(r) => {
                self.stack.session_supplements().incoming_response(&r);
                r
            }
            ClientEvent::Failed(e) => {
                let mut c = lock(shared);
                if c.a.is_pending() {
                    let status = if matches!(e, SendError::Timeout) {
                        408
                    } else {
                        503
                    };
                    tracing::warn!(error = %e, "the trunk's INVITE failed");
                    let (code, reason) = caller_status(status, false);
                    // The provider was never heard from: unavailable.
                    self.fail_a(shared, &mut c, DialStatus::ChanUnavail, code, reason);
                    return;
                }
                if c.b.dialog().is_none() {
                    self.forget(&mut c);
                }
                return;
            }
        };
        let events = {
            let mut c = lock(shared);
            let digest = Arc::clone(&c.digest);
            let mut d = lock(&digest);
            c.b.on_response(&response, Some(&mut d), &generate::branch())
        };
        for ev in events {
            self.on_uac_event(shared, ev, Some(&response));
        }
    }

    /// What the provider's leg says; `response` is the one that said it
    /// (none for the ring timeout).
    fn on_uac_event(&self, shared: &Shared, ev: UacEvent, response: Option<&Message>) {
        match ev {
            UacEvent::Progress {
                status,
                reason,
                body,
            } => {
                let mut c = lock(shared);
                let code = if status == 181 || status == 182 {
                    180
                } else {
                    status
                };
                if c.a.is_pending() {
                    self.answer_a(shared, &mut c, code, Some(&reason), body.as_ref());
                }
            }
            UacEvent::Answered { body, ack, .. } => {
                let mut c = lock(shared);
                if c.b.dialog().is_none() {
                    return;
                }
                self.send_on_b(shared, &c, ack);
                let b_id = c.b.dialog().map(|d| d.id().clone());
                if let Some(id) = b_id {
                    self.stack.register_dialog(id.clone(), c.serializer.clone());
                    c.keys.push(Key::Dialog(id.clone()));
                    lock(&self.calls).insert(Key::Dialog(id), Arc::clone(shared));
                }
                if c.a.is_pending() && !c.ended {
                    // Answered: the dialplan is done with the call.
                    c.dialplan = None;
                    let timer_headers = response.map(session_timer_headers).unwrap_or_default();
                    self.answer_a_with(shared, &mut c, 200, None, body.as_ref(), &timer_headers);
                    c.timer = response.and_then(|r| SessionTimer::from_answer(r, Instant::now()));
                    let watch = c.timer.is_some();
                    let retransmit = !c.a_dest.protocol.is_reliable();
                    if retransmit {
                        let timers = self.stack.config().timers;
                        c.a.start_retransmit(Instant::now(), timers.t1, timers.t2);
                    }
                    drop(c);
                    if retransmit {
                        self.arm_a_retransmit(shared);
                    }
                    if watch {
                        self.arm_session_timer(shared);
                    }
                } else {
                    // The caller is gone (cancelled): the answer is hung up.
                    self.hang_up_b(&mut c);
                    self.forget(&mut c);
                }
            }
            UacEvent::AckAgain { ack, bye } => {
                let c = lock(shared);
                self.send_on_b(shared, &c, ack);
                if let Some(bye) = bye {
                    self.send_on_b(shared, &c, bye);
                }
            }
            UacEvent::Resend(invite) => self.send_b_invite(shared, invite),
            UacEvent::Cancel(cancel) => {
                let dest = lock(shared).b_dest.clone();
                self.send_cancel(cancel, dest);
            }
            UacEvent::Prack(prack) => match next_hop(&prack) {
                Some(hop) => match sipjet_core::literal_destination(&hop) {
                    Some(dest) => self.send_along(prack, dest),
                    None => self.send_resolving(prack, hop, Weak::new()),
                },
                None => tracing::warn!("the provider's early dialog names no address to PRACK"),
            },
            UacEvent::Failed {
                status,
                reason,
                timed_out,
            } => {
                let mut c = lock(shared);
                tracing::info!(status, %reason, timed_out, "the trunk's call failed");
                if c.a.is_pending() {
                    let (code, phrase) = caller_status(status, timed_out);
                    let phrase = phrase.map(str::to_string).or(Some(reason));
                    let dial = dial_status(status, timed_out);
                    self.fail_a(shared, &mut c, dial, code, phrase.as_deref());
                    return;
                }
                self.forget(&mut c);
            }
        }
    }

    /// The provider's leg failed before the caller was answered: the call
    /// is forgotten, and the caller goes back to the dialplan (which goes
    /// on at its next priority with `${DIALSTATUS}` = `status`), else is
    /// answered `code`. A caller that cancelled is answered already.
    fn fail_a(
        &self,
        shared: &Shared,
        c: &mut Bridge,
        status: DialStatus,
        code: u16,
        reason: Option<&str>,
    ) {
        let back = if c.ended { None } else { c.dialplan.take() };
        match back {
            Some(call) => {
                self.forget(c);
                // After this task, which holds the call: the dialplan may
                // dial again at once.
                let _ = c.serializer.push(move || call.not_answered(status, code));
            }
            None => {
                if c.a.is_pending() {
                    self.answer_a(shared, c, code, reason, None);
                }
                self.forget(c);
            }
        }
    }

    /// Answers the caller's INVITE; a 101..299 files the caller's dialog.
    fn answer_a(
        &self,
        call: &Shared,
        c: &mut Bridge,
        code: u16,
        reason: Option<&str>,
        body: Option<&Body>,
    ) {
        self.answer_a_with(call, c, code, reason, body, &[]);
    }

    fn answer_a_with(
        &self,
        call: &Shared,
        c: &mut Bridge,
        code: u16,
        reason: Option<&str>,
        body: Option<&Body>,
        headers: &[(String, String)],
    ) {
        let had_dialog = c.a.dialog().is_some();
        match c.a.response_with(code, reason, body, headers) {
            Ok(Some(r)) => self.respond(&c.a_tx, r),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot answer the caller");
                self.respond(&c.a_tx, c.a_tx.response(500));
                return;
            }
        }
        if !had_dialog && let Some(id) = c.a.dialog().map(|d| d.id().clone()) {
            self.stack.register_dialog(id.clone(), c.serializer.clone());
            c.keys.push(Key::Dialog(id.clone()));
            lock(&self.calls).insert(Key::Dialog(id), Arc::clone(call));
        }
    }

    fn hang_up_b(&self, c: &mut Bridge) {
        let dest = self.b_destination(c);
        let Some(d) = c.b.dialog_mut() else {
            return;
        };
        let hop = d.next_hop();
        let Ok(bye) = d.request(Method::Bye) else {
            return;
        };
        match dest {
            Some(dest) => self.send_along(bye, dest),
            // The call is over: where the name resolves need not be kept.
            None => self.send_resolving(bye, hop, Weak::new()),
        }
    }

    fn hang_up_a(&self, c: &mut Bridge) {
        let dest = c.a_dest.clone();
        if let Some(bye) = c.a.dialog_mut().and_then(|d| d.request(Method::Bye).ok()) {
            self.send_along(bye, dest);
        }
    }

    /// A request in one of the call's dialogs.
    fn in_dialog(&self, shared: &Shared, id: &DialogId, request: &IncomingRequest) {
        self.stack
            .session_supplements()
            .incoming_request(&request.message);
        let mut c = lock(shared);
        let from_a = c.a.dialog().is_some_and(|d| d.id() == id);
        if request.method() == &Method::Ack {
            // The ACK of the caller's answer (or of a relayed re-INVITE's,
            // which this side ACKs itself on the other leg).
            if from_a {
                c.a.on_ack();
            }
            return;
        }
        let dialog_ok = if from_a {
            c.a.dialog_mut()
                .map(|d| d.receive_request(&request.message))
        } else {
            c.b.dialog_mut()
                .map(|d| d.receive_request(&request.message))
        };
        if let Some(Err(e)) = dialog_ok {
            self.reply(request, e.status_code());
            return;
        }
        match request.method() {
            Method::Bye => {
                self.reply(request, 200);
                if from_a {
                    self.hang_up_b(&mut c);
                } else {
                    if c.a.is_pending() {
                        self.answer_a(shared, &mut c, 480, None, None);
                    }
                    self.hang_up_a(&mut c);
                }
                self.forget(&mut c);
            }
            Method::Invite | Method::Update => {
                match c.relaying {
                    // Ours crossed theirs (glare): they retry later.
                    Some(mine) if mine != from_a => {
                        self.reply(request, 491);
                    }
                    // Theirs is still being answered.
                    Some(_) => {
                        let mut r = request.response(500);
                        let _ = r.add_header("Retry-After", "1");
                        let _ = request.respond(r);
                    }
                    None => self.relay(shared, &mut c, from_a, request),
                }
            }
            _ => {
                self.reply(request, 501);
            }
        }
    }

    /// A re-INVITE or UPDATE from one leg, sent on the other; its final
    /// answer comes back with the other side's body.
    fn relay(&self, shared: &Shared, c: &mut Bridge, from_a: bool, request: &IncomingRequest) {
        let method = request.method().clone();
        let body = body_of(&request.message);
        let tx = request.server_transaction();
        let serializer = c.serializer.clone();
        let a_dest = c.a_dest.clone();
        let b_dest = self.b_destination(c);
        let other = if from_a {
            c.b.dialog_mut()
        } else {
            c.a.dialog_mut()
        };
        let Some(dialog) = other else {
            self.reply(request, 491);
            return;
        };
        let mut out = match dialog.request(method.clone()) {
            Ok(m) => m,
            Err(e) => {
                self.reply(request, e.status_code());
                return;
            }
        };
        copy_session_timer(&request.message, &mut out);
        if let Some((ct, b)) = &body
            && out.set_body(ct, b.clone()).is_err()
        {
            self.reply(request, 500);
            return;
        }
        // A provider's next hop by name was resolved when its dialog
        // began; a target refresh to a new name since is not yet.
        let dest = if from_a { b_dest } else { Some(a_dest) };
        let Some(dest) = dest else {
            let mut r = request.response(500);
            let _ = r.add_header("Retry-After", "1");
            self.respond(&tx, r);
            return;
        };
        let ack_for = (method == Method::Invite).then(|| (dialog.clone(), dest.clone()));
        let supplements = self.stack.session_supplements().clone();
        supplements.outgoing_request(&mut out);
        if self.stack.add_via_to(&mut out, &dest).is_err() {
            self.reply(request, 500);
            return;
        }
        let stack = self.stack.clone();
        c.relaying = Some(from_a);
        let call = Arc::downgrade(shared);
        self.stack
            .send_message(out, dest, Some(serializer), move |outcome| {
                if let Some(call) = call.upgrade() {
                    let mut c = lock(&call);
                    c.relaying = None;
                    // A 2xx to a re-INVITE or UPDATE refreshes the session.
                    if let (Ok(r), Some(t)) = (&outcome, c.timer.as_mut())
                        && r.status().is_some_and(|s| (200..300).contains(&s))
                    {
                        t.refreshed(r, Instant::now());
                    }
                }
                let r = match outcome {
                    Ok(r) => r,
                    Err(_) => {
                        let mut answer = tx.response(408);
                        supplements.outgoing_response(&mut answer);
                        let _ = tx.respond(answer);
                        return;
                    }
                };
                supplements.incoming_response(&r);
                let status = r.status().unwrap_or(500);
                let mut answer = tx.response(if status == 401 || status == 407 {
                    503
                } else {
                    status
                });
                copy_session_timer(&r, &mut answer);
                if let Some((ct, b)) = body_of(&r)
                    && answer.set_body(&ct, b).is_err()
                {
                    answer = tx.response(500);
                }
                supplements.outgoing_response(&mut answer);
                let _ = tx.respond(answer);
                if (200..300).contains(&status)
                    && let Some((dialog, dest)) = ack_for
                    && let Ok(cseq) = r.cseq()
                    && let Ok(mut ack) = dialog.ack(cseq.seq)
                {
                    supplements.outgoing_request(&mut ack);
                    if stack.add_via_to(&mut ack, &dest).is_ok() {
                        stack.send_stateless(ack, dest);
                    }
                }
            });
    }

    /// The caller's CANCEL.
    fn on_cancel(&self, shared: &Shared) {
        let mut c = lock(shared);
        if let Some(r) = c.a.on_cancel() {
            self.respond(&c.a_tx, r);
        }
        c.ended = true;
        if let Some(cancel) = c.b.cancel() {
            let dest = c.b_dest.clone();
            self.send_cancel(cancel, dest);
        }
    }

    /// Retransmits the caller's 2xx until its ACK (RFC 3261 §13.3.1.4):
    /// one task per call while it lasts, each firing handled on the call's
    /// serializer; with no ACK after 64×T1 the call is ended on both legs.
    fn arm_a_retransmit(&self, shared: &Shared) {
        let me = self.me.clone();
        let call = Arc::downgrade(shared);
        let task = self.runtime.spawn(async move {
            loop {
                let Some(at) = call.upgrade().and_then(|c| lock(&c).a.poll_timeout()) else {
                    return;
                };
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                let (Some(bridge), Some(shared)) = (me.upgrade(), call.upgrade()) else {
                    return;
                };
                let serializer = lock(&shared).serializer.clone();
                let (done, handled) = tokio::sync::oneshot::channel();
                let pushed = serializer.push(move || {
                    bridge.on_a_timeout(&shared);
                    let _ = done.send(());
                });
                if pushed.is_err() || handled.await.is_err() {
                    return;
                }
            }
        });
        keep_timer(shared, task.abort_handle());
    }

    /// Ends the call when nobody refreshed the session in time (RFC 4028
    /// §10): a BYE on both legs.
    fn arm_session_timer(&self, shared: &Shared) {
        let me = self.me.clone();
        let call = Arc::downgrade(shared);
        let task = self.runtime.spawn(async move {
            loop {
                let at = match call.upgrade() {
                    Some(c) => {
                        let c = lock(&c);
                        if c.ended {
                            return;
                        }
                        match &c.timer {
                            Some(t) => t.poll_timeout(),
                            None => return,
                        }
                    }
                    None => return,
                };
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                let (Some(bridge), Some(shared)) = (me.upgrade(), call.upgrade()) else {
                    return;
                };
                let serializer = lock(&shared).serializer.clone();
                let (done, handled) = tokio::sync::oneshot::channel();
                let pushed = serializer.push(move || {
                    let mut c = lock(&shared);
                    if !c.ended
                        && c.timer
                            .as_ref()
                            .is_some_and(|t| t.is_expired(Instant::now()))
                    {
                        tracing::info!("the session was not refreshed in time; the call is ended");
                        bridge.hang_up_b(&mut c);
                        bridge.hang_up_a(&mut c);
                        bridge.forget(&mut c);
                    }
                    let _ = done.send(());
                });
                if pushed.is_err() || handled.await.is_err() {
                    return;
                }
            }
        });
        keep_timer(shared, task.abort_handle());
    }

    fn on_a_timeout(&self, shared: &Shared) {
        let mut c = lock(shared);
        match c.a.handle_timeout(Instant::now()) {
            Some(UasTimeout::Retransmit(r)) => {
                // The 2xx as the session built it, so the supplements
                // make of it what they made of the first.
                self.respond(&c.a_tx, r);
            }
            Some(UasTimeout::NoAck) => {
                tracing::warn!("the caller never acknowledged the answer; the call is ended");
                self.hang_up_b(&mut c);
                self.hang_up_a(&mut c);
                self.forget(&mut c);
            }
            None => {}
        }
    }

    /// Arms the ring timeout of the provider's INVITE.
    fn arm_ring_timeout(&self, shared: &Shared) {
        let Some(at) = lock(shared).b.poll_timeout() else {
            return;
        };
        let me = self.me.clone();
        let call = Arc::downgrade(shared);
        let task = self.runtime.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            let (Some(me), Some(call)) = (me.upgrade(), call.upgrade()) else {
                return;
            };
            let serializer = lock(&call).serializer.clone();
            let _ = serializer.push(move || {
                let events = lock(&call).b.handle_timeout(Instant::now());
                for ev in events {
                    me.on_uac_event(&call, ev, None);
                }
            });
        });
        keep_timer(shared, task.abort_handle());
    }
}

/// Files a call's timer task under the call, to be stopped when it is
/// forgotten; at once if it already was.
fn keep_timer(shared: &Shared, task: AbortHandle) {
    let mut c = lock(shared);
    if c.ended && c.keys.is_empty() {
        task.abort();
    } else {
        c.timers.push(task);
    }
}

/// Who the provider hears the call from.
struct Presented {
    /// The display name.
    name: Option<String>,
    /// The number (P-Asserted-Identity, and the From user without
    /// `from_user`).
    number: Option<String>,
}

/// The caller ID of a call through the trunk `conf`: the name of its
/// `callerid`; the number the dialplan set (`Set(CALLERID(num)=...)`,
/// told by `caller_num` differing from the caller's own `from_user`),
/// else the trunk's `callerid` number, else the caller's own.
fn presented(
    conf: &crate::config::pjsip::EndpointConf,
    caller_num: &str,
    from_user: Option<&str>,
) -> Presented {
    let (name, trunk_number) = conf
        .callerid
        .as_deref()
        .map(parse_callerid)
        .unwrap_or((None, None));
    let caller =
        (!caller_num.is_empty() && is_user_part(caller_num)).then(|| caller_num.to_string());
    let set_by_dialplan = caller.is_some() && Some(caller_num) != from_user;
    let number = if set_by_dialplan {
        caller
    } else {
        trunk_number.or(caller)
    };
    Presented { name, number }
}

impl TrunkBridge {
    /// Places the dialplan's `call` to `number` through the trunk endpoint
    /// `trunk`. On `Ok` the call is the bridge's: it answers the caller,
    /// or hands it back to the dialplan when nobody answers. On `Err`
    /// nothing was sent, and the call is handed back.
    fn place(
        &self,
        call: TrunkCall,
        trunk: &str,
        number: &str,
    ) -> Result<(), Box<(DialError, TrunkCall)>> {
        let invite_in = call.request.request();
        if invite_in.method() != Some(&Method::Invite) || has_to_tag(invite_in) {
            return Err(Box::new((DialError::NotAnInvite, call)));
        }
        let missing: Vec<String> =
            crate::modules::extensions::unsupported_in(invite_in, HeaderName::Require, SUPPORTED)
                .into_iter()
                .map(str::to_string)
                .collect();
        if !missing.is_empty() {
            return Err(Box::new((DialError::BadExtension(missing), call)));
        }
        if !is_user_part(number) {
            return Err(Box::new((DialError::BadNumber(number.to_string()), call)));
        }
        let Some(conf) = self.model.config.endpoint(trunk) else {
            return Err(Box::new((DialError::UnknownTrunk(trunk.to_string()), call)));
        };
        let Some(contact) = conf
            .aors
            .iter()
            .filter_map(|a| self.model.config.aor(a))
            .flat_map(|a| a.contacts.iter())
            .next()
            .cloned()
        else {
            return Err(Box::new((DialError::NoContact(trunk.to_string()), call)));
        };
        // The first hop: the endpoint's outbound proxy, else the contact;
        // a name is resolved (RFC 3263) before the INVITE leaves.
        let first_hop = conf
            .outbound_proxy
            .clone()
            .unwrap_or_else(|| contact.clone());
        let literal = sipjet_core::literal_destination(&first_hop);
        let Some(host) = host_of(&contact) else {
            return Err(Box::new((DialError::NoContact(trunk.to_string()), call)));
        };
        if self.active() >= MAX_BRIDGES {
            return Err(Box::new((DialError::Busy, call)));
        }
        let caller_from = invite_in.from_header().ok().and_then(|f| {
            f.uri()
                .ok()
                .and_then(|u| u.as_sip().and_then(|s| s.user.map(str::to_string)))
        });
        let id = presented(conf, &call.caller_num, caller_from.as_deref());
        let from_user = conf
            .from_user
            .clone()
            .or_else(|| id.number.clone())
            .unwrap_or_else(|| "sipjet".to_string());
        let from_domain = conf.from_domain.clone().unwrap_or_else(|| host.clone());
        let display = id.name.as_deref().map(|n| format!("{} ", quoted(n)));
        let from = format!(
            "{}<sip:{from_user}@{from_domain}>;tag={}",
            display.clone().unwrap_or_default(),
            generate::tag()
        );
        let target = format!("sip:{number}@{host}");
        let mut req = OutgoingRequest::new(Method::Invite, &target);
        req.from = Some(from);
        req.to = Some(format!("<sip:{number}@{host}>"));
        if let Some(n) = &id.number {
            req.headers.push((
                "P-Asserted-Identity".into(),
                format!(
                    "{}<sip:{n}@{from_domain}>",
                    display.clone().unwrap_or_default()
                ),
            ));
        }
        if let Some(proxy) = &conf.outbound_proxy {
            req.headers.push(("Route".into(), format!("<{proxy}>")));
        }
        req.body = body_of(&call.message);
        let leg = Leg {
            req,
            from_user,
            caller: call.message.clone(),
        };
        // Until the name is resolved, a stand-in: the INVITE is built
        // again for the address found.
        let dest = literal.clone().unwrap_or_else(|| {
            Destination::new(uri_protocol(&first_hop), ([0, 0, 0, 0], 0).into())
        });
        let Some(invite) = self.build_b_invite(&leg, &dest) else {
            return Err(Box::new((DialError::NoContact(trunk.to_string()), call)));
        };
        let digest = self.digest(trunk);
        let serializer = self.stack.create_work("trunk-call");
        let a_flow: Flow = call.request.flow();
        let a_dest = match a_flow.connection {
            Some(c) => Destination::new(a_flow.protocol, a_flow.remote).with_connection(c),
            None => Destination::new(a_flow.protocol, a_flow.remote),
        };
        let a_contact = self.contact("sipjet", a_flow.protocol, a_flow.remote.ip());
        let invite_key = Key::Invite(
            invite_in.call_id().unwrap_or_default().to_string(),
            invite_in
                .via()
                .ok()
                .and_then(|v| v.branch().map(str::to_string))
                .unwrap_or_default(),
        );
        let a = UasInvite::new(invite_in.clone(), a_contact);
        let a_tx = call.request.clone();
        let call_id = invite_in.call_id().unwrap_or_default().to_string();
        let timeout = call.timeout;
        self.stack
            .session_supplements()
            .incoming_request(call.request.request());
        let shared: Shared = Arc::new(Mutex::new(Bridge {
            a,
            a_tx,
            a_dest,
            b: UacInvite::new(invite.clone(), Instant::now(), timeout),
            b_dest: dest,
            b_hop: None,
            digest,
            serializer: serializer.clone(),
            keys: vec![invite_key.clone()],
            ended: false,
            relaying: None,
            timer: None,
            ring_timeout: timeout,
            timers: Vec::new(),
            dialplan: Some(call),
        }));
        lock(&self.calls).insert(invite_key, Arc::clone(&shared));
        tracing::info!(trunk, number, %call_id, "dialling out through a trunk");
        // The caller hears that the call is on its way.
        {
            let mut c = lock(&shared);
            if let Ok(Some(r)) = c.a.response(100, None, None) {
                self.respond(&c.a_tx, r);
            }
        }
        let me = self.me.upgrade();
        let _ = serializer.push(move || {
            let Some(me) = me else {
                return;
            };
            if literal.is_some() {
                me.send_b_invite(&shared, invite);
                me.arm_ring_timeout(&shared);
            } else {
                me.resolve_then_send(shared, leg, first_hop);
            }
        });
        Ok(())
    }
}

/// True when `m` has a To tag.
fn has_to_tag(m: &Message) -> bool {
    m.to_header().ok().is_some_and(|t| t.tag().is_some())
}

impl TrunkDialer for TrunkBridge {
    /// Dials the first trunk target of the `Dial`. The other targets are
    /// not rung (`sipjet check-config` says so): one call is bridged.
    fn dial(&self, call: TrunkCall) {
        let first = call.targets.iter().find_map(|t| match t {
            DialTarget::Trunk { number, trunk } => Some((number.clone(), trunk.clone())),
            DialTarget::Endpoint(_) => None,
        });
        if call.targets.len() > 1 {
            tracing::warn!(targets = ?call.targets, "a Dial to a trunk places one call: its other targets are not rung");
        }
        let Some((number, trunk)) = first else {
            call.not_answered(DialStatus::ChanUnavail, DialError::NoTrunkTarget.status());
            return;
        };
        if let Err(refused) = self.place(call, &trunk, &number) {
            let (e, call) = *refused;
            tracing::warn!(error = %e, %trunk, "a call through a trunk was not placed");
            match e {
                // Refused as Asterisk refuses it, before any dialling.
                DialError::BadExtension(_) | DialError::NotAnInvite => e.answer(&call.request),
                _ => call.not_answered(e.dial_status(), e.status()),
            }
        }
    }
}

/// The bridge as the stack and the dialplan hold it: weakly. The bridge
/// holds the stack, and the stack holds its services, so a strong handle
/// there would keep both alive for good once the server that owns them is
/// dropped (its transports bound, its tasks running).
pub struct BridgeHandle(pub Weak<TrunkBridge>);

impl Service for BridgeHandle {
    fn name(&self) -> &str {
        "trunk-bridge"
    }

    fn priority(&self) -> i32 {
        Priority::DIALOG_USAGE
    }

    fn runs_inline(&self) -> bool {
        self.0.upgrade().is_none_or(|b| b.runs_inline())
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        self.0
            .upgrade()
            .map_or(Handled::No, |b| b.on_rx_request(request))
    }
}

impl TrunkDialer for BridgeHandle {
    fn dial(&self, call: TrunkCall) {
        match self.0.upgrade() {
            Some(bridge) => bridge.dial(call),
            None => call.not_answered(DialStatus::ChanUnavail, 503),
        }
    }
}

impl Service for TrunkBridge {
    fn name(&self) -> &str {
        "trunk-bridge"
    }

    fn priority(&self) -> i32 {
        // Before the calls between local phones: its dialogs and its route
        // are its own.
        Priority::DIALOG_USAGE
    }

    fn runs_inline(&self) -> bool {
        // A call's state is behind its own short lock and the other leg is
        // sent without waiting for its answer. Saying otherwise would send
        // every request the server receives, trunk or not, through the
        // threadpool: one service that may block is enough for that.
        true
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if let Some(id) = request.dialog()
            && let Some(call) = self.find(&Key::Dialog(id.clone()))
        {
            self.in_dialog(&call, id, request);
            return Handled::Yes;
        }
        if request.method() == &Method::Cancel {
            let key = Key::Invite(
                request.message.call_id().unwrap_or_default().to_string(),
                request
                    .message
                    .via()
                    .ok()
                    .and_then(|v| v.branch().map(str::to_string))
                    .unwrap_or_default(),
            );
            if let Some(call) = self.find(&key) {
                self.on_cancel(&call);
                return Handled::Yes;
            }
            return Handled::No;
        }
        Handled::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callerid_forms() {
        assert_eq!(
            parse_callerid("\"Office Berlin\" <4930123>"),
            (Some("Office Berlin".into()), Some("4930123".into()))
        );
        assert_eq!(
            parse_callerid("Office <+4930123>"),
            (Some("Office".into()), Some("+4930123".into()))
        );
        assert_eq!(parse_callerid("4930123"), (None, Some("4930123".into())));
        assert_eq!(parse_callerid(""), (None, None));
    }

    #[test]
    fn failures_as_the_caller_hears_them() {
        assert_eq!(caller_status(486, false), (486, None));
        assert_eq!(caller_status(407, false).0, 503);
        assert_eq!(caller_status(401, false).0, 503);
        assert_eq!(caller_status(302, false).0, 480);
        assert_eq!(caller_status(487, true).0, 480);
        assert_eq!(caller_status(603, false), (603, None));
    }

    #[test]
    fn a_failed_trunk_leg_sets_dialstatus_as_asterisk_does() {
        assert_eq!(dial_status(486, false), DialStatus::Busy);
        assert_eq!(dial_status(600, false), DialStatus::Busy);
        assert_eq!(dial_status(487, true), DialStatus::NoAnswer);
        assert_eq!(dial_status(480, false), DialStatus::NoAnswer);
        assert_eq!(dial_status(503, false), DialStatus::Congestion);
        assert_eq!(dial_status(404, false), DialStatus::ChanUnavail);
        assert_eq!(dial_status(407, false), DialStatus::ChanUnavail);
        assert_eq!(DialError::Busy.dial_status(), DialStatus::Congestion);
        assert_eq!(
            DialError::NoContact("t".into()).dial_status(),
            DialStatus::ChanUnavail
        );
    }

    #[test]
    fn the_caller_id_the_provider_hears() {
        let r = crate::config::pjsip::from_str(
            "t.conf",
            "[t]\ntype=endpoint\ncallerid=\"Office\" <4930123>\n[u]\ntype=endpoint\n",
        );
        let with = r.config.endpoint("t").unwrap();
        let without = r.config.endpoint("u").unwrap();
        // The caller's own number: the trunk's callerid stands for it.
        let p = presented(with, "alice", Some("alice"));
        assert_eq!(
            (p.name.as_deref(), p.number.as_deref()),
            (Some("Office"), Some("4930123"))
        );
        // Set by the dialplan: presented.
        let p = presented(with, "4930777", Some("alice"));
        assert_eq!(p.number.as_deref(), Some("4930777"));
        // No callerid on the trunk: the caller's own.
        let p = presented(without, "101", Some("101"));
        assert_eq!((p.name, p.number.as_deref()), (None, Some("101")));
        // Nothing that is not a user part.
        let p = presented(without, "a b", Some("x"));
        assert_eq!(p.number, None);
    }

    #[test]
    fn hosts_and_numbers() {
        assert_eq!(
            host_of("sip:127.0.0.1:5099").as_deref(),
            Some("127.0.0.1:5099")
        );
        assert_eq!(
            host_of("sip:trunk@sip.provider.test;transport=tcp").as_deref(),
            Some("sip.provider.test")
        );
        assert!(is_user_part("+4930555"));
        assert!(!is_user_part("a b"));
        assert!(!is_user_part(""));
        assert!(!is_user_part("<x>"));
    }
}
