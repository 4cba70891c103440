//! Messages for the unit tests: the call of RFC 3665 §3.2 (session
//! establishment through two proxies, over TCP), bodies left out. Alice at
//! client.atlanta.example.com calls Bob at client.biloxi.example.com; the
//! proxies ss1.atlanta.example.com and ss2.biloxi.example.com record-route.

use sipjet_message::{HeaderName, Message, generate};

use super::Dialog;

pub const CALL_ID: &str = "3848276298220188511@atlanta.example.com";
pub const ALICE_TAG: &str = "9fxced76sl";
pub const BOB_TAG: &str = "314159";
pub const ALICE_CONTACT: &str = "sip:alice@client.atlanta.example.com;transport=tcp";
pub const BOB_CONTACT: &str = "sip:bob@client.biloxi.example.com;transport=tcp";

/// The INVITE as Alice sends it (after the 407 challenge).
pub const INVITE_FROM_ALICE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Length: 0

";

/// The same INVITE as Bob receives it, through both proxies.
pub const INVITE_AT_BOB: &str = "INVITE sip:bob@client.biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.1
Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.111
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
Max-Forwards: 68
Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Length: 0

";

/// The 180 as Alice receives it.
pub const RINGING_AT_ALICE: &str = "SIP/2.0 180 Ringing
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=314159
Call-ID: 3848276298220188511@atlanta.example.com
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>
CSeq: 2 INVITE
Content-Length: 0

";

/// The 200 as Alice receives it.
pub const OK_AT_ALICE: &str = "SIP/2.0 200 OK
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=314159
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 INVITE
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>
Content-Length: 0

";

/// Alice's ACK as Bob receives it (the proxies consumed the Route).
pub const ACK_AT_BOB: &str = "ACK sip:bob@client.biloxi.example.com;transport=tcp SIP/2.0
Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.2
Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.2;received=192.0.2.111
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74b76;received=192.0.2.101
Max-Forwards: 68
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=314159
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 ACK
Content-Length: 0

";

/// Bob's BYE as Alice receives it.
pub const BYE_AT_ALICE: &str = "BYE sip:alice@client.atlanta.example.com;transport=tcp SIP/2.0
Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.3
Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.3;received=192.0.2.222
Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7;received=192.0.2.100
Max-Forwards: 68
From: Bob <sip:bob@biloxi.example.com>;tag=314159
To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 BYE
Content-Length: 0

";

/// Parses a message written with bare line feeds.
pub fn parse(text: &str) -> Message {
    Message::parse(text.replace('\n', "\r\n").into_bytes()).expect("test message parses")
}

/// A response of Bob's UAS to the INVITE, as Bob builds it (§12.1.1): Record-Route
/// copied, his tag and Contact added.
pub fn bob_response(code: u16) -> Message {
    let invite = parse(INVITE_AT_BOB);
    let mut response = Message::response_to_with(&invite, code, None, Some(BOB_TAG)).unwrap();
    for route in invite.headers(HeaderName::RecordRoute) {
        response.add_header("Record-Route", route).unwrap();
    }
    response
        .add_header("Contact", &format!("<{BOB_CONTACT}>"))
        .unwrap();
    response
}

/// The `100 Trying` to the INVITE, which has no To tag.
pub fn trying() -> Message {
    Message::response_to(&parse(INVITE_AT_BOB), 100).unwrap()
}

/// Alice's 200 to the BYE, as Bob receives it.
pub fn response_to_bye() -> Message {
    Message::response_to(&parse(BYE_AT_ALICE), 200).unwrap()
}

/// Alice's dialog after the 180.
pub fn alice_dialog_early() -> Dialog {
    Dialog::from_uac(&parse(INVITE_FROM_ALICE), &parse(RINGING_AT_ALICE)).unwrap()
}

/// Alice's dialog after the 200.
pub fn alice_dialog_confirmed() -> Dialog {
    Dialog::from_uac(&parse(INVITE_FROM_ALICE), &parse(OK_AT_ALICE)).unwrap()
}

/// Bob's dialog once he has sent the 200.
pub fn bob_dialog_confirmed() -> Dialog {
    Dialog::from_uas(&parse(INVITE_AT_BOB), &bob_response(200)).unwrap()
}

/// What the transport receives once the transaction layer has put its Via
/// on a built request: it must parse and be valid.
pub fn on_the_wire(mut request: Message) -> Message {
    request
        .prepend_header(
            "Via",
            &format!("SIP/2.0/TCP 192.0.2.1;branch={}", generate::branch()),
        )
        .unwrap();
    let received = Message::parse(request.to_bytes()).expect("built request parses");
    received.validate().expect("built request is valid");
    received
}
