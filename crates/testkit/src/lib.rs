//! Test support shared by the crates' integration tests: running SIPp
//! (Debian's `sip-tester`) against code under test on loopback, finding
//! free ports, waiting for a condition rather than for a time, and a DNS
//! server with a zone of the test's own.
//!
//! A missing tool fails the test with a message saying how to install it;
//! tests never skip silently. `scripts/test.sh` installs the tools.

pub mod dns;
mod sipp;

pub use sipp::{Sipp, SippOutcome, SippProcess, scenarios_dir};

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

/// How long [`eventually`] waits for a condition before the test fails:
/// long enough for a loaded two-core machine, and only ever spent when
/// the condition never comes true.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How often [`eventually`] looks again.
const POLL: Duration = Duration::from_millis(5);

/// Waits until `condition` gives a value and returns it; fails the test,
/// naming `what`, when it has not within [`PATIENCE`]. Tests wait on
/// what they expect to happen, never for a fixed time.
pub async fn eventually<T>(what: &str, condition: impl FnMut() -> Option<T>) -> T {
    within_patience(condition)
        .await
        .unwrap_or_else(|| panic!("waited {PATIENCE:?} for {what}, in vain"))
}

/// Waits until `condition` is true (see [`eventually`]).
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    eventually(what, || condition().then_some(())).await
}

/// Waits until `condition` gives a value, as [`eventually`] does, but
/// returns `None` when it has not within [`PATIENCE`]: for a test that
/// has more to say when it fails than the condition's name (what a peer
/// sent and printed, say).
pub async fn within_patience<T>(mut condition: impl FnMut() -> Option<T>) -> Option<T> {
    let give_up = Instant::now() + PATIENCE;
    loop {
        let v = condition();
        if v.is_some() || Instant::now() >= give_up {
            return v;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a condition that can only be checked by waiting on
/// it (connecting, sending, reading an answer): each try runs to its end
/// before the next one starts. A try must not hang; bound what it awaits.
pub async fn eventually_async<T>(what: &str, mut condition: impl AsyncFnMut() -> Option<T>) -> T {
    let give_up = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = condition().await {
            return v;
        }
        assert!(
            Instant::now() < give_up,
            "waited {PATIENCE:?} for {what}, in vain"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`within_patience`] for a test without an async runtime (one that
/// drives other programs from threads): it polls from the calling thread.
pub fn within_patience_blocking<T>(mut condition: impl FnMut() -> Option<T>) -> Option<T> {
    let give_up = Instant::now() + PATIENCE;
    loop {
        let v = condition();
        if v.is_some() || Instant::now() >= give_up {
            return v;
        }
        std::thread::sleep(POLL);
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 at the time of the call.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on loopback");
        let port = udp.local_addr().expect("local address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Panics with an installation hint when `command` is not on the PATH.
pub fn require_tool(command: &str, debian_package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(command).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{command}` is needed by this test and is not installed: run scripts/test.sh, \
         or `apt-get install {debian_package}`"
    );
}
