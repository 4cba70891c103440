//! Received messages as services see them: the seed's `pjsip_rx_data`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sipjet_message::{HeaderName, Message, Method};
use sipjet_transaction::{Peer, TransactionId};
use sipjet_transport::Flow;

use crate::auth::CheckAuthResult;
use crate::dialog::DialogId;
use crate::endpoint::Endpoint;
use crate::error::SendError;
use crate::stack::SipStack;

/// A request received by the stack, with what the core learnt about it.
pub struct IncomingRequest {
    /// The request (its top Via carries `received`/`rport`).
    pub message: Message,
    /// Where it came from.
    pub flow: Flow,
    /// Its server transaction; `None` for an ACK, which has none.
    pub transaction: Option<TransactionId>,
    /// The endpoint identified as its sender (the artificial one when none
    /// was and an authenticator is registered). Identification alone
    /// proves nothing: see [`IncomingRequest::authentication`].
    pub endpoint: Option<Arc<Endpoint>>,
    /// The dialog it belongs to: set only when its dialog ID names a
    /// dialog a service registered with the stack
    /// ([`SipStack::register_dialog`]), never because of what its To
    /// header says.
    dialog: Option<DialogId>,
    /// It belongs to a dialog this stack's proxy record-routed (its first
    /// Route names this stack with the dialog's route token).
    routed: bool,
    /// What the core's authentication check found for this request, when
    /// it made one.
    authentication: Option<CheckAuthResult>,
    pub(crate) stack: SipStack,
    answered: AtomicBool,
}

