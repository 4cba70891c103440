//! The `message_service` example, run against SIPp over UDP and TCP.

#[path = "../examples/message_service.rs"]
#[allow(dead_code)]
mod example;

use std::sync::Mutex;
use std::time::Duration;

use sipjet_testkit::{Sipp, free_port, loopback, scenarios_dir};

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(line: &str) {
    LOG.lock().unwrap().push(line.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_answers_sipp_and_logs_each_body() {
    let port = free_port();
    let _stack = example::serve(loopback(port), example::MessageLogger { log: record }).await;
    let scenario = scenarios_dir(env!("CARGO_MANIFEST_DIR")).join("message.xml");
    for transport in ["u1", "t1"] {
        LOG.lock().unwrap().clear();
        let sipp = Sipp::scenario(&scenario)
            .target(loopback(port))
            .local_port(free_port())
            .args(["-t", transport])
            .calls(20, 20);
        let outcome = tokio::task::spawn_blocking(move || sipp.run(Duration::from_secs(60)))
            .await
            .unwrap();
        outcome.assert_success(20);
        let log = LOG.lock().unwrap();
        assert_eq!(log.len(), 20, "{log:?}");
        assert!(log.iter().any(|l| l == "sipp1: hello 1"), "{log:?}");
    }
}
