//! Which transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3).
//!
//! A client transaction is found by the branch of the response's top Via
//! and its CSeq method. A server transaction is found by the branch,
//! sent-by and method of the request's top Via (an ACK belongs to its
//! INVITE); a request whose branch lacks the `z9hG4bK` cookie comes from
//! an RFC 2543 client and is matched on Request-URI, tags, Call-ID, CSeq
//! and top Via instead.

use std::fmt::Write;

use sipjet_message::{Host, Message, Method, Via};

/// The key of a transaction: what its messages have in common.
///
/// ```
/// use sipjet_message::Message;
/// use sipjet_transaction::TransactionKey;
///
/// let invite = Message::parse(&b"INVITE sip:bob@example.com SIP/2.0\r\n\
/// Via: SIP/2.0/UDP Host.Example.com;branch=z9hG4bK1\r\n\
/// CSeq: 1 INVITE\r\n\r\n"[..]).unwrap();
/// let ack = Message::parse(&b"ACK sip:bob@example.com SIP/2.0\r\n\
/// Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1\r\n\
/// CSeq: 1 ACK\r\n\r\n"[..]).unwrap();
/// // The ACK for a non-2xx response belongs to the INVITE's transaction.
/// assert_eq!(TransactionKey::of_request(&invite), TransactionKey::of_request(&ack));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey(Inner);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Inner {
    /// §17.1.3: the branch we generated, and the method.
    Client { branch: Box<str>, method: Method },
    /// §17.2.3: branch, sent-by (host in lower case) and method.
    Server {
        branch: Box<str>,
        host: Box<str>,
        port: Option<u16>,
        method: Method,
    },
    /// §17.2.3, last paragraphs: an RFC 2543 request.
    Rfc2543(Box<Rfc2543>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Rfc2543 {
    /// As received: RFC 2543 clients repeat the INVITE's Request-URI in
    /// the ACK and in retransmissions verbatim.
    request_uri: Box<str>,
    from_tag: Option<Box<str>>,
    to_tag: Option<Box<str>>,
    call_id: Box<str>,
    cseq: u32,
    method: Method,
    /// The top Via with white space removed and names in one case.
    via: Box<str>,
}

impl TransactionKey {
    /// The key of the server transaction a received request belongs to. An
    /// ACK keys as its INVITE; a CANCEL keys as itself, and
    /// [`TransactionKey::cancelled_invite`] gives the key of the INVITE it
    /// cancels. `None` when the top Via, or for an RFC 2543 request one of
    /// the other headers, cannot be read.
    ///
    /// An RFC 2543 ACK carries the To tag of the response it acknowledges,
    /// which an initial INVITE lacked; its key therefore finds only a
    /// re-INVITE, while [`crate::Transactions::handle_incoming`] matches
    /// it either way.
    pub fn of_request(request: &Message) -> Option<TransactionKey> {
        let method = match request.method()? {
            Method::Ack => Method::Invite,
            m => m.clone(),
        };
        let via = request.via().ok()?;
        if via.has_rfc3261_branch() {
            return Some(TransactionKey(Inner::Server {
                branch: via.branch()?.into(),
                host: host_key(&via.host),
                port: via.port,
                method,
            }));
        }
        Some(TransactionKey(Inner::Rfc2543(Box::new(Rfc2543 {
            request_uri: request.request_uri()?.into(),
            from_tag: request.from_header().ok()?.tag().map(Into::into),
            to_tag: request.to_header().ok()?.tag().map(Into::into),
            call_id: request.call_id().ok()?.into(),
            cseq: request.cseq().ok()?.seq,
            method,
            via: canonical_via(&via).into(),
        }))))
    }

    /// The key of the client transaction a received response belongs to;
    /// `None` when its top Via has no branch or its CSeq cannot be read.
    pub fn of_response(response: &Message) -> Option<TransactionKey> {
        let via = response.via().ok()?;
        let cseq = response.cseq().ok()?;
        let method = Method::parse(cseq.method).ok()?;
        Some(TransactionKey::client(via.branch()?, method))
    }

    /// The key of a client transaction that sent a request with this
    /// branch and method.
    pub(crate) fn client(branch: &str, method: Method) -> TransactionKey {
        TransactionKey(Inner::Client {
            branch: branch.into(),
            method,
        })
    }

    /// For the key of a CANCEL, the key of the INVITE it cancels: the
    /// same request with method INVITE (§9.2).
    pub fn cancelled_invite(&self) -> TransactionKey {
        let mut key = self.clone();
        match &mut key.0 {
            Inner::Client { method, .. } | Inner::Server { method, .. } => *method = Method::Invite,
            Inner::Rfc2543(k) => k.method = Method::Invite,
        }
        key
    }

    /// True for the key of an RFC 2543 request.
    pub fn is_rfc2543(&self) -> bool {
        matches!(self.0, Inner::Rfc2543(_))
    }

    /// The To tag of an RFC 2543 key.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        match &self.0 {
            Inner::Rfc2543(k) => k.to_tag.as_deref(),
            _ => None,
        }
    }

    /// An RFC 2543 key with the To tag removed. An RFC 2543 ACK carries
    /// the tag of the response while an initial INVITE had none, so the
    /// ACK is looked up both ways (§17.2.3).
    pub(crate) fn without_to_tag(&self) -> Option<TransactionKey> {
        match &self.0 {
            Inner::Rfc2543(k) if k.to_tag.is_some() => {
                let mut k = k.clone();
                k.to_tag = None;
                Some(TransactionKey(Inner::Rfc2543(k)))
            }
            _ => None,
        }
    }
}

