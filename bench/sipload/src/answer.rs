//! `--answer`: the far side of a qualify measurement. A peer that answers
//! every request it receives on its UDP address with `200 OK` and counts
//! them, standing in for the phones whose contacts the server checks.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sipjet_message::Message;

/// Answers for `duration`; returns how many requests were answered and how
/// many datagrams were not requests it could answer. The counts so far are
/// printed every second, so that a script may stop it at any time.
pub fn answer(bind: SocketAddr, duration: Duration) -> io::Result<(u64, u64)> {
    let socket = UdpSocket::bind(bind)?;
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let end = Instant::now() + duration;
    let mut buf = vec![0u8; 65_536];
    let (mut answered, mut other) = (0, 0);
    let mut shown = Instant::now();
    while Instant::now() < end {
        if shown.elapsed() >= Duration::from_secs(1) {
            println!("answered={answered} unanswerable={other}");
            shown = Instant::now();
        }
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let ok = Message::parse(buf[..n].to_vec())
            .ok()
            .filter(|m| m.is_request())
            .and_then(|request| Message::response_to(&request, 200).ok());
        match ok {
            Some(ok) => {
                socket.send_to(&ok.to_bytes(), from)?;
                answered += 1;
            }
            None => other += 1,
        }
    }
    Ok((answered, other))
}
