//! What each route of the admin interface answers: the configuration and
//! the server's state as JSON records, built by pure functions of what
//! they show, so that each can be tested without a running server. The
//! `sipjet show` command reads the same records back.
//!
//! No view carries a secret: an auth shows its user name and realm, never
//! its password or stored hash.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sipjet_core::Protocol;

use crate::config::pjsip::{PjsipConfig, identify_method_name};
use crate::location::LocationStore;
use crate::modules::calls::Call;
use crate::modules::qualify::Status;
use crate::modules::trunk::RegistrationStatus;
use crate::security::Unidentified;

/// The lists `sipjet show` shows, one route each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `GET /api/endpoints`
    Endpoints,
    /// `GET /api/auths`
    Auths,
    /// `GET /api/aors`
    Aors,
    /// `GET /api/contacts`
    Contacts,
    /// `GET /api/transports`
    Transports,
    /// `GET /api/unidentified`
    Unidentified,
    /// `GET /api/calls`
    Calls,
    /// `GET /api/nodes`
    Nodes,
    /// `GET /api/registrations`
    Registrations,
}

impl View {
    /// Every view.
    pub const ALL: [View; 9] = [
        View::Endpoints,
        View::Auths,
        View::Aors,
        View::Contacts,
        View::Transports,
        View::Unidentified,
        View::Calls,
        View::Nodes,
        View::Registrations,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            View::Endpoints => "endpoints",
            View::Auths => "auths",
            View::Aors => "aors",
            View::Contacts => "contacts",
            View::Transports => "transports",
            View::Unidentified => "unidentified",
            View::Calls => "calls",
            View::Nodes => "nodes",
            View::Registrations => "registrations",
        }
    }

    /// Its route.
    pub fn path(self) -> &'static str {
        match self {
            View::Endpoints => "/api/endpoints",
            View::Auths => "/api/auths",
            View::Aors => "/api/aors",
            View::Contacts => "/api/contacts",
            View::Transports => "/api/transports",
            View::Unidentified => "/api/unidentified",
            View::Calls => "/api/calls",
            View::Nodes => "/api/nodes",
            View::Registrations => "/api/registrations",
        }
    }

    /// The view a route serves.
    pub fn from_path(path: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.path() == path)
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no view.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is not endpoints, auths, aors, contacts, transports, unidentified, calls, nodes or registrations"
)]
pub struct UnknownView(String);

impl FromStr for View {
    type Err = UnknownView;
    fn from_str(s: &str) -> Result<View, UnknownView> {
        View::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| UnknownView(s.to_string()))
    }
}

/// An endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// Its name.
    pub name: String,
    /// `aors`.
    pub aors: Vec<String>,
    /// `auth`.
    pub auths: Vec<String>,
    /// `transport`.
    pub transport: Option<String>,
    /// `context`.
    pub context: String,
    /// `identify_by`, as written in pjsip.conf.
    pub identify_by: Vec<String>,
}

/// An inbound authentication object, without its secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthView {
    /// Its name.
    pub name: String,
    /// `username`.
    pub username: String,
    /// The realm it challenges with (its own or the global default).
    pub realm: String,
    /// `auth_type`, as written in pjsip.conf.
    pub auth_type: String,
    /// The digest algorithms it offers.
    pub algorithms: Vec<String>,
    /// `nonce_lifetime`, in seconds.
    pub nonce_lifetime: u64,
}

/// An address-of-record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AorView {
    /// Its name.
    pub name: String,
    /// `max_contacts`.
    pub max_contacts: u32,
    /// `remove_existing`.
    pub remove_existing: bool,
    /// `minimum_expiration`, in seconds.
    pub minimum_expiration: u32,
    /// `default_expiration`, in seconds.
    pub default_expiration: u32,
    /// `maximum_expiration`, in seconds.
    pub maximum_expiration: u32,
    /// `qualify_frequency`, in seconds (0: never).
    pub qualify_frequency: u32,
    /// `contact`: its static contacts.
    pub static_contacts: Vec<String>,
    /// How many contacts are registered to it now.
    pub registered_contacts: usize,
}

