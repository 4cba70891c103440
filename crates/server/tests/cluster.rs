//! Several sipjet nodes sharing one PostgreSQL location store: they hear
//! of each other (heartbeats, `sipjet show nodes`), reach the contacts
//! that registered through another node over that node's flows, refuse
//! to relay for anyone without a node's token, answer a challenge another
//! node sent, and keep serving when one of them dies.

mod support;

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, SystemTime};

use sipjet_server::admin::{AdminListener, AdminOptions, TOKEN_ENV};
use sipjet_server::server::{Server, ServerOptions};
use sipjet_testkit::wait_until;
use support::postgres::Schema;
use support::start_with;

/// A node's configuration: users alice and bob, UDP, TCP and WebSocket.
fn conf(node: &str) -> String {
    format!(
        "\
[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username
node_id = {node}
node_heartbeat_interval = 1

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[tcp]
type = transport
protocol = tcp
bind = 127.0.0.1:5060

[ws]
type = transport
protocol = ws
bind = 127.0.0.1:8088

[phone](!)
type = endpoint
identify_by = username

[md5](!)
type = auth
auth_type = userpass
supported_algorithms_uas = MD5

[alice](phone)
auth = alice
aors = alice
[alice](md5)
username = alice
password = alice-pass
[alice]
type = aor
max_contacts = 10

[bob](phone)
auth = bob
aors = bob
[bob](md5)
username = bob
password = bob-pass
[bob]
type = aor
max_contacts = 10
"
    )
}

/// A node in this process, on `schema`.
async fn node(name: &str, schema: &Schema) -> (Server, SocketAddr) {
    start_with(
        &conf(name),
        ServerOptions {
            location_db: Some(schema.location_db()),
            ..ServerOptions::default()
        },
    )
    .await
}

async fn admin(server: &Server) -> AdminListener {
    sipjet_server::admin::start(
        server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap()
}

async fn sipjet(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sipjet"));
    command
        .args(args)
        .env_remove(TOKEN_ENV)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("sipjet finishes in time")
        .unwrap()
}

/// What node `server` thinks of node `id`: alive or not, when known.
fn judged(server: &Server, id: &str) -> Option<bool> {
    server
        .cluster
        .nodes(SystemTime::now())
        .into_iter()
        .find(|n| n.record.id == id)
        .map(|n| n.alive)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_hear_each_other_and_a_silent_one_is_listed_dead() {
    let schema = Schema::new("nodes").await;
    let (one, _) = node("node-1", &schema).await;
    let (two, two_sip) = node("node-2", &schema).await;
    wait_until("each node hears of the other", || {
        judged(&one, "node-2") == Some(true) && judged(&two, "node-1") == Some(true)
    })
    .await;
    let listed = two.cluster.nodes(SystemTime::now());
    assert_eq!(listed[0].record.id, "node-2", "this node first");
    assert_eq!(
        listed[0].record.address.as_deref(),
        Some(format!("sip:{two_sip}").as_str()),
        "the UDP transport, where the others reach it"
    );

    let console = admin(&one).await;
    let addr = console.local_addr().to_string();
    let out = sipjet(&["show", "nodes", "--admin", &addr]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {table}"))
            .to_string()
    };
    assert!(table.starts_with("NODE"), "{table}");
    assert!(row("node-1").contains("this node"), "{table}");
    assert!(row("node-2").contains("alive"), "{table}");

    // node-2 stops beating (its process gone, as far as the others see).
    drop(two);
    wait_until("node-2 is taken for dead", || {
        judged(&one, "node-2") == Some(false)
    })
    .await;
    let out = sipjet(&["show", "nodes", "--admin", &addr, "--json"]).await;
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let two = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "node-2")
        .unwrap();
    assert_eq!(two["alive"], false, "{nodes}");
    assert!(
        two["last_heartbeat_seconds_ago"].as_u64().unwrap() >= 3,
        "{nodes}"
    );
    drop(one);
    schema.drop_now().await;
}
