//! The hop from one node to another that holds a contact's flow (RFC
//! 3327's Path, built on the fly): the node that has a request for the
//! contact sends it to the holder with a Route naming the holder, which
//! carries the flow (`transport-ip-port`, the connection or NAT binding
//! the contact registered over) and a token that the holder checks
//! before it sends anything over that flow.
//!
//! The token is a keyed hash (HMAC-SHA256 under a key derived from the
//! `cluster_secret` every node shares) of the holder's node id, the flow,
//! the request's Call-ID and an expiry: the holder relays for nobody but
//! another node, a token seen on the wire serves no other call, and none
//! lasts. Sans-IO: the time is an argument.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sipjet_core::message::SipUri;
use sipjet_core::{Destination, Protocol};
use subtle::ConstantTimeEq;

use crate::digest::hex;

type HmacSha256 = Hmac<Sha256>;

/// The Route URI parameters of a hop: the holder, the flow, the token.
pub const NODE_PARAM: &str = "sjn";
/// See [`NODE_PARAM`].
pub const FLOW_PARAM: &str = "sjf";
/// See [`NODE_PARAM`].
pub const TOKEN_PARAM: &str = "sjt";

/// How long a token is good for: the request it rides on and its
/// retransmissions, with room for the nodes' clocks to differ.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Bytes of the keyed hash kept in a token (128 bits).
const MAC_LEN: usize = 16;

/// The key of the hop tokens, the same on every node given the same
/// secret.
#[derive(Clone)]
pub struct HopKey([u8; 32]);

impl HopKey {
    /// The key derived from the cluster secret (so that the secret itself
    /// keys nothing else as it is).
    pub fn new(cluster_secret: &str) -> HopKey {
        HopKey(derive(cluster_secret, b"sipjet hop token v1"))
    }