impl IncomingRequest {
    pub(crate) fn new(
        message: Message,
        flow: Flow,
        transaction: Option<TransactionId>,
        dialog: Option<DialogId>,
        routed: bool,
        stack: SipStack,
    ) -> Self {
        IncomingRequest {
            message,
            flow,
            transaction,
            endpoint: None,
            dialog,
            routed,
            authentication: None,
            stack,
            answered: AtomicBool::new(false),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        self.message
            .method()
            .expect("an incoming request has a method")
    }

    /// The source address.
    pub fn source(&self) -> SocketAddr {
        self.flow.remote
    }

    /// True when the request belongs to a dialog the stack holds: one a
    /// service registered with [`SipStack::register_dialog`], or one the
    /// stack's proxy record-routed, which the route token in the request's
    /// first Route proves ([`IncomingRequest::is_routed_by_us`]). A To tag
    /// alone does not make a request in-dialog: anyone can write one, so a
    /// request whose tag names no dialog here is authenticated like any
    /// other (and answered `481` when nobody takes it). A REGISTER is
    /// never in a dialog (RFC 3261 §10.2).
    pub fn is_in_dialog(&self) -> bool {
        self.dialog.is_some() || self.routed
    }

    /// True when the request belongs to a dialog this stack's proxy
    /// record-routed: [`SipStack::proxy_in_dialog`] forwards it.
    pub fn is_routed_by_us(&self) -> bool {
        self.routed
    }

    /// The dialog the request belongs to (see
    /// [`IncomingRequest::is_in_dialog`]).
    pub fn dialog(&self) -> Option<&DialogId> {
        self.dialog.as_ref()
    }

    /// True when the request carries a To tag: it claims to be part of a
    /// dialog, which is true only if [`IncomingRequest::is_in_dialog`].
    /// Services that serve only requests outside dialogs leave these to
    /// the core's `481`.
    pub fn has_to_tag(&self) -> bool {
        self.message.to_header().is_ok_and(|to| to.tag().is_some())
    }

    /// What the core's authentication check found for this request:
    /// `Some(Success)` when its credentials were verified in this
    /// request, `Some(NotRequired)` when the authenticator (or the lack of
    /// one) required none for [`IncomingRequest::endpoint`], and `None`
    /// when no check was made (ACK, CANCEL, a request inside a dialog the
    /// stack holds). A service that acts for an endpoint (a registrar
    /// binding its AOR) checks this, not merely that an endpoint was
    /// identified.
    pub fn authentication(&self) -> Option<CheckAuthResult> {
        self.authentication
    }

    /// True when [`IncomingRequest::endpoint`] is a configured endpoint
    /// whose right to send this request was checked in this request
    /// ([`IncomingRequest::authentication`] is `Success` or
    /// `NotRequired`).
    pub fn is_authenticated(&self) -> bool {
        self.endpoint.as_ref().is_some_and(|e| !e.artificial)
            && matches!(
                self.authentication,
                Some(CheckAuthResult::Success | CheckAuthResult::NotRequired)
            )
    }

    pub(crate) fn set_authentication(&mut self, result: CheckAuthResult) {
        self.authentication = Some(result);
    }

    /// The stack that received it.
    pub fn stack(&self) -> &SipStack {
        &self.stack
    }

    /// A response to this request (RFC 3261 §8.2.6), with the stack's
    /// Server header; not sent yet, so headers and a body can be added.
    pub fn response(&self, code: u16) -> Message {
        self.stack.response_to(&self.message, code)
    }

    /// A response with a reason phrase of the caller's (a refusal that
    /// says why), otherwise as [`IncomingRequest::response`].
    pub fn response_with_reason(&self, code: u16, reason: &str) -> Message {
        self.stack
            .response_with_reason_to(&self.message, code, reason)
    }

    /// Sends a response: through the server transaction, or without one
    /// for a request that has none.
    pub fn respond(&self, response: Message) -> Result<(), SendError> {
        self.send_response(response, false)
    }

    /// Sends a final response and keeps no transaction state for it (RFC
    /// 3261 §8.2.7, PJSIP's `pjsip_endpt_respond_stateless`): a
    /// retransmission of the request arrives again as a new request. For
    /// answers that are cheap to give twice, where holding the response for
    /// Timer J (32 s over UDP) would cost memory for nothing: challenges,
    /// OPTIONS, requests nobody serves. A 2xx to an INVITE is still sent
    /// statefully; a non-2xx to one is sent once, without Timer G.
    pub fn respond_stateless(&self, response: Message) -> Result<(), SendError> {
        self.send_response(response, true)
    }

    fn send_response(&self, mut response: Message, stateless: bool) -> Result<(), SendError> {
        let code = response.status().ok_or(SendError::NotAResponse)?;
        self.stack.run_tx_response_hooks(&mut response, &self.flow);
        match self.transaction {
            Some(id) if stateless && code >= 200 => {
                self.stack.driver().respond_stateless(id, response)?
            }
            Some(id) => self.stack.driver().respond(id, response)?,
            None => self
                .stack
                .driver()
                .send_stateless(response, Peer::Received(self.flow)),
        }
        if code >= 200 {
            self.answered.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Sends a response with just a status code.
    pub fn reply(&self, code: u16) -> Result<(), SendError> {
        self.respond(self.response(code))
    }

    /// The server transaction, to answer after the handler returned.
    /// The request counts as answered from now on: the holder answers it.
    pub fn server_transaction(&self) -> ServerTransaction {
        self.answered.store(true, Ordering::Release);
        ServerTransaction {
            responder: Responder {
                stack: self.stack.clone(),
                id: self.transaction,
                flow: self.flow,
            },
            request: self.message.clone(),
        }
    }

    /// True once a final response was sent.
    pub fn is_answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    /// The value of the Authorization header's `username`, if any.
    pub fn auth_username(&self) -> Option<String> {
        self.message
            .authorizations()
            .filter_map(Result::ok)
            .find_map(|a| a.param("username").map(|u| u.into_owned()))
    }

    /// The user part of the From URI, unescaped.
    pub fn from_user(&self) -> Option<String> {
        let from = self.message.from_header().ok()?;
        let uri = from.uri().ok()?;
        let user = uri.as_sip()?.user_unescaped()?;
        String::from_utf8(user.into_owned()).ok()
    }

    /// The host part of the From URI.
    pub fn from_domain(&self) -> Option<String> {
        let from = self.message.from_header().ok()?;
        let uri = from.uri().ok()?;
        Some(uri.as_sip()?.host.to_string())
    }

    /// True for requests a digest challenge may be sent to: all but ACK
    /// and CANCEL (RFC 3261 §22.1).
    pub fn is_challengeable(&self) -> bool {
        !matches!(self.method(), Method::Ack | Method::Cancel)
    }

    /// The value of a header, by name.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.message.header(name)
    }
}

/// A request's server transaction, kept to answer later: a service that
/// must wait for something (forked requests, a database) takes one and
/// returns from its handler at once.
#[derive(Clone)]
pub struct ServerTransaction {
    responder: Responder,
    request: Message,
}

/// Where a server transaction's responses go, without the request: what
/// a proxied request keeps for its wait state, when only retransmitted
/// 2xx responses can still pass (32 s for an INVITE).
#[derive(Clone)]
pub(crate) struct Responder {
    stack: SipStack,
    id: Option<TransactionId>,
    flow: Flow,
}

impl Responder {
    /// Sends a response (see [`IncomingRequest::respond`]).
    pub(crate) fn respond(&self, mut response: Message) -> Result<(), SendError> {
        if response.status().is_none() {
            return Err(SendError::NotAResponse);
        }
        self.stack.run_tx_response_hooks(&mut response, &self.flow);
        match self.id {
            Some(id) => self.stack.driver().respond(id, response)?,
            None => self
                .stack
                .driver()
                .send_stateless(response, Peer::Received(self.flow)),
        }
        Ok(())
    }
}

impl ServerTransaction {
    /// Where its responses go, the request dropped.
    pub(crate) fn into_responder(self) -> Responder {
        self.responder
    }

    /// The request being answered.
    pub fn request(&self) -> &Message {
        &self.request
    }

    /// Where the request came from.
    pub fn flow(&self) -> Flow {
        self.responder.flow
    }

    /// Its transaction: `None` for an ACK.
    pub(crate) fn id(&self) -> Option<TransactionId> {
        self.responder.id
    }

    /// A response to the request (see [`IncomingRequest::response`]).
    pub fn response(&self, code: u16) -> Message {
        self.responder.stack.response_to(&self.request, code)
    }

    /// A response with a reason phrase of the caller's (see
    /// [`IncomingRequest::response_with_reason`]).
    pub fn response_with_reason(&self, code: u16, reason: &str) -> Message {
        self.responder
            .stack
            .response_with_reason_to(&self.request, code, reason)
    }

    /// Sends a response (see [`IncomingRequest::respond`]).
    pub fn respond(&self, response: Message) -> Result<(), SendError> {
        self.responder.respond(response)
    }
}

/// A response received by the stack.
pub struct IncomingResponse {
    /// The response.
    pub message: Message,
    /// The client transaction it answers; `None` for one that matched
    /// none (a stray response).
    pub transaction: Option<TransactionId>,
    /// Where it came from, for a stray response.
    pub flow: Option<Flow>,
}
