//! Content-Type (RFC 3261 §20.15): `type/subtype *(;param)`.

use std::fmt;

use crate::error::{SyntaxError, excerpt};
use crate::lex::{is_token, trim_lws, unquote};
use crate::params::Params;

/// A media type with parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaType<'a> {
    raw: &'a str,
    /// Top-level type (`application`).
    pub kind: &'a str,
    /// Subtype (`sdp`).
    pub subtype: &'a str,
    /// Parameters (`boundary`, `charset`).
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses a media type.
    pub fn parse(s: &'a str) -> Result<MediaType<'a>, SyntaxError> {
        let raw = trim_lws(s);
        let end = raw.find(';').unwrap_or(raw.len());
        let (kind, subtype) = raw[..end].split_once('/').ok_or_else(|| {
            SyntaxError::owned(format!(
                "{:?} is not of the form type/subtype",
                excerpt(raw)
            ))
        })?;
        let (kind, subtype) = (trim_lws(kind), trim_lws(subtype));
        if !is_token(kind) || !is_token(subtype) {
            return Err(SyntaxError::owned(format!(
                "{:?} is not of the form type/subtype",
                excerpt(raw)
            )));
        }
        let params = Params::new(&raw[end..]);
        params.check()?;
        Ok(MediaType {
            raw,
            kind,
            subtype,
            params,
        })
    }

    /// True when type and subtype are these, ignoring case.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// The `boundary` parameter of a multipart type, unquoted.
    pub fn boundary(&self) -> Option<std::borrow::Cow<'a, str>> {
        self.params.value("boundary").map(unquote)
    }

    /// As received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }
}

impl fmt::Display for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let m = MediaType::parse("multipart/mixed;boundary=7a9cbec02ceef655").unwrap();
        assert!(m.is("Multipart", "MIXED"));
        assert_eq!(m.boundary().unwrap(), "7a9cbec02ceef655");
        let m = MediaType::parse("text/plain; charset=\"utf-8\"").unwrap();
        assert_eq!(m.params.value("charset"), Some("\"utf-8\""));
        assert!(MediaType::parse("sdp").is_err());
        assert!(MediaType::parse("a/b;;").is_err());
        assert!(MediaType::parse("a b/c").is_err());
    }
}
