//! The server: a configuration turned into a running stack with the
//! built-in modules registered through the core's public API only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sipjet_core::{
    ExternalAddress, IdentifyMethod, ListenerConfig, PoolConfig, Protocol, SipStack, StackConfig,
    TimerConfig, TransportConfig,
    transport::{TapSlot, TlsClientConfig, TlsServerConfig, UdpOptions},
};

use crate::auth::nonce::SharedNonceCounts;
use crate::auth::{DigestAuthenticator, NonceClock};
use crate::capture::{self, Capture};
use crate::cluster::relay::FlowRelay;
use crate::cluster::{self, Cluster};
use crate::config::pjsip::{PjsipConfig, TransportConf};
use crate::dialplan::Dialplan;
use crate::identify::{ByAuthUsername, ByIp, ByUsername, CountUnidentified};
use crate::location::{LocationDb, LocationStore, MemoryStore, PgStore, SqliteStore};
use crate::model::Model;
use crate::modules::metrics::{MessageCounters, MessageMetrics};
use crate::modules::qualify::{self, ContactStatus};
use crate::modules::trunk::{BridgeHandle, Registrations, TrunkBridge, TrunkDialer};
use crate::modules::{
    CallLog, CallRouter, MessageRouter, OptionsResponder, Registrar, SenderIdentity, SipLogger,
};
use crate::security::UnidentifiedSources;

/// How often host names of `identify` sections are resolved again.
const IDENTIFY_REFRESH: Duration = Duration::from_secs(300);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A transport's certificate or key could not be loaded.
    #[error("transport [{name}] ({at}): {error}")]
    Tls {
        /// The transport section.
        name: String,
        /// Where it is configured.
        at: String,
        /// What failed.
        error: String,
    },
    /// The CA certificates trusted for outgoing TLS could not be loaded.
    #[error("ca_list_file: {0}")]
    TlsTrust(String),
    /// The stack could not start (a port in use, say).
    #[error("{0}")]
    Stack(#[from] sipjet_core::StackError),
    /// The HEP capture server cannot be resolved or reached.
    #[error("hep_server {server}: {error}")]
    Hep {
        /// As configured.
        server: String,
        /// What failed.
        error: String,
    },
    /// The location database could not be opened.
    #[error("location database {path}: {error}")]
    Location {
        /// The file or URL (its password hidden).
        path: String,
        /// What failed.
        error: crate::location::StoreError,
    },
}

/// Options that are not in pjsip.conf.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Log every SIP message from the start.
    pub sip_trace: bool,
    /// Replace every transport's bind address (tests bind port 0).
    pub bind_override: Option<SocketAddr>,
    /// Where registrations are kept; `None` keeps them in memory only.
    pub location_db: Option<LocationDb>,
    /// The clock the digest authenticator's nonces are issued and checked
    /// by (the system's by default).
    pub nonce_clock: NonceClock,
    /// The dialplan calls are routed by (`None`: every call goes to the
    /// AOR its Request-URI names).
    pub dialplan: Option<Arc<Dialplan>>,
    /// Who dials the dialplan's calls to trunks (`None`: the server's
    /// own bridge, [`TrunkBridge`]).
    pub trunk_dialer: Option<Arc<dyn TrunkDialer>>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("sip_trace", &self.sip_trace)
            .field("bind_override", &self.bind_override)
            .field("location_db", &self.location_db)
            .field("nonce_clock", &self.nonce_clock)
            .field("dialplan", &self.dialplan.is_some())
            .field("trunk_dialer", &self.trunk_dialer.is_some())
            .finish()
    }
}

/// A running server: the stack and what its modules share, which the
/// admin interface reads ([`crate::admin::start`]). Cloning it gives
/// another handle on the same server.
#[derive(Clone)]
pub struct Server {
    /// The stack.
    pub stack: SipStack,
    /// The configuration it runs.
    pub model: Arc<Model>,
    /// Sources that sent requests nobody could be identified for.
    pub unidentified: Arc<UnidentifiedSources>,
    /// The SIP logger's switch.
    pub sip_trace: Arc<AtomicBool>,
    /// The registrar's bindings.
    pub location: Arc<dyn LocationStore>,
    /// What qualify found of each contact.
    pub contact_status: Arc<ContactStatus>,
    /// Messages received and sent, for the admin interface's metrics.
    pub messages: Arc<MessageCounters>,
    /// The calls in progress and the recent ones.
    pub calls: Arc<CallLog>,
    /// The messages captured for the console.
    pub capture: Arc<Capture>,
    /// When it started.
    pub started: std::time::Instant,
    /// The outbound registrations (`type=registration`).
    pub registrations: Arc<Registrations>,
    /// Calls through trunks, and the dialer that places them.
    pub trunks: Arc<TrunkBridge>,
    /// The dialplan calls are routed by, if any.
    pub dialplan: Option<Arc<Dialplan>>,
    /// This node's name among the nodes sharing a location database
    /// (`node_id`, by default the host name).
    pub node_id: Arc<str>,
    /// This node and the others sharing its location database.
    pub cluster: Arc<Cluster>,
}

