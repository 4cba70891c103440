//! Registrations answered 200 survive `kill -9`: runs
//! `scripts/durability.sh` (SIPp registers users with digest auth, the
//! server is killed with SIGKILL and restarted on the same database, and
//! `sipjet show contacts` must list every acknowledged binding with its
//! remaining expiry) against the binary under test.

use std::path::Path;
use std::process::Command;

use sipjet_testkit::{free_port, require_tool};

#[test]
fn acknowledged_registrations_survive_sigkill_and_restart() {
    require_tool("sipp", "sip-tester");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/durability.sh"))
        .arg("300")
        .env("SIPJET_BIN", env!("CARGO_BIN_EXE_sipjet"))
        .env("SIP_PORT", free_port().to_string())
        .env("ADMIN_PORT", free_port().to_string())
        .env("SIPP_PORT", free_port().to_string())
        .env_remove("RUST_LOG")
        .output()
        .expect("run scripts/durability.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("acknowledged registrations listed after the restart"),
        "{stdout}\n{stderr}"
    );
}
