//! The stack instance: the seed's `res_sip` as a whole. It owns the
//! threadpool, the transaction layer and the transports, keeps the
//! registered services, authenticator and endpoint identifiers, and offers
//! the seed's common methods.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use sipjet_message::Message;
use sipjet_transaction::{Driver, TimerConfig, TransactionId};
use sipjet_transport::{Destination, Flow, Protocol, Resolver, TransportConfig, Transports};

use crate::auth::{
    AuthOutcome, Authenticator, CheckAuthResult, DigestChallenge, challenge_response,
};
use crate::dialog::DialogId;
use crate::distributor::{Distributor, StackHandler, StackUser};
use crate::endpoint::Endpoint;
use crate::error::{RegisterError, SendError, StackError};
use crate::identify::EndpointIdentifier;
use crate::registry::CowList;
use crate::request::IncomingRequest;
use crate::send::Pending;
use crate::service::Service;
use crate::threadpool::{PoolConfig, Serializer, ThreadPool};

/// What to do with a new out-of-dialog request on UDP while overloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpOverloadAction {
    /// Answer `503 Service Unavailable` with Retry-After, statelessly.
    Answer,
    /// Drop the datagram unanswered.
    Drop,
}

/// When the stack refuses new work (Asterisk: 500 queued tasks, back to
/// normal under 450).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverloadConfig {
    /// Queued tasks above which new out-of-dialog requests are refused.
    pub high_water: usize,
    /// Queued tasks below which they are taken again.
    pub low_water: usize,
    /// The Retry-After of the 503, in seconds.
    pub retry_after: u32,
    /// UDP's policy; streams always get the 503.
    pub udp: UdpOverloadAction,
    /// Live transactions beyond which new requests are refused the same
    /// way, whatever the queue: the bound on the state senders can make
    /// the stack keep. A completed UDP transaction is held for Timer J
    /// (32 s) at about 1.2 KB, so the default (500,000) allows about
    /// 15,000 requests a second answered statefully, in about 600 MB.
    pub max_transactions: usize,
}

impl Default for OverloadConfig {
    fn default() -> Self {
        OverloadConfig {
            high_water: 500,
            low_water: 450,
            retry_after: 5,
            udp: UdpOverloadAction::Answer,
            max_transactions: 500_000,
        }
    }
}

/// Everything the stack needs to start.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The threadpool's sizing.
    pub pool: PoolConfig,
    /// Transaction timers.
    pub timers: TimerConfig,
    /// Listeners and limits.
    pub transport: TransportConfig,
    /// Serializers out-of-dialog requests are spread over by Call-ID
    /// (Asterisk uses 31).
    pub distributor_serializers: usize,
    /// Overload thresholds.
    pub overload: OverloadConfig,
    /// The Server and User-Agent header value (none: not sent).
    pub user_agent: Option<String>,
    /// Max-Forwards of requests the stack originates.
    pub max_forwards: u8,
    /// DNS servers for RFC 3263 resolution (none: the system's).
    pub name_servers: Option<Vec<SocketAddr>>,
    /// The addresses this stack is reached at from beyond a NAT, per
    /// transport: what it writes in Via, Contact and Record-Route for
    /// peers outside the local networks.
    pub external: Vec<ExternalAddress>,
}

/// Where peers beyond a NAT reach this stack over one transport
/// (Asterisk's `external_signaling_address`, `external_signaling_port`
/// and `local_net`): a message to an address outside `local_nets` names
/// `addr`, one to an address inside names the listener's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalAddress {
    /// The transport.
    pub protocol: Protocol,
    /// The address and port the NAT forwards to the listener.
    pub addr: SocketAddr,
    /// The networks reached without the NAT (none: every peer is
    /// outside).
    pub local_nets: Vec<IpNet>,
}