/// The node id when `node_id` is not set: the host name, if it is one
/// (see [`crate::config::value::node_id`]), else `sipjet`.
pub fn default_node_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|name| crate::config::value::node_id(name.trim()).ok())
        .unwrap_or_else(|| "sipjet".to_owned())
}

/// Where other nodes reach this one when `node_address` is not set: its
/// UDP transport, else its first transport that is not WebSocket (nodes
/// send to each other over UDP, TCP or TLS), as its Via names it.
fn default_node_address(stack: &SipStack) -> Option<String> {
    let transports = stack.transports()?;
    let protocols = [Protocol::Udp, Protocol::Tcp, Protocol::Tls];
    protocols.into_iter().find_map(|p| {
        let addr = transports.sent_by(p)?;
        let transport = match p {
            Protocol::Udp => "",
            Protocol::Tcp => ";transport=tcp",
            _ => ";transport=tls",
        };
        (!addr.ip().is_unspecified()).then(|| format!("sip:{addr}{transport}"))
    })
}

/// A location store, and the nonce-counts it shares with other nodes
/// when it is shared.
type Opened = (Arc<dyn LocationStore>, Option<Arc<dyn SharedNonceCounts>>);

/// Opens the location store `db` names.
fn open_location(db: &LocationDb) -> Result<Opened, ServerError> {
    let started = std::time::Instant::now();
    let failed = |error| ServerError::Location {
        path: db.to_string(),
        error,
    };
    let (store, counts): Opened = match db {
        LocationDb::Sqlite(path) => (Arc::new(SqliteStore::open(path).map_err(failed)?), None),
        LocationDb::Postgres(target) => {
            let store = Arc::new(PgStore::open(target).map_err(failed)?);
            (Arc::clone(&store) as _, Some(store as _))
        }
    };
    tracing::info!(location_db = %db, bindings = store.len(), elapsed = ?started.elapsed(), "location database loaded");
    Ok((store, counts))
}

fn listener(
    t: &TransportConf,
    bind_override: Option<SocketAddr>,
) -> Result<ListenerConfig, ServerError> {
    let mut l = ListenerConfig::new(t.protocol, bind_override.unwrap_or(t.bind));
    l.allowed_origins = t.allowed_origins.clone();
    if t.protocol.is_secure() {
        let (Some(cert), Some(key)) = (&t.cert_file, &t.priv_key_file) else {
            return Err(ServerError::Tls {
                name: t.name.clone(),
                at: t.at.to_string(),
                error: "cert_file and priv_key_file are required".into(),
            });
        };
        let tls = TlsServerConfig::from_pem_files(cert, key).map_err(|e| ServerError::Tls {
            name: t.name.clone(),
            at: t.at.to_string(),
            error: e.to_string(),
        })?;
        l.tls = Some(tls);
    }
    Ok(l)
}

/// The trust for connections the server opens over TLS and WSS (to reach
/// a contact whose connection has closed, to qualify one): the system's
/// CA certificates and those of every transport's `ca_list_file`. The
/// peer's certificate chain and name are always checked.
fn tls_client(config: &PjsipConfig) -> Result<TlsClientConfig, ServerError> {
    let ca_files: Vec<&std::path::Path> = config
        .transports
        .iter()
        .filter_map(|t| t.ca_list_file.as_deref())
        .collect();
    TlsClientConfig::with_system_roots(&ca_files).map_err(|e| ServerError::TlsTrust(e.to_string()))
}

