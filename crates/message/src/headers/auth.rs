//! Authorization, Proxy-Authorization, WWW-Authenticate and
//! Proxy-Authenticate (RFC 3261 §20.7, §20.27, §20.28, §20.44; RFC 7616).
//!
//! Credentials and challenges share one shape: an auth scheme followed by
//! comma-separated `name=value` parameters. Unknown schemes parse, as
//! RFC 4475 §3.3.7 expects.

use std::borrow::Cow;

use crate::error::{SyntaxError, excerpt};
use crate::lex::{CommaList, is_lws, is_token, quoted_end, trim_lws, unquote};

/// A credentials or challenge value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthValue<'a> {
    /// The auth scheme (`Digest`).
    pub scheme: &'a str,
    params: &'a str,
}

/// The value of an Authorization or Proxy-Authorization header.
pub type Credentials<'a> = AuthValue<'a>;
/// The value of a WWW-Authenticate or Proxy-Authenticate header.
pub type Challenge<'a> = AuthValue<'a>;

impl<'a> AuthValue<'a> {
    /// Parses `scheme param=value, param=value ...`.
    pub fn parse(s: &'a str) -> Result<AuthValue<'a>, SyntaxError> {
        let s = trim_lws(s);
        let end = s.bytes().position(is_lws).unwrap_or(s.len());
        let scheme = &s[..end];
        if !is_token(scheme) {
            return Err(SyntaxError::owned(format!(
                "auth scheme {:?} is not a token",
                excerpt(scheme)
            )));
        }
        Ok(AuthValue {
            scheme,
            params: trim_lws(&s[end..]),
        })
    }

    /// True for the Digest scheme.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// The parameters as `(name, raw value)`; quoted values keep quotes.
    /// Malformed elements are skipped; [`AuthValue::check`] refuses them.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        CommaList::new(self.params).filter_map(|item| {
            let (n, v) = item.ok()?.split_once('=')?;
            Some((trim_lws(n), trim_lws(v)))
        })
    }

    /// A parameter's value, unquoted, looked up without regard to case.
    pub fn param(&self, name: &str) -> Option<Cow<'a, str>> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| unquote(v))
    }

    /// Checks the parameter grammar: `token = (token / quoted-string)`.
    pub fn check(&self) -> Result<(), SyntaxError> {
        for item in CommaList::new(self.params) {
            let item = item?;
            if item.is_empty() {
                if self.params.is_empty() {
                    break;
                }
                return Err(SyntaxError::new("empty auth parameter"));
            }
            let (n, v) = item.split_once('=').ok_or_else(|| {
                SyntaxError::owned(format!("auth parameter {:?} has no value", excerpt(item)))
            })?;
            let (n, v) = (trim_lws(n), trim_lws(v));
            let quoted_ok = v.starts_with('"') && quoted_end(v)? == v.len();
            if !is_token(n) || !(quoted_ok || is_token(v)) {
                return Err(SyntaxError::owned(format!(
                    "auth parameter {:?} is malformed",
                    excerpt(item)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_credentials() {
        let c = AuthValue::parse(
            "Digest username=\"alice\", realm=\"atlanta.com\",\r\n nonce=\"84a4cc6f3082121f32b42a2187831a9e\", uri=\"sip:bob@biloxi.com\", response=\"7587245234b3434cc3412213e5f113a5432\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"",
        )
        .unwrap();
        assert!(c.is_digest());
        assert_eq!(c.param("username").unwrap(), "alice");
        assert_eq!(c.param("URI").unwrap(), "sip:bob@biloxi.com");
        assert_eq!(c.param("nc").unwrap(), "00000001");
        assert_eq!(c.param("opaque"), None);
        assert!(c.check().is_ok());
    }

    #[test]
    fn challenge_with_commas_in_quotes() {
        let c = AuthValue::parse(
            "Digest realm=\"a, b\", qop=\"auth,auth-int\", nonce=\"n\", algorithm=SHA-256",
        )
        .unwrap();
        assert_eq!(c.param("realm").unwrap(), "a, b");
        assert_eq!(c.param("qop").unwrap(), "auth,auth-int");
        assert_eq!(c.param("algorithm").unwrap(), "SHA-256");
    }

    #[test]
    fn unknown_scheme_and_errors() {
        let c = AuthValue::parse("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert!(!c.is_digest());
        assert!(c.check().is_ok());
        assert!(
            AuthValue::parse("Digest realm=\"open")
                .unwrap()
                .check()
                .is_err()
        );
        assert!(AuthValue::parse("Digest realm").unwrap().check().is_err());
        assert!(
            AuthValue::parse("Digest a=b,,c=d")
                .unwrap()
                .check()
                .is_err()
        );
        assert!(AuthValue::parse("\"x\" a=b").is_err());
    }
}
