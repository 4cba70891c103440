//! Running SIPp.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A SIPp command line being built.
#[derive(Clone, Debug)]
pub struct Sipp {
    args: Vec<String>,
    target: Option<SocketAddr>,
}

/// How a SIPp run ended.
#[derive(Clone, Debug)]
pub struct SippOutcome {
    /// SIPp's exit code: 0 when every call succeeded, 1 when one failed.
    pub exit_code: Option<i32>,
    /// "Successful call" count from the final statistics.
    pub successful: u64,
    /// "Failed call" count from the final statistics.
    pub failed: u64,
    /// Everything SIPp printed.
    pub output: String,
}

impl SippOutcome {
    /// Panics with SIPp's output unless it exited 0 with `calls` successful
    /// calls and none failed.
    pub fn assert_success(&self, calls: u64) {
        assert!(
            self.exit_code == Some(0) && self.successful == calls && self.failed == 0,
            "SIPp: exit {:?}, {} successful, {} failed (expected {calls} successful)\n{}",
            self.exit_code,
            self.successful,
            self.failed,
            self.output
        );
    }
}

impl Sipp {
    /// SIPp with a scenario file.
    pub fn scenario(path: impl AsRef<Path>) -> Sipp {
        Sipp::new()
            .arg("-sf")
            .arg(path.as_ref().display().to_string())
    }

    /// SIPp with one of its built-in scenarios (`uac`, `uas`, ...).
    pub fn builtin(name: &str) -> Sipp {
        Sipp::new().arg("-sn").arg(name)
    }

    fn new() -> Sipp {
        crate::require_tool("sipp", "sip-tester");
        Sipp {
            args: vec!["-nostdin".into(), "-i".into(), "127.0.0.1".into()],
            target: None,
        }
    }

    /// One more argument.
    pub fn arg(mut self, a: impl Into<String>) -> Sipp {
        self.args.push(a.into());
        self
    }

    /// Several more arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Sipp {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The remote side (for a UAC).
    pub fn target(mut self, addr: SocketAddr) -> Sipp {
        self.target = Some(addr);
        self
    }

    /// SIPp's own port.
    pub fn local_port(self, port: u16) -> Sipp {
        self.arg("-p").arg(port.to_string())
    }

    /// Number of calls (`-m`) at `rate` per second (`-r`).
    pub fn calls(self, calls: u64, rate: u64) -> Sipp {
        self.arg("-m")
            .arg(calls.to_string())
            .arg("-r")
            .arg(rate.to_string())
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("sipp");
        cmd.args(&self.args);
        if let Some(t) = self.target {
            cmd.arg(t.to_string());
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.current_dir(std::env::temp_dir());
        cmd
    }

    /// Starts SIPp in the background (a UAS the code under test calls).
    pub fn spawn(&self) -> SippProcess {
        let child = self.command().spawn().expect("start sipp");
        SippProcess { child: Some(child) }
    }

    /// Runs SIPp to the end, killing it after `limit`.
    pub fn run(&self, limit: Duration) -> SippOutcome {
        self.spawn().wait(limit)
    }
}

/// A SIPp process running in the background; killed when dropped.
pub struct SippProcess {
    child: Option<Child>,
}

impl SippProcess {
    /// Waits for SIPp to end, killing it after `limit`.
    pub fn wait(mut self, limit: Duration) -> SippOutcome {
        let mut child = self.child.take().expect("waited once");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll sipp") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut output = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut output);
        }
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut output);
        }
        if status.is_none() {
            output.push_str("\n[sipp was killed: it did not finish in time]");
        }
        SippOutcome {
            exit_code: status.and_then(|s| s.code()),
            successful: stat(&output, "Successful call"),
            failed: stat(&output, "Failed call"),
            output,
        }
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The cumulative column of a line of SIPp's final statistics.
fn stat(output: &str, label: &str) -> u64 {
    output
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The directory of a crate's SIPp scenarios: `<crate>/tests/sipp`.
pub fn scenarios_dir(manifest_dir: &str) -> PathBuf {
    Path::new(manifest_dir).join("tests").join("sipp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_final_statistics() {
        let out = "  Successful call        |        0                  |        5                 \n  Failed call            |        0                  |        2   \n";
        assert_eq!(stat(out, "Successful call"), 5);
        assert_eq!(stat(out, "Failed call"), 2);
        assert_eq!(stat(out, "Retransmissions"), 0);
    }

    #[test]
    fn sipp_builtin_uac_and_uas_talk_on_loopback() {
        let (uas_port, uac_port) = (crate::free_port(), crate::free_port());
        let uas = Sipp::builtin("uas")
            .local_port(uas_port)
            .arg("-m")
            .arg("3")
            .spawn();
        let uac = Sipp::builtin("uac")
            .target(crate::loopback(uas_port))
            .local_port(uac_port)
            .calls(3, 10)
            .run(Duration::from_secs(30));
        uac.assert_success(3);
        uas.wait(Duration::from_secs(30)).assert_success(3);
    }
}
