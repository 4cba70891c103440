//! A DNS server on loopback answering from a fixed zone, for tests of
//! RFC 3263 resolution: the resolver under test is pointed at it, so no
//! test depends on the machine's DNS or hosts file.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NAPTR, SRV};
use hickory_proto::rr::{Name, RData};
use tokio::net::UdpSocket;

pub use hickory_proto::rr::Record;

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("a DNS name")
}

/// A NAPTR record of `owner` (flag `s`) pointing at the SRV name
/// `replacement` for `service` (`SIP+D2U`, `SIP+D2T`, ...).
pub fn naptr(owner: &str, order: u16, pref: u16, service: &str, replacement: &str) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::NAPTR(NAPTR::new(
            order,
            pref,
            b"s".to_vec().into_boxed_slice(),
            service.as_bytes().to_vec().into_boxed_slice(),
            Vec::new().into_boxed_slice(),
            name(replacement),
        )),
    )
}

/// An SRV record of `owner` (weight 0).
pub fn srv(owner: &str, priority: u16, port: u16, target: &str) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::SRV(SRV::new(priority, 0, port, name(target))),
    )
}

/// An A or AAAA record of `owner`, by the kind of address `ip` is.
pub fn addr(owner: &str, ip: &str) -> Record {
    let rdata = match ip.parse::<IpAddr>().expect("an IP address") {
        IpAddr::V4(a) => RData::A(A(a)),
        IpAddr::V6(a) => RData::AAAA(AAAA(a)),
    };
    Record::from_rdata(name(owner), 60, rdata)
}

/// Serves `records` over UDP on 127.0.0.1 at a free port, which it
/// returns, for as long as the test's runtime runs. Names without records
/// get NXDOMAIN, names with records of other types an empty answer.
pub async fn serve(records: Vec<Record>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a UDP port on loopback for the test's DNS server");
    let local = socket.local_addr().expect("the DNS server's address");
    let records = Arc::new(records);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::new();
            resp.set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(OpCode::Query)
                .set_authoritative(true)
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true);
            for q in query.queries() {
                resp.add_query(q.clone());
                let answers: Vec<Record> = records
                    .iter()
                    .filter(|r| r.name() == q.name() && r.record_type() == q.query_type())
                    .cloned()
                    .collect();
                if answers.is_empty() && !records.iter().any(|r| r.name() == q.name()) {
                    resp.set_response_code(ResponseCode::NXDomain);
                }
                resp.add_answers(answers);
            }
            if let Ok(bytes) = resp.to_vec() {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    local
}
