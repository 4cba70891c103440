//! The ACK an INVITE client transaction sends for a non-2xx final response
//! (RFC 3261 §17.1.1.3). The ACK for a 2xx is the TU's (§13.2.2.4).

use sipjet_message::{BuildError, HeaderName, Message, Method, unfold};

/// Why the ACK could not be built: the INVITE or the response lacks a
/// header it is made of.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AckError {
    #[error("the {0} has no readable {1} header")]
    Missing(&'static str, HeaderName),
    #[error("the INVITE is not a request")]
    NotARequest,
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// Builds the ACK: the INVITE's Request-URI, Call-ID, From, CSeq number
/// (method ACK), top Via (as the only Via), Route headers and
/// Max-Forwards, with the To of the response, whose tag names the UAS that
/// answered.
pub(crate) fn ack_for(invite: &Message, response: &Message) -> Result<Message, AckError> {
    let from_invite =
        |name: HeaderName| invite.header(name).ok_or(AckError::Missing("INVITE", name));
    let uri = invite.request_uri().ok_or(AckError::NotARequest)?;
    let via = invite
        .via()
        .map_err(|_| AckError::Missing("INVITE", HeaderName::Via))?;
    let seq = invite
        .cseq()
        .map_err(|_| AckError::Missing("INVITE", HeaderName::CSeq))?
        .seq;
    let to = response
        .header(HeaderName::To)
        .ok_or(AckError::Missing("response", HeaderName::To))?;

    let mut ack = Message::new_request(Method::Ack, uri)?;
    ack.add_header("Via", &unfold(via.as_str()))?;
    for route in invite.headers(HeaderName::Route) {
        ack.add_header("Route", &unfold(route))?;
    }
    let max_forwards = invite.header(HeaderName::MaxForwards).unwrap_or("70");
    ack.add_header("Max-Forwards", &unfold(max_forwards))?;
    ack.add_header("From", &unfold(from_invite(HeaderName::From)?))?;
    ack.add_header("To", &unfold(to))?;
    ack.add_header("Call-ID", &unfold(from_invite(HeaderName::CallId)?))?;
    ack.add_header("CSeq", &format!("{seq} ACK"))?;
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds ,\r\n SIP/2.0/UDP other;branch=z9hG4bKo\r\n\
Via: SIP/2.0/UDP third;branch=z9hG4bKt\r\n\
Route: <sip:p1.example.com;lr>,\r\n <sip:p2.example.com;lr>\r\n\
Route: <sip:p3.example.com;lr>\r\n\
Max-Forwards: 69\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice\r\n <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    const BUSY: &str = "SIP/2.0 486 Busy Here\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn ack_is_built_as_section_17_1_1_3_says() {
        let invite = Message::parse(INVITE.as_bytes()).unwrap();
        let busy = Message::parse(BUSY.as_bytes()).unwrap();
        let ack = Message::parse(ack_for(&invite, &busy).unwrap().to_bytes()).unwrap();
        ack.validate().unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.request_uri(), Some("sip:bob@biloxi.com"));
        let vias: Vec<String> = ack.vias().map(|v| v.unwrap().to_string()).collect();
        assert_eq!(
            vias,
            ["SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"]
        );
        let routes: Vec<&str> = ack.routes().map(|r| r.unwrap().uri_str()).collect();
        assert_eq!(
            routes,
            [
                "sip:p1.example.com;lr",
                "sip:p2.example.com;lr",
                "sip:p3.example.com;lr"
            ]
        );
        assert_eq!(ack.max_forwards().unwrap(), Some(69));
        assert_eq!(
            ack.header(HeaderName::From),
            Some("Alice <sip:alice@atlanta.com>;tag=1928301774")
        );
        assert_eq!(ack.to_header().unwrap().tag(), Some("a6c85cf"));
        assert_eq!(ack.call_id().unwrap(), "a84b4c76e66710@pc33.atlanta.com");
        let cseq = ack.cseq().unwrap();
        assert_eq!((cseq.seq, cseq.method), (314159, "ACK"));
        assert!(ack.body().is_empty());
        assert!(!ack.has(HeaderName::Contact));
        assert!(!ack.has(HeaderName::ContentType));
    }

    #[test]
    fn missing_parts_are_named() {
        let invite = Message::parse(INVITE.replace("Call-ID", "X-Call-ID").into_bytes()).unwrap();
        let busy = Message::parse(BUSY.as_bytes()).unwrap();
        let err = ack_for(&invite, &busy).unwrap_err().to_string();
        assert_eq!(err, "the INVITE has no readable Call-ID header");
        let invite = Message::parse(INVITE.as_bytes()).unwrap();
        let busy = Message::parse(BUSY.replace("To:", "X-To:").into_bytes()).unwrap();
        let err = ack_for(&invite, &busy).unwrap_err().to_string();
        assert_eq!(err, "the response has no readable To header");
    }

    #[test]
    fn max_forwards_defaults_to_70() {
        let invite =
            Message::parse(INVITE.replace("Max-Forwards: 69\r\n", "").into_bytes()).unwrap();
        let busy = Message::parse(BUSY.as_bytes()).unwrap();
        let ack = ack_for(&invite, &busy).unwrap();
        assert_eq!(ack.max_forwards().unwrap(), Some(70));
    }

    #[test]
    fn folded_values_become_unfold() {
        assert_eq!(unfold("a,\r\n  b"), "a, b");
        assert_eq!(unfold("a  \r\n\tb\r\n c"), "a b c");
        assert_eq!(unfold("plain  text"), "plain  text");
    }
}
