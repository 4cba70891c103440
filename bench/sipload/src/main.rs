//! `sipload`: sends SIP requests at a fixed rate (open loop: the next
//! request leaves on time whether or not the last was answered) and times
//! each exchange to the microsecond, which SIPp, counting in
//! milliseconds, cannot. It also answers SHA-256 challenges, which SIPp
//! does not. A measuring tool for `bench/compare.sh`, not a test.
//!
//! ```text
//! sipload --target 127.0.0.1:5060 --scenario register --algorithm SHA-256 --rate 2000 --duration 10
//! sipload --target 127.0.0.1:5060 --scenario call --callee user1000 --users 990 --rate 500
//! ```
//!
//! A call is INVITE, challenge (401 or 407), ACK, INVITE with credentials,
//! 100/180, 200, then ACK and BYE along the route set of the 200, and the
//! BYE's 200; the time measured is from the INVITE with credentials to
//! its 200. No request is retransmitted: over UDP a lost message fails
//! the exchange.
//!
//! With `--answer` it is instead the peer that answers (see [`answer`]):
//! every request to `--target` is answered for `--duration` seconds, an
//! INVITE as a callee that picks up at once.
//!
//! The last line printed is `key=value` pairs for scripts.

mod answer;
mod digest;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use sipjet_message::{Contact, HeaderName, Message};

use crate::digest::{Algorithm, Answer};
use crate::wire::Wire;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// OPTIONS to the server itself, expecting 200.
    Options,
    /// REGISTER, 401, REGISTER with credentials, 200.
    Register,
    /// A call through a proxy to `--callee`, hung up at once.
    Call,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Transport {
    Udp,
    Tcp,
}

#[derive(Parser, Debug)]
#[command(name = "sipload", about = "Open-loop SIP load with microsecond timing")]
struct Args {
    /// The server.
    #[arg(long, default_value = "127.0.0.1:5060")]
    target: SocketAddr,
    #[arg(long, value_enum, default_value = "udp")]
    transport: Transport,
    #[arg(long, value_enum, default_value = "options")]
    scenario: Scenario,
    /// The digest algorithm to answer with (the challenge must offer it).
    #[arg(long, default_value = "MD5")]
    algorithm: String,
    /// Exchanges started per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// The user called (`call`).
    #[arg(long, default_value = "callee")]
    callee: String,
    /// Users `<prefix>1` to `<prefix>N` register (or call) in turn.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// The number of the first of them (so that two loads can share the
    /// users out: `--first-user 501 --users 500`).
    #[arg(long, default_value_t = 1)]
    first_user: usize,
    #[arg(long, default_value = "user")]
    user_prefix: String,
    /// User k's password is `<prefix>k`.
    #[arg(long, default_value = "pass")]
    password_prefix: String,
    /// How long after the last request an unanswered exchange counts as failed.
    #[arg(long, default_value_t = 5)]
    grace: u64,
    /// Answer requests on `--target` instead of sending any.
    #[arg(long)]
    answer: bool,
}

/// An exchange under way.
struct Pending {
    /// When its last request with credentials (or its first) left.
    started: Instant,
    user: usize,
    /// A call's INVITE to 200, once answered.
    answered_us: Option<u32>,
}

/// What the receiving side needs.
struct Run {
    args: Args,
    algorithm: Algorithm,
    wire: Wire,
    pending: Mutex<HashMap<u64, Pending>>,
    latencies_us: Mutex<Vec<u32>>,
    failed: AtomicU64,
    statuses: Mutex<HashMap<u16, u64>>,
    tag: u32,
}

