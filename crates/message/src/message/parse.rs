//! Parsing: a received buffer indexed in one pass, without copying: the
//! start line, each header name and value, and the body.

use bytes::Bytes;

use super::{Field, HeaderName, Message, ParseOptions, RequestLineFault, Span, StartLine};
use crate::error::{ParseError, SyntaxError, excerpt};
use crate::method::Method;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn head_only_parse_survives_a_bad_body() {
        let text = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: 10\r\nl: 12\r\n\r\nabc";
        assert!(Message::parse(&text[..]).is_err());
        let m = Message::parse_head(Bytes::from_static(text), &ParseOptions::default()).unwrap();
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bK1"));
        assert!(m.body().is_empty());
    }
}
