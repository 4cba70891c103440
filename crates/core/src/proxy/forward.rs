//! A stateful proxy's request processing, sans-IO: what RFC 3261 §16.3
//! (validation), §16.4 (Route information preprocessing) and §16.6
//! (request forwarding) do to a request, as plain functions on messages.
//! Nothing here sends or resolves: [`forward_request`] returns the request
//! to send and the URI of its next hop, and the caller sends it.
//!
//! - [`preprocess_routes`]: a Request-URI that is one of this proxy's
//!   Record-Route URIs (a strict router upstream) is replaced by the last
//!   Route; the Route values naming this proxy are taken off the top.
//! - [`check`]: Max-Forwards 0 is `483`; a Via of this proxy whose branch
//!   carries the request's loop hash is `482` (§16.3 step 4).
//! - [`forward_request`]: the Request-URI of the target, Max-Forwards one
//!   less, Record-Route (two of them when the request leaves on another
//!   transport or address than it came in on, RFC 5658), the target's
//!   Path as pre-loaded Route (RFC 3327), a strict router's Route rewrite
//!   (§16.6 step 6), and this proxy's Via with a branch that carries the
//!   loop hash (§16.6 step 8).

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;

use sipjet_message::{BuildError, HeaderName, Message, SipUri, Uri, generate};
use sipjet_transport::{Destination, Protocol};

use crate::dialog::routing;

/// The start of every branch this proxy writes, after the RFC 3261 magic
/// cookie: what tells its own Vias apart in a looping request.
const BRANCH_MARK: &str = "z9hG4bKsjp";

/// The URI parameter of this proxy's Record-Route entries that carries
/// the dialog's route token (see [`RouteTokens`]).
pub const TOKEN_PARAM: &str = "sjr";

/// The URI parameters of this proxy's Record-Route entries that carry the
/// flows of the caller and of the callee (see [`RouteStamp`]).
const CALLER_PARAM: &str = "sjc";
const CALLEE_PARAM: &str = "sje";

/// Why a request is not forwarded; [`Refusal::status`] is the answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Max-Forwards reached 0 (§16.3 step 3).
    #[error("Max-Forwards is 0")]
    TooManyHops,
    /// The request came back to this proxy unchanged (§16.3 step 4).
    #[error("the request loops back to this proxy")]
    LoopDetected,
    /// The Request-URI is not a SIP, SIPS or tel URI (§16.3 step 2).
    #[error("the Request-URI scheme is not supported")]
    UnsupportedScheme,
    /// A header the proxy must read does not parse.
    #[error("{0}")]
    Malformed(String),
}

impl Refusal {
    /// The status code the request is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::TooManyHops => 483,
            Refusal::LoopDetected => 482,
            Refusal::UnsupportedScheme => 416,
            Refusal::Malformed(_) => 400,
        }
    }
}

/// One address the proxy listens on, as the requests it forwards name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The transport.
    pub protocol: Protocol,
    /// The address it is reached at.
    pub addr: SocketAddr,
}

impl Interface {
    /// A Record-Route value naming this interface, loose-routing, with the
    /// dialog's stamp.
    fn record_route(&self, stamp: &RouteStamp) -> String {
        format!(
            "<sip:{}{};lr;{TOKEN_PARAM}={};{CALLER_PARAM}={};{CALLEE_PARAM}={}>",
            self.addr,
            transport_param(self.protocol),
            stamp.token,
            stamp.caller.encode(),
            stamp.callee.encode(),
        )
    }

    /// True when `uri` names this interface (its address and port, the
    /// port defaulting to the transport's).
    pub(crate) fn is(&self, uri: &SipUri<'_>) -> bool {
        uri.host.ip() == Some(self.addr.ip())
            && uri.port.unwrap_or_else(|| self.protocol.default_port()) == self.addr.port()
    }
}

