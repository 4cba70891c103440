//! Received requests run on the thread that received them when every
//! module the server registers says its work never waits: a single module
//! that does not say so sends every request, of any kind, through the
//! threadpool, which costs a wake-up and a context switch each (the trunk
//! bridge once did that to every OPTIONS and REGISTER).

mod support;

use support::start;

const CONF: &str = "\
[global]
type = global

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[acl]
type = acl
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.0/8

[alice]
type = endpoint
auth = alice-auth
aors = alice
[alice-auth]
type = auth
username = alice
password = alice-pass
[alice]
type = aor
max_contacts = 1

[gw]
type = endpoint
[gw]
type = identify
endpoint = gw
match = 127.0.0.9
";

#[tokio::test]
async fn every_module_lets_requests_run_where_they_were_received() {
    let (server, _) = start(CONF).await;
    assert!(
        server.stack.dispatch_inline(),
        "a module registered by the server keeps requests off the receiving thread"
    );
    server.shutdown().await;
}
