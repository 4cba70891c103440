//! `multipart/mixed` bodies (RFC 2046 §5.1, RFC 5621): built from parts
//! with a generated boundary, and read back into parts.

use bytes::{Bytes, BytesMut};

use crate::error::{BuildError, SyntaxError};
use crate::message::{Message, check_media_type};

/// One part of a multipart body to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyPart {
    /// The part's Content-Type.
    pub content_type: String,
    /// Further part headers (Content-ID, Content-Disposition, ...).
    pub headers: Vec<(String, String)>,
    /// The part's bytes.
    pub body: Bytes,
}

impl BodyPart {
    /// A part with a content type and a body, and no other headers.
    pub fn new(content_type: &str, body: impl Into<Bytes>) -> BodyPart {
        BodyPart {
            content_type: content_type.to_string(),
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// One part of a received multipart body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartRef<'a> {
    /// The part's header section (may be empty), without the final CRLF.
    pub headers: &'a [u8],
    /// The part's body.
    pub body: &'a [u8],
}

impl PartRef<'_> {
    /// The value of a part header, looked up without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        let text = std::str::from_utf8(self.headers).ok()?;
        text.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Serializes parts with `boundary`.
pub fn encode(parts: &[BodyPart], boundary: &str) -> Bytes {
    let mut out = BytesMut::new();
    for part in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(part.content_type.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &part.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    out.freeze()
}

/// Splits a multipart body at `boundary`. The preamble and epilogue are
/// ignored; a body without a closing delimiter is refused.
pub fn decode<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<PartRef<'a>>, SyntaxError> {
    let delim = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delim.as_bytes());
    let mut parts = Vec::new();
    let mut pos = finder.find(body).ok_or_else(|| {
        SyntaxError::owned(format!("multipart body has no boundary {boundary:?}"))
    })?;
    loop {
        let after = pos + delim.len();
        if body[after..].starts_with(b"--") {
            return Ok(parts);
        }
        let line_end = memchr::memchr(b'\n', &body[after..])
            .map(|i| after + i + 1)
            .ok_or(SyntaxError::new(
                "multipart boundary line is not terminated",
            ))?;
        // The next delimiter must start a line: CRLF "--boundary".
        let next = finder
            .find_iter(&body[line_end..])
            .map(|i| line_end + i)
            .find(|&i| (i >= 2 && &body[i - 2..i] == b"\r\n") || i == line_end)
            .ok_or(SyntaxError::new("multipart body has no closing boundary"))?;
        let content_end = if next >= line_end + 2 && &body[next - 2..next] == b"\r\n" {
            next - 2
        } else {
            next
        };
        let content = &body[line_end..content_end.max(line_end)];
        let (headers, part_body) = match memchr::memmem::find(content, b"\r\n\r\n") {
            Some(i) => (&content[..i], &content[i + 4..]),
            None if content.starts_with(b"\r\n") => (&content[..0], &content[2..]),
            None => (content, &content[content.len()..]),
        };
        parts.push(PartRef {
            headers,
            body: part_body,
        });
        pos = next;
    }
}

impl Message {
    /// Sets a `multipart/mixed` body made of `parts`, with a generated
    /// boundary that occurs in none of them (the multipart form of
    /// `ast_sip_add_body`).
    pub fn set_multipart_body(&mut self, parts: &[BodyPart]) -> Result<(), BuildError> {
        for p in parts {
            check_media_type(&p.content_type)?;
            for (n, v) in &p.headers {
                if !crate::lex::is_token(n) {
                    return Err(BuildError::HeaderName(n.clone()));
                }
                if v.contains(['\r', '\n']) {
                    return Err(BuildError::HeaderValue(n.clone()));
                }
            }
        }
        let boundary = loop {
            let b = crate::generate::boundary();
            if !parts
                .iter()
                .any(|p| memchr::memmem::find(&p.body, b.as_bytes()).is_some())
            {
                break b;
            }
        };
        let body = encode(parts, &boundary);
        self.set_body(&format!("multipart/mixed;boundary={boundary}"), body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let parts = vec![
            BodyPart::new("application/sdp", &b"v=0\r\n"[..]),
            BodyPart {
                content_type: "application/pidf+xml".into(),
                headers: vec![("Content-ID".into(), "<x@y>".into())],
                body: Bytes::from_static(b"<presence/>"),
            },
        ];
        let body = encode(&parts, "b0undary");
        let back = decode(&body, "b0undary").unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].header("content-type"), Some("application/sdp"));
        assert_eq!(back[0].body, b"v=0\r\n");
        assert_eq!(back[1].header("Content-ID"), Some("<x@y>"));
        assert_eq!(back[1].body, b"<presence/>");
    }

    #[test]
    fn decode_refuses_unterminated() {
        assert!(decode(b"--b\r\nContent-Type: a/b\r\n\r\nx", "b").is_err());
        assert!(decode(b"no boundary here", "b").is_err());
    }
}
