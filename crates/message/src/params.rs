//! `;name[=value]` parameter lists of header values and URIs, kept as the
//! received text and read on demand, so that looking up a branch or a tag
//! allocates nothing.

use crate::error::SyntaxError;
use crate::lex::{find_top_level, is_token, trim_lws};

/// One parameter. `value` is `None` for a flag such as `lr` or `rport`;
/// quoted values keep their quotes (see [`crate::unquote`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter name as received.
    pub name: &'a str,
    /// The value, trimmed of white space.
    pub value: Option<&'a str>,
}

/// A parameter list as received: the text from the first `;` on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Wraps the text of a parameter list (empty, or starting with `;`).
    pub(crate) fn new(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The parameters exactly as received, including the leading `;`.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The parameters in order. Empty elements are skipped here; use
    /// [`Params::check`] to refuse them.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.raw }
    }

    /// Looks a parameter up by name, ignoring case: `None` when absent,
    /// `Some(None)` for a flag, `Some(Some(value))` otherwise.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value)
    }

    /// The value of a parameter that has one.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten()
    }

    /// True when the parameter is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Checks the header-parameter grammar: no empty element, names are
    /// tokens, values are tokens, quoted strings or IPv6 references.
    pub fn check(&self) -> Result<(), SyntaxError> {
        let mut rest = crate::lex::trim_lws_start(self.raw);
        while !rest.is_empty() {
            let Some(after) = rest.strip_prefix(';') else {
                return Err(SyntaxError::owned(format!(
                    "unexpected text {:?} before parameters",
                    crate::error::excerpt(rest)
                )));
            };
            let end = find_top_level(after, b';')?.unwrap_or(after.len());
            let item = trim_lws(&after[..end]);
            if item.is_empty() {
                return Err(SyntaxError::new("empty parameter"));
            }
            let (name, value) = split_param(item);
            if !is_token(name) {
                return Err(SyntaxError::owned(format!(
                    "parameter name {:?} is not a token",
                    crate::error::excerpt(name)
                )));
            }
            if let Some(v) = value {
                let ok = is_token(v)
                    || (v.starts_with('"') && crate::lex::quoted_end(v)? == v.len())
                    || (v.starts_with('[')
                        && v.ends_with(']')
                        && v[1..v.len() - 1].parse::<std::net::Ipv6Addr>().is_ok())
                    // RFC 3261 writes `received` with a bare IPv6address.
                    || v.parse::<std::net::Ipv6Addr>().is_ok();
                if !ok {
                    return Err(SyntaxError::owned(format!(
                        "value of parameter {name:?} is not a token or quoted string"
                    )));
                }
            }
            rest = &after[end..];
        }
        Ok(())
    }
}

fn split_param(item: &str) -> (&str, Option<&str>) {
    match item.find('=') {
        Some(eq) => (trim_lws(&item[..eq]), Some(trim_lws(&item[eq + 1..]))),
        None => (item, None),
    }
}

/// Iterator over [`Params`].
#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;

    /// One hand-written pass per parameter: looking up a branch or a tag
    /// runs for nearly every message.
    fn next(&mut self) -> Option<Param<'a>> {
        let s = self.rest.as_bytes();
        let mut i = 0;
        while i < s.len() && (s[i] == b';' || crate::lex::is_lws(s[i])) {
            i += 1;
        }
        if i == s.len() {
            self.rest = "";
            return None;
        }
        let start = i;
        let mut eq = None;
        while i < s.len() {
            match s[i] {
                b';' => break,
                b'=' if eq.is_none() => eq = Some(i),
                b'"' => {
                    i += crate::lex::quoted_end(&self.rest[i..]).unwrap_or(s.len() - i);
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        let trim = |mut a: usize, mut b: usize| {
            while a < b && crate::lex::is_lws(s[a]) {
                a += 1;
            }
            while b > a && crate::lex::is_lws(s[b - 1]) {
                b -= 1;
            }
            (a, b)
        };
        let rest = self.rest;
        self.rest = &rest[i..];
        Some(match eq {
            Some(e) => {
                let (ns, ne) = trim(start, e);
                let (vs, ve) = trim(e + 1, i);
                Param {
                    name: &rest[ns..ne],
                    value: Some(&rest[vs..ve]),
                }
            }
            None => {
                let (ns, ne) = trim(start, i);
                Param {
                    name: &rest[ns..ne],
                    value: None,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_with_lws_and_flags() {
        let p = Params::new(
            ";\r\n  branch  =   z9hG4bK9ikj8  ;rport; received=[::1];x=\"a;b\";maddr=2001:db8::1",
        );
        assert_eq!(p.value("BRANCH"), Some("z9hG4bK9ikj8"));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.value("received"), Some("[::1]"));
        assert_eq!(p.value("x"), Some("\"a;b\""));
        assert_eq!(p.get("ttl"), None);
        assert_eq!(p.value("maddr"), Some("2001:db8::1"));
        assert_eq!(p.iter().count(), 5);
        assert!(p.check().is_ok());
    }

    #[test]
    fn check_refuses_empty_and_bad() {
        assert!(
            Params::new(";;")
                .check()
                .unwrap_err()
                .to_string()
                .contains("empty parameter")
        );
        assert!(Params::new(";a=;").check().is_err());
        assert!(Params::new(";a=b c").check().is_err());
        assert!(Params::new(";a=\"open").check().is_err());
        assert!(Params::new("x;a").check().is_err());
        assert!(Params::new("").check().is_ok());
        assert!(Params::new("").is_empty());
    }
}
