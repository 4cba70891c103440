//! `sipload`: sends SIP requests at a fixed rate (open loop: the next
//! request leaves on time whether or not the last was answered) and times
//! each exchange to the microsecond, which SIPp, counting in
//! milliseconds, cannot. It also answers SHA-256 challenges, which SIPp
//! does not. A measuring tool for `bench/compare.sh`, not a test.
//!
//! ```text
//! sipload --target 127.0.0.1:5060 --scenario register --algorithm SHA-256 --rate 2000 --duration 10
//! ```
//!
//! With `--answer` it is instead the peer that answers: every request to
//! `--target` gets `200 OK` for `--duration` seconds.
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
use sipjet_message::{HeaderName, Message};

use crate::digest::{Algorithm, Answer};
use crate::wire::Wire;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// OPTIONS to the server itself, expecting 200.
    Options,
    /// REGISTER, 401, REGISTER with credentials, 200.
    Register,
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
    /// Users `<prefix>1` to `<prefix>N` register in turn.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    #[arg(long, default_value = "user")]
    user_prefix: String,
    /// User k's password is `<prefix>k`.
    #[arg(long, default_value = "pass")]
    password_prefix: String,
    /// How long after the last request an unanswered exchange counts as failed.
    #[arg(long, default_value_t = 5)]
    grace: u64,
    /// Answer requests on `--target` (UDP) instead of sending any.
    #[arg(long)]
    answer: bool,
}

/// An exchange under way.
struct Pending {
    started: Instant,
    user: usize,
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
        match answer::answer(args.target, Duration::from_secs(args.duration)) {
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
        let user = (i as usize % run.args.users.max(1)) + 1;
        run.pending.lock().unwrap().insert(
            i,
            Pending {
                started: Instant::now(),
                user,
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
    }
}

fn register(run: &Run, i: u64, user: usize, cseq: u32, authorization: Option<&str>) -> String {
    let aor = format!(
        "sip:{}{user}@{}",
        run.args.user_prefix,
        run.args.target.ip()
    );
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
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
        let us = pending.started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        run.latencies_us.lock().unwrap().push(us);
    } else {
        run.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The REGISTER with credentials for the challenge in `response`.
fn answer(run: &Run, response: &Message, i: u64, user: usize) -> Option<String> {
    let challenge = response.www_authenticates().flatten().find(|c| {
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
    let uri = server_uri(run);
    let cnonce = format!("{:x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let authorization = Answer {
        algorithm: run.algorithm,
        username: &username,
        password: &password,
        realm: &realm,
        nonce: &nonce,
        opaque: opaque.as_deref(),
        qop_auth,
        method: "REGISTER",
        uri: &uri,
        cnonce: &cnonce,
    }
    .authorization();
    Some(register(run, i, user, 2, Some(&authorization)))
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