    fn mac(&self, node: &str, flow: &str, call_id: &str, expires: u64) -> [u8; MAC_LEN] {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in [node.as_bytes(), flow.as_bytes(), call_id.as_bytes()] {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        m.update(&expires.to_be_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// The Route value that sends a request of `call_id` to `holder` (its
    /// node id, at its SIP `address`) to be relayed over `flow`.
    pub fn route(
        &self,
        holder: &str,
        address: &str,
        flow: &Destination,
        call_id: &str,
        now: SystemTime,
    ) -> String {
        let flow = encode_flow(flow);
        let expires = unix_seconds(now) + TOKEN_LIFETIME.as_secs();
        let mac = hex(&self.mac(holder, &flow, call_id, expires));
        format!(
            "<{address};lr;{NODE_PARAM}={holder};{FLOW_PARAM}={flow};{TOKEN_PARAM}={expires:x}.{mac}>"
        )
    }

    /// The flow a hop Route (`uri`) names, when its token is this key's
    /// for node `me`, the request's `call_id`, and not expired at `now`.
    pub fn verify(
        &self,
        uri: &SipUri<'_>,
        me: &str,
        call_id: &str,
        now: SystemTime,
    ) -> Result<Destination, BadHop> {
        let node = uri.params.value(NODE_PARAM).ok_or(BadHop::Malformed)?;
        let flow = uri.params.value(FLOW_PARAM).ok_or(BadHop::Malformed)?;
        let token = uri.params.value(TOKEN_PARAM).ok_or(BadHop::Malformed)?;
        let (expires, mac) = token.split_once('.').ok_or(BadHop::Malformed)?;
        let expires = u64::from_str_radix(expires, 16).map_err(|_| BadHop::Malformed)?;
        let mac = unhex::<MAC_LEN>(mac).ok_or(BadHop::Malformed)?;
        if node != me {
            return Err(BadHop::OtherNode);
        }
        if !bool::from(mac.ct_eq(&self.mac(node, flow, call_id, expires))) {
            return Err(BadHop::Forged);
        }
        if expires < unix_seconds(now) {
            return Err(BadHop::Expired);
        }
        decode_flow(flow).ok_or(BadHop::Malformed)
    }
}

/// Why a hop Route is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadHop {
    /// A parameter is missing or does not parse.
    #[error("the hop's parameters are malformed")]
    Malformed,
    /// It names another node.
    #[error("the hop names another node")]
    OtherNode,
    /// The token is not the cluster's for this node, flow and call.
    #[error("the hop's token is not the cluster's")]
    Forged,
    /// The token's time is over.
    #[error("the hop's token has expired")]
    Expired,
}

/// True when a Route URI is a hop (carries a flow), whichever node it
/// names.
pub fn is_hop(uri: &SipUri<'_>) -> bool {
    uri.params.get(FLOW_PARAM).is_some()
}

/// 32 bytes keyed by `secret` for one purpose, `label`.
pub(crate) fn derive(secret: &str, label: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(label);
    m.finalize().into_bytes().into()
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `tcp-192.0.2.1-5060` (an IPv6 address without brackets): characters
/// a URI parameter may hold.
fn encode_flow(d: &Destination) -> String {
    format!(
        "{}-{}-{}",
        d.protocol.via_name().to_ascii_lowercase(),
        d.addr.ip(),
        d.addr.port()
    )
}

fn decode_flow(s: &str) -> Option<Destination> {
    let mut parts = s.splitn(3, '-');
    let protocol = Protocol::from_via_name(&parts.next()?.to_ascii_uppercase())?;
    let ip: IpAddr = parts.next()?.parse().ok()?;
    let port: u16 = parts.next()?.parse().ok()?;
    Some(Destination::new(protocol, SocketAddr::new(ip, port)))
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipjet_core::message::{NameAddr, Uri};

    fn uri_of(route: &str) -> String {
        NameAddr::parse(route).unwrap().uri_str().to_string()
    }

    fn check(
        key: &HopKey,
        route: &str,
        me: &str,
        call_id: &str,
        now: SystemTime,
    ) -> Result<Destination, BadHop> {
        let uri = uri_of(route);
        let Ok(Uri::Sip(sip)) = Uri::parse(&uri) else {
            panic!("{uri}")
        };
        key.verify(&sip, me, call_id, now)
    }

    #[test]
    fn a_hop_names_the_flow_for_its_node_and_call_only() {
        let key = HopKey::new("a secret of sixteen or more");
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let flow = Destination::new(Protocol::Ws, "[2001:db8::7]:40000".parse().unwrap());
        let route = key.route("node-a", "sip:192.0.2.1:5060", &flow, "call-1", now);
        assert!(
            route.starts_with("<sip:192.0.2.1:5060;lr;sjn=node-a;sjf=ws-2001:db8::7-40000;sjt="),
            "{route}"
        );
        let back = check(&key, &route, "node-a", "call-1", now).unwrap();
        assert_eq!((back.protocol, back.addr), (flow.protocol, flow.addr));
        assert_eq!(
            check(&key, &route, "node-b", "call-1", now),
            Err(BadHop::OtherNode)
        );
        assert_eq!(
            check(&key, &route, "node-a", "call-2", now),
            Err(BadHop::Forged)
        );
        let late = now + TOKEN_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            check(&key, &route, "node-a", "call-1", late),
            Err(BadHop::Expired)
        );
        let other = HopKey::new("another secret, sixteen long");
        assert_eq!(
            check(&other, &route, "node-a", "call-1", now),
            Err(BadHop::Forged)
        );
        // Another flow under the same token.
        let moved = route.replace("sjf=ws-2001:db8::7-40000", "sjf=ws-2001:db8::7-40001");
        assert_eq!(
            check(&key, &moved, "node-a", "call-1", now),
            Err(BadHop::Forged)
        );
        for broken in [
            route.replace(";sjt=", ";x="),
            route.replace(
                &format!(".{}", &route[route.len() - 33..route.len() - 1]),
                "!",
            ),
            route.replace("sjn=node-a", "sjn"),
        ] {
            assert!(
                check(&key, &broken, "node-a", "call-1", now).is_err(),
                "{broken}"
            );
        }
    }
}
