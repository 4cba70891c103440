//! # sipjet-message
//!
//! The message layer of sipjet: SIP requests and responses as bytes and
//! back (RFC 3261 §7, §20, §25).
//!
//! - [`Message::parse`] indexes a received message without copying it:
//!   start line, header names and values, body. Typed headers
//!   ([`Via`], [`NameAddr`], [`CSeq`], [`Contact`], [`AuthValue`], ...)
//!   are parsed on demand and borrow the message.
//! - [`Message::validate`] decides whether a parsed message is valid and,
//!   when not, which status (`400`, `505`, ...) and reason the sender is owed.
//! - [`framing::frame`] finds message boundaries on stream transports.
//! - [`Message::new_request`], [`Message::response_to`],
//!   [`Message::add_header`], [`Message::set_body`],
//!   [`Message::set_multipart_body`] and [`Message::append_body`] build
//!   outgoing messages; they are the seed's `ast_sip_add_header`,
//!   `ast_sip_add_body` (both forms) and `ast_sip_append_body`.
//! - [`Uri`] parses `sip:`, `sips:` and `tel:` URIs and compares them by
//!   RFC 3261 §19.1.4.
//!
//! ```
//! use sipjet_message::{Message, HeaderName};
//!
//! let req = Message::parse(&b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK74bf9\r\n\
//! From: <sip:alice@example.com>;tag=9fxced76sl\r\n\
//! To: <sip:bob@example.com>\r\n\
//! Call-ID: 3848276298220188511@example.com\r\n\
//! CSeq: 1 OPTIONS\r\n\
//! Content-Length: 0\r\n\r\n"[..]).unwrap();
//! req.validate().unwrap();
//! assert_eq!(req.via().unwrap().branch(), Some("z9hG4bK74bf9"));
//!
//! let mut ok = Message::response_to(&req, 200).unwrap();
//! ok.add_header("Allow", "INVITE, ACK, OPTIONS").unwrap();
//! assert!(ok.to_bytes().starts_with(b"SIP/2.0 200 OK\r\n"));
//! ```

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod build;
mod error;
pub mod framing;
pub mod generate;
mod headers;
mod host;
mod lex;
mod message;
mod method;
pub mod multipart;
mod name;
mod params;
pub mod status;
mod uri;
mod validate;

pub use error::{BuildError, ParseError, SyntaxError, sanitize_reason};
pub use headers::{
    AuthValue, CSeq, Challenge, Contact, Credentials, MAGIC_COOKIE, MAX_CSEQ, MediaType, NameAddr,
    RetryAfter, SentBy, Via, check_date, check_warning, parse_delta_seconds, parse_max_forwards,
    parse_qvalue,
};
pub use host::Host;
pub use lex::{CommaList, quote, unescape, unfold, unquote};
pub use message::{HeaderField, Message, ParseOptions};
pub use method::Method;
pub use multipart::BodyPart;
pub use name::HeaderName;
pub use params::{Param, ParamIter, Params};
pub use uri::{OtherUri, SipUri, TelUri, Uri};
