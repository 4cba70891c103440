//! Validation: the checks that decide whether a parsed message is a valid
//! SIP message, and which status a server owes the sender when it is not.
//!
//! Parsing ([`Message::parse`]) refuses only what it cannot frame or
//! tokenise: a start line that is neither a request nor a status line, a
//! header line without a colon, a body that does not match Content-Length.
//! Everything else a message can get wrong is found here, so that a server
//! that parsed a request can still answer it: `400` with the reason, or
//! `505` for another SIP version. Application-level answers (416 for an
//! unsupported URI scheme, 420 for an unknown extension, 483 for
//! Max-Forwards 0) are decisions of the layers above.

use crate::error::{ParseError, SyntaxError};
use crate::headers::{
    AuthValue, CSeq, Contact, MediaType, NameAddr, RetryAfter, Via, check_call_id, check_date,
    check_token_list, check_warning, parse_delta_seconds, parse_max_forwards,
};
use crate::lex::{CommaList, check_controls};
use crate::message::{HeaderField, Message};
use crate::name::HeaderName;
use crate::uri::Uri;

/// Headers every request and response must carry (RFC 3261 §8.1.1; a
/// missing Max-Forwards is tolerated, as proxies do per §16.3).
const REQUIRED: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

impl Message {
    /// Checks the message beyond what parsing needs. The error's
    /// [`ParseError::status_code`] and text are the answer a server owes.
    pub fn validate(&self) -> Result<(), ParseError> {
        if let Some(fault) = self.request_line_fault() {
            return Err(fault);
        }
        if !self.version().eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError::Version(self.version().to_string()));
        }
        if let Some(uri) = self.request_uri_parsed()
            && let Uri::Sip(sip) = uri?
            && sip.headers.is_some()
        {
            return Err(ParseError::RequestUri(SyntaxError::new(
                "a Request-URI must not contain headers (RFC 3261 §19.1.5)",
            )));
        }
        if let Some(reason) = self.reason() {
            check_controls(reason).map_err(|problem| {
                ParseError::StartLine(SyntaxError::owned(format!("reason phrase: {problem}")))
            })?;
        }
        let mut seen: u128 = 0;
        for field in self.fields() {
            if field.name.is_single() {
                let bit = 1u128 << (field.name as u8);
                if seen & bit != 0 {
                    return Err(ParseError::Duplicate(field.name));
                }
                seen |= bit;
            }
            let controls = if self.may_hold_controls() {
                check_controls(field.value)
            } else {
                Ok(())
            };
            controls
                .and_then(|()| check_field(&field))
                .map_err(|problem| ParseError::header(field.name, field.raw_name, problem))?;
        }
        if let Some(missing) = REQUIRED.into_iter().find(|&n| !self.has(n)) {
            return Err(ParseError::Missing(missing));
        }
        if let Some(method) = self.method() {
            let cseq = self.cseq()?;
            if cseq.method != method.as_str() {
                return Err(ParseError::CSeqMismatch {
                    cseq: cseq.method.to_string(),
                    method: method.as_str().to_string(),
                });
            }
        }
        Ok(())
    }
}

fn each(
    value: &str,
    mut check: impl FnMut(&str) -> Result<(), SyntaxError>,
) -> Result<(), SyntaxError> {
    for item in CommaList::new(value) {
        check(item?)?;
    }
    Ok(())
}

