//! The security event lines a log watcher (fail2ban and the like) reads,
//! as the server writes them while real requests arrive over UDP.
//!
//! The server's work runs on pool threads, so the log is captured by a
//! global subscriber, installed once for this test binary; each test
//! finds its own lines by the client's address (its port is its own).

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use sipjet_core::Message;
use sipjet_server::default_config::DEFAULT_CONFIG;
use sipjet_server::digest::DigestAlgorithm;
use support::{Client, Digest, Request, offer_of, start};
use tracing_subscriber::fmt::MakeWriter;

/// Everything logged in this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .init();
        captured
    })
}

/// The fields of every security event line whose RemoteAddress is
/// `remote`, in order.
fn events_from(remote: SocketAddr) -> Vec<HashMap<String, String>> {
    let text = String::from_utf8(log().0.lock().unwrap().clone()).unwrap();
    let address = format!("\"IPV4/UDP/{}/{}\"", remote.ip(), remote.port());
    text.lines()
        .filter_map(|l| l.find("SecurityEvent=").map(|at| &l[at..]))
        .filter(|l| l.contains(&format!("RemoteAddress={address}")))
        .map(fields)
        .collect()
}

/// `Key="value",Key="value"` (values with `\"` escapes) as a map.
fn fields(line: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = line;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    out
}

fn assert_event(
    event: &HashMap<String, String>,
    kind: &str,
    remote: SocketAddr,
    account: &str,
    reason: &str,
) {
    let want = |k: &str| event.get(k).map(String::as_str);
    assert_eq!(want("SecurityEvent"), Some(kind), "{event:?}");
    assert_eq!(want("Service"), Some("SIP"), "{event:?}");
    assert_eq!(
        want("RemoteAddress"),
        Some(format!("IPV4/UDP/{}/{}", remote.ip(), remote.port()).as_str()),
        "{event:?}"
    );
    assert_eq!(want("AccountID"), Some(account), "{event:?}");
    assert_eq!(want("Reason"), Some(reason), "{event:?}");
    let time = want("EventTV").unwrap_or_default();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{event:?}"
    );
}

