//! The default digest authenticator, over real UDP on loopback: who is
//! challenged, what answers pass, and that a failure tells an attacker
//! nothing (RFC 3261 §22, RFC 7616, RFC 8760).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sipjet_core::Message;
use sipjet_server::auth::NonceClock;
use sipjet_server::default_config::DEFAULT_CONFIG;
use sipjet_server::digest::{DigestAlgorithm, ha1};
use sipjet_server::modules::options::{ACCEPT, ALLOW};
use sipjet_server::server::ServerOptions;
use support::{Client, Digest, Offer, Request, form, offer_of, offers, start, start_with, to_tag};

/// Endpoints with every kind of auth the server knows. Realm `test.realm`.
fn auth_conf() -> String {
    let md5_cred = ha1(DigestAlgorithm::Md5, "hashed", "test.realm", "hashed-pass");
    let sha256 = ha1(
        DigestAlgorithm::Sha256,
        "digest",
        "test.realm",
        "digest-pass",
    );
    format!(
        "\
[global]
type = global
default_realm = test.realm
endpoint_identifier_order = ip,username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[phone](!)
type = endpoint
identify_by = username

; userpass, MD5 only (the default)
[alice](phone)
auth = alice-auth
[alice-auth]
type = auth
username = alice
password = alice-pass

[multi](phone)
auth = multi-auth
[multi-auth]
type = auth
username = multi
password = multi-pass
supported_algorithms_uas = SHA-256,SHA-512-256,MD5

[hashed](phone)
auth = hashed-auth
[hashed-auth]
type = auth
auth_type = md5
username = hashed
md5_cred = {md5_cred}

[digest](phone)
auth = digest-auth
[digest-auth]
type = auth
auth_type = digest
username = digest
password_digest = SHA-256:{sha256}
supported_algorithms_uas = SHA-256

[quick](phone)
auth = quick-auth
[quick-auth]
type = auth
username = quick
password = quick-pass
nonce_lifetime = 1
"
    )
}

/// `OPTIONS sip:alice@server` from `from_user`.
fn options_to_alice(client: &Client, from_user: &str) -> Request {
    Request::new("OPTIONS", &client.uri(Some("alice")), from_user)
}

fn assert_ok_options(r: &Message) {
    assert_eq!(r.status(), Some(200), "{r:?}");
    assert_eq!(r.headers_named("Allow").collect::<Vec<_>>(), [ALLOW]);
    assert_eq!(r.headers_named("Accept").collect::<Vec<_>>(), [ACCEPT]);
    // No AOR has support_path: no extension works, none is advertised.
    assert_eq!(r.headers_named("Supported").count(), 0, "{r:?}");
    assert_eq!(r.www_authenticates().count(), 0, "{r:?}");
}

