//! Property tests: messages built from random valid parts serialize, parse
//! back to the same parts and validate; a parsed message serializes to its
//! own bytes; arbitrary bytes never panic the parser, validation or the
//! stream framer.

use proptest::prelude::*;
use sipjet_message::framing::{FrameLimits, frame};
use sipjet_message::{HeaderName, Message, Method, quote, unquote};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.!%*_+`'~-]{1,12}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,6}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Register),
        Just(Method::Options),
        Just(Method::Message),
        Just(Method::Bye),
        "[A-Z]{3,10}".prop_map(|m| Method::parse(&m).unwrap()),
    ]
}

#[derive(Debug, Clone)]
struct Parts {
    method: Method,
    user: String,
    host: String,
    port: Option<u16>,
    uri_params: Vec<String>,
    display: String,
    from_tag: String,
    branch: String,
    call_id: String,
    cseq: u32,
    max_forwards: u8,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        (
            method(),
            "[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,16}",
            host(),
            proptest::option::of(1u16..),
            proptest::collection::vec("[A-Za-z0-9._~!*'()-]{1,12}", 0..3),
            "[ -~]{0,20}",
        ),
        token(),
        token(),
        "[A-Za-z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,30}(@[a-z0-9.]{1,20})?",
        0u32..=0x7fff_ffff,
        any::<u8>(),
        proptest::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[!-~]([ -~]{0,30}[!-~])?"), 0..4),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(
                (method, user, host, port, uri_params, display),
                from_tag,
                branch,
                call_id,
                cseq,
                max_forwards,
                extra,
                body,
            )| Parts {
                method,
                user,
                host,
                port,
                uri_params,
                display,
                from_tag,
                branch,
                call_id,
                cseq,
                max_forwards,
                extra,
                body,
            },
        )
}

fn build(p: &Parts) -> Message {
    let port = p.port.map(|p| format!(":{p}")).unwrap_or_default();
    let params: String = p.uri_params.iter().map(|t| format!(";{t}")).collect();
    let uri = format!("sip:{}@{}{port}{params}", p.user, p.host);
    let mut m = Message::new_request(p.method.clone(), &uri).unwrap();
    m.add_header(
        "Via",
        &format!("SIP/2.0/UDP {}{port};branch=z9hG4bK{}", p.host, p.branch),
    )
    .unwrap();
    m.add_header(
        "From",
        &format!("{} <{uri}>;tag={}", quote(&p.display), p.from_tag),
    )
    .unwrap();
    m.add_header("To", &format!("<{uri}>")).unwrap();
    m.add_header("Call-ID", &p.call_id).unwrap();
    m.add_header("CSeq", &format!("{} {}", p.cseq, p.method))
        .unwrap();
    m.add_header("Max-Forwards", &p.max_forwards.to_string())
        .unwrap();
    for (n, v) in &p.extra {
        m.add_header(n, v).unwrap();
    }
    if !p.body.is_empty() {
        m.set_body("application/octet-stream", p.body.clone())
            .unwrap();
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn build_serialize_parse(p in parts()) {
        let built = build(&p);
        let bytes = built.to_bytes();
        let m = Message::parse(bytes.clone()).unwrap();
        m.validate().unwrap();
        prop_assert_eq!(m.method(), Some(&p.method));
        let uri = m.request_uri_parsed().unwrap().unwrap();
        prop_assert_eq!(uri.user(), Some(p.user.as_str()));
        let via = m.via().unwrap();
        let branch = format!("z9hG4bK{}", p.branch);
        prop_assert_eq!(via.branch(), Some(branch.as_str()));
        prop_assert_eq!(via.port, p.port);
        let from = m.from_header().unwrap();
        prop_assert_eq!(from.tag(), Some(p.from_tag.as_str()));
        prop_assert_eq!(unquote(from.display_name.unwrap()), p.display.as_str());
        prop_assert!(from.uri().unwrap().equivalent(&uri));
        prop_assert_eq!(m.call_id().unwrap(), p.call_id.as_str());
        prop_assert_eq!(m.cseq().unwrap().seq, p.cseq);
        prop_assert_eq!(m.max_forwards().unwrap(), Some(p.max_forwards));
        for (n, v) in &p.extra {
            prop_assert!(m.headers_named(n).any(|x| x == v));
        }
        prop_assert_eq!(m.body().as_ref(), p.body.as_slice());
        // Parsed and unchanged, it is its own bytes.
        prop_assert_eq!(m.to_bytes(), bytes);
        // A response to it is valid and answers it.
        let resp = Message::response_to(&m, 200).unwrap();
        let resp = Message::parse(resp.to_bytes()).unwrap();
        resp.validate().unwrap();
        prop_assert_eq!(resp.call_id().unwrap(), p.call_id.as_str());
        prop_assert!(resp.to_header().unwrap().tag().is_some());
        prop_assert_eq!(resp.header(HeaderName::ContentLength), Some("0"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::parse(data.clone()) {
            let _ = m.validate();
            let _ = m.to_bytes();
            let _ = Message::response_to(&m, 400);
        }
        let _ = frame(&data, &FrameLimits::default());
    }

    #[test]
    fn mutated_valid_messages_never_panic(p in parts(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = build(&p).to_bytes().to_vec();
        let i = cut.index(bytes.len());
        bytes[i] = byte;
        if let Ok(m) = Message::parse(bytes.clone()) {
            let _ = m.validate();
            let _ = m.vias().count();
            let _ = m.contacts().count();
        }
        let _ = frame(&bytes, &FrameLimits::default());
    }
}
