//! SIPp user agents playing this crate's scenarios (`tests/sipp`) against
//! the server, every message they send and receive logged and read back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sipjet_core::{HeaderName, Message, Method};
use sipjet_testkit::{Sipp, SippOutcome, SippProcess, free_port, scenarios_dir};

use super::Scratch;
use super::sipp_log::{self, Direction, Logged};

/// The longest a SIPp run may take before it is killed and the test fails.
pub const SIPP_LIMIT: Duration = Duration::from_secs(60);

/// A SIPp user agent playing one of this crate's scenarios against the
/// server over UDP, from a port of its own, logging every message it sends
/// and receives.
pub struct Agent {
    sipp: Sipp,
    calls: u64,
    rate: u64,
    log: PathBuf,
    scratch: Scratch,
}

impl Agent {
    /// `scenario` (a file of `tests/sipp`) against `server`, one call.
    pub fn new(scenario: &str, server: SocketAddr) -> Agent {
        Agent::on_port(scenario, server, free_port())
    }

    /// The same, from `port`.
    pub fn on_port(scenario: &str, server: SocketAddr, port: u16) -> Agent {
        let scratch = Scratch::new("sipp");
        let log = scratch.join("messages.log");
        let sipp = Sipp::scenario(scenario_path(scenario))
            .target(server)
            .local_port(port)
            .args(["-t", "u1", "-trace_msg", "-message_file"])
            .arg(log.display().to_string());
        Agent {
            sipp,
            calls: 1,
            rate: 1,
            log,
            scratch,
        }
    }

    /// Plays `user` (the scenario's `[service]`) and answers challenges
    /// with `user` and `password`.
    pub fn user(self, user: &str, password: &str) -> Agent {
        self.args(["-s", user, "-au", user, "-ap", password])
    }

    /// Sets the scenario keyword `[name]` to `value`.
    pub fn key(self, name: &str, value: &str) -> Agent {
        self.args(["-key", name, value])
    }

    /// Answers requests outside its own calls with `scenario` (a file of
    /// `tests/sipp`), one call per request.
    pub fn out_of_call(self, scenario: &str) -> Agent {
        let path = scenario_path(scenario).display().to_string();
        self.args(["-oocsf".to_string(), path])
    }

    /// More SIPp arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Agent {
        self.sipp = self.sipp.args(args);
        self
    }

    /// Places `calls` calls (one by default) at `rate` per second.
    pub fn calls(mut self, calls: u64, rate: u64) -> Agent {
        self.calls = calls;
        self.rate = rate;
        self
    }

    /// The command line, with the number of calls, all allowed at once.
    fn command(&self) -> Sipp {
        self.sipp
            .clone()
            .calls(self.calls, self.rate)
            .args(["-l".to_string(), self.calls.to_string()])
    }

    /// Plays the scenario to its end (at most [`SIPP_LIMIT`]).
    pub async fn run(self) -> Run {
        self.spawn().finish(SIPP_LIMIT).await
    }

    /// Starts the scenario and returns while it plays.
    pub fn spawn(self) -> Background {
        Background {
            process: self.command().spawn(),
            calls: self.calls,
            log: self.log,
            scratch: self.scratch,
        }
    }
}

/// A SIPp agent playing in the background; killed when dropped.
pub struct Background {
    process: SippProcess,
    calls: u64,
    log: PathBuf,
    scratch: Scratch,
}

impl Background {
    /// What the agent has logged so far, while it plays on.
    pub fn messages(&self) -> Vec<Logged> {
        read_log(&self.log)
    }

    /// Stops the agent (it may be waiting for more) and returns what it
    /// logged.
    pub fn stop(self) -> Vec<Logged> {
        drop(self.process);
        read_log(&self.log)
    }

    /// Waits for the agent to end on its own (at most `limit`).
    pub async fn finish(self, limit: Duration) -> Run {
        let Background {
            process,
            calls,
            log,
            scratch,
        } = self;
        let outcome = tokio::task::spawn_blocking(move || process.wait(limit))
            .await
            .unwrap();
        Run {
            outcome,
            calls,
            messages: read_log(&log),
            _scratch: scratch,
        }
    }
}

/// A finished SIPp run.
pub struct Run {
    /// How SIPp ended.
    pub outcome: SippOutcome,
    calls: u64,
    /// Every message it sent and received.
    pub messages: Vec<Logged>,
    _scratch: Scratch,
}

impl Run {
    /// Panics, with SIPp's report and its messages, unless every call of
    /// the run succeeded.
    pub fn assert_success(&self) {
        let ok = self.outcome.exit_code == Some(0)
            && self.outcome.successful == self.calls
            && self.outcome.failed == 0;
        assert!(
            ok,
            "SIPp: exit {:?}, {} successful, {} failed (expected {} successful)\n{}\n\
             messages:\n{}",
            self.outcome.exit_code,
            self.outcome.successful,
            self.outcome.failed,
            self.calls,
            self.outcome.output,
            self.transcript()
        );
    }

    /// The final responses SIPp received, in order, each once (a
    /// retransmitted answer is left out).
    pub fn finals(&self) -> Vec<&Message> {
        let mut seen = Vec::new();
        sipp_log::responses_received(&self.messages)
            .into_iter()
            .filter(|r| r.status().is_some_and(|s| s >= 200))
            .filter(|r| {
                let key = (
                    r.header(HeaderName::CallId).map(str::to_string),
                    r.cseq().ok().map(|c| c.seq),
                    r.status(),
                );
                let fresh = !seen.contains(&key);
                seen.push(key);
                fresh
            })
            .collect()
    }

    /// The status codes of [`Run::finals`].
    pub fn final_codes(&self) -> Vec<u16> {
        self.finals().iter().filter_map(|r| r.status()).collect()
    }

    /// The requests of `method` SIPp sent (retransmissions included).
    pub fn sent(&self, method: &Method) -> Vec<&Message> {
        sipp_log::requests(&self.messages, Direction::Sent, method)
    }

    /// The request of `method` with CSeq number `seq` SIPp sent.
    pub fn sent_with_cseq(&self, method: &Method, seq: u32) -> &Message {
        self.sent(method)
            .into_iter()
            .find(|m| m.cseq().is_ok_and(|c| c.seq == seq))
            .unwrap_or_else(|| {
                panic!(
                    "SIPp sent no {method} with CSeq {seq}\n{}",
                    self.transcript()
                )
            })
    }

    /// Every message, as text, for failure reports.
    pub fn transcript(&self) -> String {
        transcript(&self.messages)
    }
}

/// Messages as text, each after a line saying which way it went.
pub fn transcript(messages: &[Logged]) -> String {
    let mut out = String::new();
    for m in messages {
        let way = match m.direction {
            Direction::Sent => "sent by SIPp",
            Direction::Received => "received by SIPp",
        };
        out.push_str(&format!(
            "--- {way}:\n{}\n",
            String::from_utf8_lossy(&m.message.to_bytes())
        ));
    }
    out
}

fn scenario_path(name: &str) -> PathBuf {
    scenarios_dir(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn read_log(path: &Path) -> Vec<Logged> {
    std::fs::read(path)
        .map(|bytes| sipp_log::parse(&bytes))
        .unwrap_or_default()
}
