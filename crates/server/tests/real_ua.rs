//! Real softphones against the `sipjet` binary on its built-in default
//! configuration, as a user would run it: `sipjet run` on 127.0.0.1:5060
//! with users alice and bob. Two `linphonec` (Debian's linphone-cli)
//! register and send each other a MESSAGE; `baresip` (baresip-core) does
//! the same with one of them.
//!
//! The softphones are driven by their command interfaces (linphonec's
//! stdin, baresip's ctrl_tcp), and what they print is the evidence: a test
//! that fails shows their output and the server's SIP trace.
//!
//! These tests need 127.0.0.1:5060, so they run one at a time.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sipjet_core::{HeaderName, Message, message::generate};
use sipjet_testkit::{PATIENCE, free_port, require_tool, within_patience_blocking};
use support::Scratch;

/// The address the built-in default configuration listens on.
const SERVER: &str = "127.0.0.1:5060";

/// How often linphonec is asked again whether it is registered: it says
/// so only when asked.
const ASK_AGAIN: Duration = Duration::from_millis(500);

/// One test at a time holds 127.0.0.1:5060.
static PORT_5060: Mutex<()> = Mutex::new(());

/// The last `n` characters of `text`, for failure reports.
fn tail(text: &str, n: usize) -> &str {
    let start = text.len().saturating_sub(n);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

/// True once `done` holds, false when it has not within the testkit's
/// patience (the caller reports what the peers printed).
fn comes_true(mut done: impl FnMut() -> bool) -> bool {
    within_patience_blocking(|| done().then_some(())).is_some()
}

/// Everything a child process prints, gathered by reader threads.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<String>>);

impl Output {
    fn gather(&self, from: impl Read + Send + 'static) {
        let out = self.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                out.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&line);
                line.clear();
            }
        });
    }

    fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }
}

/// The `sipjet` binary, run as a user runs it; killed when dropped.
struct Sipjet {
    child: Child,
    output: Output,
    admin: SocketAddr,
}

impl Sipjet {
    /// `sipjet run` with its built-in configuration, registrations in
    /// `scratch`, the SIP trace on (for failure reports) and the admin
    /// interface on a free port (its default one may be taken by another
    /// program on this machine). Returns once it answers OPTIONS.
    fn start(scratch: &Scratch) -> Sipjet {
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_sipjet"))
            .arg("run")
            .arg("--location-db")
            .arg(scratch.join("location.db"))
            .arg("--admin")
            .arg(admin.to_string())
            .arg("--sip-trace")
            .current_dir(scratch.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the sipjet binary");
        let output = Output::default();
        output.gather(child.stdout.take().expect("piped"));
        output.gather(child.stderr.take().expect("piped"));
        let mut sipjet = Sipjet {
            child,
            output,
            admin,
        };
        sipjet.wait_until_answering();
        sipjet
    }

    fn wait_until_answering(&mut self) {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let me = probe.local_addr().unwrap();
        let answered = within_patience_blocking(|| {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sipjet exited ({status}) before answering on {SERVER} \
                     (is the port taken by another program?):\n{}",
                    self.output.text()
                );
            }
            let options = format!(
                "OPTIONS sip:{SERVER} SIP/2.0\r\n\
Via: SIP/2.0/UDP {me};branch={branch};rport\r\n\
From: <sip:probe@{ip}>;tag={tag}\r\n\
To: <sip:{SERVER}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n",
                branch = generate::branch(),
                ip = me.ip(),
                tag = generate::tag(),
                call_id = generate::call_id(None),
            );
            let _ = probe.send_to(options.as_bytes(), SERVER);
            // The read timeout paces the probes.
            let mut buf = [0u8; 4096];
            let n = probe.recv(&mut buf).ok()?;
            Message::parse(buf[..n].to_vec()).ok()
        });
        let Some(answer) = answered else {
            panic!(
                "sipjet did not answer OPTIONS on {SERVER} within {PATIENCE:?}:\n{}",
                self.output.text()
            );
        };
        assert_eq!(
            answer.header(HeaderName::Server),
            Some("sipjet"),
            "something other than this sipjet answers on {SERVER}: {answer:?}"
        );
        assert_eq!(answer.status(), Some(200), "{answer:?}");
    }

    /// `sipjet show contacts` against this server: what it has registered.
    fn show_contacts(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_sipjet"))
            .args(["show", "contacts", "--admin"])
            .arg(self.admin.to_string())
            .output()
            .expect("run sipjet show contacts");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The end of the server's log (its SIP trace), for failure reports.
    fn log(&self) -> String {
        tail(&self.output.text(), 12_000).to_string()
    }
}

