//! Endpoint identification over real UDP, from several loopback addresses
//! (every 127.x.y.z is loopback on Linux): `identify` sections by address
//! and by range, `identify_by`, `endpoint_identifier_order`.
//!
//! An identified endpoint without auth is not challenged; a request nobody
//! is identified for goes to the artificial endpoint and is always
//! challenged. So "200 without credentials" means "identified as an
//! endpoint without auth", and "401" means "not identified as one".

mod support;

use sipjet_core::Message;
use support::{Client, Digest, Request, start};

/// `gw` (no auth) is matched by one address, `office` (no auth) by a
/// range, `useronly` (no auth) by an address but only identifiable by
/// `useronly_identify_by`; `alice` has auth and is identified by From user.
fn conf(order: &str, useronly_identify_by: &str) -> String {
    format!(
        "\
[global]
type = global
endpoint_identifier_order = {order}

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[alice]
type = endpoint
auth = alice-auth
identify_by = username
[alice-auth]
type = auth
username = alice
password = alice-pass

[gw]
type = endpoint
identify_by = ip
[gw-address]
type = identify
endpoint = gw
match = 127.0.0.2

[office]
type = endpoint
identify_by = ip
[office-range]
type = identify
endpoint = office
match = 127.0.0.8/29

[useronly]
type = endpoint
identify_by = {useronly_identify_by}
[useronly-address]
type = identify
endpoint = useronly
match = 127.0.0.30
"
    )
}

/// `OPTIONS sip:alice@server` from `ip`, From `from_user`, no credentials.
async fn options_from(ip: &str, from_user: &str, server: std::net::SocketAddr) -> Message {
    let client = Client::on(ip, server).await;
    let request = Request::new("OPTIONS", &client.uri(Some("alice")), from_user);
    client.ask(&request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_or_a_range_identifies_an_endpoint_without_auth() {
    let (_server, udp) = start(&conf("ip,username", "username")).await;
    // The address, and both ends of 127.0.0.8/29.
    for ip in ["127.0.0.2", "127.0.0.8", "127.0.0.15"] {
        let r = options_from(ip, "somebody", udp).await;
        assert_eq!(r.status(), Some(200), "from {ip}: {r:?}");
        assert_eq!(r.www_authenticates().count(), 0, "from {ip}: {r:?}");
    }
    // Next to them: nobody, so challenged.
    for ip in ["127.0.0.3", "127.0.0.7", "127.0.0.16", "127.0.0.40"] {
        let r = options_from(ip, "somebody", udp).await;
        assert_eq!(r.status(), Some(401), "from {ip}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_identified_by_username_only_is_not_found_by_address() {
    let (_server, udp) = start(&conf("ip,username", "username")).await;
    let r = options_from("127.0.0.30", "somebody", udp).await;
    assert_eq!(r.status(), Some(401), "{r:?}");

    // The same section finds it once `ip` is allowed.
    let (_server, udp) = start(&conf("ip,username", "username,ip")).await;
    let r = options_from("127.0.0.30", "somebody", udp).await;
    assert_eq!(r.status(), Some(200), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_identifier_order_decides_between_address_and_username() {
    // From 127.0.0.2 (gw, no auth) as From user alice (auth).
    let (_server, udp) = start(&conf("ip,username", "username")).await;
    let r = options_from("127.0.0.2", "alice", udp).await;
    assert_eq!(r.status(), Some(200), "ip first: gw, not challenged: {r:?}");

    let (_server, udp) = start(&conf("username,ip", "username")).await;
    let client = Client::on("127.0.0.2", udp).await;
    let first = Request::new("OPTIONS", &client.uri(Some("alice")), "alice");
    let offers = client.challenged(&first).await;
    // alice's credentials pass, so the request was alice's (the artificial
    // endpoint refuses every answer).
    let second = first.next();
    let answer = Digest::answer(&offers[0], "alice", "alice-pass", &second);
    let r = client.ask(&second.with(answer.header())).await;
    assert_eq!(r.status(), Some(200), "username first: alice: {r:?}");

    // Control: from an address nobody matches, as a user nobody is, the
    // same credentials fail.
    let client = Client::on("127.0.0.40", udp).await;
    let first = Request::new("OPTIONS", &client.uri(Some("alice")), "somebody");
    let offers = client.challenged(&first).await;
    let second = first.next();
    let answer = Digest::answer(&offers[0], "alice", "alice-pass", &second);
    let r = client.ask(&second.with(answer.header())).await;
    assert_eq!(r.status(), Some(401), "artificial endpoint: {r:?}");
}
