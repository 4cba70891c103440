//! Errors of the core.

use sipjet_transaction::TransactionError;

/// Why a message could not be sent, or a request got no final response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The transaction layer refused (a second final response, an unknown
    /// transaction...).
    #[error("transaction layer: {0}")]
    Transaction(#[from] TransactionError),
    /// The message given to `respond` is a request.
    #[error("a request cannot be sent as a response")]
    NotAResponse,
    /// No final response came in time (Timer B or F).
    #[error("no final response within the transaction timeout")]
    Timeout,
    /// The transport could not send or connect.
    #[error("the transport could not deliver the request")]
    TransportFailed,
    /// The target could not be turned into a destination.
    #[error("cannot reach {target}: {reason}")]
    Unreachable {
        /// The target as given.
        target: String,
        /// Why.
        reason: String,
    },
    /// The request could not be built.
    #[error("cannot build the request: {0}")]
    Build(String),
    /// The stack is not started, or is shutting down.
    #[error("the stack is not running")]
    NotRunning,
}

/// Why registering with the stack failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// A service of that name is registered already.
    #[error("a service named {0:?} is already registered")]
    DuplicateService(String),
    /// An authenticator is registered already; unregister it first.
    #[error("an authenticator is already registered")]
    AuthenticatorPresent,
    /// An endpoint identifier of that name is registered already.
    #[error("an endpoint identifier named {0:?} is already registered")]
    DuplicateIdentifier(String),
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// A transport could not be started.
    #[error("starting the transports: {0}")]
    Transport(#[from] sipjet_transport::TransportError),
    /// `start` was called twice.
    #[error("the stack is already started")]
    AlreadyStarted,
}
