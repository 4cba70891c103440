//! RFC 3263 resolution against a DNS server running in the test, on
//! 127.0.0.1 with a random port.

use sipjet_message::{SipUri, Uri};
use sipjet_testkit::dns::{self, Record, addr, naptr, srv};
use sipjet_transport::{Destination, Protocol, Resolver, TransportError};

fn zone() -> Vec<Record> {
    vec![
        // NAPTR → SRV → A/AAAA, with a service this stack does not carry.
        naptr("naptr.test.", 10, 50, "SIPS+D2T", "_sips._tcp.naptr.test."),
        naptr("naptr.test.", 20, 50, "SIP+D2T", "_sip._tcp.naptr.test."),
        naptr("naptr.test.", 30, 50, "SIP+D2U", "_sip._udp.naptr.test."),
        naptr("naptr.test.", 5, 50, "SIP+D2S", "_sip._sctp.naptr.test."),
        srv("_sips._tcp.naptr.test.", 0, 5061, "tls.naptr.test."),
        srv("_sip._tcp.naptr.test.", 0, 5060, "tcp.naptr.test."),
        srv("_sip._udp.naptr.test.", 0, 5060, "udp.naptr.test."),
        srv("_sip._sctp.naptr.test.", 0, 5060, "sctp.naptr.test."),
        addr("tls.naptr.test.", "192.0.2.1"),
        addr("tcp.naptr.test.", "192.0.2.2"),
        addr("udp.naptr.test.", "192.0.2.3"),
        addr("udp.naptr.test.", "2001:db8::3"),
        addr("sctp.naptr.test.", "192.0.2.4"),
        // SRV without NAPTR.
        srv("_sip._udp.srv.test.", 20, 5080, "b.srv.test."),
        srv("_sip._udp.srv.test.", 10, 5070, "a.srv.test."),
        srv("_sip._tcp.srv.test.", 10, 5090, "a.srv.test."),
        addr("a.srv.test.", "192.0.2.10"),
        addr("b.srv.test.", "192.0.2.11"),
        // A name with NAPTR and SRV that an explicit port bypasses.
        naptr("host.test.", 10, 50, "SIP+D2T", "_sip._tcp.host.test."),
        srv("_sip._tcp.host.test.", 0, 5999, "elsewhere.host.test."),
        addr("elsewhere.host.test.", "192.0.2.21"),
        addr("host.test.", "192.0.2.20"),
        // Address records only.
        addr("plain.test.", "192.0.2.30"),
    ]
}

async fn resolver() -> Resolver {
    Resolver::with_name_servers(&[dns::serve(zone()).await])
}

async fn resolve(r: &Resolver, uri: &str) -> Result<Vec<Destination>, TransportError> {
    let Uri::Sip(sip): Uri<'_> = Uri::parse(uri).unwrap() else {
        panic!("not a SIP URI")
    };
    let sip: SipUri<'_> = sip;
    r.resolve(&sip).await
}

fn summary(found: &[Destination]) -> Vec<(Protocol, String)> {
    found
        .iter()
        .map(|d| (d.protocol, d.addr.to_string()))
        .collect()
}

#[tokio::test]
async fn naptr_then_srv_then_addresses() {
    let r = resolver().await;
    let found = resolve(&r, "sip:alice@naptr.test").await.unwrap();
    assert_eq!(
        summary(&found),
        [
            (Protocol::Tls, "192.0.2.1:5061".to_string()),
            (Protocol::Tcp, "192.0.2.2:5060".to_string()),
            (Protocol::Udp, "192.0.2.3:5060".to_string()),
            (Protocol::Udp, "[2001:db8::3]:5060".to_string()),
        ]
    );
    // TLS is checked against the URI's domain, not the SRV target.
    assert!(
        found
            .iter()
            .all(|d| d.server_name.as_deref() == Some("naptr.test"))
    );

    // A SIPS URI takes only the secure services.
    let found = resolve(&r, "sips:alice@naptr.test").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Tls, "192.0.2.1:5061".to_string())]
    );
}

#[tokio::test]
async fn srv_without_naptr() {
    let r = resolver().await;
    let found = resolve(&r, "sip:srv.test").await.unwrap();
    assert_eq!(
        summary(&found),
        [
            (Protocol::Udp, "192.0.2.10:5070".to_string()),
            (Protocol::Udp, "192.0.2.11:5080".to_string()),
            (Protocol::Tcp, "192.0.2.10:5090".to_string()),
        ]
    );
    let found = resolve(&r, "sip:srv.test;transport=tcp").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Tcp, "192.0.2.10:5090".to_string())]
    );
}

#[tokio::test]
async fn explicit_port_means_address_records_only() {
    let r = resolver().await;
    let found = resolve(&r, "sip:bob@host.test:5099").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Udp, "192.0.2.20:5099".to_string())]
    );
    assert_eq!(found[0].server_name.as_deref(), Some("host.test"));
    let found = resolve(&r, "sip:bob@host.test:5099;transport=TCP")
        .await
        .unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Tcp, "192.0.2.20:5099".to_string())]
    );
}

#[tokio::test]
async fn address_records_on_the_default_port() {
    let r = resolver().await;
    let found = resolve(&r, "sip:plain.test").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Udp, "192.0.2.30:5060".to_string())]
    );
    let found = resolve(&r, "sip:plain.test;transport=tcp").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Tcp, "192.0.2.30:5060".to_string())]
    );
    let found = resolve(&r, "sips:plain.test").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Tls, "192.0.2.30:5061".to_string())]
    );
    let found = resolve(&r, "sips:plain.test;transport=tcp").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Tls, "192.0.2.30:5061".to_string())]
    );
    let found = resolve(&r, "sip:plain.test;transport=ws").await.unwrap();
    assert_eq!(
        summary(&found),
        [(Protocol::Ws, "192.0.2.30:80".to_string())]
    );
}

#[tokio::test]
async fn ip_literals_need_no_dns() {
    // No name server at all: an IP address must not need one.
    let r = Resolver::with_name_servers(&[]);
    let cases = [
        ("sip:192.0.2.99", Protocol::Udp, "192.0.2.99:5060"),
        (
            "sip:192.0.2.99:5070;transport=tcp",
            Protocol::Tcp,
            "192.0.2.99:5070",
        ),
        ("sips:192.0.2.99", Protocol::Tls, "192.0.2.99:5061"),
        (
            "sips:[2001:db8::9]:5071",
            Protocol::Tls,
            "[2001:db8::9]:5071",
        ),
        (
            "sip:x@unused.test;maddr=192.0.2.77",
            Protocol::Udp,
            "192.0.2.77:5060",
        ),
    ];
    for (uri, protocol, addr) in cases {
        let found = resolve(&r, uri).await.unwrap();
        assert_eq!(summary(&found), [(protocol, addr.to_string())], "{uri}");
        assert_eq!(found[0].server_name, None);
    }
}

#[tokio::test]
async fn failures_name_the_fault() {
    let r = resolver().await;
    let err = resolve(&r, "sip:nowhere.test").await.unwrap_err();
    assert!(
        matches!(err, TransportError::Unresolvable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("nowhere.test"), "{err}");
    let err = resolve(&r, "sip:plain.test;transport=sctp")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot resolve sip:plain.test;transport=sctp: transport \"sctp\" is not supported"
    );
    let err = resolve(&r, "sips:plain.test;transport=udp")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("a SIPS URI cannot use UDP"),
        "{err}"
    );
}
