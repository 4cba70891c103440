//! PostgreSQL stopped and started again while registrations flow through
//! a running server: no REGISTER is answered 200 unless its binding is in
//! the database, those sent meanwhile are answered 503 with Retry-After,
//! and registering works again once the database is back.
//!
//! Alone in its test binary: it stops the cluster every PostgreSQL test
//! uses.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sipjet_server::digest::DigestAlgorithm;
use sipjet_server::server::ServerOptions;
use sipjet_testkit::{eventually, wait_until};
use support::postgres::{Schema, pg_ctl};
use support::{Client, Digest, Request, listed_contacts, offer_of, start_with};
use tokio::sync::Mutex;

const USERS: usize = 4;

fn conf() -> String {
    let mut conf = String::from(
        "\
[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = username
node_id = node-1

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[phone](!)
type = endpoint
identify_by = username

[md5](!)
type = auth
auth_type = userpass
supported_algorithms_uas = MD5

[mailbox](!)
type = aor
max_contacts = 100000
",
    );
    for n in 0..USERS {
        conf.push_str(&format!(
            "\n[user{n}](phone)\nauth = user{n}\naors = user{n}\n\
             [user{n}](md5)\nusername = user{n}\npassword = pass{n}\n\
             [user{n}](mailbox)\n"
        ));
    }
    conf
}

/// What the clients were answered.
#[derive(Default)]
struct Answers {
    /// (AOR, contact) of every REGISTER answered 200.
    stored: Vec<(String, String)>,
    /// The Retry-After of every 503.
    refused: Vec<u32>,
}

/// Registers a new contact of `user`, authenticating; returns the final
/// status and what it carried.
async fn register(client: &Client, user: usize, n: usize) -> (u16, String, Option<u32>, bool) {
    let aor = format!("user{user}");
    let uri = client.uri(Some(&aor));
    let contact = format!("sip:{aor}-{n}@{}", client.addr);
    let headers = [format!("Contact: <{contact}>"), "Expires: 3600".into()];
    let with_headers = |r: Request| headers.iter().fold(r, |r, h| r.with(h.clone()));
    let first = with_headers(Request::new("REGISTER", &uri, &aor));
    let offers = client.challenged(&first).await;
    let offer = offer_of(&offers, DigestAlgorithm::Md5);
    let again = with_headers(first.next());
    let answer = Digest::answer(offer, &aor, &format!("pass{user}"), &again);
    let r = client.ask(&again.with(answer.header())).await;
    let status = r.status().expect("a response");
    let retry_after = r
        .header(sipjet_core::HeaderName::RetryAfter)
        .map(|v| v.trim().parse().expect("Retry-After in seconds"));
    let listed = listed_contacts(&r).iter().any(|(c, _)| *c == contact);
    (status, contact, retry_after, listed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_registration_is_acknowledged_unless_stored_across_a_database_restart() {
    let schema = Schema::new("outage").await;
    let (server, sip) = start_with(
        &conf(),
        ServerOptions {
            location_db: Some(schema.location_db()),
            ..ServerOptions::default()
        },
    )
    .await;
    let answers = Arc::new(Mutex::new(Answers::default()));
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..USERS)
        .map(|user| {
            let (answers, done, sent) =
                (Arc::clone(&answers), Arc::clone(&done), Arc::clone(&sent));
            tokio::spawn(async move {
                let client = Client::new(sip).await;
                // Paced, so that the outage does not turn into a flood of 503s.
                let mut pace = tokio::time::interval(Duration::from_millis(5));
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    pace.tick().await;
                    n += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                    let (status, contact, retry_after, listed) = register(&client, user, n).await;
                    let mut a = answers.lock().await;
                    match status {
                        200 => {
                            assert!(listed, "the 200 lists the contact it stored");
                            a.stored.push((format!("user{user}"), contact));
                        }
                        503 => a
                            .refused
                            .push(retry_after.expect("a 503 says when to retry")),
                        other => panic!("REGISTER answered {other}"),
                    }
                }
            })
        })
        .collect();
    let count = |f: fn(&Answers) -> usize| {
        let answers = Arc::clone(&answers);
        move || answers.try_lock().map(|a| f(&a)).unwrap_or(0)
    };

    let stored = count(|a| a.stored.len());
    let refused = count(|a| a.refused.len());
    let stored_now = stored.clone();
    wait_until("registrations stored before the outage", move || {
        stored_now() >= 20
    })
    .await;
    tokio::task::spawn_blocking(|| pg_ctl("stop"))
        .await
        .unwrap();
    let before_outage = stored();
    let refused_now = refused.clone();
    wait_until("REGISTERs refused during the outage", move || {
        refused_now() >= 10
    })
    .await;
    // Calls and messages are routed from memory meanwhile.
    assert!(server.location.len() >= before_outage);
    tokio::task::spawn_blocking(|| pg_ctl("start"))
        .await
        .unwrap();
    let after_restart = stored();
    let stored_now = stored.clone();
    eventually("registrations stored again after the restart", move || {
        (stored_now() >= after_restart + 20).then_some(())
    })
    .await;
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client failed");
    }

    let answers = answers.lock().await;
    assert!(
        answers.refused.iter().all(|s| (1..=60).contains(s)),
        "Retry-After values: {:?}",
        answers.refused
    );
    let rows = schema.bindings().await;
    let in_table: BTreeSet<(String, String)> = rows
        .iter()
        .map(|(a, c, _)| (a.clone(), c.clone()))
        .collect();
    let missing: Vec<_> = answers
        .stored
        .iter()
        .filter(|b| !in_table.contains(*b))
        .collect();
    assert!(
        missing.is_empty(),
        "answered 200 but not in the database: {missing:?}"
    );
    assert!(
        rows.iter()
            .all(|(_, _, node)| node.as_deref() == Some("node-1"))
    );
    eprintln!(
        "{} REGISTERs: {} stored, {} refused with 503",
        sent.load(Ordering::Relaxed),
        answers.stored.len(),
        answers.refused.len()
    );
    drop(answers);
    server.shutdown().await;
    schema.drop_now().await;
}
