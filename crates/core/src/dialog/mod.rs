//! Dialogs (RFC 3261 §12): the peer-to-peer relationship two user agents
//! keep across the requests of a call or a subscription.
//!
//! Sans-IO, like the transaction layer below: a [`Dialog`] is plain data,
//! changed only by the messages given to it, and it builds the requests
//! this side sends in it. Nothing here opens a socket, reads a clock or
//! spawns a thread; the core runs each dialog on its serializer.
//!
//! The stack keeps no dialog state: a service keeps its own dialogs (by
//! [`DialogId`]) and tells the stack which serializer each one's requests
//! go to ([`crate::SipStack::register_dialog`]); that table of serializers
//! is where the distributor looks a request's dialog up.
//!
//! - [`Dialog::from_uac`], [`Dialog::from_uas`]: create a dialog from the
//!   request and the response that establish it (§12.1), early for a 1xx,
//!   confirmed for a 2xx; [`Dialog::confirm`] confirms an early one.
//! - [`Dialog::request`], [`Dialog::ack`]: requests inside the dialog,
//!   routed by the route set over loose and strict routers (§12.2.1.1),
//!   and the ACK for a 2xx (§13.2.2.4). The caller adds the Via.
//! - [`Dialog::receive_request`], [`Dialog::receive_response`]: CSeq
//!   ordering (§12.2.2), target refresh, the end of a dialog on `481` and
//!   `408` (§12.2.1.2).
//! - [`DialogId`], [`id_of_request`], [`id_of_response`]: which dialog a
//!   message belongs to.
//! - [`is_target_refresh`]: the methods whose Contact moves the remote
//!   target.
//!
//! ```
//! use sipjet_core::dialog::{Dialog, DialogState, id_of_response};
//! use sipjet_message::{Message, Method};
//!
//! let invite = Message::parse(&b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n\
//! Max-Forwards: 70\r\n\
//! To: Bob <sip:bob@biloxi.com>\r\n\
//! From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 314159 INVITE\r\n\
//! Contact: <sip:alice@pc33.atlanta.com>\r\n\
//! Content-Length: 0\r\n\r\n"[..]).unwrap();
//! let ok = Message::parse(&b"SIP/2.0 200 OK\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\r\n\
//! To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n\
//! From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 314159 INVITE\r\n\
//! Contact: <sip:bob@192.0.2.4>\r\n\
//! Content-Length: 0\r\n\r\n"[..]).unwrap();
//!
//! let mut dialog = Dialog::from_uac(&invite, &ok).unwrap();
//! assert_eq!(dialog.state(), DialogState::Confirmed);
//! assert_eq!(id_of_response(&ok).as_ref(), Some(dialog.id()));
//!
//! // The ACK of RFC 3261 §24.2, then a BYE from the same side.
//! let ack = dialog.ack(314159).unwrap();
//! assert_eq!(ack.request_uri(), Some("sip:bob@192.0.2.4"));
//! let mut bye = dialog.request(Method::Bye).unwrap();
//! bye.prepend_header("Via", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds10")
//!     .unwrap();
//! assert!(bye.to_bytes().starts_with(b"BYE sip:bob@192.0.2.4 SIP/2.0\r\n"));
//! assert_eq!(bye.cseq().unwrap().seq, 314160);
//! ```

mod error;
mod establish;
mod extract;
mod id;
mod receive;
pub(crate) mod routing;
mod send;
mod state;
mod target_refresh;
#[cfg(test)]
mod testing;

pub use error::DialogError;
pub use id::{DialogId, id_of_request, id_of_response};
pub use state::{Dialog, DialogState};
pub use target_refresh::is_target_refresh;
