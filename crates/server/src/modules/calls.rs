//! Calls between the server's own endpoints, the way Kamailio's `tm`,
//! `rr` and `registrar` route them: the server is a stateful proxy on the
//! signalling path (RFC 3261 §16), media flows between the phones and the
//! SDP passes through untouched.
//!
//! - An INVITE, or any other request that starts a dialog or stands
//!   alone (but REGISTER, MESSAGE and OPTIONS, which have their own
//!   services), to a user of the server's own domains is forwarded to
//!   every contact registered to the AOR it names, each reached over the
//!   flow it registered from, with the server in the Record-Route. The
//!   core has authenticated it already (401, as for every request), and
//!   the sender-identity service has checked its From.
//! - Unknown user: 404; a user with no contact: 480; a host that is not
//!   the server's: 403, the server is no open relay.
//! - Credentials for the server's own realms are never passed on (they
//!   answered the server's challenge; RFC 3261 §22.3); credentials for
//!   another realm, answering the callee's own challenge, are.
//! - A request of a dialog the server record-routed (its Route names the
//!   server with the dialog's route token) goes on along that route,
//!   without the credentials it may carry for the server's own realm;
//!   any other request with a To tag is left to the core, which
//!   authenticates it and answers 481.
//!
//! With a dialplan, an INVITE from an endpoint whose `context` is one of
//! its contexts goes where the dialplan says instead (the Request-URI's
//! user is `${EXTEN}`; a trunk's calls, identified by `[identify]`, too):
//! `Dial(PJSIP/bob)` forks to the contacts of bob's AORs on the same proxy
//! path, with the Dial's timeout over all branches; when nobody answers
//! the dialplan goes on at the next priority; `Busy`, `Congestion` and
//! `Hangup(cause)` answer 486, 503 and the cause's status;
//! `Dial(PJSIP/number@trunk)` is handed to the [`TrunkDialer`]. The
//! Request-URI's host is not looked at, as in Asterisk: the dialplan
//! names every place a call may go, so it relays nowhere it does not
//! say.
//!
//! Every call is kept in a [`CallLog`]: the ones in progress and the last
//! few hundred that ended, for `sipjet show calls` and the metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sipjet_core::message::{AuthValue, SipUri};
use sipjet_core::{
    Flow, Fork, Handled, HeaderName, IncomingRequest, Message, Method, ProxyOptions,
    ServerTransaction, Service, SipStack, Target,
};

use super::reach::{target_aors, targets};
use super::trunk::{NoTrunks, TrunkCall, TrunkDialer};
use crate::dialplan::{Decision, DialStatus, DialTarget, Dialplan, Execution};
use crate::location::LocationStore;
use crate::model::Model;

/// Routes calls between the server's endpoints.
pub struct CallRouter {
    model: Arc<Model>,
    store: Arc<dyn LocationStore>,
    options: ProxyOptions,
    log: Arc<CallLog>,
    /// With a dialplan: what its walks share.
    dialplan: Option<Arc<Dialler>>,
}

impl CallRouter {
    /// A router over the model's AORs and the store's bindings.
    pub fn new(
        model: Arc<Model>,
        store: Arc<dyn LocationStore>,
        options: ProxyOptions,
        log: Arc<CallLog>,
    ) -> CallRouter {
        CallRouter {
            model,
            store,
            options,
            log,
            dialplan: None,
        }
    }

    /// Routes the calls of endpoints whose context `plan` has by it;
    /// `trunks` dials what it sends to a trunk ([`NoTrunks`] when `None`).
    pub fn with_dialplan(
        mut self,
        plan: Arc<Dialplan>,
        trunks: Option<Arc<dyn TrunkDialer>>,
    ) -> CallRouter {
        self.dialplan = Some(Arc::new(Dialler {
            plan,
            model: Arc::clone(&self.model),
            store: Arc::clone(&self.store),
            options: self.options,
            trunks: trunks.unwrap_or_else(|| Arc::new(NoTrunks)),
        }));
        self
    }

