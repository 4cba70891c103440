//! The SIP message: parsed from bytes without copying, or built from scratch;
//! read through a header index; changed through the seed's header and body
//! helpers; serialized back to bytes.
//!
//! A parsed message keeps the received buffer (`Bytes`, reference counted)
//! and records where the start line, each header name and value, and the
//! body lie in it. Text added later lives in a side buffer. A message that
//! was never changed serializes to the exact bytes it was parsed from.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::error::{BuildError, ParseError, SyntaxError, excerpt};
use crate::lex::{CommaList, is_token};
use crate::method::Method;
use crate::name::HeaderName;

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
    /// Parses a message received as one datagram, with default limits.
    /// Bytes after the Content-Length end of the body are ignored
    /// (RFC 3261 §18.3).
    pub fn parse(data: impl Into<Bytes>) -> Result<Message, ParseError> {
        Message::parse_with(data.into(), &ParseOptions::default())
    }

    /// Parses a message with explicit limits and framing rules.
    pub fn parse_with(data: Bytes, opts: &ParseOptions) -> Result<Message, ParseError> {
        Message::parse_inner(data, opts, false)
    }

    /// Parses only the start line and the header section, ignoring the body
    /// and any fault of Content-Length. A transport uses it to answer `400`
    /// to a request whose body could not be framed: its Via, From, To,
    /// Call-ID and CSeq are still readable.
    pub fn parse_head(data: Bytes, opts: &ParseOptions) -> Result<Message, ParseError> {
        Message::parse_inner(data, opts, true)
    }

    fn parse_inner(
        data: Bytes,
        opts: &ParseOptions,
        head_only: bool,
    ) -> Result<Message, ParseError> {
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        let skip = data
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let buf = if skip > 0 { data.slice(skip..) } else { data };
        if buf.is_empty() {
            return Err(ParseError::Empty);
        }
        let b: &[u8] = &buf;
        let Some(first_nl) = memchr::memchr(b'\n', b) else {
            return Err(ParseError::Unterminated);
        };
        if first_nl > opts.max_line {
            return Err(ParseError::LineTooLong {
                limit: opts.max_line,
            });
        }
        let first_end = if first_nl > 0 && b[first_nl - 1] == b'\r' {
            first_nl - 1
        } else {
            first_nl
        };
        if !b[..first_end].is_ascii() {
            std::str::from_utf8(&b[..first_end]).map_err(|e| ParseError::NotUtf8 {
                offset: e.valid_up_to() + skip,
            })?;
        }
        // SAFETY: just checked to be ASCII or valid UTF-8.
        let start_line_text = unsafe { std::str::from_utf8_unchecked(&b[..first_end]) };
        let start = parse_start_line(start_line_text)?;
        let start_line_len = first_end as u32;

        // One pass over the header lines: find each line end, scan the name
        // (hashing it for the lookup), find the value, stop at the empty
        // line. UTF-8 is checked once for the whole section afterwards.
        let mut fields: Vec<Field> = Vec::with_capacity(16);
        let HeadIndex {
            head_len,
            body_start,
            has_content_length,
            controls,
        } = index_headers(b, first_nl + 1, opts, head_only, &mut fields)?;
        let mut content_length: Option<u32> = None;
        // Most messages are ASCII, which is checked a word at a time.
        if !b[..head_len].is_ascii() {
            std::str::from_utf8(&b[..head_len]).map_err(|e| ParseError::NotUtf8 {
                offset: e.valid_up_to() + skip,
            })?;
        }
        // SAFETY: just checked to be ASCII or valid UTF-8.
        let head = unsafe { std::str::from_utf8_unchecked(&b[..head_len]) };

        if head_only {
            let buf = buf.slice(..body_start);
            return Ok(Message {
                body: Bytes::new(),
                buf,
                extra: String::new(),
                start,
                start_line_end: Some(start_line_len),
                fields,
                content_length: None,
                modified: false,
                controls,
            });
        }
        if has_content_length {
            let f = fields
                .iter()
                .find(|f| f.name == HeaderName::ContentLength)
                .expect("seen above");
            let text = &head[f.value.start as usize..f.value.end as usize];
            let n =
                crate::lex::parse_decimal(crate::lex::trim_lws(text), u64::from(u32::MAX), "value")
                    .map_err(|problem| ParseError::Header {
                        name: "Content-Length".into(),
                        problem,
                    })?;
            content_length = Some(n as u32);
        }

        let available = buf.len() - body_start;
        let (body, total) = match content_length {
            Some(n) if n as usize > available => {
                return Err(ParseError::ContentLengthExceeds {
                    declared: u64::from(n),
                    available,
                });
            }
            Some(n) => (
                buf.slice(body_start..body_start + n as usize),
                body_start + n as usize,
            ),
            None if opts.stream => return Err(ParseError::ContentLengthRequired),
            None => (buf.slice(body_start..), buf.len()),
        };
        let buf = if total < buf.len() {
            buf.slice(..total)
        } else {
            buf
        };
        Ok(Message {
            buf,
            extra: String::new(),
            start,
            start_line_end: Some(start_line_len),
            fields,
            body,
            content_length,
            modified: false,
            controls,
        })
    }

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

    fn own(&mut self, text: &str) -> Span {
        self.controls |= crate::lex::first_control_or_tab(text.as_bytes()).is_some();
        let start = self.extra.len();
        self.extra.push_str(text);
        Span {
            start: start as u32,
            end: self.extra.len() as u32,
            owned: true,
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

    /// Replaces the Request-URI, which must parse as a URI. The line is
    /// written anew, with single spaces.
    pub fn set_request_uri(&mut self, uri: &str) -> Result<(), BuildError> {
        check_uri(uri)?;
        let span = self.own(uri);
        match &mut self.start {
            StartLine::Request { uri, fault, .. } => {
                *uri = span;
                *fault = None;
            }
            StartLine::Response { .. } => {
                return Err(BuildError::WrongKind("a response has no Request-URI"));
            }
        }
        self.start_line_end = None;
        self.modified = true;
        Ok(())
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

    /// Adds a header at the end of the header section
    /// (`ast_sip_add_header`). Content-Length is derived from the body and
    /// cannot be added.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), BuildError> {
        let field = self.new_field(name, value)?;
        self.fields.push(field);
        self.modified = true;
        Ok(())
    }

    /// Adds a header before every other header of the same name, or first
    /// in the message when there is none (a proxy's or client's new Via).
    pub fn prepend_header(&mut self, name: &str, value: &str) -> Result<(), BuildError> {
        let field = self.new_field(name, value)?;
        let at = self
            .fields
            .iter()
            .position(|f| f.name == field.name)
            .unwrap_or(0);
        self.fields.insert(at, field);
        self.modified = true;
        Ok(())
    }

    /// Replaces every header of this name by one with `value`, in the place
    /// of the first; adds it at the end when absent.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), BuildError> {
        let field = self.new_field(name, value)?;
        let id = field.name;
        let first = self.fields.iter().position(|f| self.same_name(f, id, name));
        match first {
            Some(at) => {
                self.fields[at] = field;
                let mut i = at + 1;
                while i < self.fields.len() {
                    if self.same_name(&self.fields[i], id, name) {
                        self.fields.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => self.fields.push(field),
        }
        self.modified = true;
        Ok(())
    }

    /// Replaces the value of the first header of this name (for example the
    /// top Via, when a server adds `received` and `rport`). Returns false
    /// when there is no such header.
    pub fn set_first_value(&mut self, name: HeaderName, value: &str) -> Result<bool, BuildError> {
        check_value(name.as_str(), value)?;
        let Some(at) = self.fields.iter().position(|f| f.name == name) else {
            return Ok(false);
        };
        let span = self.own(value);
        let f = &mut self.fields[at];
        f.value = span;
        f.line_end = None;
        self.modified = true;
        Ok(true)
    }

    /// Removes every header of this name; returns how many were removed.
    pub fn remove_header(&mut self, name: &str) -> usize {
        let id = HeaderName::from_bytes(name.as_bytes());
        let before = self.fields.len();
        let keep: Vec<bool> = self
            .fields
            .iter()
            .map(|f| !self.same_name(f, id, name))
            .collect();
        let mut it = keep.iter();
        self.fields
            .retain(|_| *it.next().expect("one flag per field"));
        let removed = before - self.fields.len();
        if removed > 0 {
            self.modified = true;
        }
        removed
    }

    /// Replaces the top Via value (the first element of the first Via
    /// line), keeping any other values of that line: how a server records
    /// `received` and `rport` (RFC 3581).
    pub fn set_top_via(&mut self, value: &str) -> Result<(), BuildError> {
        check_value("Via", value)?;
        let at = self.top_via_field()?;
        let rest = self.top_via_rest(at);
        let new = match rest {
            Some(rest) => format!("{value}, {rest}"),
            None => value.to_string(),
        };
        let span = self.own(&new);
        let f = &mut self.fields[at];
        f.value = span;
        f.line_end = None;
        self.modified = true;
        Ok(())
    }

    /// Removes the top Via value (a proxy forwarding a response upstream).
    pub fn remove_top_via(&mut self) -> Result<(), BuildError> {
        let at = self.top_via_field()?;
        match self.top_via_rest(at) {
            Some(rest) => {
                let span = self.own(&rest);
                let f = &mut self.fields[at];
                f.value = span;
                f.line_end = None;
            }
            None => {
                self.fields.remove(at);
            }
        }
        self.modified = true;
        Ok(())
    }

    fn top_via_field(&self) -> Result<usize, BuildError> {
        self.fields
            .iter()
            .position(|f| f.name == HeaderName::Via)
            .ok_or(BuildError::Request(ParseError::Missing(HeaderName::Via)))
    }

    /// The values after the first one on the top Via line, unfolded.
    fn top_via_rest(&self, at: usize) -> Option<String> {
        let line = self.text(self.fields[at].value);
        let comma = crate::lex::find_top_level(line, b',').ok().flatten()?;
        let rest = crate::lex::trim_lws(&line[comma + 1..]);
        (!rest.is_empty()).then(|| crate::lex::unfold(rest).into_owned())
    }

    /// Removes the first header of this name (a proxy popping a Route, a
    /// response losing its top Via). Returns whether one was removed.
    pub fn remove_first(&mut self, name: HeaderName) -> bool {
        match self.fields.iter().position(|f| f.name == name) {
            Some(at) => {
                self.fields.remove(at);
                self.modified = true;
                true
            }
            None => false,
        }
    }

    fn same_name(&self, f: &Field, id: HeaderName, name: &str) -> bool {
        f.name == id
            && (id != HeaderName::Other || self.text(f.raw_name).eq_ignore_ascii_case(name))
    }

    fn new_field(&mut self, name: &str, value: &str) -> Result<Field, BuildError> {
        if !is_token(name) {
            return Err(BuildError::HeaderName(name.to_string()));
        }
        check_value(name, value)?;
        let id = HeaderName::from_bytes(name.as_bytes());
        if id == HeaderName::ContentLength {
            return Err(BuildError::Derived("Content-Length"));
        }
        let raw_name = if id == HeaderName::Other || name.len() == 1 {
            self.own(name)
        } else {
            // Known headers are written with their canonical name.
            self.own(id.as_str())
        };
        let value = self.own(value);
        Ok(Field {
            name: id,
            raw_name,
            value,
            line_end: None,
        })
    }

    // ----- body ---------------------------------------------------------

    /// The body (empty when there is none).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The Content-Length as received (`None` when absent or for a
    /// message built here; the body length is what will be sent).
    pub fn received_content_length(&self) -> Option<u32> {
        self.content_length
    }

    /// Sets the body, replacing any previous one, and its Content-Type
    /// (`ast_sip_add_body`). Content-Length follows the body.
    pub fn set_body(
        &mut self,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<(), BuildError> {
        check_media_type(content_type)?;
        self.set_header("Content-Type", content_type)?;
        self.body = body.into();
        self.modified = true;
        Ok(())
    }

    /// Appends to the body (`ast_sip_append_body`). Content-Length follows.
    pub fn append_body(&mut self, data: &[u8]) {
        let mut b = BytesMut::with_capacity(self.body.len() + data.len());
        b.extend_from_slice(&self.body);
        b.extend_from_slice(data);
        self.body = b.freeze();
        self.modified = true;
    }

    /// Removes the body and its Content-Type.
    pub fn clear_body(&mut self) {
        self.body = Bytes::new();
        self.remove_header("Content-Type");
        self.modified = true;
    }

    // ----- serialization ------------------------------------------------

    /// True when the message was changed since it was parsed (or was built).
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// False when no header value can hold a control character other
    /// than HTAB and folding, so that validation need not look.
    pub(crate) fn may_hold_controls(&self) -> bool {
        self.controls
    }

    /// The message as bytes. An unchanged parsed message returns the
    /// received bytes themselves, without copying.
    pub fn to_bytes(&self) -> Bytes {
        if !self.modified {
            return self.buf.clone();
        }
        let mut out = BytesMut::with_capacity(self.changed_len());
        self.write_to(&mut out);
        out.freeze()
    }

    /// Appends the serialized message to `out`. A changed message gets a
    /// Content-Length computed from its body, in place of any received one.
    pub fn write_to(&self, out: &mut BytesMut) {
        if !self.modified {
            out.extend_from_slice(&self.buf);
            return;
        }
        self.write_changed(|bytes| out.extend_from_slice(bytes));
    }

    /// The length a changed message serializes to, counted by the same
    /// walk that writes, so that [`Message::to_bytes`] allocates exactly
    /// that. An estimate from the received buffer over-reserved for a
    /// response built from a request (room for the whole request), and a
    /// serialized message can be held a while: over UDP a transaction
    /// keeps its last response for Timer J, 32 s.
    fn changed_len(&self) -> usize {
        let mut len = 0;
        self.write_changed(|bytes| len += bytes.len());
        len
    }

    /// Hands a changed message to `put` piece by piece, in order.
    fn write_changed(&self, mut put: impl FnMut(&[u8])) {
        match (self.start_line_end, &self.start) {
            (Some(end), _) => put(&self.buf[..end as usize]),
            (
                None,
                StartLine::Request {
                    method,
                    uri,
                    version,
                    ..
                },
            ) => {
                put(method.as_str().as_bytes());
                put(b" ");
                put(self.text(*uri).as_bytes());
                put(b" ");
                put(self.text(*version).as_bytes());
            }
            (
                None,
                StartLine::Response {
                    version,
                    code,
                    reason,
                },
            ) => {
                put(self.text(*version).as_bytes());
                put(b" ");
                put(itoa_u32(u32::from(*code)).as_bytes());
                put(b" ");
                put(self.text(*reason).as_bytes());
            }
        }
        put(b"\r\n");
        for f in &self.fields {
            if f.name == HeaderName::ContentLength {
                continue;
            }
            match f.line_end {
                Some(end) if !f.raw_name.owned => {
                    put(&self.buf[f.raw_name.start as usize..end as usize]);
                }
                _ => {
                    put(self.text(f.raw_name).as_bytes());
                    put(b": ");
                    put(self.text(f.value).as_bytes());
                }
            }
            put(b"\r\n");
        }
        put(b"Content-Length: ");
        put(itoa_u32(self.body.len() as u32).as_bytes());
        put(b"\r\n\r\n");
        put(&self.body);
    }

    // ----- construction -------------------------------------------------

    fn empty(start: StartLine) -> Message {
        Message {
            buf: Bytes::new(),
            extra: String::new(),
            start,
            start_line_end: None,
            fields: Vec::with_capacity(12),
            body: Bytes::new(),
            content_length: None,
            modified: true,
            controls: false,
        }
    }

    /// A new request with its start line only; add headers with
    /// [`Message::add_header`].
    pub fn new_request(method: Method, uri: &str) -> Result<Message, BuildError> {
        check_uri(uri)?;
        let mut m = Message::empty(StartLine::Request {
            method,
            uri: Span::EMPTY,
            version: Span::EMPTY,
            fault: None,
        });
        let (u, v) = (m.own(uri), m.own("SIP/2.0"));
        m.start = match m.start {
            StartLine::Request { method, .. } => StartLine::Request {
                method,
                uri: u,
                version: v,
                fault: None,
            },
            s => s,
        };
        Ok(m)
    }

    /// A new response with its status line only. Without a reason phrase
    /// the standard one for the code is used.
    pub fn new_response(code: u16, reason: Option<&str>) -> Result<Message, BuildError> {
        if !(100..=699).contains(&code) {
            return Err(BuildError::StatusCode(code));
        }
        let reason = reason.unwrap_or_else(|| crate::status::reason_phrase(code));
        if reason.contains(['\r', '\n']) {
            return Err(BuildError::Reason);
        }
        let mut m = Message::empty(StartLine::Response {
            version: Span::EMPTY,
            code,
            reason: Span::EMPTY,
        });
        let (v, r) = (m.own("SIP/2.0"), m.own(reason));
        m.start = StartLine::Response {
            version: v,
            code,
            reason: r,
        };
        Ok(m)
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

/// What [`index_headers`] found besides the fields.
struct HeadIndex {
    /// Length of the header section.
    head_len: usize,
    /// Where the body starts.
    body_start: usize,
    /// Whether a Content-Length was seen.
    has_content_length: bool,
    /// Whether a line holds a control character other than HTAB and its
    /// line end.
    controls: bool,
}

/// Indexes the header lines of `b` from `pos` up to the empty line: one
/// pass that finds each line end, notes control characters, scans the
/// name, looks it up and trims the value.
fn index_headers(
    b: &[u8],
    mut pos: usize,
    opts: &ParseOptions,
    tolerate_length: bool,
    fields: &mut Vec<Field>,
) -> Result<HeadIndex, ParseError> {
    let is_ws = |c: u8| c == b' ' || c == b'\t';
    let mut has_content_length = false;
    let mut controls = false;
    let mut line_no = 1;
    loop {
        let rest = &b[pos..];
        let end = |blank: usize| HeadIndex {
            head_len: pos,
            body_start: pos + blank,
            has_content_length,
            controls,
        };
        match rest {
            [] => return Err(ParseError::Unterminated),
            [b'\n', ..] => return Ok(end(1)),
            [b'\r', b'\n', ..] => return Ok(end(2)),
            _ => {}
        }
        line_no += 1;
        let (Some(nl), line_controls) = find_line_end(rest) else {
            return Err(ParseError::Unterminated);
        };
        controls |= line_controls;
        if nl > opts.max_line {
            return Err(ParseError::LineTooLong {
                limit: opts.max_line,
            });
        }
        let line = match &rest[..nl] {
            [line @ .., b'\r'] => line,
            line => line,
        };
        let line_end = (pos + line.len()) as u32;
        if is_ws(line[0]) {
            // A continuation line (RFC 3261 §7.3.1 folding).
            let Some(field) = fields.last_mut() else {
                return Err(ParseError::HeaderLine {
                    line: line_no,
                    problem: SyntaxError::new("header section starts with a continuation line"),
                });
            };
            let start = line.iter().position(|&c| !is_ws(c)).unwrap_or(line.len());
            let end = line
                .iter()
                .rposition(|&c| !is_ws(c))
                .map_or(start, |e| e + 1);
            if end > start {
                if field.value.start == field.value.end {
                    field.value.start = (pos + start) as u32;
                }
                field.value.end = (pos + end) as u32;
            }
            field.line_end = Some(line_end);
        } else {
            // The name runs to the colon. A name that matches a known one
            // is a token; only an unknown one needs its bytes checked.
            let Some(colon) = find_byte(line, b':') else {
                return Err(header_line_error(b, pos, pos + line.len(), line_no));
            };
            let name_len = line[..colon]
                .iter()
                .rposition(|&c| !is_ws(c))
                .map_or(0, |e| e + 1);
            let raw_name = &line[..name_len];
            let name = HeaderName::from_buffer(b, pos, pos + name_len);
            if name == HeaderName::Other
                && (name_len == 0 || !raw_name.iter().all(|&c| crate::lex::is_token_byte(c)))
            {
                return Err(header_line_error(b, pos, pos + line.len(), line_no));
            }
            let after_name = &line[name_len..];
            let ws = colon - name_len;
            if fields.len() == opts.max_headers {
                return Err(ParseError::TooManyHeaders {
                    limit: opts.max_headers,
                });
            }
            let value = &after_name[ws + 1..];
            let vstart = value.iter().position(|&c| !is_ws(c)).unwrap_or(value.len());
            let vend = value
                .iter()
                .rposition(|&c| !is_ws(c))
                .map_or(vstart, |e| e + 1);
            if name == HeaderName::ContentLength {
                if has_content_length && !tolerate_length {
                    return Err(ParseError::Duplicate(HeaderName::ContentLength));
                }
                has_content_length = true;
            }
            let value_at = pos + (line.len() - value.len());
            fields.push(Field {
                name,
                raw_name: Span::received(pos, pos + name_len),
                value: Span::received(value_at + vstart, value_at + vend),
                line_end: Some(line_end),
            });
        }
        pos += nl + 1;
    }
}

/// Finds the LF that ends the line at the start of `b`, and says whether
/// the line holds a control character other than HTAB and its line end
/// (a CR that ends no line, say). One word scan finds both: every byte
/// below 0x20 stops it, and LF is one of them.
#[inline]
fn find_line_end(b: &[u8]) -> (Option<usize>, bool) {
    let mut from = 0;
    let mut controls = false;
    while let Some(off) = crate::lex::first_control_or_tab(&b[from..]) {
        let at = from + off;
        match b[at] {
            b'\n' => return (Some(at), controls),
            b'\r' if b.get(at + 1) == Some(&b'\n') => return (Some(at + 1), controls),
            b'\t' => {}
            _ => controls = true,
        }
        from = at + 1;
    }
    (None, controls)
}

/// Finds `byte` eight bytes at a time. SIP lines are short, where an
/// inlined word scan beats a library call.
#[inline]
fn find_byte(b: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(byte);
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == byte)
        .map(|p| at + p)
}

fn header_line_error(b: &[u8], start: usize, end: usize, line: usize) -> ParseError {
    let text = String::from_utf8_lossy(&b[start..end]);
    let problem = match text.find(':') {
        Some(colon) => SyntaxError::owned(format!(
            "header name {:?} is not a token",
            excerpt(&text[..colon])
        )),
        None => SyntaxError::owned(format!("{:?} has no colon", excerpt(&text))),
    };
    ParseError::HeaderLine { line, problem }
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = |msg: String| ParseError::StartLine(SyntaxError::owned(msg));
    let b = line.as_bytes();
    if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = memchr::memchr(b' ', b).ok_or_else(|| {
            bad(format!(
                "Status-Line {:?} has no status code",
                excerpt(line)
            ))
        })?;
        check_version_syntax(&line[..sp])?;
        let rest = &b[sp + 1..];
        let code_len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if code_len != 3 || !matches!(rest.get(3), None | Some(b' ')) {
            let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
            return Err(bad(format!(
                "status code {:?} is not a three-digit number",
                excerpt(&line[sp + 1..sp + 1 + end])
            )));
        }
        let code = u16::from(rest[0] - b'0') * 100
            + u16::from(rest[1] - b'0') * 10
            + u16::from(rest[2] - b'0');
        if !(100..=699).contains(&code) {
            return Err(bad(format!("status code {code} is outside 100..=699")));
        }
        let reason_start = (sp + 5).min(line.len());
        Ok(StartLine::Response {
            version: Span::received(0, sp),
            code,
            reason: Span::received(reason_start, line.len()),
        })
    } else {
        parse_request_line(line)
    }
}

/// `Request-Line = Method SP Request-URI SP SIP-Version`. A line that
/// names a method and a SIP version with something between them parses;
/// wrong white space around or inside the Request-URI is kept as its
/// [`RequestLineFault`], and a Request-URI that is not a URI is found by
/// [`Message::validate`], so that either request can be answered `400`.
fn parse_request_line(line: &str) -> Result<StartLine, ParseError> {
    let b = line.as_bytes();
    let is_ws = |c: &u8| *c == b' ' || *c == b'\t';
    let neither = || {
        ParseError::StartLine(SyntaxError::owned(format!(
            "{:?} is neither a Request-Line nor a Status-Line",
            excerpt(line)
        )))
    };
    // The line without white space at either end.
    let first = b.iter().position(|c| !is_ws(c)).ok_or_else(neither)?;
    let last = b.iter().rposition(|c| !is_ws(c)).map_or(first, |i| i + 1);
    let t = &b[first..last];
    let method_end = t.iter().position(is_ws).ok_or_else(neither)?;
    let version_start = t.iter().rposition(is_ws).map_or(method_end, |i| i + 1);
    let uri_start = method_end + t[method_end..].iter().take_while(|c| is_ws(c)).count();
    let uri_end = version_start
        - t[..version_start]
            .iter()
            .rev()
            .take_while(|c| is_ws(c))
            .count();
    if uri_start >= uri_end {
        return Err(neither());
    }
    let method = Method::parse(&line[first..first + method_end]).map_err(ParseError::StartLine)?;
    check_version_syntax(&line[first + version_start..last])?;
    let uri = &t[uri_start..uri_end];
    let single_spaces = uri_start == method_end + 1
        && uri_end + 1 == version_start
        && t[method_end] == b' '
        && t[uri_end] == b' ';
    let fault = if first > 0 {
        Some(RequestLineFault::LeadingSpace)
    } else if last < b.len() {
        Some(RequestLineFault::TrailingSpace)
    } else if uri.iter().any(is_ws) {
        Some(RequestLineFault::SpaceInUri)
    } else if single_spaces {
        None
    } else if t[method_end..uri_start]
        .iter()
        .chain(&t[uri_end..version_start])
        .all(|&c| c == b' ')
    {
        Some(RequestLineFault::ExtraSpace)
    } else {
        Some(RequestLineFault::Tab)
    };
    Ok(StartLine::Request {
        method,
        uri: Span::received(first + uri_start, first + uri_end),
        version: Span::received(first + version_start, last),
        fault,
    })
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT`. A different version
/// number parses; [`Message::validate`] answers it with `505`.
fn check_version_syntax(v: &str) -> Result<(), ParseError> {
    if v == "SIP/2.0" {
        return Ok(());
    }
    let b = v.as_bytes();
    let ok = b.len() > 4
        && b[..4].eq_ignore_ascii_case(b"SIP/")
        && match memchr::memchr(b'.', &b[4..]) {
            Some(dot) => {
                let (major, minor) = (&b[4..4 + dot], &b[5 + dot..]);
                !major.is_empty()
                    && !minor.is_empty()
                    && major.iter().chain(minor).all(u8::is_ascii_digit)
            }
            None => false,
        };
    if ok {
        Ok(())
    } else {
        Err(ParseError::StartLine(SyntaxError::owned(format!(
            "{:?} is not a SIP version",
            excerpt(v)
        ))))
    }
}

fn check_uri(uri: &str) -> Result<(), BuildError> {
    crate::uri::Uri::parse(uri)
        .map(|_| ())
        .map_err(|problem| BuildError::Uri {
            uri: uri.to_string(),
            problem,
        })
}

fn check_value(name: &str, value: &str) -> Result<(), BuildError> {
    if value.contains(['\r', '\n']) {
        Err(BuildError::HeaderValue(name.to_string()))
    } else {
        Ok(())
    }
}

pub(crate) fn check_media_type(ct: &str) -> Result<(), BuildError> {
    crate::headers::MediaType::parse(ct)
        .map(|_| ())
        .map_err(|_| BuildError::MediaType(ct.to_string()))
}

/// Formats a number without going through `fmt` (this runs for every
/// message sent).
struct Digits {
    buf: [u8; 10],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_u32(mut n: u32) -> Digits {
    let mut d = Digits {
        buf: [0; 10],
        start: 10,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
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

    #[test]
    fn a_changed_message_is_counted_as_it_is_written() {
        let request = Message::parse(INVITE.as_bytes()).unwrap();
        let mut response = Message::response_to(&request, 200).unwrap();
        response
            .add_header("Contact", "<sip:bob@192.0.2.4>")
            .unwrap();
        let mut changed = request.clone();
        changed
            .set_body("text/plain", Bytes::from_static(b"hi"))
            .unwrap();
        for m in [&response, &changed] {
            let mut written = BytesMut::new();
            m.write_to(&mut written);
            assert_eq!(m.changed_len(), written.len());
            assert_eq!(m.to_bytes(), written.freeze());
        }
    }

    #[test]
    fn response_status_line() {
        let m = Message::parse(&b"SIP/2.0 404 Not Found Here\r\nContent-Length: 0\r\n\r\n"[..])
            .unwrap();
        assert_eq!(
            (m.status(), m.reason()),
            (Some(404), Some("Not Found Here"))
        );
        let m = Message::parse(&b"SIP/2.0 100 \r\n\r\n"[..]).unwrap();
        assert_eq!(m.reason(), Some(""));
        let m = Message::parse(&b"SIP/2.0 180\r\n\r\n"[..]).unwrap();
        assert_eq!(m.reason(), Some(""));
        for bad in [
            "SIP/2.0 99 x",
            "SIP/2.0 1000 x",
            "SIP/2.0 abc x",
            "SIP/2.0 700 x",
            "SIP/2.0",
        ] {
            let e = Message::parse(format!("{bad}\r\n\r\n").into_bytes()).unwrap_err();
            assert!(matches!(e, ParseError::StartLine(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn folded_and_unknown_headers() {
        let text = "OPTIONS sip:a@b SIP/2.0\r\nNewFangledHeader:   newfangled value\r\n continued newfangled value\r\nTO :\r\n sip:x@y\r\ns :\r\n\r\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(
            m.headers_named("newfangledheader").next(),
            Some("newfangled value\r\n continued newfangled value")
        );
        assert_eq!(m.header(HeaderName::To), Some("sip:x@y"));
        assert_eq!(m.header(HeaderName::Subject), Some(""));
        assert_eq!(m.to_bytes().as_ref(), text.as_bytes());
    }

    #[test]
    fn leading_crlf_bare_lf_and_datagram_body() {
        let m = Message::parse(&b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\n\nbody"[..])
            .unwrap();
        assert_eq!(m.header(HeaderName::Via), Some("SIP/2.0/UDP h"));
        assert_eq!(m.body().as_ref(), b"body");
    }

    #[test]
    fn framing_errors_name_the_fault() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "message is empty"),
            (b"\r\n\r\n", "message is empty"),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n",
                "does not end with an empty line",
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nNoColon\r\n\r\n",
                "header line 2: \"NoColon\" has no colon",
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\n folded\r\n\r\n",
                "starts with a continuation line",
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n",
                "is not a token",
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nabc",
                "Content-Length 10 exceeds the 3 bytes received",
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 1\r\n\r\na",
                "duplicate Content-Length header",
            ),
            (b"OPTIONS sip:a@b HTTP/1.1\r\n\r\n", "is not a SIP version"),
            (b"GET / HTTP/1.1\r\n\r\n", "is not a SIP version"),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nTo: \xff\r\n\r\n",
                "not valid UTF-8",
            ),
        ];
        for (input, want) in cases {
            let err = Message::parse(input.to_vec()).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// A Request-Line with wrong white space still yields its parts, so
    /// that the request can be answered; validation names the fault.
    #[test]
    fn a_request_line_with_wrong_white_space_parses_and_fails_validation() {
        let rest = "\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n\
To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        for (line, uri, fault) in [
            ("INVITE sip:a@b SIP/2.0", "sip:a@b", None),
            (
                "INVITE  sip:a@b  SIP/2.0",
                "sip:a@b",
                Some("Request-Line has more than one space between elements"),
            ),
            (
                "INVITE sip:a@b SIP/2.0  ",
                "sip:a@b",
                Some("Request-Line ends with white space"),
            ),
            (
                " INVITE sip:a@b SIP/2.0",
                "sip:a@b",
                Some("Request-Line starts with white space"),
            ),
            (
                "INVITE sip:a@b; lr SIP/2.0",
                "sip:a@b; lr",
                Some("Request-Line has more than three elements (white space in the Request-URI?)"),
            ),
            (
                "INVITE\tsip:a@b SIP/2.0",
                "sip:a@b",
                Some("Request-Line separates its elements with a tab, not a space"),
            ),
            (
                "INVITE <sip:a@b> SIP/2.0",
                "<sip:a@b>",
                Some("Request-URI: \"<sip:a@b>\" is not a URI"),
            ),
        ] {
            let m = Message::parse(format!("{line}{rest}").into_bytes()).unwrap();
            assert_eq!(m.method(), Some(&Method::Invite), "{line:?}");
            assert_eq!(m.request_uri(), Some(uri), "{line:?}");
            assert_eq!(m.version(), "SIP/2.0", "{line:?}");
            let verdict = m.validate().map_err(|e| e.to_string());
            assert_eq!(verdict.err().as_deref(), fault, "{line:?}");
            // The answer is built from the headers, whatever the line.
            let answer = Message::response_to(&m, 400).unwrap();
            assert_eq!(answer.call_id().unwrap(), "c");
        }
        // Rewritten, the line is well formed again.
        let mut m = Message::parse(format!("INVITE  sip:a@b  SIP/2.0{rest}").into_bytes()).unwrap();
        m.set_request_uri("sip:c@d").unwrap();
        let back = Message::parse(m.to_bytes()).unwrap();
        back.validate().unwrap();
        assert!(back.to_bytes().starts_with(b"INVITE sip:c@d SIP/2.0\r\n"));
        // What names no method, URI and version does not parse.
        for line in [
            "INVITE",
            "INVITE  SIP/2.0",
            "   ",
            "INVITE sip:a@b",
            "INVITE sip:a@b SIP/2.0 extra",
            "IN(VITE sip:a@b SIP/2.0",
            " SIP/2.0 200 OK",
        ] {
            assert!(
                matches!(
                    Message::parse(format!("{line}{rest}").into_bytes()),
                    Err(ParseError::StartLine(_))
                ),
                "{line:?}"
            );
        }
    }

    #[test]
    fn stream_rules_require_content_length() {
        let opts = ParseOptions {
            stream: true,
            ..ParseOptions::default()
        };
        let err = Message::parse_with(
            Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"),
            &opts,
        )
        .unwrap_err();
        assert_eq!(err, ParseError::ContentLengthRequired);
    }

    #[test]
    fn work_is_bounded() {
        let mut many = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
        for i in 0..10_000 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        let err = Message::parse(many.into_bytes()).unwrap_err();
        assert_eq!(err, ParseError::TooManyHeaders { limit: 256 });
        assert_eq!(err.status_code(), 513);

        let long = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nX: {}\r\n\r\n",
            "a".repeat(1 << 20)
        );
        assert_eq!(
            Message::parse(long.into_bytes()).unwrap_err(),
            ParseError::LineTooLong { limit: 16 * 1024 }
        );
    }

    #[test]
    fn unchanged_parsed_message_is_byte_identical() {
        let text = "OPTIONS sip:a@b SIP/2.0\r\nVia:   SIP/2.0/UDP h ;branch=z9hG4bKx  \r\nv: SIP/2.0/UDP g\r\nl:0\r\n\r\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert!(!m.is_modified());
        assert_eq!(m.to_bytes().as_ref(), text.as_bytes());
    }

    #[test]
    fn add_header_keeps_other_lines_verbatim() {
        let mut m = Message::parse(INVITE.as_bytes()).unwrap();
        m.add_header("X-Seed", "ast_sip_add_header").unwrap();
        let out = m.to_bytes();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("f: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"));
        assert!(text.contains("X-Seed: ast_sip_add_header\r\nContent-Length: 4\r\n\r\nv=0\n"));
        let back = Message::parse(out.clone()).unwrap();
        assert_eq!(
            back.headers_named("x-seed").next(),
            Some("ast_sip_add_header")
        );
        back.validate().unwrap();
    }

    #[test]
    fn header_editing() {
        let mut m = Message::parse(INVITE.as_bytes()).unwrap();
        assert!(m.add_header("Bad Name", "x").is_err());
        assert_eq!(
            m.add_header("X", "a\r\nInjected: 1"),
            Err(BuildError::HeaderValue("X".into()))
        );
        assert_eq!(
            m.add_header("Content-Length", "9"),
            Err(BuildError::Derived("Content-Length"))
        );
        m.prepend_header("Via", "SIP/2.0/TCP proxy;branch=z9hG4bKp")
            .unwrap();
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bKp"));
        m.set_first_value(
            HeaderName::Via,
            "SIP/2.0/TCP proxy;branch=z9hG4bKq;received=1.2.3.4",
        )
        .unwrap();
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bKq"));
        assert_eq!(m.vias().count(), 2);
        assert!(m.remove_first(HeaderName::Via));
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        m.set_header("Max-Forwards", "69").unwrap();
        assert_eq!(m.max_forwards().unwrap(), Some(69));
        assert_eq!(m.remove_header("contact"), 1);
        assert!(!m.has(HeaderName::Contact));
        m.set_request_uri("sip:bob@192.0.2.4").unwrap();
        let back = Message::parse(m.to_bytes()).unwrap();
        back.validate().unwrap();
        assert_eq!(back.request_uri(), Some("sip:bob@192.0.2.4"));
        assert_eq!(back.max_forwards().unwrap(), Some(69));
        assert!(m.set_request_uri("not a uri").is_err());
    }

    #[test]
    fn top_via_editing_keeps_the_other_values() {
        let text = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1 ,\r\n SIP/2.0/UDP b;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP c\r\n\r\n";
        let mut m = Message::parse(text.as_bytes()).unwrap();
        m.set_top_via("SIP/2.0/UDP a;branch=z9hG4bK1;received=192.0.2.9;rport=5070")
            .unwrap();
        let back = Message::parse(m.to_bytes()).unwrap();
        let vias: Vec<_> = back
            .vias()
            .map(|v| v.unwrap().as_str().to_string())
            .collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP a;branch=z9hG4bK1;received=192.0.2.9;rport=5070",
                "SIP/2.0/UDP b;branch=z9hG4bK2",
                "SIP/2.0/UDP c"
            ]
        );
        m.remove_top_via().unwrap();
        m.remove_top_via().unwrap();
        assert_eq!(m.via().unwrap().as_str(), "SIP/2.0/UDP c");
        m.remove_top_via().unwrap();
        assert!(m.remove_top_via().is_err());
        assert!(m.set_top_via("x\r\ny").is_err());
    }

    #[test]
    fn head_only_parse_survives_a_bad_body() {
        let text = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 10\r\nl: 12\r\n\r\nabc";
        assert!(Message::parse(&text[..]).is_err());
        let m = Message::parse_head(Bytes::from_static(text), &ParseOptions::default()).unwrap();
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bK1"));
        assert!(m.body().is_empty());
    }

    #[test]
    fn bodies_replace_append_and_fix_length() {
        let mut m = Message::parse(INVITE.as_bytes()).unwrap();
        m.set_body("text/plain", &b"hello"[..]).unwrap();
        m.append_body(b", world");
        let back = Message::parse(m.to_bytes()).unwrap();
        assert_eq!(back.body().as_ref(), b"hello, world");
        assert_eq!(back.received_content_length(), Some(12));
        assert_eq!(
            back.headers(HeaderName::ContentType).collect::<Vec<_>>(),
            vec!["text/plain"]
        );
        assert!(m.set_body("nonsense", &b"x"[..]).is_err());
        m.clear_body();
        let back = Message::parse(m.to_bytes()).unwrap();
        assert!(back.body().is_empty());
        assert!(!back.has(HeaderName::ContentType));
    }

    #[test]
    fn multipart_body() {
        let mut m = Message::new_request(Method::Message, "sip:bob@example.com").unwrap();
        m.set_multipart_body(&[
            crate::BodyPart::new("text/plain", &b"Hello"[..]),
            crate::BodyPart::new("application/octet-stream", vec![0u8, 1, 2, 255]),
        ])
        .unwrap();
        let back = Message::parse(m.to_bytes()).unwrap();
        let ct = back.content_type().unwrap().unwrap();
        assert!(ct.is("multipart", "mixed"));
        let parts = crate::multipart::decode(back.body(), &ct.boundary().unwrap()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, b"Hello");
        assert_eq!(parts[1].body, &[0u8, 1, 2, 255]);
    }

    #[test]
    fn built_request_serializes() {
        let mut m = Message::new_request(Method::Options, "sip:bob@example.com").unwrap();
        m.add_header("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa")
            .unwrap();
        m.add_header("From", "<sip:alice@example.com>;tag=1")
            .unwrap();
        m.add_header("To", "<sip:bob@example.com>").unwrap();
        m.add_header("Call-ID", "x@y").unwrap();
        m.add_header("CSeq", "1 OPTIONS").unwrap();
        m.add_header("Max-Forwards", "70").unwrap();
        assert_eq!(
            m.to_bytes().as_ref(),
            &b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\n\
From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: x@y\r\nCSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"[..]
        );
        assert!(Message::new_request(Method::Options, "<sip:bad>").is_err());
        assert!(Message::new_response(99, None).is_err());
        assert!(Message::new_response(200, Some("a\r\nb")).is_err());
    }
}
