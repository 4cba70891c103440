//! Real softphones calling each other through the server on its built-in
//! default configuration (users alice and bob): baresip (Debian's
//! baresip-core) calls linphonec (linphone-cli), and two linphonec call
//! each other as the README shows. The phone rings, is answered, both
//! sides say the call is up; one hangs up and both say it ended. The
//! server's call log follows the call from ringing to its end.
//!
//! The server runs in this process, the built-in default as it is but for
//! its address: a free port of 127.0.0.1 instead of 5060, which another
//! program (or another test) may hold. The phones are driven by their
//! command interfaces (linphonec's stdin, baresip's ctrl_tcp), and what
//! they print is the evidence: a test that fails shows their output. No
//! sound card is needed: linphonec logs that it finds none and carries on,
//! baresip is given no audio device.

mod support;

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sipjet_server::default_config::DEFAULT_CONFIG;
use sipjet_server::modules::calls::{Call, CallState};
use sipjet_server::server::Server;
use sipjet_testkit::{eventually, free_port, require_tool, wait_until};
use support::{Scratch, start};

/// How long a step (a registration, the ringing, the answer, the end)
/// may take before the test fails with the phones' output; shorter than
/// `wait_until`'s own patience, so that the failure shows it.
const STEP: Duration = Duration::from_secs(15);

/// Waits for `step` (a `wait_until` or `eventually`) for at most
/// [`STEP`]; fails with `report` otherwise.
async fn within<T>(what: &str, step: impl Future<Output = T>, report: impl Fn() -> String) -> T {
    match tokio::time::timeout(STEP, step).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not within {STEP:?}\n{}", report()),
    }
}

/// The last `n` bytes of `text` (whole characters), for failure reports.
fn tail(text: &str, n: usize) -> &str {
    let start = text.len().saturating_sub(n);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// Everything a child process prints, gathered by reader threads.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<String>>);

impl Output {
    fn gather(&self, from: impl Read + Send + 'static) {
        let out = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                out.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
        });
    }

    fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn contains(&self, needle: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(needle)
    }
}

/// A softphone process; killed when dropped.
struct Phone {
    name: &'static str,
    child: Child,
    output: Output,
}

impl Phone {
    fn spawn(name: &'static str, command: &mut Command) -> (Phone, Option<ChildStdin>) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let output = Output::default();
        output.gather(child.stdout.take().expect("piped"));
        output.gather(child.stderr.take().expect("piped"));
        let stdin = child.stdin.take();
        (
            Phone {
                name,
                child,
                output,
            },
            stdin,
        )
    }