/// Host names compare without regard to case (§19.1.4); addresses in
/// their canonical text.
fn host_key(host: &Host<'_>) -> Box<str> {
    match host {
        Host::Domain(d) => d.to_ascii_lowercase().into(),
        other => other.to_string().into(),
    }
}

/// A top Via in a form that compares as §20.42 says two Via values
/// compare: protocol, transport and parameter names in one case, sent-by
/// host in lower case, no white space.
fn canonical_via(via: &Via<'_>) -> String {
    let mut out = String::with_capacity(via.as_str().len());
    let _ = write!(
        out,
        "{}/{}/{} {}",
        via.protocol.to_ascii_uppercase(),
        via.version,
        via.transport.to_ascii_uppercase(),
        host_key(&via.host)
    );
    if let Some(port) = via.port {
        let _ = write!(out, ":{port}");
    }
    for p in via.params.iter() {
        out.push(';');
        out.push_str(&p.name.to_ascii_lowercase());
        if let Some(v) = p.value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Message {
        Message::parse(text.replace('\n', "\r\n").into_bytes()).unwrap()
    }

    fn req(method: &str, via: &str, to_tag: &str) -> Message {
        parse(&format!(
            "{method} sip:bob@example.com SIP/2.0\n\
Via: {via}\n\
From: <sip:alice@example.com>;tag=f1\n\
To: <sip:bob@example.com>{to_tag}\n\
Call-ID: c1\n\
CSeq: 7 {method}\n\n"
        ))
    }

    #[test]
    fn server_key_uses_branch_sent_by_and_method() {
        let via = "SIP/2.0/UDP Host.Example.COM:5060;branch=z9hG4bKx";
        let invite = TransactionKey::of_request(&req("INVITE", via, "")).unwrap();
        let ack = req(
            "ACK",
            "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bKx",
            ";tag=t",
        );
        assert_eq!(TransactionKey::of_request(&ack).unwrap(), invite);
        let cancel = TransactionKey::of_request(&req("CANCEL", via, "")).unwrap();
        assert_ne!(cancel, invite);
        assert_eq!(cancel.cancelled_invite(), invite);
        for other in [
            "SIP/2.0/UDP host.example.com;branch=z9hG4bKx",
            "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bKX",
            "SIP/2.0/UDP other.example.com:5060;branch=z9hG4bKx",
        ] {
            let k = TransactionKey::of_request(&req("INVITE", other, "")).unwrap();
            assert_ne!(k, invite, "{other}");
        }
        assert!(!invite.is_rfc2543());
    }

    #[test]
    fn client_key_uses_branch_and_cseq_method() {
        let resp = parse("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKc\nCSeq: 3 CANCEL\n\n");
        assert_eq!(
            TransactionKey::of_response(&resp),
            Some(TransactionKey::client("z9hG4bKc", Method::Cancel))
        );
        let no_branch = parse("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h\nCSeq: 3 BYE\n\n");
        assert_eq!(TransactionKey::of_response(&no_branch), None);
        let no_cseq = parse("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bKc\n\n");
        assert_eq!(TransactionKey::of_response(&no_cseq), None);
    }

    #[test]
    fn rfc2543_key_uses_the_request_and_ignores_via_spacing() {
        let invite = req("INVITE", "SIP/2.0/UDP h:5060;branch=old1", "");
        let key = TransactionKey::of_request(&invite).unwrap();
        assert!(key.is_rfc2543());
        let again = req("INVITE", "SIP / 2.0 / udp  H:5060 ; BRANCH=old1", "");
        assert_eq!(TransactionKey::of_request(&again).unwrap(), key);
        let ack = req("ACK", "SIP/2.0/UDP h:5060;branch=old1", ";tag=resp");
        let ack_key = TransactionKey::of_request(&ack).unwrap();
        assert_ne!(ack_key, key);
        assert_eq!(ack_key.to_tag(), Some("resp"));
        assert_eq!(ack_key.without_to_tag().unwrap(), key);
        assert_eq!(key.without_to_tag(), None);
        let other_via = req("INVITE", "SIP/2.0/UDP h:5060;branch=old2", "");
        assert_ne!(TransactionKey::of_request(&other_via).unwrap(), key);
        let no_branch = req("INVITE", "SIP/2.0/UDP h:5060", "");
        assert!(TransactionKey::of_request(&no_branch).unwrap().is_rfc2543());
    }

    #[test]
    fn keys_hash_alike_exactly_when_they_are_equal() {
        // The held table finds a key by two keyed hashes of it, with no
        // copy of the key to compare (`crate::held`).
        use std::hash::BuildHasher;
        let keys_of_hash = std::hash::RandomState::new();
        let encoded = |k: &TransactionKey| keys_of_hash.hash_one(k);
        let vias = [
            "SIP/2.0/UDP Host.Example.COM:5060;branch=z9hG4bKx",
            "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bKx",
            "SIP/2.0/UDP host.example.com;branch=z9hG4bKx",
            "SIP/2.0/UDP host.example.com:5060;branch=z9hG4bKX",
            "SIP/2.0/UDP host.example.co:5060;branch=z9hG4bKxm",
            "SIP/2.0/UDP h:5060;branch=old1",
            "SIP / 2.0 / udp  H:5060 ; BRANCH=old1",
            "SIP/2.0/UDP h:5060;branch=old2",
        ];
        let mut keys = Vec::new();
        for via in vias {
            for method in ["REGISTER", "OPTIONS", "FOO"] {
                for to_tag in ["", ";tag=t"] {
                    keys.extend(TransactionKey::of_request(&req(method, via, to_tag)));
                }
            }
        }
        keys.push(TransactionKey::client("z9hG4bKx", Method::Register));
        keys.push(TransactionKey::client("z9hG4bKx", Method::Options));
        for a in &keys {
            for b in &keys {
                assert_eq!(a == b, encoded(a) == encoded(b), "{a:?} / {b:?}");
            }
        }
    }

    #[test]
    fn unreadable_requests_have_no_key() {
        let no_via = parse("OPTIONS sip:a@b SIP/2.0\nCSeq: 1 OPTIONS\n\n");
        assert_eq!(TransactionKey::of_request(&no_via), None);
        let legacy_without_call_id = parse(
            "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@b>\nTo: <sip:a@b>\nCSeq: 1 OPTIONS\n\n",
        );
        assert_eq!(TransactionKey::of_request(&legacy_without_call_id), None);
    }
}
