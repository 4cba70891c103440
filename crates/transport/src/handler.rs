//! What the transports hand to the layer above.

use sipjet_message::Message;

use crate::flow::Flow;

/// A valid message as received, with the flow it came on. A request
/// already carries `received` and `rport` in its top Via (RFC 3581).
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The message.
    pub message: Message,
    /// Where it came from.
    pub flow: Flow,
}

/// The receiver of every valid message.
///
/// It is called from the receive tasks themselves, so that a datagram
/// reaches it without a hop between tasks; it must therefore return
/// quickly and never block (hand the message on to a queue or a task).
pub trait Handler: Send + Sync + 'static {
    /// Called once for each valid message received.
    fn on_message(&self, incoming: Incoming);
}

impl<F> Handler for F
where
    F: Fn(Incoming) + Send + Sync + 'static,
{
    fn on_message(&self, incoming: Incoming) {
        self(incoming)
    }
}
