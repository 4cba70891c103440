//! Sending requests: the seed's `ast_sip_send_request`. A request is built
//! (or given), passes the services' transmit hooks, and leaves through a
//! client transaction; its final response, a timeout or a transport
//! failure comes back to a callback, on a serializer when one is given.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use sipjet_message::{Host, Message, Method, Uri, generate};
use sipjet_transaction::TransactionId;
use sipjet_transport::{Destination, Protocol};

use crate::error::SendError;
use crate::stack::SipStack;
use crate::threadpool::Serializer;

type Callback = Box<dyn FnOnce(Result<Message, SendError>) + Send + 'static>;

/// A client transaction waiting for its final response.
pub(crate) struct Pending {
    serializer: Option<Serializer>,
    callback: Callback,
}

/// What happens to a request sent with [`SipStack::send_tracked`].
#[derive(Debug)]
pub enum ClientEvent {
    /// A response: provisional, final, or a 2xx again (an INVITE's 2xx is
    /// retransmitted by the UAS, and every fork of it answers).
    Response(Message),
    /// No final response will come: a timeout or a transport failure.
    Failed(SendError),
}

/// Where the events of a tracked client transaction go.
pub(crate) struct Tracker {
    pub(crate) serializer: Serializer,
    pub(crate) observer: Arc<dyn Fn(ClientEvent) + Send + Sync>,
    /// The observer is the core's own and never waits (a proxy's
    /// branch), so a response may be handled on the thread that received
    /// it when the serializer is idle ([`Serializer::run_or_push`]).
    pub(crate) inline: bool,
}

impl Tracker {
    /// Hands `event` to the observer on its serializer.
    pub(crate) fn report(&self, event: ClientEvent) {
        let observer = Arc::clone(&self.observer);
        if let Err(e) = self.serializer.push(move || observer(event)) {
            tracing::warn!(error = %e, "a client transaction's event could not be queued");
        }
    }
}

/// A request to send out of any dialog.
#[derive(Clone, Debug)]
pub struct OutgoingRequest {
    /// The method.
    pub method: Method,
    /// The Request-URI, which is also where the request goes (RFC 3263).
    pub target: String,
    /// The From header value; by default `<sip:sipjet@our address>` with
    /// a new tag.
    pub from: Option<String>,
    /// The To header value; by default `<target>`.
    pub to: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// A body and its Content-Type.
    pub body: Option<(String, Bytes)>,
    /// Send to this address instead of resolving the target (a registered
    /// contact's source flow, an outbound proxy).
    pub destination: Option<Destination>,
}