fn assert_401(r: &Message) {
    assert_eq!(r.status(), Some(401), "{r:?}");
    assert!(r.www_authenticates().count() > 0, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_to_the_server_needs_no_credentials_options_to_a_user_does() {
    let (_server, udp) = start(DEFAULT_CONFIG).await;
    let client = Client::new(udp).await;

    let to_server = Request::new("OPTIONS", &client.uri(None), "stranger");
    assert_ok_options(&client.ask(&to_server).await);

    let to_user = options_to_alice(&client, "stranger");
    assert_401(&client.ask(&to_user).await);

    // The exemption is the `unauthenticated_server_options` option's doing.
    let strict = DEFAULT_CONFIG.replace(
        "default_realm = sipjet",
        "default_realm = sipjet\nunauthenticated_server_options = no",
    );
    let (_strict_server, strict_udp) = start(&strict).await;
    let client = Client::new(strict_udp).await;
    let to_server = Request::new("OPTIONS", &client.uri(None), "stranger");
    assert_401(&client.ask(&to_server).await);
}

/// What a 401 shows, with random values reduced to their form.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    status: Option<u16>,
    reason: Option<String>,
    /// Header names as written, in order.
    header_names: Vec<String>,
    challenges: Vec<ChallengeShape>,
    to_tag: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct ChallengeShape {
    scheme: String,
    /// Parameter names in order.
    params: Vec<String>,
    realm: Option<String>,
    algorithm: Option<String>,
    qop: Option<String>,
    stale: Option<String>,
    nonce: Option<String>,
    opaque: Option<String>,
}

fn shape(r: &Message) -> Shape {
    Shape {
        status: r.status(),
        reason: r.reason().map(str::to_string),
        header_names: r.fields().map(|f| f.raw_name.to_string()).collect(),
        challenges: r
            .www_authenticates()
            .map(|c| {
                let c = c.unwrap();
                let p = |n: &str| c.param(n).map(|v| v.into_owned());
                ChallengeShape {
                    scheme: c.scheme.to_string(),
                    params: c.params().map(|(n, _)| n.to_string()).collect(),
                    realm: p("realm"),
                    algorithm: p("algorithm"),
                    qop: p("qop"),
                    stale: p("stale"),
                    nonce: p("nonce").map(|v| form(&v)),
                    opaque: p("opaque").map(|v| form(&v)),
                }
            })
            .collect(),
        to_tag: to_tag(r).map(|t| form(&t)),
    }
}

/// The whole response text with what the request put in it and the
/// random values replaced by placeholders: what remains must be the same
/// byte for byte whoever asked.
fn normalized(r: &Message, request: &Request) -> String {
    let mut text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
    let mut random: Vec<(String, &str)> = Vec::new();
    for o in offers(r) {
        random.push((o.nonce, "<nonce>"));
        random.extend(o.opaque.map(|v| (v, "<opaque>")));
    }
    random.extend(to_tag(r).map(|t| (t, "<to-tag>")));
    for (value, placeholder) in random {
        text = text.replace(&value, placeholder);
    }
    for (value, placeholder) in [
        (request.branch.clone(), "<branch>"),
        (request.call_id.clone(), "<call-id>"),
        (request.from_tag.clone(), "<from-tag>"),
        (format!("sip:{}@", request.from_user), "sip:<from-user>@"),
    ] {
        text = text.replace(&value, placeholder);
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_unidentified_source_look_alike() {
    let (_server, udp) = start(DEFAULT_CONFIG).await;
    let client = Client::new(udp).await;
    // A nonce to answer with, as an attacker would first get one.
    let first = options_to_alice(&client, "bob");
    let offered = client.challenged(&first).await;
    let md5 = offer_of(&offered, DigestAlgorithm::Md5);
    // Every request compared has the same CSeq and Request-URI, so that
    // only what the server chose can differ.
    let attempt = |from_user: &str| {
        let mut r = options_to_alice(&client, from_user);
        r.cseq = 2;
        r
    };
    let with_credentials = |from_user: &str, username: &str, password: &str| {
        let r = attempt(from_user);
        let answer = Digest::answer(md5, username, password, &r);
        r.with(answer.header())
    };
    let cases = [
        ("known user, no credentials", attempt("bob")),
        (
            "known user, wrong password",
            with_credentials("bob", "bob", "not-bob-pass"),
        ),
        ("unknown user", with_credentials("eve", "eve", "eve-pass")),
        (
            "unknown user from a known endpoint",
            with_credentials("bob", "eve", "eve-pass"),
        ),
        ("unidentified source, no credentials", attempt("eve")),
    ];
    let mut seen: Vec<(&str, Shape, String, Message)> = Vec::new();
    for (what, request) in &cases {
        let r = client.ask(request).await;
        assert_eq!(r.status(), Some(401), "{what}: {r:?}");
        seen.push((*what, shape(&r), normalized(&r, request), r));
    }
    let (_, reference, reference_text, reference_msg) = &seen[0];
    // The default configuration offers MD5 (what every softphone knows),
    // to known and unknown users alike.
    let algorithms: Vec<_> = reference
        .challenges
        .iter()
        .map(|c| c.algorithm.clone())
        .collect();
    assert_eq!(algorithms, [Some("MD5".to_string())]);
    for c in &reference.challenges {
        assert_eq!(c.realm.as_deref(), Some("sipjet"));
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.stale, None);
    }
    for (what, s, text, r) in &seen[1..] {
        assert_eq!(s, reference, "{what} differs from a first challenge");
        assert_eq!(
            text, reference_text,
            "{what} differs from a first challenge:\n{r:?}\n{reference_msg:?}"
        );
    }
    // The random values are fresh each time, not a function of who asked.
    let tags: Vec<_> = seen.iter().map(|(_, _, _, r)| to_tag(r).unwrap()).collect();
    let opaques: Vec<_> = seen
        .iter()
        .map(|(_, _, _, r)| offers(r)[0].opaque.clone().unwrap())
        .collect();
    for (i, t) in tags.iter().enumerate() {
        assert!(!tags[..i].contains(t), "To tag repeated: {tags:?}");
        assert!(
            !opaques[..i].contains(&opaques[i]),
            "opaque repeated: {opaques:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_answer_to_a_stale_nonce_gets_stale_true_a_wrong_one_does_not() {
    // The server's nonces are issued and checked by a clock the test moves.
    let ahead = Arc::new(AtomicU64::new(0));
    let clock = {
        let ahead = Arc::clone(&ahead);
        NonceClock::new(move || {
            SystemTime::now() + Duration::from_secs(ahead.load(Ordering::Relaxed))
        })
    };
    let options = ServerOptions {
        nonce_clock: clock,
        ..ServerOptions::default()
    };
    let (_server, udp) = start_with(&auth_conf(), options).await;
    let client = Client::new(udp).await;
    let first = options_to_alice(&client, "quick");
    let old = client.challenged(&first).await;
    // Older than the 1 s nonce_lifetime (nonces count whole seconds).
    ahead.store(2, Ordering::Relaxed);

    let wrong = first.next();
    let wrong = wrong
        .clone()
        .with(Digest::answer(&old[0], "quick", "not-quick-pass", &wrong).header());
    let r = client.ask(&wrong).await;
    assert_401(&r);
    assert!(
        offers(&r).iter().all(|o| o.stale.is_none()),
        "a wrong answer must not learn that its nonce was merely stale: {r:?}"
    );

    let right = wrong.next();
    let right = right
        .clone()
        .with(Digest::answer(&old[0], "quick", "quick-pass", &right).header());
    let r = client.ask(&right).await;
    assert_401(&r);
    let fresh = offers(&r);
    assert!(
        fresh.iter().all(|o| o.stale.as_deref() == Some("true")),
        "{r:?}"
    );
    assert_ne!(fresh[0].nonce, old[0].nonce);

    // The client retries with the fresh nonce, without asking its user.
    let retry = right.next();
    let retry = retry
        .clone()
        .with(Digest::answer(&fresh[0], "quick", "quick-pass", &retry).header());
    assert_ok_options(&client.ask(&retry).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_nonce_count_fails_a_higher_one_passes() {
    let (_server, udp) = start(DEFAULT_CONFIG).await;
    let client = Client::new(udp).await;
    let first = options_to_alice(&client, "bob");
    let offers = client.challenged(&first).await;
    let md5 = offer_of(&offers, DigestAlgorithm::Md5);

    let second = first.next();
    let once = Digest::answer(md5, "bob", "bob-pass", &second);
    assert_ok_options(&client.ask(&second.clone().with(once.header())).await);

    // The very same credentials in a new transaction.
    let replay = second.next().with(once.header());
    assert_401(&client.ask(&replay).await);

    let twice = Digest {
        nc: Some(2),
        ..once.clone()
    };
    let third = replay.next();
    assert_ok_options(&client.ask(&third.clone().with(twice.header())).await);

    // A count below the highest seen is a replay too.
    let fourth = third.next().with(once.header());
    assert_401(&client.ask(&fourth).await);

    // RFC 2069's form, without qop, nc and cnonce, has no count to
    // replay-check: refused, though the password is right.
    let legacy_req = fourth.next();
    let legacy = Digest {
        nc: None,
        ..Digest::answer(md5, "bob", "bob-pass", &legacy_req)
    };
    assert!(!legacy.header().contains("qop"), "{}", legacy.header());
    assert_401(&client.ask(&legacy_req.with(legacy.header())).await);
}

/// Sends `after` again (next CSeq, new branch) with credentials for
/// `offer`: `(username, password)` computed and named in `answer_in`, with
/// nonce-count `nc`. Returns the request sent and its final response.
async fn answer_in(
    client: &Client,
    after: &Request,
    offer: &Offer,
    answer_in: DigestAlgorithm,
    (username, password): (&str, &str),
    nc: u32,
) -> (Request, Message) {
    let request = after.next();
    let digest = Digest {
        algorithm: answer_in,
        nc: Some(nc),
        ..Digest::answer(offer, username, password, &request)
    };
    let request = request.with(digest.header());
    let r = client.ask(&request).await;
    (request, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_offered_algorithm_passes_and_no_other() {
    let (_server, udp) = start(&auth_conf()).await;
    let client = Client::new(udp).await;

    // Three challenges, in the configured order.
    let first = options_to_alice(&client, "multi");
    let offered = client.challenged(&first).await;
    let names: Vec<_> = offered
        .iter()
        .map(|o| o.algorithm_name.as_deref())
        .collect();
    assert_eq!(names, [Some("SHA-256"), Some("SHA-512-256"), Some("MD5")]);
    let mut last = first;
    for (nc, alg) in [
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha512_256,
        DigestAlgorithm::Md5,
    ]
    .into_iter()
    .enumerate()
    {
        let offer = offer_of(&offered, alg);
        let (sent, r) = answer_in(
            &client,
            &last,
            offer,
            alg,
            ("multi", "multi-pass"),
            nc as u32 + 1,
        )
        .await;
        assert_eq!(r.status(), Some(200), "{alg:?}: {r:?}");
        last = sent;
    }

    // alice is offered MD5 only: right answers in other algorithms fail.
    // (From another address: a nonce of its own, whatever nonces are made of.)
    let client = Client::on("127.0.0.3", udp).await;
    let first = options_to_alice(&client, "alice");
    let offered = client.challenged(&first).await;
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].algorithm_name.as_deref(), Some("MD5"));
    let mut last = first;
    for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512_256] {
        let (sent, r) =
            answer_in(&client, &last, &offered[0], alg, ("alice", "alice-pass"), 1).await;
        assert_401(&r);
        last = sent;
    }
    // An algorithm nobody knows.
    let unknown = last.next();
    let header = Digest::answer(&offered[0], "alice", "alice-pass", &unknown)
        .header()
        .replace("algorithm=MD5", "algorithm=SHA-1");
    let unknown = unknown.with(header);
    assert_401(&client.ask(&unknown).await);
    // The same nonce, in MD5: the failures above were the algorithm's.
    let (_, r) = answer_in(
        &client,
        &unknown,
        &offered[0],
        DigestAlgorithm::Md5,
        ("alice", "alice-pass"),
        1,
    )
    .await;
    assert_ok_options(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_hashes_answer_like_passwords() {
    let (_server, udp) = start(&auth_conf()).await;
    let client = Client::new(udp).await;

    // auth_type = md5 with md5_cred.
    let first = options_to_alice(&client, "hashed");
    let offered = client.challenged(&first).await;
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].algorithm, DigestAlgorithm::Md5);
    let (sent, r) = answer_in(
        &client,
        &first,
        &offered[0],
        DigestAlgorithm::Md5,
        ("hashed", "wrong-pass"),
        1,
    )
    .await;
    assert_401(&r);
    let (_, r) = answer_in(
        &client,
        &sent,
        &offered[0],
        DigestAlgorithm::Md5,
        ("hashed", "hashed-pass"),
        1,
    )
    .await;
    assert_ok_options(&r);

    // auth_type = digest with password_digest = SHA-256:... (from another
    // address: a nonce of its own, whatever nonces are made of).
    let client = Client::on("127.0.0.3", udp).await;
    let first = options_to_alice(&client, "digest");
    let offered = client.challenged(&first).await;
    let names: Vec<_> = offered
        .iter()
        .map(|o| o.algorithm_name.as_deref())
        .collect();
    assert_eq!(names, [Some("SHA-256")]);
    let (sent, r) = answer_in(
        &client,
        &first,
        &offered[0],
        DigestAlgorithm::Sha256,
        ("digest", "wrong-pass"),
        1,
    )
    .await;
    assert_401(&r);
    let (_, r) = answer_in(
        &client,
        &sent,
        &offered[0],
        DigestAlgorithm::Sha256,
        ("digest", "digest-pass"),
        1,
    )
    .await;
    assert_ok_options(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_of_another_server_or_address_or_forged_fail() {
    let conf = auth_conf();
    let (_server, udp) = start(&conf).await;
    let (_other, other_udp) = start(&conf).await;
    let client = Client::new(udp).await;
    let first = options_to_alice(&client, "alice");
    let offered = client.challenged(&first).await;
    let answered = first.next();
    let answer = Digest::answer(&offered[0], "alice", "alice-pass", &answered);
    let answered = answered.with(answer.header());

    // Another server instance with the very same configuration.
    let to_other = Client::new(other_udp).await;
    let r = to_other.ask(&answered.next().with(answer.header())).await;
    assert_401(&r);
    assert!(offers(&r).iter().all(|o| o.stale.is_none()), "{r:?}");
    // It takes the same request with credentials for its own nonce.
    let own = to_other.challenged(&answered.next()).await;
    let (_, r) = answer_in(
        &to_other,
        &answered,
        &own[0],
        DigestAlgorithm::Md5,
        ("alice", "alice-pass"),
        1,
    )
    .await;
    assert_ok_options(&r);

    // The same answer from another source address.
    let elsewhere = Client::on("127.0.0.2", udp).await;
    let r = elsewhere.ask(&answered.next().with(answer.header())).await;
    assert_401(&r);
    assert!(offers(&r).iter().all(|o| o.stale.is_none()), "{r:?}");

    // Forged nonces: what precedes the hash altered under the same hash,
    // the hash altered, cut short, or made up.
    let issued = &offered[0].nonce;
    let (head, mac) = issued.rsplit_once('/').unwrap();
    let first = head.chars().next().unwrap();
    let other = if first == '1' { '2' } else { '1' };
    for nonce in [
        format!("{other}{}/{mac}", &head[1..]),
        format!("{head}/{}", "0".repeat(mac.len())),
        issued[..issued.len() - 1].to_string(),
        "0/00000000000000000000000000000000".to_string(),
    ] {
        let forged = answered.next();
        let digest = Digest {
            nonce: nonce.clone(),
            ..Digest::answer(&offered[0], "alice", "alice-pass", &forged)
        };
        let r = client.ask(&forged.with(digest.header())).await;
        assert_401(&r);
        assert!(
            offers(&r).iter().all(|o| o.stale.is_none()),
            "{nonce}: {r:?}"
        );
    }

    // The right answer from the right address to the right server passes:
    // the refusals above were the nonce's.
    assert_ok_options(&client.ask(&answered).await);
}

/// Two phones behind one address (or one phone with two calls) that are
/// challenged within the same second each start counting their nonce at
/// `nc=00000001` (RFC 7616 §3.4), and both must pass. A nonce made of the
/// time in seconds, the source address and the realm alone would be the
/// same for both, and the second phone's right answer would be refused as
/// a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_behind_one_address_challenged_in_the_same_second_both_pass() {
    // The server's nonce clock stands still: both challenges are made in
    // the same second.
    let frozen = SystemTime::now();
    let options = ServerOptions {
        nonce_clock: NonceClock::new(move || frozen),
        ..ServerOptions::default()
    };
    let (_server, udp) = start_with(DEFAULT_CONFIG, options).await;
    let (one, two) = (Client::new(udp).await, Client::new(udp).await);
    let first_one = options_to_alice(&one, "alice");
    let first_two = options_to_alice(&two, "bob");
    let offer_one = one.challenged(&first_one).await.remove(0);
    let offer_two = two.challenged(&first_two).await.remove(0);
    let a = first_one.next();
    let a = a
        .clone()
        .with(Digest::answer(&offer_one, "alice", "alice-pass", &a).header());
    assert_ok_options(&one.ask(&a).await);
    let b = first_two.next();
    let b = b
        .clone()
        .with(Digest::answer(&offer_two, "bob", "bob-pass", &b).header());
    assert_ok_options(&two.ask(&b).await);
}

/// RFC 7616 §3.4.6, RFC 3261 §22.4: every challenge offers `qop=auth`, so
/// an answer in the RFC 2069 form (no qop, no nonce-count, nothing to stop
/// a replay) fails, as do credentials computed for another URI than the
/// Request-URI, and a right answer replayed from another port; over UDP
/// and TCP, and none of them binds anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_qop_for_another_uri_or_replayed_fail() {
    use support::{Transport, Wire};
    let (server, _) = start(DEFAULT_CONFIG).await;
    let bound = || {
        server
            .location
            .bindings("alice", std::time::SystemTime::now())
    };
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut wire = Wire::connect(transport, "127.0.0.1", &server).await;
        let register = Request::new("REGISTER", &wire.uri(Some("alice")), "alice")
            .with(format!("Contact: <sip:alice@{}>", wire.addr));
        let first = wire.ask(&register).await;
        let offer = offers(&first).remove(0);
        let mut attempt = register.next();
        attempt.extra = register.extra.clone();

        let mut rfc2069 = Digest::answer(&offer, "alice", "alice-pass", &attempt);
        rfc2069.nc = None;
        let r = wire.ask(&attempt.clone().with(rfc2069.header())).await;
        assert_401(&r);

        let mut elsewhere = Digest::answer(&offer, "alice", "alice-pass", &attempt);
        elsewhere.uri = "sip:unrelated@example.org".into();
        let r = wire
            .ask(
                &attempt
                    .next()
                    .with(register.extra[0].clone())
                    .with(elsewhere.header()),
            )
            .await;
        assert_401(&r);
        assert!(bound().is_empty(), "{transport:?}: {:?}", bound());

        let right = attempt.next().with(register.extra[0].clone());
        let answer = Digest::answer(&offer, "alice", "alice-pass", &right);
        let right = right.with(answer.header());
        assert_eq!(wire.ask(&right).await.status(), Some(200));
        let mut other_port = Wire::connect(transport, "127.0.0.1", &server).await;
        let mut replay = right.clone();
        replay.branch = sipjet_core::message::generate::branch();
        replay.extra[0] = "Contact: <sip:evil@127.0.0.1:7777>".into();
        assert_401(&other_port.ask(&replay).await);
        let contacts: Vec<_> = bound().into_iter().map(|b| b.contact).collect();
        assert_eq!(contacts, [format!("sip:alice@{}", wire.addr)]);
        server
            .location
            .apply(sipjet_server::location::AorUpdate {
                aor: "alice".into(),
                remove_all: true,
                ..Default::default()
            })
            .unwrap();
    }
}

/// Where auths differ in realm and algorithms, an unknown user's
/// challenge is the challenge of some configured endpoint, the same each
/// time it is asked for, so it does not tell that the user is unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_get_some_known_users_challenge() {
    let conf = "\
[global]
type = global
default_realm = default.realm
endpoint_identifier_order = username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[phone](!)
type = endpoint
identify_by = username

[alice](phone)
auth = alice-auth
[alice-auth]
type = auth
username = alice
password = alice-pass
realm = one.realm

[bob](phone)
auth = bob-auth
[bob-auth]
type = auth
username = bob
password = bob-pass
realm = two.realm
supported_algorithms_uas = SHA-256

[carol](phone)
auth = carol-auth
[carol-auth]
type = auth
username = carol
password = carol-pass
realm = one.realm
supported_algorithms_uas = SHA-256,MD5
";
    let (_server, udp) = start(conf).await;
    let client = Client::new(udp).await;
    let challenge_of = |user: &str| {
        let request = Request::new("MESSAGE", &client.uri(Some("alice")), user);
        let client = &client;
        async move {
            client
                .challenged(&request)
                .await
                .into_iter()
                .map(|o| (o.realm, o.algorithm_name))
                .collect::<Vec<_>>()
        }
    };
    let mut known = Vec::new();
    for user in ["alice", "bob", "carol"] {
        known.push(challenge_of(user).await);
    }
    let mut unknown_seen = Vec::new();
    for i in 0..30 {
        let user = format!("nobody{i}");
        let c = challenge_of(&user).await;
        assert!(known.contains(&c), "{user} got {c:?}, known ones {known:?}");
        assert_eq!(challenge_of(&user).await, c, "{user} asked again");
        if !unknown_seen.contains(&c) {
            unknown_seen.push(c);
        }
    }
    assert!(
        unknown_seen.len() > 1,
        "unknown users all look alike: {unknown_seen:?}"
    );
}
