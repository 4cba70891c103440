//! The socket: UDP (one socket, large buffers, so that a burst is not
//! lost on the client side and blamed on the server) or one TCP
//! connection, with responses framed by Content-Length.
//!
//! Over TCP a thread of its own writes: the receiver answers what it
//! reads (credentials after a 401, an ACK after a 200) and must never
//! wait for the send buffer, or a server that stops reading while its
//! own writes wait for us would wait for ever, and so would we.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

use sipjet_message::framing::{Frame, FrameLimits, frame};

/// Socket buffer sizes asked for (the kernel caps them at its maximum).
const BUFFER_BYTES: usize = 8 << 20;

/// How often a blocked receive wakes to see whether the run is over.
const POLL: Duration = Duration::from_millis(50);

pub enum Socket {
    Udp(UdpSocket, SocketAddr),
    /// The writer thread's queue, and the stream read from.
    Tcp(Sender<Vec<u8>>, TcpStream),
}

/// One client socket to the server.
pub struct Wire {
    socket: Socket,
    local: SocketAddr,
    closed: AtomicBool,
}

impl Wire {
    /// Binds (UDP) or connects (TCP) to `target`.
    pub fn connect(tcp: bool, target: SocketAddr) -> io::Result<Wire> {
        let domain = socket2::Domain::for_address(target);
        let any: SocketAddr = if target.is_ipv4() {
            "127.0.0.1:0".parse().expect("address")
        } else {
            "[::1]:0".parse().expect("address")
        };
        let socket = if tcp {
            let s = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
            s.set_tcp_nodelay(true)?;
            let _ = s.set_recv_buffer_size(BUFFER_BYTES);
            let _ = s.set_send_buffer_size(BUFFER_BYTES);
            s.connect(&target.into())?;
            let stream: TcpStream = s.into();
            stream.set_read_timeout(Some(POLL))?;
            let (queue, queued) = channel::<Vec<u8>>();
            let mut writer = stream.try_clone()?;
            // Ends when the queue's sender goes, or the stream is shut
            // down by `close`.
            std::thread::spawn(move || {
                for message in queued {
                    if writer.write_all(&message).is_err() {
                        return;
                    }
                }
            });
            Socket::Tcp(queue, stream)
        } else {
            let s = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
            let _ = s.set_recv_buffer_size(BUFFER_BYTES);
            let _ = s.set_send_buffer_size(BUFFER_BYTES);
            s.bind(&any.into())?;
            let udp: UdpSocket = s.into();
            udp.set_read_timeout(Some(POLL))?;
            Socket::Udp(udp, target)
        };
        let local = match &socket {
            Socket::Udp(s, _) => s.local_addr()?,
            Socket::Tcp(_, s) => s.local_addr()?,
        };
        Ok(Wire {
            socket,
            local,
            closed: AtomicBool::new(false),
        })
    }

    /// The address requests come from.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Sends one message (over TCP, queues it for the writer).
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        match &self.socket {
            Socket::Udp(s, to) => s.send_to(message, to).map(|_| ()),
            Socket::Tcp(queue, _) => queue
                .send(message.to_vec())
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the connection is closed")),
        }
    }

    /// Ends [`Wire::receive`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        if let Socket::Tcp(_, s) = &self.socket {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Calls `each` with every message received until [`Wire::close`].
    pub fn receive(&self, each: &mut dyn FnMut(&[u8])) {
        match &self.socket {
            Socket::Udp(s, _) => {
                let mut buf = vec![0u8; 65_536];
                while !self.closed.load(Ordering::Relaxed) {
                    match s.recv(&mut buf) {
                        Ok(n) => each(&buf[..n]),
                        Err(e) if is_timeout(&e) => {}
                        Err(e) => {
                            eprintln!("sipload: receive failed: {e}");
                            return;
                        }
                    }
                }
            }
            Socket::Tcp(_, s) => read_frames(s, &self.closed, each),
        }
    }
}

/// Calls `each` with every message read from `stream`, framed by
/// Content-Length, until the peer closes it or `closed` is set (the
/// stream's read timeout decides how soon that is seen).
pub fn read_frames(stream: &TcpStream, closed: &AtomicBool, each: &mut dyn FnMut(&[u8])) {
    let mut stream = stream;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 * 1024];
    let limits = FrameLimits::default();
    while !closed.load(Ordering::Relaxed) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => continue,
            Err(e) => {
                if !closed.load(Ordering::Relaxed) {
                    eprintln!("sipload: receive failed: {e}");
                }
                return;
            }
        }
        let mut used = 0;
        loop {
            match frame(&buf[used..], &limits) {
                Ok(Frame::Message { len, .. }) => {
                    each(&buf[used..used + len]);
                    used += len;
                }
                Ok(Frame::Ping(n) | Frame::Pong(n)) => used += n,
                Ok(Frame::NeedMore) => break,
                Err(e) => {
                    eprintln!("sipload: the peer's stream is unreadable: {e}");
                    return;
                }
            }
        }
        buf.drain(..used);
    }
}

pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
