//! The meaning of `pjsip.conf`: sections by `type=` (`transport`,
//! `endpoint`, `auth`, `aor`, `identify`, `system`, `global`,
//! `domain_alias`) turned into typed settings, with every problem reported
//! by file, line and option.
//!
//! A bad value for an option sipjet uses is an error. An option sipjet does
//! not use is a warning that names it: people bring configurations written
//! for Asterisk, and a load that fails on a media option they never meant
//! for sipjet helps nobody, while one that silently ignores it hides it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{ConfigFile, Location, RawOption, RawSection};
use super::options;
use super::value;
pub use crate::auth::digest::DigestAlgorithm;
use crate::identify::matcher::MatchItem;

/// A warning or an error about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where.
    pub at: Location,
    /// What, starting with the section and option it concerns.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// A loaded configuration and what was found wrong with it.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// The settings (meaningful when `errors` is empty).
    pub config: PjsipConfig,
    /// Options ignored, and similar notes.
    pub warnings: Vec<Diagnostic>,
    /// Faults that make the configuration unusable.
    pub errors: Vec<Diagnostic>,
}

impl LoadReport {
    /// True when the configuration can be used.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A SIP transport protocol as `protocol =` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportProtocol {
    /// `udp`
    Udp,
    /// `tcp`
    Tcp,
    /// `tls`
    Tls,
    /// `ws`
    Ws,
    /// `wss`
    Wss,
}

impl TransportProtocol {
    fn parse(v: &str) -> Result<TransportProtocol, String> {
        match v.to_ascii_lowercase().as_str() {
            "udp" => Ok(TransportProtocol::Udp),
            "tcp" => Ok(TransportProtocol::Tcp),
            "tls" => Ok(TransportProtocol::Tls),
            "ws" => Ok(TransportProtocol::Ws),
            "wss" => Ok(TransportProtocol::Wss),
            _ => Err(format!("{v:?} is not udp, tcp, tls, ws or wss")),
        }
    }

    /// The port a transport binds when `bind` names none.
    pub fn default_port(self) -> u16 {
        match self {
            TransportProtocol::Tls | TransportProtocol::Wss => 5061,
            _ => 5060,
        }
    }
}

/// `[name] type=transport`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `protocol` (default udp).
    pub protocol: TransportProtocol,
    /// `bind` (default 0.0.0.0 on the protocol's port).
    pub bind: SocketAddr,
    /// `cert_file` (TLS, WSS).
    pub cert_file: Option<PathBuf>,
    /// `priv_key_file` (TLS, WSS).
    pub priv_key_file: Option<PathBuf>,
    /// `ca_list_file`: CA certificates trusted, beside the system's, for
    /// every TLS and WSS connection the server opens (the files of all
    /// transports together). Unlike Asterisk, whose `verify_server`
    /// defaults to no, sipjet always checks the certificate and name of
    /// the server it connects to.
    pub ca_list_file: Option<PathBuf>,
    /// `allowed_origins` (sipjet's, for `ws` and `wss`): the origins of
    /// the web pages that may open a WebSocket; unset, any.
    pub allowed_origins: Option<Vec<String>>,
    /// `external_signaling_address`: the address written in Via and
    /// Contact when behind NAT.
    pub external_signaling_address: Option<String>,
    /// `external_signaling_port`.
    pub external_signaling_port: Option<u16>,
}

/// How an endpoint may be identified (`identify_by`,
/// `endpoint_identifier_order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyMethod {
    /// The user part of the From URI (`username`).
    Username,
    /// The username of the Authorization header (`auth_username`).
    AuthUsername,
    /// The source address, through `identify` sections (`ip`).
    Ip,
    /// A header named in an `identify` section (`header`).
    Header,
    /// The anonymous endpoint (`anonymous`, global order only).
    Anonymous,
}

impl IdentifyMethod {
    fn parse(v: &str) -> Result<IdentifyMethod, String> {
        match v.to_ascii_lowercase().as_str() {
            "username" => Ok(IdentifyMethod::Username),
            "auth_username" => Ok(IdentifyMethod::AuthUsername),
            "ip" => Ok(IdentifyMethod::Ip),
            "header" => Ok(IdentifyMethod::Header),
            "anonymous" => Ok(IdentifyMethod::Anonymous),
            _ => Err(format!(
                "{v:?} is not username, auth_username, ip, header or anonymous"
            )),
        }
    }
}

