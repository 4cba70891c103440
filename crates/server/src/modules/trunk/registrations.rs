//! The runner of outbound registrations: one task per `type=registration`
//! section sends the REGISTERs that [`super::registration`] decides, with
//! the credentials of its `outbound_auth`, and keeps what it found for
//! `sipjet show registrations`.
//!
//! Every REGISTER of one registration shares a Call-ID and a From tag and
//! counts its CSeq up (RFC 3261 §10.2), so the registrar sees one client
//! refreshing its binding rather than a new one each time. On shutdown a
//! registered binding is removed (Expires 0), as Asterisk does.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sipjet_core::message::generate;
use sipjet_core::{
    Destination, DigestClient, Message, Method, OutgoingRequest, Protocol, SipStack,
    client_auth::MAX_ANSWERS,
};

use super::credentials;
use super::registration::{Outcome, Policy, Registration, State, Verdict};
use crate::config::pjsip::{PjsipConfig, RegistrationConf};

/// What `sipjet show registrations` shows of one registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// The section's name.
    pub name: String,
    /// `server_uri`.
    pub server_uri: String,
    /// `client_uri`.
    pub client_uri: String,
    /// Where it stands.
    pub state: State,
    /// When the binding runs out, while registered.
    pub expires_at: Option<SystemTime>,
    /// When the next REGISTER leaves.
    pub next_attempt_at: Option<SystemTime>,
    /// The last final status code.
    pub last_code: Option<u16>,
    /// Consecutive failures.
    pub retries: u32,
    /// Why the last attempt failed.
    pub reason: Option<String>,
}

/// The identifiers a registration's REGISTERs share.
#[derive(Debug)]
struct Session {
    call_id: String,
    tag: String,
    cseq: u32,
    /// Where the last REGISTER went and the Contact it registered, for
    /// the removal at shutdown.
    registered: Option<(Destination, String)>,
}

struct Entry {
    conf: RegistrationConf,
    protocol: Option<Protocol>,
    digest: Arc<Mutex<DigestClient>>,
    status: Mutex<RegistrationStatus>,
    session: Mutex<Session>,
}

/// The outbound registrations of a server.
#[derive(Default)]
pub struct Registrations {
    entries: Vec<Arc<Entry>>,
}

impl Registrations {
    /// Their status, in configuration order.
    pub fn list(&self) -> Vec<RegistrationStatus> {
        self.entries
            .iter()
            .map(|e| e.status.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Starts a task per registration; each runs until the stack stops or
    /// the registration is rejected.
    pub fn start(stack: &SipStack, config: &PjsipConfig) -> Arc<Registrations> {
        let entries: Vec<Arc<Entry>> = config
            .registrations
            .iter()
            .map(|conf| {
                let protocol = conf.transport.as_ref().and_then(|t| {
                    config
                        .transports
                        .iter()
                        .find(|x| &x.name == t)
                        .map(|x| x.protocol)
                });
                Arc::new(Entry {
                    digest: Arc::new(Mutex::new(DigestClient::new(credentials(
                        config,
                        &conf.outbound_auth,
                    )))),
                    protocol,
                    status: Mutex::new(RegistrationStatus {
                        name: conf.name.clone(),
                        server_uri: conf.server_uri.clone(),
                        client_uri: conf.client_uri.clone(),
                        state: State::Unregistered,
                        expires_at: None,
                        next_attempt_at: None,
                        last_code: None,
                        retries: 0,
                        reason: None,
                    }),
                    session: Mutex::new(Session {
                        call_id: generate::call_id(None),
                        tag: generate::tag(),
                        cseq: 0,
                        registered: None,
                    }),
                    conf: conf.clone(),
                })
            })
            .collect();
        for e in &entries {
            tokio::spawn(run(stack.clone(), Arc::clone(e)));
        }
        Arc::new(Registrations { entries })
    }

    /// Removes the bindings that are registered (Expires 0), waiting at
    /// most `patience` for the registrars' answers.
    pub async fn unregister_all(&self, stack: &SipStack, patience: Duration) {
        let mut waits = Vec::new();
        for e in &self.entries {
            let registered = e
                .session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .registered
                .take();
            let Some((dest, contact)) = registered else {
                continue;
            };
            let Ok(msg) = register_message(stack, e, &dest, &contact, 0) else {
                continue;
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            stack.send_message_authenticated(msg, dest, Arc::clone(&e.digest), None, move |r| {
                let _ = tx.send(r);
            });
            waits.push((e.conf.name.clone(), rx));
        }
        let deadline = tokio::time::Instant::now() + patience;
        for (name, rx) in waits {
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Ok(r))) => {
                    tracing::info!(registration = %name, status = r.status().unwrap_or(0), "unregistered")
                }
                _ => tracing::warn!(registration = %name, "no answer to the unregistration"),
            }
        }
    }
}

