//! Why the transaction layer refuses what the TU asks of it.

use sipjet_message::{Method, ParseError};

use crate::TransactionId;

/// A request the TU cannot send, or a response it cannot send, as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// No live transaction has this id: it has terminated, or never was.
    #[error("transaction {0} does not exist (it has terminated)")]
    UnknownTransaction(TransactionId),
    /// A response was given to a client transaction.
    #[error("transaction {0} is a client transaction; only server transactions send responses")]
    NotServer(TransactionId),
    /// A response was given where a request was expected.
    #[error("a response cannot start a client transaction")]
    NotARequest,
    /// A request was given where a response was expected.
    #[error("a request cannot answer a server transaction")]
    NotAResponse,
    /// ACK is never sent in a client transaction: the ACK for a non-2xx is
    /// the INVITE transaction's, the ACK for a 2xx the TU's (§17.1.1.3).
    #[error("ACK is not sent in a transaction; send the ACK for a 2xx with send_stateless")]
    Ack,
    /// The request's top Via or CSeq cannot be read.
    #[error("the request cannot be matched to its responses: {0}")]
    Unmatchable(ParseError),
    /// The top Via has no branch parameter, which responses are matched by.
    #[error("the top Via has no branch parameter")]
    NoBranch,
    /// CSeq names another method than the request line.
    #[error("CSeq method {cseq} differs from the request method {method}")]
    CSeqMismatch {
        /// The method of the request line.
        method: Method,
        /// The method in CSeq.
        cseq: String,
    },
    /// A client transaction with this branch and method is live.
    #[error("a {method} client transaction with branch {branch} already exists")]
    Duplicate {
        /// The branch of the top Via.
        branch: String,
        /// The method.
        method: Method,
    },
    /// A response that ends the transaction at once must be final.
    #[error("a stateless answer must be a final response, not a {0}")]
    NotFinal(u16),
    /// The transaction has sent its final response; only a further 2xx
    /// can follow a 2xx to an INVITE.
    #[error("transaction {id} has sent its final response; a {status} cannot follow")]
    FinalResponseSent {
        /// The transaction.
        id: TransactionId,
        /// The status of the refused response.
        status: u16,
    },
}