    /// An INVITE from an endpoint whose context the dialplan has: walked
    /// through the dialplan. False when the dialplan is not for it.
    fn route_by_dialplan(&self, request: &IncomingRequest) -> bool {
        let (Some(dialler), Some(endpoint)) = (&self.dialplan, &request.endpoint) else {
            return false;
        };
        if request.method() != &Method::Invite || !dialler.plan.has_context(&endpoint.context) {
            return false;
        }
        // Asterisk's `s` when the Request-URI has no user.
        let exten = request
            .message
            .request_uri_parsed()
            .and_then(Result::ok)
            .and_then(|u| {
                u.as_sip()
                    .and_then(|s| s.user_unescaped().map(|u| u.into_owned()))
            })
            .and_then(|u| String::from_utf8(u).ok())
            .unwrap_or_else(|| "s".into());
        let caller_num = request.from_user().unwrap_or_default();
        let caller_name = request
            .message
            .from_header()
            .ok()
            .and_then(|f| f.display_name_unquoted().map(|d| d.into_owned()))
            .unwrap_or_default();
        let walk = Execution::new(
            Arc::clone(&dialler.plan),
            &endpoint.context,
            &exten,
            &caller_num,
            &caller_name,
        );
        self.log
            .started(&request.message, endpoint.name.clone(), exten.clone());
        let mut message = request.message.clone();
        strip_own_credentials(&self.model, &mut message);
        super::identity::strip_untrusted_identity(&mut message, request.endpoint.as_deref());
        tracing::debug!(context = %endpoint.context, %exten, "routed by the dialplan");
        Arc::clone(dialler).proceed(
            request.stack().clone(),
            walk,
            message,
            request.server_transaction(),
            None,
        );
        true
    }

    /// True when `uri` names this server: a domain of its own, or an
    /// address it listens on (any port: some phones leave it out).
    fn is_ours(&self, uri: &SipUri<'_>, request: &IncomingRequest) -> bool {
        if let Some(ip) = uri.host.ip() {
            // The external addresses too: a caller beyond the NAT names
            // the server by the one it reaches.
            let listening = request.stack().own_addrs();
            return ip == request.flow.local.ip()
                || listening
                    .iter()
                    .any(|(_, a)| a.ip() == ip || a.ip().is_unspecified() && ip.is_loopback());
        }
        self.model.is_local_domain(&uri.host.to_string())
    }

    /// A new request for one of the server's users: forwarded to the
    /// contacts of the AOR it names.
    fn route(&self, request: &IncomingRequest) {
        let Some(Ok(uri)) = request.message.request_uri_parsed() else {
            let _ = request.reply(416);
            return;
        };
        let Some(sip) = uri.as_sip() else {
            let _ = request.reply(416);
            return;
        };
        if !self.is_ours(sip, request) {
            let _ =
                request.respond(request.response_with_reason(403, "Not relaying to other domains"));
            return;
        }
        let Some(user) = sip
            .user_unescaped()
            .and_then(|u| String::from_utf8(u.into_owned()).ok())
        else {
            let _ = request.reply(404);
            return;
        };
        let Some(aors) = target_aors(&self.model, &user, &sip.host.to_string()) else {
            let _ = request.reply(404);
            return;
        };
        let targets = targets(&self.model, &*self.store, &aors);
        if targets.is_empty() {
            let _ = request.reply(480);
            return;
        }
        if request.method() == &Method::Invite {
            let caller = request
                .endpoint
                .as_ref()
                .map(|e| e.name.clone())
                .unwrap_or_default();
            self.log.started(&request.message, caller, user);
        }
        // RFC 3325: an asserted identity is passed on only from an
        // endpoint trusted to assert one.
        let mut message = request.message.clone();
        strip_own_credentials(&self.model, &mut message);
        super::identity::strip_untrusted_identity(&mut message, request.endpoint.as_deref());
        if let Err(refusal) =
            request
                .stack()
                .proxy_message(request, message, targets, &self.options)
        {
            tracing::info!(%refusal, "a call was not forwarded");
        }
    }
}

impl Service for CallRouter {
    fn name(&self) -> &str {
        "calls"
    }

    fn runs_inline(&self) -> bool {
        // Looks up bindings in memory; the branches are sent without waiting.
        true
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.is_routed_by_us() {
            if request.method() == &Method::Bye {
                self.log.ended(&request.message);
            }
            let mut message = request.message.clone();
            strip_own_credentials(&self.model, &mut message);
            if let Err(refusal) =
                request
                    .stack()
                    .proxy_in_dialog_message(request, message, self.options.timers)
            {
                tracing::info!(%refusal, method = %request.method(), "an in-dialog request was not forwarded");
            }
            return Handled::Yes;
        }
        if request.has_to_tag()
            || matches!(
                request.method(),
                Method::Register | Method::Message | Method::Options | Method::Ack | Method::Cancel
            )
        {
            return Handled::No;
        }
        if !self.route_by_dialplan(request) {
            self.route(request);
        }
        Handled::Yes
    }