fn main() {
    let args = Args::parse();
    if args.answer {
        let tcp = args.transport == Transport::Tcp;
        match answer::answer(args.target, tcp, Duration::from_secs(args.duration)) {
            Ok((answered, other)) => println!("answered={answered} unanswerable={other}"),
            Err(e) => {
                eprintln!("sipload: answering on {}: {e}", args.target);
                std::process::exit(1);
            }
        }
        return;
    }
    let Some(algorithm) = Algorithm::parse(&args.algorithm) else {
        eprintln!(
            "sipload: unknown algorithm {:?} (MD5 or SHA-256)",
            args.algorithm
        );
        std::process::exit(2);
    };
    let wire = match Wire::connect(args.transport == Transport::Tcp, args.target) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("sipload: cannot reach {}: {e}", args.target);
            std::process::exit(1);
        }
    };
    let run = Arc::new(Run {
        algorithm,
        wire,
        pending: Mutex::new(HashMap::new()),
        latencies_us: Mutex::new(Vec::new()),
        failed: AtomicU64::new(0),
        statuses: Mutex::new(HashMap::new()),
        tag: std::process::id(),
        args,
    });
    let receiver = {
        let run = Arc::clone(&run);
        std::thread::spawn(move || receive(&run))
    };
    let total = run.args.rate * run.args.duration;
    let started = Instant::now();
    for i in 0..total {
        let due = started + Duration::from_nanos(i * 1_000_000_000 / run.args.rate);
        pace(due);
        let user = (i as usize % run.args.users.max(1)) + run.args.first_user;
        run.pending.lock().unwrap().insert(
            i,
            Pending {
                started: Instant::now(),
                user,
                answered_us: None,
            },
        );
        let request = first_request(&run, i, user);
        if let Err(e) = run.wire.send(request.as_bytes()) {
            eprintln!("sipload: send failed: {e}");
            run.pending.lock().unwrap().remove(&i);
            run.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let sent_for = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(run.args.grace);
    while Instant::now() < deadline && !run.pending.lock().unwrap().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let unanswered = run.pending.lock().unwrap().len() as u64;
    run.wire.close();
    let _ = receiver.join();
    report(&run, total, unanswered, sent_for);
}

/// Sleeps until `due`. No spinning: at thousands of requests a second a
/// spinning sender takes a whole core from the server it measures; a
/// request whose time passed during a sleep leaves at once, so the rate
/// holds and requests leave in small bunches instead.
fn pace(due: Instant) {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

fn local(run: &Run) -> String {
    run.wire.local().to_string()
}

fn transport_name(run: &Run) -> &'static str {
    match run.args.transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    }
}

fn server_uri(run: &Run) -> String {
    format!("sip:{}", run.args.target)
}

fn first_request(run: &Run, i: u64, user: usize) -> String {
    match run.args.scenario {
        Scenario::Options => format!(
            "OPTIONS {uri} SIP/2.0\r\n\
             Via: SIP/2.0/{t} {local};branch=z9hG4bK-sl{tag}-{i}-1;rport\r\n\
             From: <sip:probe@{local}>;tag={i}\r\n\
             To: <{uri}>\r\n\
             Call-ID: {tag}-{i}@sipload\r\n\
             CSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            uri = server_uri(run),
            t = transport_name(run),
            local = local(run),
            tag = run.tag,
        ),
        Scenario::Register => register(run, i, user, 1, None),
        Scenario::Call => invite(run, i, user, 1, None),
    }
}

fn elapsed_us(since: Instant) -> u32 {
    since.elapsed().as_micros().min(u32::MAX as u128) as u32
}

fn callee_uri(run: &Run) -> String {
    format!("sip:{}@{}", run.args.callee, run.args.target)
}

/// The caller's From, the same in every request of the call.
fn caller_from(run: &Run, i: u64, user: usize) -> String {
    format!(
        "<sip:{}{user}@{}>;tag={i}",
        run.args.user_prefix,
        run.args.target.ip()
    )
}

/// The offer of every INVITE; no media flows in a signalling measurement.
const OFFER_SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// The INVITE of call `i`, first (CSeq 1) or with credentials (CSeq 2,
/// `credentials` a whole header line).
fn invite(run: &Run, i: u64, user: usize, cseq: u32, credentials: Option<&str>) -> String {
    let auth = credentials
        .map(|line| format!("{line}\r\n"))
        .unwrap_or_default();
    format!(
        "INVITE {uri} SIP/2.0\r\n\
         Via: SIP/2.0/{t} {local};branch=z9hG4bK-sl{tag}-{i}-{cseq};rport\r\n\
         From: {from}\r\n\
         To: <{uri}>\r\n\
         Call-ID: {tag}-{i}@sipload\r\n\
         CSeq: {cseq} INVITE\r\n\
         Contact: <sip:{prefix}{user}@{local};transport={tl}>\r\n\
         {auth}\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{OFFER_SDP}",
        uri = callee_uri(run),
        t = transport_name(run),
        tl = transport_name(run).to_ascii_lowercase(),
        local = local(run),
        tag = run.tag,
        from = caller_from(run, i, user),
        prefix = run.args.user_prefix,
        len = OFFER_SDP.len(),
    )
}