/// `;transport=...` for a URI that must be reached over `protocol`
/// (nothing for UDP, the default).
fn transport_param(protocol: Protocol) -> String {
    match protocol {
        Protocol::Udp => String::new(),
        Protocol::Tls => ";transport=tls".into(),
        p => format!(";transport={}", p.via_name().to_ascii_lowercase()),
    }
}

/// Where a request is forwarded (§16.5): the URI it is addressed to, the
/// Path that leads there (RFC 3327), its `q` for sequential forking, and,
/// when known, the flow to send it over (a registered contact's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The Request-URI the forwarded request gets.
    pub uri: String,
    /// Route values to put first (a registration's Path).
    pub path: Vec<String>,
    /// Preference, in thousandths (`q=0.5` is 500); `None` ranks as 1.0.
    pub q: Option<u16>,
    /// Where to send, instead of resolving the next hop.
    pub destination: Option<Destination>,
}

impl Target {
    /// A target with just a URI.
    pub fn new(uri: impl Into<String>) -> Target {
        Target {
            uri: uri.into(),
            ..Target::default()
        }
    }
}

/// A party's flow as a Record-Route carries it: the transport and the
/// address the party sends from (and is reached at: the connection it
/// opened, the port its NAT keeps open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRef {
    /// The transport.
    pub protocol: Protocol,
    /// The party's address.
    pub addr: SocketAddr,
}

impl FlowRef {
    /// `udp-192.0.2.1-5060` (an IPv6 address as it is, without brackets):
    /// only characters a URI parameter may hold.
    fn encode(&self) -> String {
        format!(
            "{}-{}-{}",
            self.protocol.via_name().to_ascii_lowercase(),
            self.addr.ip(),
            self.addr.port()
        )
    }

    fn decode(s: &str) -> Option<FlowRef> {
        let mut parts = s.splitn(3, '-');
        let protocol = Protocol::from_via_name(&parts.next()?.to_ascii_uppercase())?;
        let ip: std::net::IpAddr = parts.next()?.parse().ok()?;
        let port: u16 = parts.next()?.parse().ok()?;
        Some(FlowRef {
            protocol,
            addr: SocketAddr::new(ip, port),
        })
    }
}

/// What this proxy writes in its Record-Route entries of a dialog: the
/// flows of the caller and of the callee, so that a request of the
/// dialog goes to the other party over the flow that party uses (its
/// connection, its NAT binding) whatever its Contact says, and a token
/// that proves this proxy wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteStamp {
    /// The keyed hash of the dialog and the flows.
    pub token: String,
    /// The caller's flow.
    pub caller: FlowRef,
    /// The callee's flow (one per branch).
    pub callee: FlowRef,
}

impl RouteStamp {
    /// The flow a request of the dialog that came from `from` goes on to:
    /// the callee's when it came from the caller, and the other way round;
    /// `None` when it came from neither.
    pub fn other_party(&self, from: FlowRef) -> Option<FlowRef> {
        if from == self.caller {
            Some(self.callee)
        } else if from == self.callee {
            Some(self.caller)
        } else {
            None
        }
    }
}

/// The route tokens of this proxy: a keyed hash of a dialog's Call-ID,
/// its caller's tag and the flows its Record-Route carries. A request
/// whose Route names this proxy with the right token belongs to a dialog
/// this proxy set up, which a To tag alone cannot prove, and the flows in
/// it are the ones this proxy wrote.
pub struct RouteTokens {
    key: std::collections::hash_map::RandomState,
}

