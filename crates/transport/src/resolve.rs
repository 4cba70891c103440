//! RFC 3263 §4: from a SIP or SIPS URI to the destinations to try, in
//! order: NAPTR for the transport, SRV for the port, A and AAAA for the
//! address. Lookups go through hickory's asynchronous resolver, so a
//! tokio worker never blocks on DNS.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::ResolveError;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, NameServerConfigGroup, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol as DnsProtocol;
use rand::Rng;
use sipjet_message::{Host, SipUri};

use crate::error::TransportError;
use crate::flow::Destination;
use crate::protocol::Protocol;

/// An RFC 3263 resolver.
#[derive(Clone)]
pub struct Resolver {
    dns: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("name_servers", &self.dns.config().name_servers())
            .finish()
    }
}

/// One SRV record.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Srv {
    priority: u16,
    weight: u16,
    port: u16,
    target: String,
}

impl Resolver {
    /// Uses the system's resolver configuration (`/etc/resolv.conf`) and
    /// hosts file.
    pub fn from_system() -> Result<Resolver, TransportError> {
        let mut builder = TokioResolver::builder_tokio()
            .map_err(|e| TransportError::ResolverConfig(e.to_string()))?;
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        Ok(Resolver {
            dns: builder.build(),
        })
    }

    /// Asks these name servers only (over UDP, and TCP for truncated
    /// answers), without the hosts file.
    pub fn with_name_servers(servers: &[SocketAddr]) -> Resolver {
        let mut group = NameServerConfigGroup::with_capacity(2 * servers.len());
        for &addr in servers {
            group.push(NameServerConfig::new(addr, DnsProtocol::Udp));
            group.push(NameServerConfig::new(addr, DnsProtocol::Tcp));
        }
        let config = ResolverConfig::from_parts(None, Vec::new(), group);
        let mut opts = ResolverOpts::default();
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.use_hosts_file = ResolveHosts::Never;
        let dns = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            .with_options(opts)
            .build();
        Resolver { dns }
    }

    /// The destinations for a request to `uri`, best first (RFC 3263 §4):
    ///
    /// - the transport is the `transport` parameter's (over TLS for a
    ///   SIPS URI), else chosen by NAPTR, else UDP (TLS for SIPS);
    /// - the target is `maddr`, else the host; an IP address is used as
    ///   is, with the URI's port or the transport's default;
    /// - a name with a port is looked up in A and AAAA only;
    /// - a name without a port: NAPTR (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`,
    ///   `SIP+D2W`, `SIPS+D2W`, by order and preference) then SRV for each;
    ///   without NAPTR, SRV for the transport(s) (`_sip._udp`, `_sip._tcp`,
    ///   `_sips._tcp`, `_sip._ws`, `_sips._ws`); SRV records by priority
    ///   and weight (RFC 2782); without SRV, A and AAAA on the default
    ///   port.
    ///
    /// Destinations found by name carry the URI's host as TLS server
    /// name (RFC 5922 §4: the certificate is checked against the domain
    /// of the URI, not the SRV target).
    pub async fn resolve(&self, uri: &SipUri<'_>) -> Result<Vec<Destination>, TransportError> {
        let unresolvable = |reason: String| TransportError::Unresolvable {
            target: uri.as_str().to_string(),
            reason,
        };
        let target = match uri.maddr() {
            Some(m) => Host::parse(m).map_err(|e| unresolvable(format!("maddr: {e}")))?,
            None => uri.host,
        };
        let explicit = match uri.transport() {
            Some(t) => Some(explicit_transport(t, uri.secure).map_err(unresolvable)?),
            None => None,
        };
        let default_protocol = explicit.unwrap_or(if uri.secure {
            Protocol::Tls
        } else {
            Protocol::Udp
        });
        let name = match target {
            Host::Domain(name) => name,
            ip => {
                let ip = ip.ip().ok_or_else(|| unresolvable("no address".into()))?;
                let port = uri.port.unwrap_or(default_protocol.default_port());
                return Ok(vec![Destination::new(
                    default_protocol,
                    SocketAddr::new(ip, port),
                )]);
            }
        };
        let server_name = name.trim_end_matches('.').to_string();
        let with_name = |protocol: Protocol, ip: IpAddr, port: u16| {
            Destination::new(protocol, SocketAddr::new(ip, port))
                .with_server_name(server_name.clone())
        };

        if let Some(port) = uri.port {
            let ips = self.addresses(name).await?;
            return Ok(ips
                .into_iter()
                .map(|ip| with_name(default_protocol, ip, port))
                .collect());
        }

        if explicit.is_none() {
            let mut found = Vec::new();
            for (protocol, replacement) in self.naptr(name, uri.secure).await {
                for (ip, port) in self.srv_addresses(&replacement).await {
                    found.push(with_name(protocol, ip, port));
                }
            }
            if !found.is_empty() {
                return Ok(dedup(found));
            }
        }

        let candidates: Vec<Protocol> = match explicit {
            Some(p) => vec![p],
            None if uri.secure => vec![Protocol::Tls],
            None => vec![Protocol::Udp, Protocol::Tcp],
        };
        let mut found = Vec::new();
        for protocol in candidates {
            let srv_name = format!("{}.{}", srv_prefix(protocol), fqdn(name));
            for (ip, port) in self.srv_addresses(&srv_name).await {
                found.push(with_name(protocol, ip, port));
            }
        }
        if !found.is_empty() {
            return Ok(dedup(found));
        }

        let ips = self.addresses(name).await?;
        Ok(ips
            .into_iter()
            .map(|ip| with_name(default_protocol, ip, default_protocol.default_port()))
            .collect())
    }