    fn report(&self) -> String {
        // baresip redraws a status line many times a second while a
        // call is up; it says nothing a reader needs.
        let text: String = self
            .output
            .text()
            .split('\r')
            .filter(|part| !part.contains("audio=0/0"))
            .collect();
        format!("--- {} said:\n{}", self.name, tail(&text, 6_000))
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `linphonec`, driven through its stdin.
struct Linphonec {
    phone: Phone,
    stdin: ChildStdin,
}

impl Linphonec {
    /// linphonec with a home of its own in `scratch`, SIP and RTP on free
    /// UDP ports.
    fn start(scratch: &Scratch, name: &'static str) -> Linphonec {
        require_tool("linphonec", "linphone-cli");
        let home = scratch.join(name);
        std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
        let rc = home.join("linphonerc");
        std::fs::write(
            &rc,
            format!(
                "[sip]\nsip_port={}\nsip_tcp_port=-1\nsip_tls_port=-1\n\
                 [rtp]\naudio_rtp_port={}\n",
                free_port(),
                free_port()
            ),
        )
        .unwrap();
        let (phone, stdin) = Phone::spawn(
            name,
            Command::new("linphonec")
                .arg("-c")
                .arg(&rc)
                .env("HOME", &home)
                .current_dir(&home)
                .stdin(Stdio::piped()),
        );
        Linphonec {
            phone,
            stdin: stdin.expect("piped"),
        }
    }

    fn command(&mut self, line: &str) {
        if let Err(e) = writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()) {
            panic!("linphonec stopped ({e}):\n{}", self.phone.report());
        }
    }
}

/// A `baresip` with one account, driven through its ctrl_tcp module.
struct Baresip {
    phone: Phone,
    ctrl: SocketAddr,
}

impl Baresip {
    /// baresip registering `user` with `password` at `server`, with G.711
    /// and no audio device.
    fn start(
        scratch: &Scratch,
        name: &'static str,
        (user, password): (&str, &str),
        server: SocketAddr,
    ) -> Baresip {
        require_tool("baresip", "baresip-core");
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let ctrl = SocketAddr::from(([127, 0, 0, 1], free_port()));
        std::fs::write(
            dir.join("config"),
            format!(
                "sip_listen 127.0.0.1:{sip}\n\
net_interface 127.0.0.1\n\
module_path /usr/lib/baresip/modules\n\
module g711.so\n\
module account.so\n\
module menu.so\n\
module ctrl_tcp.so\n\
ctrl_tcp_listen {ctrl}\n\
audio_player none\n\
audio_source none\n",
                sip = free_port_pair(),
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:{user}@{server}>;auth_pass={password}\n"),
        )
        .unwrap();
        let (phone, _) = Phone::spawn(
            name,
            Command::new("baresip")
                .arg("-f")
                .arg(&dir)
                .stdin(Stdio::null()),
        );
        Baresip { phone, ctrl }
    }

    /// Sends one ctrl_tcp command (a netstring of JSON) and returns
    /// baresip's answer to it (events it sends first included).
    async fn command(&self, command: &str, params: &str) -> String {
        let ctrl = self.ctrl;
        let mut stream = within(
            "baresip's ctrl_tcp answers",
            eventually("baresip's ctrl_tcp to answer", || {
                TcpStream::connect(ctrl).ok()
            }),
            || self.phone.report(),
        )
        .await;
        let json =
            format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"test\"}}");
        let answer = tokio::task::spawn_blocking(move || {
            stream.write_all(format!("{}:{json},", json.len()).as_bytes())?;
            stream.set_read_timeout(Some(STEP))?;
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&answer).contains("\"response\":true") {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
            }
            std::io::Result::Ok(String::from_utf8_lossy(&answer).into_owned())
        })
        .await
        .unwrap();
        answer.unwrap_or_else(|e| {
            panic!(
                "baresip did not answer `{command}` ({e})\n{}",
                self.phone.report()
            )
        })
    }
}

/// A port free for UDP and TCP whose next port is free too (baresip also
/// listens for TLS on the SIP port + 1).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        let next = port.wrapping_add(1);
        if next > 1024
            && UdpSocket::bind(("127.0.0.1", next)).is_ok()
            && TcpListener::bind(("127.0.0.1", next)).is_ok()
        {
            return port;
        }
    }
    panic!("no two consecutive free ports on 127.0.0.1");
}

/// True when `aor` has a binding at the server.
fn registered(server: &Server, aor: &str) -> bool {
    !server.location.bindings(aor, SystemTime::now()).is_empty()
}

/// The one call in progress in the server's log, once it is in `state`.
fn active_call_in(server: &Server, state: CallState) -> Option<Call> {
    let (active, _) = server.calls.list();
    active.into_iter().find(|c| c.state == state)
}

/// bob on linphonec registers; returns once the server holds his binding.
async fn bob_registers(server: &Server, udp: SocketAddr, scratch: &Scratch) -> Linphonec {
    let mut bob = Linphonec::start(scratch, "bob");
    bob.command(&format!("register sip:bob@{udp} sip:{udp} bob-pass"));
    within(
        "bob registers",
        wait_until("bob's binding", || registered(server, "bob")),
        || bob.phone.report(),
    )
    .await;
    bob
}