/// `[name] type=endpoint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConf {
    /// Section name: the endpoint's name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `aors`: the AORs this endpoint registers to and is reached at.
    pub aors: Vec<String>,
    /// `auth`: inbound authentication objects.
    pub auth: Vec<String>,
    /// `outbound_auth`: credentials for challenges this side receives.
    pub outbound_auth: Vec<String>,
    /// `transport`: the transport to send from.
    pub transport: Option<String>,
    /// Where each option naming another section (`aors`, `auth`,
    /// `outbound_auth`, `transport`) was written, so that a dangling
    /// reference is reported at its own line.
    pub references_at: Vec<(&'static str, Location)>,
    /// `context` (default `default`).
    pub context: String,
    /// `message_context`: where MESSAGE requests go (default: `context`).
    pub message_context: Option<String>,
    /// `identify_by` (default `username,ip`).
    pub identify_by: Vec<IdentifyMethod>,
    /// `from_user`.
    pub from_user: Option<String>,
    /// `from_domain`.
    pub from_domain: Option<String>,
    /// `callerid`.
    pub callerid: Option<String>,
    /// `force_rport` (default yes).
    pub force_rport: bool,
    /// `rewrite_contact` (default no).
    pub rewrite_contact: bool,
    /// `allow_unauthenticated_options` (default no).
    pub allow_unauthenticated_options: bool,
    /// `trust_id_inbound` (default no): its P-Asserted-Identity and
    /// Remote-Party-ID are passed on; otherwise they are removed.
    pub trust_id_inbound: bool,
}

/// `auth_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// `userpass`: a plain password.
    UserPass,
    /// `md5`: a stored MD5 HA1 (`md5_cred`).
    Md5,
    /// `digest`: per-algorithm stored hashes (`password_digest`) and/or a
    /// plain password (Asterisk 22).
    Digest,
}

/// `[name] type=auth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `auth_type` (default userpass).
    pub auth_type: AuthType,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: Option<String>,
    /// `md5_cred`: hex MD5 of `username:realm:password`.
    pub md5_cred: Option<String>,
    /// `password_digest = ALGORITHM:hexhash`, one per algorithm.
    pub password_digests: Vec<(DigestAlgorithm, String)>,
    /// `realm` (default: the global `default_realm`).
    pub realm: Option<String>,
    /// `nonce_lifetime` (default 32 s).
    pub nonce_lifetime: Duration,
    /// `supported_algorithms_uas` (default MD5): one challenge each.
    pub algorithms: Vec<DigestAlgorithm>,
}

/// `[name] type=aor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AorConf {
    /// Section name: the AOR's name (its user part).
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `contact`: static contacts.
    pub contacts: Vec<String>,
    /// `max_contacts` (default 0: no registrations accepted, as in Asterisk).
    pub max_contacts: u32,
    /// `remove_existing` (default no).
    pub remove_existing: bool,
    /// `minimum_expiration` (default 60 s).
    pub minimum_expiration: u32,
    /// `maximum_expiration` (default 7200 s).
    pub maximum_expiration: u32,
    /// `default_expiration` (default 3600 s).
    pub default_expiration: u32,
    /// `qualify_frequency` (default 0: never).
    pub qualify_frequency: u32,
    /// `qualify_timeout` (default 3 s).
    pub qualify_timeout: Duration,
    /// `authenticate_qualify` (default no).
    pub authenticate_qualify: bool,
    /// `support_path` (default no).
    pub support_path: bool,
}

/// `[name] type=identify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifyConf {
    /// Section name.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `endpoint`.
    pub endpoint: String,
    /// `match`: addresses, CIDR ranges and host names, in order.
    pub matches: Vec<(String, Location)>,
    /// `match_header`: `Name: value`.
    pub match_header: Option<String>,
}

/// `[name] type=domain_alias`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainAliasConf {
    /// Section name: the alias.
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `domain`: the domain it stands for.
    pub domain: String,
}

/// `type=system`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemConf {
    /// `timer_t1` (default 500 ms).
    pub timer_t1: Duration,
    /// `timer_b` (default 32000 ms).
    pub timer_b: Duration,
    /// `timer_c` (sipjet's own, default 181000 ms): how long a proxied
    /// INVITE may ring at one contact before it is cancelled (RFC 3261
    /// §16.6 step 11: more than 3 minutes; Kamailio's `fr_inv_timer`).
    pub timer_c: Duration,
    /// `compact_headers` (default no).
    pub compact_headers: bool,
    /// `threadpool_initial_size` (default 0).
    pub threadpool_initial_size: usize,
    /// `threadpool_auto_increment` (default 5).
    pub threadpool_auto_increment: usize,
    /// `threadpool_idle_timeout` (default 60 s).
    pub threadpool_idle_timeout: Duration,
    /// `threadpool_max_size` (default 50).
    pub threadpool_max_size: usize,
}

impl Default for SystemConf {
    fn default() -> Self {
        SystemConf {
            timer_t1: Duration::from_millis(500),
            timer_b: Duration::from_millis(32_000),
            timer_c: Duration::from_millis(181_000),
            compact_headers: false,
            threadpool_initial_size: 0,
            threadpool_auto_increment: 5,
            threadpool_idle_timeout: Duration::from_secs(60),
            threadpool_max_size: 50,
        }
    }
}