    /// The usable NAPTR services of `name`, in order and preference.
    async fn naptr(&self, name: &str, secure: bool) -> Vec<(Protocol, String)> {
        let lookup = match self.dns.lookup(fqdn(name), RecordType::NAPTR).await {
            Ok(lookup) => lookup,
            Err(e) => {
                log_empty("NAPTR", name, &e);
                return Vec::new();
            }
        };
        let mut records: Vec<(u16, u16, Protocol, String)> = lookup
            .iter()
            .filter_map(|rdata| match rdata {
                RData::NAPTR(n) => {
                    let protocol = naptr_service(n.services(), secure)?;
                    n.flags().eq_ignore_ascii_case(b"s").then(|| {
                        (
                            n.order(),
                            n.preference(),
                            protocol,
                            n.replacement().to_ascii(),
                        )
                    })
                }
                _ => None,
            })
            .collect();
        records.sort_by_key(|r| (r.0, r.1));
        records.into_iter().map(|(_, _, p, r)| (p, r)).collect()
    }

    /// The addresses and ports of an SRV name, in RFC 2782 order.
    async fn srv_addresses(&self, srv_name: &str) -> Vec<(IpAddr, u16)> {
        let lookup = match self.dns.srv_lookup(fqdn(srv_name)).await {
            Ok(lookup) => lookup,
            Err(e) => {
                log_empty("SRV", srv_name, &e);
                return Vec::new();
            }
        };
        let records = lookup
            .iter()
            .map(|s| Srv {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_ascii(),
            })
            // A target of "." means the service is not offered there.
            .filter(|s| s.target != ".")
            .collect();
        let mut out = Vec::new();
        // Ordered before the loop: a generator held across an await would
        // make the future unusable from other threads.
        let ordered = order_srv(records, &mut rand::rng());
        for srv in ordered {
            match self.addresses(&srv.target).await {
                Ok(ips) => out.extend(ips.into_iter().map(|ip| (ip, srv.port))),
                Err(e) => {
                    tracing::debug!(target = %srv.target, error = %e, "SRV target has no address")
                }
            }
        }
        out
    }

