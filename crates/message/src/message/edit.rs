//! Building and changing a message: new requests and responses, the seed's
//! header and body helpers (`ast_sip_add_header`, `ast_sip_add_body`,
//! `ast_sip_append_body`) and the edits a proxy or a server makes (Via,
//! Route, Request-URI). Added text goes to the side buffer; what a change
//! touches is no longer written back byte for byte.

use bytes::{Bytes, BytesMut};

use super::{Field, HeaderName, Message, Span, StartLine};
use crate::error::{BuildError, ParseError};
use crate::lex::is_token;
use crate::method::Method;

impl Message {
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

#[cfg(test)]
mod tests {
    use super::super::tests::INVITE;
    use super::*;

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