impl Default for RouteTokens {
    fn default() -> Self {
        RouteTokens {
            key: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl RouteTokens {
    fn token(&self, call_id: &str, caller_tag: &str, caller: FlowRef, callee: FlowRef) -> String {
        let mut h = self.key.build_hasher();
        call_id.hash(&mut h);
        caller_tag.hash(&mut h);
        caller.encode().hash(&mut h);
        callee.encode().hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// The stamp of the dialog `call_id` whose caller tagged its From with
    /// `caller_tag`, between these two flows.
    pub fn stamp(
        &self,
        call_id: &str,
        caller_tag: &str,
        caller: FlowRef,
        callee: FlowRef,
    ) -> RouteStamp {
        RouteStamp {
            token: self.token(call_id, caller_tag, caller, callee),
            caller,
            callee,
        }
    }

    /// The stamp in `uri` (a Route entry naming this proxy), when it is
    /// this proxy's for the dialog of `request`, in whichever direction
    /// the request goes (the caller's tag is in From one way, in To the
    /// other).
    pub fn verify(&self, request: &Message, uri: &SipUri<'_>) -> Option<RouteStamp> {
        let token = uri.params.value(TOKEN_PARAM)?;
        let caller = FlowRef::decode(uri.params.value(CALLER_PARAM)?)?;
        let callee = FlowRef::decode(uri.params.value(CALLEE_PARAM)?)?;
        let call_id = request.call_id().ok()?;
        let tags = [
            request
                .from_header()
                .ok()
                .and_then(|f| f.tag().map(str::to_string)),
            request
                .to_header()
                .ok()
                .and_then(|t| t.tag().map(str::to_string)),
        ];
        tags.iter()
            .flatten()
            .any(|tag| self.token(call_id, tag, caller, callee) == token)
            .then(|| RouteStamp {
                token: token.to_string(),
                caller,
                callee,
            })
    }

    /// The first valid stamp among `popped` (from [`preprocess_routes`]).
    pub fn stamp_of(&self, request: &Message, popped: &[String]) -> Option<RouteStamp> {
        popped.iter().find_map(|uri| match Uri::parse(uri) {
            Ok(Uri::Sip(sip)) => self.verify(request, &sip),
            _ => None,
        })
    }
}

/// §16.4: when the Request-URI is one of this proxy's Record-Route URIs
/// (an RFC 2543 strict router before it put it there), the last Route
/// value is the real Request-URI; then the Route values naming this proxy
/// are removed from the top. Returns the URIs removed from the top (whose
/// token tells whether the proxy set the dialog up).
pub fn preprocess_routes(
    request: &mut Message,
    ours: &[Interface],
) -> Result<Vec<String>, BuildError> {
    let is_ours = |uri: &str| match Uri::parse(uri) {
        Ok(Uri::Sip(sip)) => ours.iter().any(|i| i.is(&sip)),
        _ => false,
    };
    let mut routes = route_values(request);
    let request_uri = request.request_uri().unwrap_or_default().to_string();
    let strict = Uri::parse(&request_uri)
        .ok()
        .and_then(|u| u.as_sip().map(|s| s.params.get(TOKEN_PARAM).is_some()))
        .unwrap_or(false);
    let mut popped = Vec::new();
    if strict && is_ours(&request_uri) {
        if let Some(last) = routes.pop() {
            request.set_request_uri(&uri_of(&last))?;
        }
        popped.push(request_uri);
    }
    while let Some(first) = routes.first() {
        let uri = uri_of(first);
        if !is_ours(&uri) {
            break;
        }
        popped.push(uri);
        routes.remove(0);
    }
    set_routes(request, &routes)?;
    Ok(popped)
}

/// §16.3 steps 2 to 4, after [`preprocess_routes`].
pub fn check(request: &Message, ours: &[Interface]) -> Result<(), Refusal> {
    match request.request_uri_parsed() {
        Some(Ok(Uri::Sip(_) | Uri::Tel(_))) => {}
        Some(Ok(Uri::Other(_))) => return Err(Refusal::UnsupportedScheme),
        _ => return Err(Refusal::Malformed("the Request-URI does not parse".into())),
    }
    match request.max_forwards() {
        Ok(Some(0)) => return Err(Refusal::TooManyHops),
        Ok(_) => {}
        Err(e) => return Err(Refusal::Malformed(format!("Max-Forwards: {e}"))),
    }
    let mark = format!("{BRANCH_MARK}{}", loop_hash(request));
    for via in request.vias() {
        let via = via.map_err(|e| Refusal::Malformed(format!("Via: {e}")))?;
        let ours = ours.iter().any(|i| {
            via.host.ip() == Some(i.addr.ip())
                && via.port.unwrap_or_else(|| i.protocol.default_port()) == i.addr.port()
        });
        if ours && via.branch().is_some_and(|b| b.starts_with(&mark)) {
            return Err(Refusal::LoopDetected);
        }
    }
    Ok(())
}

/// The part of this proxy's branch that is the same each time the same
/// request comes through (§16.6 step 8): a hash of the fields that change
/// on a spiral but not on a loop: Request-URI, From and To tags, Call-ID,
/// CSeq number, Route, Proxy-Require and Proxy-Authorization. The top Via
/// is left out, since a looping request comes back with another one.
pub fn loop_hash(request: &Message) -> String {
    let mut h = std::hash::DefaultHasher::new();
    request.request_uri().hash(&mut h);
    request
        .from_header()
        .ok()
        .and_then(|f| f.tag().map(str::to_string))
        .hash(&mut h);
    request
        .to_header()
        .ok()
        .and_then(|t| t.tag().map(str::to_string))
        .hash(&mut h);
    request.call_id().ok().hash(&mut h);
    request.cseq().ok().map(|c| c.seq).hash(&mut h);
    for name in [
        HeaderName::Route,
        HeaderName::ProxyRequire,
        HeaderName::ProxyAuthorization,
    ] {
        for v in request.headers(name) {
            v.hash(&mut h);
        }
    }
    format!("{:016x}", h.finish())
}

/// A new branch for one forwarded copy of a request whose loop hash is
/// `hash`: the mark, the hash, and a part of its own.
pub fn branch(hash: &str) -> String {
    format!("{BRANCH_MARK}{hash}.{}", &generate::branch()[7..])
}

/// A request ready to send, and where it goes.
#[derive(Clone, Debug)]
pub struct Forwarded {
    /// The request, with this proxy's Via on top.
    pub message: Message,
    /// The URI the next hop is found from: the first Route, or the
    /// Request-URI when there is none.
    pub next_hop: String,
}

/// How this proxy records itself in a request it forwards.
#[derive(Clone, Copy, Debug)]
pub struct RecordRoute<'a> {
    /// The interface the request came in on.
    pub inbound: Interface,
    /// The dialog's stamp.
    pub stamp: &'a RouteStamp,
}

/// §16.6 steps 1 to 8: the copy of `request` (already through
/// [`preprocess_routes`] and [`check`]) to send to `target` out of
/// `outbound`, with the Via `branch`; Record-Route when `record_route`
/// is given.
pub fn forward_request(
    request: &Message,
    target: &Target,
    outbound: Interface,
    record_route: Option<RecordRoute<'_>>,
    branch: &str,
) -> Result<Forwarded, Refusal> {
    build_forwarded(request, target, outbound, record_route, branch)
        .map_err(|e| Refusal::Malformed(e.to_string()))
}

fn build_forwarded(
    request: &Message,
    target: &Target,
    outbound: Interface,
    record_route: Option<RecordRoute<'_>>,
    branch: &str,
) -> Result<Forwarded, Box<dyn std::error::Error>> {
    let mut m = request.clone();
    let max_forwards = request.max_forwards().ok().flatten().unwrap_or(71);
    m.set_header("Max-Forwards", &max_forwards.saturating_sub(1).to_string())?;
    if let Some(rr) = record_route {
        // RFC 5658: a request that changes transport or address records
        // both, so that requests of the dialog come back on each side's
        // own; the outbound one ends up on top, next to the callee.
        m.prepend_header("Record-Route", &rr.inbound.record_route(rr.stamp))?;
        if rr.inbound != outbound {
            m.prepend_header("Record-Route", &outbound.record_route(rr.stamp))?;
        }
    }
    let mut routes = target.path.clone();
    routes.extend(route_values(request));
    // §16.6 step 6: a strict router next takes the Request-URI.
    let dest = routing::destination(&target.uri, &routes)?;
    m.set_request_uri(&dest.request_uri)?;
    set_routes(&mut m, &dest.route)?;
    // §16.6 step 7: the first Route (loose router or strict, which is now
    // the Request-URI), else the Request-URI.
    let next_hop = routes
        .first()
        .map_or_else(|| dest.request_uri.clone(), |r| uri_of(r));
    let via = format!(
        "SIP/2.0/{} {};branch={branch};rport",
        outbound.protocol.via_name(),
        outbound.addr
    );
    m.prepend_header("Via", &via)?;
    Ok(Forwarded {
        message: m,
        next_hop,
    })
}

/// The Route values of a request, one name-addr each, in order.
fn route_values(request: &Message) -> Vec<String> {
    request
        .routes()
        .filter_map(Result::ok)
        .map(|r| r.as_str().to_string())
        .collect()
}

/// Replaces the Route header fields with `routes`, one per line.
fn set_routes(request: &mut Message, routes: &[String]) -> Result<(), BuildError> {
    request.remove_header("Route");
    for r in routes {
        request.add_header("Route", r)?;
    }
    Ok(())
}

/// The URI of a name-addr (`<sip:p;lr>` → `sip:p;lr`), or the value
/// itself when it is a bare URI.
fn uri_of(name_addr: &str) -> String {
    sipjet_message::NameAddr::parse(name_addr)
        .map(|a| a.uri_str().to_string())
        .unwrap_or_else(|_| name_addr.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call-1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@192.0.2.1:5060>\r\n\
Content-Length: 0\r\n\r\n";

    fn parse(text: &str) -> Message {
        Message::parse(text.as_bytes().to_vec()).unwrap()
    }

    fn udp() -> Interface {
        Interface {
            protocol: Protocol::Udp,
            addr: "198.51.100.1:5060".parse().unwrap(),
        }
    }

    fn tcp() -> Interface {
        Interface {
            protocol: Protocol::Tcp,
            addr: "198.51.100.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn a_forwarded_request_has_the_target_one_hop_less_and_our_via() {
        let invite = parse(INVITE);
        let target = Target::new("sip:bob@192.0.2.4:5062");
        let hash = loop_hash(&invite);
        let b = branch(&hash);
        let f = forward_request(&invite, &target, udp(), None, &b).unwrap();
        let m = &f.message;
        assert_eq!(m.request_uri(), Some("sip:bob@192.0.2.4:5062"));
        assert_eq!(m.max_forwards().unwrap(), Some(69));
        assert_eq!(f.next_hop, "sip:bob@192.0.2.4:5062");
        let vias: Vec<_> = m.vias().map(|v| v.unwrap().as_str().to_string()).collect();
        assert_eq!(
            vias,
            [
                format!("SIP/2.0/UDP 198.51.100.1:5060;branch={b};rport"),
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller;rport".to_string()
            ]
        );
        assert!(!m.has(HeaderName::RecordRoute));
        // Two branches of one request share the loop part, not the rest.
        let other = branch(&hash);
        assert_ne!(b, other);
        assert_eq!(b[..BRANCH_MARK.len() + 16], other[..BRANCH_MARK.len() + 16]);
    }

    fn stamp() -> RouteStamp {
        RouteTokens::default().stamp(
            "call-1",
            "a1",
            FlowRef {
                protocol: Protocol::Udp,
                addr: "192.0.2.1:5060".parse().unwrap(),
            },
            FlowRef {
                protocol: Protocol::Tcp,
                addr: "[2001:db8::4]:40000".parse().unwrap(),
            },
        )
    }

    #[test]
    fn record_route_once_on_one_transport_twice_across_two() {
        let invite = parse(INVITE);
        let target = Target::new("sip:bob@192.0.2.4:5062");
        let stamp = stamp();
        let rr = RecordRoute {
            inbound: udp(),
            stamp: &stamp,
        };
        let params = format!(
            "lr;sjr={};sjc=udp-192.0.2.1-5060;sje=tcp-2001:db8::4-40000",
            stamp.token
        );
        let same = forward_request(&invite, &target, udp(), Some(rr), "z9hG4bKx").unwrap();
        assert_eq!(
            same.message
                .headers(HeaderName::RecordRoute)
                .collect::<Vec<_>>(),
            [format!("<sip:198.51.100.1:5060;{params}>")]
        );
        let across = forward_request(&invite, &target, tcp(), Some(rr), "z9hG4bKx").unwrap();
        assert_eq!(
            across
                .message
                .headers(HeaderName::RecordRoute)
                .collect::<Vec<_>>(),
            [
                format!("<sip:198.51.100.1:5060;transport=tcp;{params}>"),
                format!("<sip:198.51.100.1:5060;{params}>")
            ]
        );
    }

    #[test]
    fn a_path_is_routed_first_and_a_strict_router_gets_the_request_uri() {
        let invite = parse(INVITE);
        let mut target = Target::new("sip:bob@10.0.0.9");
        target.path = vec!["<sip:edge.example.com;lr>".into()];
        let f = forward_request(&invite, &target, udp(), None, "z9hG4bKx").unwrap();
        assert_eq!(f.message.request_uri(), Some("sip:bob@10.0.0.9"));
        assert_eq!(
            f.message.headers(HeaderName::Route).collect::<Vec<_>>(),
            ["<sip:edge.example.com;lr>"]
        );
        assert_eq!(f.next_hop, "sip:edge.example.com;lr");
        target.path = vec!["<sip:strict.example.com>".into()];
        let f = forward_request(&invite, &target, udp(), None, "z9hG4bKx").unwrap();
        assert_eq!(f.message.request_uri(), Some("sip:strict.example.com"));
        assert_eq!(
            f.message.headers(HeaderName::Route).collect::<Vec<_>>(),
            ["<sip:bob@10.0.0.9>"]
        );
        assert_eq!(f.next_hop, "sip:strict.example.com");
    }

    #[test]
    fn our_routes_are_taken_off_and_a_strict_router_undone() {
        let ours = [udp(), tcp()];
        let mut loose = parse(&INVITE.replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nRoute: <sip:198.51.100.1:5060;transport=tcp;lr;sjr=abc>, <sip:198.51.100.1;lr;sjr=abc>\r\nRoute: <sip:next.example.com;lr>\r\n",
        ));
        let popped = preprocess_routes(&mut loose, &ours).unwrap();
        assert_eq!(popped.len(), 2);
        assert_eq!(
            loose.headers(HeaderName::Route).collect::<Vec<_>>(),
            ["<sip:next.example.com;lr>"]
        );
        // A strict router put our Record-Route URI in the Request-URI and
        // the real one last in Route.
        let mut strict = parse(
            &INVITE
                .replace(
                    "INVITE sip:bob@example.com",
                    "INVITE sip:198.51.100.1:5060;lr;sjr=abc",
                )
                .replace(
                    "Max-Forwards: 70\r\n",
                    "Max-Forwards: 70\r\nRoute: <sip:bob@192.0.2.4:5062>\r\n",
                ),
        );
        let popped = preprocess_routes(&mut strict, &ours).unwrap();
        assert_eq!(popped, ["sip:198.51.100.1:5060;lr;sjr=abc"]);
        assert_eq!(strict.request_uri(), Some("sip:bob@192.0.2.4:5062"));
        assert!(!strict.has(HeaderName::Route));
        // Someone else's Route stays.
        let mut other = parse(&INVITE.replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nRoute: <sip:198.51.100.2;lr>\r\n",
        ));
        assert!(preprocess_routes(&mut other, &ours).unwrap().is_empty());
        assert_eq!(other.headers(HeaderName::Route).count(), 1);
    }

    #[test]
    fn hops_and_loops_are_refused() {
        let ours = [udp()];
        assert_eq!(check(&parse(INVITE), &ours), Ok(()));
        let spent = parse(&INVITE.replace("Max-Forwards: 70", "Max-Forwards: 0"));
        assert_eq!(check(&spent, &ours), Err(Refusal::TooManyHops));
        assert_eq!(Refusal::TooManyHops.status(), 483);
        // The request we forwarded comes back to us: our Via and the same
        // loop hash.
        let invite = parse(INVITE);
        let b = branch(&loop_hash(&invite));
        let out = forward_request(
            &invite,
            &Target::new("sip:bob@example.com"),
            udp(),
            None,
            &b,
        )
        .unwrap();
        let back = parse(std::str::from_utf8(&out.message.to_bytes()).unwrap());
        assert_eq!(check(&back, &ours), Err(Refusal::LoopDetected));
        assert_eq!(Refusal::LoopDetected.status(), 482);
        // A spiral: the same request sent to another URI is no loop.
        let out = forward_request(
            &invite,
            &Target::new("sip:bob@other.example"),
            udp(),
            None,
            &b,
        )
        .unwrap();
        let spiral = parse(std::str::from_utf8(&out.message.to_bytes()).unwrap());
        assert_eq!(check(&spiral, &ours), Ok(()));
        let mailto = parse(&INVITE.replace(
            "INVITE sip:bob@example.com",
            "INVITE mailto:bob@example.com",
        ));
        assert_eq!(check(&mailto, &ours), Err(Refusal::UnsupportedScheme));
    }

    #[test]
    fn route_stamps_name_the_dialog_in_both_directions_and_cannot_be_changed() {
        let tokens = RouteTokens::default();
        let caller = FlowRef {
            protocol: Protocol::Udp,
            addr: "192.0.2.1:5060".parse().unwrap(),
        };
        let callee = FlowRef {
            protocol: Protocol::Ws,
            addr: "192.0.2.4:40000".parse().unwrap(),
        };
        let stamp = tokens.stamp("call-1", "a1", caller, callee);
        let bye_from_callee = parse(
            "BYE sip:alice@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK2\r\n\
From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=a1\r\n\
Call-ID: call-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        );
        let route = udp().record_route(&stamp);
        let uri = route.trim_matches(['<', '>']);
        fn sip(u: &str) -> SipUri<'_> {
            match Uri::parse(u).unwrap() {
                Uri::Sip(s) => s,
                other => panic!("not a SIP URI: {other:?}"),
            }
        }
        assert_eq!(
            tokens.verify(&bye_from_callee, &sip(uri)),
            Some(stamp.clone())
        );
        assert_eq!(stamp.other_party(callee), Some(caller));
        assert_eq!(stamp.other_party(caller), Some(callee));
        assert_eq!(
            stamp.other_party(FlowRef {
                protocol: Protocol::Udp,
                ..callee
            }),
            None
        );
        // Another key, another dialog, or flows changed: not ours.
        assert_eq!(
            RouteTokens::default().verify(&bye_from_callee, &sip(uri)),
            None
        );
        let elsewhere = uri.replace("sje=ws-192.0.2.4-40000", "sje=udp-203.0.113.9-5060");
        assert_eq!(tokens.verify(&bye_from_callee, &sip(&elsewhere)), None);
        let other_call = String::from_utf8(bye_from_callee.to_bytes().to_vec())
            .unwrap()
            .replace("call-1", "call-2");
        assert_eq!(tokens.verify(&parse(&other_call), &sip(uri)), None);
    }
}
