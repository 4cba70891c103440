//! Messages for the unit tests of the state machines.

use std::time::Duration;

use sipjet_message::{Message, Method};

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request as a UDP client would send it, with `branch` in its Via.
pub(crate) fn request(method: Method, branch: &str) -> Message {
    let text = format!(
        "{m} sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1@192.0.2.1\r\n\
CSeq: 1 {m}\r\n\
Content-Length: 0\r\n\r\n",
        m = method.as_str()
    );
    Message::parse(text.into_bytes()).expect("test request parses")
}

/// A response to `request`, with a fixed To tag.
pub(crate) fn reply(request: &Message, code: u16) -> Message {
    Message::response_to_with(request, code, None, Some("b2")).expect("test response builds")
}