/// A uniformly random delay up to `max`, so that many registrations do
/// not all start in the same second.
fn initial_delay(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::random::<u64>() % (max.as_millis() as u64 + 1))
}

async fn run(stack: SipStack, entry: Arc<Entry>) {
    let c = &entry.conf;
    let mut reg = Registration::new(
        Policy {
            expiration: c.expiration,
            retry_interval: c.retry_interval,
            forbidden_retry_interval: c.forbidden_retry_interval,
            fatal_retry_interval: c.fatal_retry_interval,
            auth_rejection_permanent: c.auth_rejection_permanent,
            max_retries: c.max_retries,
        },
        Instant::now(),
        initial_delay(c.max_random_initial_delay),
    );
    publish(&entry, &reg);
    while let Some(at) = reg.next_deadline() {
        // Short sleeps, so that a stopped stack ends the task soon.
        loop {
            if !stack.is_running() {
                return;
            }
            let now = Instant::now();
            if now >= at {
                break;
            }
            tokio::time::sleep((at - now).min(Duration::from_millis(500))).await;
        }
        reg.sending();
        let outcome = register_once(&stack, &entry, reg.expiration()).await;
        match reg.on_outcome(Instant::now(), outcome) {
            Verdict::Registered(d) => tracing::info!(
                registration = %c.name,
                server = %c.server_uri,
                expires = d.as_secs(),
                "registered"
            ),
            Verdict::Retry {
                reason,
                after,
                retry,
            } => tracing::warn!(
                registration = %c.name,
                server = %c.server_uri,
                %reason,
                retry,
                max_retries = c.max_retries,
                after = after.as_secs(),
                "registration failed; retrying"
            ),
            Verdict::Rejected(reason) => tracing::error!(
                registration = %c.name,
                server = %c.server_uri,
                %reason,
                "registration rejected; it will not be retried"
            ),
        }
        if reg.state() != State::Registered {
            entry
                .session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .registered = None;
        }
        publish(&entry, &reg);
    }
}

/// Copies what the registration found to the status shown.
fn publish(entry: &Entry, reg: &Registration) {
    let now = Instant::now();
    let wall = SystemTime::now();
    let at = |t: Instant| wall + t.saturating_duration_since(now);
    let mut s = entry.status.lock().unwrap_or_else(|p| p.into_inner());
    s.state = reg.state();
    s.expires_at = reg.expires_at().map(at);
    s.next_attempt_at = reg.next_deadline().map(at);
    s.last_code = reg.last_status();
    s.retries = reg.retries();
    s.reason = reg.last_reason().map(str::to_string);
}

/// The address peers reach this stack at over `protocol` toward `dest`:
/// the external one when `dest` is beyond the NAT (outside `local_net`),
/// else the listener's, or for a wildcard listener the interface the
/// system would route to `dest` from.
fn local_addr(stack: &SipStack, protocol: Protocol, dest: SocketAddr) -> Option<SocketAddr> {
    let bound = stack.advertised(protocol, dest.ip())?;
    if !bound.ip().is_unspecified() {
        return Some(bound);
    }
    let any: IpAddr = if dest.is_ipv4() {
        [0, 0, 0, 0].into()
    } else {
        [0u16; 8].into()
    };
    // Connecting a UDP socket sends nothing; it only picks the route.
    let probe = std::net::UdpSocket::bind((any, 0)).ok()?;
    probe.connect(dest).ok()?;
    Some(SocketAddr::new(probe.local_addr().ok()?.ip(), bound.port()))
}