/// What the call log says once the call has ended: the call, checked to
/// be alice's call to bob, answered and ended by a BYE.
async fn the_call_ended(server: &Server, report: impl Fn() -> String) -> Call {
    within(
        "the call ends in the server's log",
        wait_until("no call in progress", || server.calls.list().0.is_empty()),
        &report,
    )
    .await;
    let (_, recent) = server.calls.list();
    let call = recent
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no call in the server's log\n{}", report()));
    assert_eq!(
        (call.caller.as_str(), call.callee.as_str()),
        ("alice", "bob"),
        "{call:?}"
    );
    assert_eq!(
        (call.state, call.final_code),
        (CallState::Ended, Some(200)),
        "{call:?}"
    );
    assert!(call.answered.is_some() && call.ended.is_some(), "{call:?}");
    call
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_linphonec_which_answers_and_hangs_up() {
    let (server, udp) = start(DEFAULT_CONFIG).await;
    let scratch = Scratch::new("calls-real-ua-baresip");
    let mut bob = bob_registers(&server, udp, &scratch).await;
    let alice = Baresip::start(&scratch, "alice", ("alice", "alice-pass"), udp);
    let report = |alice: &Baresip, bob: &Linphonec| {
        format!("{}\n{}", alice.phone.report(), bob.phone.report())
    };
    within(
        "alice registers",
        wait_until("alice's binding", || registered(&server, "alice")),
        || report(&alice, &bob),
    )
    .await;

    let answer = alice.command("dial", &format!("sip:bob@{udp}")).await;
    assert!(
        answer.contains("\"ok\":true"),
        "{answer}\n{}",
        report(&alice, &bob)
    );
    // It rings: bob's phone says so, alice's hears the 180, and the
    // server has the call ringing.
    within(
        "bob's phone rings",
        wait_until("bob's incoming call", || {
            bob.phone
                .output
                .contains("Receiving new incoming call from sip:alice@")
        }),
        || report(&alice, &bob),
    )
    .await;
    within(
        "alice hears it ring",
        wait_until("alice's 180", || {
            alice.phone.output.contains("SIP Progress: 180 Ringing")
        }),
        || report(&alice, &bob),
    )
    .await;
    let ringing = active_call_in(&server, CallState::Ringing);
    assert!(ringing.is_some(), "{:?}", server.calls.list());

    bob.command("answer");
    within(
        "both sides confirm the call",
        wait_until("both sides up", || {
            bob.phone.output.contains("with sip:alice@")
                && bob.phone.output.contains("connected.")
                && alice
                    .phone
                    .output
                    .contains(&format!("Call established: sip:bob@{udp}"))
        }),
        || report(&alice, &bob),
    )
    .await;
    let up = active_call_in(&server, CallState::Answered);
    assert!(up.is_some(), "{:?}", server.calls.list());

    // bob hangs up: his BYE goes along the route to alice, whose phone
    // says the session was closed by the other side.
    bob.command("terminate");
    within(
        "both sides end the call",
        wait_until("both sides ended", || {
            bob.phone.output.contains("ended (")
                && alice
                    .phone
                    .output
                    .contains(&format!("sip:bob@{udp}: session closed"))
        }),
        || report(&alice, &bob),
    )
    .await;
    the_call_ended(&server, || report(&alice, &bob)).await;
}

/// The README's two softphones: linphonec as alice calls linphonec as
/// bob, who answers; alice hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_linphonec_call_each_other_as_the_readme_shows() {
    let (server, udp) = start(DEFAULT_CONFIG).await;
    let scratch = Scratch::new("calls-real-ua-linphonec");
    let mut bob = bob_registers(&server, udp, &scratch).await;
    let mut alice = Linphonec::start(&scratch, "alice");
    let report = |alice: &Linphonec, bob: &Linphonec| {
        format!("{}\n{}", alice.phone.report(), bob.phone.report())
    };
    alice.command(&format!("register sip:alice@{udp} sip:{udp} alice-pass"));
    within(
        "alice registers",
        wait_until("alice's binding", || registered(&server, "alice")),
        || report(&alice, &bob),
    )
    .await;

    alice.command(&format!("call sip:bob@{udp}"));
    within(
        "it rings on both sides",
        wait_until("ringing", || {
            bob.phone
                .output
                .contains("Receiving new incoming call from sip:alice@")
                && alice.phone.output.contains("ringing.")
        }),
        || report(&alice, &bob),
    )
    .await;
    let ringing = active_call_in(&server, CallState::Ringing);
    assert!(ringing.is_some(), "{:?}", server.calls.list());

    bob.command("answer");
    within(
        "both sides confirm the call",
        wait_until("both sides up", || {
            bob.phone.output.contains("connected.") && alice.phone.output.contains("connected.")
        }),
        || report(&alice, &bob),
    )
    .await;
    let up = active_call_in(&server, CallState::Answered);
    assert!(up.is_some(), "{:?}", server.calls.list());

    alice.command("terminate");
    within(
        "both sides end the call",
        wait_until("both sides ended", || {
            bob.phone.output.contains("ended (") && alice.phone.output.contains("ended (")
        }),
        || report(&alice, &bob),
    )
    .await;
    the_call_ended(&server, || report(&alice, &bob)).await;
}

#[test]
fn tail_keeps_whole_characters() {
    assert_eq!(tail("héllo", 4), "llo");
    assert_eq!(tail("abc", 10), "abc");
}