impl OutgoingRequest {
    /// A request with just a method and a target.
    pub fn new(method: Method, target: impl Into<String>) -> OutgoingRequest {
        OutgoingRequest {
            method,
            target: target.into(),
            from: None,
            to: None,
            headers: Vec::new(),
            body: None,
            destination: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> OutgoingRequest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> OutgoingRequest {
        self.body = Some((content_type.to_string(), body.into()));
        self
    }
}

/// Where an IP-literal SIP URI goes, without DNS (RFC 3263 §4.2 for
/// numeric hosts); `None` for a host name, which needs resolving.
pub fn literal_destination(uri: &str) -> Option<Destination> {
    let Ok(Uri::Sip(sip)) = Uri::parse(uri) else {
        return None;
    };
    let ip: IpAddr = match sip.host {
        Host::Ipv4(a) => a.into(),
        Host::Ipv6(a) => a.into(),
        Host::Domain(_) => return None,
    };
    let protocol = match sip.transport().map(str::to_ascii_lowercase).as_deref() {
        Some("tcp") if sip.secure => Protocol::Tls,
        Some("tcp") => Protocol::Tcp,
        Some("tls") => Protocol::Tls,
        Some("ws") => Protocol::Ws,
        Some("wss") => Protocol::Wss,
        _ if sip.secure => Protocol::Tls,
        _ => Protocol::Udp,
    };
    let port = sip.port.unwrap_or_else(|| protocol.default_port());
    Some(Destination::new(protocol, SocketAddr::new(ip, port)))
}

impl SipStack {
    /// Builds the request `req` describes, from this stack's address on
    /// `protocol`, without sending it (to keep it for a dialog, or change
    /// it first); send it with [`SipStack::send_message`].
    pub fn build_request(
        &self,
        req: &OutgoingRequest,
        protocol: Protocol,
    ) -> Result<Message, SendError> {
        self.build_request_to(req, protocol, None)
    }

    /// [`SipStack::build_request`] for a request to `peer`: Via, From and
    /// Contact name this stack as the peer reaches it (its external
    /// address beyond a NAT, see [`crate::ExternalAddress`]).
    pub fn build_request_to(
        &self,
        req: &OutgoingRequest,
        protocol: Protocol,
        peer: Option<IpAddr>,
    ) -> Result<Message, SendError> {
        let build = |e: sipjet_message::BuildError| SendError::Build(e.to_string());
        let me = match peer {
            Some(ip) => self.advertised(protocol, ip),
            None => self.transports().and_then(|t| t.sent_by(protocol)),
        }
        .ok_or(SendError::NotRunning)?;
        let mut m = Message::new_request(req.method.clone(), &req.target).map_err(build)?;
        let via = format!(
            "SIP/2.0/{} {me};branch={};rport",
            protocol.via_name(),
            generate::branch()
        );
        m.add_header("Via", &via).map_err(build)?;
        m.add_header("Max-Forwards", &self.config().max_forwards.to_string())
            .map_err(build)?;
        let from = match &req.from {
            Some(f) => f.clone(),
            None => format!("<sip:sipjet@{me}>;tag={}", generate::tag()),
        };
        m.add_header("From", &from).map_err(build)?;
        let to = req
            .to
            .clone()
            .unwrap_or_else(|| format!("<{}>", req.target));
        m.add_header("To", &to).map_err(build)?;
        m.add_header("Call-ID", &generate::call_id(None))
            .map_err(build)?;
        m.add_header("CSeq", &format!("1 {}", req.method))
            .map_err(build)?;
        if matches!(
            req.method,
            Method::Invite | Method::Subscribe | Method::Refer | Method::Register | Method::Update
        ) {
            let transport = match protocol {
                Protocol::Udp => String::new(),
                p => format!(";transport={}", p.via_name().to_ascii_lowercase()),
            };
            m.add_header("Contact", &format!("<sip:sipjet@{me}{transport}>"))
                .map_err(build)?;
        }
        if let Some(ua) = &self.config().user_agent {
            m.add_header("User-Agent", ua).map_err(build)?;
        }
        for (n, v) in &req.headers {
            m.add_header(n, v).map_err(build)?;
        }
        if let Some((ct, body)) = &req.body {
            m.set_body(ct, body.clone()).map_err(build)?;
        }
        Ok(m)
    }

    /// `ast_sip_send_request`: builds and sends a request out of any
    /// dialog; `on_final` gets the final response, or why there is none,
    /// on `serializer` when given (else on whatever thread it arrives).
    pub fn send_request(
        &self,
        req: OutgoingRequest,
        serializer: Option<Serializer>,
        on_final: impl FnOnce(Result<Message, SendError>) + Send + 'static,
    ) {
        let stack = self.clone();
        let callback: Callback = Box::new(on_final);
        match req
            .destination
            .clone()
            .or_else(|| literal_destination(&req.target))
        {
            Some(dest) => stack.send_to(req, dest, serializer, callback),
            None => {
                // A name: RFC 3263 resolution, which must not block.
                let runtime = self.driver().runtime().clone();
                runtime.spawn(async move {
                    match stack.resolve_destination(&req.target).await {
                        Ok(dest) => stack.send_to(req, dest, serializer, callback),
                        Err(e) => callback(Err(e)),
                    }
                });
            }
        }
    }

    /// Where a request to `target` goes (RFC 3263): an IP literal as it
    /// says, a name resolved by NAPTR, SRV and A/AAAA lookups; the first
    /// destination.
    pub async fn resolve_destination(&self, target: &str) -> Result<Destination, SendError> {
        if let Some(dest) = literal_destination(target) {
            return Ok(dest);
        }
        let unreachable = |reason: String| SendError::Unreachable {
            target: target.to_string(),
            reason,
        };
        let resolved = match Uri::parse(target) {
            Ok(Uri::Sip(sip)) => self
                .inner
                .resolver
                .resolve(&sip)
                .await
                .map_err(|e| e.to_string()),
            Ok(_) => Err("only sip: and sips: URIs can be resolved".to_string()),
            Err(e) => Err(e.to_string()),
        };
        match resolved {
            Ok(dests) => dests
                .into_iter()
                .next()
                .ok_or_else(|| unreachable("no address".into())),
            Err(reason) => Err(unreachable(reason)),
        }
    }

    /// Sends a request in a dialog (RFC 3261 §12.2.1.1): the dialog builds
    /// it (route set, remote target, CSeq, tags) and it goes to the first
    /// route or, with none, to the remote target. An ACK is built with
    /// [`crate::dialog::Dialog::ack`] and sent with
    /// [`SipStack::send_stateless`] instead.
    pub fn send_in_dialog(
        &self,
        dialog: &mut crate::dialog::Dialog,
        method: Method,
        body: Option<(String, Bytes)>,
        serializer: Option<Serializer>,
        on_final: impl FnOnce(Result<Message, SendError>) + Send + 'static,
    ) {
        let callback: Callback = Box::new(on_final);
        let mut request = match dialog.request(method) {
            Ok(r) => r,
            Err(e) => return callback(Err(SendError::Build(e.to_string()))),
        };
        if let Some((ct, b)) = body
            && let Err(e) = request.set_body(&ct, b)
        {
            return callback(Err(SendError::Build(e.to_string())));
        }
        match self.dialog_destination(dialog) {
            Some(dest) => self.send_in_dialog_to(request, dest, serializer, callback),
            None => {
                // A name (a proxy's Record-Route, a Contact): RFC 3263
                // resolution, which must not block.
                let stack = self.clone();
                let hop = dialog.next_hop();
                self.driver().runtime().spawn(async move {
                    match stack.resolve_destination(&hop).await {
                        Ok(dest) => stack.send_in_dialog_to(request, dest, serializer, callback),
                        Err(e) => callback(Err(e)),
                    }
                });
            }
        }
    }

    fn send_in_dialog_to(
        &self,
        mut request: Message,
        dest: Destination,
        serializer: Option<Serializer>,
        callback: Callback,
    ) {
        match self.add_via_to(&mut request, &dest) {
            Ok(()) => self.send_message(request, dest, serializer, callback),
            Err(e) => callback(Err(e)),
        }
    }

    /// Puts this stack's Via, with a new branch, on top of `request`.
    pub fn add_via(&self, request: &mut Message, protocol: Protocol) -> Result<(), SendError> {
        let me = self
            .transports()
            .and_then(|t| t.sent_by(protocol))
            .ok_or(SendError::NotRunning)?;
        self.put_via(request, protocol, me)
    }

    /// [`SipStack::add_via`] for a request going to `dest`: the sent-by
    /// is the address the destination reaches this stack at (the external
    /// one beyond a NAT).
    pub fn add_via_to(&self, request: &mut Message, dest: &Destination) -> Result<(), SendError> {
        let me = self
            .advertised(dest.protocol, dest.addr.ip())
            .ok_or(SendError::NotRunning)?;
        self.put_via(request, dest.protocol, me)
    }

    fn put_via(
        &self,
        request: &mut Message,
        protocol: Protocol,
        me: SocketAddr,
    ) -> Result<(), SendError> {
        let via = format!(
            "SIP/2.0/{} {me};branch={};rport",
            protocol.via_name(),
            generate::branch()
        );
        request
            .prepend_header("Via", &via)
            .map_err(|e| SendError::Build(e.to_string()))
    }

    /// Sends a request the caller built, as [`SipStack::send_message`],
    /// and answers a 401 or 407 to it with `client`'s credentials (the
    /// client side of digest authentication, [`crate::client_auth`]): the
    /// request goes again, with a new branch and the next CSeq, once per
    /// challenge. The final response that is not answered, or the
    /// challenge that cannot be (no credentials, refused ones), goes to
    /// `on_final`; why a challenge was left is logged.
    pub fn send_message_authenticated(
        &self,
        message: Message,
        dest: Destination,
        client: Arc<std::sync::Mutex<crate::client_auth::DigestClient>>,
        serializer: Option<Serializer>,
        on_final: impl FnOnce(Result<Message, SendError>) + Send + 'static,
    ) {
        self.send_answering(
            message,
            dest,
            client,
            crate::client_auth::AuthAttempt::default(),
            serializer,
            Box::new(on_final),
        );
    }

    fn send_answering(
        &self,
        message: Message,
        dest: Destination,
        client: Arc<std::sync::Mutex<crate::client_auth::DigestClient>>,
        mut attempt: crate::client_auth::AuthAttempt,
        serializer: Option<Serializer>,
        callback: Callback,
    ) {
        let stack = self.clone();
        let sent = message.clone();
        let again_on = serializer.clone();
        let again_dest = dest.clone();
        self.send_message(message, dest, serializer, move |outcome| {
            let response = match outcome {
                Ok(r) if matches!(r.status(), Some(401 | 407)) => r,
                other => return callback(other),
            };
            let next = client.lock().unwrap_or_else(|e| e.into_inner()).answer(
                &sent,
                &response,
                &generate::branch(),
                &mut attempt,
            );
            match next {
                Ok(next) => {
                    stack.send_answering(next, again_dest, client, attempt, again_on, callback)
                }
                Err(e) => {
                    tracing::warn!(
                        method = %sent.method().map(|m| m.as_str()).unwrap_or("?"),
                        target = %sent.request_uri().unwrap_or("?"),
                        status = response.status().unwrap_or(0),
                        reason = %e,
                        "a challenge to a request of ours is not answered"
                    );
                    callback(Ok(response))
                }
            }
        });
    }

    /// Where a dialog's requests go when its next hop (the first route,
    /// else the target) is an address; `None` for a name, which
    /// [`SipStack::resolve_dialog_destination`] resolves.
    pub fn dialog_destination(&self, dialog: &crate::dialog::Dialog) -> Option<Destination> {
        literal_destination(&dialog.next_hop())
    }

    /// Where a dialog's requests go (RFC 3261 §12.2.1.1 and RFC 3263):
    /// its next hop, resolved when it is a name.
    pub async fn resolve_dialog_destination(
        &self,
        dialog: &crate::dialog::Dialog,
    ) -> Result<Destination, SendError> {
        self.resolve_destination(&dialog.next_hop()).await
    }

    /// The async form of [`SipStack::send_request`].
    pub async fn send_request_async(&self, req: OutgoingRequest) -> Result<Message, SendError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send_request(req, None, move |r| {
            let _ = tx.send(r);
        });
        rx.await.unwrap_or(Err(SendError::NotRunning))
    }

    fn send_to(
        &self,
        req: OutgoingRequest,
        dest: Destination,
        serializer: Option<Serializer>,
        callback: Callback,
    ) {
        match self.build_request_to(&req, dest.protocol, Some(dest.addr.ip())) {
            Ok(message) => self.send_message(message, dest, serializer, callback),
            Err(e) => callback(Err(e)),
        }
    }

    /// Sends a request the caller built (a REGISTER with credentials, an
    /// in-dialog request, a forwarded one): its top Via must carry a new
    /// branch. The final response goes to `on_final` as for
    /// [`SipStack::send_request`].
    pub fn send_message(
        &self,
        mut message: Message,
        dest: Destination,
        serializer: Option<Serializer>,
        on_final: impl FnOnce(Result<Message, SendError>) + Send + 'static,
    ) {
        self.run_tx_request_hooks(&mut message, &dest);
        let callback: Callback = Box::new(on_final);
        let slot = std::sync::Mutex::new(Some(Pending {
            serializer,
            callback,
        }));
        // Registered before anything is sent, so that even an immediate
        // failure finds its callback.
        let sent = self.driver().send_request_then(message, dest, |id| {
            if let Some(p) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                self.inner
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, p);
            }
        });
        if let Err(e) = sent
            && let Some(p) = slot.lock().unwrap_or_else(|e| e.into_inner()).take()
        {
            (p.callback)(Err(e.into()));
        }
    }

    /// Sends a request the caller built, as [`SipStack::send_message`],
    /// and reports everything that happens to it to `observer`, on
    /// `serializer`: every response (provisional ones, the final one, and
    /// the 2xx that come after it while the transaction lives), or the
    /// failure. What a proxy's branch needs.
    ///
    /// Returns the client transaction, unless sending failed at once (the
    /// observer then hears of the failure).
    pub fn send_tracked(
        &self,
        message: Message,
        dest: Destination,
        serializer: Serializer,
        observer: impl Fn(ClientEvent) + Send + Sync + 'static,
    ) -> Option<TransactionId> {
        self.track(message, dest, serializer, Arc::new(observer), false)
    }

    /// [`SipStack::send_tracked`] for an observer of the core's own that
    /// never waits: its responses may be handled on the receiving thread.
    pub(crate) fn send_tracked_inline(
        &self,
        message: Message,
        dest: Destination,
        serializer: Serializer,
        observer: impl Fn(ClientEvent) + Send + Sync + 'static,
    ) -> Option<TransactionId> {
        self.track(message, dest, serializer, Arc::new(observer), true)
    }

    fn track(
        &self,
        mut message: Message,
        dest: Destination,
        serializer: Serializer,
        observer: Arc<dyn Fn(ClientEvent) + Send + Sync>,
        inline: bool,
    ) -> Option<TransactionId> {
        self.run_tx_request_hooks(&mut message, &dest);
        let tracker = Tracker {
            serializer,
            observer,
            inline,
        };
        let slot = std::sync::Mutex::new(Some(tracker));
        let sent = self.driver().send_request_then(message, dest, |id| {
            if let Some(t) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                self.inner
                    .trackers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, t);
            }
        });
        match sent {
            Ok(id) => Some(id),
            Err(e) => {
                if let Some(t) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    t.report(ClientEvent::Failed(e.into()));
                }
                None
            }
        }
    }

    /// Gives up on a client transaction: it ends at once (RFC 3261 §9.1,
    /// an INVITE whose CANCEL went unanswered for 64×T1).
    pub fn abandon(&self, id: TransactionId) {
        self.driver().abandon(id);
    }

    /// The tracker of a client transaction, if it has one.
    pub(crate) fn tracker(&self, id: TransactionId) -> Option<Tracker> {
        self.inner
            .trackers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .map(|t| Tracker {
                serializer: t.serializer.clone(),
                observer: Arc::clone(&t.observer),
                inline: t.inline,
            })
    }

    /// Sends a request outside any transaction (an ACK for a 2xx).
    pub fn send_stateless(&self, mut message: Message, dest: Destination) {
        self.run_tx_request_hooks(&mut message, &dest);
        self.driver()
            .send_stateless(message, sipjet_transaction::Peer::Sent(dest));
    }

    pub(crate) fn pending_serializer(&self, id: TransactionId) -> Option<Serializer> {
        let pending = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.get(&id).and_then(|p| p.serializer.clone())
    }

    pub(crate) fn take_pending(&self, id: TransactionId) -> Option<Pending> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
    }

    /// Hands a failure to the waiting callback, on its serializer.
    pub(crate) fn complete_pending(&self, id: TransactionId, outcome: Result<Message, SendError>) {
        let Some(p) = self.take_pending(id) else {
            return;
        };
        let callback = p.callback;
        match p.serializer {
            Some(s) => {
                if let Err(e) = s.push(move || callback(outcome)) {
                    tracing::warn!(error = %e, "a response's callback could not be queued");
                }
            }
            None => callback(outcome),
        }
    }
}

impl Pending {
    pub(crate) fn serializer(&self) -> Option<&Serializer> {
        self.serializer.as_ref()
    }

    pub(crate) fn finish(self, outcome: Result<Message, SendError>) {
        (self.callback)(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_destinations() {
        let d = literal_destination("sip:bob@192.0.2.1").unwrap();
        assert_eq!(
            (d.protocol, d.addr),
            (Protocol::Udp, "192.0.2.1:5060".parse().unwrap())
        );
        let d = literal_destination("sip:bob@192.0.2.1:5070;transport=TCP").unwrap();
        assert_eq!(
            (d.protocol, d.addr),
            (Protocol::Tcp, "192.0.2.1:5070".parse().unwrap())
        );
        let d = literal_destination("sips:bob@[2001:db8::1]").unwrap();
        assert_eq!(
            (d.protocol, d.addr),
            (Protocol::Tls, "[2001:db8::1]:5061".parse().unwrap())
        );
        assert!(literal_destination("sip:bob@example.com").is_none());
        assert!(literal_destination("tel:+1").is_none());
    }
}