/// The REGISTER of `entry` to `dest` for `contact`, asking for `expires`.
fn register_message(
    stack: &SipStack,
    entry: &Entry,
    dest: &Destination,
    contact: &str,
    expires: u32,
) -> Result<Message, String> {
    let c = &entry.conf;
    let mut session = entry.session.lock().unwrap_or_else(|p| p.into_inner());
    session.cseq = session.cseq.wrapping_add(1).max(1);
    let mut req = OutgoingRequest::new(Method::Register, &c.server_uri);
    req.from = Some(format!("<{}>;tag={}", c.client_uri, session.tag));
    req.to = Some(format!("<{}>", c.client_uri));
    req.headers.push(("Expires".into(), expires.to_string()));
    if let Some(proxy) = &c.outbound_proxy {
        // A loose router, whether or not the URI says so.
        let lr = if proxy.contains(";lr") { "" } else { ";lr" };
        req.headers.push(("Route".into(), format!("<{proxy}{lr}>")));
    }
    let mut m = stack
        .build_request_to(&req, dest.protocol, Some(dest.addr.ip()))
        .map_err(|e| e.to_string())?;
    let set = |m: &mut Message, name: &str, value: &str| {
        m.set_header(name, value).map_err(|e| e.to_string())
    };
    set(&mut m, "Call-ID", &session.call_id)?;
    set(&mut m, "CSeq", &format!("{} REGISTER", session.cseq))?;
    set(&mut m, "Contact", &format!("<{contact}>"))?;
    drop(session);
    entry
        .digest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .authorize(&mut m);
    Ok(m)
}

/// Sends one REGISTER and waits for what becomes of it.
async fn register_once(stack: &SipStack, entry: &Arc<Entry>, expires: u32) -> Outcome {
    let c = &entry.conf;
    let next_hop = c.outbound_proxy.as_deref().unwrap_or(&c.server_uri);
    let mut dest = match stack.resolve_destination(next_hop).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(registration = %c.name, error = %e, "cannot reach the registrar");
            return Outcome::NoAnswer;
        }
    };
    if let Some(p) = entry.protocol {
        dest = Destination::new(p, dest.addr);
    }
    let Some(me) = local_addr(stack, dest.protocol, dest.addr) else {
        tracing::warn!(registration = %c.name, protocol = %dest.protocol, "no listener for the registrar's transport");
        return Outcome::NoAnswer;
    };
    let transport = match dest.protocol {
        Protocol::Udp => String::new(),
        p => format!(";transport={}", p.via_name().to_ascii_lowercase()),
    };
    let params = c
        .contact_header_params
        .as_ref()
        .map(|p| format!(";{p}"))
        .unwrap_or_default();
    let host = match me.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", me.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", me.port()),
    };
    let contact_base = format!("sip:{}@{host}", c.contact_user);
    let contact = format!("{contact_base}{transport}{params}");
    let msg = match register_message(stack, entry, &dest, &contact, expires) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(registration = %c.name, error = %e, "cannot build the REGISTER");
            return Outcome::NoAnswer;
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    stack.send_message_authenticated(
        msg,
        dest.clone(),
        Arc::clone(&entry.digest),
        None,
        move |r| {
            let _ = tx.send(r);
        },
    );
    let answer = rx.await.unwrap_or(Err(sipjet_core::SendError::NotRunning));
    let mut session = entry.session.lock().unwrap_or_else(|p| p.into_inner());
    match answer {
        Ok(r) => {
            if let Ok(cseq) = r.cseq() {
                session.cseq = session.cseq.max(cseq.seq);
            }
            let status = r.status().unwrap_or(0);
            if (200..300).contains(&status) {
                session.registered = Some((dest, contact));
            }
            drop(session);
            outcome_of(&r, &contact_base, expires)
        }
        Err(e) => {
            // The resends for challenges may have used CSeqs up to this.
            session.cseq = session.cseq.wrapping_add(MAX_ANSWERS as u32);
            tracing::debug!(registration = %c.name, error = %e, "no answer to REGISTER");
            Outcome::NoAnswer
        }
    }
}