/// `type=global`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalConf {
    /// `max_forwards` (default 70).
    pub max_forwards: u8,
    /// `user_agent` (default `sipjet`).
    pub user_agent: String,
    /// `endpoint_identifier_order` (default `ip,username,anonymous`).
    pub endpoint_identifier_order: Vec<IdentifyMethod>,
    /// `default_realm` (default `sipjet`).
    pub default_realm: String,
    /// `keep_alive_interval` (default 90 s; 0 disables).
    pub keep_alive_interval: Duration,
    /// `unidentified_request_count` (default 5).
    pub unidentified_request_count: u32,
    /// `unidentified_request_period` (default 5 s).
    pub unidentified_request_period: Duration,
    /// `unidentified_request_prune_interval` (default 30 s).
    pub unidentified_request_prune_interval: Duration,
    /// `contact_expiration_check_interval` (default 30 s).
    pub contact_expiration_check_interval: Duration,
    /// `debug` (default no): log every message sent and received.
    pub debug: bool,
    /// `unauthenticated_server_options` (sipjet's own, default yes):
    /// OPTIONS addressed to the server itself (no user in the
    /// Request-URI) are answered without a challenge. They reveal only
    /// that the server is up, and monitors and phones send them to check
    /// exactly that.
    pub unauthenticated_server_options: bool,
}

impl Default for GlobalConf {
    fn default() -> Self {
        GlobalConf {
            max_forwards: 70,
            user_agent: "sipjet".into(),
            endpoint_identifier_order: vec![
                IdentifyMethod::Ip,
                IdentifyMethod::Username,
                IdentifyMethod::Anonymous,
            ],
            default_realm: "sipjet".into(),
            keep_alive_interval: Duration::from_secs(90),
            unidentified_request_count: 5,
            unidentified_request_period: Duration::from_secs(5),
            unidentified_request_prune_interval: Duration::from_secs(30),
            contact_expiration_check_interval: Duration::from_secs(30),
            debug: false,
            unauthenticated_server_options: true,
        }
    }
}

/// Every section of a `pjsip.conf`, typed.
#[derive(Clone, Debug, Default)]
pub struct PjsipConfig {
    /// `type=transport` sections.
    pub transports: Vec<TransportConf>,
    /// `type=endpoint` sections.
    pub endpoints: Vec<EndpointConf>,
    /// `type=auth` sections.
    pub auths: Vec<AuthConf>,
    /// `type=aor` sections.
    pub aors: Vec<AorConf>,
    /// `type=identify` sections.
    pub identifies: Vec<IdentifyConf>,
    /// `type=domain_alias` sections.
    pub domain_aliases: Vec<DomainAliasConf>,
    /// The `type=system` section (defaults when absent).
    pub system: SystemConf,
    /// The `type=global` section (defaults when absent).
    pub global: GlobalConf,
}

impl PjsipConfig {
    /// The endpoint of this name.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointConf> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// The auth of this name.
    pub fn auth(&self, name: &str) -> Option<&AuthConf> {
        self.auths.iter().find(|a| a.name == name)
    }

    /// The AOR of this name.
    pub fn aor(&self, name: &str) -> Option<&AorConf> {
        self.aors.iter().find(|a| a.name == name)
    }
}

/// Collects diagnostics while the sections are read.
struct Reader {
    warnings: Vec<Diagnostic>,
    errors: Vec<Diagnostic>,
}

impl Reader {
    fn error(&mut self, at: &Location, message: String) {
        self.errors.push(Diagnostic {
            at: at.clone(),
            message,
        });
    }

    fn warn(&mut self, at: &Location, message: String) {
        self.warnings.push(Diagnostic {
            at: at.clone(),
            message,
        });
    }

    /// Parses an option's value, recording a bad one as an error.
    fn value<T>(
        &mut self,
        section: &RawSection,
        opt: &RawOption,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&opt.value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(
                    &opt.at,
                    format!("[{}] option {}: {e}", section.name, opt.key),
                );
                None
            }
        }
    }

    /// Warns about identification methods sipjet does not have (`header`,
    /// `anonymous`): they are skipped.
    fn unsupported_identify_methods(
        &mut self,
        section: &RawSection,
        opt: &RawOption,
        methods: &[IdentifyMethod],
    ) {
        for m in methods {
            if matches!(m, IdentifyMethod::Header | IdentifyMethod::Anonymous) {
                self.warn(
                    &opt.at,
                    format!(
                        "[{}] option {}: {m:?} takes no effect: sipjet identifies by source address, From user and Authorization username",
                        section.name, opt.key
                    ),
                );
            }
        }
    }

    /// Looks `opt` of a `kind` section up in the option table: an unknown
    /// option is warned about and skipped (false); one that is parsed but
    /// takes no effect with this value is warned about, with the reason,
    /// and still parsed, so that a wrong value is an error.
    fn known(&mut self, kind: &str, section: &RawSection, opt: &RawOption) -> bool {
        let Some(spec) = options::spec(kind, &opt.key) else {
            self.warn(
                &opt.at,
                format!(
                    "[{}] {kind} option {} is not an option sipjet knows and is ignored",
                    section.name, opt.key
                ),
            );
            return false;
        };
        if let Some(why) = spec.effect.ignores(&opt.value) {
            let message = if spec.effect == options::Effect::Ignored(options::MEDIA_REASON) {
                format!(
                    "[{}] {kind} option {} is not supported by sipjet ({why}) and is ignored",
                    section.name, opt.key
                )
            } else {
                format!(
                    "[{}] {kind} option {} = {} takes no effect: {why}",
                    section.name, opt.key, opt.value
                )
            };
            self.warn(&opt.at, message);
        }
        true
    }
}

