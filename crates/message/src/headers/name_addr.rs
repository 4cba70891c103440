//! `name-addr` / `addr-spec` values: From, To, Contact, Route, Record-Route,
//! Reply-To, Path (RFC 3261 §20 and §25.1).

use std::borrow::Cow;
use std::fmt;

use crate::error::{SyntaxError, excerpt};
use crate::lex::{is_lws, is_token_byte, quoted_end, trim_lws, trim_lws_start, unquote};
use crate::params::Params;
use crate::uri::Uri;

/// An address with optional display name and header parameters.
///
/// The URI is located but parsed only when asked for ([`NameAddr::uri`]):
/// reading a tag, the most frequent use, needs no URI. [`NameAddr::check`]
/// (run by [`crate::Message::validate`]) parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    raw: &'a str,
    /// The display name as written (quotes included when quoted).
    pub display_name: Option<&'a str>,
    uri: &'a str,
    /// True when the URI was enclosed in `<...>`.
    pub bracketed: bool,
    /// Header parameters (`tag`, `expires`, `q`, ...).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses one value.
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, SyntaxError> {
        let raw = trim_lws(s);
        if raw.is_empty() {
            return Err(SyntaxError::new("empty address"));
        }
        let (display_name, rest) = if raw.starts_with('"') {
            let end = quoted_end(raw)
                .map_err(|_| SyntaxError::new("unterminated quoted string in display name"))?;
            let rest = trim_lws_start(&raw[end..]);
            if !rest.starts_with('<') {
                return Err(SyntaxError::new(
                    "a quoted display name must be followed by <URI>",
                ));
            }
            (Some(&raw[..end]), rest)
        } else {
            match memchr::memchr(b'<', raw.as_bytes()) {
                Some(lt) => {
                    let name = trim_lws(&raw[..lt]);
                    if let Some(bad) = name.bytes().find(|&b| !(is_token_byte(b) || is_lws(b))) {
                        return Err(SyntaxError::owned(format!(
                            "display name {:?} has the character {:?}, which requires quotes",
                            excerpt(name),
                            bad as char
                        )));
                    }
                    ((!name.is_empty()).then_some(name), &raw[lt..])
                }
                None => (None, raw),
            }
        };
        if display_name.is_none() && !rest.starts_with('<') {
            // addr-spec form: everything after the first ';' is a header
            // parameter (RFC 3261 §20.10).
            let end = rest.find(';').unwrap_or(rest.len());
            let text = trim_lws(&rest[..end]);
            if text.contains('?') {
                return Err(SyntaxError::owned(format!(
                    "URI {:?} has a \"?\" and must be enclosed in <>",
                    excerpt(text)
                )));
            }
            if text.is_empty() {
                return Err(SyntaxError::new("empty address"));
            }
            let params = Params::new(&rest[end..]);
            return Ok(NameAddr {
                raw,
                display_name: None,
                uri: text,
                bracketed: false,
                params,
            });
        }
        let gt = memchr::memchr(b'>', rest.as_bytes())
            .ok_or(SyntaxError::new("\"<\" without a matching \">\""))?;
        let inner = &rest[1..gt];
        if inner.bytes().next().is_some_and(is_lws) || inner.bytes().last().is_some_and(is_lws) {
            return Err(SyntaxError::owned(format!(
                "white space inside <{}>",
                excerpt(trim_lws(inner))
            )));
        }
        if inner.is_empty() {
            return Err(SyntaxError::new("empty <>"));
        }
        let tail = trim_lws_start(&rest[gt + 1..]);
        if !tail.is_empty() && !tail.starts_with(';') {
            return Err(SyntaxError::owned(format!(
                "unexpected {:?} after the address",
                excerpt(tail)
            )));
        }
        Ok(NameAddr {
            raw,
            display_name,
            uri: inner,
            bracketed: true,
            params: Params::new(tail),
        })
    }

    /// The URI, parsed.
    pub fn uri(&self) -> Result<Uri<'a>, SyntaxError> {
        Uri::parse(self.uri)
    }

    /// The URI as written.
    pub fn uri_str(&self) -> &'a str {
        self.uri
    }

    /// Full check: the URI parses and the parameters follow their grammar.
    pub fn check(&self) -> Result<(), SyntaxError> {
        self.uri()?;
        self.params.check()
    }

    /// The value as received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The `tag` parameter (From, To).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.value("tag")
    }

    /// The display name without quotes and escapes.
    pub fn display_name_unquoted(&self) -> Option<Cow<'a, str>> {
        self.display_name.map(unquote)
    }
}

