//! What the transaction layer hands out: messages to transmit and events
//! for the transaction user.

use sipjet_message::Message;

use crate::TransactionId;

/// A message to send. `dest` is what the caller gave with the request
/// ([`crate::Transactions::send_request`]) or with the received request a
/// server transaction answers ([`crate::Transactions::handle_incoming`]):
/// the transport decides what it means (an address, a connection).
///
/// Retransmissions carry the same `Message` again, so they serialize to
/// the same bytes.
#[derive(Clone, Debug)]
pub struct Transmit<D> {
    /// The transaction that sends it; `None` for
    /// [`crate::Transactions::send_stateless`].
    pub id: Option<TransactionId>,
    /// The request or response.
    pub message: Message,
    /// Where to.
    pub dest: D,
}

/// What the transaction user (the layer above) must learn.
///
/// Every transaction that was created ends with exactly one
/// [`Event::Terminated`]; after it the id is never used again.
#[derive(Clone, Debug)]
pub enum Event<D> {
    /// A request created a server transaction; the TU must answer it with
    /// [`crate::Transactions::respond`].
    Request {
        /// The new server transaction.
        id: TransactionId,
        /// The request.
        request: Message,
        /// Where it came from; responses go back there.
        source: D,
    },
    /// A CANCEL created a server transaction of its own. `invite` is the
    /// INVITE server transaction it matches (§9.2), if one is live; the TU
    /// answers the CANCEL (200, or 481 without `invite`) and, when the
    /// INVITE is still in Proceeding, the INVITE with 487.
    Cancel {
        /// The CANCEL's own server transaction.
        id: TransactionId,
        /// The CANCEL.
        cancel: Message,
        /// Where it came from.
        source: D,
        /// The INVITE server transaction it cancels.
        invite: Option<TransactionId>,
    },
    /// A response to a client transaction: provisional and final, and in
    /// the Accepted state of an INVITE (RFC 6026) every further 2xx,
    /// retransmitted or from another fork, which the TU must acknowledge.
    Response {
        /// The client transaction.
        id: TransactionId,
        /// The response.
        response: Message,
    },
    /// An ACK that belongs to no transaction, or to an INVITE server
    /// transaction in Accepted: the ACK for a 2xx, for the dialog layer.
    Ack {
        /// The ACK.
        request: Message,
        /// Where it came from.
        source: D,
    },
    /// A response that matches no client transaction. A proxy forwards it
    /// (§16.7 for 2xx); a UA drops it.
    StrayResponse {
        /// The response.
        response: Message,
        /// Where it came from.
        source: D,
    },
    /// No final response in time (Timer B or F, or the §9.1 wait after a
    /// CANCEL), or no ACK for a non-2xx final response (Timer H).
    Timeout {
        /// The transaction, which terminates next.
        id: TransactionId,
    },
    /// The transport reported a failure for the transaction
    /// (§17.1.4, §17.2.4).
    TransportError {
        /// The transaction, which terminates next.
        id: TransactionId,
    },
    /// The transaction is gone.
    Terminated {
        /// The transaction.
        id: TransactionId,
    },
}
