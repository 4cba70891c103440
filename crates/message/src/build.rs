//! Building responses from requests (RFC 3261 §8.2.6).

use crate::error::{BuildError, ParseError};
use crate::headers::NameAddr;
use crate::lex::unfold;
use crate::message::Message;
use crate::name::HeaderName;

impl Message {
    /// A response to `request` with the standard reason phrase; a To tag
    /// is generated when the response is not `100` and To has none.
    pub fn response_to(request: &Message, code: u16) -> Result<Message, BuildError> {
        Message::response_to_with(request, code, None, None)
    }

    /// A response to `request` (RFC 3261 §8.2.6.2): the Via headers in
    /// order, From, To, Call-ID and CSeq are copied; To gets `to_tag` (or a
    /// generated tag) when it has none and the code is above 100; a `100`
    /// copies Timestamp (§8.2.6.1).
    ///
    /// Only the presence of those headers is required, not their validity,
    /// so that a `400` can answer a request that failed validation.
    pub fn response_to_with(
        request: &Message,
        code: u16,
        reason: Option<&str>,
        to_tag: Option<&str>,
    ) -> Result<Message, BuildError> {
        if !request.is_request() {
            return Err(BuildError::WrongKind(
                "a response can only answer a request",
            ));
        }
        for name in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            if !request.has(name) {
                return Err(BuildError::Request(ParseError::Missing(name)));
            }
        }
        let mut resp = Message::new_response(code, reason)?;
        for field in request.fields() {
            let copy = match field.name {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => true,
                HeaderName::Timestamp => code == 100,
                HeaderName::To => {
                    let value = unfold(field.value);
                    let needs_tag =
                        code > 100 && NameAddr::parse(&value).is_ok_and(|a| a.tag().is_none());
                    if needs_tag {
                        let tag = to_tag.map_or_else(crate::generate::tag, str::to_string);
                        resp.add_header("To", &format!("{value};tag={tag}"))?;
                    } else {
                        resp.add_header("To", &value)?;
                    }
                    false
                }
                _ => false,
            };
            if copy {
                resp.add_header(field.name.as_str(), &unfold(field.value))?;
            }
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds,\r\n SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2\r\n\
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Timestamp: 54\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn copies_what_rfc3261_says() {
        let req = Message::parse(REQ.as_bytes()).unwrap();
        let resp = Message::response_to_with(&req, 180, None, Some("abc")).unwrap();
        let bytes = resp.to_bytes();
        let back = Message::parse(bytes.clone()).unwrap();
        back.validate().unwrap();
        assert_eq!(back.status(), Some(180));
        assert_eq!(back.reason(), Some("Ringing"));
        let vias: Vec<_> = back.vias().map(|v| v.unwrap().branch().unwrap()).collect();
        assert_eq!(vias, vec!["z9hG4bK776asdhds", "z9hG4bKp2", "z9hG4bKp1"]);
        assert_eq!(back.to_header().unwrap().tag(), Some("abc"));
        assert_eq!(back.from_header().unwrap().tag(), Some("1928301774"));
        assert_eq!(back.call_id().unwrap(), "a84b4c76e66710@pc33.atlanta.com");
        assert_eq!(back.cseq().unwrap().seq, 314159);
        assert!(!back.has(HeaderName::Contact));
        assert!(!back.has(HeaderName::Timestamp));
        assert_eq!(back.header(HeaderName::ContentLength), Some("0"));
    }

    #[test]
    fn trying_has_no_tag_but_timestamp() {
        let req = Message::parse(REQ.as_bytes()).unwrap();
        let resp = Message::response_to(&req, 100).unwrap();
        assert_eq!(resp.to_header().unwrap().tag(), None);
        assert_eq!(resp.header(HeaderName::Timestamp), Some("54"));
        let ok = Message::response_to(&req, 200).unwrap();
        assert_eq!(ok.to_header().unwrap().tag().unwrap().len(), 16);
    }

    #[test]
    fn existing_tag_is_kept_and_missing_header_named() {
        let req = Message::parse(
            REQ.replace(
                "<sip:bob@biloxi.com>\r\n",
                "<sip:bob@biloxi.com>;tag=t1\r\n",
            )
            .into_bytes(),
        )
        .unwrap();
        let resp = Message::response_to(&req, 200).unwrap();
        assert_eq!(resp.to_header().unwrap().tag(), Some("t1"));
        let req = Message::parse(
            REQ.replace("Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", "")
                .into_bytes(),
        )
        .unwrap();
        assert_eq!(
            Message::response_to(&req, 400).unwrap_err().to_string(),
            "cannot answer the request: missing Call-ID header"
        );
    }
}
