//! The `sipjet show`, `sipjet logger` and `sipjet run --admin` commands,
//! run as the built binary against a server in this process.

mod support;

use std::net::SocketAddr;
use std::process::Output;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use sipjet_server::admin::{AdminListener, AdminOptions, TOKEN_ENV};
use sipjet_server::server::Server;
use support::start;

const CONF: &str = "\
[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[alice]
type = endpoint
aors = alice
context = office
identify_by = username

[bob]
type = endpoint
aors = bob
transport = udp

[alice]
type = aor
max_contacts = 1

[bob]
type = aor
max_contacts = 1
";

async fn running() -> (Server, AdminListener) {
    let (server, _) = start(CONF).await;
    let admin = sipjet_server::admin::start(
        &server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap();
    (server, admin)
}

/// Runs `sipjet args...`, without a token in its environment, in the
/// system's temporary directory (so that nothing lands in the source
/// tree), killed if it takes too long.
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_prints_a_table_or_the_json() {
    let (_server, admin) = running().await;
    let addr = admin.local_addr().to_string();
    let out = sipjet(&["show", "endpoints", "--admin", &addr]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            vec![
                "ENDPOINT",
                "AORS",
                "AUTHS",
                "TRANSPORT",
                "CONTEXT",
                "IDENTIFY BY"
            ],
            vec!["alice", "alice", "-", "-", "office", "username"],
            vec!["bob", "bob", "-", "udp", "default", "username,ip"],
        ],
        "{text}"
    );
    // Columns line up: each cell starts where its heading does.
    let rows: Vec<&str> = text.lines().collect();
    for heading in ["AORS", "TRANSPORT", "CONTEXT"] {
        let at = rows[0].find(heading).unwrap();
        for row in &rows[1..] {
            assert!(
                at > 2 && &row[at - 2..at] == "  " && row.as_bytes()[at] != b' ',
                "{heading} in {text}"
            );
        }
    }

    let out = sipjet(&["show", "aors", "--admin", &addr, "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json[0]["name"], "alice");
    assert_eq!(json[1]["name"], "bob");
    assert_eq!(json[1]["registered_contacts"], 0);

    let out = sipjet(&["show", "unidentified", "--admin", &addr]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("(none)\n"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_flips_the_trace() {
    let (server, admin) = running().await;
    let addr = admin.local_addr().to_string();
    let out = sipjet(&["logger", "on", "--admin", &addr]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "SIP trace on\n");
    assert!(server.sip_trace.load(Ordering::Relaxed));
    let out = sipjet(&["logger", "--admin", &addr]).await;
    assert_eq!(stdout(&out), "SIP trace on\n");
    let out = sipjet(&["logger", "off", "--admin", &addr]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "SIP trace off\n");
    assert!(!server.sip_trace.load(Ordering::Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_says_when_no_server_runs() {
    // A port that was free a moment ago and has no listener now.
    let closed: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out = sipjet(&["show", "contacts", "--admin", &closed.to_string()]).await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cannot reach the sipjet admin interface at {closed}"
        )),
        "{err}"
    );
    assert!(err.contains("is the server running"), "{err}");

    let out = sipjet(&["show", "everything"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not endpoints, auths"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_an_admin_address_off_loopback_without_a_token() {
    let out = sipjet(&["run", "--admin", "0.0.0.0:0"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(err.contains("--admin-token"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_dialplan_says_what_a_number_runs() {
    let report = sipjet_server::dialplan::from_str(
        "extensions.conf",
        "[office]\nexten => _1XX,1,Dial(PJSIP/${EXTEN},20)\n same => n(out),Hangup(19)\n\
         exten => _X.,1,Busy\n",
    );
    assert!(report.is_ok(), "{:?}", report.errors);
    let (server, _) = support::start_with(
        CONF,
        sipjet_server::server::ServerOptions {
            dialplan: Some(std::sync::Arc::new(report.plan)),
            ..Default::default()
        },
    )
    .await;
    let admin = sipjet_server::admin::start(
        &server,
        AdminOptions::new("127.0.0.1:0".parse().unwrap(), None).unwrap(),
    )
    .await
    .unwrap();
    let addr = admin.local_addr().to_string();
    let out = sipjet(&["show", "dialplan", "office", "123", "--admin", &addr]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[office] _1XX"), "{text}");
    assert!(text.contains("Dial(PJSIP/${EXTEN},20)"), "{text}");
    assert!(text.contains("2(out)"), "{text}");
    assert!(!text.contains("Busy"), "{text}");
    // The whole context, in the order tried; as JSON too.
    let out = sipjet(&["show", "dialplan", "office", "--json", "--admin", &addr]).await;
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let extensions: Vec<&str> = json["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extension"].as_str().unwrap())
        .collect();
    assert_eq!(extensions, ["_1XX", "_X."]);
    // No such context: an error that says so.
    let out = sipjet(&["show", "dialplan", "nowhere", "--admin", &addr]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("[nowhere]"), "{}", stderr(&out));
}
