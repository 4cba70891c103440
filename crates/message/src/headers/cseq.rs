//! The CSeq header (RFC 3261 §20.16).

use crate::error::{SyntaxError, excerpt};
use crate::lex::{is_lws, is_token, trim_lws};
use crate::method::Method;

/// Largest CSeq number: "MUST be less than 2**31" (RFC 3261 §8.1.1.5).
pub const MAX_CSEQ: u32 = (1 << 31) - 1;

/// `CSeq: 4711 INVITE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number.
    pub seq: u32,
    /// The method as written.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value.
    pub fn parse(s: &'a str) -> Result<CSeq<'a>, SyntaxError> {
        let s = trim_lws(s);
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let rest = &s[digits..];
        if digits == 0 || !rest.bytes().next().is_some_and(is_lws) {
            return Err(SyntaxError::owned(format!(
                "{:?} is not of the form \"number METHOD\"",
                excerpt(s)
            )));
        }
        let seq = crate::lex::parse_decimal(&s[..digits], u64::from(MAX_CSEQ), "sequence number")?;
        let method = trim_lws(rest);
        if !is_token(method) {
            return Err(SyntaxError::owned(format!(
                "method {:?} is not a token",
                excerpt(method)
            )));
        }
        Ok(CSeq {
            seq: seq as u32,
            method,
        })
    }

    /// True when the CSeq method is `m`.
    pub fn is(&self, m: &Method) -> bool {
        self.method == m.as_str()
    }

    /// The method.
    pub fn method(&self) -> Method {
        Method::parse(self.method).expect("checked to be a token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, "INVITE"));
        assert!(c.is(&Method::Invite));
        assert_eq!(CSeq::parse("2147483647 ACK").unwrap().seq, MAX_CSEQ);
        for (bad, want) in [
            ("36893488147419103232 REGISTER", "exceeds 2147483647"),
            ("2147483648 REGISTER", "exceeds"),
            ("INVITE", "number METHOD"),
            ("1", "number METHOD"),
            ("1 IN VITE", "not a token"),
            ("-1 INVITE", "number METHOD"),
        ] {
            let err = CSeq::parse(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
    }
}
