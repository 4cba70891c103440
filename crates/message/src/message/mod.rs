//! The SIP message: parsed from bytes without copying, or built from scratch;
//! read through a header index; changed through the seed's header and body
//! helpers; serialized back to bytes.
//!
//! A parsed message keeps the received buffer (`Bytes`, reference counted)
//! and records where the start line, each header name and value, and the
//! body lie in it. Text added later lives in a side buffer. A message that
//! was never changed serializes to the exact bytes it was parsed from.
//!
//! This module holds the representation and what reads it; the rest is one
//! module a job: `parse` (bytes to index), `edit` (building and changing,
//! the seed's header and body helpers), `write` (back to bytes).

mod edit;
mod parse;
mod write;

use std::fmt;

use bytes::Bytes;

use crate::error::{ParseError, SyntaxError};
use crate::lex::CommaList;
use crate::method::Method;
use crate::name::HeaderName;

pub(crate) use edit::check_media_type;

/// Where a piece of text lives: in the received buffer, or in the side
/// buffer of text added after parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
    owned: bool,
}

impl Span {
    const EMPTY: Span = Span {
        start: 0,
        end: 0,
        owned: true,
    };

    fn received(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
            owned: false,
        }
    }
}

#[derive(Clone, Debug)]
struct Field {
    name: HeaderName,
    raw_name: Span,
    value: Span,
    /// End of the received line (before CRLF) while the field is unchanged,
    /// so that it can be written back byte for byte, folding included.
    line_end: Option<u32>,
}

#[derive(Clone, Debug)]
enum StartLine {
    Request {
        method: Method,
        uri: Span,
        version: Span,
        /// What is wrong with the received line, when it still names a
        /// method, a Request-URI and a version.
        fault: Option<RequestLineFault>,
    },
    Response {
        version: Span,
        code: u16,
        reason: Span,
    },
}

/// A Request-Line whose white space is wrong (RFC 4475 §3.1.2.8 to
/// §3.1.2.10, and a line that starts with white space) but whose method,
/// Request-URI and version can still be told apart. Such a request is
/// parsed, so that the sender can be answered `400` from its Via, From,
/// To, Call-ID and CSeq; [`Message::validate`] reports the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestLineFault {
    /// White space before the method.
    LeadingSpace,
    /// White space after the version.
    TrailingSpace,
    /// White space inside the Request-URI.
    SpaceInUri,
    /// More than one SP between two elements.
    ExtraSpace,
    /// HTAB between two elements.
    Tab,
}

impl RequestLineFault {
    fn describe(self) -> &'static str {
        match self {
            RequestLineFault::LeadingSpace => "Request-Line starts with white space",
            RequestLineFault::TrailingSpace => "Request-Line ends with white space",
            RequestLineFault::SpaceInUri => {
                "Request-Line has more than three elements (white space in the Request-URI?)"
            }
            RequestLineFault::ExtraSpace => "Request-Line has more than one space between elements",
            RequestLineFault::Tab => "Request-Line separates its elements with a tab, not a space",
        }
    }
}

/// Limits and framing rules for [`Message::parse_with`].
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Most header fields a message may have.
    pub max_headers: usize,
    /// Longest line (start line or one physical header line) in bytes.
    pub max_line: usize,
    /// Stream rules (TCP, TLS): Content-Length is mandatory. On datagrams
    /// a missing Content-Length means the body runs to the end.
    pub stream: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_headers: 256,
            max_line: 16 * 1024,
            stream: false,
        }
    }
}

/// A SIP request or response.
#[derive(Clone)]
pub struct Message {
    buf: Bytes,
    extra: String,
    start: StartLine,
    /// End of the received start line while it is unchanged.
    start_line_end: Option<u32>,
    fields: Vec<Field>,
    body: Bytes,
    content_length: Option<u32>,
    modified: bool,
    /// True when a header value may hold a control character other than
    /// HTAB and the line breaks of folding: set while the lines are
    /// indexed, and by text added later. Only then does validation look
    /// at every value ([`crate::lex::check_controls`]).
    controls: bool,
}

/// One header field as seen through [`Message::fields`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The name, mapped to a known header where possible.
    pub name: HeaderName,
    /// The name as written in the message (compact forms stay compact).
    pub raw_name: &'a str,
    /// The value, trimmed; a folded value keeps its line breaks, which
    /// every parser in this crate reads as white space.
    pub value: &'a str,
}