impl ExternalAddress {
    /// True when a message to `peer` names the external address.
    pub fn applies_to(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        !self.local_nets.iter().any(|n| n.contains(&peer))
    }
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            pool: PoolConfig::default(),
            timers: TimerConfig::default(),
            transport: TransportConfig::default(),
            distributor_serializers: 31,
            overload: OverloadConfig::default(),
            user_agent: Some("sipjet".into()),
            max_forwards: 70,
            name_servers: None,
            external: Vec::new(),
        }
    }
}

pub(crate) struct StackInner {
    pub(crate) config: StackConfig,
    pub(crate) pool: ThreadPool,
    pub(crate) driver: OnceLock<Driver>,
    pub(crate) transports: OnceLock<Transports>,
    pub(crate) resolver: Resolver,
    pub(crate) services: CowList<dyn Service>,
    pub(crate) authenticator: RwLock<Option<Arc<dyn Authenticator>>>,
    pub(crate) identifiers: CowList<dyn EndpointIdentifier>,
    pub(crate) distributor: Distributor,
    /// Client transactions waiting for their final response.
    pub(crate) pending: Mutex<HashMap<TransactionId, Pending>>,
    pub(crate) artificial: Arc<Endpoint>,
    pub(crate) running: AtomicBool,
    /// The serializer of each dialog a service registered.
    pub(crate) dialogs: RwLock<HashMap<DialogId, Serializer>>,
    /// Client transactions whose every response goes to an observer.
    pub(crate) trackers: Mutex<HashMap<TransactionId, crate::send::Tracker>>,
    /// INVITEs being proxied, by server transaction, for the caller's
    /// CANCEL.
    pub(crate) proxies: Mutex<HashMap<TransactionId, std::sync::Weak<crate::proxy::ProxyCall>>>,
    /// The keys of this proxy's Record-Route tokens.
    pub(crate) route_tokens: crate::proxy::RouteTokens,
    /// The proxied calls' timers.
    pub(crate) alarms: crate::alarms::Alarms,
    /// The hooks on INVITE sessions' messages.
    pub(crate) supplements: crate::session::Supplements,
}

impl StackInner {
    /// True when `request` belongs to a dialog the stack holds: one a
    /// service registered, or one this stack proxies, as the route token
    /// in its first Route proves (a REGISTER never does).
    pub(crate) fn holds_dialog_of(&self, request: &Message) -> bool {
        self.registered_dialog_of(request) || self.routed_dialog_of(request)
    }

    /// True when `request` has a To tag and its first Route names this
    /// stack with the route token of its dialog: a request of a dialog
    /// this stack's proxy record-routed.
    pub(crate) fn routed_dialog_of(&self, request: &Message) -> bool {
        if request.method() == Some(&sipjet_message::Method::Register)
            || !request.to_header().is_ok_and(|to| to.tag().is_some())
        {
            return false;
        }
        let Some(Ok(first)) = request.routes().next() else {
            return false;
        };
        let Ok(sipjet_message::Uri::Sip(uri)) = first.uri() else {
            return false;
        };
        let external = self.config.external.iter().map(|e| (e.protocol, e.addr));
        let ours = self.transports.get().is_some_and(|t| {
            t.local_addrs()
                .into_iter()
                .chain(external)
                .any(|(protocol, addr)| crate::proxy::Interface { protocol, addr }.is(&uri))
        });
        ours && self.route_tokens.verify(request, &uri).is_some()
    }

    /// True when `request` belongs to a dialog a service registered (a
    /// REGISTER never does).
    fn registered_dialog_of(&self, request: &Message) -> bool {
        if request.method() == Some(&sipjet_message::Method::Register)
            || !request.to_header().is_ok_and(|to| to.tag().is_some())
        {
            return false;
        }
        let dialogs = self.dialogs.read().unwrap_or_else(|e| e.into_inner());
        !dialogs.is_empty()
            && crate::dialog::id_of_request(request).is_some_and(|id| dialogs.contains_key(&id))
    }
}

/// The SIP stack: one instance of the seed's `res_sip`. Cloning gives
/// another handle to the same stack.
#[derive(Clone)]
pub struct SipStack {
    pub(crate) inner: Arc<StackInner>,
}