/// Loads and checks a `pjsip.conf` file.
pub fn load(path: &Path) -> LoadReport {
    match ConfigFile::load(path) {
        Ok(file) => from_file(&file),
        Err(e) => LoadReport {
            errors: vec![Diagnostic {
                at: e.at,
                message: e.message,
            }],
            ..LoadReport::default()
        },
    }
}

/// Checks a configuration held in memory (the built-in default, tests).
pub fn from_str(name: &str, text: &str) -> LoadReport {
    match ConfigFile::parse_str(name, text) {
        Ok(file) => from_file(&file),
        Err(e) => LoadReport {
            errors: vec![Diagnostic {
                at: e.at,
                message: e.message,
            }],
            ..LoadReport::default()
        },
    }
}

/// Types every section of a parsed file.
pub fn from_file(file: &ConfigFile) -> LoadReport {
    let mut r = Reader {
        warnings: file
            .warnings
            .iter()
            .map(|(at, m)| Diagnostic {
                at: at.clone(),
                message: m.clone(),
            })
            .collect(),
        errors: Vec::new(),
    };
    let sections = match file.resolved() {
        Ok(s) => s,
        Err(e) => {
            return LoadReport {
                errors: vec![Diagnostic {
                    at: e.at,
                    message: e.message,
                }],
                ..LoadReport::default()
            };
        }
    };
    let mut cfg = PjsipConfig::default();
    let mut seen_system = false;
    let mut seen_global = false;
    for s in &sections {
        let Some(kind) = s
            .options
            .iter()
            .rev()
            .find(|o| o.key == "type")
            .map(|o| o.value.to_ascii_lowercase())
        else {
            r.error(&s.at, format!("[{}] has no type= option", s.name));
            continue;
        };
        match kind.as_str() {
            "transport" => {
                if let Some(t) = transport(&mut r, s) {
                    cfg.transports.push(t);
                }
            }
            "endpoint" => {
                if let Some(e) = endpoint(&mut r, s) {
                    cfg.endpoints.push(e);
                }
            }
            "auth" => {
                if let Some(a) = auth(&mut r, s) {
                    cfg.auths.push(a);
                }
            }
            "aor" => cfg.aors.push(aor(&mut r, s)),
            "identify" => {
                if let Some(i) = identify(&mut r, s) {
                    cfg.identifies.push(i);
                }
            }
            "domain_alias" => {
                if let Some(d) = domain_alias(&mut r, s) {
                    cfg.domain_aliases.push(d);
                }
            }
            "system" => {
                if std::mem::replace(&mut seen_system, true) {
                    r.error(
                        &s.at,
                        format!("[{}] is a second type=system section", s.name),
                    );
                }
                cfg.system = system(&mut r, s);
            }
            "global" => {
                if std::mem::replace(&mut seen_global, true) {
                    r.error(
                        &s.at,
                        format!("[{}] is a second type=global section", s.name),
                    );
                }
                cfg.global = global(&mut r, s);
            }
            "registration"
            | "contact"
            | "phoneprov"
            | "resource_list"
            | "outbound-publish"
            | "inbound-publication"
            | "asterisk-publication"
            | "acl" => {
                r.warn(
                    &s.at,
                    format!(
                        "[{}] type={kind} is not supported by sipjet and is ignored",
                        s.name
                    ),
                );
            }
            other => r.error(
                &s.at,
                format!("[{}] type={other} is not a pjsip.conf section type", s.name),
            ),
        }
    }
    cross_check(&mut r, &cfg);
    LoadReport {
        config: cfg,
        warnings: r.warnings,
        errors: r.errors,
    }
}

