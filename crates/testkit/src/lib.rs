//! Test support shared by the crates' integration tests: running SIPp
//! (Debian's `sip-tester`) against code under test on loopback, and
//! finding free ports.
//!
//! A missing tool fails the test with a message saying how to install it;
//! tests never skip silently. `scripts/test.sh` installs the tools.

mod sipp;

pub use sipp::{Sipp, SippOutcome, SippProcess, scenarios_dir};

use std::net::{SocketAddr, TcpListener, UdpSocket};

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
