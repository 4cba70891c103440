//! Why a dialog cannot be created, cannot take a message, or cannot build
//! a request.

use sipjet_message::{BuildError, MAX_CSEQ, ParseError, SyntaxError};

/// What went wrong, in the words of RFC 3261 §12 and §13.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A response was given where a request belongs, or the other way round.
    #[error("expected a {0}")]
    WrongKind(&'static str),
    /// Only a 101 to 299 response with a To tag creates a dialog (§12.1).
    #[error("a {0} response cannot create a dialog (only 101 to 299 can)")]
    NotDialogCreating(u16),
    /// A request with a To tag is inside a dialog already and cannot
    /// create one (§12.1).
    #[error("the request has a To tag: it belongs to an existing dialog")]
    AlreadyInDialog,
    /// Only a 2xx confirms an early dialog (§13.2.2.4).
    #[error("a {0} response cannot confirm a dialog (only 2xx can)")]
    NotSuccess(u16),
    /// The response has no To tag, so there is no remote (UAC) or local
    /// (UAS) tag to identify the dialog by.
    #[error("missing To tag in the response")]
    MissingToTag,
    /// The request has no From tag, which a UAC must always put (§8.1.1.3).
    #[error("missing From tag in the request")]
    MissingFromTag,
    /// A dialog-creating message has no Contact, so the dialog would have
    /// no target (§12.1.1, §12.1.2).
    #[error("missing Contact in the {0}")]
    MissingContact(&'static str),
    /// `Contact: *` names no target.
    #[error("Contact * in the {0} cannot be a dialog's target")]
    WildcardContact(&'static str),
    /// A header the dialog needs is missing or malformed.
    #[error("{0}")]
    Header(#[from] ParseError),
    /// A Record-Route value without `<>`, whose parameters would be read
    /// as the header's rather than the URI's (`lr` among them).
    #[error("Record-Route value {0:?} is not enclosed in <>")]
    UnbracketedRoute(String),
    /// A value of the route set does not parse as a route.
    #[error("route {route:?} of the dialog: {problem}")]
    BadRoute {
        /// The route value.
        route: String,
        /// What is wrong with it.
        problem: SyntaxError,
    },
    /// The response does not answer the request it was given with.
    #[error("the response does not answer the request: {0} differs")]
    Mismatch(&'static str),
    /// The message's Call-ID and tags are those of another dialog.
    #[error("the message belongs to another dialog (Call-ID or tags differ)")]
    OtherDialog,
    /// The dialog has ended; it neither sends nor takes requests.
    #[error("the dialog is terminated")]
    Terminated,
    /// A request arrived with a CSeq below the last one (§12.2.2): the UAS
    /// answers `500`.
    #[error("CSeq {got} is lower than the last request's {last}")]
    OutOfOrder {
        /// The CSeq number of the refused request.
        got: u32,
        /// The highest CSeq number received so far in the dialog.
        last: u32,
    },
    /// The local CSeq cannot grow any further (§8.1.1.5 keeps it below
    /// 2**31).
    #[error("the local CSeq has reached {MAX_CSEQ}; no further request can be sent in this dialog")]
    CSeqExhausted,
    /// A CSeq number given by the caller is not below 2**31.
    #[error("CSeq {0} exceeds {MAX_CSEQ}")]
    CSeqOutOfRange(u32),
    /// The ACK for a 2xx reuses the INVITE's CSeq, which only the caller
    /// knows.
    #[error("the ACK for a 2xx is built by Dialog::ack, from the INVITE's CSeq")]
    AckNeedsInviteCSeq,
    /// A CANCEL copies the request it cancels, Via branch included (§9.1).
    #[error("a CANCEL is built from the request it cancels (RFC 3261 §9.1), not from the dialog")]
    CancelIsNotInDialog,
    /// The message builder refused a value taken from the dialog state.
    #[error("cannot build the request: {0}")]
    Build(#[from] BuildError),
}

impl DialogError {
    /// The status a UAS answers a request that
    /// [`Dialog::receive_request`](super::Dialog::receive_request) refused:
    /// `500` for an out-of-order CSeq (§12.2.2), `481` for a request that
    /// matches no live dialog (§12.2.2), `400` for a malformed one, `500`
    /// for anything else.
    pub fn status_code(&self) -> u16 {
        match self {
            DialogError::OtherDialog | DialogError::Terminated => 481,
            DialogError::Header(_) | DialogError::WildcardContact(_) => 400,
            _ => 500,
        }
    }
}
