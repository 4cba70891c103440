//! URIs: `sip:`, `sips:` and `tel:` parsed into their parts, every other
//! scheme kept as opaque text (RFC 3261 is extensible; deciding whether a
//! scheme is usable is the application's job, answered with `416`).
//!
//! A [`Uri`] borrows the text it was parsed from. Parameters and headers
//! are read on demand, and comparison follows RFC 3261 §19.1.4.

use std::fmt;

use crate::error::{SyntaxError, excerpt};
use crate::host::{Host, parse_hostport};
use crate::lex::{check_escapes, class, span, unescape};
use crate::params::Params;

/// A parsed URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`
    Sip(SipUri<'a>),
    /// `tel:` (RFC 3966)
    Tel(TelUri<'a>),
    /// Any other scheme, kept opaque.
    Other(OtherUri<'a>),
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipUri<'a> {
    raw: &'a str,
    /// True for `sips:`.
    pub secure: bool,
    /// The user part, still escaped.
    pub user: Option<&'a str>,
    /// The password part, still escaped.
    pub password: Option<&'a str>,
    /// The host.
    pub host: Host<'a>,
    /// The port, when written.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// The header part after `?`, still escaped.
    pub headers: Option<&'a str>,
}

/// A `tel:` URI (RFC 3966).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelUri<'a> {
    raw: &'a str,
    /// The number, with any visual separators.
    pub number: &'a str,
    /// Parameters such as `phone-context`.
    pub params: Params<'a>,
}

/// A URI of a scheme sipjet does not interpret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherUri<'a> {
    raw: &'a str,
    /// The scheme.
    pub scheme: &'a str,
    /// Everything after `scheme:`.
    pub rest: &'a str,
}

impl<'a> Uri<'a> {
    /// Parses a URI. The text must not contain white space.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, SyntaxError> {
        let b = s.as_bytes();
        // The schemes SIP lives on are recognised without a search.
        if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"sip:") {
            return parse_sip(s, &s[4..], false).map(Uri::Sip);
        }
        if b.len() >= 5 && b[..5].eq_ignore_ascii_case(b"sips:") {
            return parse_sip(s, &s[5..], true).map(Uri::Sip);
        }
        if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"tel:") {
            return parse_tel(s, &s[4..]).map(Uri::Tel);
        }
        let colon = memchr::memchr(b':', b)
            .ok_or_else(|| SyntaxError::owned(format!("{:?} has no URI scheme", excerpt(s))))?;
        let scheme = &s[..colon];
        let valid_scheme = scheme
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return Err(SyntaxError::owned(format!("{:?} is not a URI", excerpt(s))));
        }
        if let Some(bad) = s
            .bytes()
            .find(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return Err(bad_char(s, bad));
        }
        let rest = &s[colon + 1..];
        if rest.is_empty() {
            Err(SyntaxError::owned(format!(
                "URI {s:?} is empty after the scheme"
            )))
        } else {
            Ok(Uri::Other(OtherUri {
                raw: s,
                scheme,
                rest,
            }))
        }
    }

    /// The URI exactly as received.
    pub fn as_str(&self) -> &'a str {
        match self {
            Uri::Sip(u) => u.raw,
            Uri::Tel(u) => u.raw,
            Uri::Other(u) => u.raw,
        }
    }

    /// The scheme as written.
    pub fn scheme(&self) -> &'a str {
        let raw = self.as_str();
        &raw[..raw.find(':').unwrap_or(0)]
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The user part of a SIP URI, or the number of a tel URI.
    pub fn user(&self) -> Option<&'a str> {
        match self {
            Uri::Sip(u) => u.user,
            Uri::Tel(t) => Some(t.number),
            Uri::Other(_) => None,
        }
    }

    /// URI equivalence of RFC 3261 §19.1.4 (and RFC 3966 §4 for tel).
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.equivalent(b),
            (Uri::Tel(a), Uri::Tel(b)) => a.equivalent(b),
            (Uri::Other(a), Uri::Other(b)) => {
                a.scheme.eq_ignore_ascii_case(b.scheme) && a.rest == b.rest
            }
            _ => false,
        }
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scans `b` while bytes are in `class`; returns where it stopped and
/// whether a `%` was seen (only then are escapes checked).
#[inline]
fn scan(b: &[u8], mut i: usize, class: u8) -> (usize, bool) {
    let mut percent = false;
    while i < b.len() && crate::lex::is(b[i], class) {
        percent |= b[i] == b'%';
        i += 1;
    }
    (i, percent)
}

