//! SIPp, a client we did not write, authenticates to the server on its
//! built-in default configuration (users alice and bob).

mod support;

use std::time::Duration;

use sipjet_server::default_config::DEFAULT_CONFIG;
use sipjet_testkit::{Sipp, SippOutcome, free_port, scenarios_dir};

async fn run(scenario: &str, server: std::net::SocketAddr) -> SippOutcome {
    let sipp = Sipp::scenario(scenarios_dir(env!("CARGO_MANIFEST_DIR")).join(scenario))
        .target(server)
        .local_port(free_port())
        // SIPp computes the digest over the Request-URI without its user
        // part unless told the URI (which it prefixes with `sip:`); the
        // server checks that it is the Request-URI.
        .args(["-t", "u1", "-auth_uri", &format!("bob@{server}")])
        .calls(1, 1);
    tokio::task::spawn_blocking(move || sipp.run(Duration::from_secs(30)))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_answers_the_challenge_and_gets_through() {
    let (_server, udp) = support::start(DEFAULT_CONFIG).await;
    // A wrong password is refused: what passes below is the password's doing.
    run("options_auth_wrong.xml", udp).await.assert_success(1);
    run("options_auth.xml", udp).await.assert_success(1);
}