impl Drop for Sipjet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `linphonec` softphone, driven through its stdin; killed when dropped.
struct Linphonec {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    output: Output,
}

impl Linphonec {
    /// linphonec with a home of its own in `scratch` (without
    /// `.local/share/linphone` it crashes on `chat`), SIP on a free UDP port.
    fn start(scratch: &Scratch, name: &'static str) -> Linphonec {
        require_tool("linphonec", "linphone-cli");
        let home = scratch.join(name);
        std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
        let rc = home.join("linphonerc");
        std::fs::write(
            &rc,
            format!(
                "[sip]\nsip_port={}\nsip_tcp_port=-1\nsip_tls_port=-1\n",
                free_port()
            ),
        )
        .unwrap();
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .env("HOME", &home)
            .current_dir(&home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start linphonec");
        let output = Output::default();
        output.gather(child.stdout.take().expect("piped"));
        output.gather(child.stderr.take().expect("piped"));
        let stdin = child.stdin.take().expect("piped");
        Linphonec {
            name,
            child,
            stdin,
            output,
        }
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| {
                panic!("{}: linphonec stopped ({e}):\n{}", self.name, self.report())
            });
    }

    /// Registers with the server as `user` and waits until linphonec says
    /// it is registered.
    fn register(&mut self, user: &str, password: &str) {
        self.command(&format!(
            "register sip:{user}@{SERVER} sip:{SERVER} {password}"
        ));
        let registered = format!("registered, identity=sip:{user}@{SERVER}");
        let mut asked: Option<Instant> = None;
        let done = comes_true(|| {
            if asked.is_none_or(|at| at.elapsed() >= ASK_AGAIN) {
                self.command("status register");
                asked = Some(Instant::now());
            }
            self.output.contains(&registered)
        });
        assert!(
            done,
            "{}: not registered within {PATIENCE:?}:\n{}",
            self.name,
            self.report()
        );
    }

