//! Connections the server opens over TLS: it trusts the system's CA
//! certificates and those of `ca_list_file`, and checks the peer's
//! certificate and name, so that a contact behind a private CA is reached
//! when its CA is listed and refused, with a clear error, when it is not.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use sipjet_core::{
    Destination, ListenerConfig, Message, Protocol, TransportConfig,
    transport::{Incoming, TlsServerConfig, TransportError, Transports, response_destination},
};
use sipjet_server::config::pjsip;
use sipjet_server::model::Model;
use sipjet_server::modules::qualify::Status;
use sipjet_server::server::{Server, ServerError, ServerOptions, stack_config};
use sipjet_testkit::eventually;
use support::Scratch;

/// A private CA and a certificate it signed for localhost and 127.0.0.1.
struct Pki {
    ca_pem: String,
    leaf_pem: String,
    key_pem: String,
}

/// `ca_name` tells CAs apart: rustls finds a certificate's issuer by name.
fn pki(ca_name: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        leaf_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

/// A SIP peer with a TLS listener that answers every request `200`.
async fn tls_peer(pki: &Pki) -> Transports {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Incoming>();
    let server =
        TlsServerConfig::from_pem(pki.leaf_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let peer = Transports::start(
        TransportConfig {
            listeners: vec![ListenerConfig::tls("127.0.0.1:0".parse().unwrap(), server)],
            ..TransportConfig::default()
        },
        Arc::new(move |m: Incoming| {
            let _ = tx.send(m);
        }),
    )
    .await
    .unwrap();
    let answering = peer.clone();
    tokio::spawn(async move {
        while let Some(Incoming { message, flow }) = rx.recv().await {
            if !message.is_request() {
                continue;
            }
            let ok = Message::response_to(&message, 200).unwrap();
            let dest = response_destination(&message.via().unwrap(), &flow);
            let _ = answering.send(&ok, &dest).await;
        }
    });
    peer
}

/// A configuration with a TLS transport (whose own certificate does not
/// matter here), `ca_list_file` when given, and an AOR whose contact is
/// the peer over TLS, qualified every second (`;` starts a comment in
/// pjsip.conf, so the URI parameter is written `\;`).
fn conf(scratch: &Scratch, pki: &Pki, ca_list_file: Option<&PathBuf>, peer: &Transports) -> String {
    let cert = scratch.file("cert.pem", &pki.leaf_pem);
    let key = scratch.file("key.pem", &pki.key_pem);
    let peer_addr = peer.sent_by(Protocol::Tls).unwrap();
    let ca = ca_list_file
        .map(|p| format!("ca_list_file={}\n", p.display()))
        .unwrap_or_default();
    format!(
        "[t-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:0\n\
[t-tls]\ntype=transport\nprotocol=tls\nbind=127.0.0.1:0\n\
cert_file={}\npriv_key_file={}\n{ca}\
[peer]\ntype=aor\ncontact=sip:peer@{peer_addr}\\;transport=tls\nqualify_frequency=1\nqualify_timeout=3\n",
        cert.display(),
        key.display(),
    )
}

fn load(text: &str) -> Arc<Model> {
    let report = pjsip::from_str("tls.conf", text);
    assert!(report.is_ok(), "{:?}", report.errors);
    Arc::new(Model::new(report.config))
}

/// The first status qualify records for the peer's contact.
async fn qualified(server: &Server, peer: &Transports) -> Status {
    let contact = format!(
        "sip:peer@{};transport=tls",
        peer.sent_by(Protocol::Tls).unwrap()
    );
    eventually("the peer's contact to be qualified", || {
        server.contact_status.get("peer", &contact)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_behind_the_ca_of_ca_list_file_is_reached_over_tls() {
    let pki = pki("sipjet test CA");
    let scratch = Scratch::new("tls-client");
    let ca = scratch.file("ca.pem", &pki.ca_pem);
    let peer = tls_peer(&pki).await;
    let server = Server::start(
        load(&conf(&scratch, &pki, Some(&ca), &peer)),
        ServerOptions::default(),
    )
    .await
    .unwrap();
    let status = qualified(&server, &peer).await;
    assert!(status.reachable, "{status:?}");
    assert!(status.rtt.is_some());
    server.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_behind_an_unknown_ca_is_refused() {
    let pki = pki("sipjet test CA");
    let scratch = Scratch::new("tls-client");
    let peer = tls_peer(&pki).await;
    // Another CA is listed; the peer's is not, nor among the system's.
    let other = scratch.file("other-ca.pem", &self::pki("another test CA").ca_pem);
    let model = load(&conf(&scratch, &pki, Some(&other), &peer));

    // The transports the server configures refuse the peer by name.
    let cfg = stack_config(&model.config, &ServerOptions::default()).unwrap();
    let transports = Transports::start(cfg.transport, Arc::new(|_: Incoming| {}))
        .await
        .unwrap();
    let peer_addr = peer.sent_by(Protocol::Tls).unwrap();
    let request = Message::parse(format!(
        "OPTIONS sip:peer@{peer_addr};transport=tls SIP/2.0\r\n\
Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\n\
From: <sip:sipjet@127.0.0.1>;tag=1\r\nTo: <sip:peer@{peer_addr}>\r\n\
Call-ID: tls1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap();
    let err = transports
        .send(&request, &Destination::new(Protocol::Tls, peer_addr))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Handshake { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    transports.shutdown().await;

    // And the server finds the contact unreachable.
    let server = Server::start(model, ServerOptions::default())
        .await
        .unwrap();
    let status = qualified(&server, &peer).await;
    assert!(!status.reachable, "{status:?}");
    server.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_ca_list_file_stops_the_server_and_names_the_file() {
    let pki = pki("sipjet test CA");
    let scratch = Scratch::new("tls-client");
    let peer = tls_peer(&pki).await;
    let missing = scratch.join("missing-ca.pem");
    let not_pem = scratch.file("not-pem.pem", "no certificate here");
    for file in [&missing, &not_pem] {
        let model = load(&conf(&scratch, &pki, Some(file), &peer));
        let err = match Server::start(model, ServerOptions::default()).await {
            Ok(_) => panic!("started with ca_list_file {}", file.display()),
            Err(e) => e,
        };
        assert!(matches!(err, ServerError::TlsTrust(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "ca_list_file: cannot read CA certificates from {}: ",
                file.display()
            )),
            "{text}"
        );
    }
    peer.shutdown().await;
}