/// Whether a contact is registered or configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    /// Registered by a REGISTER.
    Dynamic,
    /// A `contact` of an `aor` section.
    Static,
}

/// What qualify knows of a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    /// It answered its last OPTIONS.
    Reachable,
    /// It did not answer its last OPTIONS in time.
    Unreachable,
    /// It was not checked (yet, or its AOR is not qualified).
    Unknown,
}

/// A contact, registered or static.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactView {
    /// Its AOR.
    pub aor: String,
    /// The contact URI.
    pub contact: String,
    /// Registered or static.
    pub kind: ContactKind,
    /// Seconds until a registered contact expires, rounded up; none for a
    /// static one.
    pub expires_in: Option<u64>,
    /// The User-Agent of the REGISTER.
    pub user_agent: Option<String>,
    /// The flow the REGISTER came from (`proto:ip:port`).
    pub received: Option<String>,
    /// The endpoint that registered it.
    pub endpoint: Option<String>,
    /// The sipjet node that holds its flow (the one its REGISTER came to).
    #[serde(default)]
    pub node: Option<String>,
    /// What qualify found.
    pub status: Reachability,
    /// The round-trip time of the last answered OPTIONS, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// How long ago the last check was made, in seconds.
    pub last_check_seconds_ago: Option<u64>,
}

/// A transport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportView {
    /// Its name.
    pub name: String,
    /// `protocol`, as written in pjsip.conf.
    pub protocol: String,
    /// `bind`, as configured.
    pub bind: String,
    /// The address actually bound (port 0 resolved; a test's override).
    pub bound: Option<String>,
}

/// A source that sent requests no endpoint was identified for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnidentifiedView {
    /// Its IP address.
    pub address: String,
    /// Requests counted in all.
    pub total: u64,
    /// Requests counted in the current period (0 once it is over).
    pub in_period: u32,
    /// The latest account (From user) it tried.
    pub last_account: String,
    /// Whether it was reported as a security event.
    pub reported: bool,
    /// How long ago its latest request came, in seconds.
    pub last_seen_seconds_ago: u64,
}

/// A call (`GET /api/calls`): the ones in progress, oldest first, then
/// the recent ones, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallView {
    /// Its Call-ID.
    pub call_id: String,
    /// The calling endpoint.
    pub caller: String,
    /// The user called.
    pub callee: String,
    /// `trying`, `ringing`, `answered`, `ended` or `failed`.
    pub state: String,
    /// True while it is in progress.
    pub in_progress: bool,
    /// Seconds since the INVITE came.
    pub started_seconds_ago: u64,
    /// Seconds it was (or has been) up.
    pub duration_seconds: u64,
    /// The final status the caller got.
    pub final_code: Option<u16>,
}

/// A node sharing the location database (`GET /api/nodes`): this one
/// first, then the others by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its `node_id`.
    pub node: String,
    /// Where the other nodes reach it.
    pub address: Option<String>,
    /// Seconds since its last heartbeat (by its clock).
    pub last_heartbeat_seconds_ago: u64,
    /// Whether it is taken for alive (heard of within three heartbeat
    /// intervals).
    pub alive: bool,
    /// Whether it is the node that answers.
    pub this_node: bool,
}

/// An outbound registration (`GET /api/registrations`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationView {
    /// The section's name.
    pub name: String,
    /// The registrar.
    pub server_uri: String,
    /// The address-of-record registered.
    pub client_uri: String,
    /// `unregistered`, `registered` or `rejected`.
    pub state: String,
    /// Seconds until the binding runs out, while registered.
    pub expires_in_seconds: Option<u64>,
    /// Seconds until the next REGISTER.
    pub next_attempt_in_seconds: Option<u64>,
    /// The last final status code.
    pub last_code: Option<u16>,
    /// Consecutive failed attempts.
    pub retries: u32,
    /// Why the last attempt failed.
    pub reason: Option<String>,
}

/// The SIP trace switch (`GET` and `POST /api/logger`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggerView {
    /// True while every message is logged.
    pub on: bool,
}