    fn report(&self) -> String {
        format!(
            "--- {} said:\n{}",
            self.name,
            tail(&self.output.text(), 6_000)
        )
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `baresip` softphone with one account, driven through its ctrl_tcp
/// module (netstring-framed JSON); killed when dropped.
struct Baresip {
    child: Child,
    output: Output,
    ctrl: SocketAddr,
}

impl Baresip {
    /// baresip registering `user` with `password`, whose current contact
    /// (the target of its `message` command) is `peer`.
    fn start(scratch: &Scratch, user: &str, password: &str, peer: &str) -> Baresip {
        require_tool("baresip", "baresip-core");
        let dir = scratch.join("baresip");
        std::fs::create_dir_all(&dir).unwrap();
        let ctrl = SocketAddr::from(([127, 0, 0, 1], free_port()));
        // baresip also listens for TLS on the SIP port + 1.
        let sip_port = free_port_pair();
        std::fs::write(
            dir.join("config"),
            format!(
                "sip_listen 127.0.0.1:{sip_port}\n\
net_interface 127.0.0.1\n\
module_path /usr/lib/baresip/modules\n\
module account.so\n\
module contact.so\n\
module menu.so\n\
module ctrl_tcp.so\n\
ctrl_tcp_listen {ctrl}\n\
audio_player none\n\
audio_source none\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:{user}@{SERVER}>;auth_pass={password}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("contacts"), format!("<sip:{peer}@{SERVER}>\n")).unwrap();
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start baresip");
        let output = Output::default();
        output.gather(child.stdout.take().expect("piped"));
        output.gather(child.stderr.take().expect("piped"));
        Baresip {
            child,
            output,
            ctrl,
        }
    }

    /// Sends one ctrl_tcp command and returns baresip's answer.
    fn command(&self, command: &str, params: &str) -> String {
        let mut stream = within_patience_blocking(|| TcpStream::connect(self.ctrl).ok())
            .unwrap_or_else(|| panic!("baresip's ctrl_tcp does not answer:\n{}", self.report()));
        let json =
            format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"test\"}}");
        stream
            .write_all(format!("{}:{json},", json.len()).as_bytes())
            .unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut answer = vec![0u8; 65_536];
        let n = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..n]).into_owned()
    }

    fn report(&self) -> String {
        format!("--- baresip said:\n{}", tail(&self.output.text(), 6_000))
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for UDP and TCP whose next port is free too.
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

/// A text no earlier run could have left behind.
fn fresh_text(what: &str) -> String {
    format!("{what} {}", generate::tag())
}

/// Checks that `sipjet show contacts` has a row (AOR, then contact URI)
/// for each of `aors`.
fn assert_registered(sipjet: &Sipjet, aors: &[&str], report: &str) {
    let shown = sipjet.show_contacts();
    for aor in aors {
        let listed = shown.lines().any(|row| {
            let mut cells = row.split_whitespace();
            cells.next() == Some(aor) && cells.next().is_some_and(|c| c.starts_with("sip:"))
        });
        assert!(
            listed,
            "`sipjet show contacts` has no contact of {aor}:\n{shown}\n{report}"
        );
    }
}

#[test]
fn two_linphonec_register_and_message_each_other_on_the_built_in_default() {
    let _port = PORT_5060.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("real-ua-linphonec");
    let sipjet = Sipjet::start(&scratch);
    let mut alice = Linphonec::start(&scratch, "alice");
    let mut bob = Linphonec::start(&scratch, "bob");
    let report = |alice: &Linphonec, bob: &Linphonec| {
        format!(
            "{}\n{}\n--- sipjet:\n{}",
            alice.report(),
            bob.report(),
            sipjet.log()
        )
    };

    alice.register("alice", "alice-pass");
    bob.register("bob", "bob-pass");
    assert_registered(&sipjet, &["alice", "bob"], &report(&alice, &bob));

    // linphonec drops the port from the target: the request goes out as
    // MESSAGE sip:bob@127.0.0.1, which the server must take as its own.
    let hello = fresh_text("hello bob from alice");
    alice.command(&format!("chat sip:bob@{SERVER} {hello}"));
    assert!(
        comes_true(|| bob.output.contains(&format!(
            "Message received from sip:alice@127.0.0.1: {hello}"
        ))),
        "bob did not get alice's message\n{}",
        report(&alice, &bob)
    );

    let reply = fresh_text("hello alice from bob");
    bob.command(&format!("chat sip:alice@{SERVER} {reply}"));
    assert!(
        comes_true(|| alice
            .output
            .contains(&format!("Message received from sip:bob@127.0.0.1: {reply}"))),
        "alice did not get bob's reply\n{}",
        report(&alice, &bob)
    );
}

/// baresip 1.0 (libre) gives up on a 401 as soon as one of its challenges
/// is not MD5 ("Register: Function not implemented"), even when an MD5
/// challenge comes first; the built-in default offers MD5 and SHA-256, so
/// baresip cannot register with it.
#[test]
fn baresip_registers_and_messages_linphonec_on_the_built_in_default() {
    let _port = PORT_5060.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("real-ua-baresip");
    let sipjet = Sipjet::start(&scratch);
    let mut bob = Linphonec::start(&scratch, "bob");
    bob.register("bob", "bob-pass");
    let alice = Baresip::start(&scratch, "alice", "alice-pass", "bob");
    let report = |alice: &Baresip, bob: &Linphonec| {
        format!(
            "{}\n{}\n--- sipjet:\n{}",
            alice.report(),
            bob.report(),
            sipjet.log()
        )
    };
    // baresip prints the registrar's answer, or why it gave up.
    comes_true(|| alice.output.contains("200 OK") || alice.output.contains("Register:"));
    assert!(
        alice.output.contains("200 OK"),
        "baresip did not register\n{}",
        report(&alice, &bob)
    );
    assert_registered(&sipjet, &["alice", "bob"], &report(&alice, &bob));

    let hello = fresh_text("hello bob from baresip");
    let answer = alice.command("message", &hello);
    assert!(
        answer.contains("\"ok\":true"),
        "{answer}\n{}",
        report(&alice, &bob)
    );
    assert!(
        comes_true(|| bob.output.contains(&format!(
            "Message received from sip:alice@127.0.0.1: {hello}"
        ))),
        "bob did not get baresip's message\n{}",
        report(&alice, &bob)
    );
}

#[test]
fn tail_keeps_whole_characters() {
    assert_eq!(tail("héllo", 4), "llo");
    assert_eq!(tail("abc", 10), "abc");
}
