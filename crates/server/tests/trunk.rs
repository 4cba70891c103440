//! Trunks against a real provider on loopback: Kamailio as the
//! provider's registrar (its own users and realm), sipjet registering to
//! it with digest authentication, keeping the binding fresh, and retrying
//! a refusal as `forbidden_retry_interval` says.

mod support;

use sipjet_server::admin::views;
use sipjet_server::modules::trunk::RegistrationStatus;
use sipjet_server::modules::trunk::registration::State;
use sipjet_server::server::Server;
use sipjet_testkit::{eventually, wait_until};
use support::kamailio::{Provider, REALM};
use support::start;

fn trunk_conf(provider: &Provider, password: &str, extra: &str) -> String {
    format!(
        "[t]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n\
[provider-auth]\ntype=auth\nusername=office\npassword={password}\nrealm={REALM}\n\
[provider]\ntype=registration\nserver_uri=sip:{p}\nclient_uri=sip:office@{p}\n\
contact_user=office\noutbound_auth=provider-auth\nmax_random_initial_delay=0\n{extra}",
        p = provider.addr
    )
}

fn status(server: &Server) -> RegistrationStatus {
    server.registrations.list().remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_digest_and_refreshes_before_expiry() {
    let provider = Provider::start(&[("office", "s3cret")], "");
    let (server, udp) = start(&trunk_conf(&provider, "s3cret", "expiration=4\n")).await;
    let contact = format!("sip:office@{udp}");

    // The provider holds the binding sipjet registered, with its Contact.
    let first = eventually("the provider to hold sipjet's binding", || {
        provider
            .bindings("office")
            .into_iter()
            .find(|(c, _)| *c == contact)
    })
    .await;
    let s = status(&server);
    assert_eq!(s.state, State::Registered, "{s:?}");
    assert_eq!(s.last_code, Some(200));
    assert!(s.expires_at.is_some());
    // As /api/registrations and `sipjet show registrations` show it.
    let view = views::registrations(server.registrations.list(), std::time::SystemTime::now());
    assert_eq!(view[0].name, "provider");
    assert_eq!(view[0].state, "registered");
    assert!(view[0].expires_in_seconds.is_some_and(|s| s <= 4));
    assert_eq!(view[0].last_code, Some(200));

    // Granted 4 s, it is refreshed (same Call-ID, a higher CSeq) before
    // it runs out: the provider's binding shows a later CSeq.
    eventually("a refresh of the binding", || {
        provider
            .bindings("office")
            .into_iter()
            .find(|(c, cseq)| *c == contact && *cseq > first.1)
    })
    .await;
    assert_eq!(status(&server).state, State::Registered);
    assert!(
        !provider.log().contains("PROVIDER:"),
        "the provider refused something:\n{}",
        provider.log()
    );

    // Shut down, sipjet removes its binding.
    server.shutdown().await;
    wait_until("the binding to be removed", || {
        provider.bindings("office").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_retry_at_forbidden_retry_interval_then_stop() {
    let provider = Provider::start(&[("office", "s3cret")], "");
    let (server, _) = start(&trunk_conf(
        &provider,
        "wrong",
        "forbidden_retry_interval=1\nmax_retries=2\n",
    ))
    .await;

    // Refused: retried at forbidden_retry_interval, twice, then stopped.
    let retrying = eventually("a first retry", || {
        Some(status(&server)).filter(|s| s.retries >= 1)
    })
    .await;
    assert_eq!(retrying.last_code, Some(403), "{retrying:?}");
    assert!(retrying.next_attempt_at.is_some() || retrying.state == State::Rejected);
    let stopped = eventually("the registration to stop", || {
        Some(status(&server)).filter(|s| s.state == State::Rejected)
    })
    .await;
    assert_eq!(stopped.retries, 3, "{stopped:?}");
    assert_eq!(stopped.next_attempt_at, None);
    let reason = stopped.reason.unwrap_or_default();
    assert!(
        reason.contains("403") && reason.contains("giving up after 2 retries"),
        "{reason}"
    );
    // The provider saw the wrong password three times: the first attempt
    // and two retries, no more.
    let refused = provider
        .log()
        .matches("PROVIDER: wrong password for office")
        .count();
    assert_eq!(refused, 3, "{}", provider.log());
    assert!(provider.bindings("office").is_empty());
}