/// The stack configuration a pjsip.conf describes.
pub fn stack_config(
    config: &PjsipConfig,
    options: &ServerOptions,
) -> Result<StackConfig, ServerError> {
    let listeners = config
        .transports
        .iter()
        .map(|t| listener(t, options.bind_override))
        .collect::<Result<Vec<_>, _>>()?;
    let mut timers = TimerConfig::with_t1(config.system.timer_t1);
    timers.timer_b = config.system.timer_b;
    let keepalive = config.global.keep_alive_interval;
    Ok(StackConfig {
        pool: PoolConfig {
            initial_size: config.system.threadpool_initial_size,
            auto_increment: config.system.threadpool_auto_increment,
            idle_timeout: config.system.threadpool_idle_timeout,
            max_size: config.system.threadpool_max_size,
        },
        timers,
        transport: TransportConfig {
            listeners,
            tls_client: Some(tls_client(config)?),
            keepalive_interval: (!keepalive.is_zero()).then_some(keepalive),
            udp: UdpOptions {
                // One per core: requests are handled where they are
                // received, so one receiver alone is one core's worth.
                receivers_per_socket: std::thread::available_parallelism().map_or(1, |n| n.get()),
                ..UdpOptions::default()
            },
            ..TransportConfig::default()
        },
        user_agent: Some(config.global.user_agent.clone()),
        max_forwards: config.global.max_forwards,
        external: config
            .transports
            .iter()
            .filter_map(|t| {
                let ip = t.external_signaling_address?;
                Some(ExternalAddress {
                    protocol: t.protocol,
                    addr: SocketAddr::new(ip, t.external_signaling_port.unwrap_or(t.bind.port())),
                    local_nets: t.local_net.clone(),
                })
            })
            .collect(),
        ..StackConfig::default()
    })
}

/// Forgets quiet unidentified sources every prune interval (at least
/// every second), so that requests never pay for it. Ends with the
/// server: it holds the table weakly.
fn prune_unidentified(sources: &Arc<UnidentifiedSources>) {
    let every = sources.prune_interval().max(Duration::from_secs(1));
    let sources = Arc::downgrade(sources);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(sources) = sources.upgrade() else {
                return;
            };
            sources.prune(std::time::Instant::now());
        }
    });
}

/// Removes expired bindings every `every`, off the async threads.
fn prune_expired(store: Arc<dyn LocationStore>, every: Duration) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let store = Arc::clone(&store);
            let pruned =
                tokio::task::spawn_blocking(move || store.prune(std::time::SystemTime::now()))
                    .await;
            match pruned {
                Ok(Ok(n)) if n > 0 => tracing::debug!(bindings = n, "expired bindings removed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot remove expired bindings"),
                _ => {}
            }
        }
    });
}

/// The exporter to `server` (`HOST:PORT`, resolved once, now).
async fn hep_exporter(
    server: &str,
    capture_id: u32,
) -> Result<capture::hep::HepExporter, ServerError> {
    let failed = |error: String| ServerError::Hep {
        server: server.to_string(),
        error,
    };
    let addr = tokio::net::lookup_host(server)
        .await
        .map_err(|e| failed(e.to_string()))?
        .next()
        .ok_or_else(|| failed("no address".into()))?;
    capture::hep::HepExporter::start(addr, capture_id)
        .await
        .map_err(|e| failed(e.to_string()))
}