fn parse_sip<'a>(raw: &'a str, rest: &'a str, secure: bool) -> Result<SipUri<'a>, SyntaxError> {
    let rb = rest.as_bytes();
    // userinfo, if any, ends at the first '@'; scanning its characters
    // finds that '@' and checks them in one pass.
    let (u_end, u_pct) = scan(rb, 0, class::USER);
    let (mut user, mut password, mut host_at) = (None, None, 0);
    let mut stop = u_end;
    match rb.get(u_end) {
        Some(b'@') => (user, host_at) = (Some(&rest[..u_end]), u_end + 1),
        Some(b':') => {
            let (p_end, p_pct) = scan(rb, u_end + 1, class::PASSWORD);
            stop = p_end;
            if rb.get(p_end) == Some(&b'@') {
                if p_pct {
                    check_escapes(&rest[u_end + 1..p_end], "password")?;
                }
                (user, password, host_at) = (
                    Some(&rest[..u_end]),
                    Some(&rest[u_end + 1..p_end]),
                    p_end + 1,
                );
            }
        }
        _ => {}
    }
    if user.is_none() {
        // No userinfo, unless a character the user part may not hold hides
        // a later '@': then that character is the fault.
        if let Some(&bad) = rb
            .get(stop)
            .filter(|_| memchr::memchr(b'@', &rb[stop..]).is_some())
        {
            let part = if stop == u_end {
                "user part"
            } else {
                "password"
            };
            return Err(bad_char_in(raw, part, bad));
        }
    } else if u_end == 0 {
        return Err(SyntaxError::owned(format!(
            "URI {:?} has an empty user part",
            excerpt(raw)
        )));
    } else if u_pct {
        check_escapes(&rest[..u_end], "user part")?;
    }
    let hostpart = &rest[host_at..];
    let (host, port, used) = parse_hostport(hostpart)
        .map_err(|e| SyntaxError::owned(format!("URI {:?}: {e}", excerpt(raw))))?;
    let tail = &hostpart[used..];
    if !tail.is_empty() && !tail.starts_with([';', '?']) {
        if let Some(bad) = tail.bytes().next().filter(|&b| !b.is_ascii_graphic()) {
            return Err(bad_char(raw, bad));
        }
        return Err(SyntaxError::owned(format!(
            "URI {:?} has unexpected text after the host",
            excerpt(raw)
        )));
    }
    // Parameters and headers share one character class; one pass checks both.
    let (t_end, t_pct) = scan(tail.as_bytes(), 0, class::URI_PARAM);
    if let Some(&bad) = tail.as_bytes().get(t_end) {
        return Err(bad_char_in(raw, "parameters", bad));
    }
    if t_pct {
        check_escapes(tail, "URI parameter")?;
    }
    let (param_text, headers) = match memchr::memchr(b'?', tail.as_bytes()) {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    Ok(SipUri {
        raw,
        secure,
        user,
        password,
        host,
        port,
        params: Params::new(param_text),
        headers,
    })
}

fn parse_tel<'a>(raw: &'a str, rest: &'a str) -> Result<TelUri<'a>, SyntaxError> {
    let end = rest.find(';').unwrap_or(rest.len());
    let number = &rest[..end];
    let params = &rest.as_bytes()[end..];
    if let Some(&bad) = params.get(span(params, class::URI_PARAM)) {
        return Err(bad_char_in(raw, "parameters", bad));
    }
    let valid = !number.is_empty()
        && number.bytes().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    b'*' | b'#' | b'+' | b'-' | b'.' | b'(' | b')' | b'p' | b'w'
                )
        });
    if !valid {
        return Err(SyntaxError::owned(format!(
            "{:?} is not a telephone number",
            excerpt(raw)
        )));
    }
    Ok(TelUri {
        raw,
        number,
        params: Params::new(&rest[end..]),
    })
}