fn check_field(f: &HeaderField<'_>) -> Result<(), SyntaxError> {
    let v = f.value;
    match f.name {
        HeaderName::Via => each(v, |item| Via::parse(item)?.check()),
        HeaderName::From | HeaderName::To => NameAddr::parse(v)?.check(),
        HeaderName::Contact => each(v, |item| Contact::parse(item)?.check()),
        HeaderName::Route
        | HeaderName::RecordRoute
        | HeaderName::Path
        | HeaderName::ServiceRoute => each(v, |item| {
            let a = NameAddr::parse(item)?;
            if !a.bracketed {
                return Err(SyntaxError::new("route URIs must be enclosed in <>"));
            }
            a.check()
        }),
        HeaderName::CallId => check_call_id(v),
        HeaderName::CSeq => CSeq::parse(v).map(|_| ()),
        HeaderName::MaxForwards => parse_max_forwards(v).map(|_| ()),
        HeaderName::Expires | HeaderName::MinExpires => parse_delta_seconds(v).map(|_| ()),
        HeaderName::ContentType => MediaType::parse(v).map(|_| ()),
        HeaderName::RetryAfter => RetryAfter::parse(v).map(|_| ()),
        HeaderName::Date => check_date(v),
        HeaderName::Warning => check_warning(v),
        HeaderName::Allow
        | HeaderName::Supported
        | HeaderName::Require
        | HeaderName::ProxyRequire
        | HeaderName::Unsupported => check_token_list(v),
        HeaderName::Authorization
        | HeaderName::ProxyAuthorization
        | HeaderName::WwwAuthenticate
        | HeaderName::ProxyAuthenticate => AuthValue::parse(v)?.check(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    fn with(extra: &str) -> Message {
        let text = OK.replace(
            "Content-Length: 0\r\n",
            &format!("{extra}Content-Length: 0\r\n"),
        );
        Message::parse(text.into_bytes()).unwrap()
    }

    #[test]
    fn valid_message_passes() {
        Message::parse(OK.as_bytes()).unwrap().validate().unwrap();
    }

    #[test]
    fn each_check_names_its_fault() {
        for (extra, want) in [
            (
                "Max-Forwards: 300\r\n",
                "Max-Forwards header: value 300 exceeds 255",
            ),
            ("Expires: 99999999999\r\n", "Expires header"),
            ("From: <sip:z@y>\r\n", "duplicate From header"),
            (
                "Route: sip:p@q\r\n",
                "Route header: route URIs must be enclosed in <>",
            ),
            ("Date: Fri, 01 Jan 2010 16:00:00 EST\r\n", "Date header"),
            ("Require: a b\r\n", "Require header"),
            ("Contact: <sip:c@d>;q=7\r\n", "Contact header"),
            (
                "Contact: *Digest\r\n",
                "Contact header: \"*Digest\" is neither a lone \"*\" nor an address",
            ),
            (
                "Contact: <sip:c@d>, garbage\r\n",
                "Contact header: \"garbage\" has no URI scheme",
            ),
            (
                "Path: <garbage>\r\n",
                "Path header: \"garbage\" has no URI scheme",
            ),
            (
                "Authorization: Digest realm=\"x\r\n",
                "Authorization header",
            ),
            ("Content-Type: sdp\r\n", "Content-Type header"),
        ] {
            let err = with(extra).validate().unwrap_err();
            assert!(err.to_string().contains(want), "{extra:?}: {err}");
            assert_eq!(err.status_code(), 400);
        }
    }

    /// A bare CR is read as a line end by some peers: what follows it
    /// would reach them as a header of its own.
    #[test]
    fn control_characters_in_a_value_are_refused() {
        let nul_in_from = OK.replace("tag=1\r\n", "tag=1\u{0}2\r\n");
        for (message, want) in [
            (
                with("Subject: hi\rP-Asserted-Identity: <sip:ceo@bank.example>\r\n"),
                "Subject header: a bare CR (one not followed by LF)",
            ),
            (
                with("X-Anything: a\r\r\n"),
                "X-Anything header: a bare CR (one not followed by LF)",
            ),
            (
                Message::parse(nul_in_from.into_bytes()).unwrap(),
                "From header: the control character NUL (0x00) outside a quoted pair",
            ),
        ] {
            let err = message.validate().unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(err.status_code(), 400);
            // The reason phrase carries no control character either.
            assert!(!err.reason_phrase().contains(['\r', '\0']));
        }
        // Folding keeps its CRLF and passes.
        with("Subject: folded\r\n over two lines\r\n")
            .validate()
            .unwrap();
        // Text added after parsing is looked at too.
        let mut built = Message::parse(OK.as_bytes()).unwrap();
        built.validate().unwrap();
        built.add_header("X-Built", "a\u{0}b").unwrap();
        assert_eq!(
            built.validate().unwrap_err().to_string(),
            "X-Built header: the control character NUL (0x00) outside a quoted pair"
        );
    }

    #[test]
    fn a_response_with_a_control_character_in_its_reason_is_invalid() {
        let text = "SIP/2.0 200 OK\rX-Injected: 1\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(text.as_bytes()).unwrap();
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "reason phrase: a bare CR (one not followed by LF)"
        );
        let m = Message::parse(text.replace("OK\rX-Injected: 1", "OK").into_bytes()).unwrap();
        m.validate().unwrap();
        let m = Message::parse(
            text.replace("OK\rX-Injected: 1", "OK")
                .replace("Call-ID: c", "Call-ID: c\rX-Injected: 1")
                .into_bytes(),
        )
        .unwrap();
        assert!(m.validate().unwrap_err().to_string().contains("bare CR"));
    }

    #[test]
    fn version_is_505() {
        let m = Message::parse(OK.replace("SIP/2.0\r\n", "SIP/7.0\r\n").into_bytes()).unwrap();
        let err = m.validate().unwrap_err();
        assert_eq!(err.status_code(), 505);
        assert_eq!(err.to_string(), "SIP version \"SIP/7.0\" is not supported");
    }

    #[test]
    fn cseq_mismatch_and_missing() {
        let m = Message::parse(OK.replace("1 OPTIONS", "1 INVITE").into_bytes()).unwrap();
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "CSeq method \"INVITE\" does not match request method \"OPTIONS\""
        );
        let m = Message::parse(OK.replace("Call-ID: c\r\n", "").into_bytes()).unwrap();
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "missing Call-ID header"
        );
    }

    #[test]
    fn request_uri_headers_refused() {
        let m = Message::parse(
            OK.replace("sip:a@b SIP", "sip:a@b?Route=x SIP")
                .into_bytes(),
        )
        .unwrap();
        assert!(
            m.validate()
                .unwrap_err()
                .to_string()
                .contains("must not contain headers")
        );
    }
}
