//! A SIP provider on loopback: Kamailio (Debian's package) as the
//! provider's registrar and proxy, with its own users and realm, run in
//! the foreground from a configuration written here and stopped (by its
//! own process id) when dropped.
//!
//! Its REGISTER policy is a provider's: a request without credentials is
//! challenged (401, `qop=auth`, nonce counts checked); a wrong password
//! or an unknown user is refused with 403 Forbidden.

use sipjet_testkit::{free_port, within_patience_blocking};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};

use super::Scratch;

/// The realm the provider challenges in.
pub const REALM: &str = "provider.test";

/// A running provider.
pub struct Provider {
    child: Child,
    /// Its SIP address (UDP).
    pub addr: SocketAddr,
    control: String,
    log: std::path::PathBuf,
    _scratch: Scratch,
}

impl Provider {
    /// Starts a provider whose accounts are `users` (name, password);
    /// `extra_route` is Kamailio script run for requests other than
    /// REGISTER (a proxy's routing), before they are refused with 404.
    pub fn start(users: &[(&str, &str)], extra_route: &str) -> Provider {
        Provider::start_on(Ipv4Addr::LOCALHOST, users, extra_route)
    }

    /// [`Provider::start`] on the loopback address `ip` (another host, as
    /// far as addresses tell).
    pub fn start_on(ip: Ipv4Addr, users: &[(&str, &str)], extra_route: &str) -> Provider {
        let scratch = Scratch::new("kamailio");
        let port = free_port();
        let control = scratch.join("ctl.sock").display().to_string();
        let accounts: String = users
            .iter()
            .map(|(u, p)| format!("  $sht(users=>{u}) = \"{p}\";\n"))
            .collect();
        let cfg = format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
listen=udp:{ip}:{port}
auto_aliases=no
alias="{ip}:{port}"
alias="{REALM}"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "htable.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "ctl.so"
loadmodule "xlog.so"
modparam("ctl", "binrpc", "unix:{control}")
modparam("htable", "htable", "users=>size=4;")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 2)
modparam("auth", "nonce_count", 1)
modparam("auth", "qop", "auth")
event_route[htable:mod-init] {{
{accounts}}}
request_route {{
  if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
  if (is_method("REGISTER")) {{
    if (!is_present_hf("Authorization")) {{ auth_challenge("{REALM}", "1"); exit; }}
    $var(pw) = $sht(users=>$au);
    if ($var(pw) == $null) {{
      xlog("L_NOTICE", "PROVIDER: unknown user $au\n");
      sl_send_reply("403", "Forbidden");
      exit;
    }}
    pv_auth_check("{REALM}", "$var(pw)", "0", "1");
    $var(rc) = $rc;
    if ($var(rc) == -2) {{
      xlog("L_NOTICE", "PROVIDER: wrong password for $au\n");
      sl_send_reply("403", "Forbidden");
      exit;
    }}
    if ($var(rc) < 0) {{ auth_challenge("{REALM}", "1"); exit; }}
    consume_credentials();
    if (!save("location")) {{ sl_reply_error(); }}
    exit;
  }}
{extra_route}
  sl_send_reply("404", "Not Here");
}}
"#
        );
        let cfg_path = scratch.file("kamailio.cfg", &cfg);
        let log = scratch.join("kamailio.log");
        let child = Command::new("kamailio")
            .args(["-f", &cfg_path.display().to_string()])
            .args(["-P", &scratch.join("kamailio.pid").display().to_string()])
            .args(["-DD", "-E", "-m", "32", "-M", "8"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("kamailio runs (apt-get install kamailio; scripts/test.sh installs it)");
        let provider = Provider {
            child,
            addr: SocketAddr::from((ip, port)),
            control,
            log,
            _scratch: scratch,
        };
        let up = within_patience_blocking(|| provider.rpc(&["core.version"]).map(|_| ()));
        assert!(
            up.is_some(),
            "kamailio did not come up; its log:\n{}",
            provider.log()
        );
        provider
    }

    /// What kamailio logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A control command's output (`kamcmd`), or `None` when it fails.
    pub fn rpc(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("kamcmd")
            .args(["-s", &format!("unix:{}", self.control)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The registrations of `aor` the provider holds: each contact with
    /// its CSeq, from `ul.lookup location AOR`.
    pub fn bindings(&self, aor: &str) -> Vec<(String, u32)> {
        let Some(out) = self.rpc(&["ul.lookup", "location", aor]) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut contact = None;
        for line in out.lines() {
            let line = line.trim();
            if let Some(c) = line.strip_prefix("Address:") {
                contact = Some(c.trim().to_string());
            } else if let Some(n) = line.strip_prefix("CSeq:")
                && let (Some(c), Ok(n)) = (contact.take(), n.trim().parse())
            {
                found.push((c, n));
            }
        }
        found
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // SIGTERM to the main process, which ends its children; SIGKILL
        // only if it does not go.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let gone = within_patience_blocking(|| self.child.try_wait().ok().flatten());
        if gone.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
