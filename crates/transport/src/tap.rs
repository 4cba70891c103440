//! A copy of every message on the wire, for whoever watches the traffic
//! (a capture ring, a HEP exporter), taken where the bytes are: after a
//! received message is found valid and after a message has gone out.
//! Retransmissions pass here too, which no layer above sees.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use sipjet_message::Message;

use crate::flow::Flow;

/// Which way a tapped message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from `flow.remote` on `flow.local`.
    Received,
    /// Sent from `flow.local` to `flow.remote`.
    Sent,
}

/// One message seen by a [`Tap`].
#[derive(Clone, Copy, Debug)]
pub struct Tapped<'a> {
    /// Received or sent.
    pub direction: Direction,
    /// The bytes as they were on the wire (a received request before
    /// `received`/`rport` were added to its Via).
    pub wire: &'a [u8],
    /// The message, parsed.
    pub message: &'a Message,
    /// The flow it came or went on.
    pub flow: &'a Flow,
    /// When it was read off the socket, or handed to it: a message sent
    /// is tapped once it is out, and by then its answer may have come.
    pub at: SystemTime,
}

/// Watches the messages of the transports.
///
/// It is called on the receiving and sending threads themselves, so it
/// must return quickly and never block. [`Tap::active`] is asked first,
/// for every message: while it says no, the transports do nothing more.
pub trait Tap: Send + Sync + 'static {
    /// Whether to hand messages to [`Tap::on_message`] now.
    fn active(&self) -> bool;
    /// One message.
    fn on_message(&self, tapped: Tapped<'_>);
}

/// The tap of a [`crate::TransportConfig`], if any.
#[derive(Clone, Default)]
pub struct TapSlot(pub Option<Arc<dyn Tap>>);

impl TapSlot {
    /// The tap, when there is one and it is active.
    pub(crate) fn active(&self) -> Option<&dyn Tap> {
        self.0.as_deref().filter(|t| t.active())
    }
}

impl fmt::Debug for TapSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "TapSlot(set)"
        } else {
            "TapSlot(none)"
        })
    }
}