    fn on_tx_response(&self, response: &mut Message, _flow: &Flow) {
        self.log.answered(response);
    }
}

/// What the dialplan's walks share: the dialplan, where the endpoints'
/// contacts are, and who dials trunks.
struct Dialler {
    plan: Arc<Dialplan>,
    model: Arc<Model>,
    store: Arc<dyn LocationStore>,
    options: ProxyOptions,
    trunks: Arc<dyn TrunkDialer>,
}

impl Dialler {
    /// Walks on from where `walk` stands until the call is dialled or
    /// answered. `last` is the final response of the dial before, which
    /// goes to the caller as it came (its headers, a challenge) when the
    /// walk ends with its status.
    fn proceed(
        self: Arc<Self>,
        stack: SipStack,
        mut walk: Execution,
        message: Message,
        request: ServerTransaction,
        last: Option<Message>,
    ) {
        loop {
            match walk.step() {
                Decision::Respond { code, why } => {
                    tracing::info!(code, %why, "the dialplan ends the call");
                    let response = match last {
                        Some(m) if m.status() == Some(code) => {
                            // The caller's own request, as the proxy
                            // answered it: the best final as is.
                            m
                        }
                        _ => request.response(code),
                    };
                    let _ = request.respond(response);
                    return;
                }
                Decision::Dial {
                    targets,
                    timeout,
                    caller_num,
                    at,
                } => {
                    if targets
                        .iter()
                        .any(|t| matches!(t, DialTarget::Trunk { .. }))
                    {
                        let me = Arc::clone(&self);
                        let forwarded = message.clone();
                        let stack = stack.clone();
                        self.trunks.dial(TrunkCall {
                            request,
                            message,
                            targets,
                            timeout,
                            caller_num,
                            then: Box::new(move |request, status, code| {
                                walk.dial_failed(status, code);
                                me.proceed(stack, walk, forwarded, request, None);
                            }),
                        });
                        return;
                    }
                    let contacts = self.contacts(&targets);
                    if contacts.is_empty() {
                        tracing::info!(%at, ?targets, "Dial: no target has a contact (CHANUNAVAIL)");
                        walk.dial_failed(DialStatus::ChanUnavail, 480);
                        continue;
                    }
                    let me = Arc::clone(&self);
                    let forwarded = message.clone();
                    let next_stack = stack.clone();
                    let fork = Fork {
                        ring_timeout: timeout,
                        on_unanswered: Box::new(move |unanswered| {
                            let code = unanswered.best.status().unwrap_or(500);
                            walk.dial_failed(DialStatus::of(code, unanswered.rang_out), code);
                            me.proceed(
                                next_stack,
                                walk,
                                forwarded,
                                unanswered.request,
                                Some(unanswered.best),
                            );
                        }),
                    };
                    if let Err(refusal) =
                        stack.proxy_fork(request, message, contacts, &self.options, fork)
                    {
                        tracing::info!(%refusal, "a call was not forwarded");
                    }
                    return;
                }
            }
        }
    }

    /// The contacts of the endpoints a `Dial` names.
    fn contacts(&self, dial: &[DialTarget]) -> Vec<Target> {
        let mut out = Vec::new();
        for t in dial {
            let DialTarget::Endpoint(name) = t else {
                continue;
            };
            match self.model.endpoint(name) {
                Some(e) => out.extend(targets(&self.model, &*self.store, &e.aors)),
                None => tracing::info!(endpoint = %name, "Dial names no such endpoint"),
            }
        }
        out
    }
}

/// Removes the credentials `message` carries for the server's own realms.
/// Some phones (linphone) send them again in every request of a dialog,
/// though nothing there challenges them: they answered the server's
/// challenge, and passed on they would hand the other party what an
/// offline dictionary attack on the sender's password needs (a proxy
/// forwards no credentials for its own realm, RFC 3261 §22.3). Credentials
/// for another realm (the other party's challenge) go on.
fn strip_own_credentials(model: &Model, message: &mut Message) {
    for name in [HeaderName::Authorization, HeaderName::ProxyAuthorization] {
        let values: Vec<String> = message.headers(name).map(str::to_string).collect();
        let keep: Vec<&String> = values
            .iter()
            .filter(|v| {
                !AuthValue::parse(v)
                    .ok()
                    .and_then(|a| a.param("realm"))
                    .is_some_and(|realm| model.is_own_realm(&realm))
            })
            .collect();
        if keep.len() == values.len() {
            continue;
        }
        message.remove_header(name.as_str());
        for v in keep {
            // A value that was received is one that may be written back.
            let _ = message.add_header(name.as_str(), v);
        }
    }
}