fn transport(r: &mut Reader, s: &RawSection) -> Option<TransportConf> {
    let mut protocol = TransportProtocol::Udp;
    if let Some(o) = s.options.iter().rev().find(|o| o.key == "protocol") {
        protocol = r.value(s, o, TransportProtocol::parse)?;
    }
    let mut t = TransportConf {
        name: s.name.clone(),
        at: s.at.clone(),
        protocol,
        bind: SocketAddr::from(([0, 0, 0, 0], protocol.default_port())),
        cert_file: None,
        priv_key_file: None,
        ca_list_file: None,
        allowed_origins: None,
        external_signaling_address: None,
        external_signaling_port: None,
    };
    for o in &s.options {
        if !r.known("transport", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" | "protocol" => {}
            "bind" => {
                if let Some(b) = r.value(s, o, |v| value::bind_address(v, protocol.default_port()))
                {
                    t.bind = b;
                }
            }
            "cert_file" => t.cert_file = Some(PathBuf::from(&o.value)),
            "priv_key_file" => t.priv_key_file = Some(PathBuf::from(&o.value)),
            "ca_list_file" => t.ca_list_file = Some(PathBuf::from(&o.value)),
            "allowed_origins" => {
                if let Some(origins) = r.value(s, o, value::origins) {
                    t.allowed_origins = Some(origins);
                }
            }
            "verify_server" => {
                // Checked; the table warns when it asks for no checking.
                let _ = r.value(s, o, value::boolean);
            }
            "external_signaling_address" => t.external_signaling_address = Some(o.value.clone()),
            "external_signaling_port" => {
                t.external_signaling_port = r
                    .value(s, o, |v| value::number(v, 1, 65535))
                    .map(|p| p as u16);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if t.allowed_origins.is_some()
        && !matches!(protocol, TransportProtocol::Ws | TransportProtocol::Wss)
    {
        r.warn(
            &s.at,
            format!(
                "[{}] option allowed_origins takes no effect: only WebSocket transports (ws, wss) have origins",
                s.name
            ),
        );
    }
    if matches!(protocol, TransportProtocol::Tls | TransportProtocol::Wss)
        && (t.cert_file.is_none() || t.priv_key_file.is_none())
    {
        r.error(
            &s.at,
            format!(
                "[{}] a {protocol:?} transport needs cert_file and priv_key_file",
                s.name
            ),
        );
    }
    Some(t)
}

fn endpoint(r: &mut Reader, s: &RawSection) -> Option<EndpointConf> {
    let mut e = EndpointConf {
        name: s.name.clone(),
        at: s.at.clone(),
        aors: Vec::new(),
        auth: Vec::new(),
        outbound_auth: Vec::new(),
        transport: None,
        references_at: Vec::new(),
        context: "default".into(),
        message_context: None,
        identify_by: vec![IdentifyMethod::Username, IdentifyMethod::Ip],
        from_user: None,
        from_domain: None,
        callerid: None,
        force_rport: true,
        rewrite_contact: false,
        allow_unauthenticated_options: false,
        trust_id_inbound: false,
    };
    for o in &s.options {
        if !r.known("endpoint", s, o) {
            continue;
        }
        if let Some(key) = ["aors", "auth", "outbound_auth", "transport"]
            .into_iter()
            .find(|k| *k == o.key)
        {
            e.references_at.retain(|(k, _)| *k != key);
            e.references_at.push((key, o.at.clone()));
        }
        match o.key.as_str() {
            "type" => {}
            "aors" => e.aors = value::list(&o.value),
            "auth" => e.auth = value::list(&o.value),
            "outbound_auth" => e.outbound_auth = value::list(&o.value),
            "transport" => e.transport = Some(o.value.clone()),
            "context" => e.context = o.value.clone(),
            "message_context" => e.message_context = Some(o.value.clone()),
            "identify_by" => {
                let methods: Result<Vec<_>, _> = value::list(&o.value)
                    .iter()
                    .map(|m| IdentifyMethod::parse(m))
                    .collect();
                if let Some(m) = r.value(s, o, |_| methods) {
                    r.unsupported_identify_methods(s, o, &m);
                    e.identify_by = m;
                }
            }
            "from_user" => e.from_user = Some(o.value.clone()),
            "from_domain" => e.from_domain = Some(o.value.clone()),
            "callerid" => e.callerid = Some(o.value.clone()),
            "force_rport" => e.force_rport = r.value(s, o, value::boolean).unwrap_or(e.force_rport),
            "rewrite_contact" => {
                e.rewrite_contact = r.value(s, o, value::boolean).unwrap_or(e.rewrite_contact)
            }
            "allow_unauthenticated_options" => {
                e.allow_unauthenticated_options = r
                    .value(s, o, value::boolean)
                    .unwrap_or(e.allow_unauthenticated_options);
            }
            "trust_id_inbound" => {
                e.trust_id_inbound = r.value(s, o, value::boolean).unwrap_or(e.trust_id_inbound);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    Some(e)
}

fn auth(r: &mut Reader, s: &RawSection) -> Option<AuthConf> {
    let mut a = AuthConf {
        name: s.name.clone(),
        at: s.at.clone(),
        auth_type: AuthType::UserPass,
        username: String::new(),
        password: None,
        md5_cred: None,
        password_digests: Vec::new(),
        realm: None,
        nonce_lifetime: Duration::from_secs(32),
        algorithms: vec![DigestAlgorithm::Md5],
    };
    for o in &s.options {
        if !r.known("auth", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "auth_type" => {
                let t = r.value(s, o, |v| match v.to_ascii_lowercase().as_str() {
                    "userpass" => Ok(AuthType::UserPass),
                    "md5" => Ok(AuthType::Md5),
                    "digest" => Ok(AuthType::Digest),
                    other => Err(format!("{other:?} is not userpass, md5 or digest")),
                });
                if let Some(t) = t {
                    a.auth_type = t;
                }
            }
            "username" => a.username = o.value.clone(),
            "password" => a.password = Some(o.value.clone()),
            "md5_cred" => {
                a.md5_cred = r.value(s, o, |v| {
                    if v.len() == 32 && v.bytes().all(|c| c.is_ascii_hexdigit()) {
                        Ok(v.to_ascii_lowercase())
                    } else {
                        Err(format!("{v:?} is not 32 hexadecimal digits"))
                    }
                });
            }
            "password_digest" => {
                let d = r.value(s, o, |v| {
                    let (alg, hash) = v
                        .split_once(':')
                        .ok_or_else(|| format!("{v:?} is not ALGORITHM:hash"))?;
                    let alg = DigestAlgorithm::parse(alg)?;
                    let want = match alg {
                        DigestAlgorithm::Md5 => 32,
                        _ => 64,
                    };
                    if hash.len() != want || !hash.bytes().all(|c| c.is_ascii_hexdigit()) {
                        return Err(format!(
                            "the {} hash must be {want} hexadecimal digits",
                            alg.as_str()
                        ));
                    }
                    Ok((alg, hash.to_ascii_lowercase()))
                });
                a.password_digests.extend(d);
            }
            "realm" => a.realm = Some(o.value.clone()),
            "nonce_lifetime" => {
                if let Some(d) = r.value(s, o, |v| value::seconds(v, 1, 86_400)) {
                    a.nonce_lifetime = d;
                }
            }
            "supported_algorithms_uas" => {
                let algs: Result<Vec<_>, _> = value::list(&o.value)
                    .iter()
                    .map(|v| DigestAlgorithm::parse(v))
                    .collect();
                if let Some(algs) = r.value(s, o, |_| algs) {
                    if algs.is_empty() {
                        r.error(
                            &o.at,
                            format!("[{}] option supported_algorithms_uas is empty", s.name),
                        );
                    } else {
                        a.algorithms = algs;
                    }
                }
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if a.username.is_empty() {
        r.error(&s.at, format!("[{}] auth has no username", s.name));
    }
    let has_secret = match a.auth_type {
        AuthType::UserPass => a.password.is_some(),
        AuthType::Md5 => a.md5_cred.is_some(),
        AuthType::Digest => a.password.is_some() || !a.password_digests.is_empty(),
    };
    if !has_secret {
        let need = match a.auth_type {
            AuthType::UserPass => "password",
            AuthType::Md5 => "md5_cred",
            AuthType::Digest => "password or password_digest",
        };
        r.error(&s.at, format!("[{}] auth_type needs {need}", s.name));
    }
    if a.auth_type == AuthType::Md5 && a.algorithms.iter().any(|&x| x != DigestAlgorithm::Md5) {
        r.error(
            &s.at,
            format!(
                "[{}] auth_type=md5 stores an MD5 hash only, so it can only offer MD5",
                s.name
            ),
        );
    }
    Some(a)
}

fn aor(r: &mut Reader, s: &RawSection) -> AorConf {
    let mut a = AorConf {
        name: s.name.clone(),
        at: s.at.clone(),
        contacts: Vec::new(),
        max_contacts: 0,
        remove_existing: false,
        minimum_expiration: 60,
        maximum_expiration: 7200,
        default_expiration: 3600,
        qualify_frequency: 0,
        qualify_timeout: Duration::from_secs(3),
        authenticate_qualify: false,
        support_path: false,
    };
    let secs = |v: &str| value::number(v, 0, u64::from(u32::MAX)).map(|n| n as u32);
    for o in &s.options {
        if !r.known("aor", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "contact" => a.contacts.extend(value::list(&o.value)),
            "max_contacts" => a.max_contacts = r.value(s, o, secs).unwrap_or(a.max_contacts),
            "remove_existing" => {
                a.remove_existing = r.value(s, o, value::boolean).unwrap_or(a.remove_existing)
            }
            "minimum_expiration" => {
                a.minimum_expiration = r.value(s, o, secs).unwrap_or(a.minimum_expiration)
            }
            "maximum_expiration" => {
                a.maximum_expiration = r.value(s, o, secs).unwrap_or(a.maximum_expiration)
            }
            "default_expiration" => {
                a.default_expiration = r.value(s, o, secs).unwrap_or(a.default_expiration)
            }
            "qualify_frequency" => {
                a.qualify_frequency = r
                    .value(s, o, |v| value::number(v, 0, 86_400).map(|n| n as u32))
                    .unwrap_or(a.qualify_frequency)
            }
            "qualify_timeout" => {
                let t = r.value(s, o, |v| {
                    let secs: f64 = v
                        .parse()
                        .map_err(|_| format!("{v:?} is not a number of seconds"))?;
                    if (0.0..=86_400.0).contains(&secs) {
                        Ok(Duration::from_secs_f64(secs))
                    } else {
                        Err(format!("{v} is outside 0..=86400"))
                    }
                });
                a.qualify_timeout = t.unwrap_or(a.qualify_timeout);
            }
            "authenticate_qualify" => {
                a.authenticate_qualify = r
                    .value(s, o, value::boolean)
                    .unwrap_or(a.authenticate_qualify);
            }
            "support_path" => {
                a.support_path = r.value(s, o, value::boolean).unwrap_or(a.support_path)
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if a.minimum_expiration > a.maximum_expiration {
        r.error(
            &s.at,
            format!(
                "[{}] minimum_expiration {} is above maximum_expiration {}",
                s.name, a.minimum_expiration, a.maximum_expiration
            ),
        );
    }
    a
}

fn identify(r: &mut Reader, s: &RawSection) -> Option<IdentifyConf> {
    let mut i = IdentifyConf {
        name: s.name.clone(),
        at: s.at.clone(),
        endpoint: String::new(),
        matches: Vec::new(),
        match_header: None,
    };
    for o in &s.options {
        if !r.known("identify", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "endpoint" => i.endpoint = o.value.clone(),
            "match" => {
                let items = value::list(&o.value);
                let bad = items.iter().find_map(|m| MatchItem::parse(m).err());
                match bad {
                    Some(e) => r.error(&o.at, format!("[{}] option match: {e}", s.name)),
                    None => i
                        .matches
                        .extend(items.into_iter().map(|m| (m, o.at.clone()))),
                }
            }
            "match_header" => {
                let header = r.value(s, o, |v| {
                    v.split_once(':')
                        .map(|_| v.to_string())
                        .ok_or_else(|| format!("{v:?} is not Name: value"))
                });
                i.match_header = header.or(i.match_header.take());
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if i.endpoint.is_empty() {
        r.error(&s.at, format!("[{}] identify has no endpoint", s.name));
    }
    if i.matches.is_empty() && i.match_header.is_none() {
        r.error(
            &s.at,
            format!("[{}] identify has neither match nor match_header", s.name),
        );
    }
    Some(i)
}

fn domain_alias(r: &mut Reader, s: &RawSection) -> Option<DomainAliasConf> {
    let mut domain = None;
    for o in &s.options {
        if !r.known("domain_alias", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "domain" => domain = Some(o.value.clone()),
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    let Some(domain) = domain else {
        r.error(&s.at, format!("[{}] domain_alias has no domain", s.name));
        return None;
    };
    Some(DomainAliasConf {
        name: s.name.clone(),
        at: s.at.clone(),
        domain,
    })
}

fn system(r: &mut Reader, s: &RawSection) -> SystemConf {
    let mut c = SystemConf::default();
    let size = |v: &str| value::number(v, 0, 10_000).map(|n| n as usize);
    for o in &s.options {
        if !r.known("system", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "timer_t1" => {
                c.timer_t1 = r
                    .value(s, o, |v| value::millis(v, 100, 60_000))
                    .unwrap_or(c.timer_t1)
            }
            "timer_b" => {
                c.timer_b = r
                    .value(s, o, |v| value::millis(v, 500, 600_000))
                    .unwrap_or(c.timer_b)
            }
            "timer_c" => {
                c.timer_c = r
                    .value(s, o, |v| value::millis(v, 100, 3_600_000))
                    .unwrap_or(c.timer_c)
            }
            "compact_headers" => {
                c.compact_headers = r.value(s, o, value::boolean).unwrap_or(c.compact_headers)
            }
            "threadpool_initial_size" => {
                c.threadpool_initial_size =
                    r.value(s, o, size).unwrap_or(c.threadpool_initial_size);
            }
            "threadpool_auto_increment" => {
                c.threadpool_auto_increment =
                    r.value(s, o, size).unwrap_or(c.threadpool_auto_increment);
            }
            "threadpool_idle_timeout" => {
                c.threadpool_idle_timeout = r
                    .value(s, o, |v| value::seconds(v, 0, 86_400))
                    .unwrap_or(c.threadpool_idle_timeout);
            }
            "threadpool_max_size" => {
                c.threadpool_max_size = r
                    .value(s, o, |v| value::number(v, 1, 10_000).map(|n| n as usize))
                    .unwrap_or(c.threadpool_max_size);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if c.timer_b < c.timer_t1 * 2 {
        r.error(
            &s.at,
            format!("[{}] timer_b must be at least twice timer_t1", s.name),
        );
    }
    c
}

fn global(r: &mut Reader, s: &RawSection) -> GlobalConf {
    let mut g = GlobalConf::default();
    let secs = |v: &str| value::seconds(v, 0, 86_400);
    for o in &s.options {
        if !r.known("global", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "max_forwards" => {
                g.max_forwards = r
                    .value(s, o, |v| value::number(v, 1, 255).map(|n| n as u8))
                    .unwrap_or(g.max_forwards)
            }
            "user_agent" => g.user_agent = o.value.clone(),
            "endpoint_identifier_order" => {
                let m: Result<Vec<_>, _> = value::list(&o.value)
                    .iter()
                    .map(|m| IdentifyMethod::parse(m))
                    .collect();
                if let Some(m) = r.value(s, o, |_| m) {
                    r.unsupported_identify_methods(s, o, &m);
                    g.endpoint_identifier_order = m;
                }
            }
            "default_realm" => g.default_realm = o.value.clone(),
            "keep_alive_interval" => {
                g.keep_alive_interval = r.value(s, o, secs).unwrap_or(g.keep_alive_interval)
            }
            "unidentified_request_count" => {
                g.unidentified_request_count = r
                    .value(s, o, |v| value::number(v, 1, 1_000_000).map(|n| n as u32))
                    .unwrap_or(g.unidentified_request_count);
            }
            "unidentified_request_period" => {
                g.unidentified_request_period =
                    r.value(s, o, secs).unwrap_or(g.unidentified_request_period);
            }
            "unidentified_request_prune_interval" => {
                g.unidentified_request_prune_interval = r
                    .value(s, o, secs)
                    .unwrap_or(g.unidentified_request_prune_interval);
            }
            "contact_expiration_check_interval" => {
                g.contact_expiration_check_interval = r
                    .value(s, o, secs)
                    .unwrap_or(g.contact_expiration_check_interval);
            }
            "debug" => g.debug = r.value(s, o, value::boolean).unwrap_or(g.debug),
            "unauthenticated_server_options" => {
                g.unauthenticated_server_options = r
                    .value(s, o, value::boolean)
                    .unwrap_or(g.unauthenticated_server_options);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    g
}

/// References between sections, and duplicate names.
fn cross_check(r: &mut Reader, cfg: &PjsipConfig) {
    fn dupes<'a>(r: &mut Reader, kind: &str, items: impl Iterator<Item = (&'a str, &'a Location)>) {
        let mut seen: Vec<&str> = Vec::new();
        for (name, at) in items {
            if seen.contains(&name) {
                r.error(at, format!("[{name}] is a second {kind} of that name"));
            }
            seen.push(name);
        }
    }
    dupes(
        r,
        "endpoint",
        cfg.endpoints.iter().map(|e| (e.name.as_str(), &e.at)),
    );
    dupes(
        r,
        "auth",
        cfg.auths.iter().map(|a| (a.name.as_str(), &a.at)),
    );
    dupes(r, "aor", cfg.aors.iter().map(|a| (a.name.as_str(), &a.at)));
    dupes(
        r,
        "transport",
        cfg.transports.iter().map(|t| (t.name.as_str(), &t.at)),
    );
    for e in &cfg.endpoints {
        // At the option's line (which may be in a template), else the section's.
        let at = |key: &str| {
            e.references_at
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(&e.at, |(_, at)| at)
        };
        for (key, names) in [("auth", &e.auth), ("outbound_auth", &e.outbound_auth)] {
            for a in names.iter().filter(|a| cfg.auth(a).is_none()) {
                r.error(
                    at(key),
                    format!("[{}] option {key}: auth {a} does not exist", e.name),
                );
            }
        }
        for a in e.aors.iter().filter(|a| cfg.aor(a).is_none()) {
            r.error(
                at("aors"),
                format!("[{}] option aors: aor {a} does not exist", e.name),
            );
        }
        if let Some(t) = &e.transport
            && !cfg.transports.iter().any(|x| &x.name == t)
        {
            r.error(
                at("transport"),
                format!(
                    "[{}] option transport: transport {t} does not exist",
                    e.name
                ),
            );
        }
    }
    for i in &cfg.identifies {
        if !i.endpoint.is_empty() && cfg.endpoint(&i.endpoint).is_none() {
            r.error(
                &i.at,
                format!("[{}] endpoint {} does not exist", i.name, i.endpoint),
            );
        }
    }
    let mut binds: Vec<(TransportProtocol, SocketAddr)> = Vec::new();
    for t in &cfg.transports {
        let key = (t.protocol, t.bind);
        if binds.contains(&key) {
            r.error(
                &t.at,
                format!(
                    "[{}] binds {:?} {} like an earlier transport",
                    t.name, t.protocol, t.bind
                ),
            );
        }
        binds.push(key);
    }
}

#[cfg(test)]
mod tests;
