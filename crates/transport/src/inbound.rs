//! What to do with the bytes of one received message, the same for every
//! transport and free of I/O: deliver it, answer it with an error status,
//! or drop it. Nothing a peer sends makes this panic or stop a listener.

use bytes::Bytes;
use sipjet_message::{Message, Method, ParseError, ParseOptions};

use crate::flow::Flow;
use crate::rfc3581::stamp_request;

/// The decision about one received message.
#[derive(Debug)]
pub(crate) enum Received {
    /// A valid message for the handler; a request has `received` and
    /// `rport` recorded.
    Deliver(Message),
    /// An invalid request, answered by the transport with this response
    /// (`400`, `413`, `505` or `513` with the fault as reason phrase).
    Answer(Message),
    /// A keep-alive, or a message dropped (and logged).
    Ignore,
}

/// True for a datagram that only holds CR and LF: a keep-alive that is
/// not answered (RFC 5626 §4.4.2 uses STUN on UDP; CRLF is what many
/// clients send).
pub(crate) fn is_keepalive(data: &[u8]) -> bool {
    data.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// Decides about one whole message: a datagram, a framed stream message,
/// or a WebSocket message.
pub(crate) fn message(data: Bytes, flow: &Flow, opts: &ParseOptions, max_body: usize) -> Received {
    match Message::parse_with(data.clone(), opts) {
        Ok(mut msg) => {
            if msg.is_request() {
                stamp_request(&mut msg, flow.remote);
            }
            let verdict = msg.validate().and_then(|()| body_within(&msg, max_body));
            match verdict {
                Ok(()) => Received::Deliver(msg),
                Err(e) if msg.is_request() => refuse(&msg, &e, flow),
                Err(e) => {
                    tracing::warn!(peer = %flow.remote, protocol = %flow.protocol, error = %e,
                        "dropping an invalid response");
                    Received::Ignore
                }
            }
        }
        Err(e) => unparsable(data, &e, flow, opts),
    }
}

/// Decides about bytes that could not be parsed (or, on a stream, not
/// framed): a request whose head is readable is answered, anything else
/// is dropped.
pub(crate) fn unparsable(
    data: Bytes,
    error: &ParseError,
    flow: &Flow,
    opts: &ParseOptions,
) -> Received {
    match Message::parse_head(data, opts) {
        Ok(mut head) if head.is_request() => {
            stamp_request(&mut head, flow.remote);
            refuse(&head, error, flow)
        }
        _ => {
            tracing::warn!(peer = %flow.remote, protocol = %flow.protocol, error = %error,
                "dropping a message that does not parse");
            Received::Ignore
        }
    }
}

fn body_within(msg: &Message, max_body: usize) -> Result<(), ParseError> {
    let size = msg.body().len();
    if size > max_body {
        return Err(ParseError::BodyTooLarge {
            size: size as u64,
            limit: max_body,
        });
    }
    Ok(())
}

/// The error response to an invalid request, when one can be built. An
/// ACK is never answered (RFC 3261 §17.1.1.3).
fn refuse(request: &Message, error: &ParseError, flow: &Flow) -> Received {
    if request.method() == Some(&Method::Ack) {
        tracing::warn!(peer = %flow.remote, protocol = %flow.protocol, error = %error,
            "dropping an invalid ACK");
        return Received::Ignore;
    }
    let code = error.status_code();
    match Message::response_to_with(request, code, Some(&error.reason_phrase()), None) {
        Ok(response) => {
            tracing::warn!(peer = %flow.remote, protocol = %flow.protocol, error = %error, code,
                "answering an invalid request");
            Received::Answer(response)
        }
        Err(e) => {
            tracing::warn!(peer = %flow.remote, protocol = %flow.protocol, error = %error,
                reason = %e, "dropping an invalid request that cannot be answered");
            Received::Ignore
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    const OPTIONS: &str = "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK1\r\n\
From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    fn flow() -> Flow {
        Flow {
            protocol: Protocol::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "192.0.2.1:7777".parse().unwrap(),
            connection: None,
        }
    }

    fn decide(text: &str) -> Received {
        let opts = ParseOptions::default();
        message(Bytes::from(text.to_string()), &flow(), &opts, 64 * 1024)
    }

    fn answer(text: &str) -> Message {
        match decide(text) {
            Received::Answer(m) => m,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn valid_request_is_delivered_stamped() {
        let Received::Deliver(m) = decide(OPTIONS) else {
            panic!("not delivered")
        };
        let via = m.via().unwrap();
        assert_eq!(via.rport(), Some(Some(7777)));
        assert_eq!(via.received(), Some("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn cseq_mismatch_is_answered_400_with_the_fault() {
        let resp = answer(&OPTIONS.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"));
        assert_eq!(resp.status(), Some(400));
        assert_eq!(
            resp.reason(),
            Some("CSeq method \"INVITE\" does not match request method \"OPTIONS\"")
        );
        // The answer carries the stamped Via, so it goes to the source port.
        assert_eq!(resp.via().unwrap().rport(), Some(Some(7777)));
        assert!(resp.to_header().unwrap().tag().is_some());
    }

    /// A bare CR would smuggle a header to a peer that ends lines at CR:
    /// the request is answered, never delivered; a response is dropped.
    #[test]
    fn a_bare_cr_in_a_header_is_answered_400_or_dropped() {
        let injected = "Subject: hi\rP-Asserted-Identity: <sip:ceo@bank.example>\r\n";
        let request = OPTIONS.replace("Content-Length", &format!("{injected}Content-Length"));
        let resp = answer(&request);
        assert_eq!(resp.status(), Some(400));
        assert_eq!(
            resp.reason(),
            Some("Subject header: a bare CR (one not followed by LF)")
        );
        let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n";
        assert!(matches!(
            decide(&format!("{response}Content-Length: 0\r\n\r\n")),
            Received::Deliver(_)
        ));
        assert!(matches!(
            decide(&format!("{response}{injected}Content-Length: 0\r\n\r\n")),
            Received::Ignore
        ));
    }

    /// RFC 4475 §3.1.2.7 to §3.1.2.10: a malformed Request-Line is
    /// answered from the headers, not dropped.
    #[test]
    fn a_malformed_request_line_is_answered_400() {
        for (line, reason) in [
            (
                "OPTIONS <sip:a@example.com> SIP/2.0",
                "Request-URI: \"<sip:a@example.com>\" is not a URI",
            ),
            (
                "OPTIONS sip:a@example.com; lr SIP/2.0",
                "Request-Line has more than three elements (white space in the Request-URI?)",
            ),
            (
                "OPTIONS  sip:a@example.com  SIP/2.0",
                "Request-Line has more than one space between elements",
            ),
            (
                "OPTIONS sip:a@example.com SIP/2.0  ",
                "Request-Line ends with white space",
            ),
        ] {
            let resp = answer(&OPTIONS.replacen("OPTIONS sip:a@example.com SIP/2.0", line, 1));
            assert_eq!(resp.status(), Some(400), "{line:?}");
            assert_eq!(resp.reason(), Some(reason), "{line:?}");
        }
    }

    #[test]
    fn unframable_body_is_answered_from_the_head() {
        let resp = answer(&OPTIONS.replace("Content-Length: 0", "Content-Length: 99"));
        assert_eq!(resp.status(), Some(400));
        assert_eq!(
            resp.reason(),
            Some("Content-Length 99 exceeds the 0 bytes received")
        );
    }

    #[test]
    fn version_and_size_faults_get_their_codes() {
        let resp = answer(&OPTIONS.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia"));
        assert_eq!(resp.status(), Some(505));
        let with_body = OPTIONS.replace(
            "Content-Length: 0\r\n\r\n",
            "Content-Length: 5\r\n\r\nhello",
        );
        let opts = ParseOptions::default();
        let Received::Answer(resp) = message(Bytes::from(with_body), &flow(), &opts, 4) else {
            panic!("not answered")
        };
        assert_eq!(resp.status(), Some(413));
        assert_eq!(
            resp.reason(),
            Some("body of 5 bytes exceeds the limit of 4 bytes")
        );
    }

    #[test]
    fn garbage_responses_and_acks_are_dropped() {
        for text in [
            "hello",
            "\u{0}\u{1}\u{2}",
            "GET / HTTP/1.1\r\n\r\n",
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n",
            &OPTIONS.replacen("OPTIONS", "ACK", 1),
            &OPTIONS.replace("Call-ID: c1\r\n", ""),
        ] {
            assert!(matches!(decide(text), Received::Ignore), "{text:?}");
        }
    }

    proptest::proptest! {
        /// Whatever arrives, the decision is made without a panic, and
        /// an answer is an error response to a request.
        #[test]
        fn any_bytes_get_a_decision(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            check_decision(Bytes::from(data));
        }

        /// The same for damaged requests, which reach deeper code.
        #[test]
        fn damaged_requests_get_a_decision(
            cut in 0..OPTIONS.len(),
            at in 0..OPTIONS.len(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let mut data = OPTIONS.as_bytes().to_vec();
            data[at] = byte;
            data.truncate(cut.max(at + 1));
            check_decision(Bytes::from(data));
        }
    }

    fn check_decision(data: Bytes) {
        let opts = ParseOptions::default();
        if let Received::Answer(resp) = message(data, &flow(), &opts, 1024) {
            assert!(matches!(resp.status(), Some(400 | 413 | 505 | 513)));
            let back = Message::parse(resp.to_bytes()).expect("the answer parses");
            assert_eq!(back.status(), resp.status());
        }
    }

    #[test]
    fn keepalive_datagrams() {
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(is_keepalive(b"\r\n"));
        assert!(is_keepalive(b""));
        assert!(!is_keepalive(b"\r\nX"));
    }
}
