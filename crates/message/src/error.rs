//! Errors that name the fault.
//!
//! Every error's `Display` text is written to be usable as the reason phrase of
//! the `400` (or `505`, `413`, `513`) a server owes the sender, so it says what
//! is wrong in the sender's terms: which header, which value, which limit.

use std::borrow::Cow;
use std::fmt;

use crate::name::HeaderName;

/// A syntax problem inside one element (a URI, a header value, a parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(Cow<'static, str>);

impl SyntaxError {
    pub(crate) const fn new(msg: &'static str) -> Self {
        SyntaxError(Cow::Borrowed(msg))
    }

    pub(crate) fn owned(msg: String) -> Self {
        SyntaxError(Cow::Owned(msg))
    }

    /// The description of the problem.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SyntaxError {}

/// Why a message could not be parsed, or why it is not a valid SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but white space was received.
    #[error("message is empty")]
    Empty,
    /// The header section has no terminating empty line.
    #[error("header section does not end with an empty line")]
    Unterminated,
    /// The header section contains bytes that are not UTF-8.
    #[error("header section is not valid UTF-8 (byte {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The start line is malformed.
    #[error("{0}")]
    StartLine(SyntaxError),
    /// The start line names a SIP version other than 2.0 (answered with 505).
    #[error("SIP version {0:?} is not supported")]
    Version(String),
    /// A header line is malformed before its value is even looked at.
    #[error("header line {line}: {problem}")]
    HeaderLine {
        /// 1-based line number, counting the start line as line 1.
        line: usize,
        /// What is wrong.
        problem: SyntaxError,
    },
    /// More header fields than the configured limit.
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// A single line longer than the configured limit.
    #[error("a header line is longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The header section is larger than the configured limit.
    #[error("header section is larger than {limit} bytes")]
    HeadersTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The body is larger than the configured limit.
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Declared body size.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A mandatory header is absent.
    #[error("missing {0} header")]
    Missing(HeaderName),
    /// A header that may appear once appears more than once.
    #[error("duplicate {0} header")]
    Duplicate(HeaderName),
    /// A header value does not follow its grammar.
    #[error("{name} header: {problem}")]
    Header {
        /// The header's name as it should be written.
        name: Cow<'static, str>,
        /// What is wrong.
        problem: SyntaxError,
    },
    /// The Request-URI does not follow its grammar.
    #[error("Request-URI: {0}")]
    RequestUri(SyntaxError),
    /// Content-Length declares more bytes than arrived.
    #[error("Content-Length {declared} exceeds the {available} bytes received")]
    ContentLengthExceeds {
        /// Declared length.
        declared: u64,
        /// Bytes present after the header section.
        available: usize,
    },
    /// A stream message without Content-Length cannot be framed.
    #[error("Content-Length is mandatory on stream transports")]
    ContentLengthRequired,
    /// The CSeq method differs from the request method.
    #[error("CSeq method {cseq:?} does not match request method {method:?}")]
    CSeqMismatch {
        /// Method named in CSeq.
        cseq: String,
        /// Method of the Request-Line.
        method: String,
    },
}

impl ParseError {
    /// The status code a server answers a request refused for this reason:
    /// `505` for an unsupported version, `413`/`513` for size limits, and
    /// `400 Bad Request` for everything else.
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::Version(_) => 505,
            ParseError::BodyTooLarge { .. } => 413,
            ParseError::HeadersTooLarge { .. }
            | ParseError::LineTooLong { .. }
            | ParseError::TooManyHeaders { .. } => 513,
            _ => 400,
        }
    }

    /// This error's text made safe to use as a reason phrase: no control
    /// characters, and at most 200 bytes.
    pub fn reason_phrase(&self) -> String {
        sanitize_reason(&self.to_string())
    }

    pub(crate) fn header(name: HeaderName, raw_name: &str, problem: SyntaxError) -> Self {
        let name = if name == HeaderName::Other {
            Cow::Owned(excerpt(raw_name).into_owned())
        } else {
            Cow::Borrowed(name.as_str())
        };
        ParseError::Header { name, problem }
    }
}

/// Replaces control characters with spaces and bounds the length, so that
/// text derived from received bytes can be put on a status line.
pub fn sanitize_reason(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(200));
    for c in s.chars() {
        if out.len() + c.len_utf8() > 200 {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// At most 60 characters of received text, for quoting in an error.
pub(crate) fn excerpt(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(60) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}...", &s[..i])),
    }
}

/// Why an outgoing message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A header name is not a token.
    #[error("header name {0:?} is not a token")]
    HeaderName(String),
    /// A header value contains CR or LF, which would inject header lines.
    #[error("value of header {0} contains a line break")]
    HeaderValue(String),
    /// A URI given to a builder does not parse.
    #[error("URI {uri:?}: {problem}")]
    Uri {
        /// The URI as given.
        uri: String,
        /// What is wrong.
        problem: SyntaxError,
    },
    /// A reason phrase contains a line break.
    #[error("reason phrase contains a line break")]
    Reason,
    /// A status code outside 100..=699.
    #[error("status code {0} is outside 100..=699")]
    StatusCode(u16),
    /// The operation needs a request, or a response.
    #[error("{0}")]
    WrongKind(&'static str),
    /// A media type is not `type/subtype`.
    #[error("media type {0:?} is not of the form type/subtype")]
    MediaType(String),
    /// The header is computed by sipjet and cannot be set by hand.
    #[error("{0} is computed from the body and cannot be set")]
    Derived(&'static str),
    /// The request the response is built from lacks something it needs.
    #[error("cannot answer the request: {0}")]
    Request(ParseError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrase_is_safe() {
        let e = ParseError::Header {
            name: "To".into(),
            problem: SyntaxError::owned("bad \u{0} byte\r\n".into()),
        };
        assert_eq!(e.reason_phrase(), "To header: bad   byte  ");
        let long = "x".repeat(500);
        assert!(sanitize_reason(&long).len() <= 203);
    }

    #[test]
    fn status_codes() {
        assert_eq!(ParseError::Version("SIP/7.0".into()).status_code(), 505);
        assert_eq!(ParseError::Missing(HeaderName::CallId).status_code(), 400);
        assert_eq!(
            ParseError::Missing(HeaderName::CallId).to_string(),
            "missing Call-ID header"
        );
    }
}