/// What an error answer carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    /// What went wrong.
    pub error: String,
}

/// Seconds from `now` to `then`, rounded up; 0 when it is past.
fn seconds_until(then: SystemTime, now: SystemTime) -> u64 {
    let d = then.duration_since(now).unwrap_or_default();
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `GET /api/endpoints`.
pub fn endpoints(config: &PjsipConfig) -> Vec<EndpointView> {
    config
        .endpoints
        .iter()
        .map(|e| EndpointView {
            name: e.name.clone(),
            aors: e.aors.clone(),
            auths: e.auth.clone(),
            transport: e.transport.clone(),
            context: e.context.clone(),
            identify_by: e
                .identify_by
                .iter()
                .map(|m| identify_method_name(*m).to_string())
                .collect(),
        })
        .collect()
}

/// `GET /api/auths`.
pub fn auths(config: &PjsipConfig) -> Vec<AuthView> {
    config
        .auths
        .iter()
        .map(|a| AuthView {
            name: a.name.clone(),
            username: a.username.clone(),
            realm: a
                .realm
                .clone()
                .unwrap_or_else(|| config.global.default_realm.clone()),
            auth_type: a.auth_type.name().to_string(),
            algorithms: a
                .algorithms
                .iter()
                .map(|x| x.as_str().to_string())
                .collect(),
            nonce_lifetime: a.nonce_lifetime.as_secs(),
        })
        .collect()
}

/// `GET /api/aors`, with the bindings valid at `now`.
pub fn aors(config: &PjsipConfig, store: &dyn LocationStore, now: SystemTime) -> Vec<AorView> {
    config
        .aors
        .iter()
        .map(|a| AorView {
            name: a.name.clone(),
            max_contacts: a.max_contacts,
            remove_existing: a.remove_existing,
            minimum_expiration: a.minimum_expiration,
            default_expiration: a.default_expiration,
            maximum_expiration: a.maximum_expiration,
            qualify_frequency: a.qualify_frequency,
            static_contacts: a.contacts.clone(),
            registered_contacts: store.bindings(&a.name, now).len(),
        })
        .collect()
}

/// `GET /api/contacts`: the bindings valid at `now`, then the static
/// contacts, each sorted by AOR and contact; `status` gives what qualify
/// found of an (AOR, contact).
pub fn contacts(
    config: &PjsipConfig,
    store: &dyn LocationStore,
    status: &dyn Fn(&str, &str) -> Option<Status>,
    now: SystemTime,
) -> Vec<ContactView> {
    let qualified = |aor: &str, contact: &str| {
        let s = status(aor, contact);
        let reachability = match &s {
            Some(s) if s.reachable => Reachability::Reachable,
            Some(_) => Reachability::Unreachable,
            None => Reachability::Unknown,
        };
        let rtt_ms = s
            .as_ref()
            .and_then(|s| s.rtt)
            .map(|d| d.as_secs_f64() * 1000.0);
        let ago = s.map(|s| {
            now.duration_since(s.checked_at)
                .unwrap_or_default()
                .as_secs()
        });
        (reachability, rtt_ms, ago)
    };
    let mut bindings = store.all(now);
    bindings.sort_by(|a, b| (&a.aor, &a.contact).cmp(&(&b.aor, &b.contact)));
    let mut out: Vec<ContactView> = bindings
        .into_iter()
        .map(|b| {
            let (status, rtt_ms, last_check_seconds_ago) = qualified(&b.aor, &b.contact);
            ContactView {
                expires_in: Some(seconds_until(b.expires_at, now)),
                kind: ContactKind::Dynamic,
                aor: b.aor,
                contact: b.contact,
                user_agent: b.user_agent,
                received: b.received,
                endpoint: b.endpoint,
                node: b.node,
                status,
                rtt_ms,
                last_check_seconds_ago,
            }
        })
        .collect();
    let mut statics: Vec<(&str, &str)> = config
        .aors
        .iter()
        .flat_map(|a| a.contacts.iter().map(|c| (a.name.as_str(), c.as_str())))
        .collect();
    statics.sort();
    out.extend(statics.into_iter().map(|(aor, contact)| {
        let (status, rtt_ms, last_check_seconds_ago) = qualified(aor, contact);
        ContactView {
            aor: aor.to_string(),
            contact: contact.to_string(),
            kind: ContactKind::Static,
            expires_in: None,
            user_agent: None,
            received: None,
            endpoint: None,
            node: None,
            status,
            rtt_ms,
            last_check_seconds_ago,
        }
    }));
    out
}

/// `GET /api/transports`; `bound` is what the transports report, one
/// listener per configured transport in the configured order.
pub fn transports(config: &PjsipConfig, bound: &[(Protocol, SocketAddr)]) -> Vec<TransportView> {
    config
        .transports
        .iter()
        .enumerate()
        .map(|(i, t)| {
            TransportView {
                name: t.name.clone(),
                // As pjsip.conf writes it.
                protocol: t.protocol.via_name().to_ascii_lowercase(),
                bind: t.bind.to_string(),
                bound: bound
                    .get(i)
                    .filter(|(p, _)| *p == t.protocol)
                    .map(|(_, a)| a.to_string()),
            }
        })
        .collect()
}

/// `GET /api/unidentified`; a period of `period` that started before it
/// is over counts as 0.
pub fn unidentified(
    sources: Vec<(IpAddr, Unidentified)>,
    period: Duration,
    now: Instant,
) -> Vec<UnidentifiedView> {
    sources
        .into_iter()
        .map(|(ip, s)| UnidentifiedView {
            address: ip.to_string(),
            total: s.total,
            in_period: if now.saturating_duration_since(s.period_start) > period {
                0
            } else {
                s.in_period
            },
            last_account: s.last_account,
            reported: s.reported,
            last_seen_seconds_ago: now.saturating_duration_since(s.last_seen).as_secs(),
        })
        .collect()
}

/// `GET /api/nodes`.
pub fn nodes(nodes: Vec<crate::cluster::NodeState>, now: SystemTime) -> Vec<NodeView> {
    nodes
        .into_iter()
        .map(|n| NodeView {
            last_heartbeat_seconds_ago: now
                .duration_since(n.record.heartbeat)
                .map_or(0, |d| d.as_secs()),
            node: n.record.id,
            address: n.record.address,
            alive: n.alive,
            this_node: n.this_node,
        })
        .collect()
}

/// `GET /api/calls`: the calls in progress, then the recent ones.
pub fn calls(active: Vec<Call>, recent: Vec<Call>, now: SystemTime) -> Vec<CallView> {
    let view = |c: Call, in_progress: bool| CallView {
        state: serde_json::to_value(c.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        in_progress,
        started_seconds_ago: now.duration_since(c.started).map_or(0, |d| d.as_secs()),
        duration_seconds: c.duration(),
        final_code: c.final_code,
        caller: c.caller,
        callee: c.callee,
        call_id: c.call_id,
    };
    active
        .into_iter()
        .map(|c| view(c, true))
        .chain(recent.into_iter().map(|c| view(c, false)))
        .collect()
}

/// `GET /api/registrations`.
pub fn registrations(list: Vec<RegistrationStatus>, now: SystemTime) -> Vec<RegistrationView> {
    list.into_iter()
        .map(|r| RegistrationView {
            state: serde_json::to_value(r.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            expires_in_seconds: r.expires_at.map(|t| seconds_until(t, now)),
            next_attempt_in_seconds: r.next_attempt_at.map(|t| seconds_until(t, now)),
            last_code: r.last_code,
            retries: r.retries,
            reason: r.reason,
            name: r.name,
            server_uri: r.server_uri,
            client_uri: r.client_uri,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::pjsip;
    use crate::location::{AorUpdate, Binding, MemoryStore};

    const CONF: &str = "\
[global]\ntype=global\ndefault_realm=example.org\n\
[t-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n\
[t-tcp]\ntype=transport\nprotocol=tcp\nbind=0.0.0.0:5070\n\
[alice]\ntype=endpoint\naors=alice\nauth=alice-auth\ncontext=office\nidentify_by=username,auth_username\ntransport=t-udp\n\
[alice-auth]\ntype=auth\nusername=alice\npassword=topsecret\nsupported_algorithms_uas=SHA-256,MD5\n\
[bob-auth]\ntype=auth\nauth_type=md5\nusername=bob\nrealm=bobs.example\nmd5_cred=0123456789abcdef0123456789abcdef\n\
[alice]\ntype=aor\nmax_contacts=2\nremove_existing=yes\nqualify_frequency=30\n\
[gw]\ntype=aor\ncontact=sip:gw@192.0.2.1\ncontact=sip:gw@192.0.2.2\n";

    fn config() -> PjsipConfig {
        let report = pjsip::from_str("views.conf", CONF);
        assert!(report.is_ok(), "{:?}", report.errors);
        report.config
    }

    fn binding(aor: &str, contact: &str, expires_at: SystemTime) -> Binding {
        Binding {
            aor: aor.into(),
            contact: contact.into(),
            expires_at,
            q: None,
            call_id: "c".into(),
            cseq: 1,
            path: Vec::new(),
            instance_id: None,
            reg_id: None,
            received: Some("udp:127.0.0.1:40000".into()),
            user_agent: Some("phone/1.0".into()),
            endpoint: Some("alice".into()),
            node: Some("node-1".into()),
        }
    }

    #[test]
    fn view_names_and_routes() {
        for v in View::ALL {
            assert_eq!(v.name().parse::<View>().unwrap(), v);
            assert_eq!(View::from_path(v.path()), Some(v));
        }
        assert!("endpoint".parse::<View>().is_err());
        assert_eq!(View::from_path("/api/logger"), None);
    }

    #[test]
    fn endpoints_and_auths_without_secrets() {
        let c = config();
        assert_eq!(
            endpoints(&c),
            vec![EndpointView {
                name: "alice".into(),
                aors: vec!["alice".into()],
                auths: vec!["alice-auth".into()],
                transport: Some("t-udp".into()),
                context: "office".into(),
                identify_by: vec!["username".into(), "auth_username".into()],
            }]
        );
        let a = auths(&c);
        assert_eq!(
            a[0],
            AuthView {
                name: "alice-auth".into(),
                username: "alice".into(),
                realm: "example.org".into(),
                auth_type: "userpass".into(),
                algorithms: vec!["SHA-256".into(), "MD5".into()],
                nonce_lifetime: 32,
            }
        );
        assert_eq!(
            (a[1].realm.as_str(), a[1].auth_type.as_str()),
            ("bobs.example", "md5")
        );
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("topsecret"), "{json}");
        assert!(!json.contains("0123456789abcdef"), "{json}");
    }

    #[test]
    fn aors_count_valid_bindings() {
        let c = config();
        let store = MemoryStore::new();
        let now = SystemTime::now();
        store
            .apply(AorUpdate {
                aor: "alice".into(),
                upserts: vec![
                    binding("alice", "sip:a@127.0.0.1:1", now + Duration::from_secs(60)),
                    binding("alice", "sip:a@127.0.0.1:2", now + Duration::from_secs(1)),
                ],
                ..Default::default()
            })
            .unwrap();
        let later = now + Duration::from_secs(10);
        let v = aors(&c, &store, later);
        assert_eq!(
            v[0],
            AorView {
                name: "alice".into(),
                max_contacts: 2,
                remove_existing: true,
                minimum_expiration: 60,
                default_expiration: 3600,
                maximum_expiration: 7200,
                qualify_frequency: 30,
                static_contacts: vec![],
                registered_contacts: 1,
            }
        );
        assert_eq!(v[1].static_contacts.len(), 2);
        assert_eq!(v[1].registered_contacts, 0);
    }

    #[test]
    fn contacts_registered_and_static_with_their_status() {
        let c = config();
        let store = MemoryStore::new();
        let now = SystemTime::now();
        store
            .apply(AorUpdate {
                aor: "alice".into(),
                upserts: vec![binding(
                    "alice",
                    "sip:a@127.0.0.1:1",
                    now + Duration::from_millis(59_001),
                )],
                ..Default::default()
            })
            .unwrap();
        let status = |aor: &str, contact: &str| match (aor, contact) {
            ("alice", "sip:a@127.0.0.1:1") => Some(Status {
                reachable: true,
                rtt: Some(Duration::from_micros(1_500)),
                checked_at: now - Duration::from_secs(4),
            }),
            ("gw", "sip:gw@192.0.2.2") => Some(Status {
                reachable: false,
                rtt: None,
                checked_at: now - Duration::from_secs(1),
            }),
            _ => None,
        };
        let v = contacts(&c, &store, &status, now);
        assert_eq!(v.len(), 3);
        assert_eq!(
            v[0],
            ContactView {
                aor: "alice".into(),
                contact: "sip:a@127.0.0.1:1".into(),
                kind: ContactKind::Dynamic,
                expires_in: Some(60),
                user_agent: Some("phone/1.0".into()),
                received: Some("udp:127.0.0.1:40000".into()),
                endpoint: Some("alice".into()),
                node: Some("node-1".into()),
                status: Reachability::Reachable,
                rtt_ms: Some(1.5),
                last_check_seconds_ago: Some(4),
            }
        );
        assert_eq!(
            (
                v[1].contact.as_str(),
                v[1].kind,
                v[1].status,
                v[1].expires_in
            ),
            (
                "sip:gw@192.0.2.1",
                ContactKind::Static,
                Reachability::Unknown,
                None
            )
        );
        assert_eq!(
            (v[2].contact.as_str(), v[2].status, v[2].rtt_ms),
            ("sip:gw@192.0.2.2", Reachability::Unreachable, None)
        );
        let json = serde_json::to_value(&v[2]).unwrap();
        assert_eq!(json["kind"], "static");
        assert_eq!(json["status"], "unreachable");
    }

    #[test]
    fn transports_with_the_addresses_bound() {
        let c = config();
        let bound = [
            (Protocol::Udp, "127.0.0.1:40001".parse().unwrap()),
            (Protocol::Tcp, "127.0.0.1:40002".parse().unwrap()),
        ];
        let v = transports(&c, &bound);
        assert_eq!(
            v,
            vec![
                TransportView {
                    name: "t-udp".into(),
                    protocol: "udp".into(),
                    bind: "127.0.0.1:5060".into(),
                    bound: Some("127.0.0.1:40001".into()),
                },
                TransportView {
                    name: "t-tcp".into(),
                    protocol: "tcp".into(),
                    bind: "0.0.0.0:5070".into(),
                    bound: Some("127.0.0.1:40002".into()),
                },
            ]
        );
        assert!(transports(&c, &[]).iter().all(|t| t.bound.is_none()));
    }

    #[test]
    fn unidentified_sources_with_a_period_that_ends() {
        let t0 = Instant::now();
        let source = |in_period, period_start| Unidentified {
            in_period,
            total: 7,
            period_start,
            last_seen: t0,
            last_account: "100".into(),
            reported: true,
        };
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let now = t0 + Duration::from_secs(3);
        let v = unidentified(
            vec![(ip, source(5, t0)), (ip, source(5, t0))],
            Duration::from_secs(5),
            now,
        );
        assert_eq!(
            v[0],
            UnidentifiedView {
                address: "203.0.113.9".into(),
                total: 7,
                in_period: 5,
                last_account: "100".into(),
                reported: true,
                last_seen_seconds_ago: 3,
            }
        );
        let v = unidentified(vec![(ip, source(5, t0))], Duration::from_secs(2), now);
        assert_eq!(v[0].in_period, 0);
    }

    #[test]
    fn seconds_round_up() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(seconds_until(now, now), 0);
        assert_eq!(seconds_until(now + Duration::from_nanos(1), now), 1);
        assert_eq!(seconds_until(now + Duration::from_secs(5), now), 5);
        assert_eq!(seconds_until(now - Duration::from_secs(5), now), 0);
    }
}