/// `OPTIONS sip:alice@server` from `from_user`: its challenge, then the
/// answer `(username, password)` to it; the answer's response.
async fn answer(client: &Client, from_user: &str, username: &str, password: &str) -> Message {
    let first = Request::new("OPTIONS", &client.uri(Some("alice")), from_user);
    let offers = client.challenged(&first).await;
    let second = first.next();
    let digest = Digest::answer(
        offer_of(&offers, DigestAlgorithm::Md5),
        username,
        password,
        &second,
    );
    client.ask(&second.with(digest.header())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_answers_are_challenge_response_failures() {
    log();
    let (_server, udp) = start(DEFAULT_CONFIG).await;

    let client = Client::new(udp).await;
    assert_eq!(
        answer(&client, "bob", "bob", "not-bob-pass").await.status(),
        Some(401)
    );
    let events = events_from(client.addr);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_event(
        &events[0],
        "ChallengeResponseFailed",
        client.addr,
        "bob",
        "wrong password",
    );

    let client = Client::new(udp).await;
    assert_eq!(
        answer(&client, "eve", "eve", "eve-pass").await.status(),
        Some(401)
    );
    let events = events_from(client.addr);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_event(
        &events[0],
        "ChallengeResponseFailed",
        client.addr,
        "eve",
        "no such user",
    );

    // A right answer is no event; nor is a first request without
    // credentials (a challenge is not a failure).
    let client = Client::on("127.0.0.3", udp).await;
    assert_eq!(
        answer(&client, "bob", "bob", "bob-pass").await.status(),
        Some(200)
    );
    assert_eq!(events_from(client.addr), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_nonces_are_invalid_nonce_events() {
    log();
    let (_server, udp) = start(DEFAULT_CONFIG).await;
    let client = Client::new(udp).await;
    let first = Request::new("OPTIONS", &client.uri(Some("alice")), "bob");
    let offers = client.challenged(&first).await;
    let md5 = offer_of(&offers, DigestAlgorithm::Md5);

    // A nonce this server never issued.
    let forged = first.next();
    let digest = Digest {
        nonce: "0/00000000000000000000000000000000".into(),
        ..Digest::answer(md5, "bob", "bob-pass", &forged)
    };
    assert_eq!(
        client.ask(&forged.with(digest.header())).await.status(),
        Some(401)
    );
    let events = events_from(client.addr);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_event(
        &events[0],
        "InvalidNonce",
        client.addr,
        "bob",
        "nonce not issued here for this address and realm",
    );

    // A right answer, then the same again.
    let right = first.next();
    let digest = Digest::answer(md5, "bob", "bob-pass", &right);
    let r = client.ask(&right.clone().with(digest.header())).await;
    assert_eq!(r.status(), Some(200), "{r:?}");
    assert_eq!(events_from(client.addr).len(), 1);
    let replay = right.next().with(digest.header());
    assert_eq!(client.ask(&replay).await.status(), Some(401));
    let events = events_from(client.addr);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_event(
        &events[1],
        "InvalidNonce",
        client.addr,
        "bob",
        "nonce-count replayed",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unidentified_source_is_reported_once_at_the_count() {
    log();
    let conf = DEFAULT_CONFIG.replace(
        "default_realm = sipjet",
        "default_realm = sipjet\nunidentified_request_count = 3\nunidentified_request_period = 60",
    );
    let (_server, udp) = start(&conf).await;
    let client = Client::on("127.0.0.4", udp).await;
    let ask = || async {
        let request = Request::new("OPTIONS", &client.uri(Some("alice")), "intruder");
        assert_eq!(client.ask(&request).await.status(), Some(401));
    };
    ask().await;
    ask().await;
    // Identification runs before the answer is sent, so a line due is
    // already written when the answer arrives.
    assert_eq!(events_from(client.addr), []);
    ask().await;
    let events = events_from(client.addr);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_event(
        &events[0],
        "UnidentifiedSource",
        client.addr,
        "intruder",
        "too many requests from an unidentified source",
    );
    ask().await;
    assert_eq!(events_from(client.addr).len(), 1);

    // Requests from an identified user are not counted.
    let known = Client::on("127.0.0.5", udp).await;
    for _ in 0..3 {
        let request = Request::new("OPTIONS", &known.uri(Some("alice")), "bob");
        assert_eq!(known.ask(&request).await.status(), Some(401));
    }
    assert_eq!(events_from(known.addr), []);
}

/// The README's fail2ban `failregex`, with `<HOST>` as fail2ban reads it.
fn fail2ban_filter() -> regex::Regex {
    let readme = include_str!("../../../README.md");
    let line = readme
        .lines()
        .find_map(|l| l.strip_prefix("failregex = "))
        .expect("the README has a fail2ban filter");
    regex::Regex::new(&line.replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)")).unwrap()
}

/// The security event lines whose RemoteAddress is `remote`, whole.
fn lines_from(remote: SocketAddr) -> Vec<String> {
    let text = String::from_utf8(log().0.lock().unwrap().clone()).unwrap();
    let address = format!("/{}/{}\"", remote.ip(), remote.port());
    text.lines()
        .filter(|l| l.contains("SecurityEvent=") && l.contains(&address))
        .map(str::to_string)
        .collect()
}

/// One attack with bob's credentials: the request, how its digest is
/// spoilt, and the event it must give.
struct Attack {
    method: &'static str,
    tamper: fn(Digest) -> Digest,
    kind: &'static str,
    reason: &'static str,
}

/// Each refusal of an attack is a security event the README's fail2ban
/// filter matches, with the attacker's address as the host: credentials
/// for another URI or without qop, a REGISTER to someone else's AOR, a
/// From that is not the sender's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fail2ban_filter_matches_every_attack_refused() {
    log();
    let filter = fail2ban_filter();
    let (_server, udp) = start(DEFAULT_CONFIG).await;
    let attacks: [Attack; 4] = [
        Attack {
            method: "OPTIONS",
            tamper: |d| Digest {
                uri: "sip:unrelated@example.org".into(),
                ..d
            },
            kind: "ChallengeResponseFailed",
            reason: "digest uri is not the Request-URI",
        },
        Attack {
            method: "OPTIONS",
            tamper: |d| Digest { nc: None, ..d },
            kind: "ChallengeResponseFailed",
            reason: "credentials without qop=auth",
        },
        Attack {
            method: "MESSAGE",
            tamper: |d| d,
            kind: "RequestNotAllowed",
            reason: "From is not an identity of the authenticated endpoint",
        },
        Attack {
            method: "REGISTER",
            tamper: |d| d,
            kind: "RequestNotAllowed",
            reason: "REGISTER to an AOR that is not the endpoint's",
        },
    ];
    for (i, attack) in attacks.into_iter().enumerate() {
        let Attack {
            method,
            tamper,
            kind,
            reason,
        } = attack;
        let client = Client::on(&format!("127.0.9.{}", i + 1), udp).await;
        // bob's credentials; From ceo for the MESSAGE (found as bob by
        // its Authorization username), To alice for the REGISTER.
        let from = if method == "MESSAGE" { "ceo" } else { "bob" };
        let target = if method == "OPTIONS" { "bob" } else { "alice" };
        let first = Request::new(method, &client.uri(Some(target)), from)
            .with("Contact: <sip:evil@127.0.0.66:7777>");
        let offers = client.challenged(&first).await;
        let mut second = first.next();
        second.extra = first.extra.clone();
        let digest = tamper(Digest::answer(
            offer_of(&offers, DigestAlgorithm::Md5),
            "bob",
            "bob-pass",
            &second,
        ));
        let r = client.ask(&second.with(digest.header())).await;
        assert!(
            matches!(r.status(), Some(401 | 403)),
            "{method} {reason}: {r:?}"
        );
        let lines = lines_from(client.addr);
        assert_eq!(lines.len(), 1, "{method} {reason}: {lines:?}");
        let event = fields(&lines[0][lines[0].find("SecurityEvent=").unwrap()..]);
        assert_event(&event, kind, client.addr, "bob", reason);
        let caught = filter
            .captures(&lines[0])
            .unwrap_or_else(|| panic!("the filter misses {}", lines[0]));
        assert_eq!(&caught["host"], client.addr.ip().to_string());
    }
}

/// A source an ACL denies is a FailedACL event the fail2ban filter
/// matches, with the source as the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_an_acl_denies_is_a_failed_acl_event() {
    log();
    let filter = fail2ban_filter();
    let conf = format!("{DEFAULT_CONFIG}\n[outsiders]\ntype = acl\ndeny = 127.0.10.0/24\n");
    let (_server, udp) = start(&conf).await;
    let client = Client::on("127.0.10.1", udp).await;
    let request = Request::new("OPTIONS", &client.uri(Some("bob")), "bob");
    assert_eq!(client.ask(&request).await.status(), Some(403));
    let lines = lines_from(client.addr);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let event = fields(&lines[0][lines[0].find("SecurityEvent=").unwrap()..]);
    assert_event(
        &event,
        "FailedACL",
        client.addr,
        "bob",
        "source address denied (acl outsiders)",
    );
    let caught = filter
        .captures(&lines[0])
        .unwrap_or_else(|| panic!("the filter misses {}", lines[0]));
    assert_eq!(&caught["host"], client.addr.ip().to_string());
}
