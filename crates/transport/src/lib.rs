//! # sipjet-transport
//!
//! The transport layer of sipjet (RFC 3261 §18): it reads SIP messages
//! off the wire and sends them, over UDP, TCP, TLS, WebSocket and secure
//! WebSocket (RFC 7118).
//!
//! - [`Transports::start`] opens the listeners of a [`TransportConfig`]
//!   and hands every valid message to a [`Handler`] as an [`Incoming`]
//!   (message and [`Flow`]), straight from the receive task. Requests get
//!   `received` and `rport` in their top Via (RFC 3581); an invalid
//!   request is answered `400` (or `413`, `505`, `513`) by the transport
//!   itself; garbage is dropped and logged.
//! - [`Transports::send`] sends to a [`Destination`]: UDP from the
//!   listener socket, connection-oriented protocols on the connection
//!   named, an open one to the same peer, or a new one.
//! - [`response_destination`] says where a response goes (RFC 3261
//!   §18.2.2, RFC 3581 §4); [`Resolver`] says where a request goes
//!   (RFC 3263).
//! - A [`Tap`] gets a copy of every valid message received and every
//!   message sent, retransmissions included, with its flow.
//! - [`Limits`] bounds message sizes, connections (in total, accepted
//!   ones short of a reserve kept for connections this side opens, and
//!   per IPv4 address or IPv6 /64), idle and silent connections and slow
//!   messages; CRLF keep-alives (RFC 5626 §4.4.1) are answered on every
//!   stream.
//! - [`UDP_MTU_THRESHOLD`] is the size above which RFC 3261 §18.1.1 wants
//!   a request sent over a congestion-controlled transport; choosing one
//!   is the caller's decision.
//!
//! Modules: `udp`, `tcp` (accepting and opening connections), `tls`,
//! `ws`, `stream` (Content-Length framing), `liveness` (the idle, first
//! message, message and keep-alive clocks of both stream and WebSocket
//! connections), `connection` (the table of open connections), `inbound`
//! (what to do with a received message), `rfc3581`, `limits`, `resolve`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sipjet_transport::{
//!     Incoming, ListenerConfig, Transports, TransportConfig, response_destination,
//! };
//! use sipjet_message::Message;
//!
//! # async fn run() -> Result<(), sipjet_transport::TransportError> {
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Incoming>();
//! let config = TransportConfig {
//!     listeners: vec![ListenerConfig::udp("127.0.0.1:5060".parse().unwrap())],
//!     ..TransportConfig::default()
//! };
//! let transports = Transports::start(config, Arc::new(move |m: Incoming| {
//!     let _ = tx.send(m);
//! }))
//! .await?;
//! while let Some(Incoming { message, flow }) = rx.recv().await {
//!     if message.is_request() {
//!         let ok = Message::response_to(&message, 200).expect("a valid request");
//!         let via = message.via().expect("validated");
//!         transports.send(&ok, &response_destination(&via, &flow)).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod connection;
mod error;
mod flow;
mod handler;
mod inbound;
mod limits;
mod liveness;
mod protocol;
pub mod resolve;
mod rfc3581;
mod shared;
mod stream;
mod tap;
mod tcp;
mod tls;
mod transports;
mod udp;
mod ws;

pub use config::{ListenerConfig, TransportConfig, UdpOptions};
pub use error::TransportError;
pub use flow::{ConnectionId, Destination, Flow};
pub use handler::{Handler, Incoming};
pub use limits::Limits;
pub use protocol::Protocol;
pub use resolve::Resolver;
pub use rfc3581::response_destination;
pub use tap::{Direction, Tap, TapSlot, Tapped};
pub use tls::{TlsClientConfig, TlsServerConfig};
pub use transports::Transports;
pub use udp::UDP_MTU_THRESHOLD;