impl Message {
    fn text(&self, s: Span) -> &str {
        if s.owned {
            &self.extra[s.start as usize..s.end as usize]
        } else {
            let bytes = &self.buf[s.start as usize..s.end as usize];
            debug_assert!(std::str::from_utf8(bytes).is_ok());
            // SAFETY: received spans only cover the header section, which
            // `parse_with` checked is UTF-8, and every span starts and ends
            // next to an ASCII delimiter, so on a character boundary.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        }
    }

    // ----- start line -------------------------------------------------

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// True for a response.
    pub fn is_response(&self) -> bool {
        !self.is_request()
    }

    /// The request method (`None` for a response).
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as text (`None` for a response).
    pub fn request_uri(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(self.text(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code (`None` for a request).
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase (`None` for a request).
    pub fn reason(&self) -> Option<&str> {
        match self.start {
            StartLine::Response { reason, .. } => Some(self.text(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// The fault of a received Request-Line that was parsed anyway, for
    /// [`Message::validate`] to report.
    pub(crate) fn request_line_fault(&self) -> Option<ParseError> {
        match self.start {
            StartLine::Request {
                fault: Some(fault), ..
            } => Some(ParseError::StartLine(SyntaxError::new(fault.describe()))),
            _ => None,
        }
    }

    /// The SIP version as written (`SIP/2.0`).
    pub fn version(&self) -> &str {
        match self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => {
                self.text(version)
            }
        }
    }

    // ----- headers ----------------------------------------------------

    /// Every header field in order.
    pub fn fields(&self) -> impl Iterator<Item = HeaderField<'_>> {
        self.fields.iter().map(|f| HeaderField {
            name: f.name,
            raw_name: self.text(f.raw_name),
            value: self.text(f.value),
        })
    }

    /// Number of header fields.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// The value of the first header of this name.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| self.text(f.value))
    }

    /// The value of every header line of this name, in order.
    pub fn headers(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(move |f| f.name == name)
            .map(|f| self.text(f.value))
    }

    /// Header lines by name as text: known names in any form, unknown
    /// names compared without regard to case.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let id = HeaderName::from_bytes(name.as_bytes());
        self.fields
            .iter()
            .filter(move |f| {
                f.name == id
                    && (id != HeaderName::Other || self.text(f.raw_name).eq_ignore_ascii_case(name))
            })
            .map(|f| self.text(f.value))
    }

    /// The elements of every header line of this name, split at top-level
    /// commas (for list headers such as Via, Contact, Route, Allow).
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = Result<&str, SyntaxError>> {
        self.headers(name).flat_map(CommaList::new)
    }

    /// True when at least one header of this name is present.
    pub fn has(&self, name: HeaderName) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }

    // ----- body ---------------------------------------------------------

    /// The received bytes the message was parsed from (leading blank lines
    /// and anything past its Content-Length left out), as they arrived:
    /// edits made since do not show here ([`Message::to_bytes`] is the
    /// message as it now is). Empty for a message built here. A
    /// retransmission and its original give equal bytes.
    pub fn received_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The Content-Length as received (`None` when absent or for a
    /// message built here; the body length is what will be sent).
    pub fn received_content_length(&self) -> Option<u32> {
        self.content_length
    }

    // ----- changes ------------------------------------------------------

    /// True when the message was changed since it was parsed (or was built).
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// False when no header value can hold a control character other
    /// than HTAB and folding, so that validation need not look.
    pub(crate) fn may_hold_controls(&self) -> bool {
        self.controls
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Message");
        match &self.start {
            StartLine::Request { method, uri, .. } => {
                d.field("method", method).field("uri", &self.text(*uri));
            }
            StartLine::Response { code, reason, .. } => {
                d.field("status", code).field("reason", &self.text(*reason));
            }
        }
        d.field(
            "headers",
            &self
                .fields()
                .map(|h| (h.raw_name, h.value))
                .collect::<Vec<_>>(),
        )
        .field("body_len", &self.body.len())
        .finish()
    }
}

/// Shows the message as text (the body lossily, if it is not UTF-8), as a
/// SIP trace would.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
f: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn request_parts_and_compact_names() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert!(m.is_request());
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.request_uri(), Some("sip:bob@biloxi.com"));
        assert_eq!(m.version(), "SIP/2.0");
        assert_eq!(
            m.header(HeaderName::CallId),
            Some("a84b4c76e66710@pc33.atlanta.com")
        );
        assert_eq!(m.from_header().unwrap().tag(), Some("1928301774"));
        assert_eq!(m.headers_named("FROM").count(), 1);
        assert_eq!(m.headers_named("f").count(), 1);
        assert_eq!(m.body().as_ref(), b"v=0\n");
        assert_eq!(m.received_content_length(), Some(4));
        assert_eq!(m.field_count(), 9);
        assert_eq!(m.to_bytes().as_ref(), INVITE.as_bytes());
    }
}
