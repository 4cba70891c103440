//! Server transactions: the side that receives a request and sends the
//! TU's responses (RFC 3261 §17.2).

pub(crate) mod invite;
pub(crate) mod non_invite;

/// Why a server transaction refuses a response from the TU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The message is a request.
    NotAResponse,
    /// The transaction is a client transaction.
    NotServer,
    /// A provisional response where only a final one will do.
    NotFinal,
    /// A final response was already sent (a 2xx may follow a 2xx of an
    /// INVITE, nothing else).
    FinalResponseSent,
}
