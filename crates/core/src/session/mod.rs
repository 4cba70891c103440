//! INVITE sessions (RFC 3261 §13, §14, §15): the caller's and the
//! callee's side of a call, on the dialog layer, as a back-to-back user
//! agent or any service that answers or places calls needs them.
//!
//! Sans-IO like the dialog layer: a [`UacInvite`] takes the responses to
//! the INVITE it sent and says what they mean (ringing, answered with a
//! body, failed, a challenge answered with a new INVITE to send), and
//! builds the CANCEL and the ACK; a [`UasInvite`] builds the responses to
//! a received INVITE (its To tag, Contact and Record-Route, the body
//! handed in), retransmits its 2xx until the ACK, and answers a CANCEL. Bodies are carried as they are: the
//! session does not parse SDP. [`glare`] is the re-INVITE retry timer of
//! RFC 3261 §14.1. [`supplement`] holds the hooks services register on
//! every session's messages, by method and direction. [`timer`] keeps a
//! session's RFC 4028 interval and says when it went unrefreshed.
//!
//! What the service does with the events (relay a ringing to the other
//! leg, answer, hang up) is its own; the stack sends what these build.

pub mod glare;
pub mod supplement;
pub mod timer;
mod uac;
mod uas;

pub use supplement::{SessionSupplement, Supplements};
pub use timer::{Refresher, SessionExpires, SessionTimer};
pub use uac::{UacEvent, UacInvite, UacState};
pub use uas::{UasInvite, UasState, UasTimeout};

/// A body and its Content-Type, as carried between legs.
pub type Body = (String, bytes::Bytes);

/// The body of `message` with its Content-Type, if it has one.
pub fn body_of(message: &sipjet_message::Message) -> Option<Body> {
    let body = message.body();
    if body.is_empty() {
        return None;
    }
    let ct = message
        .header(sipjet_message::HeaderName::ContentType)
        .unwrap_or("application/octet-stream")
        .to_string();
    Some((ct, body.clone()))
}