/// Where a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    /// Forwarded, nothing heard yet.
    Trying,
    /// A provisional response came (180, 183).
    Ringing,
    /// A 2xx came: the call is up.
    Answered,
    /// It ended with a BYE.
    Ended,
    /// It never got a 2xx.
    Failed,
}

/// One call.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Call {
    /// Its Call-ID.
    pub call_id: String,
    /// The calling endpoint.
    pub caller: String,
    /// The user called.
    pub callee: String,
    /// Where it stands.
    pub state: CallState,
    /// When the INVITE came.
    #[serde(with = "unix_seconds")]
    pub started: SystemTime,
    /// When it was answered.
    #[serde(with = "unix_seconds_opt")]
    pub answered: Option<SystemTime>,
    /// When it ended (BYE, or the final failure).
    #[serde(with = "unix_seconds_opt")]
    pub ended: Option<SystemTime>,
    /// The final status sent to the caller.
    pub final_code: Option<u16>,
}

impl Call {
    /// How long it was (or has been) up, in whole seconds.
    pub fn duration(&self) -> u64 {
        let Some(answered) = self.answered else {
            return 0;
        };
        self.ended
            .unwrap_or_else(SystemTime::now)
            .duration_since(answered)
            .map_or(0, |d| d.as_secs())
    }
}

mod unix_seconds {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

mod unix_seconds_opt {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::unix_seconds::serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

/// Calls kept at most while in progress: an authenticated endpoint can
/// start calls it never ends; past this, the oldest is forgotten.
pub const MAX_ACTIVE_CALLS: usize = 65_536;

/// Calls kept after they ended.
pub const RECENT_CALLS: usize = 500;

/// The calls in progress and the recent ones, and their counts.
#[derive(Default)]
pub struct CallLog {
    state: Mutex<Calls>,
}

#[derive(Default)]
struct Calls {
    active: HashMap<String, Call>,
    recent: VecDeque<Call>,
    attempted: u64,
    answered: u64,
    failed: HashMap<u16, u64>,
}

impl Calls {
    fn finish(&mut self, call_id: &str) {
        if let Some(call) = self.active.remove(call_id) {
            if self.recent.len() == RECENT_CALLS {
                self.recent.pop_front();
            }
            self.recent.push_back(call);
        }
    }
}

/// What the log counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// INVITEs forwarded.
    pub attempted: u64,
    /// Calls answered (2xx).
    pub answered: u64,
    /// Calls that failed, by the final status.
    pub failed: Vec<(u16, u64)>,
    /// Calls in progress.
    pub active: usize,
}

impl CallLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An INVITE was forwarded.
    fn started(&self, invite: &Message, caller: String, callee: String) {
        let Ok(call_id) = invite.call_id() else {
            return;
        };
        let mut calls = self.lock();
        calls.attempted += 1;
        if calls.active.len() >= MAX_ACTIVE_CALLS
            && let Some(oldest) = calls
                .active
                .values()
                .min_by_key(|c| c.started)
                .map(|c| c.call_id.clone())
        {
            calls.finish(&oldest);
        }
        calls.active.insert(
            call_id.to_string(),
            Call {
                call_id: call_id.to_string(),
                caller,
                callee,
                state: CallState::Trying,
                started: SystemTime::now(),
                answered: None,
                ended: None,
                final_code: None,
            },
        );
    }

    /// A response to an INVITE went to the caller.
    fn answered(&self, response: &Message) {
        let (Some(code), Ok(cseq), Ok(call_id)) =
            (response.status(), response.cseq(), response.call_id())
        else {
            return;
        };
        if cseq.method != "INVITE" {
            return;
        }
        let mut calls = self.lock();
        let Some(call) = calls.active.get_mut(call_id) else {
            return;
        };
        match code {
            100 => {}
            101..=199 => call.state = CallState::Ringing,
            200..=299 => {
                if call.answered.is_none() {
                    call.answered = Some(SystemTime::now());
                    call.final_code = Some(code);
                    call.state = CallState::Answered;
                    calls.answered += 1;
                }
            }
            _ => {
                if call.final_code.is_none() {
                    call.final_code = Some(code);
                    call.state = CallState::Failed;
                    call.ended = Some(SystemTime::now());
                    *calls.failed.entry(code).or_default() += 1;
                    calls.finish(call_id);
                }
            }
        }
    }