    /// The A and AAAA addresses of `name`, IPv4 first.
    async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, TransportError> {
        match self.dns.lookup_ip(fqdn(name)).await {
            Ok(lookup) => {
                // A and AAAA are queried together and merged in the order
                // they answer; IPv4 first makes the order stable.
                let mut ips: Vec<IpAddr> = lookup.iter().collect();
                ips.sort_by_key(IpAddr::is_ipv6);
                Ok(ips)
            }
            Err(e) if e.is_no_records_found() => Err(TransportError::Unresolvable {
                target: name.trim_end_matches('.').to_string(),
                reason: "no A or AAAA record".into(),
            }),
            Err(e) => Err(TransportError::Dns {
                record: "A/AAAA",
                name: name.to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// Names in SIP URIs are absolute; the trailing dot keeps search domains
/// out of the lookup.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn log_empty(record: &str, name: &str, e: &ResolveError) {
    if e.is_no_records_found() {
        tracing::debug!(record, name, "no records");
    } else {
        tracing::warn!(record, name, error = %e, "DNS query failed; trying the next step");
    }
}

/// The transport of a `transport` parameter; a SIPS URI asks for its
/// secure form (RFC 3261 §26.2.2: `sips:...;transport=tcp` is TLS).
fn explicit_transport(param: &str, secure: bool) -> Result<Protocol, String> {
    let protocol = Protocol::from_via_name(param)
        .ok_or_else(|| format!("transport {param:?} is not supported"))?;
    if !secure {
        return Ok(protocol);
    }
    match protocol {
        Protocol::Tcp | Protocol::Tls => Ok(Protocol::Tls),
        Protocol::Ws | Protocol::Wss => Ok(Protocol::Wss),
        Protocol::Udp => Err("a SIPS URI cannot use UDP".into()),
    }
}

/// The protocol a NAPTR service field names, among those usable for the
/// URI (only secure ones for SIPS).
fn naptr_service(services: &[u8], secure: bool) -> Option<Protocol> {
    let protocol = [
        (&b"SIP+D2U"[..], Protocol::Udp),
        (b"SIP+D2T", Protocol::Tcp),
        (b"SIPS+D2T", Protocol::Tls),
        (b"SIP+D2W", Protocol::Ws),
        (b"SIPS+D2W", Protocol::Wss),
    ]
    .into_iter()
    .find(|(s, _)| s.eq_ignore_ascii_case(services))
    .map(|(_, p)| p)?;
    (!secure || protocol.is_secure()).then_some(protocol)
}

/// The SRV service and protocol labels of a transport.
fn srv_prefix(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Udp => "_sip._udp",
        Protocol::Tcp => "_sip._tcp",
        Protocol::Tls => "_sips._tcp",
        Protocol::Ws => "_sip._ws",
        Protocol::Wss => "_sips._ws",
    }
}

/// RFC 2782 order: lowest priority first; within a priority, a weighted
/// random order in which a record of weight w is picked next with
/// probability w / (sum of the weights left), zero-weight records last in
/// practice but still reachable.
fn order_srv(mut records: Vec<Srv>, rng: &mut impl Rng) -> Vec<Srv> {
    records.sort_by_key(|s| s.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|s| s.priority == first.priority)
            .count();
        let mut group: Vec<Srv> = rest[..same].to_vec();
        // Zero weights first, as RFC 2782 says, so that the running sum
        // gives them a chance only when the draw is 0.
        group.sort_by_key(|s| s.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|s| u32::from(s.weight)).sum();
            let draw = rng.random_range(0..=total);
            let mut running = 0;
            let pick = group
                .iter()
                .position(|s| {
                    running += u32::from(s.weight);
                    running >= draw
                })
                .unwrap_or(0);
            out.push(group.remove(pick));
        }
        rest = &rest[same..];
    }
    out
}

fn dedup(found: Vec<Destination>) -> Vec<Destination> {
    let mut out: Vec<Destination> = Vec::with_capacity(found.len());
    for d in found {
        if !out
            .iter()
            .any(|o| o.protocol == d.protocol && o.addr == d.addr)
        {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Resolution runs on any runtime thread: its future must be Send.
    #[test]
    fn resolving_is_send() {
        fn send<T: Send>(_: T) {}
        let r = Resolver::with_name_servers(&[]);
        let uri = sipjet_message::Uri::parse("sip:example.com").unwrap();
        if let sipjet_message::Uri::Sip(sip) = uri {
            send(r.resolve(&sip));
        }
    }

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        }
    }

    #[test]
    fn srv_priority_orders_and_weights_share() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut heavy_first = 0;
        for _ in 0..1000 {
            let ordered = order_srv(
                vec![
                    srv(20, 0, "backup"),
                    srv(10, 90, "heavy"),
                    srv(10, 10, "light"),
                ],
                &mut rng,
            );
            let targets: Vec<&str> = ordered.iter().map(|s| s.target.as_str()).collect();
            assert_eq!(targets.len(), 3);
            assert_eq!(targets[2], "backup");
            if targets[0] == "heavy" {
                heavy_first += 1;
            }
        }
        // 90 against 10: the heavy record leads about nine times in ten.
        assert!((800..=980).contains(&heavy_first), "{heavy_first}");
    }

    #[test]
    fn zero_weights_are_still_ordered() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let ordered = order_srv(vec![srv(1, 0, "a"), srv(1, 0, "b")], &mut rng);
        assert_eq!(ordered.len(), 2);
    }

    #[test]
    fn naptr_services() {
        assert_eq!(naptr_service(b"SIP+D2U", false), Some(Protocol::Udp));
        assert_eq!(naptr_service(b"sips+d2t", false), Some(Protocol::Tls));
        assert_eq!(naptr_service(b"SIP+D2W", false), Some(Protocol::Ws));
        assert_eq!(naptr_service(b"SIPS+D2W", true), Some(Protocol::Wss));
        assert_eq!(naptr_service(b"SIP+D2T", true), None);
        assert_eq!(naptr_service(b"SIP+D2S", false), None);
        assert_eq!(naptr_service(b"E2U+sip", false), None);
    }

    #[test]
    fn transport_parameter() {
        assert_eq!(explicit_transport("tcp", false), Ok(Protocol::Tcp));
        assert_eq!(explicit_transport("TCP", true), Ok(Protocol::Tls));
        assert_eq!(explicit_transport("ws", true), Ok(Protocol::Wss));
        assert!(explicit_transport("udp", true).is_err());
        assert_eq!(
            explicit_transport("sctp", false),
            Err("transport \"sctp\" is not supported".to_string())
        );
    }
}
