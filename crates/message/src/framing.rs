//! Stream framing (TCP, TLS): finds where one message ends in the bytes
//! received so far, from Content-Length, which is mandatory on streams
//! (RFC 3261 §18.3). Keep-alives of RFC 5626 §4.4.1 are recognised: a
//! CRLF CRLF ping, and the single CRLF pong.
//!
//! Limits are checked as soon as the bytes that break them are seen, so a
//! peer that announces a huge body, or sends an endless header section, is
//! refused without waiting for the rest.

use crate::error::{ParseError, SyntaxError};
use crate::lex::trim_lws;
use crate::name::HeaderName;

/// Size limits for one framed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest header section (start line to the empty line) in bytes.
    pub max_header_bytes: usize,
    /// Largest body in bytes.
    pub max_body_bytes: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// What the start of a stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to tell.
    NeedMore,
    /// A keep-alive ping (CRLF CRLF) of this many bytes; answer with a pong.
    Ping(usize),
    /// A keep-alive pong (CRLF) of this many bytes.
    Pong(usize),
    /// One whole message of `len` bytes; its body starts at `body_start`.
    Message {
        /// Bytes of the whole message.
        len: usize,
        /// Offset of the body.
        body_start: usize,
    },
}

/// Frames the start of `buf`.
pub fn frame(buf: &[u8], limits: &FrameLimits) -> Result<Frame, ParseError> {
    if buf.starts_with(b"\r\n") {
        return Ok(match buf.get(2) {
            Some(b'\r') if buf.len() < 4 => Frame::NeedMore,
            Some(b'\r') if buf[3] == b'\n' => Frame::Ping(4),
            _ => Frame::Pong(2),
        });
    }
    if buf.len() == 1 && buf[0] == b'\r' {
        return Ok(Frame::NeedMore);
    }
    let window = &buf[..buf.len().min(limits.max_header_bytes + 4)];
    let Some((head_len, body_start)) = crate::lex::find_blank_line(window) else {
        if buf.len() > limits.max_header_bytes {
            return Err(ParseError::HeadersTooLarge {
                limit: limits.max_header_bytes,
            });
        }
        return Ok(Frame::NeedMore);
    };
    if head_len > limits.max_header_bytes {
        return Err(ParseError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        });
    }
    let body_len = content_length(&buf[..head_len])?;
    if body_len > limits.max_body_bytes as u64 {
        return Err(ParseError::BodyTooLarge {
            size: body_len,
            limit: limits.max_body_bytes,
        });
    }
    let len = body_start + body_len as usize;
    Ok(if buf.len() >= len {
        Frame::Message { len, body_start }
    } else {
        Frame::NeedMore
    })
}

/// Finds the Content-Length in a header section without parsing the rest.
fn content_length(head: &[u8]) -> Result<u64, ParseError> {
    let mut found: Option<u64> = None;
    let mut pos = memchr::memchr(b'\n', head).map_or(head.len(), |i| i + 1);
    while pos < head.len() {
        let end = memchr::memchr(b'\n', &head[pos..]).map_or(head.len(), |i| pos + i);
        let line = &head[pos..end];
        pos = end + 1;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if HeaderName::from_bytes(name) != HeaderName::ContentLength {
            continue;
        }
        if found.is_some() {
            return Err(ParseError::Duplicate(HeaderName::ContentLength));
        }
        let value = std::str::from_utf8(&line[colon + 1..]).unwrap_or("?");
        let n = crate::lex::parse_decimal(trim_lws(value), u64::from(u32::MAX), "value").map_err(
            |problem: SyntaxError| ParseError::Header {
                name: "Content-Length".into(),
                problem,
            },
        )?;
        found = Some(n);
    }
    found.ok_or(ParseError::ContentLengthRequired)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\nVia: SIP/2.0/TCP h\r\n\r\nhello";

    #[test]
    fn whole_message_and_prefixes() {
        let lim = FrameLimits::default();
        assert_eq!(
            frame(MSG, &lim).unwrap(),
            Frame::Message {
                len: MSG.len(),
                body_start: MSG.len() - 5
            }
        );
        for cut in 0..MSG.len() {
            assert_eq!(
                frame(&MSG[..cut], &lim).unwrap(),
                Frame::NeedMore,
                "cut at {cut}"
            );
        }
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(
            frame(&two, &lim).unwrap(),
            Frame::Message {
                len: MSG.len(),
                body_start: MSG.len() - 5
            }
        );
    }

    #[test]
    fn keepalives() {
        let lim = FrameLimits::default();
        assert_eq!(frame(b"\r\n\r\n", &lim).unwrap(), Frame::Ping(4));
        assert_eq!(frame(b"\r\n\r\nINVITE", &lim).unwrap(), Frame::Ping(4));
        assert_eq!(frame(b"\r\n", &lim).unwrap(), Frame::Pong(2));
        assert_eq!(frame(b"\r\nINVITE", &lim).unwrap(), Frame::Pong(2));
        assert_eq!(frame(b"\r\n\r", &lim).unwrap(), Frame::NeedMore);
        assert_eq!(frame(b"\r", &lim).unwrap(), Frame::NeedMore);
    }

    #[test]
    fn limits_are_enforced_early() {
        let lim = FrameLimits {
            max_header_bytes: 64,
            max_body_bytes: 10,
        };
        let endless = vec![b'a'; 100];
        assert_eq!(
            frame(&endless, &lim).unwrap_err(),
            ParseError::HeadersTooLarge { limit: 64 }
        );
        let huge = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n";
        assert_eq!(
            frame(huge, &lim).unwrap_err(),
            ParseError::BodyTooLarge {
                size: 999_999,
                limit: 10
            }
        );
    }

    #[test]
    fn content_length_rules() {
        let lim = FrameLimits::default();
        let none = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        assert_eq!(
            frame(none, &lim).unwrap_err(),
            ParseError::ContentLengthRequired
        );
        let two = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            frame(two, &lim).unwrap_err(),
            ParseError::Duplicate(HeaderName::ContentLength)
        );
        let neg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n";
        assert!(
            frame(neg, &lim)
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        let spaced = b"OPTIONS sip:a@b SIP/2.0\r\nCONTENT-LENGTH  :  2\r\n\r\nab";
        assert_eq!(
            frame(spaced, &lim).unwrap(),
            Frame::Message {
                len: spaced.len(),
                body_start: spaced.len() - 2
            }
        );
    }
}