fn bad_char(raw: &str, bad: u8) -> SyntaxError {
    SyntaxError::owned(format!(
        "URI {:?} contains the character {:?}",
        excerpt(raw),
        bad as char
    ))
}

fn bad_char_in(raw: &str, part: &str, bad: u8) -> SyntaxError {
    if bad.is_ascii_whitespace() || bad.is_ascii_control() {
        return bad_char(raw, bad);
    }
    SyntaxError::owned(format!(
        "{part} of URI {:?} contains {:?}",
        excerpt(raw),
        bad as char
    ))
}

impl<'a> SipUri<'a> {
    /// The URI exactly as received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&'a str> {
        self.params.value("transport")
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.value("maddr")
    }

    /// True when the URI has the `lr` parameter (a loose router).
    pub fn is_loose_router(&self) -> bool {
        self.params.contains("lr")
    }

    /// The user part with escapes decoded.
    pub fn user_unescaped(&self) -> Option<std::borrow::Cow<'a, [u8]>> {
        self.user.map(unescape)
    }

    /// The header part as `(name, value)` pairs, still escaped.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.headers
            .unwrap_or("")
            .split('&')
            .filter(|h| !h.is_empty())
            .map(|h| h.split_once('=').unwrap_or((h, "")))
    }

    /// RFC 3261 §19.1.4 comparison.
    pub fn equivalent(&self, other: &SipUri<'_>) -> bool {
        self.secure == other.secure
            && opt_bytes_eq(self.user, other.user, false)
            && opt_bytes_eq(self.password, other.password, false)
            && self.host.eq_ignore_case(&other.host)
            && self.port == other.port
            && params_equivalent(&self.params, &other.params)
            && headers_equivalent(self, other)
    }
}

impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

impl<'a> TelUri<'a> {
    /// The URI exactly as received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// RFC 3966 §4: numbers compare without visual separators, and all
    /// parameters must match.
    pub fn equivalent(&self, other: &TelUri<'_>) -> bool {
        fn digits(n: &str) -> impl Iterator<Item = u8> + '_ {
            n.bytes()
                .filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')'))
                .map(|c| c.to_ascii_lowercase())
        }
        let same_number = digits(self.number).eq(digits(other.number));
        same_number
            && self.params.iter().count() == other.params.iter().count()
            && self.params.iter().all(|p| match other.params.get(p.name) {
                Some(v) => opt_bytes_eq(p.value, v, true),
                None => false,
            })
    }
}

fn opt_bytes_eq(a: Option<&str>, b: Option<&str>, ignore_case: bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let (a, b) = (unescape(a), unescape(b));
            if ignore_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        }
        _ => false,
    }
}

/// Parameters that must match whenever either URI has them.
const SIGNIFICANT_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

fn params_equivalent(a: &Params<'_>, b: &Params<'_>) -> bool {
    let significant = |name: &str| {
        SIGNIFICANT_PARAMS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
    };
    a.iter().all(|p| match b.get(p.name) {
        Some(v) => opt_bytes_eq(p.value, v, true),
        None => !significant(p.name),
    }) && b.iter().all(|p| !significant(p.name) || a.contains(p.name))
}