impl Server {
    /// Builds the stack, registers the modules, starts listening.
    pub async fn start(model: Arc<Model>, options: ServerOptions) -> Result<Server, ServerError> {
        let (location, nonce_counts): Opened = match &options.location_db {
            // Blocks this thread while every binding loads: at start only,
            // before anything else runs.
            Some(db) => open_location(db)?,
            None => (Arc::new(MemoryStore::new()), None),
        };
        let global = &model.config.global;
        let hep = match &global.hep_server {
            Some(server) => Some(hep_exporter(server, global.hep_capture_id).await?),
            None => None,
        };
        let capture = Arc::new(Capture::new(
            usize::try_from(global.capture_buffer_mib).unwrap_or(0) << 20,
            hep,
        ));
        let mut config = stack_config(&model.config, &options)?;
        config.transport.tap = TapSlot(capture::tap_of(&capture));
        let stack = SipStack::new(config);
        if nonce_counts.is_some() && model.config.global.cluster_secret.is_none() {
            tracing::warn!("{}", crate::config::pjsip::NO_CLUSTER_SECRET);
        }
        let node_id: Arc<str> = model
            .config
            .global
            .node_id
            .clone()
            .unwrap_or_else(default_node_id)
            .into();
        let cluster = Arc::new(Cluster::new(
            Arc::clone(&node_id),
            global.node_heartbeat_interval,
            global.cluster_secret.as_deref(),
        ));
        let unidentified = Arc::new(UnidentifiedSources::new(
            global.unidentified_request_count,
            global.unidentified_request_period,
            global.unidentified_request_prune_interval,
        ));
        prune_unidentified(&unidentified);
        // Identifiers in the configured order; the counter of unidentified
        // sources last.
        for method in &global.endpoint_identifier_order {
            match method {
                IdentifyMethod::Username => {
                    let _ = stack.register_endpoint_identifier(Arc::new(ByUsername::new(
                        Arc::clone(&model),
                    )));
                }
                IdentifyMethod::AuthUsername => {
                    let _ = stack.register_endpoint_identifier(Arc::new(ByAuthUsername::new(
                        Arc::clone(&model),
                    )));
                }
                IdentifyMethod::Ip => {
                    let by_ip = Arc::new(ByIp::new(Arc::clone(&model)));
                    by_ip.resolve_hosts(IDENTIFY_REFRESH).await;
                    let _ = stack.register_endpoint_identifier(by_ip);
                }
                IdentifyMethod::Header => {
                    tracing::warn!(
                        ?method,
                        "endpoint_identifier_order: this method is not supported and is skipped"
                    );
                }
            }
        }
        let _ = stack.register_endpoint_identifier(Arc::new(CountUnidentified::new(Arc::clone(
            &unidentified,
        ))));
        let _ = stack.register_authenticator(Arc::new(DigestAuthenticator::with_counts(
            Arc::clone(&model),
            options.nonce_clock.clone(),
            nonce_counts,
        )));
        let messages = Arc::new(MessageCounters::new());
        let _ = stack.register_service(Arc::new(MessageMetrics::new(Arc::clone(&messages))));
        let sip_trace = Arc::new(AtomicBool::new(options.sip_trace || global.debug));
        let _ = stack.register_service(Arc::new(SipLogger::new(Arc::clone(&sip_trace))));
        if !model.config.acls.is_empty() {
            let _ = stack.register_service(Arc::new(crate::modules::acl::AclFilter::new(
                model.config.acls.clone(),
            )));
        }
        let _ = stack.register_service(Arc::new(SenderIdentity::new(&model)));
        let _ = stack.register_service(Arc::new(OptionsResponder::new(Arc::clone(&model))));
        let _ = stack.register_service(Arc::new(Registrar::new(
            Arc::clone(&model),
            Arc::clone(&location),
            Arc::clone(&node_id),
        )));
        let _ = stack.register_service(Arc::new(MessageRouter::new(
            Arc::clone(&model),
            Arc::clone(&location),
            Arc::clone(&cluster),
        )));
        let proxy_timers = sipjet_core::ContextTimers {
            timer_c: model.config.system.timer_c,
            // RFC 3261 §9.1: 64×T1 for a cancelled branch's answer.
            cancel_wait: model.config.system.timer_t1 * 64,
        };
        let _ =
            stack.register_service(Arc::new(FlowRelay::new(Arc::clone(&cluster), proxy_timers)));
        let trunks = TrunkBridge::new(
            Arc::clone(&model),
            stack.clone(),
            tokio::runtime::Handle::current(),
        );
        let _ = stack.register_service(Arc::new(BridgeHandle(Arc::downgrade(&trunks))));
        let calls = Arc::new(CallLog::default());
        let router = CallRouter::new(
            Arc::clone(&model),
            Arc::clone(&location),
            Arc::clone(&cluster),
            sipjet_core::ProxyOptions {
                record_route: true,
                timers: proxy_timers,
            },
            Arc::clone(&calls),
        );
        let router = match &options.dialplan {
            Some(plan) => {
                let dialer = options
                    .trunk_dialer
                    .clone()
                    .unwrap_or_else(|| Arc::new(BridgeHandle(Arc::downgrade(&trunks))));
                router.with_dialplan(Arc::clone(plan), Some(dialer))
            }
            None => router,
        };
        let _ = stack.register_service(Arc::new(router));
        stack.start().await?;
        prune_expired(
            Arc::clone(&location),
            global.contact_expiration_check_interval,
        );
        let contact_status = Arc::new(ContactStatus::default());
        qualify::start(
            stack.clone(),
            Arc::clone(&model),
            Arc::clone(&location),
            Arc::clone(&contact_status),
            Arc::clone(&node_id),
        );
        let registrations = Registrations::start(&stack, &model.config);
        for (protocol, addr) in stack
            .transports()
            .map(|t| t.local_addrs())
            .unwrap_or_default()
        {
            tracing::info!(%protocol, %addr, "listening");
        }
        if let Some(address) = global
            .node_address
            .clone()
            .or_else(|| default_node_address(&stack))
        {
            cluster.set_address(address);
        }
        cluster::heartbeat(&cluster, Arc::clone(&location));
        Ok(Server {
            stack,
            model,
            unidentified,
            sip_trace,
            location,
            contact_status,
            messages,
            calls,
            capture,
            started: std::time::Instant::now(),
            registrations,
            trunks,
            dialplan: options.dialplan.clone(),
            node_id,
            cluster,
        })
    }

    /// Removes the outbound registrations' bindings (waiting at most 2 s
    /// for the registrars), stops taking requests, finishes queued work
    /// (at most 5 s), closes.
    pub async fn shutdown(&self) {
        self.registrations
            .unregister_all(&self.stack, Duration::from_secs(2))
            .await;
        self.stack.shutdown(Duration::from_secs(5)).await;
    }
}