impl fmt::Display for NameAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// One Contact value: `*` or an address (RFC 3261 §20.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (removes all bindings in a REGISTER with Expires 0).
    Wildcard,
    /// A contact address, whose URI parses.
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one Contact value: a lone `*`, or an address whose URI
    /// parses. Unlike From and To, a Contact is where requests will be
    /// sent and what a registrar stores, so its URI is parsed here rather
    /// than on demand: `*Digest` or `garbage` is an error, not a binding.
    pub fn parse(s: &'a str) -> Result<Contact<'a>, SyntaxError> {
        let value = trim_lws(s);
        if value == "*" {
            return Ok(Contact::Wildcard);
        }
        if value.starts_with('*') {
            return Err(SyntaxError::owned(format!(
                "{:?} is neither a lone \"*\" nor an address",
                excerpt(value)
            )));
        }
        let addr = NameAddr::parse(s)?;
        addr.uri()?;
        Ok(Contact::Addr(addr))
    }

    /// The address, unless this is the wildcard.
    pub fn addr(&self) -> Option<&NameAddr<'a>> {
        match self {
            Contact::Wildcard => None,
            Contact::Addr(a) => Some(a),
        }
    }

    /// The `expires` parameter.
    pub fn expires(&self) -> Option<u32> {
        self.addr()?.params.value("expires")?.parse().ok()
    }

    /// The `q` parameter in thousandths (`q=0.5` is 500).
    pub fn q(&self) -> Option<u16> {
        parse_qvalue(self.addr()?.params.value("q")?).ok()
    }

    /// Checks parameter grammar and the values of `expires` and `q` (the
    /// URI was parsed by [`Contact::parse`]).
    pub fn check(&self) -> Result<(), SyntaxError> {
        let Contact::Addr(a) = self else {
            return Ok(());
        };
        a.params.check()?;
        if let Some(v) = a.params.get("expires") {
            let v = v.ok_or(SyntaxError::new("expires has no value"))?;
            crate::lex::parse_decimal(v, u64::from(u32::MAX), "expires")?;
        }
        if let Some(v) = a.params.get("q") {
            parse_qvalue(v.ok_or(SyntaxError::new("q has no value"))?)?;
        }
        Ok(())
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
pub fn parse_qvalue(v: &str) -> Result<u16, SyntaxError> {
    let bad = || SyntaxError::owned(format!("q {:?} is not between 0 and 1", excerpt(v)));
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let mut thousandths: u16 = 0;
    for (i, c) in frac.bytes().enumerate() {
        thousandths += u16::from(c - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Ok(thousandths),
        "1" if thousandths == 0 => Ok(1000),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Host;

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(a.display_name_unquoted().unwrap(), r#"J Rosenberg \""#);
        assert_eq!(a.tag(), Some("98asjd8"));
        assert!(a.bracketed);

        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name, Some("caller"));
        assert_eq!(a.tag(), Some("323"));

        let a =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(a.uri_str(), "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(a.tag(), Some("1918181833n"));
        assert!(!a.bracketed);

        let a = NameAddr::parse("A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe").unwrap();
        assert_eq!(a.display_name, Some("A. Bell"));

        let a = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(a.params.contains("unknownparam"));
        assert!(a.uri().unwrap().as_sip().unwrap().params.is_empty());

        let a = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert!(a.params.is_empty());
        assert!(
            a.uri()
                .unwrap()
                .as_sip()
                .unwrap()
                .params
                .contains("unknownparam")
        );

        let a = NameAddr::parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").unwrap();
        assert_eq!(
            a.uri().unwrap().as_sip().unwrap().host,
            Host::Domain("example.com")
        );
    }

    #[test]
    fn refusals_name_the_fault() {
        for (bad, want) in [
            (
                r#""Mr. J. User <sip:j.user@example.com>"#,
                "unterminated quoted string",
            ),
            (
                "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
                "requires quotes",
            ),
            (
                "\"Watson, Thomas\" < sip:t.watson@example.org >",
                "white space inside",
            ),
            (
                "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
                "must be enclosed in <>",
            ),
            ("<sip:user@example.com", "without a matching"),
            ("<>", "empty <>"),
            ("\"x\" sip:a@b", "must be followed by <URI>"),
            ("<sip:a@b> junk", "unexpected"),
            ("", "empty address"),
        ] {
            let err = NameAddr::parse(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
    }

    #[test]
    fn contact_params() {
        let c = Contact::parse("\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33").unwrap();
        assert_eq!(c.q(), Some(330));
        assert!(c.check().is_ok());
        assert_eq!(Contact::parse(" * ").unwrap(), Contact::Wildcard);
        let c = Contact::parse("<sip:a@b>;expires=3600").unwrap();
        assert_eq!(c.expires(), Some(3600));
        let c =
            Contact::parse("<sip:user@host129.example.com>\r\n  ;expires=280297596632815").unwrap();
        assert!(c.check().unwrap_err().to_string().contains("exceeds"));
        assert!(
            Contact::parse("\"Joe\" <sip:joe@example.org>;;;;")
                .unwrap()
                .check()
                .is_err()
        );
        assert!(Contact::parse("<sip:a@b>;q=1.5").unwrap().check().is_err());
    }

    #[test]
    fn a_contact_is_a_lone_star_or_a_uri() {
        for ok in [
            "*",
            " * ",
            "<sip:a@b>",
            "sip:a@b;expires=0",
            "\"A\" <sips:a@b:5061;transport=tls>",
            "<tel:+15551234>",
            "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>",
        ] {
            assert!(Contact::parse(ok).is_ok(), "{ok:?}");
        }
        for (bad, want) in [
            (
                "*Digest",
                "\"*Digest\" is neither a lone \"*\" nor an address",
            ),
            ("*;expires=0", "is neither a lone \"*\" nor an address"),
            ("* ,", "is neither a lone \"*\" nor an address"),
            ("<>", "empty <>"),
            ("garbage", "\"garbage\" has no URI scheme"),
            ("<garbage>", "\"garbage\" has no URI scheme"),
            ("\"x\" <nothing>", "has no URI scheme"),
            ("<sip:>", ""),
            ("<:x>", "is not a URI"),
            ("Digest <sip:a@>", ""),
        ] {
            let err = Contact::parse(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad:?}: {err}");
        }
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1").unwrap(), 1000);
        assert_eq!(parse_qvalue("1.000").unwrap(), 1000);
        assert_eq!(parse_qvalue("0.7").unwrap(), 700);
        assert_eq!(parse_qvalue("0").unwrap(), 0);
        assert!(parse_qvalue("1.001").is_err());
        assert!(parse_qvalue("0.1234").is_err());
        assert!(parse_qvalue("2").is_err());
    }
}