impl SipStack {
    /// Creates the threadpool, then the stack (transaction layer,
    /// registries), as the seed's startup does; the transports start with
    /// [`SipStack::start`], which begins handling requests, so that
    /// services can register first. Call it inside a tokio runtime.
    pub fn new(config: StackConfig) -> SipStack {
        let pool = ThreadPool::new(config.pool.clone());
        let resolver = match &config.name_servers {
            Some(servers) => Resolver::with_name_servers(servers),
            None => Resolver::from_system().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "no system DNS configuration; names will not resolve");
                Resolver::with_name_servers(&[])
            }),
        };
        let distributor = Distributor::new(
            &pool,
            config.distributor_serializers,
            config.overload.clone(),
        );
        let inner = Arc::new(StackInner {
            pool,
            driver: OnceLock::new(),
            transports: OnceLock::new(),
            resolver,
            services: CowList::default(),
            authenticator: RwLock::new(None),
            identifiers: CowList::default(),
            distributor,
            pending: Mutex::new(HashMap::new()),
            artificial: Arc::new(Endpoint::artificial()),
            running: AtomicBool::new(false),
            dialogs: RwLock::new(HashMap::new()),
            trackers: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            route_tokens: crate::proxy::RouteTokens::default(),
            alarms: crate::alarms::Alarms::new(&tokio::runtime::Handle::current()),
            supplements: crate::session::Supplements::default(),
            config,
        });
        let driver = Driver::new(
            inner.config.timers,
            Arc::new(StackUser(Arc::downgrade(&inner))),
        );
        let _ = inner.driver.set(driver);
        SipStack { inner }
    }

    /// Starts the transports: from now on requests are handled.
    pub async fn start(&self) -> Result<(), StackError> {
        if self.inner.transports.get().is_some() {
            return Err(StackError::AlreadyStarted);
        }
        let handler = Arc::new(StackHandler {
            stack: Arc::downgrade(&self.inner),
            driver: self.driver().clone(),
        });
        let transports = Transports::start(self.inner.config.transport.clone(), handler).await?;
        self.driver().attach(transports.clone());
        let _ = self.inner.transports.set(transports);
        self.inner.running.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops taking requests, lets queued work run for at most `drain`,
    /// then closes the transports.
    pub async fn shutdown(&self, drain: Duration) {
        self.inner.running.store(false, Ordering::Release);
        let pool = self.inner.pool.clone();
        let drained = tokio::task::spawn_blocking(move || pool.shutdown(drain))
            .await
            .unwrap_or(false);
        if !drained {
            tracing::warn!(limit = ?drain, "shutdown: queued work did not finish in time and was dropped");
        }
        if let Some(t) = self.inner.transports.get() {
            t.shutdown().await;
        }
    }

    /// True between [`SipStack::start`] and [`SipStack::shutdown`].
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::Acquire)
    }

    pub(crate) fn driver(&self) -> &Driver {
        self.inner
            .driver
            .get()
            .expect("the driver is made in SipStack::new")
    }

    /// The transports, once started.
    pub fn transports(&self) -> Option<&Transports> {
        self.inner.transports.get()
    }

    /// The address this stack names itself by (Via sent-by, Contact,
    /// Record-Route) in a message over `protocol` to `peer`: the external
    /// one when the peer is beyond the NAT, else the listener's.
    pub fn advertised(&self, protocol: Protocol, peer: IpAddr) -> Option<SocketAddr> {
        self.inner
            .config
            .external
            .iter()
            .find(|e| e.protocol == protocol && e.applies_to(peer))
            .map(|e| e.addr)
            .or_else(|| self.transports()?.sent_by(protocol))
    }

    /// Every address peers may name this stack by: its listeners' and
    /// its external ones.
    pub fn own_addrs(&self) -> Vec<(Protocol, SocketAddr)> {
        let mut addrs = self
            .transports()
            .map(|t| t.local_addrs())
            .unwrap_or_default();
        addrs.extend(
            self.inner
                .config
                .external
                .iter()
                .map(|e| (e.protocol, e.addr)),
        );
        addrs
    }

    /// The configuration the stack runs with.
    pub fn config(&self) -> &StackConfig {
        &self.inner.config
    }

    // ------------------------------------------------ service registrar

    /// Registers a service (`ast_sip_register_service`). Services see
    /// messages in priority order, equal priorities in registration order.
    pub fn register_service(&self, service: Arc<dyn Service>) -> Result<(), RegisterError> {
        self.inner.services.update(|current| {
            if current.iter().any(|s| s.name() == service.name()) {
                return Err(RegisterError::DuplicateService(service.name().to_string()));
            }
            let mut next = current.to_vec();
            let at = next
                .iter()
                .position(|s| s.priority() > service.priority())
                .unwrap_or(next.len());
            next.insert(at, Arc::clone(&service));
            Ok(next)
        })?;
        tracing::info!(
            service = service.name(),
            priority = service.priority(),
            "service registered"
        );
        Ok(())
    }

    /// Unregisters a service by name (`ast_sip_unregister_service`);
    /// false when there was none.
    pub fn unregister_service(&self, name: &str) -> bool {
        let mut found = false;
        let _ = self.inner.services.update(|current| {
            found = current.iter().any(|s| s.name() == name);
            Ok::<_, ()>(
                current
                    .iter()
                    .filter(|s| s.name() != name)
                    .cloned()
                    .collect(),
            )
        });
        found
    }

    /// The session supplements (`ast_sip_session_register_supplement`):
    /// register and unregister hooks on INVITE sessions' messages, and run
    /// them where a session receives or sends one.
    pub fn session_supplements(&self) -> &crate::session::Supplements {
        &self.inner.supplements
    }

    /// The services, in the order they see messages.
    pub fn services(&self) -> Vec<Arc<dyn Service>> {
        self.inner.services.snapshot().to_vec()
    }

    /// Registers the authenticator (`ast_sip_register_authenticator`);
    /// an error while another is registered.
    pub fn register_authenticator(
        &self,
        authenticator: Arc<dyn Authenticator>,
    ) -> Result<(), RegisterError> {
        let mut slot = self
            .inner
            .authenticator
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(RegisterError::AuthenticatorPresent);
        }
        *slot = Some(authenticator);
        Ok(())
    }

    /// Unregisters the authenticator (`ast_sip_unregister_authenticator`):
    /// from then on nothing requires authentication. False when none was
    /// registered.
    pub fn unregister_authenticator(&self) -> bool {
        self.inner
            .authenticator
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
    }

    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        self.inner
            .authenticator
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True while an authenticator is registered.
    pub fn has_authenticator(&self) -> bool {
        self.authenticator().is_some()
    }

    /// True when every service, the authenticator and every identifier
    /// may run on the receiving thread ([`crate::Service::runs_inline`]),
    /// so that received requests are handled there rather than on the
    /// threadpool. One module that says otherwise sends every request
    /// through the pool, at a wake-up and a context switch each: an
    /// application can check this once its modules are registered.
    pub fn dispatch_inline(&self) -> bool {
        self.inner
            .services
            .snapshot()
            .iter()
            .all(|s| s.runs_inline())
            && self.authenticator().is_none_or(|a| a.runs_inline())
            && self
                .inner
                .identifiers
                .snapshot()
                .iter()
                .all(|i| i.runs_inline())
    }

    /// Registers an endpoint identifier
    /// (`ast_sip_register_endpoint_identifier`); identifiers are asked in
    /// registration order.
    pub fn register_endpoint_identifier(
        &self,
        identifier: Arc<dyn EndpointIdentifier>,
    ) -> Result<(), RegisterError> {
        self.inner.identifiers.update(|current| {
            if current.iter().any(|i| i.name() == identifier.name()) {
                return Err(RegisterError::DuplicateIdentifier(
                    identifier.name().to_string(),
                ));
            }
            let mut next = current.to_vec();
            next.push(identifier);
            Ok(next)
        })
    }

    /// Unregisters an endpoint identifier by name
    /// (`ast_sip_unregister_endpoint_identifier`); false when there was none.
    pub fn unregister_endpoint_identifier(&self, name: &str) -> bool {
        let mut found = false;
        let _ = self.inner.identifiers.update(|current| {
            found = current.iter().any(|i| i.name() == name);
            Ok::<_, ()>(
                current
                    .iter()
                    .filter(|i| i.name() != name)
                    .cloned()
                    .collect(),
            )
        });
        found
    }

    // ------------------------------------------------ threadpool operator

    /// A new serializer on the stack's pool (`ast_sip_create_work`). It
    /// ends when the last handle is dropped (`ast_sip_destroy_work`);
    /// tasks are pushed with [`Serializer::push`] (`ast_sip_push_task`).
    /// [`ThreadPool::create_work`] is the same on any pool.
    pub fn create_work(&self, name: &str) -> Serializer {
        self.inner.pool.create_work(name)
    }

    /// The threadpool.
    pub fn pool(&self) -> &ThreadPool {
        &self.inner.pool
    }

    /// Routes every later request of a dialog to `serializer`, so that the
    /// dialog's requests run one at a time and in order (the distributor's
    /// rule for known dialogs).
    pub fn register_dialog(&self, id: DialogId, serializer: Serializer) {
        self.inner
            .dialogs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, serializer);
    }

    /// Forgets a dialog's serializer; later requests of it are spread like
    /// any other (and get 481 when nobody knows the dialog).
    pub fn unregister_dialog(&self, id: &DialogId) -> bool {
        self.inner
            .dialogs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .is_some()
    }

    pub(crate) fn dialog_serializer(&self, id: &DialogId) -> Option<Serializer> {
        self.inner
            .dialogs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    // ------------------------------------------------ common methods

    /// `ast_sip_requires_authentication`: asks the authenticator; with
    /// none registered, nothing requires authentication.
    pub fn requires_authentication(&self, endpoint: &Endpoint, request: &IncomingRequest) -> bool {
        self.authenticator()
            .is_some_and(|a| a.requires_authentication(endpoint, request))
    }

    /// `ast_sip_authenticate_request`: asks the authenticator; with none
    /// registered, every request counts as authenticated.
    pub fn authenticate_request(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
    ) -> AuthOutcome {
        match self.authenticator() {
            Some(a) => a.authenticate_request(endpoint, request),
            None => AuthOutcome::Success,
        }
    }

    /// `ast_sip_get_authentication_credentials`: the challenges for this
    /// endpoint (none without an authenticator).
    pub fn get_authentication_credentials(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
        stale: bool,
    ) -> Vec<DigestChallenge> {
        self.authenticator()
            .map(|a| a.get_authentication_credentials(endpoint, request, stale))
            .unwrap_or_default()
    }

    /// `ast_sip_check_authentication`: whether authentication is needed;
    /// if so, whether the request passes; if not, a 401 challenge is sent.
    /// Wrong credentials get a fresh challenge too, so that a wrong
    /// password, an unknown user and an unidentified source cannot be
    /// told apart by their answers.
    pub fn check_authentication(
        &self,
        endpoint: &Endpoint,
        request: &IncomingRequest,
    ) -> CheckAuthResult {
        let Some(auth) = self.authenticator() else {
            return CheckAuthResult::NotRequired;
        };
        if !request.is_challengeable() || !auth.requires_authentication(endpoint, request) {
            return CheckAuthResult::NotRequired;
        }
        let (stale, result) = match auth.authenticate_request(endpoint, request) {
            AuthOutcome::Success => return CheckAuthResult::Success,
            AuthOutcome::Challenge { stale } => (stale, CheckAuthResult::ChallengeSent),
            AuthOutcome::Failed(reason) => {
                tracing::debug!(endpoint = %endpoint.name, %reason, source = %request.source(), "authentication failed");
                (false, CheckAuthResult::Failed)
            }
        };
        let challenges = auth.get_authentication_credentials(endpoint, request, stale);
        if let Err(e) = self.challenge_request(request, &challenges) {
            tracing::warn!(error = %e, "cannot send a challenge");
        }
        result
    }

    /// `ast_sip_challenge_request`: answers `request` with a 401 carrying
    /// one WWW-Authenticate per challenge; the core fills in nonce and
    /// opaque where the challenge leaves them empty. The challenge is sent
    /// statelessly (RFC 3261 §26.3.2.4: a flood of unauthenticated requests
    /// must not pile up transaction state); a retransmitted request is
    /// simply challenged again.
    pub fn challenge_request(
        &self,
        request: &IncomingRequest,
        challenges: &[DigestChallenge],
    ) -> Result<(), SendError> {
        let response = challenge_response(request.response(401), challenges);
        request.respond_stateless(response)
    }

    /// `ast_sip_identify_endpoint`: asks each identifier in registration
    /// order until one names the sender.
    pub fn identify_endpoint(&self, request: &IncomingRequest) -> Option<Arc<Endpoint>> {
        self.inner
            .identifiers
            .snapshot()
            .iter()
            .find_map(|i| i.identify_endpoint(request))
    }

    /// The endpoint unidentified requests get while an authenticator is
    /// registered.
    pub fn artificial_endpoint(&self) -> Arc<Endpoint> {
        Arc::clone(&self.inner.artificial)
    }

    /// A response to `request` with the stack's Server header.
    pub fn response_to(&self, request: &Message, code: u16) -> Message {
        let mut r = Message::response_to(request, code).unwrap_or_else(|_| {
            Message::new_response(code, None)
                .unwrap_or_else(|_| Message::new_response(500, None).expect("500"))
        });
        if let Some(ua) = &self.inner.config.user_agent {
            let _ = r.add_header("Server", ua);
        }
        r
    }

    /// As [`SipStack::response_to`], with a reason phrase of the caller's
    /// (a refusal that says why).
    pub fn response_with_reason_to(&self, request: &Message, code: u16, reason: &str) -> Message {
        let Ok(mut r) = Message::response_to_with(request, code, Some(reason), None) else {
            return self.response_to(request, code);
        };
        if let Some(ua) = &self.inner.config.user_agent {
            let _ = r.add_header("Server", ua);
        }
        r
    }

    pub(crate) fn run_tx_response_hooks(&self, response: &mut Message, flow: &Flow) {
        for s in self.inner.services.snapshot().iter() {
            s.on_tx_response(response, flow);
        }
    }

    pub(crate) fn run_tx_request_hooks(&self, request: &mut Message, dest: &Destination) {
        for s in self.inner.services.snapshot().iter() {
            s.on_tx_request(request, dest);
        }
    }

    /// New requests refused (503 or dropped) since start, for overload or
    /// shutdown.
    pub fn refused_requests(&self) -> u64 {
        self.inner.distributor.refused.load(Ordering::Relaxed)
    }

    /// Live transactions (for metrics and tests).
    pub fn transaction_count(&self) -> usize {
        self.driver().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_external_address_is_for_peers_outside_the_local_nets() {
        let e = ExternalAddress {
            protocol: Protocol::Udp,
            addr: "192.0.2.80:5060".parse().unwrap(),
            local_nets: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
        };
        assert!(!e.applies_to("10.1.2.3".parse().unwrap()));
        assert!(!e.applies_to("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!e.applies_to("fd12::1".parse().unwrap()));
        assert!(e.applies_to("198.51.100.1".parse().unwrap()));
        let everyone = ExternalAddress {
            local_nets: Vec::new(),
            ..e
        };
        assert!(everyone.applies_to("10.1.2.3".parse().unwrap()));
    }
}