fn headers_equivalent(a: &SipUri<'_>, b: &SipUri<'_>) -> bool {
    let count = |u: &SipUri<'_>| u.header_pairs().count();
    count(a) == count(b)
        && a.header_pairs().all(|(name, value)| {
            b.header_pairs().any(|(n, v)| {
                unescape(n).eq_ignore_ascii_case(&unescape(name)) && unescape(v) == unescape(value)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn sip_parts() {
        let u = sip("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&x=1");
        assert!(u.secure);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Host::Ipv6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.is_loose_router());
        assert_eq!(
            u.header_pairs().collect::<Vec<_>>(),
            vec![("subject", "hi"), ("x", "1")]
        );

        let u = sip("sip:example.com");
        assert_eq!(
            (u.user, u.port, u.host),
            (None, None, Host::Domain("example.com"))
        );
        let u = sip("sip:192.0.2.4:5060");
        assert_eq!(u.host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 4)));
    }

    #[test]
    fn torture_user_parts() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, Host::Domain("example.com"));
        let u = sip(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(
            u.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password,
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        let u = sip("sip:null-%00-null@example.com");
        assert_eq!(u.user_unescaped().unwrap().as_ref(), b"null-\0-null");
        let u = sip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(
            u.user_unescaped().unwrap().as_ref(),
            b"sips:user@example.com"
        );
    }

    #[test]
    fn tel_and_other() {
        let Uri::Tel(t) = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap()
        else {
            panic!()
        };
        assert_eq!(t.number, "+1-201-555-0123");
        assert_eq!(t.params.value("phone-context"), Some("example.com"));
        let o = Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent").unwrap();
        assert_eq!(o.scheme(), "nobodyKnowsThisScheme");
        assert!(matches!(
            Uri::parse("soap.beep://192.0.2.103:3002").unwrap(),
            Uri::Other(_)
        ));
        assert!(matches!(
            Uri::parse("isbn:2983792873").unwrap(),
            Uri::Other(_)
        ));
    }

    #[test]
    fn refusals_name_the_fault() {
        for (bad, want) in [
            ("<sip:user@example.com>", "is not a URI"),
            ("sip:user@example.com; lr", "contains the character"),
            ("sip:@example.com", "empty user part"),
            ("sip:us<er@example.com", "user part"),
            ("sip:user@example.com:99999", "exceeds 65535"),
            ("sip:user@exa mple.com", "contains the character"),
            ("sip:user@example.com;a=%zz", "two hex digits"),
            ("nocolon", "no URI scheme"),
            ("tel:", "not a telephone number"),
            ("sip:user@", "host is missing"),
        ] {
            let err = Uri::parse(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }

    #[test]
    fn rfc3261_equivalent_examples() {
        for (a, b) in [
            (
                "sip:%61lice@atlanta.com;transport=TCP",
                "sip:alice@AtLanTa.CoM;Transport=tcp",
            ),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            (
                "sip:carol@chicago.com;newparam=5",
                "sip:carol@chicago.com;security=on",
            ),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
            (
                "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
            ),
            ("tel:+1-201-555-0123", "tel:+1.201.555.0123"),
        ] {
            let (ua, ub) = (Uri::parse(a).unwrap(), Uri::parse(b).unwrap());
            assert!(ua.equivalent(&ub), "{a} == {b}");
            assert!(ub.equivalent(&ua), "{b} == {a}");
        }
    }

    #[test]
    fn rfc3261_not_equivalent_examples() {
        for (a, b) in [
            (
                "SIP:ALICE@AtLanTa.CoM;Transport=udp",
                "sip:alice@AtLanTa.CoM;Transport=UDP",
            ),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            (
                "sip:bob@biloxi.com",
                "sip:bob@biloxi.com:6000;transport=tcp",
            ),
            (
                "sip:carol@chicago.com",
                "sip:carol@chicago.com?Subject=next%20meeting",
            ),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            (
                "sip:carol@chicago.com;security=on",
                "sip:carol@chicago.com;security=off",
            ),
            ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
            ("sip:alice@atlanta.com", "tel:+1"),
        ] {
            let (ua, ub) = (Uri::parse(a).unwrap(), Uri::parse(b).unwrap());
            assert!(!ua.equivalent(&ub), "{a} != {b}");
            assert!(!ub.equivalent(&ua), "{b} != {a}");
        }
    }
}