/// A request of call `i` after its INVITE: the ACK of the challenge (in
/// the first INVITE's transaction, so with its branch), or the ACK or BYE
/// of the dialog, to `target` along `route`. `to` is the To of the
/// response, with its tag.
#[allow(clippy::too_many_arguments)]
fn in_call(
    run: &Run,
    i: u64,
    user: usize,
    method: &str,
    cseq: u32,
    branch: &str,
    target: &str,
    route: &str,
    to: &str,
) -> String {
    let route = if route.is_empty() {
        String::new()
    } else {
        format!("Route: {route}\r\n")
    };
    format!(
        "{method} {target} SIP/2.0\r\n\
         Via: SIP/2.0/{t} {local};branch=z9hG4bK-sl{tag}-{i}-{branch};rport\r\n\
         {route}\
         From: {from}\r\n\
         To: {to}\r\n\
         Call-ID: {tag}-{i}@sipload\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        t = transport_name(run),
        local = local(run),
        tag = run.tag,
        from = caller_from(run, i, user),
    )
}

/// The REGISTER of exchange `i`, first or with `credentials` (a whole
/// header line).
fn register(run: &Run, i: u64, user: usize, cseq: u32, credentials: Option<&str>) -> String {
    let aor = format!(
        "sip:{}{user}@{}",
        run.args.user_prefix,
        run.args.target.ip()
    );
    let auth = credentials
        .map(|line| format!("{line}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER {uri} SIP/2.0\r\n\
         Via: SIP/2.0/{t} {local};branch=z9hG4bK-sl{tag}-{i}-{cseq};rport\r\n\
         From: <{aor}>;tag={i}\r\n\
         To: <{aor}>\r\n\
         Call-ID: {tag}-{i}@sipload\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{prefix}{user}@{local};transport={tl}>\r\n\
         Expires: 3600\r\n\
         {auth}\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        uri = server_uri(run),
        t = transport_name(run),
        tl = transport_name(run).to_ascii_lowercase(),
        local = local(run),
        tag = run.tag,
        prefix = run.args.user_prefix,
    )
}

/// The exchange number a response belongs to, from its Call-ID.
fn exchange_of(response: &Message, tag: u32) -> Option<u64> {
    let call_id = response.header(HeaderName::CallId)?;
    let (run_tag, rest) = call_id.split_once('-')?;
    if run_tag != tag.to_string() {
        return None;
    }
    rest.strip_suffix("@sipload")?.parse().ok()
}

fn receive(run: &Run) {
    run.wire.receive(&mut |bytes| on_response(run, bytes));
}

fn on_response(run: &Run, bytes: &[u8]) {
    let Ok(response) = Message::parse(bytes.to_vec()) else {
        return;
    };
    if response.is_request() {
        // The server checking the contact we registered (qualify): answer
        // as a phone would, so that it is not retransmitting at us.
        if let Ok(ok) = Message::response_to(&response, 200) {
            let _ = run.wire.send(&ok.to_bytes());
        }
        return;
    }
    let (Some(status), Some(i)) = (response.status(), exchange_of(&response, run.tag)) else {
        return;
    };
    if status < 200 {
        return;
    }
    *run.statuses.lock().unwrap().entry(status).or_default() += 1;
    if run.args.scenario == Scenario::Call {
        on_call_response(run, &response, status, i);
        return;
    }
    let is_first = response.cseq().map(|c| c.seq == 1).unwrap_or(false);
    if status == 401 && run.args.scenario == Scenario::Register && is_first {
        let user = match run.pending.lock().unwrap().get(&i) {
            Some(p) => p.user,
            None => return,
        };
        match answer(run, &response, i, user) {
            Some(request) => {
                if run.wire.send(request.as_bytes()).is_ok() {
                    return;
                }
            }
            None => eprintln!("sipload: no {} challenge to answer", run.algorithm.name()),
        }
    }
    let Some(pending) = run.pending.lock().unwrap().remove(&i) else {
        return;
    };
    if status == 200 {
        run.latencies_us
            .lock()
            .unwrap()
            .push(elapsed_us(pending.started));
    } else {
        run.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// A final response of call `i`: the challenge is ACKed and answered, the
/// 200 of the INVITE ACKed (again, when it comes again) and the call hung
/// up, the 200 of the BYE ends it. Anything else fails it.
fn on_call_response(run: &Run, response: &Message, status: u16, i: u64) {
    let Ok(cseq) = response.cseq() else {
        return;
    };
    let to = response.header(HeaderName::To).unwrap_or_default();
    let user = match run.pending.lock().unwrap().get(&i) {
        Some(p) => p.user,
        None => return,
    };
    match (cseq.seq, cseq.method, status) {
        (1, "INVITE", 401 | 407) => {
            let ack = in_call(run, i, user, "ACK", 1, "1", &callee_uri(run), "", to);
            let again = credentials(run, response, "INVITE", &callee_uri(run), i, user)
                .map(|line| invite(run, i, user, 2, Some(&line)));
            match again {
                Some(again) => {
                    if let Some(p) = run.pending.lock().unwrap().get_mut(&i) {
                        p.started = Instant::now();
                    }
                    if run.wire.send(ack.as_bytes()).is_ok()
                        && run.wire.send(again.as_bytes()).is_ok()
                    {
                        return;
                    }
                }
                None => eprintln!("sipload: no {} challenge to answer", run.algorithm.name()),
            }
        }
        (2, "INVITE", 200..=299) => {
            let first = match run.pending.lock().unwrap().get_mut(&i) {
                Some(p) => {
                    let first = p.answered_us.is_none();
                    if first {
                        p.answered_us = Some(elapsed_us(p.started));
                    }
                    first
                }
                None => return,
            };
            let Some(Ok(Contact::Addr(contact))) = response.contact() else {
                eprintln!("sipload: a 200 to an INVITE without a Contact");
                fail(run, i);
                return;
            };
            // The route set: the Record-Route in reverse (RFC 3261 §12.1.2).
            let mut route: Vec<String> = response
                .record_routes()
                .flatten()
                .map(|r| r.to_string())
                .collect();
            route.reverse();
            let route = route.join(", ");
            let target = contact.uri_str();
            let ack = in_call(run, i, user, "ACK", 2, "2a", target, &route, to);
            let _ = run.wire.send(ack.as_bytes());
            if first {
                let bye = in_call(run, i, user, "BYE", 3, "3", target, &route, to);
                if run.wire.send(bye.as_bytes()).is_err() {
                    fail(run, i);
                }
            }
            return;
        }
        (3, "BYE", 200..=299) => {
            if let Some(p) = run.pending.lock().unwrap().remove(&i) {
                match p.answered_us {
                    Some(us) => run.latencies_us.lock().unwrap().push(us),
                    None => {
                        run.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            return;
        }
        _ => {}
    }
    fail(run, i);
}

fn fail(run: &Run, i: u64) {
    if run.pending.lock().unwrap().remove(&i).is_some() {
        run.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The REGISTER with credentials for the challenge in `response`.
fn answer(run: &Run, response: &Message, i: u64, user: usize) -> Option<String> {
    let line = credentials(run, response, "REGISTER", &server_uri(run), i, user)?;
    Some(register(run, i, user, 2, Some(&line)))
}

/// The header line that answers the challenge in `response` (a 401's
/// `WWW-Authenticate` with `Authorization`, a 407's `Proxy-Authenticate`
/// with `Proxy-Authorization`) for a request to `uri`.
fn credentials(
    run: &Run,
    response: &Message,
    method: &str,
    uri: &str,
    i: u64,
    user: usize,
) -> Option<String> {
    let proxy = response.status() == Some(407);
    let challenges: Vec<_> = if proxy {
        response.proxy_authenticates().flatten().collect()
    } else {
        response.www_authenticates().flatten().collect()
    };
    let challenge = challenges.into_iter().find(|c| {
        let offered = c.param("algorithm");
        let offered = offered.as_deref().unwrap_or("MD5");
        Algorithm::parse(offered) == Some(run.algorithm)
    })?;
    let realm = challenge.param("realm")?;
    let nonce = challenge.param("nonce")?;
    let opaque = challenge.param("opaque");
    let qop_auth = challenge
        .param("qop")
        .is_some_and(|q| q.split(',').any(|v| v.trim() == "auth"));
    let username = format!("{}{user}", run.args.user_prefix);
    let password = format!("{}{user}", run.args.password_prefix);
    let cnonce = format!("{:x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let authorization = Answer {
        algorithm: run.algorithm,
        username: &username,
        password: &password,
        realm: &realm,
        nonce: &nonce,
        opaque: opaque.as_deref(),
        qop_auth,
        method,
        uri,
        cnonce: &cnonce,
    }
    .authorization();
    let name = if proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    Some(format!("{name}: {authorization}"))
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(run: &Run, total: u64, unanswered: u64, sent_for: Duration) {
    let mut lat = run.latencies_us.lock().unwrap().clone();
    lat.sort_unstable();
    let completed = lat.len() as u64;
    let failed = run.failed.load(Ordering::Relaxed) + unanswered;
    let rate = completed as f64 / sent_for.as_secs_f64().max(1e-9);
    let mut statuses: Vec<_> = run
        .statuses
        .lock()
        .unwrap()
        .iter()
        .map(|(s, n)| format!("{s}:{n}"))
        .collect();
    statuses.sort();
    eprintln!(
        "{:?} {:?} {}: {completed}/{total} completed, {failed} failed ({unanswered} unanswered), final statuses {}",
        run.args.scenario,
        run.args.transport,
        run.algorithm.name(),
        statuses.join(" ")
    );
    println!(
        "offered={total} completed={completed} failed={failed} rate={rate:.0} p50_us={} p90_us={} p99_us={} max_us={}",
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller of `bob` at a server on 127.0.0.1:5060 (nothing is sent).
    fn caller() -> Run {
        let args = Args::parse_from([
            "sipload",
            "--scenario",
            "call",
            "--callee",
            "bob",
            "--target",
            "127.0.0.1:5060",
        ]);
        Run {
            algorithm: Algorithm::Md5,
            wire: Wire::connect(false, args.target).unwrap(),
            pending: Mutex::new(HashMap::new()),
            latencies_us: Mutex::new(Vec::new()),
            failed: AtomicU64::new(0),
            statuses: Mutex::new(HashMap::new()),
            tag: 7,
            args,
        }
    }

    fn challenge(status: &str, header: &str) -> Message {
        Message::parse(
            format!(
                "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:user3@h>;tag=1\r\nTo: <sip:bob@h>;tag=s\r\nCall-ID: 7-1@sipload\r\nCSeq: 1 INVITE\r\n\
{header}: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\nContent-Length: 0\r\n\r\n"
            )
            .into_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_401_is_answered_with_authorization_and_a_407_with_proxy_authorization() {
        let run = caller();
        let uri = callee_uri(&run);
        assert_eq!(uri, "sip:bob@127.0.0.1:5060");
        let www = challenge("401 Unauthorized", "WWW-Authenticate");
        let line = credentials(&run, &www, "INVITE", &uri, 1, 3).unwrap();
        assert!(line.starts_with("Authorization: Digest username=\"user3\""));
        assert!(line.contains("uri=\"sip:bob@127.0.0.1:5060\""));
        let proxy = challenge("407 Proxy Authentication Required", "Proxy-Authenticate");
        let line = credentials(&run, &proxy, "INVITE", &uri, 1, 3).unwrap();
        assert!(line.starts_with("Proxy-Authorization: Digest"));
        // A 407 whose challenge is in the wrong header is not answered.
        let wrong = challenge("407 Proxy Authentication Required", "WWW-Authenticate");
        assert!(credentials(&run, &wrong, "INVITE", &uri, 1, 3).is_none());
    }

    #[test]
    fn the_invite_parses_and_carries_its_credentials() {
        let run = caller();
        let m = Message::parse(
            invite(&run, 4, 3, 2, Some("Proxy-Authorization: Digest x=1")).into_bytes(),
        )
        .unwrap();
        assert_eq!(m.request_uri(), Some("sip:bob@127.0.0.1:5060"));
        assert_eq!(m.cseq().unwrap().seq, 2);
        assert_eq!(m.header(HeaderName::ProxyAuthorization), Some("Digest x=1"));
        assert_eq!(m.from_header().unwrap().tag(), Some("4"));
        assert!(m.body().starts_with(b"v=0"));
        assert_eq!(m.received_content_length(), Some(OFFER_SDP.len() as u32));
    }

    #[test]
    fn the_bye_goes_to_the_contact_along_the_route() {
        let run = caller();
        let bye = in_call(
            &run,
            4,
            3,
            "BYE",
            3,
            "3",
            "sip:127.0.0.1:5062",
            "<sip:p2;lr>, <sip:p1;lr>",
            "<sip:bob@h>;tag=s",
        );
        let m = Message::parse(bye.into_bytes()).unwrap();
        assert_eq!(m.request_uri(), Some("sip:127.0.0.1:5062"));
        let route: Vec<String> = m.routes().flatten().map(|r| r.to_string()).collect();
        assert_eq!(route, ["<sip:p2;lr>", "<sip:p1;lr>"]);
        assert_eq!(m.to_header().unwrap().tag(), Some("s"));
        assert_eq!(m.cseq().unwrap().method, "BYE");
        // The ACK of a challenge has no Route and keeps the INVITE's branch.
        let ack = in_call(
            &run,
            4,
            3,
            "ACK",
            1,
            "1",
            &callee_uri(&run),
            "",
            "<sip:bob@h>;tag=s",
        );
        let m = Message::parse(ack.into_bytes()).unwrap();
        assert!(!m.has(HeaderName::Route));
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bK-sl7-4-1"));
    }

    #[test]
    fn percentiles_by_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