    /// A BYE of the call came.
    fn ended(&self, bye: &Message) {
        let Ok(call_id) = bye.call_id() else { return };
        let mut calls = self.lock();
        if let Some(call) = calls.active.get_mut(call_id) {
            call.state = CallState::Ended;
            call.ended = Some(SystemTime::now());
            calls.finish(call_id);
        }
    }

    /// The calls in progress, oldest first, then the recent ones, newest
    /// first.
    pub fn list(&self) -> (Vec<Call>, Vec<Call>) {
        let calls = self.lock();
        let mut active: Vec<Call> = calls.active.values().cloned().collect();
        active.sort_by_key(|c| c.started);
        let recent = calls.recent.iter().rev().cloned().collect();
        (active, recent)
    }

    /// The counts since the server started.
    pub fn counts(&self) -> CallCounts {
        let calls = self.lock();
        let mut failed: Vec<(u16, u64)> = calls.failed.iter().map(|(c, n)| (*c, *n)).collect();
        failed.sort_unstable();
        CallCounts {
            attempted: calls.attempted,
            answered: calls.answered,
            failed,
            active: calls.active.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(call_id: &str) -> Message {
        Message::parse(
            format!(
                "INVITE sip:bob@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:alice@h>;tag=1\r\nTo: <sip:bob@h>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n"
            )
            .into_bytes(),
        )
        .unwrap()
    }

    fn response(call_id: &str, code: u16) -> Message {
        Message::response_to(&invite(call_id), code).unwrap()
    }

    #[test]
    fn calls_go_from_trying_to_ended_or_failed() {
        let log = CallLog::default();
        log.started(&invite("c1"), "alice".into(), "bob".into());
        log.started(&invite("c2"), "alice".into(), "carol".into());
        log.answered(&response("c1", 180));
        assert_eq!(log.list().0[0].state, CallState::Ringing);
        log.answered(&response("c1", 200));
        log.answered(&response("c1", 200));
        log.answered(&response("c2", 486));
        let (active, recent) = log.list();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].state, CallState::Answered);
        assert_eq!(recent[0].final_code, Some(486));
        let bye = Message::parse(
            b"BYE sip:alice@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:bob@h>;tag=2\r\n\
To: <sip:alice@h>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        )
        .unwrap();
        log.ended(&bye);
        let (active, recent) = log.list();
        assert!(active.is_empty());
        assert_eq!(recent[0].state, CallState::Ended);
        assert_eq!(
            log.counts(),
            CallCounts {
                attempted: 2,
                answered: 1,
                failed: vec![(486, 1)],
                active: 0
            }
        );
    }

    #[test]
    fn credentials_for_the_servers_realm_are_removed_others_kept() {
        let report = crate::config::pjsip::from_str(
            "t.conf",
            "[global]\ntype = global\ndefault_realm = sipjet.test\n\
             [a]\ntype = auth\nusername = a\npassword = p\nrealm = other.sipjet.test\n",
        );
        assert!(report.is_ok(), "{:?}", report.errors);
        let model = Model::new(report.config);
        let mut bye = Message::parse(
            b"BYE sip:bob@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\n\
Authorization: Digest username=\"alice\", realm=\"sipjet.test\", nonce=\"n\"\r\n\
Authorization: Digest username=\"alice\", realm=\"bob.example\", nonce=\"n\"\r\n\
Proxy-Authorization: Digest username=\"a\", realm=\"other.sipjet.test\", nonce=\"n\"\r\n\
From: <sip:alice@h>;tag=1\r\nTo: <sip:bob@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n"
                .to_vec(),
        )
        .unwrap();
        strip_own_credentials(&model, &mut bye);
        let kept: Vec<&str> = bye.headers(HeaderName::Authorization).collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].contains("bob.example"), "{kept:?}");
        assert!(!bye.has(HeaderName::ProxyAuthorization));
    }

    #[test]
    fn the_recent_calls_are_bounded() {
        let log = CallLog::default();
        for i in 0..RECENT_CALLS + 10 {
            let id = format!("c{i}");
            log.started(&invite(&id), "a".into(), "b".into());
            log.answered(&response(&id, 404));
        }
        assert_eq!(log.list().1.len(), RECENT_CALLS);
        assert_eq!(log.list().1[0].call_id, format!("c{}", RECENT_CALLS + 9));
    }
}