/// What a final response to a REGISTER says. A 2xx lists every binding
/// of the AOR; ours is the one whose URI starts with `contact_base`
/// (`sip:user@host:port`), and its `expires` is what was granted.
fn outcome_of(r: &Message, contact_base: &str, asked: u32) -> Outcome {
    let status = r.status().unwrap_or(0);
    if matches!(status, 401 | 407) {
        return Outcome::AuthRefused { status };
    }
    let expires = if (200..300).contains(&status) {
        let ours = r.contacts().filter_map(Result::ok).find(|c| {
            c.addr().is_some_and(|a| {
                let uri = a.uri_str();
                uri.len() >= contact_base.len()
                    && uri[..contact_base.len()].eq_ignore_ascii_case(contact_base)
                    && uri[contact_base.len()..]
                        .chars()
                        .next()
                        .is_none_or(|ch| ch == ';' || ch == '?')
            })
        });
        Some(
            ours.and_then(|c| c.expires())
                .or_else(|| r.expires().ok().flatten())
                .unwrap_or(asked),
        )
    } else {
        None
    };
    Outcome::Response {
        status,
        expires,
        min_expires: r.min_expires().ok().flatten(),
        retry_after: r.retry_after().ok().flatten().map(|ra| ra.seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &str) -> Message {
        Message::parse(text.as_bytes().to_vec()).unwrap()
    }

    const HEAD: &str = "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:office@p>;tag=1\r\nTo: <sip:office@p>;tag=2\r\nCall-ID: c\r\nCSeq: 3 REGISTER\r\n";

    #[test]
    fn the_grant_is_our_contacts_expires() {
        let r = response(&format!(
            "SIP/2.0 200 OK\r\n{HEAD}Contact: <sip:s@192.0.2.9:5060>;expires=50, <sip:s@127.0.0.1:5070;transport=tcp>;expires=120\r\nExpires: 999\r\nContent-Length: 0\r\n\r\n"
        ));
        assert_eq!(
            outcome_of(&r, "sip:s@127.0.0.1:5070", 3600),
            Outcome::Response {
                status: 200,
                expires: Some(120),
                min_expires: None,
                retry_after: None
            }
        );
        // Not listed: the Expires header, then what was asked.
        let Outcome::Response { expires, .. } = outcome_of(&r, "sip:s@127.0.0.1:50", 3600) else {
            panic!()
        };
        assert_eq!(expires, Some(999));
        let bare = response(&format!(
            "SIP/2.0 200 OK\r\n{HEAD}Content-Length: 0\r\n\r\n"
        ));
        let Outcome::Response { expires, .. } = outcome_of(&bare, "sip:s@h", 600) else {
            panic!()
        };
        assert_eq!(expires, Some(600));
    }

    #[test]
    fn refusals_and_their_headers() {
        let r = response(&format!(
            "SIP/2.0 401 Unauthorized\r\n{HEAD}Content-Length: 0\r\n\r\n"
        ));
        assert_eq!(
            outcome_of(&r, "sip:s@h", 60),
            Outcome::AuthRefused { status: 401 }
        );
        let r = response(&format!(
            "SIP/2.0 423 Interval Too Brief\r\n{HEAD}Min-Expires: 600\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(matches!(
            outcome_of(&r, "sip:s@h", 60),
            Outcome::Response {
                status: 423,
                min_expires: Some(600),
                ..
            }
        ));
        let r = response(&format!(
            "SIP/2.0 503 Service Unavailable\r\n{HEAD}Retry-After: 30\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(matches!(
            outcome_of(&r, "sip:s@h", 60),
            Outcome::Response {
                status: 503,
                retry_after: Some(30),
                expires: None,
                ..
            }
        ));
    }

    #[test]
    fn initial_delay_stays_within_its_bound() {
        assert_eq!(initial_delay(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(initial_delay(Duration::from_secs(2)) <= Duration::from_secs(2));
        }
    }
}
